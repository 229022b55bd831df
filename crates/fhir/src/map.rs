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

use std::borrow::Cow;
use std::collections::BTreeMap;

use fhir_sdk::r4b::resources::{
    Condition, ConditionAbatement, ConditionOnset, DiagnosticReport, DiagnosticReportEffective,
    Encounter, MedicationRequest, MedicationRequestMedication, Observation,
    ObservationComponentValue, ObservationEffective, ObservationValue, Patient, Procedure,
    ProcedurePerformed, ServiceRequest,
};
use fhir_sdk::r4b::types::{Annotation, CodeableConcept, Coding, Period, Quantity};
use gravida_rules::facts::{Code, DraftOrder, Field, PatientFacts, Problem, Record, RecordKind};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value as Json};

use crate::diagnostic::{Diagnostic, DiagnosticKind, redact};
use crate::element::{self, Dated, PatientSummary, Text, ValueX, problem, push_text};

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
        let mut order = match resource_type {
            "MedicationRequest" => {
                match serde_json::from_value::<MedicationRequest>(Json::Object(object.clone())) {
                    Ok(request) => {
                        let mut order = DraftOrder {
                            resource_type: resource_type.to_owned(),
                            id: request.id.clone().unwrap_or_default(),
                            codes: Vec::new(),
                            text: Vec::new(),
                            status: Some(request.status.clone()),
                            reasons: Vec::new(),
                            ..Default::default()
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
                            reasons: Vec::new(),
                            ..Default::default()
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
        read_reasons(object, &mut order);
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
        reasons: Vec::new(),
        ..Default::default()
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

/// Why and how an order is given, as written: each `reasonCode`'s text, displays and codes, each
/// `reasonReference`'s display (a reason charted as a Condition: "Suspected failed pregnancy")
/// and reference, and each `dosageInstruction`'s text. Read from the JSON itself, so that an order fhir-sdk rejects still
/// says why it was written (knowledge.md §3.6 W10: methotrexate for rheumatoid arthritis).
fn read_reasons(object: &Map<String, Json>, order: &mut DraftOrder) {
    for reason in object
        .get("reasonCode")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
    {
        push_text(
            &mut order.reasons,
            reason.get("text").and_then(Json::as_str),
        );
        for coding in reason
            .get("coding")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
        {
            let display = coding.get("display").and_then(Json::as_str);
            push_text(&mut order.reasons, display);
            // A reason sent only as a code (O02.1 under the ICD-10-CM OID) is a reason too.
            if let Some(code) = coding.get("code").and_then(Json::as_str) {
                let system = coding
                    .get("system")
                    .and_then(Json::as_str)
                    .unwrap_or_default();
                order
                    .reason_codes
                    .push(element::code_named(system, code, display));
            }
        }
    }
    for reason in object
        .get("reasonReference")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
    {
        push_text(
            &mut order.reasons,
            reason.get("display").and_then(Json::as_str),
        );
        if let Some(reference) = reason.get("reference").and_then(Json::as_str) {
            order.reason_references.push(reference.to_owned());
        }
    }
    for dosage in object
        .get("dosageInstruction")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
    {
        push_text(
            &mut order.reasons,
            dosage.get("text").and_then(Json::as_str),
        );
        // A structured once-a-week schedule says "weekly" as plainly as the text would.
        let repeat = dosage.get("timing").and_then(|t| t.get("repeat"));
        let unit = repeat
            .and_then(|r| r.get("periodUnit"))
            .and_then(Json::as_str);
        let period = repeat.and_then(|r| r.get("period")).and_then(Json::as_f64);
        if unit == Some("wk") && period == Some(1.0) {
            push_text(&mut order.reasons, Some("weekly"));
        }
    }
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

/// An element fhir-sdk's model requires, with the neutral placeholder that stands in for it when
/// it is missing or unreadable.
struct Required {
    key: &'static str,
    placeholder: Json,
    /// Whether a missing one is a problem on the record (a missing `status` is; a missing
    /// `subject` or `Encounter.class` is not: nothing the engine reads is lost).
    report_missing: bool,
}

impl Required {
    fn reported(key: &'static str, placeholder: Json) -> Self {
        Required {
            key,
            placeholder,
            report_missing: true,
        }
    }

    fn silent(key: &'static str, placeholder: Json) -> Self {
        Required {
            key,
            placeholder,
            report_missing: false,
        }
    }
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
    required: &[Required],
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<(T, Vec<Salvaged>)> {
    let placeholder = |key: &str| {
        required
            .iter()
            .find(|required| required.key == key)
            .map(|required| required.placeholder.clone())
    };
    // The resource with its missing required elements filled in. Usually none is missing, and
    // the resource is read where it lies, without a copy: this is the hot path of every call.
    let mut filled: Option<Map<String, Json>> = None;
    let mut salvaged = Vec::new();
    for Required {
        key,
        placeholder,
        report_missing,
    } in required
    {
        if !object.contains_key(*key) {
            filled
                .get_or_insert_with(|| object.clone())
                .insert((*key).to_owned(), placeholder.clone());
            if *report_missing {
                salvaged.push(Salvaged {
                    key: (*key).to_owned(),
                    missing: true,
                });
            }
        }
    }
    let first_error = match T::deserialize(filled.as_ref().unwrap_or(object)) {
        Ok(parsed) => return Some((parsed, salvaged)),
        Err(error) => error,
    };
    let base = filled.unwrap_or_else(|| object.clone());

    let mut minimal = Map::new();
    minimal.insert("resourceType".to_owned(), base["resourceType"].clone());
    for required in required {
        minimal.insert(required.key.to_owned(), required.placeholder.clone());
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

/// Which record field a top-level element of a resource kind feeds, if any (see
/// [`crate::element`] for what each kind reads).
fn field_of(kind: RecordKind, key: &str) -> Option<Field> {
    use RecordKind::{
        Condition, DiagnosticReport, Encounter, Immunization, MedicationAdministration,
        MedicationRequest, MedicationStatement, Observation, Procedure,
    };
    Some(match (kind, key) {
        (Observation | DiagnosticReport | Encounter | Procedure, "status") => Field::Status,
        (_, "status") if kind.is_medication() => Field::Status,
        (Observation | Condition | Procedure, "code" | "note") => Field::Code,
        (DiagnosticReport, "code" | "conclusionCode" | "conclusion") => Field::Code,
        (Encounter | Procedure, "reasonCode") => Field::Code,
        (_, "reasonCode" | "note") if kind.is_medication() => Field::Code,
        (Immunization, "vaccineCode") => Field::Code,
        (MedicationAdministration | MedicationStatement | MedicationRequest, _)
            if is_choice_of(key, "medication") =>
        {
            Field::Code
        }
        (MedicationAdministration | MedicationStatement, _) if is_choice_of(key, "effective") => {
            Field::Effective
        }
        (Immunization, _) if is_choice_of(key, "occurrence") => Field::Effective,
        (MedicationRequest, "authoredOn") => Field::Recorded,
        (Condition, "clinicalStatus") => Field::ClinicalStatus,
        (Condition, "verificationStatus") => Field::VerificationStatus,
        (Observation | DiagnosticReport, "issued") | (Condition, "recordedDate") => Field::Recorded,
        (Observation | DiagnosticReport, _) if is_choice_of(key, "effective") => Field::Effective,
        (Condition, _) if is_choice_of(key, "onset") => Field::Effective,
        (Procedure, _) if is_choice_of(key, "performed") => Field::Effective,
        (Encounter, "period") => Field::Effective,
        (Condition, _) if is_choice_of(key, "abatement") => Field::Abatement,
        (Observation, _) if is_choice_of(key, "value") => Field::Value,
        (Observation, "component") => Field::Component,
        (Observation | Procedure, "category") | (Encounter, "class" | "type") => Field::Category,
        (Encounter, "reasonReference") => Field::Reference,
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
        let field = field_of(record.kind, key);
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
    check_choice_in(object, "", prefix, parsed, field, problems);
}

/// [`check_choice`] inside an element; `path` (`component.`) prefixes the names in problems.
fn check_choice_in(
    object: &Map<String, Json>,
    path: &str,
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
        [key] if !parsed => problem(problems, field, &format!("{path}{key} could not be read")),
        [_] => {}
        _ => problem(
            problems,
            field,
            &format!("more than one {path}{prefix}[x] element"),
        ),
    }
}

// ---------------------------------------------------------------------------------------------
// One resource type at a time: fhir-sdk's model into the element views, then crate::element
// ---------------------------------------------------------------------------------------------

fn map_observation(
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

fn map_condition(
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

fn map_diagnostic_report(
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

fn map_encounter(
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

fn map_procedure(
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
    Some(element::patient(borrowed(&patient.id)))
}

// ---------------------------------------------------------------------------------------------
// fhir-sdk's elements as the element views
// ---------------------------------------------------------------------------------------------

fn borrowed(text: &Option<String>) -> Option<Text<'_>> {
    text.as_deref().map(Cow::Borrowed)
}

fn coding(coding: &Coding) -> element::Coding<'_> {
    element::Coding {
        system: borrowed(&coding.system),
        code: borrowed(&coding.code),
        display: borrowed(&coding.display),
    }
}

fn concept(concept: &CodeableConcept) -> element::Concept<'_> {
    element::Concept {
        text: borrowed(&concept.text),
        coding: concept.coding.iter().flatten().map(coding).collect(),
    }
}

fn concepts(concepts: &[Option<CodeableConcept>]) -> Vec<element::Concept<'_>> {
    concepts.iter().flatten().map(concept).collect()
}

fn period(period: &Period) -> element::Period {
    element::Period {
        start: period.start.clone(),
        end: period.end.clone(),
    }
}

fn quantity(quantity: &Quantity) -> element::Quantity<'_> {
    element::Quantity {
        value: quantity.value,
        comparator: quantity.comparator,
        unit: borrowed(&quantity.unit),
        code: borrowed(&quantity.code),
    }
}

fn notes(notes: &[Option<Annotation>]) -> Vec<element::Annotation<'_>> {
    notes
        .iter()
        .flatten()
        .map(|note| element::Annotation {
            text: Cow::Borrowed(&note.text),
        })
        .collect()
}

/// A `value[x]` as its view. fhir-sdk has one enum per element (the Observation's, a
/// component's) with the same variants, hence a macro rather than a function.
macro_rules! value_x {
    ($value:expr, $enum:ident) => {
        match $value {
            $enum::Quantity(q) => ValueX::Quantity(quantity(q)),
            $enum::CodeableConcept(c) => ValueX::Concept(concept(c)),
            $enum::String(string) => ValueX::String(Cow::Borrowed(string)),
            $enum::Boolean(boolean) => ValueX::Boolean(*boolean),
            $enum::Integer(integer) => ValueX::Integer(*integer),
            $enum::DateTime(date_time) => ValueX::DateTime(date_time.clone()),
            $enum::Range(_) => ValueX::Other("Range"),
            $enum::Ratio(_) => ValueX::Other("Ratio"),
            $enum::SampledData(_) => ValueX::Other("SampledData"),
            $enum::Time(_) => ValueX::Other("Time"),
            $enum::Period(_) => ValueX::Other("Period"),
        }
    };
}

fn observation_value(value: &ObservationValue) -> ValueX<'_> {
    value_x!(value, ObservationValue)
}

fn component_value(value: &ObservationComponentValue) -> ValueX<'_> {
    value_x!(value, ObservationComponentValue)
}

/// Adds a concept's codings and text (for draft orders).
fn read_concept(concept_: &CodeableConcept, codes: &mut Vec<Code>, text: &mut Vec<String>) {
    element::read_concept(&concept(concept_), codes, text);
}

mod medication;

#[cfg(test)]
mod tests;
