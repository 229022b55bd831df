//! A vaginal bleed is named positively (knowledge.md §3.6 C5, §3.5 item 18).
//!
//! A record *coded* as a diagnosis or finding (SNOMED CT, ICD-10-CM, WHO ICD-10) is a vaginal
//! bleed only when one of its codes is in the vaginal-bleeding value set. Any other haemorrhage
//! code (subarachnoid, cerebral, retinal, gastrointestinal, nasal, urinary…) is never a vaginal
//! bleed, whatever its text says ("Subarachnoid hemorrhage" names a haemorrhage, but not this
//! one): the rule is the positive list, not a list of exclusions that can never be complete.
//!
//! Only diagnosis and finding terminologies decide. A LOINC code names a question ("Vaginal
//! bleeding [Presence]" on a flowsheet), not the finding, and a local code says nothing a profile
//! can review: records coded only so, or not coded at all, are read by their text as before
//! (bleeding words with a vaginal, pregnancy or no site; another site's words rule them out).

use super::{Engine, Rec};
use crate::knowledge::{ICD10CM, SNOMED};

/// WHO ICD-10, as FHIR names it (its O-codes are read as ICD-10-CM's by the reading layer).
const ICD10_WHO: &str = "http://hl7.org/fhir/sid/icd-10";

impl Engine<'_> {
    /// Coded as a diagnosis or finding, and none of the codes is a vaginal bleed.
    pub(super) fn coded_as_another_bleed(&self, rec: &Rec) -> bool {
        let diagnosis_coded = rec
            .codes
            .iter()
            .any(|c| matches!(&*c.system, SNOMED | ICD10CM | ICD10_WHO));
        diagnosis_coded && !rec.is(crate::knowledge::class::BLEEDING)
    }
}

#[cfg(test)]
mod tests {
    use crate::evaluate;
    use crate::facts::{Code, PatientFacts, Record, RecordKind, Value, When};
    use crate::knowledge::{ICD10CM, SNOMED};
    use crate::testkit::knowledge;

    use time::macros::datetime;

    /// A pregnancy at 10 weeks by a charted EDD, with `record` beside it.
    fn rules_for(record: Record) -> Vec<crate::RuleId> {
        let now = datetime!(2026-12-07 12:00 UTC);
        let mut edd = Record::new(RecordKind::Observation, "edd");
        edd.codes = vec![Code::new(crate::knowledge::LOINC, "11778-8")];
        edd.effective = Some(When::day(now.date()));
        edd.value = Some(Value::DateTime(When::day(
            now.date() + time::Duration::days(210),
        )));
        let facts = PatientFacts {
            records: vec![edd, record],
            ..Default::default()
        };
        evaluate(&knowledge(), &facts, now).rules()
    }

    fn coded(kind: RecordKind, system: &str, code: &str, text: &str) -> Record {
        let mut r = Record::new(kind, "r");
        r.codes = vec![Code::new(system.to_owned(), code)];
        r.text = vec![text.into()];
        r.effective = Some(When::day(time::macros::date!(2026 - 12 - 07)));
        r.value = Some(Value::Boolean(true));
        r
    }

    #[test]
    fn a_haemorrhage_coded_outside_the_bleeding_set_is_no_bleed_in_any_record_kind() {
        for kind in [
            RecordKind::Condition,
            RecordKind::Observation,
            RecordKind::Encounter,
        ] {
            let control = coded(kind, SNOMED, "289530006", "Vaginal bleeding");
            assert!(!rules_for(control).is_empty(), "{kind:?}: the bleed fires");
            for (system, code, text) in [
                (SNOMED, "21454007", "Subarachnoid hemorrhage"),
                (ICD10CM, "H35.61", "Retinal haemorrhage"),
            ] {
                let rules = rules_for(coded(kind, system, code, text));
                assert!(rules.is_empty(), "{kind:?} {code}: {rules:?}");
            }
        }
    }
}
