//! Tests of the mapping: every `value[x]`, `effective[x]`, `onset[x]` shape, the malformed ones,
//! salvage, refusal, and all the fixture resources without panics.

use super::orders::bundle_resources;
use super::*;
use gravida_rules::facts::{Code, Field, Precision, Record, Value, When};
use serde_json::json;
use time::macros::datetime;

fn observation(extra: Json) -> Json {
    let mut base = json!({
        "resourceType": "Observation",
        "id": "obs-1",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "21198-7", "display": "hCG"}]},
        "subject": {"reference": "Patient/p1"}
    });
    merge(&mut base, extra);
    base
}

fn condition(extra: Json) -> Json {
    let mut base = json!({
        "resourceType": "Condition",
        "id": "cond-1",
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "723665008"}], "text": "bleeding in pregnancy"},
        "subject": {"reference": "Patient/p1"}
    });
    merge(&mut base, extra);
    base
}

fn merge(base: &mut Json, extra: Json) {
    if let (Some(base), Json::Object(extra)) = (base.as_object_mut(), extra) {
        for (key, value) in extra {
            if value.is_null() {
                base.remove(&key);
            } else {
                base.insert(key, value);
            }
        }
    }
}

/// Maps one resource that must give exactly one record.
fn one_record(resource: Json) -> (Record, Vec<Diagnostic>) {
    let mapped = facts_from_resources(&[resource]);
    assert_eq!(
        mapped.facts.records.len(),
        1,
        "diagnostics: {:?}",
        mapped.diagnostics
    );
    let record = mapped.facts.records.into_iter().next().expect("one record");
    (record, mapped.diagnostics)
}

fn fields(record: &Record) -> Vec<Field> {
    record
        .problems
        .iter()
        .map(|problem| problem.field)
        .collect()
}

#[test]
fn a_well_formed_observation_gives_codes_text_status_dates_and_a_quantity() {
    let (record, diagnostics) = one_record(observation(json!({
        "effectiveDateTime": "2025-03-02T10:30:00+02:00",
        "issued": "2025-03-02T12:00:00Z",
        "valueQuantity": {"value": 1234.5, "unit": "mIU/mL", "system": "http://unitsofmeasure.org", "code": "m[IU]/mL"},
        "note": [{"text": "drawn after spotting"}]
    })));
    assert!(diagnostics.is_empty());
    assert_eq!(record.kind, RecordKind::Observation);
    assert_eq!(record.id, "obs-1");
    assert_eq!(
        record.codes,
        vec![Code {
            system: "http://loinc.org".into(),
            code: "21198-7".into(),
            display: Some("hCG".into())
        }]
    );
    assert_eq!(
        record.text,
        vec!["hCG".to_owned(), "drawn after spotting".to_owned()]
    );
    assert_eq!(record.status.as_deref(), Some("final"));
    assert_eq!(
        record.effective,
        Some(When {
            at: datetime!(2025-03-02 08:30 UTC),
            precision: Precision::Time
        })
    );
    assert_eq!(
        record.recorded,
        Some(When {
            at: datetime!(2025-03-02 12:00 UTC),
            precision: Precision::Time
        })
    );
    assert_eq!(
        record.value,
        Some(Value::Quantity {
            value: 1234.5,
            unit: Some("mIU/mL".into()),
            code: Some("m[IU]/mL".into()),
            comparator: None,
        })
    );
    assert!(record.problems.is_empty());
}

#[test]
fn partial_dates_keep_their_precision() {
    let (year, _) = one_record(observation(json!({"effectiveDateTime": "2025"})));
    assert_eq!(
        year.effective,
        Some(When {
            at: datetime!(2025-01-01 0:00 UTC),
            precision: Precision::Year
        })
    );
    let (month, _) = one_record(observation(json!({"effectiveDateTime": "2025-03"})));
    assert_eq!(
        month.effective,
        Some(When {
            at: datetime!(2025-03-01 0:00 UTC),
            precision: Precision::Month
        })
    );
    let (day, _) = one_record(observation(json!({"effectiveDateTime": "2025-03-14"})));
    assert_eq!(
        day.effective,
        Some(When {
            at: datetime!(2025-03-14 0:00 UTC),
            precision: Precision::Day
        })
    );
}

#[test]
fn effective_period_and_instant_are_read() {
    let (period, _) = one_record(observation(
        json!({"effectivePeriod": {"start": "2025-03-01", "end": "2025-03-05"}}),
    ));
    assert_eq!(
        period.effective.map(|when| when.date()),
        Some(time::macros::date!(2025 - 03 - 01))
    );
    let (end_only, _) = one_record(observation(
        json!({"effectivePeriod": {"end": "2025-03-05"}}),
    ));
    assert_eq!(
        end_only.effective.map(|when| when.date()),
        Some(time::macros::date!(2025 - 03 - 05))
    );
    let (instant, _) = one_record(observation(
        json!({"effectiveInstant": "2025-03-01T23:30:00-05:00"}),
    ));
    assert_eq!(
        instant.effective,
        Some(When {
            at: datetime!(2025-03-02 04:30 UTC),
            precision: Precision::Time
        })
    );
    let (empty_period, _) = one_record(observation(json!({"effectivePeriod": {}})));
    assert_eq!(empty_period.effective, None);
    assert_eq!(fields(&empty_period), vec![Field::Effective]);
}

#[test]
fn effective_timing_is_a_problem_not_a_date() {
    let (record, _) = one_record(observation(
        json!({"effectiveTiming": {"event": ["2025-03-01"]}}),
    ));
    assert_eq!(record.effective, None);
    assert_eq!(fields(&record), vec![Field::Effective]);
}

#[test]
fn every_value_shape_is_read() {
    let cases = [
        (
            json!({"valueCodeableConcept": {"coding": [{"system": "http://snomed.info/sct", "code": "77386006"}], "text": "Pregnant"}}),
            Value::Concept {
                codes: vec![Code::new("http://snomed.info/sct", "77386006")],
                text: Some("Pregnant".into()),
            },
        ),
        (
            json!({"valueDateTime": "2025-01-21"}),
            Value::DateTime(When::day(time::macros::date!(2025 - 01 - 21))),
        ),
        (
            json!({"valueString": "small amount of spotting"}),
            Value::String("small amount of spotting".into()),
        ),
        (json!({"valueBoolean": true}), Value::Boolean(true)),
        (json!({"valueInteger": 2}), Value::Integer(2)),
        (
            json!({"valueRange": {"low": {"value": 1}}}),
            Value::Other("Range"),
        ),
        (
            json!({"valueRatio": {"numerator": {"value": 1}}}),
            Value::Other("Ratio"),
        ),
        (json!({"valueTime": "10:00:00"}), Value::Other("Time")),
        (
            json!({"valuePeriod": {"start": "2025-01-01"}}),
            Value::Other("Period"),
        ),
    ];
    for (extra, expected) in cases {
        let (record, _) = one_record(observation(extra.clone()));
        assert_eq!(record.value, Some(expected), "for {extra}");
        assert!(
            record.problems.is_empty(),
            "for {extra}: {:?}",
            record.problems
        );
    }
}

#[test]
fn a_value_string_is_also_searchable_text() {
    let (record, _) = one_record(observation(json!({"valueString": "heavy bleeding"})));
    assert!(record.text.iter().any(|text| text == "heavy bleeding"));
}

#[test]
fn a_malformed_value_quantity_is_a_value_problem_not_an_absent_value() {
    let (record, diagnostics) = one_record(observation(json!({"valueQuantity": "twelve"})));
    assert_eq!(record.value, None);
    assert_eq!(fields(&record), vec![Field::Value]);
    // No patient data in the problem or diagnostics.
    assert!(!format!("{:?}{:?}", record.problems, diagnostics).contains("twelve"));
}

#[test]
fn a_quantity_with_a_comparator_keeps_the_number_and_says_it_is_a_bound() {
    let (record, _) = one_record(observation(
        json!({"valueQuantity": {"value": 5, "comparator": "<", "unit": "mIU/mL"}}),
    ));
    assert!(matches!(record.value, Some(Value::Quantity { value, .. }) if value == 5.0));
    assert_eq!(fields(&record), vec![Field::Value]);
    assert!(record.problems[0].message.contains('<'));
}

#[test]
fn a_quantity_without_a_number_is_a_value_problem() {
    let (record, _) = one_record(observation(json!({"valueQuantity": {"unit": "mIU/mL"}})));
    assert_eq!(record.value, None);
    assert_eq!(fields(&record), vec![Field::Value]);
}

#[test]
fn malformed_effective_dates_are_effective_problems() {
    for bad in [
        json!({"effectiveDateTime": "yesterday"}),
        json!({"effectiveDateTime": "2025-13-45"}),
        json!({"effectiveDateTime": 20250301}),
        json!({"effectiveInstant": "2025-03-01"}),
        json!({"effectiveWhenever": "2025-03-01"}),
    ] {
        let (record, _) = one_record(observation(bad.clone()));
        assert_eq!(record.effective, None, "for {bad}");
        assert_eq!(fields(&record), vec![Field::Effective], "for {bad}");
        assert!(!record.problems[0].message.contains("yesterday"));
    }
}

#[test]
fn two_value_elements_are_a_problem() {
    let (record, _) = one_record(observation(
        json!({"valueString": "a", "valueBoolean": true}),
    ));
    assert!(fields(&record).contains(&Field::Value));
}

#[test]
fn an_unreadable_code_keeps_the_record_with_its_text_and_a_code_problem() {
    let (record, diagnostics) = one_record(observation(
        json!({"code": {"coding": "not-a-list", "text": "vaginal bleeding"}}),
    ));
    assert!(record.codes.is_empty());
    assert_eq!(record.text, vec!["vaginal bleeding".to_owned()]);
    assert_eq!(fields(&record), vec![Field::Code]);
    assert!(diagnostics.is_empty());
}

#[test]
fn a_missing_observation_code_and_status_are_problems() {
    let (record, _) = one_record(observation(
        json!({"code": null, "status": null, "valueString": "spotting"}),
    ));
    assert_eq!(record.status, None);
    assert!(fields(&record).contains(&Field::Code));
    assert!(fields(&record).contains(&Field::Status));
    assert_eq!(record.value, Some(Value::String("spotting".into())));
}

#[test]
fn an_unknown_status_is_a_status_problem_and_not_a_made_up_status() {
    let (record, _) = one_record(observation(json!({"status": "weird-status"})));
    assert_eq!(record.status, None);
    assert_eq!(fields(&record), vec![Field::Status]);
    assert!(!record.problems[0].message.contains("weird"));
}

#[test]
fn an_unreadable_element_the_engine_does_not_read_is_ignored() {
    // It cannot change a card, and the fast reader skips it unchecked: neither reports it.
    let (record, diagnostics) = one_record(observation(json!({"performer": "Dr Who"})));
    assert!(record.problems.is_empty());
    assert!(diagnostics.is_empty());
    assert_eq!(record.status.as_deref(), Some("final"));
}

#[test]
fn several_unreadable_elements_are_all_salvaged_without_their_values() {
    let (record, diagnostics) = one_record(observation(json!({
        "status": 42,
        "code": "Jane Doe",
        "subject": ["not", "a", "reference"],
        "valueString": "spotting"
    })));
    assert_eq!(record.status, None);
    assert!(record.codes.is_empty());
    assert_eq!(fields(&record), vec![Field::Code, Field::Status]);
    assert_eq!(record.value, Some(Value::String("spotting".into())));
    // `subject` is not read by the engine: ignored without a diagnostic.
    assert!(diagnostics.is_empty());
    assert!(!format!("{:?}", record.problems).contains("Jane"));
}

#[test]
fn a_patient_with_an_unreadable_element_is_still_the_patient() {
    let mapped = facts_from_resources(&[
        json!({"resourceType": "Patient", "id": "p1", "gender": "Jane Doe"}),
    ]);
    assert_eq!(
        mapped.patient,
        Some(PatientSummary {
            id: Some("p1".into())
        })
    );
    assert!(mapped.diagnostics.is_empty());
}

#[test]
fn a_modifier_extension_refuses_the_resource_as_a_fact_but_keeps_it_to_be_named() {
    let top = observation(
        json!({"modifierExtension": [{"url": "http://example.org/not-done", "valueBoolean": true}]}),
    );
    let nested = condition(
        json!({"code": {"text": "bleeding", "modifierExtension": [{"url": "http://example.org/x"}]}}),
    );
    let mapped = facts_from_resources(&[top, nested]);
    // Never a fact, but kept so that the card can name it (knowledge.md §3.6 item 13).
    assert_eq!(mapped.facts.records.len(), 2);
    assert!(mapped.facts.records.iter().all(|r| r.not_interpreted));
    let kinds: Vec<_> = mapped
        .diagnostics
        .iter()
        .map(|diagnostic| diagnostic.kind)
        .collect();
    assert_eq!(kinds, vec![DiagnosticKind::ModifierExtension; 2]);
    assert_eq!(mapped.diagnostics[1].index, 1);
}

#[test]
fn condition_statuses_onset_abatement_recorded_and_notes_are_read() {
    let (record, diagnostics) = one_record(condition(json!({
        "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]},
        "verificationStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "confirmed"}]},
        "onsetDateTime": "2025-04-01",
        "abatementDateTime": "2025-04-03T00:00:00Z",
        "recordedDate": "2025-04-01T09:00:00+01:00",
        "note": [{"text": "spotting since yesterday"}]
    })));
    assert!(diagnostics.is_empty());
    assert_eq!(record.kind, RecordKind::Condition);
    assert_eq!(record.clinical_status.as_deref(), Some("active"));
    assert_eq!(record.verification_status.as_deref(), Some("confirmed"));
    assert_eq!(
        record.effective,
        Some(When::day(time::macros::date!(2025 - 04 - 01)))
    );
    assert_eq!(
        record.abatement.map(|when| when.at),
        Some(datetime!(2025-04-03 0:00 UTC))
    );
    assert_eq!(
        record.recorded.map(|when| when.at),
        Some(datetime!(2025-04-01 08:00 UTC))
    );
    assert_eq!(
        record.codes,
        vec![Code::new("http://snomed.info/sct", "723665008")]
    );
    assert_eq!(
        record.text,
        vec![
            "bleeding in pregnancy".to_owned(),
            "spotting since yesterday".to_owned()
        ]
    );
    assert!(record.problems.is_empty());
}

#[test]
fn every_onset_shape_is_read_or_named_as_a_problem() {
    let (period, _) = one_record(condition(json!({"onsetPeriod": {"start": "2025-02"}})));
    assert_eq!(
        period.effective,
        Some(When {
            at: datetime!(2025-02-01 0:00 UTC),
            precision: Precision::Month
        })
    );
    assert!(period.problems.is_empty());
    for extra in [
        json!({"onsetAge": {"value": 30, "unit": "a"}}),
        json!({"onsetRange": {"low": {"value": 1}}}),
    ] {
        let (record, _) = one_record(condition(extra.clone()));
        assert_eq!(record.effective, None);
        assert_eq!(fields(&record), vec![Field::Effective], "for {extra}");
    }
    let (string, _) = one_record(condition(
        json!({"onsetString": "after the fall last week"}),
    ));
    assert_eq!(string.effective, None);
    assert_eq!(fields(&string), vec![Field::Effective]);
    assert!(
        string
            .text
            .iter()
            .any(|text| text == "after the fall last week")
    );
}

#[test]
fn malformed_onset_and_abatement_are_problems() {
    let (onset, _) = one_record(condition(json!({"onsetDateTime": "2025-13-45"})));
    assert_eq!(onset.effective, None);
    assert_eq!(fields(&onset), vec![Field::Effective]);
    let (abatement, _) = one_record(condition(json!({"abatementDateTime": "soon"})));
    assert_eq!(abatement.abatement, None);
    assert_eq!(fields(&abatement), vec![Field::Abatement]);
    let (string, _) = one_record(condition(json!({"abatementString": "bleeding stopped"})));
    assert_eq!(fields(&string), vec![Field::Abatement]);
    assert!(!string.text.iter().any(|text| text.contains("stopped")));
}

#[test]
fn a_condition_without_code_or_subject_still_gives_a_record() {
    let (record, _) = one_record(condition(
        json!({"code": null, "subject": null, "note": [{"text": "PV bleeding"}]}),
    ));
    assert!(record.codes.is_empty());
    assert_eq!(record.text, vec!["PV bleeding".to_owned()]);
    assert!(record.problems.is_empty());
}

#[test]
fn a_diagnostic_report_gives_codes_conclusion_and_dates() {
    let (record, _) = one_record(json!({
        "resourceType": "DiagnosticReport", "id": "us-1", "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "11525-3", "display": "US Pelvis Fetus for pregnancy"}]},
        "effectivePeriod": {"start": "2025-03-10T09:00:00Z"},
        "issued": "2025-03-10T10:00:00Z",
        "conclusion": "Intrauterine pregnancy, CRL 12 mm",
        "conclusionCode": [{"coding": [{"system": "http://snomed.info/sct", "code": "237239003", "display": "Intrauterine pregnancy"}]}]
    }));
    assert_eq!(record.kind, RecordKind::DiagnosticReport);
    assert_eq!(
        record
            .codes
            .iter()
            .map(|code| code.code.as_str())
            .collect::<Vec<_>>(),
        vec!["11525-3", "237239003"]
    );
    assert!(record.text.iter().any(|text| text.contains("CRL 12 mm")));
    assert_eq!(
        record.effective.map(|when| when.at),
        Some(datetime!(2025-03-10 09:00 UTC))
    );
    assert_eq!(
        record.recorded.map(|when| when.at),
        Some(datetime!(2025-03-10 10:00 UTC))
    );
    let (bad, _) = one_record(
        json!({"resourceType": "DiagnosticReport", "id": "us-2", "status": "final",
        "code": {"text": "ultrasound"}, "effectiveDateTime": "last week"}),
    );
    assert_eq!(fields(&bad), vec![Field::Effective]);
}

#[test]
fn patients_are_summarised_and_other_types_are_ignored() {
    let mapped = facts_from_resources(&[
        json!({"resourceType": "Patient", "id": "p1", "gender": "female"}),
        json!({"resourceType": "Account", "id": "a1", "status": "active"}),
        json!({"resourceType": "MedicinalProduct", "id": "r4-only"}),
        json!({"resourceType": "Patient", "id": "p2"}),
    ]);
    assert_eq!(
        mapped.patient,
        Some(PatientSummary {
            id: Some("p1".into())
        })
    );
    assert!(mapped.facts.records.is_empty());
    assert!(mapped.diagnostics.is_empty());
}

#[test]
fn entries_that_are_not_resources_cost_only_themselves() {
    let mapped = facts_from_resources(&[
        json!("a string"),
        json!({"id": "no-type"}),
        json!({"resourceType": "Patient", "id": 5}),
        observation(json!({})),
    ]);
    assert_eq!(mapped.facts.records.len(), 1);
    let kinds: Vec<_> = mapped
        .diagnostics
        .iter()
        .map(|diagnostic| (diagnostic.index, diagnostic.kind))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (0, DiagnosticKind::NotAResource),
            (1, DiagnosticKind::NotAResource),
        ]
    );
    // The Patient whose id is a number is still a Patient, of unknown id.
    assert_eq!(mapped.patient, Some(PatientSummary { id: None }));
}

#[test]
fn draft_orders_read_medication_and_service_requests() {
    let bundle = json!({"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": {"resourceType": "MedicationRequest", "id": "mtx", "status": "draft", "intent": "order",
            "subject": {"reference": "Patient/p1"},
            "medicationCodeableConcept": {"text": "methotrexate 50 mg/m2", "coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "6851", "display": "methotrexate"}]}}},
        {"resource": {"resourceType": "MedicationRequest", "id": "ref", "status": "draft", "intent": "order",
            "subject": {"reference": "Patient/p1"}, "medicationReference": {"reference": "Medication/m1", "display": "misoprostol 200 mcg"}}},
        {"resource": {"resourceType": "ServiceRequest", "id": "us", "status": "draft", "intent": "order",
            "subject": {"reference": "Patient/p1"}, "code": {"coding": [{"system": "http://loinc.org", "code": "11525-3"}], "text": "pelvic ultrasound"}}},
        {"resource": {"resourceType": "NutritionOrder", "id": "diet", "status": "draft"}},
        {"resource": {"resourceType": "MedicationRequest", "id": "broken", "status": "draft",
            "medicationCodeableConcept": {"text": "mifepristone"}}}
    ]});
    let (orders, diagnostics) = draft_orders(&bundle);
    assert_eq!(orders.len(), 5);
    assert_eq!(
        orders[0].codes,
        vec![Code {
            system: "http://www.nlm.nih.gov/research/umls/rxnorm".into(),
            code: "6851".into(),
            display: Some("methotrexate".into())
        }]
    );
    assert_eq!(
        orders[0].text,
        vec![
            "methotrexate 50 mg/m2".to_owned(),
            "methotrexate".to_owned()
        ]
    );
    assert_eq!(orders[0].status.as_deref(), Some("draft"));
    assert_eq!(orders[1].text, vec!["misoprostol 200 mcg".to_owned()]);
    assert_eq!(orders[2].resource_type, "ServiceRequest");
    assert_eq!(
        orders[2].codes,
        vec![Code::new("http://loinc.org", "11525-3")]
    );
    assert_eq!(orders[3].resource_type, "NutritionOrder");
    // The MedicationRequest without subject and intent is still an order, read element by element.
    assert_eq!(orders[4].id, "broken");
    assert_eq!(orders[4].text, vec!["mifepristone".to_owned()]);
    assert_eq!(orders[4].status.as_deref(), Some("draft"));
    assert_eq!(diagnostics.len(), 1);
    assert_eq!(diagnostics[0].index, 4);
    assert_eq!(diagnostics[0].kind, DiagnosticKind::PartlyUnreadable);
}

fn fixtures() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

fn read_json(path: &std::path::Path) -> Json {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

#[test]
fn every_scenario_resource_maps_without_problems_or_diagnostics() {
    let mut checked = 0;
    for entry in std::fs::read_dir(fixtures().join("scenarios")).expect("scenarios folder") {
        let path = entry.expect("dir entry").path();
        if path.extension().and_then(|ext| ext.to_str()) != Some("json") {
            continue;
        }
        let scenario = read_json(&path);
        let resources = scenario["resources"].as_array().expect("resources array");
        let mapped = facts_from_resources(resources);
        let expected = resources
            .iter()
            .filter(|resource| {
                matches!(
                    resource["resourceType"].as_str(),
                    Some("Condition" | "Observation" | "DiagnosticReport")
                )
            })
            .count();
        assert_eq!(mapped.facts.records.len(), expected, "{}", path.display());
        assert!(
            mapped.diagnostics.is_empty(),
            "{}: {:?}",
            path.display(),
            mapped.diagnostics
        );
        for record in &mapped.facts.records {
            assert!(
                record.problems.is_empty(),
                "{} {}: {:?}",
                path.display(),
                record.id,
                record.problems
            );
            assert!(
                !record.codes.is_empty() || !record.text.is_empty(),
                "{} {}",
                path.display(),
                record.id
            );
        }
        if let Some(orders) = scenario["context"].get("draftOrders") {
            let (orders, diagnostics) = draft_orders(orders);
            assert!(
                !orders.is_empty() && diagnostics.is_empty(),
                "{}",
                path.display()
            );
        }
        checked += 1;
    }
    assert!(checked >= 13, "only {checked} scenarios found");
}

#[test]
fn every_fhir_fixture_maps_without_panicking() {
    let mut stack = vec![fixtures().join("fhir")];
    let mut resources = Vec::new();
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("fixture folder") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().and_then(|ext| ext.to_str()) == Some("json") {
                let value = read_json(&path);
                match value["resourceType"].as_str() {
                    Some("Bundle") => {
                        resources.extend(bundle_resources(&value).into_iter().cloned())
                    }
                    _ => resources.push(value),
                }
            }
        }
    }
    let mapped = facts_from_resources(&resources);
    // The fixtures hold clinosim's 67 Observations plus the IPS and US Core ones.
    assert!(
        mapped.facts.records.len() > 70,
        "{} records",
        mapped.facts.records.len()
    );
    assert!(mapped.patient.is_some());
    for diagnostic in &mapped.diagnostics {
        eprintln!("{diagnostic}");
    }
}

#[test]
fn the_ips_pregnancy_status_example_reads_its_loinc_answer() {
    let value = read_json(&fixtures().join("fhir/ips/Observation-pregnancy-status-example.json"));
    let (record, _) = one_record(value);
    assert!(record.codes.iter().any(|code| code.code == "82810-3"));
    match record.value {
        Some(Value::Concept { codes, .. }) => {
            assert!(codes.iter().any(|code| code.code == "LA15173-0"))
        }
        other => panic!("expected a concept, got {other:?}"),
    }
    assert_eq!(
        record.effective.map(|when| when.date()),
        Some(time::macros::date!(2020 - 01 - 10))
    );
}

#[test]
fn a_time_is_dated_by_the_calendar_day_of_its_own_offset_not_by_utc() {
    // 00:30 in +02:00 is 22:30 the day before in UTC: the record says 15 June, so 15 June it is.
    let (record, _) = one_record(observation(json!({
        "effectiveDateTime": "2025-06-15T00:30:00+02:00"
    })));
    let effective = record.effective.expect("dated");
    assert_eq!(effective.date(), time::macros::date!(2025 - 06 - 15));
    assert_eq!(
        effective.at,
        datetime!(2025-06-14 22:30 UTC),
        "the instant is kept"
    );
    // And the other way round: 23:30 in -05:00 is the next day in UTC.
    let (record, _) = one_record(observation(json!({
        "effectiveDateTime": "2025-06-14T23:30:00-05:00"
    })));
    assert_eq!(
        record.effective.expect("dated").date(),
        time::macros::date!(2025 - 06 - 14)
    );
}

#[test]
fn a_medication_request_names_its_drug_through_a_contained_or_a_bundled_medication() {
    let methotrexate = json!({"resourceType": "Medication", "id": "med-1",
        "code": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "6851"}],
                 "text": "methotrexate 25 mg/mL injection"}});
    let request = |id: &str, reference: &str| {
        json!({"resourceType": "MedicationRequest", "id": id, "status": "draft", "intent": "order",
               "subject": {"reference": "Patient/p1"},
               "medicationReference": {"reference": reference}})
    };
    let mut contained = request("contained", "#med-1");
    contained["contained"] = json!([methotrexate]);
    let bundle = json!({"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": contained},
        {"resource": request("by-id", "Medication/med-1")},
        {"resource": request("by-full-url", "urn:uuid:5b3a2c1e-0000-4000-8000-000000000001")},
        {"resource": request("absolute", "https://ehr.example/fhir/Medication/med-1")},
        {"resource": request("elsewhere", "Medication/not-sent")},
        {"fullUrl": "urn:uuid:5b3a2c1e-0000-4000-8000-000000000001", "resource": methotrexate},
    ]});
    let (orders, diagnostics) = draft_orders(&bundle);
    assert!(diagnostics.is_empty(), "{diagnostics:?}");
    let ids: Vec<&str> = orders.iter().map(|order| order.id.as_str()).collect();
    assert_eq!(
        ids,
        vec!["contained", "by-id", "by-full-url", "absolute", "elsewhere"],
        "the Medication itself is not an order"
    );
    for order in &orders[..4] {
        assert_eq!(
            order.codes,
            vec![Code::new(
                "http://www.nlm.nih.gov/research/umls/rxnorm",
                "6851"
            )],
            "{}",
            order.id
        );
        assert!(order.text.iter().any(|text| text.contains("methotrexate")));
    }
    assert!(
        orders[4].codes.is_empty(),
        "a Medication not sent is not guessed"
    );
}

#[test]
fn a_draft_orders_stated_reason_and_weekly_schedule_are_read_even_when_the_order_is_read_by_parts()
{
    let bundle = json!({"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": {"resourceType": "MedicationRequest", "id": "ra", "status": "draft", "intent": "order",
            "subject": {"reference": "Patient/p1"},
            "medicationCodeableConcept": {"text": "methotrexate 2.5 mg tablet"},
            "reasonCode": [{"text": "RA flare", "coding": [{"system": "http://snomed.info/sct", "code": "69896004", "display": "Rheumatoid arthritis"}]}],
            "dosageInstruction": [{"text": "15 mg by mouth", "timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "wk"}}}]}},
        {"resource": {"resourceType": "MedicationRequest", "id": "broken", "status": "draft",
            "medicationCodeableConcept": {"text": "methotrexate"},
            "reasonCode": [{"text": "psoriasis"}]}},
        {"resource": {"resourceType": "MedicationRequest", "id": "plain", "status": "draft", "intent": "order",
            "subject": {"reference": "Patient/p1"},
            "medicationCodeableConcept": {"text": "methotrexate 50 mg/m2"}}}
    ]});
    let (orders, _) = draft_orders(&bundle);
    assert_eq!(
        orders[0].reasons,
        [
            "RA flare",
            "Rheumatoid arthritis",
            "15 mg by mouth",
            "weekly"
        ]
    );
    assert_eq!(orders[1].reasons, ["psoriasis"]);
    assert!(orders[2].reasons.is_empty());
}

#[test]
fn a_medication_named_by_reference_to_a_contained_medication_is_read_by_its_code() {
    let given = json!({
        "resourceType": "MedicationAdministration", "id": "rhig", "status": "completed",
        "contained": [{"resourceType": "Medication", "id": "m1",
            "code": {"coding": [{"system": "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets",
                                 "code": "J2790", "display": "Rho(D) immune globulin 300 mcg"}]}}],
        "medicationReference": {"reference": "#m1", "display": "RhoGAM"},
        "subject": {"reference": "Patient/p1"}, "effectiveDateTime": "2026-09-09"
    });
    let mapped = facts_from_resources([&given]);
    assert!(mapped.diagnostics.is_empty(), "{:?}", mapped.diagnostics);
    let record = &mapped.facts.records[0];
    assert_eq!(record.kind, RecordKind::MedicationAdministration);
    assert_eq!(record.codes[0].code, "J2790");
    assert_eq!(
        record.text,
        vec![
            "Rho(D) immune globulin 300 mcg".to_owned(),
            "RhoGAM".to_owned()
        ]
    );
    // The fast reader leaves the reference to this reader.
    assert!(crate::fast::read_resource_json(&given.to_string()).is_none());
    // A reference it cannot resolve keeps the drug's name from its display.
    let mut elsewhere = given.clone();
    elsewhere["medicationReference"]["reference"] = json!("Medication/elsewhere");
    let record = &facts_from_resources([&elsewhere]).facts.records[0];
    assert!(record.codes.is_empty());
    assert_eq!(record.text, vec!["RhoGAM".to_owned()]);
}
