//! Vasa previa (knowledge.md §3.6 item 20): its own concept, never "placenta previa".
//!
//! In vasa previa fetal vessels run in the membranes over or near the internal os, unprotected
//! by the cord or the placenta. When they tear, the blood that is lost is the fetus's: a small
//! maternal-looking bleed can exsanguinate the fetus within minutes. So a bleed with vasa previa
//! documented is **critical** whatever its amount, and its card asks for continuous CTG, an
//! immediate obstetric review and preparation for emergency caesarean (SMFM Consult #37, AJOG
//! 2015; RCOG GTG 27b). The placenta itself may lie anywhere, so "placenta previa documented"
//! would be a wrong fact on the card: the profile's placenta-previa value set leaves the code out,
//! and this module reads vasa previa on its own.
//!
//! A record documents vasa previa when it carries a code of the profile's vasa-previa value set
//! (SNOMED CT 79668009, by any name of the SNOMED system, §3.6 item 6) or names it in the
//! profile's `vasa_previa_words` ("vasa previa", "vasa praevia"), not negated
//! ("no vasa previa seen"), and is neither refuted nor hedged nor resolved (§3.6 items 1–2): a
//! follow-up scan that no longer shows the vessels resolves the Condition.

use crate::facts::Record;
use crate::finding::{Evidence, Finding, Indicator, Modifier, Role, RuleId};
use crate::knowledge::RulesKnowledge;

/// Clinical and verification statuses that take a Condition out of the facts: it was resolved,
/// or it was never more than a question (§3.6 items 1 and 2).
const NOT_ASSERTED: [&str; 8] = [
    "resolved",
    "inactive",
    "remission",
    "refuted",
    "entered-in-error",
    "provisional",
    "differential",
    "unconfirmed",
];

/// True when `record` documents vasa previa as a present fact.
pub(crate) fn documents(record: &Record, kb: &RulesKnowledge) -> bool {
    let withdrawn = [&record.clinical_status, &record.verification_status]
        .into_iter()
        .flatten()
        .any(|s| NOT_ASSERTED.contains(&s.as_str()));
    if withdrawn {
        return false;
    }
    // The chart layer has already named every code system canonically (an OID for SNOMED CT
    // reads as `http://snomed.info/sct`), so the value set is asked as it is.
    let coded = kb.value_sets().vasa_previa.contains_any(&record.codes);
    coded || crate::text::mentions(&record.text, &kb.text.vasa_previa_words, &kb.text)
}

/// Makes the placenta cards of a bleed (R9 before 20w0d, R14 from 20w0d, and R2E when it
/// escalates one of them) the vasa previa card: critical, with the documenting records as
/// evidence. `documented` holds the records of this pregnancy that [`documents`] accepted, with
/// their dates. The engine decides which records belong to the pregnancy; this only reads them.
pub(crate) fn apply(documented: &[(&Record, Option<time::Date>)], findings: &mut [Finding]) {
    if documented.is_empty() {
        return;
    }
    for finding in findings.iter_mut() {
        let placenta_card = match finding.rule {
            RuleId::R9 | RuleId::R14 => true,
            RuleId::R2E => finding
                .modifiers
                .iter()
                .any(|m| matches!(m, Modifier::EscalatedFrom(RuleId::R9 | RuleId::R14))),
            _ => false,
        };
        if !placenta_card {
            continue;
        }
        finding.indicator = Indicator::Critical;
        if !finding.has(&Modifier::VasaPrevia) {
            finding.modifiers.push(Modifier::VasaPrevia);
        }
        for (record, date) in documented {
            finding.evidence.push(Evidence::record(
                Role::VasaPrevia,
                record.kind,
                &record.id,
                *date,
            ));
        }
    }
}
