//! What the poller holds: every item's totals, compactly, kept current from
//! what the store reads (a full read now and then, the changed items between),
//! and the bounded document built from them.
//!
//! This map is the only memory a dashboard holds per item. An item costs a
//! fixed [`FIXED_BYTES_PER_ITEM`] (its 56-byte slot in the map, amortised over
//! the map's spare room) plus one allocation holding its id, its name and
//! category (each cut to [`TEXT_CHARS`] characters) and its other descriptive
//! fields as JSON (only when at most [`EXTRA_BYTES`] bytes), and 24 bytes per
//! currency: about 280 bytes of resident memory for a typical item once the
//! allocator's overhead is counted (a release dashboard holding 200,000 items
//! peaked at 62.8 MiB, 9.4 MiB with none: docs/PERFORMANCE.md). At most
//! `[dashboard] max_items` items are held; past it, the rest are left out of
//! the page and its totals, with a warning naming the setting. A read adds no
//! more than a page of documents, or at most `CHANGED_AT_MOST` changed items.

use crate::view::{amount_json, ITEM_KEYS};
use hashbrown::HashTable;
use hermes_core::store::ItemTotals;
use hermes_core::time::{format_timestamp, parse_timestamp};
use serde_json::{json, Map, Value};
use std::collections::hash_map::RandomState;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::hash::BuildHasher;
use std::time::{Duration, UNIX_EPOCH};

/// `item_name` and `item_category` are cut to this many characters (the last
/// one `…`), in memory and in every answer.
pub const TEXT_CHARS: usize = 200;
/// An item's other descriptive fields (brand, price, …) as JSON; larger ones
/// are left out of the answer.
pub const EXTRA_BYTES: usize = 256;
/// The largest answer or stream event, in bytes: items past it are left out
/// (the document then holds fewer than asked; `totals` still counts them all).
pub const MAX_DOCUMENT_BYTES: usize = 1_000_000;
/// The map's slot per item (an [`Item`] and its control byte), with
/// hashbrown's spare room: what an item costs beyond its own text and money.
pub const FIXED_BYTES_PER_ITEM: usize = 75;

/// A currency's index in [`Held::currencies`].
type Cur = u32;

#[derive(Debug, Clone, Copy, PartialEq)]
struct Amount {
    revenue: f64,
    profit: f64,
    currency: Cur,
    has_revenue: bool,
    has_profit: bool,
}

/// `last_event_at` of an item never stamped.
const NEVER: i64 = i64::MIN;
/// The length of a name or category the item does not have (a text is cut
/// to 200 characters, at most 800 bytes: never this long).
const ABSENT: u16 = u16::MAX;

/// A full read's number. Only "this read or not" is ever asked of it: an item
/// a read does not see is dropped when that read ends, so two bytes, wrapping,
/// are enough (and keep an item at 56 bytes in the map).
type Epoch = u16;

/// One item, compactly: its text is its id, `name`, `category`, then its
/// other fields as JSON object members (without braces), in one allocation;
/// the map is keyed by the id inside it (no second allocation per item).
#[derive(Debug, Clone, PartialEq)]
struct Item {
    counter: i64,
    /// Microseconds since the epoch; [`NEVER`]: never stamped.
    last_event_at: i64,
    text: Box<str>,
    money: Box<[Amount]>,
    /// The full read this item was last set by (see [`Held::begin_scan`]).
    epoch: Epoch,
    /// Document ids are at most 1,500 bytes, names and categories 200
    /// characters; [`ABSENT`]: no name (no category).
    id_len: u16,
    name_len: u16,
    category_len: u16,
}

impl Item {
    fn id(&self) -> &str {
        self.text.get(..usize::from(self.id_len)).unwrap_or("")
    }
    fn len_of(len: u16) -> usize {
        if len == ABSENT {
            0
        } else {
            usize::from(len)
        }
    }
    fn name(&self) -> Option<&str> {
        let from = usize::from(self.id_len);
        (self.name_len != ABSENT)
            .then(|| self.text.get(from..from + Self::len_of(self.name_len)))
            .flatten()
    }
    fn category(&self) -> Option<&str> {
        let from = usize::from(self.id_len) + Self::len_of(self.name_len);
        (self.category_len != ABSENT)
            .then(|| self.text.get(from..from + Self::len_of(self.category_len)))
            .flatten()
    }
    fn extra(&self) -> &str {
        let from = usize::from(self.id_len)
            + Self::len_of(self.name_len)
            + Self::len_of(self.category_len);
        self.text.get(from..).unwrap_or("")
    }
    fn stamped(&self) -> Option<i64> {
        (self.last_event_at != NEVER).then_some(self.last_event_at)
    }
    fn has_fields(&self) -> bool {
        self.text.len() > usize::from(self.id_len)
            || self.name_len != ABSENT
            || self.category_len != ABSENT
    }
    /// The same totals and fields, whatever read set them.
    fn same_as(&self, other: &Item) -> bool {
        self.counter == other.counter
            && self.last_event_at == other.last_event_at
            && self.text == other.text
            && self.money == other.money
            && self.name_len == other.name_len
            && self.category_len == other.category_len
    }
}

/// `item_name` / `item_category` as the page shows it: a string (a number is
/// shown as written), cut to [`TEXT_CHARS`] characters.
fn text_of(v: Option<&Value>) -> Option<String> {
    let s = match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => return None,
    };
    Some(cut(&s, TEXT_CHARS))
}

/// `s` cut to `chars` characters, the last one `…` when it was cut.
pub fn cut(s: &str, chars: usize) -> String {
    match s.char_indices().nth(chars) {
        None => s.to_string(),
        Some(_) => {
            let end = s
                .char_indices()
                .nth(chars.saturating_sub(1))
                .map_or(s.len(), |(i, _)| i);
            format!("{}…", &s[..end])
        }
    }
}

fn micros(t: &str) -> Option<i64> {
    let at = parse_timestamp(t)?;
    Some(match at.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_micros()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_micros()).unwrap_or(i64::MAX),
    })
}

fn timestamp(micros: i64) -> String {
    let d = Duration::from_micros(micros.unsigned_abs());
    let at = if micros >= 0 {
        UNIX_EPOCH + d
    } else {
        UNIX_EPOCH - d
    };
    format_timestamp(at)
}

/// Every item's totals by id, and the currencies they use.
pub struct Held {
    /// Keyed by [`Item::id`], hashed with `hasher`.
    items: HashTable<Item>,
    hasher: RandomState,
    /// Currency codes, by index (few: a shop sells in a handful).
    currencies: Vec<Box<str>>,
    currency_index: HashMap<Box<str>, Cur>,
    /// The current full read.
    epoch: Epoch,
    max_items: usize,
    /// Items the last read could not hold (past `max_items`).
    pub left_out: usize,
}

/// The result of one read into the map.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReadStats {
    /// Item parts (documents) the store handed over.
    pub parts: usize,
    /// Whether what the page shows may have changed.
    pub changed: bool,
}

impl Held {
    pub fn new(max_items: usize) -> Self {
        Self {
            items: HashTable::new(),
            hasher: RandomState::new(),
            currencies: Vec::new(),
            currency_index: HashMap::new(),
            epoch: 0,
            max_items,
            left_out: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    fn hash(&self, id: &str) -> u64 {
        self.hasher.hash_one(id)
    }

    fn get_mut(&mut self, id: &str) -> Option<&mut Item> {
        let hash = self.hash(id);
        self.items.find_mut(hash, |item| item.id() == id)
    }

    fn insert(&mut self, item: Item) {
        let hash = self.hash(item.id());
        let hasher = &self.hasher;
        self.items
            .insert_unique(hash, item, |i| hasher.hash_one(i.id()));
    }

    fn currency(&mut self, code: &str) -> Cur {
        if let Some(&i) = self.currency_index.get(code) {
            return i;
        }
        let i = self.currencies.len() as Cur;
        self.currencies.push(code.into());
        self.currency_index.insert(code.into(), i);
        i
    }

    fn item_of(&mut self, t: &ItemTotals, epoch: Epoch) -> Item {
        let name = text_of(t.fields.get("item_name"));
        let category = text_of(t.fields.get("item_category"));
        let mut extra = String::new();
        for (k, v) in &t.fields {
            if k == "item_name" || k == "item_category" || ITEM_KEYS.contains(&k.as_str()) {
                continue;
            }
            if !extra.is_empty() {
                extra.push(',');
            }
            extra.push_str(&Value::String(k.clone()).to_string());
            extra.push(':');
            extra.push_str(&v.to_string());
            if extra.len() > EXTRA_BYTES {
                break;
            }
        }
        if extra.len() > EXTRA_BYTES {
            extra.clear();
        }
        // The id is a Firestore document id (at most 1,500 bytes); cut past u16 all the same.
        let id = if t.item_id.len() > usize::from(u16::MAX) {
            cut(&t.item_id, 1500)
        } else {
            t.item_id.clone()
        };
        let mut text = String::with_capacity(
            id.len()
                + name.as_ref().map_or(0, String::len)
                + category.as_ref().map_or(0, String::len)
                + extra.len(),
        );
        text.push_str(&id);
        text.push_str(name.as_deref().unwrap_or(""));
        text.push_str(category.as_deref().unwrap_or(""));
        text.push_str(&extra);
        let mut money: Vec<Amount> = Vec::new();
        for (code, amount) in &t.revenue {
            let currency = self.currency(code);
            money.push(Amount {
                revenue: *amount,
                profit: 0.0,
                currency,
                has_revenue: true,
                has_profit: false,
            });
        }
        for (code, amount) in &t.profit {
            let currency = self.currency(code);
            match money.iter_mut().find(|a| a.currency == currency) {
                Some(a) => {
                    a.profit = *amount;
                    a.has_profit = true;
                }
                None => money.push(Amount {
                    revenue: 0.0,
                    profit: *amount,
                    currency,
                    has_revenue: false,
                    has_profit: true,
                }),
            }
        }
        Item {
            counter: t.counter,
            last_event_at: t.last_event_at.as_deref().and_then(micros).unwrap_or(NEVER),
            id_len: id.len() as u16,
            name_len: name.as_ref().map_or(ABSENT, |n| n.len() as u16),
            category_len: category.as_ref().map_or(ABSENT, |c| c.len() as u16),
            text: text.into_boxed_str(),
            epoch,
            money: money.into_boxed_slice(),
        }
    }

    /// Starts a full read: every part it hands to [`Self::add_part`] is
    /// summed per item afresh; [`Self::end_scan`] drops the items it did not see.
    pub fn begin_scan(&mut self) {
        self.epoch = self.epoch.wrapping_add(1);
        self.left_out = 0;
    }

    /// One part (an item document or a shard) of a full read: the first part
    /// of an item in this read replaces what was held, later ones are added
    /// (as `merge_shards` does: sums, descriptive fields from the newest).
    pub fn add_part(&mut self, t: ItemTotals) {
        let epoch = self.epoch;
        let part = self.item_of(&t, epoch);
        let full = self.items.len() >= self.max_items;
        match self.get_mut(part.id()) {
            Some(held) if held.epoch == epoch => {
                held.counter = held.counter.saturating_add(part.counter);
                let mut money = held.money.to_vec();
                for a in part.money.iter() {
                    match money.iter_mut().find(|m| m.currency == a.currency) {
                        Some(m) => {
                            m.revenue += a.revenue;
                            m.profit += a.profit;
                            m.has_revenue |= a.has_revenue;
                            m.has_profit |= a.has_profit;
                        }
                        None => money.push(*a),
                    }
                }
                held.money = money.into_boxed_slice();
                let newer = match (part.stamped(), held.stamped()) {
                    (Some(s), Some(t)) => s > t,
                    (Some(_), None) => true,
                    _ => !held.has_fields(),
                };
                if newer {
                    held.text = part.text;
                    held.id_len = part.id_len;
                    held.name_len = part.name_len;
                    held.category_len = part.category_len;
                    held.last_event_at = part.last_event_at;
                }
            }
            // Unchanged since the last read: kept, so that a full read of
            // items that did not change allocates nothing that lasts.
            Some(held) if held.same_as(&part) => held.epoch = epoch,
            Some(held) => *held = part,
            None if full => self.left_out += 1,
            None => self.insert(part),
        }
    }

    /// Ends a full read that went through: items it did not find are gone.
    pub fn end_scan(&mut self) {
        let epoch = self.epoch;
        self.items.retain(|item| item.epoch == epoch);
        // Shrinking copies the table (a second one at once, the peak):
        // only when most of it is empty.
        if self.items.capacity() > 4 * self.items.len().max(1024) {
            let hasher = &self.hasher;
            self.items.shrink_to_fit(|i| hasher.hash_one(i.id()));
        }
    }

    /// The changed items' complete totals, each replacing what was held.
    pub fn apply_changed(&mut self, items: Vec<ItemTotals>) -> bool {
        let epoch = self.epoch;
        let mut changed = false;
        for t in items {
            let item = self.item_of(&t, epoch);
            let full = self.items.len() >= self.max_items;
            match self.get_mut(item.id()) {
                Some(held) => {
                    if !held.same_as(&item) {
                        *held = item;
                        changed = true;
                    }
                }
                None if full => self.left_out += 1,
                None => {
                    self.insert(item);
                    changed = true;
                }
            }
        }
        changed
    }

    fn money_json(&self, amounts: impl Iterator<Item = (Cur, f64)>) -> Value {
        let sorted: BTreeMap<&str, f64> = amounts
            .map(|(c, a)| (&*self.currencies[c as usize], a))
            .collect();
        Value::Object(
            sorted
                .into_iter()
                .map(|(c, a)| (c.to_string(), amount_json(a)))
                .collect(),
        )
    }

    fn item_json(&self, id: &str, item: &Item) -> String {
        let mut out = Map::new();
        out.insert("item_id".into(), Value::String(id.to_string()));
        out.insert(
            "item_name".into(),
            item.name().map_or(Value::Null, |n| Value::String(n.into())),
        );
        out.insert(
            "item_category".into(),
            item.category()
                .map_or(Value::Null, |c| Value::String(c.into())),
        );
        out.insert("counter".into(), json!(item.counter));
        out.insert(
            "revenue".into(),
            self.money_json(
                item.money
                    .iter()
                    .filter(|a| a.has_revenue)
                    .map(|a| (a.currency, a.revenue)),
            ),
        );
        out.insert(
            "profit".into(),
            self.money_json(
                item.money
                    .iter()
                    .filter(|a| a.has_profit)
                    .map(|a| (a.currency, a.profit)),
            ),
        );
        out.insert(
            "last_event_at".into(),
            item.stamped()
                .map_or(Value::Null, |t| Value::String(timestamp(t))),
        );
        let mut text = Value::Object(out).to_string();
        let extra = item.extra();
        if !extra.is_empty() {
            text.pop();
            text.push(',');
            text.push_str(extra);
            text.push('}');
        }
        text
    }

    /// `{ "items": [the top `limit` by counter, ties by id], "totals": {…
    /// over every item held} }` as JSON text, never over [`MAX_DOCUMENT_BYTES`].
    pub fn document(&self, limit: usize) -> String {
        let mut counter = 0i64;
        let mut revenue: BTreeMap<Cur, f64> = BTreeMap::new();
        let mut profit: BTreeMap<Cur, f64> = BTreeMap::new();
        // The `limit` best so far, the worst on top.
        let mut top: BinaryHeap<Rank<'_>> = BinaryHeap::with_capacity(limit + 1);
        for item in &self.items {
            let id = item.id();
            counter = counter.saturating_add(item.counter);
            for a in item.money.iter() {
                if a.has_revenue {
                    *revenue.entry(a.currency).or_insert(0.0) += a.revenue;
                }
                if a.has_profit {
                    *profit.entry(a.currency).or_insert(0.0) += a.profit;
                }
            }
            let rank = Rank {
                counter: item.counter,
                id,
                item,
            };
            if top.len() < limit {
                top.push(rank);
            } else if top.peek().is_some_and(|worst| rank < *worst) {
                top.pop();
                top.push(rank);
            }
        }
        let totals = json!({
            "items": self.items.len(),
            "counter": counter,
            "revenue": self.money_json(revenue.into_iter()),
            "profit": self.money_json(profit.into_iter()),
        })
        .to_string();
        let head = "{\"items\":[";
        let tail = format!("],\"totals\":{totals}}}");
        let mut out = String::from(head);
        let budget = MAX_DOCUMENT_BYTES.saturating_sub(tail.len());
        for (n, rank) in top.into_sorted_vec().into_iter().enumerate() {
            let text = self.item_json(rank.id, rank.item);
            if out.len() + text.len() + 1 > budget {
                break;
            }
            if n > 0 {
                out.push(',');
            }
            out.push_str(&text);
        }
        out.push_str(&tail);
        out
    }

    /// The bytes the map holds (its slots and every item's own allocations):
    /// what `max_items` bounds.
    pub fn heap_bytes(&self) -> usize {
        let slot = std::mem::size_of::<Item>() + 1;
        let slots = self.items.capacity() * slot;
        let own: usize = self
            .items
            .iter()
            .map(|item| item.text.len() + item.money.len() * std::mem::size_of::<Amount>())
            .sum();
        slots + own
    }
}

/// An item's place: a higher counter first, then the lower id; "less" is better.
struct Rank<'a> {
    counter: i64,
    id: &'a str,
    item: &'a Item,
}

impl PartialEq for Rank<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.counter == other.counter && self.id == other.id
    }
}
impl Eq for Rank<'_> {}
impl PartialOrd for Rank<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Rank<'_> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        other
            .counter
            .cmp(&self.counter)
            .then_with(|| self.id.cmp(other.id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hermes_core::store::merge_shards;

    fn totals(id: &str, counter: i64, name: &str, at: &str) -> ItemTotals {
        ItemTotals {
            item_id: id.into(),
            fields: json!({"item_name": name, "item_category": "Tops", "price": 15})
                .as_object()
                .cloned()
                .unwrap(),
            counter,
            revenue: [("DKK".to_string(), counter as f64 * 15.0)].into(),
            profit: [("DKK".to_string(), counter as f64 * 5.0)].into(),
            last_event_at: Some(at.into()),
        }
    }

    fn doc(held: &Held, limit: usize) -> Value {
        serde_json::from_str(&held.document(limit)).unwrap()
    }

    #[test]
    fn top_n_by_counter_ties_by_id_and_totals_over_all() {
        let mut held = Held::new(1000);
        held.begin_scan();
        for (id, c) in [("c", 5), ("a", 5), ("b", 9), ("d", 1), ("e", 2)] {
            held.add_part(totals(id, c, id, "2026-01-01T00:00:00Z"));
        }
        held.end_scan();
        let d = doc(&held, 3);
        let ids: Vec<_> = d["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["item_id"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(ids, ["b", "a", "c"]);
        assert_eq!(d["totals"]["items"], 5);
        assert_eq!(d["totals"]["counter"], 22);
        assert_eq!(d["totals"]["revenue"], json!({"DKK": 330.0}));
        let keys: Vec<_> = d["items"][0].as_object().unwrap().keys().cloned().collect();
        assert_eq!(&keys[..7], &ITEM_KEYS);
        assert_eq!(d["items"][0]["price"], 15);
        assert_eq!(
            d["items"][0]["last_event_at"],
            "2026-01-01T00:00:00.000000Z"
        );
    }

    /// Parts summed like `merge_shards`, and the document is the view's own
    /// for the same items.
    #[test]
    fn parts_sum_like_merge_shards() {
        let parts = [
            totals("a", 2, "old", "2026-01-01T00:00:01.000000Z"),
            totals("a", 3, "new", "2026-01-01T00:00:02.000000Z"),
            totals("a", 4, "mid", "2026-01-01T00:00:01.500000Z"),
        ];
        let mut held = Held::new(10);
        held.begin_scan();
        for p in parts.clone() {
            held.add_part(p);
        }
        held.end_scan();
        let merged = merge_shards("a", parts);
        let expected = crate::view::items_document(vec![merged]);
        assert_eq!(doc(&held, 100), expected);
    }

    #[test]
    fn a_full_read_drops_what_it_did_not_see_and_changes_replace() {
        let mut held = Held::new(10);
        held.begin_scan();
        held.add_part(totals("a", 1, "A", "2026-01-01T00:00:00Z"));
        held.add_part(totals("b", 1, "B", "2026-01-01T00:00:00Z"));
        held.end_scan();
        assert!(held.apply_changed(vec![totals("a", 7, "A", "2026-01-01T00:00:09Z")]));
        assert!(!held.apply_changed(vec![totals("a", 7, "A", "2026-01-01T00:00:09Z")]));
        assert_eq!(doc(&held, 1)["items"][0]["counter"], 7);
        held.begin_scan();
        held.add_part(totals("b", 2, "B", "2026-01-01T00:00:00Z"));
        held.end_scan();
        let d = doc(&held, 10);
        assert_eq!(d["totals"]["items"], 1);
        assert_eq!(d["items"][0]["item_id"], "b");
        assert_eq!(d["items"][0]["counter"], 2);
    }

    #[test]
    fn long_names_are_cut_and_the_document_stays_under_its_bound() {
        let long = "é".repeat(5000);
        let mut held = Held::new(100_000);
        held.begin_scan();
        for i in 0..3000 {
            let mut t = totals(&format!("{i:0>1400}"), i, &long, "2026-01-01T00:00:00Z");
            t.fields
                .insert("item_category".into(), Value::String(long.clone()));
            t.fields.insert("notes".into(), Value::String(long.clone()));
            held.add_part(t);
        }
        held.end_scan();
        let text = held.document(1000);
        assert!(text.len() <= MAX_DOCUMENT_BYTES, "{}", text.len());
        let d: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(d["totals"]["items"], 3000);
        let n = d["items"].as_array().unwrap().len();
        assert!(n > 100 && n < 1000, "{n} items fit");
        let name = d["items"][0]["item_name"].as_str().unwrap();
        assert_eq!(name.chars().count(), TEXT_CHARS);
        assert!(name.ends_with('…'));
        assert!(d["items"][0].get("notes").is_none(), "over EXTRA_BYTES");
    }

    #[test]
    fn max_items_bounds_what_is_held() {
        let mut held = Held::new(2);
        held.begin_scan();
        for id in ["a", "b", "c"] {
            held.add_part(totals(id, 1, id, "2026-01-01T00:00:00Z"));
        }
        held.end_scan();
        assert_eq!(held.len(), 2);
        assert_eq!(held.left_out, 1);
    }

    /// The bytes a typical item costs in the map: the figure the README's
    /// memory bound is computed from.
    #[test]
    fn bytes_per_item_of_a_typical_item() {
        let n = 20_000;
        let mut held = Held::new(n);
        held.begin_scan();
        for i in 0..n {
            held.add_part(totals(
                &format!("SKU-{i:06}"),
                i as i64,
                "Classic Blazer, navy",
                "2026-01-01T00:00:00Z",
            ));
        }
        held.end_scan();
        let per_item = held.heap_bytes() / n;
        eprintln!("bytes per item: {per_item}");
        assert!(per_item < 250, "{per_item} bytes per item");
    }

    /// An item is 56 bytes in the map (what the README's memory bound counts).
    #[test]
    fn an_item_is_56_bytes() {
        assert_eq!(std::mem::size_of::<Item>(), 56);
    }

    /// A full read of items that did not change keeps what is held (its
    /// allocations too): two copies of every item never live at once.
    #[test]
    fn a_full_read_keeps_unchanged_items_as_they_are() {
        let mut held = Held::new(100);
        let read = |held: &mut Held, counter: i64| {
            held.begin_scan();
            held.add_part(totals("a", counter, "Alpha", "2026-01-01T00:00:00Z"));
            held.add_part(totals("b", 2, "Beta", "2026-01-01T00:00:00Z"));
            held.end_scan();
        };
        let text_of = |held: &mut Held, id: &str| held.get_mut(id).map(|i| i.text.as_ptr());
        read(&mut held, 1);
        let (a, b) = (text_of(&mut held, "a"), text_of(&mut held, "b"));
        read(&mut held, 1);
        assert_eq!(text_of(&mut held, "a"), a, "unchanged: kept");
        assert_eq!(text_of(&mut held, "b"), b, "unchanged: kept");
        read(&mut held, 5);
        assert_eq!(doc(&held, 10)["totals"]["counter"], 7, "a change is taken");
        assert_eq!(text_of(&mut held, "b"), b);
        assert_eq!(held.len(), 2);
    }
}
