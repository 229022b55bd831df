//! How a hook call's records reach the writer's queue, and what is counted when they cannot:
//! the hook path's side of "Nothing is lost" (see the `writer` module).

use std::sync::atomic::Ordering;

use tokio::sync::mpsc;

use super::{AuditWriter, Job, LOSS_WINDOW, Shared};
use crate::records::{CallRecords, CardRecord};

/// A hook call's records found no room in the write queue in time
/// ([`AuditWriter::record_within`]): nothing was queued, and the call must not issue its cards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the audit write queue stayed full: the store is not keeping up")]
pub struct Backlog;

impl Shared {
    /// Counts a hook call refused because the queue stayed full, and logs the first of each
    /// episode (one with none in the [`LOSS_WINDOW`] before it).
    fn refuse(&self) {
        metrics::counter!("gravida_audit_backlog_refusals_total").increment(1);
        let now = self.since.elapsed().as_millis() as u64 + 1;
        let before = self.last_refusal.swap(now, Ordering::Relaxed);
        if before == 0 || now - before > LOSS_WINDOW.as_millis() as u64 {
            tracing::warn!(
                "the audit write queue stayed full: hook calls are answered 503 until the store \
                 keeps up (no card is issued that the trail would not hold)"
            );
        }
    }

    /// Counts `records` as lost (`why`, for the log) and makes the replica not ready for
    /// [`LOSS_WINDOW`]. Logs once per episode, not once per record.
    pub(super) fn lose(&self, records: &CallRecords, why: &str) {
        let counts = [
            ("card", records.cards.len()),
            ("long-form", records.long_forms.len()),
            ("suppressed", records.suppressed.len()),
        ];
        for (kind, count) in counts {
            if count > 0 {
                metrics::counter!("gravida_audit_dropped_total", "kind" => kind)
                    .increment(count as u64);
            }
        }
        let now = self.since.elapsed().as_millis() as u64 + 1;
        let before = self.last_loss.swap(now, Ordering::Relaxed);
        let total = self.lost.fetch_add(1, Ordering::Relaxed) + 1;
        if before == 0 || now - before > LOSS_WINDOW.as_millis() as u64 {
            tracing::error!(
                cards = records.cards.len(),
                lost_calls = total,
                "audit records lost ({why}): this replica reports not ready until none is lost \
                 for {} s",
                LOSS_WINDOW.as_secs()
            );
        }
    }
}

impl AuditWriter {
    /// Queues what a hook call leaves in the trail. When the queue is full, waits for room for
    /// at most the enqueue wait; then the records are lost, counted, logged, and the replica is
    /// not ready for a while ([`AuditWriter::losing`]). `false` when they were lost.
    pub async fn record(&self, records: CallRecords) -> bool {
        if records.is_empty() {
            return true;
        }
        let job = match self.queue.try_send(Job::Records(records)) {
            Ok(()) => return true,
            Err(mpsc::error::TrySendError::Full(job)) => job,
            Err(mpsc::error::TrySendError::Closed(job)) => {
                self.lose(job, "the writer has stopped");
                return false;
            }
        };
        metrics::counter!("gravida_audit_queue_waits_total").increment(1);
        match self.queue.send_timeout(job, self.enqueue_wait).await {
            Ok(()) => true,
            Err(
                mpsc::error::SendTimeoutError::Timeout(job)
                | mpsc::error::SendTimeoutError::Closed(job),
            ) => {
                self.lose(job, "the write queue stayed full");
                false
            }
        }
    }

    /// Queues what a hook call leaves in the trail *before* its answer is sent: the call's
    /// cards are issued only if their records are queued. When the queue is full, waits for room
    /// until the enqueue wait or `until` (the call's deadline), whichever comes first; then
    /// nothing was queued and [`Backlog`] says so: the caller answers 503 instead of cards no
    /// one could audit. That is the back-pressure: a writer that falls behind slows the calls
    /// down to its pace, and refuses the excess, and loses nothing. A writer that has stopped
    /// (shutdown) counts the records as lost, as [`AuditWriter::record`] does.
    pub async fn record_within(
        &self,
        records: CallRecords,
        until: tokio::time::Instant,
    ) -> Result<(), Backlog> {
        if records.is_empty() {
            return Ok(());
        }
        let job = match self.queue.try_send(Job::Records(records)) {
            Ok(()) => return Ok(()),
            Err(mpsc::error::TrySendError::Full(job)) => job,
            Err(mpsc::error::TrySendError::Closed(job)) => {
                self.lose(job, "the writer has stopped");
                return Ok(());
            }
        };
        metrics::counter!("gravida_audit_queue_waits_total").increment(1);
        let until = until.min(tokio::time::Instant::now() + self.enqueue_wait);
        let wait = until.saturating_duration_since(tokio::time::Instant::now());
        match self.queue.send_timeout(job, wait).await {
            Ok(()) => Ok(()),
            Err(mpsc::error::SendTimeoutError::Closed(job)) => {
                self.lose(job, "the writer has stopped");
                Ok(())
            }
            Err(mpsc::error::SendTimeoutError::Timeout(_)) => {
                self.shared.refuse();
                Err(Backlog)
            }
        }
    }

    /// Queues records without waiting: lost (counted, logged, not ready) when the queue is full.
    pub fn offer(&self, records: CallRecords) -> bool {
        if records.is_empty() {
            return true;
        }
        match self.queue.try_send(Job::Records(records)) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(job) | mpsc::error::TrySendError::Closed(job)) => {
                self.lose(job, "the write queue is full");
                false
            }
        }
    }

    /// Queues card records without waiting (see [`AuditWriter::offer`]).
    pub fn offer_cards(&self, cards: Vec<CardRecord>) -> bool {
        self.offer(CallRecords {
            cards,
            ..CallRecords::default()
        })
    }

    fn lose(&self, job: Job, why: &str) {
        if let Job::Records(records) = job {
            self.shared.lose(&records, why);
        }
    }

    /// Why the trail cannot be trusted now, in words fit for an unauthenticated probe: records
    /// were lost (a queue that stayed full, a store that refused a batch) within the last
    /// [`LOSS_WINDOW`], or the write queue is full now (the store is too slow for the calls:
    /// they are being refused, see [`AuditWriter::record_within`]). `None` when neither.
    pub fn losing(&self) -> Option<String> {
        let last = self.shared.last_loss.load(Ordering::Relaxed);
        let now = self.shared.since.elapsed().as_millis() as u64 + 1;
        let lost_lately = last != 0 && now.saturating_sub(last) <= LOSS_WINDOW.as_millis() as u64;
        if !lost_lately {
            return (self.queue.capacity() == 0).then(|| {
                "the audit write queue is full: the store is not keeping up, and hook calls are \
                 refused until it does"
                    .to_owned()
            });
        }
        Some(format!(
            "audit records could not be written in the last {} s (the store is full, slow, \
             read-only or gone)",
            LOSS_WINDOW.as_secs()
        ))
    }
}
