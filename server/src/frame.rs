//! Cuts client commands out of the input buffer. Size caps are checked on the headers
//! before anything is buffered or allocated for a frame, then redis-protocol decodes it.

use bytes::{Bytes, BytesMut};
use redis_protocol::resp2::types::BytesFrame;

/// Caps for one connection's frames (smaller before AUTH).
#[derive(Debug, Clone, Copy)]
pub struct FrameLimits {
    pub max_bulk: usize,
    pub max_args: usize,
    pub max_frame: usize,
}

/// A protocol error: the connection is answered and closed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Protocol error: {0}")]
pub struct ProtocolError(pub String);

fn perr(msg: impl Into<String>) -> ProtocolError {
    ProtocolError(msg.into())
}

/// Takes the next complete command off `buf`, if there is one.
pub fn next_command(buf: &mut BytesMut, limits: &FrameLimits) -> Result<Option<Vec<Bytes>>, ProtocolError> {
    loop {
        match buf.first() {
            None => return Ok(None),
            Some(b'*') => {}
            Some(_) => return inline_command(buf, limits),
        }
        if !check_headers(buf, limits)? {
            return Ok(None);
        }
        let Some((frame, _, _)) =
            redis_protocol::resp2::decode::decode_bytes_mut(buf).map_err(|e| perr(e.details().to_string()))?
        else {
            return Ok(None);
        };
        match frame {
            BytesFrame::Array(items) if items.is_empty() => continue,
            BytesFrame::Null => continue,
            BytesFrame::Array(items) => {
                let mut args = Vec::with_capacity(items.len());
                for item in items {
                    match item {
                        BytesFrame::BulkString(b) | BytesFrame::SimpleString(b) => args.push(b),
                        other => return Err(perr(format!("expected '$', got '{}'", kind_char(&other)))),
                    }
                }
                return Ok(Some(args));
            }
            _ => return Err(perr("expected an array of bulk strings")),
        }
    }
}

fn kind_char(f: &BytesFrame) -> char {
    match f {
        BytesFrame::SimpleString(_) => '+',
        BytesFrame::Error(_) => '-',
        BytesFrame::Integer(_) => ':',
        BytesFrame::BulkString(_) | BytesFrame::Null => '$',
        BytesFrame::Array(_) => '*',
    }
}

/// Walks the array and bulk headers present so far. `Ok(false)`: incomplete but within
/// limits. Never looks past what is buffered and never allocates from a length.
fn check_headers(buf: &[u8], limits: &FrameLimits) -> Result<bool, ProtocolError> {
    let Some((count, mut pos)) = read_len(buf, 0, "invalid multibulk length")? else {
        return Ok(false);
    };
    if count < 0 {
        return Ok(true);
    }
    if count as u64 > limits.max_args as u64 {
        return Err(perr("invalid multibulk length"));
    }
    let mut total: u64 = pos as u64;
    for _ in 0..count {
        match buf.get(pos) {
            None => return Ok(false),
            Some(b'$') => {}
            Some(&c) => return Err(perr(format!("expected '$', got '{}'", c as char))),
        }
        let Some((len, body)) = read_len(buf, pos, "invalid bulk length")? else {
            return Ok(false);
        };
        if len < 0 || len as u64 > limits.max_bulk as u64 {
            return Err(perr("invalid bulk length"));
        }
        total += (body - pos) as u64 + len as u64 + 2;
        if total > limits.max_frame as u64 {
            return Err(perr("command too large"));
        }
        pos = body + len as usize + 2;
    }
    Ok(pos <= buf.len())
}

/// Parses `<type-byte><integer>\r\n` at `at`: the integer and where the body starts.
fn read_len(buf: &[u8], at: usize, what: &str) -> Result<Option<(i64, usize)>, ProtocolError> {
    const MAX_HEADER: usize = 24;
    let window = &buf[at + 1..buf.len().min(at + 1 + MAX_HEADER)];
    let Some(cr) = window.iter().position(|&b| b == b'\r') else {
        return if window.len() >= MAX_HEADER {
            Err(perr(what.to_string()))
        } else {
            Ok(None)
        };
    };
    if window.get(cr + 1).is_none() {
        return Ok(None);
    }
    if window[cr + 1] != b'\n' {
        return Err(perr(what.to_string()));
    }
    let n = std::str::from_utf8(&window[..cr])
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .ok_or_else(|| perr(what.to_string()))?;
    Ok(Some((n, at + 1 + cr + 2)))
}

/// Telnet-style commands: one line of space-separated words.
fn inline_command(buf: &mut BytesMut, limits: &FrameLimits) -> Result<Option<Vec<Bytes>>, ProtocolError> {
    let Some(nl) = buf.iter().position(|&b| b == b'\n') else {
        if buf.len() > limits.max_bulk.min(64 * 1024) {
            return Err(perr("too big inline request"));
        }
        return Ok(None);
    };
    let line = buf.split_to(nl + 1).freeze();
    let text = line.slice(..line.len() - 1);
    let words: Vec<Bytes> = text
        .split(|b| b.is_ascii_whitespace())
        .filter(|w| !w.is_empty())
        .map(|w| text.slice_ref(w))
        .collect();
    if words.len() > limits.max_args {
        return Err(perr("invalid multibulk length"));
    }
    if words.is_empty() {
        return next_command(buf, limits);
    }
    Ok(Some(words))
}

#[cfg(test)]
mod tests {
    use super::*;

    const L: FrameLimits = FrameLimits {
        max_bulk: 1024,
        max_args: 16,
        max_frame: 4096,
    };

    fn take(input: &[u8]) -> Result<Option<Vec<Bytes>>, ProtocolError> {
        let mut b = BytesMut::from(input);
        next_command(&mut b, &L)
    }

    #[test]
    fn complete_partial_and_pipelined() {
        assert_eq!(
            take(b"*1\r\n$4\r\nPING\r\n").ok().flatten(),
            Some(vec![Bytes::from("PING")])
        );
        assert_eq!(take(b"*2\r\n$4\r\nECHO\r\n$3\r\nab").ok().flatten(), None);
        let mut b = BytesMut::from(&b"*1\r\n$4\r\nPING\r\n*1\r\n$4\r\nPING\r\nPING\r\n"[..]);
        for _ in 0..3 {
            assert!(next_command(&mut b, &L).ok().flatten().is_some());
        }
        assert!(b.is_empty());
    }

    #[test]
    fn over_limit_headers_fail_before_the_data_arrives() {
        assert!(take(b"*1\r\n$4294967296\r\n").is_err());
        assert!(take(b"*1048576\r\n").is_err());
        assert!(take(b"*1\r\n$-5\r\n").is_err());
        assert!(take(b"*1\r\n:5\r\n").is_err());
        assert!(take(b"*abc\r\n").is_err());
        assert!(take(b"*99999999999999999999999999999").is_err());
    }
}
