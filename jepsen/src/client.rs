//! The workloads' client: one connection per logical process, every call bounded by a
//! timeout, every reply classified the way the checkers need it:
//! `-CLUSTERDOWN` (and a connection that could not be made) -> definitely not applied
//! (`:fail`); `-UNCERTAIN`, timeouts, dropped connections and unexpected errors after
//! sending -> outcome unknown (`:info`); -STALE, -MISMATCH, -WRONGTYPE, -NOPERM,
//! -NOSCRIPT -> a definite refusal the workload interprets.

use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Value};

/// What became of one call.
#[derive(Debug, Clone)]
pub enum Outcome {
    Ok(Value),
    /// A definite refusal: (code, message).
    Refused(String, String),
    /// Not applied (CLUSTERDOWN, or never sent).
    Fail(String),
    /// May or may not have been applied.
    Info(String),
}

/// A connection to one node that is re-made after any indeterminate result.
pub struct Client {
    addr: String,
    timeout: Duration,
    /// (user, password) to log in as, or the default user.
    user: Option<(String, String)>,
    conn: Option<MultiplexedConnection>,
}

impl Client {
    /// A client for `addr` (host:port) whose calls give up after `timeout`.
    pub fn new(addr: String, timeout: Duration) -> Client {
        Client::as_user(addr, timeout, None)
    }

    /// A client that logs in as `user` (name, password) on every connection.
    pub fn as_user(addr: String, timeout: Duration, user: Option<(String, String)>) -> Client {
        Client {
            addr,
            timeout,
            user,
            conn: None,
        }
    }

    /// Whether a connection is open (none before the first call and after any
    /// indeterminate result).
    pub fn is_connected(&self) -> bool {
        self.conn.is_some()
    }

    /// Forgets the connection: the next call opens a new one.
    pub fn reset(&mut self) {
        self.conn = None;
    }

    async fn connect(&mut self) -> Result<&mut MultiplexedConnection, String> {
        if self.conn.is_none() {
            let login = self.user.as_ref().map_or(String::new(), |(u, p)| format!("{u}:{p}@"));
            let client = redis::Client::open(format!("redis://{login}{}/", self.addr)).map_err(|e| e.to_string())?;
            let cfg = AsyncConnectionConfig::new()
                .set_connection_timeout(self.timeout)
                .set_response_timeout(self.timeout);
            let conn = tokio::time::timeout(self.timeout, client.get_multiplexed_async_connection_with_config(&cfg))
                .await
                .map_err(|_| "connect timeout".to_string())?
                .map_err(|e| e.to_string())?;
            self.conn = Some(conn);
        }
        self.conn.as_mut().ok_or_else(|| "no connection".to_string())
    }

    /// Sends one command and classifies its reply.
    pub async fn call(&mut self, args: &[String]) -> Outcome {
        let timeout = self.timeout;
        let conn = match self.connect().await {
            Ok(c) => c,
            Err(e) => return Outcome::Fail(format!("connect: {e}")),
        };
        let mut cmd = redis::cmd(&args[0]);
        for a in &args[1..] {
            cmd.arg(a);
        }
        let res = tokio::time::timeout(timeout, cmd.query_async::<Value>(conn)).await;
        let outcome = match res {
            Err(_) => Outcome::Info("timeout".into()),
            Ok(Ok(v)) => Outcome::Ok(v),
            Ok(Err(e)) => match e.code() {
                Some("CLUSTERDOWN") => Outcome::Fail(format!("CLUSTERDOWN {}", e.detail().unwrap_or(""))),
                Some(code @ ("STALE" | "MISMATCH" | "WRONGTYPE" | "NOPERM" | "NOSCRIPT")) => {
                    Outcome::Refused(code.to_string(), e.detail().unwrap_or("").to_string())
                }
                Some(code) => Outcome::Info(format!("{code} {}", e.detail().unwrap_or(""))),
                None => Outcome::Info(e.to_string()),
            },
        };
        if matches!(outcome, Outcome::Info(_)) {
            self.reset();
        }
        outcome
    }
}

/// The integer in a reply, if it is one.
pub fn as_int(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(*i),
        Value::BulkString(b) => std::str::from_utf8(b).ok()?.parse().ok(),
        Value::SimpleString(s) => s.parse().ok(),
        _ => None,
    }
}

/// The text in a reply, if it is a string.
pub fn as_text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::SimpleString(s) => Some(s.clone()),
        Value::Int(i) => Some(i.to_string()),
        _ => None,
    }
}

/// The items of an array reply (a RESP3 map flattened), or none.
pub fn as_items(v: &Value) -> Option<Vec<Value>> {
    match v {
        Value::Array(items) | Value::Set(items) => Some(items.clone()),
        Value::Map(kv) => Some(kv.iter().flat_map(|(k, v)| [k.clone(), v.clone()]).collect()),
        _ => None,
    }
}
