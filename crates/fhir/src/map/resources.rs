//! One resource type at a time: Observation, Condition, DiagnosticReport, Encounter, Procedure
//! and Patient, each parsed (and salvaged) with fhir-sdk, its model turned into the element views,
//! and the record made by [`crate::element`]. The medication records are `medication.rs`.

use std::borrow::Cow;

use fhir_sdk::r4b::resources::{
    Condition, ConditionAbatement, ConditionOnset, DiagnosticReport, DiagnosticReportEffective,
    Encounter, Observation, ObservationEffective, Patient, Procedure, ProcedurePerformed,
};
use gravida_rules::facts::{Field, Record};
use serde_json::{Map, Value as Json};

use super::salvage::{
    Required, apply_salvage, check_choice, check_choice_in, parse_salvaging,
    refuse_modifier_extension,
};
use super::views::{
    borrowed, coding, component_value, concept, concepts, notes, observation_value, period,
};
use crate::diagnostic::Diagnostic;
use crate::element::{self, Dated, PatientSummary};

pub(super) fn map_observation(
    object: &Map<String, Json>,
    index: usize,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<Record> {
    let required = [
        Required::reported("status", Json::from("unknown")),
        Required::reported("code", Json::Object(Map::new())),
    ];
    let (observation, salvaged) =
        parse_salvaging::<Observation>(object, index, &required, diagnostics)?;
    let mut record = element::observation(element::Observation {
        id: borrowed(&observation.id),
        status: observation.status.to_string(),
        code: concept(&observation.code),
        category: concepts(&observation.category),
        effective: observation
            .effective
            .as_ref()
            .map(|effective| match effective {
                ObservationEffective::DateTime(date_time) => Dated::DateTime(date_time.clone()),
                ObservationEffective::Period(p) => Dated::Period(period(p)),
                ObservationEffective::Instant(instant) => Dated::Instant(instant.clone()),
                ObservationEffective::Timing(_) => Dated::Timing,
            }),
        issued: observation.issued.clone(),
        value: observation.value.as_ref().map(observation_value),
        components: observation
            .component
            .iter()
            .flatten()
            .map(|component| element::Component {
                code: concept(&component.code),
                value: component.value.as_ref().map(component_value),
            })
            .collect(),
        notes: notes(&observation.note),
    });
    check_choice(
        object,
        "effective",
        observation.effective.is_some(),
        Field::Effective,
        &mut record.problems,
    );
    check_choice(
        object,
        "value",
        observation.value.is_some(),
        Field::Value,
        &mut record.problems,
    );
    // A component's `value[x]` is as lenient in fhir-sdk as the Observation's own.
    if let Some(Json::Array(components)) = object.get("component") {
        for (json, parsed) in components.iter().zip(&observation.component) {
            if let (Json::Object(json), Some(parsed)) = (json, parsed) {
                check_choice_in(
                    json,
                    "component.",
                    "value",
                    parsed.value.is_some(),
                    Field::Component,
                    &mut record.problems,
                );
            }
        }
    }
    apply_salvage(&mut record, object, &salvaged, "Observation", index);
    Some(record)
}

pub(super) fn map_condition(
    object: &Map<String, Json>,
    index: usize,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<Record> {
    // `subject` is required by the model but irrelevant to us: the searches are patient-scoped.
    let required = [Required::silent("subject", Json::Object(Map::new()))];
    let (condition, salvaged) =
        parse_salvaging::<Condition>(object, index, &required, diagnostics)?;
    let mut record = element::condition(element::Condition {
        id: borrowed(&condition.id),
        code: condition.code.as_ref().map(concept),
        clinical_status: condition.clinical_status.as_ref().map(concept),
        verification_status: condition.verification_status.as_ref().map(concept),
        onset: condition.onset.as_ref().map(|onset| match onset {
            ConditionOnset::DateTime(date_time) => Dated::DateTime(date_time.clone()),
            ConditionOnset::Period(p) => Dated::Period(period(p)),
            ConditionOnset::Age(_) => Dated::Age,
            ConditionOnset::Range(_) => Dated::Range,
            ConditionOnset::String(words) => Dated::String(Cow::Borrowed(words)),
        }),
        abatement: condition
            .abatement
            .as_ref()
            .map(|abatement| match abatement {
                ConditionAbatement::DateTime(date_time) => Dated::DateTime(date_time.clone()),
                ConditionAbatement::Period(p) => Dated::Period(period(p)),
                ConditionAbatement::Age(_) => Dated::Age,
                ConditionAbatement::Range(_) => Dated::Range,
                ConditionAbatement::String(words) => Dated::String(Cow::Borrowed(words)),
            }),
        recorded_date: condition.recorded_date.clone(),
        notes: notes(&condition.note),
    });
    check_choice(
        object,
        "onset",
        condition.onset.is_some(),
        Field::Effective,
        &mut record.problems,
    );
    check_choice(
        object,
        "abatement",
        condition.abatement.is_some(),
        Field::Abatement,
        &mut record.problems,
    );
    apply_salvage(&mut record, object, &salvaged, "Condition", index);
    Some(record)
}

pub(super) fn map_diagnostic_report(
    object: &Map<String, Json>,
    index: usize,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<Record> {
    let required = [
        Required::reported("status", Json::from("unknown")),
        Required::reported("code", Json::Object(Map::new())),
    ];
    let (report, salvaged) =
        parse_salvaging::<DiagnosticReport>(object, index, &required, diagnostics)?;
    let mut record = element::diagnostic_report(element::DiagnosticReport {
        id: borrowed(&report.id),
        status: report.status.to_string(),
        code: concept(&report.code),
        conclusion_code: concepts(&report.conclusion_code),
        conclusion: borrowed(&report.conclusion),
        effective: report.effective.as_ref().map(|effective| match effective {
            DiagnosticReportEffective::DateTime(date_time) => Dated::DateTime(date_time.clone()),
            DiagnosticReportEffective::Period(p) => Dated::Period(period(p)),
        }),
        issued: report.issued.clone(),
    });
    check_choice(
        object,
        "effective",
        report.effective.is_some(),
        Field::Effective,
        &mut record.problems,
    );
    apply_salvage(&mut record, object, &salvaged, "DiagnosticReport", index);
    Some(record)
}

pub(super) fn map_encounter(
    object: &Map<String, Json>,
    index: usize,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<Record> {
    // `class` is required in R4, but many feeds leave it out; without it there is simply no
    // category, and nothing to report.
    let required = [
        Required::reported("status", Json::from("unknown")),
        Required::silent("class", Json::Object(Map::new())),
    ];
    let (encounter, salvaged) =
        parse_salvaging::<Encounter>(object, index, &required, diagnostics)?;
    let mut record = element::encounter(element::Encounter {
        id: borrowed(&encounter.id),
        status: encounter.status.to_string(),
        class: Some(coding(&encounter.class)),
        types: concepts(&encounter.r#type),
        reason_code: concepts(&encounter.reason_code),
        reason_reference: encounter
            .reason_reference
            .iter()
            .flatten()
            .map(|reference| element::Reference {
                reference: borrowed(&reference.reference),
            })
            .collect(),
        period: encounter.period.as_ref().map(period),
    });
    apply_salvage(&mut record, object, &salvaged, "Encounter", index);
    Some(record)
}

pub(super) fn map_procedure(
    object: &Map<String, Json>,
    index: usize,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<Record> {
    let required = [
        Required::reported("status", Json::from("unknown")),
        Required::silent("subject", Json::Object(Map::new())),
    ];
    let (procedure, salvaged) =
        parse_salvaging::<Procedure>(object, index, &required, diagnostics)?;
    let mut record = element::procedure(element::Procedure {
        id: borrowed(&procedure.id),
        status: procedure.status.to_string(),
        code: procedure.code.as_ref().map(concept),
        category: procedure.category.as_ref().map(concept),
        performed: procedure
            .performed
            .as_ref()
            .map(|performed| match performed {
                ProcedurePerformed::DateTime(date_time) => Dated::DateTime(date_time.clone()),
                ProcedurePerformed::Period(p) => Dated::Period(period(p)),
                ProcedurePerformed::String(words) => Dated::String(Cow::Borrowed(words)),
                ProcedurePerformed::Age(_) => Dated::Age,
                ProcedurePerformed::Range(_) => Dated::Range,
            }),
        reason_code: concepts(&procedure.reason_code),
        notes: notes(&procedure.note),
    });
    check_choice(
        object,
        "performed",
        procedure.performed.is_some(),
        Field::Effective,
        &mut record.problems,
    );
    apply_salvage(&mut record, object, &salvaged, "Procedure", index);
    Some(record)
}

pub(super) fn map_patient(
    object: &Map<String, Json>,
    index: usize,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<PatientSummary> {
    if let Some(refusal) = refuse_modifier_extension("Patient", object, index) {
        diagnostics.push(refusal);
        return None;
    }
    // Salvaged like the other resources: nothing the engine reads comes from the Patient, so a
    // bad element (a `gender` that is not a code, say) does not make the patient unknown.
    let (patient, _) = parse_salvaging::<Patient>(object, index, &[], diagnostics)?;
    Some(element::patient(borrowed(&patient.id)))
}
