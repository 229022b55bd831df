//! Data in the shapes EHRs really send (knowledge.md §3.5), end to end over HTTP, by prefetch
//! and by fetch from wiremock standing in for the EHR's FHIR server.

use serde_json::{Value, json};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::fhir_sim::run_query;
use crate::helpers::TestApp;
use crate::scenarios_http::{Scenario, load, prefetch_for, request, rules_of, scenario_files};

const TOKEN: &str = "real-world-access-token-0d4e";

pub(crate) fn scenario(name: &str) -> Scenario {
    let path = scenario_files()
        .into_iter()
        .find(|path| path.ends_with(format!("{name}.json")))
        .expect("a public scenario");
    load(&path)
}

/// Wiremock answering every search from `resources`.
pub(crate) async fn ehr(resources: Vec<Value>) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(move |request: &Request| {
            let path = request.url.path().trim_start_matches("/fhir/");
            let query = format!("{path}?{}", request.url.query().unwrap_or_default());
            match run_query(&resources, &query) {
                Some(body) => ResponseTemplate::new(200)
                    .insert_header("content-type", "application/fhir+json")
                    .set_body_json(body),
                None => ResponseTemplate::new(404),
            }
        })
        .mount(&server)
        .await;
    server
}

/// The cards of a scenario's call, by prefetch and by fetch (both must answer 200). When a real
/// FHIR server is configured (always under CI), the same records are also loaded into it, under
/// fresh ids, and fetched from it: its cards must be the prefetch's, rule for rule.
pub(crate) async fn cards_both_ways(app: &TestApp, scenario: &Scenario) -> [Vec<Value>; 2] {
    let service = format!("gravida-{}", scenario.hook);
    let prefetch = prefetch_for(app, &service, scenario).await;
    let (status, by_prefetch) = app
        .call(&service, &request(scenario, Some(prefetch), None))
        .await;
    assert_eq!(status, 200, "by prefetch: {by_prefetch}");
    let server = ehr(scenario.resources.clone()).await;
    let base = format!("{}/fhir", server.uri());
    let (status, by_fetch) = app
        .call(&service, &request(scenario, None, Some((&base, TOKEN))))
        .await;
    assert_eq!(status, 200, "by fetch: {by_fetch}");
    assert!(
        !server
            .received_requests()
            .await
            .unwrap_or_default()
            .is_empty(),
        "the fetch path asked the FHIR server"
    );
    let [by_prefetch, by_fetch] = [by_prefetch, by_fetch]
        .map(|response| response["cards"].as_array().cloned().unwrap_or_default());
    if let Some((base, token)) = crate::real_fhir::real_server() {
        let on_real = with_fresh_ids(scenario);
        crate::real_fhir::load_into(&base, &token, &on_real).await;
        // Its own app, with a deadline long enough for a test server that dozens of tests load
        // at once: slowness there must not pass for a difference in the cards. The callers use
        // the default settings, which this app has otherwise.
        let real_app = TestApp::spawn_with(&[
            ("GRAVIDA_FHIR__DEADLINE_MS", "30000"),
            ("GRAVIDA_HTTP__REQUEST_TIMEOUT_MS", "60000"),
        ])
        .await;
        let (status, by_real) = real_app
            .call(&service, &request(&on_real, None, Some((&base, &token))))
            .await;
        assert_eq!(status, 200, "from the real FHIR server: {by_real}");
        let by_real = by_real["cards"].as_array().cloned().unwrap_or_default();
        let (real, prefetched) = (rules_of(&by_real), rules_of(&by_prefetch));
        // At the order hooks the test's app may hide a card it already showed this patient
        // (a test calling twice); the fresh patient on the real server has seen none. Hiding
        // only takes cards away, so there the prefetch's cards must be among the real server's.
        let same = if scenario.hook.starts_with("order-") {
            prefetched.iter().all(|rule| real.contains(rule))
        } else {
            real == prefetched
        };
        assert!(
            same,
            "{}: the real FHIR server gave {real:?}, the prefetch {prefetched:?}: {}",
            scenario.name,
            Value::Array(by_real.clone())
        );
    }
    [by_prefetch, by_fetch]
}

/// The scenario with every resource id (the patient's included) made unique to this call, and
/// every reference to them rewritten, so that tests sharing the real FHIR server (and earlier
/// runs against it) never mix their records.
fn with_fresh_ids(scenario: &Scenario) -> Scenario {
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    let tag = format!(
        "t{}{}{}",
        std::process::id(),
        nanos,
        CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    let fresh = |id: &str| {
        let mut id = format!("{tag}-{id}");
        id.truncate(64);
        id
    };
    let mut text =
        json!({"context": scenario.context, "resources": scenario.resources}).to_string();
    for resource in &scenario.resources {
        let (Some(kind), Some(id)) = (resource["resourceType"].as_str(), resource["id"].as_str())
        else {
            continue;
        };
        let new = fresh(id);
        text = text.replace(&format!("\"id\":\"{id}\""), &format!("\"id\":\"{new}\""));
        if kind != "Patient" {
            text = text.replace(&format!("\"{kind}/{id}\""), &format!("\"{kind}/{new}\""));
        }
    }
    // The patient, whether or not the scenario holds its Patient resource.
    if let Some(patient) = scenario.context["patientId"].as_str() {
        let new = fresh(patient);
        text = text
            .replace(
                &format!("\"patientId\":\"{patient}\""),
                &format!("\"patientId\":\"{new}\""),
            )
            .replace(
                &format!("\"Patient/{patient}\""),
                &format!("\"Patient/{new}\""),
            );
    }
    let mut rewritten: Value = serde_json::from_str(&text).unwrap();
    Scenario {
        name: scenario.name.clone(),
        hook: scenario.hook.clone(),
        context: rewritten["context"].take(),
        resources: rewritten["resources"]
            .as_array()
            .cloned()
            .unwrap_or_default(),
        expect: scenario.expect.clone(),
    }
}

fn critical_methotrexate_card(cards: &[Value]) -> bool {
    cards.iter().any(|card| {
        card["indicator"] == "critical" && card.to_string().to_lowercase().contains("methotrexate")
    })
}

#[tokio::test]
async fn methotrexate_ordered_through_a_contained_medication_gets_the_critical_card() {
    let app = TestApp::spawn().await;
    let mut scenario = scenario("pub05");
    let order = &mut scenario.context["draftOrders"]["entry"][0]["resource"];
    let concept = order["medicationCodeableConcept"].take();
    order
        .as_object_mut()
        .unwrap()
        .remove("medicationCodeableConcept");
    order["medicationReference"] = json!({"reference": "#mtx"});
    order["contained"] = json!([{"resourceType": "Medication", "id": "mtx", "code": concept}]);
    for cards in cards_both_ways(&app, &scenario).await {
        assert!(critical_methotrexate_card(&cards), "{cards:#?}");
    }
}

#[tokio::test]
async fn methotrexate_ordered_through_a_medication_sent_beside_the_order_gets_the_critical_card() {
    let app = TestApp::spawn().await;
    let mut scenario = scenario("pub05");
    let entries = scenario.context["draftOrders"]["entry"]
        .as_array_mut()
        .unwrap();
    let order = &mut entries[0]["resource"];
    let concept = order["medicationCodeableConcept"].take();
    order
        .as_object_mut()
        .unwrap()
        .remove("medicationCodeableConcept");
    order["medicationReference"] =
        json!({"reference": "urn:uuid:8f0d6c36-1d2b-4e59-9d8e-2d1f3a5b7c90"});
    entries.push(json!({
        "fullUrl": "urn:uuid:8f0d6c36-1d2b-4e59-9d8e-2d1f3a5b7c90",
        "resource": {"resourceType": "Medication", "id": "formulary-mtx", "code": concept}
    }));
    for cards in cards_both_ways(&app, &scenario).await {
        assert!(critical_methotrexate_card(&cards), "{cards:#?}");
    }
}

#[tokio::test]
async fn a_time_with_an_offset_is_dated_by_the_site_s_calendar_day_on_both_paths() {
    // The motivating case's bleeding record, moved to 00:30 at +02:00 on its own day, at a site
    // two hours ahead of UTC: still that day on the site's calendar (and the same cards), not
    // the previous day as a UTC reading would have it.
    let app = TestApp::spawn_with(&[("GRAVIDA_TIME_ZONE", "Etc/GMT-2")]).await;
    let plain = scenario("pub01");
    let mut shifted = scenario("pub01");
    let mut moved = 0;
    for resource in &mut shifted.resources {
        for key in ["effectiveDateTime", "onsetDateTime"] {
            if let Some(day) = resource[key]
                .as_str()
                .filter(|d| d.len() == 10)
                .map(str::to_owned)
            {
                resource[key] = json!(format!("{day}T00:30:00+02:00"));
                moved += 1;
            }
        }
    }
    assert!(moved > 0, "the scenario has day-precision dates to move");
    let [plain_prefetch, _] = cards_both_ways(&app, &plain).await;
    let [by_prefetch, by_fetch] = cards_both_ways(&app, &shifted).await;
    let summaries = |cards: &[Value]| -> Vec<Value> {
        cards.iter().map(|card| card["summary"].clone()).collect()
    };
    assert!(!plain_prefetch.is_empty());
    assert_eq!(summaries(&by_prefetch), summaries(&plain_prefetch));
    assert_eq!(summaries(&by_fetch), summaries(&plain_prefetch));
}

/// A FHIR server that pages as servers do: `_count` per page (20 unless asked, at most 1,000),
/// with `next` links carrying the offset.
async fn paging_ehr(resources: Vec<Value>) -> MockServer {
    let server = MockServer::start().await;
    let uri = server.uri();
    Mock::given(method("GET"))
        .respond_with(move |request: &Request| {
            let path = request.url.path().trim_start_matches("/fhir/");
            let params: Vec<(String, String)> = request.url.query_pairs().into_owned().collect();
            let get = |name: &str| {
                params
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.clone())
            };
            let count: usize = get("_count")
                .and_then(|c| c.parse().ok())
                .unwrap_or(20)
                .min(1000);
            let offset: usize = get("_offset").and_then(|o| o.parse().ok()).unwrap_or(0);
            let query = format!("{path}?{}", request.url.query().unwrap_or_default());
            let Some(mut body) = run_query(&resources, &query) else {
                return ResponseTemplate::new(404);
            };
            if let Some(entries) = body["entry"].as_array().cloned() {
                let page: Vec<Value> = entries.iter().skip(offset).take(count).cloned().collect();
                if offset + count < entries.len() {
                    let mut next = request.url.clone();
                    next.query_pairs_mut()
                        .clear()
                        .extend_pairs(
                            params
                                .iter()
                                .filter(|(k, _)| k != "_offset" && k != "_count"),
                        )
                        .append_pair("_count", &count.to_string())
                        .append_pair("_offset", &(offset + count).to_string());
                    let next = format!("{uri}{}?{}", next.path(), next.query().unwrap_or_default());
                    body["link"] = json!([{"relation": "next", "url": next}]);
                }
                body["entry"] = Value::Array(page);
            }
            ResponseTemplate::new(200)
                .insert_header("content-type", "application/fhir+json")
                .set_body_json(body)
        })
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn a_patient_with_hundreds_of_conditions_is_answered_by_fetch_not_refused() {
    let app = TestApp::spawn().await;
    let mut scenario = scenario("pub01");
    let patient = scenario.context["patientId"].as_str().unwrap().to_owned();
    for i in 0..260 {
        scenario.resources.push(json!({
            "resourceType": "Condition", "id": format!("long-chart-{i}"),
            "subject": {"reference": format!("Patient/{patient}")},
            "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "resolved"}]},
            "code": {"text": "seasonal allergic rhinitis"}
        }));
    }
    let server = paging_ehr(scenario.resources.clone()).await;
    let base = format!("{}/fhir", server.uri());
    let service = format!("gravida-{}", scenario.hook);
    let (status, body) = app
        .call(&service, &request(&scenario, None, Some((&base, TOKEN))))
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        !body["cards"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .is_empty(),
        "the motivating case still fires: {body}"
    );
    let condition_pages = server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|request| request.url.path().ends_with("/Condition"))
        .count();
    assert!(
        condition_pages <= 2,
        "large pages were asked for: {condition_pages} pages"
    );
}

pub(crate) fn suggestion_labels(cards: &[Value]) -> Vec<String> {
    cards
        .iter()
        .flat_map(|card| card["suggestions"].as_array().cloned().unwrap_or_default())
        .filter_map(|suggestion| suggestion["label"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn an_rh_type_already_among_the_draft_orders_is_not_suggested_again() {
    let app = TestApp::spawn().await;
    let plain = scenario("pub05");
    let mut drafted = scenario("pub05");
    let patient = drafted.context["patientId"].as_str().unwrap().to_owned();
    drafted.context["draftOrders"]["entry"]
        .as_array_mut()
        .unwrap()
        .push(json!({"resource": {
            "resourceType": "ServiceRequest", "id": "draft-rh", "status": "draft",
            "intent": "order", "subject": {"reference": format!("Patient/{patient}")},
            "code": {"coding": [{"system": "http://loinc.org", "code": "10331-7"}],
                     "text": "Rh type"}
        }}));
    let [before, _] = cards_both_ways(&app, &plain).await;
    assert!(
        suggestion_labels(&before)
            .iter()
            .any(|l| l.contains("ABO/Rh")),
        "without the draft, an Rh type is suggested: {:?}",
        suggestion_labels(&before)
    );
    for cards in cards_both_ways(&app, &drafted).await {
        let labels = suggestion_labels(&cards);
        assert!(!labels.iter().any(|l| l.contains("ABO/Rh")), "{labels:?}");
        assert!(
            critical_methotrexate_card(&cards),
            "a suppression never hides the critical card"
        );
        assert!(
            labels.iter().any(|l| l.contains("Delete")),
            "the other suggestions stay: {labels:?}"
        );
    }
}
