//! One client connection: frames in (with caps), commands dispatched concurrently,
//! replies out strictly in request order (pipelining), auth state, RESP2/RESP3.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use bytes::BytesMut;
use futures::future::BoxFuture;
use futures::stream::{FuturesOrdered, StreamExt};
use futures::FutureExt;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::cmd::{self, Dispatched};
use crate::context::{ClientInfo, ServerCtx};
use crate::frame::{self, FrameLimits};
use crate::reply::{Proto, Reply};
use crate::session::ConnState;

/// Commands of one connection in flight at once; past this we stop reading until some
/// complete (back-pressure instead of unbounded queues).
const MAX_IN_FLIGHT: usize = 1024;
/// Before AUTH, frames are small: nobody unauthenticated gets to make us buffer much.
const PRE_AUTH_LIMITS: FrameLimits = FrameLimits {
    max_bulk: 4096,
    max_args: 16,
    max_frame: 16 * 1024,
};

/// One reply on its way, with the protocol in force when its request was read
/// (HELLO changes the encoding of later replies only).
/// `None`: nothing to write (SHUTDOWN closes without a reply).
type Pending = BoxFuture<'static, (Proto, Option<Reply>, bool)>;

/// Tells a client over the connection cap why it is being hung up on.
pub async fn refuse(mut stream: impl AsyncWrite + Unpin) {
    let _ = stream.write_all(b"-ERR max number of clients reached\r\n").await;
}

/// Serves one plaintext client until it leaves.
pub async fn serve_tcp(stream: tokio::net::TcpStream, addr: SocketAddr, ctx: Arc<ServerCtx>) {
    let (rd, wr) = stream.into_split();
    serve(rd, wr, addr, ctx).await
}

/// Serves one client over TLS until it leaves (the halves share the session through
/// a lock, which plain TCP's owned halves do not need).
pub async fn serve_tls<S: AsyncRead + AsyncWrite + Send>(stream: S, addr: SocketAddr, ctx: Arc<ServerCtx>) {
    let (rd, wr) = tokio::io::split(stream);
    serve(rd, wr, addr, ctx).await
}

async fn serve<R, W>(rd: R, wr: W, addr: SocketAddr, ctx: Arc<ServerCtx>)
where
    R: AsyncRead + Unpin + Send,
    W: AsyncWrite + Unpin + Send,
{
    let id = ctx.new_client_id();
    ctx.clients.insert(
        id,
        ClientInfo {
            addr,
            name: None,
            lib_name: None,
            lib_ver: None,
            since: Instant::now(),
            resp: 2,
        },
    );
    let (authed, user) = cmd::initial_session(&ctx);
    let mut state = ConnState {
        id,
        addr,
        proto: Proto::Resp2,
        authed,
        user,
        tx: Default::default(),
    };
    if let Err(e) = run(rd, wr, &mut state, &ctx).await {
        tracing::debug!(client = id, error = %e, "connection ended with an error");
    }
    ctx.clients.remove(&id);
}

async fn run<R, W>(mut rd: R, mut wr: W, state: &mut ConnState, ctx: &Arc<ServerCtx>) -> std::io::Result<()>
where
    R: AsyncRead + Unpin + Send,
    W: AsyncWrite + Unpin + Send,
{
    let full_limits = FrameLimits {
        max_bulk: ctx.config.max_bulk_bytes,
        max_args: ctx.config.max_args,
        max_frame: ctx.config.max_input_bytes,
    };
    let mut inbuf = BytesMut::with_capacity(16 * 1024);
    let mut out = BytesMut::with_capacity(16 * 1024);
    let mut pending: FuturesOrdered<Pending> = FuturesOrdered::new();
    let mut closing = false;
    // Set once the client sent MONITOR: the lines it streams.
    let mut monitor: Option<MonitorGuard<'_>> = None;
    loop {
        // Cut every complete command out of the buffer and start it.
        while !closing && pending.len() < MAX_IN_FLIGHT {
            let limits = if state.authed { full_limits } else { PRE_AUTH_LIMITS };
            match frame::next_command(&mut inbuf, &limits) {
                Ok(None) => break,
                Ok(Some(args)) => {
                    ctx.stats.commands.fetch_add(1, Ordering::Relaxed);
                    if ctx.monitors.load(Ordering::Relaxed) > 0 {
                        let _ = ctx.monitor.send(cmd::monitor_line(&state.addr, &args).into());
                    }
                    let timed = crate::metrics::enabled().then(|| (cmd::table::slot(&args[0]), Instant::now()));
                    let dispatched = cmd::dispatch(args, state, ctx);
                    // Read after dispatch: HELLO answers in the protocol it switches to.
                    let proto = state.proto;
                    let ready = |r: Option<Reply>, close: bool| futures::future::ready((proto, r, close)).boxed();
                    let fut: Pending = match dispatched {
                        Dispatched::Now(r) => {
                            record(timed, &r);
                            ready(Some(r), false)
                        }
                        Dispatched::Later(f) => f
                            .map(move |r| {
                                record(timed, &r);
                                (proto, Some(r), false)
                            })
                            .boxed(),
                        Dispatched::Close(r) => {
                            closing = true;
                            ready(Some(r), true)
                        }
                        Dispatched::Hangup => {
                            closing = true;
                            ready(None, true)
                        }
                        Dispatched::Monitor => {
                            if monitor.is_none() {
                                monitor = Some(MonitorGuard::new(ctx));
                            }
                            ready(Some(Reply::ok()), false)
                        }
                    };
                    pending.push_back(fut);
                }
                Err(e) => {
                    // Earlier requests still get their replies, in order, before the error.
                    ctx.stats.protocol_errors.fetch_add(1, Ordering::Relaxed);
                    let r = Reply::err(format!("ERR {e}"));
                    let proto = state.proto;
                    pending.push_back(futures::future::ready((proto, Some(r), true)).boxed());
                    closing = true;
                }
            }
        }
        if closing && pending.is_empty() {
            return Ok(());
        }
        let can_read = !closing && pending.len() < MAX_IN_FLIGHT;
        tokio::select! {
            n = rd.read_buf(&mut inbuf), if can_read => {
                if n? == 0 {
                    // The client left: drop what is in flight (waiters cancel themselves).
                    return Ok(());
                }
                if inbuf.len() > full_limits.max_frame + 64 * 1024 {
                    // Only reachable with a frame the header check let through partially,
                    // e.g. an endless inline line; never buffer without bound.
                    out.extend_from_slice(b"-ERR Protocol error: too much buffered input\r\n");
                    wr.write_all(&out).await?;
                    return Ok(());
                }
            }
            line = next_line(&mut monitor) => {
                if let Some(line) = line {
                    out.extend_from_slice(b"+");
                    out.extend_from_slice(&line);
                    out.extend_from_slice(b"\r\n");
                    wr.write_all(&out).await?;
                    out.clear();
                }
            }
            Some((proto, reply, close)) = pending.next(), if !pending.is_empty() => {
                if let Some(r) = reply {
                    r.encode(proto, &mut out);
                }
                let mut close_now = close;
                // Batch whatever else is already done into the same write.
                while !close_now {
                    match pending.next().now_or_never() {
                        Some(Some((p, r, c))) => {
                            if let Some(r) = r {
                                r.encode(p, &mut out);
                            }
                            close_now = c;
                        }
                        _ => break,
                    }
                }
                wr.write_all(&out).await?;
                out.clear();
                if close_now {
                    let _ = wr.shutdown().await;
                    return Ok(());
                }
            }
        }
    }
}

/// Counts a reply in `fencepost_commands_total` and `fencepost_command_seconds`.
fn record(timed: Option<(Option<usize>, Instant)>, reply: &Reply) {
    if let Some((slot, since)) = timed {
        let error = matches!(reply, Reply::Error(_));
        crate::metrics::METRICS.command(slot, error, since.elapsed());
    }
}

/// A MONITOR subscription, counted while it lives so that lines are only made when
/// someone listens.
struct MonitorGuard<'a> {
    ctx: &'a ServerCtx,
    rx: tokio::sync::broadcast::Receiver<bytes::Bytes>,
}

impl<'a> MonitorGuard<'a> {
    fn new(ctx: &'a ServerCtx) -> Self {
        ctx.monitors.fetch_add(1, Ordering::Relaxed);
        MonitorGuard {
            ctx,
            rx: ctx.monitor.subscribe(),
        }
    }
}

impl Drop for MonitorGuard<'_> {
    fn drop(&mut self) {
        self.ctx.monitors.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The next MONITOR line, or never when the connection is not monitoring. A watcher
/// that fell behind skips what it missed (`None` here, nothing written).
async fn next_line(monitor: &mut Option<MonitorGuard<'_>>) -> Option<bytes::Bytes> {
    match monitor {
        Some(m) => match m.rx.recv().await {
            Ok(line) => Some(line),
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => None,
            Err(tokio::sync::broadcast::error::RecvError::Closed) => std::future::pending().await,
        },
        None => std::future::pending().await,
    }
}
