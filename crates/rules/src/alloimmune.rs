//! Anti-D alloimmunisation read from the laboratory (knowledge.md §3.6 item 12).
//!
//! Anti-D immune globulin prevents sensitisation; once a woman has made her own anti-D it can
//! do nothing, and the pregnancy needs maternal–fetal medicine care instead (titres, fetal
//! anaemia surveillance by middle cerebral artery Doppler). A sensitisation *diagnosis* is read
//! through the profile's rh-sensitised value set; many charts hold only the laboratory's answer,
//! and this module reads it: a positive antibody screen (LOINC 890-4, the profile's
//! rh-antibody-screen value set) together with an antibody identification (LOINC 888-8,
//! rh-antibody-identified) that names anti-D, both in this pregnancy (the antibody screen and
//! identification are per pregnancy, §3.6 C1).
//!
//! Not read as anti-D: an identification of another antibody (anti-Kell, anti-c), a negative or
//! pending screen, a negated mention ("anti-D not detected"). A screen positive for an antibody
//! not identified is not enough: R7 or R8 then stands, since RhIG may still be needed.

use crate::facts::{Record, Value};
use crate::knowledge::{CodeSet, LOINC, ValueSets};

/// LOINC answer "Positive" (knowledge.md §2.1).
const POSITIVE: &str = "LA6576-8";

/// LOINC as an OID (§3.6 item 6: code systems by any name). The FHIR reader already names it
/// canonically; this is a second guard, not clinical content.
const LOINC_OID: &str = "urn:oid:2.16.840.1.113883.6.1";

fn coded_as(record: &Record, set: &CodeSet) -> bool {
    record.codes.iter().any(|c| {
        let system = if c.system == LOINC_OID {
            LOINC
        } else {
            &c.system
        };
        set.contains_parts(system, c.code.trim())
    })
}

/// The value's words, lower case: a string, or a concept's text and displays.
fn value_words(value: &Option<Value>) -> Vec<String> {
    match value {
        Some(Value::String(text)) => vec![text.to_lowercase()],
        Some(Value::Concept { codes, text }) => text
            .iter()
            .cloned()
            .chain(codes.iter().filter_map(|c| c.display.clone()))
            .map(|t| t.to_lowercase())
            .collect(),
        _ => Vec::new(),
    }
}

/// True when a lower-case text denies what it names ("not detected", "negative", "no anti-D").
fn denies(text: &str) -> bool {
    ["negative", "not detected", "none detected", "no ", "not "]
        .iter()
        .any(|cue| text.contains(cue))
        || text.trim() == "no"
}

/// A positive antibody screen: coded Positive, or worded positive or detected.
fn positive_screen(record: &Record, vs: &ValueSets) -> bool {
    if !coded_as(record, &vs.rh_antibody_screen) {
        return false;
    }
    let coded_positive = matches!(&record.value, Some(Value::Concept { codes, .. })
        if codes.iter().any(|c| c.code == POSITIVE));
    coded_positive
        || value_words(&record.value)
            .iter()
            .any(|w| !denies(w) && (w.contains("positive") || w.contains("detected")))
}

/// An antibody identification that names anti-D ("Anti-D", "anti D", "anti-D 1:32").
fn anti_d_identified(record: &Record, vs: &ValueSets) -> bool {
    coded_as(record, &vs.rh_antibody_identified)
        && value_words(&record.value)
            .iter()
            .any(|w| !denies(w) && (w.contains("anti-d") || w.contains("anti d")))
}

/// True when this pregnancy's results show anti-D alloimmunisation: a positive screen and an
/// identification naming anti-D among `results` (the caller passes only this pregnancy's).
pub(crate) fn by_laboratory<'r>(
    results: impl IntoIterator<Item = &'r Record>,
    vs: &ValueSets,
) -> bool {
    let mut screen = false;
    let mut identified = false;
    for record in results {
        screen |= positive_screen(record, vs);
        identified |= anti_d_identified(record, vs);
        if screen && identified {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use time::Duration;

    use crate::facts::{Code, Record, Value};
    use crate::knowledge::{LOINC, SNOMED};
    use crate::placenta_tests::{TODAY, cond, lmp, obs, pregnant, run};
    use crate::{Evaluation, Modifier, RuleId};

    fn rh_negative() -> Record {
        obs(
            "rh",
            LOINC,
            "10331-7",
            TODAY - Duration::days(40),
            Some(Value::Concept {
                codes: vec![Code::new(LOINC, "LA6577-6")],
                text: None,
            }),
        )
    }

    fn screen(days_ago: i64) -> Record {
        obs(
            "screen",
            LOINC,
            "890-4",
            TODAY - Duration::days(days_ago),
            Some(Value::Concept {
                codes: vec![Code::new(LOINC, "LA6576-8")],
                text: Some("Positive".into()),
            }),
        )
    }

    fn identified(antibody: &str, days_ago: i64) -> Record {
        obs(
            "abid",
            LOINC,
            "888-8",
            TODAY - Duration::days(days_ago),
            Some(Value::String(antibody.into())),
        )
    }

    /// RhD negative, bleeding at 13w2d in a documented IUP, with `more` on record.
    fn bleed_with(more: Vec<Record>) -> Evaluation {
        let iup = cond(
            "iup",
            SNOMED,
            "65727000",
            "Intrauterine pregnancy",
            Some(TODAY - Duration::days(30)),
        );
        let bleed = cond("bleed", SNOMED, "284075002", "Spotting", Some(TODAY));
        let mut records = vec![pregnant(), lmp(93), iup, rh_negative(), bleed];
        records.extend(more);
        run(records)
    }

    fn says_alloimmunised(e: &Evaluation) -> bool {
        e.findings.iter().any(|f| f.has(&Modifier::Alloimmunised))
    }

    #[test]
    fn anti_d_identified_on_a_positive_screen_in_this_pregnancy_means_no_anti_d_card_and_the_note_instead()
     {
        let e = bleed_with(vec![screen(45), identified("Anti-D", 44)]);
        assert!(!e.rules().contains(&RuleId::R7), "{:?}", e.rules());
        assert!(e.rules().contains(&RuleId::R4));
        assert!(says_alloimmunised(&e));
    }

    #[test]
    fn another_antibody_a_screen_alone_or_a_result_from_before_this_pregnancy_leaves_the_anti_d_card()
     {
        for more in [
            vec![screen(45), identified("Anti-Kell", 44)],
            vec![screen(45)],
            vec![screen(45), identified("Anti-D not detected", 44)],
            vec![screen(400), identified("Anti-D", 400)],
        ] {
            let e = bleed_with(more.clone());
            assert!(e.rules().contains(&RuleId::R7), "{more:?}: {:?}", e.rules());
            assert!(!says_alloimmunised(&e), "{more:?}");
        }
    }
}
