//! The HTTP surface: the router factory, its shared state, and one handler per endpoint.
//!
//! `router(state)` builds the whole app, middleware included, so tests and `serve` run the same
//! thing. Layers, outermost first: CORS (a preflight never reaches authentication), request id,
//! tracing span, metrics, the Host check (400 unless an HTTP/1.1 request has exactly one valid
//! Host header), request timeout. The order of checks on a hook call is then:
//! unknown service (404) → authentication from the headers, every check but the replay guard
//! (401) → a Content-Type that is not JSON (415) → a declared body over `http.max_body_bytes` (413) → room in the replica's budget for
//! bodies in flight, `http.max_body_bytes_in_flight` (503) → the body read whole, within
//! `http.body_read_timeout_ms` (408) and `http.max_body_bytes` (413) → a hook permit, or 503 at
//! once when a replica is already answering `http.max_concurrent_hook_calls` calls → the replay
//! guard, which uses up the token's `jti` (401) → request validity (400) → `fhirServer` (403) →
//! data (412).
//!
//! After the answer is built, [`crate::suppress::screen`] hides the cards already shown or
//! dismissed (with a store), and each card shown gets its long form ([`crate::long_form`]),
//! served at `GET /cards/{id}` without a bearer token: its unguessable, short-lived id is the
//! credential, because a browser opening a link cannot present the EHR's JWT.
//!
//! Why this order. The token is checked before the body is read, so an unauthenticated or
//! unknown caller costs a signature check and no body memory (an 8 MiB body is never read for a
//! 401). The body is read before the permit so that a slow client holds a connection (bounded by
//! `http.max_connections`) and a share of the body budget, never a permit: otherwise a few
//! hundred clients sending a byte a second would hold every permit, and valid calls would get
//! 503. The `jti` is used up last, once the call will be answered, so that a call shed with 503
//! (budget or permit) leaves its token unused: the EHR may retry with the same token.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::uri::Authority;
use axum::http::{
    HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, Version, header,
};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use gravida_auth::{Caller, MemoryReplayStore, ReplayStore, Verifier};
use gravida_cds_hooks::{DiscoveryResponse, FeedbackRequest, ServiceResponse};
use gravida_fhir::FhirClient;
use gravida_knowledge::KnowledgeBase;
use serde_json::json;
use time::OffsetDateTime;
use tokio::sync::Semaphore;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use tracing::Span;

use crate::audit::{Audit, HookCall};
use crate::auth;
use crate::body::{self, BodyBudget};
use crate::call::{self, HookRequest, Network};
use crate::card::Shown;
use crate::error::ApiError;
use crate::long_form::LongForms;
use crate::services;
use crate::settings::Settings;
use crate::suppress;

/// What every handler shares. Immutable after start-up, but for the `draining` flag.
#[derive(Debug, Clone)]
pub struct AppState {
    pub kb: Arc<KnowledgeBase>,
    pub fhir: FhirClient,
    pub settings: Arc<Settings>,
    /// Verifies callers' JWTs; `None` when no issuers are configured (loopback only).
    pub auth: Option<Verifier>,
    /// The base URL a JWT's `aud` is checked against, without a trailing slash.
    pub public_base: Arc<str>,
    /// The discovery document, built once from the knowledge base.
    pub discovery: Arc<DiscoveryResponse>,
    /// The same for issuers whose EHR evaluates no FHIRPath prefetch token
    /// (`fhirpath_prefetch = false`): every search without its date bound.
    pub discovery_2_0: Arc<DiscoveryResponse>,
    /// The audit trail; `None` when `[store] enabled = false` (see [`AppState::with_audit`]).
    pub audit: Option<Audit>,
    /// One permit per hook call being answered (`http.max_concurrent_hook_calls`).
    pub hook_calls: Arc<Semaphore>,
    /// Where hook calls read their bodies and evaluate their charts (`http.cpu_threads`).
    pub cpu: call::Pool,
    /// The cards' long forms, kept in this replica's memory for `cards.long_form_ttl_s`.
    pub long_forms: LongForms,
    /// The replay guard `auth` uses, which a hook call consults only once it has its permit.
    pub replay: Arc<dyn ReplayStore>,
    /// The bytes of request bodies this replica may hold at once.
    pub bodies: BodyBudget,
    /// Set on SIGTERM: `/readyz` answers 503 while the replica drains (see
    /// [`crate::startup::Application::run_until`]).
    pub draining: Arc<AtomicBool>,
    /// Where a hook call's "now" comes from: the system clock unless the app was built
    /// pinned (see [`crate::startup::Application::with_clock`]).
    pub clock: crate::clock::Clock,
}

impl AppState {
    pub fn new(
        kb: KnowledgeBase,
        fhir: FhirClient,
        auth: Option<Verifier>,
        settings: Settings,
    ) -> Self {
        let discovery = Arc::new(services::discovery(&kb, services::Tokens::FhirPath));
        let discovery_2_0 = Arc::new(services::discovery(&kb, services::Tokens::Only2_0));
        let long_forms = LongForms::new(
            Duration::from_secs(settings.cards.long_form_ttl_s),
            settings.cards.long_form_capacity,
            settings.cards.long_form_max_bytes,
        );
        let replay: Arc<dyn ReplayStore> =
            Arc::new(MemoryReplayStore::new(settings.auth.replay_capacity));
        AppState {
            long_forms,
            kb: Arc::new(kb),
            fhir,
            auth: auth.map(|verifier| verifier.with_replay_store(replay.clone())),
            replay,
            bodies: BodyBudget::new(settings.http.max_body_bytes_in_flight),
            draining: Arc::new(AtomicBool::new(false)),
            public_base: settings.public_base().into(),
            hook_calls: Arc::new(Semaphore::new(
                settings
                    .http
                    .max_concurrent_hook_calls
                    .min(Semaphore::MAX_PERMITS),
            )),
            cpu: call::Pool::new(settings.http.cpu_threads),
            settings: Arc::new(settings),
            discovery,
            discovery_2_0,
            audit: None,
            clock: crate::clock::Clock::System,
        }
    }

    /// Records cards and feedback in `audit`.
    pub fn with_audit(mut self, audit: Option<Audit>) -> Self {
        self.audit = audit;
        self
    }

    /// Replaces the replay guard (with one shared between replicas, say).
    pub fn with_replay_store(mut self, replay: Arc<dyn ReplayStore>) -> Self {
        self.auth = self
            .auth
            .map(|verifier| verifier.with_replay_store(replay.clone()));
        self.replay = replay;
        self
    }

    /// Authenticates a request to `path`; see [`auth::authenticate`].
    async fn authenticate(
        &self,
        headers: &HeaderMap,
        path: &str,
    ) -> Result<Option<Caller>, ApiError> {
        auth::authenticate(self.auth.as_ref(), &self.public_base, headers, path).await
    }
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Builds the app: routes, state and middleware.
pub fn router(state: AppState) -> Router {
    let timeout = Duration::from_millis(state.settings.http.request_timeout_ms);
    let state_timeout_ms = state.settings.http.request_timeout_ms;
    let cors = cors_layer(&state.settings.cors.allowed_origins);
    Router::new()
        .route("/cds-services", get(discovery))
        .route("/cds-services/{id}", post(call_service))
        .route("/cds-services/{id}/feedback", post(feedback))
        .route("/cards/{id}", get(long_form))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .with_state(state)
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .layer(axum::middleware::map_response_with_state(
            state_timeout_ms,
            outcome_for_bare_errors,
        ))
        .layer(axum::middleware::from_fn(check_host))
        .layer(axum::middleware::from_fn(crate::metrics::track))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|request: &Request<Body>| {
                    let request_id = request
                        .headers()
                        .get(REQUEST_ID)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("-");
                    // The path holds only a service id; no patient data travels in URLs here.
                    // A long form's id is a credential: it is never logged.
                    let path = request.uri().path();
                    let path = if path.starts_with(crate::card::LONG_FORM_PATH_PREFIX) {
                        "/cards/{id}"
                    } else {
                        path
                    };
                    tracing::info_span!(
                        "request",
                        request_id,
                        method = %request.method(),
                        path = %path,
                        hook_instance = tracing::field::Empty,
                    )
                })
                .on_request(())
                .on_response(|response: &Response, latency: Duration, _span: &Span| {
                    tracing::info!(
                        status = response.status().as_u16(),
                        latency_ms = latency.as_secs_f64() * 1000.0,
                        "response"
                    );
                }),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .layer(cors)
}

/// CORS for browser-based CDS clients: any listed origin, no credentials, and the headers a
/// CDS client sends. Preflights are answered here, before any handler or authentication.
fn cors_layer(allowed: &[String]) -> CorsLayer {
    let origins = if allowed.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(
            allowed
                .iter()
                .filter_map(|o| HeaderValue::from_str(o).ok())
                .collect::<Vec<_>>(),
        )
    };
    CorsLayer::new()
        .allow_origin(origins)
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, REQUEST_ID])
        .expose_headers([REQUEST_ID])
        .max_age(Duration::from_secs(600))
}

async fn discovery(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<DiscoveryResponse>, ApiError> {
    let caller = state.authenticate(&headers, "/cds-services").await?;
    let only_2_0 = caller
        .as_ref()
        .and_then(|caller| state.settings.issuer(&caller.iss))
        .is_some_and(|issuer| !issuer.fhirpath_prefetch);
    let document = if only_2_0 {
        &state.discovery_2_0
    } else {
        &state.discovery
    };
    Ok(Json(document.as_ref().clone()))
}

async fn call_service(
    State(state): State<AppState>,
    Path(id): Path<String>,
    request: Request<Body>,
) -> Result<Json<ServiceResponse>, ApiError> {
    let deadline = call::deadline(tokio::time::Instant::now(), &state.settings.http);
    let service = services::find(&id).ok_or(ApiError::UnknownService(id))?;
    let (parts, body) = request.into_parts();
    // Who is calling, from the headers alone: an unknown caller's body is never read.
    let token = auth::check_unspent(
        state.auth.as_ref(),
        &state.public_base,
        &parts.headers,
        &format!("/cds-services/{}", service.id),
    )
    .await?;
    check_json(&parts.headers)?;
    // The whole body next, within its deadline and the replica's body budget: a slow body costs
    // a connection and its share of the budget, not a permit.
    let body = body::read(&parts.headers, body, &state.settings.http, &state.bodies).await?;
    // Held until the answer is built; none free means this replica is overloaded, and waiting
    // would only make every call late.
    let Ok(_permit) = state.hook_calls.try_acquire() else {
        metrics::counter!("gravida_hook_calls_shed_total", "service" => service.id).increment(1);
        return Err(ApiError::Overloaded);
    };
    // Last, the token's `jti` is used up: a call shed above may be retried with its token.
    let caller = match token {
        Some(token) => Some(token.spend(state.replay.as_ref()).await?),
        None => None,
    };
    if let Some(connection) = parts.extensions.get::<auth::Connection>() {
        connection.vouch();
    }
    // Parsed on the CPU pool, off the async workers; the body's share of the budget goes back
    // once the request is read.
    let mut hook_request =
        HookRequest::read(&state.cpu, &state.kb, body.bytes.clone(), deadline).await?;
    drop(body);
    Span::current().record("hook_instance", hook_request.request.hook_instance.as_str());
    let network = Network::Fetch {
        client: &state.fhir,
        deadline: Duration::from_millis(state.settings.fhir.deadline_ms),
        trust: state.auth.as_ref().zip(caller.as_ref()),
    };
    // The site's today, not UTC's: gestational age is counted in the ward's calendar days.
    let now = state.clock.now_in(&state.settings.time_zone);
    let work = call::Work {
        pool: &state.cpu,
        deadline,
    };
    let call::Answer {
        mut cards,
        silent,
        context,
    } = call::answer(&state.kb, service, &mut hook_request, network, now, work).await?;
    // What the caller's EHR declared it supports (its issuer's settings) shapes the cards.
    let supports_action_selection = caller
        .as_ref()
        .and_then(|caller| state.settings.issuer(&caller.iss))
        .is_some_and(|issuer| issuer.action_selection_behavior);
    for rendered in &mut cards {
        crate::card::for_client(&mut rendered.card, supports_action_selection);
    }
    // What suppression and the audit trail need, with the context `answer` validated.
    let hook_call = HookCall {
        service,
        hook_instance: &hook_request.request.hook_instance,
        context: &context,
        caller: caller.as_ref(),
        now,
    };

    // Hide what was shown already or dismissed as already addressed (with a store only).
    let mut shown = suppress::screen(
        state.audit.as_ref(),
        &hook_call,
        cards,
        state.settings.cards.repeat_window_hours,
    )
    .await;
    // Each card shown gets its long form and a link to it; with a store, sealed for the others.
    let mut sealed = Vec::new();
    for Shown { rendered, .. } in &mut shown {
        sealed.extend(state.long_forms.attach(
            state.audit.is_some(),
            &state.public_base,
            rendered,
            &state.kb,
            now,
        ));
    }
    // The cards of silent rules: recorded with the shown ones (no long form: nobody follows
    // a link to a card never sent), never in the response.
    let silent = suppress::silent(state.audit.as_ref(), silent);
    // Recorded before they are sent: a card the trail cannot take (its write queue stayed full
    // until the deadline) is not issued, and the call is refused.
    if let Some(audit) = &state.audit {
        let recorded = audit
            .record_cards(
                &hook_call,
                state.kb.version(),
                [&shown, &silent],
                sealed,
                deadline,
            )
            .await;
        if recorded.is_err() {
            metrics::counter!("gravida_hook_calls_shed_total", "service" => service.id)
                .increment(1);
            return Err(ApiError::AuditBacklog);
        }
    }
    crate::metrics::count_cards(shown.iter().map(|s| &s.rendered.finding));
    crate::metrics::count_silent_cards(silent.iter().map(|s| &s.rendered.finding));
    Ok(Json(ServiceResponse::with_cards(
        shown.into_iter().map(|s| s.rendered.card).collect(),
    )))
}

/// `GET /cards/{id}`: a card's long form, while it lasts. No bearer token (a browser link
/// cannot carry one): the id is the credential. Unknown, malformed and expired ids get the
/// same 404; a store that cannot be read, 503.
async fn long_form(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    if !crate::long_form::is_well_formed(&id) {
        return Err(ApiError::LongFormNotFound);
    }
    let page = state
        .long_forms
        .get(
            state.audit.as_ref(),
            &state.kb,
            &id,
            OffsetDateTime::now_utc(),
        )
        .await?;
    page.map(crate::long_form::response)
        .ok_or(ApiError::LongFormNotFound)
}

async fn feedback(
    State(state): State<AppState>,
    Path(id): Path<String>,
    request: Request<Body>,
) -> Result<StatusCode, ApiError> {
    let service = services::find(&id).ok_or(ApiError::UnknownService(id.clone()))?;
    let (parts, body) = request.into_parts();
    // As for a hook call: the token before the body, its `jti` used up once the body is in.
    let token = auth::check_unspent(
        state.auth.as_ref(),
        &state.public_base,
        &parts.headers,
        &format!("/cds-services/{id}/feedback"),
    )
    .await?;
    check_json(&parts.headers)?;
    let body = body::read(&parts.headers, body, &state.settings.http, &state.bodies).await?;
    let caller = match token {
        Some(token) => Some(token.spend(state.replay.as_ref()).await?),
        None => None,
    };
    if let Some(connection) = parts.extensions.get::<auth::Connection>() {
        connection.vouch();
    }
    let feedback =
        FeedbackRequest::parse(&body.bytes).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    drop(body);
    // Card and suggestion uuids are ours and carry no patient data; comments may, so they
    // are counted, never logged.
    for item in &feedback.feedback {
        tracing::info!(
            service = id.as_str(),
            card = item.card.as_str(),
            outcome = ?item.outcome,
            accepted_suggestions = item.accepted_suggestions.len(),
            override_reason = item
                .override_reason
                .as_ref()
                .and_then(|r| r.reason.as_ref())
                .map(|c| c.code.as_str()),
            has_comment = item
                .override_reason
                .as_ref()
                .is_some_and(|r| r.user_comment.is_some()),
            "feedback received"
        );
    }
    // Acknowledged only once stored: feedback answered 200 is never lost.
    if let Some(audit) = &state.audit {
        audit
            .record_feedback(
                service,
                &feedback,
                caller.as_ref(),
                OffsetDateTime::now_utc(),
            )
            .await?;
    }
    Ok(StatusCode::OK)
}

async fn healthz() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

/// Ready once the knowledge base has loaded (it loads before the listener accepts anything),
/// while the replica is not draining, and, with a store, while the store can be used. A
/// draining replica (SIGTERM received) answers 503, so that load balancers stop sending it
/// calls while it still answers the ones that arrive. A store the last health check found
/// unreachable, or with a schema newer than this binary's, gives 503 with the reason
/// ([`Audit::not_ready`]; no query per probe). The version says which profile.
async fn readyz(State(state): State<AppState>) -> Response {
    if state.draining.load(Ordering::Relaxed) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "draining", "profile": state.kb.version() })),
        )
            .into_response();
    }
    if let Some(reason) = state.audit.as_ref().and_then(Audit::not_ready) {
        let body = json!({ "status": "not-ready", "reason": reason });
        return (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
    }
    Json(json!({
        "status": "ready",
        "profile": state.kb.version(),
        "profile_version": state.kb.profile_version(),
        "rule_modes": rule_modes(&state.kb),
    }))
    .into_response()
}

/// Each card rule's mode, the site's overrides applied: `{"R2": "active", "R12": "off", …}`.
fn rule_modes(kb: &KnowledgeBase) -> serde_json::Map<String, serde_json::Value> {
    kb.modes()
        .iter()
        .map(|(rule, mode)| (rule.as_str().to_owned(), mode.as_str().into()))
        .collect()
}

/// Prometheus metrics (see [`crate::metrics`]); 404 when `[metrics] enabled = false`. Like the
/// health endpoints it needs no authentication: it carries no patient data.
async fn metrics(State(state): State<AppState>) -> Response {
    if !state.settings.metrics.enabled {
        return ApiError::NotFound.into_response();
    }
    crate::metrics::render()
}

async fn not_found() -> ApiError {
    ApiError::NotFound
}

/// Middleware: the two errors that are answered below our handlers, bodiless — axum's 405 for a
/// path that exists under another method, and the router's 408 when `http.request_timeout_ms`
/// passes — get their OperationOutcome here like every other error (CDS Hooks 3.0.0,
/// "Returning OperationOutcome"). The `Allow` header of a 405 is kept. An answer that already
/// has a body (our own 408 for a slow body, say) is left as it is.
async fn outcome_for_bare_errors(State(timeout_ms): State<u64>, response: Response) -> Response {
    let error = match response.status() {
        StatusCode::METHOD_NOT_ALLOWED => ApiError::MethodNotAllowed,
        StatusCode::REQUEST_TIMEOUT => ApiError::RequestTimeout { timeout_ms },
        _ => return response,
    };
    if response.headers().contains_key(header::CONTENT_TYPE) {
        return response;
    }
    let mut outcome = error.into_response();
    if let Some(allow) = response.headers().get(header::ALLOW) {
        outcome.headers_mut().insert(header::ALLOW, allow.clone());
    }
    outcome
}

/// 415 for a body declared as anything but JSON (`application/json`, or a `+json` type such
/// as `application/fhir+json`): CDS Hooks requests and feedback are JSON documents. A body with
/// no Content-Type is read as JSON, as it always was. Checked after the token, before the body
/// is read, so a refused body costs no memory.
fn check_json(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let essence = value
        .to_str()
        .ok()
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    match essence {
        Some(e)
            if e == "application/json"
                || (e.starts_with("application/") && e.ends_with("+json")) =>
        {
            Ok(())
        }
        _ => Err(ApiError::UnsupportedMediaType),
    }
}

/// Middleware: RFC 9112 §3.2. An HTTP/1.1 request must carry exactly one Host header, and it
/// must be a host (with an optional port); otherwise 400, before any other check. HTTP/1.0
/// requests may omit it. The value is not compared with `public_base_url`: behind a proxy the
/// Host is the proxy's business, and JWTs carry the audience that matters.
async fn check_host(request: Request<Body>, next: Next) -> Response {
    let mut hosts = request.headers().get_all(header::HOST).iter();
    let problem = match (hosts.next(), hosts.next()) {
        (None, _) if request.version() == Version::HTTP_10 => None,
        (None, _) => Some("an HTTP/1.1 request needs a Host header"),
        (Some(_), Some(_)) => Some("a request may carry only one Host header"),
        (Some(host), None) => host
            .to_str()
            .ok()
            .and_then(|h| h.parse::<Authority>().ok())
            // An authority may hold `user@`; a Host header may not.
            .filter(|a| !a.as_str().contains('@'))
            .is_none()
            .then_some("the Host header is not a host name with an optional port"),
    };
    match problem {
        Some(problem) => ApiError::InvalidHost(problem).into_response(),
        None => next.run(request).await,
    }
}
