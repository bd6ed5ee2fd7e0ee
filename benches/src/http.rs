//! An HTTP/1.1 keep-alive connection on hyper (already in the tree for the server's
//! `/metrics`): one socket per client, no pool, as the RESP client has, so etcd's
//! client cost stays comparable. POSTs JSON to etcd's gRPC gateway; GETs `/metrics`.

use std::net::SocketAddr;

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Largest body we accept; etcd's replies here are a few hundred bytes.
const MAX_BODY: usize = 16 << 20;

/// One keep-alive connection.
pub struct HttpConn {
    send: SendRequest<Full<Bytes>>,
    host: String,
}

/// Status code and body of one reply.
pub struct Response {
    /// HTTP status code.
    pub status: u16,
    /// The body, de-chunked.
    pub body: Vec<u8>,
}

impl HttpConn {
    /// Connects with Nagle off, as the RESP client does; the connection's driver runs
    /// as a task until either side closes.
    pub async fn connect(addr: SocketAddr) -> Result<HttpConn> {
        let s = TcpStream::connect(addr)
            .await
            .with_context(|| format!("connect {addr}"))?;
        s.set_nodelay(true)?;
        let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(s)).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(HttpConn {
            send,
            host: addr.to_string(),
        })
    }

    /// POSTs a JSON body and reads the whole reply.
    pub async fn post_json(&mut self, path: &str, body: &[u8]) -> Result<Response> {
        let req = Request::post(path)
            .header(hyper::header::HOST, &self.host)
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::copy_from_slice(body)))?;
        self.send(req).await
    }

    /// GETs `path` and reads the whole reply.
    pub async fn get(&mut self, path: &str) -> Result<Response> {
        let req = Request::get(path)
            .header(hyper::header::HOST, &self.host)
            .body(Full::new(Bytes::new()))?;
        self.send(req).await
    }

    async fn send(&mut self, req: Request<Full<Bytes>>) -> Result<Response> {
        if self.send.is_closed() {
            bail!("server closed the keep-alive connection");
        }
        let reply = self.send.send_request(req).await?;
        let status = reply.status().as_u16();
        let body = reply.into_body().collect().await?.to_bytes();
        if body.len() > MAX_BODY {
            bail!("body of {} bytes is too large", body.len());
        }
        Ok(Response {
            status,
            body: body.to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

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
