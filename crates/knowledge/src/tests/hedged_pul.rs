//! A hedged diagnosis and a resolved pregnancy of unknown location on the card (knowledge.md §3.6
//! items 2 and 7), rendered from the default profile: the suspected loss named with its day
//! beside the SRU caution, and R2R's qualitative variant, which has no value to quote.

use gravida_rules::facts::{Presence, Value, When};
use gravida_rules::knowledge::{LOINC, SNOMED};
use time::Duration;

use super::escalation::{NOW, TODAY, bleeding_at, cond, obs, tvus};
use super::{cards_of, full_text};
use crate::KnowledgeBase;

#[test]
fn a_possible_miscarriage_is_named_as_suspected_with_its_day_and_the_sru_caution() {
    let kb = KnowledgeBase::embedded().expect("loads");
    let dx = cond(
        "dx",
        SNOMED,
        "17369002",
        "Possible miscarriage",
        TODAY - Duration::days(1),
    );
    let cards = cards_of(kb.evaluate(
        &bleeding_at(56, "Vaginal bleeding", vec![dx, tvus()]),
        "p1",
        NOW,
    ));
    assert!(!cards.is_empty(), "a hedged loss is no G5");
    for card in &cards {
        let detail = card.detail.as_deref().unwrap_or_default();
        assert!(
            detail.contains(
                "Pregnancy loss suspected (rule-out diagnosis recorded 31 Mar): SRU criteria before any diagnosis of loss."
            ),
            "{detail}"
        );
    }
}

#[test]
fn a_negative_urine_test_after_a_pul_reads_as_the_qualitative_resolved_note() {
    let kb = KnowledgeBase::embedded().expect("loads");
    let mut facts = bleeding_at(49, "Vaginal bleeding", vec![tvus()]);
    for r in &mut facts.records {
        if r.id == "bleed" {
            r.effective = Some(When::day(TODAY - Duration::days(7)));
        }
    }
    let mut urine = obs(
        "urine",
        LOINC,
        "2106-3",
        TODAY,
        Some(Value::String("Negative".into())),
    );
    urine.presence = Some(Presence::Absent);
    facts.records.push(urine);
    let cards = cards_of(kb.evaluate(&facts, "p1", NOW));
    assert_eq!(cards.len(), 1, "{cards:#?}");
    assert_eq!(
        cards[0].summary,
        "Pregnancy test negative on 1 Apr: pregnancy of unknown location resolved"
    );
    let text = full_text(&cards[0]);
    assert!(
        text.contains("No further hCG follow-up is needed"),
        "{text}"
    );
    assert!(
        !text
            .to_lowercase()
            .contains("ectopic pregnancy not excluded"),
        "{text}"
    );
}
