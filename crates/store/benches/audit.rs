//! What the audit trail costs: a feedback item from handler to durable commit on SQLite
//! (`synchronous = FULL`, so each batch is an fsync), and, for a hook call, queueing its card
//! records (the only audit work on the hook path).
//!
//! `cargo bench -p gravida-store --bench audit`

use std::sync::atomic::{AtomicU64, Ordering};

use criterion::{Criterion, criterion_group, criterion_main};
use gravida_store::{
    AuditWriter, CardRecord, FeedbackRecord, PatientHasher, Store, SuggestionRecord, WriterConfig,
    sqlite_url_in,
};

static NEXT: AtomicU64 = AtomicU64::new(0);

fn next_uuid() -> String {
    format!(
        "bench-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

fn card(hasher: &PatientHasher) -> CardRecord {
    CardRecord {
        card_uuid: next_uuid(),
        rule_id: "R1".to_owned(),
        indicator: "warning".to_owned(),
        mode: "active".to_owned(),
        profile_version: "default@bench".to_owned(),
        service: "gravida-patient-view".to_owned(),
        hook: "patient-view".to_owned(),
        hook_instance: "bench".to_owned(),
        issued_at_ms: 1,
        issuer: None,
        tenant: None,
        patient_hash: hasher.hash("patient-1"),
        fingerprint: None,
        encounter_hash: None,
        suggestions: vec![SuggestionRecord {
            uuid: next_uuid(),
            label: "Transvaginal ultrasound".to_owned(),
        }],
    }
}

fn feedback() -> FeedbackRecord {
    FeedbackRecord {
        card_uuid: next_uuid(),
        outcome: "overridden".to_owned(),
        outcome_at_ms: 1,
        service: "gravida-patient-view".to_owned(),
        override_system: None,
        override_code: Some("already-ordered".to_owned()),
        has_comment: false,
        accepted_suggestions: vec![],
        received_at_ms: 1,
        issuer: None,
        tenant: None,
    }
}

fn audit(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let dir = std::env::temp_dir().join(format!("gravida-bench-{}", std::process::id()));
    let writer = runtime.block_on(async {
        let store = Store::connect(&sqlite_url_in(&dir))
            .await
            .expect("the store opens");
        AuditWriter::spawn(
            store,
            WriterConfig {
                queue_capacity: 1_000_000,
            },
        )
    });
    let hasher = PatientHasher::new(b"bench-key-0123456789");

    c.bench_function("feedback: one item, committed (sqlite)", |b| {
        b.to_async(&runtime).iter(|| async {
            writer
                .store_feedback(vec![feedback()])
                .await
                .expect("stored")
        })
    });
    c.bench_function("hook path: queue one card record", |b| {
        let _guard = runtime.enter();
        b.iter(|| writer.offer_cards(vec![card(&hasher)]))
    });
    c.bench_function("patient id hash (HMAC-SHA256)", |b| {
        b.iter(|| hasher.hash("patient-7c1e9a"))
    });
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, audit);
criterion_main!(benches);
