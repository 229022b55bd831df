//! What a card and its long form say stays bounded whatever the chart holds: a card names a
//! few of the records set aside and counts the rest, by prefetch or by fetch; refusals are
//! counted even when the call ends in 412; and the long form cannot be framed.

use serde_json::{Value, json};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::fhir_sim::run_query;
use crate::heavy_charts::{chart, day, scenario};
use crate::helpers::{TestApp, get_text, long_form_text, long_form_url};
use crate::scenarios_http::{prefetch_for, request};

const SERVICE: &str = "gravida-patient-view";
const TOKEN: &str = "bounded-output-access-token-51c2";
/// The attack: this many records dated in the future.
const FUTURE: usize = 3_000;

/// The motivating chart of `patient` and `n` positive pregnancy tests dated a year ahead.
fn chart_with_future_records(patient: &str, n: usize) -> Vec<Value> {
    let mut resources = chart(patient);
    for i in 0..n {
        resources.push(json!({
            "resourceType": "Observation", "id": format!("{patient}-future-{i}"), "status": "final",
            "code": { "coding": [{ "system": "http://loinc.org", "code": "82810-3" }],
                      "text": "Pregnancy test" },
            "subject": { "reference": format!("Patient/{patient}") },
            "effectiveDateTime": day(365 + (i % 30) as i64),
            "valueCodeableConcept": { "coding": [{ "system": "http://snomed.info/sct", "code": "77386006" }] },
        }));
    }
    resources
}

/// What a card of this chart must say, and how little: three of the records named, the rest
/// counted, within a card's length; and the long form, twenty named and within 20 kB.
async fn assert_bounded(app: &TestApp, cards: &[Value]) {
    assert!(!cards.is_empty());
    for card in cards {
        let detail = card["detail"].as_str().unwrap();
        assert!(
            detail.contains("And 2,997 more records dated in the future"),
            "{detail}"
        );
        assert_eq!(
            detail.matches("'Pregnancy test' is dated").count(),
            3,
            "{detail}"
        );
        assert!(
            detail.chars().count() <= 1_200,
            "{} characters: {detail}",
            detail.chars().count()
        );
        let page = app
            .client
            .get(long_form_url(card))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(page.len() <= 20_000, "{} bytes", page.len());
        let text = long_form_text(app, card).await;
        assert!(
            text.contains("And 2,980 more records dated in the future"),
            "{text}"
        );
    }
}

#[tokio::test]
async fn a_chart_of_3000_records_dated_in_the_future_gives_cards_that_name_three_and_count_the_rest()
 {
    let app = TestApp::spawn().await;
    let scenario = scenario("bo01", chart_with_future_records("bo01", FUTURE));
    let prefetch = prefetch_for(&app, SERVICE, &scenario).await;
    let (status, body) = app
        .call(SERVICE, &request(&scenario, Some(prefetch), None))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_bounded(&app, body["cards"].as_array().unwrap()).await;
}

/// Wiremock as the EHR's FHIR server, answering each search from a chart.
struct Chart(Vec<Value>);

impl Respond for Chart {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let path = request.url.path().trim_start_matches("/fhir/");
        let query = match request.url.query() {
            Some(q) => format!("{path}?{q}"),
            None => path.to_owned(),
        };
        match run_query(&self.0, &query) {
            Some(body) => ResponseTemplate::new(200)
                .insert_header("content-type", "application/fhir+json")
                .set_body_json(body),
            None => ResponseTemplate::new(404),
        }
    }
}

#[tokio::test]
async fn records_dated_in_the_future_fetched_from_the_fhir_server_are_named_three_and_counted() {
    // The simulated EHR searches 3,000 records for each query: time enough for a debug build on
    // a busy host.
    let app = TestApp::spawn_with(&[
        ("GRAVIDA_FHIR__DEADLINE_MS", "15000"),
        ("GRAVIDA_HTTP__REQUEST_TIMEOUT_MS", "30000"),
    ])
    .await;
    let scenario = scenario("bo02", chart_with_future_records("bo02", FUTURE));
    let ehr = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(Chart(scenario.resources.clone()))
        .mount(&ehr)
        .await;
    let base = format!("{}/fhir", ehr.uri());
    let (status, body) = app
        .call(SERVICE, &request(&scenario, None, Some((&base, TOKEN))))
        .await;
    assert_eq!(status, 200, "{body}");
    let searches = ehr.received_requests().await.unwrap_or_default();
    assert!(
        searches
            .iter()
            .any(|r| r.url.query().is_some_and(|q| q.contains("82810-3"))),
        "the pregnancy tests were searched for"
    );
    assert_bounded(&app, body["cards"].as_array().unwrap()).await;
}

/// The value of the `gravida_records_refused_total` counter.
async fn refused_total(app: &TestApp) -> f64 {
    get_text(&app.client, &app.url("/metrics"))
        .await
        .lines()
        .find(|l| l.starts_with("gravida_records_refused_total"))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn records_refused_in_a_call_that_ends_in_412_are_counted() {
    let app = TestApp::spawn().await;
    // Every search is answered with another patient's records: nothing central can be had.
    let other = chart("bo03-other");
    let mut scenario = scenario("bo03", other.clone());
    scenario.context["patientId"] = json!("bo03");
    let ehr = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(move |request: &Request| {
            let path = request.url.path().trim_start_matches("/fhir/");
            let query = request
                .url
                .query()
                .unwrap_or_default()
                .replace("bo03", "bo03-other");
            match run_query(&other, &format!("{path}?{query}")) {
                Some(body) => ResponseTemplate::new(200)
                    .insert_header("content-type", "application/fhir+json")
                    .set_body_json(body),
                None => ResponseTemplate::new(404),
            }
        })
        .mount(&ehr)
        .await;
    let before = refused_total(&app).await;
    let base = format!("{}/fhir", ehr.uri());
    let (status, body) = app
        .call(SERVICE, &request(&scenario, None, Some((&base, TOKEN))))
        .await;
    assert_eq!(status, 412, "{body}");
    let after = refused_total(&app).await;
    assert!(
        after >= before + 2.0,
        "refused before {before}, after {after}"
    );
}

#[tokio::test]
async fn the_long_form_cannot_be_shown_in_a_frame() {
    let app = TestApp::spawn().await;
    let scenario = scenario("bo04", chart("bo04"));
    let prefetch = prefetch_for(&app, SERVICE, &scenario).await;
    let (status, body) = app
        .call(SERVICE, &request(&scenario, Some(prefetch), None))
        .await;
    assert_eq!(status, 200, "{body}");
    let response = app
        .client
        .get(long_form_url(&body["cards"][0]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    assert!(
        header("content-security-policy").contains("frame-ancestors 'none'"),
        "{}",
        header("content-security-policy")
    );
    assert_eq!(header("x-frame-options"), "DENY");
}

#[tokio::test]
async fn a_partial_date_is_shown_as_written_never_as_a_precise_day() {
    let app = TestApp::spawn().await;
    let year = time::OffsetDateTime::now_utc().year() + 2;
    let mut resources = chart("bo05");
    for (id, written) in [("month", format!("{year}-11")), ("year", format!("{year}"))] {
        resources.push(json!({
            "resourceType": "Observation", "id": format!("bo05-{id}"), "status": "final",
            "code": { "coding": [{ "system": "http://loinc.org", "code": "82810-3" }],
                      "text": format!("Pregnancy test ({id})") },
            "subject": { "reference": "Patient/bo05" },
            "effectiveDateTime": written,
            "valueCodeableConcept": { "coding": [{ "system": "http://snomed.info/sct", "code": "77386006" }] },
        }));
    }
    let scenario = scenario("bo05", resources);
    let prefetch = prefetch_for(&app, SERVICE, &scenario).await;
    let (status, body) = app
        .call(SERVICE, &request(&scenario, Some(prefetch), None))
        .await;
    assert_eq!(status, 200, "{body}");
    let card = &body["cards"][0];
    let detail = card["detail"].as_str().unwrap();
    let long_form = long_form_text(&app, card).await;
    // The card writes the month in full (`November 2026`), the long form as ISO (`2026-11`).
    assert!(detail.contains(&format!("(November {year})")), "{detail}");
    assert!(long_form.contains(&format!("({year}-11)")), "{long_form}");
    for text in [detail, long_form.as_str()] {
        assert!(text.contains(&format!("({year})")), "{text}");
        assert!(
            !text.contains(&format!("{year}-11-01")) && !text.contains(&format!("{year}-01-01")),
            "{text}"
        );
    }
}

/// The value of `gravida_records_unread_total{kind="…"}`.
async fn unread_total(app: &TestApp, kind: &str) -> f64 {
    let prefix = format!("gravida_records_unread_total{{kind=\"{kind}\"}}");
    get_text(&app.client, &app.url("/metrics"))
        .await
        .lines()
        .find(|l| l.starts_with(&prefix))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn a_record_that_cannot_be_interpreted_is_named_on_the_card_and_counted_by_kind() {
    let app = crate::abortifacient_http::blind_app().await;
    let before = unread_total(&app, "modifier-extension").await;
    // The blind chart whose only LMP carries a modifier extension the service does not know.
    let cards =
        crate::abortifacient_http::by_prefetch(&app, &crate::abortifacient_http::blind2("c14"))
            .await;
    let text = cards
        .iter()
        .map(|c| c["detail"].as_str().unwrap_or_default())
        .collect::<String>();
    assert!(text.contains("could not be interpreted"), "{text}");
    assert!(unread_total(&app, "modifier-extension").await >= before + 1.0);
}
