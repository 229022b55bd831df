//! RhD variants read as RhD negative for prophylaxis (knowledge.md §3.6 item 11).
//!
//! A serologic "weak D" (formerly "Du"), a "partial D" or any "D variant" result reacts as
//! RhD positive with some reagents, yet some of these women can make anti-D. Until RHD
//! genotyping says which variant it is, the AABB/ACOG/CAP work group (Sandler et al.,
//! Transfusion 2015) advises treating her as RhD negative for anti-D prophylaxis. So a result
//! that names a variant is read as RhD negative whatever else it says ("Weak D (Du) positive"),
//! and the card says why. The variant names are the profile's `rh_variant_names` (text.toml).

use crate::facts::Value;
use crate::knowledge::BleedingText;

/// True when `record_text` names an RhD variant, one of the profile's `rh_variant_names`
/// ("weak d", "partial d", "du", "d variant"), as whole words in a row: "Weak D (Du) positive"
/// names one, "Dudley" and "Due to lab delay" do not.
fn names_variant_with(record_text: &str, text: &BleedingText) -> bool {
    let lower = record_text.to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    text.rh_variant_names.iter().any(|name| {
        let name: Vec<&str> = name.split_whitespace().collect();
        !name.is_empty()
            && words
                .windows(name.len())
                .any(|window| window == name.as_slice())
    })
}

/// The unit tests' reading, with the test knowledge's names (crate::testkit).
#[cfg(test)]
fn names_variant_in(record_text: &str) -> bool {
    names_variant_with(record_text, &crate::testkit::knowledge().text)
}

/// True when an Rh result's value names an RhD variant: its string, or its concept's text or
/// displays.
pub(crate) fn names_variant(value: &Option<Value>, text: &BleedingText) -> bool {
    match value {
        Some(Value::String(written)) => names_variant_with(written, text),
        Some(Value::Concept {
            codes,
            text: written,
        }) => written
            .iter()
            .chain(codes.iter().filter_map(|c| c.display.as_ref()))
            .any(|t| names_variant_with(t, text)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use time::Duration;

    use super::names_variant_in;
    use crate::facts::{Record, Value};
    use crate::knowledge::{LOINC, SNOMED};
    use crate::placenta_tests::{TODAY, cond, lmp, obs, pregnant, run};
    use crate::{Modifier, RuleId};

    fn rh_result(written: &str) -> Record {
        obs(
            "rh",
            LOINC,
            "10331-7",
            TODAY - Duration::days(20),
            Some(Value::String(written.into())),
        )
    }

    /// Bleeding at 13w0d in a documented IUP with this Rh result.
    fn bleed_with(rh: Record) -> crate::Evaluation {
        let iup = cond(
            "iup",
            SNOMED,
            "65727000",
            "Intrauterine pregnancy",
            Some(TODAY - Duration::days(25)),
        );
        let bleed = cond("bleed", SNOMED, "284075002", "Spotting", Some(TODAY));
        run(vec![pregnant(), lmp(91), iup, rh, bleed])
    }

    #[test]
    fn a_weak_d_result_written_positive_gets_the_anti_d_card_and_says_weak_d() {
        let e = bleed_with(rh_result("Weak D (Du) positive"));
        assert!(e.rules().contains(&RuleId::R7), "{:?}", e.rules());
        assert!(e.findings.iter().all(|f| f.has(&Modifier::RhVariant)));
        assert!(
            !e.findings
                .iter()
                .any(|f| f.has(&Modifier::RhOnRecord { negative: true }))
        );
        // The control: a plain positive result gets neither.
        let e = bleed_with(rh_result("Rh positive"));
        assert!(!e.rules().contains(&RuleId::R7));
        assert!(!e.findings.iter().any(|f| f.has(&Modifier::RhVariant)));
    }

    #[test]
    fn a_weak_d_result_from_years_before_this_pregnancy_still_gets_the_anti_d_card() {
        // §3.6 C1: the RhD type, a variant included, is the person's: it counts from any date.
        let mut old = rh_result("Weak D (Du) positive");
        old.effective = Some(crate::facts::When::day(TODAY - Duration::days(7 * 365)));
        let e = bleed_with(old);
        assert!(e.rules().contains(&RuleId::R7), "{:?}", e.rules());
        assert!(e.findings.iter().all(|f| f.has(&Modifier::RhVariant)));
        assert!(!e.findings.iter().any(|f| f.has(&Modifier::RhUnknown)));
    }

    #[test]
    fn weak_d_partial_d_du_and_d_variant_are_variants_and_plain_types_are_not() {
        for text in [
            "Weak D (Du) positive",
            "WEAK D",
            "Partial D",
            "Du positive",
            "RhD variant detected",
            "D variant",
        ] {
            assert!(names_variant_in(text), "{text}");
        }
        for text in [
            "O NEG",
            "Rh positive",
            "A POS",
            "Due to lab delay",
            "Dudley",
        ] {
            assert!(!names_variant_in(text), "{text}");
        }
    }
}
