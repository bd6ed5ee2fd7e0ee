//! etcd v3 through its JSON gRPC gateway (`/v3/...` since etcd 3.4; 3.3 used `/v3beta`).
//! The gateway adds JSON and a loopback gRPC hop that a native gRPC client would not pay,
//! so etcd's figures here are somewhat pessimistic; the report says so.

use std::net::SocketAddr;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;

use crate::http::HttpConn;

/// A gateway call that reached etcd but was refused (non-200): a failed operation,
/// not a broken connection.
#[derive(Debug)]
pub struct Refused(pub String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "etcd refused: {}", self.0)
    }
}

impl std::error::Error for Refused {}

/// One client connection to one etcd member.
pub struct Etcd {
    http: HttpConn,
}

impl Etcd {
    /// Opens a keep-alive connection to a member's client URL.
    pub async fn connect(addr: SocketAddr) -> Result<Etcd> {
        Ok(Etcd {
            http: HttpConn::connect(addr).await?,
        })
    }

    /// POSTs `body` to `path`; a non-200 reply is a `Refused` error.
    async fn call(&mut self, path: &str, body: &Value) -> Result<Value> {
        let r = self.http.post_json(path, body.to_string().as_bytes()).await?;
        let text = String::from_utf8_lossy(&r.body);
        if r.status != 200 {
            return Err(Refused(format!("{path}: HTTP {} {}", r.status, text.trim())).into());
        }
        serde_json::from_slice(&r.body).with_context(|| format!("{path}: bad JSON {text}"))
    }

    /// Grants a lease of `ttl_s` seconds and returns its id.
    pub async fn lease_grant(&mut self, ttl_s: u64) -> Result<i64> {
        let v = self.call("/v3/lease/grant", &json!({ "TTL": ttl_s })).await?;
        int_field(&v, "ID").context("lease grant: no ID")
    }

    /// Revokes a lease (and deletes the keys attached to it).
    pub async fn lease_revoke(&mut self, id: i64) -> Result<()> {
        self.call("/v3/lease/revoke", &json!({ "ID": id.to_string() })).await?;
        Ok(())
    }

    /// Blocks until `name` is ours under `lease`; returns the ownership key for unlock
    /// (still base64, as the gateway gave it: unlock takes it back as is).
    pub async fn lock(&mut self, name: &[u8], lease: i64) -> Result<String> {
        let v = self
            .call(
                "/v3/lock/lock",
                &json!({ "name": B64.encode(name), "lease": lease.to_string() }),
            )
            .await?;
        match v.get("key").and_then(Value::as_str) {
            Some(k) if !k.is_empty() => Ok(k.to_string()),
            _ => bail!("lock: no key in {v}"),
        }
    }

    /// Releases a lock by its ownership key (base64).
    pub async fn unlock(&mut self, key_b64: &str) -> Result<()> {
        self.call("/v3/lock/unlock", &json!({ "key": key_b64 })).await?;
        Ok(())
    }

    /// Puts `value` at `key` only if the key does not exist; true when it was created.
    pub async fn put_if_absent(&mut self, key: &[u8], value: &[u8]) -> Result<bool> {
        let k = B64.encode(key);
        let v = self
            .call(
                "/v3/kv/txn",
                &json!({
                    "compare": [{ "target": "CREATE", "key": k, "create_revision": "0" }],
                    "success": [{ "request_put": { "key": k, "value": B64.encode(value) } }],
                }),
            )
            .await?;
        // proto3 JSON leaves out false booleans.
        Ok(v.get("succeeded").and_then(Value::as_bool).unwrap_or(false))
    }

    /// Puts `value` at `key` unconditionally.
    pub async fn put(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        self.call(
            "/v3/kv/put",
            &json!({ "key": B64.encode(key), "value": B64.encode(value) }),
        )
        .await?;
        Ok(())
    }

    /// This member's id and the leader it knows (0 when none).
    pub async fn status(&mut self) -> Result<(u64, u64)> {
        let v = self.call("/v3/maintenance/status", &json!({})).await?;
        let me = v
            .get("header")
            .and_then(|h| uint_field(h, "member_id"))
            .context("status: no header.member_id")?;
        Ok((me, uint_field(&v, "leader").unwrap_or(0)))
    }
}

/// etcd's JSON carries 64-bit integers as strings (sometimes as numbers).
fn int_field(v: &Value, name: &str) -> Option<i64> {
    match v.get(name)? {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_i64(),
        _ => None,
    }
}

/// As `int_field`, for unsigned ids (member ids use all 64 bits).
fn uint_field(v: &Value, name: &str) -> Option<u64> {
    match v.get(name)? {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

/// True when `e` is etcd refusing an operation (as opposed to the connection failing).
pub fn is_refused(e: &anyhow::Error) -> bool {
    e.downcast_ref::<Refused>().is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_as_strings_or_numbers() {
        let v = json!({ "ID": "4186836925374672644", "n": 7, "big": "10638212580598582582" });
        assert_eq!(int_field(&v, "ID"), Some(4186836925374672644));
        assert_eq!(int_field(&v, "n"), Some(7));
        assert_eq!(uint_field(&v, "big"), Some(10638212580598582582));
        assert_eq!(int_field(&v, "missing"), None);
    }
}
