//! Frames going out on one peer connection, in the order they were sent.
//!
//! On plain TCP, a sender that finds the connection idle writes its frame itself, with
//! one non-blocking write(2) and no task switch. Everything else (a busy connection, a
//! full socket buffer, every TLS connection) is queued for the connection's writer task,
//! which coalesces what has queued into one write. Replication is one request and one
//! answer at a time per follower, so a task switch saved here is saved on every round
//! trip. Measured on 3 nodes under load (FENCE ADVANCE, 50 clients), the part of the
//! leader's AppendEntries round trip spent outside the follower's handler went from
//! ~310-335 µs (a writer task on each side) to ~250-290 µs.

use std::io;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::Notify;

/// The write side of a peer connection.
pub enum PeerWriter {
    /// Plain TCP: senders may write directly.
    Tcp(OwnedWriteHalf),
    /// TLS: the session's writes must all go through one owner.
    Stream(Box<dyn AsyncWrite + Send + Unpin>),
}

#[derive(Default)]
struct State {
    /// Bytes waiting for the writer task.
    queue: Vec<u8>,
    /// The writer task holds bytes it has taken from the queue but not yet written.
    busy: bool,
    closed: bool,
}

/// The connection is closed: nothing more goes out.
#[derive(Debug)]
pub struct Closed;

pub struct Outbox {
    state: Mutex<State>,
    wake: Notify,
    direct: Option<Arc<OwnedWriteHalf>>,
}

impl Outbox {
    /// Starts the writer task for `writer`; it ends when the outbox closes or a write fails.
    pub fn start(writer: PeerWriter) -> Arc<Outbox> {
        let (direct, stream) = match writer {
            PeerWriter::Tcp(half) => (Some(Arc::new(half)), None),
            PeerWriter::Stream(s) => (None, Some(s)),
        };
        let outbox = Arc::new(Outbox {
            state: Mutex::default(),
            wake: Notify::new(),
            direct: direct.clone(),
        });
        let me = outbox.clone();
        tokio::spawn(async move {
            let result = match (direct, stream) {
                (Some(sock), _) => me.drain_direct(&sock).await,
                (None, Some(mut s)) => me.drain_stream(&mut s).await,
                (None, None) => Ok(()),
            };
            if let Err(e) = result {
                tracing::debug!(error = %e, "peer write failed");
            }
            me.close();
        });
        outbox
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sends one frame, after every frame sent before it.
    pub fn send(&self, frame: &[u8]) -> Result<(), Closed> {
        let mut st = self.state();
        if st.closed {
            return Err(Closed);
        }
        let mut rest = frame;
        if let (false, true, Some(sock)) = (st.busy, st.queue.is_empty(), &self.direct) {
            match sock.try_write(frame) {
                Ok(n) if n == frame.len() => return Ok(()),
                Ok(n) => rest = &frame[n..],
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(_) => {
                    st.closed = true;
                    drop(st);
                    self.wake.notify_one();
                    return Err(Closed);
                }
            }
        }
        st.queue.extend_from_slice(rest);
        drop(st);
        self.wake.notify_one();
        Ok(())
    }

    /// Refuses further frames and stops the writer task.
    pub fn close(&self) {
        self.state().closed = true;
        self.wake.notify_one();
    }

    pub fn is_closed(&self) -> bool {
        self.state().closed
    }

    /// The next bytes to write (marking the writer busy), or None once closed.
    async fn next(&self) -> Option<Vec<u8>> {
        loop {
            {
                let mut st = self.state();
                if st.closed {
                    return None;
                }
                if !st.queue.is_empty() {
                    st.busy = true;
                    return Some(std::mem::take(&mut st.queue));
                }
                st.busy = false;
            }
            self.wake.notified().await;
        }
    }

    async fn drain_direct(&self, sock: &OwnedWriteHalf) -> io::Result<()> {
        while let Some(buf) = self.next().await {
            let mut at = 0;
            while at < buf.len() {
                sock.writable().await?;
                match sock.try_write(&buf[at..]) {
                    Ok(n) => at += n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(())
    }

    async fn drain_stream(&self, w: &mut (dyn AsyncWrite + Send + Unpin)) -> io::Result<()> {
        while let Some(buf) = self.next().await {
            w.write_all(&buf).await?;
            // TLS holds written bytes back until a flush.
            w.flush().await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tokio::io::AsyncReadExt;
    use tokio::net::{TcpListener, TcpStream};

    use super::{Outbox, PeerWriter};

    /// Frames from concurrent senders arrive whole and, per sender, in order, including
    /// frames far larger than the socket buffer (partial direct writes, then the queue).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_senders_keep_order_and_frame_boundaries() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let client = TcpStream::connect(addr).await.expect("connect");
        let (mut server, _) = listener.accept().await.expect("accept");
        let (_rd, wr) = client.into_split();
        let outbox = Outbox::start(PeerWriter::Tcp(wr));

        const SENDERS: u8 = 4;
        const FRAMES: u32 = 300;
        let mut tasks = Vec::new();
        for sender in 0..SENDERS {
            let outbox = Arc::clone(&outbox);
            tasks.push(tokio::spawn(async move {
                for seq in 0..FRAMES {
                    // Every 50th frame is 1 MiB: bigger than any socket buffer.
                    let len = if seq % 50 == 0 {
                        1 << 20
                    } else {
                        16 + (seq as usize % 200)
                    };
                    let mut frame = Vec::with_capacity(9 + len);
                    frame.extend_from_slice(&(len as u32).to_be_bytes());
                    frame.push(sender);
                    frame.extend_from_slice(&seq.to_be_bytes());
                    frame.resize(9 + len, sender);
                    outbox.send(&frame).expect("open");
                    if seq % 7 == 0 {
                        tokio::task::yield_now().await;
                    }
                }
            }));
        }
        let reader = tokio::spawn(async move {
            let mut next = [0u32; SENDERS as usize];
            for _ in 0..(SENDERS as u32 * FRAMES) {
                let mut head = [0u8; 9];
                server.read_exact(&mut head).await.expect("head");
                let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
                let sender = head[4];
                let seq = u32::from_be_bytes([head[5], head[6], head[7], head[8]]);
                assert_eq!(seq, next[sender as usize], "sender {sender} out of order");
                next[sender as usize] += 1;
                let mut body = vec![0u8; len];
                server.read_exact(&mut body).await.expect("body");
                assert!(
                    body.iter().all(|&b| b == sender),
                    "frame of sender {sender} mixed with another"
                );
            }
            next
        });
        for t in tasks {
            t.await.expect("sender");
        }
        let next = reader.await.expect("reader");
        assert_eq!(next, [FRAMES; SENDERS as usize]);
        outbox.close();
        assert!(outbox.send(b"late").is_err(), "a closed outbox refuses frames");
    }
}
