//! The storage seams of the push jobs and the dashboard, each a trait with a Firestore REST backend
//! (`crate::firestore`) and, in `hermes dev`, an embedded SQLite one:
//! - [`CounterStore`], what the counters function writes through: atomic,
//!   exactly-once commits, and catalog reads;
//! - [`ItemsReader`], what the dashboard reads: every item's totals, or only
//!   the items changed since a time;
//! - [`DocumentReader`], what the enrich function's lookups read: documents
//!   of any collection by id;
//!
//! The contract every backend keeps: [`CounterStore::apply`] is atomic and
//! happens at most once per `marker_id` — the marker document and every item
//! update are committed together or not at all, and a second commit with the
//! same marker changes nothing and reports [`Applied::Duplicate`]. A refused
//! commit is a duplicate only when the refusal proves the marker exists.

pub mod cache;
mod document_id;
mod documents;
mod markers;
mod money;

pub use cache::DocumentCache;
pub use document_id::{DocumentId, InvalidDocumentId};
pub use documents::{CollectionId, Document, DocumentKey, DocumentReader};
pub use markers::{MarkerStore, NOTIFIED_COLLECTION};
pub use money::{Amounts, Currency, InvalidCurrency, Money, NO_CURRENCY};

use crate::destination::ATTR_EVENT_ID;
use crate::future::BoxFuture;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::time::SystemTime;

/// Collection of the exactly-once markers (with `expireAt` for a TTL policy).
pub const PROCESSED_COLLECTION: &str = "hermes_processed";
/// Collection of the per-item counters (the seed's `items/{item_id}.counter`).
pub const ITEMS_COLLECTION: &str = "items";
/// Sub-collection of an item's shards: `items/{id}/shards/{k}`.
pub const SHARDS_COLLECTION: &str = "shards";
/// Collection of the product catalog used for enrichment.
pub const CATALOG_COLLECTION: &str = "catalog";

/// Fields Hermes writes itself; descriptive fields never overwrite them.
pub const RESERVED_FIELDS: &[&str] = &["counter", "revenue", "profit", "last_event_at"];

/// One item's change within a commit. Increments are added to what is stored.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemUpdate {
    pub item_id: DocumentId,
    /// Descriptive fields set as given (item_name, item_category, price, cost, …).
    pub fields: Map<String, Value>,
    /// `counter += quantity` (negative for a refund).
    pub counter: i64,
    /// `revenue.<CUR>` and `profit.<CUR>` increments, per currency of the sale.
    pub money: BTreeMap<Currency, Money>,
}

/// Which event a message carries (README, "The counters function").
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum EventIdentity {
    /// The message's `hermes_event_id` attribute: the same on every publish of the event.
    EventId(String),
    /// The Pub/Sub message id, for a message published without `hermes_event_id`.
    MessageId(String),
}

impl EventIdentity {
    /// The identity itself.
    pub fn as_str(&self) -> &str {
        match self {
            Self::EventId(id) | Self::MessageId(id) => id,
        }
    }

    /// Where the identity came from: the attribute's name, or `messageId`.
    pub fn source(&self) -> &'static str {
        match self {
            Self::EventId(_) => ATTR_EVENT_ID,
            Self::MessageId(_) => "messageId",
        }
    }
}

/// What a marker stands for, kept readable beside it: its id is a hash of
/// this, so the marker itself tells whoever looks which event it is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MarkerOrigin {
    /// The push subscription, `projects/{p}/subscriptions/{s}`: each consumer counts once.
    pub subscription: String,
    pub event: EventIdentity,
    /// The part of a message split at [`CounterCommit`]'s size limit; 0 when not split.
    pub part: u64,
}

/// One atomic, exactly-once commit.
#[derive(Debug, Clone, PartialEq)]
pub struct CounterCommit {
    /// `hermes_processed/{marker_id}`, derived from [`Self::marker`] by the counters function.
    pub marker_id: DocumentId,
    /// Written into the marker document, for debugging.
    pub marker: MarkerOrigin,
    /// With sharding, every write goes to `items/{id}/shards/{shard}`; `None`: to `items/{id}`.
    pub shard: Option<u32>,
    pub items: Vec<ItemUpdate>,
    /// When the marker may be deleted by a TTL policy.
    pub expire_at: SystemTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    Applied,
    /// The marker already existed: nothing was changed.
    Duplicate,
}

/// A backend's own error, source kept.
pub type BackendError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Worth retrying later (429, 5xx, ABORTED, timeouts): Pub/Sub should redeliver.
    #[error("transient storage error")]
    Transient(#[source] BackendError),
    /// Retrying the same request will not help (permissions, bad request).
    #[error("storage error")]
    Permanent(#[source] BackendError),
    /// The commit can never be applied, whatever the store's health: a counter
    /// it would take beyond i64. The message is poison.
    #[error("the store refused the commit")]
    Refused(#[source] BackendError),
}

impl StoreError {
    pub fn transient(e: impl Into<BackendError>) -> Self {
        Self::Transient(e.into())
    }

    pub fn permanent(e: impl Into<BackendError>) -> Self {
        Self::Permanent(e.into())
    }

    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Transient(_))
    }
}

/// Catalog documents by item id.
pub type CatalogEntries = HashMap<DocumentId, Map<String, Value>>;

/// An item's totals as readers see them: shards summed, descriptive fields from
/// the most recently updated shard.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ItemTotals {
    pub item_id: String,
    pub fields: Map<String, Value>,
    pub counter: i64,
    /// By currency code; a currency appears once something was sold in it.
    pub revenue: Amounts,
    /// By currency code; only currencies with a known cost.
    pub profit: Amounts,
    /// RFC 3339, UTC.
    pub last_event_at: Option<String>,
}

/// What the counters function writes through.
pub trait CounterStore: Send + Sync + 'static {
    /// Applies one commit atomically, at most once per marker.
    fn apply<'a>(&'a self, commit: &'a CounterCommit)
        -> BoxFuture<'a, Result<Applied, StoreError>>;

    /// Catalog documents (`catalog/{item_id}`) for these ids; unknown ids are absent.
    fn catalog<'a>(
        &'a self,
        item_ids: &'a [DocumentId],
    ) -> BoxFuture<'a, Result<CatalogEntries, StoreError>>;
}

/// What the dashboard reads: it never writes, so it depends on no more than this.
///
/// Three reads, from the dearest to the cheapest (Firestore bills every
/// document read):
/// - [`Self::items`]: every item's totals, shards summed, in one vector;
/// - [`Self::scan_parts`]: the same documents, handed over one at a time and
///   not summed, so that a reader of 200,000 items never holds them twice;
/// - [`Self::items_changed_since`]: only the items whose documents changed
///   since a time, each with its complete totals.
pub trait ItemsReader: Send + Sync + 'static {
    /// Every item's totals, shards summed.
    fn items(&self) -> BoxFuture<'_, Result<Vec<ItemTotals>, StoreError>>;

    /// Every stored part of every item — an item's own document and each of
    /// its shards, in no particular order — handed to `each` as read. An
    /// item's totals are [`merge_shards`] of its parts. The default sums first
    /// ([`Self::items`]) and hands over one part per item.
    fn scan_parts<'a>(
        &'a self,
        each: &'a mut (dyn FnMut(ItemTotals) + Send),
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            for item in self.items().await? {
                each(item);
            }
            Ok(())
        })
    }

    /// At least every item one of whose documents has a `last_event_at` after
    /// `since` (the store's own commit time), each with its complete totals
    /// (all its shards summed, not only the changed one); `None` when more
    /// than `at_most` items changed (read no further: a full read is cheaper
    /// then, and holds no more than a page). It may answer more (the default
    /// answers every item, [`Self::items`]); what it costs should grow with
    /// the items changed, not with all items. A commit stamped before `since`
    /// that became visible only after it is not seen: the caller reads with an
    /// overlap, and a full read now and then heals the rest.
    fn items_changed_since(
        &self,
        since: SystemTime,
        at_most: usize,
    ) -> BoxFuture<'_, Result<Option<Vec<ItemTotals>>, StoreError>> {
        let _ = since;
        Box::pin(async move {
            let items = self.items().await?;
            Ok((items.len() <= at_most).then_some(items))
        })
    }
}

/// Merges shard documents of one item into its totals (shared by the backends).
pub fn merge_shards(item_id: &str, shards: impl IntoIterator<Item = ItemTotals>) -> ItemTotals {
    let mut total = ItemTotals {
        item_id: item_id.to_string(),
        ..ItemTotals::default()
    };
    for shard in shards {
        total.counter = total.counter.saturating_add(shard.counter);
        add_amounts(&mut total.revenue, &shard.revenue);
        add_amounts(&mut total.profit, &shard.profit);
        // RFC 3339 UTC strings of one format order as their instants.
        let newer = match (&shard.last_event_at, &total.last_event_at) {
            (Some(s), Some(t)) => s > t,
            (Some(_), None) => true,
            _ => total.fields.is_empty(),
        };
        if newer {
            total.fields = shard.fields;
            total.last_event_at = shard.last_event_at;
        }
    }
    total
}

/// `into[c] += from[c]` for every currency `c`: sums stay per currency.
pub fn add_amounts(into: &mut Amounts, from: &Amounts) {
    for (currency, amount) in from {
        *into.entry(currency.clone()).or_insert(0.0) += amount;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_sum_and_take_the_newest_fields() {
        let shard = |c, t: &str, name: &str| ItemTotals {
            item_id: "a".into(),
            fields: [("item_name".to_string(), Value::from(name))]
                .into_iter()
                .collect(),
            counter: c,
            revenue: [("DKK".to_string(), c as f64 * 2.0), (format!("E{c}R"), 1.0)].into(),
            profit: [("DKK".to_string(), 1.0)].into(),
            last_event_at: Some(t.into()),
        };
        let total = merge_shards(
            "a",
            [
                shard(1, "2026-01-01T00:00:02Z", "new"),
                shard(2, "2026-01-01T00:00:01Z", "old"),
            ],
        );
        assert_eq!(total.counter, 3);
        let revenue: Amounts = [
            ("DKK".to_string(), 6.0),
            ("E1R".to_string(), 1.0),
            ("E2R".to_string(), 1.0),
        ]
        .into();
        assert_eq!(total.revenue, revenue);
        assert_eq!(total.profit, [("DKK".to_string(), 2.0)].into());
        assert_eq!(total.fields["item_name"], "new");
    }
}
