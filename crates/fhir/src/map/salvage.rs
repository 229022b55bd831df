//! Parsing with fhir-sdk, plus the strictness it lacks: a resource refused for a
//! `modifierExtension`, a resource fhir-sdk rejects salvaged element by element
//! ([`parse_salvaging`], then [`apply_salvage`] names what was lost on the record), and a choice
//! element (`value[x]`, …) that is present but parsed to nothing made a problem
//! ([`check_choice`]).

use gravida_rules::facts::{Field, Problem, Record, RecordKind};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value as Json};

use crate::diagnostic::{Diagnostic, DiagnosticKind, redact};
use crate::element::{problem, push_text};

/// `Some((resourceType, object))` when the value looks like a FHIR resource.
pub(super) fn as_resource(value: &Json) -> Option<(&str, &Map<String, Json>)> {
    let object = value.as_object()?;
    let resource_type = object.get("resourceType")?.as_str()?;
    Some((resource_type, object))
}

pub(super) fn string_field(object: &Map<String, Json>, key: &str) -> Option<String> {
    object.get(key).and_then(Json::as_str).map(str::to_owned)
}

/// Refuses a resource carrying a `modifierExtension` anywhere (we understand none of them).
pub(super) fn refuse_modifier_extension(
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

pub(super) fn unparseable(
    object: &Map<String, Json>,
    index: usize,
    error: &serde_json::Error,
) -> Diagnostic {
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
pub(super) struct Salvaged {
    key: String,
    /// True when the element was absent (a required element), false when present but unreadable.
    missing: bool,
}

/// An element fhir-sdk's model requires, with the neutral placeholder that stands in for it when
/// it is missing or unreadable.
pub(super) struct Required {
    key: &'static str,
    placeholder: Json,
    /// Whether a missing one is a problem on the record (a missing `status` is; a missing
    /// `subject` or `Encounter.class` is not: nothing the engine reads is lost).
    report_missing: bool,
}

impl Required {
    pub(super) fn reported(key: &'static str, placeholder: Json) -> Self {
        Required {
            key,
            placeholder,
            report_missing: true,
        }
    }

    pub(super) fn silent(key: &'static str, placeholder: Json) -> Self {
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
pub(super) fn parse_salvaging<T: DeserializeOwned>(
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
pub(super) fn apply_salvage(
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
pub(super) fn check_choice(
    object: &Map<String, Json>,
    prefix: &str,
    parsed: bool,
    field: Field,
    problems: &mut Vec<Problem>,
) {
    check_choice_in(object, "", prefix, parsed, field, problems);
}

/// [`check_choice`] inside an element; `path` (`component.`) prefixes the names in problems.
pub(super) fn check_choice_in(
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
