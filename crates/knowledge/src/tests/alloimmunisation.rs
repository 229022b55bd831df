//! The Rh cards of knowledge.md §3.6 items 11 and 12, rendered from the default profile: an
//! alloimmunised patient gets no anti-D advice and the note that says why and where her care
//! belongs; a weak D result is treated as RhD negative until genotyped, and said as weak D.

use gravida_rules::facts::{Code, PatientFacts, Record, RecordKind, Value, When};
use gravida_rules::knowledge::LOINC;
use time::Duration;

use super::escalation::{NOW, TODAY, bleeding_at, iup, rh_negative};
use super::{cards_of, full_text};
use crate::KnowledgeBase;

fn result(id: &str, code: &str, value: Value) -> Record {
    let mut r = Record::new(RecordKind::Observation, id);
    r.codes = vec![Code::new(LOINC, code)];
    r.status = Some("final".into());
    r.effective = Some(When::day(TODAY - Duration::days(40)));
    r.value = Some(value);
    r
}

fn alloimmunised_at_13_weeks() -> PatientFacts {
    let screen = result(
        "screen",
        "890-4",
        Value::Concept {
            codes: vec![Code::new(LOINC, "LA6576-8")],
            text: None,
        },
    );
    let identified = result("abid", "888-8", Value::String("Anti-D".into()));
    bleeding_at(
        93,
        "Spotting",
        vec![iup(), rh_negative(), screen, identified],
    )
}

#[test]
fn an_alloimmunised_patient_is_told_rhig_is_not_indicated_and_is_never_advised_anti_d() {
    let kb = KnowledgeBase::embedded().expect("loads");
    let cards = cards_of(kb.evaluate(&alloimmunised_at_13_weeks(), "p1", NOW));
    assert!(!cards.is_empty());
    for card in &cards {
        let detail = card.detail.as_deref().unwrap_or_default();
        assert!(
            detail.contains(
                "Anti-D alloimmunisation on record: RhIG is not indicated; maternal–fetal medicine care."
            ),
            "{detail}"
        );
        let text = full_text(card);
        assert!(
            !text.contains("Anti-D immune globulin is recommended"),
            "{text}"
        );
        assert!(!text.contains("consider anti-D"), "{text}");
    }
}

#[test]
fn a_weak_d_result_is_treated_as_rhd_negative_until_genotyped_and_said_as_weak_d() {
    let mut rh = result(
        "rh",
        "10331-7",
        Value::String("Weak D (Du) positive".into()),
    );
    rh.effective = Some(When::day(TODAY - Duration::days(20)));
    let facts = bleeding_at(91, "Spotting", vec![iup(), rh]);
    let kb = KnowledgeBase::embedded().expect("loads");
    let cards = cards_of(kb.evaluate(&facts, "p1", NOW));
    let r7 = cards
        .iter()
        .find(|c| c.source.topic.as_ref().is_some_and(|t| t.code == "R7"))
        .expect("the anti-D card");
    let detail = r7.detail.as_deref().unwrap_or_default();
    assert!(
        detail
            .contains("Serologic weak D or partial D: treat as RhD-negative until RHD genotyped."),
        "{detail}"
    );
    assert!(
        !detail.contains("RhD negative ("),
        "not a plain RhD negative: {detail}"
    );
}
