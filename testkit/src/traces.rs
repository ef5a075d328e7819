//! An in-memory preview trace store: the sink ingest's tracer writes to and
//! the reader the dashboard's inspector reads, with a bounded wait for traces.

use hermes_core::future::BoxFuture;
use hermes_core::preview::{RequestTrace, SessionId, TraceReader, TraceSink};
use hermes_core::store::StoreError;
use hermes_core::time::parse_timestamp;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

/// Every trace recorded, in order.
#[derive(Default)]
pub struct MemoryTraces {
    traces: Mutex<Vec<RequestTrace>>,
}

impl MemoryTraces {
    pub fn all(&self) -> Vec<RequestTrace> {
        self.traces.lock().map(|t| t.clone()).unwrap_or_default()
    }

    /// Waits until at least `n` traces were recorded (panics after `within`).
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<RequestTrace> {
        let deadline = Instant::now() + within;
        loop {
            let all = self.all();
            if all.len() >= n {
                return all;
            }
            assert!(
                Instant::now() < deadline,
                "{} traces recorded, {n} expected",
                all.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl TraceSink for MemoryTraces {
    fn record<'a>(&'a self, trace: &'a RequestTrace) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            self.traces
                .lock()
                .map_err(|e| StoreError::permanent(e.to_string()))?
                .push(trace.clone());
            Ok(())
        })
    }
}

impl TraceReader for MemoryTraces {
    fn traces<'a>(
        &'a self,
        session: &'a SessionId,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<RequestTrace>, StoreError>> {
        Box::pin(async move {
            let now = SystemTime::now();
            Ok(self
                .all()
                .into_iter()
                .rev()
                .filter(|t| &t.session == session)
                .filter(|t| parse_timestamp(&t.expire_at).is_some_and(|e| e > now))
                .take(limit)
                .collect())
        })
    }
}
