//! One human form for dates and things (issue 31 item 5), rendered from the default profile:
//! headlines and card text write days as the body does (`29 Mar`), records are named as
//! clinicians name them ("order", "diagnosis"), and the long form says each record and its
//! closing line once, however many findings are folded into the card.

use gravida_rules::facts::{Code, DraftOrder};
use gravida_rules::knowledge::RXNORM;
use time::Duration;

use super::escalation::{NOW, bleeding_at, bp_panel, heart_rate, iup, rh_negative};
use super::{cards_of, full_text};
use crate::KnowledgeBase;
use crate::render::REASONING_EXTENSION;

/// True when `text` holds a date written `2025-03-29`.
fn has_iso_date(text: &str) -> bool {
    let shape = b"dddd-dd-dd";
    text.as_bytes().windows(shape.len()).any(|w| {
        w.iter().zip(shape).all(|(c, s)| match s {
            b'd' => c.is_ascii_digit(),
            _ => c == s,
        })
    })
}

#[test]
fn the_headline_writes_the_intrauterine_pregnancy_day_as_the_body_does() {
    let kb = KnowledgeBase::embedded().expect("loads");
    let cards = cards_of(kb.evaluate(&bleeding_at(63, "bleeding", vec![iup()]), "p1", NOW));
    let summary = &cards[0].summary;
    assert!(summary.ends_with("(documented 29 Mar)"), "{summary}");
    assert!(!has_iso_date(summary), "{summary}");
}

#[test]
fn a_draft_order_is_named_an_order_never_by_its_resource_type() {
    let kb = KnowledgeBase::embedded().expect("loads");
    let mut facts = bleeding_at(42, "spotting", vec![]);
    facts.draft_orders.push(DraftOrder {
        resource_type: "MedicationRequest".into(),
        id: "mtx".into(),
        codes: vec![Code::new(RXNORM, "6851")],
        text: vec!["Methotrexate 50 mg/m2 IM".into()],
        status: Some("draft".into()),
        reasons: Vec::new(),
        ..Default::default()
    });
    let card = cards_of(kb.evaluate(&facts, "p1", NOW))
        .into_iter()
        .find(|c| c.summary.starts_with("Methotrexate"))
        .expect("R6");
    let detail = card.detail.as_deref().unwrap_or_default();
    assert!(
        detail.contains("order 'Methotrexate 50 mg\\/m2 IM'"),
        "{detail}"
    );
    let text = full_text(&card);
    for resource_type in ["MedicationRequest", "Condition", "Observation"] {
        assert!(!text.contains(resource_type), "{resource_type}: {text}");
    }
}

#[test]
fn the_short_card_writes_a_vital_signs_time_as_the_body_does() {
    let kb = KnowledgeBase::embedded().expect("loads");
    let taken = NOW - Duration::minutes(30);
    let facts = bleeding_at(
        47,
        "vaginal bleeding",
        vec![heart_rate(128.0, taken), bp_panel(84.0, 48.0, taken)],
    );
    let card = &cards_of(kb.evaluate(&facts, "p1", NOW))[0];
    let detail = card.detail.as_deref().unwrap_or_default();
    assert!(
        detail.contains("Heart rate 128/min at 1 Apr 11:30 UTC"),
        "{detail}"
    );
    assert!(!has_iso_date(detail), "{detail}");
    assert!(!has_iso_date(&card.summary), "{}", card.summary);
}

#[test]
fn a_card_with_a_folded_finding_names_each_record_once_and_closes_once_in_its_long_form() {
    let kb = KnowledgeBase::embedded().expect("loads");
    // 9w0d, RhD negative: R8 is folded into R2; both rest on the same bleed and dating.
    let a = kb.evaluate(&bleeding_at(63, "bleeding", vec![rh_negative()]), "p1", NOW);
    assert_eq!(a.cards.len(), 1);
    let reasoning = a.cards[0]
        .card
        .extension
        .as_ref()
        .and_then(|e| e.get(REASONING_EXTENSION))
        .and_then(|r| r.as_str())
        .unwrap_or_default()
        .to_owned();
    assert!(reasoning.contains("**Also: RhD"), "{reasoning}");
    assert_eq!(reasoning.matches("Records used").count(), 1, "{reasoning}");
    assert_eq!(
        reasoning.matches("diagnosis 'bleeding' (").count(),
        1,
        "{reasoning}"
    );
    assert_eq!(
        reasoning.matches("not a diagnosis.*").count(),
        1,
        "{reasoning}"
    );
}
