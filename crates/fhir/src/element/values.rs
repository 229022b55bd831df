//! Values in every form FHIR allows (knowledge.md §3.6 item 5): a finding's presence or absence
//! whatever the value's type, and a gestational age or date written as a string.
//!
//! A fetal heart "Present" arrives as a coded answer, as `valueBoolean` true, as the string
//! "Present" or "seen", or as a concept with only text. A gestational age arrives as a UCUM
//! quantity or as "10 weeks 2 days", "10w2d", "10+2". Each is read here once, for every record.

use gravida_rules::facts::{Code, Presence, Value};
use gravida_rules::knowledge::{LOINC, SNOMED};

/// Words (the whole value, lower case, without a final full stop) that say a finding is there.
const PRESENT_WORDS: &[&str] = &[
    "present",
    "seen",
    "visualized",
    "visualised",
    "yes",
    "positive",
    "detected",
    "identified",
    "observed",
];

/// Words that say it is not (knowledge.md §3.5 item 1, and the negations of the words above).
const ABSENT_WORDS: &[&str] = &[
    "absent",
    "no",
    "none",
    "negative",
    "denies",
    "not present",
    "not seen",
    "not visualized",
    "not visualised",
    "not detected",
    "not identified",
    "not observed",
];

/// Answer codes that say present (LOINC answers, SNOMED CT qualifiers).
const PRESENT_CODES: &[(&str, &str)] = &[
    (LOINC, "LA9633-4"),   // Present
    (LOINC, "LA33-6"),     // Yes
    (LOINC, "LA11882-0"),  // Detected
    (LOINC, "LA6576-8"),   // Positive
    (SNOMED, "52101004"),  // Present
    (SNOMED, "373066001"), // Yes
    (SNOMED, "260373001"), // Detected
    (SNOMED, "10828004"),  // Positive
];

/// Answer codes that say absent.
const ABSENT_CODES: &[(&str, &str)] = &[
    (LOINC, "LA9634-2"),   // Absent
    (LOINC, "LA32-8"),     // No
    (LOINC, "LA11883-8"),  // Not detected
    (LOINC, "LA6577-6"),   // Negative
    (SNOMED, "2667000"),   // Absent
    (SNOMED, "373067005"), // No
    (SNOMED, "260415000"), // Not detected
    (SNOMED, "260385009"), // Negative
    (SNOMED, "260413007"), // None
];

/// A value read as a finding's presence: `valueBoolean`, an answer code, or a presence or
/// absence word as the whole of a `valueString`, a concept's text or a coding's display.
pub(crate) fn presence(value: &Value) -> Option<Presence> {
    match value {
        Value::Boolean(true) => Some(Presence::Present),
        Value::Boolean(false) => Some(Presence::Absent),
        Value::String(words) => word_presence(words),
        Value::Concept { codes, text } => codes
            .iter()
            .find_map(code_presence)
            .or_else(|| text.as_deref().and_then(word_presence))
            .or_else(|| {
                codes
                    .iter()
                    .filter_map(|code| code.display.as_deref())
                    .find_map(word_presence)
            }),
        _ => None,
    }
}

fn code_presence(code: &Code) -> Option<Presence> {
    let is = |list: &[(&str, &str)]| {
        list.iter()
            .any(|(system, value)| code.system == *system && code.code == *value)
    };
    if is(PRESENT_CODES) {
        Some(Presence::Present)
    } else if is(ABSENT_CODES) {
        Some(Presence::Absent)
    } else {
        None
    }
}

fn word_presence(words: &str) -> Option<Presence> {
    let words = words.trim().trim_end_matches(['.', '!']).trim();
    if words.len() > 16 {
        return None;
    }
    let is = |list: &[&str]| list.iter().any(|word| word.eq_ignore_ascii_case(words));
    if is(PRESENT_WORDS) {
        Some(Presence::Present)
    } else if is(ABSENT_WORDS) {
        Some(Presence::Absent)
    } else {
        None
    }
}

/// A gestational age written as a string, in days: "10 weeks 2 days", "10w2d", "10w", "10+2",
/// "10 wk 2 d", "72 days". `None` unless the whole string is one (a string that merely contains
/// a number is not a gestational age).
pub(crate) fn gestational_age_days(words: &str) -> Option<i64> {
    let words = words.trim().to_ascii_lowercase();
    // "10+2": weeks and days, the obstetric shorthand.
    if let Some((weeks, days)) = words.split_once('+') {
        let weeks = number(weeks.trim())?;
        let days = number(days.trim())?;
        return (days < 7).then_some(weeks * 7 + days);
    }
    let mut rest = words.as_str();
    let mut weeks = None;
    let mut days = None;
    while !rest.is_empty() {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        let value = number(&rest[..digits])?;
        rest = rest[digits..].trim_start();
        let unit_len = rest.len()
            - rest
                .trim_start_matches(|c: char| c.is_ascii_alphabetic())
                .len();
        let unit = &rest[..unit_len];
        rest = rest[unit_len..].trim_start_matches([' ', ',']);
        rest = rest.strip_prefix("and ").unwrap_or(rest).trim_start();
        match unit {
            "w" | "wk" | "wks" | "week" | "weeks" if weeks.is_none() && days.is_none() => {
                weeks = Some(value);
            }
            "d" | "day" | "days" if days.is_none() => days = Some(value),
            _ => return None,
        }
    }
    match (weeks, days) {
        (Some(weeks), Some(days)) if days < 7 => Some(weeks * 7 + days),
        (Some(weeks), None) => Some(weeks * 7),
        (None, Some(days)) => Some(days),
        _ => None,
    }
}

/// A small whole number (at most three digits: no gestational age needs more).
fn number(digits: &str) -> Option<i64> {
    (!digits.is_empty() && digits.len() <= 3 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presence_words_codes_and_booleans_read_as_present() {
        for value in [
            Value::String("Present".into()),
            Value::String(" seen. ".into()),
            Value::String("VISUALIZED".into()),
            Value::String("yes".into()),
            Value::String("Detected".into()),
            Value::Boolean(true),
            Value::Concept {
                codes: vec![Code::new(LOINC, "LA9633-4")],
                text: None,
            },
            Value::Concept {
                codes: Vec::new(),
                text: Some("Positive".into()),
            },
        ] {
            assert_eq!(presence(&value), Some(Presence::Present), "{value:?}");
        }
    }

    #[test]
    fn absence_words_codes_and_booleans_read_as_absent() {
        for value in [
            Value::String("Not seen".into()),
            Value::String("absent".into()),
            Value::String("None".into()),
            Value::String("not detected".into()),
            Value::Boolean(false),
            Value::Concept {
                codes: vec![Code::new(SNOMED, "2667000")],
                text: Some("Present".into()),
            },
            Value::Concept {
                codes: Vec::new(),
                text: Some("Negative".into()),
            },
        ] {
            assert_eq!(presence(&value), Some(Presence::Absent), "{value:?}");
        }
    }

    #[test]
    fn other_values_have_no_presence() {
        for value in [
            Value::String("present at 6 weeks, then not seen".into()),
            Value::String("see report".into()),
            Value::Integer(1),
            Value::Concept {
                codes: vec![Code::new(SNOMED, "77386006")],
                text: Some("Pregnant".into()),
            },
        ] {
            assert_eq!(presence(&value), None, "{value:?}");
        }
    }

    #[test]
    fn a_gestational_age_string_reads_in_days() {
        for (written, days) in [
            ("10 weeks 2 days", 72),
            ("10w2d", 72),
            ("10+2", 72),
            ("10 + 2", 72),
            ("10 wk 2 d", 72),
            ("10 Weeks, 2 Days", 72),
            ("10 weeks and 2 days", 72),
            ("10w", 70),
            ("12 weeks", 84),
            ("72 days", 72),
        ] {
            assert_eq!(gestational_age_days(written), Some(days), "{written}");
        }
    }

    #[test]
    fn a_string_that_is_not_a_gestational_age_reads_as_none() {
        for written in [
            "10",
            "10+9",
            "10 weeks 9 days",
            "2 days 10 weeks",
            "about 10 weeks",
            "10 months",
            "O+",
            "",
            "1000000 days",
        ] {
            assert_eq!(gestational_age_days(written), None, "{written}");
        }
    }
}
