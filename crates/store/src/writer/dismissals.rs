//! Which patients have a dismissal at all, kept in memory for an SQLite store, so that a hook
//! call about a patient with none asks the database nothing.
//!
//! The suppression check at patient-view and encounter-start can only be answered by a
//! dismissal (a card overridden as already addressed, `scoped_overrides`). Most patients have
//! none, yet each such check cost a pooled connection and a lookup per candidate card and
//! reason: with sqlx, every SQLite statement is a round trip to the connection's own thread,
//! two context switches on the cores that answer hooks. This index answers "none" for them from
//! memory.
//!
//! It is only ever *too large*, never too small, which is what makes it safe:
//! - it is loaded from `scoped_overrides` before the writer writes anything, and until it is
//!   loaded every check reads the store;
//! - the writer is the only code that adds a dismissal (storing feedback), and it adds the
//!   patient here after the commit and before the feedback is acknowledged, so a check that
//!   follows an acknowledged dismissal finds the patient here and reads the store;
//! - a purge that deletes a patient's dismissals leaves the patient here: a check reads the
//!   store for nothing, and finds nothing.
//!
//! So it is only for SQLite, whose one file serves one replica (README, Operations). On
//! PostgreSQL another replica may store a dismissal at any time, and every check reads the
//! store. A patient is kept as a 64-bit hash of its keyed hash: a collision makes a check read
//! the store, never skip it. 100,000 patients with dismissals cost about 2 MB.

use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::sync::RwLock;

/// The patients with at least one dismissal, once loaded.
#[derive(Debug, Default)]
pub(crate) struct Dismissals {
    known: RwLock<Option<HashSet<u64>>>,
}

impl Dismissals {
    /// True when the index is loaded and the patient has no dismissal: the check can answer
    /// "nothing dismissed" without the store.
    pub(crate) fn none_for(&self, patient_hash: &str) -> bool {
        let known = self.known.read().unwrap_or_else(|p| p.into_inner());
        known
            .as_ref()
            .is_some_and(|known| !known.contains(&key(patient_hash)))
    }

    /// Loads the index from every patient that has a dismissal (the writer does, once, before
    /// its first write).
    pub(crate) fn load(&self, patient_hashes: impl IntoIterator<Item = String>) {
        let loaded = patient_hashes.into_iter().map(|p| key(&p)).collect();
        *self.known.write().unwrap_or_else(|p| p.into_inner()) = Some(loaded);
    }

    /// Adds a patient that has just been given a dismissal (no-op until loaded: until then
    /// every check reads the store anyway).
    pub(crate) fn add(&self, patient_hash: &str) {
        if let Some(known) = self
            .known
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .as_mut()
        {
            known.insert(key(patient_hash));
        }
    }
}

/// A patient's place in the index: 64 bits of SipHash (fixed keys) of its keyed hash.
fn key(patient_hash: &str) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    patient_hash.hash(&mut hasher);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn until_loaded_every_patient_is_asked_of_the_store() {
        let dismissals = Dismissals::default();
        dismissals.add("p1");
        assert!(!dismissals.none_for("p1"));
        assert!(!dismissals.none_for("p2"));
    }

    #[test]
    fn once_loaded_only_patients_with_a_dismissal_are_asked_of_the_store() {
        let dismissals = Dismissals::default();
        dismissals.load(vec!["p1".to_owned()]);
        assert!(!dismissals.none_for("p1"));
        assert!(dismissals.none_for("p2"));
        dismissals.add("p2");
        assert!(!dismissals.none_for("p2"));
    }
}
