//! Criterion benchmarks of the ingest hot path, on one core, no network:
//!
//! - `schema/*`: type checking a typical event (the Server-to-Server README's
//!   three events), the most work a valid event can cost (every Common Event
//!   Data field present) and the worst case (all 23 fields of the wrong type:
//!   23 errors with their messages);
//! - `hermes_encode/*`: the Hermes encoding of one event (whole event; the
//!   example `items-realtime` mapping with `_num`; every personal-data
//!   transform on the README's `login` event), and the publish request body
//!   (base64 + JSON) of 100 messages;
//! - `request_path/N`: the whole in-process request path for a body of N of the
//!   README's events: parse → check → encode → publish request body → response
//!   JSON, with a publisher that only builds the request body.
//!
//! `scripts/bench` runs these and puts the figures in `docs/PERFORMANCE.md`.

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use hermes_core::config::Config;
use hermes_core::destination::{Message, PublishError, Publisher, TopicName};
use hermes_core::future::BoxFuture;
use hermes_core::json::{self, Element, Json};
use hermes_core::schema::Schema;
use hermes_gcp::pubsub::PubSubRest;
use hermes_ingest::{parse_events, process, response};
use serde_json::{json, Value};
use std::hint::black_box;
use std::sync::Arc;

/// The events of the Server-to-Server client's README, in its order.
const README_EVENTS: &str = r#"[
  { "event_name": "purchase", "ip_override": "1.2.3.4", "language": "en_us" },
  { "event_name": "add_to_cart", "currency": "USD", "value": 7.77, "language": "en_es" },
  { "event_name": "login", "user_id": "FI4L21234", "viewport_size": "725x345",
    "user_data": { "email_address": "foo@example.com", "phone_number": "+15551234567",
                   "first_name": "Jane", "last_name": "Doe" } }
]"#;

/// The load benchmark's configuration: one destination taking every event.
const CONFIG: &str = r#"
[[destinations]]
name = "events"
topic = "projects/bench/topics/events"
"#;

/// `examples/hermes.toml`'s mapped destination.
const MAPPED: &str = r#"
[[destinations]]
name = "items-realtime"
topic = "projects/bench/topics/items-realtime"
events = ["purchase"]
require = ["items"]
[destinations.mapping]
transaction_id = "transaction_id"
value_num = "value"
currency = "currency"
items = "items"
[destinations.attributes]
source = "s2s"
"#;

/// Every personal-data transform at once (README, "Personal data").
const TRANSFORMED: &str = r#"
[[destinations]]
name = "transformed"
topic = "projects/bench/topics/transformed"
[destinations.transform]
drop = ["viewport_size"]
hash = ["user_data.email_address", "user_data.phone_number", "user_data.first_name", "user_data.last_name"]
hmac = ["user_id"]
redact = ["email", "credit_card", "phone"]
mask_ip = true
"#;

fn readme_events() -> Vec<Value> {
    serde_json::from_str(README_EVENTS).expect("README events")
}

/// A body and its parsed events; the text is leaked so the tree can borrow it
/// for the whole run.
fn parsed(text: String) -> (Bytes, Vec<Element<'static>>) {
    let text: &'static str = Box::leak(text.into_boxed_str());
    let events = json::parse_array(text, usize::MAX).expect("array").items;
    (Bytes::from_static(text.as_bytes()), events)
}

/// One event's tree, leaked as [`parsed`] does.
fn tree(value: &Value) -> Json<'static> {
    let text: &'static str = Box::leak(value.to_string().into_boxed_str());
    json::parse(text).expect("JSON")
}

/// A JSON array of `n` events, the README's three in turn.
pub fn body_of(n: usize) -> Vec<u8> {
    let events = readme_events();
    let list: Vec<&Value> = events.iter().cycle().take(n).collect();
    serde_json::to_vec(&list).expect("body")
}

/// Every Common Event Data field present and valid: the most checking a valid event costs.
fn all_fields_valid() -> Value {
    json!({
        "event_name": "purchase", "client_id": "1234.5678", "ip_override": "1.2.3.4",
        "language": "en_us", "page_encoding": "UTF-8", "page_hostname": "example.com",
        "page_location": "https://example.com/shop/checkout?step=3", "page_path": "/shop/checkout",
        "page_referrer": "https://example.com/cart", "page_title": "Checkout",
        "screen_resolution": "1920x1080", "user_agent": "Mozilla/5.0 (X11; Linux x86_64)",
        "user_id": "FI4L21234", "viewport_size": "725x345", "currency": "DKK", "value": 150.5,
        "user_data": {
            "email_address": "foo@example.com", "phone_number": "+15551234567",
            "first_name": "Jane", "last_name": "Doe", "street": "1 Main St", "city": "Aarhus",
            "region": "Midtjylland", "postal_code": "8000", "country": "DK"
        }
    })
}

/// The template's own worst case: its 23 fields, all of the wrong type (23 errors).
fn all_fields_wrong() -> Value {
    json!({
        "client_id": 5, "event_name": true, "ip_override": 6, "language": false,
        "page_encoding": {}, "page_hostname": [], "page_location": 0.001, "page_path": 8,
        "page_referrer": false, "page_title": [], "screen_resolution": {}, "user_agent": true,
        "user_data": {
            "email_address": 4, "phone_number": false, "first_name": [], "last_name": 10,
            "street": 99, "city": {}, "region": 1, "postal_code": [], "country": true
        },
        "user_id": [], "viewport_size": false
    })
}

fn bench_schema(c: &mut Criterion) {
    let schema = Schema::default();
    let mut group = c.benchmark_group("schema");

    let (_, typical) = parsed(README_EVENTS.to_string());
    let typical: Vec<Json> = typical.into_iter().map(|e| e.value).collect();
    group.throughput(Throughput::Elements(typical.len() as u64));
    group.bench_function("typical_readme_events", |b| {
        let mut errors = Vec::new();
        b.iter(|| {
            for (i, event) in typical.iter().enumerate() {
                black_box(schema.check_event(black_box(event), i, &mut errors));
            }
            errors.clear();
        })
    });

    group.throughput(Throughput::Elements(1));
    let valid = tree(&all_fields_valid());
    group.bench_function("all_fields_valid", |b| {
        let mut errors = Vec::new();
        b.iter(|| {
            black_box(schema.check_event(black_box(&valid), 0, &mut errors));
            errors.clear();
        })
    });

    let wrong = tree(&all_fields_wrong());
    let mut errors = Vec::new();
    schema.check_event(&wrong, 0, &mut errors);
    assert_eq!(
        errors.len(),
        23,
        "the worst case gives the template's 23 errors"
    );
    group.bench_function("worst_case_23_errors", |b| {
        let mut errors = Vec::with_capacity(23);
        b.iter(|| {
            black_box(schema.check_event(black_box(&wrong), 0, &mut errors));
            errors.clear();
        })
    });
    group.finish();
}

fn bench_encode(c: &mut Criterion) {
    let config = Config::parse(CONFIG, Some("bench")).expect("config");
    let dest = &config.destinations[0];
    let mapped_config = Config::parse(MAPPED, Some("bench")).expect("config");
    let mapped = &mapped_config.destinations[0];
    let mut group = c.benchmark_group("hermes_encode");

    let (body, events) = parsed(README_EVENTS.to_string());
    group.throughput(Throughput::Elements(events.len() as u64));
    group.bench_function("whole_event", |b| {
        b.iter(|| {
            for event in &events {
                black_box(
                    dest.encode(black_box(event), &body, "bench-event", Default::default())
                        .expect("encodes"),
                );
            }
        })
    });

    let (purchase_body, purchase) = parsed(format!(
        "[{}]",
        json!({
            "event_name": "purchase", "transaction_id": "T1", "value": "150", "currency": "DKK",
            "items": [
                {"item_id": "123", "item_name": "Blazer", "item_category": "Jackets", "price": 150, "quantity": 1},
                {"item_id": "456", "item_name": "T-Shirt", "item_category": "Shirts", "price": 30, "quantity": 2}
            ]
        })
    ));
    let purchase = &purchase[0];
    assert!(mapped.triggers(&purchase.value));
    group.throughput(Throughput::Elements(1));
    group.bench_function("mapping_items_realtime", |b| {
        b.iter(|| {
            black_box(
                mapped
                    .encode(
                        black_box(purchase),
                        &purchase_body,
                        "bench-event",
                        Default::default(),
                    )
                    .expect("encodes"),
            )
        })
    });

    let transformed_config = Config::parse_with_hash_key(
        TRANSFORMED,
        Some("bench"),
        Some(b"a benchmark key of thirty-two b."),
    )
    .expect("config");
    let transformed = &transformed_config.destinations[0];
    let login = &events[2];
    group.throughput(Throughput::Elements(1));
    group.bench_function("transforms_login", |b| {
        b.iter(|| {
            black_box(
                transformed
                    .encode(black_box(login), &body, "bench-event", Default::default())
                    .expect("encodes"),
            )
        })
    });

    let messages: Vec<Message> = events
        .iter()
        .cycle()
        .take(100)
        .map(|e| {
            dest.encode(e, &body, "bench-event", Default::default())
                .expect("encodes")
        })
        .collect();
    group.throughput(Throughput::Elements(messages.len() as u64));
    group.bench_function("publish_body_100", |b| {
        b.iter(|| black_box(PubSubRest::request_body(black_box(&messages))))
    });
    group.finish();
}

/// A publisher that does the CPU work of a publish (the request body) and no I/O.
struct BodyOnly;

impl Publisher for BodyOnly {
    fn publish<'a>(
        &'a self,
        _topic: &'a TopicName,
        messages: &'a [Message],
    ) -> BoxFuture<'a, Result<Vec<String>, PublishError>> {
        Box::pin(async move {
            black_box(PubSubRest::request_body(messages));
            Ok((1..=messages.len()).map(|i| i.to_string()).collect())
        })
    }
}

fn bench_request_path(c: &mut Criterion) {
    let config = Config::parse(CONFIG, Some("bench")).expect("config");
    let publishing = process::Publishing::new(Arc::new(BodyOnly));
    // Timers: each request's publish deadline is a Tokio timer.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let mut group = c.benchmark_group("request_path");
    for n in [1usize, 10, 100, 500] {
        let body = Bytes::from(body_of(n));
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::from_parameter(n), &body, |b, body| {
            b.iter(|| {
                rt.block_on(async {
                    let events = parse_events(black_box(body), usize::MAX).expect("array");
                    let report = process::process(
                        &config,
                        Some(&publishing),
                        &events.items,
                        body,
                        process::RequestContext::default(),
                    )
                    .await;
                    debug_assert_eq!(report.tags_failed, 0);
                    let count = events.items.len();
                    drop(events);
                    let (status, body) = response::from_report("hermes", report);
                    black_box(response::respond(status, &body, count))
                })
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_schema, bench_encode, bench_request_path);
criterion_main!(benches);
