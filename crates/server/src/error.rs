//! Every error a caller can see, and its HTTP status: the one place errors become responses.
//!
//! Handlers return `Result<_, ApiError>`. Each variant says which check failed, and its message is
//! written for the caller: short, specific, and free of patient data (we never echo request
//! values back). Server-side detail goes to the log, not to the response.
//!
//! Every error body is a FHIR R4 `OperationOutcome` (CDS Hooks 3.0.0, index.md "Returning
//! OperationOutcome": "If a CDS Service encounters an error and returns a non-2xx HTTP status,
//! the CDS Service SHOULD include an OperationOutcome resource in the response body"). One issue,
//! `severity` `error`, `code` from FHIR's IssueType value set ([`ApiError::issue_code`]),
//! `diagnostics` the message, and `details.coding` our stable error name
//! (`urn:gravida:error`, [`ApiError::code`]) for clients and dashboards that key on it. A 412
//! also lists, in `expression`, the prefetch keys that could not be obtained, as paths into the
//! request (`prefetch.<key>`), as the specification's own 412 example points at the missing data.
//! A 401 stays bodiless: it says nothing beyond the status.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use gravida_cds_hooks::RequestError;
use gravida_fhir::{GatherError, ServerUrlError, Unobtained};
use serde_json::{Value, json};

/// The FHIR JSON media type, of the demo FHIR endpoint's answers and its errors.
pub const FHIR_JSON: &str = "application/fhir+json; charset=utf-8";

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No service has this id.
    #[error("no CDS service with id `{0}`")]
    UnknownService(String),
    /// No endpoint at this path.
    #[error("no such endpoint")]
    NotFound,
    /// No card long form with this id: it expired, was never issued, or was issued by another
    /// replica (long forms are kept in memory).
    #[error("this card's long form has expired or does not exist")]
    LongFormNotFound,
    /// The store that keeps long forms for every replica could not be read just now.
    #[error("this card's long form cannot be read right now; retry later")]
    LongFormUnavailable,
    /// The caller did not authenticate, or its token failed a check. No detail is given.
    #[error("authentication required")]
    Unauthorized,
    /// The body is larger than `http.max_body_bytes`.
    #[error("request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    /// The body did not arrive within `http.body_read_timeout_ms` of the request's head.
    #[error("the request body did not arrive within {timeout_ms} ms")]
    BodyTimeout { timeout_ms: u64 },
    /// The whole request was not answered within `http.request_timeout_ms` (the router's own
    /// timeout, past every deadline of the call itself).
    #[error("the request was not answered within {timeout_ms} ms")]
    RequestTimeout { timeout_ms: u64 },
    /// The path exists, but not for this method (the `Allow` header lists those it has).
    #[error("this endpoint does not allow this method; see the Allow header")]
    MethodNotAllowed,
    /// A body declared as something other than JSON: CDS Hooks requests and feedback are JSON.
    #[error("the request body must be JSON (Content-Type application/json)")]
    UnsupportedMediaType,
    /// The body is not a valid request for this endpoint.
    #[error("{0}")]
    BadRequest(String),
    /// An HTTP/1.1 request without a Host header, with more than one, or with one that is not a
    /// host (RFC 9112 §3.2 requires a 400). Checked before anything else, authentication included.
    #[error("{0}")]
    InvalidHost(&'static str),
    /// The request names a FHIR server this caller may not use.
    #[error("{0}")]
    ForbiddenFhirServer(String),
    /// The records that decide whether any card is warranted could not be obtained; the error
    /// names the prefetch keys, which the 412's OperationOutcome lists in `expression`.
    #[error("{0}")]
    DataUnavailable(GatherError),
    /// The audit store is down or its write queue is full: feedback could not be recorded and
    /// was not acknowledged, so the caller may retry. Hook calls never get this.
    #[error("feedback cannot be recorded right now; retry later")]
    StoreUnavailable,
    /// As many hook calls as `http.max_concurrent_hook_calls` are being answered: this one is
    /// refused at once, before its body is read, and the caller may retry.
    #[error("too many hook calls at once; retry shortly")]
    Overloaded,
    /// The audit trail's write queue stayed full until the call's deadline (the store is not
    /// keeping up): the call's cards were not issued, since the trail could not hold them, and
    /// the caller may retry.
    #[error("the audit trail cannot take this call's cards right now; retry shortly")]
    AuditBacklog,
    /// The call could not be answered within `http.request_timeout_ms` (its chart took too long
    /// to read or evaluate): its work was given up, and the caller may retry.
    #[error("the call could not be answered in time; retry later")]
    DeadlineExceeded,
    /// Something went wrong on our side. The detail is logged, not returned.
    #[error("internal error")]
    Internal,
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::UnknownService(_) | ApiError::NotFound | ApiError::LongFormNotFound => {
                StatusCode::NOT_FOUND
            }
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::BodyTimeout { .. } | ApiError::RequestTimeout { .. } => {
                StatusCode::REQUEST_TIMEOUT
            }
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::BadRequest(_) | ApiError::InvalidHost(_) => StatusCode::BAD_REQUEST,
            ApiError::ForbiddenFhirServer(_) => StatusCode::FORBIDDEN,
            ApiError::DataUnavailable(_) => StatusCode::PRECONDITION_FAILED,
            ApiError::StoreUnavailable
            | ApiError::Overloaded
            | ApiError::AuditBacklog
            | ApiError::DeadlineExceeded
            | ApiError::LongFormUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A stable, machine-readable name for the error, used in the body and in metrics.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::UnknownService(_) => "unknown-service",
            ApiError::NotFound => "not-found",
            ApiError::LongFormNotFound => "long-form-not-found",
            ApiError::LongFormUnavailable => "long-form-unavailable",
            ApiError::Unauthorized => "unauthorized",
            ApiError::PayloadTooLarge { .. } => "payload-too-large",
            ApiError::BodyTimeout { .. } => "body-timeout",
            ApiError::RequestTimeout { .. } => "request-timeout",
            ApiError::MethodNotAllowed => "method-not-allowed",
            ApiError::UnsupportedMediaType => "unsupported-media-type",
            ApiError::BadRequest(_) => "invalid-request",
            ApiError::InvalidHost(_) => "invalid-host",
            ApiError::ForbiddenFhirServer(_) => "fhir-server-not-allowed",
            ApiError::DataUnavailable(_) => "data-unavailable",
            ApiError::StoreUnavailable => "store-unavailable",
            ApiError::Overloaded => "overloaded",
            ApiError::AuditBacklog => "audit-backlog",
            ApiError::DeadlineExceeded => "deadline-exceeded",
            ApiError::Internal => "internal",
        }
    }

    /// The OperationOutcome issue code: FHIR R4's IssueType (hl7.org/fhir/R4/valueset-issue-type).
    pub fn issue_code(&self) -> &'static str {
        match self {
            ApiError::UnknownService(_) | ApiError::NotFound | ApiError::LongFormNotFound => {
                "not-found"
            }
            ApiError::Unauthorized => "login",
            ApiError::PayloadTooLarge { .. } => "too-long",
            ApiError::BodyTimeout { .. } | ApiError::RequestTimeout { .. } => "timeout",
            ApiError::MethodNotAllowed | ApiError::UnsupportedMediaType => "not-supported",
            ApiError::BadRequest(_) | ApiError::InvalidHost(_) => "invalid",
            ApiError::ForbiddenFhirServer(_) => "forbidden",
            // The specification's own 412 example uses `processing`; a patient the EHR's FHIR
            // server does not have is `not-found`.
            ApiError::DataUnavailable(GatherError::NotFound { .. }) => "not-found",
            ApiError::DataUnavailable(_) => "processing",
            ApiError::StoreUnavailable | ApiError::LongFormUnavailable => "no-store",
            ApiError::Overloaded | ApiError::AuditBacklog => "throttled",
            ApiError::DeadlineExceeded => "timeout",
            ApiError::Internal => "exception",
        }
    }

    /// The prefetch keys a 412 could not obtain, each as a path into the request
    /// (`prefetch.<key>`); empty for every other error.
    pub fn expression(&self) -> Vec<String> {
        let keys: Vec<&String> = match self {
            ApiError::DataUnavailable(GatherError::Unavailable { keys, .. }) => {
                keys.iter().collect()
            }
            ApiError::DataUnavailable(GatherError::NotFound { key }) => vec![key],
            _ => Vec::new(),
        };
        keys.into_iter()
            .map(|key| format!("prefetch.{key}"))
            .collect()
    }

    /// The human line: the message, and for a 412 the SMART scopes (v2 form) the granted ones
    /// lacked, so an integrator sees what to grant.
    pub fn diagnostics(&self) -> String {
        let mut line = self.to_string();
        if let ApiError::DataUnavailable(GatherError::Unavailable { causes, .. }) = self {
            let needed: Vec<String> = causes
                .iter()
                .filter_map(|failure| match &failure.cause {
                    Unobtained::NotGranted { needed } => {
                        Some(format!("{} ({needed})", failure.key))
                    }
                    _ => None,
                })
                .collect();
            if !needed.is_empty() {
                line.push_str("; not covered by the granted scopes: ");
                line.push_str(&needed.join(", "));
            }
        }
        line
    }

    /// The error as a FHIR `OperationOutcome`: one issue with its code, the message as
    /// `diagnostics`, our error name in `details`, and for a 412 the missing keys in `expression`.
    /// Nothing here comes from the request but the prefetch keys, which are ours (discovery).
    pub fn operation_outcome(&self) -> Value {
        let mut issue = json!({
            "severity": "error",
            "code": self.issue_code(),
            "details": { "coding": [{ "system": ERROR_SYSTEM, "code": self.code() }] },
            "diagnostics": self.diagnostics(),
        });
        let expression = self.expression();
        if !expression.is_empty() {
            issue["expression"] = json!(expression);
        }
        json!({ "resourceType": "OperationOutcome", "issue": [issue] })
    }
}

/// The code system of [`ApiError::code`] in an OperationOutcome's `issue.details.coding`.
pub const ERROR_SYSTEM: &str = "urn:gravida:error";

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if matches!(self, ApiError::Overloaded) {
            // Under overload this happens for many calls a second: the metric
            // gravida_hook_calls_shed_total counts them, and a log line each would add load.
            tracing::debug!(error = self.code(), "request shed");
        } else if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
        } else {
            tracing::info!(
                status = status.as_u16(),
                error = self.code(),
                "request refused"
            );
        }
        let mut response = match &self {
            // A 401 says nothing beyond the status: the reason is in the log only.
            ApiError::Unauthorized => status.into_response(),
            _ => {
                let mut response = (status, Json(self.operation_outcome())).into_response();
                response
                    .headers_mut()
                    .insert(header::CONTENT_TYPE, HeaderValue::from_static(FHIR_JSON));
                response
            }
        };
        if matches!(self, ApiError::Unauthorized) {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"cds-services\""),
            );
        }
        if matches!(
            self,
            ApiError::Overloaded | ApiError::AuditBacklog | ApiError::DeadlineExceeded
        ) {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if matches!(
            self,
            ApiError::BodyTimeout { .. } | ApiError::RequestTimeout { .. }
        ) {
            // The rest of the body may still be on its way: the connection cannot carry another
            // request, so say it closes (RFC 9110 §15.5.9), and hyper closes it.
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}

/// An error from the demo's read-only FHIR endpoint (`gravida demo`), answered as a FHIR
/// client expects: an `OperationOutcome` with `application/fhir+json`, not the service's JSON.
#[derive(Debug, thiserror::Error)]
pub enum FhirApiError {
    /// No resource with this type and id, or no such FHIR path.
    #[error("{0}")]
    NotFound(String),
    /// A search the endpoint does not support (an unknown parameter, say).
    #[error("{0}")]
    BadSearch(String),
    /// The endpoint is read-only: only GET (and HEAD) are answered.
    #[error("this FHIR endpoint is read-only: only GET is allowed")]
    ReadOnly,
}

impl FhirApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            FhirApiError::NotFound(_) => StatusCode::NOT_FOUND,
            FhirApiError::BadSearch(_) => StatusCode::BAD_REQUEST,
            FhirApiError::ReadOnly => StatusCode::METHOD_NOT_ALLOWED,
        }
    }

    /// The OperationOutcome issue code (FHIR's `IssueType`).
    fn issue_code(&self) -> &'static str {
        match self {
            FhirApiError::NotFound(_) => "not-found",
            FhirApiError::BadSearch(_) => "not-supported",
            FhirApiError::ReadOnly => "forbidden",
        }
    }
}

impl IntoResponse for FhirApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        tracing::info!(
            status = status.as_u16(),
            error = self.issue_code(),
            "demo FHIR request refused"
        );
        let outcome = json!({
            "resourceType": "OperationOutcome",
            "issue": [{
                "severity": "error",
                "code": self.issue_code(),
                "diagnostics": self.to_string(),
            }]
        });
        let mut response = (status, Json(outcome)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(FHIR_JSON));
        if matches!(self, FhirApiError::ReadOnly) {
            headers.insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        }
        response
    }
}

// ----- Library errors, each given its status here and nowhere else ------------------------------

/// A request that is not valid for its hook (wrong hook, bad context): the caller's mistake.
impl From<RequestError> for ApiError {
    fn from(error: RequestError) -> Self {
        ApiError::BadRequest(error.to_string())
    }
}

/// A `fhirServer` the deployment's policy refuses (plain http off loopback, a user name, a query):
/// refused before any fetch. One that is not an http(s) URL at all is a bad request (400).
impl From<ServerUrlError> for ApiError {
    fn from(error: ServerUrlError) -> Self {
        ApiError::ForbiddenFhirServer(error.to_string())
    }
}

/// The deciding records could not be had: 412, so the EHR can retry with prefetch or a token.
/// The match is exhaustive: a new kind of gathering failure must be given its status here.
impl From<GatherError> for ApiError {
    fn from(error: GatherError) -> Self {
        match error {
            GatherError::Unavailable { .. } | GatherError::NotFound { .. } => {
                ApiError::DataUnavailable(error)
            }
        }
    }
}
