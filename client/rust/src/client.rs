//! `Client`: one typed async method per SPEC.md command, over a self-healing connection.

use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Cmd, RedisError, Value};
use tokio::sync::Mutex;

use crate::error::Result;
use crate::lock::LockOptions;
use crate::reply::{self, Begin, BucketReply, FenceValue, IdempStatus, LockInfo};

/// Durations travel as integer milliseconds, like `PX`.
pub(crate) fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// A connection to fencepost; cheap to clone (clones share it).
///
/// It heals itself: a dropped connection is re-established in the background (redis-rs's
/// `ConnectionManager`), and with several nodes ([`Client::connect_any`]) a node that
/// refuses or drops the connection is left for the next one. A command whose connection
/// failed is never resent here: it comes back as an error that says whether it may have
/// been applied ([`crate::Error::is_outcome_unknown`]), and [`crate::retry`] resends only
/// what certainly was not.
#[derive(Clone)]
pub struct Client {
    shared: Arc<Shared>,
}

struct Shared {
    nodes: Vec<redis::Client>,
    /// Which node is in use, and its connection once made.
    current: Mutex<(usize, Option<ConnectionManager>)>,
}

/// What a TLS-only cluster asks of its clients (`rediss://host:port` URLs): the CA that
/// signed the nodes' certificates, and a client certificate and key (PEM) when the
/// cluster requires one (`--tls-auth-clients yes`, the default with a CA).
#[derive(Clone, Debug, Default)]
pub struct TlsConfig {
    pub ca_pem: Vec<u8>,
    pub client_cert_pem: Option<Vec<u8>>,
    pub client_key_pem: Option<Vec<u8>>,
}

/// Reconnecting: a few quick attempts, then the error goes to the caller (who may retry).
/// No response timeout: LOCK ACQUIRE ... WAIT legitimately blocks; callers bound it.
fn manager_config() -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_connection_timeout(Duration::from_secs(1))
        .set_number_of_retries(2)
        .set_factor(50)
        .set_max_delay(1000)
}

/// The node behind this error is gone (or going): use another if there is one.
fn node_gone(e: &RedisError) -> bool {
    e.is_connection_refusal() || e.is_connection_dropped() || e.is_timeout()
}

impl Client {
    /// Connects to one node: `redis://host:port` (or `redis://:pass@host:port`).
    pub async fn connect(url: &str) -> Result<Client> {
        Client::connect_any(&[url]).await
    }

    /// Connects to the first of `urls` that answers, and moves along the list (wrapping
    /// round) whenever the node in use refuses or drops the connection. Any node serves
    /// every command (followers proxy to the leader), so any order is fine.
    pub async fn connect_any(urls: &[&str]) -> Result<Client> {
        let nodes = urls.iter().map(|u| redis::Client::open(*u)).collect();
        Client::connect_nodes(nodes).await
    }

    /// [`Client::connect_any`] for a cluster whose client ports speak TLS: `urls` are
    /// `rediss://[user:pass@]host:port`, and `tls` says whom to trust and who we are.
    pub async fn connect_tls(urls: &[&str], tls: &TlsConfig) -> Result<Client> {
        let certs = redis::TlsCertificates {
            client_tls: match (&tls.client_cert_pem, &tls.client_key_pem) {
                (Some(cert), Some(key)) => Some(redis::ClientTlsConfig {
                    client_cert: cert.clone(),
                    client_key: key.clone(),
                }),
                _ => None,
            },
            root_cert: Some(tls.ca_pem.clone()),
        };
        let nodes = urls
            .iter()
            .map(|u| redis::Client::build_with_tls(*u, certs.clone()))
            .collect();
        Client::connect_nodes(nodes).await
    }

    async fn connect_nodes(nodes: redis::RedisResult<Vec<redis::Client>>) -> Result<Client> {
        let nodes = nodes?;
        if nodes.is_empty() {
            return Err(crate::Error::Server {
                code: "CLIENT".into(),
                detail: "no node address given".into(),
            });
        }
        let client = Client {
            shared: Arc::new(Shared {
                nodes,
                current: Mutex::new((0, None)),
            }),
        };
        client.connection().await?;
        Ok(client)
    }

    /// The connection in use (made if needed), trying each node once, in order, from the
    /// current one; with every node unreachable, the last node's error.
    async fn connection(&self) -> Result<(usize, ConnectionManager)> {
        let nodes = &self.shared.nodes;
        let mut current = self.shared.current.lock().await;
        if let (index, Some(conn)) = &*current {
            return Ok((*index, conn.clone()));
        }
        let mut last_err = None;
        for step in 0..nodes.len() {
            let index = (current.0 + step) % nodes.len();
            match ConnectionManager::new_with_config(nodes[index].clone(), manager_config()).await {
                Ok(conn) => {
                    *current = (index, Some(conn.clone()));
                    return Ok((index, conn));
                }
                Err(e) => last_err = Some(e),
            }
        }
        // There is at least one node, so at least one error.
        Err(last_err.map_or_else(|| crate::Error::Protocol("no node tried".into()), Into::into))
    }

    /// After `e` on node `index`: with other nodes to go to, the next call uses the next one.
    async fn after_error(&self, index: usize, e: &RedisError) {
        let n = self.shared.nodes.len();
        if n > 1 && node_gone(e) {
            let mut current = self.shared.current.lock().await;
            if current.0 == index {
                *current = ((index + 1) % n, None);
            }
        }
    }

    /// A `Client` on the same nodes with a connection of its own (made on first use).
    ///
    /// The server answers each connection's requests in order, so a call that blocks
    /// (`... WAIT`, `LOCK WATCH`) holds up every later reply on its connection, lease
    /// renewals included. Give blocking calls a detached client.
    pub fn detached(&self) -> Client {
        let current = self.shared.current.try_lock().map_or(0, |c| c.0);
        Client {
            shared: Arc::new(Shared {
                nodes: self.shared.nodes.clone(),
                current: Mutex::new((current, None)),
            }),
        }
    }

    /// Sends one command and returns its raw reply (errors already mapped).
    pub async fn raw(&self, cmd: &Cmd) -> Result<Value> {
        let (index, mut conn) = self.connection().await?;
        match cmd.query_async::<Value>(&mut conn).await {
            Ok(v) => Ok(v),
            Err(e) => {
                self.after_error(index, &e).await;
                Err(e.into())
            }
        }
    }

    /// `PING`.
    pub async fn ping(&self) -> Result<()> {
        let v = self.raw(&redis::cmd("PING")).await?;
        match reply::bytes(&v)?.as_slice() {
            b"PONG" => Ok(()),
            _ => Err(crate::Error::Protocol(format!("PING: got {v:?}"))),
        }
    }

    /// `LOCK ACQUIRE`: the fencing token, or None if held by another (or WAIT ran out).
    pub async fn lock_acquire(
        &self,
        name: impl AsRef<[u8]>,
        owner: impl AsRef<[u8]>,
        ttl: Duration,
        wait: Option<Duration>,
    ) -> Result<Option<u64>> {
        let opts = LockOptions { wait, delay: None };
        self.lock_acquire_with(name, owner, ttl, opts).await
    }

    /// `LOCK ACQUIRE ... [WAIT ms] [DELAY ms]`: [`Client::lock_acquire`] with every option.
    pub async fn lock_acquire_with(
        &self,
        name: impl AsRef<[u8]>,
        owner: impl AsRef<[u8]>,
        ttl: Duration,
        opts: LockOptions,
    ) -> Result<Option<u64>> {
        let mut cmd = redis::cmd("LOCK");
        cmd.arg("ACQUIRE").arg(name.as_ref()).arg(owner.as_ref()).arg(ms(ttl));
        if let Some(w) = opts.wait {
            cmd.arg("WAIT").arg(ms(w));
        }
        if let Some(d) = opts.delay {
            cmd.arg("DELAY").arg(ms(d));
        }
        reply::token_opt(&self.raw(&cmd).await?)
    }

    /// `LOCK RELEASE`: true if it was held by `owner` with `token`.
    pub async fn lock_release(&self, name: impl AsRef<[u8]>, owner: impl AsRef<[u8]>, token: u64) -> Result<bool> {
        let mut cmd = redis::cmd("LOCK");
        cmd.arg("RELEASE").arg(name.as_ref()).arg(owner.as_ref()).arg(token);
        reply::flag(&self.raw(&cmd).await?)
    }

    /// `LOCK EXTEND`: true if the TTL was reset to `ttl` from now.
    pub async fn lock_extend(
        &self,
        name: impl AsRef<[u8]>,
        owner: impl AsRef<[u8]>,
        token: u64,
        ttl: Duration,
    ) -> Result<bool> {
        let mut cmd = redis::cmd("LOCK");
        cmd.arg("EXTEND")
            .arg(name.as_ref())
            .arg(owner.as_ref())
            .arg(token)
            .arg(ms(ttl));
        reply::flag(&self.raw(&cmd).await?)
    }

    /// `LOCK INFO`: None when free.
    pub async fn lock_info(&self, name: impl AsRef<[u8]>) -> Result<Option<LockInfo>> {
        let mut cmd = redis::cmd("LOCK");
        cmd.arg("INFO").arg(name.as_ref());
        reply::lock_info(&self.raw(&cmd).await?)
    }

    /// `FENCE ADVANCE [LOCK name]`: the accepted token, or `Error::Stale`.
    pub async fn fence_advance(&self, resource: impl AsRef<[u8]>, token: u64, lock: Option<&[u8]>) -> Result<u64> {
        let mut cmd = redis::cmd("FENCE");
        cmd.arg("ADVANCE").arg(resource.as_ref()).arg(token);
        if let Some(l) = lock {
            cmd.arg("LOCK").arg(l);
        }
        reply::uint(&self.raw(&cmd).await?)
    }

    /// `FENCE SET [LOCK name]`: stores `value` under `token`, or `Error::Stale`.
    pub async fn fence_set(
        &self,
        key: impl AsRef<[u8]>,
        token: u64,
        value: impl AsRef<[u8]>,
        lock: Option<&[u8]>,
    ) -> Result<()> {
        let mut cmd = redis::cmd("FENCE");
        cmd.arg("SET").arg(key.as_ref()).arg(token).arg(value.as_ref());
        if let Some(l) = lock {
            cmd.arg("LOCK").arg(l);
        }
        reply::ok(&self.raw(&cmd).await?)
    }

    /// `FENCE GET`: None when the fence does not exist.
    pub async fn fence_get(&self, key: impl AsRef<[u8]>) -> Result<Option<FenceValue>> {
        let mut cmd = redis::cmd("FENCE");
        cmd.arg("GET").arg(key.as_ref());
        reply::fence_get(&self.raw(&cmd).await?)
    }

    /// `TOKENBUCKET key capacity refill period COST cost`.
    pub async fn token_bucket(
        &self,
        key: impl AsRef<[u8]>,
        capacity: u64,
        refill: u64,
        period: Duration,
        cost: u64,
    ) -> Result<BucketReply> {
        let mut cmd = redis::cmd("TOKENBUCKET");
        cmd.arg(key.as_ref())
            .arg(capacity)
            .arg(refill)
            .arg(ms(period))
            .arg("COST")
            .arg(cost);
        reply::bucket(&self.raw(&cmd).await?)
    }

    /// `RATELIMIT SLIDING key limit window COST cost`: admits only if the calls admitted in
    /// the last `window` plus `cost` stay within `limit`, counted exactly. The reply has
    /// TOKENBUCKET's shape (`capacity` is the limit; `reset_after` is when the window empties).
    pub async fn ratelimit_sliding(
        &self,
        key: impl AsRef<[u8]>,
        limit: u64,
        window: Duration,
        cost: u64,
    ) -> Result<BucketReply> {
        let mut cmd = redis::cmd("RATELIMIT");
        cmd.arg("SLIDING")
            .arg(key.as_ref())
            .arg(limit)
            .arg(ms(window))
            .arg("COST")
            .arg(cost);
        reply::bucket(&self.raw(&cmd).await?)
    }

    /// `IDEMP BEGIN [LEASE ms]`: started (do the work), pending, or done (replay).
    pub async fn idemp_begin(
        &self,
        key: impl AsRef<[u8]>,
        fingerprint: impl AsRef<[u8]>,
        ttl: Duration,
        lease: Option<Duration>,
    ) -> Result<Begin> {
        let mut cmd = redis::cmd("IDEMP");
        cmd.arg("BEGIN")
            .arg(key.as_ref())
            .arg(fingerprint.as_ref())
            .arg(ms(ttl));
        if let Some(l) = lease {
            cmd.arg("LEASE").arg(ms(l));
        }
        reply::begin(&self.raw(&cmd).await?)
    }

    /// `IDEMP COMPLETE`: stores the response; `Error::Stale` if the claim was taken over.
    pub async fn idemp_complete(&self, key: impl AsRef<[u8]>, token: u64, response: impl AsRef<[u8]>) -> Result<()> {
        let mut cmd = redis::cmd("IDEMP");
        cmd.arg("COMPLETE").arg(key.as_ref()).arg(token).arg(response.as_ref());
        reply::ok(&self.raw(&cmd).await?)
    }

    /// `IDEMP ABORT`: drops the claim so a retry may start again.
    pub async fn idemp_abort(&self, key: impl AsRef<[u8]>, token: u64) -> Result<()> {
        let mut cmd = redis::cmd("IDEMP");
        cmd.arg("ABORT").arg(key.as_ref()).arg(token);
        reply::ok(&self.raw(&cmd).await?)
    }

    /// `IDEMP GET`: None when the key is unknown.
    pub async fn idemp_get(&self, key: impl AsRef<[u8]>) -> Result<Option<IdempStatus>> {
        let mut cmd = redis::cmd("IDEMP");
        cmd.arg("GET").arg(key.as_ref());
        reply::idemp_get(&self.raw(&cmd).await?)
    }
}
