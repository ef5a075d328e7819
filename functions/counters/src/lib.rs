//! `hermes-counters`: the Pub/Sub push target. Each pushed message's items
//! become counters (`counter`, `revenue`, `profit`) in the store, exactly once
//! per event and subscription (markers: [`hermes_push::marker_id`]), enriched from the product catalog.

pub mod catalog;
pub mod items;
pub mod preview;
pub mod settings;

use axum::Router;
use catalog::CatalogCache;
use hermes_core::config::{Config, ConfigError, Section};
use hermes_core::destination::ATTR_EVENT_NAME;
use hermes_core::future::BoxFuture;
use hermes_core::store::{Applied, CounterCommit, CounterStore, DocumentId, StoreError};
pub use hermes_gcp::StartupError;
use hermes_push::{
    Backfill, FailureClass, JobError, JobOutcome, OidcVerifier, PushJob, PushMessage,
};
use items::Poison;
use settings::Settings;
use std::sync::Arc;
use std::time::SystemTime;

/// Firestore allows 500 writes per commit; one is the marker.
pub const MAX_ITEMS_PER_COMMIT: usize = 499;

/// What became of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Counted: `items` distinct items in `parts` commits (some parts may have been duplicates).
    Applied { items: usize, parts: usize },
    /// Already counted: nothing changed.
    Duplicate,
    /// A preview message, not counted (`count_preview = false`).
    SkippedPreview,
    /// No items: nothing to count.
    Empty,
}

impl JobOutcome for Outcome {
    fn as_str(&self) -> &'static str {
        match self {
            Outcome::Applied { .. } => "applied",
            Outcome::Duplicate => "duplicate",
            Outcome::SkippedPreview => "skipped_preview",
            Outcome::Empty => "empty",
        }
    }
}

/// Why a message was not counted. The push-job kit answers the envelope and
/// the token before the job runs; its one status table maps [`FailureClass`].
#[derive(Debug, thiserror::Error)]
pub enum CountersError {
    #[error("poison message: {0}")]
    Poison(#[from] Poison),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl JobError for CountersError {
    fn class(&self) -> FailureClass {
        match self {
            Self::Poison(_) => FailureClass::Poison,
            // A counter past i64 is a refused commit: poison, like the message.
            Self::Store(e) => e.into(),
        }
    }
}

/// The counting logic over a store; shared by the HTTP handler and `hermes dev`'s delivery loop.
pub struct Counters {
    pub settings: Settings,
    store: Arc<dyn CounterStore>,
    catalog: CatalogCache,
    verifier: Option<OidcVerifier>,
}

impl Counters {
    pub fn new(settings: Settings, store: Arc<dyn CounterStore>) -> Self {
        let verifier = settings.push.verifier();
        Self {
            catalog: CatalogCache::new(settings.catalog_ttl),
            settings,
            store,
            verifier,
        }
    }

    /// `[counters]` of the shared configuration.
    pub fn settings_from(config: &Config) -> Result<Settings, ConfigError> {
        Settings::parse(config.section(Section::Counters))
    }

    pub fn store(&self) -> &Arc<dyn CounterStore> {
        &self.store
    }

    /// Counts one message, exactly once per event and subscription.
    pub async fn count(&self, message: &PushMessage) -> Result<Outcome, CountersError> {
        if message.is_preview() && !self.settings.count_preview {
            return Ok(Outcome::SkippedPreview);
        }
        let items = items::parse(&message.data)?;
        if items.is_empty() {
            return Ok(Outcome::Empty);
        }
        let ids: Vec<DocumentId> = items.iter().map(|i| i.item_id.clone()).collect();
        let catalog = self.catalog.get(self.store.as_ref(), &ids).await?;
        let refund = message
            .attributes
            .get(ATTR_EVENT_NAME)
            .is_some_and(|name| self.settings.refund_events.contains(name));
        let updates = items::aggregate(&items, &catalog, refund)?;
        let distinct = updates.len();
        let shard =
            (self.settings.shards > 1).then(|| shard_of(&message.message_id, self.settings.shards));
        let expire_at = SystemTime::now() + self.settings.marker_ttl;
        // `aggregate` keeps the order of first appearance, so a redelivery
        // splits into the same parts. Each part is moved into its commit.
        let parts = distinct.div_ceil(MAX_ITEMS_PER_COMMIT);
        let mut rest = updates;
        let mut applied = 0;
        for i in 0..parts {
            let tail = rest.split_off(rest.len().min(MAX_ITEMS_PER_COMMIT));
            let part = std::mem::replace(&mut rest, tail);
            // Each part has its own marker (the part number is always hashed,
            // 0 for an unsplit message), so each part counts exactly once even
            // if another part failed.
            let origin = hermes_push::origin(message, i as u64);
            let commit = CounterCommit {
                marker_id: hermes_push::marker_id(&origin),
                marker: origin,
                shard,
                items: part,
                expire_at,
            };
            if self.store.apply(&commit).await? == Applied::Applied {
                applied += 1;
            }
        }
        Ok(if applied == 0 {
            Outcome::Duplicate
        } else {
            Outcome::Applied {
                items: distinct,
                parts,
            }
        })
    }
}

/// The shard of a message: stable (FNV-1a of the id), so a redelivery hits the same shard.
pub fn shard_of(message_id: &str, shards: u32) -> u32 {
    let hash = message_id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    (hash % u64::from(shards.max(1))) as u32
}

impl PushJob for Counters {
    type Outcome = Outcome;
    type Error = CountersError;

    fn name(&self) -> &'static str {
        "counters"
    }

    fn verifier(&self) -> Option<&OidcVerifier> {
        self.verifier.as_ref()
    }

    fn handles_preview(&self) -> bool {
        self.settings.count_preview
    }

    fn backfill(&self) -> Backfill {
        self.settings.backfill
    }

    fn handle<'a>(
        &'a self,
        message: &'a PushMessage,
    ) -> BoxFuture<'a, Result<Outcome, CountersError>> {
        Box::pin(self.count(message))
    }
}

/// `POST /` (the push endpoint) and `GET /healthz`, served by the push-job kit.
pub fn router(state: Arc<Counters>) -> Router {
    hermes_push::router(state)
}

#[cfg(test)]
mod tests {
    #[test]
    fn shards_are_stable_and_in_range() {
        for id in ["1", "2", "abc", ""] {
            let s = super::shard_of(id, 4);
            assert!(s < 4);
            assert_eq!(s, super::shard_of(id, 4));
        }
        assert_eq!(super::shard_of("x", 1), 0);
    }
}
