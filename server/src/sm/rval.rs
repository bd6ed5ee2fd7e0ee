//! Replies of the Redis data commands as the state machine produces them: plain data,
//! serde-able (they travel back from the leader to a forwarding follower), encoded to
//! RESP by the command layer. Kept apart from `reply::Reply` so that `sm` stays a leaf.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// An `f64` compared by its bits, so replies and log entries can be `Eq`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct F64(pub f64);

impl PartialEq for F64 {
    fn eq(&self, other: &Self) -> bool {
        self.0.to_bits() == other.0.to_bits()
    }
}
impl Eq for F64 {}

/// A reply value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RVal {
    /// `+OK`
    Ok,
    /// A status line other than OK (`+QUEUED`, a script's `status_reply`).
    Status(String),
    /// An error line, starting with its code (`ERR ...`, `WRONGTYPE ...`).
    Err(String),
    Int(i64),
    Bulk(Bytes),
    /// Nil bulk (`$-1` in RESP2, `_` in RESP3).
    Nil,
    /// Nil array (`*-1` in RESP2, `_` in RESP3): EXEC aborted by WATCH.
    NilArray,
    Array(Vec<RVal>),
    /// A map in RESP3, a flat array in RESP2 (HGETALL).
    Map(Vec<(RVal, RVal)>),
    /// A double in RESP3, a bulk string in RESP2 (ZSCORE, ZINCRBY).
    Double(F64),
    /// Members with scores: `[[m, score], ...]` in RESP3, `[m, score, ...]` in RESP2
    /// (ZRANGE ... WITHSCORES).
    Scored(Vec<(Bytes, F64)>),
}

impl RVal {
    /// An error reply from its text.
    pub fn err(msg: impl Into<String>) -> RVal {
        RVal::Err(msg.into())
    }

    /// A bulk reply copied from a slice.
    pub fn bulk(b: &[u8]) -> RVal {
        RVal::Bulk(Bytes::copy_from_slice(b))
    }

    /// A bulk reply or nil.
    pub fn opt_bulk(b: Option<&[u8]>) -> RVal {
        b.map_or(RVal::Nil, RVal::bulk)
    }

    pub fn is_err(&self) -> bool {
        matches!(self, RVal::Err(_))
    }
}

/// Redis's text for a double: the shortest form that reads back the same, `inf`/`-inf`,
/// integers without a fraction (`3`, not `3.0`).
pub fn fmt_double(d: f64) -> String {
    if d.is_infinite() {
        return if d > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if d.is_nan() {
        return "nan".into();
    }
    if d == d.trunc() && d.abs() < 1e17 {
        // Integral and exactly representable as an integer: no exponent, no fraction.
        return format!("{}", d as i64);
    }
    let s = format!("{d}");
    if s.len() <= 21 {
        return s;
    }
    // Very large or small magnitudes: exponent form as C's %.17g would write it.
    let e = format!("{d:e}");
    match e.split_once('e') {
        Some((m, x)) => {
            let x: i32 = x.parse().unwrap_or(0);
            format!("{m}e{}{:02}", if x < 0 { '-' } else { '+' }, x.abs())
        }
        None => e,
    }
}

#[cfg(test)]
mod tests {
    use super::fmt_double;

    #[test]
    fn doubles_read_like_redis() {
        assert_eq!(fmt_double(3.0), "3");
        assert_eq!(fmt_double(-2.5), "-2.5");
        assert_eq!(fmt_double(0.1), "0.1");
        assert_eq!(fmt_double(f64::INFINITY), "inf");
        assert_eq!(fmt_double(1e300), "1e+300");
    }
}
