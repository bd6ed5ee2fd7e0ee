//! A tiny HTTP/1.1 client with keep-alive: just enough to POST JSON to etcd's gRPC gateway.
//! Hand-written so that etcd's client cost resembles our RESP client's (one socket per
//! client, no pool, no extra tasks) and the bench pulls in no HTTP stack.

use std::net::SocketAddr;

use anyhow::{bail, Context, Result};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

/// Largest body we accept; etcd's replies here are a few hundred bytes.
const MAX_BODY: usize = 16 << 20;

/// One keep-alive connection.
pub struct HttpConn {
    rd: BufReader<OwnedReadHalf>,
    wr: OwnedWriteHalf,
    host: String,
    out: Vec<u8>,
    line: String,
    /// The server said `Connection: close`; the next request would fail.
    closed: bool,
}

/// Status code and body of one reply.
pub struct Response {
    /// HTTP status code.
    pub status: u16,
    /// The body, de-chunked.
    pub body: Vec<u8>,
}

impl HttpConn {
    /// Connects with Nagle off, as the RESP client does.
    pub async fn connect(addr: SocketAddr) -> Result<HttpConn> {
        let s = TcpStream::connect(addr)
            .await
            .with_context(|| format!("connect {addr}"))?;
        s.set_nodelay(true)?;
        let (r, w) = s.into_split();
        Ok(HttpConn {
            rd: BufReader::with_capacity(16 << 10, r),
            wr: w,
            host: addr.to_string(),
            out: Vec::with_capacity(1024),
            line: String::new(),
            closed: false,
        })
    }

    /// POSTs a JSON body and reads the whole reply.
    pub async fn post_json(&mut self, path: &str, body: &[u8]) -> Result<Response> {
        if self.closed {
            bail!("server closed the keep-alive connection");
        }
        use std::io::Write;
        self.out.clear();
        // Writing into a Vec cannot fail.
        let _ = write!(
            self.out,
            "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            self.host,
            body.len()
        );
        self.out.extend_from_slice(body);
        self.wr.write_all(&self.out).await?;
        self.read_response().await
    }

    async fn read_response(&mut self) -> Result<Response> {
        let status_line = self.read_line().await?;
        let mut parts = status_line.split_whitespace();
        let (Some(version), Some(code)) = (parts.next(), parts.next()) else {
            bail!("bad status line {status_line:?}")
        };
        if !version.starts_with("HTTP/1.") {
            bail!("not HTTP/1.x: {status_line:?}");
        }
        let status: u16 = code.parse().context("bad status code")?;
        let (mut length, mut chunked) = (None, false);
        loop {
            let line = self.read_line().await?;
            if line.is_empty() {
                break;
            }
            let Some((name, value)) = line.split_once(':') else {
                bail!("bad header line {line:?}")
            };
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                length = Some(value.parse::<usize>().context("bad Content-Length")?);
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = value.eq_ignore_ascii_case("chunked");
            } else if name.eq_ignore_ascii_case("connection") {
                self.closed = value.eq_ignore_ascii_case("close");
            }
        }
        let body = match (chunked, length) {
            (true, _) => self.read_chunked().await?,
            (false, Some(n)) => self.read_exact(n).await?,
            // Without a length the body runs to EOF; the gateway never does this for unary calls.
            (false, None) => bail!("reply with neither Content-Length nor chunked encoding"),
        };
        Ok(Response { status, body })
    }

    async fn read_chunked(&mut self) -> Result<Vec<u8>> {
        let mut body = Vec::new();
        loop {
            let line = self.read_line().await?;
            let size = line.split(';').next().unwrap_or_default().trim();
            let n = usize::from_str_radix(size, 16).context("bad chunk size")?;
            if n == 0 {
                // Trailers, then the blank line.
                while !self.read_line().await?.is_empty() {}
                return Ok(body);
            }
            body.extend_from_slice(&self.read_exact(n).await?);
            if !self.read_line().await?.is_empty() {
                bail!("chunk without CRLF");
            }
        }
    }

    async fn read_exact(&mut self, n: usize) -> Result<Vec<u8>> {
        if n > MAX_BODY {
            bail!("body of {n} bytes is too large");
        }
        let mut buf = vec![0; n];
        self.rd.read_exact(&mut buf).await?;
        Ok(buf)
    }

    /// One CRLF-terminated line without its CRLF.
    async fn read_line(&mut self) -> Result<String> {
        self.line.clear();
        let n = self.rd.read_line(&mut self.line).await?;
        if n == 0 {
            bail!("server closed the connection");
        }
        Ok(self
            .line
            .strip_suffix("\r\n")
            .or_else(|| self.line.strip_suffix('\n'))
            .unwrap_or(&self.line)
            .to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reads_length_and_chunked_bodies_on_one_connection() -> Result<()> {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = l.local_addr()?;
        let server = tokio::spawn(async move {
            let (mut s, _) = l.accept().await?;
            let mut buf = vec![0; 4096];
            let _ = s.read(&mut buf).await?;
            s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}").await?;
            let _ = s.read(&mut buf).await?;
            s.write_all(
                b"HTTP/1.1 400 Bad Request\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
            )
            .await?;
            anyhow::Ok(s)
        });
        let mut c = HttpConn::connect(addr).await?;
        let r = c.post_json("/v3/x", b"{}").await?;
        assert_eq!((r.status, r.body.as_slice()), (200, &b"{}"[..]));
        let r = c.post_json("/v3/y", b"{}").await?;
        assert_eq!((r.status, r.body.as_slice()), (400, &b"abcde"[..]));
        drop(server.await??);
        Ok(())
    }
}
