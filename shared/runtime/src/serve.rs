//! The HTTP/1.1 server of the Cloud Run path, on hyper directly (axum's own
//! `serve` has no header timeout): a cap on open connections, a header
//! deadline that also closes idle keep-alive connections, and a shutdown that
//! answers every request already received and then ends, whatever the clients
//! do, within [`SHUTDOWN_GRACE`].

use crate::error::RuntimeError;
use crate::refusal::{refusal_bytes, Refusal};
use axum::body::Body;
use axum::http::StatusCode;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::io::Write;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

/// From SIGTERM to the end of the last connection, at most: Cloud Run kills
/// the instance 10 s after SIGTERM, and ingest still waits for its detached
/// publishes after this.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(6);

/// What the connection-level protections need.
#[derive(Debug, Clone)]
pub struct ConnLimits {
    pub header_timeout: Duration,
    pub max_connections: usize,
    pub refusal: Refusal,
}

/// What one connection is doing, shared by its IO, its requests and its watchdog.
struct ConnState {
    /// Requests whose response is not finished yet.
    active: AtomicUsize,
    /// Bytes read since the connection was last idle (a header under way).
    head_bytes: AtomicUsize,
    /// When the connection last became ready for a new request.
    idle_since: Mutex<Instant>,
}

impl ConnState {
    fn new() -> Self {
        Self {
            active: AtomicUsize::new(0),
            head_bytes: AtomicUsize::new(0),
            idle_since: Mutex::new(Instant::now()),
        }
    }

    fn begin(&self) {
        self.active.fetch_add(1, Ordering::AcqRel);
    }

    fn end(&self) {
        if self.active.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.head_bytes.store(0, Ordering::Release);
            if let Ok(mut t) = self.idle_since.lock() {
                *t = Instant::now();
            }
        }
    }

    fn idle_since(&self) -> Instant {
        self.idle_since
            .lock()
            .map(|t| *t)
            .unwrap_or_else(|_| Instant::now())
    }
}

/// The socket, counting what is read while no request is active.
struct CountedIo {
    inner: TcpStream,
    state: Arc<ConnState>,
}

impl AsyncRead for CountedIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        let read = buf.filled().len() - before;
        if read > 0 && self.state.active.load(Ordering::Acquire) == 0 {
            self.state.head_bytes.fetch_add(read, Ordering::AcqRel);
        }
        polled
    }
}

impl AsyncWrite for CountedIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// A response body that marks its request finished when it is dropped (sent
/// or abandoned).
struct Finishing {
    inner: Body,
    state: Arc<ConnState>,
}

impl Drop for Finishing {
    fn drop(&mut self) {
        self.state.end();
    }
}

impl http_body::Body for Finishing {
    type Data = axum::body::Bytes;
    type Error = axum::Error;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }
    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }
    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// Serves `router` (already guarded) on `listener` until `shutdown` resolves,
/// then drains within [`SHUTDOWN_GRACE`].
pub async fn serve_connections(
    listener: tokio::net::TcpListener,
    router: Router,
    limits: ConnLimits,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), RuntimeError> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let open = Arc::new(AtomicUsize::new(0));
    let tracker = TaskTracker::new();
    let limits = Arc::new(limits);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = &mut shutdown => break,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors and the like: wait instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        if open.load(Ordering::Acquire) >= limits.max_connections {
            let bytes = refusal_bytes(
                &limits.refusal,
                StatusCode::SERVICE_UNAVAILABLE,
                "Overloaded: The server has as many open connections as it may. Retry later.",
                true,
            );
            tracker.spawn(refuse(stream, bytes));
            continue;
        }
        open.fetch_add(1, Ordering::AcqRel);
        let conn = Connection {
            router: router.clone(),
            limits: Arc::clone(&limits),
            stop: stop_rx.clone(),
        };
        let open = Arc::clone(&open);
        tracker.spawn(async move {
            conn.run(stream).await;
            open.fetch_sub(1, Ordering::AcqRel);
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    tracker.close();
    if tokio::time::timeout(SHUTDOWN_GRACE, tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            open = open.load(Ordering::Acquire),
            "shutdown deadline reached: closing the connections still open"
        );
    }
    Ok(())
}

/// Answers a connection over the cap and closes it, without reading it.
async fn refuse(mut stream: TcpStream, bytes: Vec<u8>) {
    if tokio::time::timeout(Duration::from_secs(1), stream.write_all(&bytes))
        .await
        .is_ok_and(|written| written.is_ok())
    {
        linger(stream).await;
    }
}

struct Connection {
    router: Router,
    limits: Arc<ConnLimits>,
    stop: watch::Receiver<bool>,
}

impl Connection {
    async fn run(mut self, stream: TcpStream) {
        // A second handle on the socket, to write a 408 after hyper, which
        // cannot say it, has given the connection up.
        let (stream, spare) = match split_handle(stream) {
            Ok(pair) => pair,
            Err(e) => {
                tracing::debug!(error = %e, "cannot take over a connection");
                return;
            }
        };
        let state = Arc::new(ConnState::new());
        let io = TokioIo::new(CountedIo {
            inner: stream,
            state: Arc::clone(&state),
        });
        let router = self.router.clone();
        let service_state = Arc::clone(&state);
        let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
            service_state.begin();
            let state = Arc::clone(&service_state);
            let call = router.clone().oneshot(req.map(Body::new));
            // Boxed: an `Unpin` future lets the connection be polled without
            // shutting its socket, for the lingering close below.
            let answer: Pin<Box<dyn std::future::Future<Output = _> + Send>> =
                Box::pin(async move {
                    let response = match call.await {
                        Ok(r) => r,
                        Err(never) => match never {},
                    };
                    Ok::<_, std::convert::Infallible>(
                        response.map(|inner| Body::new(Finishing { inner, state })),
                    )
                });
            answer
        });
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            // The watchdog below keeps the header deadline (it can answer 408).
            .header_read_timeout(None)
            .keep_alive(true);
        let mut conn = builder.serve_connection(io, service);
        let header_timeout = self.limits.header_timeout;
        let mut hard_deadline: Option<Instant> = None;
        loop {
            let wake = match hard_deadline {
                Some(d) => d,
                None if state.active.load(Ordering::Acquire) > 0 => Instant::now() + header_timeout,
                None => state.idle_since() + header_timeout,
            };
            tokio::select! {
                served = std::future::poll_fn(|cx| conn.poll_without_shutdown(cx)) => {
                    match served {
                        Ok(()) => linger(conn.into_parts().io.into_inner().inner).await,
                        Err(e) => tracing::debug!(error = %e, "connection ended with an error"),
                    }
                    return;
                }
                changed = self.stop.changed(), if hard_deadline.is_none() => {
                    if changed.is_err() || *self.stop.borrow() {
                        Pin::new(&mut conn).graceful_shutdown();
                        hard_deadline = Some(Instant::now() + SHUTDOWN_GRACE);
                    }
                }
                _ = tokio::time::sleep_until(wake) => {
                    if hard_deadline.is_some() {
                        return;
                    }
                    if state.active.load(Ordering::Acquire) > 0
                        || state.idle_since().elapsed() < header_timeout
                    {
                        continue;
                    }
                    if state.head_bytes.load(Ordering::Acquire) > 0 {
                        let bytes = refusal_bytes(
                            &self.limits.refusal,
                            StatusCode::REQUEST_TIMEOUT,
                            "Header: The request header did not arrive within the time limit.",
                            false,
                        );
                        write_and_close(spare, &bytes);
                    }
                    return;
                }
            }
        }
    }
}

/// How long, and how much, a closed connection's unread input is drained.
const LINGER: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 4 << 20;

/// A lingering close: the answer is sent and the write side shut, then what
/// the client is still sending (the body of a request refused before it was
/// read) is read and dropped, for a bounded time. Closing with unread input
/// would make the kernel reset the connection, and the client could lose the
/// answer it was sent.
async fn linger(mut stream: TcpStream) {
    use tokio::io::AsyncReadExt;
    let _ = stream.shutdown().await;
    let mut buf = vec![0u8; 64 * 1024];
    let mut drained = 0;
    let _ = tokio::time::timeout(LINGER, async {
        while drained < LINGER_BYTES {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => drained += n,
            }
        }
    })
    .await;
}

/// The stream for hyper and a duplicate of its socket.
fn split_handle(stream: TcpStream) -> std::io::Result<(TcpStream, std::net::TcpStream)> {
    let std_stream = stream.into_std()?;
    let spare = std_stream.try_clone()?;
    Ok((TcpStream::from_std(std_stream)?, spare))
}

/// Best effort: the socket is non-blocking and its send buffer empty, so a
/// short answer goes out at once or not at all.
fn write_and_close(mut socket: std::net::TcpStream, bytes: &[u8]) {
    let _ = socket.write_all(bytes);
    let _ = socket.flush();
    let _ = socket.shutdown(std::net::Shutdown::Both);
}
