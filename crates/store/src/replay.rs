//! The JWT replay guard in the database, shared by every replica that uses the same store.
//!
//! One statement does the check and the insert atomically: insert `(iss, jti)`, or, if it is
//! there but expired, take it over; a row that is there and live is left alone, and "no row
//! changed" means the token is a replay. Both backends run the same `ON CONFLICT … DO UPDATE
//! … WHERE`, which is atomic in each.
//!
//! If the database fails, or does not answer within twice the store's acquire timeout (500 ms
//! at the default 250 ms: a connection, then one statement), the guard falls back to an
//! in-process [`MemoryReplayStore`] and counts `gravida_replay_store_fallbacks_total`: this
//! replica still refuses replays it has seen, and hook calls keep working while the database is
//! down, each losing at most that time (a refused connection costs far less). After a failure the
//! guard does not try the database again for [`RETRY_AFTER`]: during an outage only the first call
//! of each second waits for it, and the others go to memory at once.

use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use gravida_auth::{BoxFuture, MemoryReplayStore, ReplayStore, ReplayStoreError, Seen};

use crate::{Store, on_pool};

/// How long the guard leaves the database alone after it failed.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// A [`ReplayStore`] over [`Store`], with an in-memory fallback.
#[derive(Debug)]
pub struct SqlReplayStore {
    store: Store,
    fallback: MemoryReplayStore,
    /// Until when the database is not asked (it failed just before).
    resting_until: Mutex<Option<Instant>>,
}

impl SqlReplayStore {
    /// A guard over `store`; `fallback_capacity` bounds the in-memory fallback.
    pub fn new(store: Store, fallback_capacity: usize) -> SqlReplayStore {
        SqlReplayStore {
            store,
            fallback: MemoryReplayStore::new(fallback_capacity),
            resting_until: Mutex::new(None),
        }
    }

    async fn remember_in_db(
        &self,
        iss: &str,
        jti: &str,
        expires_at: SystemTime,
        now: SystemTime,
    ) -> Result<Seen, sqlx::Error> {
        let changed = on_pool!(&self.store, pool => {
            sqlx::query(
                "INSERT INTO jwt_replay (iss, jti, expires_at_ms) VALUES ($1, $2, $3) \
                 ON CONFLICT (iss, jti) DO UPDATE SET expires_at_ms = excluded.expires_at_ms \
                 WHERE jwt_replay.expires_at_ms <= $4",
            )
            .bind(iss)
            .bind(jti)
            .bind(unix_ms(expires_at))
            .bind(unix_ms(now))
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(if changed > 0 {
            Seen::First
        } else {
            Seen::Again
        })
    }
}

impl ReplayStore for SqlReplayStore {
    fn remember<'a>(
        &'a self,
        iss: &'a str,
        jti: &'a str,
        expires_at: SystemTime,
        now: SystemTime,
    ) -> BoxFuture<'a, Result<Seen, ReplayStoreError>> {
        Box::pin(async move {
            // The fallback also sees every jti, so that it is ready if the database goes.
            let local = self.fallback.remember(iss, jti, expires_at, now).await?;
            let resting = self
                .resting_until
                .lock()
                .map(|until| until.is_some_and(|t| Instant::now() < t))
                .unwrap_or(false);
            if resting {
                metrics::counter!("gravida_replay_store_fallbacks_total").increment(1);
                return Ok(local);
            }
            let deadline = self.store.acquire_timeout() * 2;
            let in_db =
                tokio::time::timeout(deadline, self.remember_in_db(iss, jti, expires_at, now));
            match in_db.await.unwrap_or(Err(sqlx::Error::PoolTimedOut)) {
                Ok(seen) => Ok(seen),
                Err(e) => {
                    if let Ok(mut until) = self.resting_until.lock() {
                        *until = Some(Instant::now() + RETRY_AFTER);
                    }
                    metrics::counter!("gravida_replay_store_fallbacks_total").increment(1);
                    tracing::warn!(error = %e, "replay store unavailable: using this replica's memory");
                    Ok(local)
                }
            }
        })
    }
}

/// Milliseconds since the Unix epoch (0 for earlier times).
fn unix_ms(t: SystemTime) -> i64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
