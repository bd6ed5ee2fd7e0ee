//! A blocking RESP2 client for the nemesis's administration (RAFT INFO, RAFT REMOVE):
//! one short-lived connection per call, bounded by timeouts.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

use anyhow::{anyhow, bail};

/// A RESP2 reply.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Reply>>),
}

impl Reply {
    /// The reply as text, when it is a string of some kind.
    pub fn text(&self) -> Option<String> {
        match self {
            Reply::Simple(s) => Some(s.clone()),
            Reply::Bulk(Some(b)) => Some(String::from_utf8_lossy(b).into_owned()),
            Reply::Int(i) => Some(i.to_string()),
            _ => None,
        }
    }
}

fn read_reply(r: &mut impl BufRead, depth: usize) -> anyhow::Result<Reply> {
    if depth > 8 {
        bail!("reply nested too deep");
    }
    let mut line = String::new();
    r.read_line(&mut line)?;
    let line = line.trim_end_matches(['\r', '\n']);
    let (tag, rest) = line.split_at(line.len().min(1));
    let int = || rest.parse::<i64>().map_err(|e| anyhow!("bad integer {rest:?}: {e}"));
    Ok(match tag {
        "+" => Reply::Simple(rest.to_string()),
        "-" => Reply::Error(rest.to_string()),
        ":" => Reply::Int(int()?),
        "$" => {
            let n = int()?;
            if n < 0 {
                Reply::Bulk(None)
            } else {
                let n = usize::try_from(n)?.min(1 << 20);
                let mut buf = vec![0u8; n + 2];
                r.read_exact(&mut buf)?;
                buf.truncate(n);
                Reply::Bulk(Some(buf))
            }
        }
        "*" => {
            let n = int()?;
            if n < 0 {
                Reply::Array(None)
            } else {
                let mut items = Vec::new();
                for _ in 0..n.min(4096) {
                    items.push(read_reply(r, depth + 1)?);
                }
                Reply::Array(Some(items))
            }
        }
        _ => bail!("unexpected reply line {line:?}"),
    })
}

/// Sends one command to `addr` and reads its reply, within `timeout` per step.
pub fn call(addr: &str, args: &[&str], timeout: Duration) -> anyhow::Result<Reply> {
    let sock = addr.parse()?;
    let mut s = TcpStream::connect_timeout(&sock, timeout)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    let mut out = format!("*{}\r\n", args.len());
    for a in args {
        out.push_str(&format!("${}\r\n{}\r\n", a.len(), a));
    }
    s.write_all(out.as_bytes())?;
    let mut r = BufReader::new(s);
    read_reply(&mut r, 0)
}

/// `RAFT INFO` as (field, value) pairs.
pub fn raft_info(addr: &str) -> anyhow::Result<Vec<(String, String)>> {
    match call(addr, &["RAFT", "INFO"], Duration::from_millis(800))? {
        Reply::Array(Some(items)) => Ok(items
            .chunks(2)
            .filter_map(|kv| match kv {
                [k, v] => Some((k.text()?, v.text().unwrap_or_default())),
                _ => None,
            })
            .collect()),
        Reply::Error(e) => bail!("RAFT INFO: {e}"),
        other => bail!("RAFT INFO: unexpected {other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_nested_replies() {
        let mut input: &[u8] = b"*3\r\n$4\r\nrole\r\n:7\r\n*2\r\n$-1\r\n-ERR x\r\n";
        let r = read_reply(&mut input, 0).unwrap_or(Reply::Int(0));
        assert_eq!(
            r,
            Reply::Array(Some(vec![
                Reply::Bulk(Some(b"role".to_vec())),
                Reply::Int(7),
                Reply::Array(Some(vec![Reply::Bulk(None), Reply::Error("ERR x".into())]))
            ]))
        );
    }
}
