//! Replies as the command layer produces them, and their RESP2 / RESP3 encodings
//! (through redis-protocol's encoders).

use bytes::{Bytes, BytesMut};
use redis_protocol::bytes_utils::Str;
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
    /// A status line made at run time (`+QUEUED`, TYPE's answer, a script's status).
    Status(String),
    Error(String),
    Int(i64),
    Bulk(Bytes),
    Nil,
    Array(Vec<Reply>),
    Map(Vec<(Reply, Reply)>),
    /// Text that RESP3 sends as a verbatim string (INFO, CLIENT LIST...).
    Verbatim(String),
    /// A double: `,1.5` in RESP3, a bulk string in RESP2 (Redis's text for it).
    Double(f64),
    /// Nil array: `*-1` in RESP2 (EXEC aborted, LPOP with a count on a missing key).
    NilArray,
    /// Members with scores (ZRANGE ... WITHSCORES): `[m, score, ...]` in RESP2,
    /// `[[m, score], ...]` with double scores in RESP3, as Redis 7 answers.
    Scored(Vec<(Bytes, f64)>),
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
            Proto::Resp2 => {
                self.encode_resp2(out);
                true
            }
            Proto::Resp3 => {
                redis_protocol::resp3::encode::complete::extend_encode(out, &self.to_resp3(), false).is_ok()
            }
        };
        if !ok {
            out.extend_from_slice(b"-ERR internal error encoding reply\r\n");
        }
    }

    /// RESP2 written directly: it is five line types, and the library's frame type has
    /// no nil array (`*-1`).
    fn encode_resp2(&self, out: &mut BytesMut) {
        fn line(out: &mut BytesMut, prefix: u8, text: &[u8]) {
            out.extend_from_slice(&[prefix]);
            out.extend_from_slice(text);
            out.extend_from_slice(b"\r\n");
        }
        fn bulk(out: &mut BytesMut, b: &[u8]) {
            line(out, b'$', b.len().to_string().as_bytes());
            out.extend_from_slice(b);
            out.extend_from_slice(b"\r\n");
        }
        match self {
            Reply::Simple(s) => line(out, b'+', s.as_bytes()),
            Reply::Status(s) => line(out, b'+', one_line(s).as_bytes()),
            Reply::Error(e) => line(out, b'-', one_line(e).as_bytes()),
            Reply::Int(i) => line(out, b':', i.to_string().as_bytes()),
            Reply::Bulk(b) => bulk(out, b),
            Reply::Nil => out.extend_from_slice(b"$-1\r\n"),
            Reply::NilArray => out.extend_from_slice(b"*-1\r\n"),
            Reply::Array(items) => {
                line(out, b'*', items.len().to_string().as_bytes());
                for it in items {
                    it.encode_resp2(out);
                }
            }
            Reply::Map(pairs) => {
                line(out, b'*', (pairs.len() * 2).to_string().as_bytes());
                for (k, v) in pairs {
                    k.encode_resp2(out);
                    v.encode_resp2(out);
                }
            }
            Reply::Verbatim(s) => bulk(out, s.as_bytes()),
            Reply::Double(d) => bulk(out, crate::sm::rval::fmt_double(*d).as_bytes()),
            Reply::Scored(pairs) => {
                line(out, b'*', (pairs.len() * 2).to_string().as_bytes());
                for (m, s) in pairs {
                    bulk(out, m);
                    bulk(out, crate::sm::rval::fmt_double(*s).as_bytes());
                }
            }
        }
    }

    fn to_resp3(&self) -> F3 {
        match self {
            Reply::Simple(s) => F3::SimpleString {
                data: Bytes::from_static(s.as_bytes()),
                attributes: None,
            },
            Reply::Status(s) => F3::SimpleString {
                data: Bytes::copy_from_slice(one_line(s).as_bytes()),
                attributes: None,
            },
            Reply::Double(d) => F3::Double {
                data: *d,
                attributes: None,
            },
            Reply::NilArray => F3::Null,
            Reply::Scored(pairs) => F3::Array {
                data: pairs
                    .iter()
                    .map(|(m, s)| F3::Array {
                        data: vec![
                            F3::BlobString {
                                data: m.clone(),
                                attributes: None,
                            },
                            F3::Double {
                                data: *s,
                                attributes: None,
                            },
                        ],
                        attributes: None,
                    })
                    .collect(),
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
        assert_eq!(enc(&Reply::NilArray, Proto::Resp2), "*-1\r\n");
        assert_eq!(enc(&Reply::Double(1.5), Proto::Resp2), "$3\r\n1.5\r\n");
        assert_eq!(enc(&Reply::Double(1.5), Proto::Resp3), ",1.5\r\n");
    }
}
