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
    // The writer is stuck on a store that is down (each attempt waits for its timeout), so the
    // one-slot queue fills.
    let store = Store::open_lazy("postgres://gravida@127.0.0.1:1/none").unwrap();
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
