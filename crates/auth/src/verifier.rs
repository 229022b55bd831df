//! The [`Verifier`]: checks one request's `Authorization` against the trust settings and
//! answers with the authenticated [`Caller`] or the [`AuthError`] that refused it.
//!
//! The checks run cheapest and most certain first, and a token's claims are only
//! believed after its signature verifies:
//!
//! 1. transport: one header, `Bearer`, size cap ([`crate::token::bearer_token`]);
//! 2. shape: three base64url parts, JSON header and claims;
//! 3. header: no `crit` member, `alg` not `none`/HMAC, `typ` is `JWT`, `kid` present;
//! 4. issuer: `iss` trusted, `alg` on its list, `jku` (if any) on its list;
//! 5. key: found by `kid` (fetching the JWKS if allowed), fit for `alg`; signature;
//! 6. claims: `aud` (the endpoint, or another value the issuer may send), `exp`, `nbf`,
//!    `iat`, lifetime, `jti`, `tenant`;
//! 7. replay: the `(iss, jti)` pair is remembered, and refused if already there.
//!
//! The replay store is touched last, so a token refused for any other reason does not
//! use up its `jti`.
//!
//! Every valid ECDSA signature is accepted, whether its `s` is in the lower or the upper
//! half of the curve order (RFC 7515 and RFC 7518 ask for no "low-S" form, and standard
//! signers do not produce one). The "malleated twin" `(r, n - s)` of a signature that
//! someone could make without the key changes the token's text but not its claims: it
//! carries the same `iss` and `jti`, so step 7 refuses it once the original was used.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::Algorithm;
use jsonwebtoken::jwk::JwkSet;
use url::Url;

use crate::config::{
    AlgorithmProblem, Audience, AuthConfig, IssuerConfig, KeySource, parse_algorithm,
};
use crate::error::{AuthError, ConfigError};
use crate::keys::{KeyCache, decoding_key};
use crate::replay::{MemoryReplayStore, ReplayStore, Seen};
use crate::token::{audience_matches, bearer_token, clip, decode, numeric_date};

/// The verifier's idea of "now". Tests pin it; production uses [`SystemTime::now`].
pub type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

/// Who made an authenticated request. Safe to log: it holds no secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The trusted issuer (the EHR).
    pub iss: String,
    /// The token's `tenant`, if it had one.
    pub tenant: Option<String>,
    /// The token's `jti`.
    pub jti: String,
}

/// Verifies CDS Hooks client JWTs. Cheap to clone (shared state is behind `Arc`s);
/// `Send + Sync`, so one instance serves every request.
#[derive(Clone)]
pub struct Verifier {
    issuers: Arc<HashMap<String, Issuer>>,
    keys: Arc<KeyCache>,
    clock_skew: Duration,
    max_lifetime: Duration,
    clock: Clock,
    replay: Arc<dyn ReplayStore>,
}

/// One trusted issuer, validated and ready to use.
#[derive(Debug)]
struct Issuer {
    /// Keys given up front (no network), if the issuer was configured with a key set.
    static_keys: Option<JwkSet>,
    /// The JWKS URL used when the token has no `jku`.
    jwks_url: Option<Url>,
    allowed_jku: Vec<Url>,
    fhir_servers: Vec<Url>,
    algorithms: Vec<Algorithm>,
    tenants: Option<Vec<String>>,
    audiences: Vec<Audience>,
}

/// What is known about a token so far, for the refusal log line. Attacker-controlled
/// until the signature verifies, so it is logged with `Debug` escaping and truncated.
#[derive(Default)]
struct LogContext {
    iss: Option<String>,
    kid: Option<String>,
    jti: Option<String>,
}

impl Verifier {
    /// Validates `config` and builds a verifier with the system clock and an in-memory
    /// replay store of `config.replay_capacity` entries.
    pub fn new(config: AuthConfig) -> Result<Verifier, ConfigError> {
        if config.replay_capacity == 0 {
            return Err(ConfigError::ZeroReplayCapacity);
        }
        let mut issuers = HashMap::new();
        for issuer in config.issuers {
            let iss = issuer.iss.clone();
            let checked = check_issuer(issuer)?;
            if issuers.insert(iss.clone(), checked).is_some() {
                return Err(ConfigError::DuplicateIssuer { iss });
            }
        }
        Ok(Verifier {
            issuers: Arc::new(issuers),
            keys: Arc::new(KeyCache::new(
                config.jwks_timeout,
                config.jwks_refresh_interval,
            )?),
            clock_skew: config.clock_skew,
            max_lifetime: config.max_lifetime,
            clock: Arc::new(SystemTime::now),
            replay: Arc::new(MemoryReplayStore::new(config.replay_capacity)),
        })
    }

    /// Replaces the clock (tests pin "now" with this).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Replaces the replay store (for example with one shared between replicas).
    pub fn with_replay_store(mut self, store: Arc<dyn ReplayStore>) -> Self {
        self.replay = store;
        self
    }

    /// True when at least one issuer is trusted.
    pub fn has_issuers(&self) -> bool {
        !self.issuers.is_empty()
    }

    /// Fetches every configured JWKS URL that has not been fetched yet. Best effort: the
    /// problems are logged and returned (as "url: problem" lines), and a failed URL is
    /// simply fetched again on first use, once its refresh interval has passed.
    pub async fn prefetch_keys(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for (iss, issuer) in self.issuers.iter() {
            if let Some(url) = &issuer.jwks_url
                && let Err(problem) = self.keys.prefetch(url).await
            {
                tracing::warn!(iss = %iss, jwks_url = %url, problem = %problem, "JWKS prefetch failed");
                problems.push(format!("{url}: {problem}"));
            }
        }
        problems
    }

    /// Verifies a request's credentials.
    ///
    /// `authorization` holds the raw values of **all** the request's `Authorization`
    /// headers (with the `http` crate: `headers.get_all(AUTHORIZATION).iter().map(|v|
    /// v.as_bytes())`). `audience` is the exact URL of the endpoint invoked (public base
    /// URL + path), which the token's `aud` must name unless its issuer is configured with
    /// other [`Audience`]s.
    ///
    /// A refusal is logged here (reason, and the token's `iss`, `kid`, `jti` if it got
    /// that far); the token itself is never logged.
    pub async fn verify(
        &self,
        authorization: &[&[u8]],
        audience: &str,
    ) -> Result<Caller, AuthError> {
        let mut context = LogContext::default();
        let outcome = self.check(authorization, audience, &mut context).await;
        match &outcome {
            Ok(caller) => {
                tracing::debug!(iss = %caller.iss, jti = ?caller.jti, tenant = ?caller.tenant, "bearer token accepted");
            }
            Err(err) => {
                tracing::info!(
                    reason = err.reason(),
                    iss = ?context.iss.as_deref().map(clip),
                    kid = ?context.kid.as_deref().map(clip),
                    jti = ?context.jti.as_deref().map(clip),
                    "bearer token refused"
                );
            }
        }
        outcome
    }

    /// The checks themselves, in the order described in the module documentation.
    async fn check(
        &self,
        authorization: &[&[u8]],
        audience: &str,
        context: &mut LogContext,
    ) -> Result<Caller, AuthError> {
        // 1–2. Transport and shape.
        let token = bearer_token(authorization)?;
        let jwt = decode(token)?;
        let header = jwt.header;
        let claims = jwt.claims;
        context.iss = claims.iss.clone();
        context.kid = header.kid.clone();
        context.jti = claims.jti.clone();

        // 3. Header. RFC 7515 §4.1.11: a recipient that does not understand every
        // extension listed in `crit` must refuse the JWS, and this one understands none
        // (an empty or ill-typed `crit` is itself invalid, so it is refused too).
        if header.has_crit {
            return Err(AuthError::CriticalHeader);
        }
        let alg_name = header.alg.as_deref().ok_or(AuthError::Malformed {
            what: "header has no alg",
        })?;
        let parsed_alg = parse_algorithm(alg_name);
        if parsed_alg == Err(AlgorithmProblem::Forbidden) {
            return Err(AuthError::AlgorithmForbidden);
        }
        if !header
            .typ
            .as_deref()
            .is_some_and(|typ| typ.eq_ignore_ascii_case("JWT"))
        {
            return Err(AuthError::BadType);
        }
        let kid = match header.kid.as_deref() {
            Some(kid) if !kid.is_empty() => kid,
            _ => return Err(AuthError::MissingKid),
        };

        // 4. Issuer, and what it allows.
        let iss = claims
            .iss
            .as_deref()
            .ok_or(AuthError::MissingClaim { claim: "iss" })?;
        let issuer = self.issuers.get(iss).ok_or(AuthError::UnknownIssuer)?;
        let alg = parsed_alg.map_err(|_| AuthError::AlgorithmNotAllowed)?;
        if !issuer.algorithms.contains(&alg) {
            return Err(AuthError::AlgorithmNotAllowed);
        }
        let jku = match header.jku.as_deref() {
            None => None,
            Some(jku) => {
                let url = Url::parse(jku).map_err(|_| AuthError::JkuNotAllowed)?;
                if !issuer.allowed_jku.contains(&url) {
                    return Err(AuthError::JkuNotAllowed);
                }
                Some(url)
            }
        };

        // 5. Key and signature. Keys given up front are consulted first (no network);
        // otherwise the jku, if the token names one, else the issuer's JWKS URL.
        let static_key = issuer.static_keys.as_ref().and_then(|set| set.find(kid));
        let jwk = match (static_key, jku.as_ref().or(issuer.jwks_url.as_ref())) {
            (Some(jwk), _) => jwk.clone(),
            (None, Some(url)) => self.keys.find(url, kid).await?,
            (None, None) => return Err(AuthError::UnknownKid),
        };
        let key = decoding_key(&jwk, alg)?;
        // An ECDSA signature is accepted in either form of `s` (see the module doc): the
        // twin a third party can make shares the original's jti, which step 7 refuses.
        let signature_ok =
            jsonwebtoken::crypto::verify(jwt.signature, jwt.signing_input.as_bytes(), &key, alg)
                .unwrap_or(false);
        if !signature_ok {
            return Err(AuthError::BadSignature);
        }

        // 6. Claims (now signed, so believable).
        let aud = claims
            .aud
            .as_ref()
            .ok_or(AuthError::MissingClaim { claim: "aud" })?;
        let accepted = issuer.audiences.iter().any(|accepted| match accepted {
            Audience::Endpoint => audience_matches(aud, audience),
            Audience::Exact(value) => audience_matches(aud, value),
        });
        if !accepted {
            return Err(AuthError::WrongAudience);
        }
        let exp = numeric_date(
            claims
                .exp
                .as_ref()
                .ok_or(AuthError::MissingClaim { claim: "exp" })?,
        )?;
        let iat = numeric_date(
            claims
                .iat
                .as_ref()
                .ok_or(AuthError::MissingClaim { claim: "iat" })?,
        )?;
        let nbf = claims.nbf.as_ref().map(numeric_date).transpose()?;
        let now = unix_seconds(self.now());
        let skew = seconds(self.clock_skew);
        if now >= exp.saturating_add(skew) {
            return Err(AuthError::Expired);
        }
        if let Some(nbf) = nbf
            && now.saturating_add(skew) < nbf
        {
            return Err(AuthError::NotYetValid);
        }
        if iat > now.saturating_add(skew) {
            return Err(AuthError::IssuedInFuture);
        }
        if exp.saturating_sub(iat) > seconds(self.max_lifetime) {
            return Err(AuthError::LifetimeTooLong);
        }
        let jti = match claims.jti.as_deref() {
            Some(jti) if !jti.is_empty() => jti,
            _ => return Err(AuthError::MissingClaim { claim: "jti" }),
        };
        if let Some(allowed) = &issuer.tenants
            && !claims.tenant.as_ref().is_some_and(|t| allowed.contains(t))
        {
            return Err(AuthError::TenantNotAllowed);
        }

        // 7. Replay: remember the jti until the token could no longer be accepted.
        let forget_at =
            UNIX_EPOCH + Duration::from_secs(exp.saturating_add(skew).max(0).unsigned_abs());
        match self.replay.remember(iss, jti, forget_at, self.now()).await {
            Ok(Seen::First) => {}
            Ok(Seen::Again) => return Err(AuthError::Replayed),
            Err(err) => return Err(AuthError::ReplayStore(err.0)),
        }

        Ok(Caller {
            iss: iss.to_string(),
            tenant: claims.tenant.clone(),
            jti: jti.to_string(),
        })
    }

    /// Whether `fhir_server` is one of the FHIR servers the caller's issuer may send:
    /// same scheme, host and port as a configured base URL, and a path equal to the
    /// base's or below it at a `/` boundary (`/R4` allows `/R4` and `/R4/x`, not `/R4x`).
    /// A URL with user information, a query or a fragment is never allowed.
    pub fn fhir_server_allowed(&self, caller: &Caller, fhir_server: &Url) -> bool {
        let Some(issuer) = self.issuers.get(&caller.iss) else {
            return false;
        };
        if !fhir_server.username().is_empty()
            || fhir_server.password().is_some()
            || fhir_server.query().is_some()
            || fhir_server.fragment().is_some()
        {
            return false;
        }
        issuer.fhir_servers.iter().any(|base| {
            base.scheme() == fhir_server.scheme()
                && base.host_str().is_some()
                && base.host_str() == fhir_server.host_str()
                && base.port_or_known_default() == fhir_server.port_or_known_default()
                && path_within(base.path(), fhir_server.path())
        })
    }

    /// The current time from the configured clock.
    fn now(&self) -> SystemTime {
        (self.clock)()
    }
}

/// `candidate` equals `base` or lies below it at a `/` boundary (trailing `/` ignored).
fn path_within(base: &str, candidate: &str) -> bool {
    let base = base.trim_end_matches('/');
    let candidate_trimmed = candidate.trim_end_matches('/');
    candidate_trimmed == base
        || candidate
            .strip_prefix(base)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// Validates one issuer's settings.
fn check_issuer(issuer: IssuerConfig) -> Result<Issuer, ConfigError> {
    let iss = issuer.iss;
    if iss.trim().is_empty() {
        return Err(ConfigError::EmptyIssuer);
    }
    if issuer.algorithms.is_empty() {
        return Err(ConfigError::NoAlgorithms { iss });
    }
    let mut algorithms = Vec::new();
    for name in &issuer.algorithms {
        match parse_algorithm(name) {
            Ok(alg) => algorithms.push(alg),
            Err(AlgorithmProblem::Forbidden) => {
                return Err(ConfigError::ForbiddenAlgorithm {
                    iss,
                    alg: name.clone(),
                });
            }
            Err(AlgorithmProblem::Unknown) => {
                return Err(ConfigError::UnknownAlgorithm {
                    iss,
                    alg: name.clone(),
                });
            }
        }
    }
    let http_url = |url: &Url| matches!(url.scheme(), "https" | "http");
    let (static_keys, jwks_url) = match issuer.keys {
        KeySource::Url(url) => {
            if !http_url(&url) {
                return Err(ConfigError::BadKeyUrl {
                    iss,
                    url: url.to_string(),
                });
            }
            (None, Some(url))
        }
        KeySource::Jwks(set) => {
            if set.keys.is_empty() {
                return Err(ConfigError::EmptyKeySet { iss });
            }
            (Some(set), None)
        }
    };
    if let Some(bad) = issuer.allowed_jku.iter().find(|url| !http_url(url)) {
        return Err(ConfigError::BadKeyUrl {
            iss,
            url: bad.to_string(),
        });
    }
    if issuer.tenants.as_ref().is_some_and(|t| t.is_empty()) {
        return Err(ConfigError::NoTenants { iss });
    }
    if issuer.audiences.is_empty() {
        return Err(ConfigError::NoAudiences { iss });
    }
    if issuer
        .audiences
        .iter()
        .any(|a| matches!(a, Audience::Exact(value) if value.is_empty()))
    {
        return Err(ConfigError::EmptyAudience { iss });
    }
    Ok(Issuer {
        static_keys,
        jwks_url,
        allowed_jku: issuer.allowed_jku,
        fhir_servers: issuer.fhir_servers,
        algorithms,
        tenants: issuer.tenants,
        audiences: issuer.audiences,
    })
}

/// Seconds since the epoch (negative before it).
fn unix_seconds(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => seconds(after),
        Err(before) => -seconds(before.duration()),
    }
}

/// A duration in whole seconds, saturating.
fn seconds(duration: Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX)
}

impl fmt::Debug for Verifier {
    // Lists the trusted issuers and limits; keys, jtis and the clock are left out.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut issuers: Vec<&str> = self.issuers.keys().map(String::as_str).collect();
        issuers.sort_unstable();
        f.debug_struct("Verifier")
            .field("issuers", &issuers)
            .field("clock_skew", &self.clock_skew)
            .field("max_lifetime", &self.max_lifetime)
            .field("replay", &self.replay)
            .finish_non_exhaustive()
    }
}
