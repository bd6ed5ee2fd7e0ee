//! fencepost as one node or as a cluster of `n` nodes on loopback.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use super::{free_port, loopback, wait_for, Proc, TargetOpts};
use tokio_rustls::TlsConnector;

use crate::resp::{Conn, Reply, Security};

/// Peers authenticate with this; the value is irrelevant on loopback.
const CLUSTER_SECRET: &str = "bench";

/// The ACL user of `fencepost-3-tls-acl`: the workloads' key names, fencepost's own
/// commands, and for redis-py's `Lock` exactly what it needs: the two commands it sends
/// (SET, EVALSHA) and the two its release script calls (GET, DEL; as in Redis, a
/// script's calls pass the caller's ACL too), as a least-privilege application user
/// would have. Every command passes a category (or command) and a key-pattern check.
const BENCH_USER: &str = "bench";
const BENCH_PASS: &str = "bench-secret";
const BENCH_RULES: &[&str] = &[
    "on",
    ">bench-secret",
    "~lock:*",
    "~hand-off:*",
    "~bucket:*",
    "~idem:*",
    "~sem:*",
    "~window:*",
    "-@all",
    "+@lock",
    "+@ratelimit",
    "+@idemp",
    "+@coord",
    "+set",
    "+evalsha",
    "+get",
    "+del",
];

/// Starts `n` nodes and returns the leader's RESP address once it serves linearizable reads.
pub async fn start(n: usize, opts: &TargetOpts, dir: &Path, procs: &mut Vec<Proc>) -> Result<SocketAddr> {
    start_with(n, opts, dir, procs, |_| Vec::new()).await
}

/// Starts `n` nodes that also serve clients over TLS (a certificate of a CA made here),
/// makes the bench's ACL user, and returns the leader and how clients reach it: TLS to
/// each node's TLS port, logged in as that user.
pub async fn start_secure(
    n: usize,
    opts: &TargetOpts,
    dir: &Path,
    procs: &mut Vec<Proc>,
) -> Result<(SocketAddr, Security)> {
    let (cert, key, connector) = tls_material(dir)?;
    let tls_ports: Vec<u16> = (0..n).map(|_| super::free_port()).collect::<Result<_>>()?;
    let leader = start_with(n, opts, dir, procs, |i| {
        vec![
            "--tls-port".into(),
            tls_ports[i].to_string(),
            "--tls-cert-file".into(),
            cert.display().to_string(),
            "--tls-key-file".into(),
            key.display().to_string(),
        ]
    })
    .await?;
    let twins = procs
        .iter()
        .zip(&tls_ports)
        .map(|(p, &t)| (p.addr, loopback(t)))
        .collect();
    let mut c = Conn::connect(leader).await?;
    let mut rule: Vec<&[u8]> = vec![b"ACL", b"SETUSER", BENCH_USER.as_bytes()];
    rule.extend(BENCH_RULES.iter().map(|r| r.as_bytes()));
    match c.call(&rule).await? {
        Reply::Simple(_) => {}
        other => bail!("ACL SETUSER {BENCH_USER}: {other:?}"),
    }
    let security = Security {
        tls: Some((connector, twins)),
        user: Some((BENCH_USER.into(), BENCH_PASS.into())),
    };
    Ok((leader, security))
}

/// Starts `n` nodes with `--metrics-addr`, and a scraper task that GETs every node's
/// `/metrics` once a second for as long as the process runs (the bench measures what
/// recording and serving metrics cost).
pub async fn start_scraped(n: usize, opts: &TargetOpts, dir: &Path, procs: &mut Vec<Proc>) -> Result<SocketAddr> {
    let ports: Vec<u16> = (0..n).map(|_| super::free_port()).collect::<Result<_>>()?;
    let leader = start_with(n, opts, dir, procs, |i| {
        vec!["--metrics-addr".into(), format!("127.0.0.1:{}", ports[i])]
    })
    .await?;
    tokio::spawn(async move {
        loop {
            for &p in &ports {
                let _ = scrape(p).await;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
    Ok(leader)
}

/// One GET /metrics; the body is read and dropped.
async fn scrape(port: u16) -> Result<usize> {
    let mut c = crate::http::HttpConn::connect(super::loopback(port)).await?;
    Ok(c.get("/metrics").await?.body.len())
}

/// A CA and a certificate it signs for 127.0.0.1 (files under `dir`), and a client
/// connector that trusts the CA.
fn tls_material(dir: &Path) -> Result<(std::path::PathBuf, std::path::PathBuf, TlsConnector)> {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, KeyUsagePurpose};
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
    let ca_key = KeyPair::generate()?;
    let ca_cert = ca.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca, ca_key);
    let leaf_key = KeyPair::generate()?;
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_string()])?.signed_by(&leaf_key, &issuer)?;
    let (cert, key) = (dir.join("server.crt"), dir.join("server.key"));
    std::fs::write(&cert, leaf.pem())?;
    std::fs::write(&key, leaf_key.serialize_pem())?;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca_cert.der().clone())?;
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok((cert, key, TlsConnector::from(std::sync::Arc::new(config))))
}

async fn start_with(
    n: usize,
    opts: &TargetOpts,
    dir: &Path,
    procs: &mut Vec<Proc>,
    extra: impl Fn(usize) -> Vec<String>,
) -> Result<SocketAddr> {
    let bin = opts
        .fencepost_bin
        .as_deref()
        .context("--fencepost-bin is required for fencepost targets")?;
    let ports: Vec<(u16, u16)> = (0..n)
        .map(|_| Ok((free_port()?, free_port()?)))
        .collect::<Result<_>>()?;
    let members: Vec<String> = ports
        .iter()
        .enumerate()
        .map(|(i, (p, r))| format!("{}=127.0.0.1:{p}/127.0.0.1:{r}", i + 1))
        .collect();
    for (i, &(port, raft_port)) in ports.iter().enumerate() {
        let mut c = Command::new(bin);
        c.args(["--port", &port.to_string(), "--raft-port", &raft_port.to_string()]);
        c.arg("--data-dir").arg(dir.join(format!("node-{}", i + 1)));
        // Every node and the load generator share this machine's cores, as redis-server's
        // one thread does: one worker each (see the README's benchmark notes).
        c.args(["--worker-threads", "1"]);
        c.args(extra(i));
        if n > 1 {
            c.args(["--node-id", &(i + 1).to_string()]);
            c.args(["--initial-cluster", &members.join(",")]);
            c.args(["--cluster-secret", CLUSTER_SECRET]);
        }
        c.args(&opts.fencepost_args);
        let log = dir.join(format!("node-{}.log", i + 1));
        procs.push(Proc::spawn(&format!("node-{}", i + 1), loopback(port), c, log)?);
    }
    let addrs: Vec<SocketAddr> = procs.iter().map(|p| p.addr).collect();
    let leader = wait_for(procs, Duration::from_secs(30), "a fencepost leader", || {
        let addrs = addrs.clone();
        async move { leader_among(&addrs).await }
    })
    .await?;
    if !addrs.contains(&leader) {
        bail!("RAFT INFO names leader {leader}, which is none of {addrs:?}");
    }
    // A leader is elected before it has committed an entry of its term; a ReadIndex read waits for that.
    wait_for(procs, Duration::from_secs(30), "a linearizable read", || async move {
        let mut c = Conn::connect(leader).await.ok()?;
        match c.call(&[b"LOCK", b"INFO", b"bench-probe"]).await {
            Ok(Reply::Error(_)) | Err(_) => None,
            Ok(_) => Some(()),
        }
    })
    .await?;
    Ok(leader)
}

/// The leader's RESP address as the first node that knows one reports it.
pub async fn leader_among(addrs: &[SocketAddr]) -> Option<SocketAddr> {
    for &a in addrs {
        if let Some(l) = leader_of(a).await {
            return Some(l);
        }
    }
    None
}

/// The leader's RESP address as node `addr` reports it, if it knows one.
async fn leader_of(addr: SocketAddr) -> Option<SocketAddr> {
    let mut c = Conn::connect(addr).await.ok()?;
    let info = raft_info(&mut c).await.ok()?;
    let text = match field(&info, "leader-addr")? {
        Reply::Bulk(Some(b)) => String::from_utf8(b.clone()).ok()?,
        Reply::Simple(s) => s.clone(),
        _ => return None,
    };
    text.parse().ok()
}

/// `RAFT INFO` as (key, value) pairs (RESP2 answers a flat array).
pub async fn raft_info(c: &mut Conn) -> Result<Vec<(String, Reply)>> {
    let items = match c.call(&[b"RAFT", b"INFO"]).await? {
        Reply::Array(Some(items)) => items,
        other => bail!("RAFT INFO: {other:?}"),
    };
    let mut out = Vec::with_capacity(items.len() / 2);
    let mut it = items.into_iter();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        let key = match k {
            Reply::Bulk(Some(b)) => String::from_utf8_lossy(&b).into_owned(),
            Reply::Simple(s) => s,
            other => bail!("RAFT INFO key {other:?}"),
        };
        out.push((key, v));
    }
    Ok(out)
}

/// The value of `key` in a `RAFT INFO` reply.
pub fn field<'a>(info: &'a [(String, Reply)], key: &str) -> Option<&'a Reply> {
    info.iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

/// An integer field of `RAFT INFO`.
pub fn int_field(info: &[(String, Reply)], key: &str) -> Option<i64> {
    match field(info, key)? {
        Reply::Int(i) => Some(*i),
        _ => None,
    }
}
