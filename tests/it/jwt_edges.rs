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
