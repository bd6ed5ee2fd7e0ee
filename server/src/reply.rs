//! Replies as the command layer produces them, and their RESP2 / RESP3 encodings
//! (through redis-protocol's encoders).

use bytes::{Bytes, BytesMut};
use redis_protocol::bytes_utils::Str;
use redis_protocol::resp2::types::BytesFrame as F2;
use redis_protocol::resp3::types::{BytesFrame as F3, FrameMap, VerbatimStringFormat};

/// Which protocol a connection speaks (HELLO switches it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    Resp2,
    Resp3,
}

/// A reply before encoding. Maps become flat arrays in RESP2, as Redis does.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Simple(&'static str),
    Error(String),
    Int(i64),
    Bulk(Bytes),
    Nil,
    Array(Vec<Reply>),
    Map(Vec<(Reply, Reply)>),
    /// Text that RESP3 sends as a verbatim string (INFO, CLIENT LIST...).
    Verbatim(String),
}

impl Reply {
    pub fn ok() -> Reply {
        Reply::Simple("OK")
    }

    /// An error reply; `msg` starts with its code (`ERR ...`, `STALE ...`).
    pub fn err(msg: impl Into<String>) -> Reply {
        Reply::Error(msg.into())
    }

    pub fn bulk(b: impl Into<Bytes>) -> Reply {
        Reply::Bulk(b.into())
    }

    pub fn text(s: &str) -> Reply {
        Reply::Bulk(Bytes::copy_from_slice(s.as_bytes()))
    }

    /// A map keyed by names (`owner`, `token`...).
    pub fn map(pairs: Vec<(&str, Reply)>) -> Reply {
        Reply::Map(pairs.into_iter().map(|(k, v)| (Reply::text(k), v)).collect())
    }

    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_))
    }

    /// Appends the encoding of `self` in `proto` to `out`.
    pub fn encode(&self, proto: Proto, out: &mut BytesMut) {
        // Encoding a well-formed frame into a growable buffer cannot fail; if the
        // library ever says otherwise, answer an error rather than a torn reply.
        let ok = match proto {
            Proto::Resp2 => redis_protocol::resp2::encode::extend_encode(out, &self.to_resp2(), false).is_ok(),
            Proto::Resp3 => {
                redis_protocol::resp3::encode::complete::extend_encode(out, &self.to_resp3(), false).is_ok()
            }
        };
        if !ok {
            out.extend_from_slice(b"-ERR internal error encoding reply\r\n");
        }
    }

    fn to_resp2(&self) -> F2 {
        match self {
            Reply::Simple(s) => F2::SimpleString(Bytes::from_static(s.as_bytes())),
            Reply::Error(e) => F2::Error(Str::from(one_line(e))),
            Reply::Int(i) => F2::Integer(*i),
            Reply::Bulk(b) => F2::BulkString(b.clone()),
            Reply::Nil => F2::Null,
            Reply::Array(items) => F2::Array(items.iter().map(Reply::to_resp2).collect()),
            Reply::Map(pairs) => F2::Array(pairs.iter().flat_map(|(k, v)| [k.to_resp2(), v.to_resp2()]).collect()),
            Reply::Verbatim(s) => F2::BulkString(Bytes::copy_from_slice(s.as_bytes())),
        }
    }

    fn to_resp3(&self) -> F3 {
        match self {
            Reply::Simple(s) => F3::SimpleString {
                data: Bytes::from_static(s.as_bytes()),
                attributes: None,
            },
            Reply::Error(e) => F3::SimpleError {
                data: Str::from(one_line(e)),
                attributes: None,
            },
            Reply::Int(i) => F3::Number {
                data: *i,
                attributes: None,
            },
            Reply::Bulk(b) => F3::BlobString {
                data: b.clone(),
                attributes: None,
            },
            Reply::Nil => F3::Null,
            Reply::Array(items) => F3::Array {
                data: items.iter().map(Reply::to_resp3).collect(),
                attributes: None,
            },
            Reply::Map(pairs) => {
                let mut m = FrameMap::with_capacity(pairs.len());
                for (k, v) in pairs {
                    m.insert(k.to_resp3(), v.to_resp3());
                }
                F3::Map {
                    data: m,
                    attributes: None,
                }
            }
            Reply::Verbatim(s) => F3::VerbatimString {
                data: Bytes::copy_from_slice(s.as_bytes()),
                format: VerbatimStringFormat::Text,
                attributes: None,
            },
        }
    }
}

/// Error lines cannot contain CR or LF.
fn one_line(s: &str) -> String {
    s.replace(['\r', '\n'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(r: &Reply, p: Proto) -> String {
        let mut b = BytesMut::new();
        r.encode(p, &mut b);
        String::from_utf8_lossy(&b).into_owned()
    }

    #[test]
    fn maps_flatten_in_resp2_and_stay_maps_in_resp3() {
        let r = Reply::map(vec![("token", Reply::Int(5)), ("owner", Reply::text("a"))]);
        assert_eq!(
            enc(&r, Proto::Resp2),
            "*4\r\n$5\r\ntoken\r\n:5\r\n$5\r\nowner\r\n$1\r\na\r\n"
        );
        assert_eq!(
            enc(&r, Proto::Resp3),
            "%2\r\n$5\r\ntoken\r\n:5\r\n$5\r\nowner\r\n$1\r\na\r\n"
        );
        assert_eq!(enc(&Reply::Nil, Proto::Resp2), "$-1\r\n");
        assert_eq!(enc(&Reply::Nil, Proto::Resp3), "_\r\n");
        assert_eq!(enc(&Reply::err("ERR a\r\nb"), Proto::Resp2), "-ERR a  b\r\n");
    }
}
