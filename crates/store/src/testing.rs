//! Test support for other crates (feature `testing`): a fresh PostgreSQL database per test, so
//! tests that count rows never see each other's.

use std::time::SystemTime;

use sqlx::postgres::PgPool;

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
