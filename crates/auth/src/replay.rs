//! The replay guard: a `jti` may be used once per issuer within the token's lifetime.
//!
//! [`ReplayStore`] is the seam. The default, [`MemoryReplayStore`], lives in this process
//! and is bounded; a shared store (PostgreSQL, later) implements the same trait so that
//! several replicas refuse each other's replays.
//!
//! The trait is *async-friendly without an extra crate*: its one method returns a boxed
//! future, so the trait stays object-safe (`Arc<dyn ReplayStore>`) and a database-backed
//! implementation can await its queries. The memory store completes immediately.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::SystemTime;

/// A boxed, sendable future, as returned by [`ReplayStore::remember`].
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What the store answered about a `jti`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// First use: the store now remembers it until `expires_at`.
    First,
    /// Already used, and not yet expired: refuse the token.
    Again,
}

/// The store failed; the verifier then refuses the token (it fails closed).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct ReplayStoreError(pub String);

/// Remembers `(iss, jti)` pairs until the token they came from expires.
pub trait ReplayStore: Send + Sync + fmt::Debug {
    /// Atomically checks whether `(iss, jti)` was seen and not yet expired at `now` and, if
    /// not, remembers it until `expires_at`. Must be atomic: two concurrent calls with the
    /// same pair must not both get [`Seen::First`].
    fn remember<'a>(
        &'a self,
        iss: &'a str,
        jti: &'a str,
        expires_at: SystemTime,
        now: SystemTime,
    ) -> BoxFuture<'a, Result<Seen, ReplayStoreError>>;
}

/// A bounded, in-process [`ReplayStore`].
///
/// Expired entries are dropped as new ones arrive. When the store is full of unexpired
/// entries, it **evicts the entry that expires soonest** to make room: new tokens are
/// never refused because the store is full. The price is that, under a flood of more
/// than `capacity` distinct live tokens, the soonest-expiring `jti` could be replayed
/// before its expiry; size `capacity` above the peak number of tokens per token lifetime
/// (the default, 100 000, covers about 28 requests per second for an hour).
pub struct MemoryReplayStore {
    capacity: usize,
    inner: Mutex<Entries>,
}

/// The two indexes of the memory store, kept in step under one lock.
#[derive(Default)]
struct Entries {
    /// `(iss, jti)` → when it may be forgotten.
    by_key: HashMap<(String, String), SystemTime>,
    /// The same entries ordered by expiry, so the earliest is found in O(log n).
    by_expiry: BTreeSet<(SystemTime, String, String)>,
}

impl MemoryReplayStore {
    /// A store that remembers at most `capacity` live `jti`s (at least one).
    pub fn new(capacity: usize) -> Self {
        MemoryReplayStore {
            capacity: capacity.max(1),
            inner: Mutex::new(Entries::default()),
        }
    }

    /// How many entries are held now (expired ones included until the next insert).
    pub fn len(&self) -> usize {
        self.inner
            .lock()
            .map(|entries| entries.by_key.len())
            .unwrap_or(0)
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The synchronous core of [`ReplayStore::remember`].
    fn remember_now(
        &self,
        iss: &str,
        jti: &str,
        expires_at: SystemTime,
        now: SystemTime,
    ) -> Result<Seen, ReplayStoreError> {
        let mut entries = self
            .inner
            .lock()
            .map_err(|_| ReplayStoreError("replay store lock poisoned".to_string()))?;
        let key = (iss.to_string(), jti.to_string());

        // Seen and still live: a replay.
        if let Some(&until) = entries.by_key.get(&key)
            && until > now
        {
            return Ok(Seen::Again);
        }

        // Forget everything that has expired (including a stale copy of this key).
        while let Some(first) = entries.by_expiry.first().cloned() {
            if first.0 > now {
                break;
            }
            entries.by_expiry.remove(&first);
            entries.by_key.remove(&(first.1, first.2));
        }

        // Still full of live entries: drop the one that expires soonest.
        while entries.by_key.len() >= self.capacity {
            let Some(first) = entries.by_expiry.pop_first() else {
                break;
            };
            entries.by_key.remove(&(first.1, first.2));
        }

        entries
            .by_expiry
            .insert((expires_at, key.0.clone(), key.1.clone()));
        entries.by_key.insert(key, expires_at);
        Ok(Seen::First)
    }
}

impl fmt::Debug for MemoryReplayStore {
    // Never lists the jtis themselves.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryReplayStore")
            .field("capacity", &self.capacity)
            .field("len", &self.len())
            .finish()
    }
}

impl ReplayStore for MemoryReplayStore {
    fn remember<'a>(
        &'a self,
        iss: &'a str,
        jti: &'a str,
        expires_at: SystemTime,
        now: SystemTime,
    ) -> BoxFuture<'a, Result<Seen, ReplayStoreError>> {
        let answer = self.remember_now(iss, jti, expires_at, now);
        Box::pin(std::future::ready(answer))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[tokio::test]
    async fn a_jti_is_refused_the_second_time_while_it_is_live() {
        let store = MemoryReplayStore::new(10);
        assert_eq!(
            store.remember("a", "j1", at(200), at(100)).await.ok(),
            Some(Seen::First)
        );
        assert_eq!(
            store.remember("a", "j1", at(200), at(150)).await.ok(),
            Some(Seen::Again)
        );
    }

    #[tokio::test]
    async fn the_same_jti_from_another_issuer_is_a_different_token() {
        let store = MemoryReplayStore::new(10);
        assert_eq!(
            store.remember("a", "j1", at(200), at(100)).await.ok(),
            Some(Seen::First)
        );
        assert_eq!(
            store.remember("b", "j1", at(200), at(100)).await.ok(),
            Some(Seen::First)
        );
    }

    #[tokio::test]
    async fn an_expired_entry_is_forgotten() {
        let store = MemoryReplayStore::new(10);
        assert_eq!(
            store.remember("a", "j1", at(200), at(100)).await.ok(),
            Some(Seen::First)
        );
        assert_eq!(
            store.remember("a", "j1", at(400), at(300)).await.ok(),
            Some(Seen::First)
        );
        assert_eq!(store.len(), 1);
    }

    #[tokio::test]
    async fn a_full_store_evicts_the_earliest_expiring_entry_and_accepts_the_new_one() {
        let store = MemoryReplayStore::new(2);
        assert_eq!(
            store.remember("a", "late", at(900), at(100)).await.ok(),
            Some(Seen::First)
        );
        assert_eq!(
            store.remember("a", "soon", at(300), at(100)).await.ok(),
            Some(Seen::First)
        );
        // Full: the newcomer is accepted, and "soon" (earliest expiry) made room for it.
        assert_eq!(
            store.remember("a", "new", at(500), at(100)).await.ok(),
            Some(Seen::First)
        );
        assert_eq!(store.len(), 2);
        assert_eq!(
            store.remember("a", "late", at(900), at(101)).await.ok(),
            Some(Seen::Again)
        );
        assert_eq!(
            store.remember("a", "new", at(500), at(101)).await.ok(),
            Some(Seen::Again)
        );
    }

    #[test]
    fn debug_output_does_not_list_jtis() {
        let store = MemoryReplayStore::new(2);
        let _ = store.remember_now("a", "secret-jti-value", at(900), at(100));
        assert!(!format!("{store:?}").contains("secret-jti-value"));
    }
}
