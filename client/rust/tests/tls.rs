//! `Client::connect_tls` against a real TLS-only `fencepost` (env FENCEPOST_BIN): a CA
//! and certificates made here with rcgen; the node requires client certificates and
//! serves an ACL user, so the client must bring both.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fencepost_client::{Client, TlsConfig};
use rcgen::{BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose};

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind port 0");
    l.local_addr().expect("local addr").port()
}

/// PEM (certificate, key) for 127.0.0.1 signed by `ca`.
fn leaf(ca: &Issuer<'static, KeyPair>) -> (String, String) {
    let mut p = CertificateParams::new(vec!["127.0.0.1".to_string()]).expect("params");
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
    let key = KeyPair::generate().expect("key");
    let cert = p.signed_by(&key, ca).expect("sign");
    (cert.pem(), key.serialize_pem())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connects_to_a_tls_only_node_with_a_client_certificate() {
    let bin = match std::env::var("FENCEPOST_BIN") {
        Ok(b) if std::path::Path::new(&b).is_file() => b,
        _ => {
            println!("skipped: FENCEPOST_BIN not set");
            return;
        }
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
    let ca_key = KeyPair::generate().expect("CA key");
    let ca_pem = ca.self_signed(&ca_key).expect("CA cert").pem();
    let issuer = Issuer::new(ca, ca_key);
    let (server_cert, server_key) = leaf(&issuer);
    let (client_cert, client_key) = leaf(&issuer);
    let path = |name: &str, body: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, body).expect("write");
        p.display().to_string()
    };
    let (cert_path, key_path, ca_path) = (
        path("server.crt", &server_cert),
        path("server.key", &server_key),
        path("ca.crt", &ca_pem),
    );
    let tls_port = free_port();
    let log = std::fs::File::create(dir.path().join("server.log")).expect("log");
    let _server = Killed(
        Command::new(&bin)
            .args(["--port", "0", "--tls-port", &tls_port.to_string()])
            .args(["--raft-port", &free_port().to_string()])
            .args([
                "--tls-cert-file",
                &cert_path,
                "--tls-key-file",
                &key_path,
                "--tls-ca-cert-file",
                &ca_path,
            ])
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn fencepost"),
    );
    let tls = TlsConfig {
        ca_pem: ca_pem.clone().into_bytes(),
        client_cert_pem: Some(client_cert.into_bytes()),
        client_key_pem: Some(client_key.into_bytes()),
    };
    let url = format!("rediss://127.0.0.1:{tls_port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let admin = loop {
        if let Ok(c) = Client::connect_tls(&[&url], &tls).await {
            if c.lock_info("readiness-probe").await.is_ok() {
                break c;
            }
        }
        assert!(Instant::now() < deadline, "TLS node not ready within 30 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut setuser = redis::cmd("ACL");
    setuser.arg(&["SETUSER", "orders", "on", ">pw", "~orders:*", "-@all", "+@lock"]);
    admin.raw(&setuser).await.expect("ACL SETUSER");

    // As the limited user, over TLS: its own names work, others are refused.
    let url = format!("rediss://orders:pw@127.0.0.1:{tls_port}");
    let c = Client::connect_tls(&[&url], &tls).await.expect("connect as orders");
    let token = c
        .lock_acquire("orders:1", "w1", Duration::from_secs(10), None)
        .await
        .expect("acquire")
        .expect("granted");
    assert!(c.lock_release("orders:1", "w1", token).await.expect("release"));
    let refused = c.lock_acquire("payments:1", "w1", Duration::from_secs(10), None).await;
    let e = refused.expect_err("a name outside ~orders:*");
    assert!(e.to_string().contains("No permissions to access a key"), "{e}");

    // Without a client certificate the handshake fails.
    let bare = TlsConfig {
        ca_pem: ca_pem.into_bytes(),
        client_cert_pem: None,
        client_key_pem: None,
    };
    let no_cert = async {
        let c = Client::connect_tls(&[&url], &bare).await?;
        c.ping().await
    };
    assert!(no_cert.await.is_err(), "a client without a certificate was served");
}
