//! Pregnancy tests read as evidence both ways (knowledge.md §3.6 item 7).
//!
//! A test says "pregnant" or "not pregnant" in one of two forms:
//!
//! - **qualitative** (urine or serum, [`class::HCG_QUALITATIVE`], or any hCG record whose value
//!   reads as a presence): Positive / Detected is evidence for, Negative / Not detected against.
//!   The value may be coded, a string or a boolean: the reading layer has already reduced it to
//!   [`Record::presence`], so every form is read here the same way;
//! - **quantitative** ([`class::HCG`], in mIU/mL = IU/L): at or above `hcg_pregnant_from` (25) is
//!   evidence for; below `hcg_not_pregnant_below` (5), or a bound such as "<5", is evidence against.
//!   Values in between say nothing either way. A unit that cannot be compared says nothing here
//!   (the engine names such a value on the card, §3.6 item 3).
//!
//! What the engine does with the answer (G1: the latest negative must be followed by newer
//! positive evidence) stays in the engine; this module only reads one record.

use crate::facts::{Presence, Record, Value};
use crate::knowledge::{RulesKnowledge, class};

/// What a pregnancy test says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TestResult {
    /// Evidence of a pregnancy (G1).
    Positive,
    /// Evidence against: no ongoing pregnancy unless newer positive evidence follows.
    Negative,
}

/// The answer of `record` (whose value-set bits are `class_bits`) as a pregnancy test, if it is one.
pub(crate) fn read(kb: &RulesKnowledge, record: &Record, class_bits: u64) -> Option<TestResult> {
    let hcg = class_bits & (class::HCG | class::HCG_QUALITATIVE) != 0;
    if !hcg {
        return None;
    }
    // Any hCG test whose value says Positive / Negative, whatever the test's kind.
    match record.presence {
        Some(Presence::Present) => return Some(TestResult::Positive),
        Some(Presence::Absent) => return Some(TestResult::Negative),
        _ => {}
    }
    if class_bits & class::HCG == 0 {
        return None;
    }
    let t = &kb.thresholds;
    let Some(Value::Quantity {
        value,
        unit,
        code,
        comparator,
    }) = &record.value
    else {
        return None;
    };
    if !value.is_finite() || !hcg_unit_ok(code.as_deref().or(unit.as_deref())) {
        return None;
    }
    match comparator.as_deref() {
        // A measurement.
        None => {
            if *value >= t.hcg_pregnant_from {
                Some(TestResult::Positive)
            } else if *value < t.hcg_not_pregnant_below {
                Some(TestResult::Negative)
            } else {
                None
            }
        }
        // A bound reported by the lab ("<5"): below the threshold whatever the true value.
        Some("<") if *value <= t.hcg_not_pregnant_below => Some(TestResult::Negative),
        Some("<=") if *value < t.hcg_not_pregnant_below => Some(TestResult::Negative),
        Some(">") | Some(">=") if *value >= t.hcg_pregnant_from => Some(TestResult::Positive),
        _ => None,
    }
}

/// hCG in mIU/mL or the numerically equal IU/L (a missing unit is accepted as the lab's default).
/// Here, below the engine, because a test read here and the engine's hCG values (`engine/hcg.rs`,
/// `engine/gtd.rs`) are held to the same units.
pub(crate) fn hcg_unit_ok(unit: Option<&str>) -> bool {
    match unit {
        None => true,
        Some(u) => matches!(
            u.trim().to_ascii_lowercase().as_str(),
            "m[iu]/ml" | "miu/ml" | "[iu]/l" | "iu/l" | "mu/ml" | "u/l"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::{Code, RecordKind};
    use crate::knowledge::LOINC;

    fn test_record(code: &str, value: Value, presence: Option<Presence>) -> (Record, u64) {
        let kb = crate::testkit::knowledge();
        let mut record = Record::new(RecordKind::Observation, "t");
        record.codes = vec![Code::new(LOINC, code)];
        record.value = Some(value);
        record.presence = presence;
        let bits = kb.classify(&record.codes);
        (record, bits)
    }

    fn quantity(value: f64, comparator: Option<&str>) -> Value {
        Value::Quantity {
            value,
            unit: Some("IU/L".into()),
            code: Some("[IU]/L".into()),
            comparator: comparator.map(Into::into),
        }
    }

    #[test]
    fn a_positive_urine_test_is_evidence_for_and_a_negative_one_against() {
        let kb = crate::testkit::knowledge();
        let (pos, bits) = test_record(
            "2106-3",
            Value::String("Positive".into()),
            Some(Presence::Present),
        );
        assert_eq!(read(&kb, &pos, bits), Some(TestResult::Positive));
        let (neg, bits) = test_record("2118-8", Value::Boolean(false), Some(Presence::Absent));
        assert_eq!(read(&kb, &neg, bits), Some(TestResult::Negative));
    }

    #[test]
    fn a_quantitative_hcg_reads_against_below_5_for_from_25_and_silent_between() {
        let kb = crate::testkit::knowledge();
        let read_value = |value: Value| {
            let (r, bits) = test_record("83086-9", value, None);
            read(&kb, &r, bits)
        };
        assert_eq!(read_value(quantity(3.0, None)), Some(TestResult::Negative));
        assert_eq!(
            read_value(quantity(5.0, Some("<"))),
            Some(TestResult::Negative)
        );
        assert_eq!(read_value(quantity(25.0, None)), Some(TestResult::Positive));
        assert_eq!(read_value(quantity(12.0, None)), None);
    }

    #[test]
    fn a_record_that_is_not_an_hcg_test_is_no_pregnancy_test_whatever_its_value() {
        let kb = crate::testkit::knowledge();
        let (r, bits) = test_record("8665-2", Value::Boolean(true), Some(Presence::Present));
        assert_eq!(read(&kb, &r, bits), None);
    }
}
