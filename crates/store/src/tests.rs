//! The store's own tests that need no database server. The tests of the queries themselves run
//! on SQLite and PostgreSQL from the integration tests (`tests/it/store.rs`), where the test
//! harness's environment may be read.

use std::time::SystemTime;

use super::*;

fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}_{}_{}_{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

#[tokio::test]
async fn feedback_to_a_store_that_is_down_fails_instead_of_being_acknowledged() {
    // Nothing listens on port 1.
    let store = Store::open_lazy("postgres://gravida@127.0.0.1:1/none").unwrap();
    let writer = AuditWriter::spawn(store, WriterConfig { queue_capacity: 4 });
    let result = writer.store_feedback(vec![item("c1")]).await;
    assert!(result.is_err());
}

#[tokio::test]
async fn a_full_queue_refuses_feedback_at_once_and_drops_card_records() {
    // The writer is stuck on a store that is down (each attempt waits for its timeout, 3 s
    // here), so the one-slot queue fills.
    let options = StoreOptions {
        acquire_timeout: std::time::Duration::from_secs(3),
        ..StoreOptions::default()
    };
    let store = Store::open_lazy_with("postgres://gravida@127.0.0.1:1/none", options).unwrap();
    let writer = AuditWriter::spawn(store, WriterConfig { queue_capacity: 1 });
    let stuck = {
        let writer = writer.clone();
        tokio::spawn(async move { writer.store_feedback(vec![item("c1")]).await })
    };
    // Let the writer take the first job; the second fills the queue.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(writer.offer_cards(vec![card("c2")]));
    let started = std::time::Instant::now();
    let refused = writer.store_feedback(vec![item("c3")]).await;
    assert!(matches!(refused, Err(StoreError::QueueFull)), "{refused:?}");
    // At once: well before the 3 s the stuck batch waits for the store.
    assert!(
        started.elapsed() < std::time::Duration::from_secs(1),
        "refused at once"
    );
    assert!(
        !writer.offer_cards(vec![card("c4")]),
        "dropped, not waited for"
    );
    assert!(stuck.await.unwrap().is_err());
}

fn item(card_uuid: &str) -> FeedbackRecord {
    FeedbackRecord {
        card_uuid: card_uuid.to_owned(),
        outcome: "overridden".to_owned(),
        outcome_at_ms: 1,
        service: "gravida-patient-view".to_owned(),
        override_system: None,
        override_code: None,
        has_comment: false,
        accepted_suggestions: vec![],
        received_at_ms: 1,
        issuer: None,
        tenant: None,
    }
}

fn card(card_uuid: &str) -> CardRecord {
    CardRecord {
        card_uuid: card_uuid.to_owned(),
        rule_id: "R1".to_owned(),
        indicator: "warning".to_owned(),
        mode: "active".to_owned(),
        profile_version: "default@test".to_owned(),
        service: "gravida-patient-view".to_owned(),
        hook: "patient-view".to_owned(),
        hook_instance: "hi".to_owned(),
        issued_at_ms: 1,
        issuer: None,
        tenant: None,
        patient_hash: PatientHasher::new(b"k").hash("p"),
        fingerprint: None,
        encounter_hash: None,
        suggestions: vec![],
    }
}

#[test]
fn the_patient_hash_is_keyed_and_never_contains_the_id() {
    let a = PatientHasher::new(b"key-a").hash("patient-123");
    let b = PatientHasher::new(b"key-b").hash("patient-123");
    assert_ne!(a, b);
    assert_eq!(a.len(), 64);
    assert!(!a.contains("patient-123"));
    assert_eq!(a, PatientHasher::new(b"key-a").hash("patient-123"));
}

#[test]
fn the_patient_hash_is_the_rfc_4231_hmac_in_lowercase_hex_as_stored_rows_have_it() {
    // RFC 4231, test case 2: the hash of earlier releases' rows, so they still match.
    assert_eq!(
        PatientHasher::new(b"Jefe").hash("what do ya want for nothing?"),
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
    let every_byte: Vec<u8> = (0..=255).collect();
    let formatted: String = every_byte.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(crate::hex(&every_byte), formatted);
}

#[test]
fn a_hash_of_parts_is_the_hash_of_the_parts_joined_so_encounter_and_card_hashes_are_unchanged() {
    let hasher = PatientHasher::new(b"Jefe");
    assert_eq!(
        hasher.hash_parts(&[b"what do ya ", b"want for nothing?"]),
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
    assert_eq!(
        hasher.hash_parts(&[b"encounter\0", b"enc-1"]),
        hasher.hash("encounter\0enc-1")
    );
}

#[test]
fn a_patient_key_file_is_created_once_and_then_reused() {
    let path = std::env::temp_dir()
        .join(unique("gravida-key"))
        .join("patient.key");
    let (first, created) = PatientHasher::from_file_or_create(&path).unwrap();
    assert!(created);
    let (second, created) = PatientHasher::from_file_or_create(&path).unwrap();
    assert!(!created);
    assert_eq!(first.hash("p"), second.hash("p"));
}

#[test]
fn an_unsupported_url_is_refused() {
    assert!(matches!(
        Store::open_lazy("mysql://x"),
        Err(StoreError::UnsupportedUrl)
    ));
}

/// A fresh SQLite store in a folder of its own, migrated up to (and with) `versions`.
async fn sqlite_at(versions: usize) -> (Store, SqlitePool) {
    let dir = std::env::temp_dir().join(unique("gravida-store"));
    let store = Store::open_lazy(&sqlite_url_in(&dir)).unwrap();
    let Store::Sqlite(pool) = &store else {
        unreachable!("a sqlite: URL opens SQLite")
    };
    let pool = pool.clone();
    migrator(&SQLITE_MIGRATIONS[..versions])
        .run(&pool)
        .await
        .unwrap();
    (store, pool)
}

#[tokio::test]
async fn each_suppression_lookup_searches_an_index_and_never_scans_a_table() {
    // What keeps a hook call's suppression check as cheap for a patient seen a thousand times as
    // for one seen once (SQLite's plan; PostgreSQL has the same indexes).
    let (_store, pool) = sqlite_at(SQLITE_MIGRATIONS.len()).await;
    // Each search named must use the whole key it needs: a shorter one reads more rows.
    let lookups = [
        (
            "dismissed",
            writer::DISMISSED,
            &[
                "scoped_overrides USING COVERING INDEX sqlite_autoindex_scoped_overrides_1 \
               (patient_hash=? AND fingerprint=? AND issuer=? AND tenant=? AND service=? \
               AND override_system=? AND override_code=?)",
            ][..],
            7,
        ),
        (
            "shown",
            writer::SHOWN,
            &[
                "audit_cards USING INDEX audit_cards_patient_fingerprint_issued \
                 (patient_hash=? AND fingerprint=? AND issued_at_ms>?)",
                "audit_cards USING INDEX audit_cards_encounter_fingerprint_set \
                 (encounter_hash=? AND fingerprint=?)",
            ][..],
            6,
        ),
    ];
    for (name, query, searches, parameters) in lookups {
        let text = format!("EXPLAIN QUERY PLAN {query}");
        let mut explain = sqlx::query_as::<_, (i64, i64, i64, String)>(&text);
        for n in 1..=parameters {
            explain = explain.bind(format!("p{n}"));
        }
        let plan: Vec<String> = explain
            .fetch_all(&pool)
            .await
            .unwrap()
            .into_iter()
            .map(|(_, _, _, detail)| detail)
            .collect();
        assert!(
            // The one scan allowed is of the constant row that `SELECT EXISTS (…)` answers in.
            plan.iter()
                .all(|step| !step.starts_with("SCAN") || step == "SCAN CONSTANT ROW"),
            "{name} scans: {plan:?}"
        );
        for search in searches {
            assert!(
                plan.iter().any(|step| *step == format!("SEARCH {search}")),
                "{name} does not search {search}: {plan:?}"
            );
        }
    }
}

#[tokio::test]
async fn a_dismissal_stored_before_the_lookup_tables_existed_still_hides_its_card_at_its_service() {
    let (store, pool) = sqlite_at(3).await;
    let patient = PatientHasher::new(b"k").hash("p");
    sqlx::query(
        "INSERT INTO audit_cards (card_uuid, rule_id, indicator, profile_version, service, hook, \
         hook_instance, issued_at_ms, patient_hash, fingerprint) \
         VALUES ('c1', 'R1', 'warning', 'v', 's', 'patient-view', 'hi', 5, $1, 'fp')",
    )
    .bind(&patient)
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO feedback (card_uuid, outcome, outcome_at_ms, service, override_system, \
         override_code, has_comment, received_at_ms) \
         VALUES ('c1', 'overridden', 6, 's', 'urn:r', 'already-addressed', FALSE, 6)",
    )
    .execute(&pool)
    .await
    .unwrap();

    store.migrate().await.unwrap();
    let writer = AuditWriter::spawn(store, WriterConfig { queue_capacity: 4 });
    let query = |fingerprint: &str| SuppressionQuery {
        patient_hash: patient.clone(),
        service: "s".to_owned(),
        issuer: None,
        tenant: None,
        encounter_hash: None,
        repeat_since_ms: 0,
        dismissing: vec![("urn:r".to_owned(), "already-addressed".to_owned())],
        candidates: vec![(fingerprint.to_owned(), false)],
    };
    assert_eq!(
        writer.check_suppression(query("fp")).await.unwrap(),
        vec![Some(SuppressionReason::AlreadyAddressed)]
    );
    assert_eq!(
        writer.check_suppression(query("other")).await.unwrap(),
        vec![None]
    );
}

#[tokio::test]
async fn a_check_only_a_dismissal_can_answer_does_not_wait_behind_a_stuck_queue() {
    let (store, pool) = sqlite_at(SQLITE_MIGRATIONS.len()).await;
    // Another process holds the database's write lock: the writer's next batch waits for it
    // (up to the busy timeout), and the one-slot queue behind it fills.
    let mut locker = pool.acquire().await.unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut *locker)
        .await
        .unwrap();
    let writer = AuditWriter::spawn(store, WriterConfig { queue_capacity: 1 });
    assert!(writer.offer_cards(vec![card("stuck")]));
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(writer.offer_cards(vec![card("queued")]));
    let query = |repeat_hides: bool| SuppressionQuery {
        patient_hash: PatientHasher::new(b"k").hash("p"),
        service: "s".to_owned(),
        issuer: None,
        tenant: None,
        encounter_hash: Some("enc".to_owned()),
        repeat_since_ms: 0,
        dismissing: vec![("urn:r".to_owned(), "already-addressed".to_owned())],
        candidates: vec![("fp".to_owned(), repeat_hides)],
    };

    // At an order hook a repeat could answer it: it must queue behind the cards, and the queue
    // is full, so it fails at once (and the caller shows the card).
    assert!(matches!(
        writer.check_suppression(query(true)).await,
        Err(StoreError::QueueFull)
    ));
    // At patient-view only a dismissal can: it reads what is committed, at once.
    let started = std::time::Instant::now();
    assert_eq!(
        writer.check_suppression(query(false)).await.unwrap(),
        vec![None]
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "answered beside the stuck queue, not after the 5 s busy timeout"
    );
    sqlx::query("ROLLBACK").execute(&mut *locker).await.unwrap();
}

/// Counts the card records in an SQLite store.
async fn cards_in(pool: &SqlitePool) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM audit_cards")
        .fetch_one(pool)
        .await
        .unwrap()
}

/// A writer whose one-slot queue is full: another connection holds SQLite's write lock, the
/// writer's first batch (the record "first") waits for it, and the record "second" fills the
/// queue behind it. A record queued next waits up to `enqueue_wait` for room.
async fn full_writer(
    enqueue_wait: std::time::Duration,
) -> (AuditWriter, SqlitePool, testing::WriteLock) {
    let (store, pool) = sqlite_at(SQLITE_MIGRATIONS.len()).await;
    let lock = testing::WriteLock::hold(&store).await;
    let writer = AuditWriter::spawn(store, WriterConfig { queue_capacity: 1 })
        .with_enqueue_wait(enqueue_wait);
    assert!(writer.offer_cards(vec![card("first")]));
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert!(writer.offer_cards(vec![card("second")]));
    (writer, pool, lock)
}

/// The records of one hook call that issued one card.
fn one_call(card_uuid: &str) -> CallRecords {
    CallRecords {
        cards: vec![card(card_uuid)],
        ..CallRecords::default()
    }
}

#[tokio::test]
async fn a_call_that_finds_the_queue_full_waits_for_room_and_its_records_are_written() {
    // The write lock goes after 300 ms, well within the enqueue wait.
    let (writer, pool, lock) = full_writer(std::time::Duration::from_secs(3)).await;
    let release = tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        lock.release().await;
    });
    assert!(
        writer.record(one_call("third")).await,
        "waited for room, not lost"
    );
    release.await.unwrap();
    assert!(writer.flush().await);
    assert_eq!(cards_in(&pool).await, 3);
    assert_eq!(writer.losing(), None);
}

#[tokio::test]
async fn records_that_find_no_room_in_time_are_lost_loudly_and_the_writer_says_so() {
    let (writer, pool, lock) = full_writer(std::time::Duration::from_millis(20)).await;
    let full = writer
        .losing()
        .expect("a full queue makes the replica not ready");
    assert!(full.contains("queue is full"), "{full}");
    let started = std::time::Instant::now();
    assert!(!writer.record(one_call("third")).await, "lost");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(1),
        "the call waited the enqueue wait, not for the store"
    );
    let reason = writer.losing().expect("the writer says records were lost");
    assert!(reason.contains("could not be written"), "{reason}");
    lock.release().await;
    assert!(writer.flush().await);
    assert_eq!(
        cards_in(&pool).await,
        2,
        "the two queued records are written"
    );
}

#[tokio::test]
async fn a_call_whose_records_find_no_room_before_its_deadline_is_refused_and_nothing_is_lost() {
    // The enqueue wait is long: the call's own deadline, 50 ms away, ends the wait first.
    let (writer, pool, lock) = full_writer(std::time::Duration::from_secs(3)).await;
    let started = std::time::Instant::now();
    let until = tokio::time::Instant::now() + std::time::Duration::from_millis(50);
    assert_eq!(
        writer.record_within(one_call("third"), until).await,
        Err(crate::Backlog)
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(1),
        "the call waited until its deadline, not the enqueue wait"
    );
    let reason = writer
        .losing()
        .expect("a full queue makes the replica not ready");
    assert!(reason.contains("queue is full"), "{reason}");
    lock.release().await;
    assert!(writer.flush().await);
    assert_eq!(
        cards_in(&pool).await,
        2,
        "the two queued records are written"
    );
    assert_eq!(
        writer.losing(),
        None,
        "nothing was lost: the refused call's records were never queued, and the queue drained"
    );
    let until = tokio::time::Instant::now() + std::time::Duration::from_millis(50);
    assert_eq!(
        writer.record_within(one_call("fourth"), until).await,
        Ok(())
    );
    assert!(writer.flush().await);
    assert_eq!(cards_in(&pool).await, 3);
}

#[test]
fn a_cards_suggestions_column_gives_back_each_label_by_its_uuid() {
    let mut record = card("c");
    assert_eq!(record.suggestions_column(), None);
    record.suggestions = vec![
        crate::SuggestionRecord {
            uuid: "u-1".to_owned(),
            label: "Order ultrasound".to_owned(),
        },
        crate::SuggestionRecord {
            uuid: "u-10".to_owned(),
            label: "Two\nlines".to_owned(),
        },
        crate::SuggestionRecord {
            uuid: "bad uuid".to_owned(),
            label: "left out".to_owned(),
        },
    ];
    let column = record.suggestions_column().unwrap();
    assert_eq!(column, "u-1 Order ultrasound\nu-10 Two lines");
    assert_eq!(
        crate::records::suggestion_label(&column, "u-1"),
        Some("Order ultrasound")
    );
    assert_eq!(
        crate::records::suggestion_label(&column, "u-10"),
        Some("Two lines")
    );
    assert_eq!(crate::records::suggestion_label(&column, "u"), None);
    assert_eq!(crate::records::suggestion_label(&column, "bad"), None);
}

#[tokio::test]
async fn a_dismissal_acknowledged_on_sqlite_hides_its_card_at_the_next_check_and_others_stay_shown()
{
    let (store, _pool) = sqlite_at(SQLITE_MIGRATIONS.len()).await;
    let writer = AuditWriter::spawn(store, WriterConfig { queue_capacity: 16 });
    let patient = PatientHasher::new(b"k").hash("p");
    let other = PatientHasher::new(b"k").hash("q");
    let query = |patient_hash: &str| SuppressionQuery {
        patient_hash: patient_hash.to_owned(),
        service: "gravida-patient-view".to_owned(),
        issuer: None,
        tenant: None,
        encounter_hash: None,
        repeat_since_ms: 0,
        dismissing: vec![("urn:r".to_owned(), "already-addressed".to_owned())],
        candidates: vec![("fp".to_owned(), false)],
    };
    // Loaded: no patient has a dismissal yet.
    assert!(writer.flush().await);
    assert_eq!(
        writer.check_suppression(query(&patient)).await.unwrap(),
        vec![None]
    );
    let mut issued = card("c1");
    issued.fingerprint = Some("fp".to_owned());
    assert!(writer.offer_cards(vec![issued]));
    let mut dismissal = item("c1");
    dismissal.override_system = Some("urn:r".to_owned());
    dismissal.override_code = Some("already-addressed".to_owned());
    writer.store_feedback(vec![dismissal]).await.unwrap();
    // Acknowledged: the very next check sees it.
    assert_eq!(
        writer.check_suppression(query(&patient)).await.unwrap(),
        vec![Some(SuppressionReason::AlreadyAddressed)]
    );
    assert_eq!(
        writer.check_suppression(query(&other)).await.unwrap(),
        vec![None]
    );
}

#[tokio::test]
async fn a_new_sqlite_store_has_8_kib_pages_a_1_mib_cache_memory_temp_files_and_syncs_every_commit()
{
    let (_store, pool) = sqlite_at(SQLITE_MIGRATIONS.len()).await;
    let pragma = |name: &'static str| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(&format!("PRAGMA {name}"))
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    assert_eq!(pragma("page_size").await, i64::from(SQLITE_PAGE_SIZE));
    assert_eq!(pragma("cache_size").await, -i64::from(SQLITE_CACHE_KIB));
    // 2 is FULL: a committed batch survives a power loss.
    assert_eq!(pragma("synchronous").await, 2);
    // 2 is MEMORY: statement journals are not written to temporary files.
    assert_eq!(pragma("temp_store").await, 2);
    assert_eq!(
        pragma("journal_size_limit").await,
        crate::SQLITE_WAL_LIMIT_BYTES
    );
}

#[tokio::test]
async fn long_forms_written_before_the_table_was_rebuilt_in_order_are_still_found_and_purged() {
    let (store, pool) = sqlite_at(10).await;
    for (n, expires) in [(1u8, 5_000i64), (2, 9_000)] {
        sqlx::query(
            "INSERT INTO long_form_sheets (lookup, expires_at_ms, sealed) VALUES ($1, $2, $3)",
        )
        .bind(vec![n; 16])
        .bind(expires)
        .bind(vec![n; 100])
        .execute(&pool)
        .await
        .unwrap();
    }
    store.migrate().await.unwrap();
    let without_rowid: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM sqlite_schema WHERE name = 'long_form_sheets' AND sql LIKE '%WITHOUT ROWID%'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(without_rowid, 0, "rebuilt as a rowid table");
    assert_eq!(
        store.long_form(&[1; 16], 4_999).await.unwrap(),
        Some(vec![1; 100])
    );
    assert_eq!(
        store.long_form(&[2; 16], 4_999).await.unwrap(),
        Some(vec![2; 100])
    );
    assert_eq!(store.purge_expired(5_000).await.unwrap(), Some(1));
    assert_eq!(
        store.long_form(&[2; 16], 5_000).await.unwrap(),
        Some(vec![2; 100])
    );
    // A lookup is still unique: the writer's `ON CONFLICT (lookup)` still has its constraint.
    let again = sqlx::query(
        "INSERT INTO long_form_sheets (lookup, expires_at_ms, sealed) VALUES ($1, 1, x'00') \
         ON CONFLICT (lookup) DO NOTHING",
    )
    .bind(vec![2u8; 16])
    .execute(&pool)
    .await
    .unwrap();
    assert_eq!(again.rows_affected(), 0);
}
