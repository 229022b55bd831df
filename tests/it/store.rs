//! The store's queries on each backend: SQLite always, PostgreSQL when
//! `GRAVIDA_TEST_POSTGRES_URL` names a server where this user may create databases
//! (`scripts/postgres-test-server.sh start` prints one; CI sets it). Each test gets a fresh
//! database, so tests never see each other's rows.

use std::time::{Duration, SystemTime};

use gravida_auth::{ReplayStore, Seen};
use gravida_store::testing::fresh_postgres_url;
use gravida_store::{
    AuditWriter, CardRecord, FeedbackRecord, PatientHasher, SqlReplayStore, Store,
    SuggestionRecord, SuppressionQuery, SuppressionReason, WriterConfig, sqlite_url_in,
};

/// `GRAVIDA_TEST_POSTGRES_URL`, or `None` with a `SKIPPED` note; under `CI=true` a missing
/// URL fails the test, so CI cannot skip PostgreSQL silently.
pub fn postgres_admin_url(test: &str) -> Option<String> {
    match std::env::var("GRAVIDA_TEST_POSTGRES_URL") {
        Ok(url) => Some(url),
        Err(_) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("GRAVIDA_TEST_POSTGRES_URL must be set under CI ({test})")
        }
        Err(_) => {
            eprintln!("SKIPPED: {test} on PostgreSQL (GRAVIDA_TEST_POSTGRES_URL is not set)");
            None
        }
    }
}

/// A fresh, migrated store of each available backend.
async fn stores(test: &str) -> Vec<Store> {
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

fn card(uuid: &str, rule: &str, at: i64) -> CardRecord {
    CardRecord {
        card_uuid: uuid.to_owned(),
        rule_id: rule.to_owned(),
        indicator: "warning".to_owned(),
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
        issuer: None,
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
        assert_eq!(report.unmatched_feedback, 1);
        assert_eq!(report.feedback_rows, 4);

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
        let purged = store.purge(3_000, 0).await.unwrap();
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
        let purged = store.purge(1_006, 0).await.unwrap();
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
