//! The medication records through fhir-sdk (knowledge.md §3.6 items 10, 21): MedicationAdministration,
//! MedicationStatement, MedicationRequest and Immunization into the views of
//! [`crate::element`], whose functions make the record.
//!
//! `medication[x]` as a Reference is resolved to a Medication contained in the resource (`#id`),
//! as draft orders are ([`super::draft_orders`]); its `display` is kept either way. A reference
//! to a Medication elsewhere is not fetched: the display, if any, names the drug.

use std::borrow::Cow;

use fhir_sdk::r4b::resources::{
    Immunization, ImmunizationOccurrence, MedicationAdministration,
    MedicationAdministrationEffective, MedicationAdministrationMedication, MedicationRequest,
    MedicationRequestMedication, MedicationStatement, MedicationStatementEffective,
    MedicationStatementMedication,
};
use fhir_sdk::r4b::types::{CodeableConcept, Reference};
use gravida_rules::facts::{Field, Record, RecordKind};
use serde_json::{Map, Value as Json};

use super::salvage::{Required, apply_salvage, check_choice, parse_salvaging};
use super::views::{borrowed, concept, concepts, notes, period};
use crate::diagnostic::Diagnostic;
use crate::element::{self, Dated};

/// The `code` of the Medication contained in `object` that `medicationReference` names.
fn contained_medication(object: &Map<String, Json>) -> Option<CodeableConcept> {
    let reference = object
        .get("medicationReference")?
        .get("reference")?
        .as_str()?;
    let id = reference.strip_prefix('#')?;
    let medication = object
        .get("contained")?
        .as_array()?
        .iter()
        .find(|resource| {
            resource.get("resourceType").and_then(Json::as_str) == Some("Medication")
                && resource.get("id").and_then(Json::as_str) == Some(id)
        })?;
    serde_json::from_value(medication.get("code")?.clone()).ok()
}

/// The drug of a `medication[x]`: the concept (or the contained Medication's code, in
/// `resolved`) and the reference's display.
fn drug<'r>(
    concept_: Option<&'r CodeableConcept>,
    reference: Option<&'r Reference>,
    resolved: &'r Option<CodeableConcept>,
) -> (Option<element::Concept<'r>>, Option<element::Text<'r>>) {
    match (concept_, reference) {
        (Some(c), _) => (Some(concept(c)), None),
        (None, Some(r)) => (
            resolved.as_ref().map(concept),
            r.display.as_deref().map(Cow::Borrowed),
        ),
        (None, None) => (None, None),
    }
}

/// The elements every medication resource requires in fhir-sdk's model: a missing status is a
/// problem on the record; a missing subject or patient loses nothing the engine reads.
fn required(owner: &'static str) -> [Required; 2] {
    [
        Required::reported("status", Json::from("unknown")),
        Required::silent(owner, Json::Object(Map::new())),
    ]
}

pub(super) fn map_medication_administration(
    object: &Map<String, Json>,
    index: usize,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<Record> {
    let (given, salvaged) = parse_salvaging::<MedicationAdministration>(
        object,
        index,
        &required("subject"),
        diagnostics,
    )?;
    let resolved = contained_medication(object);
    let (medication, medication_display) = match &given.medication {
        MedicationAdministrationMedication::CodeableConcept(c) => drug(Some(c), None, &resolved),
        MedicationAdministrationMedication::Reference(r) => drug(None, Some(r), &resolved),
    };
    let mut record = element::medication(element::Medication {
        kind: RecordKind::MedicationAdministration,
        id: borrowed(&given.id),
        status: given.status.clone(),
        medication,
        medication_display,
        effective: Some(match &given.effective {
            MedicationAdministrationEffective::DateTime(d) => Dated::DateTime(d.clone()),
            MedicationAdministrationEffective::Period(p) => Dated::Period(period(p)),
        }),
        authored_on: None,
        reason_code: concepts(&given.reason_code),
        notes: notes(&given.note),
    });
    apply_salvage(
        &mut record,
        object,
        &salvaged,
        "MedicationAdministration",
        index,
    );
    Some(record)
}

pub(super) fn map_medication_statement(
    object: &Map<String, Json>,
    index: usize,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<Record> {
    let (statement, salvaged) =
        parse_salvaging::<MedicationStatement>(object, index, &required("subject"), diagnostics)?;
    let resolved = contained_medication(object);
    let (medication, medication_display) = match &statement.medication {
        MedicationStatementMedication::CodeableConcept(c) => drug(Some(c), None, &resolved),
        MedicationStatementMedication::Reference(r) => drug(None, Some(r), &resolved),
    };
    let mut record = element::medication(element::Medication {
        kind: RecordKind::MedicationStatement,
        id: borrowed(&statement.id),
        status: statement.status.clone(),
        medication,
        medication_display,
        effective: statement
            .effective
            .as_ref()
            .map(|effective| match effective {
                MedicationStatementEffective::DateTime(d) => Dated::DateTime(d.clone()),
                MedicationStatementEffective::Period(p) => Dated::Period(period(p)),
            }),
        authored_on: None,
        reason_code: concepts(&statement.reason_code),
        notes: notes(&statement.note),
    });
    check_choice(
        object,
        "effective",
        statement.effective.is_some(),
        Field::Effective,
        &mut record.problems,
    );
    apply_salvage(&mut record, object, &salvaged, "MedicationStatement", index);
    Some(record)
}

pub(super) fn map_medication_request(
    object: &Map<String, Json>,
    index: usize,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<Record> {
    let (request, salvaged) =
        parse_salvaging::<MedicationRequest>(object, index, &required("subject"), diagnostics)?;
    let resolved = contained_medication(object);
    let (medication, medication_display) = match &request.medication {
        MedicationRequestMedication::CodeableConcept(c) => drug(Some(c), None, &resolved),
        MedicationRequestMedication::Reference(r) => drug(None, Some(r), &resolved),
    };
    let mut record = element::medication(element::Medication {
        kind: RecordKind::MedicationRequest,
        id: borrowed(&request.id),
        status: request.status.clone(),
        medication,
        medication_display,
        effective: None,
        authored_on: request.authored_on.clone(),
        reason_code: concepts(&request.reason_code),
        notes: notes(&request.note),
    });
    apply_salvage(&mut record, object, &salvaged, "MedicationRequest", index);
    Some(record)
}

pub(super) fn map_immunization(
    object: &Map<String, Json>,
    index: usize,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<Record> {
    let (immunization, salvaged) =
        parse_salvaging::<Immunization>(object, index, &required("patient"), diagnostics)?;
    let mut record = element::immunization(element::Immunization {
        id: borrowed(&immunization.id),
        status: immunization.status.clone(),
        vaccine_code: Some(concept(&immunization.vaccine_code)),
        occurrence: Some(match &immunization.occurrence {
            ImmunizationOccurrence::DateTime(d) => Dated::DateTime(d.clone()),
            ImmunizationOccurrence::String(words) => Dated::String(Cow::Borrowed(words)),
        }),
        reason_code: concepts(&immunization.reason_code),
        notes: notes(&immunization.note),
    });
    apply_salvage(&mut record, object, &salvaged, "Immunization", index);
    Some(record)
}
