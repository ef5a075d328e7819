//! The delivery loop of the embedded queue: due messages go to the counters
//! logic in process, under Pub/Sub's push rules.

use super::queue::{Nacked, SqliteQueue};
use hermes_core::error::report;
use hermes_core::push::PushMessage;
use hermes_counters::Counters;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Pushes due messages to the counters logic with Pub/Sub's rules: success
/// acks; any error retries with backoff; the 5th failure dead-letters.
pub async fn deliver(queue: SqliteQueue, counters: Arc<Counters>, mut stop: watch::Receiver<bool>) {
    let notify = queue.notified();
    loop {
        if *stop.borrow() {
            return;
        }
        let due = match queue.due(64).await {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(error = %report(&e), "queue read failed");
                Vec::new()
            }
        };
        let full = due.len() == 64;
        for message in due {
            if *stop.borrow() {
                return;
            }
            let push = PushMessage {
                message_id: message.message_id(),
                data: message.data.clone(),
                attributes: message.attributes.clone(),
                publish_time: Some(message.publish_time.clone()),
                subscription: format!("{}-counters", message.topic),
                delivery_attempt: Some(message.attempts + 1),
            };
            let result = match counters.count(&push).await {
                Ok(_) => queue.ack(message.seq).await,
                Err(e) => match queue.nack(&message, &report(&e)).await {
                    Ok(Nacked::DeadLettered) => {
                        tracing::warn!(message_id = %push.message_id, error = %report(&e), "message dead-lettered after 5 attempts: see /dev/dead-letters");
                        Ok(())
                    }
                    Ok(Nacked::RetryIn(after)) => {
                        tracing::info!(message_id = %push.message_id, error = %report(&e), retry_in_ms = after.as_millis() as u64, "delivery failed, will retry");
                        Ok(())
                    }
                    Err(e) => Err(e),
                },
            };
            if let Err(e) = result {
                tracing::error!(error = %report(&e), "queue update failed");
            }
        }
        if full {
            continue;
        }
        let wait = match queue.next_due_in().await {
            Ok(Some(d)) => d.min(Duration::from_secs(5)),
            _ => Duration::from_secs(5),
        };
        tokio::select! {
            _ = notify.notified() => {}
            _ = tokio::time::sleep(wait) => {}
            _ = stop.changed() => return,
        }
    }
}
