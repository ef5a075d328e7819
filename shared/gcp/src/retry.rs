//! Exponential backoff with full jitter inside an overall deadline: the retry
//! loop of [`super::Transport`].

use std::future::Future;
use std::time::Duration;
use tokio::time::Instant;

#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
    pub multiplier: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(5),
            multiplier: 2,
        }
    }
}

/// What one attempt came to.
pub(crate) enum Attempt<T, E> {
    Done(T),
    /// Worth another try (429, 5xx, transport error).
    Retry(E),
    Fail(E),
}

/// Why [`retry`] gave up.
#[derive(Debug)]
pub(crate) enum GaveUp<E> {
    /// A permanent error.
    Error(E),
    /// The deadline passed, or left no time for another attempt; with the last
    /// transient error, if any.
    Deadline(Option<E>),
}

/// Runs `op` until it succeeds, fails permanently, or the deadline passes.
/// Each attempt is given the time left as its own timeout.
pub(crate) async fn retry<T, E, F, Fut>(
    deadline: Instant,
    backoff: Backoff,
    mut op: F,
) -> Result<T, GaveUp<E>>
where
    F: FnMut(Duration) -> Fut,
    Fut: Future<Output = Attempt<T, E>>,
{
    let mut delay = backoff.initial;
    let mut last = None;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(GaveUp::Deadline(last));
        }
        match tokio::time::timeout(left, op(left)).await {
            Err(_) => return Err(GaveUp::Deadline(last)),
            Ok(Attempt::Done(v)) => return Ok(v),
            Ok(Attempt::Fail(e)) => return Err(GaveUp::Error(e)),
            Ok(Attempt::Retry(e)) => {
                // An attempt that ended at the deadline was most likely cut
                // short by it ("operation timed out"): the last answer the
                // service gave says more.
                if Instant::now() >= deadline {
                    return Err(GaveUp::Deadline(last.or(Some(e))));
                }
                // Full jitter: sleep a random time up to the current delay.
                let sleep = delay.mul_f64(fastrand::f64());
                if Instant::now() + sleep >= deadline {
                    return Err(GaveUp::Deadline(Some(e)));
                }
                last = Some(e);
                tokio::time::sleep(sleep).await;
                delay = (delay * backoff.multiplier).min(backoff.max);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The service answers "ABORTED", then the next attempt runs into the
    /// deadline and fails with a timeout of its own: the error given up with
    /// is the service's answer.
    #[tokio::test(start_paused = true)]
    async fn a_deadline_keeps_the_last_answer_over_a_cut_attempt() {
        let deadline = Instant::now() + Duration::from_secs(1);
        let backoff = Backoff {
            initial: Duration::from_millis(1),
            max: Duration::from_millis(1),
            multiplier: 2,
        };
        let mut calls = 0;
        let got: Result<(), _> = retry(deadline, backoff, |left| {
            calls += 1;
            let first = calls == 1;
            async move {
                if first {
                    Attempt::Retry("ABORTED")
                } else {
                    // Cut short by the time left, as a request timeout is.
                    tokio::time::sleep(left).await;
                    Attempt::Retry("operation timed out")
                }
            }
        })
        .await;
        assert!(
            matches!(got, Err(GaveUp::Deadline(Some("ABORTED")))),
            "{got:?}"
        );
    }
}
