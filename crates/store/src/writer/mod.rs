//! The audit writer: a bounded queue in front of one task that commits to the store in batches.
//!
//! Hook calls must never wait for a disk, so card records are *offered* to the queue: if it is
//! full, the record is dropped and `gravida_audit_dropped_total` counts it. Feedback is
//! different: the clinician's verdict is the data governance needs, so the handler *waits*
//! until the batch holding it has committed, and only then answers 200. A full queue or a
//! store that is down fails the feedback at once, and the caller may retry.
//!
//! The task takes whatever is queued (up to [`MAX_BATCH`] jobs) and writes it in one
//! transaction, so under a burst one fsync serves many requests (a "group commit"). A batch of
//! card records alone waits up to [`CARD_LINGER`] for more to join it: card records are not
//! urgent, and one transaction per hook call would cost each call an fsync and a round of wakeups
//! on the cores that answer hooks. Feedback never waits: it ends the linger and is committed at
//! once. The cards of a batch go in with one multi-row INSERT, and their suggestions with another.
//!
//! The queue also carries the hook path's one read, the suppression check, when a repeat could
//! answer it (at the order hooks): it ends the linger like feedback does, and runs after the
//! batch's writes, in the same transaction. So a card issued by this replica a millisecond ago is
//! seen by the next call's check, which a read straight from the pool could miss while the card
//! record lingers in the queue. Unlike feedback, a check is answered as soon as it has run, not
//! after the commit: the hook call waits for index lookups, not for an fsync. A batch of checks
//! alone opens no transaction. A check that only a dismissal can answer (patient-view,
//! encounter-start) does not use the queue at all: dismissals are committed with their
//! feedback, before it is acknowledged, so it reads the store at once and the card records keep
//! lingering, to be written many calls at a time.

use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use crate::records::{
    CardRecord, FeedbackRecord, FeedbackStored, LongFormRecord, SuggestionRecord, SuppressedRecord,
    SuppressionQuery, SuppressionReason,
};
use crate::{Store, StoreError, on_pool};

mod queries;

use queries::{
    CARD_OF_SENDER, MAX_CARDS_PER_INSERT, REMEMBER_OVERRIDE, check_suppression, insert_cards,
    insert_feedback, insert_suppressed,
};
pub(crate) use queries::{DISMISSED, SHOWN};

/// The most jobs written in one transaction.
const MAX_BATCH: usize = 256;

/// How long a batch of card records alone waits for more jobs before it is written.
const CARD_LINGER: Duration = Duration::from_millis(5);

/// How often a writer whose store is down retries its migrations.
const RETRY_INTERVAL: Duration = Duration::from_secs(1);

/// How the writer is set up.
#[derive(Debug, Clone)]
pub struct WriterConfig {
    /// Jobs the queue holds before it refuses more.
    pub queue_capacity: usize,
}

/// A unit of work for the writer task.
enum Job {
    Cards(Vec<CardRecord>),
    /// Cards hidden by a suppression rule: fire-and-forget, like card records.
    Suppressed(Vec<SuppressedRecord>),
    /// Cards' sealed long forms: fire-and-forget too (the replica that made them keeps them in
    /// memory as well).
    LongForms(Vec<LongFormRecord>),
    Feedback {
        items: Vec<FeedbackRecord>,
        done: oneshot::Sender<Result<Vec<FeedbackStored>, String>>,
    },
    Check {
        query: SuppressionQuery,
        /// Taken when the check is answered, which is as soon as it has run: before its batch
        /// commits (see [`Store::write_batch`]).
        done: Option<CheckAnswer>,
    },
    /// Writes nothing itself: answered once its batch, and so every job queued before it, is
    /// committed (`true`) or lost (`false`). See [`AuditWriter::flush`].
    Flush(oneshot::Sender<bool>),
}

/// Where a suppression check's answer goes.
type CheckAnswer = oneshot::Sender<Result<Vec<Option<SuppressionReason>>, String>>;

impl Job {
    /// Someone waits for this job: the batch holding it is written at once.
    fn is_awaited(&self) -> bool {
        matches!(
            self,
            Job::Feedback { .. } | Job::Check { .. } | Job::Flush(_)
        )
    }
}

/// The sending side of the audit queue. Cheap to clone; the task stops when every clone is
/// dropped, after writing what is queued.
#[derive(Debug, Clone)]
pub struct AuditWriter {
    queue: mpsc::Sender<Job>,
    /// For the checks that need not wait in the queue (see [`AuditWriter::check_suppression`]).
    store: Store,
}

impl AuditWriter {
    /// Starts the writer task on the current tokio runtime.
    pub fn spawn(store: Store, config: WriterConfig) -> AuditWriter {
        let (queue, jobs) = mpsc::channel(config.queue_capacity.max(1));
        tokio::spawn(run(store.clone(), jobs));
        AuditWriter { queue, store }
    }

    /// Queues card records without waiting. Returns `false` (and counts the drop) when the
    /// queue is full.
    pub fn offer_cards(&self, cards: Vec<CardRecord>) -> bool {
        if cards.is_empty() {
            return true;
        }
        let count = cards.len() as u64;
        match self.queue.try_send(Job::Cards(cards)) {
            Ok(()) => true,
            Err(_) => {
                metrics::counter!("gravida_audit_dropped_total", "kind" => "card").increment(count);
                tracing::warn!(cards = count, "audit queue full: card records dropped");
                false
            }
        }
    }

    /// Queues the records of suppressed cards without waiting (dropped and counted when the
    /// queue is full).
    pub fn offer_suppressed(&self, records: Vec<SuppressedRecord>) -> bool {
        if records.is_empty() {
            return true;
        }
        let count = records.len() as u64;
        match self.queue.try_send(Job::Suppressed(records)) {
            Ok(()) => true,
            Err(_) => {
                metrics::counter!("gravida_audit_dropped_total", "kind" => "suppressed")
                    .increment(count);
                false
            }
        }
    }

    /// Queues sealed long forms without waiting (dropped and counted when the queue is full).
    pub fn offer_long_forms(&self, records: Vec<LongFormRecord>) -> bool {
        if records.is_empty() {
            return true;
        }
        let count = records.len() as u64;
        match self.queue.try_send(Job::LongForms(records)) {
            Ok(()) => true,
            Err(_) => {
                metrics::counter!("gravida_audit_dropped_total", "kind" => "long-form")
                    .increment(count);
                false
            }
        }
    }

    /// For each candidate of `query`, whether a suppression rule hides it, and which.
    ///
    /// A query that a repeat could answer (a candidate at an order hook) waits in the queue, to
    /// be answered after every card record queued before it; it fails at once when the queue is
    /// full. A query that only a dismissal can answer (patient-view, encounter-start) reads the
    /// store at once, beside the queue: a dismissal is written with its feedback, which is
    /// committed before it is acknowledged, so there is nothing in the queue it could miss, and
    /// the card records queued meanwhile keep lingering to be written together.
    pub async fn check_suppression(
        &self,
        query: SuppressionQuery,
    ) -> Result<Vec<Option<SuppressionReason>>, StoreError> {
        if query
            .candidates
            .iter()
            .all(|(_, repeat_hides)| !repeat_hides)
        {
            return self.store.check_now(&query).await;
        }
        let (done, answer) = oneshot::channel();
        self.queue
            .try_send(Job::Check {
                query,
                done: Some(done),
            })
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => StoreError::QueueFull,
                mpsc::error::TrySendError::Closed(_) => StoreError::WriterStopped,
            })?;
        match answer.await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(message)) => Err(StoreError::Database(sqlx::Error::Protocol(message))),
            Err(_) => Err(StoreError::WriterStopped),
        }
    }

    /// Waits until every job queued before this call is written (at shutdown: nothing queued is
    /// lost). Waits for room in a full queue rather than failing. `false` when the writer could
    /// not write them (the store is down) or has stopped.
    pub async fn flush(&self) -> bool {
        let (done, written) = oneshot::channel();
        if self.queue.send(Job::Flush(done)).await.is_err() {
            return false;
        }
        written.await.unwrap_or(false)
    }

    /// Stores feedback and waits until it is committed.
    pub async fn store_feedback(
        &self,
        items: Vec<FeedbackRecord>,
    ) -> Result<Vec<FeedbackStored>, StoreError> {
        let (done, stored) = oneshot::channel();
        self.queue
            .try_send(Job::Feedback { items, done })
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => StoreError::QueueFull,
                mpsc::error::TrySendError::Closed(_) => StoreError::WriterStopped,
            })?;
        match stored.await {
            Ok(Ok(stored)) => Ok(stored),
            Ok(Err(message)) => Err(StoreError::Database(sqlx::Error::Protocol(message))),
            Err(_) => Err(StoreError::WriterStopped),
        }
    }
}

/// The writer task: waits for a job, takes whatever else is queued, writes it all at once.
async fn run(store: Store, mut jobs: mpsc::Receiver<Job>) {
    let mut migrated = false;
    let mut last_attempt: Option<Instant> = None;
    while let Some(first) = jobs.recv().await {
        let mut batch = vec![first];
        let linger_until = tokio::time::Instant::now() + CARD_LINGER;
        while batch.len() < MAX_BATCH {
            let job = match jobs.try_recv() {
                Ok(job) => job,
                // Nothing queued: feedback is written now, card records wait a little for company.
                Err(_) if batch.iter().any(Job::is_awaited) => break,
                Err(_) => match tokio::time::timeout_at(linger_until, jobs.recv()).await {
                    Ok(Some(job)) => job,
                    // Every sender is gone (shutting down), or the linger is over.
                    Ok(None) | Err(_) => break,
                },
            };
            batch.push(job);
        }

        // The schema is brought up to date on first use, and retried while the store is down.
        if !migrated && last_attempt.is_none_or(|t| t.elapsed() >= RETRY_INTERVAL) {
            last_attempt = Some(Instant::now());
            match store.migrate().await {
                Ok(()) => migrated = true,
                Err(e) => {
                    tracing::error!(error = %e, backend = store.backend(), "the audit store is unavailable")
                }
            }
        }
        let result = if migrated {
            store.write_batch(&mut batch).await
        } else {
            Err(StoreError::Database(sqlx::Error::PoolTimedOut))
        };
        finish(batch, result);
    }
    store.close().await;
}

/// Answers every awaited job of a batch not answered yet, and counts the card records a failed
/// batch lost.
fn finish(batch: Vec<Job>, result: Result<Vec<Vec<FeedbackStored>>, StoreError>) {
    match result {
        Ok(answers) => {
            // One answer per feedback job, in the batch's order; every check has its answer.
            let mut answers = answers.into_iter();
            const OUT_OF_ORDER: &str = "an audit batch answered out of order";
            for job in batch {
                match job {
                    Job::Feedback { done, .. } => {
                        let _ = done.send(answers.next().ok_or_else(|| OUT_OF_ORDER.to_owned()));
                    }
                    Job::Check {
                        done: Some(done), ..
                    } => {
                        let _ = done.send(Err(OUT_OF_ORDER.to_owned()));
                    }
                    Job::Flush(done) => {
                        let _ = done.send(true);
                    }
                    Job::Check { done: None, .. }
                    | Job::Cards(_)
                    | Job::Suppressed(_)
                    | Job::LongForms(_) => {}
                }
            }
        }
        Err(e) => {
            tracing::error!(error = %e, "an audit batch could not be written");
            for job in batch {
                match job {
                    Job::Cards(cards) => {
                        metrics::counter!("gravida_audit_dropped_total", "kind" => "card")
                            .increment(cards.len() as u64);
                    }
                    Job::Suppressed(records) => {
                        metrics::counter!("gravida_audit_dropped_total", "kind" => "suppressed")
                            .increment(records.len() as u64);
                    }
                    Job::LongForms(records) => {
                        metrics::counter!("gravida_audit_dropped_total", "kind" => "long-form")
                            .increment(records.len() as u64);
                    }
                    Job::Feedback { done, .. } => {
                        let _ = done.send(Err(e.to_string()));
                    }
                    Job::Check { done, .. } => {
                        if let Some(done) = done {
                            let _ = done.send(Err(e.to_string()));
                        }
                    }
                    Job::Flush(done) => {
                        let _ = done.send(false);
                    }
                }
            }
        }
    }
}

impl Store {
    /// Answers a suppression query on a connection of its own, from what is committed.
    async fn check_now(
        &self,
        query: &SuppressionQuery,
    ) -> Result<Vec<Option<SuppressionReason>>, StoreError> {
        Ok(on_pool!(self, pool => {
            let mut connection = pool.acquire().await?;
            check_suppression!(connection, query)
        }))
    }

    /// Writes a batch in one transaction and answers its checks in it, each as soon as it has
    /// run: after the batch's writes, which it sees, and before the commit, whose fsync a hook
    /// call need not wait for (a card the check saw was shown, whether or not its record then
    /// commits). A batch of checks alone runs them on one connection, with no transaction to
    /// open and commit. Returns what storing each feedback job's items found, in order.
    async fn write_batch(&self, batch: &mut [Job]) -> Result<Vec<Vec<FeedbackStored>>, StoreError> {
        if batch
            .iter()
            .all(|job| matches!(job, Job::Check { .. } | Job::Flush(_)))
        {
            on_pool!(self, pool => {
                let mut connection = pool.acquire().await?;
                for job in batch.iter_mut() {
                    if let Job::Check { query, done } = job {
                        let found = check_suppression!(connection, query);
                        if let Some(done) = done.take() {
                            let _ = done.send(Ok(found));
                        }
                    }
                }
            });
            return Ok(Vec::new());
        }
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let mut cards: Vec<&CardRecord> = Vec::new();
            let mut long_forms: Vec<&LongFormRecord> = Vec::new();
            for job in batch.iter() {
                match job {
                    Job::Cards(records) => cards.extend(records),
                    Job::LongForms(records) => long_forms.extend(records),
                    _ => {}
                }
            }
            // Card records go first, so that feedback in the same batch finds its card.
            for chunk in cards.chunks(MAX_CARDS_PER_INSERT) {
                insert_cards!(tx, chunk);
            }
            for chunk in long_forms.chunks(MAX_CARDS_PER_INSERT) {
                let mut insert = sqlx::QueryBuilder::new(
                    "INSERT INTO card_long_forms (lookup, expires_at_ms, sealed) ",
                );
                insert.push_values(chunk, |mut row, record| {
                    row.push_bind(&record.lookup)
                        .push_bind(record.expires_at_ms)
                        .push_bind(&record.sealed);
                });
                insert.push(" ON CONFLICT (lookup) DO NOTHING");
                insert.build().execute(&mut *tx).await?;
            }
            for job in batch.iter() {
                if let Job::Suppressed(records) = job {
                    for record in records {
                        insert_suppressed!(&mut *tx, record);
                    }
                }
            }
            let mut answers = Vec::new();
            for job in batch.iter_mut() {
                match job {
                    Job::Cards(_) | Job::Suppressed(_) | Job::LongForms(_) | Job::Flush(_) => {}
                    Job::Feedback { items, .. } => {
                        let mut stored = Vec::with_capacity(items.len());
                        for item in items.iter() {
                            stored.push(insert_feedback!(&mut *tx, item));
                        }
                        answers.push(stored);
                    }
                    // After the writes, so that it sees them.
                    Job::Check { query, done } => {
                        let found = check_suppression!(tx, query);
                        if let Some(done) = done.take() {
                            let _ = done.send(Ok(found));
                        }
                    }
                }
            }
            tx.commit().await?;
            Ok(answers)
        })
    }
}
