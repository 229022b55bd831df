//! The retention purge, run by one replica at a time, and the purge of expired long forms.
//!
//! Long forms live for `cards.long_form_ttl_s` (30 minutes by default), so at a steady rate of
//! calls they are the bulk of the database only if they outlive it: [`Store::purge_expired`]
//! deletes the expired ones every minute, in transactions of at most [`EXPIRED_BATCH`] rows so
//! that the writer never waits long behind it. Their pages are then reused by new ones: the
//! long forms take what the last TTL's calls need, not a share of every call ever made.
//!
//! Every replica runs the hourly purge task, but on PostgreSQL only one of them purges at a
//! time: the purge's transaction first takes a transaction-level advisory lock
//! (`pg_try_advisory_xact_lock`), without waiting, and a replica that does not get it skips this
//! round (another replica is deleting the same rows). The lock goes with the transaction, at
//! commit or rollback, or if the replica dies. SQLite serves one replica, and its writes are
//! serialised anyway: no lock.

use sqlx::{Postgres, Sqlite, Transaction};

use crate::{Store, StoreError};

/// The advisory lock key of the purge ("gravida" + "purge" as one number; any constant that no
/// other user of the database takes will do).
const PURGE_LOCK_KEY: i64 = 0x6772_6176_7075_7267;

/// The most expired long forms one transaction of [`Store::purge_expired`] deletes.
pub const EXPIRED_BATCH: i64 = 2_000;

/// Deletes up to [`EXPIRED_BATCH`] long forms expired by `$now_ms`, oldest first, in the
/// transaction `$tx` of either backend; the rows deleted.
macro_rules! purge_expired_in {
    ($tx:ident, $now_ms:expr) => {{
        sqlx::query(
            "DELETE FROM long_form_sheets WHERE lookup IN (SELECT lookup FROM long_form_sheets \
             WHERE expires_at_ms <= $1 ORDER BY expires_at_ms LIMIT $2)",
        )
        .bind($now_ms)
        .bind(EXPIRED_BATCH)
        .execute(&mut *$tx)
        .await?
        .rows_affected()
    }};
}

/// How many rows a purge removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    pub cards: u64,
    pub feedback: u64,
    pub replay: u64,
    pub suppressed: u64,
    /// Remembered overrides ("already addressed" and the other reasons) of purged cards.
    pub overrides: u64,
    pub long_forms: u64,
}

/// The right to purge now: an open transaction that holds the purge lock (PostgreSQL), or just
/// an open transaction (SQLite). Dropped without [`PurgeLock::purge`], it rolls back and lets go.
#[derive(Debug)]
pub enum PurgeLock {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

impl Store {
    /// Takes the purge lock if no other replica holds it; `None` if one does.
    pub async fn purge_lock(&self) -> Result<Option<PurgeLock>, StoreError> {
        Ok(match self {
            Store::Sqlite(pool) => Some(PurgeLock::Sqlite(pool.begin().await?)),
            Store::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
                    .bind(PURGE_LOCK_KEY)
                    .fetch_one(&mut *tx)
                    .await?;
                locked.then_some(PurgeLock::Postgres(tx))
            }
        })
    }

    /// Deletes the long forms that have expired by `now_ms`, a batch per transaction, each
    /// batch under the purge lock; the rows deleted, or `None` when another replica held the
    /// lock before any was.
    pub async fn purge_expired(&self, now_ms: i64) -> Result<Option<u64>, StoreError> {
        let mut deleted = 0;
        loop {
            let Some(lock) = self.purge_lock().await? else {
                return Ok((deleted > 0).then_some(deleted));
            };
            let batch = match lock {
                PurgeLock::Sqlite(mut tx) => {
                    let n = purge_expired_in!(tx, now_ms);
                    tx.commit().await?;
                    n
                }
                PurgeLock::Postgres(mut tx) => {
                    let n = purge_expired_in!(tx, now_ms);
                    tx.commit().await?;
                    n
                }
            };
            deleted += batch;
            if batch < EXPIRED_BATCH as u64 {
                return Ok(Some(deleted));
            }
        }
    }

    /// Deletes audit and feedback rows older than `before_ms`, and replay entries and long forms
    /// that have expired by `now_ms`; `None` when another replica is purging.
    pub async fn purge(&self, before_ms: i64, now_ms: i64) -> Result<Option<Purged>, StoreError> {
        match self.purge_lock().await? {
            Some(lock) => Ok(Some(lock.purge(before_ms, now_ms).await?)),
            None => Ok(None),
        }
    }
}

/// The purge's statements, in one transaction `$tx` of either backend.
macro_rules! purge_in {
    ($tx:ident, $before_ms:expr, $now_ms:expr) => {{
        let (before_ms, now_ms) = ($before_ms, $now_ms);
        sqlx::query(
            "DELETE FROM audit_suggestions WHERE card_uuid IN \
             (SELECT card_uuid FROM audit_cards WHERE issued_at_ms < $1)",
        )
        .bind(before_ms)
        .execute(&mut *$tx)
        .await?;
        let cards = sqlx::query("DELETE FROM audit_cards WHERE issued_at_ms < $1")
            .bind(before_ms)
            .execute(&mut *$tx)
            .await?
            .rows_affected();
        sqlx::query(
            "DELETE FROM feedback_suggestions WHERE EXISTS (SELECT 1 FROM feedback f \
             WHERE f.card_uuid = feedback_suggestions.card_uuid \
             AND f.outcome_at_ms = feedback_suggestions.outcome_at_ms \
             AND f.received_at_ms < $1)",
        )
        .bind(before_ms)
        .execute(&mut *$tx)
        .await?;
        let feedback = sqlx::query("DELETE FROM feedback WHERE received_at_ms < $1")
            .bind(before_ms)
            .execute(&mut *$tx)
            .await?
            .rows_affected();
        // An override is forgotten with the card it was about. `card_overrides` is the table
        // of the release before (kept for it until the next), `scoped_overrides` today's.
        sqlx::query("DELETE FROM card_overrides WHERE card_issued_at_ms < $1")
            .bind(before_ms)
            .execute(&mut *$tx)
            .await?;
        let overrides = sqlx::query("DELETE FROM scoped_overrides WHERE card_issued_at_ms < $1")
            .bind(before_ms)
            .execute(&mut *$tx)
            .await?
            .rows_affected();
        let suppressed = sqlx::query("DELETE FROM audit_suppressed WHERE suppressed_at_ms < $1")
            .bind(before_ms)
            .execute(&mut *$tx)
            .await?
            .rows_affected();
        let long_forms = sqlx::query("DELETE FROM long_form_sheets WHERE expires_at_ms <= $1")
            .bind(now_ms)
            .execute(&mut *$tx)
            .await?
            .rows_affected();
        // The rows of the release before (nothing writes them now): gone once expired.
        let long_forms = long_forms
            + sqlx::query("DELETE FROM card_long_forms WHERE expires_at_ms <= $1")
                .bind(now_ms)
                .execute(&mut *$tx)
                .await?
                .rows_affected();
        let replay = sqlx::query("DELETE FROM jwt_replay WHERE expires_at_ms <= $1")
            .bind(now_ms)
            .execute(&mut *$tx)
            .await?
            .rows_affected();
        Purged {
            cards,
            feedback,
            replay,
            suppressed,
            overrides,
            long_forms,
        }
    }};
}

impl PurgeLock {
    /// Purges (see [`Store::purge`]) and commits, which lets go of the lock.
    pub async fn purge(self, before_ms: i64, now_ms: i64) -> Result<Purged, StoreError> {
        match self {
            PurgeLock::Sqlite(mut tx) => {
                let purged = purge_in!(tx, before_ms, now_ms);
                tx.commit().await?;
                Ok(purged)
            }
            PurgeLock::Postgres(mut tx) => {
                let purged = purge_in!(tx, before_ms, now_ms);
                tx.commit().await?;
                Ok(purged)
            }
        }
    }
}
