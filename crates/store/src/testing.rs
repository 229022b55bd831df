//! Test support for other crates (feature `testing`): a fresh PostgreSQL database per test, so
//! tests that count rows never see each other's.

use std::time::SystemTime;

use sqlx::postgres::PgPool;

use crate::Store;

/// Creates a new, empty database on the server `admin_url` names and returns its URL.
pub async fn fresh_postgres_url(admin_url: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let name = format!(
        "gravida_test_{}_{}_{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    let admin = PgPool::connect(admin_url)
        .await
        .expect("the PostgreSQL test server is reachable");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&admin)
        .await
        .expect("the test database is created");
    admin.close().await;
    let base = admin_url.rsplit_once('/').map_or(admin_url, |(b, _)| b);
    format!("{base}/{name}")
}

/// Records in `_sqlx_migrations` a migration `version` this binary does not know, as a newer
/// release would have left it (the rollback case).
pub async fn record_unknown_migration(store: &Store, version: i64) {
    crate::on_pool!(store, pool => {
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, \
             execution_time) VALUES ($1, 'from a newer release', TRUE, $2, 0)",
        )
        .bind(version)
        .bind(vec![0u8; 48])
        .execute(pool)
        .await
        .expect("the migration is recorded");
    });
}

/// Whether the server sees this PostgreSQL store's connection as encrypted (`pg_stat_ssl`).
pub async fn server_sees_tls(store: &Store) -> bool {
    let Store::Postgres(pool) = store else {
        panic!("only PostgreSQL connections can be encrypted")
    };
    sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .fetch_one(pool)
        .await
        .expect("pg_stat_ssl is readable")
}

/// Applies this backend's migrations up to and with `version` only, as a store left by an older
/// release would be (then [`Store::migrate`] takes it the rest of the way).
pub async fn migrate_up_to(store: &Store, version: i64) {
    let migrations = match store {
        Store::Sqlite(_) => crate::SQLITE_MIGRATIONS,
        Store::Postgres(_) => crate::POSTGRES_MIGRATIONS,
    };
    let upto: Vec<_> = migrations
        .iter()
        .copied()
        .filter(|(v, _, _)| *v <= version)
        .collect();
    let upto: &'static [(i64, &'static str, &'static str)] = Box::leak(upto.into_boxed_slice());
    crate::on_pool!(store, pool => {
        crate::migrator(upto).run(pool).await.expect("the older migrations apply");
    });
}

/// Every card record as `(card_uuid, rule_id, mode)`, in insertion order: what a test reads
/// back to see whether a card was recorded, and how.
pub async fn card_modes(store: &Store) -> Vec<(String, String, String)> {
    crate::on_pool!(store, pool => {
        sqlx::query_as("SELECT card_uuid, rule_id, mode FROM audit_cards ORDER BY issued_at_ms, card_uuid")
            .fetch_all(pool)
            .await
            .expect("audit_cards is readable")
    })
}

/// Writes `card` as the release before rule modes did, into an `audit_cards` with no `mode`
/// column (see [`migrate_up_to`]); its suggestions are left out.
pub async fn insert_card_without_mode(store: &Store, card: &crate::CardRecord) {
    let sql = "INSERT INTO audit_cards (card_uuid, rule_id, indicator, profile_version, service, \
               hook, hook_instance, issued_at_ms, issuer, tenant, patient_hash, fingerprint, \
               encounter_hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)";
    crate::on_pool!(store, pool => {
        sqlx::query(sql)
            .bind(&card.card_uuid)
            .bind(&card.rule_id)
            .bind(&card.indicator)
            .bind(&card.profile_version)
            .bind(&card.service)
            .bind(&card.hook)
            .bind(&card.hook_instance)
            .bind(card.issued_at_ms)
            .bind(&card.issuer)
            .bind(&card.tenant)
            .bind(&card.patient_hash)
            .bind(&card.fingerprint)
            .bind(&card.encounter_hash)
            .execute(pool)
            .await
            .expect("the card is written");
    });
}

/// SQLite's write lock, held by an open `BEGIN IMMEDIATE` on a connection of its own until
/// [`WriteLock::release`]: the store's writer waits for it as for a disk that has stalled.
#[derive(Debug)]
pub struct WriteLock(sqlx::pool::PoolConnection<sqlx::Sqlite>);

impl WriteLock {
    /// Takes the write lock of the SQLite `store`.
    pub async fn hold(store: &Store) -> WriteLock {
        let Store::Sqlite(pool) = store else {
            panic!("a write lock is held on an SQLite store");
        };
        let mut connection = pool.acquire().await.expect("a connection to the store");
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut *connection)
            .await
            .expect("the write lock is taken");
        WriteLock(connection)
    }

    /// Lets the writer go on.
    pub async fn release(mut self) {
        sqlx::query("ROLLBACK")
            .execute(&mut *self.0)
            .await
            .expect("the write lock is released");
    }
}
