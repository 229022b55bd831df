//! The searches Gravida needs: one prefetch key each, shared by discovery and the fetch path.

use gravida_rules::facts::Input;

/// How much a search matters to the decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Need {
    /// The Patient resource: read for context only. Missing is not an error.
    Context,
    /// Decides whether any card is warranted (Conditions; pregnancy, dating and bleeding
    /// Observations). If it cannot be obtained, the hook call answers 412.
    Central,
    /// A less central input. If it cannot be obtained the engine is told, and the cards say so.
    Optional(Input),
}

/// One prefetch key and its FHIR query template, e.g.
/// `("dating", "Observation?patient={{context.patientId}}&code=http://loinc.org|8665-2,...")`.
///
/// The discovery document advertises `template` under `key`; when an EHR does not prefetch a key,
/// the fetch path renders the same template and runs it against the EHR's FHIR server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrefetchQuery {
    pub key: String,
    pub template: String,
    pub need: Need,
}

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
    value_sets: &std::collections::BTreeMap<String, crate::profile::LoadedValueSet>,
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
    value_sets: &std::collections::BTreeMap<String, crate::profile::LoadedValueSet>,
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
    ]
}
