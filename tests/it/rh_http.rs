//! Anti-D alloimmunisation read from the laboratory over HTTP (knowledge.md §3.6 item 12), by
//! prefetch and by fetch from wiremock: pub11 (RhD negative, bleeding at 12w6d) with a positive
//! antibody screen and anti-D identified in this pregnancy gets no anti-D advice, and the note
//! that RhIG is not indicated; a weak D result is read as RhD negative until genotyped (item 11).

use serde_json::{Value, json};
use time::{Duration, OffsetDateTime};

use crate::helpers::TestApp;
use crate::real_world::{cards_both_ways, scenario};
use crate::scenarios_http::Scenario;

fn days_ago(days: i64) -> String {
    (OffsetDateTime::now_utc().date() - Duration::days(days)).to_string()
}

fn result(id: &str, code: &str, value: Value) -> Value {
    let mut observation = json!({
        "resourceType": "Observation", "id": id, "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
        "subject": {"reference": "Patient/pub11"},
        "effectiveDateTime": days_ago(30)
    });
    for (key, value) in value.as_object().unwrap() {
        observation[key] = value.clone();
    }
    observation
}

/// pub11 with an antibody screen and an identification of `antibody`.
fn rh_negative_with_antibody(antibody: &str) -> Scenario {
    let mut chart = scenario("pub11");
    chart.resources.push(result(
        "screen",
        "890-4",
        json!({"valueCodeableConcept": {"coding": [
            {"system": "http://loinc.org", "code": "LA6576-8", "display": "Positive"}]}}),
    ));
    chart
        .resources
        .push(result("abid", "888-8", json!({"valueString": antibody})));
    chart
}

/// Every card's summary and detail, after checking that prefetch and fetch agree.
async fn text(app: &TestApp, chart: &Scenario) -> String {
    let [by_prefetch, by_fetch] = cards_both_ways(app, chart).await;
    let of = |cards: &[Value]| {
        cards
            .iter()
            .map(|c| format!("{}: {}\n{}", c["indicator"], c["summary"], c["detail"]))
            .collect::<Vec<_>>()
            .join("\n\n")
    };
    assert_eq!(
        of(&by_prefetch),
        of(&by_fetch),
        "prefetch and fetch disagree"
    );
    of(&by_prefetch)
}

#[tokio::test]
async fn anti_d_identified_in_this_pregnancy_means_rhig_is_not_indicated_and_no_anti_d_is_advised()
{
    let app = TestApp::spawn().await;
    // Another antibody: she may still be protected by RhIG, and the card advises it.
    let control = text(&app, &rh_negative_with_antibody("Anti-Kell")).await;
    assert!(
        control.contains("Anti-D immune globulin is recommended"),
        "{control}"
    );
    let answer = text(&app, &rh_negative_with_antibody("Anti-D")).await;
    assert!(
        answer.contains(
            "Anti-D alloimmunisation on record: RhIG is not indicated; maternal–fetal medicine care."
        ),
        "{answer}"
    );
    assert!(
        !answer.contains("Anti-D immune globulin is recommended"),
        "{answer}"
    );
    assert!(!answer.contains("\"warning\""), "{answer}");
}

#[tokio::test]
async fn a_weak_d_result_gets_the_anti_d_card_worded_as_weak_d_by_prefetch_and_by_fetch() {
    let app = TestApp::spawn().await;
    let mut chart = scenario("pub11");
    let rh = chart
        .resources
        .iter_mut()
        .find(|r| r["id"] == "pub11-obs-6")
        .expect("pub11 has its Rh result");
    rh.as_object_mut().unwrap().remove("valueCodeableConcept");
    rh["valueString"] = json!("Weak D (Du) positive");
    let answer = text(&app, &chart).await;
    assert!(
        answer.contains("Anti-D immune globulin is recommended"),
        "{answer}"
    );
    assert!(
        answer
            .contains("Serologic weak D or partial D: treat as RhD-negative until RHD genotyped."),
        "{answer}"
    );
}
