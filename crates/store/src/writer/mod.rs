//! The audit writer: a bounded queue in front of one task that commits to the store in batches.
//!
//! **Nothing is lost.** A hook call's records (its cards, their long forms) are one job, queued
//! *before* the call is answered ([`AuditWriter::record_within`]): when the queue is full, the
//! call waits for room for at most the writer's enqueue wait (`store.enqueue_wait_ms`) and never
//! past its deadline; if none comes, nothing was queued, and the call is answered 503 instead of
//! with cards the trail would not hold. So a writer that falls behind slows the calls down to its
//! own pace (bounded back-pressure) and refuses the excess; it never drops a card that was sent.
//! While the queue is full the replica reports itself not ready, so that the load balancer sends
//! the traffic elsewhere. What can still be lost is what the store itself refuses (full,
//! read-only, gone) or a writer that has stopped: `gravida_audit_dropped_total` counts it, a log
//! line says so, and the replica reports itself not ready ([`AuditWriter::losing`], `/readyz`
//! 503) until no record has been lost for [`LOSS_WINDOW`]. Feedback waits for its commit: the
//! clinician's verdict is the data governance needs, so the handler answers 200 only once the
//! batch holding it has committed. A full queue or a store that is down fails the feedback at
//! once, and the caller may retry.
//!
//! **Group commit.** The task takes whatever is queued (up to [`MAX_BATCH`] jobs) and writes it
//! in one transaction: one fsync for many calls. A batch of records alone waits up to
//! [`CARD_LINGER`] for company, *asleep on a timer*: the hook calls that queue meanwhile wake
//! nobody (the queue registers no waker while the writer sleeps), so the writer is woken about
//! once per batch, not once per call. Anything that someone waits for (feedback, a check, a
//! flush) rings [`Shared::urgent`] and ends the wait at once. The cards of a batch go in with
//! multi-row INSERTs of at most [`MAX_CARDS_PER_INSERT`] rows, and so do their suggestions and
//! long forms: a few statement texts, each prepared once per connection and kept in sqlx's
//! statement cache.
//!
//! The queue also carries the hook path's one read, the suppression check, when a repeat could
//! answer it (at the order hooks): it ends the linger like feedback does, and runs after the
//! batch's writes, in the same transaction. So a card issued by this replica a millisecond ago is
//! seen by the next call's check, which a read straight from the pool could miss while the card
//! record lingers in the queue. Unlike feedback, a check is answered as soon as it has run, not
//! after the commit: the hook call waits for index lookups, not for an fsync. A batch of checks
//! alone opens no transaction. A check that only a dismissal can answer (patient-view,
//! encounter-start) does not use the queue at all: dismissals are committed with their
//! feedback, before it is acknowledged, so it reads the store at once, and on SQLite not even
//! that for a patient with no dismissal ([`dismissals`]).

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use tokio::sync::{Notify, mpsc, oneshot};

use crate::records::{
    CallRecords, CardRecord, FeedbackRecord, FeedbackStored, LongFormRecord, SuppressedRecord,
    SuppressionQuery, SuppressionReason, suggestion_label,
};
use crate::{Store, StoreError, on_pool};

mod dismissals;
mod enqueue;
mod queries;
mod tally;

use std::collections::HashMap;

use dismissals::Dismissals;
pub use enqueue::Backlog;
use queries::{
    CARD_OF_SENDER, MAX_CARDS_PER_INSERT, REMEMBER_OVERRIDE, check_suppression, insert_cards,
    insert_feedback, insert_suppressed,
};
pub(crate) use queries::{DISMISSED, SHOWN};
pub use tally::CallTally;
use tally::{ADD_CALLS, Tallies};

/// The most jobs written in one transaction.
const MAX_BATCH: usize = 256;

/// How long a batch of records alone waits for more jobs before it is written. At 2,500 calls
/// a second that is about 25 calls per transaction.
const CARD_LINGER: Duration = Duration::from_millis(10);

/// How often a writer whose store is down retries its migrations.
const RETRY_INTERVAL: Duration = Duration::from_secs(1);

/// How long after the last lost record the replica stays not ready.
pub const LOSS_WINDOW: Duration = Duration::from_secs(30);

/// How long [`AuditWriter::record_within`] and [`AuditWriter::record`] wait for room in a full
/// queue by default
/// (`store.enqueue_wait_ms`).
pub const DEFAULT_ENQUEUE_WAIT: Duration = Duration::from_millis(250);

/// How the writer is set up.
#[derive(Debug, Clone)]
pub struct WriterConfig {
    /// Jobs the queue holds before it refuses more (one job per hook call).
    pub queue_capacity: usize,
}

/// A unit of work for the writer task.
enum Job {
    /// What one hook call leaves in the trail: fire-and-forget (but never quietly lost).
    Records(CallRecords),
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
    /// Writes nothing itself: wakes the writer to write the calls counted since the last batch
    /// (see [`tally`]).
    Tally,
    /// Writes nothing itself: answered once its batch, and so every job queued before it, is
    /// committed (`true`) or lost (`false`). See [`AuditWriter::flush`].
    Flush(oneshot::Sender<bool>),
}

/// Where a suppression check's answer goes.
type CheckAnswer = oneshot::Sender<Result<Vec<Option<SuppressionReason>>, String>>;

impl Job {
    /// Someone waits for this job: the batch holding it is written at once.
    fn is_awaited(&self) -> bool {
        !matches!(self, Job::Records(_) | Job::Tally)
    }
}

/// What the writer task and the senders share.
#[derive(Debug)]
struct Shared {
    /// Rung by a job someone waits for: ends the writer's linger.
    urgent: Notify,
    /// SQLite only: the patients with a dismissal (see [`dismissals`]).
    dismissals: Option<Dismissals>,
    /// Hook calls counted and not written yet.
    tallies: Tallies,
    /// Records lost, and when the last was (ms after `since`, plus one; 0: never).
    lost: AtomicU64,
    last_loss: AtomicU64,
    /// When a hook call was last refused for a full queue (as `last_loss`).
    last_refusal: AtomicU64,
    since: Instant,
}

/// The sending side of the audit queue. Cheap to clone; the task stops when every clone is
/// dropped, after writing what is queued.
#[derive(Debug, Clone)]
pub struct AuditWriter {
    queue: mpsc::Sender<Job>,
    /// For the checks that need not wait in the queue (see [`AuditWriter::check_suppression`]).
    store: Store,
    shared: Arc<Shared>,
    /// How long [`AuditWriter::record`] waits for room in a full queue.
    enqueue_wait: Duration,
}

impl AuditWriter {
    /// Starts the writer task on the current tokio runtime.
    pub fn spawn(store: Store, config: WriterConfig) -> AuditWriter {
        let (queue, jobs) = mpsc::channel(config.queue_capacity.max(1));
        let shared = Arc::new(Shared {
            urgent: Notify::new(),
            dismissals: matches!(store, Store::Sqlite(_)).then(Dismissals::default),
            tallies: Tallies::default(),
            lost: AtomicU64::new(0),
            last_loss: AtomicU64::new(0),
            last_refusal: AtomicU64::new(0),
            since: Instant::now(),
        });
        tokio::spawn(run(store.clone(), jobs, shared.clone()));
        AuditWriter {
            queue,
            store,
            shared,
            enqueue_wait: DEFAULT_ENQUEUE_WAIT,
        }
    }

    /// The same writer, waiting `wait` for room in a full queue (see [`AuditWriter::record`]).
    #[must_use]
    pub fn with_enqueue_wait(mut self, wait: Duration) -> AuditWriter {
        self.enqueue_wait = wait;
        self
    }

    /// Counts one answered hook call (see [`tally`]): an increment in memory, written with the
    /// next batch. Never waits and never fails: if the queue is full, the next batch writes it.
    pub fn count_call(&self, key: CallTally) {
        if self.shared.tallies.add(key, 1) {
            let _ = self.queue.try_send(Job::Tally);
        }
    }

    /// Sends a job someone waits for, and ends the writer's linger.
    fn send_awaited(&self, job: Job) -> Result<(), StoreError> {
        self.queue.try_send(job).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => StoreError::QueueFull,
            mpsc::error::TrySendError::Closed(_) => StoreError::WriterStopped,
        })?;
        self.shared.urgent.notify_one();
        Ok(())
    }

    /// For each candidate of `query`, whether a suppression rule hides it, and which.
    ///
    /// A query that a repeat could answer (a candidate at an order hook) waits in the queue, to
    /// be answered after every card record queued before it; it fails at once when the queue is
    /// full. A query that only a dismissal can answer (patient-view, encounter-start) reads the
    /// store at once, beside the queue: a dismissal is written with its feedback, which is
    /// committed before it is acknowledged, so there is nothing in the queue it could miss, and
    /// the card records queued meanwhile keep lingering to be written together. On SQLite, a
    /// patient with no dismissal at all is answered from memory ([`dismissals`]).
    pub async fn check_suppression(
        &self,
        query: SuppressionQuery,
    ) -> Result<Vec<Option<SuppressionReason>>, StoreError> {
        if query
            .candidates
            .iter()
            .all(|(_, repeat_hides)| !repeat_hides)
        {
            if let Some(dismissals) = &self.shared.dismissals
                && dismissals.none_for(&query.patient_hash)
            {
                return Ok(vec![None; query.candidates.len()]);
            }
            return self.store.check_now(&query).await;
        }
        let (done, answer) = oneshot::channel();
        self.send_awaited(Job::Check {
            query,
            done: Some(done),
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
        self.shared.urgent.notify_one();
        written.await.unwrap_or(false)
    }

    /// Stores feedback and waits until it is committed.
    pub async fn store_feedback(
        &self,
        items: Vec<FeedbackRecord>,
    ) -> Result<Vec<FeedbackStored>, StoreError> {
        let (done, stored) = oneshot::channel();
        self.send_awaited(Job::Feedback { items, done })?;
        match stored.await {
            Ok(Ok(stored)) => Ok(stored),
            Ok(Err(message)) => Err(StoreError::Database(sqlx::Error::Protocol(message))),
            Err(_) => Err(StoreError::WriterStopped),
        }
    }
}

/// The writer task: waits for a job, lets more gather (asleep, unless one is awaited), takes
/// whatever is queued, writes it all at once.
async fn run(store: Store, mut jobs: mpsc::Receiver<Job>, shared: Arc<Shared>) {
    let mut ready = false;
    let mut last_attempt: Option<Instant> = None;
    while let Some(first) = jobs.recv().await {
        let mut batch = vec![first];
        if !batch[0].is_awaited() && jobs.len() < MAX_BATCH {
            tokio::select! {
                () = tokio::time::sleep(CARD_LINGER) => {}
                () = shared.urgent.notified() => {}
            }
        }
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }

        // The schema is brought up to date on first use, and retried while the store is down;
        // until then, every check reads the store.
        if !ready && last_attempt.is_none_or(|t| t.elapsed() >= RETRY_INTERVAL) {
            last_attempt = Some(Instant::now());
            match prepare(&store, &shared).await {
                Ok(()) => ready = true,
                Err(e) => {
                    tracing::error!(error = %e, backend = store.backend(), "the audit store is unavailable")
                }
            }
        }
        let result = if ready {
            let counts = shared.tallies.take();
            let result = store.write_batch(&mut batch, &counts, &shared).await;
            if result.is_err() {
                shared.tallies.restore(counts);
            }
            result
        } else {
            Err(StoreError::Database(sqlx::Error::PoolTimedOut))
        };
        finish(batch, result, &shared);
    }
    store.close().await;
}

/// Brings the schema up to date and, on SQLite, loads the index of dismissals.
async fn prepare(store: &Store, shared: &Shared) -> Result<(), StoreError> {
    store.migrate().await?;
    if let (Store::Sqlite(pool), Some(dismissals)) = (store, &shared.dismissals) {
        let patients: Vec<String> =
            sqlx::query_scalar("SELECT DISTINCT patient_hash FROM scoped_overrides")
                .fetch_all(pool)
                .await?;
        dismissals.load(patients);
    }
    Ok(())
}

/// Answers every awaited job of a batch not answered yet, and counts the records a failed
/// batch lost.
fn finish(batch: Vec<Job>, result: Result<Vec<Vec<FeedbackStored>>, StoreError>, shared: &Shared) {
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
                    Job::Check { done: None, .. } | Job::Records(_) | Job::Tally => {}
                }
            }
        }
        Err(e) => {
            tracing::error!(error = %e, "an audit batch could not be written");
            for job in batch {
                match job {
                    Job::Records(records) => shared.lose(&records, "the store refused the batch"),
                    Job::Tally => {}
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
    /// open and commit. `counts` are the hook calls counted since the last batch. Returns what
    /// storing each feedback job's items found, in order.
    async fn write_batch(
        &self,
        batch: &mut [Job],
        counts: &HashMap<CallTally, i64>,
        shared: &Shared,
    ) -> Result<Vec<Vec<FeedbackStored>>, StoreError> {
        if counts.is_empty()
            && batch
                .iter()
                .all(|job| matches!(job, Job::Check { .. } | Job::Flush(_) | Job::Tally))
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
        // The patients given a dismissal by this batch's feedback: added to the index of
        // dismissals after the commit, before the feedback is acknowledged.
        let mut dismissed: Vec<String> = Vec::new();
        let answers = on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let mut cards: Vec<&CardRecord> = Vec::new();
            let mut long_forms: Vec<&LongFormRecord> = Vec::new();
            let mut suppressed: Vec<&SuppressedRecord> = Vec::new();
            for job in batch.iter() {
                if let Job::Records(records) = job {
                    cards.extend(&records.cards);
                    long_forms.extend(&records.long_forms);
                    suppressed.extend(&records.suppressed);
                }
            }
            // Card records go first, so that feedback in the same batch finds its card.
            for chunk in cards.chunks(MAX_CARDS_PER_INSERT) {
                insert_cards!(tx, chunk);
            }
            for chunk in long_forms.chunks(MAX_CARDS_PER_INSERT) {
                let mut insert = sqlx::QueryBuilder::new(
                    "INSERT INTO long_form_sheets (lookup, expires_at_ms, sealed) ",
                );
                insert.push_values(chunk, |mut row, record| {
                    row.push_bind(&record.lookup)
                        .push_bind(record.expires_at_ms)
                        .push_bind(&record.sealed);
                });
                insert.push(" ON CONFLICT (lookup) DO NOTHING");
                insert.build().execute(&mut *tx).await?;
            }
            for record in suppressed {
                insert_suppressed!(&mut *tx, record);
            }
            for (key, calls) in counts {
                sqlx::query(ADD_CALLS)
                    .bind(key.day)
                    .bind(&key.service)
                    .bind(&key.hook)
                    .bind(&key.profile_version)
                    .bind(calls)
                    .execute(&mut *tx)
                    .await?;
            }
            let mut answers = Vec::new();
            for job in batch.iter_mut() {
                match job {
                    Job::Records(_) | Job::Flush(_) | Job::Tally => {}
                    Job::Feedback { items, .. } => {
                        let mut stored = Vec::with_capacity(items.len());
                        for item in items.iter() {
                            let (found, patient) = insert_feedback!(&mut *tx, item);
                            stored.push(found);
                            dismissed.extend(patient);
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
            answers
        });
        if let Some(dismissals) = &shared.dismissals {
            for patient in &dismissed {
                dismissals.add(patient);
            }
        }
        Ok(answers)
    }
}
