//! The invariant "the fast reader declines or agrees", checked on every element the engine reads.
//!
//! The table below has one sample resource per element (each choice type, each value type,
//! components, categories, reasons, `performed[x]`, …). Each sample is read by both readers: the
//! fast reader must accept it and give exactly the reference reader's record, and the record must
//! have the field the sample is for. A second test checks that every field of `Record` and
//! `Component` is filled by at least one sample, so a new field without a sample fails here.

use gravida_rules::facts::{Code, Component, Field, Precision, Problem, Record, RecordKind, Value};
use serde_json::{Value as Json, json};

use crate::element::PatientSummary;
use crate::fast::{FastRead, read_resource_json};
use crate::map::facts_from_resources;

/// What the reference reader gives for one resource: its record or patient, with no diagnostic.
fn by_reference(resource: &Json) -> FastRead {
    let mut mapped = facts_from_resources([resource]);
    assert!(
        mapped.diagnostics.is_empty(),
        "the reference reader reported {:?} for {resource}",
        mapped.diagnostics
    );
    match (mapped.facts.records.pop(), mapped.patient) {
        (Some(record), None) => FastRead::Record(record),
        (None, Some(patient)) => FastRead::Patient(patient),
        _ => FastRead::Ignored,
    }
}

/// Reads one resource with both readers; panics unless the fast reader accepts it and agrees.
fn both(resource: &Json) -> FastRead {
    let reference = by_reference(resource);
    let fast = read_resource_json(&resource.to_string())
        .unwrap_or_else(|| panic!("the fast reader declined {resource}"));
    assert_eq!(fast.read, reference, "the readers disagree on {resource}");
    reference
}

/// [`both`], for a resource that gives a record.
fn record(resource: &Json) -> Record {
    match both(resource) {
        FastRead::Record(record) => record,
        other => panic!("{resource} gave {other:?}, not a record"),
    }
}

fn resource(resource_type: &str, extra: Json) -> Json {
    let mut resource = json!({"resourceType": resource_type, "id": "r1",
        "subject": {"reference": "Patient/p1"}});
    let required = match resource_type {
        "Observation" | "DiagnosticReport" => json!({"status": "final", "code": {"text": "x"}}),
        "Encounter" => json!({"status": "finished"}),
        "Procedure" => json!({"status": "completed"}),
        "MedicationAdministration" => json!({"status": "completed",
            "medicationCodeableConcept": {"text": "x"}, "effectiveDateTime": "2026-09-09"}),
        "MedicationStatement" => {
            json!({"status": "active", "medicationCodeableConcept": {"text": "x"}})
        }
        "MedicationRequest" => json!({"status": "active", "intent": "order",
            "medicationCodeableConcept": {"text": "x"}}),
        "Immunization" => json!({"status": "completed", "vaccineCode": {"text": "x"},
            "occurrenceDateTime": "2026-09-09"}),
        _ => json!({}),
    };
    // A `null` in `extra` removes the element (another type of the same choice replaces it).
    for extra in [required, extra] {
        for (key, value) in extra.as_object().expect("an object") {
            match value {
                Json::Null => drop(resource.as_object_mut().expect("an object").remove(key)),
                value => resource[key] = value.clone(),
            }
        }
    }
    resource
}

fn concept(system: &str, code: &str, display: &str) -> Json {
    json!({"coding": [{"system": system, "code": code, "display": display}], "text": display})
}

const LOINC: &str = "http://loinc.org";
const SNOMED: &str = "http://snomed.info/sct";

/// One sample per element the engine reads: `(element, the field it fills, resource)`. The field
/// is named as in [`filled`].
fn samples() -> Vec<(&'static str, &'static str, Json)> {
    let quantity = json!({"value": 120, "unit": "mmHg", "system": "http://unitsofmeasure.org", "code": "mm[Hg]"});
    let status = |system: &str, code: &str| {
        json!({"coding": [
            {"system": "http://example.org/local", "code": "local"},
            {"system": format!("http://terminology.hl7.org/CodeSystem/{system}"), "code": code}
        ]})
    };
    let component = |value: Json| {
        let mut component = json!({"code": concept(LOINC, "8480-6", "Systolic blood pressure")});
        for (key, value) in value.as_object().expect("an object") {
            component[key] = value.clone();
        }
        resource(
            "Observation",
            json!({"code": concept(LOINC, "85354-9", "Blood pressure panel"), "component": [component]}),
        )
    };
    vec![
        // Observation
        ("Observation.id", "id", resource("Observation", json!({}))),
        (
            "Observation.code",
            "codes",
            resource(
                "Observation",
                json!({"code": concept(LOINC, "8480-6", "Systolic")}),
            ),
        ),
        (
            "Observation.code.text",
            "text",
            resource("Observation", json!({"code": {"text": "spotting"}})),
        ),
        (
            "Observation.status",
            "status",
            resource("Observation", json!({"status": "amended"})),
        ),
        (
            "Observation.category",
            "category",
            resource(
                "Observation",
                json!({"category": [concept("http://terminology.hl7.org/CodeSystem/observation-category", "vital-signs", "Vital Signs")]}),
            ),
        ),
        (
            "Observation.effectiveDateTime",
            "effective",
            resource(
                "Observation",
                json!({"effectiveDateTime": "2026-09-30T10:00:00+02:00"}),
            ),
        ),
        (
            "Observation.effectivePeriod.start",
            "effective",
            resource(
                "Observation",
                json!({"effectivePeriod": {"start": "2026-09-01", "end": "2026-09-02"}}),
            ),
        ),
        (
            "Observation.effectivePeriod.end",
            "effective",
            resource(
                "Observation",
                json!({"effectivePeriod": {"end": "2026-09-02"}}),
            ),
        ),
        (
            "Observation.effectiveInstant",
            "effective",
            resource(
                "Observation",
                json!({"effectiveInstant": "2026-09-30T10:00:00Z"}),
            ),
        ),
        (
            "Observation.issued",
            "recorded",
            resource("Observation", json!({"issued": "2026-09-30T11:00:00Z"})),
        ),
        (
            "Observation.valueQuantity",
            "value",
            resource("Observation", json!({"valueQuantity": quantity})),
        ),
        (
            "Observation.valueQuantity.comparator",
            "problems",
            resource(
                "Observation",
                json!({"valueQuantity": {"value": 5, "comparator": "<", "unit": "mIU/mL"}}),
            ),
        ),
        (
            "Observation.valueCodeableConcept",
            "value",
            resource(
                "Observation",
                json!({"valueCodeableConcept": concept(SNOMED, "260385009", "Negative")}),
            ),
        ),
        (
            "Observation.valueString",
            "value",
            resource("Observation", json!({"valueString": "Rh Negative"})),
        ),
        (
            "Observation.valueString read as present",
            "presence",
            resource("Observation", json!({"valueString": "Present"})),
        ),
        (
            "Observation.valueCodeableConcept with only text, read as absent",
            "presence",
            resource(
                "Observation",
                json!({"valueCodeableConcept": {"text": "Not seen"}}),
            ),
        ),
        (
            "Observation.valueString as a gestational age",
            "value",
            resource("Observation", json!({"valueString": "10 weeks 2 days"})),
        ),
        (
            "Observation.valueQuantity in IU/mL",
            "value",
            resource(
                "Observation",
                json!({"valueQuantity": {"value": 1.62, "unit": "IU/mL", "system": "http://unitsofmeasure.org", "code": "[IU]/mL"}}),
            ),
        ),
        (
            "Observation.valueQuantity in a unit that cannot be converted",
            "problems",
            resource(
                "Observation",
                json!({"valueQuantity": {"value": 1.62, "unit": "[unit?]"}}),
            ),
        ),
        (
            "Observation.code under an OID",
            "codes",
            resource(
                "Observation",
                json!({"code": concept("urn:oid:2.16.840.1.113883.6.1", "21198-7", "hCG")}),
            ),
        ),
        (
            "Observation.valueBoolean",
            "value",
            resource("Observation", json!({"valueBoolean": true})),
        ),
        (
            "Observation.valueInteger",
            "value",
            resource("Observation", json!({"valueInteger": 2})),
        ),
        (
            "Observation.valueDateTime",
            "value",
            resource("Observation", json!({"valueDateTime": "2027-03-01"})),
        ),
        (
            "Observation.note",
            "text",
            resource(
                "Observation",
                json!({"note": [{"text": "bright red bleeding"}]}),
            ),
        ),
        (
            "Observation.component.code",
            "components",
            component(json!({})),
        ),
        (
            "Observation.component.code.text",
            "component.text",
            component(json!({})),
        ),
        (
            "Observation.component.code.coding",
            "component.codes",
            component(json!({})),
        ),
        (
            "Observation.component.valueQuantity",
            "component.value",
            component(json!({"valueQuantity": quantity})),
        ),
        (
            "Observation.component.valueQuantity.comparator",
            "problems",
            component(json!({"valueQuantity": {"value": 60, "comparator": ">"}})),
        ),
        (
            "Observation.component.valueCodeableConcept",
            "component.value",
            component(json!({"valueCodeableConcept": concept(SNOMED, "77386006", "Pregnant")})),
        ),
        (
            "Observation.component.valueString",
            "component.value",
            component(json!({"valueString": "not measured"})),
        ),
        (
            "Observation.component.valueBoolean",
            "component.value",
            component(json!({"valueBoolean": false})),
        ),
        (
            "Observation.component.valueInteger",
            "component.value",
            component(json!({"valueInteger": 84})),
        ),
        (
            "Observation.component.valueDateTime",
            "component.value",
            component(json!({"valueDateTime": "2027-03-01"})),
        ),
        // Condition
        (
            "Condition.code",
            "codes",
            resource(
                "Condition",
                json!({"code": concept(SNOMED, "289530006", "Bleeding from vagina")}),
            ),
        ),
        (
            "Condition.clinicalStatus",
            "clinical_status",
            resource(
                "Condition",
                json!({"clinicalStatus": status("condition-clinical", "active")}),
            ),
        ),
        (
            "Condition.verificationStatus",
            "verification_status",
            resource(
                "Condition",
                json!({"verificationStatus": status("condition-ver-status", "refuted")}),
            ),
        ),
        (
            "Condition.onsetDateTime",
            "effective",
            resource("Condition", json!({"onsetDateTime": "2026-09"})),
        ),
        (
            "Condition.onsetPeriod",
            "effective",
            resource("Condition", json!({"onsetPeriod": {"start": "2026-09-03"}})),
        ),
        (
            "Condition.onsetString",
            "text",
            resource(
                "Condition",
                json!({"onsetString": "spotting since Tuesday"}),
            ),
        ),
        (
            "Condition.abatementDateTime",
            "abatement",
            resource("Condition", json!({"abatementDateTime": "2026-09-04"})),
        ),
        (
            "Condition.abatementPeriod",
            "abatement",
            resource("Condition", json!({"abatementPeriod": {"end": "2026-10"}})),
        ),
        (
            "Condition.abatementString",
            "problems",
            resource("Condition", json!({"abatementString": "bleeding stopped"})),
        ),
        (
            "Condition.recordedDate",
            "recorded",
            resource(
                "Condition",
                json!({"recordedDate": "2026-09-05T11:00:00+01:00"}),
            ),
        ),
        (
            "Condition.note",
            "text",
            resource(
                "Condition",
                json!({"note": [{"text": "implantation bleeding", "time": "2026-09-05"}]}),
            ),
        ),
        // DiagnosticReport
        (
            "DiagnosticReport.code",
            "codes",
            resource(
                "DiagnosticReport",
                json!({"code": concept(LOINC, "11525-3", "US Pelvis")}),
            ),
        ),
        (
            "DiagnosticReport.status",
            "status",
            resource("DiagnosticReport", json!({"status": "partial"})),
        ),
        (
            "DiagnosticReport.conclusionCode",
            "codes",
            resource(
                "DiagnosticReport",
                json!({"code": {"text": "TVUS"}, "conclusionCode": [concept(SNOMED, "72892002", "Normal pregnancy")]}),
            ),
        ),
        (
            "DiagnosticReport.conclusion",
            "text",
            resource(
                "DiagnosticReport",
                json!({"conclusion": "Intrauterine pregnancy"}),
            ),
        ),
        (
            "DiagnosticReport.effectiveDateTime",
            "effective",
            resource(
                "DiagnosticReport",
                json!({"effectiveDateTime": "2026-09-07"}),
            ),
        ),
        (
            "DiagnosticReport.effectivePeriod",
            "effective",
            resource(
                "DiagnosticReport",
                json!({"effectivePeriod": {"start": "2026-09-06T09:00:00Z"}}),
            ),
        ),
        (
            "DiagnosticReport.issued",
            "recorded",
            resource(
                "DiagnosticReport",
                json!({"issued": "2026-09-06T10:00:00Z"}),
            ),
        ),
        // Encounter
        (
            "Encounter.status",
            "status",
            resource("Encounter", json!({"status": "in-progress"})),
        ),
        (
            "Encounter.class",
            "category",
            resource(
                "Encounter",
                json!({"class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "EMER", "display": "emergency"}}),
            ),
        ),
        (
            "Encounter.type",
            "category",
            resource(
                "Encounter",
                json!({"type": [concept(SNOMED, "50849002", "Emergency room admission")]}),
            ),
        ),
        (
            "Encounter.reasonCode",
            "codes",
            resource(
                "Encounter",
                json!({"reasonCode": [concept(SNOMED, "289530006", "Bleeding from vagina")]}),
            ),
        ),
        (
            "Encounter.reasonCode.text",
            "text",
            resource(
                "Encounter",
                json!({"reasonCode": [{"text": "vaginal bleeding"}]}),
            ),
        ),
        (
            "Encounter.reasonReference",
            "references",
            resource(
                "Encounter",
                json!({"reasonReference": [{"reference": "Condition/c1", "display": "bleeding"}]}),
            ),
        ),
        (
            "Encounter.period.start",
            "effective",
            resource(
                "Encounter",
                json!({"period": {"start": "2026-09-08T00:30:00+02:00"}}),
            ),
        ),
        (
            "Encounter.period.end",
            "effective",
            resource("Encounter", json!({"period": {"end": "2026-09-08"}})),
        ),
        // Procedure
        (
            "Procedure.code",
            "codes",
            resource(
                "Procedure",
                json!({"code": concept(SNOMED, "432246003", "Transvaginal ultrasound")}),
            ),
        ),
        (
            "Procedure.status",
            "status",
            resource("Procedure", json!({"status": "not-done"})),
        ),
        (
            "Procedure.category",
            "category",
            resource(
                "Procedure",
                json!({"category": concept(SNOMED, "103693007", "Diagnostic procedure")}),
            ),
        ),
        (
            "Procedure.performedDateTime",
            "effective",
            resource(
                "Procedure",
                json!({"performedDateTime": "2026-09-09T08:00:00Z"}),
            ),
        ),
        (
            "Procedure.performedPeriod",
            "effective",
            resource(
                "Procedure",
                json!({"performedPeriod": {"start": "2026-09-09", "end": "2026-09-10"}}),
            ),
        ),
        (
            "Procedure.performedString",
            "text",
            resource(
                "Procedure",
                json!({"performedString": "anti-D given at booking"}),
            ),
        ),
        (
            "Procedure.note",
            "text",
            resource(
                "Procedure",
                json!({"note": [{"text": "scan limited by habitus"}]}),
            ),
        ),
        (
            "Procedure.reasonCode",
            "codes",
            resource(
                "Procedure",
                json!({"code": {"text": "Evacuation of uterus"},
                    "reasonCode": [concept("http://hl7.org/fhir/sid/icd-10-cm", "O03.4", "Incomplete miscarriage")]}),
            ),
        ),
        // Medication records (knowledge.md §3.6 items 10, 21)
        (
            "MedicationAdministration.medicationCodeableConcept",
            "codes",
            resource(
                "MedicationAdministration",
                json!({"medicationCodeableConcept": concept(
                    "urn:oid:2.16.840.1.113883.6.285", "J2790", "Rho(D) immune globulin 300 mcg")}),
            ),
        ),
        (
            "MedicationAdministration.effectivePeriod",
            "effective",
            resource(
                "MedicationAdministration",
                json!({"effectiveDateTime": null,
                    "effectivePeriod": {"start": "2026-09-09T08:00:00Z", "end": "2026-09-09T08:05:00Z"}}),
            ),
        ),
        (
            "MedicationAdministration.status",
            "status",
            resource("MedicationAdministration", json!({"status": "not-done"})),
        ),
        (
            "MedicationAdministration.note",
            "text",
            resource(
                "MedicationAdministration",
                json!({"note": [{"text": "RhoGAM given after the bleed"}]}),
            ),
        ),
        (
            "MedicationStatement.effectiveDateTime",
            "effective",
            resource(
                "MedicationStatement",
                json!({"effectiveDateTime": "2026-09-01"}),
            ),
        ),
        (
            "MedicationStatement.reasonCode",
            "text",
            resource(
                "MedicationStatement",
                json!({"reasonCode": [{"text": "Rh negative, antenatal prophylaxis"}]}),
            ),
        ),
        (
            "MedicationRequest.authoredOn",
            "recorded",
            resource("MedicationRequest", json!({"authoredOn": "2026-08-01"})),
        ),
        (
            "MedicationRequest.medicationCodeableConcept",
            "text",
            resource(
                "MedicationRequest",
                json!({"medicationCodeableConcept": {"text": "Enoxaparin 40 mg subcutaneous daily"}}),
            ),
        ),
        (
            "Immunization.vaccineCode",
            "codes",
            resource(
                "Immunization",
                json!({"vaccineCode": concept(
                    "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets", "J2791", "Rhophylac")}),
            ),
        ),
        (
            "Immunization.occurrenceString",
            "text",
            resource(
                "Immunization",
                json!({"occurrenceDateTime": null, "occurrenceString": "at 28 weeks"}),
            ),
        ),
        // Which kind of record each type gives
        ("Observation", "kind", resource("Observation", json!({}))),
        ("Condition", "kind", resource("Condition", json!({}))),
        (
            "DiagnosticReport",
            "kind",
            resource("DiagnosticReport", json!({})),
        ),
        ("Encounter", "kind", resource("Encounter", json!({}))),
        ("Procedure", "kind", resource("Procedure", json!({}))),
        (
            "MedicationAdministration",
            "kind",
            resource("MedicationAdministration", json!({})),
        ),
        (
            "MedicationStatement",
            "kind",
            resource("MedicationStatement", json!({})),
        ),
        (
            "MedicationRequest",
            "kind",
            resource("MedicationRequest", json!({})),
        ),
        ("Immunization", "kind", resource("Immunization", json!({}))),
    ]
}

/// The fields of a record (and of its components) that hold something, by name. The
/// destructuring is exhaustive: a new field of `Record` or `Component` does not compile here
/// until it is named, and once named, [`every_field_of_record_and_component_is_filled_by_a_sample`]
/// fails until a sample fills it.
fn filled(record: &Record) -> Vec<(&'static str, bool)> {
    let Record {
        kind,
        id,
        codes,
        text,
        status,
        category,
        clinical_status,
        verification_status,
        effective,
        abatement,
        recorded,
        value,
        presence,
        components,
        references,
        problems,
        // Set only for a resource with a modifierExtension, which the fast reader declines and
        // the reference reader reports: no sample of this table can have it (see
        // `a_resource_with_an_unknown_modifier_extension_is_kept_only_to_be_named`).
        not_interpreted: _,
    } = record;
    let mut fields = vec![
        // Always set; that every kind has a sample is checked on its own.
        (
            "kind",
            RecordKind::from_resource_type(kind.resource_type()) == Some(*kind),
        ),
        ("id", !id.is_empty()),
        ("codes", !codes.is_empty()),
        ("text", !text.is_empty()),
        ("status", status.is_some()),
        ("category", !category.is_empty()),
        ("clinical_status", clinical_status.is_some()),
        ("verification_status", verification_status.is_some()),
        ("effective", effective.is_some()),
        ("abatement", abatement.is_some()),
        ("recorded", recorded.is_some()),
        ("value", value.is_some()),
        ("presence", presence.is_some()),
        ("components", !components.is_empty()),
        ("references", !references.is_empty()),
        ("problems", !problems.is_empty()),
    ];
    let (mut codes, mut text, mut value) = (false, false, false);
    for component in components {
        let Component {
            codes: component_codes,
            text: component_text,
            value: component_value,
        } = component;
        codes |= !component_codes.is_empty();
        text |= !component_text.is_empty();
        value |= component_value.is_some();
    }
    fields.extend([
        ("component.codes", codes),
        ("component.text", text),
        ("component.value", value),
    ]);
    fields
}

#[test]
fn every_element_the_engine_reads_is_read_alike_by_both_readers() {
    for (element, field, resource) in samples() {
        let record = record(&resource);
        let filled = filled(&record);
        assert!(
            filled.iter().any(|(name, yes)| *name == field && *yes),
            "{element}: the record's {field} is empty: {record:?}"
        );
    }
}

#[test]
fn every_field_of_record_and_component_is_filled_by_a_sample() {
    let samples = samples();
    let records: Vec<Record> = samples.iter().map(|(_, _, r)| record(r)).collect();
    let names: Vec<&str> = filled(&records[0]).iter().map(|(name, _)| *name).collect();
    for name in names {
        assert!(
            records
                .iter()
                .any(|record| filled(record).contains(&(name, true))),
            "no sample fills {name}: add one to the table"
        );
        assert!(
            samples.iter().any(|(_, field, _)| *field == name),
            "no sample is for {name}"
        );
    }
    // Every kind of record is among the samples.
    for kind in [
        RecordKind::Observation,
        RecordKind::Condition,
        RecordKind::DiagnosticReport,
        RecordKind::Encounter,
        RecordKind::Procedure,
    ] {
        assert!(records.iter().any(|record| record.kind == kind), "{kind:?}");
    }
}

#[test]
fn a_patient_is_read_alike_by_both_readers() {
    let patient = json!({"resourceType": "Patient", "id": "p1", "gender": "female"});
    assert_eq!(
        both(&patient),
        FastRead::Patient(PatientSummary {
            id: Some("p1".into())
        })
    );
}

// ---------------------------------------------------------------------------------------------
// The new reads, on both paths
// ---------------------------------------------------------------------------------------------

fn code(system: &str, code: &str, display: &str) -> Code {
    Code {
        system: system.to_owned().into(),
        code: code.into(),
        display: Some(display.into()),
    }
}

fn problem_fields(record: &Record) -> Vec<(Field, &str)> {
    record
        .problems
        .iter()
        .map(|Problem { field, message }| (*field, message.as_str()))
        .collect()
}

#[test]
fn a_blood_pressure_panel_gives_its_category_and_its_systolic_and_diastolic_components() {
    let panel = resource(
        "Observation",
        json!({
            "code": concept(LOINC, "85354-9", "Blood pressure panel with all children optional"),
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}]}],
            "effectiveDateTime": "2026-09-30T10:00:00+02:00",
            "component": [
                {"code": concept(LOINC, "8480-6", "Systolic blood pressure"),
                 "valueQuantity": {"value": 84, "unit": "mmHg", "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}},
                {"code": concept(LOINC, "8462-4", "Diastolic blood pressure"),
                 "valueQuantity": {"value": 48, "unit": "mmHg", "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}}
            ]
        }),
    );
    let record = record(&panel);
    assert_eq!(record.codes[0].code, "85354-9");
    assert_eq!(
        record.category,
        vec![Code::new(
            "http://terminology.hl7.org/CodeSystem/observation-category",
            "vital-signs"
        )]
    );
    let mm_hg = |value: f64| Value::Quantity {
        value,
        unit: Some("mmHg".into()),
        code: Some("mm[Hg]".into()),
        comparator: None,
    };
    assert_eq!(
        record.components,
        vec![
            Component {
                codes: vec![code(LOINC, "8480-6", "Systolic blood pressure")],
                text: vec!["Systolic blood pressure".into()],
                value: Some(mm_hg(84.0)),
            },
            Component {
                codes: vec![code(LOINC, "8462-4", "Diastolic blood pressure")],
                text: vec!["Diastolic blood pressure".into()],
                value: Some(mm_hg(48.0)),
            },
        ]
    );
    // The components' words are theirs, not the panel's.
    assert_eq!(
        record.text,
        vec!["Blood pressure panel with all children optional".to_owned()]
    );
    assert!(record.problems.is_empty());
}

#[test]
fn gestational_age_and_edd_carried_as_components_of_a_pregnancy_status_are_read() {
    // The US eCR profile's pregnancy status: the answer in value[x], GA and EDD as components.
    let status = resource(
        "Observation",
        json!({
            "code": concept(LOINC, "82810-3", "Pregnancy status"),
            "valueCodeableConcept": concept(SNOMED, "77386006", "Pregnant"),
            "component": [
                {"code": concept(LOINC, "11778-8", "Delivery date Estimated"),
                 "valueDateTime": "2027-03-01"},
                {"code": concept(LOINC, "18185-9", "Gestational age"),
                 "valueQuantity": {"value": 12, "unit": "wk", "system": "http://unitsofmeasure.org", "code": "wk"}}
            ]
        }),
    );
    let record = record(&status);
    let [edd, ga] = record.components.as_slice() else {
        panic!("two components: {:?}", record.components);
    };
    assert_eq!(edd.codes[0].code, "11778-8");
    let Some(Value::DateTime(when)) = &edd.value else {
        panic!("EDD: {:?}", edd.value);
    };
    assert_eq!(
        (when.date().to_string(), when.precision),
        ("2027-03-01".to_owned(), Precision::Day)
    );
    assert_eq!(ga.codes[0].code, "18185-9");
    assert!(matches!(
        ga.value,
        // 12 wk, in days (its canonical unit).
        Some(Value::Quantity { value, ref code, .. }) if value == 84.0 && code.as_deref() == Some("d")
    ));
}

#[test]
fn a_component_bound_is_kept_with_its_comparator_and_named_as_a_component_problem() {
    let record = record(&resource(
        "Observation",
        json!({"component": [{"code": {"text": "heart rate"},
            "valueQuantity": {"value": 120, "comparator": ">", "unit": "/min"}}]}),
    ));
    assert!(matches!(
        &record.components[0].value,
        Some(Value::Quantity { value, comparator: Some(c), .. }) if *value == 120.0 && c == ">"
    ));
    assert_eq!(
        problem_fields(&record),
        vec![(
            Field::Component,
            "component.valueQuantity is a bound (>), not an exact value"
        )]
    );
}

#[test]
fn an_emergency_encounter_gives_its_reason_class_type_status_period_and_references() {
    let encounter = resource(
        "Encounter",
        json!({
            "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "EMER", "display": "emergency"},
            "type": [concept(SNOMED, "50849002", "Emergency room admission")],
            "reasonCode": [concept(SNOMED, "289530006", "Bleeding from vagina")],
            "reasonReference": [{"reference": "Condition/c1"}, {"display": "no reference"}],
            "period": {"start": "2026-09-08T00:30:00+02:00", "end": "2026-09-08T04:00:00+02:00"}
        }),
    );
    let record = record(&encounter);
    assert_eq!(record.kind, RecordKind::Encounter);
    assert_eq!(record.status.as_deref(), Some("finished"));
    assert_eq!(
        record.codes,
        vec![code(SNOMED, "289530006", "Bleeding from vagina")]
    );
    assert_eq!(record.text, vec!["Bleeding from vagina".to_owned()]);
    assert_eq!(
        record.category,
        vec![
            code(
                "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                "EMER",
                "emergency"
            ),
            code(SNOMED, "50849002", "Emergency room admission"),
        ]
    );
    assert_eq!(record.references, vec!["Condition/c1".to_owned()]);
    let effective = record.effective.expect("period.start");
    // Dated by its own calendar day (+02:00), not the UTC one.
    assert_eq!(effective.date().to_string(), "2026-09-08");
    assert!(record.problems.is_empty());
}

#[test]
fn a_procedure_gives_its_code_status_category_performed_date_and_notes() {
    let procedure = resource(
        "Procedure",
        json!({
            "code": concept(SNOMED, "432246003", "Transvaginal ultrasound"),
            "category": concept(SNOMED, "103693007", "Diagnostic procedure"),
            "performedPeriod": {"start": "2026-09-09T08:00:00Z", "end": "2026-09-09T08:30:00Z"},
            "note": [{"text": "IUP seen"}]
        }),
    );
    let record = record(&procedure);
    assert_eq!(record.kind, RecordKind::Procedure);
    assert_eq!(record.status.as_deref(), Some("completed"));
    assert_eq!(record.codes[0].code, "432246003");
    assert_eq!(record.category[0].code, "103693007");
    assert_eq!(
        record.text,
        vec!["Transvaginal ultrasound".to_owned(), "IUP seen".to_owned()]
    );
    assert_eq!(
        record.effective.map(|when| when.at.to_string()),
        Some("2026-09-09 8:00:00.0 +00:00:00".to_owned())
    );
}

#[test]
fn a_performed_string_keeps_its_words_and_says_it_is_no_date() {
    let record = record(&resource(
        "Procedure",
        json!({"code": {"text": "anti-D"}, "performedString": "given at booking"}),
    ));
    assert_eq!(record.effective, None);
    assert_eq!(
        record.text,
        vec!["anti-D".to_owned(), "given at booking".to_owned()]
    );
    assert_eq!(
        problem_fields(&record),
        vec![(Field::Effective, "performedString is free text, not a date")]
    );
}

#[test]
fn an_abatement_string_is_no_date_and_not_searchable_text_but_an_onset_string_is() {
    let record = record(&resource(
        "Condition",
        json!({"onsetString": "since Tuesday", "abatementString": "bleeding stopped"}),
    ));
    assert_eq!(record.text, vec!["since Tuesday".to_owned()]);
    assert_eq!(
        problem_fields(&record),
        vec![
            (Field::Effective, "onsetString is free text, not a date"),
            (Field::Abatement, "abatementString is free text, not a date"),
        ]
    );
}

#[test]
fn an_encounter_without_class_or_period_is_still_a_record_without_problems() {
    let record = record(&resource("Encounter", json!({})));
    assert_eq!(record.kind, RecordKind::Encounter);
    assert!(record.category.is_empty());
    assert!(record.problems.is_empty());
}

// ---------------------------------------------------------------------------------------------
// What only the reference reader reads: the shapes the fast reader declines by design
// ---------------------------------------------------------------------------------------------

fn declined_then_read(resource: &Json) -> Record {
    assert!(
        read_resource_json(&resource.to_string())
            .is_none_or(|fast| fast.read == by_reference(resource)),
        "the fast reader accepted and disagreed on {resource}"
    );
    match by_reference(resource) {
        FastRead::Record(record) => record,
        other => panic!("{other:?}"),
    }
}

#[test]
fn performed_age_and_range_are_problems_not_dates() {
    for (key, message) in [
        ("performedAge", "performedAge is an age, not a date"),
        (
            "performedRange",
            "performedRange is an age range, not a date",
        ),
    ] {
        let value = if key == "performedAge" {
            json!({"value": 30, "unit": "a"})
        } else {
            json!({"low": {"value": 30}, "high": {"value": 31}})
        };
        let record = declined_then_read(&resource("Procedure", json!({ key: value })));
        assert_eq!(record.effective, None, "{key}");
        assert_eq!(
            problem_fields(&record),
            vec![(Field::Effective, message)],
            "{key}"
        );
    }
}

#[test]
fn a_hostile_encounter_costs_only_its_unreadable_elements() {
    let record = declined_then_read(&resource(
        "Encounter",
        json!({"class": "EMER", "period": {"start": "yesterday"}, "reasonCode": [{"text": "bleeding"}],
            "reasonReference": "Condition/c1"}),
    ));
    assert_eq!(record.text, vec!["bleeding".to_owned()]);
    assert!(record.category.is_empty() && record.references.is_empty());
    let mut fields: Vec<Field> = record.problems.iter().map(|p| p.field).collect();
    fields.sort_by_key(|field| format!("{field:?}"));
    assert_eq!(
        fields,
        vec![Field::Category, Field::Effective, Field::Reference]
    );
}

#[test]
fn an_unreadable_component_value_is_a_component_problem() {
    let record = declined_then_read(&resource(
        "Observation",
        json!({"component": [{"code": {"text": "systolic"}, "valueQuantity": {"value": "high"}}]}),
    ));
    assert_eq!(record.components[0].value, None);
    assert_eq!(
        problem_fields(&record),
        vec![(
            Field::Component,
            "component.valueQuantity could not be read"
        )]
    );
}

// ---------------------------------------------------------------------------------------------
// Whose record: the new kinds are checked like the others, on both paths
// ---------------------------------------------------------------------------------------------

#[test]
fn an_encounter_or_procedure_of_another_patient_is_refused_on_both_paths() {
    use crate::fast::PrefetchSeed;
    use crate::gather::{GatherInput, Prefetch, gather};
    use gravida_rules::facts::Input;
    use gravida_rules::query::{Need, PrefetchQuery};
    use serde::de::DeserializeSeed;

    let queries = vec![
        PrefetchQuery {
            key: "encounters".into(),
            template: "Encounter?patient={{context.patientId}}".into(),
            need: Need::Optional(Input::Encounters),
        },
        PrefetchQuery {
            key: "procedures".into(),
            template: "Procedure?patient={{context.patientId}}".into(),
            need: Need::Optional(Input::Procedures),
        },
    ];
    let mut other = resource("Procedure", json!({"id": "theirs"}));
    other["subject"] = json!({"reference": "Patient/someone-else"});
    let bundle = |resources: Vec<Json>| {
        let entries: Vec<Json> = resources
            .into_iter()
            .map(|resource| json!({"resource": resource}))
            .collect();
        json!({"resourceType": "Bundle", "type": "searchset", "entry": entries})
    };
    let prefetch = json!({
        "encounters": bundle(vec![resource("Encounter", json!({"id": "mine"}))]),
        "procedures": bundle(vec![resource("Procedure", json!({})), other]),
    });
    let context = serde_json::Map::from_iter([("patientId".to_owned(), json!("p1"))]);
    let run = |prefetch: Prefetch<'_>| {
        let input = GatherInput {
            granted: None,
            today: time::OffsetDateTime::now_utc().date(),
            queries: &queries,
            context: &context,
            prefetch,
            fhir: None,
            draft_orders: None,
            deadline: tokio::time::Instant::now() + std::time::Duration::from_secs(5),
        };
        futures::executor::block_on(gather(input)).expect("gathered")
    };
    let text = prefetch.to_string();
    let mut deserializer = serde_json::Deserializer::from_str(&text);
    let fast = PrefetchSeed { queries: &queries }
        .deserialize(&mut deserializer)
        .expect("the fast reader accepts");
    let by_fast = run(Prefetch::Fast(fast));
    let by_reference = run(Prefetch::Json(prefetch.as_object().expect("an object")));
    assert_eq!(by_fast, by_reference);
    let ids: Vec<(RecordKind, &str)> = by_fast
        .facts
        .records
        .iter()
        .map(|record| (record.kind, record.id.as_str()))
        .collect();
    assert_eq!(
        ids,
        vec![
            (RecordKind::Encounter, "mine"),
            (RecordKind::Procedure, "r1")
        ]
    );
    assert_eq!(by_fast.refused, 1);
}

// ---------------------------------------------------------------------------------------------
// Code systems, units and values in every form (knowledge.md §3.6 items 3, 5 and 6)
// ---------------------------------------------------------------------------------------------

const ICD10CM: &str = "http://hl7.org/fhir/sid/icd-10-cm";
const ICD10CM_OID: &str = "urn:oid:2.16.840.1.113883.6.90";

#[test]
fn a_code_under_an_oid_or_who_icd10_is_read_as_the_value_sets_name_it_in_every_record_kind() {
    let threatened = |system: &str, code: &str| concept(system, code, "Threatened abortion");
    let expected = Code {
        system: ICD10CM.into(),
        code: "O200".into(),
        display: Some("Threatened abortion".into()),
    };
    let samples = [
        resource(
            "Condition",
            json!({"code": threatened(ICD10CM_OID, "O20.0")}),
        ),
        resource(
            "Condition",
            json!({"code": threatened("http://hl7.org/fhir/sid/icd-10", "O20.0")}),
        ),
        resource("Condition", json!({"code": threatened(ICD10CM, "o200")})),
        resource(
            "Encounter",
            json!({"reasonCode": [threatened(ICD10CM_OID, "O20.0")]}),
        ),
        resource(
            "Procedure",
            json!({"code": threatened(ICD10CM_OID, "O20.0")}),
        ),
        resource(
            "DiagnosticReport",
            json!({"conclusionCode": [threatened(ICD10CM_OID, "O20.0")]}),
        ),
        resource(
            "Observation",
            json!({"code": threatened(ICD10CM_OID, "O20.0")}),
        ),
    ];
    for sample in samples {
        let record = record(&sample);
        assert!(
            record.codes.contains(&expected),
            "{sample}: {:?}",
            record.codes
        );
    }
    // A value's codes and a component's codes too.
    let observation = resource(
        "Observation",
        json!({
            "code": concept("urn:oid:2.16.840.1.113883.6.1", "82810-3", "Pregnancy status"),
            "valueCodeableConcept": concept("urn:oid:2.16.840.1.113883.6.96", "77386006", "Pregnant"),
            "component": [{"code": concept("urn:oid:2.16.840.1.113883.6.1", "8480-6", "Systolic"),
                           "valueQuantity": {"value": 84, "unit": "mmHg"}}]
        }),
    );
    let record = record(&observation);
    assert_eq!(record.codes[0].system, LOINC);
    assert!(
        matches!(&record.value, Some(Value::Concept { codes, .. }) if codes[0].system == SNOMED),
        "{:?}",
        record.value
    );
    assert_eq!(record.components[0].codes[0].system, LOINC);
}

#[test]
fn quantities_are_read_in_their_canonical_unit_and_an_unknown_unit_is_a_problem() {
    let quantity = |quantity: Json| {
        let record = record(&resource("Observation", json!({"valueQuantity": quantity})));
        (record.value.clone(), problem_fields(&record).len())
    };
    let canonical = |value: f64, unit: &str| Value::Quantity {
        value,
        unit: Some(unit.into()),
        code: Some(unit.into()),
        comparator: None,
    };
    assert_eq!(
        quantity(json!({"value": 1.62, "unit": "IU/mL"})),
        (Some(canonical(1620.0, "m[IU]/mL")), 0)
    );
    assert_eq!(
        quantity(
            json!({"value": 10, "unit": "wk", "system": "http://unitsofmeasure.org", "code": "wk"})
        ),
        (Some(canonical(70.0, "d")), 0)
    );
    assert_eq!(
        quantity(json!({"value": 2.3, "unit": "cm"})),
        (Some(canonical(23.0, "mm")), 0)
    );
    // The same unit written another way keeps its written `unit` and gets the canonical code.
    assert_eq!(
        quantity(json!({"value": 900, "unit": "mIU/mL"})),
        (
            Some(Value::Quantity {
                value: 900.0,
                unit: Some("mIU/mL".into()),
                code: Some("m[IU]/mL".into()),
                comparator: None,
            }),
            0
        )
    );
    // A mass concentration is kept as written: the engine knows it is no hCG unit.
    assert_eq!(
        quantity(json!({"value": 3, "unit": "ng/mL", "code": "ng/mL"})),
        (Some(canonical(3.0, "ng/mL")), 0)
    );
    // A unit no table knows: the value is kept as written, and the record says why it cannot be
    // compared.
    let (value, problems) = quantity(json!({"value": 1.62, "unit": "[unit?]"}));
    assert_eq!(
        value,
        Some(Value::Quantity {
            value: 1.62,
            unit: Some("[unit?]".into()),
            code: None,
            comparator: None,
        })
    );
    assert_eq!(problems, 1);
    // A bound is shown as written, never converted.
    let (value, _) = quantity(json!({"value": 0.005, "comparator": "<", "unit": "IU/mL"}));
    assert!(
        matches!(value, Some(Value::Quantity { value, ref unit, .. }) if value == 0.005 && unit.as_deref() == Some("IU/mL")),
        "{value:?}"
    );
}

#[test]
fn a_finding_present_or_absent_is_read_whatever_the_value_type() {
    use gravida_rules::facts::Presence;
    let presence = |value: Json| record(&resource("Observation", value)).presence;
    for value in [
        json!({"valueString": "Present"}),
        json!({"valueString": "seen"}),
        json!({"valueBoolean": true}),
        json!({"valueCodeableConcept": {"text": "Visualized"}}),
        json!({"valueCodeableConcept": concept(LOINC, "LA9633-4", "Present")}),
    ] {
        assert_eq!(presence(value.clone()), Some(Presence::Present), "{value}");
    }
    for value in [
        json!({"valueString": "Not detected"}),
        json!({"valueBoolean": false}),
        json!({"valueCodeableConcept": {"text": "absent"}}),
    ] {
        assert_eq!(presence(value.clone()), Some(Presence::Absent), "{value}");
    }
    assert_eq!(presence(json!({"valueString": "see report"})), None);
}

#[test]
fn a_gestational_age_written_as_a_string_is_read_as_days() {
    for written in ["10 weeks 2 days", "10w2d", "10+2", "10 wk 2 d"] {
        let record = record(&resource("Observation", json!({"valueString": written})));
        assert_eq!(
            record.value,
            Some(Value::Quantity {
                value: 72.0,
                unit: Some("d".into()),
                code: Some("d".into()),
                comparator: None,
            }),
            "{written}"
        );
        assert_eq!(record.text, vec!["x".to_owned(), written.to_owned()]);
    }
}

#[test]
fn a_resource_with_an_unknown_modifier_extension_is_kept_only_to_be_named() {
    for resource_type in [
        "Condition",
        "Observation",
        "DiagnosticReport",
        "Encounter",
        "Procedure",
    ] {
        let plain = resource(resource_type, json!({}));
        let mut modified = plain.clone();
        modified["modifierExtension"] =
            json!([{"url": "http://example.org/assertion-context", "valueCode": "family-member"}]);
        let read_plain = facts_from_resources([&plain]);
        assert!(
            !read_plain.facts.records[0].not_interpreted,
            "{resource_type}"
        );
        let mapped = facts_from_resources([&modified]);
        assert_eq!(mapped.facts.records.len(), 1, "{resource_type}: kept");
        assert!(mapped.facts.records[0].not_interpreted, "{resource_type}");
        assert_eq!(mapped.diagnostics.len(), 1, "{resource_type}: and reported");
        // The fast reader declines it, so the reference reader is the one that reads it.
        assert!(
            read_resource_json(&modified.to_string()).is_none(),
            "{resource_type}"
        );
    }
}
