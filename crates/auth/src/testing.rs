//! Test helpers (behind the `testing` feature): the test keys of `tests/fixtures/keys/`,
//! a token minter, raw builders for malformed tokens, and a catalogue of bad requests
//! with the reason each must be refused for, so HTTP-level tests can replay it.
//!
//! The keys are test-only, published in this repository, and must never be trusted by a
//! real deployment. Nothing here is compiled into production builds unless the
//! `testing` feature is switched on.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Map, Value, json};
use url::Url;

use crate::config::{AuthConfig, IssuerConfig, KeySource, parse_jwks};

/// The `iss` of test issuer A (keys: P-384, P-256 and RSA; tenant list `[TENANT_A]`).
pub const ISSUER_A: &str = "https://ehr-a.example.org";
/// The `iss` of test issuer B (key: P-384; no tenant list).
pub const ISSUER_B: &str = "https://ehr-b.example.org";
/// The only tenant issuer A may name in [`test_config`].
pub const TENANT_A: &str = "org-a";
/// The FHIR server base URL issuer A may send in [`test_config`].
pub const FHIR_A: &str = "https://fhir.ehr-a.example.org/R4";
/// A jku that issuer A is allowed to name in [`test_config`] (its keys are static, so a
/// token naming it still verifies without a fetch).
pub const JKU_A: &str = "https://ehr-a.example.org/.well-known/jwks.json";

/// Issuer A's public JWKS (kids `a-es384`, `a-rsa`, `a-es256`).
pub const ISSUER_A_JWKS: &str = include_str!("../../../tests/fixtures/keys/jwks-issuer-a.json");
/// Issuer A's JWKS after a key rotation: adds kid `a-es384-next`.
pub const ISSUER_A_ROTATED_JWKS: &str =
    include_str!("../../../tests/fixtures/keys/jwks-issuer-a-rotated.json");
/// Issuer B's public JWKS (kid `b-es384`).
pub const ISSUER_B_JWKS: &str = include_str!("../../../tests/fixtures/keys/jwks-issuer-b.json");
/// Issuer A's P-384 public key, PEM (for the "HMAC with the public key as secret" attack).
pub const ISSUER_A_ES384_PUBLIC_PEM: &str =
    include_str!("../../../tests/fixtures/keys/issuer-a-es384.pub.pem");

/// One of the test private keys in `tests/fixtures/keys/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestKey {
    /// Issuer A, EC P-384, kid `a-es384`, ES384.
    AEs384,
    /// Issuer A's next P-384 key (only in the rotated JWKS), kid `a-es384-next`.
    AEs384Next,
    /// Issuer A, EC P-256, kid `a-es256`, ES256.
    AEs256,
    /// Issuer A, RSA 2048, kid `a-rsa` (no `alg` in its JWK: RS256 and RS384 both fit).
    ARsa,
    /// Issuer B, EC P-384, kid `b-es384`, ES384.
    BEs384,
}

impl TestKey {
    /// The key's `kid` in its issuer's JWKS.
    pub fn kid(self) -> &'static str {
        match self {
            TestKey::AEs384 => "a-es384",
            TestKey::AEs384Next => "a-es384-next",
            TestKey::AEs256 => "a-es256",
            TestKey::ARsa => "a-rsa",
            TestKey::BEs384 => "b-es384",
        }
    }

    /// The algorithm the key signs with by default.
    pub fn default_alg(self) -> &'static str {
        match self {
            TestKey::AEs384 | TestKey::AEs384Next | TestKey::BEs384 => "ES384",
            TestKey::AEs256 => "ES256",
            TestKey::ARsa => "RS384",
        }
    }

    /// The private key, PKCS#8 PEM.
    pub fn private_pem(self) -> &'static str {
        match self {
            TestKey::AEs384 => include_str!("../../../tests/fixtures/keys/issuer-a-es384.pem"),
            TestKey::AEs384Next => {
                include_str!("../../../tests/fixtures/keys/issuer-a-es384-next.pem")
            }
            TestKey::AEs256 => include_str!("../../../tests/fixtures/keys/issuer-a-es256.pem"),
            TestKey::ARsa => include_str!("../../../tests/fixtures/keys/issuer-a-rsa2048.pem"),
            TestKey::BEs384 => include_str!("../../../tests/fixtures/keys/issuer-b-es384.pem"),
        }
    }

    /// The key ready for `jsonwebtoken`. The PEMs are fixtures compiled into this module,
    /// so a failure here is a broken fixture, reported as a panic in the test using it.
    #[allow(clippy::expect_used)]
    fn encoding_key(self) -> EncodingKey {
        let pem = self.private_pem().as_bytes();
        match self {
            TestKey::ARsa => EncodingKey::from_rsa_pem(pem).expect("test RSA key fixture"),
            _ => EncodingKey::from_ec_pem(pem).expect("test EC key fixture"),
        }
    }
}

/// Parses one of the JWKS constants above.
#[allow(clippy::expect_used)]
pub fn jwks(document: &str) -> JwkSet {
    parse_jwks(document.as_bytes()).expect("test JWKS fixture")
}

/// A verifier configuration trusting issuers A and B with their static key sets (no
/// network): A with tenant list `[TENANT_A]`, FHIR server [`FHIR_A`] and allowed jku
/// [`JKU_A`]; B with neither. Default limits otherwise.
#[allow(clippy::expect_used)]
pub fn test_config() -> AuthConfig {
    let mut a = IssuerConfig::new(ISSUER_A, KeySource::Jwks(jwks(ISSUER_A_JWKS)));
    a.tenants = Some(vec![TENANT_A.to_string()]);
    a.fhir_servers = vec![Url::parse(FHIR_A).expect("constant URL")];
    a.allowed_jku = vec![Url::parse(JKU_A).expect("constant URL")];
    let b = IssuerConfig::new(ISSUER_B, KeySource::Jwks(jwks(ISSUER_B_JWKS)));
    AuthConfig {
        issuers: vec![a, b],
        ..AuthConfig::default()
    }
}

/// A fresh `jti`, unique within this process.
pub fn fresh_jti() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("test-{}-{nanos}-{n}", std::process::id())
}

/// Seconds since the epoch.
pub fn unix(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Well-formed claims: `iss`, `aud`, `iat` = now, `exp` = now + 5 min, a fresh `jti`.
pub fn claims(iss: &str, audience: &str, now: SystemTime) -> Value {
    let iat = unix(now);
    json!({ "iss": iss, "aud": audience, "iat": iat, "exp": iat + 300, "jti": fresh_jti() })
}

/// Claims that issuer A's settings in [`test_config`] accept: [`claims`] plus `tenant`.
pub fn claims_a(audience: &str, now: SystemTime) -> Value {
    with(
        claims(ISSUER_A, audience, now),
        json!({ "tenant": TENANT_A }),
    )
}

/// `base` with `changes` merged in at the top level; a `null` in `changes` removes the
/// member instead.
pub fn with(base: Value, changes: Value) -> Value {
    let mut map = match base {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    if let Value::Object(changes) = changes {
        for (name, value) in changes {
            if value.is_null() {
                map.remove(&name);
            } else {
                map.insert(name, value);
            }
        }
    }
    Value::Object(map)
}

/// A signed token: header `{"alg": key's default, "typ": "JWT", "kid": key's kid}` with
/// `header_overrides` merged in (see [`with`]), the given claims, signed by `key` with the
/// header's `alg` when the key can sign with it, else with the key's default algorithm.
///
/// The signature is whatever `jsonwebtoken` (RustCrypto's `p256`/`p384` for ECDSA) gives,
/// untouched: like every standard signer, it leaves an ECDSA `s` in the upper half of the
/// curve order about half the time, so tests that mint many tokens see both forms (see
/// [`is_high_s`] and [`malleated`]).
pub fn mint(key: TestKey, header_overrides: Value, claims: Value) -> String {
    let header = with(
        json!({ "alg": key.default_alg(), "typ": "JWT", "kid": key.kid() }),
        header_overrides,
    );
    let alg_name = header
        .get("alg")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let alg = signing_algorithm(alg_name)
        .unwrap_or_else(|| signing_algorithm(key.default_alg()).unwrap_or(Algorithm::ES384));
    let signing_input = signing_input(&header, &claims);
    let sign =
        |alg| jsonwebtoken::crypto::sign(signing_input.as_bytes(), &key.encoding_key(), alg).ok();
    let signature = sign(alg)
        .or_else(|| sign(signing_algorithm(key.default_alg()).unwrap_or(Algorithm::ES384)))
        .unwrap_or_default();
    format!("{signing_input}.{signature}")
}

/// Whether `token` is an ES256 or ES384 JWS (as its header's `alg` says) whose signature's
/// `s` is above half the curve order. Any other token answers `false`.
pub fn is_high_s(token: &str) -> bool {
    match ecdsa_parts(token) {
        Some((alg, _, _, signature)) => crate::ecdsa::is_high_s(alg, &signature),
        None => false,
    }
}

/// `token` (ES256 or ES384, as its header's `alg` says) with its signature's `s` replaced
/// by `n - s`: the malleated twin, which verifies with the same key and carries the same
/// claims (so the same `jti`). High-S becomes low-S and low-S becomes high-S. Any other
/// token is returned unchanged.
pub fn malleated(token: &str) -> String {
    let twin = ecdsa_parts(token).and_then(|(alg, header, claims, signature)| {
        crate::ecdsa::flip_s(alg, &signature)
            .map(|twin| format!("{header}.{claims}.{}", URL_SAFE_NO_PAD.encode(twin)))
    });
    twin.unwrap_or_else(|| token.to_string())
}

/// The algorithm (from the header), the first two parts and the decoded signature of a
/// compact JWS, if it has three parts and a readable `alg`.
fn ecdsa_parts(token: &str) -> Option<(Algorithm, &str, &str, Vec<u8>)> {
    let parts: Vec<&str> = token.split('.').collect();
    let [header, claims, signature] = parts.as_slice() else {
        return None;
    };
    let alg = URL_SAFE_NO_PAD
        .decode(header)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
        .and_then(|header| header.get("alg").and_then(Value::as_str).map(str::to_owned))
        .and_then(|name| signing_algorithm(&name))?;
    let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
    Some((alg, header, claims, signature))
}

/// An unsigned token as `alg: none` would have it: `header.claims.` (empty signature).
pub fn unsigned(header: &Value, claims: &Value) -> String {
    format!("{}.", signing_input(header, claims))
}

/// A token signed with HMAC using `secret` (the classic key-confusion attack passes the
/// issuer's *public* key bytes as the secret).
pub fn hmac_signed(header: &Value, claims: &Value, alg: &str, secret: &[u8]) -> String {
    let alg = match alg {
        "HS256" => Algorithm::HS256,
        "HS512" => Algorithm::HS512,
        _ => Algorithm::HS384,
    };
    let input = signing_input(header, claims);
    let signature =
        jsonwebtoken::crypto::sign(input.as_bytes(), &EncodingKey::from_secret(secret), alg)
            .unwrap_or_default();
    format!("{input}.{signature}")
}

/// `token` with its claims replaced by `claims` and the original signature kept.
pub fn with_payload(token: &str, claims: &Value) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    let (header, signature) = match parts.as_slice() {
        [header, _, signature] => (*header, *signature),
        _ => ("", ""),
    };
    format!("{header}.{}.{signature}", b64_json(claims))
}

/// `token` with the first character of its signature changed (still valid base64url).
pub fn with_flipped_signature(token: &str) -> String {
    match token.rsplit_once('.') {
        Some((input, signature)) => {
            let mut chars: Vec<char> = signature.chars().collect();
            if let Some(first) = chars.first_mut() {
                *first = if *first == 'A' { 'B' } else { 'A' };
            }
            format!("{input}.{}", chars.into_iter().collect::<String>())
        }
        None => token.to_string(),
    }
}

/// An `Authorization: Bearer <token>` header value.
pub fn bearer(token: &str) -> Vec<u8> {
    format!("Bearer {token}").into_bytes()
}

/// A request that must be refused, with the reason it must be refused for.
#[derive(Debug, Clone)]
pub struct BadRequest {
    /// A short name for the case, e.g. `"expired"`.
    pub name: &'static str,
    /// The values of the `Authorization` headers to send (none, one, or several).
    pub authorization: Vec<Vec<u8>>,
    /// The endpoint URL the request is sent to (the audience the verifier checks).
    pub audience: String,
    /// When true, send the request twice: the first must be accepted, the second refused.
    pub send_twice: bool,
    /// The expected [`AuthError::reason`](crate::AuthError::reason).
    pub expected_reason: &'static str,
}

/// The bad-token catalogue, for a verifier configured with [`test_config`] whose clock
/// reads `now`. `hook_audience` is the URL of a hook endpoint (where every request is
/// sent); `discovery_audience` is the discovery URL, used for the "discovery token on a
/// hook" case. Every case has exactly one fault.
///
/// Over HTTP, every case must get a 401. Two cases may be stopped before the verifier by
/// the HTTP stack itself: the 1 MB header (a server's header-size limit may answer 431)
/// and, depending on the client, the two-header case; test those at the level you need.
/// Tokens are minted when this is called, with `iat = now` and a five-minute life: replay them promptly.
pub fn bad_requests(
    now: SystemTime,
    hook_audience: &str,
    discovery_audience: &str,
) -> Vec<BadRequest> {
    let t = unix(now);
    let good = || claims_a(hook_audience, now);
    let a = |header: Value, claims: Value| mint(TestKey::AEs384, header, claims);
    let default_header = json!({ "alg": "ES384", "typ": "JWT", "kid": "a-es384" });

    let mut cases: Vec<(&'static str, Vec<Vec<u8>>, bool, &'static str)> = Vec::new();
    let mut one =
        |name, token: String, reason| cases.push((name, vec![bearer(&token)], false, reason));

    // Header and algorithm.
    one(
        "alg-none",
        unsigned(
            &with(default_header.clone(), json!({ "alg": "none" })),
            &good(),
        ),
        "alg-forbidden",
    );
    one(
        "hs384-signed-with-the-public-key",
        hmac_signed(
            &with(default_header.clone(), json!({ "alg": "HS384" })),
            &good(),
            "HS384",
            ISSUER_A_ES384_PUBLIC_PEM.as_bytes(),
        ),
        "alg-forbidden",
    );
    one(
        "hs256-signed-with-the-jwks",
        hmac_signed(
            &with(default_header.clone(), json!({ "alg": "HS256" })),
            &good(),
            "HS256",
            ISSUER_A_JWKS.as_bytes(),
        ),
        "alg-forbidden",
    );
    one(
        "rs256-not-allowed",
        mint(TestKey::ARsa, json!({ "alg": "RS256" }), good()),
        "alg-not-allowed",
    );
    one(
        "es256-not-allowed",
        mint(TestKey::AEs256, json!({}), good()),
        "alg-not-allowed",
    );
    one(
        "unknown-alg",
        a(json!({ "alg": "XS384" }), good()),
        "alg-not-allowed",
    );
    one(
        "typ-not-jwt",
        a(json!({ "typ": "JOSE+JSON" }), good()),
        "bad-typ",
    );
    one("typ-missing", a(json!({ "typ": null }), good()), "bad-typ");
    one(
        "kid-missing",
        a(json!({ "kid": null }), good()),
        "missing-kid",
    );
    one(
        "crit-naming-an-unknown-extension",
        a(
            json!({ "crit": ["urn:x:unknown"], "urn:x:unknown": true }),
            good(),
        ),
        "crit-header",
    );
    one(
        "crit-empty",
        a(json!({ "crit": [] }), good()),
        "crit-header",
    );
    one(
        "jku-not-allow-listed",
        a(
            json!({ "jku": "https://attacker.example/jwks.json" }),
            good(),
        ),
        "jku-not-allowed",
    );

    // Keys and signatures.
    one(
        "unknown-kid",
        a(json!({ "kid": "no-such-kid" }), good()),
        "unknown-kid",
    );
    one(
        "kid-of-the-p256-key-on-an-es384-token",
        a(json!({ "kid": "a-es256" }), good()),
        "key-alg-mismatch",
    );
    one(
        "kid-of-the-ec-key-on-an-rs384-token",
        mint(TestKey::ARsa, json!({ "kid": "a-es384" }), good()),
        "key-alg-mismatch",
    );
    one(
        "signed-with-another-issuers-key",
        mint(TestKey::BEs384, json!({ "kid": "a-es384" }), good()),
        "bad-signature",
    );
    let genuine = a(json!({}), good());
    one(
        "tampered-payload",
        with_payload(&genuine, &with(good(), json!({ "jti": "forged-jti" }))),
        "bad-signature",
    );
    one(
        "tampered-signature",
        with_flipped_signature(&a(json!({}), good())),
        "bad-signature",
    );

    // Issuer and audience.
    one(
        "unknown-iss",
        a(
            json!({}),
            with(good(), json!({ "iss": "https://rogue.example.org" })),
        ),
        "unknown-iss",
    );
    one(
        "missing-iss",
        a(json!({}), with(good(), json!({ "iss": null }))),
        "missing-iss",
    );
    one(
        "aud-of-another-service",
        a(
            json!({}),
            with(
                good(),
                json!({ "aud": "https://other.example.org/cds-services/x" }),
            ),
        ),
        "wrong-aud",
    );
    one(
        "discovery-aud-on-a-hook",
        a(
            json!({}),
            with(good(), json!({ "aud": discovery_audience })),
        ),
        "wrong-aud",
    );
    one(
        "missing-aud",
        a(json!({}), with(good(), json!({ "aud": null }))),
        "missing-aud",
    );

    // Times.
    one(
        "expired",
        a(
            json!({}),
            with(good(), json!({ "iat": t - 900, "exp": t - 300 })),
        ),
        "expired",
    );
    one(
        "not-yet-valid",
        a(json!({}), with(good(), json!({ "nbf": t + 600 }))),
        "not-yet-valid",
    );
    one(
        "iat-in-the-future",
        a(
            json!({}),
            with(good(), json!({ "iat": t + 600, "exp": t + 900 })),
        ),
        "iat-in-future",
    );
    one(
        "lifetime-too-long",
        a(json!({}), with(good(), json!({ "exp": t + 7200 }))),
        "lifetime-too-long",
    );
    one(
        "missing-exp",
        a(json!({}), with(good(), json!({ "exp": null }))),
        "missing-exp",
    );
    one(
        "missing-iat",
        a(json!({}), with(good(), json!({ "iat": null }))),
        "missing-iat",
    );
    one(
        "exp-as-a-string",
        a(
            json!({}),
            with(good(), json!({ "exp": (t + 300).to_string() })),
        ),
        "malformed-token",
    );

    // jti and tenant.
    one(
        "missing-jti",
        a(json!({}), with(good(), json!({ "jti": null }))),
        "missing-jti",
    );
    one(
        "tenant-not-allowed",
        a(json!({}), with(good(), json!({ "tenant": "org-z" }))),
        "tenant-not-allowed",
    );
    one(
        "tenant-missing",
        a(json!({}), with(good(), json!({ "tenant": null }))),
        "tenant-not-allowed",
    );

    // Shape.
    one(
        "malformed-base64",
        "e!!!.e!!!.e!!!".to_string(),
        "malformed-token",
    );
    one(
        "header-not-json",
        format!(
            "{}.{}.AAAA",
            URL_SAFE_NO_PAD.encode("not json"),
            b64_json(&good())
        ),
        "malformed-token",
    );
    one(
        "two-parts",
        signing_input(&default_header, &good()),
        "malformed-token",
    );

    // Transport.
    cases.push((
        "one-megabyte-token",
        vec![bearer(&"a".repeat(1 << 20))],
        false,
        "token-too-large",
    ));
    cases.push((
        "basic-scheme",
        vec![b"Basic dXNlcjpwYXNz".to_vec()],
        false,
        "not-bearer",
    ));
    cases.push((
        "empty-bearer",
        vec![b"Bearer ".to_vec()],
        false,
        "empty-token",
    ));
    cases.push((
        "no-authorization-header",
        vec![],
        false,
        "no-authorization-header",
    ));
    cases.push((
        "two-authorization-headers",
        vec![bearer(&a(json!({}), good())), bearer(&a(json!({}), good()))],
        false,
        "multiple-authorization-headers",
    ));

    // Replay: the first use is accepted, the second refused.
    cases.push((
        "replayed-jti",
        vec![bearer(&a(json!({}), good()))],
        true,
        "replayed-jti",
    ));

    cases
        .into_iter()
        .map(
            |(name, authorization, send_twice, expected_reason)| BadRequest {
                name,
                authorization,
                audience: hook_audience.to_string(),
                send_twice,
                expected_reason,
            },
        )
        .collect()
}

/// `base64url(header) "." base64url(claims)`.
fn signing_input(header: &Value, claims: &Value) -> String {
    format!("{}.{}", b64_json(header), b64_json(claims))
}

/// base64url (no padding) of a JSON value's compact text.
fn b64_json(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

/// The asymmetric algorithm named `name`, if `jsonwebtoken` can sign with it.
fn signing_algorithm(name: &str) -> Option<Algorithm> {
    match name {
        "ES256" => Some(Algorithm::ES256),
        "ES384" => Some(Algorithm::ES384),
        "RS256" => Some(Algorithm::RS256),
        "RS384" => Some(Algorithm::RS384),
        "RS512" => Some(Algorithm::RS512),
        "PS256" => Some(Algorithm::PS256),
        "PS384" => Some(Algorithm::PS384),
        "PS512" => Some(Algorithm::PS512),
        _ => None,
    }
}
