//! The chart read in every form FHIR allows (knowledge.md §3.6 items 3, 5 and 6), end to end:
//! a public scenario rewritten the way another EHR sends the same chart (a code system under its
//! OID, hCG in IU/mL, a fetal heart written "Present", a gestational age written "8 weeks 6
//! days"), answered by prefetch and by fetch from wiremock, beside the unchanged scenario.

use serde_json::{Value, json};

use crate::helpers::TestApp;
use crate::real_world::{cards_both_ways, scenario};
use crate::scenarios_http::Scenario;

/// The resource of the scenario with this id, to rewrite.
fn resource<'s>(scenario: &'s mut Scenario, id: &str) -> &'s mut Value {
    scenario
        .resources
        .iter_mut()
        .find(|r| r["id"] == id)
        .unwrap_or_else(|| panic!("the scenario has {id}"))
}

/// Each card's indicator and summary, in order.
fn summaries(cards: &[Value]) -> Vec<String> {
    cards
        .iter()
        .map(|c| format!("{}: {}", c["indicator"], c["summary"]))
        .collect()
}

fn details(cards: &[Value]) -> String {
    cards
        .iter()
        .map(|c| format!("{} {}", c["summary"], c["detail"]))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The summaries of the scenario's cards, by prefetch and by fetch, which must agree.
async fn answered(app: &TestApp, scenario: &Scenario) -> (Vec<String>, String) {
    let [by_prefetch, by_fetch] = cards_both_ways(app, scenario).await;
    assert_eq!(
        summaries(&by_prefetch),
        summaries(&by_fetch),
        "prefetch and fetch disagree"
    );
    (summaries(&by_prefetch), details(&by_prefetch))
}

/// pub13 with its bleeding diagnosis coded `system|code`, with no display (so only the code can
/// name it), and no pregnancy-status Observation: the O-code is the only pregnancy evidence too.
fn coded_only(system: &str, code: &str) -> Scenario {
    let mut s = scenario("pub13");
    s.resources.retain(|r| r["id"] != "pub13-obs-1");
    let condition = resource(&mut s, "pub13-cond-2");
    condition["code"] = json!({"coding": [{"system": system, "code": code}]});
    condition.as_object_mut().unwrap().remove("note");
    s
}

#[tokio::test]
async fn a_bleeding_diagnosis_sent_under_the_icd10cm_oid_or_as_who_icd10_gets_the_same_card() {
    let app = TestApp::spawn().await;
    let (control, _) = answered(
        &app,
        &coded_only("http://hl7.org/fhir/sid/icd-10-cm", "O20.9"),
    )
    .await;
    assert!(!control.is_empty(), "the bleed as coded fires");
    for (system, code) in [
        ("urn:oid:2.16.840.1.113883.6.90", "O209"),
        ("http://hl7.org/fhir/sid/icd-10", "O20.9"),
        ("http://hl7.org/fhir/sid/icd-10-cm", "o20.9"),
    ] {
        let (cards, _) = answered(&app, &coded_only(system, code)).await;
        assert_eq!(cards, control, "{system}|{code}");
    }
}

/// pub04 with its second hCG 48 hours after 900 m[IU]/mL written as `second`: a rise to 1,000 is
/// slower than Barnhart's minimum, and the card says so.
fn slow_rise(second: Value) -> Scenario {
    let mut s = scenario("pub04");
    resource(&mut s, "pub04-obs-4")["valueQuantity"] = second;
    s
}

#[tokio::test]
async fn an_hcg_in_iu_per_ml_is_a_thousand_miu_per_ml_and_a_unit_that_cannot_be_read_is_named() {
    let app = TestApp::spawn().await;
    let (control, control_text) = answered(
        &app,
        &slow_rise(json!({"value": 1000, "unit": "mIU/mL",
            "system": "http://unitsofmeasure.org", "code": "m[IU]/mL"})),
    )
    .await;
    assert!(control_text.contains("slower"), "{control_text}");
    let (cards, text) = answered(
        &app,
        &slow_rise(json!({"value": 1.0, "unit": "IU/mL",
            "system": "http://unitsofmeasure.org", "code": "[IU]/mL"})),
    )
    .await;
    assert_eq!(cards, control);
    assert!(text.contains("slower"), "the trend in IU/mL: {text}");
    assert!(!text.contains("could not be read"), "{text}");
    // Not an hCG unit, or no unit at all: never a trend, and the card names the record.
    for unit in ["ng/mL", "[unit?]"] {
        let (_, text) = answered(&app, &slow_rise(json!({"value": 1.0, "unit": unit}))).await;
        assert!(!text.contains("slower"), "{unit}: {text}");
        assert!(text.contains("could not be read"), "{unit}: {text}");
    }
}

/// pub03 with the IUP documented only by the fetal heart activity, written as `value`.
fn heart_only(value: Value) -> Scenario {
    let mut s = scenario("pub03");
    s.resources
        .retain(|r| r["id"] != "pub03-cond-3" && r["id"] != "pub03-obs-5");
    let heart = resource(&mut s, "pub03-obs-4");
    heart
        .as_object_mut()
        .unwrap()
        .remove("valueCodeableConcept");
    for (key, value) in value.as_object().unwrap() {
        heart[key] = value.clone();
    }
    s
}

#[tokio::test]
async fn a_fetal_heart_written_present_or_seen_documents_the_intrauterine_pregnancy() {
    let app = TestApp::spawn().await;
    let coded = json!({"valueCodeableConcept": {"coding": [
        {"system": "http://snomed.info/sct", "code": "52101004", "display": "Present"}]}});
    let (control, control_text) = answered(&app, &heart_only(coded)).await;
    assert!(!control.is_empty());
    assert!(!control_text.contains("ectopic"), "{control_text}");
    for written in [
        json!({"valueString": "Present"}),
        json!({"valueString": "seen"}),
        json!({"valueCodeableConcept": {"text": "Visualized"}}),
        json!({"valueCodeableConcept": {"coding": [
            {"system": "http://loinc.org", "code": "LA9633-4", "display": "Present"}]}}),
    ] {
        let (cards, text) = answered(&app, &heart_only(written.clone())).await;
        assert_eq!(cards, control, "{written}");
        assert!(!text.contains("ectopic"), "{written}: {text}");
    }
    // Written absent, it documents nothing.
    let (cards, _) = answered(&app, &heart_only(json!({"valueString": "Not seen"}))).await;
    assert_ne!(cards, control);
}

#[tokio::test]
async fn a_gestational_age_written_as_weeks_and_days_dates_the_pregnancy() {
    let app = TestApp::spawn().await;
    let (control, _) = answered(&app, &scenario("pub09")).await;
    assert!(!control.is_empty());
    // 59 days, as the scenario charts it in `d`.
    for written in ["8 weeks 3 days", "8w3d", "8+3", "8 wk 3 d"] {
        let mut s = scenario("pub09");
        let ga = resource(&mut s, "pub09-obs-2");
        ga.as_object_mut().unwrap().remove("valueQuantity");
        ga["valueString"] = json!(written);
        let (cards, _) = answered(&app, &s).await;
        assert_eq!(cards, control, "{written}");
    }
    let mut s = scenario("pub09");
    resource(&mut s, "pub09-obs-2")["valueQuantity"] = json!({"value": 8.428571, "unit": "wk", "system": "http://unitsofmeasure.org", "code": "wk"});
    let (cards, _) = answered(&app, &s).await;
    assert_eq!(cards, control, "8.43 wk = 59 d");
}
