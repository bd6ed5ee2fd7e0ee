//! Optional TLS for the peer transport (`--peer-tls-cert/-key/-ca`): TLS 1.3 with
//! mutual authentication against one cluster CA. Both ends present a certificate
//! chaining to the CA; the caller also checks the server's certificate names the host
//! it dialled. The cluster-secret handshake still runs inside, so TLS adds
//! confidentiality and CA-based identity without replacing the secret.

use std::io;
use std::path::Path;
use std::sync::Arc;

use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, ServerConfig};
use tokio::net::TcpStream;
use tokio_rustls::{TlsAcceptor, TlsConnector};

use crate::config::Config;
pub use crate::tls::server_name;
use crate::tls::{provider, read_certs, read_key, read_roots, Reloadable};

/// Why the peer TLS settings could not be loaded; names the file at fault.
#[derive(Debug, thiserror::Error)]
#[error("peer TLS: {0}")]
pub struct TlsError(#[from] crate::tls::TlsError);

/// Both directions' TLS settings, shared by every peer connection and re-read on
/// SIGHUP (`reload`).
pub struct PeerTls {
    material: Reloadable<(TlsAcceptor, TlsConnector)>,
}

impl PeerTls {
    /// The TLS settings `cfg` asks for, or `None` when peers talk plain TCP.
    /// `Config::validate` has already required all three files or none.
    pub fn from_config(cfg: &Config) -> Result<Option<Self>, TlsError> {
        match (&cfg.peer_tls_cert, &cfg.peer_tls_key, &cfg.peer_tls_ca) {
            (Some(cert), Some(key), Some(ca)) => Self::load(cert, key, ca).map(Some),
            _ => Ok(None),
        }
    }

    /// Loads this node's certificate chain and key and the cluster CA (PEM files).
    pub fn load(cert: &Path, key: &Path, ca: &Path) -> Result<Self, TlsError> {
        let (cert, key, ca) = (cert.to_path_buf(), key.to_path_buf(), ca.to_path_buf());
        let material = Reloadable::new(move || build(&cert, &key, &ca))?;
        Ok(PeerTls { material })
    }

    /// Re-reads the files: new peer connections use them, open ones keep theirs; on
    /// an error the old material stays in force.
    pub fn reload(&self) -> Result<(), TlsError> {
        Ok(self.material.reload()?)
    }

    /// Runs the server side of the handshake; fails unless the caller presents a
    /// certificate chaining to the CA.
    pub async fn accept(&self, tcp: TcpStream) -> io::Result<tokio_rustls::server::TlsStream<TcpStream>> {
        let acceptor = self.material.current().0.clone();
        acceptor.accept(tcp).await
    }

    /// Runs the client side of the handshake with the peer at `addr` (`HOST:PORT`):
    /// its certificate must chain to the CA and name HOST.
    pub async fn connect(&self, addr: &str, tcp: TcpStream) -> io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
        let name = server_name(addr)?;
        let connector = self.material.current().1.clone();
        connector.connect(name, tcp).await
    }
}

fn build(cert: &Path, key: &Path, ca: &Path) -> Result<(TlsAcceptor, TlsConnector), crate::tls::TlsError> {
    use crate::tls::TlsError as E;
    let chain = read_certs(cert, "certificate")?;
    let key_der = read_key(key)?;
    let roots = read_roots(ca)?;
    let provider = provider();
    let identity_err = |error| E::BadIdentity {
        cert: cert.to_path_buf(),
        key: key.to_path_buf(),
        error,
    };
    let verifier = WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone())
        .build()
        .map_err(|error| E::Verifier {
            path: ca.to_path_buf(),
            error,
        })?;
    // with_single_cert also checks the key belongs to the certificate.
    let server = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(identity_err)?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain.clone(), key_der.clone_key())
        .map_err(identity_err)?;
    let client = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(identity_err)?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key_der)
        .map_err(identity_err)?;
    Ok((
        TlsAcceptor::from(Arc::new(server)),
        TlsConnector::from(Arc::new(client)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    struct Ca {
        issuer: Issuer<'static, KeyPair>,
        pem: String,
    }

    fn ca() -> Ca {
        let mut p = CertificateParams::new(Vec::<String>::new()).expect("params");
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
        let key = KeyPair::generate().expect("key");
        let pem = p.self_signed(&key).expect("ca cert").pem();
        Ca {
            issuer: Issuer::new(p, key),
            pem,
        }
    }

    /// Writes `<name>.crt`, `<name>.key` and `<name>-ca.crt` signed by `ca`; loads them.
    fn node(dir: &Path, name: &str, ca: &Ca, sans: &[&str]) -> Result<PeerTls, TlsError> {
        node_trusting(dir, name, ca, ca, sans)
    }

    /// Like [`node`], with a certificate signed by `signer` while trusting `ca`.
    fn node_trusting(dir: &Path, name: &str, signer: &Ca, ca: &Ca, sans: &[&str]) -> Result<PeerTls, TlsError> {
        let mut p = CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>()).expect("params");
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
        let key = KeyPair::generate().expect("key");
        let cert = p.signed_by(&key, &signer.issuer).expect("sign");
        let (c, k, a) = (
            dir.join(format!("{name}.crt")),
            dir.join(format!("{name}.key")),
            dir.join(format!("{name}-ca.crt")),
        );
        std::fs::write(&c, cert.pem()).expect("write");
        std::fs::write(&k, key.serialize_pem()).expect("write");
        std::fs::write(&a, &ca.pem).expect("write");
        PeerTls::load(&c, &k, &a)
    }

    /// One handshake plus a ping/pong through it: (server side, client side) outcome.
    async fn handshake(server: PeerTls, client: PeerTls, dial_host: &str) -> (io::Result<()>, io::Result<()>) {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = format!("{dial_host}:{}", l.local_addr().expect("addr").port());
        let srv = tokio::spawn(async move {
            let (tcp, _) = l.accept().await?;
            let mut s = server.accept(tcp).await?;
            let mut b = [0u8; 4];
            s.read_exact(&mut b).await?;
            s.write_all(b"pong").await?;
            s.flush().await
        });
        let cli = async {
            let tcp = TcpStream::connect((
                "127.0.0.1",
                addr.rsplit_once(':').expect("port").1.parse::<u16>().expect("port"),
            ))
            .await?;
            let mut s = client.connect(&addr, tcp).await?;
            s.write_all(b"ping").await?;
            s.flush().await?;
            let mut b = [0u8; 4];
            s.read_exact(&mut b).await?;
            assert_eq!(&b, b"pong");
            Ok(())
        };
        let c = cli.await;
        let s = tokio::time::timeout(std::time::Duration::from_secs(5), srv)
            .await
            .expect("server side finished")
            .expect("join");
        (s, c)
    }

    #[tokio::test]
    async fn mutual_tls_between_nodes_of_one_ca() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ca = ca();
        let a = node(dir.path(), "a", &ca, &["127.0.0.1", "localhost"]).expect("load a");
        let b = node(dir.path(), "b", &ca, &["127.0.0.1", "localhost"]).expect("load b");
        let (s, c) = handshake(a, b, "127.0.0.1").await;
        s.expect("server side");
        c.expect("client side");
    }

    #[tokio::test]
    async fn a_peer_of_another_ca_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (good, rogue) = (ca(), ca());
        // The caller trusts the server, but its own certificate is of another CA: the
        // server must refuse it (mutual authentication).
        let a = node(dir.path(), "a", &good, &["127.0.0.1"]).expect("load a");
        let b = node_trusting(dir.path(), "b", &rogue, &good, &["127.0.0.1"]).expect("load b");
        let (s, c) = handshake(a, b, "127.0.0.1").await;
        let e = s.expect_err("server accepted a client certificate of another CA");
        assert!(e.to_string().contains("certificate"), "{e}");
        assert!(c.is_err(), "client side {c:?}");
        // The other way round: the caller refuses a server of another CA.
        let a = node(dir.path(), "c", &rogue, &["127.0.0.1"]).expect("load c");
        let b = node(dir.path(), "d", &good, &["127.0.0.1"]).expect("load d");
        let (s, c) = handshake(a, b, "127.0.0.1").await;
        let e = c.expect_err("client accepted a server certificate of another CA");
        assert!(e.to_string().contains("certificate"), "{e}");
        assert!(s.is_err(), "server side {s:?}");
    }

    #[tokio::test]
    async fn a_server_certificate_for_another_host_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ca = ca();
        let a = node(dir.path(), "a", &ca, &["localhost"]).expect("load a");
        let b = node(dir.path(), "b", &ca, &["localhost"]).expect("load b");
        let (_, c) = handshake(a, b, "127.0.0.1").await;
        let e = c.expect_err("127.0.0.1 is not in the server's certificate");
        assert!(e.to_string().contains("certificate"), "{e}");
    }

    #[test]
    fn load_errors_name_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ca = ca();
        let _ = node(dir.path(), "a", &ca, &["127.0.0.1"]).expect("load a");
        let _ = node(dir.path(), "b", &ca, &["127.0.0.1"]).expect("load b");
        let p = |f: &str| dir.path().join(f);
        let missing = PeerTls::load(&p("nope.crt"), &p("a.key"), &p("a-ca.crt"))
            .err()
            .expect("missing file");
        assert!(missing.to_string().contains("nope.crt"), "{missing}");
        // A key where the certificate should be: no certificate in it.
        let empty = PeerTls::load(&p("a.key"), &p("a.key"), &p("a-ca.crt"))
            .err()
            .expect("no cert");
        assert!(empty.to_string().contains("a.key"), "{empty}");
        let nokey = PeerTls::load(&p("a.crt"), &p("a.crt"), &p("a-ca.crt"))
            .err()
            .expect("no key");
        assert!(
            nokey.to_string().contains("a.crt") && nokey.to_string().contains("private key"),
            "{nokey}"
        );
        let mismatch = PeerTls::load(&p("a.crt"), &p("b.key"), &p("a-ca.crt"))
            .err()
            .expect("wrong key");
        assert!(mismatch.to_string().contains("b.key"), "{mismatch}");
    }
}
