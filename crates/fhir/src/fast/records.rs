//! From the modelled elements to the views of [`crate::element`], which make the record: one
//! function per resource type the engine reads, each taking its elements out of a read
//! [`Resource`].

use std::str::FromStr;

use fhir_sdk::r4b::codes::{
    DiagnosticReportStatus, EncounterStatus, EventStatus, ObservationStatus,
};
use gravida_rules::facts::{Record, RecordKind};

use super::Decline;
use super::json::{OneOrMany, Str, TypeElement};
use super::resource::Resource;
use crate::element::{self, Dated};

/// A status code, checked with fhir-sdk's own parser (so that both readers accept the same codes).
pub(super) fn status_code<T: FromStr + ToString>(
    status: Option<Str<'_>>,
    what: Decline,
) -> Result<String, Decline> {
    let status = status.ok_or(what)?;
    T::from_str(&status)
        .map(|status| status.to_string())
        .map_err(|_| what)
}

pub(super) fn observation(resource: Box<Resource<'_>>) -> Result<Record, Decline> {
    let status = status_code::<ObservationStatus>(resource.status, "Observation.status")?;
    let code = resource.code.ok_or("Observation.code is missing")?;
    let category = match resource.category {
        None => Vec::new(),
        Some(OneOrMany::Many(concepts)) => concepts,
        // Not an Observation's shape: the reference reader reports it as unreadable.
        Some(OneOrMany::One(_)) => return Err("Observation.category is not an array"),
    };
    Ok(element::observation(element::Observation {
        id: resource.id.map(Str::text),
        status,
        code,
        category,
        effective: resource.effective,
        issued: resource.issued,
        value: resource.value,
        components: resource.component.unwrap_or_default(),
        notes: resource.note.unwrap_or_default(),
    }))
}

pub(super) fn condition(resource: Box<Resource<'_>>) -> Record {
    element::condition(element::Condition {
        id: resource.id.map(Str::text),
        code: resource.code,
        clinical_status: resource.clinical_status,
        verification_status: resource.verification_status,
        onset: resource.onset,
        abatement: resource.abatement,
        recorded_date: resource.recorded_date,
        notes: resource.note.unwrap_or_default(),
    })
}

pub(super) fn diagnostic_report(resource: Box<Resource<'_>>) -> Result<Record, Decline> {
    let status = status_code::<DiagnosticReportStatus>(resource.status, "DiagnosticReport.status")?;
    let code = resource.code.ok_or("DiagnosticReport.code is missing")?;
    // Not a DiagnosticReport choice: the reference reader reports it as unreadable.
    if matches!(resource.effective, Some(Dated::Instant(_))) {
        return Err("DiagnosticReport.effectiveInstant");
    }
    Ok(element::diagnostic_report(element::DiagnosticReport {
        id: resource.id.map(Str::text),
        status,
        code,
        conclusion_code: resource.conclusion_code.unwrap_or_default(),
        conclusion: resource.conclusion.map(Str::text),
        effective: resource.effective,
        issued: resource.issued,
    }))
}

pub(super) fn encounter(resource: Box<Resource<'_>>) -> Result<Record, Decline> {
    let status = status_code::<EncounterStatus>(resource.status, "Encounter.status")?;
    let types = match resource.kind {
        None => Vec::new(),
        Some(TypeElement::Concepts(concepts)) => concepts,
        Some(TypeElement::Code) => return Err("Encounter.type is not an array"),
    };
    Ok(element::encounter(element::Encounter {
        id: resource.id.map(Str::text),
        status,
        class: resource.class,
        types,
        reason_code: resource.reason_code.unwrap_or_default(),
        reason_reference: resource.reason_reference.unwrap_or_default(),
        period: resource.period,
    }))
}

pub(super) fn procedure(resource: Box<Resource<'_>>) -> Result<Record, Decline> {
    let status = status_code::<EventStatus>(resource.status, "Procedure.status")?;
    let category = match resource.category {
        None => None,
        Some(OneOrMany::One(concept)) => Some(concept),
        Some(OneOrMany::Many(_)) => return Err("Procedure.category is an array"),
    };
    Ok(element::procedure(element::Procedure {
        id: resource.id.map(Str::text),
        status,
        code: resource.code,
        category,
        performed: resource.performed,
        reason_code: resource.reason_code.unwrap_or_default(),
        notes: resource.note.unwrap_or_default(),
    }))
}

/// A MedicationAdministration, MedicationStatement or MedicationRequest (knowledge.md §3.6 items
/// 10, 21) whose drug is a `medicationCodeableConcept` (a `medicationReference` was declined
/// while parsing: only the reference reader resolves the Medication it names). Its status is any
/// string, as in fhir-sdk's model; what that model requires (`effective[x]` of an
/// administration, `intent` of a request) is required here.
pub(super) fn medication(kind: RecordKind, resource: Box<Resource<'_>>) -> Result<Record, Decline> {
    let status = resource.status.ok_or("a medication record's status")?;
    let medication = resource
        .medication
        .ok_or("a medication record without medication[x]")?;
    // Not a choice of these resources: the reference reader would not read it as a date.
    if matches!(resource.effective, Some(Dated::Instant(_))) {
        return Err("a medication record's effectiveInstant");
    }
    let request = kind == RecordKind::MedicationRequest;
    if kind == RecordKind::MedicationAdministration && resource.effective.is_none() {
        return Err("MedicationAdministration.effective[x] is missing");
    }
    if request && (resource.intent.is_none() || resource.effective.is_some()) {
        return Err("a MedicationRequest's intent is missing, or it has an effective[x]");
    }
    if !request && resource.authored_on.is_some() {
        return Err("authoredOn belongs to a MedicationRequest");
    }
    Ok(element::medication(element::Medication {
        kind,
        id: resource.id.map(Str::text),
        status: status.into_owned(),
        medication: Some(medication),
        medication_display: None,
        effective: resource.effective,
        authored_on: resource.authored_on,
        reason_code: resource.reason_code.unwrap_or_default(),
        notes: resource.note.unwrap_or_default(),
    }))
}

/// An Immunization: its `vaccineCode` and `occurrence[x]` are required, as in fhir-sdk's model.
pub(super) fn immunization(resource: Box<Resource<'_>>) -> Result<Record, Decline> {
    let status = resource.status.ok_or("Immunization.status")?;
    let vaccine_code = resource.vaccine_code.ok_or("Immunization.vaccineCode")?;
    let occurrence = resource.occurrence.ok_or("Immunization.occurrence[x]")?;
    Ok(element::immunization(element::Immunization {
        id: resource.id.map(Str::text),
        status: status.into_owned(),
        vaccine_code: Some(vaccine_code),
        occurrence: Some(occurrence),
        reason_code: resource.reason_code.unwrap_or_default(),
        notes: resource.note.unwrap_or_default(),
    }))
}
