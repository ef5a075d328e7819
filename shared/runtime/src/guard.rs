//! The request guard every function's router gets: the bytes of request
//! bodies held at once are counted against `[limits] max_inflight_bytes`
//! (503 with `Retry-After` beyond it, before anything is buffered past the
//! budget), and a body must arrive within `[limits] body_timeout_ms` (408).
//!
//! A handler that decompresses a body takes more of the same budget through
//! the [`Reservation`] in the request's extensions, so a gzip body is counted
//! at its decompressed size too.

use crate::refusal::{refusal, Refusal};
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use http_body::{Frame, SizeHint};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

/// The process-wide budget of request bytes.
#[derive(Debug)]
pub struct Inflight {
    used: AtomicUsize,
    max: usize,
}

impl Inflight {
    pub fn new(max: usize) -> Self {
        Self {
            used: AtomicUsize::new(0),
            max,
        }
    }

    /// Bytes held by every request now.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    fn try_take(&self, n: usize) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |cur| {
                cur.checked_add(n).filter(|next| *next <= self.max)
            })
            .is_ok()
    }

    fn give_back(&self, n: usize) {
        self.used.fetch_sub(n, Ordering::AcqRel);
    }
}

const NONE: u8 = 0;
const OVERLOADED: u8 = 1;
const TIMED_OUT: u8 = 2;

/// One request's share of [`Inflight`], given back when the request is done.
#[derive(Debug)]
pub struct Reservation {
    inflight: Arc<Inflight>,
    held: AtomicUsize,
    failure: AtomicU8,
}

/// The budget of request bytes is spent: answer 503 and let the client retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the server holds its limit of request bytes; retry later")]
pub struct Overloaded;

/// The body did not arrive within `[limits] body_timeout_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the request body did not arrive in time")]
pub struct BodyTimedOut;

impl Reservation {
    fn new(inflight: Arc<Inflight>) -> Self {
        Self {
            inflight,
            held: AtomicUsize::new(0),
            failure: AtomicU8::new(NONE),
        }
    }

    /// Takes `n` more bytes of the budget for this request.
    pub fn grow(&self, n: usize) -> Result<(), Overloaded> {
        if self.inflight.try_take(n) {
            self.held.fetch_add(n, Ordering::AcqRel);
            Ok(())
        } else {
            self.failure.store(OVERLOADED, Ordering::Release);
            Err(Overloaded)
        }
    }

    /// Bytes this request holds.
    pub fn held(&self) -> usize {
        self.held.load(Ordering::Acquire)
    }

    fn fail(&self, code: u8) {
        self.failure.store(code, Ordering::Release);
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.inflight.give_back(*self.held.get_mut());
    }
}

/// The request's [`Reservation`], in its extensions.
#[derive(Debug, Clone)]
pub struct RequestBudget(pub Arc<Reservation>);

/// What the guard needs: the budget, the body deadline, how to word a refusal.
#[derive(Debug, Clone)]
pub struct Guard {
    pub inflight: Arc<Inflight>,
    pub body_timeout: Duration,
    pub refusal: Refusal,
}

/// The middleware (`axum::middleware::from_fn_with_state`).
pub async fn guard(State(guard): State<Arc<Guard>>, req: Request, next: Next) -> Response {
    let reservation = Arc::new(Reservation::new(Arc::clone(&guard.inflight)));
    // A declared body that could fit is paid for before it is read, so a
    // request that cannot be held is refused before it costs anything. One
    // that could never fit is left to the handler (its own size limit: 413).
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|n| *n <= guard.inflight.max);
    let prepaid = match declared {
        Some(n) => {
            if reservation.grow(n).is_err() {
                return overloaded(&guard.refusal);
            }
            n
        }
        None => 0,
    };
    let (mut parts, body) = req.into_parts();
    parts
        .extensions
        .insert(RequestBudget(Arc::clone(&reservation)));
    let body = Body::new(GuardedBody {
        inner: body,
        reservation: Arc::clone(&reservation),
        prepaid,
        received: 0,
        deadline: Box::pin(tokio::time::sleep(guard.body_timeout)),
        done: false,
    });
    let response = next.run(Request::from_parts(parts, body)).await;
    match reservation.failure.load(Ordering::Acquire) {
        OVERLOADED => overloaded(&guard.refusal),
        TIMED_OUT => {
            let mut r = refusal(
                &guard.refusal,
                StatusCode::REQUEST_TIMEOUT,
                "Body: The request body did not arrive within the time limit.",
            );
            // The rest of the body may still come: this connection is done.
            r.headers_mut().insert(
                header::CONNECTION,
                header::HeaderValue::from_static("close"),
            );
            r
        }
        _ => response,
    }
}

fn overloaded(r: &Refusal) -> Response {
    let mut response = refusal(
        r,
        StatusCode::SERVICE_UNAVAILABLE,
        "Overloaded: The server is holding as many request bytes as it may. Retry later.",
    );
    let headers = response.headers_mut();
    headers.insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
    headers.insert(
        header::CONNECTION,
        header::HeaderValue::from_static("close"),
    );
    response
}

/// A request body that pays for its bytes as they arrive and gives up at its
/// deadline.
struct GuardedBody {
    inner: Body,
    reservation: Arc<Reservation>,
    prepaid: usize,
    received: usize,
    deadline: Pin<Box<tokio::time::Sleep>>,
    done: bool,
}

impl http_body::Body for GuardedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        // Checked before every frame too: a body trickling in a byte at a time
        // is always ready and never leaves the deadline to fire on its own.
        if this.deadline.is_elapsed() {
            this.done = true;
            this.reservation.fail(TIMED_OUT);
            return Poll::Ready(Some(Err(axum::Error::new(BodyTimedOut))));
        }
        let frame = match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => frame,
            Poll::Pending => {
                if this.deadline.as_mut().poll(cx).is_ready() {
                    this.done = true;
                    this.reservation.fail(TIMED_OUT);
                    return Poll::Ready(Some(Err(axum::Error::new(BodyTimedOut))));
                }
                return Poll::Pending;
            }
        };
        if let Some(Ok(f)) = &frame {
            if let Some(data) = f.data_ref() {
                this.received = this.received.saturating_add(data.len());
                if this.received > this.prepaid {
                    let more = this.received - this.prepaid;
                    if this.reservation.grow(more).is_err() {
                        this.done = true;
                        return Poll::Ready(Some(Err(axum::Error::new(Overloaded))));
                    }
                    this.prepaid = this.received;
                }
            }
        }
        if frame.is_none() {
            this.done = true;
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.done || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
