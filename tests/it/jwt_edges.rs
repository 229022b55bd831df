//! JWT edge cases end to end: a token whose header has `crit` gets a bare 401; ES256 and
//! ES384 signatures are accepted with a high or a low `s`, and the malleated twin of an
//! accepted token (same claims, other `s`) gets a bare 401 as a replay.

use std::time::SystemTime;

use gravida_auth::testing::{self, TestKey};
use serde_json::{Value, json};

use crate::helpers::TestApp;

const BASE: &str = "https://cds.example.org";
const HOOK: &str = "/cds-services/gravida-patient-view";

/// Issuer A from its JWKS file, allowed ES256 as well as the defaults.
fn config() -> String {
    format!(
        r#"
public_base_url = "{BASE}"

[[auth.issuers]]
iss = "{iss_a}"
jwks_file = "{{fixtures}}/keys/jwks-issuer-a.json"
algorithms = ["ES384", "ES256", "RS384"]
tenants = ["{tenant_a}"]
"#,
        iss_a = testing::ISSUER_A,
        tenant_a = testing::TENANT_A,
    )
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

fn token(key: TestKey, header: Value) -> String {
    let claims = testing::claims_a(&format!("{BASE}{HOOK}"), SystemTime::now());
    testing::mint(key, header, claims)
}

/// The status, whether a `WWW-Authenticate` challenge came back, and the body's length.
async fn send(app: &TestApp, token: &str) -> (u16, bool, usize) {
    let response = app
        .client
        .post(app.url(HOOK))
        .header("content-type", "application/json")
        .header("authorization", testing::bearer(token))
        .body(empty_call().to_string())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let challenge = response.headers().contains_key("www-authenticate");
    let body = response.bytes().await.unwrap_or_default();
    (status, challenge, body.len())
}

#[tokio::test]
async fn a_token_with_a_crit_header_gets_a_bare_401() {
    let app = TestApp::spawn_with_config(&config()).await;
    for crit in [
        json!(["urn:x:unknown"]),
        json!(["exp"]),
        json!([]),
        json!("exp"),
    ] {
        let critical = token(TestKey::AEs384, json!({ "crit": crit.clone() }));
        assert_eq!(send(&app, &critical).await, (401, true, 0), "crit = {crit}");
    }
    let plain = token(TestKey::AEs384, json!({}));
    assert_eq!(send(&app, &plain).await.0, 200);
}

/// A token signed by `key` (unnormalised, as standard signers are) whose `s` is high when
/// `high` is true, else low: tokens are minted until one has the wanted form.
fn token_with_s(key: TestKey, high: bool) -> String {
    (0..64)
        .map(|_| token(key, json!({})))
        .find(|t| testing::is_high_s(t) == high)
        .unwrap_or_else(|| panic!("64 {key:?} tokens and none with high-S = {high}"))
}

#[tokio::test]
async fn high_s_and_low_s_ecdsa_tokens_get_200_and_a_malleated_twin_gets_a_bare_401() {
    let app = TestApp::spawn_with_config(&config()).await;
    for key in [TestKey::AEs384, TestKey::AEs256] {
        for high in [true, false] {
            let original = token_with_s(key, high);
            let twin = testing::malleated(&original);
            assert_ne!(twin, original, "{key:?}");
            assert_eq!(send(&app, &original).await.0, 200, "{key:?} high-S {high}");
            // Same iss and jti, other s: refused by the replay guard.
            assert_eq!(
                send(&app, &twin).await,
                (401, true, 0),
                "{key:?} twin of high-S {high}"
            );
        }
    }
}

/// The libraries whose tokens are kept in `tests/fixtures/jwt-producers/` (see its README).
const PRODUCERS: [&str; 4] = ["jsrsasign", "jose", "pyjwt", "openssl"];
/// The service base the producers' tokens name in `aud` (plus [`HOOK`]).
const PRODUCERS_BASE: &str = "https://gravida.example.org";

/// One producer's `tokens.json`: its issuer and its `(alg, token)` pairs.
fn produced(producer: &str) -> (String, Vec<(String, String)>) {
    let file = crate::helpers::fixture(&format!("jwt-producers/{producer}/tokens.json"));
    let iss = file["iss"].as_str().unwrap().to_owned();
    let tokens = file["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let alg = t["alg"].as_str().unwrap().to_owned();
            (alg, t["token"].as_str().unwrap().to_owned())
        })
        .collect();
    (iss, tokens)
}

/// Each producer as a trusted issuer whose JWKS is served at `{jwks_base}/{producer}/jwks.json`.
/// The fixture tokens live until 2099, so the lifetime cap is raised to a century.
fn producers_config(jwks_base: &str) -> String {
    let mut toml =
        format!("public_base_url = \"{PRODUCERS_BASE}\"\n\n[auth]\nmax_lifetime_s = 3155760000\n");
    for producer in PRODUCERS {
        let (iss, _) = produced(producer);
        toml.push_str(&format!(
            "\n[[auth.issuers]]\niss = \"{iss}\"\njwks_url = \"{jwks_base}/{producer}/jwks.json\"\n\
             algorithms = [\"ES384\", \"ES256\"]\n"
        ));
    }
    toml
}

#[tokio::test]
async fn tokens_signed_by_jsrsasign_jose_pyjwt_and_openssl_get_200_with_high_or_low_s() {
    let jwks = wiremock::MockServer::start().await;
    for producer in PRODUCERS {
        let document = std::fs::read_to_string(crate::helpers::fixture_path(&format!(
            "jwt-producers/{producer}/jwks.json"
        )))
        .unwrap();
        wiremock::Mock::given(wiremock::matchers::method("GET"))
            .and(wiremock::matchers::path(format!("/{producer}/jwks.json")))
            .respond_with(
                wiremock::ResponseTemplate::new(200).set_body_raw(document, "application/json"),
            )
            .mount(&jwks)
            .await;
    }
    let app = TestApp::spawn_with_config(&producers_config(&jwks.uri())).await;

    let mut wrong = Vec::new();
    for producer in PRODUCERS {
        let (_, tokens) = produced(producer);
        for alg in ["ES384", "ES256"] {
            let signed: Vec<&String> = tokens
                .iter()
                .filter(|(a, _)| a == alg)
                .map(|(_, t)| t)
                .collect();
            let high = signed.iter().filter(|t| testing::is_high_s(t)).count();
            assert!(
                high >= 1 && high < signed.len(),
                "{producer} {alg}: {high} of {} tokens high-S; the set must hold both forms",
                signed.len()
            );
        }
        for (alg, token) in &tokens {
            let high = testing::is_high_s(token);
            let status = send(&app, token).await.0;
            if status != 200 {
                wrong.push(format!("{producer} {alg} high-S {high}: answered {status}"));
            }
            // Its malleated twin (same jti, other s) is then a replay.
            let twin = send(&app, &testing::malleated(token)).await;
            if twin != (401, true, 0) {
                wrong.push(format!("{producer} {alg} twin: answered {twin:?}"));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));

    let asked: Vec<String> = jwks
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| r.url.path().to_owned())
        .collect();
    for producer in PRODUCERS {
        let path = format!("/{producer}/jwks.json");
        assert!(asked.contains(&path), "{path} was never fetched: {asked:?}");
    }
}

#[tokio::test]
async fn two_hundred_hook_calls_signed_by_an_unnormalised_es384_signer_are_all_answered_200() {
    // As the CDS Hooks sandbox calls: issuer B's keys from a JWKS URL, ES384 signatures
    // straight from a standard signer (jsonwebtoken over RustCrypto's p384), s never normalised.
    let jwks = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("GET"))
        .and(wiremock::matchers::path("/jwks.json"))
        .respond_with(
            wiremock::ResponseTemplate::new(200)
                .set_body_raw(testing::ISSUER_B_JWKS, "application/json"),
        )
        .mount(&jwks)
        .await;
    let app = TestApp::spawn_with_config(&format!(
        "public_base_url = \"{BASE}\"\n\n[[auth.issuers]]\niss = \"{}\"\njwks_url = \"{}/jwks.json\"\n",
        testing::ISSUER_B,
        jwks.uri()
    ))
    .await;
    let mut high = 0;
    let mut refused = Vec::new();
    for n in 0..200 {
        let claims = testing::claims(
            testing::ISSUER_B,
            &format!("{BASE}{HOOK}"),
            SystemTime::now(),
        );
        let token = testing::mint(TestKey::BEs384, json!({}), claims);
        let is_high = testing::is_high_s(&token);
        high += usize::from(is_high);
        let status = send(&app, &token).await.0;
        if status != 200 {
            refused.push(format!("call {n} (high-S {is_high}): {status}"));
        }
    }
    assert!(
        refused.is_empty(),
        "{} of 200 refused:\n{}",
        refused.len(),
        refused.join("\n")
    );
    // About half are high-S; fewer than 40 would mean the signer normalises (p < 1e-18).
    assert!((40..=160).contains(&high), "{high} of 200 were high-S");
    assert!(!jwks.received_requests().await.unwrap().is_empty());
}
