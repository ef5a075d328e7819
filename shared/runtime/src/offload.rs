//! Large requests without stalled workers. Parsing, checking and encoding a
//! large body is CPU work of milliseconds (a 1 MiB body: ~10–15 ms); done on an
//! async worker it would hold up every other request on that worker, `/healthz`
//! included. Above [`OFFLOAD_BYTES`] that work runs under
//! `tokio::task::block_in_place` (the worker hands its other tasks to another
//! thread first), and at most [`heavy_slots`] large requests are worked on at
//! once, so their parsed forms — several times the size of their bytes — stay
//! bounded whatever the number of large requests waiting.

use std::sync::OnceLock;
use tokio::runtime::{Handle, RuntimeFlavor};
use tokio::sync::{Semaphore, SemaphorePermit};

/// Bodies from this size up are worked on off the async workers. Measured
/// with the criterion benchmark `request_path/100` (100 README events, about
/// 25 KB: parse, check, encode, answer): 257–377 µs, so 64 KiB is about 1 ms
/// and 1 MiB 10–15 ms, ten to a hundred times the ~100 µs a task should run
/// between two awaits. Smaller bodies, the usual batches, stay on the worker
/// and never wait for one of the [`heavy_slots`]: handing off costs a thread
/// wake-up each time and would cap ordinary traffic at a few requests at once.
pub const OFFLOAD_BYTES: usize = 64 * 1024;

/// How many large requests are worked on at once: the number of CPUs, at least 2.
pub fn heavy_slots() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .max(2)
}

fn heavy() -> &'static Semaphore {
    static HEAVY: OnceLock<Semaphore> = OnceLock::new();
    HEAVY.get_or_init(|| Semaphore::new(heavy_slots()))
}

/// For a request of `size` bytes from [`OFFLOAD_BYTES`] up: waits for one of
/// the [`heavy_slots`]; hold the permit while its parsed form lives. `None`
/// for a small request (it never waits).
pub async fn heavy_permit(size: usize) -> Option<SemaphorePermit<'static>> {
    if size < OFFLOAD_BYTES {
        return None;
    }
    heavy().acquire().await.ok()
}

/// Runs `work` (sized `size` bytes) where it cannot stall the async workers:
/// under `block_in_place` when large and on a multi-threaded runtime, in
/// place otherwise (small work, a current-thread runtime as in tests).
pub fn offload<R>(size: usize, work: impl FnOnce() -> R) -> R {
    let multi = Handle::try_current()
        .map(|h| h.runtime_flavor() == RuntimeFlavor::MultiThread)
        .unwrap_or(false);
    if size >= OFFLOAD_BYTES && multi {
        tokio::task::block_in_place(work)
    } else {
        work()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// At most `heavy_slots()` large requests hold a slot; the next waits
    /// until one is given back, and a small request never waits.
    #[tokio::test]
    async fn large_requests_share_a_few_slots_and_small_ones_never_wait() {
        let mut held = Vec::new();
        for _ in 0..heavy_slots() {
            let permit = tokio::time::timeout(Duration::from_secs(5), heavy_permit(OFFLOAD_BYTES))
                .await
                .expect("a free slot");
            held.push(permit.expect("a large request takes a slot"));
        }
        let next =
            tokio::time::timeout(Duration::from_millis(200), heavy_permit(OFFLOAD_BYTES)).await;
        assert!(next.is_err(), "one more large request got a slot");
        let small =
            tokio::time::timeout(Duration::from_millis(200), heavy_permit(OFFLOAD_BYTES - 1))
                .await
                .expect("a small request never waits");
        assert!(small.is_none());
        held.pop();
        let next = tokio::time::timeout(Duration::from_secs(5), heavy_permit(OFFLOAD_BYTES))
            .await
            .expect("a slot given back is taken");
        assert!(next.is_some());
    }
}
