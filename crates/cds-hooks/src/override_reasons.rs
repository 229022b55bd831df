//! The standard override reasons of CDS Hooks 3.0.0: HL7's non-adherence reason codes.
//!
//! CDS Hooks 3.0.0 (index.md, "Reasons for rejecting a card", STU) suggests a code system of
//! non-adherence reasons, `http://terminology.hl7.org/CodeSystem/non-adherence-reason-codes`
//! (`input/vocabulary/CodeSystem-non-adherence-reason-codes.json`: six categories, each with
//! specific codes beneath it), and a value set of "clinically relevant codes" as a starting point
//! for services (`ValueSet-non-adherence-reason-clinical.json`,
//! `http://terminology.hl7.org/ValueSet/non-adherence-reason-clinical`). A card's
//! `overrideReasons` are Codings that SHALL carry a `display` (invariant cds-resp-4); the
//! displays below are the code system's own.
//!
//! [`STANDARD`] holds the codes a service is most likely to offer, with their displays, so that
//! a service can offer them without a copy of the terminology. 2.0 clients need nothing new:
//! an override reason is a Coding in both versions.

use crate::response::Coding;

/// The HL7 code system of non-adherence (override) reasons.
pub const NON_ADHERENCE_REASON_SYSTEM: &str =
    "http://terminology.hl7.org/CodeSystem/non-adherence-reason-codes";

/// The value set of clinically relevant reasons for point-of-care selection.
pub const CLINICAL_SELECTION_VALUE_SET: &str =
    "http://terminology.hl7.org/ValueSet/non-adherence-reason-clinical";

/// A code of [`NON_ADHERENCE_REASON_SYSTEM`] with its display and whether the clinical-selection
/// value set includes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StandardReason {
    pub code: &'static str,
    pub display: &'static str,
    /// In [`CLINICAL_SELECTION_VALUE_SET`]; the others are codes of the code system only.
    pub clinical_selection: bool,
}

impl StandardReason {
    /// The reason as a Coding with its display, as a card offers it.
    pub fn coding(&self) -> Coding {
        Coding::new(NON_ADHERENCE_REASON_SYSTEM, self.code).with_display(self.display)
    }
}

const fn reason(code: &'static str, display: &'static str, clinical: bool) -> StandardReason {
    StandardReason {
        code,
        display,
        clinical_selection: clinical,
    }
}

/// The twelve codes of the clinical-selection value set, and two more codes of the system that
/// say "the recommended action is in hand" or "wait for more": `indication-order-exists` (a
/// child of `cds-not-applicable`) and `need-more-info` (a child of `cds-suboptimal-context`).
/// Displays as in the code system (HL7/cds-hooks at fb10ca7).
pub const STANDARD: &[StandardReason] = &[
    reason(
        "cds-not-applicable",
        "PC CDS does not apply to patient",
        true,
    ),
    reason(
        "cds-suboptimal-context",
        "PC CDS delivered in suboptimal context",
        true,
    ),
    reason(
        "recipient-disagrees-evidence",
        "Recipient disagrees with recommendation because of issues with the evidence",
        true,
    ),
    reason(
        "recipient-concerns-outcomes",
        "Recipient has concerns regarding potential health outcomes",
        true,
    ),
    reason(
        "does-not-align-preferences",
        "Recommendation does not align with patient preferences or values",
        true,
    ),
    reason(
        "not-convenient-feasible",
        "Recommendation is not convenient or feasible",
        true,
    ),
    reason(
        "action-completed",
        "Recommended action was already completed",
        true,
    ),
    reason(
        "patient-contraindication",
        "Patient has contraindication to recommended action",
        true,
    ),
    reason(
        "patient-refuses",
        "Patient refuses/declines (no context given)*",
        true,
    ),
    reason(
        "too-costly-uncovered",
        "Recommended action is too costly or not covered by insurance",
        true,
    ),
    reason(
        "service-not-available",
        "Treatment or service is not practically available",
        true,
    ),
    reason(
        "recipient-does-not-understand",
        "Recipient does not understand the recommended action or know how to perform the recommended action",
        true,
    ),
    reason(
        "indication-order-exists",
        "Patient has indication/order for intended action",
        false,
    ),
    reason(
        "need-more-info",
        "Could not address recommended action due to need for more information/pending results/pending consult",
        false,
    ),
];

/// The standard reason with this code, if [`STANDARD`] lists it.
pub fn standard(code: &str) -> Option<&'static StandardReason> {
    STANDARD.iter().find(|r| r.code == code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_standard_reason_has_a_display_and_a_distinct_code() {
        for (i, r) in STANDARD.iter().enumerate() {
            assert!(!r.display.trim().is_empty(), "{}", r.code);
            assert!(STANDARD[..i].iter().all(|e| e.code != r.code), "{}", r.code);
            let coding = r.coding();
            assert_eq!(coding.system, NON_ADHERENCE_REASON_SYSTEM);
            assert_eq!(coding.display.as_deref(), Some(r.display));
        }
        assert_eq!(STANDARD.iter().filter(|r| r.clinical_selection).count(), 12);
        assert_eq!(
            standard("action-completed").map(|r| r.code),
            Some("action-completed")
        );
        assert!(standard("already-addressed").is_none());
    }
}
