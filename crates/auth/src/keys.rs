//! Public keys: the JWKS cache, its throttled re-fetch, and the checks that a key found by
//! `kid` may be used with the token's `alg`.
//!
//! One cache entry per JWKS URL. A lookup reads the cached set under a short lock; only
//! when the `kid` is missing does it take the URL's fetch lock and, if the last fetch
//! attempt is older than the refresh interval, fetch again. So:
//! - a storm of tokens with made-up `kid`s costs the EHR at most one request per interval;
//! - while one fetch is in flight, tokens with known `kid`s are not held up;
//! - a failed fetch keeps the previous keys (an EHR outage does not lock out its users).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use jsonwebtoken::jwk::{
    AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm, PublicKeyUse,
};
use jsonwebtoken::{Algorithm, DecodingKey};
use tokio::time::Instant;
use url::Url;

use crate::config::parse_jwks;
use crate::error::{AuthError, ConfigError};
use crate::token::clip;

/// The largest JWKS document accepted from an endpoint.
pub const MAX_JWKS_BYTES: usize = 256 * 1024;

/// Fetches JWKS documents and keeps the last good copy of each.
#[derive(Debug)]
pub(crate) struct KeyCache {
    client: reqwest::Client,
    refresh_interval: Duration,
    entries: Mutex<HashMap<Url, Arc<Entry>>>,
}

/// The cached state of one JWKS URL.
#[derive(Debug, Default)]
struct Entry {
    /// The last key set fetched successfully, if any.
    keys: RwLock<Option<Arc<JwkSet>>>,
    /// Held while fetching; holds the time of the last fetch attempt (good or bad).
    fetch: tokio::sync::Mutex<Option<Instant>>,
}

impl KeyCache {
    /// A cache whose fetches time out after `timeout` and which re-fetches a URL for an
    /// unknown `kid` at most once per `refresh_interval`.
    pub(crate) fn new(timeout: Duration, refresh_interval: Duration) -> Result<Self, ConfigError> {
        Ok(KeyCache {
            client: http_client(timeout)?,
            refresh_interval,
            entries: Mutex::new(HashMap::new()),
        })
    }

    /// The entry for `url`, created empty on first use.
    fn entry(&self, url: &Url) -> Arc<Entry> {
        // A poisoned lock only means another thread panicked mid-insert; the map is
        // still usable.
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.entry(url.clone()).or_default().clone()
    }

    /// The key with this `kid` from the JWKS at `url`, fetching if allowed.
    pub(crate) async fn find(&self, url: &Url, kid: &str) -> Result<Jwk, AuthError> {
        let entry = self.entry(url);
        if let Some(jwk) = cached(&entry, kid) {
            return Ok(jwk);
        }

        // Missing: take the fetch lock. Concurrent lookups for unknown kids queue here
        // and then find the fresh set (or the throttle) instead of fetching again.
        let mut last_attempt = entry.fetch.lock().await;
        if let Some(jwk) = cached(&entry, kid) {
            return Ok(jwk);
        }
        let may_fetch = match *last_attempt {
            None => true,
            Some(at) => at.elapsed() >= self.refresh_interval,
        };
        if may_fetch {
            *last_attempt = Some(Instant::now());
            match self.fetch(url).await {
                Ok(set) => {
                    tracing::info!(jwks_url = %url, keys = set.keys.len(), "fetched JWKS");
                    *entry.keys.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(set));
                }
                Err(problem) => {
                    tracing::warn!(jwks_url = %url, problem = %problem, "JWKS fetch failed; keeping cached keys");
                }
            }
        } else {
            tracing::debug!(jwks_url = %url, kid = ?clip(kid), "unknown kid; JWKS re-fetch throttled");
        }
        drop(last_attempt);

        match entry
            .keys
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            Some(set) => set.find(kid).cloned().ok_or(AuthError::UnknownKid),
            None => Err(AuthError::KeysUnavailable),
        }
    }

    /// Fetches `url` once (best effort) unless it has been fetched already.
    pub(crate) async fn prefetch(&self, url: &Url) -> Result<(), String> {
        let entry = self.entry(url);
        let mut last_attempt = entry.fetch.lock().await;
        if entry
            .keys
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
        {
            return Ok(());
        }
        *last_attempt = Some(Instant::now());
        let set = self.fetch(url).await?;
        *entry.keys.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(set));
        Ok(())
    }

    /// One GET of a JWKS document, bounded in time (the client's timeout) and size.
    /// Redirects are not followed: a redirect could lead off the allow-listed URL.
    async fn fetch(&self, url: &Url) -> Result<JwkSet, String> {
        let mut response = self
            .client
            .get(url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|err| describe(&err))?;
        if !response.status().is_success() {
            return Err(format!("HTTP status {}", response.status().as_u16()));
        }
        if response
            .content_length()
            .is_some_and(|len| len > MAX_JWKS_BYTES as u64)
        {
            return Err(format!("document larger than {MAX_JWKS_BYTES} bytes"));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|err| describe(&err))? {
            if body.len() + chunk.len() > MAX_JWKS_BYTES {
                return Err(format!("document larger than {MAX_JWKS_BYTES} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        parse_jwks(&body)
    }
}

/// A short description of a reqwest error (without the URL's query, which we never set).
fn describe(err: &reqwest::Error) -> String {
    if err.is_timeout() {
        "timed out".to_string()
    } else if err.is_connect() {
        "connection failed".to_string()
    } else {
        err.to_string()
    }
}

/// The key with this `kid` in the entry's current set, if any.
fn cached(entry: &Entry, kid: &str) -> Option<Jwk> {
    let keys = entry.keys.read().unwrap_or_else(|p| p.into_inner());
    keys.as_ref().and_then(|set| set.find(kid).cloned())
}

/// The HTTP client for JWKS fetches: rustls with the `ring` provider and the platform's
/// certificate roots, a total timeout, and no redirects.
fn http_client(timeout: Duration) -> Result<reqwest::Client, ConfigError> {
    use rustls_platform_verifier::BuilderVerifierExt as _;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|err| ConfigError::HttpClient(err.to_string()))?
        .with_platform_verifier()
        .map_err(|err| ConfigError::HttpClient(err.to_string()))?
        .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("gravida-auth/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|err| ConfigError::HttpClient(err.to_string()))
}

/// Turns the JWK found for the token's `kid` into a verification key, after checking that
/// it may be used with `alg`: its own `alg` (if any) equals the header's, its `use` (if
/// any) is `sig`, and its key type (and curve) fit the algorithm.
pub(crate) fn decoding_key(jwk: &Jwk, alg: Algorithm) -> Result<DecodingKey, AuthError> {
    if let Some(key_alg) = jwk.common.key_algorithm
        && !same_algorithm(key_alg, alg)
    {
        return Err(AuthError::KeyMismatch);
    }
    if let Some(key_use) = &jwk.common.public_key_use
        && *key_use != PublicKeyUse::Signature
    {
        return Err(AuthError::KeyMismatch);
    }
    let fits = match (&jwk.algorithm, alg) {
        (AlgorithmParameters::EllipticCurve(ec), Algorithm::ES256) => {
            ec.curve == EllipticCurve::P256
        }
        (AlgorithmParameters::EllipticCurve(ec), Algorithm::ES384) => {
            ec.curve == EllipticCurve::P384
        }
        (
            AlgorithmParameters::RSA(_),
            Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512,
        ) => true,
        (AlgorithmParameters::OctetKeyPair(okp), Algorithm::EdDSA) => {
            okp.curve == EllipticCurve::Ed25519
        }
        _ => false,
    };
    if !fits {
        return Err(AuthError::KeyMismatch);
    }
    DecodingKey::from_jwk(jwk).map_err(|_| AuthError::KeyMismatch)
}

/// Whether a JWK's `alg` names the same algorithm as the token header's.
fn same_algorithm(key_alg: KeyAlgorithm, alg: Algorithm) -> bool {
    matches!(
        (key_alg, alg),
        (KeyAlgorithm::ES256, Algorithm::ES256)
            | (KeyAlgorithm::ES384, Algorithm::ES384)
            | (KeyAlgorithm::RS256, Algorithm::RS256)
            | (KeyAlgorithm::RS384, Algorithm::RS384)
            | (KeyAlgorithm::RS512, Algorithm::RS512)
            | (KeyAlgorithm::PS256, Algorithm::PS256)
            | (KeyAlgorithm::PS384, Algorithm::PS384)
            | (KeyAlgorithm::PS512, Algorithm::PS512)
            | (KeyAlgorithm::EdDSA, Algorithm::EdDSA)
    )
}
