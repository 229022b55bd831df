//! Authentication end to end: every bad token gets a bare 401, a correctly signing EHR gets its
//! cards, and an authenticated caller may only send the FHIR servers its issuer lists.

use std::time::SystemTime;

use gravida_auth::testing::{self, TestKey};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::TestApp;

const BASE: &str = "https://cds.example.org";
const HOOK: &str = "/cds-services/gravida-patient-view";

/// Issuer A from a JWKS file (with a tenant list, a FHIR server and an allowed jku), issuer B
/// from a JWKS URL (wiremock).
fn config(jwks_b_url: &str) -> String {
    format!(
        r#"
public_base_url = "{BASE}"

[[auth.issuers]]
iss = "{iss_a}"
jwks_file = "{{fixtures}}/keys/jwks-issuer-a.json"
allowed_jku = ["{jku_a}"]
fhir_servers = ["{fhir_a}"]
tenants = ["{tenant_a}"]

[[auth.issuers]]
iss = "{iss_b}"
jwks_url = "{jwks_b_url}"
"#,
        iss_a = testing::ISSUER_A,
        jku_a = testing::JKU_A,
        fhir_a = testing::FHIR_A,
        tenant_a = testing::TENANT_A,
        iss_b = testing::ISSUER_B,
    )
}

async fn issuer_b_jwks() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/jwks.json"))
        .respond_with(
            ResponseTemplate::new(200).set_body_raw(testing::ISSUER_B_JWKS, "application/json"),
        )
        .mount(&server)
        .await;
    server
}

fn empty_call() -> Value {
    json!({
        "hook": "patient-view",
        "hookInstance": "8f4c1d2e-aaaa-4bbb-8ccc-0123456789ab",
        "context": { "userId": "Practitioner/1", "patientId": "p1" },
        "prefetch": { "patient": null, "conditions": null, "pregnancy": null, "bleeding": null,
                      "hcg": null, "rh": null, "ultrasound": null }
    })
}

fn token_a(audience_path: &str) -> String {
    let claims = testing::claims_a(&format!("{BASE}{audience_path}"), SystemTime::now());
    testing::mint(TestKey::AEs384, json!({}), claims)
}

async fn send(
    app: &TestApp,
    path: &str,
    authorization: &[Vec<u8>],
    body: &Value,
) -> reqwest::Response {
    let mut request = app
        .client
        .post(app.url(path))
        .header("content-type", "application/json")
        .body(body.to_string());
    for value in authorization {
        request = request.header("authorization", value.as_slice());
    }
    request.send().await.expect("the request is sent")
}

#[tokio::test]
async fn every_bad_token_in_the_catalogue_gets_a_bare_401() {
    let jwks = issuer_b_jwks().await;
    let app = TestApp::spawn_with_config(&config(&format!("{}/jwks.json", jwks.uri()))).await;
    let cases = testing::bad_requests(
        SystemTime::now(),
        &format!("{BASE}{HOOK}"),
        &format!("{BASE}/cds-services"),
    );
    assert!(cases.len() >= 25, "{} cases", cases.len());
    let mut wrong = Vec::new();
    for case in cases {
        let path = case.audience.trim_start_matches(BASE).to_owned();
        if case.send_twice {
            let first = send(&app, &path, &case.authorization, &empty_call()).await;
            if first.status() != 200 {
                wrong.push(format!(
                    "{}: first use answered {}",
                    case.name,
                    first.status()
                ));
            }
        }
        let response = send(&app, &path, &case.authorization, &empty_call()).await;
        let status = response.status().as_u16();
        let challenge = response.headers().contains_key("www-authenticate");
        let body = response.bytes().await.unwrap_or_default();
        // A 1 MB header may be stopped by the HTTP layer before it reaches the verifier.
        let header_too_large = status == 431 && case.expected_reason == "token-too-large";
        if !header_too_large && (status != 401 || !challenge || !body.is_empty()) {
            wrong.push(format!(
                "{} (expected {}): answered {status}, challenge {challenge}, body {} bytes",
                case.name,
                case.expected_reason,
                body.len()
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[tokio::test]
async fn an_ehr_that_signs_correctly_gets_its_answer_and_its_keys_are_fetched_once() {
    let jwks = issuer_b_jwks().await;
    let app = TestApp::spawn_with_config(&config(&format!("{}/jwks.json", jwks.uri()))).await;

    let response = send(
        &app,
        HOOK,
        &[testing::bearer(&token_a(HOOK))],
        &empty_call(),
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"cards": []})
    );

    for _ in 0..5 {
        let claims = testing::claims(
            testing::ISSUER_B,
            &format!("{BASE}{HOOK}"),
            SystemTime::now(),
        );
        let token = testing::mint(TestKey::BEs384, json!({}), claims);
        let response = send(&app, HOOK, &[testing::bearer(&token)], &empty_call()).await;
        assert_eq!(response.status(), 200);
    }
    let fetches = jwks.received_requests().await.unwrap().len();
    assert!(
        fetches <= 2,
        "issuer B's JWKS was fetched {fetches} times (start-up + cache)"
    );
}

#[tokio::test]
async fn discovery_and_feedback_need_a_token_for_their_own_url_but_preflights_do_not() {
    let jwks = issuer_b_jwks().await;
    let app = TestApp::spawn_with_config(&config(&format!("{}/jwks.json", jwks.uri()))).await;

    let (status, _) = app.get("/cds-services").await;
    assert_eq!(status, 401);
    let response = app
        .client
        .get(app.url("/cds-services"))
        .header("authorization", testing::bearer(&token_a("/cds-services")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let feedback = crate::helpers::fixture("cds-hooks-spec/feedback-accepted.json");
    let feedback_path = format!("{HOOK}/feedback");
    let refused = send(
        &app,
        &feedback_path,
        &[testing::bearer(&token_a(HOOK))],
        &feedback,
    )
    .await;
    assert_eq!(
        refused.status(),
        401,
        "a hook token is not a feedback token"
    );
    let accepted = send(
        &app,
        &feedback_path,
        &[testing::bearer(&token_a(&feedback_path))],
        &feedback,
    )
    .await;
    assert_eq!(accepted.status(), 200);

    let preflight = app
        .client
        .request(reqwest::Method::OPTIONS, app.url(HOOK))
        .header("origin", "https://sandbox.cds-hooks.org")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success());
}

#[tokio::test]
async fn checks_run_in_the_documented_order() {
    let jwks = issuer_b_jwks().await;
    let app = TestApp::spawn_with_config(&config(&format!("{}/jwks.json", jwks.uri()))).await;
    // An unknown service is 404 before authentication.
    let response = send(&app, "/cds-services/nope", &[], &empty_call()).await;
    assert_eq!(response.status(), 404);
    // Authentication comes before the body is read: garbage without a token is 401.
    let response = app
        .client
        .post(app.url(HOOK))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    // With a token, the same garbage is 400.
    let response = app
        .client
        .post(app.url(HOOK))
        .header("authorization", testing::bearer(&token_a(HOOK)))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
}

#[tokio::test]
async fn a_fhir_server_off_the_issuers_allow_list_is_refused_before_any_fetch() {
    let jwks = issuer_b_jwks().await;
    let app = TestApp::spawn_with_config(&config(&format!("{}/jwks.json", jwks.uri()))).await;
    let ehr = MockServer::start().await;
    let mut call = empty_call();
    call.as_object_mut().unwrap().remove("prefetch");
    call["fhirServer"] = json!(format!("{}/fhir", ehr.uri()));
    call["fhirAuthorization"] = json!({"access_token": "t", "token_type": "Bearer",
        "expires_in": 60, "scope": "patient/*.read", "subject": "gravida"});
    let response = send(&app, HOOK, &[testing::bearer(&token_a(HOOK))], &call).await;
    assert_eq!(response.status(), 403);
    assert!(
        ehr.received_requests().await.unwrap().is_empty(),
        "nothing was fetched"
    );

    // Issuer A's own FHIR server passes the allow-list (everything prefetched: no fetch).
    let mut call = empty_call();
    call["fhirServer"] = json!(format!("{}/Patient-scope-irrelevant", testing::FHIR_A));
    let response = send(&app, HOOK, &[testing::bearer(&token_a(HOOK))], &call).await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn with_issuers_configured_the_service_may_listen_beyond_loopback() {
    // The same settings on 0.0.0.0 start, because callers are authenticated.
    let jwks = issuer_b_jwks().await;
    let toml = config(&format!("{}/jwks.json", jwks.uri()));
    let dir = std::env::temp_dir().join(format!("gravida-public-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("gravida.toml");
    std::fs::write(
        &file,
        toml.replace(
            "{fixtures}",
            &crate::helpers::fixture_path("").display().to_string(),
        ),
    )
    .unwrap();
    let mut settings = gravida_server::settings::Settings::load_from(
        Some(&file),
        vec![("GRAVIDA_LISTEN".to_owned(), "0.0.0.0:0".to_owned())],
    )
    .unwrap();
    settings.store.data_dir = dir.join("data"); // the audit store stays out of the repository
    let app = gravida_server::startup::Application::build(settings).await;
    assert!(app.is_ok(), "{:?}", app.err());
}

/// Issuer A from its JWKS file with the `audiences` line given (none: the default), issuer B
/// from a JWKS URL (wiremock) with the default audience.
fn audiences_config(audiences: &str, jwks_b_url: &str) -> String {
    format!(
        r#"
public_base_url = "{BASE}"

[[auth.issuers]]
iss = "{iss_a}"
jwks_file = "{{fixtures}}/keys/jwks-issuer-a.json"
tenants = ["{tenant_a}"]
{audiences}

[[auth.issuers]]
iss = "{iss_b}"
jwks_url = "{jwks_b_url}"
"#,
        iss_a = testing::ISSUER_A,
        tenant_a = testing::TENANT_A,
        iss_b = testing::ISSUER_B,
    )
}

/// The status, whether a `WWW-Authenticate` challenge came back, and the body's length, for
/// a request to `path` (GET for discovery, else POST of an empty hook call) with `token`.
async fn answer(app: &TestApp, path: &str, token: &str) -> (u16, bool, usize) {
    let request = if path == "/cds-services" {
        app.client.get(app.url(path))
    } else {
        app.client
            .post(app.url(path))
            .header("content-type", "application/json")
            .body(empty_call().to_string())
    };
    let response = request
        .header("authorization", testing::bearer(token))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let challenge = response.headers().contains_key("www-authenticate");
    (status, challenge, response.bytes().await.unwrap().len())
}

fn token_for(key: TestKey, aud: &str) -> String {
    let claims = match key {
        TestKey::BEs384 => testing::claims(testing::ISSUER_B, aud, SystemTime::now()),
        _ => testing::claims_a(aud, SystemTime::now()),
    };
    testing::mint(key, json!({}), claims)
}

#[tokio::test]
async fn an_issuer_that_lists_the_base_url_as_an_audience_may_send_it_and_only_that_issuer() {
    let jwks = issuer_b_jwks().await;
    let toml = audiences_config(
        r#"audiences = ["endpoint", "public_base_url"]"#,
        &format!("{}/jwks.json", jwks.uri()),
    );
    let app = TestApp::spawn_with_config(&toml).await;
    let base_slash = format!("{BASE}/");
    for (path, aud) in [
        (HOOK, BASE),
        (HOOK, base_slash.as_str()),
        ("/cds-services", BASE),
    ] {
        let (status, ..) = answer(&app, path, &token_for(TestKey::AEs384, aud)).await;
        assert_eq!(status, 200, "issuer A, aud {aud} at {path}");
    }
    let endpoint = format!("{BASE}{HOOK}");
    assert_eq!(
        answer(&app, HOOK, &token_for(TestKey::AEs384, &endpoint))
            .await
            .0,
        200
    );

    // Issuer B did not list it: its base-URL token gets a bare 401, its endpoint token 200.
    let refused = answer(&app, HOOK, &token_for(TestKey::BEs384, BASE)).await;
    assert_eq!(refused, (401, true, 0));
    assert_eq!(
        answer(&app, HOOK, &token_for(TestKey::BEs384, &endpoint))
            .await
            .0,
        200
    );
    assert!(!jwks.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_base_url_audience_gets_a_bare_401_unless_listed_and_an_unlisted_endpoint_too() {
    let jwks = issuer_b_jwks().await;
    let jwks_url = format!("{}/jwks.json", jwks.uri());
    let endpoint = format!("{BASE}{HOOK}");

    // The default: the exact endpoint URL only.
    let app = TestApp::spawn_with_config(&audiences_config("", &jwks_url)).await;
    let base_token = token_for(TestKey::AEs384, BASE);
    assert_eq!(answer(&app, HOOK, &base_token).await, (401, true, 0));
    assert_eq!(
        answer(&app, HOOK, &token_for(TestKey::AEs384, &endpoint))
            .await
            .0,
        200
    );

    // Listing only the base URL drops the endpoint URL for that issuer.
    let app = TestApp::spawn_with_config(&audiences_config(
        r#"audiences = ["public_base_url"]"#,
        &jwks_url,
    ))
    .await;
    let endpoint_token = token_for(TestKey::AEs384, &endpoint);
    assert_eq!(answer(&app, HOOK, &endpoint_token).await, (401, true, 0));
    assert_eq!(
        answer(&app, HOOK, &token_for(TestKey::AEs384, BASE))
            .await
            .0,
        200
    );
    // Another service's base is never the base.
    let other = token_for(TestKey::AEs384, "https://other.example.org");
    assert_eq!(answer(&app, HOOK, &other).await, (401, true, 0));
}

#[test]
fn the_binary_refuses_to_start_with_an_unknown_audience_and_says_why() {
    let dir = std::env::temp_dir().join(format!("gravida-it-aud-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("gravida.toml");
    let toml = audiences_config(
        r#"audiences = ["endpoint", "base"]"#,
        "https://ehr-b.example.org/jwks.json",
    )
    .replace(
        "{fixtures}",
        &crate::helpers::fixture_path("").display().to_string(),
    );
    std::fs::write(&file, toml).unwrap();
    let output = crate::binary::gravida()
        .args(["serve", "--config"])
        .arg(&file)
        .env("GRAVIDA_LOG__FORMAT", "json")
        .env("GRAVIDA_STORE__DATA_DIR", dir.join("data"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(r#"unknown audience "base""#) && stderr.contains("public_base_url"),
        "{stderr}"
    );
}
