//! Trust settings: which issuers are trusted, where their keys come from, and the limits
//! (clock skew, token lifetime, JWKS refresh and timeout, replay-store size).
//!
//! The server maps its `[[auth.issuers]]` TOML table into [`IssuerConfig`]s; file paths are
//! resolved by the server, which hands over either a URL or an already-read key set
//! ([`KeySource::from_jwks_file`] helps with the reading).

use std::path::Path;
use std::time::Duration;

use jsonwebtoken::Algorithm;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, JwkSet, PublicKeyUse};
use url::Url;

use crate::error::ConfigError;

/// The algorithms an issuer may use when it does not list its own: the two that CDS Hooks
/// recommends.
pub const DEFAULT_ALGORITHMS: [&str; 2] = ["ES384", "RS384"];

/// Everything the [`Verifier`](crate::Verifier) needs to know.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// The trusted issuers. Empty means "trust nobody" (every token is refused); whether
    /// to run without authentication at all is the server's decision, not this crate's.
    pub issuers: Vec<IssuerConfig>,
    /// Tolerance for clock differences when checking `exp`, `nbf` and `iat`. Default 60 s.
    pub clock_skew: Duration,
    /// The longest accepted `exp - iat`. Default 1 hour (the CDS Hooks best-practice
    /// figure); it also bounds how long a `jti` must be remembered.
    pub max_lifetime: Duration,
    /// After a fetch of a JWKS URL, an unknown `kid` causes no new fetch of that URL for
    /// this long. Default 60 s.
    pub jwks_refresh_interval: Duration,
    /// Timeout of one JWKS fetch (connect and body). Default 2 s.
    pub jwks_timeout: Duration,
    /// Most `jti`s the in-memory replay store remembers. Default 100 000.
    pub replay_capacity: usize,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            issuers: Vec::new(),
            clock_skew: Duration::from_secs(60),
            max_lifetime: Duration::from_secs(3600),
            jwks_refresh_interval: Duration::from_secs(60),
            jwks_timeout: Duration::from_secs(2),
            replay_capacity: 100_000,
        }
    }
}

/// One trusted CDS client (an EHR), identified by its `iss`.
#[derive(Debug, Clone)]
pub struct IssuerConfig {
    /// The exact `iss` value the client puts in its tokens.
    pub iss: String,
    /// Where the issuer's public keys come from when the token has no `jku`.
    pub keys: KeySource,
    /// `jku` URLs this issuer may name in a token header; keys are then fetched from there.
    /// A token whose `jku` is not listed here is refused.
    pub allowed_jku: Vec<Url>,
    /// FHIR server base URLs this issuer may send in `fhirServer` (see
    /// [`Verifier::fhir_server_allowed`](crate::Verifier::fhir_server_allowed)).
    pub fhir_servers: Vec<Url>,
    /// Accepted `alg` values, e.g. `["ES384", "RS384"]` (see [`DEFAULT_ALGORITHMS`]).
    pub algorithms: Vec<String>,
    /// If set, the token's `tenant` must be present and one of these.
    pub tenants: Option<Vec<String>>,
    /// The `aud` values this issuer's tokens may carry; one of them must match. Default:
    /// `[Audience::Endpoint]`, the exact URL of the endpoint invoked.
    pub audiences: Vec<Audience>,
}

/// An `aud` value an issuer's tokens may carry (RFC 7519 §4.1.3: compared as exact strings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Audience {
    /// The exact URL of the endpoint invoked, as given to
    /// [`Verifier::verify`](crate::Verifier::verify). What CDS Hooks asks for, and the default.
    Endpoint,
    /// This one value whatever the endpoint, for an EHR that sends, say, the service's base
    /// URL on every call. It binds a token to the service rather than to one endpoint.
    Exact(String),
}

impl IssuerConfig {
    /// An issuer with the default algorithms, the endpoint as its only audience, and no jku,
    /// FHIR server or tenant lists.
    pub fn new(iss: impl Into<String>, keys: KeySource) -> Self {
        IssuerConfig {
            iss: iss.into(),
            keys,
            allowed_jku: Vec::new(),
            fhir_servers: Vec::new(),
            algorithms: DEFAULT_ALGORITHMS.iter().map(|a| a.to_string()).collect(),
            tenants: None,
            audiences: vec![Audience::Endpoint],
        }
    }
}

/// Where an issuer's public keys come from.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// A JWKS URL, fetched lazily (or by `Verifier::prefetch_keys`) and cached.
    Url(Url),
    /// A key set given up front (for example read from a file at start-up).
    Jwks(JwkSet),
}

impl KeySource {
    /// Reads a JWKS file (see [`parse_jwks`] for what is kept).
    pub fn from_jwks_file(path: &Path) -> Result<KeySource, ConfigError> {
        let source_name = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|err| ConfigError::Jwks {
            source_name: source_name.clone(),
            detail: err.to_string(),
        })?;
        let set = parse_jwks(&bytes).map_err(|detail| ConfigError::Jwks {
            source_name,
            detail,
        })?;
        Ok(KeySource::Jwks(set))
    }
}

/// Parses a JWKS document leniently: the document must be a JSON object with a `keys`
/// array, but a key that cannot be used to verify a signature is dropped rather than
/// failing the whole set, so one odd key published by an EHR cannot lock out all of its
/// tokens. Dropped: keys that do not parse, keys without a `kid`, encryption keys
/// (`use: enc`), symmetric (`oct`) keys and key types this crate does not know.
pub fn parse_jwks(bytes: &[u8]) -> Result<JwkSet, String> {
    #[derive(serde::Deserialize)]
    struct RawSet {
        keys: Vec<serde_json::Value>,
    }
    let raw: RawSet =
        serde_json::from_slice(bytes).map_err(|err| format!("not a JWKS document: {err}"))?;
    let keys = raw
        .keys
        .into_iter()
        .filter_map(|value| serde_json::from_value::<Jwk>(value).ok())
        .filter(is_signature_key)
        .collect();
    Ok(JwkSet { keys })
}

/// Whether a JWK can verify signatures: it has a `kid`, is not marked for encryption,
/// and is an EC, RSA or OKP public key.
fn is_signature_key(jwk: &Jwk) -> bool {
    let usable_type = matches!(
        jwk.algorithm,
        AlgorithmParameters::EllipticCurve(_)
            | AlgorithmParameters::RSA(_)
            | AlgorithmParameters::OctetKeyPair(_)
    );
    let for_signing = !matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption));
    jwk.common.key_id.is_some() && usable_type && for_signing
}

/// Reads an algorithm name from the settings or a token header into a `jsonwebtoken`
/// algorithm, refusing `none` and every HMAC algorithm.
pub(crate) fn parse_algorithm(name: &str) -> Result<Algorithm, AlgorithmProblem> {
    if is_forbidden_algorithm(name) {
        return Err(AlgorithmProblem::Forbidden);
    }
    let alg = match name {
        "ES256" => Algorithm::ES256,
        "ES384" => Algorithm::ES384,
        "RS256" => Algorithm::RS256,
        "RS384" => Algorithm::RS384,
        "RS512" => Algorithm::RS512,
        "PS256" => Algorithm::PS256,
        "PS384" => Algorithm::PS384,
        "PS512" => Algorithm::PS512,
        "EdDSA" => Algorithm::EdDSA,
        _ => return Err(AlgorithmProblem::Unknown),
    };
    Ok(alg)
}

/// `none` (any case) and the HMAC family (`HS256`, `HS384`, `HS512`, any case).
pub(crate) fn is_forbidden_algorithm(name: &str) -> bool {
    name.eq_ignore_ascii_case("none") || name.get(..2).is_some_and(|p| p.eq_ignore_ascii_case("HS"))
}

/// Why an algorithm name cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AlgorithmProblem {
    /// `none` or HMAC.
    Forbidden,
    /// Not a name this crate knows.
    Unknown,
}
