//! Mapping FHIR resources (raw JSON) to the engine's facts, one resource at a time, strictly.
//!
//! Each resource is parsed on its own with fhir-sdk's R4B models, so one bad entry costs that
//! entry and not the page. fhir-sdk is lenient in places where leniency is dangerous for us, so
//! this module adds the strictness it lacks:
//!
//! * A choice element (`value[x]`, `effective[x]`, `onset[x]`, `abatement[x]`) is a serde
//!   `flatten` on an `Option` in fhir-sdk: a malformed one (`"effectiveDateTime": "yesterday"`)
//!   silently becomes `None`. We look at the raw JSON: a key that is present but parsed to nothing
//!   becomes a [`Problem`](gravida_rules::facts::Problem) on the record, so the engine can say
//!   "date unreadable" instead of treating the record as undated.
//! * A resource that fhir-sdk rejects as a whole (say, a `code` that is a string) is *salvaged*:
//!   we find the top-level elements that break it, read the rest, and record a `Problem` for each
//!   element the engine reads. An element the engine does not read (a `performer` that is a
//!   string) cannot change a card and is dropped without a report. If the resource still does
//!   not parse, it is skipped with a [`Diagnostic`]. A record that might be a bleed is never
//!   dropped silently.
//! * A `modifierExtension` can change what a resource means (e.g. "this did NOT happen"). We
//!   understand none, so a resource that carries one is refused with a diagnostic.
//! * Only Condition, Observation, DiagnosticReport, Encounter, Procedure, the medication records
//!   (MedicationAdministration, MedicationStatement, MedicationRequest, Immunization:
//!   `map/medication.rs`) and Patient are parsed;
//!   other types (including R4-only ones fhir-sdk's R4B models do not know, like
//!   `MedicinalProduct`) are counted and skipped.
//!
//! This is the reference reader. Most resources are read by [`crate::fast`], which must give
//! exactly what this module gives whenever it accepts one. Neither holds the rules of an element:
//! this module turns fhir-sdk's model into the views of [`crate::element`], whose functions make
//! the record; what is here is parsing, salvage and the checks fhir-sdk does not make.

use std::collections::BTreeMap;

use gravida_rules::facts::{PatientFacts, RecordKind};
use serde_json::Value as Json;

use crate::diagnostic::{Diagnostic, DiagnosticKind};
use crate::element::PatientSummary;

mod medication;
mod orders;
mod resources;
mod salvage;
mod views;

pub use orders::draft_orders;
use resources::{
    map_condition, map_diagnostic_report, map_encounter, map_observation, map_patient,
    map_procedure,
};
use salvage::{as_resource, refuse_modifier_extension};

/// The result of mapping a list of resources.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Mapped {
    /// The records found (draft orders and `unavailable` are left empty: they come from elsewhere).
    pub facts: PatientFacts,
    /// What could not be read, without patient data.
    pub diagnostics: Vec<Diagnostic>,
    /// The first Patient resource seen, if any.
    pub patient: Option<PatientSummary>,
}

/// Maps each resource to a record (Condition, Observation, DiagnosticReport, Encounter, Procedure)
/// or a patient summary.
/// Never panics; everything unreadable becomes a diagnostic or a record `Problem`.
///
/// Takes any sequence of borrowed resources (a slice, or a filtered view of a prefetch) so that
/// no resource is copied on the way.
pub fn facts_from_resources<'a>(resources: impl IntoIterator<Item = &'a Json>) -> Mapped {
    let mut mapped = Mapped::default();
    let mut ignored: BTreeMap<String, usize> = BTreeMap::new();
    for (index, resource) in resources.into_iter().enumerate() {
        let Some((resource_type, object)) = as_resource(resource) else {
            mapped.diagnostics.push(Diagnostic {
                resource_type: String::new(),
                index,
                kind: DiagnosticKind::NotAResource,
                message: "entry is not a JSON object with a string resourceType".into(),
            });
            continue;
        };
        let kind = match RecordKind::from_resource_type(resource_type) {
            Some(kind) => kind,
            None if resource_type == "Patient" => {
                if let Some(patient) = map_patient(object, index, &mut mapped.diagnostics)
                    && mapped.patient.is_none()
                {
                    mapped.patient = Some(patient);
                }
                continue;
            }
            None => {
                *ignored.entry(resource_type.to_owned()).or_default() += 1;
                continue;
            }
        };
        // A modifierExtension we do not understand: the record is mapped only to be named on the
        // card, never read as a fact (knowledge.md §3.6 item 13).
        let refused = refuse_modifier_extension(resource_type, object, index);
        let not_interpreted = refused.is_some();
        mapped.diagnostics.extend(refused);
        let record = match kind {
            RecordKind::Condition => map_condition(object, index, &mut mapped.diagnostics),
            RecordKind::Observation => map_observation(object, index, &mut mapped.diagnostics),
            RecordKind::DiagnosticReport => {
                map_diagnostic_report(object, index, &mut mapped.diagnostics)
            }
            RecordKind::Encounter => map_encounter(object, index, &mut mapped.diagnostics),
            RecordKind::Procedure => map_procedure(object, index, &mut mapped.diagnostics),
            RecordKind::MedicationAdministration => {
                medication::map_medication_administration(object, index, &mut mapped.diagnostics)
            }
            RecordKind::MedicationStatement => {
                medication::map_medication_statement(object, index, &mut mapped.diagnostics)
            }
            RecordKind::MedicationRequest => {
                medication::map_medication_request(object, index, &mut mapped.diagnostics)
            }
            RecordKind::Immunization => {
                medication::map_immunization(object, index, &mut mapped.diagnostics)
            }
        };
        if let Some(mut record) = record {
            record.not_interpreted = not_interpreted;
            mapped.facts.records.push(record);
        }
    }
    for (resource_type, count) in &ignored {
        tracing::debug!(
            resource_type,
            count,
            "ignored resources of a type the engine does not read"
        );
    }
    mapped
}

#[cfg(test)]
mod tests;
