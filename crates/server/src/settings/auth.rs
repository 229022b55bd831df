//! `[auth]`: who may call the service, each trusted EHR (`[[auth.issuers]]`) identified by the
//! `iss` of its JWTs, with its keys, the `aud` values it sends and what it supports.

use std::path::PathBuf;

use serde::Deserialize;
use url::Url;

/// Who may call the service. With no issuers, nobody is authenticated (loopback only).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSettings {
    /// The EHRs trusted to call Gravida, each identified by the `iss` of its JWTs.
    pub issuers: Vec<IssuerSettings>,
    /// Tolerance for clock differences when checking `exp`, `nbf` and `iat`, in seconds.
    pub clock_skew_s: u64,
    /// The longest JWT lifetime (`exp - iat`) accepted, in seconds.
    pub max_lifetime_s: u64,
    /// The least time between two fetches of one JWKS (an unknown `kid` triggers a fetch).
    pub jwks_refresh_interval_s: u64,
    /// The timeout of one JWKS fetch, in milliseconds.
    pub jwks_timeout_ms: u64,
    /// How many `jti`s the in-memory replay guard remembers (per replica).
    pub replay_capacity: usize,
}

impl Default for AuthSettings {
    fn default() -> Self {
        AuthSettings {
            issuers: Vec::new(),
            clock_skew_s: 60,
            max_lifetime_s: 3600,
            jwks_refresh_interval_s: 60,
            jwks_timeout_ms: 2000,
            replay_capacity: 100_000,
        }
    }
}

/// One trusted EHR.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerSettings {
    /// The `iss` claim of this EHR's JWTs.
    pub iss: String,
    /// Where its public keys are published. Exactly one of `jwks_url` and `jwks_file`.
    #[serde(default)]
    pub jwks_url: Option<Url>,
    /// A JWKS file with its public keys, relative to the settings file.
    #[serde(default)]
    pub jwks_file: Option<PathBuf>,
    /// `jku` header values accepted from this issuer.
    #[serde(default)]
    pub allowed_jku: Vec<Url>,
    /// FHIR server base URLs this issuer may send as `fhirServer`.
    #[serde(default)]
    pub fhir_servers: Vec<Url>,
    /// Signing algorithms accepted (default ES384 and RS384; never `none` or HMAC).
    #[serde(default)]
    pub algorithms: Option<Vec<String>>,
    /// `tenant` claims accepted; absent means any.
    #[serde(default)]
    pub tenants: Option<Vec<String>>,
    /// The `aud` values this EHR sends; a token must carry one of them (default `endpoint`).
    #[serde(
        default = "default_audiences",
        deserialize_with = "deserialize_audiences"
    )]
    pub audiences: Vec<IssuerAudience>,
    /// Whether this EHR evaluates the CDS Hooks 3.0.0 FHIRPath date tokens of prefetch templates
    /// (`{{today() - 1 year}}`). Default `true`. A 2.0 client sets it `false`: its discovery then
    /// shows every search without its date bound (`prefetch::for_2_0_clients`), which it can
    /// fill, and what it does not prefetch Gravida fetches with the bound evaluated itself.
    #[serde(default = "yes")]
    pub fhirpath_prefetch: bool,
    /// Whether this EHR declares support for a suggestion's `actionSelectionBehavior`
    /// (CDS Hooks 3.0.0, STU). Default `false`: 3.0.0 forbids sending it to a client that has
    /// not said it supports it, so cards for this issuer alone carry it.
    #[serde(default)]
    pub action_selection_behavior: bool,
}

fn yes() -> bool {
    true
}

/// An `aud` value an issuer may send, named in `[[auth.issuers]] audiences`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssuerAudience {
    /// The exact URL of the endpoint invoked (`public_base_url` + path), as CDS Hooks asks.
    Endpoint,
    /// `public_base_url` itself (with or without a trailing `/`), on every endpoint.
    PublicBaseUrl,
}

fn default_audiences() -> Vec<IssuerAudience> {
    vec![IssuerAudience::Endpoint]
}

/// Reads `audiences`, naming the key and the accepted values in every error (serde's own
/// messages name neither).
fn deserialize_audiences<'de, D>(deserializer: D) -> Result<Vec<IssuerAudience>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    use serde::de::Error as _;
    const ACCEPTED: &str = r#"use "endpoint" and/or "public_base_url""#;
    let names = Vec::<String>::deserialize(deserializer)
        .map_err(|e| D::Error::custom(format!("auth.issuers audiences: {e}; {ACCEPTED}")))?;
    names
        .iter()
        .map(|name| match name.as_str() {
            "endpoint" => Ok(IssuerAudience::Endpoint),
            "public_base_url" => Ok(IssuerAudience::PublicBaseUrl),
            other => Err(D::Error::custom(format!(
                "auth.issuers audiences: unknown audience {other:?}; {ACCEPTED}"
            ))),
        })
        .collect()
}
