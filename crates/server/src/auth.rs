//! Who is calling: builds the JWT verifier from the settings and authenticates each request.
//!
//! With trusted issuers configured, discovery, hook calls and feedback all need a valid CDS
//! Hooks JWT whose `aud` is the exact URL invoked (the public base URL plus the path), or the
//! public base URL itself for an issuer whose `audiences` list it. With none, every caller is
//! let through, which start-up allows only on a loopback address.

use std::time::Duration;

use axum::http::{HeaderMap, header};
use gravida_auth::{Audience, AuthConfig, Caller, IssuerConfig, KeySource, Verifier};

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
        Err(refused) => {
            tracing::info!(reason = refused.reason(), "authentication failed");
            metrics::counter!("gravida_auth_failures_total", "reason" => refused.reason())
                .increment(1);
            Err(ApiError::Unauthorized)
        }
    }
}
