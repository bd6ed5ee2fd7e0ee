//! Peer TLS (`--peer-tls-cert/-key/-ca`): a cluster whose nodes talk mutual TLS 1.3
//! forms, proxies and fails over; a node with a certificate of another CA never joins;
//! plaintext callers on a TLS raft port are hung up on. The CA and node certificates
//! are generated per test with rcgen (SANs 127.0.0.1 and localhost). Real `fencepost`
//! processes on loopback; each test takes `heavy_lock()` like the other cluster suites.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use fencepost_tests::cluster::{hello_frame, peer_refuses, CLUSTER_TIMEOUT};
use fencepost_tests::*;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};

const SETUP: Duration = TestCluster::SETUP;

/// A certificate authority whose files live in `dir`.
struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pem_path: PathBuf,
    dir: PathBuf,
}

impl Ca {
    fn new(dir: &Path, name: &str) -> Ca {
        let mut p = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
        p.distinguished_name
            .push(DnType::CommonName, format!("fencepost test CA {name}"));
        let key = KeyPair::generate().expect("CA key");
        let cert = p.self_signed(&key).expect("CA cert");
        let pem_path = dir.join(format!("{name}-ca.pem"));
        std::fs::write(&pem_path, cert.pem()).expect("write CA");
        Ca {
            issuer: Issuer::new(p, key),
            pem_path,
            dir: dir.to_path_buf(),
        }
    }

    /// Issues a node certificate for 127.0.0.1 and localhost; returns the three TLS
    /// flags that point a node at it, its key and this CA.
    fn node_args(&self, name: &str) -> Vec<String> {
        let sans = vec!["127.0.0.1".to_string(), "localhost".to_string()];
        let mut p = CertificateParams::new(sans).expect("node params");
        p.distinguished_name.push(DnType::CommonName, name);
        // Every node is both a TLS server (accepting) and a client (dialling).
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
        let key = KeyPair::generate().expect("node key");
        let cert = p.signed_by(&key, &self.issuer).expect("sign node cert");
        let (c, k) = (
            self.dir.join(format!("{name}.crt")),
            self.dir.join(format!("{name}.key")),
        );
        std::fs::write(&c, cert.pem()).expect("write cert");
        std::fs::write(&k, key.serialize_pem()).expect("write key");
        let path = |p: &Path| p.display().to_string();
        vec![
            "--peer-tls-cert".into(),
            path(&c),
            "--peer-tls-key".into(),
            path(&k),
            "--peer-tls-ca".into(),
            path(&self.pem_path),
        ]
    }
}

/// A builder for a 3-node cluster whose nodes each hold a certificate of `ca`.
fn tls_cluster(ca: &Ca) -> ClusterBuilder {
    let mut b = TestCluster::builder(3);
    for id in 1..=3u64 {
        for a in ca.node_args(&format!("node{id}")) {
            b = b.node_arg(id, &a);
        }
    }
    b
}

#[test]
fn tls_cluster_forms_proxies_and_fails_over() {
    let _g = heavy_lock();
    let pki = tempfile::tempdir().expect("tempdir");
    let ca = Ca::new(pki.path(), "cluster");
    let mut c = tls_cluster(&ca).start();
    let leader = c.leader(CLUSTER_TIMEOUT);
    for id in [1, 2, 3] {
        assert_eq!(c.voters(id), Some(vec![1, 2, 3]), "node {id}");
    }

    // A write through a follower travels to the leader over TLS (proxy mode).
    let follower = c.followers_of(leader)[0];
    let k = uniq("tls-proxied");
    assert_eq!(
        c.must(follower, &["FENCE", "SET", &k, "1", "via-follower"]),
        Reply::ok()
    );
    let got = c.conn(leader).cmd(&["FENCE", "GET", &k]);
    assert_eq!(got, arr(vec![int(1), bulk("via-follower")]));

    // kill -9 the leader: the others elect over TLS and keep taking writes.
    c.kill9(leader);
    let rest: Vec<u64> = [1, 2, 3].into_iter().filter(|&id| id != leader).collect();
    let new_leader = c.leader_among(&rest, CLUSTER_TIMEOUT);
    let k2 = uniq("tls-after-kill");
    for id in &rest {
        assert_eq!(c.must(*id, &["FENCE", "SET", &k2, &id.to_string(), "v"]), Reply::ok());
    }

    // The old leader comes back and catches up on fresh TLS connections.
    c.restart(leader);
    c.wait_caught_up(leader, CLUSTER_TIMEOUT);
    assert_eq!(c.leader(CLUSTER_TIMEOUT), new_leader);
    let log = std::fs::read_to_string(&c.node(new_leader).log_path).unwrap_or_default();
    assert!(
        !log.contains("TLS handshake failed"),
        "TLS failures between good nodes:\n{log}"
    );
}

#[test]
fn a_node_with_a_certificate_of_another_ca_never_joins() {
    let _g = heavy_lock();
    let pki = tempfile::tempdir().expect("tempdir");
    let ca = Ca::new(pki.path(), "cluster");
    let rogue_ca = Ca::new(pki.path(), "rogue");
    let mut b = tls_cluster(&ca);
    // The rogue holds the right cluster secret and a well-formed certificate for
    // 127.0.0.1: only the CA is wrong.
    for a in rogue_ca.node_args("node4") {
        b = b.node_arg(4, &a);
    }
    let mut c = b.start();
    let leader = c.leader(CLUSTER_TIMEOUT);

    c.join(4, 1);
    let add = c.cmd_retry(leader, &["RAFT", "ADD", "4", &c.raft_addr(4), &c.addr(4)], SETUP);
    assert!(add.is_err_with("ERR"), "RAFT ADD of a peer of another CA -> {add:?}");
    wait_until(Duration::from_secs(15), "node 4's join attempts refused", || {
        let log = std::fs::read_to_string(&c.node(4).log_path).ok()?;
        (log.matches("join refused").count() >= 2).then_some(())
    });
    let log = std::fs::read_to_string(&c.node(leader).log_path).unwrap_or_default();
    assert!(
        log.contains("peer TLS handshake failed"),
        "the leader should log the refused certificate:\n{}",
        c.log_tail(leader, 30)
    );
    for id in [1, 2, 3] {
        assert_eq!(c.voters(id), Some(vec![1, 2, 3]), "node {id}");
        assert_eq!(c.learners(id), Some(vec![]), "node {id}");
    }
    let r = c.conn(4).cmd(&["LOCK", "ACQUIRE", "x", "o", "1000"]);
    assert!(r.is_err_with("CLUSTERDOWN"), "non-member node 4 -> {r:?}");
    for id in [1, 2, 3] {
        let k = uniq("tls-after-rogue");
        assert_eq!(c.must(id, &["FENCE", "SET", &k, "1", "v"]), Reply::ok());
    }
}

/// Connects to a raft port, sends `bytes` and requires the node to hang up within 5 s.
fn hung_up_on(port: u16, what: &str, bytes: &[u8]) {
    peer_refuses(port, what, |s| {
        let _ = s.write_all(bytes);
    });
}

#[test]
fn plaintext_callers_are_hung_up_on() {
    let _g = heavy_lock();
    let pki = tempfile::tempdir().expect("tempdir");
    let ca = Ca::new(pki.path(), "cluster");
    let mut c = tls_cluster(&ca).start();
    let leader = c.leader(CLUSTER_TIMEOUT);
    let port = c.node(leader).raft_port;

    hung_up_on(port, "a plaintext Hello", &hello_frame(9));
    hung_up_on(port, "HTTP garbage", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    // A TLS record header promising a long handshake that never comes: the deadline.
    hung_up_on(port, "a truncated TLS record", &[0x16, 0x03, 0x01, 0x40, 0x00, 0x01]);
    hung_up_on(port, "nothing at all", &[]);

    for id in [1, 2, 3] {
        assert!(c.node_mut(id).is_alive(), "node {id} died of plaintext callers");
    }
    let log = std::fs::read_to_string(&c.node(leader).log_path).unwrap_or_default();
    assert!(log.contains("TLS handshake failed"), "{}", c.log_tail(leader, 30));
    assert_eq!(c.leader_among(&[1, 2, 3], CLUSTER_TIMEOUT), leader, "leader unchanged");
    for id in [1, 2, 3] {
        let k = uniq("tls-after-plaintext");
        assert_eq!(c.must(id, &["FENCE", "SET", &k, "1", "v"]), Reply::ok());
    }
}

/// Runs the binary with `args` (and a throw-away data dir) until it exits: it must fail
/// at startup, saying `want`.
fn fails_to_start(args: &[String], want: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (port, raft_port) = free_ports();
    let mut cmd = Command::new(bin_path());
    cmd.args(["--port", &port.to_string(), "--raft-port", &raft_port.to_string()])
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .args(args);
    let out = run_with_timeout(cmd, Duration::from_secs(15));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "started with {args:?}:\n{stderr}");
    assert!(stderr.contains(want), "{args:?}: want '{want}' in:\n{stderr}");
}

#[test]
fn bad_tls_settings_stop_the_node_at_startup() {
    let pki = tempfile::tempdir().expect("tempdir");
    let ca = Ca::new(pki.path(), "cluster");
    let good = ca.node_args("node1");
    fails_to_start(&good[..4], "all three");
    let mut missing = good.clone();
    let absent = pki.path().join("absent.crt").display().to_string();
    missing[1] = absent.clone();
    fails_to_start(&missing, &absent);
    // The key where the certificate should be: no certificate in that file.
    let mut swapped = good.clone();
    swapped[1] = good[3].clone();
    fails_to_start(&swapped, &good[3]);
}
