//! Medication records read from the chart over HTTP (knowledge.md §3.6 items 10 and 21), by
//! prefetch and by fetch from wiremock (and from the real FHIR server when one is configured):
//! pub11 (RhD negative, bleeding at 12w6d) with anti-D given as a MedicationAdministration gets
//! no anti-D advice, and the same dose `not-done` still gets it; an active enoxaparin
//! prescription is named on the bleeding card; medication records that cannot be fetched are named
//! on the card; discovery asks for read access to them.

use serde_json::{Value, json};
use time::{Duration, OffsetDateTime};
use wiremock::matchers::{method, path};
use wiremock::{Mock, Request, ResponseTemplate};

use crate::helpers::TestApp;
use crate::real_world::{cards_both_ways, ehr, scenario};
use crate::scenarios_http::{Scenario, TOKEN, prefetch_for, request};

const ANTI_D_ADVICE: &str = "Anti-D immune globulin is recommended";

fn days_ago(days: i64) -> String {
    (OffsetDateTime::now_utc().date() - Duration::days(days)).to_string()
}

/// Anti-D (RhoGAM, Rho(D) immune globulin) given to pub11 ten days ago, with `status`.
fn rhig_given(status: &str) -> Value {
    json!({
        "resourceType": "MedicationAdministration", "id": "pub11-rhig", "status": status,
        "medicationCodeableConcept": {
            "coding": [{ "system": "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets",
                         "code": "J2790" }],
            "text": "Rho(D) immune globulin (RhoGAM) 300 mcg IM" },
        "subject": { "reference": "Patient/pub11" },
        "effectiveDateTime": days_ago(10),
    })
}

/// pub11 with `extra` in its chart.
fn pub11_with(extra: Vec<Value>) -> Scenario {
    let mut chart = scenario("pub11");
    chart.resources.extend(extra);
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

/// The searches the fetch path sent to wiremock for `chart`, as `path?query`.
async fn fetched_searches(app: &TestApp, chart: &Scenario) -> Vec<String> {
    let server = ehr(chart.resources.clone()).await;
    let base = format!("{}/fhir", server.uri());
    let service = format!("gravida-{}", chart.hook);
    let (status, body) = app
        .call(&service, &request(chart, None, Some((&base, TOKEN))))
        .await;
    assert_eq!(status, 200, "{body}");
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .map(|r: &Request| format!("{}?{}", r.url.path(), r.url.query().unwrap_or_default()))
        .collect()
}

#[tokio::test]
async fn anti_d_given_as_a_medication_administration_ten_days_ago_means_no_anti_d_advice() {
    let app = TestApp::spawn().await;
    // Control: without the dose, the RhD-negative bleed at 12w6d is advised anti-D.
    let control = text(&app, &pub11_with(vec![])).await;
    assert!(control.contains(ANTI_D_ADVICE), "{control}");
    let answer = text(&app, &pub11_with(vec![rhig_given("completed")])).await;
    assert!(!answer.contains(ANTI_D_ADVICE), "{answer}");
    assert!(!answer.is_empty(), "the bleed still gets its card");
}

#[tokio::test]
async fn the_fetch_path_asks_for_the_patients_medication_administrations() {
    let app = TestApp::spawn().await;
    let chart = pub11_with(vec![rhig_given("completed")]);
    let searches = fetched_searches(&app, &chart).await;
    assert!(
        searches
            .iter()
            .any(|s| s.starts_with("/fhir/MedicationAdministration?")
                && s.contains("patient=pub11")
                && s.contains("effective-time=ge")),
        "{searches:?}"
    );
    for resource in ["MedicationStatement", "MedicationRequest", "Immunization"] {
        assert!(
            searches.iter().any(
                |s| s.starts_with(&format!("/fhir/{resource}?")) && s.contains("patient=pub11")
            ),
            "{resource}: {searches:?}"
        );
    }
}

#[tokio::test]
async fn a_dose_of_anti_d_not_done_still_gets_the_anti_d_advice() {
    let app = TestApp::spawn().await;
    let answer = text(&app, &pub11_with(vec![rhig_given("not-done")])).await;
    assert!(answer.contains(ANTI_D_ADVICE), "{answer}");
}

#[tokio::test]
async fn an_active_enoxaparin_prescription_is_named_on_the_bleeding_card() {
    let app = TestApp::spawn().await;
    let enoxaparin = |status: &str| {
        json!({
            "resourceType": "MedicationRequest", "id": "pub11-lmwh", "status": status,
            "intent": "order",
            "medicationCodeableConcept": { "text": "Enoxaparin 40 mg subcutaneous daily" },
            "subject": { "reference": "Patient/pub11" },
            "authoredOn": days_ago(40),
        })
    };
    let named = "review anticoagulation with the prescribing team";
    // Control: a stopped prescription is no current anticoagulant (nor fetched: the search asks
    // for the active ones).
    let stopped = text(&app, &pub11_with(vec![enoxaparin("stopped")])).await;
    assert!(!stopped.contains(named), "{stopped}");
    let answer = text(&app, &pub11_with(vec![enoxaparin("active")])).await;
    assert!(answer.contains(named), "{answer}");
    assert!(answer.contains("Enoxaparin 40 mg"), "{answer}");
}

#[tokio::test]
async fn the_prefetch_templates_name_the_medication_searches() {
    let app = TestApp::spawn().await;
    let chart = pub11_with(vec![]);
    let prefetch = prefetch_for(&app, "gravida-patient-view", &chart).await;
    for key in [
        "medicationAdministrations",
        "medicationStatements",
        "medicationRequests",
        "immunizations",
    ] {
        assert!(prefetch.contains_key(key), "{key}: {:?}", prefetch.keys());
    }
}

#[tokio::test]
async fn discovery_asks_for_read_access_to_the_medication_records() {
    let app = TestApp::spawn().await;
    let (status, discovery) = app.get("/cds-services").await;
    assert_eq!(status, 200, "{discovery}");
    for service in discovery["services"].as_array().expect("services") {
        let usage = service["usageRequirements"].as_str().unwrap_or_default();
        for resource in [
            "MedicationAdministration",
            "MedicationStatement",
            "MedicationRequest",
            "Immunization",
        ] {
            for scope in [
                format!("patient/{resource}.read"),
                format!("patient/{resource}.rs"),
            ] {
                assert!(
                    usage.contains(&scope),
                    "{}: {scope} in {usage}",
                    service["id"]
                );
            }
        }
    }
}

#[tokio::test]
async fn medication_records_that_cannot_be_fetched_are_named_on_the_card() {
    let app = TestApp::spawn().await;
    let chart = pub11_with(vec![]);
    let fetch = |fail: bool| {
        let chart = &chart;
        let app = &app;
        async move {
            let server = ehr(chart.resources.clone()).await;
            if fail {
                // Before the simulator: this EHR cannot search its medication administrations.
                Mock::given(method("GET"))
                    .and(path("/fhir/MedicationAdministration"))
                    .respond_with(ResponseTemplate::new(500))
                    .with_priority(1)
                    .mount(&server)
                    .await;
            }
            let base = format!("{}/fhir", server.uri());
            let (status, body) = app
                .call(
                    "gravida-patient-view",
                    &request(chart, None, Some((&base, TOKEN))),
                )
                .await;
            assert_eq!(status, 200, "an optional key failing is no 412: {body}");
            body.to_string()
        }
    };
    let said = "Medication records (anti-D given, anticoagulants) could not be retrieved.";
    let control = fetch(false).await;
    assert!(!control.contains(said), "{control}");
    let answer = fetch(true).await;
    assert!(answer.contains(said), "{answer}");
    // The anti-D advice stands: a dose the service could not see is not a dose given.
    assert!(answer.contains(ANTI_D_ADVICE), "{answer}");
}
