//! Pregnancy evidence and the reading classes of issue #30, end to end by prefetch and by fetch
//! (wiremock as the EHR): a pregnancy test read both ways (knowledge.md §3.6 item 7).
//!
//! Each chart is small and written here, dated relative to today; each test has a control that
//! changes one record, so that the test fails if the class is not read.

use serde_json::{Value, json};

use crate::heavy_charts::{day, scenario};
use crate::helpers::TestApp;
use crate::real_world::cards_both_ways;
use crate::scenarios_http::Scenario;

const PATIENT: &str = "evidence-pt";

fn subject() -> Value {
    json!({ "reference": format!("Patient/{PATIENT}") })
}

fn patient() -> Value {
    json!({ "resourceType": "Patient", "id": PATIENT, "gender": "female", "birthDate": "1994-02-03" })
}

/// "Bleeding from vagina" (a finding, not itself pregnancy evidence), `days` from today.
fn bleed(days: i64) -> Value {
    json!({
        "resourceType": "Condition", "id": "ev-bleed",
        "clinicalStatus": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active" }] },
        "verificationStatus": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "confirmed" }] },
        "code": { "coding": [{ "system": "http://snomed.info/sct", "code": "289530006" }], "text": "Vaginal bleeding" },
        "subject": subject(), "onsetDateTime": day(days),
    })
}

/// A qualitative urine pregnancy test (LOINC 2106-3), `days` from today, its value `value`
/// (the whole `value[x]` element, in any form FHIR allows).
fn urine_test(id: &str, days: i64, value: Value) -> Value {
    let mut test = json!({
        "resourceType": "Observation", "id": id, "status": "final",
        "code": { "coding": [{ "system": "http://loinc.org", "code": "2106-3" }], "text": "Urine HCG, POC" },
        "subject": subject(), "effectiveDateTime": day(days),
    });
    for (key, v) in value.as_object().unwrap() {
        test[key] = v.clone();
    }
    test
}

/// A quantitative serum hCG of `iu_per_l` IU/L, `days` from today.
fn serum_hcg(days: i64, iu_per_l: f64) -> Value {
    json!({
        "resourceType": "Observation", "id": "ev-hcg", "status": "final",
        "code": { "coding": [{ "system": "http://loinc.org", "code": "83086-9" }] },
        "subject": subject(), "effectiveDateTime": day(days),
        "valueQuantity": { "value": iu_per_l, "unit": "IU/L", "system": "http://unitsofmeasure.org", "code": "[IU]/L" },
    })
}

fn chart(resources: Vec<Value>) -> Scenario {
    let mut all = vec![patient()];
    all.extend(resources);
    scenario(PATIENT, all)
}

/// "indicator: summary" of each card, by prefetch and by fetch, which must agree.
async fn cards(app: &TestApp, chart: &Scenario) -> Vec<String> {
    let [by_prefetch, by_fetch] = cards_both_ways(app, chart).await;
    let summaries = |cards: &[Value]| -> Vec<String> {
        cards
            .iter()
            .map(|c| format!("{}: {}", c["indicator"], c["summary"]))
            .collect()
    };
    assert_eq!(
        summaries(&by_prefetch),
        summaries(&by_fetch),
        "prefetch and fetch disagree"
    );
    summaries(&by_prefetch)
}

#[tokio::test]
async fn a_positive_urine_test_in_any_value_form_is_pregnancy_evidence_for_an_undated_bleed() {
    let app = TestApp::spawn().await;
    let control = cards(&app, &chart(vec![bleed(0)])).await;
    assert!(control.is_empty(), "no evidence, no card: {control:?}");
    for value in [
        json!({ "valueString": "Positive" }),
        json!({ "valueBoolean": true }),
        json!({ "valueCodeableConcept": { "coding": [{ "system": "http://loinc.org", "code": "LA6576-8" }] } }),
        json!({ "valueCodeableConcept": { "coding": [{ "system": "urn:oid:2.16.840.1.113883.6.1", "code": "LA11882-0" }] } }),
    ] {
        let got = cards(
            &app,
            &chart(vec![urine_test("ev-upt", -2, value.clone()), bleed(0)]),
        )
        .await;
        assert!(
            got.iter()
                .any(|c| c.starts_with("\"warning\"") && c.contains("unknown gestational age")),
            "{value}: {got:?}"
        );
    }
}

#[tokio::test]
async fn a_negative_test_after_the_bleed_and_after_every_positive_one_means_no_ongoing_pregnancy() {
    let app = TestApp::spawn().await;
    let positive = urine_test(
        "ev-upt",
        -20,
        json!({ "valueCodeableConcept": { "coding": [{ "system": "http://loinc.org", "code": "LA6576-8" }] } }),
    );
    // Control: an hCG of 1,200 IU/L today keeps the pregnancy going, and the bleed gets a card.
    let control = cards(
        &app,
        &chart(vec![positive.clone(), bleed(-10), serum_hcg(0, 1200.0)]),
    )
    .await;
    assert!(
        !control.is_empty(),
        "the bleed of an ongoing pregnancy: {control:?}"
    );
    let quantitative = cards(
        &app,
        &chart(vec![positive.clone(), bleed(-10), serum_hcg(0, 3.0)]),
    )
    .await;
    assert!(
        quantitative.is_empty(),
        "hCG 3 IU/L today: {quantitative:?}"
    );
    let qualitative = cards(
        &app,
        &chart(vec![
            positive.clone(),
            bleed(-10),
            urine_test("ev-neg", 0, json!({ "valueString": "Negative" })),
        ]),
    )
    .await;
    assert!(
        qualitative.is_empty(),
        "a negative urine test today: {qualitative:?}"
    );
    // A positive test after the negative one is new evidence: the card is back.
    let again = cards(
        &app,
        &chart(vec![
            urine_test("ev-neg", -15, json!({ "valueBoolean": false })),
            urine_test("ev-upt", -3, json!({ "valueString": "Positive" })),
            bleed(0),
        ]),
    )
    .await;
    assert!(!again.is_empty(), "positive after negative: {again:?}");
}
