//! Anticoagulation named on every bleeding card (knowledge.md §3.6 item 21).
//!
//! A pregnant patient on an anticoagulant (LMWH for a venous thromboembolism or a mechanical
//! valve, a DOAC or warfarin started before the pregnancy was known) who bleeds needs one more
//! decision than any other: whether to give the next dose. That decision belongs to the team
//! that prescribed it (RCOG GTG 37a, 2015), so every bleeding card names the drug as the chart
//! writes it and asks for that review; the card never advises stopping it.
//!
//! A medication counts when it is current: a MedicationRequest whose status is `active`, or a
//! MedicationStatement whose status is `active` (taking it now). Stopped, completed, cancelled,
//! entered-in-error and draft records do not: a draft is an order not yet signed. The drug is
//! recognised by its names, generic or brand, in the record's text and coding displays, so that
//! a formulary's local code is read as well as RxNorm. The names are the profile's
//! `anticoagulant_names` (text.toml): LMWH, heparin, a DOAC, warfarin, generic and brand.

use crate::facts::DraftOrder;
use crate::finding::{Finding, Modifier, RuleId};
use crate::knowledge::BleedingText;

/// The statuses of a current medication, by resource type.
fn current(medication: &DraftOrder) -> bool {
    let status = medication.status.as_deref().unwrap_or_default();
    matches!(
        (medication.resource_type.as_str(), status),
        ("MedicationRequest" | "MedicationStatement", "active")
    )
}

/// True when a text names an anticoagulant as a whole word ("enoxaparin 80 mg", "Heparin
/// sodium"), not inside another word.
fn names_anticoagulant(record_text: &str, text: &BleedingText) -> bool {
    record_text
        .to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .any(|word| text.anticoagulant_names.iter().any(|name| name == word))
}

/// The current anticoagulants among `medications`: the name each record gives first.
pub(crate) fn current_anticoagulants(
    medications: &[DraftOrder],
    text: &BleedingText,
) -> Vec<String> {
    let mut names: Vec<String> = medications
        .iter()
        .filter(|m| current(m))
        .filter_map(|m| {
            m.text
                .iter()
                .find(|t| names_anticoagulant(t, text))
                .cloned()
        })
        .collect();
    names.dedup();
    names
}

/// Names each current anticoagulant on every bleeding card of `findings` (every card but the
/// methotrexate order's and the note about records set aside).
pub(crate) fn apply(anticoagulants: &[String], findings: &mut [Finding]) {
    for finding in findings.iter_mut() {
        if matches!(finding.rule, RuleId::R6 | RuleId::D1) {
            continue;
        }
        for drug in anticoagulants {
            let named = Modifier::Anticoagulant { drug: drug.clone() };
            if !finding.has(&named) {
                finding.modifiers.push(named);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::facts::{Code, DraftOrder, PatientFacts, Record};
    use crate::knowledge::{RXNORM, SNOMED};
    use crate::placenta_tests::{TODAY, cond, lmp, pregnant};
    use crate::testkit::knowledge;
    use crate::{Evaluation, Modifier, RuleId, evaluate};

    fn medication(resource_type: &str, status: &str, name: &str) -> DraftOrder {
        DraftOrder {
            resource_type: resource_type.into(),
            id: "med".into(),
            codes: vec![Code::new(RXNORM, "854235")],
            text: vec![name.into()],
            status: Some(status.into()),
            reasons: Vec::new(),
            ..Default::default()
        }
    }

    fn spotting_at_10_weeks(medications: Vec<DraftOrder>) -> Evaluation {
        let iup = cond(
            "iup",
            SNOMED,
            "65727000",
            "Intrauterine pregnancy",
            Some(TODAY - time::Duration::days(7)),
        );
        let bleed: Record = cond("bleed", SNOMED, "284075002", "Spotting", Some(TODAY));
        evaluate(
            &knowledge(),
            &PatientFacts {
                records: vec![pregnant(), lmp(73), iup, bleed],
                medications,
                ..Default::default()
            },
            super::super::placenta_tests::NOW,
        )
    }

    fn drugs(e: &Evaluation) -> Vec<(RuleId, String)> {
        e.findings
            .iter()
            .flat_map(|f| {
                f.modifiers.iter().filter_map(move |m| match m {
                    Modifier::Anticoagulant { drug } => Some((f.rule, drug.clone())),
                    _ => None,
                })
            })
            .collect()
    }

    #[test]
    fn an_active_enoxaparin_request_or_a_current_statement_is_named_on_the_bleeding_card() {
        for record in [
            medication(
                "MedicationRequest",
                "active",
                "enoxaparin (LOVENOX) 80 mg/0.8 mL syringe",
            ),
            medication(
                "MedicationStatement",
                "active",
                "enoxaparin (LOVENOX) 80 mg/0.8 mL syringe",
            ),
        ] {
            let e = spotting_at_10_weeks(vec![record]);
            assert_eq!(
                drugs(&e),
                vec![(
                    RuleId::R4,
                    "enoxaparin (LOVENOX) 80 mg/0.8 mL syringe".to_string()
                )]
            );
        }
    }

    #[test]
    fn a_stopped_draft_or_other_medication_is_not_named() {
        for record in [
            medication("MedicationRequest", "stopped", "Warfarin 5 mg tablet"),
            medication("MedicationRequest", "draft", "Apixaban 5 mg tablet"),
            medication("MedicationRequest", "active", "Levothyroxine 50 mcg tablet"),
            // Heparin as a word inside another is not heparin.
            medication("MedicationStatement", "active", "Heparinoid cream"),
        ] {
            let e = spotting_at_10_weeks(vec![record.clone()]);
            assert!(!e.findings.is_empty());
            assert!(drugs(&e).is_empty(), "{:?}", record);
        }
    }
}
