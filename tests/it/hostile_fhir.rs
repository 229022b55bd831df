//! EHR FHIR servers that answer wrongly but well-formed, or too slowly, or too much: the hook
//! call still answers, by its deadline, and a duplicated record changes nothing.
//!
//! How long the answers take under load is measured by `scripts/hostile-fhir.sh`, not here: these
//! tests check behaviour (status, cards, no hang), with bounds generous enough for a slow host.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::fhir_sim::run_query;
use crate::helpers::TestApp;
use crate::scenarios_http::{Scenario, load, request, rules_of, scenario_files};

const TOKEN: &str = "hostile-access-token-51c2";

/// The motivating case: implantation bleeding charted at 12 weeks.
fn motivating_case() -> Scenario {
    let path = scenario_files()
        .into_iter()
        .find(|path| path.ends_with("pub01.json"))
        .expect("pub01 is a public scenario");
    load(&path)
}

/// Answers every search from the resources, with each entry sent twice, and every resource of
/// `pregnancy` also in every other Observation search: the same resource in a Bundle twice and
/// across searches.
struct Twice(Vec<Value>);

impl Respond for Twice {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let path = request.url.path().trim_start_matches("/fhir/");
        let query = match request.url.query() {
            Some(q) => format!("{path}?{q}"),
            None => path.to_owned(),
        };
        let Some(mut body) = run_query(&self.0, &query) else {
            return ResponseTemplate::new(404);
        };
        if let Some(entries) = body["entry"].as_array().cloned() {
            let mut doubled = Vec::new();
            for entry in entries {
                doubled.push(entry.clone());
                doubled.push(entry);
            }
            if path == "Observation" {
                let pregnancy: Vec<Value> = self
                    .0
                    .iter()
                    .filter(|r| r["resourceType"] == "Observation")
                    .map(|r| json!({"resource": r, "search": {"mode": "match"}}))
                    .collect();
                doubled.extend(pregnancy);
            }
            body["entry"] = Value::Array(doubled);
        }
        ResponseTemplate::new(200)
            .insert_header("content-type", "application/fhir+json")
            .set_body_json(body)
    }
}

/// The cards without what differs between two calls (uuids).
fn comparable(cards: &[Value]) -> Vec<Value> {
    cards
        .iter()
        .map(|card| {
            json!({
                "summary": card["summary"], "indicator": card["indicator"],
                "detail": card["detail"], "source": card["source"],
                "suggestions": card["suggestions"].as_array().map(|s| s.iter().map(|s| s["label"].clone()).collect::<Vec<_>>()),
            })
        })
        .collect()
}

/// The EHR as it should be: each search answered once, with the motivating case's records.
async fn plain_ehr() -> MockServer {
    let plain = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(move |request: &Request| {
            let path = request.url.path().trim_start_matches("/fhir/");
            let query = format!("{path}?{}", request.url.query().unwrap_or_default());
            match run_query(&motivating_case().resources, &query) {
                Some(body) => ResponseTemplate::new(200)
                    .insert_header("content-type", "application/fhir+json")
                    .set_body_json(body),
                None => ResponseTemplate::new(404),
            }
        })
        .mount(&plain)
        .await;
    plain
}

#[tokio::test]
async fn records_sent_twice_in_a_bundle_and_across_searches_give_the_same_cards_as_once() {
    let app = TestApp::spawn().await;
    let scenario = motivating_case();
    let service = format!("gravida-{}", scenario.hook);

    let plain = plain_ehr().await;
    let twice = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(Twice(scenario.resources.clone()))
        .mount(&twice)
        .await;

    let base = format!("{}/fhir", plain.uri());
    let (status, by_once) = app
        .call(&service, &request(&scenario, None, Some((&base, TOKEN))))
        .await;
    assert_eq!(status, 200, "{by_once}");
    let base = format!("{}/fhir", twice.uri());
    let (status, by_twice) = app
        .call(&service, &request(&scenario, None, Some((&base, TOKEN))))
        .await;
    assert_eq!(status, 200, "{by_twice}");
    let (by_once, by_twice) = (
        by_once["cards"].as_array().cloned().unwrap_or_default(),
        by_twice["cards"].as_array().cloned().unwrap_or_default(),
    );
    assert!(!by_once.is_empty(), "the motivating case fires");
    assert_eq!(rules_of(&by_once), rules_of(&by_twice));
    assert_eq!(comparable(&by_once), comparable(&by_twice));
    assert!(
        twice.received_requests().await.unwrap_or_default().len() >= 4,
        "the searches went to the duplicating server"
    );
}

/// Answers every search from the resources, each page in shapes the one-pass page reader
/// declines but that mean the same: a warning OperationOutcome entry first (`search.mode`
/// outcome), and a primitive extension (`_status`) on every resource that has a status.
struct Declined(Vec<Value>);

impl Respond for Declined {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let path = request.url.path().trim_start_matches("/fhir/");
        let query = format!("{path}?{}", request.url.query().unwrap_or_default());
        let Some(mut body) = run_query(&self.0, &query) else {
            return ResponseTemplate::new(404);
        };
        if let Some(entries) = body["entry"].as_array_mut() {
            for entry in entries.iter_mut() {
                if entry["resource"].get("status").is_some() {
                    entry["resource"]["_status"] = json!({"extension": []});
                }
            }
            let warning = json!({"resourceType": "OperationOutcome",
                "issue": [{"severity": "warning", "code": "informational"}]});
            entries.insert(
                0,
                json!({"resource": warning, "search": {"mode": "outcome"}}),
            );
        }
        ResponseTemplate::new(200)
            .insert_header("content-type", "application/fhir+json")
            .set_body_json(body)
    }
}

#[tokio::test]
async fn fetched_pages_the_one_pass_reader_declines_give_the_same_cards_as_those_it_reads() {
    let app = TestApp::spawn().await;
    let scenario = motivating_case();
    let service = format!("gravida-{}", scenario.hook);
    let plain = plain_ehr().await;
    let declined = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(Declined(scenario.resources.clone()))
        .mount(&declined)
        .await;

    let mut answers = Vec::new();
    for server in [&plain, &declined] {
        let base = format!("{}/fhir", server.uri());
        let (status, body) = app
            .call(&service, &request(&scenario, None, Some((&base, TOKEN))))
            .await;
        assert_eq!(status, 200, "{body}");
        answers.push(body["cards"].as_array().cloned().unwrap_or_default());
    }
    assert!(!answers[0].is_empty(), "the motivating case fires");
    assert_eq!(rules_of(&answers[0]), rules_of(&answers[1]));
    assert_eq!(comparable(&answers[0]), comparable(&answers[1]));
    assert!(
        declined.received_requests().await.unwrap_or_default().len() >= 4,
        "the searches went to the server of declined pages"
    );
}

/// A FHIR server that sends the status line and headers of a 1 MB answer, then drips a byte
/// every 50 ms: never finished, never silent long enough for an idle timeout.
async fn dripping_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bound");
    let address = listener.local_addr().expect("an address");
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = stream.read(&mut buf).await;
                let head = "HTTP/1.1 200 OK\r\ncontent-type: application/fhir+json\r\n\
                            content-length: 1000000\r\n\r\n{\"resourceType\":\"Bundle\",\"entry\":[";
                if stream.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                loop {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    if stream.write_all(b" ").await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    format!("http://{address}/fhir")
}

#[tokio::test]
async fn concurrent_calls_to_slow_and_dripping_fhir_servers_are_answered_412_by_their_deadline() {
    let app = TestApp::spawn_with(&[("GRAVIDA_FHIR__DEADLINE_MS", "500")]).await;
    let scenario = motivating_case();
    let service = format!("gravida-{}", scenario.hook);
    let slow = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(30)))
        .mount(&slow)
        .await;
    let slow = format!("{}/fhir", slow.uri());
    let dripping = dripping_server().await;

    let calls = (0..16).map(|i| {
        let base = if i % 2 == 0 { &slow } else { &dripping };
        let body = request(&scenario, None, Some((base, TOKEN)));
        let (app, service) = (&app, &service);
        async move {
            let started = Instant::now();
            let (status, body) = app.call(service, &body).await;
            (status, body, started.elapsed())
        }
    });
    for (status, body, elapsed) in futures::future::join_all(calls).await {
        assert_eq!(status, 412, "{body}");
        // The deadline is 500 ms; the margin here is for a slow, shared test host, not a target.
        assert!(
            elapsed < Duration::from_secs(3),
            "answered after {elapsed:?}"
        );
    }
}

#[tokio::test]
async fn a_chart_larger_than_a_call_may_read_is_412_not_read_to_the_end() {
    let app = TestApp::spawn_with(&[("GRAVIDA_FHIR__MAX_CALL_ENTRIES", "40")]).await;
    let mut scenario = motivating_case();
    let patient = scenario.context["patientId"].as_str().unwrap().to_owned();
    // Forty-five more Conditions about the patient: more than the call may read.
    for i in 0..45 {
        scenario.resources.push(json!({
            "resourceType": "Condition", "id": format!("extra-{i}"),
            "subject": {"reference": format!("Patient/{patient}")},
            "code": {"text": "seasonal allergic rhinitis"}
        }));
    }
    let resources = scenario.resources.clone();
    let ehr = MockServer::start().await;
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
        .mount(&ehr)
        .await;
    let base = format!("{}/fhir", ehr.uri());
    let service = format!("gravida-{}", scenario.hook);
    let (status, body) = app
        .call(&service, &request(&scenario, None, Some((&base, TOKEN))))
        .await;
    assert_eq!(status, 412, "{body}");
    assert!(
        !body.to_string().contains(&patient),
        "the answer names no patient: {body}"
    );
}
