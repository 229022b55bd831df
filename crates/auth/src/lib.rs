//! Gravida's authentication of CDS clients: verifies the CDS Hooks 2.0 JWT that an EHR
//! sends in `Authorization: Bearer …` (CDS Hooks §Trusting CDS Clients).
//!
//! What it checks, in short: the header (no `crit`; `alg` allow-listed, never `none` or
//! HMAC; `typ` is `JWT`; `kid` present), the issuer (`iss` trusted; `jku` allow-listed),
//! the signature (any valid one, ECDSA `s` high or low; keys from a JWKS URL, cached and re-fetched
//! at most once per interval, or from a key set given up front), the claims (`aud` is the
//! endpoint invoked, or another value the issuer is configured to send; `exp`, `nbf`, `iat` with clock skew; a maximum lifetime; `jti`
//! present; `tenant` if restricted) and replay (`jti` used once). See [`Verifier`].
//!
//! ```no_run
//! # async fn demo(headers: &[&[u8]]) -> Result<(), Box<dyn std::error::Error>> {
//! use gravida_auth::{AuthConfig, IssuerConfig, KeySource, Verifier};
//!
//! let jwks_url = url::Url::parse("https://ehr.example.org/.well-known/jwks.json")?;
//! let config = AuthConfig {
//!     issuers: vec![IssuerConfig::new("https://ehr.example.org", KeySource::Url(jwks_url))],
//!     ..AuthConfig::default()
//! };
//! let verifier = Verifier::new(config)?;
//! match verifier.verify(headers, "https://cds.example.org/cds-services/gravida-patient-view").await {
//!     Ok(caller) => println!("call from {}", caller.iss),
//!     Err(refused) => println!("401, reason {}", refused.reason()), // never the token
//! }
//! # Ok(()) }
//! ```

mod config;
#[cfg(any(test, feature = "testing"))]
mod ecdsa;
mod error;
mod keys;
mod replay;
mod token;
mod verifier;

#[cfg(any(test, feature = "testing"))]
pub mod testing;

#[cfg(test)]
mod tests;

pub use config::{Audience, AuthConfig, DEFAULT_ALGORITHMS, IssuerConfig, KeySource, parse_jwks};
pub use error::{AuthError, ConfigError};
pub use keys::MAX_JWKS_BYTES;
pub use replay::{BoxFuture, MemoryReplayStore, ReplayStore, ReplayStoreError, Seen};
pub use token::{MAX_TOKEN_BYTES, bearer_token};
pub use verifier::{Caller, Clock, Verifier};

/// Re-exported so callers can build a [`KeySource::Jwks`] without naming `jsonwebtoken`.
pub use jsonwebtoken::jwk::JwkSet;
