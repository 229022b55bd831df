//! Draft orders (`context.draftOrders`) read into the engine's [`DraftOrder`]s: each request's
//! drug or service, the Medication it references (contained or sent beside it), and why it is
//! given, read from the JSON itself so that an order fhir-sdk rejects is still read, element by
//! element, rather than dropped.

use fhir_sdk::r4b::resources::{MedicationRequest, MedicationRequestMedication, ServiceRequest};
use fhir_sdk::r4b::types::CodeableConcept;
use gravida_rules::facts::DraftOrder;
use serde_json::{Map, Value as Json};

use super::salvage::{as_resource, refuse_modifier_extension, string_field, unparseable};
use super::views::read_concept;
use crate::diagnostic::{Diagnostic, DiagnosticKind};
use crate::element::{self, push_text};

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
pub(super) fn bundle_resources(value: &Json) -> Vec<&Json> {
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
