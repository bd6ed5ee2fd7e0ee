//! TLS material for clients and peers, read from PEM files and reloadable: SIGHUP
//! re-reads every file; new connections use the new material while open ones keep
//! theirs, and a file that does not parse leaves the old material in force.
//!
//! Clients: TLS 1.2 and 1.3 (`--tls-port`, Redis's flag names), with client
//! certificates required, optional or not asked for (`--tls-auth-clients`). Peers build
//! their mutual TLS 1.3 (peer/tls.rs) from the same helpers.

use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use clap::ValueEnum;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// Why TLS material could not be loaded; each names the file at fault.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {what} from {}: {error}", path.display())]
    Read {
        what: &'static str,
        path: PathBuf,
        error: rustls::pki_types::pem::Error,
    },
    #[error("{} holds no {what}", path.display())]
    Empty { what: &'static str, path: PathBuf },
    #[error("CA certificate in {} rejected: {error}", path.display())]
    BadCa { path: PathBuf, error: rustls::Error },
    #[error("certificate {} with key {} unusable: {error}", cert.display(), key.display())]
    BadIdentity {
        cert: PathBuf,
        key: PathBuf,
        error: rustls::Error,
    },
    #[error("CA in {}: {error}", path.display())]
    Verifier {
        path: PathBuf,
        error: rustls::server::VerifierBuilderError,
    },
    #[error("{0}")]
    Config(String),
}

/// Whether clients must present a certificate (Redis's `tls-auth-clients`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuthClients {
    Yes,
    No,
    Optional,
}

/// The certificate chain in `path` (PEM).
pub fn read_certs(path: &Path, what: &'static str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let read_err = |error| TlsError::Read {
        what,
        path: path.to_path_buf(),
        error,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(read_err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(read_err)?;
    if certs.is_empty() {
        return Err(TlsError::Empty {
            what,
            path: path.to_path_buf(),
        });
    }
    Ok(certs)
}

/// The private key in `path` (PEM).
pub fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|error| TlsError::Read {
        what: "a private key",
        path: path.to_path_buf(),
        error,
    })
}

/// The CA certificates in `path`, as trust roots.
pub fn read_roots(path: &Path) -> Result<Arc<RootCertStore>, TlsError> {
    let mut roots = RootCertStore::empty();
    for c in read_certs(path, "CA certificate")? {
        roots.add(c).map_err(|error| TlsError::BadCa {
            path: path.to_path_buf(),
            error,
        })?;
    }
    Ok(Arc::new(roots))
}

/// ring, named explicitly: no process-wide default to install or to race over.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Material built from files, swapped whole on reload.
pub struct Reloadable<T> {
    current: RwLock<Arc<T>>,
    load: Box<dyn Fn() -> Result<T, TlsError> + Send + Sync>,
}

impl<T> Reloadable<T> {
    /// Loads the material once; fails if the files do not make it.
    pub fn new(load: impl Fn() -> Result<T, TlsError> + Send + Sync + 'static) -> Result<Self, TlsError> {
        let first = load()?;
        Ok(Reloadable {
            current: RwLock::new(Arc::new(first)),
            load: Box::new(load),
        })
    }

    /// The material new connections use.
    pub fn current(&self) -> Arc<T> {
        self.current.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Re-reads the files; on any error the old material stays in force.
    pub fn reload(&self) -> Result<(), TlsError> {
        let fresh = (self.load)()?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(fresh);
        Ok(())
    }
}

/// The files of the client-facing TLS setup.
#[derive(Debug, Clone)]
pub struct ClientTlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub ca: Option<PathBuf>,
    pub auth_clients: AuthClients,
}

/// The server side of client TLS (TLS 1.2 and 1.3).
pub fn client_acceptor(f: &ClientTlsFiles) -> Result<TlsAcceptor, TlsError> {
    let chain = read_certs(&f.cert, "certificate")?;
    let key = read_key(&f.key)?;
    let identity_err = |error| TlsError::BadIdentity {
        cert: f.cert.clone(),
        key: f.key.clone(),
        error,
    };
    let builder = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(identity_err)?;
    let builder = match (&f.ca, f.auth_clients) {
        (Some(ca), AuthClients::Yes | AuthClients::Optional) => {
            let mut v = WebPkiClientVerifier::builder_with_provider(read_roots(ca)?, provider());
            if f.auth_clients == AuthClients::Optional {
                v = v.allow_unauthenticated();
            }
            let verifier = v.build().map_err(|error| TlsError::Verifier {
                path: ca.clone(),
                error,
            })?;
            builder.with_client_cert_verifier(verifier)
        }
        (None, AuthClients::Yes | AuthClients::Optional) => {
            return Err(TlsError::Config(
                "--tls-auth-clients yes|optional needs --tls-ca-cert-file".into(),
            ))
        }
        (_, AuthClients::No) => builder.with_no_client_auth(),
    };
    let mut server = builder.with_single_cert(chain, key).map_err(identity_err)?;
    // redis-cli and the client libraries do not negotiate ALPN for RESP.
    server.alpn_protocols.clear();
    Ok(TlsAcceptor::from(Arc::new(server)))
}

/// The client side, for this node's own calls to a member's client port (`--join`)
/// and for `fencepost` tools: trusts `ca`, presents `cert`/`key` when given.
pub fn client_connector(ca: &Path, identity: Option<(&Path, &Path)>) -> Result<TlsConnector, TlsError> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_root_certificates(read_roots(ca)?);
    let config = match identity {
        Some((cert, key)) => builder
            .with_client_auth_cert(read_certs(cert, "certificate")?, read_key(key)?)
            .map_err(|error| TlsError::BadIdentity {
                cert: cert.to_path_buf(),
                key: key.to_path_buf(),
                error,
            })?,
        None => builder.with_no_client_auth(),
    };
    Ok(TlsConnector::from(Arc::new(config)))
}

/// The name a server's certificate must carry: the host part of `HOST:PORT`, as an IP
/// address SAN when it is one (`127.0.0.1`, `[::1]`), else as a DNS name.
pub fn server_name(addr: &str) -> io::Result<ServerName<'static>> {
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(ServerName::IpAddress(ip.into()));
    }
    ServerName::try_from(host.to_string()).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("'{host}' is not a valid host name"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_names_from_addresses() {
        let ip = |s: &str| matches!(server_name(s), Ok(ServerName::IpAddress(_)));
        assert!(ip("127.0.0.1:9001"));
        assert!(ip("[::1]:9001"));
        assert!(matches!(server_name("localhost:9001"), Ok(ServerName::DnsName(_))));
        assert!(server_name("bad host:1").is_err());
    }

    #[test]
    fn a_failed_reload_keeps_the_old_material() {
        let n = std::sync::atomic::AtomicU64::new(0);
        let r = Reloadable::new(move || {
            let i = n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            if i == 1 {
                Err(TlsError::Config("bad file".into()))
            } else {
                Ok(i)
            }
        })
        .expect("first load");
        assert_eq!(*r.current(), 0);
        assert!(r.reload().is_err());
        assert_eq!(*r.current(), 0, "a bad reload changed nothing");
        r.reload().expect("third load");
        assert_eq!(*r.current(), 2);
    }
}
