//! CDS Hooks 3.0.0 beside 2.0 over HTTP: versioned discovery, and every refusal of a CDS Hooks
//! endpoint answered with a FHIR OperationOutcome (index.md, "Returning OperationOutcome").

use serde_json::{Value, json};

use crate::helpers::TestApp;

/// The stable error name an error body carries (`issue[0].details.coding[0].code`, system
/// `urn:gravida:error`), after checking the body is an OperationOutcome with one issue that has
/// a severity, an IssueType code and a diagnostics line.
pub fn error_name(body: &Value) -> &str {
    assert_eq!(body["resourceType"], "OperationOutcome", "{body}");
    let issues = body["issue"].as_array().expect("issue is an array");
    assert_eq!(issues.len(), 1, "{body}");
    let issue = &issues[0];
    assert_eq!(issue["severity"], "error", "{body}");
    assert!(
        issue["code"].as_str().is_some_and(|c| !c.is_empty()),
        "{body}"
    );
    assert!(!diagnostics(body).is_empty(), "{body}");
    let coding = &issue["details"]["coding"][0];
    assert_eq!(coding["system"], "urn:gravida:error", "{body}");
    coding["code"].as_str().expect("an error name")
}

/// The human line of an OperationOutcome error body (`issue[0].diagnostics`).
pub fn diagnostics(body: &Value) -> &str {
    body["issue"][0]["diagnostics"].as_str().unwrap_or_default()
}

const PATIENT: &str = "patient-4711-secret";
const TOKEN: &str = "opaque-access-token-never-echoed";

fn patient_view() -> Value {
    json!({
        "hook": "patient-view",
        "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "context": { "userId": "Practitioner/example", "patientId": PATIENT },
        "prefetch": { "patient": null, "conditions": null, "pregnancy": null, "bleeding": null,
                      "hcg": null, "rh": null, "ultrasound": null }
    })
}

#[tokio::test]
async fn discovery_advertises_cds_hooks_3_0_0_and_the_hook_version_of_each_service() {
    let app = TestApp::spawn().await;
    let (status, body) = app.get("/cds-services").await;
    assert_eq!(status, 200);
    let services = body["services"].as_array().expect("services");
    assert_eq!(services.len(), 4);
    for service in services {
        // The version of the specification (semantic) and the hook definition's `hookVersion`
        // (the CDS Hooks Library publishes `1.0` for the four hooks).
        assert_eq!(service["version"], "3.0.0", "{service}");
        assert_eq!(service["hookVersion"], "1.0", "{service}");
    }
    // A 2.0 reader that knows only the 2.0 fields still reads the document.
    let two_0: gravida_cds_hooks::DiscoveryResponse = serde_json::from_value(json!({
        "services": services.iter().map(|s| {
            let mut s = s.clone();
            s.as_object_mut().unwrap().retain(|k, _| k != "version" && k != "hookVersion");
            s
        }).collect::<Vec<_>>()
    }))
    .unwrap();
    assert!(two_0.validate().is_ok());
}

#[tokio::test]
async fn every_refusal_of_a_hook_call_is_an_operation_outcome_without_request_values() {
    let app = TestApp::spawn_with(&[("GRAVIDA_HTTP__MAX_BODY_BYTES", "4096")]).await;
    let mut missing_patient = patient_view();
    missing_patient["context"]
        .as_object_mut()
        .unwrap()
        .remove("patientId");
    missing_patient["fhirAuthorization"] = json!({
        "access_token": TOKEN, "token_type": "Bearer", "expires_in": 300,
        "scope": "patient/*.read", "subject": "gravida"
    });
    let mut plain_http = patient_view();
    plain_http["fhirServer"] = json!("http://fhir.ehr.example.org/R4");
    plain_http["fhirAuthorization"] = missing_patient["fhirAuthorization"].clone();
    let mut no_prefetch = patient_view();
    no_prefetch.as_object_mut().unwrap().remove("prefetch");
    let huge = json!({ "hook": "patient-view", "padding": "x".repeat(8192) });

    let cases: Vec<(&str, Vec<u8>, u16, &str, &str)> = vec![
        (
            "/cds-services/gravida-patient-view",
            b"{not json".to_vec(),
            400,
            "invalid",
            "invalid-request",
        ),
        (
            "/cds-services/gravida-patient-view",
            missing_patient.to_string().into_bytes(),
            400,
            "invalid",
            "invalid-request",
        ),
        (
            "/cds-services/no-such-service",
            patient_view().to_string().into_bytes(),
            404,
            "not-found",
            "unknown-service",
        ),
        (
            "/cds-services/gravida-patient-view",
            plain_http.to_string().into_bytes(),
            403,
            "forbidden",
            "fhir-server-not-allowed",
        ),
        (
            "/cds-services/gravida-patient-view",
            no_prefetch.to_string().into_bytes(),
            412,
            "processing",
            "data-unavailable",
        ),
        (
            "/cds-services/gravida-patient-view",
            huge.to_string().into_bytes(),
            413,
            "too-long",
            "payload-too-large",
        ),
        (
            "/cds-services/gravida-patient-view/feedback",
            b"[]".to_vec(),
            400,
            "invalid",
            "invalid-request",
        ),
    ];
    for (path, body, status, issue_code, name) in cases {
        let response = app
            .client
            .post(app.url(path))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), status, "{path}");
        let content_type = response.headers()["content-type"].to_str().unwrap();
        assert!(
            content_type.starts_with("application/fhir+json"),
            "{path}: {content_type}"
        );
        let text = response.text().await.unwrap();
        assert!(
            !text.contains(PATIENT) && !text.contains(TOKEN),
            "{path}: {text}"
        );
        let outcome: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(error_name(&outcome), name, "{path}: {outcome}");
        assert_eq!(outcome["issue"][0]["code"], issue_code, "{path}: {outcome}");
    }

    // Discovery and the feedback endpoint of an unknown service answer the same way.
    let (status, body) = app
        .post_raw("/cds-services/nope/feedback", b"{}".to_vec())
        .await;
    assert_eq!(status, 404);
    assert_eq!(error_name(&body), "unknown-service");
}

#[tokio::test]
async fn a_412_names_the_prefetch_keys_it_could_not_obtain_in_expression() {
    let app = TestApp::spawn().await;
    let mut request = patient_view();
    // Two deciding keys are neither prefetched nor fetchable (no fhirServer): exactly those are
    // named.
    let prefetch = request["prefetch"].as_object_mut().unwrap();
    prefetch.remove("bleeding");
    prefetch.remove("pregnancy");
    let (status, body) = app.call("gravida-patient-view", &request).await;
    assert_eq!(status, 412, "{body}");
    assert_eq!(error_name(&body), "data-unavailable");
    let mut expression: Vec<&str> = body["issue"][0]["expression"]
        .as_array()
        .expect("expression lists the keys")
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    expression.sort_unstable();
    assert_eq!(
        expression,
        ["prefetch.bleeding", "prefetch.pregnancy"],
        "{body}"
    );
    assert!(diagnostics(&body).contains("bleeding"), "{body}");
}

#[tokio::test]
async fn errors_outside_the_hook_calls_are_operation_outcomes_too() {
    let app = TestApp::spawn().await;
    let (status, body) = app.get("/no/such/path").await;
    assert_eq!(status, 404);
    assert_eq!(error_name(&body), "not-found");
    assert_eq!(body["issue"][0]["code"], "not-found");
}

/// Every public scenario fetched by a 3.0 client that grants SMART v2 scopes gives the same
/// cards as a 2.0 client granting v1 `.read` scopes.
#[tokio::test]
async fn a_3_0_client_granting_smart_v2_scopes_gets_the_same_cards_by_fetch_as_a_2_0_client() {
    use crate::scenarios_http::{
        Ehr, V1_SCOPES, V2_SCOPES, load, request, rules_of, scenario_files,
    };
    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer};

    let app = TestApp::spawn_with(&[("GRAVIDA_CARDS__REPEAT_WINDOW_HOURS", "0")]).await;
    let mut compared = 0;
    for path in scenario_files() {
        let scenario = load(&path);
        let service = format!("gravida-{}", scenario.hook);
        let ehr = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(Ehr(scenario.resources.clone()))
            .mount(&ehr)
            .await;
        let base = format!("{}/fhir", ehr.uri());
        let mut cards = Vec::new();
        for scopes in [V1_SCOPES, V2_SCOPES] {
            let mut body = request(&scenario, None, Some((&base, "token")));
            body["fhirAuthorization"]["scope"] = json!(scopes);
            let (status, answer) = app.call(&service, &body).await;
            assert_eq!(status, 200, "{}: {answer}", scenario.name);
            cards.push(rules_of(answer["cards"].as_array().unwrap()));
        }
        assert_eq!(cards[0], cards[1], "{}", scenario.name);
        compared += 1;
    }
    assert!(compared >= 13);
}

#[tokio::test]
async fn what_the_granted_scopes_do_not_cover_is_not_fetched_and_the_412_says_so() {
    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer, ResponseTemplate};

    let ehr = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"resourceType": "Bundle", "type": "searchset", "entry": []})),
        )
        .mount(&ehr)
        .await;
    let app = TestApp::spawn().await;
    let mut body = patient_view();
    body.as_object_mut().unwrap().remove("prefetch");
    body["fhirServer"] = json!(format!("{}/fhir", ehr.uri()));
    body["fhirAuthorization"] = json!({
        "access_token": TOKEN, "token_type": "Bearer", "expires_in": 300,
        "scope": "openid patient/Patient.rs patient/Condition.rs", "subject": "gravida"
    });
    let (status, answer) = app.call("gravida-patient-view", &body).await;
    assert_eq!(status, 412, "{answer}");
    let expression = answer["issue"][0]["expression"].to_string();
    assert!(
        expression.contains("prefetch.bleeding") && expression.contains("prefetch.pregnancy"),
        "{answer}"
    );
    assert!(
        diagnostics(&answer).contains("bleeding (patient/Observation.s)"),
        "{answer}"
    );
    // Nothing the scopes do not cover was asked of the EHR.
    let asked = ehr.received_requests().await.unwrap();
    assert!(!asked.is_empty());
    for request in &asked {
        let path = request.url.path();
        assert!(
            path.ends_with("/Patient")
                || path.contains("/Patient/")
                || path.ends_with("/Condition"),
            "{path}"
        );
    }
}

#[tokio::test]
async fn a_scope_in_neither_smart_form_is_refused_with_a_400() {
    let app = TestApp::spawn().await;
    let mut body = patient_view();
    body["fhirServer"] = json!("https://fhir.ehr.example.org/R4");
    body["fhirAuthorization"] = json!({
        "access_token": TOKEN, "token_type": "Bearer", "expires_in": 300,
        "scope": "patient/Observation.rs read-everything", "subject": "gravida"
    });
    let (status, answer) = app.call("gravida-patient-view", &body).await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(error_name(&answer), "invalid-request");
    assert!(diagnostics(&answer).contains("scope 2"), "{answer}");
    assert!(!answer.to_string().contains("read-everything"), "{answer}");
}

/// The cards issuer A's EHR gets for public scenario pub01 (no ultrasound at 10w0d: the card
/// offers the hCG pair), with `extra` in its issuer settings.
async fn pub01_cards_for_issuer_a(extra: &str) -> Value {
    use crate::prefetch_windows::{issuer_a_with, post_as_issuer_a, public_scenario};
    let app = TestApp::spawn_with_config(&issuer_a_with(extra)).await;
    let scenario = public_scenario("pub01");
    let kb = gravida_knowledge::KnowledgeBase::embedded().unwrap();
    let context = scenario.context.as_object().unwrap();
    let prefetch: serde_json::Map<String, Value> = kb
        .prefetch()
        .iter()
        .map(|q| {
            let query = gravida_cds_hooks::prefetch::render(&q.template, context).unwrap();
            let value =
                crate::fhir_sim::run_query(&scenario.resources, &query).unwrap_or(Value::Null);
            (q.key.clone(), value)
        })
        .collect();
    let body = json!({"hook": scenario.hook, "hookInstance": "7a2e1d2e-aaaa-4bbb-8ccc-0123456789ab",
        "context": scenario.context, "prefetch": prefetch});
    let (status, answer) = post_as_issuer_a(
        &app,
        &format!("/cds-services/gravida-{}", scenario.hook),
        &body,
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    answer
}

/// The suggestions of `answer` that create more than one order of hCG (the serial pair; CBC
/// and ABO/Rh type share a button of two orders too, and say nothing of either).
fn multi_order_suggestions(answer: &Value) -> Vec<Value> {
    answer["cards"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|card| card["suggestions"].as_array().cloned().unwrap_or_default())
        .filter(|s| s["actions"].as_array().is_some_and(|a| a.len() > 1))
        .filter(|s| s["label"].as_str().is_some_and(|l| l.contains("hCG")))
        .collect()
}

#[tokio::test]
async fn the_hcg_pair_says_either_order_may_be_taken_only_to_an_ehr_that_declared_support() {
    let declared = pub01_cards_for_issuer_a("action_selection_behavior = true").await;
    let pairs = multi_order_suggestions(&declared);
    assert_eq!(pairs.len(), 1, "{declared}");
    assert_eq!(pairs[0]["actionSelectionBehavior"], "any");
    let creates: Vec<&str> = pairs[0]["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["type"].as_str().unwrap())
        .collect();
    assert_eq!(creates, ["create", "create"]);
    assert!(
        gravida_cds_hooks::invariants::check_response(&declared).is_empty(),
        "{declared}"
    );

    // By default an EHR has declared nothing: the same button, without the field anywhere.
    let silent = pub01_cards_for_issuer_a("").await;
    let pairs = multi_order_suggestions(&silent);
    assert_eq!(pairs.len(), 1, "{silent}");
    assert_eq!(pairs[0]["actions"].as_array().unwrap().len(), 2);
    assert!(
        !silent.to_string().contains("actionSelectionBehavior"),
        "{silent}"
    );
}

/// A patient-view call with every key prefetched empty: valid, and answered without cards.
fn empty_patient_view() -> Value {
    json!({
        "hook": "patient-view",
        "hookInstance": "3b1e1d2e-aaaa-4bbb-8ccc-0123456789ab",
        "context": {"userId": "Practitioner/1", "patientId": "p1"},
        "prefetch": {"patient": null, "conditions": null, "pregnancy": null, "bleeding": null,
            "hcg": null, "rh": null, "ultrasound": null, "ultrasoundReports": null,
            "encounters": null, "procedures": null, "vitalSigns": null}
    })
}

#[tokio::test]
async fn a_body_declared_as_anything_but_json_gets_415_with_an_operation_outcome() {
    let app = TestApp::spawn().await;
    for (path, content_type) in [
        ("/cds-services/gravida-patient-view", "text/plain"),
        (
            "/cds-services/gravida-patient-view",
            "application/x-www-form-urlencoded",
        ),
        (
            "/cds-services/gravida-patient-view/feedback",
            "application/xml",
        ),
    ] {
        let response = app
            .client
            .post(app.url(path))
            .header("content-type", content_type)
            .body(empty_patient_view().to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 415, "{path} {content_type}");
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/fhir+json")
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(error_name(&body), "unsupported-media-type");
        assert_eq!(body["issue"][0]["code"], "not-supported");
    }
    // JSON with parameters, a `+json` type, and no Content-Type at all are read as JSON.
    for content_type in [
        Some("application/json; charset=utf-8"),
        Some("application/fhir+json"),
        None,
    ] {
        let mut request = app
            .client
            .post(app.url("/cds-services/gravida-patient-view"))
            .body(empty_patient_view().to_string());
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200, "{content_type:?}");
    }
}

#[tokio::test]
async fn a_method_an_endpoint_does_not_have_gets_405_with_an_operation_outcome_and_allow() {
    let app = TestApp::spawn().await;
    for (method, path, allowed) in [
        (
            reqwest::Method::GET,
            "/cds-services/gravida-patient-view",
            "POST",
        ),
        (reqwest::Method::POST, "/cds-services", "GET"),
        (
            reqwest::Method::DELETE,
            "/cds-services/gravida-order-sign/feedback",
            "POST",
        ),
    ] {
        let response = app
            .client
            .request(method.clone(), app.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 405, "{method} {path}");
        let allow = response.headers()["allow"].to_str().unwrap().to_owned();
        assert!(allow.contains(allowed), "{method} {path}: Allow {allow}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(error_name(&body), "method-not-allowed", "{method} {path}");
    }
}
