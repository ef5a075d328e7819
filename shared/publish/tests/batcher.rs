//! The shared publish calls (`hermes_publish::Batcher`, README "Publishing") over the
//! test kit's call-recording publisher: who shares a call, who gets which ids,
//! the bound, the per-request resend of a refused shared call, the deadline.

use hermes_core::destination::{Message, TopicName};
use hermes_publish::{BatchError, Outcome};
use hermes_publish::{Batcher, BatcherLimits, QueueFull};
use hermes_testkit::publishers::{Calls, REJECT_ATTRIBUTE};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

const DEADLINE: Duration = Duration::from_secs(30);

fn topic(id: &str) -> TopicName {
    TopicName::parse(id, Some("p")).expect("topic")
}

/// Message `n` of request `req`, as its attributes say.
fn message(req: usize, n: usize) -> Message {
    Message {
        data: format!("{{\"req\":{req},\"n\":{n}}}").into_bytes().into(),
        attributes: vec![("req".into(), req.to_string()), ("n".into(), n.to_string())],
    }
}

fn request(req: usize, count: usize) -> Vec<Message> {
    (0..count).map(|n| message(req, n)).collect()
}

fn who(m: &Message) -> (String, String) {
    (
        m.attribute("req").unwrap_or_default().to_string(),
        m.attribute("n").unwrap_or_default().to_string(),
    )
}

/// Every outcome of one request, its ids in order.
async fn ids_of(tickets: Vec<hermes_publish::Ticket>) -> Result<Vec<String>, String> {
    let mut ids = Vec::new();
    for t in tickets {
        let Outcome { result, .. } = t.outcome().await;
        ids.extend(result.map_err(|e| hermes_core::error::report(&e))?);
    }
    Ok(ids)
}

/// The message a call's id names: `c<call>-<position>`.
fn message_of<'a>(calls: &'a [(String, Vec<Message>)], id: &str) -> Option<&'a Message> {
    let (call, pos) = id.strip_prefix('c')?.split_once('-')?;
    let call: usize = call.parse().ok()?;
    calls
        .get(call.checked_sub(1)?)?
        .1
        .get(pos.parse::<usize>().ok()?)
}

/// A batcher over a held publisher whose first call (request 0, one message
/// to `events`, waiting at most `deadline`) is in flight: what a test submits
/// next waits for the call after it.
async fn with_a_call_in_flight(
    deadline: Duration,
) -> (Arc<Calls>, Batcher, TopicName, Vec<hermes_publish::Ticket>) {
    let calls = Arc::new(Calls::held());
    let batcher = Batcher::new(calls.clone());
    let t = topic("events");
    let first = batcher
        .submit(vec![(t.clone(), request(0, 1))], Instant::now(), deadline)
        .expect("room");
    calls.wait_for(1).await;
    (calls, batcher, t, first)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_arriving_during_a_call_share_the_next_one_and_get_their_own_ids() {
    let (calls, batcher, t, first) = with_a_call_in_flight(DEADLINE).await;
    // 50 requests from 50 tasks while the first call is held.
    let (queued_tx, mut queued) = tokio::sync::mpsc::channel(50);
    let mut requests = Vec::new();
    for req in 1..=50 {
        let batcher = batcher.clone();
        let t = t.clone();
        let queued_tx = queued_tx.clone();
        requests.push(tokio::spawn(async move {
            let tickets = batcher
                .submit(vec![(t, request(req, 3))], Instant::now(), DEADLINE)
                .expect("room");
            let _ = queued_tx.send(()).await;
            (req, ids_of(tickets).await)
        }));
    }
    for _ in 0..50 {
        queued.recv().await.expect("queued");
    }
    assert_eq!(
        calls.count(),
        1,
        "nothing more sent while the first call is in flight"
    );
    calls.release();
    assert_eq!(
        ids_of(first).await.expect("first"),
        vec!["c1-0".to_string()]
    );
    let mut answers = Vec::new();
    for r in requests {
        answers.push(r.await.expect("request task"));
    }
    let recorded = calls.recorded();
    let mut seen = BTreeMap::new();
    for (req, ids) in answers {
        let ids = ids.expect("published");
        assert_eq!(ids.len(), 3, "request {req} gets one id per message");
        for (n, id) in ids.iter().enumerate() {
            let m = message_of(&recorded, id).expect("an id of a recorded call");
            assert_eq!(
                who(m),
                (req.to_string(), n.to_string()),
                "id {id} of request {req}"
            );
            assert!(
                seen.insert(id.clone(), req).is_none(),
                "id {id} given twice"
            );
        }
    }
    assert_eq!(
        recorded.len(),
        2,
        "exactly one more call: {:?}",
        recorded.iter().map(|c| c.1.len()).collect::<Vec<_>>()
    );
    assert_eq!(
        recorded[1].1.len(),
        150,
        "the second call carries all 50 requests"
    );
    assert_eq!(recorded[1].0, t.as_str());
}

#[test]
fn a_lone_request_on_an_idle_topic_is_sent_without_waiting() {
    // One thread and no clock: the call must start within a few turns of the
    // scheduler, before any timer could fire.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let calls = Arc::new(Calls::held());
        let batcher = Batcher::new(calls.clone());
        let _tickets = batcher
            .submit(
                vec![(topic("events"), request(0, 2))],
                Instant::now(),
                DEADLINE,
            )
            .expect("room");
        for _ in 0..10 {
            if calls.count() == 1 {
                break;
            }
            tokio::task::yield_now().await;
        }
        assert_eq!(calls.count(), 1, "the lone request's call started at once");
        calls.release();
        assert!(batcher.drain(DEADLINE).await);
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_that_does_not_fit_is_refused_and_nothing_of_it_is_queued() {
    let calls = Arc::new(Calls::held());
    let limits = BatcherLimits {
        max_waiting_messages: 5,
        ..BatcherLimits::default()
    };
    let batcher = Batcher::with_limits(calls.clone(), limits);
    let (busy, other) = (topic("busy"), topic("other"));
    let first = batcher
        .submit(
            vec![(busy.clone(), request(0, 1))],
            Instant::now(),
            DEADLINE,
        )
        .expect("room");
    calls.wait_for(1).await;
    let waiting = batcher
        .submit(
            vec![(busy.clone(), request(1, 4))],
            Instant::now(),
            DEADLINE,
        )
        .expect("4 of 5 waiting");
    // Fits on `other`, not on `busy`: refused whole.
    let refused = batcher.submit(
        vec![
            (other.clone(), request(2, 2)),
            (busy.clone(), request(2, 2)),
        ],
        Instant::now(),
        DEADLINE,
    );
    assert_eq!(
        refused.err(),
        Some(QueueFull {
            topic: busy.clone()
        })
    );
    // The room on `busy` is not lost: one more message still fits.
    let fits = batcher
        .submit(
            vec![(busy.clone(), request(3, 1))],
            Instant::now(),
            DEADLINE,
        )
        .expect("the fifth message fits");
    calls.release();
    for tickets in [first, waiting, fits] {
        ids_of(tickets).await.expect("published");
    }
    assert!(batcher.drain(DEADLINE).await);
    let sent: Vec<_> = calls.recorded().into_iter().flat_map(|c| c.1).collect();
    assert_eq!(sent.len(), 6);
    assert!(
        sent.iter().all(|m| m.attribute("req") != Some("2")),
        "no message of the refused request was sent"
    );
    // A request larger than the whole bound is taken on an empty queue.
    let big = batcher
        .submit(
            vec![(busy.clone(), request(4, 8))],
            Instant::now(),
            DEADLINE,
        )
        .expect("an idle queue takes a request larger than its bound");
    assert_eq!(ids_of(big).await.expect("published").len(), 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_shared_call_is_resent_per_request_and_fails_only_the_bad_one() {
    let (calls, batcher, t, first) = with_a_call_in_flight(DEADLINE).await;
    let mut bad_messages = request(2, 2);
    bad_messages[1]
        .attributes
        .push((REJECT_ATTRIBUTE.into(), "1".into()));
    let good_a = batcher
        .submit(vec![(t.clone(), request(1, 2))], Instant::now(), DEADLINE)
        .expect("room");
    let bad = batcher
        .submit(vec![(t.clone(), bad_messages)], Instant::now(), DEADLINE)
        .expect("room");
    let good_b = batcher
        .submit(vec![(t.clone(), request(3, 3))], Instant::now(), DEADLINE)
        .expect("room");
    calls.release();
    ids_of(first).await.expect("first");
    let a = ids_of(good_a)
        .await
        .expect("request 1 is not failed by request 2");
    let b = ids_of(good_b)
        .await
        .expect("request 3 is not failed by request 2");
    let err = ids_of(bad).await.expect_err("request 2 fails");
    assert!(err.contains("INVALID_ARGUMENT"), "{err}");
    let recorded = calls.recorded();
    // The first call, the shared one (7 messages), then one per request.
    assert_eq!(
        recorded.len(),
        5,
        "{:?}",
        recorded.iter().map(|c| c.1.len()).collect::<Vec<_>>()
    );
    assert_eq!(recorded[1].1.len(), 7);
    for (_, messages) in &recorded[2..] {
        let reqs: std::collections::BTreeSet<_> = messages.iter().map(|m| who(m).0).collect();
        assert_eq!(reqs.len(), 1, "a resend carries one request's messages");
    }
    for (req, ids) in [(1, a), (3, b)] {
        for (n, id) in ids.iter().enumerate() {
            let m = message_of(&recorded, id).expect("recorded");
            assert_eq!(who(m), (req.to_string(), n.to_string()));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_request_keeps_its_own_deadline() {
    let short = Duration::from_millis(200);
    let (calls, batcher, t, in_call) = with_a_call_in_flight(short).await;
    let patient = batcher
        .submit(vec![(t.clone(), request(1, 1))], Instant::now(), DEADLINE)
        .expect("room");
    let queued_short = batcher
        .submit(vec![(t.clone(), request(2, 1))], Instant::now(), short)
        .expect("room");
    for tickets in [in_call, queued_short] {
        for ticket in tickets {
            let outcome = ticket.outcome().await;
            assert!(
                matches!(outcome.result, Err(BatchError::Deadline(d)) if d == short),
                "{:?}",
                outcome.result
            );
        }
    }
    calls.release();
    let ids = ids_of(patient)
        .await
        .expect("the patient request is published");
    assert_eq!(ids, vec!["c2-0".to_string()]);
    assert!(batcher.drain(DEADLINE).await);
    let recorded = calls.recorded();
    assert_eq!(
        recorded.len(),
        2,
        "the held call went on; the expired queued message was not sent"
    );
    assert_eq!(who(&recorded[1].1[0]).0, "1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_request_does_not_abort_its_call_and_drain_waits_for_it() {
    let calls = Arc::new(Calls::held());
    let batcher = Batcher::new(calls.clone());
    let t = topic("events");
    drop(
        batcher
            .submit(vec![(t.clone(), request(0, 1))], Instant::now(), DEADLINE)
            .expect("room"),
    );
    calls.wait_for(1).await;
    drop(
        batcher
            .submit(vec![(t.clone(), request(1, 2))], Instant::now(), DEADLINE)
            .expect("room"),
    );
    assert!(
        !batcher.drain(Duration::from_millis(50)).await,
        "a call is still held"
    );
    calls.release();
    assert!(
        batcher.drain(DEADLINE).await,
        "queued and in-flight calls finish"
    );
    let sent: usize = calls.recorded().iter().map(|c| c.1.len()).sum();
    assert_eq!(sent, 3, "both requests' messages were published");
}

/// A small request that arrives behind a large one (ten calls' worth) is
/// served at the next free call slot, not after every part of the large
/// one: calls take the waiting requests in turn. (On tokio's paused clock:
/// each call takes one virtual second.)
#[tokio::test(start_paused = true)]
async fn a_small_request_is_not_held_behind_a_large_one() {
    let calls = Arc::new(Calls::slow(Duration::from_secs(1)));
    let batcher = Batcher::with_limits(
        calls.clone(),
        BatcherLimits {
            max_calls_in_flight: 2,
            ..BatcherLimits::default()
        },
    );
    let t = topic("events");
    let start = Instant::now();
    let large = batcher
        .submit(vec![(t.clone(), request(0, 10_000))], start, DEADLINE)
        .expect("room");
    let small = batcher
        .submit(vec![(t.clone(), request(1, 1))], start, DEADLINE)
        .expect("room");
    let ids = ids_of(small).await.expect("published");
    assert_eq!(ids.len(), 1);
    // Two calls of the large request are in flight at once; the small one
    // goes with the next call after them, at 2 s. Served first come first
    // served it would wait for all ten: 6 s.
    let waited = start.elapsed();
    assert!(waited <= Duration::from_secs(2), "waited {waited:?}");
    assert_eq!(ids_of(large).await.map(|ids| ids.len()), Ok(10_000));
    // Every message went exactly once.
    let sent: usize = calls.recorded().iter().map(|(_, m)| m.len()).sum();
    assert_eq!(sent, 10_001);
}

/// Many small requests and large ones at once: each call takes one part of
/// each request in turn while they fit, and every request gets exactly its
/// own ids.
#[tokio::test(start_paused = true)]
async fn requests_served_in_turn_still_get_their_own_ids() {
    let calls = Arc::new(Calls::slow(Duration::from_millis(100)));
    let batcher = Batcher::with_limits(
        calls.clone(),
        BatcherLimits {
            max_calls_in_flight: 2,
            ..BatcherLimits::default()
        },
    );
    let t = topic("events");
    let sizes = [2_500, 1, 3, 1_000, 7, 1_999, 1];
    let mut pending = Vec::new();
    for (req, &n) in sizes.iter().enumerate() {
        let tickets = batcher
            .submit(vec![(t.clone(), request(req, n))], Instant::now(), DEADLINE)
            .expect("room");
        pending.push((req, n, tickets));
    }
    for (req, n, tickets) in pending {
        let ids = ids_of(tickets).await.expect("published");
        assert_eq!(ids.len(), n);
        let recorded = calls.recorded();
        for (i, id) in ids.iter().enumerate() {
            let m = message_of(&recorded, id).expect("an id of a call");
            assert_eq!(who(m), (req.to_string(), i.to_string()), "{id}");
        }
    }
    for (_, messages) in calls.recorded() {
        assert!(messages.len() <= 1_000);
    }
}

/// The defaults the README states: at most 8 calls in flight per topic, and
/// at most 64 MiB of encoded messages waiting per topic beside them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_bounds_are_8_calls_in_flight_and_64_mib_waiting() {
    let calls = Arc::new(Calls::held());
    let batcher = Batcher::new(calls.clone());
    let t = topic("events");
    // Twenty calls' worth: eight go out, the rest wait.
    let many = batcher
        .submit(
            vec![(t.clone(), request(0, 20_000))],
            Instant::now(),
            DEADLINE,
        )
        .expect("room for 20,000 messages");
    calls.wait_for(8).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(calls.count(), 8, "calls in flight past the bound");
    assert_eq!(batcher.waiting(&t), 12_000);
    // Bytes, the default 64 MiB, on a batcher allowed one call at a time:
    // 1 MiB messages (768 KiB of data is 1 MiB in base64), one in flight.
    let one_call = Batcher::with_limits(
        calls.clone(),
        BatcherLimits {
            max_calls_in_flight: 1,
            ..BatcherLimits::default()
        },
    );
    let batcher = &one_call;
    let other = topic("big");
    let mib = |req: usize, n: usize| -> Vec<Message> {
        (0..n)
            .map(|i| Message {
                data: vec![b'x'; 768 * 1024].into(),
                attributes: vec![("req".into(), req.to_string()), ("n".into(), i.to_string())],
            })
            .collect()
    };
    let in_flight = batcher
        .submit(vec![(other.clone(), mib(1, 1))], Instant::now(), DEADLINE)
        .expect("an idle topic");
    calls.wait_for(9).await;
    assert_eq!(batcher.waiting(&other), 0);
    // 63 MiB wait; 2 more would pass 64 MiB.
    let waiting = batcher
        .submit(vec![(other.clone(), mib(2, 63))], Instant::now(), DEADLINE)
        .expect("63 MiB waiting");
    let refused = batcher.submit(vec![(other.clone(), mib(3, 2))], Instant::now(), DEADLINE);
    assert_eq!(
        refused.err(),
        Some(QueueFull {
            topic: other.clone()
        })
    );
    calls.release();
    assert_eq!(ids_of(many).await.map(|ids| ids.len()), Ok(20_000));
    assert_eq!(ids_of(in_flight).await.map(|ids| ids.len()), Ok(1));
    assert_eq!(ids_of(waiting).await.map(|ids| ids.len()), Ok(63));
}
