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
