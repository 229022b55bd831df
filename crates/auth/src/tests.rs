//! Behaviour tests of the [`Verifier`]: the spec's JWT test vector, the bad-token
//! catalogue, good tokens of several shapes, configuration errors, FHIR server
//! allow-listing, the replay store seam, and JWKS fetching against a wiremock endpoint
//! (caching, rotation, throttling, outages, timeouts, size cap, jku).

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::json;
use url::Url;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::testing::{
    self, FHIR_A, ISSUER_A, ISSUER_A_JWKS, ISSUER_A_ROTATED_JWKS, ISSUER_B, JKU_A, TENANT_A,
    TestKey, bearer, claims, claims_a, mint, test_config, with,
};
use crate::{
    Audience, AuthConfig, AuthError, BoxFuture, Caller, Clock, ConfigError, IssuerConfig,
    KeySource, MemoryReplayStore, ReplayStore, ReplayStoreError, Seen, Verifier,
};

const HOOK: &str = "https://cds.example.org/cds-services/gravida-patient-view";
const DISCOVERY: &str = "https://cds.example.org/cds-services";
/// 2026-01-01T00:00:00Z: the pinned "now" of most tests.
const NOW: u64 = 1_767_225_600;

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn fixed_clock(secs: u64) -> Clock {
    Arc::new(move || at(secs))
}

/// A verifier over [`test_config`] with the clock pinned at [`NOW`].
fn test_verifier() -> Verifier {
    Verifier::new(test_config())
        .map(|v| v.with_clock(fixed_clock(NOW)))
        .unwrap_or_else(|err| panic!("test config refused: {err}"))
}

/// Verifies one bearer token against [`HOOK`].
async fn check(verifier: &Verifier, token: &str) -> Result<Caller, AuthError> {
    let header = bearer(token);
    verifier.verify(&[header.as_slice()], HOOK).await
}

fn reason<T>(result: &Result<T, AuthError>) -> &'static str {
    match result {
        Ok(_) => "accepted",
        Err(err) => err.reason(),
    }
}

fn fixture(relative: &str) -> String {
    let path = format!(
        "{}/../../tests/fixtures/{relative}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{path}: {err}"))
}

// ---------------------------------------------------------------------------------------
// The CDS Hooks specification's own JWT example.

/// A verifier trusting the spec example's issuer and key, clock at 2015-01-29T22:00:00Z.
fn spec_verifier(max_lifetime: Duration, allow_jku: bool) -> Verifier {
    let set = crate::parse_jwks(fixture("cds-hooks-spec/jwks-public.json").as_bytes())
        .unwrap_or_else(|err| panic!("spec JWKS: {err}"));
    let mut issuer = IssuerConfig::new("https://fhir-ehr.example.com/", KeySource::Jwks(set));
    if allow_jku {
        issuer.allowed_jku = vec![
            Url::parse("https://fhir-ehr.example.com/jwk_uri").unwrap_or_else(|e| panic!("{e}")),
        ];
    }
    let config = AuthConfig {
        issuers: vec![issuer],
        max_lifetime,
        ..AuthConfig::default()
    };
    Verifier::new(config)
        .unwrap_or_else(|err| panic!("spec config refused: {err}"))
        .with_clock(fixed_clock(1_422_568_800))
}

const SPEC_AUDIENCE: &str = "https://cds.example.org/cds-services/some-service";
const FOUR_YEARS: Duration = Duration::from_secs(4 * 366 * 24 * 3600);

#[tokio::test]
async fn the_spec_example_token_verifies_with_a_fixed_clock_and_a_raised_lifetime_cap() {
    let token = fixture("cds-hooks-spec/jwt-example-compact.txt");
    let verifier = spec_verifier(FOUR_YEARS, true);
    let header = bearer(token.trim());
    let caller = verifier.verify(&[header.as_slice()], SPEC_AUDIENCE).await;
    assert_eq!(
        caller,
        Ok(Caller {
            iss: "https://fhir-ehr.example.com/".to_string(),
            tenant: Some("2ddd6c3a-8e9a-44c6-a305-52111ad302a2".to_string()),
            jti: "ee22b021-e1b7-4611-ba5b-8eec6a33ac1e".to_string(),
        })
    );
}

#[tokio::test]
async fn the_spec_example_token_is_refused_with_the_default_lifetime_cap() {
    let token = fixture("cds-hooks-spec/jwt-example-compact.txt");
    let verifier = spec_verifier(AuthConfig::default().max_lifetime, true);
    let header = bearer(token.trim());
    let outcome = verifier.verify(&[header.as_slice()], SPEC_AUDIENCE).await;
    assert_eq!(reason(&outcome), "lifetime-too-long");
}

#[tokio::test]
async fn the_spec_example_token_is_refused_when_its_jku_is_not_allow_listed() {
    let token = fixture("cds-hooks-spec/jwt-example-compact.txt");
    let verifier = spec_verifier(FOUR_YEARS, false);
    let header = bearer(token.trim());
    let outcome = verifier.verify(&[header.as_slice()], SPEC_AUDIENCE).await;
    assert_eq!(reason(&outcome), "jku-not-allowed");
}

#[tokio::test]
async fn the_spec_example_token_is_refused_two_minutes_after_it_expired() {
    let token = fixture("cds-hooks-spec/jwt-example-compact.txt");
    // exp is 22:01:00; with 60 s of skew it is dead from 22:02:00.
    let verifier = spec_verifier(FOUR_YEARS, true).with_clock(fixed_clock(1_422_568_860 + 120));
    let header = bearer(token.trim());
    let outcome = verifier.verify(&[header.as_slice()], SPEC_AUDIENCE).await;
    assert_eq!(reason(&outcome), "expired");
}

// ---------------------------------------------------------------------------------------
// The bad-token catalogue.

#[tokio::test]
async fn every_bad_request_in_the_catalogue_is_refused_for_its_own_reason() {
    let verifier = test_verifier();
    let cases = testing::bad_requests(at(NOW), HOOK, DISCOVERY);
    assert!(cases.len() >= 25, "only {} cases", cases.len());

    let mut wrong = Vec::new();
    for case in &cases {
        let headers: Vec<&[u8]> = case.authorization.iter().map(Vec::as_slice).collect();
        if case.send_twice {
            let first = verifier.verify(&headers, &case.audience).await;
            if first.is_err() {
                wrong.push(format!(
                    "{}: first send refused: {}",
                    case.name,
                    reason(&first)
                ));
                continue;
            }
        }
        let outcome = verifier.verify(&headers, &case.audience).await;
        if reason(&outcome) != case.expected_reason {
            wrong.push(format!(
                "{}: expected {}, got {}",
                case.name,
                case.expected_reason,
                reason(&outcome)
            ));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[tokio::test]
async fn no_refusal_message_contains_the_token_or_its_parts() {
    let verifier = test_verifier();
    for case in testing::bad_requests(at(NOW), HOOK, DISCOVERY) {
        let headers: Vec<&[u8]> = case.authorization.iter().map(Vec::as_slice).collect();
        if case.send_twice {
            let _ = verifier.verify(&headers, &case.audience).await;
        }
        let Err(err) = verifier.verify(&headers, &case.audience).await else {
            panic!("{} was accepted", case.name);
        };
        let shown = format!("{err} {err:?}");
        for value in &case.authorization {
            let text = String::from_utf8_lossy(value);
            let token = text
                .trim_start_matches("Bearer ")
                .trim_start_matches("Basic ");
            for part in token.split('.').filter(|p| p.len() >= 8) {
                assert!(
                    !shown.contains(part),
                    "{}: message {shown:?} leaks the token",
                    case.name
                );
            }
        }
    }
}

/// A log sink for tests: every line the subscriber writes is appended to one buffer.
#[derive(Clone, Default)]
struct CapturedLogs(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for CapturedLogs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut logs) = self.0.lock() {
            logs.extend_from_slice(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for CapturedLogs {
    type Writer = CapturedLogs;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// The process-wide log capture, installed on first use.
fn captured_logs() -> CapturedLogs {
    static LOGS: std::sync::OnceLock<CapturedLogs> = std::sync::OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = CapturedLogs::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(logs.clone())
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .finish();
        let _ = tracing::subscriber::set_global_default(subscriber);
        logs
    })
    .clone()
}

#[tokio::test]
async fn the_log_names_each_refusal_reason_and_never_the_token() {
    // A process-wide subscriber: a thread-scoped one misses events whose callsites other
    // tests, running in parallel, registered first. It captures every test's logs, so
    // the check below covers this test's tokens, and nothing else may leak either.
    let logs = captured_logs();

    let verifier = test_verifier();
    let cases = testing::bad_requests(at(NOW), HOOK, DISCOVERY);
    let good = mint(TestKey::AEs384, json!({}), claims_a(HOOK, at(NOW)));
    assert_eq!(reason(&check(&verifier, &good).await), "accepted");
    for case in &cases {
        let headers: Vec<&[u8]> = case.authorization.iter().map(Vec::as_slice).collect();
        if case.send_twice {
            let _ = verifier.verify(&headers, &case.audience).await;
        }
        let _ = verifier.verify(&headers, &case.audience).await;
    }

    let text = logs
        .0
        .lock()
        .map(|l| String::from_utf8_lossy(&l).into_owned())
        .unwrap_or_default();
    for case in &cases {
        assert!(
            text.contains(case.expected_reason),
            "no log line says {}",
            case.expected_reason
        );
    }
    let mut tokens: Vec<String> = vec![good];
    for case in &cases {
        for value in &case.authorization {
            tokens.push(
                String::from_utf8_lossy(value)
                    .trim_start_matches("Bearer ")
                    .to_string(),
            );
        }
    }
    for token in &tokens {
        for part in token.split('.').filter(|p| p.len() >= 8) {
            assert!(!text.contains(part), "the log contains part of a token");
        }
    }
}

#[tokio::test]
async fn a_refused_token_does_not_use_up_its_jti() {
    let verifier = test_verifier();
    let good = claims_a(HOOK, at(NOW));
    // Same jti, wrong audience first: refused, and the jti stays unused.
    let wrong_aud = mint(
        TestKey::AEs384,
        json!({}),
        with(good.clone(), json!({ "aud": DISCOVERY })),
    );
    assert_eq!(reason(&check(&verifier, &wrong_aud).await), "wrong-aud");
    let right = mint(TestKey::AEs384, json!({}), good);
    assert_eq!(reason(&check(&verifier, &right).await), "accepted");
}

// ---------------------------------------------------------------------------------------
// Good tokens.

#[tokio::test]
async fn an_es384_token_from_issuer_a_is_accepted_and_names_its_caller() {
    let verifier = test_verifier();
    let claims = claims_a(HOOK, at(NOW));
    let jti = claims["jti"].as_str().unwrap_or_default().to_string();
    let outcome = check(&verifier, &mint(TestKey::AEs384, json!({}), claims)).await;
    assert_eq!(
        outcome,
        Ok(Caller {
            iss: ISSUER_A.to_string(),
            tenant: Some(TENANT_A.to_string()),
            jti,
        })
    );
}

#[tokio::test]
async fn an_rs384_token_is_accepted() {
    let verifier = test_verifier();
    let token = mint(TestKey::ARsa, json!({}), claims_a(HOOK, at(NOW)));
    assert_eq!(reason(&check(&verifier, &token).await), "accepted");
}

#[tokio::test]
async fn a_token_from_issuer_b_without_a_tenant_is_accepted() {
    let verifier = test_verifier();
    let token = mint(TestKey::BEs384, json!({}), claims(ISSUER_B, HOOK, at(NOW)));
    let outcome = check(&verifier, &token).await;
    assert_eq!(
        outcome.map(|c| (c.iss, c.tenant)),
        Ok((ISSUER_B.to_string(), None))
    );
}

#[tokio::test]
async fn an_epic_style_token_with_sub_nbf_and_a_fifteen_minute_life_is_accepted() {
    let verifier = test_verifier();
    let t = NOW as i64;
    let epic = with(
        claims_a(HOOK, at(NOW)),
        json!({ "sub": "client-id-123", "nbf": t - 300, "iat": t, "exp": t + 900 }),
    );
    let token = mint(TestKey::ARsa, json!({ "jku": JKU_A }), epic);
    assert_eq!(reason(&check(&verifier, &token).await), "accepted");
}

#[tokio::test]
async fn an_audience_array_naming_this_endpoint_is_accepted() {
    let verifier = test_verifier();
    let token = mint(
        TestKey::AEs384,
        json!({}),
        with(claims_a(HOOK, at(NOW)), json!({ "aud": [DISCOVERY, HOOK] })),
    );
    assert_eq!(reason(&check(&verifier, &token).await), "accepted");
}

#[tokio::test]
async fn clocks_within_the_skew_are_tolerated() {
    let t = NOW as i64;
    // Issued 30 s "in the future" and expiring 30 s ago: both within 60 s of skew.
    let verifier = test_verifier();
    let ahead = with(
        claims_a(HOOK, at(NOW)),
        json!({ "iat": t + 30, "exp": t + 330 }),
    );
    assert_eq!(
        reason(&check(&verifier, &mint(TestKey::AEs384, json!({}), ahead)).await),
        "accepted"
    );
    let behind = with(
        claims_a(HOOK, at(NOW)),
        json!({ "iat": t - 330, "exp": t - 30 }),
    );
    assert_eq!(
        reason(&check(&verifier, &mint(TestKey::AEs384, json!({}), behind)).await),
        "accepted"
    );
    // Past the skew, the same token shape is refused.
    let dead = with(
        claims_a(HOOK, at(NOW)),
        json!({ "iat": t - 400, "exp": t - 61 }),
    );
    assert_eq!(
        reason(&check(&verifier, &mint(TestKey::AEs384, json!({}), dead)).await),
        "expired"
    );
}

// ---------------------------------------------------------------------------------------
// Critical header extensions (RFC 7515 §4.1.11) and ECDSA malleability.

#[tokio::test]
async fn a_crit_header_is_refused_whatever_its_value() {
    let verifier = test_verifier();
    let values = [
        json!(["urn:x:unknown"]),
        json!(["exp"]),
        json!([]),
        json!("exp"),
        json!(true),
        json!({ "exp": true }),
    ];
    for value in values {
        let token = mint(
            TestKey::AEs384,
            json!({ "crit": value.clone() }),
            claims_a(HOOK, at(NOW)),
        );
        assert_eq!(
            check(&verifier, &token).await,
            Err(AuthError::CriticalHeader),
            "crit = {value}"
        );
    }
}

#[tokio::test]
async fn a_crit_header_is_refused_even_when_the_rest_of_the_token_is_good_and_its_jti_stays_unused()
{
    let verifier = test_verifier();
    let good = claims_a(HOOK, at(NOW));
    let critical = mint(
        TestKey::AEs384,
        json!({ "crit": ["urn:x:unknown"], "urn:x:unknown": 1 }),
        good.clone(),
    );
    assert_eq!(
        check(&verifier, &critical).await,
        Err(AuthError::CriticalHeader)
    );
    let plain = mint(TestKey::AEs384, json!({}), good);
    assert_eq!(reason(&check(&verifier, &plain).await), "accepted");
}

/// Whether `jsonwebtoken` alone accepts `token`'s signature with issuer A's key `kid`.
fn jsonwebtoken_accepts(token: &str, kid: &str, alg: jsonwebtoken::Algorithm) -> bool {
    let set = testing::jwks(ISSUER_A_JWKS);
    let Some(jwk) = set.find(kid) else {
        panic!("no {kid} in issuer A's JWKS");
    };
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap_or_else(|err| panic!("{err}"));
    let Some((input, signature)) = token.rsplit_once('.') else {
        panic!("not a JWS");
    };
    jsonwebtoken::crypto::verify(signature, input.as_bytes(), &key, alg).unwrap_or(false)
}

/// A verifier over [`test_config`] whose issuers also allow ES256, clock at [`NOW`].
fn es256_verifier() -> Verifier {
    let mut config = test_config();
    for issuer in &mut config.issuers {
        issuer.algorithms.push("ES256".to_string());
    }
    Verifier::new(config)
        .unwrap_or_else(|err| panic!("{err}"))
        .with_clock(fixed_clock(NOW))
}

/// Mints tokens with `key` (fresh jti each) until one has a high `s` and one a low `s`;
/// the minter does not normalise, so both come within a few tries (each is a coin toss).
fn one_high_s_and_one_low_s(key: TestKey) -> (String, String) {
    let mut high = None;
    let mut low = None;
    for _ in 0..64 {
        let token = mint(key, json!({}), claims_a(HOOK, at(NOW)));
        if testing::is_high_s(&token) {
            high.get_or_insert(token);
        } else {
            low.get_or_insert(token);
        }
    }
    match (high, low) {
        (Some(high), Some(low)) => (high, low),
        (high, _) => panic!(
            "64 {key:?} tokens were all {}-S: the minter normalises s",
            if high.is_some() { "high" } else { "low" }
        ),
    }
}

#[tokio::test]
async fn a_high_s_and_a_low_s_es384_token_are_both_accepted() {
    let verifier = test_verifier();
    let (high, low) = one_high_s_and_one_low_s(TestKey::AEs384);
    for token in [&high, &low] {
        assert!(jsonwebtoken_accepts(
            token,
            "a-es384",
            jsonwebtoken::Algorithm::ES384
        ));
    }
    assert_eq!(reason(&check(&verifier, &high).await), "accepted");
    assert_eq!(reason(&check(&verifier, &low).await), "accepted");
}

#[tokio::test]
async fn a_high_s_and_a_low_s_es256_token_are_both_accepted() {
    let verifier = es256_verifier();
    let (high, low) = one_high_s_and_one_low_s(TestKey::AEs256);
    assert_eq!(reason(&check(&verifier, &high).await), "accepted");
    assert_eq!(reason(&check(&verifier, &low).await), "accepted");
}

#[tokio::test]
async fn the_malleated_twin_of_an_accepted_token_is_refused_as_a_replay_in_either_order() {
    for key in [TestKey::AEs384, TestKey::AEs256] {
        let (high, low) = one_high_s_and_one_low_s(key);
        for original in [high, low] {
            let twin = testing::malleated(&original);
            assert_ne!(twin, original, "{key:?}");
            assert_ne!(testing::is_high_s(&twin), testing::is_high_s(&original));
            // The twin is a genuine signature of the same claims: on its own it is accepted,
            // and whichever of the two comes second is a replay of the same iss and jti.
            let verifier = es256_verifier();
            assert_eq!(reason(&check(&verifier, &original).await), "accepted");
            assert_eq!(check(&verifier, &twin).await, Err(AuthError::Replayed));
            let verifier = es256_verifier();
            assert_eq!(reason(&check(&verifier, &twin).await), "accepted");
            assert_eq!(check(&verifier, &original).await, Err(AuthError::Replayed));
        }
    }
}

#[tokio::test]
async fn many_minted_ecdsa_tokens_include_high_s_ones_and_are_all_accepted() {
    // About half of the signatures a standard signer makes have a high s.
    let verifier = test_verifier();
    let mut high = 0;
    for _ in 0..64 {
        let token = mint(TestKey::AEs384, json!({}), claims_a(HOOK, at(NOW)));
        high += usize::from(testing::is_high_s(&token));
        assert_eq!(reason(&check(&verifier, &token).await), "accepted");
    }
    assert!((8..=56).contains(&high), "{high} of 64 were high-S");
}

#[tokio::test]
async fn an_rsa_token_has_no_malleated_twin_and_is_accepted() {
    let verifier = test_verifier();
    let token = mint(TestKey::ARsa, json!({}), claims_a(HOOK, at(NOW)));
    assert_eq!(testing::malleated(&token), token);
    assert!(!testing::is_high_s(&token));
    assert_eq!(reason(&check(&verifier, &token).await), "accepted");
}

/// A verifier over [`test_config`] whose issuer A accepts the audiences given.
fn verifier_with_audiences(audiences: Vec<Audience>) -> Verifier {
    let mut config = test_config();
    config.issuers[0].audiences = audiences;
    Verifier::new(config)
        .unwrap_or_else(|err| panic!("{err}"))
        .with_clock(fixed_clock(NOW))
}

const SERVICE_BASE: &str = "https://cds.example.org";

#[tokio::test]
async fn an_issuer_listing_the_service_base_as_an_audience_may_send_it_to_any_endpoint() {
    let verifier = verifier_with_audiences(vec![
        Audience::Endpoint,
        Audience::Exact(SERVICE_BASE.to_string()),
    ]);
    let base_token = || mint(TestKey::AEs384, json!({}), claims_a(SERVICE_BASE, at(NOW)));
    let endpoint_token = mint(TestKey::AEs384, json!({}), claims_a(HOOK, at(NOW)));
    assert_eq!(reason(&check(&verifier, &base_token()).await), "accepted");
    assert_eq!(reason(&check(&verifier, &endpoint_token).await), "accepted");
    let header = bearer(&base_token());
    let at_discovery = verifier.verify(&[header.as_slice()], DISCOVERY).await;
    assert_eq!(reason(&at_discovery), "accepted");
    // Issuer B keeps the default: only the endpoint URL.
    let b_base = mint(
        TestKey::BEs384,
        json!({}),
        claims(ISSUER_B, SERVICE_BASE, at(NOW)),
    );
    assert_eq!(
        check(&verifier, &b_base).await,
        Err(AuthError::WrongAudience)
    );
}

#[tokio::test]
async fn by_default_and_when_the_endpoint_is_not_listed_only_the_listed_audiences_pass() {
    let base_token = || mint(TestKey::AEs384, json!({}), claims_a(SERVICE_BASE, at(NOW)));
    let default = test_verifier();
    assert_eq!(
        check(&default, &base_token()).await,
        Err(AuthError::WrongAudience)
    );

    let base_only = verifier_with_audiences(vec![Audience::Exact(SERVICE_BASE.to_string())]);
    assert_eq!(reason(&check(&base_only, &base_token()).await), "accepted");
    let endpoint_token = mint(TestKey::AEs384, json!({}), claims_a(HOOK, at(NOW)));
    assert_eq!(
        check(&base_only, &endpoint_token).await,
        Err(AuthError::WrongAudience)
    );
}

#[test]
fn a_config_with_no_audience_or_an_empty_one_is_refused() {
    let mut none = test_config();
    none.issuers[0].audiences = vec![];
    assert!(matches!(
        Verifier::new(none),
        Err(ConfigError::NoAudiences { .. })
    ));
    let mut empty = test_config();
    empty.issuers[1].audiences = vec![Audience::Endpoint, Audience::Exact(String::new())];
    assert!(matches!(
        Verifier::new(empty),
        Err(ConfigError::EmptyAudience { .. })
    ));
}

#[test]
fn the_verifier_debug_output_lists_issuers_but_no_keys() {
    let shown = format!("{:?}", test_verifier());
    assert!(
        shown.contains(ISSUER_A) && shown.contains(ISSUER_B),
        "{shown}"
    );
    let a_key_coordinate = "\"x\"";
    assert!(
        !shown.contains(a_key_coordinate) && !shown.contains("a-es384"),
        "{shown}"
    );
}

// ---------------------------------------------------------------------------------------
// Configuration.

fn config_with(algorithms: &[&str]) -> AuthConfig {
    let mut issuer = IssuerConfig::new(ISSUER_A, KeySource::Jwks(testing::jwks(ISSUER_A_JWKS)));
    issuer.algorithms = algorithms.iter().map(|a| a.to_string()).collect();
    AuthConfig {
        issuers: vec![issuer],
        ..AuthConfig::default()
    }
}

#[test]
fn a_config_naming_an_hmac_algorithm_or_none_is_refused() {
    for alg in ["HS384", "HS256", "hs512", "none", "None"] {
        let outcome = Verifier::new(config_with(&["ES384", alg]));
        assert!(
            matches!(outcome, Err(ConfigError::ForbiddenAlgorithm { .. })),
            "{alg}: {outcome:?}"
        );
    }
}

#[test]
fn a_config_naming_an_unknown_or_no_algorithm_is_refused() {
    assert!(matches!(
        Verifier::new(config_with(&["ES512"])),
        Err(ConfigError::UnknownAlgorithm { .. })
    ));
    assert!(matches!(
        Verifier::new(config_with(&[])),
        Err(ConfigError::NoAlgorithms { .. })
    ));
}

#[test]
fn a_config_with_the_same_issuer_twice_is_refused() {
    let mut config = test_config();
    let again = config.issuers[0].clone();
    config.issuers.push(again);
    assert!(
        matches!(Verifier::new(config), Err(ConfigError::DuplicateIssuer { iss }) if iss == ISSUER_A)
    );
}

#[test]
fn a_config_with_an_empty_key_set_tenant_list_or_replay_store_is_refused() {
    let empty_keys = AuthConfig {
        issuers: vec![IssuerConfig::new(
            ISSUER_A,
            KeySource::Jwks(crate::JwkSet { keys: vec![] }),
        )],
        ..AuthConfig::default()
    };
    assert!(matches!(
        Verifier::new(empty_keys),
        Err(ConfigError::EmptyKeySet { .. })
    ));

    let mut no_tenants = config_with(&["ES384"]);
    no_tenants.issuers[0].tenants = Some(vec![]);
    assert!(matches!(
        Verifier::new(no_tenants),
        Err(ConfigError::NoTenants { .. })
    ));

    let zero = AuthConfig {
        replay_capacity: 0,
        ..test_config()
    };
    assert!(matches!(
        Verifier::new(zero),
        Err(ConfigError::ZeroReplayCapacity)
    ));
}

#[test]
fn a_jwks_keeps_its_signature_keys_and_drops_unusable_ones() {
    let document = json!({ "keys": [
        { "kty": "RSA", "use": "enc", "alg": "RSA-OAEP", "kid": "enc", "n": "sXch", "e": "AQAB" },
        { "kty": "RSA", "kid": "broken", "n": 5, "e": "AQAB" },
        { "kty": "oct", "kid": "shared-secret", "k": "c2VjcmV0" },
        { "kty": "WEIRD", "kid": "weird" },
        { "kty": "EC", "crv": "P-384", "x": "PIf_DNAMIYpLeE2erRymGLR-wRwZDTsY9AO2qjGC9L5L2WmmSrSr2Dy5dugTB4wH", "y": "kXfVTmt3favdL6g-0qQiYUeZ0zGbvkthxAgLuFjojw65K45KBAZ-VVRYNJjRnZYf" },
        serde_json::from_str::<serde_json::Value>(ISSUER_B_KEY).unwrap_or_default(),
    ]});
    let set = crate::parse_jwks(document.to_string().as_bytes()).unwrap_or_default();
    let kids: Vec<_> = set
        .keys
        .iter()
        .filter_map(|k| k.common.key_id.clone())
        .collect();
    assert_eq!(kids, vec!["b-es384".to_string()]);
    assert!(crate::parse_jwks(b"[]").is_err());
}

/// Issuer B's one key, as a JWK.
const ISSUER_B_KEY: &str = r#"{"kty":"EC","use":"sig","crv":"P-384","kid":"b-es384","alg":"ES384","x":"PIf_DNAMIYpLeE2erRymGLR-wRwZDTsY9AO2qjGC9L5L2WmmSrSr2Dy5dugTB4wH","y":"kXfVTmt3favdL6g-0qQiYUeZ0zGbvkthxAgLuFjojw65K45KBAZ-VVRYNJjRnZYf"}"#;

#[test]
fn a_jwks_file_is_read_into_a_key_source() {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/keys/jwks-issuer-b.json");
    match KeySource::from_jwks_file(&path) {
        Ok(KeySource::Jwks(set)) => assert!(set.find("b-es384").is_some()),
        other => panic!("{other:?}"),
    }
    let missing = KeySource::from_jwks_file(std::path::Path::new("/nonexistent/jwks.json"));
    assert!(matches!(missing, Err(ConfigError::Jwks { .. })));
}

// ---------------------------------------------------------------------------------------
// FHIR server allow-list.

fn caller_of(iss: &str) -> Caller {
    Caller {
        iss: iss.to_string(),
        tenant: None,
        jti: "j".to_string(),
    }
}

fn allowed(verifier: &Verifier, iss: &str, url: &str) -> bool {
    let url = Url::parse(url).unwrap_or_else(|err| panic!("{url}: {err}"));
    verifier.fhir_server_allowed(&caller_of(iss), &url)
}

#[test]
fn a_fhir_server_at_or_below_the_configured_base_is_allowed() {
    let verifier = test_verifier();
    assert!(allowed(&verifier, ISSUER_A, FHIR_A));
    assert!(allowed(&verifier, ISSUER_A, &format!("{FHIR_A}/")));
    assert!(allowed(&verifier, ISSUER_A, &format!("{FHIR_A}/tenant-1")));
    assert!(allowed(
        &verifier,
        ISSUER_A,
        "https://fhir.ehr-a.example.org:443/R4"
    ));
}

#[test]
fn a_fhir_server_off_the_configured_base_is_refused() {
    let verifier = test_verifier();
    for url in [
        "https://fhir.ehr-a.example.org/R4x",
        "https://fhir.ehr-a.example.org/",
        "http://fhir.ehr-a.example.org/R4",
        "https://fhir.ehr-a.example.org:8443/R4",
        "https://evil.example.org/R4",
        "https://fhir.ehr-a.example.org.evil.example/R4",
        "https://user@fhir.ehr-a.example.org/R4",
        "https://fhir.ehr-a.example.org/R4?x=1",
        "https://fhir.ehr-a.example.org/R4/../admin",
    ] {
        assert!(!allowed(&verifier, ISSUER_A, url), "{url} was allowed");
    }
    // Issuer B lists no FHIR servers; an unknown issuer has none either.
    assert!(!allowed(&verifier, ISSUER_B, FHIR_A));
    assert!(!allowed(&verifier, "https://rogue.example.org", FHIR_A));
}

// ---------------------------------------------------------------------------------------
// Replay store seam.

#[tokio::test]
async fn two_verifiers_sharing_a_replay_store_refuse_each_others_replays() {
    let store: Arc<dyn ReplayStore> = Arc::new(MemoryReplayStore::new(16));
    let one = test_verifier().with_replay_store(store.clone());
    let two = test_verifier().with_replay_store(store);
    let token = mint(TestKey::AEs384, json!({}), claims_a(HOOK, at(NOW)));
    assert_eq!(reason(&check(&one, &token).await), "accepted");
    assert_eq!(reason(&check(&two, &token).await), "replayed-jti");
}

#[derive(Debug)]
struct BrokenStore;

impl ReplayStore for BrokenStore {
    fn remember<'a>(
        &'a self,
        _iss: &'a str,
        _jti: &'a str,
        _expires_at: SystemTime,
        _now: SystemTime,
    ) -> BoxFuture<'a, Result<Seen, ReplayStoreError>> {
        Box::pin(async { Err(ReplayStoreError("database down".to_string())) })
    }
}

#[tokio::test]
async fn a_failing_replay_store_refuses_the_token() {
    let verifier = test_verifier().with_replay_store(Arc::new(BrokenStore));
    let token = mint(TestKey::AEs384, json!({}), claims_a(HOOK, at(NOW)));
    assert_eq!(
        reason(&check(&verifier, &token).await),
        "replay-store-unavailable"
    );
}

#[tokio::test]
async fn a_full_replay_store_still_accepts_new_tokens() {
    let config = AuthConfig {
        replay_capacity: 2,
        ..test_config()
    };
    let verifier = Verifier::new(config)
        .unwrap_or_else(|err| panic!("{err}"))
        .with_clock(fixed_clock(NOW));
    for _ in 0..5 {
        let token = mint(TestKey::AEs384, json!({}), claims_a(HOOK, at(NOW)));
        assert_eq!(reason(&check(&verifier, &token).await), "accepted");
    }
}

// ---------------------------------------------------------------------------------------
// JWKS over HTTP (wiremock).

/// A verifier trusting issuer A with its keys at `{server}/jwks`, tokens from the real
/// clock (wiremock tests sleep), and the given refresh interval and timeout.
fn remote_verifier(server: &MockServer, refresh: Duration, timeout: Duration) -> Verifier {
    let url = Url::parse(&format!("{}/jwks", server.uri())).unwrap_or_else(|err| panic!("{err}"));
    let mut issuer = IssuerConfig::new(ISSUER_A, KeySource::Url(url));
    issuer.allowed_jku = vec![
        Url::parse(&format!("{}/rotated", server.uri())).unwrap_or_else(|err| panic!("{err}")),
    ];
    let config = AuthConfig {
        issuers: vec![issuer],
        jwks_refresh_interval: refresh,
        jwks_timeout: timeout,
        ..AuthConfig::default()
    };
    Verifier::new(config).unwrap_or_else(|err| panic!("{err}"))
}

fn jwks_response(document: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(document.as_bytes().to_vec(), "application/json")
}

/// A fresh token from issuer A (no tenant list in the remote config), real clock.
fn remote_token(key: TestKey, header: serde_json::Value) -> String {
    mint(key, header, claims(ISSUER_A, HOOK, SystemTime::now()))
}

async fn requests_to(server: &MockServer, wanted: &str) -> usize {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.url.path() == wanted)
        .count()
}

#[tokio::test]
async fn keys_are_fetched_once_and_then_served_from_the_cache() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/jwks"))
        .respond_with(jwks_response(ISSUER_A_JWKS))
        .mount(&server)
        .await;
    let verifier = remote_verifier(&server, Duration::from_secs(60), Duration::from_secs(2));
    for key in [TestKey::AEs384, TestKey::ARsa, TestKey::AEs384] {
        assert_eq!(
            reason(&check(&verifier, &remote_token(key, json!({}))).await),
            "accepted"
        );
    }
    assert_eq!(requests_to(&server, "/jwks").await, 1);
}

#[tokio::test]
async fn a_rotated_key_is_picked_up_after_the_refresh_interval() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/jwks"))
        .respond_with(jwks_response(ISSUER_A_JWKS))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/jwks"))
        .respond_with(jwks_response(ISSUER_A_ROTATED_JWKS))
        .with_priority(2)
        .mount(&server)
        .await;
    // Long enough that the two checks below fit inside it on a loaded machine (a debug-build
    // ES384 check can take a tenth of a second there), short enough to wait out.
    let refresh = Duration::from_millis(1500);
    let verifier = remote_verifier(&server, refresh, Duration::from_secs(2));

    assert_eq!(
        reason(&check(&verifier, &remote_token(TestKey::AEs384, json!({}))).await),
        "accepted"
    );
    // The new key appears right away, but the cache was just filled: no re-fetch yet.
    let next = || remote_token(TestKey::AEs384Next, json!({}));
    assert_eq!(reason(&check(&verifier, &next()).await), "unknown-kid");
    assert_eq!(requests_to(&server, "/jwks").await, 1);

    tokio::time::sleep(refresh + Duration::from_millis(50)).await;
    assert_eq!(reason(&check(&verifier, &next()).await), "accepted");
    assert_eq!(requests_to(&server, "/jwks").await, 2);
}

#[tokio::test]
async fn a_storm_of_unknown_kids_causes_at_most_one_fetch_per_interval() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/jwks"))
        .respond_with(jwks_response(ISSUER_A_JWKS))
        .mount(&server)
        .await;
    let verifier = remote_verifier(&server, Duration::from_secs(60), Duration::from_secs(2));

    let mut storm = tokio::task::JoinSet::new();
    for n in 0..100 {
        let verifier = verifier.clone();
        let token = remote_token(TestKey::AEs384, json!({ "kid": format!("made-up-{n}") }));
        storm.spawn(async move { reason(&check(&verifier, &token).await) });
    }
    let mut reasons = Vec::new();
    while let Some(joined) = storm.join_next().await {
        reasons.push(joined.unwrap_or("task failed"));
    }
    assert_eq!(reasons.len(), 100);
    assert!(reasons.iter().all(|r| *r == "unknown-kid"), "{reasons:?}");
    assert_eq!(requests_to(&server, "/jwks").await, 1);

    // The real key still works, from the cache.
    assert_eq!(
        reason(&check(&verifier, &remote_token(TestKey::AEs384, json!({}))).await),
        "accepted"
    );
    assert_eq!(requests_to(&server, "/jwks").await, 1);
}

#[tokio::test]
async fn cached_keys_keep_working_when_the_jwks_endpoint_goes_down() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/jwks"))
        .respond_with(jwks_response(ISSUER_A_JWKS))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/jwks"))
        .respond_with(ResponseTemplate::new(503))
        .with_priority(2)
        .mount(&server)
        .await;
    // No throttle, so the unknown kid below really does hit the failing endpoint.
    let verifier = remote_verifier(&server, Duration::ZERO, Duration::from_secs(2));

    assert_eq!(
        reason(&check(&verifier, &remote_token(TestKey::AEs384, json!({}))).await),
        "accepted"
    );
    let unknown = remote_token(TestKey::AEs384, json!({ "kid": "not-there" }));
    assert_eq!(reason(&check(&verifier, &unknown).await), "unknown-kid");
    assert_eq!(
        requests_to(&server, "/jwks").await,
        2,
        "the outage was not exercised"
    );
    assert_eq!(
        reason(&check(&verifier, &remote_token(TestKey::ARsa, json!({}))).await),
        "accepted"
    );
}

#[tokio::test]
async fn a_jwks_endpoint_down_from_the_start_means_keys_unavailable() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/jwks"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&server)
        .await;
    let verifier = remote_verifier(&server, Duration::from_secs(60), Duration::from_secs(2));
    let token = remote_token(TestKey::AEs384, json!({}));
    assert_eq!(reason(&check(&verifier, &token).await), "jwks-unavailable");
    // The failed attempt is throttled too: a second token does not hit the endpoint again.
    let token = remote_token(TestKey::AEs384, json!({}));
    assert_eq!(reason(&check(&verifier, &token).await), "jwks-unavailable");
    assert_eq!(requests_to(&server, "/jwks").await, 1);
}

#[tokio::test]
async fn a_slow_jwks_endpoint_is_abandoned_at_the_timeout() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/jwks"))
        .respond_with(jwks_response(ISSUER_A_JWKS).set_delay(Duration::from_secs(5)))
        .mount(&server)
        .await;
    let verifier = remote_verifier(&server, Duration::from_secs(60), Duration::from_millis(300));
    let started = Instant::now();
    let outcome = check(&verifier, &remote_token(TestKey::AEs384, json!({}))).await;
    let waited = started.elapsed();
    assert_eq!(reason(&outcome), "jwks-unavailable");
    assert!(waited < Duration::from_secs(2), "waited {waited:?}");
    assert!(
        waited >= Duration::from_millis(250),
        "gave up after only {waited:?}"
    );
}

#[tokio::test]
async fn an_oversized_jwks_document_is_refused() {
    let server = MockServer::start().await;
    let padding = "x".repeat(crate::MAX_JWKS_BYTES);
    let huge = ISSUER_A_JWKS.replacen('{', &format!("{{\"padding\":\"{padding}\","), 1);
    Mock::given(method("GET"))
        .and(path("/jwks"))
        .respond_with(jwks_response(&huge))
        .mount(&server)
        .await;
    let verifier = remote_verifier(&server, Duration::from_secs(60), Duration::from_secs(2));
    let outcome = check(&verifier, &remote_token(TestKey::AEs384, json!({}))).await;
    assert_eq!(reason(&outcome), "jwks-unavailable");
}

#[tokio::test]
async fn keys_are_fetched_from_an_allow_listed_jku() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/rotated"))
        .respond_with(jwks_response(ISSUER_A_ROTATED_JWKS))
        .mount(&server)
        .await;
    let verifier = remote_verifier(&server, Duration::from_secs(60), Duration::from_secs(2));
    let jku = format!("{}/rotated", server.uri());
    let token = remote_token(TestKey::AEs384Next, json!({ "jku": jku }));
    assert_eq!(reason(&check(&verifier, &token).await), "accepted");
    assert_eq!(requests_to(&server, "/rotated").await, 1);
    assert_eq!(requests_to(&server, "/jwks").await, 0);

    // A jku elsewhere on the same server is not on the list, and is never fetched.
    let other = format!("{}/other", server.uri());
    let token = remote_token(TestKey::AEs384Next, json!({ "jku": other }));
    assert_eq!(reason(&check(&verifier, &token).await), "jku-not-allowed");
    assert_eq!(requests_to(&server, "/other").await, 0);
}

#[tokio::test]
async fn prefetching_fills_the_cache_so_the_first_token_needs_no_fetch() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/jwks"))
        .respond_with(jwks_response(ISSUER_A_JWKS))
        .mount(&server)
        .await;
    let verifier = remote_verifier(&server, Duration::from_secs(60), Duration::from_secs(2));
    assert_eq!(verifier.prefetch_keys().await, Vec::<String>::new());
    assert_eq!(requests_to(&server, "/jwks").await, 1);
    assert_eq!(
        reason(&check(&verifier, &remote_token(TestKey::AEs384, json!({}))).await),
        "accepted"
    );
    assert_eq!(requests_to(&server, "/jwks").await, 1);
}

#[tokio::test]
async fn prefetching_from_a_dead_endpoint_reports_the_problem() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/jwks"))
        .respond_with(ResponseTemplate::new(404))
        .mount(&server)
        .await;
    let verifier = remote_verifier(&server, Duration::from_secs(60), Duration::from_secs(2));
    let problems = verifier.prefetch_keys().await;
    assert_eq!(problems.len(), 1);
    assert!(problems[0].contains("404"), "{problems:?}");
}
