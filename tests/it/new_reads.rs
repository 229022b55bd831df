//! The new reads (Encounters, Procedures, vital signs) over HTTP: an EHR that does not prefetch
//! them has them fetched, patient-scoped and by code, and a hostile or odd Encounter or Procedure
//! costs only itself, never the call.

use serde_json::{Map, Value, json};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::fhir_sim::{run_query, searchset};
use crate::helpers::{TestApp, fixture_path};
use crate::scenarios_http::{Scenario, load, prefetch_for, request, rules_of};

const TOKEN: &str = "new-reads-access-token-7d41";

/// The prefetch keys of the new reads.
const NEW_KEYS: [&str; 3] = ["encounters", "procedures", "vitalSigns"];

/// The motivating case: implantation bleeding charted at 12 weeks.
fn motivating_case() -> Scenario {
    load(&fixture_path("scenarios/pub01.json"))
}

/// Every prefetch key but the new ones, as an EHR that has not caught up would send it.
async fn old_prefetch(app: &TestApp, service: &str, scenario: &Scenario) -> Map<String, Value> {
    let mut prefetch = prefetch_for(app, service, scenario).await;
    for key in NEW_KEYS {
        assert!(
            prefetch.remove(key).is_some(),
            "the service advertises {key}"
        );
    }
    prefetch
}

/// Wiremock as the EHR's FHIR server, answering from `resources`; Encounter and Procedure
/// searches are answered with `extra` added to what matches.
async fn ehr(resources: Vec<Value>, extra: Vec<Value>) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(move |request: &Request| {
            let path = request.url.path().trim_start_matches("/fhir/");
            let query = format!("{path}?{}", request.url.query().unwrap_or_default());
            let Some(mut body) = run_query(&resources, &query) else {
                return ResponseTemplate::new(404);
            };
            if path == "Encounter" || path == "Procedure" {
                let odd: Vec<&Value> = extra
                    .iter()
                    .filter(|r| r["resourceType"] == path || r.get("resourceType").is_none())
                    .collect();
                let mut entries = body["entry"].as_array().cloned().unwrap_or_default();
                entries.extend(
                    searchset(&odd)["entry"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default(),
                );
                body["entry"] = Value::Array(entries);
            }
            ResponseTemplate::new(200)
                .insert_header("content-type", "application/fhir+json")
                .set_body_json(body)
        })
        .mount(&server)
        .await;
    server
}

/// The decoded query parameters of a request.
fn params(request: &Request) -> Vec<(String, String)> {
    request
        .url
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

#[tokio::test]
async fn keys_the_ehr_did_not_prefetch_are_fetched_patient_scoped_by_code_and_in_large_pages() {
    let app = TestApp::spawn().await;
    let scenario = motivating_case();
    let service = format!("gravida-{}", scenario.hook);
    let patient = scenario.context["patientId"].as_str().unwrap().to_owned();
    let prefetch = old_prefetch(&app, &service, &scenario).await;

    // The same call with everything prefetched: what the cards must be.
    let (status, all_prefetched) = app
        .call(
            &service,
            &request(
                &scenario,
                Some(prefetch_for(&app, &service, &scenario).await),
                None,
            ),
        )
        .await;
    assert_eq!(status, 200, "{all_prefetched}");

    let server = ehr(scenario.resources.clone(), Vec::new()).await;
    let base = format!("{}/fhir", server.uri());
    let (status, body) = app
        .call(
            &service,
            &request(&scenario, Some(prefetch), Some((&base, TOKEN))),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        rules_of(body["cards"].as_array().unwrap()),
        rules_of(all_prefetched["cards"].as_array().unwrap())
    );

    let received = server.received_requests().await.unwrap();
    let mut paths: Vec<&str> = received.iter().map(|r| r.url.path()).collect();
    paths.sort();
    // Only what was not prefetched is fetched: one search per new key.
    assert_eq!(
        paths,
        vec!["/fhir/Encounter", "/fhir/Observation", "/fhir/Procedure"]
    );
    for request in &received {
        let params = params(request);
        assert_eq!(
            param(&params, "patient"),
            Some(patient.as_str()),
            "{}",
            request.url
        );
        assert_eq!(param(&params, "_count"), Some("500"), "{}", request.url);
        let codes = param(&params, "code").unwrap_or_default();
        match request.url.path() {
            // Encounters are not filtered by code (their reason may be free text), newest first.
            "/fhir/Encounter" => {
                assert_eq!(codes, "");
                assert_eq!(param(&params, "_sort"), Some("-date"));
            }
            // The codes of the procedure-* value sets: CPT 84702 is quantitative hCG.
            "/fhir/Procedure" => assert!(
                codes.contains("http://www.ama-assn.org/go/cpt|84702"),
                "{codes}"
            ),
            // Systolic pressure, heart rate and the blood-pressure panel.
            _ => {
                for code in [
                    "http://loinc.org|8480-6",
                    "http://loinc.org|8867-4",
                    "http://loinc.org|85354-9",
                ] {
                    assert!(codes.contains(code), "{code} in {codes}");
                }
            }
        }
        assert_eq!(
            request
                .headers
                .get("authorization")
                .and_then(|v| v.to_str().ok()),
            Some(format!("Bearer {TOKEN}").as_str())
        );
    }
}

/// Encounters and Procedures of the call's patient that are wrong in every way the reader meets:
/// wrong JSON types, dates that are not dates, R5 shapes in an R4 server, a modifier extension,
/// an entry that is not a resource. None says anything clinical, so none may change a card.
fn hostile(patient: &str) -> Vec<Value> {
    let subject = json!({"reference": format!("Patient/{patient}")});
    vec![
        json!({"resourceType": "Encounter", "id": "enc-types", "subject": subject, "status": 42,
            "class": "EMER", "type": "ED", "period": {"start": "yesterday"},
            "reasonReference": "Condition/c1"}),
        json!({"resourceType": "Encounter", "id": "enc-r5", "subject": subject,
            "status": "completed", "class": [{"coding": [{"code": "AMB"}]}],
            "actualPeriod": {"start": "2026-01-01"}}),
        json!({"resourceType": "Encounter", "id": "enc-modifier", "subject": subject,
            "status": "finished", "modifierExtension": [{"url": "urn:x", "valueBoolean": true}]}),
        json!({"resourceType": "Procedure", "id": "proc-dates", "subject": subject,
            "status": "completed", "code": {"text": "Dressing change"},
            "performedDateTime": "last week"}),
        json!({"resourceType": "Procedure", "id": "proc-shapes", "subject": subject,
            "status": "done", "code": {"text": "Dressing change"},
            "category": [{"text": "an R5 list"}], "performedAge": {"value": "thirty"},
            "note": "not an array"}),
        json!({"resourceType": "Procedure", "id": "proc-other-patient",
            "subject": {"reference": "Patient/someone-else"}, "status": "completed",
            "code": {"text": "Dressing change"}}),
        json!({"id": "no-resource-type", "status": "completed"}),
    ]
}

#[tokio::test]
async fn a_hostile_encounter_or_procedure_costs_only_itself_and_never_the_call() {
    let app = TestApp::spawn().await;
    let scenario = motivating_case();
    let service = format!("gravida-{}", scenario.hook);
    let patient = scenario.context["patientId"].as_str().unwrap().to_owned();
    let prefetch = old_prefetch(&app, &service, &scenario).await;

    let plain = ehr(scenario.resources.clone(), Vec::new()).await;
    let plain_base = format!("{}/fhir", plain.uri());
    let (status, baseline) = app
        .call(
            &service,
            &request(
                &scenario,
                Some(prefetch.clone()),
                Some((&plain_base, TOKEN)),
            ),
        )
        .await;
    assert_eq!(status, 200, "{baseline}");

    // Fetched …
    let odd = ehr(scenario.resources.clone(), hostile(&patient)).await;
    let odd_base = format!("{}/fhir", odd.uri());
    let (status, fetched) = app
        .call(
            &service,
            &request(&scenario, Some(prefetch.clone()), Some((&odd_base, TOKEN))),
        )
        .await;
    assert_eq!(status, 200, "{fetched}");
    assert_eq!(
        rules_of(fetched["cards"].as_array().unwrap()),
        rules_of(baseline["cards"].as_array().unwrap())
    );

    // … and prefetched, with nothing to fetch from.
    let mut with_odd = prefetch;
    let odd_resources = hostile(&patient);
    let by_type = |resource_type: &str| {
        let resources: Vec<&Value> = odd_resources
            .iter()
            .filter(|r| r["resourceType"] == resource_type)
            .collect();
        searchset(&resources)
    };
    with_odd.insert("encounters".into(), by_type("Encounter"));
    with_odd.insert("procedures".into(), by_type("Procedure"));
    with_odd.insert(
        "vitalSigns".into(),
        json!({"resourceType": "Bundle", "type": "searchset"}),
    );
    let (status, prefetched) = app
        .call(&service, &request(&scenario, Some(with_odd), None))
        .await;
    assert_eq!(status, 200, "{prefetched}");
    assert_eq!(
        rules_of(prefetched["cards"].as_array().unwrap()),
        rules_of(baseline["cards"].as_array().unwrap())
    );
}
