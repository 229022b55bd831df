//! Who is calling: builds the JWT verifier from the settings and authenticates each request.
//!
//! With trusted issuers configured, discovery, hook calls and feedback all need a valid CDS
//! Hooks JWT whose `aud` is the exact URL invoked (the public base URL plus the path), or the
//! public base URL itself for an issuer whose `audiences` list it. With none, every caller is
//! let through, which start-up allows only on a loopback address.
//!
//! A hook call is authenticated in two steps ([`check_unspent`], then [`Unspent::spend`]): its
//! token's signature and claims are checked from the headers before the body is read, so an
//! unknown caller costs no body memory, and its `jti` is used up only once the call has its body
//! and a permit, so a call shed with 503 leaves its token good for the EHR's retry.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use axum::http::{HeaderMap, header};
use gravida_auth::{
    Audience, AuthConfig, AuthError, BoxFuture, Caller, IssuerConfig, KeySource, ReplayStore,
    ReplayStoreError, Seen, Verifier,
};

use crate::error::ApiError;
use crate::settings::{AuthSettings, IssuerAudience};

/// The verifier for the configured issuers, or `None` when there are none. `public_base` is
/// the service's base URL without a trailing slash ([`crate::settings::Settings::public_base`]).
pub fn verifier(settings: &AuthSettings, public_base: &str) -> anyhow::Result<Option<Verifier>> {
    if settings.issuers.is_empty() {
        return Ok(None);
    }
    let mut issuers = Vec::with_capacity(settings.issuers.len());
    for issuer in &settings.issuers {
        let keys = match (&issuer.jwks_url, &issuer.jwks_file) {
            (Some(url), _) => KeySource::Url(url.clone()),
            (None, Some(file)) => KeySource::from_jwks_file(file)?,
            (None, None) => anyhow::bail!("issuer {} has no keys", issuer.iss),
        };
        let mut config = IssuerConfig::new(issuer.iss.clone(), keys);
        config.allowed_jku = issuer.allowed_jku.clone();
        config.fhir_servers = issuer.fhir_servers.clone();
        config.tenants = issuer.tenants.clone();
        config.audiences = audiences(&issuer.audiences, public_base);
        if let Some(algorithms) = &issuer.algorithms {
            config.algorithms = algorithms.clone();
        }
        issuers.push(config);
    }
    let config = AuthConfig {
        issuers,
        clock_skew: Duration::from_secs(settings.clock_skew_s),
        max_lifetime: Duration::from_secs(settings.max_lifetime_s),
        jwks_refresh_interval: Duration::from_secs(settings.jwks_refresh_interval_s),
        jwks_timeout: Duration::from_millis(settings.jwks_timeout_ms),
        replay_capacity: settings.replay_capacity,
    };
    Ok(Some(Verifier::new(config)?))
}

/// The verifier's audiences for an issuer's `audiences` setting. The base URL is accepted as
/// written with and without a trailing `/`: both name the same service, and EHRs differ.
fn audiences(names: &[IssuerAudience], public_base: &str) -> Vec<Audience> {
    let mut audiences = Vec::new();
    for name in names {
        match name {
            IssuerAudience::Endpoint => audiences.push(Audience::Endpoint),
            IssuerAudience::PublicBaseUrl => {
                audiences.push(Audience::Exact(public_base.to_owned()));
                audiences.push(Audience::Exact(format!("{public_base}/")));
            }
        }
    }
    audiences
}

/// Authenticates a request to `path` (e.g. `/cds-services/gravida-patient-view`).
///
/// Returns the caller when issuers are configured, `None` when the deployment is
/// unauthenticated, and a bare 401 when a token fails any check (the verifier logs the reason,
/// never the token).
pub async fn authenticate(
    verifier: Option<&Verifier>,
    public_base: &str,
    headers: &HeaderMap,
    path: &str,
) -> Result<Option<Caller>, ApiError> {
    let Some(verifier) = verifier else {
        return Ok(None);
    };
    let values: Vec<&[u8]> = headers
        .get_all(header::AUTHORIZATION)
        .iter()
        .map(|v| v.as_bytes())
        .collect();
    let audience = format!("{public_base}{path}");
    match verifier.verify(&values, &audience).await {
        Ok(caller) => {
            tracing::info!(
                iss = caller.iss.as_str(),
                tenant = caller.tenant.as_deref(),
                "caller authenticated"
            );
            Ok(Some(caller))
        }
        Err(refused) => Err(refuse(&refused)),
    }
}

/// Logs and counts a refusal, and answers it with a bare 401.
fn refuse(refused: &AuthError) -> ApiError {
    tracing::info!(reason = refused.reason(), "authentication failed");
    metrics::counter!("gravida_auth_failures_total", "reason" => refused.reason()).increment(1);
    ApiError::Unauthorized
}

/// A token whose every check has passed except the replay guard: its `jti` is not used yet.
#[derive(Debug)]
pub struct Unspent {
    caller: Caller,
    /// When the replay guard may forget the `jti` (the token's `exp` plus the clock skew).
    forget_at: SystemTime,
}

impl Unspent {
    /// Uses up the token's `jti` in `replay` (the store the verifier itself uses), and answers
    /// 401 if it was used already.
    pub async fn spend(self, replay: &dyn ReplayStore) -> Result<Caller, ApiError> {
        let Unspent { caller, forget_at } = self;
        let seen = replay
            .remember(&caller.iss, &caller.jti, forget_at, SystemTime::now())
            .await;
        match seen {
            Ok(Seen::First) => {
                tracing::info!(
                    iss = caller.iss.as_str(),
                    tenant = caller.tenant.as_deref(),
                    "caller authenticated"
                );
                Ok(caller)
            }
            Ok(Seen::Again) => Err(refuse(&AuthError::Replayed)),
            Err(e) => Err(refuse(&AuthError::ReplayStore(e.0))),
        }
    }
}

/// Checks a request's token like [`authenticate`], every check but the replay guard, which
/// [`Unspent::spend`] makes later. `None` when the deployment is unauthenticated.
pub async fn check_unspent(
    verifier: Option<&Verifier>,
    public_base: &str,
    headers: &HeaderMap,
    path: &str,
) -> Result<Option<Unspent>, ApiError> {
    let Some(verifier) = verifier else {
        return Ok(None);
    };
    // The verifier consults its replay store last, after every other check has passed: a
    // store of its own that only notes the pair stands in for the real one.
    let noted = Arc::new(NoteOnly::default());
    let verifier = verifier.clone().with_replay_store(noted.clone());
    let values: Vec<&[u8]> = headers
        .get_all(header::AUTHORIZATION)
        .iter()
        .map(|v| v.as_bytes())
        .collect();
    let caller = verifier
        .verify(&values, &format!("{public_base}{path}"))
        .await
        .map_err(|refused| refuse(&refused))?;
    let forget_at = noted
        .0
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take()
        // The verifier consults the store before it accepts any token.
        .ok_or(ApiError::Internal)?;
    Ok(Some(Unspent { caller, forget_at }))
}

/// A replay store that remembers nothing: it answers "first use" and notes when the pair
/// could be forgotten, for [`Unspent::spend`] to pass on to the real store.
#[derive(Debug, Default)]
struct NoteOnly(Mutex<Option<SystemTime>>);

impl ReplayStore for NoteOnly {
    fn remember<'a>(
        &'a self,
        _iss: &'a str,
        _jti: &'a str,
        expires_at: SystemTime,
        _now: SystemTime,
    ) -> BoxFuture<'a, Result<Seen, ReplayStoreError>> {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(expires_at);
        Box::pin(async { Ok(Seen::First) })
    }
}

/// The connection a request came on, as a request extension set by the HTTP front
/// (`startup/front.rs`): a handler that authenticated the caller vouches for it, and the front
/// then closes it among the last when it must make room at `http.max_connections`.
#[derive(Debug, Clone)]
pub struct Connection(Arc<AtomicBool>);

impl Connection {
    /// The extension for a connection whose flag is `vouched`.
    pub fn new(vouched: Arc<AtomicBool>) -> Self {
        Connection(vouched)
    }

    /// This connection carried an authenticated call.
    pub fn vouch(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
}
