//! A bare RESP2 connection: the load generator's own, so every target pays the same
//! minimal client cost (no multiplexing task, explicit pipelining, one socket per client).

use std::collections::HashMap;
use std::net::SocketAddr;

use anyhow::{bail, Context, Result};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// Largest bulk string or array we accept from a server; anything bigger is a bug.
const MAX_LEN: usize = 64 << 20;

/// One RESP2 reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `+...`
    Simple(String),
    /// `-...`
    Error(String),
    /// `:...`
    Int(i64),
    /// `$...` (None is the nil bulk)
    Bulk(Option<Vec<u8>>),
    /// `*...` (None is the nil array)
    Array(Option<Vec<Reply>>),
}

impl Reply {
    /// The bytes of a bulk or simple string (servers differ in which they answer).
    pub fn text(&self) -> Option<&[u8]> {
        match self {
            Reply::Bulk(Some(b)) => Some(b),
            Reply::Simple(s) => Some(s.as_bytes()),
            _ => None,
        }
    }
}

/// How clients reach a target: over TLS (the leader's plaintext address mapped to its
/// TLS port) and as a user, or plainly as the default user.
#[derive(Clone, Default)]
pub struct Security {
    pub tls: Option<(TlsConnector, HashMap<SocketAddr, SocketAddr>)>,
    pub user: Option<(String, String)>,
}

type Reader = Box<dyn AsyncRead + Unpin + Send>;
type Writer = Box<dyn AsyncWrite + Unpin + Send>;

/// One connection speaking RESP2, over TCP or TLS. Both go through the same boxed
/// halves, so every target pays the same client cost.
pub struct Conn {
    rd: BufReader<Reader>,
    wr: Writer,
    out: Vec<u8>,
    line: Vec<u8>,
}

impl Conn {
    /// Connects with Nagle off (a benchmark of round trips must not wait 40 ms for ACKs).
    pub async fn connect(addr: SocketAddr) -> Result<Conn> {
        Conn::open(addr, &Security::default()).await
    }

    /// Connects as `sec` says: TLS to the address's TLS twin, then AUTH as the user.
    pub async fn open(addr: SocketAddr, sec: &Security) -> Result<Conn> {
        let target = match &sec.tls {
            Some((_, twins)) => *twins
                .get(&addr)
                .with_context(|| format!("no TLS port known for {addr}"))?,
            None => addr,
        };
        let s = TcpStream::connect(target)
            .await
            .with_context(|| format!("connect {target}"))?;
        s.set_nodelay(true)?;
        let (r, w): (Reader, Writer) = match &sec.tls {
            Some((connector, _)) => {
                let name = rustls::pki_types::ServerName::IpAddress(target.ip().into());
                let tls = connector.connect(name, s).await.context("TLS handshake")?;
                let (r, w) = tokio::io::split(tls);
                (Box::new(r), Box::new(w))
            }
            None => {
                let (r, w) = s.into_split();
                (Box::new(r), Box::new(w))
            }
        };
        let mut c = Conn {
            rd: BufReader::with_capacity(16 << 10, r),
            wr: w,
            out: Vec::with_capacity(4096),
            line: Vec::new(),
        };
        if let Some((user, pass)) = &sec.user {
            match c.call(&[b"AUTH", user.as_bytes(), pass.as_bytes()]).await? {
                Reply::Simple(_) => {}
                other => bail!("AUTH {user}: {other:?}"),
            }
        }
        Ok(c)
    }

    /// Queues one command; nothing is sent until `flush`.
    pub fn push(&mut self, args: &[&[u8]]) {
        encode(&mut self.out, args);
    }

    /// Sends every queued command in one write.
    pub async fn flush(&mut self) -> Result<()> {
        self.wr.write_all(&self.out).await?;
        self.out.clear();
        Ok(())
    }

    /// Sends one command and reads its reply.
    pub async fn call(&mut self, args: &[&[u8]]) -> Result<Reply> {
        self.push(args);
        self.flush().await?;
        self.read().await
    }

    /// Reads the next reply.
    pub async fn read(&mut self) -> Result<Reply> {
        self.line.clear();
        let n = self.rd.read_until(b'\n', &mut self.line).await?;
        if n == 0 {
            bail!("server closed the connection");
        }
        let Some(body) = self.line.strip_suffix(b"\r\n") else {
            bail!("reply line without CRLF")
        };
        let Some((&kind, rest)) = body.split_first() else {
            bail!("empty reply line")
        };
        let text = std::str::from_utf8(rest).context("reply line is not UTF-8")?;
        match kind {
            b'+' => Ok(Reply::Simple(text.to_string())),
            b'-' => Ok(Reply::Error(text.to_string())),
            b':' => Ok(Reply::Int(text.parse().context("bad integer reply")?)),
            b'$' => match length(text)? {
                None => Ok(Reply::Bulk(None)),
                Some(len) => {
                    let mut buf = vec![0; len + 2];
                    self.rd.read_exact(&mut buf).await?;
                    if !buf.ends_with(b"\r\n") {
                        bail!("bulk string without CRLF");
                    }
                    buf.truncate(len);
                    Ok(Reply::Bulk(Some(buf)))
                }
            },
            b'*' => match length(text)? {
                None => Ok(Reply::Array(None)),
                Some(len) => {
                    let mut items = Vec::with_capacity(len.min(1024));
                    for _ in 0..len {
                        items.push(Box::pin(self.read()).await?);
                    }
                    Ok(Reply::Array(Some(items)))
                }
            },
            // RESP3 null, in case a server answers it without HELLO 3.
            b'_' => Ok(Reply::Bulk(None)),
            other => bail!("unknown reply type byte {other:#x}"),
        }
    }
}

/// `-1` is nil; other lengths are checked against MAX_LEN.
fn length(text: &str) -> Result<Option<usize>> {
    let n: i64 = text.parse().context("bad length")?;
    if n == -1 {
        return Ok(None);
    }
    match usize::try_from(n) {
        Ok(len) if len <= MAX_LEN => Ok(Some(len)),
        _ => bail!("length {n} out of range"),
    }
}

/// Appends one command as a RESP array of bulk strings.
pub fn encode(out: &mut Vec<u8>, args: &[&[u8]]) {
    use std::io::Write;
    // Writing into a Vec cannot fail.
    let _ = write!(out, "*{}\r\n", args.len());
    for a in args {
        let _ = write!(out, "${}\r\n", a.len());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_arrays_of_bulks() {
        let mut out = Vec::new();
        encode(&mut out, &[b"SET", b"k", b""]);
        assert_eq!(out, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n");
    }

    #[test]
    fn lengths() {
        assert_eq!(length("-1").ok(), Some(None));
        assert_eq!(length("5").ok(), Some(Some(5)));
        assert!(length("-2").is_err());
        assert!(length("99999999999").is_err());
    }

    #[tokio::test]
    async fn reads_every_kind() -> Result<()> {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = l.local_addr()?;
        let server = tokio::spawn(async move {
            let (mut s, _) = l.accept().await?;
            s.write_all(b"+OK\r\n-ERR no\r\n:42\r\n$3\r\nabc\r\n$-1\r\n*2\r\n:1\r\n$-1\r\n")
                .await?;
            anyhow::Ok(s)
        });
        let mut c = Conn::connect(addr).await?;
        assert_eq!(c.read().await?, Reply::Simple("OK".into()));
        assert_eq!(c.read().await?, Reply::Error("ERR no".into()));
        assert_eq!(c.read().await?, Reply::Int(42));
        assert_eq!(c.read().await?, Reply::Bulk(Some(b"abc".to_vec())));
        assert_eq!(c.read().await?, Reply::Bulk(None));
        assert_eq!(
            c.read().await?,
            Reply::Array(Some(vec![Reply::Int(1), Reply::Bulk(None)]))
        );
        drop(server.await??);
        assert!(c.read().await.is_err(), "EOF is an error");
        Ok(())
    }
}
