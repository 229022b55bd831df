//! Gravida's durable storage: the audit trail of issued cards, clinician feedback, the
//! governance report, retention, the JWT replay guard shared between replicas, and cards' long
//! forms (sealed: the store cannot read them).
//!
//! Two backends sit behind one [`Store`]: **SQLite** (the embedded default: one file in WAL
//! mode) and **PostgreSQL** (for several replicas). Both run the *same SQL text*: times are
//! Unix milliseconds in `BIGINT` columns, parameters are written `$1`, `$2`… (which SQLite
//! also understands), and conflicts use `ON CONFLICT`, which both speak. The [`on_pool!`]
//! macro expands one query for each backend's pool, so no query is written twice.
//!
//! Writes from the request path go through the [`AuditWriter`]: a bounded queue in front of
//! one task that commits in batches (group commit). A hook call's records never wait for the
//! disk: they wait a few milliseconds at most for room in a full queue, and a record that still
//! finds none is counted, logged and makes the replica not ready, never dropped quietly.
//! Feedback waits for its commit, so feedback that was acknowledged is on disk.
//!
//! The same queue answers the one read the hook path makes, "was this card shown or dismissed
//! already?" ([`AuditWriter::check_suppression`]): asked through the queue, it is answered after
//! every card record queued before it, so a replica always sees the cards it has just issued.
//!
//! Nothing here stores a raw patient id: callers pass a keyed hash ([`PatientHasher`]).

mod patient;
mod profiles;
mod purge;
mod records;
mod replay;
mod report;
mod weekly;
mod writer;

#[cfg(any(test, feature = "testing"))]
pub mod testing;
#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

pub use patient::{PatientHasher, hex};
pub use profiles::ProfileVersion;
pub use purge::{EXPIRED_BATCH, PurgeLock, Purged};
pub use records::{
    CallRecords, CardRecord, FeedbackRecord, FeedbackStored, LongFormRecord, SuggestionRecord,
    SuppressedRecord, SuppressionQuery, SuppressionReason,
};
pub use replay::SqlReplayStore;
pub use report::{ProfileUse, Report, RuleReport};
pub use weekly::{HookWeek, RuleWeek, WeekReport, Weekly};
pub use writer::{AuditWriter, Backlog, CallTally, WriterConfig};

/// Why the store could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The URL is neither `sqlite:` nor `postgres:`/`postgresql:`.
    #[error("unsupported store URL: use sqlite:PATH or postgres://…")]
    UnsupportedUrl,
    /// The database refused or could not be reached.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The schema could not be brought up to date.
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The write queue is full: the disk or the database is slower than the traffic.
    #[error("the audit write queue is full")]
    QueueFull,
    /// The writer has stopped (the service is shutting down).
    #[error("the audit writer has stopped")]
    WriterStopped,
    /// The patient key could not be read or created.
    #[error("patient key {path}: {message}")]
    PatientKey { path: String, message: String },
}

/// A connection pool to one of the two supported databases.
#[derive(Clone)]
pub enum Store {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

impl std::fmt::Debug for Store {
    // Only the backend: the pools' own `Debug` shows their connect options, password included.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Store({})", self.backend())
    }
}

/// Runs `$body` with `$pool` bound to whichever pool `$store` holds. The body is compiled once
/// per backend, which is how one query text serves both.
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match $store {
            $crate::Store::Sqlite($pool) => $body,
            $crate::Store::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_pool;

/// How a pool is sized and how long a caller waits for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreOptions {
    /// How long a caller waits for a pooled connection, connecting included, before the store
    /// counts as down. On the hook path this is what a store outage costs a call, so it is short.
    pub acquire_timeout: Duration,
    /// Connections this replica opens at most (PostgreSQL; SQLite keeps 4).
    pub max_connections: u32,
}

impl Default for StoreOptions {
    /// 250 ms and 8 connections: the service's defaults (`store.acquire_timeout_ms`,
    /// `store.max_connections`).
    fn default() -> Self {
        StoreOptions {
            acquire_timeout: Duration::from_millis(250),
            max_connections: 8,
        }
    }
}

impl StoreOptions {
    /// For commands that need the data now and have no caller waiting (`gravida report`): a
    /// remote database over TLS may take longer than a hook call could wait to connect.
    pub fn patient() -> StoreOptions {
        StoreOptions {
            acquire_timeout: Duration::from_secs(10),
            ..StoreOptions::default()
        }
    }
}

/// Connections an SQLite pool keeps (one writer at a time; WAL lets readers run beside it).
const SQLITE_CONNECTIONS: u32 = 4;

/// The page size of a new SQLite database, in bytes (SQLite's default is 4,096). A sealed long
/// form is about 2.5 kB, so a 4 KiB page holds one and wastes the rest: 4.2 kB of file per long
/// form. An 8 KiB page holds three: 2.8 kB each (measured on the benchmark patient's rows; 16 KiB
/// pages gave the same, and cost twice the bytes per page each commit writes to the WAL). A
/// database created with another page size keeps it: in WAL mode SQLite ignores the pragma.
pub const SQLITE_PAGE_SIZE: u32 = 8192;

/// SQLite's page cache per connection, in KiB (`PRAGMA cache_size = -1024`; SQLite's own default
/// is 2,000 KiB). The writer appends to the ends of its indexes and the hook path reads by key,
/// so a small cache serves both; each of the [`SQLITE_CONNECTIONS`] has its own, so this bounds
/// the store's cache at 4 MiB (README, Performance: memory).
pub const SQLITE_CACHE_KIB: u32 = 1024;

/// The size SQLite cuts its write-ahead log file back to after a checkpoint has reset it
/// (`PRAGMA journal_size_limit`), in bytes: 64 MiB, eight times the log of a default
/// auto-checkpoint (1,000 pages of 8 KiB).
pub const SQLITE_WAL_LIMIT_BYTES: i64 = 64 << 20;

impl Store {
    /// [`Store::open_lazy_with`] with the default options.
    pub fn open_lazy(url: &str) -> Result<Store, StoreError> {
        Store::open_lazy_with(url, StoreOptions::default())
    }

    /// A pool for `url` that connects on first use, so a database that is down now does not
    /// stop the service from starting. Call [`Store::migrate`] before writing.
    ///
    /// `sqlite:` URLs get WAL mode, `synchronous = FULL`, pages of [`SQLITE_PAGE_SIZE`] when the
    /// database is new, a page cache of [`SQLITE_CACHE_KIB`] per connection, temporary files
    /// (statement journals) in memory, a log cut back to [`SQLITE_WAL_LIMIT_BYTES`] and a busy
    /// timeout; the file and its folder are created.
    ///
    /// **Durability.** `FULL` in WAL mode syncs the log at every commit, so a committed batch
    /// survives a crash of the process *and* of the machine (power loss): acknowledged feedback
    /// is never lost. `NORMAL` would sync only at checkpoints: never corrupt, but the last
    /// batches committed before a power loss could vanish. The writer commits one batch of many
    /// calls per transaction (group commit), so `FULL` costs one fsync per batch, not per call,
    /// and the load benchmark measured the same CPU and throughput with either.
    ///
    /// A pooled SQLite connection is a file handle on this machine: it is not pinged before
    /// use (sqlx's `test_before_acquire`), which would cost a round trip to its thread per use.
    /// `postgres:` URLs may ask for TLS with `sslmode` (`require`: encrypted; `verify-full`:
    /// encrypted to a server whose certificate names the host and chains to `sslrootcert`, or to
    /// the webpki roots without it).
    pub fn open_lazy_with(url: &str, options: StoreOptions) -> Result<Store, StoreError> {
        if url.starts_with("sqlite:") {
            let connect = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .page_size(SQLITE_PAGE_SIZE)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .pragma("cache_size", format!("-{SQLITE_CACHE_KIB}"))
                // A multi-row INSERT inside the writer's transaction keeps a statement journal
                // (the pages it changed, to undo it alone if it fails half-way). In a file, that
                // was 16 kB of writes per call to a temporary file; in memory it is a few pages
                // for the moment the statement runs.
                .pragma("temp_store", "memory")
                // The log is reused from its start after each checkpoint, but its file keeps the
                // largest size it ever reached: in the one-hour soak the first purge of expired
                // long forms (a burst of deletes, each touching a page of the random lookup
                // index) grew it to 415 MB, which stayed on disk. Past this size, the file is
                // cut back once a checkpoint has reset it.
                .pragma("journal_size_limit", SQLITE_WAL_LIMIT_BYTES.to_string())
                .busy_timeout(Duration::from_secs(5));
            if let Some(dir) = connect.get_filename().parent()
                && !dir.as_os_str().is_empty()
            {
                // Best effort: if this fails, the first connection says why.
                let _ = std::fs::create_dir_all(dir);
            }
            let pool = SqlitePoolOptions::new()
                .max_connections(SQLITE_CONNECTIONS)
                .test_before_acquire(false)
                .acquire_timeout(options.acquire_timeout)
                .connect_lazy_with(connect);
            Ok(Store::Sqlite(pool))
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let pool = PgPoolOptions::new()
                .max_connections(options.max_connections.max(1))
                .acquire_timeout(options.acquire_timeout)
                .connect_lazy(url)?;
            Ok(Store::Postgres(pool))
        } else {
            Err(StoreError::UnsupportedUrl)
        }
    }

    /// Opens `url` and brings its schema up to date (for commands that need the data now, with
    /// [`StoreOptions::patient`]).
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        let store = Store::open_lazy_with(url, StoreOptions::patient())?;
        store.migrate().await?;
        Ok(store)
    }

    /// `sqlite` or `postgres`, for logs (the URL itself may hold a password).
    pub fn backend(&self) -> &'static str {
        match self {
            Store::Sqlite(_) => "sqlite",
            Store::Postgres(_) => "postgres",
        }
    }

    /// Applies the migrations this backend has not seen yet.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match self {
            Store::Sqlite(pool) => migrator(SQLITE_MIGRATIONS).run(pool).await?,
            Store::Postgres(pool) => migrator(POSTGRES_MIGRATIONS).run(pool).await?,
        }
        Ok(())
    }

    /// How long a caller waits for a connection (see [`StoreOptions::acquire_timeout`]).
    pub fn acquire_timeout(&self) -> Duration {
        on_pool!(self, pool => pool.options().get_acquire_timeout())
    }

    /// The newest migration this binary knows.
    pub fn known_schema(&self) -> i64 {
        let migrations = match self {
            Store::Sqlite(_) => SQLITE_MIGRATIONS,
            Store::Postgres(_) => POSTGRES_MIGRATIONS,
        };
        migrations.last().map_or(0, |(version, _, _)| *version)
    }

    /// The newest migration applied to the database.
    async fn applied_schema(&self) -> Result<i64, sqlx::Error> {
        let newest: Option<i64> = on_pool!(self, pool => {
            sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success")
                .fetch_one(pool)
                .await?
        });
        Ok(newest.unwrap_or(0))
    }

    /// Whether the store can be used now: reachable, and with a schema this binary knows. A
    /// schema behind the binary's is brought up to date here, so a store that was down at
    /// start-up is migrated when it comes back. One query when all is well.
    pub async fn health(&self) -> Health {
        let known = self.known_schema();
        match self.applied_schema().await {
            Ok(applied) if applied == known => return Health::Ready,
            Ok(applied) if applied > known => {
                return Health::SchemaNewer {
                    database: applied,
                    binary: known,
                };
            }
            // Behind, or no migrations table yet (a new database), or unreachable: migrating
            // tells which.
            _ => {}
        }
        match self.migrate().await {
            Ok(()) => Health::Ready,
            Err(StoreError::Migrate(sqlx::migrate::MigrateError::VersionMissing(_))) => {
                Health::SchemaNewer {
                    database: self.applied_schema().await.unwrap_or(0),
                    binary: known,
                }
            }
            // The database did not answer, or failed, while migrating.
            Err(StoreError::Migrate(e @ sqlx::migrate::MigrateError::Execute(_))) => {
                Health::Unreachable(e.to_string())
            }
            Err(StoreError::Migrate(e)) => Health::SchemaInvalid(e.to_string()),
            Err(e) => Health::Unreachable(e.to_string()),
        }
    }

    /// Closes the pool, waiting for connections in use to be returned.
    ///
    /// SQLite first writes its log back into the database and truncates it to nothing
    /// (`wal_checkpoint(TRUNCATE)`). Closing the last connection would do the same and remove
    /// the file, but that close runs on the connection's own thread, which the process may not
    /// wait for on its way out: the checkpoint makes the database whole whichever comes first.
    pub async fn close(&self) {
        if let Store::Sqlite(pool) = self
            && let Err(error) = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(pool)
                .await
        {
            tracing::warn!(error = %error, "could not write the store's log back at close");
        }
        on_pool!(self, pool => pool.close().await)
    }
}

/// What [`Store::health`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    Ready,
    /// The database could not be reached (the error, for the log: it names no password).
    Unreachable(String),
    /// The database has migrations this binary does not know: it was migrated by a newer
    /// release (a rollback). This binary does not write to a schema it does not know.
    SchemaNewer {
        database: i64,
        binary: i64,
    },
    /// The applied migrations do not match this binary's (edited, or failed half-way).
    SchemaInvalid(String),
}

impl Health {
    /// Why the store is not ready, in words fit for an unauthenticated probe (no URL, no
    /// error text); `None` when it is.
    pub fn not_ready_reason(&self) -> Option<String> {
        match self {
            Health::Ready => None,
            Health::Unreachable(_) => Some("the store cannot be reached".to_owned()),
            Health::SchemaNewer { database, binary } => Some(format!(
                "the store's schema (migration {database}) is newer than this binary's \
                 (migration {binary}): roll forward, see README Operations"
            )),
            Health::SchemaInvalid(_) => {
                Some("the store's applied migrations do not match this binary's".to_owned())
            }
        }
    }
}

/// The migrations, compiled into the binary: `(version, description, SQL)`. A migration whose
/// text both backends run alike lives once, in `migrations/common/`.
type Migrations = &'static [(i64, &'static str, &'static str)];

const SQLITE_MIGRATIONS: Migrations = &[
    (
        1,
        "audit",
        include_str!("../migrations/sqlite/0001_audit.sql"),
    ),
    (
        2,
        "card repeats",
        include_str!("../migrations/sqlite/0002_card_repeats.sql"),
    ),
    (
        3,
        "card long forms",
        include_str!("../migrations/sqlite/0003_card_long_forms.sql"),
    ),
    (
        4,
        "suppression lookups",
        include_str!("../migrations/common/0004_suppression_lookups.sql"),
    ),
    (
        5,
        "scoped overrides",
        include_str!("../migrations/common/0005_scoped_overrides.sql"),
    ),
    (
        6,
        "card mode",
        include_str!("../migrations/common/0006_card_mode.sql"),
    ),
    (
        7,
        "hook calls",
        include_str!("../migrations/common/0007_hook_calls.sql"),
    ),
    (
        8,
        "long form sheets",
        include_str!("../migrations/sqlite/0008_long_form_sheets.sql"),
    ),
    (
        9,
        "profile versions",
        include_str!("../migrations/common/0009_profile_versions.sql"),
    ),
    (
        10,
        "card suggestions",
        include_str!("../migrations/common/0010_card_suggestions.sql"),
    ),
    (
        11,
        "long forms in order",
        include_str!("../migrations/sqlite/0011_long_forms_in_order.sql"),
    ),
];
const POSTGRES_MIGRATIONS: Migrations = &[
    (
        1,
        "audit",
        include_str!("../migrations/postgres/0001_audit.sql"),
    ),
    (
        2,
        "card repeats",
        include_str!("../migrations/postgres/0002_card_repeats.sql"),
    ),
    (
        3,
        "card long forms",
        include_str!("../migrations/postgres/0003_card_long_forms.sql"),
    ),
    (
        4,
        "suppression lookups",
        include_str!("../migrations/common/0004_suppression_lookups.sql"),
    ),
    (
        5,
        "scoped overrides",
        include_str!("../migrations/common/0005_scoped_overrides.sql"),
    ),
    (
        6,
        "card mode",
        include_str!("../migrations/common/0006_card_mode.sql"),
    ),
    (
        7,
        "hook calls",
        include_str!("../migrations/common/0007_hook_calls.sql"),
    ),
    (
        8,
        "long form sheets",
        include_str!("../migrations/postgres/0008_long_form_sheets.sql"),
    ),
    (
        9,
        "profile versions",
        include_str!("../migrations/common/0009_profile_versions.sql"),
    ),
    (
        10,
        "card suggestions",
        include_str!("../migrations/common/0010_card_suggestions.sql"),
    ),
    (
        11,
        "long forms in order",
        include_str!("../migrations/postgres/0011_long_forms_in_order.sql"),
    ),
];

/// A sqlx migrator over embedded migrations (sqlx's `migrate!` macro would need the `macros`
/// feature and a proc-macro build; these few lines do the same).
fn migrator(migrations: Migrations) -> Migrator {
    let migrations = migrations
        .iter()
        .map(|(version, description, sql)| {
            Migration::new(
                *version,
                Cow::Borrowed(*description),
                MigrationType::Simple,
                Cow::Borrowed(*sql),
                false,
            )
        })
        .collect::<Vec<_>>();
    Migrator {
        migrations: Cow::Owned(migrations),
        ..Migrator::DEFAULT
    }
}

/// The default SQLite URL for a data folder: `sqlite://{dir}/gravida.db`.
pub fn sqlite_url_in(data_dir: &Path) -> String {
    format!("sqlite://{}", data_dir.join("gravida.db").display())
}
