//! Regression tests for the classes of bad input that fuzzing 24,000 mutated hook calls found
//! (tracker issues 14 and 18): impossible dates, template and Markdown syntax in chart text,
//! records about another patient, bad ids, and duplicated records. Each test posts a real
//! patient-view call, with prefetch, to a real Gravida on port 0 and reads the cards it answers.
//!
//! The charts are built in code around today's date (not from fixtures), so each test shows the
//! one field it mutates next to a chart that would otherwise fire a card.

use regex::Regex;
use serde_json::{Map, Value, json};
use time::{Duration, OffsetDateTime};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::expect::card_text;
use crate::fhir_sim::run_query;
use crate::helpers::TestApp;
use crate::scenarios_http::{Scenario, prefetch_for, request};

const SERVICE: &str = "gravida-patient-view";
const TOKEN: &str = "fuzz-classes-access-token-93d1";

/// A date `days` days from today (negative: in the past), as FHIR writes it.
fn day(days: i64) -> String {
    (OffsetDateTime::now_utc().date() + Duration::days(days)).to_string()
}

/// The motivating chart of patient `patient`: pregnant, LMP 10 weeks ago, no ultrasound, and an
/// active bleeding Condition with onset today (`bleed` lets a test change it). It fires R2
/// ("ectopic pregnancy not excluded") as it is.
fn chart(patient: &str, bleed: impl FnOnce(&mut Value)) -> Vec<Value> {
    let subject = json!({ "reference": format!("Patient/{patient}") });
    let mut bleeding = json!({
        "resourceType": "Condition", "id": format!("{patient}-bleed"),
        "clinicalStatus": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active" }] },
        "verificationStatus": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "confirmed" }] },
        "code": { "coding": [{ "system": "http://snomed.info/sct", "code": "723665008",
                               "display": "Vaginal bleeding complicating early pregnancy" }],
                  "text": "vaginal bleeding" },
        "subject": subject, "onsetDateTime": day(0),
    });
    bleed(&mut bleeding);
    vec![
        json!({ "resourceType": "Patient", "id": patient, "gender": "female", "birthDate": "1993-04-12" }),
        json!({
            "resourceType": "Observation", "id": format!("{patient}-status"), "status": "final",
            "code": { "coding": [{ "system": "http://loinc.org", "code": "82810-3" }] },
            "subject": subject, "effectiveDateTime": day(-30),
            "valueCodeableConcept": { "coding": [{ "system": "http://snomed.info/sct", "code": "77386006" }] },
        }),
        lmp(patient, "lmp", day(-5), day(-70)),
        bleeding,
    ]
}

/// An LMP Observation charted on `charted`, saying the LMP began on `lmp`.
fn lmp(patient: &str, id: &str, charted: String, lmp: String) -> Value {
    json!({
        "resourceType": "Observation", "id": format!("{patient}-{id}"), "status": "final",
        "code": { "coding": [{ "system": "http://loinc.org", "code": "8665-2" }] },
        "subject": { "reference": format!("Patient/{patient}") },
        "effectiveDateTime": charted, "valueDateTime": lmp,
    })
}

fn scenario(patient: &str, resources: Vec<Value>) -> Scenario {
    Scenario {
        name: format!("fuzz-{patient}"),
        hook: "patient-view".into(),
        context: json!({ "userId": "Practitioner/example", "patientId": patient }),
        resources,
        expect: Value::Null,
    }
}

/// Posts a patient-view call for `patient` with everything prefetched from `resources` (as an
/// EHR that honours every template would send it), and returns the status and the cards.
async fn call(app: &TestApp, patient: &str, resources: Vec<Value>) -> (u16, Vec<Value>) {
    let scenario = scenario(patient, resources);
    let prefetch = prefetch_for(app, SERVICE, &scenario).await;
    call_with(app, &scenario, prefetch).await
}

async fn call_with(
    app: &TestApp,
    scenario: &Scenario,
    prefetch: Map<String, Value>,
) -> (u16, Vec<Value>) {
    let (status, body) = app
        .call(SERVICE, &request(scenario, Some(prefetch), None))
        .await;
    (
        status,
        body["cards"].as_array().cloned().unwrap_or_default(),
    )
}

/// Every card's visible text, joined.
fn all_text(cards: &[Value]) -> String {
    cards.iter().map(card_text).collect::<Vec<_>>().join("\n")
}

fn rules(cards: &[Value]) -> Vec<String> {
    cards
        .iter()
        .map(|c| {
            c["source"]["topic"]["code"]
                .as_str()
                .unwrap_or("")
                .to_owned()
        })
        .collect()
}

/// Every gestational age written on the cards (`12w0d`, `-3w2d`) is between 0w0d and 45w0d.
fn assert_no_absurd_ga(cards: &[Value]) {
    let text = all_text(cards);
    let ga = Regex::new(r"(-?)(\d+)w(\d)d").unwrap();
    for m in ga.captures_iter(&text) {
        let weeks: i64 = m[2].parse().unwrap_or(i64::MAX);
        assert!(
            m[1].is_empty() && weeks <= 45,
            "an impossible gestational age {} on a card:\n{text}",
            &m[0]
        );
    }
}

// ----- Impossible dates (issue 14 item 4) ------------------------------------------------------

#[tokio::test]
async fn a_bleed_dated_9999_12_31_is_named_as_dated_in_the_future_and_no_absurd_ga_is_shown() {
    let app = TestApp::spawn().await;
    let (status, cards) = call(
        &app,
        "fz01",
        chart("fz01", |b| b["onsetDateTime"] = json!("9999-12-31")),
    )
    .await;
    assert_eq!(status, 200);
    assert!(!cards.is_empty(), "the patient is not passed silently");
    let text = all_text(&cards);
    assert!(text.contains("dated in the future"), "{text}");
    assert!(text.contains("9999-12-31"), "{text}");
    assert_no_absurd_ga(&cards);
}

#[tokio::test]
async fn a_bleeding_observation_dated_9999_12_31_is_named_as_dated_in_the_future() {
    let app = TestApp::spawn().await;
    let mut resources = chart("fz02", |_| {});
    resources.pop();
    resources.push(json!({
        "resourceType": "Observation", "id": "fz02-bleed-obs", "status": "final",
        "code": { "coding": [{ "system": "http://snomed.info/sct", "code": "289530006" }],
                  "text": "Vaginal bleeding" },
        "subject": { "reference": "Patient/fz02" }, "effectiveDateTime": "9999-12-31",
    }));
    let (status, cards) = call(&app, "fz02", resources).await;
    assert_eq!(status, 200);
    let text = all_text(&cards);
    assert!(!cards.is_empty(), "the patient is not passed silently");
    assert!(text.contains("dated in the future"), "{text}");
    assert_no_absurd_ga(&cards);
}

#[tokio::test]
async fn a_bleed_dated_two_years_before_the_pregnancy_is_named_as_dated_before_this_pregnancy() {
    let app = TestApp::spawn().await;
    let (status, cards) = call(
        &app,
        "fz03",
        chart("fz03", |b| b["onsetDateTime"] = json!(day(-70 - 730))),
    )
    .await;
    assert_eq!(status, 200);
    let text = all_text(&cards);
    assert!(!cards.is_empty(), "the patient is not passed silently");
    assert!(text.contains("dated before this pregnancy"), "{text}");
    // G4: the old bleed is not this pregnancy's; no bleeding rule reads it.
    assert_eq!(rules(&cards), ["D1"], "{text}");
    assert_no_absurd_ga(&cards);
}

#[tokio::test]
async fn a_dating_record_dated_in_the_future_is_named_and_not_used_to_date_the_pregnancy() {
    let app = TestApp::spawn().await;
    // Each chart has one dating record, made impossible in a different way.
    let edd = |value: &str, charted: &str| {
        json!({
            "resourceType": "Observation", "id": "fz04-dating", "status": "final",
            "code": { "coding": [{ "system": "http://loinc.org", "code": "11778-8" }] },
            "subject": { "reference": "Patient/fz04" },
            "effectiveDateTime": charted, "valueDateTime": value,
        })
    };
    let ultrasound_ga = json!({
        "resourceType": "Observation", "id": "fz04-dating", "status": "final",
        "code": { "coding": [{ "system": "http://loinc.org", "code": "11888-5" }] },
        "subject": { "reference": "Patient/fz04" }, "effectiveDateTime": "9999-12-31",
        "valueQuantity": { "value": 8, "unit": "wk", "system": "http://unitsofmeasure.org", "code": "wk" },
    });
    let variants = [
        (
            "an LMP in the future",
            lmp("fz04", "dating", day(-5), "9999-12-31".into()),
        ),
        ("an EDD in 9999", edd("9999-12-31", &day(-5))),
        ("an EDD charted in 9999", edd(&day(200), "9999-12-31")),
        ("an ultrasound GA measured in 9999", ultrasound_ga),
    ];
    for (what, dating) in variants {
        let mut resources = chart("fz04", |_| {});
        resources[2] = dating;
        let (status, cards) = call(&app, "fz04", resources).await;
        assert_eq!(status, 200, "{what}");
        let text = all_text(&cards);
        assert!(text.contains("in the future"), "{what}:\n{text}");
        assert!(text.contains("fz04\\-dating"), "{what} is named:\n{text}");
        assert_no_absurd_ga(&cards);
    }
}
