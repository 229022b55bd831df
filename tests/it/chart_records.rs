//! Records charted as Encounters, Procedures and vital-sign panels, end to end: the shapes an
//! emergency department, a scheduling system and a monitor send (knowledge.md §3.5 items 8, 12,
//! 20), by prefetch and by fetch from wiremock, each beside a control without the record.

use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::helpers::TestApp;
use crate::real_fhir::{load_into, real_server};
use crate::real_world::{cards_both_ways, scenario};
use crate::scenarios_http::{Scenario, prefetch_for, request, rules_of};

fn now_local() -> String {
    // A +02:00 timestamp, as a European ED system writes it.
    let offset = time::UtcOffset::from_hms(2, 0, 0).unwrap();
    OffsetDateTime::now_utc()
        .to_offset(offset)
        .replace_nanosecond(0)
        .unwrap()
        .format(&Rfc3339)
        .unwrap()
}

fn without_the_bleeding_condition(mut scenario: Scenario) -> Scenario {
    scenario
        .resources
        .retain(|r| r["resourceType"] != "Condition");
    scenario
}

/// Every card's JSON as one lower-case string, to look for words in.
fn text_of(cards: &[Value]) -> String {
    Value::Array(cards.to_vec()).to_string().to_lowercase()
}

/// pub01 (10w0d by LMP, no ultrasound) whose bleed is charted only as the reason of an
/// emergency Encounter that started today.
fn bleed_as_an_encounter_reason() -> Scenario {
    let mut with_encounter = without_the_bleeding_condition(scenario("pub01"));
    with_encounter.resources.push(json!({
        "resourceType": "Encounter", "id": "ed-visit-1", "status": "in-progress",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "EMER",
                  "display": "emergency"},
        "subject": {"reference": "Patient/pub01"},
        "period": {"start": now_local()},
        "reasonCode": [{"coding": [{"system": "http://snomed.info/sct", "code": "289530006",
                                    "display": "Bleeding from vagina"}],
                        "text": "Vaginal bleeding"}]
    }));
    with_encounter
}

#[tokio::test]
async fn a_bleed_charted_only_as_an_emergency_encounter_s_reason_gets_the_ectopic_warning_both_ways()
 {
    let app = TestApp::spawn().await;
    // pub01 without its bleeding Condition: no bleed, no card.
    let control = without_the_bleeding_condition(scenario("pub01"));
    for cards in cards_both_ways(&app, &control).await {
        assert!(cards.is_empty(), "no bleeding record, no card: {cards:?}");
    }
    for cards in cards_both_ways(&app, &bleed_as_an_encounter_reason()).await {
        let warning = cards
            .iter()
            .find(|c| c["indicator"] == "warning")
            .unwrap_or_else(|| panic!("the Encounter's reason is a bleed: {cards:?}"));
        let text = warning.to_string().to_lowercase();
        assert!(text.contains("ectopic"), "{warning}");
        assert!(
            text.contains("visit 'vaginal bleeding"),
            "the evidence names the Encounter as the visit it is: {warning}"
        );
    }
}

/// pub01 with a completed obstetric ultrasound charted only as a Procedure, today.
fn ultrasound_as_a_procedure() -> Scenario {
    let mut with_procedure = scenario("pub01");
    with_procedure.resources.push(json!({
        "resourceType": "Procedure", "id": "us-proc-1", "status": "completed",
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "169230002",
                             "display": "Ultrasound scan of pregnant uterus"}]},
        "subject": {"reference": "Patient/pub01"},
        "performedDateTime": now_local()
    }));
    with_procedure
}

#[tokio::test]
async fn an_ultrasound_charted_only_as_a_procedure_counts_as_performed_both_ways() {
    let app = TestApp::spawn().await;
    let control = scenario("pub01");
    for cards in cards_both_ways(&app, &control).await {
        assert!(
            text_of(&cards).contains("no ultrasound on record"),
            "without the Procedure there is no ultrasound: {cards:?}"
        );
    }
    for cards in cards_both_ways(&app, &ultrasound_as_a_procedure()).await {
        let text = text_of(&cards);
        assert!(
            !text.contains("no ultrasound on record")
                && text.contains("pregnancy of unknown location"),
            "a scan with no documented IUP is a PUL: {cards:?}"
        );
        assert!(
            cards.iter().any(|c| c["indicator"] == "warning"),
            "still the ectopic warning: {cards:?}"
        );
    }
}

/// pub01 with a blood-pressure panel (SBP 84 as a component) and a heart rate of 128, now.
fn unstable_vital_signs() -> Scenario {
    let mut unstable = scenario("pub01");
    let taken = now_local();
    unstable.resources.push(json!({
        "resourceType": "Observation", "id": "bp-1", "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                  "code": "vital-signs"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9",
                             "display": "Blood pressure panel with all children optional"}]},
        "subject": {"reference": "Patient/pub01"},
        "effectiveDateTime": taken,
        "component": [
            {"code": {"coding": [{"system": "http://loinc.org", "code": "8480-6",
                                  "display": "Systolic blood pressure"}]},
             "valueQuantity": {"value": 84, "unit": "mmHg", "system": "http://unitsofmeasure.org",
                               "code": "mm[Hg]"}},
            {"code": {"coding": [{"system": "http://loinc.org", "code": "8462-4",
                                  "display": "Diastolic blood pressure"}]},
             "valueQuantity": {"value": 48, "unit": "mmHg", "system": "http://unitsofmeasure.org",
                               "code": "mm[Hg]"}}
        ]
    }));
    unstable.resources.push(json!({
        "resourceType": "Observation", "id": "hr-1", "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4", "display": "Heart rate"}]},
        "subject": {"reference": "Patient/pub01"},
        "effectiveDateTime": taken,
        "valueQuantity": {"value": 128, "unit": "/min", "system": "http://unitsofmeasure.org",
                          "code": "/min"}
    }));
    unstable
}

#[tokio::test]
async fn a_blood_pressure_panel_with_a_low_systolic_component_and_a_fast_pulse_make_the_card_critical()
 {
    let app = TestApp::spawn().await;
    for cards in cards_both_ways(&app, &unstable_vital_signs()).await {
        let critical = cards
            .iter()
            .find(|c| c["indicator"] == "critical")
            .unwrap_or_else(|| panic!("SBP 84 and HR 128 at 10w0d: {cards:?}"));
        let text = critical.to_string().to_lowercase();
        assert!(
            text.contains("haemodynamic") || text.contains("hemodynamic"),
            "{critical}"
        );
        assert!(
            text.contains("84"),
            "the systolic pressure is named: {critical}"
        );
    }
    // The control, pub01 as it is, stays a warning.
    for cards in cards_both_ways(&app, &scenario("pub01")).await {
        assert!(
            cards.iter().all(|c| c["indicator"] != "critical"),
            "{cards:?}"
        );
    }
}

/// The scenario with its patient renamed, so that its records do not mix with pub01's on a
/// shared FHIR server.
fn as_patient(scenario: Scenario, id: &str) -> Scenario {
    let rename = |value: &Value| -> Value {
        serde_json::from_str(&value.to_string().replace("pub01", id)).unwrap()
    };
    Scenario {
        name: id.to_owned(),
        hook: scenario.hook,
        context: rename(&scenario.context),
        resources: scenario.resources.iter().map(rename).collect(),
        expect: scenario.expect,
    }
}

#[tokio::test]
async fn encounters_procedures_and_vital_sign_panels_fetched_from_a_real_fhir_server_give_the_prefetch_cards()
 {
    let Some((base, token)) = real_server() else {
        return;
    };
    let app = TestApp::spawn().await;
    let shapes = [
        (
            as_patient(bleed_as_an_encounter_reason(), "rw-enc01"),
            "warning",
        ),
        (
            as_patient(ultrasound_as_a_procedure(), "rw-proc01"),
            "warning",
        ),
        (as_patient(unstable_vital_signs(), "rw-vital01"), "critical"),
    ];
    for (shape, indicator) in shapes {
        load_into(&base, &token, &shape).await;
        let prefetch = prefetch_for(&app, "gravida-patient-view", &shape).await;
        let (_, by_prefetch) = app
            .call(
                "gravida-patient-view",
                &request(&shape, Some(prefetch), None),
            )
            .await;
        let (status, by_fetch) = app
            .call(
                "gravida-patient-view",
                &request(&shape, None, Some((&base, &token))),
            )
            .await;
        assert_eq!(status, 200, "{}: {by_fetch}", shape.name);
        let by_prefetch = by_prefetch["cards"].as_array().cloned().unwrap_or_default();
        let by_fetch = by_fetch["cards"].as_array().cloned().unwrap_or_default();
        assert_eq!(
            rules_of(&by_fetch),
            rules_of(&by_prefetch),
            "{}",
            shape.name
        );
        assert!(
            by_fetch.iter().any(|c| c["indicator"] == indicator),
            "{}: a {indicator} card from the real server: {by_fetch:?}",
            shape.name
        );
        assert!(
            !text_of(&by_fetch).contains("could not be retrieved"),
            "{}: every search answered: {by_fetch:?}",
            shape.name
        );
    }
}
