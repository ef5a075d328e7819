//! [`DocumentCache`]: documents read recently, so hot ones do not cost a
//! read per message — the counters' catalog, enrich's lookups. A document
//! found absent is cached too (a stream of unknown ids would otherwise read
//! every time). Entries are shared (`Arc`): a hit copies no document.

use super::{Document, StoreError};
use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Cached ids at most by default, so a stream of one-off ids cannot grow
/// memory without end (documents are small: tens of MB at worst).
pub const DEFAULT_MAX_ENTRIES: usize = 50_000;

type Entry = (Instant, Option<Arc<Document>>);

pub struct DocumentCache<K> {
    entries: Mutex<HashMap<K, Entry>>,
    max_entries: usize,
}

impl<K: Clone + Eq + Hash> DocumentCache<K> {
    pub fn new(max_entries: usize) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            max_entries,
        }
    }

    /// The documents of `keys` (each with how long a cached answer stays
    /// good; zero: always read), calling `read` once with the keys that are
    /// not cached or have expired. Absent documents are absent from the answer.
    pub async fn get<F, Fut>(
        &self,
        keys: &[(K, Duration)],
        read: F,
    ) -> Result<HashMap<K, Arc<Document>>, StoreError>
    where
        F: FnOnce(Vec<K>) -> Fut,
        Fut: Future<Output = Result<HashMap<K, Document>, StoreError>>,
    {
        let now = Instant::now();
        let mut found = HashMap::new();
        let mut missing: Vec<(K, Duration)> = Vec::new();
        let mut asked = std::collections::HashSet::new();
        {
            // A panic elsewhere leaves the map usable: entries are whole values.
            let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
            for (key, ttl) in keys {
                match entries.get(key) {
                    // A fresh entry: the document, or its absence.
                    Some((at, Some(doc))) if now.duration_since(*at) < *ttl => {
                        found.insert(key.clone(), Arc::clone(doc));
                    }
                    Some((at, None)) if now.duration_since(*at) < *ttl => {}
                    _ if asked.insert(key) => missing.push((key.clone(), *ttl)),
                    _ => {}
                }
            }
        }
        if missing.is_empty() {
            return Ok(found);
        }
        let fetched: HashMap<K, Arc<Document>> =
            read(missing.iter().map(|(k, _)| k.clone()).collect())
                .await?
                .into_iter()
                .map(|(k, doc)| (k, Arc::new(doc)))
                .collect();
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let fresh = missing.iter().filter(|(_, ttl)| !ttl.is_zero()).count();
        if entries.len() + fresh > self.max_entries {
            // Entries expire by their reader's TTL; a day is the longest any asks for.
            entries.retain(|_, (at, _)| now.duration_since(*at) < Duration::from_secs(86_400));
            if entries.len() + fresh > self.max_entries {
                entries.clear();
            }
        }
        if entries.len() + fresh <= self.max_entries {
            for (key, ttl) in &missing {
                if !ttl.is_zero() {
                    entries.insert(key.clone(), (now, fetched.get(key).cloned()));
                }
            }
        }
        drop(entries);
        found.extend(fetched);
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::cell::Cell;

    fn doc(v: i64) -> Document {
        json!({ "v": v }).as_object().cloned().unwrap_or_default()
    }

    /// Polls a future that never waits (the reads here answer at once).
    fn now<T>(f: impl Future<Output = T>) -> T {
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        let mut f = std::pin::pin!(f);
        loop {
            if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
                return v;
            }
        }
    }

    #[test]
    fn hits_and_misses_are_kept_until_their_ttl() {
        let cache = DocumentCache::new(10);
        let reads = Cell::new(Vec::new());
        let ttl = Duration::from_secs(60);
        let read = |keys: Vec<&'static str>| {
            let mut seen = reads.take();
            seen.push(keys.clone());
            reads.set(seen);
            async move {
                Ok(keys
                    .into_iter()
                    .filter(|k| *k == "a")
                    .map(|k| (k, doc(1)))
                    .collect())
            }
        };
        let got = now(cache.get(&[("a", ttl), ("b", ttl), ("a", ttl)], read)).unwrap();
        assert_eq!(got.len(), 1);
        // Both the found and the absent document are cached: no second read.
        let got = now(cache.get(&[("a", ttl), ("b", ttl)], read)).unwrap();
        assert_eq!(got.get("a").map(|d| d.as_ref()), Some(&doc(1)));
        assert_eq!(reads.take(), vec![vec!["a", "b"]]);
        // A zero TTL reads every time.
        now(cache.get(&[("a", Duration::ZERO)], read)).unwrap();
        assert_eq!(reads.take(), vec![vec!["a"]]);
    }

    #[test]
    fn the_bound_holds() {
        let cache = DocumentCache::new(3);
        let ttl = Duration::from_secs(60);
        for i in 0..10u32 {
            now(cache.get(&[(i, ttl)], |_| async { Ok(HashMap::new()) })).unwrap();
            assert!(cache.entries.lock().unwrap().len() <= 3);
        }
    }
}
