//! The HTTP contract: discovery, health, CORS, feedback, and a clear 4xx for every bad request.

use serde_json::{Value, json};

use crate::helpers::TestApp;

const SERVICE_IDS: [(&str, &str); 4] = [
    ("gravida-patient-view", "patient-view"),
    ("gravida-encounter-start", "encounter-start"),
    ("gravida-order-select", "order-select"),
    ("gravida-order-sign", "order-sign"),
];

fn patient_view(patient: &str) -> Value {
    json!({
        "hook": "patient-view",
        "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "context": { "userId": "Practitioner/example", "patientId": patient },
        "prefetch": { "patient": null, "conditions": null, "pregnancy": null, "bleeding": null,
                      "hcg": null, "rh": null, "ultrasound": null }
    })
}

#[tokio::test]
async fn discovery_lists_one_service_per_hook_with_prefetch_and_usage_requirements() {
    let app = TestApp::spawn().await;
    let (status, body) = app.get("/cds-services").await;
    assert_eq!(status, 200);
    let services = body["services"].as_array().expect("services is an array");
    assert_eq!(services.len(), 4);
    for (id, hook) in SERVICE_IDS {
        let service = services
            .iter()
            .find(|s| s["id"] == id)
            .unwrap_or_else(|| panic!("{id} is listed"));
        assert_eq!(service["hook"], hook);
        assert!(service["title"].as_str().is_some_and(|t| !t.is_empty()));
        assert!(
            service["description"]
                .as_str()
                .is_some_and(|t| !t.is_empty())
        );
        let usage = service["usageRequirements"].as_str().unwrap_or("");
        assert!(
            usage.contains("Observation") && usage.contains("Condition"),
            "{usage}"
        );

        let prefetch = service["prefetch"]
            .as_object()
            .expect("prefetch is an object");
        assert_eq!(prefetch["patient"], "Patient/{{context.patientId}}");
        // Conditions are never code-filtered: text-only and O-coded diagnoses must be seen.
        assert_eq!(
            prefetch["conditions"],
            "Condition?patient={{context.patientId}}&_count=500"
        );
        for (key, template) in prefetch {
            let template = template.as_str().unwrap_or("");
            if template.starts_with("Observation") {
                assert!(
                    template.contains("patient={{context.patientId}}")
                        && template.contains("&code="),
                    "Observation searches are filtered by patient and code ({key}: {template})"
                );
            }
        }
    }
}

#[tokio::test]
async fn health_and_readiness_answer_and_readiness_names_the_profile_version() {
    let app = TestApp::spawn().await;
    let (status, _) = app.get("/healthz").await;
    assert_eq!(status, 200);
    let (status, body) = app.get("/readyz").await;
    assert_eq!(status, 200);
    assert!(
        body["profile"]
            .as_str()
            .is_some_and(|v| v.starts_with("default@")),
        "{body}"
    );
}

#[tokio::test]
async fn a_cors_preflight_is_answered_without_authentication_for_any_origin() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .request(
            reqwest::Method::OPTIONS,
            app.url("/cds-services/gravida-patient-view"),
        )
        .header("origin", "https://sandbox.cds-hooks.org")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization,content-type",
        )
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    assert_eq!(response.headers()["access-control-allow-origin"], "*");
    let allowed = response.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(allowed.contains("authorization"), "{allowed}");
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = TestApp::spawn().await;
    let response = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert!(response.headers().contains_key("x-request-id"));
}

#[tokio::test]
async fn a_hook_call_with_no_data_for_the_patient_answers_with_no_cards() {
    let app = TestApp::spawn().await;
    for (id, hook) in [
        ("gravida-patient-view", "patient-view"),
        ("gravida-encounter-start", "encounter-start"),
    ] {
        let mut request = patient_view("p1");
        request["hook"] = json!(hook);
        request["context"]["encounterId"] = json!("e1");
        let (status, body) = app.call(id, &request).await;
        assert_eq!(status, 200, "{id}: {body}");
        assert_eq!(body, json!({ "cards": [] }), "{id}");
    }
}

/// Asserts a 4xx with an OperationOutcome body naming the error, and returns its diagnostics.
async fn refused(app: &TestApp, path: &str, body: Vec<u8>, status: u16) -> String {
    let (got, value) = app.post_raw(path, body).await;
    assert_eq!(got, status, "{value}");
    let message = crate::cds3::diagnostics(&value).to_owned();
    assert!(
        !message.is_empty(),
        "a {status} says what is wrong: {value}"
    );
    message
}

#[tokio::test]
async fn malformed_or_invalid_requests_get_a_400_that_says_what_is_wrong() {
    let app = TestApp::spawn().await;
    let path = "/cds-services/gravida-patient-view";
    let without = |field: &str| {
        let mut r = patient_view("p1");
        r.as_object_mut().unwrap().remove(field);
        r.to_string().into_bytes()
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("malformed JSON", b"{\"hook\": ".to_vec()),
        ("not an object", b"[1, 2, 3]".to_vec()),
        ("empty body", Vec::new()),
        ("wrong type", {
            let mut r = patient_view("p1");
            r["hookInstance"] = json!(42);
            r.to_string().into_bytes()
        }),
        ("missing hookInstance", without("hookInstance")),
        ("missing context", without("context")),
        ("missing patientId", {
            let mut r = patient_view("p1");
            r["context"].as_object_mut().unwrap().remove("patientId");
            r.to_string().into_bytes()
        }),
        ("hook mismatch", {
            let mut r = patient_view("p1");
            r["hook"] = json!("order-sign");
            r.to_string().into_bytes()
        }),
        ("a byte that is not UTF-8 in a prefetched record", {
            let mut r = patient_view("p1");
            r["prefetch"] = json!({"bleeding": {"resourceType": "Bundle", "entry": [
                {"resource": {"resourceType": "Observation", "id": "o1", "status": "final",
                    "subject": {"reference": "Patient/p1"}, "code": {"text": "bleeding"},
                    "valueString": "NOT-UTF-8"}}]}});
            let text = r.to_string();
            let (before, after) = text.split_once("NOT-UTF-8").unwrap();
            [before.as_bytes(), b"spotting \xff", after.as_bytes()].concat()
        }),
        ("deeply nested JSON", {
            let depth = 100_000;
            let mut s = String::from("{\"hook\":\"patient-view\",\"context\":");
            s.push_str(&"[".repeat(depth));
            s.push_str(&"]".repeat(depth));
            s.push('}');
            s.into_bytes()
        }),
    ];
    for (what, body) in cases {
        let message = refused(&app, path, body, 400).await;
        assert!(
            !message.contains("p1"),
            "{what}: the message echoes no request value"
        );
    }
}

#[tokio::test]
async fn an_unknown_service_gets_404_and_an_unknown_path_too() {
    let app = TestApp::spawn().await;
    refused(
        &app,
        "/cds-services/no-such-service",
        patient_view("p1").to_string().into_bytes(),
        404,
    )
    .await;
    let (status, _) = app.get("/nothing-here").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn an_oversized_body_gets_413() {
    let app = TestApp::spawn_with(&[("GRAVIDA_HTTP__MAX_BODY_BYTES", "2048")]).await;
    let mut request = patient_view("p1");
    request["extension"] = json!({ "org.example.padding": "x".repeat(4096) });
    refused(
        &app,
        "/cds-services/gravida-patient-view",
        request.to_string().into_bytes(),
        413,
    )
    .await;
}

#[tokio::test]
async fn a_hook_call_beyond_the_concurrency_limit_gets_503_with_retry_after_and_fetches_nothing() {
    use std::time::Duration;
    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer, ResponseTemplate};

    // An EHR whose FHIR server takes 700 ms to answer any search: the first call holds the
    // only permit while it waits.
    let ehr = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "application/fhir+json")
                .set_body_json(json!({ "resourceType": "Bundle", "type": "searchset" }))
                .set_delay(Duration::from_millis(700)),
        )
        .mount(&ehr)
        .await;
    let app = TestApp::spawn_with(&[("GRAVIDA_HTTP__MAX_CONCURRENT_HOOK_CALLS", "1")]).await;
    let mut request = patient_view("p1");
    request.as_object_mut().unwrap().remove("prefetch");
    request["fhirServer"] = json!(format!("{}/R4", ehr.uri()));
    request["fhirAuthorization"] = json!({ "access_token": "limit-test-token",
        "token_type": "Bearer", "expires_in": 300, "scope": "patient/*.read", "subject": "ehr" });

    let first = {
        let (client, url, body) = (
            app.client.clone(),
            app.url("/cds-services/gravida-patient-view"),
            request.to_string(),
        );
        tokio::spawn(async move {
            let response = client
                .post(url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .expect("the first call is sent");
            response.status().as_u16()
        })
    };
    // Wait until the first call is fetching, so that it surely holds the permit.
    for _ in 0..200 {
        if !ehr.received_requests().await.unwrap_or_default().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let searches_by_first = ehr.received_requests().await.unwrap_or_default().len();
    assert!(
        searches_by_first > 0,
        "the first call never reached the EHR"
    );

    let response = app
        .client
        .post(app.url("/cds-services/gravida-patient-view"))
        .header("content-type", "application/json")
        .body(request.to_string())
        .send()
        .await
        .expect("the second call is sent");
    assert_eq!(response.status().as_u16(), 503);
    assert_eq!(
        response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("1")
    );
    let body: Value = response.json().await.expect("a JSON error");
    assert_eq!(crate::cds3::error_name(&body), "overloaded", "{body}");

    // The first call is answered as usual (no records: no cards), and frees its permit.
    assert_eq!(first.await.expect("the first call ends"), 200);
    let searches = ehr.received_requests().await.unwrap_or_default().len();
    let (status, body) = app.call("gravida-patient-view", &request).await;
    assert_eq!(status, 200, "{body}");
    // The shed call searched nothing: every search came from the first and the third call.
    let total = ehr.received_requests().await.unwrap_or_default().len();
    assert_eq!(total, 2 * searches, "first {searches}, all three {total}");

    let metrics = crate::helpers::get_text(&app.client, &app.url("/metrics")).await;
    assert!(
        metrics.contains(r#"gravida_hook_calls_shed_total{service="gravida-patient-view"}"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_fhir_server_that_is_not_https_off_loopback_gets_403() {
    let app = TestApp::spawn().await;
    let mut request = patient_view("p1");
    request["fhirServer"] = json!("http://fhir.ehr.example.org/R4");
    let (status, body) = app.call("gravida-patient-view", &request).await;
    assert_eq!(status, 403, "{body}");
}

#[tokio::test]
async fn a_call_with_no_prefetch_and_no_fhir_server_gets_412() {
    let app = TestApp::spawn().await;
    let mut request = patient_view("p1");
    request.as_object_mut().unwrap().remove("prefetch");
    let (status, body) = app.call("gravida-patient-view", &request).await;
    assert_eq!(status, 412, "{body}");
    assert_eq!(crate::cds3::error_name(&body), "data-unavailable");
}

#[tokio::test]
async fn valid_feedback_is_accepted_and_invalid_feedback_gets_400() {
    let app = TestApp::spawn().await;
    let path = "/cds-services/gravida-patient-view/feedback";
    let accepted = crate::helpers::fixture("cds-hooks-spec/feedback-accepted.json");
    let (status, _) = app.post_raw(path, accepted.to_string().into_bytes()).await;
    assert_eq!(status, 200);
    let overridden = crate::helpers::fixture("cds-hooks-spec/feedback-overridden-with-reason.json");
    let (status, _) = app
        .post_raw(path, overridden.to_string().into_bytes())
        .await;
    assert_eq!(status, 200);

    for bad in [
        json!({}),
        json!({ "feedback": [] }),
        json!({ "feedback": [{ "card": "4e0a3a1e-3283-4575-ab82-028d55fe2719", "outcome": "maybe", "outcomeTimestamp": "2025-01-01T00:00:00Z" }] }),
        json!({ "feedback": [{ "card": "4e0a3a1e-3283-4575-ab82-028d55fe2719", "outcome": "accepted", "outcomeTimestamp": "2025-01-01T00:00:00Z" }] }),
        json!({ "feedback": [{ "card": "4e0a3a1e-3283-4575-ab82-028d55fe2719", "outcome": "overridden", "outcomeTimestamp": "yesterday" }] }),
    ] {
        refused(&app, path, bad.to_string().into_bytes(), 400).await;
    }
    refused(
        &app,
        "/cds-services/nope/feedback",
        accepted.to_string().into_bytes(),
        404,
    )
    .await;
}
