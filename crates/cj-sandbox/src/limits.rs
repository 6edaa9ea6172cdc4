//! What keeps a sandbox bounded whatever its clients send: the limits on GraphQL documents and
//! answers (enforced in `graphql.rs`), the budget of request bodies handled at once, and the
//! connection handling here (a cap on connections, header, idle and request timeouts).

use std::collections::HashMap;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Request, Response, header};
use axum::middleware::Next;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper::service::Service;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, oneshot, watch};
use tokio::task::{AbortHandle, JoinSet};

use crate::SandboxConfig;

/// The limits of a sandbox (see the `SandboxConfig` methods that set them). The defaults let
/// every CJ-shaped request through: the SDK's documents, CJ's examples, a standard
/// introspection query and batches of CJ's largest size.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Limits {
    /// The longest GraphQL document, in bytes (default 256 KiB).
    pub max_query_bytes: usize,
    /// The deepest GraphQL selection (default 20; a standard introspection query is 13 deep).
    pub max_depth: usize,
    /// The most fields a GraphQL document may select, fragments counted where they are used
    /// (default 1,000; a standard introspection query selects 181).
    pub max_complexity: usize,
    /// The most directives on one field (default 16).
    pub max_directives: usize,
    /// The largest GraphQL answer, in bytes, on top of twice its request's body (default
    /// 16 MiB; the echo of a batch is about as large as the batch).
    pub max_answer_bytes: usize,
    /// The most bytes of request bodies the GraphQL endpoints handle at once, counted by
    /// `Content-Length` (a body without one as the largest allowed), from before the body is
    /// read until the answer is written (default 128 MiB: one of CJ's largest batches at a
    /// time, or many smaller requests). A request waits its turn; one larger than the budget
    /// runs alone. A request costs about its body and its answer, so this bounds what
    /// requests in flight hold together.
    pub max_body_bytes_in_flight: usize,
    /// The most connections open at once (default 512). At the cap, a new connection closes
    /// the one idle the longest (if for a quarter of a second at least); else it waits.
    pub max_connections: usize,
    /// How long a request's headers may take to arrive, from their first byte (default 10 s).
    pub header_read_timeout: Duration,
    /// How long a connection may stay open without a request (default 120 s, longer than
    /// clients' idle pools such as reqwest's 90 s, so that the client closes first).
    pub idle_timeout: Duration,
    /// How long a request may take, from the end of its headers to the end of its answer:
    /// its body, its handling and the writing of its answer (default 60 s).
    pub request_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_query_bytes: 256 * 1024,
            max_depth: 20,
            max_complexity: 1_000,
            max_directives: 16,
            max_answer_bytes: 16 * 1024 * 1024,
            max_body_bytes_in_flight: 128 * 1024 * 1024,
            max_connections: 512,
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(120),
            request_timeout: Duration::from_secs(60),
        }
    }
}

impl SandboxConfig {
    /// The longest GraphQL document (`query`), in bytes. Longer ones get a GraphQL error;
    /// large batches belong in `variables`.
    pub fn max_query_bytes(mut self, bytes: usize) -> Self {
        self.limits.max_query_bytes = bytes;
        self
    }

    /// The deepest selection a GraphQL document may make. Deeper ones get a GraphQL error.
    pub fn max_depth(mut self, depth: usize) -> Self {
        self.limits.max_depth = depth;
        self
    }

    /// The most fields a GraphQL document may select, each fragment counted where it is used.
    /// More get a GraphQL error.
    pub fn max_complexity(mut self, complexity: usize) -> Self {
        self.limits.max_complexity = complexity;
        self
    }

    /// The most directives one field of a GraphQL document may carry.
    pub fn max_directives(mut self, directives: usize) -> Self {
        self.limits.max_directives = directives;
        self
    }

    /// The largest GraphQL answer, in bytes, on top of twice its request's body. A larger
    /// answer is abandoned as soon as it grows past the limit and replaced by a GraphQL error
    /// (a mutation's orders are recorded all the same).
    pub fn max_answer_bytes(mut self, bytes: usize) -> Self {
        self.limits.max_answer_bytes = bytes;
        self
    }

    /// The most bytes of request bodies the GraphQL endpoints handle at once (see
    /// [`Limits::max_body_bytes_in_flight`]). The time a request waits its turn counts
    /// towards its [`request_timeout`](SandboxConfig::request_timeout).
    pub fn max_body_bytes_in_flight(mut self, bytes: usize) -> Self {
        self.limits.max_body_bytes_in_flight = bytes;
        self
    }

    /// The most connections open at once. At the cap, a new connection closes the one that
    /// has been idle (or slowly sending headers) the longest, if for a quarter of a second at
    /// least; otherwise (every connection is busy or has just opened) it waits its turn.
    pub fn max_connections(mut self, connections: usize) -> Self {
        self.limits.max_connections = connections.max(1);
        self
    }

    /// How long a request's headers may take to arrive, from their first byte; then the
    /// connection is closed.
    pub fn header_read_timeout(mut self, timeout: Duration) -> Self {
        self.limits.header_read_timeout = timeout;
        self
    }

    /// How long a connection may stay open without a request; then it is closed.
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.limits.idle_timeout = timeout;
        self
    }

    /// How long a request may take from the end of its headers to the end of its answer
    /// (receiving its body, handling it, writing the answer); then the connection is closed.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.limits.request_timeout = timeout;
        self
    }
}

/// One connection's state, shared by its task, its socket and the accept loop.
#[derive(Debug)]
struct Conn {
    start: Instant,
    /// Requests being handled or answered.
    busy: AtomicUsize,
    /// Whether the first bytes of a request's headers arrived (and the request has not begun).
    reading: AtomicBool,
    /// When the current state (idle, reading, busy) began, in milliseconds since `start`.
    since: AtomicU64,
}

impl Conn {
    fn new() -> Self {
        Conn {
            start: Instant::now(),
            busy: AtomicUsize::new(0),
            reading: AtomicBool::new(false),
            since: AtomicU64::new(0),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn is_idle(&self) -> bool {
        self.busy.load(Ordering::Acquire) == 0
    }

    /// How long the connection has been without a request (or sending its headers); `None`
    /// while it is busy with one.
    fn idle_for(&self) -> Option<u64> {
        self.is_idle().then(|| {
            self.now()
                .saturating_sub(self.since.load(Ordering::Acquire))
        })
    }

    fn bytes_arrived(&self) {
        if self.is_idle() && !self.reading.swap(true, Ordering::AcqRel) {
            self.since.store(self.now(), Ordering::Release);
        }
    }

    fn begin(self: &Arc<Self>) -> Busy {
        self.busy.fetch_add(1, Ordering::AcqRel);
        self.reading.store(false, Ordering::Release);
        self.since.store(self.now(), Ordering::Release);
        Busy(self.clone())
    }

    /// Whether the connection overstayed its current state.
    fn expired(&self, limits: &Limits) -> bool {
        let allowed = if !self.is_idle() {
            limits.request_timeout
        } else if self.reading.load(Ordering::Acquire) {
            limits.header_read_timeout
        } else {
            limits.idle_timeout
        };
        let age = self
            .now()
            .saturating_sub(self.since.load(Ordering::Acquire));
        u128::from(age) > allowed.as_millis()
    }
}

/// A request in progress on a connection: from the end of its headers until its answer's
/// body is written (or dropped).
#[derive(Debug)]
struct Busy(Arc<Conn>);

impl Drop for Busy {
    fn drop(&mut self) {
        let conn = &self.0;
        conn.since.store(conn.now(), Ordering::Release);
        conn.busy.fetch_sub(1, Ordering::AcqRel);
    }
}

/// An answer's body, holding `T` (a connection's busy mark, a share of the budget for bodies
/// in flight) until it is written.
struct Holding<T> {
    body: Body,
    _held: T,
}

impl<T: Send + Unpin + 'static> http_body::Body for Holding<T> {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// The budget of request bodies handled at once ([`Limits::max_body_bytes_in_flight`]), in
/// KiB.
pub(crate) struct InFlight {
    permits: Arc<Semaphore>,
    total: u32,
    body_limit: usize,
}

impl InFlight {
    pub(crate) fn new(bytes: usize, body_limit: usize) -> Self {
        let total = u32::try_from(bytes / 1024)
            .unwrap_or(u32::MAX)
            .clamp(1, u32::try_from(Semaphore::MAX_PERMITS).unwrap_or(u32::MAX));
        InFlight {
            permits: Arc::new(Semaphore::new(total as usize)),
            total,
            body_limit,
        }
    }

    /// What a request costs: its body's KiB (at least one), at most the whole budget.
    fn weight(&self, headers: &HeaderMap) -> u32 {
        let bytes = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<usize>().ok())
            .unwrap_or(self.body_limit)
            .min(self.body_limit);
        u32::try_from(bytes / 1024 + 1)
            .unwrap_or(u32::MAX)
            .min(self.total)
    }
}

/// Runs a request once its body fits the budget, and holds its share until its answer is
/// written (or dropped).
pub(crate) async fn in_flight(
    State(budget): State<Arc<InFlight>>,
    request: Request<Body>,
    next: Next,
) -> Response<Body> {
    let weight = budget.weight(request.headers());
    // The semaphore is never closed.
    let Ok(permit) = budget.permits.clone().acquire_many_owned(weight).await else {
        return next.run(request).await;
    };
    next.run(request).await.map(|body| {
        Body::new(Holding {
            body,
            _held: permit,
        })
    })
}

/// A connection's socket, noting when the first bytes of a request arrive.
struct Watched {
    stream: TcpStream,
    conn: Arc<Conn>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.conn.bytes_arrived();
        }
        poll
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// How long a connection must have been idle before a newer one may close it: a client that
/// just connected gets the time to send its request.
const EVICTION_GRACE_MS: u64 = 250;

type Open = HashMap<tokio::task::Id, (Arc<Conn>, AbortHandle)>;

/// Serves `router` on `listener` until `shutdown`, within `limits`; then lets the requests in
/// progress finish. Dropping the future closes every connection at once.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: oneshot::Receiver<()>,
) {
    let limits = Arc::new(limits);
    let (stop, stopping) = watch::channel(false);
    let mut tasks = JoinSet::new();
    let mut open = Open::new();
    tokio::pin!(shutdown);
    loop {
        let at_cap = open.len() >= limits.max_connections;
        let blocked = at_cap && longest_idle(&open).is_none();
        tokio::select! {
            _ = &mut shutdown => break,
            Some(done) = tasks.join_next_with_id() => {
                open.remove(&done.map_or_else(|e| e.id(), |(id, ())| id));
            }
            // Connections age into closable ones.
            _ = tokio::time::sleep(Duration::from_millis(50)), if blocked => {}
            accepted = listener.accept(), if !blocked => match accepted {
                Ok((stream, _)) => {
                    if at_cap {
                        close_longest_idle(&mut open);
                    }
                    let conn = Arc::new(Conn::new());
                    let task = connection(
                        stream,
                        conn.clone(),
                        router.clone(),
                        limits.clone(),
                        stopping.clone(),
                    );
                    let handle = tasks.spawn(task);
                    open.insert(handle.id(), (conn, handle));
                }
                Err(e) if is_connection_error(&e) => {}
                Err(e) => {
                    // Most likely out of file descriptors: free one that an idle client holds.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    if !close_longest_idle(&mut open) {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
        }
    }
    let _ = stop.send(true);
    while tasks.join_next().await.is_some() {}
}

/// The connection idle the longest (or the slowest to send its headers), if it has been idle
/// for the grace period.
fn longest_idle(open: &Open) -> Option<tokio::task::Id> {
    open.iter()
        .filter_map(|(id, (c, _))| Some((*id, c.idle_for()?)))
        .filter(|(_, idle)| *idle >= EVICTION_GRACE_MS)
        .max_by_key(|(_, idle)| *idle)
        .map(|(id, _)| id)
}

/// Closes the connection idle the longest; `false` when none has been idle long enough.
fn close_longest_idle(open: &mut Open) -> bool {
    match longest_idle(open).and_then(|id| open.remove(&id)) {
        Some((_, handle)) => {
            handle.abort();
            true
        }
        None => false,
    }
}

fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// Serves one connection (HTTP/1.1) until the client closes it, a timeout expires, or the
/// sandbox stops (then after the request in progress).
async fn connection(
    stream: TcpStream,
    conn: Arc<Conn>,
    router: Router,
    limits: Arc<Limits>,
    mut stopping: watch::Receiver<bool>,
) {
    let router = TowerToHyperService::new(router);
    let service = {
        let conn = conn.clone();
        hyper::service::service_fn(move |request: Request<Incoming>| {
            let busy = conn.begin();
            let answer = router.call(request);
            async move {
                let response: Response<Body> = answer.await?;
                Ok::<_, std::convert::Infallible>(
                    response.map(|body| Holding { body, _held: busy }),
                )
            }
        })
    };
    let io = TokioIo::new(Watched {
        stream,
        conn: conn.clone(),
    });
    let http = hyper::server::conn::http1::Builder::new()
        // The timeouts are this function's: hyper's would also close idle connections.
        .header_read_timeout(None)
        // Headers of at most 64 KiB (hyper's default is 400 KiB), for a connection cap that
        // bounds memory too.
        .max_buf_size(64 * 1024)
        .serve_connection(io, service);
    tokio::pin!(http);
    let shortest = limits
        .header_read_timeout
        .min(limits.idle_timeout)
        .min(limits.request_timeout);
    let mut check = tokio::time::interval(
        (shortest / 4).clamp(Duration::from_millis(5), Duration::from_secs(1)),
    );
    check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut closing = false;
    loop {
        tokio::select! {
            _ = http.as_mut() => return,
            _ = stopping.changed(), if !closing => {
                closing = true;
                http.as_mut().graceful_shutdown();
            }
            _ = check.tick() => if conn.expired(&limits) {
                return;
            }
        }
    }
}
