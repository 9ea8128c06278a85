//! The HTTP connection loop that both of Sextant's servers run (`sextant server` and
//! `sextant serve`).
//!
//! `axum::serve` keeps every connection for as long as the peer likes: a client that opens a
//! socket and sends nothing holds a file descriptor forever, and once the process reaches its
//! open-file limit `accept` fails and nothing, not even `/health`, is answered. [`serve`] bounds
//! that:
//!
//! - **Header-read timeout**: a connection must send a complete request head within
//!   [`ConnOptions::header_read_timeout`] of opening, and of finishing its previous response; an
//!   idle keep-alive connection is closed after the same time, and so is a request whose body
//!   stalls that long between two chunks.
//! - **Connection limit**: at most [`ConnOptions::max_connections`] open connections (by default
//!   derived from the open-file limit). When a new connection arrives at the limit, the oldest
//!   connection *with no request in flight* is closed to make room, so fresh clients (a load
//!   balancer's health probe) are served while idle or half-open sockets are shed.
//! - **Accept errors** never stop the loop: a full descriptor table (`EMFILE`) sheds an idle
//!   connection and backs off briefly instead of spinning; per-connection errors are skipped.
//! - [`catch_panic`]: a handler that panics becomes a logged 500 with MLflow's JSON error body,
//!   and the server lives on.
//!
//! This crate knows nothing of MLflow's API beyond the shape of its error body.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, HttpBody};
use axum::extract::ConnectInfo;
use axum::http::{Request, Response, StatusCode, header};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::sync::{Notify, watch};
use tower::ServiceExt;
use tower_http::timeout::TimeoutBody;

/// Limits of the connection loop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnOptions {
    /// Time allowed to send a complete request head, from the connection's start or the end of
    /// its previous response (so also the keep-alive idle timeout).
    pub header_read_timeout: Duration,
    /// Most connections open at once; `None` derives it from the open-file limit
    /// ([`default_max_connections`]).
    pub max_connections: Option<usize>,
    /// After shutdown is requested, how long in-flight requests may take to finish.
    pub grace: Duration,
}

/// Default header-read (and idle keep-alive) timeout.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

impl Default for ConnOptions {
    fn default() -> Self {
        Self {
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            max_connections: None,
            grace: Duration::from_secs(30),
        }
    }
}

/// The connection limit derived from the soft open-file limit: seven eighths of it, keeping at
/// least 64 descriptors for the database, files and logs (at most 16,384 connections).
pub fn default_max_connections() -> usize {
    let soft = rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .unwrap_or(65_536);
    let soft = usize::try_from(soft).unwrap_or(usize::MAX);
    let reserve = (soft / 8).max(64);
    soft.saturating_sub(reserve).clamp(16, 16_384)
}

/// One open connection, as the loop sees it.
#[derive(Default)]
struct Conn {
    /// Requests whose response has not been fully sent.
    in_flight: AtomicUsize,
    /// Signalled to close the connection now (it is idle and a newer one needs the room).
    evict: Notify,
}

/// Open connections by age (ids increase).
#[derive(Default)]
struct Table {
    conns: Mutex<BTreeMap<u64, Arc<Conn>>>,
}

impl Table {
    fn len(&self) -> usize {
        self.conns.lock().map_or(0, |c| c.len())
    }

    fn insert(&self, id: u64, c: Arc<Conn>) {
        if let Ok(mut m) = self.conns.lock() {
            m.insert(id, c);
        }
    }

    fn remove(&self, id: u64) {
        if let Ok(mut m) = self.conns.lock() {
            m.remove(&id);
        }
    }

    /// Close the oldest connection with no request in flight; false if every one is busy.
    fn evict_oldest_idle(&self) -> bool {
        let Ok(mut m) = self.conns.lock() else {
            return false;
        };
        let victim = m
            .iter()
            .find(|(_, c)| c.in_flight.load(Ordering::Acquire) == 0)
            .map(|(id, _)| *id);
        match victim.and_then(|id| m.remove(&id)) {
            Some(c) => {
                c.evict.notify_one();
                true
            }
            None => false,
        }
    }
}

/// Counts a request as in flight until its response body is dropped.
struct InFlight(Arc<Conn>);

impl InFlight {
    fn new(c: &Arc<Conn>) -> Self {
        c.in_flight.fetch_add(1, Ordering::AcqRel);
        Self(Arc::clone(c))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A response body that holds a guard (an in-flight count, a concurrency permit) until the
/// body has been sent or dropped.
pub struct GuardedBody<G> {
    inner: Body,
    _guard: G,
}

impl<G> GuardedBody<G> {
    pub fn new(inner: Body, guard: G) -> Self {
        Self {
            inner,
            _guard: guard,
        }
    }
}

impl<G: Send + Unpin + 'static> HttpBody for GuardedBody<G> {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

/// Whether an accept error concerns only the one connection being accepted.
fn is_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    )
}

/// Serve `app` on `listener` until `shutdown` resolves; then stop accepting, let in-flight
/// requests finish (at most `opts.grace`) and return. Each request carries the peer address as
/// `ConnectInfo<SocketAddr>`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    opts: ConnOptions,
) -> std::io::Result<()> {
    let max = opts
        .max_connections
        .unwrap_or_else(default_max_connections)
        .max(1);
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(opts.header_read_timeout)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(opts.header_read_timeout))
        .keep_alive_timeout(opts.header_read_timeout);
    let builder = Arc::new(builder);
    let body_timeout = opts.header_read_timeout;
    let table = Arc::new(Table::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut shutdown = Box::pin(shutdown);
    let mut next_id: u64 = 0;
    let mut last_fd_warning: Option<tokio::time::Instant> = None;
    tracing::debug!(
        max_connections = max,
        header_read_timeout_s = opts.header_read_timeout.as_secs_f64(),
        "connection limits"
    );
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            r = listener.accept() => r,
        };
        let (stream, peer) = match accepted {
            Ok(x) => x,
            Err(e) if is_connection_error(&e) => continue,
            Err(e) => {
                // EMFILE/ENFILE/ENOMEM: make room and back off instead of spinning.
                let now = tokio::time::Instant::now();
                if last_fd_warning.is_none_or(|t| now.duration_since(t) > Duration::from_secs(10)) {
                    tracing::warn!(error = %e, open = table.len(), "cannot accept a connection; closing idle ones");
                    last_fd_warning = Some(now);
                }
                table.evict_oldest_idle();
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        if table.len() >= max && !table.evict_oldest_idle() {
            tracing::warn!(
                max,
                "connection limit reached and every connection is busy; refusing one"
            );
            drop(stream);
            continue;
        }
        let _ = stream.set_nodelay(true);
        next_id += 1;
        let id = next_id;
        let conn = Arc::new(Conn::default());
        table.insert(id, Arc::clone(&conn));
        let (app, builder, table, mut stop) = (
            app.clone(),
            Arc::clone(&builder),
            Arc::clone(&table),
            stop_rx.clone(),
        );
        tokio::spawn(async move {
            let state = Arc::clone(&conn);
            let svc = hyper::service::service_fn(move |mut req: Request<Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                let guard = InFlight::new(&state);
                let app = app.clone();
                // A body that stalls longer than the header timeout between chunks fails.
                let req = req.map(|b| Body::new(TimeoutBody::new(body_timeout, b)));
                async move {
                    let resp = app
                        .oneshot(req)
                        .await
                        .unwrap_or_else(|never: Infallible| match never {});
                    Ok::<_, Infallible>(resp.map(|b| Body::new(GuardedBody::new(b, guard))))
                }
            });
            let served = builder.serve_connection_with_upgrades(TokioIo::new(stream), svc);
            tokio::pin!(served);
            let mut stopping = false;
            loop {
                tokio::select! {
                    r = served.as_mut() => {
                        if let Err(e) = r {
                            tracing::debug!(error = %e, %peer, "connection ended with an error");
                        }
                        break;
                    }
                    () = conn.evict.notified() => {
                        tracing::debug!(%peer, "idle connection closed to make room");
                        break;
                    }
                    changed = stop.changed(), if !stopping => {
                        stopping = true;
                        if changed.is_ok() {
                            served.as_mut().graceful_shutdown();
                        }
                    }
                }
            }
            table.remove(id);
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let deadline = tokio::time::Instant::now() + opts.grace;
    while table.len() > 0 {
        if tokio::time::Instant::now() >= deadline {
            tracing::warn!(
                open = table.len(),
                "in-flight requests did not finish within the grace period"
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// MLflow's JSON error body for an internal error.
pub fn internal_error_response() -> Response<Body> {
    let body = serde_json::json!({
        "error_code": "INTERNAL_ERROR",
        "message": "The server failed to handle the request; see the server log for details.",
        "error_class": "INTERNAL_ERROR",
    });
    Response::builder()
        .status(StatusCode::INTERNAL_SERVER_ERROR)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap_or_else(|_| Response::new(Body::empty()))
}

fn on_panic(err: PanicPayload) -> Response<Body> {
    let detail = err
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| err.downcast_ref::<&str>().copied())
        .unwrap_or("(no message)");
    tracing::error!(panic = detail, "a request handler panicked; answered 500");
    internal_error_response()
}

/// A panic's payload, as `catch_unwind` returns it.
pub type PanicPayload = Box<dyn std::any::Any + Send + 'static>;

/// A layer that turns a panic in a handler into a logged 500 with MLflow's JSON error body.
/// Put it outermost.
pub fn catch_panic() -> tower_http::catch_panic::CatchPanicLayer<fn(PanicPayload) -> Response<Body>>
{
    tower_http::catch_panic::CatchPanicLayer::custom(on_panic as fn(PanicPayload) -> Response<Body>)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;
    use std::io::{Read, Write};

    async fn boom() -> &'static str {
        panic!("a handler bug")
    }

    fn raw_get(addr: std::net::SocketAddr, path: &str) -> String {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    }

    #[test]
    fn panics_become_json_500_and_idle_connections_are_shed_at_the_limit() {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new()
            .route("/boom", get(boom))
            .route("/ok", get(|| async { "ok" }))
            .layer(catch_panic());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let opts = ConnOptions {
            header_read_timeout: Duration::from_secs(30),
            max_connections: Some(8),
            grace: Duration::from_secs(1),
        };
        let server = rt.spawn(serve(
            listener,
            app,
            async {
                let _ = rx.await;
            },
            opts,
        ));

        let r = raw_get(addr, "/boom");
        assert!(r.starts_with("HTTP/1.1 500"), "{r}");
        assert!(r.contains("\"error_code\":\"INTERNAL_ERROR\""), "{r}");
        // The server lives on.
        assert!(raw_get(addr, "/ok").ends_with("ok"));

        // Twenty idle connections against a limit of 8: new requests are still served.
        let idle: Vec<_> = (0..20)
            .map(|_| std::net::TcpStream::connect(addr).unwrap())
            .collect();
        std::thread::sleep(Duration::from_millis(200));
        let t = std::time::Instant::now();
        assert!(raw_get(addr, "/ok").ends_with("ok"));
        assert!(t.elapsed() < Duration::from_secs(5));
        drop(idle);

        let _ = tx.send(());
        rt.block_on(server).unwrap().unwrap();
    }
}
