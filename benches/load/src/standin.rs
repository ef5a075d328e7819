//! A fast local Firestore stand-in for the dashboard's memory measurement:
//! it answers the REST calls of the dashboard's reads (the paged listing of
//! `items`, the `shards` collection-group `runQuery`, the changed-items
//! queries and `batchGet`) from synthetic item documents made on the fly,
//! shaped as `hermes-counters` writes them, so that a full read of 200,000
//! items takes seconds instead of the emulator's quarter of an hour.
//!
//! It holds no documents (each is made from its index when a page asks for
//! it) and never changes: the changed-items queries find nothing, there are
//! no shards. Only the dashboard's memory is measured against it; the
//! documents read per minute are measured against Google's emulator.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::net::TcpListener;

/// What the stand-in served.
#[derive(Default)]
pub struct Served {
    /// Item documents in listing pages.
    pub documents: AtomicU64,
    /// Listings that reached their last page (full reads of `items`).
    pub full_listings: AtomicU64,
    pub queries: AtomicU64,
}

pub struct StandIn {
    pub items: usize,
    database: String,
    /// When the synthetic items were last stamped (`last_event_at`): an hour
    /// before the start, one second apart per thousand items.
    epoch: SystemTime,
    pub served: Served,
}

const COLOURS: [&str; 10] = [
    "navy", "black", "white", "olive", "sand", "grey", "burgundy", "sky blue", "charcoal", "cream",
];
const PRODUCTS: [(&str, &str); 12] = [
    ("Wool blazer", "Jackets"),
    ("Organic cotton T-shirt", "Shirts"),
    ("Slim-fit chinos", "Trousers"),
    ("Merino crew-neck jumper", "Knitwear"),
    ("Leather Chelsea boots", "Shoes"),
    ("Linen shirt", "Shirts"),
    ("Down jacket", "Jackets"),
    ("Canvas tote bag", "Accessories"),
    ("Running shorts", "Sportswear"),
    ("Silk scarf", "Accessories"),
    ("Denim jeans, straight", "Trousers"),
    ("Rain coat", "Outerwear"),
];
const SIZES: [&str; 5] = ["XS", "S", "M", "L", "XL"];
const BRANDS: [&str; 6] = ["Nordlys", "Acme", "Havn", "Fjord & Co", "Tern", "Kobber"];

/// A small deterministic mix of `i` (so that neighbouring items differ).
fn mix(i: usize) -> usize {
    let mut x = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^= x >> 29;
    (x % 1_000_003) as usize
}

impl StandIn {
    pub fn new(items: usize, project: &str) -> Self {
        Self {
            items,
            database: format!("projects/{project}/databases/(default)"),
            epoch: SystemTime::now() - Duration::from_secs(3600),
            served: Served::default(),
        }
    }

    /// Item `i`'s id: a shop's SKU with colour and size (`SKU-004711-03-M`).
    pub fn item_id(i: usize) -> String {
        format!("SKU-{:06}-{:02}-{}", i / 50, i % 10, SIZES[(i / 10) % 5])
    }

    /// Item `i` as `hermes-counters` leaves it: the event's item fields
    /// (`item_id`, `item_name`, `item_category`, `price`), the catalogue's
    /// (`brand`, `cost`) for most, `counter`, `revenue` and `profit` per
    /// currency (DKK; a fifth also in EUR), `last_event_at`.
    pub fn document(&self, i: usize) -> Value {
        let m = mix(i);
        let (product, category) = PRODUCTS[(i / 50) % PRODUCTS.len()];
        let id = Self::item_id(i);
        let price = 99.0 + ((i / 50) % 40) as f64 * 50.0 + 0.95;
        let counter = 1 + (m % 400) as i64;
        let mut fields = Map::new();
        fields.insert("item_id".into(), json!({ "stringValue": id }));
        fields.insert(
            "item_name".into(),
            json!({ "stringValue": format!("{product}, {}, {}", COLOURS[i % 10], SIZES[(i / 10) % 5]) }),
        );
        fields.insert("item_category".into(), json!({ "stringValue": category }));
        fields.insert("price".into(), json!({ "doubleValue": price }));
        let with_cost = m % 10 < 7;
        if with_cost {
            fields.insert(
                "brand".into(),
                json!({ "stringValue": BRANDS[(i / 50) % BRANDS.len()] }),
            );
            fields.insert(
                "cost".into(),
                json!({ "doubleValue": (price * 0.45).round() }),
            );
        }
        fields.insert(
            "counter".into(),
            json!({ "integerValue": counter.to_string() }),
        );
        let mut revenue = Map::new();
        let mut profit = Map::new();
        let dkk = counter as f64 * price;
        revenue.insert("DKK".into(), json!({ "doubleValue": dkk }));
        if with_cost {
            profit.insert("DKK".into(), json!({ "doubleValue": dkk * 0.55 }));
        }
        if m.is_multiple_of(5) {
            let eur = (counter / 3).max(1) as f64 * (price / 7.46).round();
            revenue.insert("EUR".into(), json!({ "doubleValue": eur }));
            if with_cost {
                profit.insert("EUR".into(), json!({ "doubleValue": eur * 0.55 }));
            }
        }
        fields.insert(
            "revenue".into(),
            json!({ "mapValue": { "fields": revenue } }),
        );
        fields.insert("profit".into(), json!({ "mapValue": { "fields": profit } }));
        let at = self.epoch + Duration::from_millis(i as u64) + Duration::from_micros(m as u64);
        let stamp = hermes_core::time::format_timestamp(at);
        fields.insert("last_event_at".into(), json!({ "timestampValue": stamp }));
        json!({
            "name": format!("{}/documents/items/{id}", self.database),
            "fields": fields,
            "createTime": hermes_core::time::format_timestamp(self.epoch),
            "updateTime": stamp,
        })
    }

    fn read_time() -> Value {
        json!({ "readTime": hermes_core::time::format_timestamp(SystemTime::now()) })
    }

    /// `GET …/documents/items?pageSize=N&pageToken=T`: the token is the next index.
    fn list(&self, query: &str) -> Value {
        let mut size = 300usize;
        let mut from = 0usize;
        for (k, v) in query.split('&').filter_map(|kv| kv.split_once('=')) {
            match k {
                "pageSize" => size = v.parse().unwrap_or(300).clamp(1, 1000),
                "pageToken" => from = v.parse().unwrap_or(0),
                _ => {}
            }
        }
        let to = (from + size).min(self.items);
        let docs: Vec<Value> = (from.min(to)..to).map(|i| self.document(i)).collect();
        self.served
            .documents
            .fetch_add(docs.len() as u64, Ordering::Relaxed);
        let mut page = json!({ "documents": docs });
        if to < self.items {
            page["nextPageToken"] = json!(to.to_string());
        } else {
            self.served.full_listings.fetch_add(1, Ordering::Relaxed);
        }
        page
    }

    /// `batchGet`: the items asked for, by name; anything else missing.
    fn batch_get(&self, body: &Value) -> Value {
        let prefix = format!("{}/documents/items/", self.database);
        let answers: Vec<Value> = body["documents"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(|name| {
                let found = name
                    .strip_prefix(&prefix)
                    .and_then(|id| (0..self.items).find(|&i| Self::item_id(i) == id));
                match found {
                    Some(i) => json!({ "found": self.document(i) }),
                    None => json!({ "missing": name }),
                }
            })
            .collect();
        Value::Array(answers)
    }
}

async fn answer(State(s): State<Arc<StandIn>>, method: Method, uri: Uri, body: Bytes) -> Response {
    let path = uri.path();
    let reply = if method == Method::GET && path.ends_with("/documents/items") {
        s.list(uri.query().unwrap_or(""))
    } else if method == Method::POST && path.ends_with(":runQuery") {
        // Shards (none), changed items (none: nothing changes), any shard (none).
        s.served.queries.fetch_add(1, Ordering::Relaxed);
        json!([StandIn::read_time()])
    } else if method == Method::POST && path.ends_with(":batchGet") {
        let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        s.batch_get(&body)
    } else {
        let error = json!({ "error": { "code": 404, "message": format!("{method} {path}: not served by the stand-in"), "status": "NOT_FOUND" } });
        return (StatusCode::NOT_FOUND, axum::Json(error)).into_response();
    };
    axum::Json(reply).into_response()
}

/// Serves `standin` on a free loopback port.
pub async fn start(standin: Arc<StandIn>) -> Result<SocketAddr, String> {
    let app = axum::Router::new().fallback(answer).with_state(standin);
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(addr)
}
