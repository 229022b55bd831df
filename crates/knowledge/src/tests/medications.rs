//! The medication records on a bleeding card (knowledge.md §3.6 item 21), rendered from the
//! default profile: a current anticoagulant is named with the review it needs.

use gravida_cds_hooks::Card;
use gravida_rules::facts::{Code, DraftOrder, PatientFacts};
use gravida_rules::knowledge::RXNORM;

use super::escalation::{NOW, bleeding_at, iup};
use super::{cards_of, full_text};
use crate::KnowledgeBase;

fn on(name: &str, status: &str) -> PatientFacts {
    let mut facts = bleeding_at(73, "Spotting", vec![iup()]);
    facts.medications.push(DraftOrder {
        resource_type: "MedicationRequest".into(),
        id: "med".into(),
        codes: vec![Code::new(RXNORM, "854235")],
        text: vec![name.into()],
        status: Some(status.into()),
        reasons: vec!["1 mg/kg subcutaneously every 12 hours".into()],
        ..Default::default()
    });
    facts
}

fn cards(facts: &PatientFacts) -> Vec<Card> {
    let kb = KnowledgeBase::embedded().expect("loads");
    cards_of(kb.evaluate(facts, "p1", NOW))
}

#[test]
fn a_bleed_on_enoxaparin_names_the_drug_and_asks_for_review_with_the_prescriber_before_the_next_dose()
 {
    let all = cards(&on("enoxaparin (LOVENOX) 80 mg/0.8 mL syringe", "active"));
    assert!(!all.is_empty());
    for card in &all {
        // The detail is Markdown: chart text in it is escaped, and read without the escapes.
        let detail = card.detail.as_deref().unwrap_or_default().replace('\\', "");
        assert!(
            detail.contains(
                "On enoxaparin (LOVENOX) 80 mg/0.8 mL syringe: review anticoagulation with the prescribing team before the next dose."
            ),
            "{detail}"
        );
        // A step to take, among the card's steps, not a fact among the reasons.
        assert!(detail.contains("\n- On enoxaparin"), "{detail}");
        let text = full_text(card).to_lowercase();
        assert!(!text.contains("stop"), "never advice to stop: {text}");
    }
}

#[test]
fn a_completed_course_is_not_named() {
    let all = cards(&on("enoxaparin 40 mg syringe", "completed"));
    assert!(!all.is_empty());
    for card in &all {
        assert!(
            !full_text(card).contains("enoxaparin"),
            "{}",
            full_text(card)
        );
    }
}
