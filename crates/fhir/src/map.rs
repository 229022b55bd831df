//! Mapping FHIR resources (raw JSON) to the engine's facts, one resource at a time, strictly.
//!
//! Each resource is parsed on its own with fhir-sdk's R4B models, so one bad entry costs that
//! entry and not the page. fhir-sdk is lenient in places where leniency is dangerous for us, so
//! this module adds the strictness it lacks:
//!
//! * A choice element (`value[x]`, `effective[x]`, `onset[x]`, `abatement[x]`) is a serde
//!   `flatten` on an `Option` in fhir-sdk: a malformed one (`"effectiveDateTime": "yesterday"`)
//!   silently becomes `None`. We look at the raw JSON: a key that is present but parsed to nothing
//!   becomes a [`Problem`] on the record, so the engine can say "date unreadable" instead of
//!   treating the record as undated.
//! * A resource that fhir-sdk rejects as a whole (say, a `code` that is a string) is *salvaged*:
//!   we find the top-level elements that break it, read the rest, and record a `Problem` for each
//!   element the engine reads. An element the engine does not read (a `performer` that is a
//!   string) cannot change a card and is dropped without a report. If the resource still does
//!   not parse, it is skipped with a [`Diagnostic`]. A record that might be a bleed is never
//!   dropped silently.
//!
//! This is the reference reader. Most requests are read by [`crate::fast`], which must give
//! exactly what this module gives whenever it accepts a request.
//! * A `modifierExtension` can change what a resource means (e.g. "this did NOT happen"). We
//!   understand none, so a resource that carries one is refused with a diagnostic.
//! * Only Condition, Observation, DiagnosticReport and Patient are parsed; other types (including
//!   R4-only ones fhir-sdk's R4B models do not know, like `MedicinalProduct`) are counted and skipped.

use std::collections::BTreeMap;

use fhir_sdk::r4b::resources::{
    Condition, ConditionAbatement, ConditionOnset, DiagnosticReport, DiagnosticReportEffective,
    MedicationRequest, MedicationRequestMedication, Observation, ObservationEffective,
    ObservationValue, Patient, ServiceRequest,
};
use fhir_sdk::r4b::types::{Annotation, CodeableConcept, Period};
use fhir_sdk::{Date as FhirDate, DateTime as FhirDateTime, Instant as FhirInstant};
use gravida_rules::facts::{
    Code, DraftOrder, Field, PatientFacts, Precision, Problem, Record, RecordKind, Value, When,
};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value as Json};
use time::Month;

use crate::diagnostic::{Diagnostic, DiagnosticKind, redact};

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

/// What we keep of the Patient resource. Gender and birth date do not gate anything: a pregnancy
/// record is evidence enough, and Patient.gender is administrative, not clinical.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatientSummary {
    pub id: Option<String>,
}

/// Maps each resource to a record (Condition, Observation, DiagnosticReport) or a patient summary.
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
        let kind = match resource_type {
            "Condition" => RecordKind::Condition,
            "Observation" => RecordKind::Observation,
            "DiagnosticReport" => RecordKind::DiagnosticReport,
            "Patient" => {
                if let Some(patient) = map_patient(object, index, &mut mapped.diagnostics)
                    && mapped.patient.is_none()
                {
                    mapped.patient = Some(patient);
                }
                continue;
            }
            other => {
                *ignored.entry(other.to_owned()).or_default() += 1;
                continue;
            }
        };
        if let Some(refusal) = refuse_modifier_extension(resource_type, object, index) {
            mapped.diagnostics.push(refusal);
            continue;
        }
        let record = match kind {
            RecordKind::Condition => map_condition(object, index, &mut mapped.diagnostics),
            RecordKind::Observation => map_observation(object, index, &mut mapped.diagnostics),
            RecordKind::DiagnosticReport => {
                map_diagnostic_report(object, index, &mut mapped.diagnostics)
            }
            // Not produced by the match above: these resource types are not read yet.
            RecordKind::Encounter | RecordKind::Procedure => continue,
        };
        if let Some(record) = record {
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

/// Reads `context.draftOrders` (a Bundle of draft request resources) into draft orders.
///
/// MedicationRequest gives `medicationCodeableConcept` codings and text (and the displays), or
/// `medicationReference.display` and the code of the Medication it references: a contained one
/// (`#id`), or one sent in the same Bundle (`Medication/id`, or its `fullUrl`) — knowledge.md
/// §3.5 item 7; EHRs that order from a formulary send the drug this way. ServiceRequest gives
/// `code`. A Medication entry is what an order names, not an order, so it is not one itself. Other request types are kept with
/// their type, id, status and `code`, so the engine at least knows they are there. A draft order
/// that fhir-sdk rejects is read element by element (with a diagnostic) rather than dropped: a
/// missed order could be a missed warning.
pub fn draft_orders(bundle: &Json) -> (Vec<DraftOrder>, Vec<Diagnostic>) {
    let mut orders = Vec::new();
    let mut diagnostics = Vec::new();
    let medications = bundle_medications(bundle);
    for (index, resource) in bundle_resources(bundle).into_iter().enumerate() {
        if resource.get("resourceType").and_then(Json::as_str) == Some("Medication") {
            continue;
        }
        let Some((resource_type, object)) = as_resource(resource) else {
            diagnostics.push(Diagnostic {
                resource_type: String::new(),
                index,
                kind: DiagnosticKind::NotAResource,
                message: "draft order entry is not a JSON object with a string resourceType".into(),
            });
            continue;
        };
        if let Some(refusal) = refuse_modifier_extension(resource_type, object, index) {
            diagnostics.push(refusal);
            continue;
        }
        let order = match resource_type {
            "MedicationRequest" => {
                match serde_json::from_value::<MedicationRequest>(Json::Object(object.clone())) {
                    Ok(request) => {
                        let mut order = DraftOrder {
                            resource_type: resource_type.to_owned(),
                            id: request.id.clone().unwrap_or_default(),
                            codes: Vec::new(),
                            text: Vec::new(),
                            status: Some(request.status.clone()),
                        };
                        match &request.medication {
                            MedicationRequestMedication::CodeableConcept(concept) => {
                                read_concept(concept, &mut order.codes, &mut order.text);
                            }
                            MedicationRequestMedication::Reference(reference) => {
                                push_text(&mut order.text, reference.display.as_deref());
                            }
                        }
                        read_referenced_medication(object, &medications, &mut order);
                        order
                    }
                    Err(error) => {
                        diagnostics.push(order_partly_read(object, index, &error));
                        let mut order = order_from_parts(resource_type, object);
                        read_referenced_medication(object, &medications, &mut order);
                        order
                    }
                }
            }
            "ServiceRequest" => {
                match serde_json::from_value::<ServiceRequest>(Json::Object(object.clone())) {
                    Ok(request) => {
                        let mut order = DraftOrder {
                            resource_type: resource_type.to_owned(),
                            id: request.id.clone().unwrap_or_default(),
                            codes: Vec::new(),
                            text: Vec::new(),
                            status: Some(request.status.to_string()),
                        };
                        if let Some(concept) = &request.code {
                            read_concept(concept, &mut order.codes, &mut order.text);
                        }
                        order
                    }
                    Err(error) => {
                        diagnostics.push(order_partly_read(object, index, &error));
                        order_from_parts(resource_type, object)
                    }
                }
            }
            // NutritionOrder, DeviceRequest, …: kept, so the engine knows an order is there.
            other => order_from_parts(other, object),
        };
        orders.push(order);
    }
    (orders, diagnostics)
}

/// The Medication resources of a draftOrders Bundle, each with the names a reference may use:
/// `Medication/{id}` and its entry's `fullUrl` (often `urn:uuid:…`).
fn bundle_medications(bundle: &Json) -> Vec<(Vec<String>, &Json)> {
    let Some(entries) = bundle.get("entry").and_then(Json::as_array) else {
        return Vec::new();
    };
    entries
        .iter()
        .filter_map(|entry| {
            let resource = entry.get("resource")?;
            (resource.get("resourceType")?.as_str()? == "Medication").then_some(())?;
            let mut names = Vec::new();
            if let Some(id) = resource.get("id").and_then(Json::as_str) {
                names.push(format!("Medication/{id}"));
            }
            if let Some(full_url) = entry.get("fullUrl").and_then(Json::as_str) {
                names.push(full_url.to_owned());
            }
            Some((names, resource))
        })
        .collect()
}

/// Adds the code and text of the Medication that `medicationReference` points at, if it is
/// contained in the order or sent beside it. A reference to a Medication we were not sent is
/// left at its `display`: we do not fetch it.
fn read_referenced_medication(
    order_object: &Map<String, Json>,
    medications: &[(Vec<String>, &Json)],
    order: &mut DraftOrder,
) {
    let Some(reference) = order_object
        .get("medicationReference")
        .and_then(|reference| reference.get("reference"))
        .and_then(Json::as_str)
    else {
        return;
    };
    let medication = if let Some(id) = reference.strip_prefix('#') {
        order_object
            .get("contained")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
            .find(|resource| {
                resource.get("resourceType").and_then(Json::as_str) == Some("Medication")
                    && resource.get("id").and_then(Json::as_str) == Some(id)
            })
    } else {
        medications
            .iter()
            .find(|(names, _)| {
                names
                    .iter()
                    .any(|name| name == reference || reference.ends_with(&format!("/{name}")))
            })
            .map(|(_, medication)| *medication)
    };
    let concept = medication
        .and_then(|medication| medication.get("code"))
        .and_then(|code| serde_json::from_value::<CodeableConcept>(code.clone()).ok());
    if let Some(concept) = concept {
        read_concept(&concept, &mut order.codes, &mut order.text);
    }
}

/// A draft order read element by element, for request types we do not model or resources that
/// fhir-sdk rejects as a whole: an order is never dropped because one of its elements is odd.
fn order_from_parts(resource_type: &str, object: &Map<String, Json>) -> DraftOrder {
    let mut order = DraftOrder {
        resource_type: resource_type.to_owned(),
        id: string_field(object, "id").unwrap_or_default(),
        codes: Vec::new(),
        text: Vec::new(),
        status: string_field(object, "status"),
    };
    for key in ["medicationCodeableConcept", "code"] {
        let concept = object
            .get(key)
            .and_then(|value| serde_json::from_value::<CodeableConcept>(value.clone()).ok());
        if let Some(concept) = concept {
            read_concept(&concept, &mut order.codes, &mut order.text);
        }
    }
    let display = object
        .get("medicationReference")
        .and_then(|reference| reference.get("display"))
        .and_then(Json::as_str);
    push_text(&mut order.text, display);
    order
}

fn order_partly_read(
    object: &Map<String, Json>,
    index: usize,
    error: &serde_json::Error,
) -> Diagnostic {
    let Diagnostic {
        resource_type,
        message,
        ..
    } = unparseable(object, index, error);
    Diagnostic {
        resource_type,
        index,
        kind: DiagnosticKind::PartlyUnreadable,
        message: message.replace("skipped", "read element by element"),
    }
}

/// The resources of a Bundle (`entry[].resource`), or the value itself when it is a single
/// resource, or the items of a JSON array (a shape some clients send).
fn bundle_resources(value: &Json) -> Vec<&Json> {
    match value {
        Json::Array(items) => items.iter().collect(),
        Json::Object(object)
            if object.get("resourceType").and_then(Json::as_str) == Some("Bundle") =>
        {
            object
                .get("entry")
                .and_then(Json::as_array)
                .map(|entries| {
                    entries
                        .iter()
                        .filter_map(|entry| entry.get("resource"))
                        .collect()
                })
                .unwrap_or_default()
        }
        Json::Object(_) => vec![value],
        _ => Vec::new(),
    }
}

// ---------------------------------------------------------------------------------------------
// One resource type at a time
// ---------------------------------------------------------------------------------------------

fn map_observation(
    object: &Map<String, Json>,
    index: usize,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<Record> {
    let required = [
        ("status", Json::from("unknown")),
        ("code", Json::Object(Map::new())),
    ];
    let (observation, salvaged) =
        parse_salvaging::<Observation>(object, index, &required, diagnostics)?;
    let mut record = Record::new(
        RecordKind::Observation,
        observation.id.clone().unwrap_or_default(),
    );
    read_concept(&observation.code, &mut record.codes, &mut record.text);
    record.status = Some(observation.status.to_string());
    record.effective = observation
        .effective
        .as_ref()
        .and_then(|effective| read_observation_effective(effective, &mut record.problems));
    record.recorded = observation.issued.as_ref().map(when_from_instant);
    if let Some(value) = &observation.value {
        record.value = read_observation_value(value, &mut record.text, &mut record.problems);
    }
    read_notes(&observation.note, &mut record.text);
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
    apply_salvage(&mut record, object, &salvaged, "Observation", index);
    Some(record)
}

fn map_condition(
    object: &Map<String, Json>,
    index: usize,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<Record> {
    // `subject` is required by the model but irrelevant to us: the searches are patient-scoped.
    let required = [("subject", Json::Object(Map::new()))];
    let (condition, salvaged) =
        parse_salvaging::<Condition>(object, index, &required, diagnostics)?;
    let mut record = Record::new(
        RecordKind::Condition,
        condition.id.clone().unwrap_or_default(),
    );
    if let Some(code) = &condition.code {
        read_concept(code, &mut record.codes, &mut record.text);
    }
    record.clinical_status = read_status_concept(
        condition.clinical_status.as_ref(),
        "condition-clinical",
        Field::ClinicalStatus,
        &mut record.problems,
    );
    record.verification_status = read_status_concept(
        condition.verification_status.as_ref(),
        "condition-ver-status",
        Field::VerificationStatus,
        &mut record.problems,
    );
    record.effective = match &condition.onset {
        None => None,
        Some(ConditionOnset::DateTime(date_time)) => read_date_time(
            date_time,
            "onsetDateTime",
            Field::Effective,
            &mut record.problems,
        ),
        Some(ConditionOnset::Period(period)) => read_period(
            period,
            "onsetPeriod",
            Field::Effective,
            &mut record.problems,
        ),
        Some(ConditionOnset::Age(_)) => {
            problem(
                &mut record.problems,
                Field::Effective,
                "onsetAge is an age, not a date",
            );
            None
        }
        Some(ConditionOnset::Range(_)) => {
            problem(
                &mut record.problems,
                Field::Effective,
                "onsetRange is an age range, not a date",
            );
            None
        }
        Some(ConditionOnset::String(text)) => {
            // Valid FHIR, but no date: keep the words (they may name the problem) and say the
            // onset could not be placed in time.
            push_text(&mut record.text, Some(text));
            problem(
                &mut record.problems,
                Field::Effective,
                "onsetString is free text, not a date",
            );
            None
        }
    };
    record.abatement = match &condition.abatement {
        None => None,
        Some(ConditionAbatement::DateTime(date_time)) => read_date_time(
            date_time,
            "abatementDateTime",
            Field::Abatement,
            &mut record.problems,
        ),
        Some(ConditionAbatement::Period(period)) => read_period(
            period,
            "abatementPeriod",
            Field::Abatement,
            &mut record.problems,
        ),
        Some(ConditionAbatement::Age(_)) => {
            problem(
                &mut record.problems,
                Field::Abatement,
                "abatementAge is an age, not a date",
            );
            None
        }
        Some(ConditionAbatement::Range(_)) => {
            problem(
                &mut record.problems,
                Field::Abatement,
                "abatementRange is an age range, not a date",
            );
            None
        }
        Some(ConditionAbatement::String(_)) => {
            // Abated, at no readable date. The words are not added to `text`: "bleeding stopped"
            // is not a bleed.
            problem(
                &mut record.problems,
                Field::Abatement,
                "abatementString is free text, not a date",
            );
            None
        }
    };
    record.recorded = condition.recorded_date.as_ref().and_then(|date_time| {
        read_date_time(
            date_time,
            "recordedDate",
            Field::Recorded,
            &mut record.problems,
        )
    });
    read_notes(&condition.note, &mut record.text);
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

fn map_diagnostic_report(
    object: &Map<String, Json>,
    index: usize,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<Record> {
    let required = [
        ("status", Json::from("unknown")),
        ("code", Json::Object(Map::new())),
    ];
    let (report, salvaged) =
        parse_salvaging::<DiagnosticReport>(object, index, &required, diagnostics)?;
    let mut record = Record::new(
        RecordKind::DiagnosticReport,
        report.id.clone().unwrap_or_default(),
    );
    read_concept(&report.code, &mut record.codes, &mut record.text);
    for concept in report.conclusion_code.iter().flatten() {
        read_concept(concept, &mut record.codes, &mut record.text);
    }
    push_text(&mut record.text, report.conclusion.as_deref());
    record.status = Some(report.status.to_string());
    record.effective = match &report.effective {
        None => None,
        Some(DiagnosticReportEffective::DateTime(date_time)) => read_date_time(
            date_time,
            "effectiveDateTime",
            Field::Effective,
            &mut record.problems,
        ),
        Some(DiagnosticReportEffective::Period(period)) => read_period(
            period,
            "effectivePeriod",
            Field::Effective,
            &mut record.problems,
        ),
    };
    record.recorded = report.issued.as_ref().map(when_from_instant);
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

fn map_patient(
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
    Some(PatientSummary {
        id: patient.id.clone(),
    })
}

// ---------------------------------------------------------------------------------------------
// Parsing with fhir-sdk, plus salvage
// ---------------------------------------------------------------------------------------------

/// `Some((resourceType, object))` when the value looks like a FHIR resource.
fn as_resource(value: &Json) -> Option<(&str, &Map<String, Json>)> {
    let object = value.as_object()?;
    let resource_type = object.get("resourceType")?.as_str()?;
    Some((resource_type, object))
}

fn string_field(object: &Map<String, Json>, key: &str) -> Option<String> {
    object.get(key).and_then(Json::as_str).map(str::to_owned)
}

/// Refuses a resource carrying a `modifierExtension` anywhere (we understand none of them).
fn refuse_modifier_extension(
    resource_type: &str,
    object: &Map<String, Json>,
    index: usize,
) -> Option<Diagnostic> {
    if !has_modifier_extension(object) {
        return None;
    }
    let id = string_field(object, "id").unwrap_or_default();
    Some(Diagnostic {
        resource_type: resource_type.to_owned(),
        index,
        kind: DiagnosticKind::ModifierExtension,
        message: format!(
            "resource {id:?} refused: it has a modifierExtension, which may change its meaning"
        ),
    })
}

fn has_modifier_extension(object: &Map<String, Json>) -> bool {
    object.iter().any(|(key, value)| {
        if key == "modifierExtension" {
            return !matches!(value, Json::Array(items) if items.is_empty());
        }
        // Contained resources are not read, so their modifiers do not change what we read.
        if key == "contained" {
            return false;
        }
        json_has_modifier_extension(value)
    })
}

fn json_has_modifier_extension(value: &Json) -> bool {
    match value {
        Json::Object(object) => has_modifier_extension(object),
        Json::Array(items) => items.iter().any(json_has_modifier_extension),
        _ => false,
    }
}

fn unparseable(object: &Map<String, Json>, index: usize, error: &serde_json::Error) -> Diagnostic {
    let resource_type = string_field(object, "resourceType").unwrap_or_default();
    let id = string_field(object, "id").unwrap_or_default();
    Diagnostic {
        resource_type,
        index,
        kind: DiagnosticKind::Unparseable,
        message: format!(
            "resource {id:?} skipped: not valid FHIR R4B ({})",
            redact(&error.to_string())
        ),
    }
}

/// A top-level element that had to be replaced or dropped for the resource to parse.
#[derive(Debug)]
struct Salvaged {
    key: String,
    /// True when the element was absent (a required element), false when present but unreadable.
    missing: bool,
}

/// Parses a resource with fhir-sdk. If that fails, finds the top-level elements that break it
/// and parses the resource without them (a required element is replaced by a neutral placeholder).
///
/// An element "breaks" the resource when a minimal resource (`resourceType` plus the required
/// placeholders) with only that element added does not parse. Checking elements one at a time
/// finds every bad element, however many there are, in one pass.
///
/// Returns the parsed resource and the elements that were salvaged; the caller must not trust
/// what the parsed resource says for those elements (see [`apply_salvage`]).
fn parse_salvaging<T: DeserializeOwned>(
    object: &Map<String, Json>,
    index: usize,
    required: &[(&str, Json)],
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<(T, Vec<Salvaged>)> {
    let placeholder = |key: &str| {
        required
            .iter()
            .find(|(name, _)| *name == key)
            .map(|(_, placeholder)| placeholder.clone())
    };
    // The resource with its missing required elements filled in. Usually none is missing, and
    // the resource is read where it lies, without a copy: this is the hot path of every call.
    let mut filled: Option<Map<String, Json>> = None;
    let mut salvaged = Vec::new();
    for (key, value) in required {
        if !object.contains_key(*key) {
            filled
                .get_or_insert_with(|| object.clone())
                .insert((*key).to_owned(), value.clone());
            salvaged.push(Salvaged {
                key: (*key).to_owned(),
                missing: true,
            });
        }
    }
    let first_error = match T::deserialize(filled.as_ref().unwrap_or(object)) {
        Ok(parsed) => return Some((parsed, salvaged)),
        Err(error) => error,
    };
    let base = filled.unwrap_or_else(|| object.clone());

    let mut minimal = Map::new();
    minimal.insert("resourceType".to_owned(), base["resourceType"].clone());
    for (key, value) in required {
        minimal.insert((*key).to_owned(), value.clone());
    }
    let breaks = |key: &String, value: &Json| {
        let mut probe = minimal.clone();
        probe.insert(key.clone(), value.clone());
        serde_json::from_value::<T>(Json::Object(probe)).is_err()
    };
    let bad: Vec<String> = base
        .iter()
        .filter(|(key, value)| *key != "resourceType" && breaks(key, value))
        .map(|(key, _)| key.clone())
        .collect();
    let mut candidate = base;
    for key in &bad {
        match placeholder(key) {
            Some(value) => candidate.insert(key.clone(), value),
            None => candidate.remove(key),
        };
    }
    match serde_json::from_value::<T>(Json::Object(candidate)) {
        Ok(parsed) if !bad.is_empty() => {
            salvaged.extend(bad.into_iter().map(|key| Salvaged {
                key,
                missing: false,
            }));
            Some((parsed, salvaged))
        }
        _ => {
            diagnostics.push(unparseable(object, index, &first_error));
            None
        }
    }
}

/// Which record field a top-level element feeds, if any.
fn field_of(key: &str) -> Option<Field> {
    Some(match key {
        "code" | "conclusionCode" | "conclusion" | "note" => Field::Code,
        "status" => Field::Status,
        "clinicalStatus" => Field::ClinicalStatus,
        "verificationStatus" => Field::VerificationStatus,
        "issued" | "recordedDate" => Field::Recorded,
        _ if is_choice_of(key, "effective") || is_choice_of(key, "onset") => Field::Effective,
        _ if is_choice_of(key, "abatement") => Field::Abatement,
        _ if is_choice_of(key, "value") => Field::Value,
        _ => return None,
    })
}

/// Undoes placeholders and records a `Problem` (or a diagnostic) for each salvaged element.
fn apply_salvage(
    record: &mut Record,
    object: &Map<String, Json>,
    salvaged: &[Salvaged],
    resource_type: &str,
    index: usize,
) {
    for Salvaged { key, missing } in salvaged {
        let field = field_of(key);
        match field {
            Some(Field::Status) => record.status = None,
            Some(Field::Code) if key == "code" => {
                // The placeholder `{}` gave no codes; keep `code.text` if it is readable.
                if let Some(text) = object
                    .get("code")
                    .and_then(|code| code.get("text"))
                    .and_then(Json::as_str)
                {
                    push_text(&mut record.text, Some(text));
                }
            }
            _ => {}
        }
        let state = if *missing {
            "is missing"
        } else {
            "could not be read"
        };
        match field {
            Some(field) => problem(&mut record.problems, field, &format!("{key} {state}")),
            None if *missing => {}
            // An element the engine does not read cannot change a card, so it is not reported:
            // the fast reader (crate::fast), which skips such elements unchecked, must give the
            // same answer as this one.
            None => tracing::debug!(
                resource_type,
                index,
                element = %key,
                "an element the engine does not read is not valid FHIR R4B; ignored"
            ),
        }
    }
}

/// True for `valueQuantity` given `value`: the prefix followed by a type name (capitalised).
fn is_choice_of(key: &str, prefix: &str) -> bool {
    key.strip_prefix(prefix)
        .and_then(|rest| rest.chars().next())
        .is_some_and(char::is_uppercase)
}

/// The strictness fhir-sdk lacks: a `prefix[x]` key present in the JSON that did not parse.
fn check_choice(
    object: &Map<String, Json>,
    prefix: &str,
    parsed: bool,
    field: Field,
    problems: &mut Vec<Problem>,
) {
    let keys: Vec<&String> = object
        .keys()
        .filter(|key| is_choice_of(key, prefix))
        .collect();
    match keys.as_slice() {
        [] => {}
        [key] if !parsed => problem(problems, field, &format!("{key} could not be read")),
        [_] => {}
        _ => problem(
            problems,
            field,
            &format!("more than one {prefix}[x] element"),
        ),
    }
}

pub(crate) fn problem(problems: &mut Vec<Problem>, field: Field, message: &str) {
    problems.push(Problem {
        field,
        message: message.to_owned(),
    });
}

// ---------------------------------------------------------------------------------------------
// Elements
// ---------------------------------------------------------------------------------------------

/// Adds a concept's codings to `codes` and its text and coding displays to `text`.
fn read_concept(concept: &CodeableConcept, codes: &mut Vec<Code>, text: &mut Vec<String>) {
    push_text(text, concept.text.as_deref());
    for coding in concept.coding.iter().flatten() {
        push_text(text, coding.display.as_deref());
        if let Some(code) = &coding.code {
            codes.push(Code {
                system: coding.system.clone().unwrap_or_default(),
                code: code.clone(),
                display: coding.display.clone(),
            });
        }
    }
}

/// Adds non-empty text once.
pub(crate) fn push_text(text: &mut Vec<String>, value: Option<&str>) {
    if let Some(value) = value.map(str::trim).filter(|value| !value.is_empty())
        && !text.iter().any(|existing| existing == value)
    {
        text.push(value.to_owned());
    }
}

fn read_notes(notes: &[Option<Annotation>], text: &mut Vec<String>) {
    for note in notes.iter().flatten() {
        push_text(text, Some(&note.text));
    }
}

/// The code of a status CodeableConcept, preferring the coding from the expected code system.
fn read_status_concept(
    concept: Option<&CodeableConcept>,
    system_suffix: &str,
    field: Field,
    problems: &mut Vec<Problem>,
) -> Option<String> {
    let concept = concept?;
    let codings: Vec<_> = concept.coding.iter().flatten().collect();
    let preferred = codings
        .iter()
        .find(|coding| {
            coding
                .system
                .as_deref()
                .is_some_and(|system| system.ends_with(system_suffix))
        })
        .or_else(|| codings.first())
        .and_then(|coding| coding.code.clone());
    if preferred.is_none() {
        problem(problems, field, "status concept has no code");
    }
    preferred
}

fn read_observation_effective(
    effective: &ObservationEffective,
    problems: &mut Vec<Problem>,
) -> Option<When> {
    match effective {
        ObservationEffective::DateTime(date_time) => {
            read_date_time(date_time, "effectiveDateTime", Field::Effective, problems)
        }
        ObservationEffective::Period(period) => {
            read_period(period, "effectivePeriod", Field::Effective, problems)
        }
        ObservationEffective::Instant(instant) => Some(when_from_instant(instant)),
        ObservationEffective::Timing(_) => {
            problem(
                problems,
                Field::Effective,
                "effectiveTiming is a schedule, not a date",
            );
            None
        }
    }
}

fn read_observation_value(
    value: &ObservationValue,
    text: &mut Vec<String>,
    problems: &mut Vec<Problem>,
) -> Option<Value> {
    Some(match value {
        ObservationValue::Quantity(quantity) => {
            let Some(number) = quantity.value else {
                problem(problems, Field::Value, "valueQuantity has no value");
                return None;
            };
            // `<5` or `>10000` is a bound, not a measurement; facts::Value has no comparator, so
            // the number is kept and the engine is told it is not exact.
            if let Some(comparator) = &quantity.comparator {
                problem(
                    problems,
                    Field::Value,
                    &format!("valueQuantity is a bound ({comparator}), not an exact value"),
                );
            }
            Value::Quantity {
                value: number,
                unit: quantity.unit.clone(),
                code: quantity.code.clone(),
                comparator: quantity.comparator.as_ref().map(ToString::to_string),
            }
        }
        ObservationValue::CodeableConcept(concept) => {
            let mut codes = Vec::new();
            let mut ignored = Vec::new();
            read_concept(concept, &mut codes, &mut ignored);
            Value::Concept {
                codes,
                text: concept.text.clone(),
            }
        }
        ObservationValue::String(string) => {
            push_text(text, Some(string));
            Value::String(string.clone())
        }
        ObservationValue::Boolean(boolean) => Value::Boolean(*boolean),
        ObservationValue::Integer(integer) => Value::Integer(i64::from(*integer)),
        ObservationValue::DateTime(date_time) => Value::DateTime(read_date_time(
            date_time,
            "valueDateTime",
            Field::Value,
            problems,
        )?),
        ObservationValue::Range(_) => Value::Other("Range"),
        ObservationValue::Ratio(_) => Value::Other("Ratio"),
        ObservationValue::SampledData(_) => Value::Other("SampledData"),
        ObservationValue::Time(_) => Value::Other("Time"),
        ObservationValue::Period(_) => Value::Other("Period"),
    })
}

/// A Period's start (or its end when it has no start).
fn read_period(
    period: &Period,
    name: &str,
    field: Field,
    problems: &mut Vec<Problem>,
) -> Option<When> {
    let Some(date_time) = period.start.as_ref().or(period.end.as_ref()) else {
        problem(
            problems,
            field,
            &format!("{name} has neither start nor end"),
        );
        return None;
    };
    read_date_time(date_time, name, field, problems)
}

pub(crate) fn read_date_time(
    date_time: &FhirDateTime,
    name: &str,
    field: Field,
    problems: &mut Vec<Problem>,
) -> Option<When> {
    let when = when_from_date_time(date_time);
    if when.is_none() {
        problem(problems, field, &format!("{name} is out of range"));
    }
    when
}

/// A FHIR date or dateTime as a `When`: partial dates keep their precision; a time keeps the
/// offset it was written with (see [`when_from_instant`]).
pub(crate) fn when_from_date_time(date_time: &FhirDateTime) -> Option<When> {
    match date_time {
        FhirDateTime::Date(date) => when_from_date(date),
        FhirDateTime::DateTime(instant) => Some(when_from_instant(instant)),
    }
}

fn when_from_date(date: &FhirDate) -> Option<When> {
    let (day, precision) = match date {
        FhirDate::Year(year) => (
            time::Date::from_calendar_date(*year, Month::January, 1).ok()?,
            Precision::Year,
        ),
        FhirDate::YearMonth(year, month) => (
            time::Date::from_calendar_date(*year, *month, 1).ok()?,
            Precision::Month,
        ),
        FhirDate::Date(date) => (*date, Precision::Day),
    };
    Some(When {
        at: day.midnight().assume_utc(),
        precision,
    })
}

/// A time as a `When`, in the offset the record was written with. Gestational age is counted on
/// calendar dates as the record states them (knowledge.md §3.5 item 3): a bleed charted at
/// `2025-06-15T00:30:00+02:00` happened on 15 June, although it was still 14 June in UTC. The
/// instant is unchanged, so intervals between times (hCG 48 hours apart) are still exact.
pub(crate) fn when_from_instant(instant: &FhirInstant) -> When {
    When {
        at: instant.0,
        precision: Precision::Time,
    }
}

#[cfg(test)]
mod tests;
