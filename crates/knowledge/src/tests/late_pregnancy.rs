//! The late-pregnancy cards of knowledge.md §3.6, rendered from the default profile: vasa
//! previa (item 20). Each test reads the card a clinician would read and fails on the wording
//! it replaces.

use gravida_cds_hooks::{Card, Indicator};
use gravida_rules::knowledge::SNOMED;
use time::Duration;

use super::escalation::{NOW, TODAY, bleeding_at, cond};
use super::{cards_of, full_text};
use crate::KnowledgeBase;

fn cards(facts: &gravida_rules::facts::PatientFacts) -> Vec<Card> {
    let kb = KnowledgeBase::embedded().expect("loads");
    cards_of(kb.evaluate(facts, "p1", NOW))
}

fn vasa_previa() -> gravida_rules::facts::Record {
    cond(
        "vasa",
        SNOMED,
        "79668009",
        "Vasa praevia (velamentous insertion)",
        TODAY - Duration::days(80),
    )
}

#[test]
fn a_bleed_with_vasa_previa_gets_a_critical_card_that_names_it_and_never_says_placenta_previa_documented()
 {
    // 32w0d, the anatomy scan's vasa previa on the problem list.
    let all = cards(&bleeding_at(
        224,
        "Painless PV bleeding",
        vec![vasa_previa()],
    ));
    let card = all
        .iter()
        .find(|c| c.source.topic.as_ref().is_some_and(|t| t.code == "R14"))
        .expect("an R14 card");
    assert_eq!(card.indicator, Indicator::Critical);
    assert_eq!(
        card.summary,
        "Bleeding at 32w0d with vasa previa documented: fetal haemorrhage possible; immediate obstetric review"
    );
    assert!(card.summary.chars().count() < 140);
    let detail = card.detail.as_deref().unwrap_or_default();
    assert!(
        detail.contains(
            "Bleeding with vasa previa documented (11 Jan): fetal haemorrhage possible — continuous CTG, immediate obstetric review, prepare for emergency caesarean."
        ),
        "{detail}"
    );
    // Said once on the card, though both the variant and the modifier carry it.
    assert_eq!(
        detail.matches("prepare for emergency caesarean").count(),
        1,
        "{detail}"
    );
    for card in &all {
        let text = full_text(card).to_lowercase();
        assert!(!text.contains("placenta previa documented"), "{text}");
        assert!(
            !text.contains("abruption and previa are not excluded"),
            "{text}"
        );
    }
}

#[test]
fn an_unstable_patient_with_vasa_previa_keeps_the_vasa_previa_steps_on_the_emergency_card() {
    let all = cards(&bleeding_at(
        224,
        "Heavy bleeding, soaking pads",
        vec![vasa_previa()],
    ));
    let card = all
        .iter()
        .find(|c| c.source.topic.as_ref().is_some_and(|t| t.code == "R2E"))
        .expect("an R2E card");
    assert_eq!(card.indicator, Indicator::Critical);
    let text = full_text(card);
    assert!(text.contains("prepare for emergency caesarean"), "{text}");
}
