//! Cluster formation: `--initial-cluster` and `--join`. Runs once at start, before the
//! node serves; knows Raft and the config, not the node.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use bytes::BytesMut;
use openraft::async_runtime::watch::WatchReceiver;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::config::Config;
use crate::raft::types::{NodeId, PeerNode, Raft};

/// How long a join request waits for the cluster's answer (the leader waits for the
/// new node to catch up before it answers).
const JOIN_REPLY_TIMEOUT: Duration = Duration::from_secs(120);

/// Initializes a new cluster (alone, or with the `--initial-cluster` members) unless
/// this node already belongs to one. With `--join`, returns the loop that asks a
/// running cluster to add this node, for the caller to run among its tasks.
pub async fn form_or_join(
    raft: &Raft,
    cfg: &Config,
) -> anyhow::Result<Option<impl Future<Output = ()> + Send + 'static>> {
    let me = PeerNode {
        raft_addr: cfg.raft_addr(),
        resp_addr: cfg.resp_addr(),
    };
    if let Some(join) = &cfg.join {
        // A learner asks again: it restarted during a join that stopped halfway.
        if raft.is_initialized().await? && is_voter(raft, cfg.node_id) {
            return Ok(None);
        }
        let (raft, id, join, password) = (raft.clone(), cfg.node_id, join.clone(), cfg.requirepass.clone());
        let tls = join_tls(cfg)?;
        return Ok(Some(join_loop(raft, id, join, me, password, tls)));
    }
    if raft.is_initialized().await? {
        return Ok(None);
    }
    let members = match cfg.initial_members().map_err(anyhow::Error::msg)? {
        Some(m) => {
            if !m.contains_key(&cfg.node_id) {
                anyhow::bail!("--initial-cluster does not list this node's id {}", cfg.node_id);
            }
            m
        }
        None => BTreeMap::from([(cfg.node_id, me)]),
    };
    tracing::info!(members = members.len(), "forming a new cluster");
    // Every founding member calls this with the same list, which openraft allows; a
    // member that already heard from an elected leader is refused, harmlessly.
    if let Err(e) = raft.initialize(members).await {
        tracing::info!(error = %e, "initialize skipped");
    }
    Ok(None)
}

/// How to reach the cluster's client port: over TLS when this node's own clients are
/// TLS-only (the cluster's are then too), trusting `--tls-ca-cert-file` and presenting
/// this node's `--tls-cert-file` as a client certificate.
fn join_tls(cfg: &Config) -> anyhow::Result<Option<TlsConnector>> {
    if !cfg.tls_only() {
        return Ok(None);
    }
    let Some(ca) = &cfg.tls_ca_cert_file else {
        anyhow::bail!("--join on a TLS-only node (--port 0) needs --tls-ca-cert-file to trust the cluster");
    };
    let identity = cfg.tls_cert_file.as_deref().zip(cfg.tls_key_file.as_deref());
    Ok(Some(
        crate::tls::client_connector(ca, identity).map_err(|e| anyhow::anyhow!("--join over TLS: {e}"))?,
    ))
}

/// Asks the cluster at `join` (a client address) to add this node, until it is a member.
async fn join_loop(
    raft: Raft,
    my_id: NodeId,
    join: String,
    me: PeerNode,
    password: Option<String>,
    tls: Option<TlsConnector>,
) {
    loop {
        // A voter, not merely listed: a join that stopped halfway leaves this node a
        // learner, which must ask again to be promoted.
        if is_voter(&raft, my_id) {
            tracing::info!(via = %join, "joined the cluster");
            return;
        }
        let id = my_id.to_string();
        let cmd = ["RAFT", "ADD", id.as_str(), me.raft_addr.as_str(), me.resp_addr.as_str()];
        match resp_call(&join, tls.as_ref(), password.as_deref(), &cmd).await {
            // Added: done, even before this node's own view shows it. Asking again later
            // would re-add a node that an operator removed meanwhile (seen under load:
            // RAFT REMOVE, then this loop's next round put the node back).
            Ok(reply) if reply.starts_with('+') => {
                tracing::info!(via = %join, "joined the cluster");
                return;
            }
            Ok(reply) => {
                tracing::warn!(via = %join, reply = %reply.trim_end(), "join refused; retrying")
            }
            Err(e) => tracing::warn!(via = %join, error = %e, "join failed; retrying"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Whether this node's own view of the membership counts `id` among the voters.
fn is_voter(raft: &Raft, id: NodeId) -> bool {
    raft.metrics()
        .borrow_watched()
        .membership_config
        .membership()
        .voter_ids()
        .any(|v| v == id)
}

/// Sends one command over RESP (TLS when `tls` is given) and returns the first reply
/// line (enough for +OK/-ERR).
async fn resp_call(
    addr: &str,
    tls: Option<&TlsConnector>,
    password: Option<&str>,
    cmd: &[&str],
) -> std::io::Result<String> {
    let tcp = tokio::time::timeout(Duration::from_secs(2), TcpStream::connect(addr))
        .await
        .map_err(|_| std::io::Error::other("connect timed out"))??;
    match tls {
        Some(c) => {
            let name = crate::tls::server_name(addr)?;
            let s = tokio::time::timeout(Duration::from_secs(5), c.connect(name, tcp))
                .await
                .map_err(|_| std::io::Error::other("TLS handshake timed out"))??;
            exchange(s, password, cmd).await
        }
        None => exchange(tcp, password, cmd).await,
    }
}

async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: S,
    password: Option<&str>,
    cmd: &[&str],
) -> std::io::Result<String> {
    let mut out = BytesMut::new();
    let mut push = |args: &[&str]| {
        out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
        for a in args {
            out.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
        }
    };
    if let Some(p) = password {
        push(&["AUTH", p]);
    }
    push(cmd);
    s.write_all(&out).await?;
    let mut buf = Vec::new();
    let mut lines = Vec::new();
    let want = if password.is_some() { 2 } else { 1 };
    let read = async {
        while lines.len() < want {
            let mut chunk = [0u8; 512];
            let n = s.read(&mut chunk).await?;
            if n == 0 {
                return Err(std::io::Error::other("connection closed"));
            }
            buf.extend_from_slice(&chunk[..n]);
            while let Some(pos) = buf.windows(2).position(|w| w == b"\r\n") {
                lines.push(String::from_utf8_lossy(&buf[..pos]).into_owned());
                buf.drain(..pos + 2);
            }
        }
        Ok(())
    };
    tokio::time::timeout(JOIN_REPLY_TIMEOUT, read)
        .await
        .map_err(|_| std::io::Error::other("no reply"))??;
    Ok(lines.pop().unwrap_or_default())
}
