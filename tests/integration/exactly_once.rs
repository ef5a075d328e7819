//! Exactly once, end to end, on Google's Pub/Sub and Firestore emulators:
//! `hermes-ingest` → topic → push subscription (retry policy, dead-letter
//! policy with 5 attempts) → `hermes-counters` → Firestore. Each test breaks
//! one link — lost publish answers, client resends, failing and killed
//! counters, overlapping deliveries, contention, poison — and the totals must
//! still equal the sums sent (README, "Delivery guarantees").
//!
//! `cargo test --test integration exactly_once` runs them alone.

use hermes_core::time::format_timestamp;
use hermes_testkit::emulator::{free_port, unique_id, Emulator, Function};
use hermes_testkit::faults::{AnswerDropper, Delivery, Outage, PushFront};
use hermes_testkit::samples::{items_realtime, push_envelope};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// Items sent, by id: the counter each must reach.
type Totals = BTreeMap<String, i64>;

struct Pipeline {
    emu: Emulator,
    project: String,
    topic: String,
    dead_letters: String,
    counters: Function,
    counters_port: u16,
    ingest: Function,
    subscription: String,
    /// Before anything was published: where a stalled subscription is
    /// seeked back to.
    started: SystemTime,
}

struct Options {
    /// Put a fault front before the counters' push endpoint.
    front: Option<Arc<PushFront>>,
    /// Publish through a proxy that loses answers (`every`, `max`).
    lose_answers: Option<(usize, usize)>,
    ack_deadline_secs: u32,
    /// The counters' port (a front forwards there); a free one if `None`.
    counters_port: Option<u16>,
    max_delivery_attempts: u32,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            front: None,
            lose_answers: None,
            ack_deadline_secs: 10,
            counters_port: None,
            max_delivery_attempts: 5,
        }
    }
}

impl Pipeline {
    /// `None` when the emulators cannot run here (a visible skip; a failure in CI).
    async fn start(test: &str, options: Options) -> Option<(Self, Option<AnswerDropper>)> {
        let emu = Emulator::start().await?;
        let started = SystemTime::now();
        let project = unique_id(&format!("eo-{test}"));
        let topic = format!("projects/{project}/topics/items-realtime");
        let dead_topic = format!("projects/{project}/topics/items-dead");
        let dead_letters = format!("projects/{project}/subscriptions/items-dead-pull");
        emu.create_topic(&topic).await;
        emu.create_topic(&dead_topic).await;
        emu.create_pull_subscription(&dead_letters, &dead_topic)
            .await;

        let counters_port = options.counters_port.unwrap_or_else(free_port);
        let counters = start_counters(&emu, &project, counters_port).await;
        let endpoint = match &options.front {
            Some(front) => front.endpoint.clone(),
            None => format!("{}/", counters.base),
        };
        let subscription = format!("projects/{project}/subscriptions/items-counters");
        let (status, body) = put(
            &emu,
            &subscription,
            &json!({
                "name": subscription,
                "topic": topic,
                "pushConfig": { "pushEndpoint": endpoint },
                "ackDeadlineSeconds": options.ack_deadline_secs,
                "retryPolicy": { "minimumBackoff": "1s", "maximumBackoff": "2s" },
                "deadLetterPolicy": {
                    "deadLetterTopic": dead_topic,
                    "maxDeliveryAttempts": options.max_delivery_attempts,
                },
            }),
        )
        .await;
        assert!(status == 200, "push subscription: HTTP {status} {body}");

        let dropper = match options.lose_answers {
            Some((every, max)) => Some(AnswerDropper::start(emu.pubsub_host(), every, max).await),
            None => None,
        };
        let pubsub_host = dropper
            .as_ref()
            .map(|d| d.host.clone())
            .unwrap_or_else(|| emu.pubsub_host().to_string());
        let config = items_realtime(&topic);
        let ingest = Function::start(
            "hermes-ingest",
            &[
                ("GOOGLE_CLOUD_PROJECT", &project),
                ("PUBSUB_EMULATOR_HOST", &pubsub_host),
                ("HERMES_CONFIG_TOML", &config),
            ],
        )
        .await;
        let pipeline = Self {
            emu,
            project,
            topic,
            dead_letters,
            counters,
            counters_port,
            ingest,
            subscription,
            started,
        };
        Some((pipeline, dropper))
    }

    /// Kills the counters function (`kill -9`) and starts it again on its port.
    async fn crash_counters(&mut self) {
        let _ = self.counters.proc.child.kill();
        let _ = self.counters.proc.child.wait();
        self.counters = start_counters(&self.emu, &self.project, self.counters_port).await;
    }

    async fn send(&self, events: &Value, headers: &[(&str, &str)]) -> Value {
        let (status, body) = self.ingest.post("/", headers, events).await;
        assert_eq!(status, 200, "ingest: {body}");
        body
    }

    async fn counter(&self, item: &str) -> Option<i64> {
        let name = format!(
            "projects/{}/databases/(default)/documents/items/{item}",
            self.project
        );
        let doc = self.emu.firestore_get(&name).await?;
        doc["fields"]["counter"]["integerValue"]
            .as_str()
            .and_then(|s| s.parse().ok())
    }

    async fn totals(&self, items: impl Iterator<Item = &String>) -> Totals {
        let mut got = Totals::new();
        for item in items {
            got.insert(item.clone(), self.counter(item).await.unwrap_or(0));
        }
        got
    }

    /// Waits until the counters equal `want`, then makes sure they stay so
    /// (a late duplicate would show after the settle time).
    ///
    /// The emulator sometimes stops redelivering messages that were refused
    /// in the same round as one acknowledged on redelivery. When the totals
    /// have not moved for a while, the subscription is seeked back to before
    /// the first publish: that marks every message still unacknowledged for
    /// delivery again and leaves acknowledged ones alone, so a message the
    /// counters acknowledged without counting still fails the test.
    async fn expect_totals(&self, want: &Totals, timeout: Duration) {
        const STALL: Duration = Duration::from_secs(15);
        let deadline = Instant::now() + timeout;
        let mut last = Totals::new();
        let mut moved = Instant::now();
        let mut seeks = 0;
        loop {
            let got = self.totals(want.keys()).await;
            if &got == want {
                break;
            }
            let over: Vec<_> = got.iter().filter(|(k, v)| want[*k] < **v).collect();
            assert!(over.is_empty(), "counted twice: {over:?}\nwant {want:?}");
            if got != last {
                last = got.clone();
                moved = Instant::now();
            } else if moved.elapsed() > STALL {
                eprintln!("totals still for {STALL:?}: seeking the subscription back");
                self.seek_back().await;
                seeks += 1;
                moved = Instant::now();
            }
            if Instant::now() >= deadline {
                let dead = self.emu.pull(&self.dead_letters, 100).await.len();
                panic!(
                    "counters never reached the sums sent ({seeks} seeks, {dead} dead letters)\n got {got:?}\nwant {want:?}\n--- counters ---\n{}",
                    self.counters.log_text()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(
            &self.totals(want.keys()).await,
            want,
            "changed after settling"
        );
    }
}

impl Pipeline {
    async fn seek_back(&self) {
        let resp = self
            .emu
            .http()
            .post(format!(
                "{}/v1/{}:seek",
                self.emu.pubsub_base(),
                self.subscription
            ))
            .json(&json!({ "time": format_timestamp(self.started) }))
            .send()
            .await
            .expect("seek on the Pub/Sub emulator");
        assert!(resp.status().is_success(), "seek: HTTP {}", resp.status());
    }
}

async fn start_counters(emu: &Emulator, project: &str, port: u16) -> Function {
    Function::start_on(
        "hermes-counters",
        &[],
        port,
        &[
            ("GOOGLE_CLOUD_PROJECT", project),
            ("FIRESTORE_EMULATOR_HOST", emu.firestore_host()),
            ("HERMES_CONFIG_TOML", ""),
        ],
    )
    .await
}

async fn put(emu: &Emulator, name: &str, body: &Value) -> (u16, Value) {
    let resp = emu
        .http()
        .put(format!("{}/v1/{name}", emu.pubsub_base()))
        .json(body)
        .send()
        .await
        .expect("PUT to the Pub/Sub emulator");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// A purchase of `items` (`(id, quantity)`), with an optional `event_id`.
fn purchase(items: &[(String, i64)], event_id: Option<&str>) -> Value {
    let items: Vec<Value> = items
        .iter()
        .map(|(id, q)| json!({ "item_id": id, "price": 2, "quantity": q }))
        .collect();
    let mut event = json!({ "event_name": "purchase", "currency": "DKK", "items": items });
    if let Some(id) = event_id {
        event["event_id"] = json!(id);
    }
    event
}

/// `n` purchases over `skus` items, deterministic, and what they add up to.
fn purchases(n: usize, skus: usize, seed: usize) -> (Vec<Value>, Totals) {
    let mut totals = Totals::new();
    let events = (0..n)
        .map(|i| {
            let k = (i * 7 + seed) % skus;
            let items = vec![
                (format!("sku-{k}"), ((i + seed) % 3 + 1) as i64),
                (format!("sku-{}", (k + 1) % skus), 1),
            ];
            for (id, q) in &items {
                *totals.entry(id.clone()).or_default() += q;
            }
            purchase(&items, None)
        })
        .collect();
    (events, totals)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_thousand_purchases_from_eight_clients_count_exactly() {
    let Some((p, _)) = Pipeline::start("e2e", Options::default()).await else {
        return;
    };
    let (events, want) = purchases(2000, 20, 0);
    let p = Arc::new(p);
    let mut clients = tokio::task::JoinSet::new();
    for chunk in events.chunks(250) {
        let (p, chunk) = (p.clone(), chunk.to_vec());
        clients.spawn(async move {
            for request in chunk.chunks(10) {
                p.send(&json!(request), &[]).await;
            }
        });
    }
    while let Some(done) = clients.join_next().await {
        done.expect("a client failed");
    }
    p.expect_totals(&want, Duration::from_secs(90)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn publish_answers_lost_after_pubsub_accepted_count_once() {
    // Every second connection's answer is lost: ingest retries calls Pub/Sub had accepted.
    let options = Options {
        lose_answers: Some((2, 6)),
        ..Options::default()
    };
    let Some((p, dropper)) = Pipeline::start("lost", options).await else {
        return;
    };
    let dropper = dropper.expect("the proxy");
    let (events, want) = purchases(60, 5, 3);
    for request in events.chunks(5) {
        p.send(&json!(request), &[]).await;
        // Past the proxy's idle close: the next publish opens a new connection.
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    assert!(
        dropper.dropped() >= 2,
        "the proxy lost {} answers: the test proved nothing",
        dropper.dropped()
    );
    p.expect_totals(&want, Duration::from_secs(60)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn client_resends_count_once_with_a_key_or_an_event_id_and_twice_without() {
    let Some((p, _)) = Pipeline::start("resend", Options::default()).await else {
        return;
    };
    let one = |id: &str| vec![(id.to_string(), 1)];
    // The same body twice under one Idempotency-Key.
    let keyed = json!([purchase(&one("keyed"), None), purchase(&one("keyed"), None)]);
    p.send(&keyed, &[("Idempotency-Key", "order-77")]).await;
    p.send(&keyed, &[("Idempotency-Key", "order-77")]).await;
    // The key reused with another body: other events, counted.
    let reused = json!([purchase(&one("reused"), None)]);
    p.send(&reused, &[("Idempotency-Key", "order-77")]).await;
    // An event with its own id, in two different requests.
    p.send(&json!([purchase(&one("own-id"), Some("evt-1"))]), &[])
        .await;
    p.send(
        &json!([
            purchase(&one("other"), None),
            purchase(&one("own-id"), Some("evt-1"))
        ]),
        &[],
    )
    .await;
    // Neither: at least once, so twice.
    let bare = json!([purchase(&one("bare"), None)]);
    p.send(&bare, &[]).await;
    p.send(&bare, &[]).await;
    let want: Totals = [
        ("keyed", 2),
        ("reused", 1),
        ("own-id", 1),
        ("other", 1),
        ("bare", 2),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    p.expect_totals(&want, Duration::from_secs(30)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn counters_failing_and_killed_mid_stream_still_count_exactly() {
    // Every third message's first delivery is refused with a 503.
    let counters_port = free_port();
    let front = Arc::new(
        PushFront::start(
            &format!("http://127.0.0.1:{counters_port}/"),
            |id, attempt| {
                let third = id.bytes().map(u32::from).sum::<u32>() % 3 == 0;
                if third && attempt == 1 {
                    Delivery::Fail
                } else {
                    Delivery::Forward
                }
            },
        )
        .await,
    );
    let options = Options {
        front: Some(front.clone()),
        counters_port: Some(counters_port),
        // A restart on a loaded machine may take longer than five attempts
        // (about 10 s): here a message must wait for it, not dead-letter.
        max_delivery_attempts: 30,
        ..Options::default()
    };
    let Some((mut p, _)) = Pipeline::start("crash", options).await else {
        return;
    };
    let (events, want) = purchases(300, 10, 1);
    let (first, second) = events.split_at(150);
    for request in first.chunks(10) {
        p.send(&json!(request), &[]).await;
    }
    // kill -9 while deliveries are under way (some reached the counters, not
    // all of the first half), and back.
    let deadline = Instant::now() + Duration::from_secs(60);
    while front.forwarded() < 10 {
        assert!(
            Instant::now() < deadline,
            "no delivery reached the counters"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let forwarded = front.forwarded();
    p.crash_counters().await;
    assert!(
        forwarded < first.len(),
        "the kill came after all {forwarded} deliveries: nothing was under way"
    );
    for request in second.chunks(10) {
        p.send(&json!(request), &[]).await;
    }
    p.expect_totals(&want, Duration::from_secs(90)).await;
    assert!(front.failed() > 0, "no delivery was refused");
}

#[tokio::test(flavor = "multi_thread")]
async fn overlapping_deliveries_past_the_ack_deadline_count_once() {
    // The first delivery of each message is far slower than the 10 s ack
    // deadline: the emulator delivers it again while the first is still in
    // flight. 25 s, not just past 10 s: on a loaded machine the emulator's
    // redelivery came after a 13 s first delivery had already finished.
    let counters_port = free_port();
    let front = Arc::new(
        PushFront::start(
            &format!("http://127.0.0.1:{counters_port}/"),
            |_, attempt| {
                if attempt == 1 {
                    Delivery::Delay(Duration::from_secs(25))
                } else {
                    Delivery::Forward
                }
            },
        )
        .await,
    );
    let options = Options {
        front: Some(front.clone()),
        counters_port: Some(counters_port),
        ..Options::default()
    };
    let Some((p, _)) = Pipeline::start("overlap", options).await else {
        return;
    };
    // Two messages: both first deliveries are in flight at once (the emulator
    // pushes at most two at a time per subscription).
    let (events, want) = purchases(2, 2, 0);
    p.send(&json!(events), &[]).await;
    p.expect_totals(&want, Duration::from_secs(70)).await;
    assert!(
        front.most_attempts() >= 2,
        "no overlapping delivery happened"
    );
    // Every delivery reaches the counters, the late first ones too, and the
    // totals do not move.
    let deadline = Instant::now() + Duration::from_secs(30);
    while front.forwarded() < front.deliveries() {
        assert!(
            Instant::now() < deadline,
            "forwarded {} of {} deliveries",
            front.forwarded(),
            front.deliveries()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        p.totals(want.keys()).await,
        want,
        "a late delivery counted again"
    );
}

/// Fifty events for one item, each pushed twice, all at once, straight to
/// the counters (through the emulator at most two pushes are in flight per
/// subscription): a hundred commits on one document overlap, and the sum is
/// exact, each event counted once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_pushes_for_one_item_sum_exactly() {
    let Some((p, _)) = Pipeline::start("contention", Options::default()).await else {
        return;
    };
    const PUSHES: usize = 100;
    let client = reqwest::Client::new();
    let start = Arc::new(tokio::sync::Barrier::new(PUSHES));
    let mut pushes = tokio::task::JoinSet::new();
    for i in 0..PUSHES / 2 {
        for copy in 0..2 {
            let data = json!({ "items": [{ "item_id": "hot", "quantity": i % 4 + 1 }] });
            let envelope = push_envelope(
                &format!("m-{i}-{copy}"),
                &data,
                json!({ "event_name": "purchase", "hermes_event_id": format!("hot-{i}") }),
            );
            let (client, start, url) = (client.clone(), start.clone(), p.counters.base.clone());
            pushes.spawn(async move {
                start.wait().await;
                let began = Instant::now();
                let status = client
                    .post(format!("{url}/"))
                    .json(&envelope)
                    .send()
                    .await
                    .map(|r| r.status().as_u16());
                (began, Instant::now(), status)
            });
        }
    }
    let mut spans = Vec::new();
    while let Some(done) = pushes.join_next().await {
        let (began, ended, status) = done.expect("a push task failed");
        assert_eq!(status.ok(), Some(200), "a push was not acknowledged");
        spans.push((began, ended));
    }
    // How many were in flight at once, at the busiest moment.
    let mut edges: Vec<(Instant, i32)> = spans
        .iter()
        .flat_map(|(b, e)| [(*b, 1), (*e, -1)])
        .collect();
    edges.sort();
    let (mut now, mut most) = (0, 0);
    for (_, step) in edges {
        now += step;
        most = most.max(now);
    }
    assert!(most >= 10, "at most {most} pushes were in flight at once");
    let want: Totals = [("hot".to_string(), (0..50).map(|i| i % 4 + 1).sum())].into();
    p.expect_totals(&want, Duration::from_secs(60)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn poison_reaches_the_dead_letter_topic_intact_and_nothing_else_moves() {
    let Some((p, _)) = Pipeline::start("poison", Options::default()).await else {
        return;
    };
    let (events, want) = purchases(20, 4, 2);
    p.send(&json!(events), &[]).await;
    p.expect_totals(&want, Duration::from_secs(30)).await;
    // On its own, after the others settled (the emulator can stop redelivering a
    // message rejected in the same round as one acknowledged).
    let poison = "this is not JSON";
    let url = format!("{}/v1/{}:publish", p.emu.pubsub_base(), p.topic);
    let resp = p
        .emu
        .http()
        .post(url)
        .json(&json!({ "messages": [{
            "data": base64::Engine::encode(&base64::engine::general_purpose::STANDARD, poison),
            "attributes": { "event_name": "purchase" },
        }]}))
        .send()
        .await
        .expect("publish the poison message");
    assert!(resp.status().is_success());
    let dead = p
        .emu
        .pull_n(&p.dead_letters, 1, Duration::from_secs(40))
        .await;
    assert_eq!(
        dead.len(),
        1,
        "the poison message never reached the dead-letter topic"
    );
    assert_eq!(dead[0].text(), poison, "its data intact");
    assert_eq!(p.totals(want.keys()).await, want, "nothing else moved");
    assert!(
        !p.counters.log_lines("ERROR").is_empty(),
        "one structured error line per poison delivery"
    );
}

/// A fire-and-forget client (1 s timeout) while Pub/Sub is unreachable: the
/// publish goes on without it and lands once Pub/Sub is back — once.
#[tokio::test(flavor = "multi_thread")]
async fn a_client_hang_up_during_an_outage_is_published_once_later() {
    let Some(emu) = Emulator::start_pubsub().await else {
        return;
    };
    let project = unique_id("eo-hangup");
    let topic = format!("projects/{project}/topics/items-realtime");
    let pull = format!("projects/{project}/subscriptions/items-pull");
    emu.create_topic(&topic).await;
    emu.create_pull_subscription(&pull, &topic).await;
    let outage = Outage::start(emu.pubsub_host(), Duration::from_millis(2500)).await;
    let config = items_realtime(&topic);
    let ingest = Function::start(
        "hermes-ingest",
        &[
            ("GOOGLE_CLOUD_PROJECT", &project),
            ("PUBSUB_EMULATOR_HOST", &outage.host),
            ("HERMES_CONFIG_TOML", &config),
        ],
    )
    .await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(1))
        .build()
        .expect("client");
    let event = purchase(&[("gone".to_string(), 1)], Some("hang-up-1"));
    let sent = client
        .post(format!("{}/", ingest.base))
        .header("content-type", "application/json")
        .body(json!([event]).to_string())
        .send()
        .await;
    assert!(sent.is_err(), "the client should have given up: {sent:?}");
    let got = emu.pull_n(&pull, 2, Duration::from_secs(15)).await;
    assert!(outage.refused() > 0, "no publish attempt met the outage");
    assert_eq!(
        got.len(),
        1,
        "published once: {got:?}\n{}",
        ingest.log_text()
    );
    assert_eq!(got[0].attributes["hermes_event_id"], "hang-up-1");
    assert!(
        ingest
            .log_text()
            .contains("publish finished after the client hung up"),
        "the outcome is logged"
    );
}
