//! The count of hook calls per UTC day, service, hook and profile version (`hook_calls`), the
//! denominator of "the share of calls that fired".
//!
//! Every answered call is counted, cards or none, so the count cannot be a job per call: a call
//! with no card queues nothing today, and a job each would fill the queue twice as fast. Instead
//! a call adds one to a map in memory ([`Tallies::add`]: a mutex held for a hash-map increment),
//! and the writer takes the whole map into each batch it writes, one upsert per key (about one
//! per batch: a day's calls share a key per hook). A call that adds the first key since the last
//! batch also queues a [`super::Job::Tally`], which writes nothing itself but wakes the writer,
//! so counts reach the disk within a linger even when no call has a card; while counts are
//! waiting, no further call queues anything. A batch that fails puts its counts back.

use std::collections::HashMap;
use std::sync::Mutex;

/// One key of `hook_calls`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CallTally {
    /// Days since 1970-01-01, UTC ([`CallTally::day_of`]).
    pub day: i64,
    pub service: String,
    pub hook: String,
    pub profile_version: String,
}

impl CallTally {
    /// The UTC day (days since the Unix epoch) of a time in Unix milliseconds.
    pub fn day_of(unix_ms: i64) -> i64 {
        unix_ms.div_euclid(86_400_000)
    }
}

/// The counts not written yet.
#[derive(Debug, Default)]
pub(super) struct Tallies {
    pending: Mutex<HashMap<CallTally, i64>>,
}

impl Tallies {
    /// Adds `calls` to a key; `true` when nothing was pending before (the caller wakes the
    /// writer).
    pub(super) fn add(&self, key: CallTally, calls: i64) -> bool {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let first = pending.is_empty();
        *pending.entry(key).or_insert(0) += calls;
        first
    }

    /// Everything pending, leaving nothing.
    pub(super) fn take(&self) -> HashMap<CallTally, i64> {
        std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Puts back counts a failed batch did not write.
    pub(super) fn restore(&self, counts: HashMap<CallTally, i64>) {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        for (key, calls) in counts {
            *pending.entry(key).or_insert(0) += calls;
        }
    }
}

/// Adds counts to `hook_calls`, one upsert per key; both backends speak `ON CONFLICT`.
pub(super) const ADD_CALLS: &str = "INSERT INTO hook_calls (day, service, hook, \
     profile_version, calls) VALUES ($1, $2, $3, $4, $5) \
     ON CONFLICT (day, service, hook, profile_version) \
     DO UPDATE SET calls = hook_calls.calls + excluded.calls";
