//! Argument checking shared by every command family: arity, numbers, names, sizes.
//! Every failure is an `-ERR` reply; the connection stays open.

use bytes::Bytes;

use crate::reply::Reply;

/// Largest duration accepted anywhere (about 146 years): keeps stamp arithmetic far
/// from overflow.
pub const MAX_DURATION_MS: u64 = 1 << 52;
/// Names and keys are 1..=1024 bytes (SPEC.md).
pub const MAX_NAME_BYTES: usize = 1024;

pub fn arity(cmd: &str) -> Reply {
    Reply::err(format!("ERR wrong number of arguments for '{cmd}' command"))
}

pub fn syntax() -> Reply {
    Reply::err("ERR syntax error")
}

/// Upper-cased copy of a keyword argument, for matching.
pub fn keyword(b: &[u8]) -> String {
    String::from_utf8_lossy(b).to_ascii_uppercase()
}

/// A non-negative integer.
pub fn uint(b: &[u8]) -> Result<u64, Reply> {
    std::str::from_utf8(b)
        .ok()
        .filter(|s| !s.starts_with('+'))
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or_else(|| Reply::err("ERR value is not an integer or out of range"))
}

/// A duration in milliseconds that must be positive.
pub fn positive_ms(b: &[u8], what: &str) -> Result<u64, Reply> {
    let v = uint(b)?;
    if v == 0 || v > MAX_DURATION_MS {
        return Err(Reply::err(format!(
            "ERR invalid {what}: must be 1..={MAX_DURATION_MS} ms"
        )));
    }
    Ok(v)
}

/// A duration in milliseconds that may be zero.
pub fn ms(b: &[u8], what: &str) -> Result<u64, Reply> {
    let v = uint(b)?;
    if v > MAX_DURATION_MS {
        return Err(Reply::err(format!(
            "ERR invalid {what}: must be 0..={MAX_DURATION_MS} ms"
        )));
    }
    Ok(v)
}

/// A fencing token as a client sends it back.
pub fn token(b: &[u8]) -> Result<u64, Reply> {
    uint(b)
}

/// A held lease as RELEASE and EXTEND name it: `<name> <owner> <token> [<ttl-ms>]`.
pub struct LeaseRef {
    pub name: Bytes,
    pub owner: Bytes,
    pub token: u64,
    /// EXTEND's new TTL (0 for RELEASE).
    pub ttl_ms: u64,
}

/// The arguments of `<cmd> RELEASE` (`with_ttl` false) or `<cmd> EXTEND` (true) of LOCK,
/// SEMAPHORE and RWLOCK; `cmd` is the lower-case command for the arity error, `what`
/// names the object in errors.
pub fn lease_ref(a: &[Bytes], cmd: &str, what: &str, with_ttl: bool) -> Result<LeaseRef, Reply> {
    let (n, sub) = if with_ttl { (4, "extend") } else { (3, "release") };
    if a.len() != n {
        return Err(arity(&format!("{cmd}|{sub}")));
    }
    Ok(LeaseRef {
        name: name(&a[0], what)?,
        owner: name(&a[1], if cmd == "semaphore" { "holder" } else { "owner" })?,
        token: token(&a[2])?,
        ttl_ms: if with_ttl { positive_ms(&a[3], "ttl")? } else { 0 },
    })
}

/// A lock name, fence key, bucket key, idempotency key or owner.
pub fn name(b: &Bytes, what: &str) -> Result<Bytes, Reply> {
    if b.is_empty() || b.len() > MAX_NAME_BYTES {
        return Err(Reply::err(format!("ERR {what} must be 1..={MAX_NAME_BYTES} bytes")));
    }
    // Copied out of the connection's read buffer: a `Bytes` slice would keep the whole
    // buffer chunk alive for as long as the state machine keeps the name.
    Ok(Bytes::copy_from_slice(b))
}

/// A stored value (FENCE value, IDEMP response), capped by --max-value-bytes.
pub fn value(b: &Bytes, max: usize) -> Result<Bytes, Reply> {
    if b.len() > max {
        return Err(Reply::err(format!(
            "ERR value is {} bytes; the limit is {max} (--max-value-bytes)",
            b.len()
        )));
    }
    // Copied for the same reason as names.
    Ok(Bytes::copy_from_slice(b))
}

/// Lossy text of a name for error messages.
pub fn show(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Test input: each word as an argument.
#[cfg(test)]
pub(crate) fn words(w: &[&str]) -> Vec<Bytes> {
    w.iter().map(|s| Bytes::copy_from_slice(s.as_bytes())).collect()
}
