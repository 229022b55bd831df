//! The store's queries on each backend: SQLite always, PostgreSQL when
//! `GRAVIDA_TEST_POSTGRES_URL` names a server where this user may create databases
//! (`scripts/postgres-test-server.sh start` prints one; CI sets it). Each test gets a fresh
//! database, so tests never see each other's rows.

use std::time::{Duration, SystemTime};

use gravida_auth::{ReplayStore, Seen};
use gravida_store::testing::fresh_postgres_url;
use gravida_store::{
    AuditWriter, CallRecords, CardRecord, FeedbackRecord, Health, LongFormRecord, PatientHasher,
    SqlReplayStore, Store, SuggestionRecord, SuppressionQuery, SuppressionReason, WriterConfig,
    sqlite_url_in,
};
use serde_json::{Value, json};

use crate::helpers::{TestApp, fixture_path};
use crate::scenarios_http::{load, prefetch_for, request};

use crate::helpers::{RealServer, real_server};

/// `GRAVIDA_TEST_POSTGRES_URL`, or `None` with a `SKIPPED` note that `scripts/test` counts;
/// under `CI=true` a missing URL fails the test, so CI cannot skip PostgreSQL silently.
pub fn postgres_admin_url(test: &str) -> Option<String> {
    real_server(RealServer::Postgres, &format!("{test} on PostgreSQL"))?.pop()
}

/// A fresh, migrated store of each available backend.
pub async fn stores(test: &str) -> Vec<Store> {
    let dir = std::env::temp_dir().join(format!(
        "gravida-it-store-{}-{}",
        std::process::id(),
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    let mut stores = vec![Store::connect(&sqlite_url_in(&dir)).await.unwrap()];
    if let Some(admin) = postgres_admin_url(test) {
        let url = fresh_postgres_url(&admin).await;
        stores.push(Store::connect(&url).await.unwrap());
    }
    stores
}

pub fn card(uuid: &str, rule: &str, at: i64) -> CardRecord {
    CardRecord {
        card_uuid: uuid.to_owned(),
        rule_id: rule.to_owned(),
        indicator: "warning".to_owned(),
        mode: "active".to_owned(),
        profile_version: "default@abc".to_owned(),
        service: "gravida-patient-view".to_owned(),
        hook: "patient-view".to_owned(),
        hook_instance: "hi-1".to_owned(),
        issued_at_ms: at,
        issuer: Some("https://ehr.example.org".to_owned()),
        tenant: None,
        patient_hash: PatientHasher::new(b"k").hash("p1"),
        fingerprint: None,
        encounter_hash: None,
        suggestions: vec![SuggestionRecord {
            uuid: format!("{uuid}-s1"),
            label: "Order ultrasound".to_owned(),
        }],
    }
}

fn feedback(card: &str, outcome: &str, at: i64, reason: Option<&str>) -> FeedbackRecord {
    FeedbackRecord {
        card_uuid: card.to_owned(),
        outcome: outcome.to_owned(),
        outcome_at_ms: at,
        service: "gravida-patient-view".to_owned(),
        override_system: reason.map(|_| "http://example.org/reasons".to_owned()),
        override_code: reason.map(str::to_owned),
        has_comment: false,
        accepted_suggestions: if outcome == "accepted" {
            vec![format!("{card}-s1")]
        } else {
            vec![]
        },
        received_at_ms: at,
        // The caller the cards of [`card`] are issued to.
        issuer: Some("https://ehr.example.org".to_owned()),
        tenant: None,
    }
}

#[tokio::test]
async fn the_report_counts_cards_outcomes_reasons_and_suggestions_per_rule() {
    for store in stores("report").await {
        let writer = AuditWriter::spawn(store.clone(), WriterConfig { queue_capacity: 16 });
        assert!(writer.offer_cards(vec![
            card("c1", "R1", 1_000),
            card("c2", "R1", 1_000),
            card("c3", "R1", 1_000),
            card("c4", "R2", 1_000),
        ]));
        let stored = writer
            .store_feedback(vec![
                feedback("c1", "accepted", 2_000, None),
                feedback("c2", "overridden", 2_000, Some("already-done")),
                feedback("c3", "overridden", 2_000, Some("already-done")),
                feedback("never-issued", "accepted", 2_000, None),
            ])
            .await
            .unwrap();
        assert_eq!(
            stored[0].rule_id.as_deref(),
            Some("R1"),
            "{}",
            store.backend()
        );
        assert_eq!(stored[3].rule_id, None);
        assert!(stored.iter().all(|s| !s.duplicate));

        // The same verdict again is a duplicate and changes nothing.
        let again = writer
            .store_feedback(vec![feedback("c1", "accepted", 2_000, None)])
            .await
            .unwrap();
        assert!(again[0].duplicate);

        let report = store.report(0).await.unwrap();
        let r1 = &report.rules[0];
        assert_eq!((r1.rule_id.as_str(), r1.fired), ("R1", 3));
        assert_eq!((r1.accepted, r1.overridden), (1, 2));
        // A code of a system other than HL7's non-adherence reasons is named with its system.
        assert_eq!(
            r1.override_reasons,
            vec![("already-done (http://example.org/reasons)".to_owned(), 2)]
        );
        assert_eq!(
            r1.suggestions_taken,
            vec![("Order ultrasound".to_owned(), 1)]
        );
        assert_eq!(report.rules[1].rule_id, "R2");
        assert_eq!(report.rules[1].accepted, 0);
        // Feedback about a card never issued is not stored.
        assert_eq!(report.unmatched_feedback, 0);
        assert_eq!(report.feedback_rows, 3);

        // --since leaves out older cards.
        assert!(store.report(1_001).await.unwrap().rules.is_empty());
    }
}

#[tokio::test]
async fn hundreds_of_card_records_from_separate_calls_are_all_written_once_with_their_suggestions()
{
    for store in stores("many cards").await {
        let writer = AuditWriter::spawn(
            store.clone(),
            WriterConfig {
                queue_capacity: 1024,
            },
        );
        // One job per hook call, as the server offers them: more than one multi-row INSERT's
        // worth, and one card uuid offered twice.
        for n in 0..450 {
            assert!(writer.offer_cards(vec![card(&format!("m{n}"), "R2", 1_000)]));
        }
        assert!(writer.offer_cards(vec![card("m7", "R2", 1_000)]));
        // Feedback right behind them ends the linger and finds the last card's rule.
        let stored = writer
            .store_feedback(vec![feedback("m449", "accepted", 2_000, None)])
            .await
            .unwrap();
        assert_eq!(
            stored[0].rule_id.as_deref(),
            Some("R2"),
            "{}",
            store.backend()
        );

        let report = store.report(0).await.unwrap();
        assert_eq!(report.rules.len(), 1, "{}", store.backend());
        assert_eq!(report.rules[0].fired, 450, "{}", store.backend());
        assert_eq!(
            report.rules[0].suggestions_taken,
            vec![("Order ultrasound".to_owned(), 1)],
            "{}",
            store.backend()
        );
    }
}

#[tokio::test]
async fn a_purge_removes_rows_older_than_the_cutoff_and_keeps_the_rest() {
    for store in stores("purge").await {
        let writer = AuditWriter::spawn(store.clone(), WriterConfig { queue_capacity: 16 });
        writer.offer_cards(vec![card("old", "R1", 1_000), card("new", "R1", 5_000)]);
        writer
            .store_feedback(vec![
                feedback("old", "accepted", 1_500, None),
                feedback("new", "accepted", 5_500, None),
            ])
            .await
            .unwrap();
        let purged = store
            .purge(3_000, 0)
            .await
            .unwrap()
            .expect("no one else purges");
        assert_eq!(
            (purged.cards, purged.feedback),
            (1, 1),
            "{}",
            store.backend()
        );
        let report = store.report(0).await.unwrap();
        assert_eq!(report.rules[0].fired, 1);
        assert_eq!(report.feedback_rows, 1);
    }
}

/// A card of patient `p1` with fingerprint `fp`, issued at `at` in encounter `enc`.
fn shown(uuid: &str, fp: &str, at: i64, enc: &str) -> CardRecord {
    CardRecord {
        fingerprint: Some(fp.to_owned()),
        encounter_hash: Some(enc.to_owned()),
        ..card(uuid, "R1", at)
    }
}

/// "Is card `fp` hidden?" for patient `p1` and the caller of [`card`], at an order hook (a
/// repeat hides it) in encounter `enc`, with the repeat window opening at `since`.
fn asked(fp: &str, enc: &str, since: i64) -> SuppressionQuery {
    SuppressionQuery {
        patient_hash: PatientHasher::new(b"k").hash("p1"),
        service: "gravida-patient-view".to_owned(),
        issuer: Some("https://ehr.example.org".to_owned()),
        tenant: None,
        encounter_hash: Some(enc.to_owned()),
        repeat_since_ms: since,
        dismissing: vec![(
            "http://example.org/reasons".to_owned(),
            "already-addressed".to_owned(),
        )],
        candidates: vec![(fp.to_owned(), true)],
    }
}

#[tokio::test]
async fn repeats_and_dismissals_are_found_among_a_long_history_and_a_dismissal_is_purged_with_its_card()
 {
    for store in stores("suppression lookups").await {
        let backend = store.backend();
        let writer = AuditWriter::spawn(
            store.clone(),
            WriterConfig {
                queue_capacity: 4096,
            },
        );
        // A long history of the same card, each shown in an encounter of its own, long ago.
        let history: Vec<CardRecord> = (0..1_500)
            .map(|n| shown(&format!("h{n}"), "fp-a", 1_000 + n, &format!("enc-{n}")))
            .collect();
        for chunk in history.chunks(100) {
            assert!(writer.offer_cards(chunk.to_vec()));
        }
        let check = |query| {
            let writer = writer.clone();
            async move { writer.check_suppression(query).await.unwrap() }
        };
        let repeat = Some(SuppressionReason::Repeat);
        for (why, query, hidden) in [
            (
                "outside the window, in a new encounter",
                asked("fp-a", "enc-new", 10_000),
                None,
            ),
            (
                "in an encounter it was shown in",
                asked("fp-a", "enc-700", 10_000),
                repeat,
            ),
            (
                "a window that reaches its last showing",
                asked("fp-a", "enc-new", 2_499),
                repeat,
            ),
            (
                "a window that opens after it",
                asked("fp-a", "enc-new", 2_500),
                None,
            ),
            ("another card", asked("fp-b", "enc-700", 0), None),
        ] {
            assert_eq!(check(query).await, vec![hidden], "{why} ({backend})");
        }
        let other_caller = SuppressionQuery {
            issuer: Some("https://other-ehr.example.org".to_owned()),
            ..asked("fp-a", "enc-700", 0)
        };
        assert_eq!(check(other_caller).await, vec![None], "{backend}");

        // Overridden with another reason: nothing is dismissed. With the dismissing reason, the
        // card is hidden at every hook, whatever the window and encounter.
        let mut other_reason = feedback("h3", "overridden", 9_000, Some("not-relevant"));
        other_reason.override_system = Some("http://example.org/reasons".to_owned());
        writer.store_feedback(vec![other_reason]).await.unwrap();
        assert_eq!(
            check(asked("fp-a", "enc-new", 10_000)).await,
            vec![None],
            "{backend}"
        );
        writer
            .store_feedback(vec![feedback(
                "h5",
                "overridden",
                9_100,
                Some("already-addressed"),
            )])
            .await
            .unwrap();
        assert_eq!(
            check(asked("fp-a", "enc-new", 10_000)).await,
            vec![Some(SuppressionReason::AlreadyAddressed)],
            "{backend}"
        );
        // Feedback about a card never recorded dismisses nothing.
        writer
            .store_feedback(vec![feedback(
                "ghost",
                "overridden",
                9_200,
                Some("already-addressed"),
            )])
            .await
            .unwrap();
        assert_eq!(
            check(asked("fp-b", "enc-new", 10_000)).await,
            vec![None],
            "{backend}"
        );

        // Purged with the card it was about, as the audit rows are: then the card shows again.
        let purged = store
            .purge(1_006, 0)
            .await
            .unwrap()
            .expect("no one else purges");
        // h3's other reason goes with h3, h5's dismissal with h5.
        assert_eq!((purged.cards, purged.overrides), (6, 2), "{backend}");
        assert_eq!(
            check(asked("fp-a", "enc-new", 10_000)).await,
            vec![None],
            "{backend}"
        );
    }
}

#[tokio::test]
async fn the_replay_guard_refuses_a_live_jti_and_forgets_an_expired_one() {
    let at = |s: u64| SystemTime::UNIX_EPOCH + Duration::from_secs(s);
    for store in stores("replay guard").await {
        let guard = SqlReplayStore::new(store.clone(), 10);
        // Another replica: its own memory, the same database.
        let other = SqlReplayStore::new(store.clone(), 10);
        assert_eq!(
            guard.remember("a", "j", at(200), at(100)).await.unwrap(),
            Seen::First
        );
        assert_eq!(
            other.remember("a", "j", at(200), at(150)).await.unwrap(),
            Seen::Again
        );
        assert_eq!(
            other.remember("b", "j", at(200), at(150)).await.unwrap(),
            Seen::First
        );
        assert_eq!(
            other.remember("a", "j", at(400), at(300)).await.unwrap(),
            Seen::First
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Feedback scoped to its sender (a dismissal hides only the sender's own cards at the service
// it was sent to), the purge lock, the store's health, and PostgreSQL over TLS.
// ---------------------------------------------------------------------------------------------

/// Feedback about `card` from `issuer`/`tenant`, posted to `service`.
fn feedback_from(
    card: &str,
    at: i64,
    reason: &str,
    service: &str,
    issuer: Option<&str>,
    tenant: Option<&str>,
) -> FeedbackRecord {
    FeedbackRecord {
        service: service.to_owned(),
        issuer: issuer.map(str::to_owned),
        tenant: tenant.map(str::to_owned),
        override_system: Some("http://example.org/reasons".to_owned()),
        ..feedback(card, "overridden", at, Some(reason))
    }
}

#[tokio::test]
async fn a_dismissal_hides_a_card_only_for_the_issuer_tenant_and_service_it_was_issued_to() {
    const A: Option<&str> = Some("https://ehr.example.org");
    const B: Option<&str> = Some("https://other-ehr.example.org");
    for store in stores("feedback scope").await {
        let backend = store.backend();
        let writer = AuditWriter::spawn(store.clone(), WriterConfig { queue_capacity: 64 });
        // Issuer A, tenant t1, at patient-view.
        let issued = CardRecord {
            tenant: Some("t1".to_owned()),
            ..shown("a-card", "fp-a", 1_000, "enc-1")
        };
        assert!(writer.offer_cards(vec![issued]));
        let ask = |service: &str| SuppressionQuery {
            tenant: Some("t1".to_owned()),
            service: service.to_owned(),
            ..asked("fp-a", "enc-new", i64::MAX)
        };
        let check = |query| {
            let writer = writer.clone();
            async move { writer.check_suppression(query).await.unwrap() }
        };

        // Strangers' dismissals of A's card: another issuer, another tenant, another service.
        let strangers = [
            (
                "issuer B",
                feedback_from(
                    "a-card",
                    2_000,
                    "already-addressed",
                    "gravida-patient-view",
                    B,
                    Some("t1"),
                ),
            ),
            (
                "tenant t2",
                feedback_from(
                    "a-card",
                    2_001,
                    "already-addressed",
                    "gravida-patient-view",
                    A,
                    Some("t2"),
                ),
            ),
            (
                "no tenant",
                feedback_from(
                    "a-card",
                    2_002,
                    "already-addressed",
                    "gravida-patient-view",
                    A,
                    None,
                ),
            ),
            (
                "order-select",
                feedback_from(
                    "a-card",
                    2_003,
                    "already-addressed",
                    "gravida-order-select",
                    A,
                    Some("t1"),
                ),
            ),
        ];
        for (who, item) in strangers {
            let stored = writer.store_feedback(vec![item]).await.unwrap();
            assert_eq!(stored[0].rule_id, None, "{who} ({backend})");
            assert_eq!(
                check(ask("gravida-patient-view")).await,
                vec![None],
                "{who} ({backend})"
            );
        }
        assert_eq!(
            store.report(0).await.unwrap().feedback_rows,
            0,
            "nothing stored ({backend})"
        );

        // Its own caller, at its own service: stored, and the card is hidden there only.
        let own = feedback_from(
            "a-card",
            2_004,
            "already-addressed",
            "gravida-patient-view",
            A,
            Some("t1"),
        );
        let stored = writer.store_feedback(vec![own]).await.unwrap();
        assert_eq!(stored[0].rule_id.as_deref(), Some("R1"), "{backend}");
        assert_eq!(
            check(ask("gravida-patient-view")).await,
            vec![Some(SuppressionReason::AlreadyAddressed)],
            "{backend}"
        );
        assert_eq!(
            check(ask("gravida-order-sign")).await,
            vec![None],
            "{backend}"
        );
        let for_b = SuppressionQuery {
            issuer: B.map(str::to_owned),
            ..ask("gravida-patient-view")
        };
        assert_eq!(check(for_b).await, vec![None], "{backend}");
        assert_eq!(store.report(0).await.unwrap().feedback_rows, 1, "{backend}");
    }
}

#[tokio::test]
async fn one_store_purges_while_another_finds_the_purge_lock_taken_and_skips() {
    let Some(admin) = postgres_admin_url("purge lock") else {
        return;
    };
    let url = fresh_postgres_url(&admin).await;
    // Two replicas of one database.
    let (a, b) = (
        Store::connect(&url).await.unwrap(),
        Store::connect(&url).await.unwrap(),
    );
    let writer = AuditWriter::spawn(a.clone(), WriterConfig { queue_capacity: 16 });
    writer
        .store_feedback(vec![])
        .await
        .expect("the writer is up");
    assert!(writer.offer_cards(vec![card("old", "R1", 1_000)]));
    for _ in 0..100 {
        if a.report(0).await.unwrap().rules.len() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // A is purging (it holds the lock): B skips, and deletes nothing.
    let purging = a.purge_lock().await.unwrap().expect("A takes the lock");
    assert_eq!(b.purge(3_000, 0).await.unwrap(), None, "B skips");
    assert_eq!(b.report(0).await.unwrap().rules[0].fired, 1);
    let purged = purging.purge(3_000, 0).await.unwrap();
    assert_eq!(purged.cards, 1);
    // A has finished: B may purge again.
    assert!(b.purge(3_000, 0).await.unwrap().is_some());
}

#[tokio::test]
async fn an_sqlite_store_needs_no_purge_lock() {
    let dir = std::env::temp_dir().join(format!("gravida-it-purge-{}", std::process::id()));
    let store = Store::connect(&sqlite_url_in(&dir)).await.unwrap();
    assert!(store.purge(0, 0).await.unwrap().is_some());
}

#[tokio::test]
async fn a_database_one_migration_ahead_of_the_binary_is_reported_as_a_newer_schema() {
    for store in stores("newer schema").await {
        let backend = store.backend();
        assert_eq!(store.health().await, Health::Ready, "{backend}");
        gravida_store::testing::record_unknown_migration(&store, 9999).await;
        let health = store.health().await;
        assert_eq!(
            health,
            Health::SchemaNewer {
                database: 9999,
                binary: store.known_schema()
            },
            "{backend}"
        );
        let reason = health.not_ready_reason().unwrap();
        assert!(
            reason.contains("9999") && reason.contains("newer"),
            "{reason}"
        );
        // The binary does not migrate or write over it.
        assert!(store.migrate().await.is_err(), "{backend}");
    }
}

/// A TCP port that accepts connections and never answers: a database host that hangs.
async fn silent_port() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    port
}

#[tokio::test]
async fn a_store_that_hangs_or_refuses_is_reported_unreachable_within_the_acquire_timeout() {
    let silent = format!(
        "postgres://gravida@127.0.0.1:{}/gravida",
        silent_port().await
    );
    for url in [silent.as_str(), "postgres://gravida@127.0.0.1:1/gravida"] {
        let store = Store::open_lazy(url).unwrap();
        assert_eq!(store.acquire_timeout(), Duration::from_millis(250));
        let started = std::time::Instant::now();
        let health = store.health().await;
        assert!(matches!(health, Health::Unreachable(_)), "{health:?}");
        assert!(
            started.elapsed() < Duration::from_millis(900),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(
            health.not_ready_reason().as_deref(),
            Some("the store cannot be reached")
        );
    }
}

#[tokio::test]
async fn the_replay_guard_falls_back_to_memory_within_half_a_second_when_the_database_hangs() {
    let url = format!(
        "postgres://gravida@127.0.0.1:{}/gravida",
        silent_port().await
    );
    let guard = SqlReplayStore::new(Store::open_lazy(&url).unwrap(), 10);
    let at = |s: u64| SystemTime::UNIX_EPOCH + Duration::from_secs(s);
    let started = std::time::Instant::now();
    assert_eq!(
        guard.remember("a", "j", at(200), at(100)).await.unwrap(),
        Seen::First
    );
    assert_eq!(
        guard.remember("a", "j", at(200), at(101)).await.unwrap(),
        Seen::Again,
        "the fallback remembers"
    );
    // Two checks, each bounded by twice the 250 ms acquire timeout.
    assert!(
        started.elapsed() < Duration::from_millis(1_100),
        "{:?}",
        started.elapsed()
    );
}

/// `GRAVIDA_TEST_POSTGRES_TLS_URL` and `GRAVIDA_TEST_POSTGRES_TLS_CA` (a PostgreSQL that accepts
/// only TLS, and the CA of its certificate: `scripts/postgres-test-server.sh start` prints both),
/// or `None` with a `SKIPPED` note; under `CI=true` a missing variable fails the test.
fn postgres_tls(test: &str) -> Option<(String, String)> {
    let url = std::env::var("GRAVIDA_TEST_POSTGRES_TLS_URL");
    let ca = std::env::var("GRAVIDA_TEST_POSTGRES_TLS_CA");
    match (url, ca) {
        (Ok(url), Ok(ca)) => Some((url, ca)),
        _ if std::env::var("CI").as_deref() == Ok("true") => panic!(
            "GRAVIDA_TEST_POSTGRES_TLS_URL and GRAVIDA_TEST_POSTGRES_TLS_CA must be set under CI ({test})"
        ),
        _ => {
            eprintln!(
                "SKIPPED: {test} (GRAVIDA_TEST_POSTGRES_TLS_URL or GRAVIDA_TEST_POSTGRES_TLS_CA is not set)"
            );
            None
        }
    }
}

#[tokio::test]
async fn the_store_reaches_a_tls_only_postgresql_with_verify_full_and_the_sites_ca() {
    let Some((url, ca)) = postgres_tls("TLS verify-full") else {
        return;
    };
    let verified = format!("{url}?sslmode=verify-full&sslrootcert={ca}");
    let store = Store::connect(&verified).await.unwrap();
    assert!(gravida_store::testing::server_sees_tls(&store).await);
    assert_eq!(store.health().await, Health::Ready);
    // The audit trail works over it.
    let writer = AuditWriter::spawn(store.clone(), WriterConfig { queue_capacity: 16 });
    assert!(writer.offer_cards(vec![card(&format!("tls-{}", std::process::id()), "R1", 1)]));
    let mut fired = 0;
    for _ in 0..100 {
        fired = store
            .report(0)
            .await
            .unwrap()
            .rules
            .iter()
            .map(|r| r.fired)
            .sum();
        if fired > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(fired > 0);

    // `require` encrypts without checking the certificate.
    let required = Store::connect(&format!("{url}?sslmode=require"))
        .await
        .unwrap();
    assert!(gravida_store::testing::server_sees_tls(&required).await);
}

#[tokio::test]
async fn a_tls_only_postgresql_refuses_a_plain_connection_and_an_unknown_ca_is_refused() {
    let Some((url, _ca)) = postgres_tls("TLS refusals") else {
        return;
    };
    // Plain text: the server has no `host` line for it.
    let plain = Store::connect(&format!("{url}?sslmode=disable"))
        .await
        .unwrap_err();
    assert!(plain.to_string().contains("no encryption"), "{plain}");
    // verify-full without the site's CA: the throwaway CA is in no root store.
    let unverified = Store::connect(&format!("{url}?sslmode=verify-full"))
        .await
        .unwrap_err();
    assert!(
        unverified
            .to_string()
            .to_lowercase()
            .contains("certificate"),
        "{unverified}"
    );
}

// ---------------------------------------------------------------------------------------------
// Over HTTP: what a store outage or a rollback costs a replica.
// ---------------------------------------------------------------------------------------------

/// Settings trusting test issuer A, with the store at `store_url`.
fn issuer_a_with_store(store_url: &str) -> String {
    format!(
        r#"
public_base_url = "https://cds.example.org"

[[auth.issuers]]
iss = "{iss}"
jwks_file = "{{fixtures}}/keys/jwks-issuer-a.json"
tenants = ["{tenant}"]

[store]
url = "{store_url}"
patient_key = "store-outage-test-key-0123456789"
"#,
        iss = gravida_auth::testing::ISSUER_A,
        tenant = gravida_auth::testing::TENANT_A,
    )
}

/// POSTs `body` to `path` with a fresh token of issuer A; the status and how long it took.
async fn post_as_issuer_a(app: &TestApp, path: &str, body: &Value) -> (u16, Duration) {
    use gravida_auth::testing::{TestKey, claims_a, mint};
    let claims = claims_a(&format!("https://cds.example.org{path}"), SystemTime::now());
    let token = mint(TestKey::AEs384, json!({}), claims);
    let started = std::time::Instant::now();
    let response = app
        .client
        .post(app.url(path))
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {token}"))
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), started.elapsed())
}

#[tokio::test]
async fn with_postgresql_hanging_a_hook_call_answers_within_a_second_and_readyz_says_why() {
    // A database host that accepts connections and never answers (a stopped or blackholed
    // server): the worst case, where only timeouts end the wait.
    let url = format!(
        "postgres://gravida@127.0.0.1:{}/gravida",
        silent_port().await
    );
    let app = TestApp::spawn_with_config(&issuer_a_with_store(&url)).await;
    let open = TestApp::spawn().await;
    let scenario = load(&fixture_path("scenarios/pub01.json"));
    let prefetch = prefetch_for(&open, "gravida-patient-view", &scenario).await;
    let body = request(&scenario, Some(prefetch), None);
    // The replay check waits at most 500 ms, then rests the database for a second; the
    // suppression check is skipped while the health check finds the store unreachable.
    for _ in 0..3 {
        let (status, took) =
            post_as_issuer_a(&app, "/cds-services/gravida-patient-view", &body).await;
        assert_eq!(status, 200);
        assert!(took < Duration::from_secs(1), "took {took:?}");
        eprintln!("store hanging: a patient-view call answered 200 in {took:?}");
    }
    let feedback = json!({"feedback": [{
        "card": "7d1f0b8e-0000-4000-8000-000000000000", "outcome": "overridden",
        "outcomeTimestamp": "2026-01-01T10:00:00Z"
    }]});
    let (status, took) = post_as_issuer_a(
        &app,
        "/cds-services/gravida-patient-view/feedback",
        &feedback,
    )
    .await;
    assert_eq!(status, 503);
    assert!(took < Duration::from_secs(1), "feedback took {took:?}");
    eprintln!("store hanging: feedback answered 503 in {took:?}");

    let (status, ready) = app.get("/readyz").await;
    assert_eq!(status, 503, "{ready}");
    assert_eq!(ready["reason"], "the store cannot be reached");
    assert!(
        !ready.to_string().contains("127.0.0.1"),
        "no address: {ready}"
    );
}

#[tokio::test]
async fn a_database_migrated_by_a_newer_release_makes_readyz_503_naming_the_schema_while_hooks_are_answered()
 {
    let dir = std::env::temp_dir().join(format!(
        "gravida-it-rollback-{}-{}",
        std::process::id(),
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    // The database as a newer release left it: one migration more than this binary knows.
    let store = Store::connect(&sqlite_url_in(&dir)).await.unwrap();
    gravida_store::testing::record_unknown_migration(&store, 9999).await;
    store.close().await;

    let data_dir = dir.display().to_string();
    let app = TestApp::spawn_with(&[("GRAVIDA_STORE__DATA_DIR", data_dir.as_str())]).await;
    let (status, ready) = app.get("/readyz").await;
    assert_eq!(status, 503, "{ready}");
    let reason = ready["reason"].as_str().unwrap();
    assert!(
        reason.contains("schema") && reason.contains("9999") && reason.contains("newer"),
        "{reason}"
    );
    // Hooks are still answered (a replica that is not ready gets no traffic, but a caller that
    // reaches it is not refused).
    let scenario = load(&fixture_path("scenarios/pub01.json"));
    let prefetch = prefetch_for(&app, "gravida-patient-view", &scenario).await;
    let (status, _) = app
        .call(
            "gravida-patient-view",
            &request(&scenario, Some(prefetch), None),
        )
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_replica_that_had_its_own_schema_stays_ready_when_a_newer_release_migrates_the_store() {
    // A rolling update: this replica was ready, then a newer one migrated the shared store.
    let app = TestApp::spawn().await;
    let (status, _) = app.get("/readyz").await;
    assert_eq!(status, 200);
    let store = Store::connect(&sqlite_url_in(&app.data_dir)).await.unwrap();
    gravida_store::testing::record_unknown_migration(&store, 9999).await;
    store.close().await;
    // Two health checks later (one every 2 s), it is still ready: migrations only expand.
    tokio::time::sleep(Duration::from_millis(4_500)).await;
    let (status, ready) = app.get("/readyz").await;
    assert_eq!(status, 200, "{ready}");
}

#[tokio::test]
async fn a_store_of_the_previous_release_gains_the_card_mode_its_old_cards_active_and_a_silent_card_repeats_nothing()
 {
    let dir = std::env::temp_dir().join(format!(
        "gravida-it-mode-{}-{}",
        std::process::id(),
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    let mut stores = vec![Store::open_lazy(&sqlite_url_in(&dir)).unwrap()];
    if let Some(admin) = postgres_admin_url("the card mode migration") {
        stores.push(Store::open_lazy(&fresh_postgres_url(&admin).await).unwrap());
    }
    for store in stores {
        let backend = store.backend();
        // The schema as the release before modes left it (migration 5), with a card in it.
        gravida_store::testing::migrate_up_to(&store, 5).await;
        let old = shown("old", "fp-old", 1_000, "enc-old");
        gravida_store::testing::insert_card_without_mode(&store, &old).await;
        store.migrate().await.unwrap();
        assert_eq!(
            gravida_store::testing::card_modes(&store).await,
            vec![("old".to_owned(), "R1".to_owned(), "active".to_owned())],
            "{backend}"
        );

        let writer = AuditWriter::spawn(store.clone(), WriterConfig { queue_capacity: 16 });
        let silent = CardRecord {
            mode: "silent".to_owned(),
            ..shown("quiet", "fp-a", 2_000, "enc-1")
        };
        assert!(writer.offer_cards(vec![silent]));
        assert!(writer.flush().await);
        // Never shown, so the same card at an order hook in the same encounter is no repeat.
        assert_eq!(
            writer
                .check_suppression(asked("fp-a", "enc-1", 0))
                .await
                .unwrap(),
            vec![None],
            "{backend}"
        );
        assert!(writer.offer_cards(vec![shown("loud", "fp-a", 3_000, "enc-1")]));
        assert!(writer.flush().await);
        assert_eq!(
            writer
                .check_suppression(asked("fp-a", "enc-1", 0))
                .await
                .unwrap(),
            vec![Some(SuppressionReason::Repeat)],
            "{backend}"
        );
        let modes: Vec<String> = gravida_store::testing::card_modes(&store)
            .await
            .into_iter()
            .map(|(uuid, _, mode)| format!("{uuid}={mode}"))
            .collect();
        assert_eq!(
            modes,
            ["old=active", "quiet=silent", "loud=active"],
            "{backend}"
        );
    }
}

#[tokio::test]
async fn the_report_counts_silent_cards_apart_and_names_the_profile_versions_of_the_period() {
    for store in stores("the report's silent cards and profile versions").await {
        let backend = store.backend();
        let writer = AuditWriter::spawn(store.clone(), WriterConfig { queue_capacity: 16 });
        let from = |uuid: &str, rule: &str, at: i64, profile: &str, mode: &str| CardRecord {
            profile_version: profile.to_owned(),
            mode: mode.to_owned(),
            ..card(uuid, rule, at)
        };
        assert!(writer.offer_cards(vec![
            from("a1", "R2", 1_000, "default@aaaaaaaaaaaa", "active"),
            from("a2", "R2", 2_000, "default@aaaaaaaaaaaa", "active"),
            from("b1", "R2", 3_000, "default@bbbbbbbbbbbb", "active"),
            from("b2", "R15", 4_000, "default@bbbbbbbbbbbb", "silent"),
        ]));
        assert!(writer.flush().await);
        let report = store.report(0).await.unwrap();
        let rule = |id: &str| report.rules.iter().find(|r| r.rule_id == id).unwrap();
        assert_eq!((rule("R2").fired, rule("R2").silent), (3, 0), "{backend}");
        assert_eq!((rule("R15").fired, rule("R15").silent), (0, 1), "{backend}");
        let profiles: Vec<(&str, i64, i64, i64)> = report
            .profiles
            .iter()
            .map(|p| (p.version.as_str(), p.cards, p.first_ms, p.last_ms))
            .collect();
        assert_eq!(
            profiles,
            [
                ("default@aaaaaaaaaaaa", 2, 1_000, 2_000),
                ("default@bbbbbbbbbbbb", 2, 3_000, 4_000)
            ],
            "{backend}"
        );
        // Since a moment, only what was issued after it.
        let later = store.report(2_500).await.unwrap();
        assert_eq!(later.profiles.len(), 1, "{backend}");
    }
}

#[tokio::test]
async fn a_long_form_is_kept_as_bytes_found_by_its_lookup_until_it_expires_then_purged_on_either_backend()
 {
    let dir = std::env::temp_dir().join(format!("gravida-it-sheets-{}", std::process::id()));
    let mut urls = vec![sqlite_url_in(&dir)];
    if let Some(admin) = postgres_admin_url("long forms as bytes") {
        urls.push(fresh_postgres_url(&admin).await);
    }
    for url in urls {
        let store = Store::connect(&url).await.unwrap();
        let writer = AuditWriter::spawn(store.clone(), WriterConfig { queue_capacity: 16 });
        let sealed: Vec<u8> = (0..=255).collect();
        assert!(
            writer
                .record(CallRecords {
                    long_forms: vec![LongFormRecord {
                        lookup: vec![7; 16],
                        expires_at_ms: 5_000,
                        sealed: sealed.clone(),
                    }],
                    ..CallRecords::default()
                })
                .await
        );
        assert!(writer.flush().await);
        assert_eq!(
            store.long_form(&[7; 16], 4_999).await.unwrap(),
            Some(sealed)
        );
        assert_eq!(store.long_form(&[8; 16], 4_999).await.unwrap(), None);
        assert_eq!(
            store.long_form(&[7; 16], 5_000).await.unwrap(),
            None,
            "expired"
        );
        assert_eq!(store.purge(0, 4_999).await.unwrap().unwrap().long_forms, 0);
        assert_eq!(store.purge(0, 5_000).await.unwrap().unwrap().long_forms, 1);
    }
}

#[tokio::test]
async fn expired_long_forms_are_purged_in_batches_and_the_live_ones_stay_on_either_backend() {
    let dir = std::env::temp_dir().join(format!("gravida-it-expiry-{}", std::process::id()));
    let mut urls = vec![sqlite_url_in(&dir)];
    if let Some(admin) = postgres_admin_url("expired long forms") {
        urls.push(fresh_postgres_url(&admin).await);
    }
    // More expired rows than one batch takes, so the purge goes round more than once.
    let expired = gravida_store::EXPIRED_BATCH as u64 + 500;
    for url in urls {
        let store = Store::connect(&url).await.unwrap();
        let writer = AuditWriter::spawn(store.clone(), WriterConfig { queue_capacity: 64 });
        let sheet = |n: u64, expires_at_ms: i64| LongFormRecord {
            lookup: n.to_be_bytes().repeat(2),
            expires_at_ms,
            sealed: vec![1; 64],
        };
        let long_forms: Vec<LongFormRecord> = (0..expired)
            .map(|n| sheet(n, 1_000 + n as i64))
            .chain((0..10).map(|n| sheet(1_000_000 + n, 1_000_000)))
            .collect();
        for chunk in long_forms.chunks(16) {
            assert!(
                writer
                    .record(CallRecords {
                        long_forms: chunk.to_vec(),
                        ..CallRecords::default()
                    })
                    .await
            );
        }
        assert!(writer.flush().await);
        assert_eq!(
            store.purge_expired(999_999).await.unwrap(),
            Some(expired),
            "{}",
            store.backend()
        );
        assert_eq!(store.purge_expired(999_999).await.unwrap(), Some(0));
        let live = 1_000_000u64.to_be_bytes().repeat(2);
        assert!(store.long_form(&live, 999_999).await.unwrap().is_some());
        assert_eq!(store.purge_expired(1_000_000).await.unwrap(), Some(10));
    }
}
