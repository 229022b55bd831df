//! The searches Gravida needs, built from the profile's value sets: one prefetch key each,
//! shared by discovery and the fetch path. The types live in `gravida_rules::query`, below
//! both this crate and `gravida-fhir`, so that the FHIR layer needs nothing from the knowledge
//! layer; they are re-exported here.
//!
//! A key may be bounded in time by the profile's `prefetch.toml` (`[windows.<key>] since =
//! "today() - 1 year"`): its template then ends in `&date=ge{{today() - 1 year}}`, a CDS Hooks
//! 3.0.0 relative-date token that the EHR evaluates when it prefetches and Gravida evaluates when
//! it fetches (`gravida_cds_hooks::prefetch::render_on`). Why each window is safe is written
//! beside it in `profiles/default/prefetch.toml`. A window that names no key, a key whose search
//! has no `date` parameter, or an expression outside the evaluated subset is a profile problem:
//! the profile is refused when it loads, so a service never starts with a template it could not
//! evaluate on a call.

use std::collections::BTreeMap;

use gravida_cds_hooks::fhirpath::{self, Expression};
use gravida_cds_hooks::prefetch;
use gravida_rules::facts::Input;
pub use gravida_rules::query::{Need, PrefetchQuery};
use serde::Deserialize;

use crate::ProfileProblem;

/// The profile file that holds the windows. Optional: without it every search is unbounded.
pub(crate) const FILE: &str = "prefetch.toml";

/// `prefetch.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PrefetchToml {
    #[serde(default)]
    windows: BTreeMap<String, Window>,
}

/// One key's window: the FHIRPath date its search starts from, and why that is safe.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Window {
    since: String,
    #[allow(dead_code)] // Read by people: the reason the window drops no record a rule needs.
    why: String,
}

/// The search's resource type, for a template `Type?…`; `None` for a read.
fn searched_type(template: &str) -> Option<&str> {
    template.split_once('?').map(|(path, _)| path)
}

/// Resource types whose FHIR R4 search has a parameter on the record's clinical date, and its
/// name: `date` (`Observation.effective`, `DiagnosticReport.effective`, `Encounter.period`,
/// `Procedure.performed`, `Immunization.occurrence`), `effective-time`
/// (`MedicationAdministration.effective`). `Condition` has none (its dates are `onset-date`,
/// `recorded-date`).
const DATED: [(&str, &str); 6] = [
    ("Observation", "date"),
    ("DiagnosticReport", "date"),
    ("Encounter", "date"),
    ("Procedure", "date"),
    ("Immunization", "date"),
    ("MedicationAdministration", "effective-time"),
];

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
fn code_list(value_sets: &BTreeMap<String, crate::load::LoadedValueSet>, names: &[&str]) -> String {
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

/// Builds the prefetch queries from the profile's value sets and bounds them by the windows of
/// `prefetch.toml`, or reports every problem with the windows.
pub(crate) fn build(
    files: &BTreeMap<String, Vec<u8>>,
    value_sets: &BTreeMap<String, crate::load::LoadedValueSet>,
) -> Result<Vec<PrefetchQuery>, Vec<ProfileProblem>> {
    let problem = |message: String| ProfileProblem {
        file: FILE.to_owned(),
        message,
    };
    let windows = match files.get(FILE).map(|bytes| std::str::from_utf8(bytes)) {
        None => PrefetchToml::default(),
        Some(Err(_)) => return Err(vec![problem("file is not UTF-8".into())]),
        Some(Ok(text)) => toml::from_str::<PrefetchToml>(text)
            .map_err(|e| vec![problem(format!("invalid TOML: {}", e.message()))])?,
    };
    let mut queries = unbounded(value_sets);
    let mut problems = Vec::new();
    for (key, window) in &windows.windows {
        let Some(query) = queries.iter_mut().find(|q| &q.key == key) else {
            problems.push(problem(format!("window for unknown prefetch key `{key}`")));
            continue;
        };
        let dated = searched_type(&query.template)
            .and_then(|t| DATED.iter().find(|(dated, _)| *dated == t))
            .map(|(_, parameter)| *parameter);
        let Some(parameter) = dated else {
            problems.push(problem(format!(
                "prefetch key `{key}`: its search has no `date` parameter to bound"
            )));
            continue;
        };
        match fhirpath::parse(&window.since) {
            Ok(Expression::Today(_)) => {
                query.template = format!(
                    "{}&{parameter}=ge{{{{{}}}}}",
                    query.template, window.since
                );
            }
            Ok(Expression::Context(_)) => problems.push(problem(format!(
                "prefetch key `{key}`: `since = {:?}` is not a date (expected e.g. `today() - 1 year`)",
                window.since
            ))),
            Err(error) => problems.push(problem(format!("prefetch key `{key}`: {error}"))),
        }
    }
    // Every template as it will be advertised and fetched must parse: checked once, here.
    for query in &queries {
        if let Err(error) = prefetch::parse(&query.template) {
            problems.push(problem(format!("prefetch key `{}`: {error}", query.key)));
        }
    }
    if problems.is_empty() {
        Ok(queries)
    } else {
        Err(problems)
    }
}

/// The prefetch queries from the profile's value sets, each over the patient's whole history.
/// Never "all Observations": every Observation search is by patient and code.
fn unbounded(value_sets: &BTreeMap<String, crate::load::LoadedValueSet>) -> Vec<PrefetchQuery> {
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
                // ART dating: a conception date, an embryo transfer charted as an Observation
                // (knowledge.md §3.6 item 9).
                "conception-date",
                "embryo-transfer",
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
            // Qualitative tests too: a positive or negative pregnancy test is evidence (§3.6 item 7).
            template: observations(&["hcg-quantitative", "hcg-qualitative"]),
            need: Need::Optional(Input::Hcg),
        },
        PrefetchQuery {
            key: "rh".into(),
            // With the type, this pregnancy's antibody screen and identification: anti-D found
            // there means sensitised (knowledge.md §3.6 item 12).
            template: observations(&[
                "rh-type",
                "rh-negative",
                "rh-positive",
                "rh-sensitised",
                "rh-antibody-screen",
                "rh-antibody-identified",
            ]),
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
        // Newest first (`_sort=-date`): for a CDS Hooks 2.0 client, whose template cannot say
        // "since 10 months ago" (the profile's window is a 3.0 token, removed for it), one page
        // of 500 holds years of visits for almost any patient. Should a chart have more, later
        // pages are read within the call's entry and byte caps, and what the caps cut off is the
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
                        // A termination or evacuation ends an episode (knowledge.md §3.6 item 8).
                        "procedure-pregnancy-ended",
                        // An embryo transfer dates an ART pregnancy (knowledge.md §3.6 item 9).
                        "embryo-transfer",
                    ]
                )
            ),
            need: Need::Optional(Input::Procedures),
        },
        // The last year's Procedures, whatever their code: a termination or an evacuation may be
        // coded only by its reason (`reasonCode`, read like a Condition's code: knowledge.md §3.6
        // item 8) or by a local code, and still end an episode. Bounded by the profile's window.
        PrefetchQuery {
            key: "recentProcedures".into(),
            template: format!("Procedure?patient={PATIENT}&{PAGE_SIZE}"),
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
        // Medication records (knowledge.md §3.6 items 10, 21), not filtered by code: anti-D is
        // often charted under a formulary's local code or by name only. Doses given and
        // immunizations: anti-D given within its window (12 weeks, `rhig_window_weeks`).
        PrefetchQuery {
            key: "medicationAdministrations".into(),
            template: format!("MedicationAdministration?patient={PATIENT}&{PAGE_SIZE}"),
            need: Need::Optional(Input::Medications),
        },
        PrefetchQuery {
            key: "immunizations".into(),
            template: format!("Immunization?patient={PATIENT}&{PAGE_SIZE}"),
            need: Need::Optional(Input::Medications),
        },
        // What the patient takes or took: anti-D given (`completed`), a current anticoagulant
        // (`active`). Unbounded: a statement of a current medication may carry no date at all.
        PrefetchQuery {
            key: "medicationStatements".into(),
            template: format!("MedicationStatement?patient={PATIENT}&{PAGE_SIZE}"),
            need: Need::Optional(Input::Medications),
        },
        // What is prescribed now: a current anticoagulant (`active`; §3.6 item 21).
        PrefetchQuery {
            key: "medicationRequests".into(),
            template: format!("MedicationRequest?patient={PATIENT}&status=active&{PAGE_SIZE}"),
            need: Need::Optional(Input::Medications),
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

    /// The default profile's files with `prefetch.toml` replaced by `text`.
    fn with_windows(text: &str) -> Result<KnowledgeBase, crate::ProfileError> {
        let mut files: BTreeMap<String, Vec<u8>> = crate::load::embedded::FILES
            .iter()
            .map(|(p, t)| (p.to_string(), t.as_bytes().to_vec()))
            .collect();
        files.insert(FILE.into(), text.as_bytes().to_vec());
        KnowledgeBase::from_files(files)
    }

    #[test]
    fn results_of_the_current_pregnancy_are_bounded_and_lifelong_records_are_not() {
        for (key, since) in [
            ("hcg", "today() - 1 year"),
            ("ultrasound", "today() - 1 year"),
            ("ultrasoundReports", "today() - 1 year"),
            ("encounters", "today() - 1 year"),
            ("vitalSigns", "today() - 3 days"),
            ("immunizations", "today() - 1 year"),
            ("recentProcedures", "today() - 1 year"),
        ] {
            let template = query(key).template;
            assert!(
                template.ends_with(&format!("&date=ge{{{{{since}}}}}")),
                "{key}: {template}"
            );
        }
        for key in [
            "patient",
            "conditions",
            "pregnancy",
            "bleeding",
            "rh",
            "procedures",
        ] {
            let template = query(key).template;
            assert!(!template.contains("date=ge"), "{key}: {template}");
        }
    }

    #[test]
    fn without_prefetch_toml_every_search_is_unbounded() {
        let mut files: BTreeMap<String, Vec<u8>> = crate::load::embedded::FILES
            .iter()
            .map(|(p, t)| (p.to_string(), t.as_bytes().to_vec()))
            .collect();
        files.remove(FILE);
        let kb = KnowledgeBase::from_files(files).expect("loads");
        assert!(
            kb.prefetch()
                .iter()
                .all(|q| !q.template.contains("{{today"))
        );
    }

    #[test]
    fn a_malformed_window_is_refused_at_load_naming_the_key_and_the_expression() {
        let error = with_windows("[windows.hcg]\nsince = \"today() - 1.5 days\"\nwhy = \"x\"\n")
            .expect_err("refused");
        let message = error.to_string();
        assert!(message.contains("prefetch.toml"), "{message}");
        assert!(message.contains("`hcg`"), "{message}");
        assert!(message.contains("today() - 1.5 days"), "{message}");
    }

    #[test]
    fn a_window_on_an_unknown_key_a_context_token_or_a_search_without_dates_is_refused() {
        for (toml, needle) in [
            (
                "[windows.labs]\nsince = \"today()\"\nwhy = \"x\"\n",
                "unknown prefetch key `labs`",
            ),
            (
                "[windows.hcg]\nsince = \"context.patientId\"\nwhy = \"x\"\n",
                "is not a date",
            ),
            (
                "[windows.conditions]\nsince = \"today() - 1 year\"\nwhy = \"x\"\n",
                "no `date` parameter",
            ),
            ("[windows.hcg]\nsince = \"now()\"\nwhy = \"x\"\n", "`now()`"),
        ] {
            let message = with_windows(toml).expect_err(toml).to_string();
            assert!(message.contains(needle), "{toml}: {message}");
        }
    }

    #[test]
    fn encounters_are_asked_for_by_patient_newest_first_in_large_pages() {
        let encounters = query("encounters");
        assert_eq!(
            encounters.template,
            "Encounter?patient={{context.patientId}}&_sort=-date&_count=500&date=ge{{today() - 1 year}}"
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
        assert!(vitals.template.contains("&_count=500&date=ge"));
        assert_eq!(vitals.need, Need::Optional(Input::VitalSigns));
    }

    #[test]
    fn doses_given_are_bounded_by_their_own_date_parameter_and_current_medications_are_not() {
        let given = query("medicationAdministrations").template;
        assert!(
            given.starts_with("MedicationAdministration?patient={{context.patientId}}&")
                && given.ends_with("&effective-time=ge{{today() - 1 year}}"),
            "{given}"
        );
        assert_eq!(
            query("medicationAdministrations").need,
            Need::Optional(Input::Medications)
        );
        let requests = query("medicationRequests").template;
        assert!(requests.contains("&status=active"), "{requests}");
        assert!(!requests.contains("date"), "{requests}");
        assert!(!query("medicationStatements").template.contains("date"));
    }
}
