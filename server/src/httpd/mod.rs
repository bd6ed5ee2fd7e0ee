//! The operator's HTTP endpoint (`--metrics-addr`): `/metrics` (Prometheus), `/livez`,
//! `/readyz` and `/` (the status page). HTTP/1.1 with hyper, on the node's runtime.

mod exposition;
mod process;
mod ready;
mod status;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::context::ServerCtx;

/// Binds `addr` now (a taken port stops the start-up), then serves in the background
/// as one of the node's tasks.
pub async fn start(addr: SocketAddr, ctx: Arc<ServerCtx>) -> anyhow::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    tracing::info!(addr = %listener.local_addr()?, "metrics and status on HTTP");
    crate::metrics::ENABLED.store(true, std::sync::atomic::Ordering::Relaxed);
    let registry = Arc::new(exposition::registry(ctx.clone()));
    let node = ctx.node.clone();
    node.spawn(exposition::count_leader_changes(ctx.node.clone()));
    node.spawn(async move {
        loop {
            let (stream, _) = match listener.accept().await {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "metrics accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            };
            let (ctx, registry) = (ctx.clone(), registry.clone());
            ctx.node.clone().spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let (ctx, registry) = (ctx.clone(), registry.clone());
                    async move { Ok::<_, Infallible>(route(req, &ctx, &registry).await) }
                });
                let conn = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service);
                if let Err(e) = conn.await {
                    tracing::debug!(error = %e, "metrics connection ended with an error");
                }
            });
        }
    });
    Ok(())
}

type Reply = Response<Full<Bytes>>;

fn reply(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Reply {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    if let Ok(v) = hyper::header::HeaderValue::from_str(content_type) {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r
}

async fn route(req: Request<Incoming>, ctx: &ServerCtx, registry: &prometheus_client::registry::Registry) -> Reply {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return reply(StatusCode::METHOD_NOT_ALLOWED, "text/plain", "GET only\n");
    }
    match req.uri().path() {
        "/metrics" => match exposition::render(registry) {
            Ok(text) => reply(
                StatusCode::OK,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                text,
            ),
            Err(e) => reply(StatusCode::INTERNAL_SERVER_ERROR, "text/plain", format!("{e}\n")),
        },
        "/livez" => reply(StatusCode::OK, "text/plain", "ok\n"),
        "/readyz" => match ready::check(ctx) {
            Ok(()) => reply(StatusCode::OK, "text/plain", "ok\n"),
            Err(why) => reply(StatusCode::SERVICE_UNAVAILABLE, "text/plain", format!("{why}\n")),
        },
        "/" => reply(StatusCode::OK, "text/html; charset=utf-8", status::page(ctx).await),
        _ => reply(StatusCode::NOT_FOUND, "text/plain", "not found\n"),
    }
}
