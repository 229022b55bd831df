//! JWT edge cases end to end (issue 18): a token whose header has `crit`, and the high-S
//! twin of a valid ES256 or ES384 signature, each get a bare 401; the originals pass.

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

#[tokio::test]
async fn the_high_s_twin_of_a_valid_ecdsa_token_gets_a_bare_401_and_the_original_passes() {
    let app = TestApp::spawn_with_config(&config()).await;
    for key in [TestKey::AEs384, TestKey::AEs256] {
        let original = token(key, json!({}));
        let twin = testing::with_high_s(&original);
        assert_ne!(twin, original, "{key:?}");
        // The twin goes first: its refusal must not use up the original's jti.
        assert_eq!(send(&app, &twin).await, (401, true, 0), "{key:?} twin");
        assert_eq!(send(&app, &original).await.0, 200, "{key:?} original");
    }
}
