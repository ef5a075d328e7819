//! The delivery loops of the embedded queue: due messages go to a push job
//! (counters, notify, enrich) in process, through the push-job kit, under Pub/Sub's
//! push rules.

use super::queue::{Nacked, SqliteQueue};
use hermes_core::destination::TopicName;
use hermes_core::error::report;
use hermes_push::{process, PushJob, PushMessage};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// The subscription the in-process delivery stands for: a full subscription
/// name, stable across restarts, so the counters' markers (keyed by it) still
/// match after one. The same name `hermes dev` gives the push subscription it
/// creates on a Pub/Sub emulator (`emulator.rs`), so both ways of delivering
/// share their markers.
pub fn subscription_of(topic: &TopicName) -> String {
    format!(
        "projects/{}/subscriptions/{}-hermes-dev-counters",
        topic.project(),
        topic.id()
    )
}

/// The one subscription notify's in-process delivery stands for, whatever the
/// topic: an event published on several topics notifies once, since its
/// marker follows the event (`hermes_event_id`) within one subscription.
pub fn notify_subscription_of(topic: &TopicName) -> String {
    format!(
        "projects/{}/subscriptions/hermes-dev-notify",
        topic.project()
    )
}

/// Enrich's subscription on `topic`, in process and on an emulator alike.
pub fn enrich_subscription_of(topic: &TopicName) -> String {
    format!(
        "projects/{}/subscriptions/{}-hermes-dev-enrich",
        topic.project(),
        topic.id()
    )
}

/// Pushes `subscriber`'s due messages to `job` with Pub/Sub's rules: success
/// acks; any error retries with backoff; the 5th failure dead-letters.
/// `subscription` names the subscription a topic's messages come from.
pub async fn deliver<J: PushJob>(
    queue: SqliteQueue,
    subscriber: &'static str,
    subscription: fn(&TopicName) -> String,
    job: Arc<J>,
    mut stop: watch::Receiver<bool>,
) {
    let notify = queue.notified(subscriber);
    loop {
        if *stop.borrow() {
            return;
        }
        let due = match queue.due_for(subscriber, 64).await {
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
            let topic = match TopicName::parse(&message.topic, None) {
                Ok(t) => t,
                Err(e) => {
                    // Only `publish` fills the queue, with a TopicName: a row
                    // from elsewhere is never deliverable, so it dead-letters.
                    let failed = queue.nack(&message, &report(&e)).await;
                    if let Err(e) = failed {
                        tracing::error!(error = %report(&e), "queue update failed");
                    }
                    continue;
                }
            };
            let push = PushMessage {
                message_id: message.message_id(),
                data: message.data.clone(),
                attributes: message.attributes.clone(),
                publish_time: Some(message.publish_time.clone()),
                subscription: subscription(&topic),
                delivery_attempt: Some(message.attempts + 1),
            };
            let result = match process(job.as_ref(), &push).await {
                Ok(_) => queue.ack(message.seq).await,
                Err(e) => match queue.nack(&message, &report(&e)).await {
                    Ok(Nacked::DeadLettered) => {
                        tracing::warn!(job = job.name(), message_id = %push.message_id, error = %report(&e), "message dead-lettered after 5 attempts: see /dev/dead-letters");
                        Ok(())
                    }
                    Ok(Nacked::RetryIn(after)) => {
                        tracing::info!(job = job.name(), message_id = %push.message_id, error = %report(&e), retry_in_ms = after.as_millis() as u64, "delivery failed, will retry");
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
        let wait = match queue.next_due_in(subscriber).await {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_subscription_is_a_stable_full_name() {
        let topic = TopicName::parse("projects/p/topics/items-realtime", None).unwrap();
        assert_eq!(
            subscription_of(&topic),
            "projects/p/subscriptions/items-realtime-hermes-dev-counters"
        );
    }
}
