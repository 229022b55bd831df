//! The governance console's numbers from the store (`Store::weekly`), on SQLite and, when one is
//! configured, PostgreSQL: per ISO week, per rule and per hook, with the calls the writer counts.

use gravida_store::{AuditWriter, CallTally, CardRecord, FeedbackRecord, WriterConfig};

use crate::store::{card, stores};

/// Monday 2026-12-07, 01:00 UTC, in Unix milliseconds (day 20,794), and a week later.
const WEEK_A: i64 = 20_794 * 86_400_000 + 3_600_000;
const WEEK_B: i64 = WEEK_A + 7 * 86_400_000;

const STANDARD: &str = "http://terminology.hl7.org/CodeSystem/non-adherence-reason-codes";

fn at(uuid: &str, rule: &str, when: i64, hook: &str, call: &str, mode: &str) -> CardRecord {
    CardRecord {
        hook: hook.to_owned(),
        hook_instance: call.to_owned(),
        mode: mode.to_owned(),
        ..card(uuid, rule, when)
    }
}

fn verdict(card: &str, outcome: &str, reason: Option<(&str, &str)>) -> FeedbackRecord {
    FeedbackRecord {
        card_uuid: card.to_owned(),
        outcome: outcome.to_owned(),
        outcome_at_ms: WEEK_B + 1,
        service: "gravida-patient-view".to_owned(),
        override_system: reason.map(|r| r.0.to_owned()),
        override_code: reason.map(|r| r.1.to_owned()),
        has_comment: false,
        accepted_suggestions: if outcome == "accepted" {
            vec![format!("{card}-s1")]
        } else {
            vec![]
        },
        received_at_ms: WEEK_B + 1,
        issuer: Some("https://ehr.example.org".to_owned()),
        tenant: None,
    }
}

fn calls(writer: &AuditWriter, when: i64, hook: &str, profile: &str, n: usize) {
    for _ in 0..n {
        writer.count_call(CallTally {
            day: CallTally::day_of(when),
            service: "gravida-patient-view".to_owned(),
            hook: hook.to_owned(),
            profile_version: profile.to_owned(),
        });
    }
}

#[tokio::test]
async fn the_weekly_numbers_count_cards_by_mode_outcomes_reasons_and_the_share_of_calls_that_fired()
{
    for store in stores("weekly").await {
        let backend = store.backend();
        let writer = AuditWriter::spawn(store.clone(), WriterConfig { queue_capacity: 64 });
        calls(&writer, WEEK_A, "patient-view", "default@abc", 6);
        calls(&writer, WEEK_A + 86_400_000, "order-sign", "default@abc", 4);
        calls(&writer, WEEK_B, "patient-view", "default@def", 4);
        assert!(writer.offer_cards(vec![
            at("c1", "R1", WEEK_A, "patient-view", "call-1", "active"),
            at("c4", "R2", WEEK_A, "patient-view", "call-1", "active"),
            at("c2", "R1", WEEK_A, "order-sign", "call-2", "active"),
            at("c3", "R1", WEEK_A, "patient-view", "call-3", "silent"),
            at("c5", "R1", WEEK_B, "patient-view", "call-4", "active"),
        ]));
        writer
            .store_feedback(vec![
                verdict("c1", "accepted", None),
                verdict("c2", "overridden", Some((STANDARD, "already-addressed"))),
                verdict("c4", "overridden", None),
            ])
            .await
            .unwrap();
        assert!(writer.flush().await, "{backend}");

        let weekly = store.weekly(0).await.unwrap();
        assert_eq!(weekly.weeks.len(), 2, "{backend}: {weekly:#?}");
        let a = &weekly.weeks[0];
        assert_eq!(
            (a.week.as_str(), a.starts.as_str()),
            ("2026-W50", "2026-12-07")
        );
        assert_eq!(a.calls, 10, "{backend}");
        assert_eq!(a.profile_versions, vec!["default@abc".to_owned()]);

        let r1 = &a.rules[0];
        assert_eq!(r1.rule_id, "R1");
        assert_eq!(
            (r1.fired_active, r1.fired_silent, r1.calls_fired),
            (2, 1, 3)
        );
        assert_eq!((r1.accepted, r1.overridden), (1, 1), "{backend}");
        // A standard code is named by itself.
        assert_eq!(
            r1.override_reasons,
            vec![("already-addressed".to_owned(), 1)]
        );
        assert_eq!(
            r1.suggestions_taken,
            vec![("Order ultrasound".to_owned(), 1)]
        );
        assert_eq!(r1.share_fired, Some(0.3));
        let r2 = &a.rules[1];
        assert_eq!(
            (r2.rule_id.as_str(), r2.fired_active, r2.overridden),
            ("R2", 1, 1)
        );
        assert_eq!(r2.override_reasons, vec![("(none given)".to_owned(), 1)]);

        // Per hook: a silent card is counted apart and does not make a call one that fired.
        let hooks: Vec<_> = a
            .hooks
            .iter()
            .map(|h| {
                (
                    h.hook.as_str(),
                    h.calls,
                    h.calls_fired,
                    h.cards_active,
                    h.cards_silent,
                )
            })
            .collect();
        assert_eq!(
            hooks,
            vec![("order-sign", 4, 1, 1, 0), ("patient-view", 6, 1, 2, 1)],
            "{backend}"
        );
        assert_eq!(a.hooks[0].share_fired, Some(0.25));

        let b = &weekly.weeks[1];
        assert_eq!((b.week.as_str(), b.calls), ("2026-W51", 4));
        // The version that answered the calls and the one on the card.
        assert_eq!(
            b.profile_versions,
            vec!["default@abc".to_owned(), "default@def".to_owned()]
        );
        assert_eq!(b.rules[0].share_fired, Some(0.25));

        // Since the second week: only it.
        let later = store.weekly(WEEK_B - 3_600_000).await.unwrap();
        assert_eq!(later.weeks.len(), 1, "{backend}");
        assert_eq!(later.weeks[0].week, "2026-W51");
    }
}

#[tokio::test]
async fn calls_counted_without_any_card_reach_the_store_without_a_flush() {
    for store in stores("calls alone").await {
        let writer = AuditWriter::spawn(store.clone(), WriterConfig { queue_capacity: 8 });
        calls(&writer, WEEK_A, "patient-view", "default@abc", 3);
        // The first count woke the writer: within its linger, the counts are committed.
        let mut seen = 0;
        for _ in 0..100 {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            let weekly = store.weekly(0).await.unwrap();
            seen = weekly.weeks.first().map_or(0, |w| w.calls);
            if seen == 3 {
                break;
            }
        }
        assert_eq!(seen, 3, "{}", store.backend());
        // Counted again later: added, not replaced.
        calls(&writer, WEEK_A, "patient-view", "default@abc", 2);
        assert!(writer.flush().await);
        assert_eq!(store.weekly(0).await.unwrap().weeks[0].calls, 5);
    }
}
