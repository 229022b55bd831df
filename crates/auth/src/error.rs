//! The errors of this crate: [`AuthError`] (a request's credentials were refused) and
//! [`ConfigError`] (the trust settings are unusable, found at start-up).
//!
//! Every `AuthError` has a short, stable [`AuthError::reason`] for logs and metrics. None of
//! the messages ever contains the token: the variants carry no token text at all, only the
//! name of what was wrong. The caller answers every `AuthError` with a bare 401.

use thiserror::Error;

/// Why a request's `Authorization` was refused.
///
/// The `Display` text is meant for operators (logs), never for the HTTP response body.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthError {
    /// The request carried no `Authorization` header.
    #[error("no Authorization header")]
    MissingHeader,
    /// The request carried more than one `Authorization` header.
    #[error("more than one Authorization header")]
    MultipleHeaders,
    /// The header's scheme is not `Bearer` (for example `Basic`).
    #[error("Authorization scheme is not Bearer")]
    NotBearer,
    /// `Bearer` with nothing after it.
    #[error("empty bearer token")]
    EmptyToken,
    /// The header is longer than the cap; it was refused without being parsed.
    #[error("bearer token longer than {max} bytes")]
    TokenTooLarge {
        /// The cap, in bytes.
        max: usize,
    },
    /// Not a compact JWS: wrong number of parts, bad base64url, bad JSON, or a claim of the
    /// wrong type. `what` names the part (for example "header base64").
    #[error("malformed token: {what}")]
    Malformed {
        /// Which part could not be read.
        what: &'static str,
    },
    /// `alg` is `none` or an HMAC algorithm, refused whatever the settings say.
    #[error("forbidden JWT algorithm")]
    AlgorithmForbidden,
    /// `alg` is not on the issuer's allow-list (or not an algorithm this crate knows).
    #[error("JWT algorithm not allowed for this issuer")]
    AlgorithmNotAllowed,
    /// The header's `typ` is absent or not `JWT`.
    #[error("JWT typ is not JWT")]
    BadType,
    /// The header has no `kid`.
    #[error("JWT header has no kid")]
    MissingKid,
    /// The header has a `crit` member (RFC 7515 §4.1.11), whatever its value: this crate
    /// understands no critical extension, so it must refuse the token.
    #[error("JWT header has a crit member")]
    CriticalHeader,
    /// A required claim is absent. `claim` is its name.
    #[error("JWT has no {claim} claim")]
    MissingClaim {
        /// The claim's name: iss, aud, exp, iat or jti.
        claim: &'static str,
    },
    /// `iss` is not a configured issuer.
    #[error("JWT issuer is not trusted")]
    UnknownIssuer,
    /// The header's `jku` is not on the issuer's `allowed_jku` list.
    #[error("JWT jku is not allow-listed for this issuer")]
    JkuNotAllowed,
    /// No key with this `kid` in the issuer's key set (even after a permitted re-fetch).
    #[error("no key with this kid")]
    UnknownKid,
    /// The key set could not be obtained (the JWKS endpoint failed and nothing is cached).
    #[error("issuer key set unavailable")]
    KeysUnavailable,
    /// The key found for `kid` cannot be used with the header's `alg` (key `alg`, `use`,
    /// key type or curve disagree).
    #[error("key does not match the JWT algorithm")]
    KeyMismatch,
    /// The signature does not verify.
    #[error("JWT signature does not verify")]
    BadSignature,
    /// `aud` names neither the endpoint invoked nor another audience the issuer may use.
    #[error("JWT audience does not match this endpoint")]
    WrongAudience,
    /// `exp` has passed (beyond the clock skew).
    #[error("JWT expired")]
    Expired,
    /// `nbf` is still in the future (beyond the clock skew).
    #[error("JWT not yet valid")]
    NotYetValid,
    /// `iat` is in the future (beyond the clock skew).
    #[error("JWT issued in the future")]
    IssuedInFuture,
    /// `exp - iat` exceeds the configured maximum lifetime.
    #[error("JWT lifetime longer than allowed")]
    LifetimeTooLong,
    /// This `jti` was already used by this issuer within its lifetime.
    #[error("JWT jti already used")]
    Replayed,
    /// `tenant` is absent or not on the issuer's tenant allow-list.
    #[error("JWT tenant not allowed")]
    TenantNotAllowed,
    /// The replay store failed, so the token cannot be checked for replay (fail closed).
    #[error("replay store unavailable: {0}")]
    ReplayStore(String),
}

impl AuthError {
    /// A short, stable, kebab-case name for logs and metrics, e.g. `expired`,
    /// `unknown-kid`, `replayed-jti`.
    pub fn reason(&self) -> &'static str {
        match self {
            AuthError::MissingHeader => "no-authorization-header",
            AuthError::MultipleHeaders => "multiple-authorization-headers",
            AuthError::NotBearer => "not-bearer",
            AuthError::EmptyToken => "empty-token",
            AuthError::TokenTooLarge { .. } => "token-too-large",
            AuthError::Malformed { .. } => "malformed-token",
            AuthError::AlgorithmForbidden => "alg-forbidden",
            AuthError::AlgorithmNotAllowed => "alg-not-allowed",
            AuthError::BadType => "bad-typ",
            AuthError::MissingKid => "missing-kid",
            AuthError::CriticalHeader => "crit-header",
            AuthError::MissingClaim { claim } => match *claim {
                "iss" => "missing-iss",
                "aud" => "missing-aud",
                "exp" => "missing-exp",
                "iat" => "missing-iat",
                "jti" => "missing-jti",
                _ => "missing-claim",
            },
            AuthError::UnknownIssuer => "unknown-iss",
            AuthError::JkuNotAllowed => "jku-not-allowed",
            AuthError::UnknownKid => "unknown-kid",
            AuthError::KeysUnavailable => "jwks-unavailable",
            AuthError::KeyMismatch => "key-alg-mismatch",
            AuthError::BadSignature => "bad-signature",
            AuthError::WrongAudience => "wrong-aud",
            AuthError::Expired => "expired",
            AuthError::NotYetValid => "not-yet-valid",
            AuthError::IssuedInFuture => "iat-in-future",
            AuthError::LifetimeTooLong => "lifetime-too-long",
            AuthError::Replayed => "replayed-jti",
            AuthError::TenantNotAllowed => "tenant-not-allowed",
            AuthError::ReplayStore(_) => "replay-store-unavailable",
        }
    }
}

/// Why an [`AuthConfig`](crate::AuthConfig) was refused by [`Verifier::new`](crate::Verifier::new).
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// An issuer names `none` or an HMAC algorithm (CDS Hooks forbids both).
    #[error("issuer {iss}: algorithm {alg} is forbidden (none and HMAC are never accepted)")]
    ForbiddenAlgorithm {
        /// The issuer.
        iss: String,
        /// The algorithm as written.
        alg: String,
    },
    /// An issuer names an algorithm this crate does not know.
    #[error("issuer {iss}: unknown algorithm {alg}")]
    UnknownAlgorithm {
        /// The issuer.
        iss: String,
        /// The algorithm as written.
        alg: String,
    },
    /// An issuer's `algorithms` list is present but empty.
    #[error("issuer {iss}: empty algorithm list")]
    NoAlgorithms {
        /// The issuer.
        iss: String,
    },
    /// The same `iss` appears twice.
    #[error("issuer {iss} is configured twice")]
    DuplicateIssuer {
        /// The issuer.
        iss: String,
    },
    /// An issuer's `iss` is empty.
    #[error("an issuer has an empty iss")]
    EmptyIssuer,
    /// An issuer's inline JWKS holds no usable key.
    #[error("issuer {iss}: the key set has no usable key")]
    EmptyKeySet {
        /// The issuer.
        iss: String,
    },
    /// A JWKS URL or an allowed `jku` is not http(s).
    #[error("issuer {iss}: key URL {url} must be https (or http)")]
    BadKeyUrl {
        /// The issuer.
        iss: String,
        /// The URL.
        url: String,
    },
    /// An issuer's tenant allow-list is present but empty (it would refuse every token).
    #[error("issuer {iss}: empty tenant list")]
    NoTenants {
        /// The issuer.
        iss: String,
    },
    /// An issuer's `audiences` list is empty (no token could match).
    #[error("issuer {iss}: the audience list is empty")]
    NoAudiences {
        /// The issuer.
        iss: String,
    },
    /// An issuer lists an empty `aud` value.
    #[error("issuer {iss}: an audience is empty")]
    EmptyAudience {
        /// The issuer.
        iss: String,
    },
    /// A JWKS document could not be read or parsed.
    #[error("JWKS {source_name}: {detail}")]
    Jwks {
        /// The file or URL it came from.
        source_name: String,
        /// What was wrong.
        detail: String,
    },
    /// `replay_capacity` is zero (no token could ever be accepted).
    #[error("replay_capacity must be at least 1")]
    ZeroReplayCapacity,
    /// The HTTP client for JWKS fetches could not be built.
    #[error("cannot build the JWKS HTTP client: {0}")]
    HttpClient(String),
}
