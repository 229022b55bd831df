//! The searches Gravida needs, built from the profile's value sets: one prefetch key each,
//! shared by discovery and the fetch path. The types live in `gravida_rules::query`, below
//! both this crate and `gravida-fhir`, so that the FHIR layer needs nothing from the knowledge
//! layer; they are re-exported here.

use gravida_rules::facts::Input;
pub use gravida_rules::query::{Need, PrefetchQuery};

/// The `{{context.patientId}}` token every query is scoped by.
const PATIENT: &str = "{{context.patientId}}";

/// Every search asks for large pages (knowledge.md §3.5 item 21, long charts): with a server's
/// default of 20 per page, `fhir.max_pages` pages would hold 200 Conditions, and a patient with
/// more would get 412. Servers may return fewer than asked (FHIR R4 §3.1.1.5.5); the byte and
/// entry caps, not the page count, bound what is read.
const PAGE_SIZE: &str = "_count=500";

/// `system|code,system|code,…` for the exact codes of the named value sets (deduplicated, in
/// order). ICD-10-CM prefix filters cannot be expressed in a FHIR token search and are left out:
/// Conditions are fetched unfiltered, and Observations are rarely coded in ICD-10-CM.
fn code_list(
    value_sets: &std::collections::BTreeMap<String, crate::load::LoadedValueSet>,
    names: &[&str],
) -> String {
    let mut seen = std::collections::BTreeSet::new();
    let mut parts = Vec::new();
    for name in names {
        if let Some(vs) = value_sets.get(*name) {
            for (system, code) in &vs.exact {
                if seen.insert((system.clone(), code.clone())) {
                    parts.push(format!("{system}|{code}"));
                }
            }
        }
    }
    parts.join(",")
}

/// Builds the prefetch queries from the profile's value sets. Never "all Observations": every
/// Observation search is by patient and code.
pub(crate) fn build(
    value_sets: &std::collections::BTreeMap<String, crate::load::LoadedValueSet>,
) -> Vec<PrefetchQuery> {
    let observations = |names: &[&str]| {
        format!(
            "Observation?patient={PATIENT}&code={}&{PAGE_SIZE}",
            code_list(value_sets, names)
        )
    };
    vec![
        PrefetchQuery {
            key: "patient".into(),
            template: format!("Patient/{PATIENT}"),
            need: Need::Context,
        },
        PrefetchQuery {
            key: "conditions".into(),
            template: format!("Condition?patient={PATIENT}&{PAGE_SIZE}"),
            need: Need::Central,
        },
        PrefetchQuery {
            key: "pregnancy".into(),
            template: observations(&[
                "pregnancy-status",
                "dating-art",
                "dating-edd",
                "dating-ultrasound",
                "dating-lmp",
                "lmp-date",
                "dating-other",
                // The obstetric history's count of miscarriages (R15, knowledge.md §3.5 item 15).
                "miscarriage-count",
                // The delivery date ends the pregnancy (G2, knowledge.md §3.5 item 11).
                "delivery-date",
            ]),
            need: Need::Central,
        },
        PrefetchQuery {
            key: "bleeding".into(),
            template: observations(&["bleeding"]),
            need: Need::Central,
        },
        PrefetchQuery {
            key: "hcg".into(),
            template: observations(&["hcg-quantitative"]),
            need: Need::Optional(Input::Hcg),
        },
        PrefetchQuery {
            key: "rh".into(),
            template: observations(&["rh-type", "rh-negative", "rh-positive", "rh-sensitised"]),
            need: Need::Optional(Input::RhType),
        },
        PrefetchQuery {
            key: "ultrasound".into(),
            template: observations(&[
                "iup",
                "fetal-heart-activity",
                "crown-rump-length",
                "ultrasound-performed",
                "placenta-previa",
                "placental-location",
                "subchorionic-hematoma",
            ]),
            need: Need::Optional(Input::Ultrasound),
        },
        PrefetchQuery {
            key: "ultrasoundReports".into(),
            template: format!(
                "DiagnosticReport?patient={PATIENT}&code={}&{PAGE_SIZE}",
                code_list(value_sets, &["ultrasound-performed"])
            ),
            need: Need::Optional(Input::Ultrasound),
        },
        // Encounters: their reasons can be the only record of a bleed (knowledge.md §3.5 item 8:
        // an emergency department charts the chief complaint as `Encounter.reasonCode`), so they
        // are not filtered by code; reasons are free text as often as codes.
        //
        // "Recent" is bounded by order and count, not by date: a CDS Hooks 2.0 template can hold
        // only context and user tokens (no `{{today}}`), so it cannot say "since 10 months ago".
        // Newest first (`_sort=-date`), one page of 500 holds years of visits for almost any
        // patient, and a pregnancy is under ten months. Should a chart have more, later pages
        // are read within the call's entry and byte caps, and what the caps cut off is the
        // oldest; the engine judges dates against the pregnancy itself.
        PrefetchQuery {
            key: "encounters".into(),
            template: format!("Encounter?patient={PATIENT}&_sort=-date&{PAGE_SIZE}"),
            need: Need::Optional(Input::Encounters),
        },
        // Procedures: an ultrasound, hCG test, Rh typing or anti-D charted as done (§3.5 item 20).
        PrefetchQuery {
            key: "procedures".into(),
            template: format!(
                "Procedure?patient={PATIENT}&code={}&{PAGE_SIZE}",
                code_list(
                    value_sets,
                    &[
                        "procedure-ultrasound",
                        "procedure-rh-typing",
                        "procedure-anti-d",
                        "procedure-hcg",
                    ]
                )
            ),
            need: Need::Optional(Input::Procedures),
        },
        // Vital signs: systolic pressure and heart rate (R2E, §3.5 item 12). `code` matches
        // `Observation.code` only, so the blood-pressure panel is asked for by its own code; its
        // systolic value is a component.
        PrefetchQuery {
            key: "vitalSigns".into(),
            template: observations(&["systolic-bp", "heart-rate", "bp-panel"]),
            need: Need::Optional(Input::VitalSigns),
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::KnowledgeBase;

    fn query(key: &str) -> PrefetchQuery {
        let kb = KnowledgeBase::embedded().expect("the embedded profile loads");
        kb.prefetch()
            .iter()
            .find(|query| query.key == key)
            .unwrap_or_else(|| panic!("no prefetch key {key}"))
            .clone()
    }

    #[test]
    fn encounters_are_asked_for_by_patient_newest_first_in_large_pages() {
        let encounters = query("encounters");
        assert_eq!(
            encounters.template,
            "Encounter?patient={{context.patientId}}&_sort=-date&_count=500"
        );
        assert_eq!(encounters.need, Need::Optional(Input::Encounters));
    }

    #[test]
    fn procedures_and_vital_signs_are_asked_for_by_patient_and_the_codes_of_their_value_sets() {
        let procedures = query("procedures");
        assert!(
            procedures
                .template
                .starts_with("Procedure?patient={{context.patientId}}&code=")
        );
        // CPT 84702, quantitative hCG (procedure-hcg).
        assert!(
            procedures
                .template
                .contains("http://www.ama-assn.org/go/cpt|84702")
        );
        assert!(procedures.template.ends_with("&_count=500"));
        assert_eq!(procedures.need, Need::Optional(Input::Procedures));

        let vitals = query("vitalSigns");
        assert!(
            vitals
                .template
                .starts_with("Observation?patient={{context.patientId}}&code=")
        );
        for code in [
            "http://loinc.org|8480-6",
            "http://loinc.org|8867-4",
            "http://loinc.org|85354-9",
        ] {
            assert!(
                vitals.template.contains(code),
                "{code}: {}",
                vitals.template
            );
        }
        assert!(vitals.template.ends_with("&_count=500"));
        assert_eq!(vitals.need, Need::Optional(Input::VitalSigns));
    }
}
