//! Anti-D given, read from medication records (knowledge.md §3.6 item 10).
//!
//! Anti-D immune globulin is charted as a Procedure in some EHRs, and as a medication in most: a
//! MedicationAdministration (the dose given), a MedicationStatement (taken), or an Immunization.
//! A medication record counts as given when its status says so: a MedicationAdministration
//! `completed` or `in-progress`, a MedicationStatement `completed` or `active`, an Immunization
//! `completed`. A dose `not-done` or `not-taken`, or only `intended`, was not given: the record
//! stays in the chart the engine reads, never as a dose. The drug is recognised by its code (the
//! `medication-anti-d` value set: HCPCS, a site's RxNorm or local codes) or by its name in the
//! record's text and coding displays (the profile's `anti_d_names`, whole words in a row).

use crate::facts::{DraftOrder, Record, RecordKind};
use crate::knowledge::{BleedingText, RulesKnowledge, class};

/// True when the medication record's status says the drug was given.
fn given(record: &Record) -> bool {
    let status = record.status.as_deref().unwrap_or_default();
    matches!(
        (record.kind, status),
        (
            RecordKind::MedicationAdministration,
            "completed" | "in-progress"
        ) | (RecordKind::MedicationStatement, "completed" | "active")
            | (RecordKind::Immunization, "completed")
    )
}

/// True when `record_text` names anti-D immune globulin, one of `anti_d_names`, as whole words
/// in a row, punctuation ignored: "Rho(D) immune globulin 300 mcg IM" and "anti-D 1500 IU" name
/// it; "Rhodes" does not.
fn names_anti_d(record_text: &str, text: &BleedingText) -> bool {
    let lower = record_text.to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    text.anti_d_names.iter().any(|name| {
        let name: Vec<&str> = name.split_whitespace().collect();
        !name.is_empty()
            && words
                .windows(name.len())
                .any(|window| window == name.as_slice())
    })
}

/// The first live draft order of the call that is anti-D immune globulin, coded
/// (`medication-anti-d`) or named (`anti_d_names`): the clinician is ordering it now, so no card
/// advises it (knowledge.md §3.6 item 16).
pub(crate) fn drafted<'o>(orders: &'o [DraftOrder], kb: &RulesKnowledge) -> Option<&'o DraftOrder> {
    orders.iter().find(|order| {
        order.is_live()
            && (kb.value_sets().medication_anti_d.contains_any(&order.codes)
                || order.text.iter().any(|t| names_anti_d(t, &kb.text)))
    })
}

/// True when `record` is a medication record of anti-D given: a given status, and the drug coded
/// (`classes` holds [`class::MEDICATION_ANTI_D`]) or named.
pub(crate) fn given_medication(record: &Record, classes: u64, text: &BleedingText) -> bool {
    record.kind.is_medication()
        && given(record)
        && (classes & class::MEDICATION_ANTI_D != 0
            || record.text.iter().any(|t| names_anti_d(t, text)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::knowledge;

    fn record(kind: RecordKind, status: &str, text: &str) -> Record {
        let mut record = Record::new(kind, "m");
        record.status = Some(status.into());
        record.text = vec![text.into()];
        record
    }

    #[test]
    fn a_completed_administration_naming_rho_d_immune_globulin_is_anti_d_given() {
        let kb = knowledge();
        let r = record(
            RecordKind::MedicationAdministration,
            "completed",
            "Rho(D) immune globulin 300 mcg IM",
        );
        assert!(given_medication(&r, 0, &kb.text));
    }

    #[test]
    fn a_dose_not_done_not_taken_or_only_intended_is_not_given() {
        let kb = knowledge();
        for (kind, status) in [
            (RecordKind::MedicationAdministration, "not-done"),
            (RecordKind::MedicationStatement, "not-taken"),
            (RecordKind::MedicationStatement, "intended"),
            (RecordKind::Immunization, "not-done"),
            (RecordKind::MedicationRequest, "active"),
        ] {
            let r = record(kind, status, "RhoGAM");
            assert!(!given_medication(&r, 0, &kb.text), "{kind:?} {status}");
        }
    }

    #[test]
    fn a_word_that_only_contains_a_name_is_not_anti_d() {
        let kb = knowledge();
        let r = record(
            RecordKind::Immunization,
            "completed",
            "Rhodes strain vaccine",
        );
        assert!(!given_medication(&r, 0, &kb.text));
        let coded = record(RecordKind::Immunization, "completed", "RH immune product");
        assert!(given_medication(&coded, class::MEDICATION_ANTI_D, &kb.text));
    }
}

/// A Procedure's `reasonCode` read like a Condition's code (knowledge.md §3.6 item 8): the test
/// lives here, beside the other reading of this change, so as not to touch the engine's tests
/// while they move.
#[cfg(test)]
mod procedure_reason_tests {
    use crate::facts::{Code, Record, RecordKind, Value, When};
    use crate::knowledge::{ICD10CM, LOINC};
    use crate::placenta_tests::{days_ago, obs, pregnant, run};

    fn lmp(id: &str, charted: i64, start: i64) -> Record {
        obs(
            id,
            LOINC,
            "8665-2",
            days_ago(charted),
            Some(Value::DateTime(When::day(days_ago(start)))),
        )
    }

    /// The GA of the bleed's finding, in days, with the earlier episode's dating and a done
    /// evacuation whose only loss code is its reason (`reason`), when given.
    fn bleed_ga(evacuation: Option<&str>) -> Option<i64> {
        bleed_ga_with(evacuation, None)
    }

    /// [`bleed_ga`], the procedure also coded `code` (a procedure code beside its reason).
    fn bleed_ga_with(evacuation: Option<&str>, code: Option<Code>) -> Option<i64> {
        let earlier_edd = obs(
            "old-edd",
            LOINC,
            "11778-8",
            days_ago(150),
            Some(Value::DateTime(When::day(days_ago(215 - 280)))),
        );
        let mut bleed = crate::placenta_tests::cond(
            "bleed",
            crate::knowledge::SNOMED,
            "289530006",
            "Vaginal bleeding",
            Some(days_ago(0)),
        );
        bleed.clinical_status = Some("active".into());
        let mut records = vec![
            pregnant(),
            lmp("old-lmp", 150, 215),
            earlier_edd,
            lmp("lmp", 18, 49),
            bleed,
        ];
        if let Some(status) = evacuation {
            let mut procedure = Record::new(RecordKind::Procedure, "evac");
            procedure.status = Some(status.into());
            procedure.text = vec![
                "Evacuation of uterus".into(),
                "Incomplete miscarriage".into(),
            ];
            procedure.codes = vec![Code::new(ICD10CM, "O034")];
            procedure.codes.extend(code);
            procedure.effective = Some(When::day(days_ago(150)));
            records.push(procedure);
        }
        let evaluation = run(records);
        evaluation
            .findings
            .iter()
            .find_map(|f| f.ga.map(|ga| ga.days()))
    }

    #[test]
    fn a_done_evacuation_whose_reason_is_a_miscarriage_ends_the_earlier_episode() {
        // Control: with no recorded end, the earlier pregnancy's EDD dates the bleed (30w5d).
        assert_eq!(bleed_ga(None), Some(30 * 7 + 5));
        // Only planned, it ends nothing.
        assert_eq!(bleed_ga(Some("preparation")), Some(30 * 7 + 5));
        // Done: the new LMP dates the bleed (7w0d).
        assert_eq!(bleed_ga(Some("completed")), Some(49));
    }

    #[test]
    fn a_scan_done_for_a_suspected_loss_ends_nothing() {
        let scan = Code::new(crate::knowledge::SNOMED, "169230002");
        assert_eq!(
            bleed_ga_with(Some("completed"), Some(scan)),
            Some(30 * 7 + 5)
        );
    }
}
