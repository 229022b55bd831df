//! FHIR search over reqwest: one shared connection pool, explicit deadlines, capped pages and bytes.
//!
//! We do not use fhir-sdk's client: it sends `fhirVersion=4.3` (which some R4 servers reject),
//! retries three times and has no timeout. Here every request:
//!
//! * is bounded by the hook call's deadline (`tokio::time::timeout_at`) and a per-request timeout;
//! * is retried at most once, only for failures that are safe to retry (connection refused,
//!   502/503/504) and only when the deadline leaves room;
//! * follows no redirects (a redirect could carry the bearer token to another host);
//! * reads at most [`FetchLimits::max_response_bytes`], streaming, so a huge body fails fast;
//! * follows `Bundle.link[next]` only to the same origin as the FHIR server, never twice to the
//!   same URL, and at most [`FetchLimits::max_pages`] pages.
//!
//! The bearer token is passed in per call and never stored, logged, or put into an error. URLs are
//! not logged or put into errors either: their query strings carry patient ids.

use std::collections::HashSet;
use std::net::IpAddr;
use std::time::Duration;

use reqwest::header::{ACCEPT, CONTENT_TYPE};
use serde_json::Value as Json;
use thiserror::Error;
use tokio::time::Instant;
use url::{Host, Url};

use crate::prefetch::{OutcomeSummary, into_bundle_entries, next_link};

/// Limits on what one search may cost. The server sets them from its configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchLimits {
    /// Pages followed per search, the first included.
    pub max_pages: usize,
    /// Bytes read per response body.
    pub max_response_bytes: usize,
    /// The longest one request (one page) may take, within the overall deadline.
    pub request_timeout: Duration,
    /// A retry is only attempted when at least this much time is left before the deadline.
    pub min_retry_budget: Duration,
}

impl Default for FetchLimits {
    fn default() -> Self {
        FetchLimits {
            max_pages: 10,
            max_response_bytes: 10 * 1024 * 1024,
            request_timeout: Duration::from_secs(5),
            min_retry_budget: Duration::from_millis(100),
        }
    }
}

/// Why a search failed. Its `Display` and `Debug` never contain the token or a URL.
#[derive(Debug, Error)]
pub enum FetchError {
    /// The hook call's data-gathering deadline passed.
    #[error("the FHIR search did not finish before the deadline")]
    Deadline,
    /// One request took longer than the per-request timeout.
    #[error("a FHIR request took longer than the per-request timeout")]
    Timeout,
    /// The FHIR server could not be reached.
    #[error("could not connect to the FHIR server")]
    Connect(#[source] reqwest::Error),
    /// Another transport error (reset connection, broken body, …).
    #[error("transport error talking to the FHIR server")]
    Transport(#[source] reqwest::Error),
    /// The server answered with a non-2xx status (redirects included: we follow none).
    #[error("the FHIR server answered {status}{}", outcome.as_ref().map(|o| format!(" ({o})")).unwrap_or_default())]
    Status {
        status: u16,
        outcome: Option<OutcomeSummary>,
    },
    /// The response is not FHIR JSON.
    #[error("the FHIR server answered with content type {content_type:?}, not FHIR JSON")]
    WrongContentType { content_type: String },
    #[error("the FHIR server's response is not valid JSON")]
    NotJson,
    /// The response is JSON but not a Bundle.
    #[error("the FHIR search returned a {resource_type:?}, not a Bundle")]
    NotABundle { resource_type: String },
    /// The Bundle reports the search failed (an error OperationOutcome entry).
    #[error("the FHIR search reported a failure: {0}")]
    Outcome(OutcomeSummary),
    #[error("the FHIR response is larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("the FHIR search has more than {limit} pages")]
    TooManyPages { limit: usize },
    /// A `next` link points to another scheme, host or port than the FHIR server.
    #[error("the FHIR search's next link points to another origin")]
    ForeignNextLink,
    /// A `next` link points to a page already read.
    #[error("the FHIR search's next links form a loop")]
    PagingLoop,
    /// The rendered query is not a relative URL below the FHIR server base.
    #[error("the FHIR query is not a relative URL below the FHIR server base")]
    InvalidQuery,
}

impl FetchError {
    /// A short, stable name for metrics: `deadline`, `timeout`, `connect`, `status-5xx`…
    pub fn cause(&self) -> &'static str {
        match self {
            FetchError::Deadline => "deadline",
            FetchError::Timeout => "timeout",
            FetchError::Connect(_) => "connect",
            FetchError::Transport(_) => "transport",
            FetchError::Status { status, .. } => match status {
                401 | 403 => "status-auth",
                404 => "status-404",
                400..=499 => "status-4xx",
                _ => "status-5xx",
            },
            FetchError::WrongContentType { .. } => "wrong-content-type",
            FetchError::NotJson => "not-json",
            FetchError::NotABundle { .. } => "not-a-bundle",
            FetchError::Outcome(_) => "operation-outcome",
            FetchError::TooLarge { .. } => "too-large",
            FetchError::TooManyPages { .. } => "too-many-pages",
            FetchError::ForeignNextLink => "foreign-next-link",
            FetchError::PagingLoop => "paging-loop",
            FetchError::InvalidQuery => "invalid-query",
        }
    }

    /// Safe to retry once: the request did not reach the server, or a gateway said so.
    fn is_retryable(&self) -> bool {
        match self {
            FetchError::Connect(_) => true,
            FetchError::Status { status, .. } => matches!(status, 502..=504),
            _ => false,
        }
    }

    fn from_reqwest(error: reqwest::Error) -> Self {
        // `without_url` matters: reqwest puts the URL (with the patient id) into its messages.
        let error = error.without_url();
        if error.is_timeout() {
            FetchError::Timeout
        } else if error.is_connect() {
            FetchError::Connect(error)
        } else {
            FetchError::Transport(error)
        }
    }
}

/// Could not build the HTTP client.
#[derive(Debug, Error)]
#[error("could not build the HTTP client for FHIR")]
pub struct ClientBuildError(#[source] reqwest::Error);

/// A FHIR search client. Build one at start-up and share it: it holds the connection pool.
#[derive(Debug, Clone)]
pub struct FhirClient {
    http: reqwest::Client,
    limits: FetchLimits,
}

impl FhirClient {
    /// Builds the client: rustls with the `ring` provider, no redirects, no proxy from the
    /// environment (a proxy would see the bearer token).
    pub fn new(limits: FetchLimits) -> Result<Self, ClientBuildError> {
        // reqwest is built with `rustls-no-provider`: it uses the process-wide default provider.
        // Installing fails harmlessly when one is already installed (by us or by the server).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(limits.request_timeout)
            .pool_idle_timeout(Duration::from_secs(60))
            .build()
            .map_err(ClientBuildError)?;
        Ok(FhirClient { http, limits })
    }

    pub fn limits(&self) -> &FetchLimits {
        &self.limits
    }

    /// Runs a search (or a read) relative to `base`, following `next` links, and returns all the
    /// resources of all pages. Fails as a whole if any page fails: a partial result is never
    /// returned as if it were whole.
    ///
    /// Each search is measured: `gravida_fhir_fetch_duration_seconds{outcome}` (`ok` or the
    /// failure's [`FetchError::cause`]) and `gravida_fhir_fetch_failures_total{cause}`.
    pub async fn search(
        &self,
        base: &Url,
        relative_query: &str,
        token: Option<&str>,
        deadline: Instant,
    ) -> Result<Vec<Json>, FetchError> {
        let started = std::time::Instant::now();
        let result = self
            .search_pages(base, relative_query, token, deadline)
            .await;
        let outcome = match &result {
            Ok(_) => "ok",
            Err(e) => {
                metrics::counter!("gravida_fhir_fetch_failures_total", "cause" => e.cause())
                    .increment(1);
                e.cause()
            }
        };
        metrics::histogram!("gravida_fhir_fetch_duration_seconds", "outcome" => outcome)
            .record(started.elapsed().as_secs_f64());
        result
    }

    /// The search itself, unmeasured.
    async fn search_pages(
        &self,
        base: &Url,
        relative_query: &str,
        token: Option<&str>,
        deadline: Instant,
    ) -> Result<Vec<Json>, FetchError> {
        let base = with_trailing_slash(base);
        let mut url = search_url(&base, relative_query)?;
        let mut seen = HashSet::new();
        let mut resources = Vec::new();
        for page in 1..=self.limits.max_pages {
            seen.insert(url.as_str().to_owned());
            let body = self.get_page(&url, token, deadline).await?;
            let resource_type = body
                .get("resourceType")
                .and_then(Json::as_str)
                .unwrap_or_default();
            if resource_type != "Bundle" {
                // A read (`Patient/123`) returns the resource itself.
                if page == 1 && !resource_type.is_empty() && resource_type != "OperationOutcome" {
                    return Ok(vec![body]);
                }
                if resource_type == "OperationOutcome" {
                    return Err(FetchError::Outcome(OutcomeSummary::from_outcome(&body)));
                }
                return Err(FetchError::NotABundle {
                    resource_type: resource_type.chars().take(64).collect(),
                });
            }
            let next = next_link(&body).map(str::to_owned);
            resources.extend(into_bundle_entries(body).map_err(FetchError::Outcome)?);
            let Some(next) = next.as_deref() else {
                tracing::debug!(
                    pages = page,
                    resources = resources.len(),
                    "FHIR search complete"
                );
                return Ok(resources);
            };
            let next = url.join(next).map_err(|_| FetchError::ForeignNextLink)?;
            if !same_origin(&next, &base) {
                return Err(FetchError::ForeignNextLink);
            }
            if seen.contains(next.as_str()) {
                return Err(FetchError::PagingLoop);
            }
            url = next;
        }
        Err(FetchError::TooManyPages {
            limit: self.limits.max_pages,
        })
    }

    /// One page, retried at most once.
    async fn get_page(
        &self,
        url: &Url,
        token: Option<&str>,
        deadline: Instant,
    ) -> Result<Json, FetchError> {
        match self.get_page_once(url, token, deadline).await {
            Err(error)
                if error.is_retryable()
                    && deadline.saturating_duration_since(Instant::now())
                        >= self.limits.min_retry_budget =>
            {
                tracing::debug!(error = %error, "retrying a FHIR request once");
                self.get_page_once(url, token, deadline).await
            }
            result => result,
        }
    }

    async fn get_page_once(
        &self,
        url: &Url,
        token: Option<&str>,
        deadline: Instant,
    ) -> Result<Json, FetchError> {
        let request_deadline = deadline.min(Instant::now() + self.limits.request_timeout);
        let started = Instant::now();
        let result =
            tokio::time::timeout_at(request_deadline, self.get_page_unbounded(url, token)).await;
        match result {
            Ok(result) => {
                tracing::trace!(
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    ok = result.is_ok(),
                    "FHIR request done"
                );
                result
            }
            Err(_) if request_deadline >= deadline => Err(FetchError::Deadline),
            Err(_) => Err(FetchError::Timeout),
        }
    }

    async fn get_page_unbounded(&self, url: &Url, token: Option<&str>) -> Result<Json, FetchError> {
        let mut request = self
            .http
            .get(url.clone())
            .header(ACCEPT, "application/fhir+json");
        if let Some(token) = token {
            // reqwest marks this header sensitive, so it is not shown in its Debug output.
            request = request.bearer_auth(token);
        }
        let response = request.send().await.map_err(FetchError::from_reqwest)?;
        let status = response.status();
        if !status.is_success() {
            let outcome =
                read_outcome(response, self.limits.max_response_bytes.min(64 * 1024)).await;
            tracing::debug!(
                status = status.as_u16(),
                "FHIR server answered an error status"
            );
            return Err(FetchError::Status {
                status: status.as_u16(),
                outcome,
            });
        }
        let content_type = media_type(&response);
        if !is_fhir_json(&content_type) {
            return Err(FetchError::WrongContentType { content_type });
        }
        let body = read_capped(response, self.limits.max_response_bytes).await?;
        tracing::debug!(
            status = status.as_u16(),
            bytes = body.len(),
            "FHIR page read"
        );
        serde_json::from_slice(&body).map_err(|_| FetchError::NotJson)
    }
}

/// The media type of the response, lower-cased, without parameters (`; charset=utf-8`).
fn media_type(response: &reqwest::Response) -> String {
    response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .map(|value| {
            value
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default()
        .chars()
        .take(100)
        .collect()
}

fn is_fhir_json(media_type: &str) -> bool {
    matches!(
        media_type,
        "application/fhir+json" | "application/json" | "application/json+fhir"
    )
}

/// Reads the body, failing as soon as it exceeds `limit` bytes (or announces that it will).
async fn read_capped(mut response: reqwest::Response, limit: usize) -> Result<Vec<u8>, FetchError> {
    if response
        .content_length()
        .is_some_and(|length| length > limit as u64)
    {
        return Err(FetchError::TooLarge { limit });
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(FetchError::from_reqwest)? {
        if body.len() + chunk.len() > limit {
            return Err(FetchError::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The OperationOutcome of an error response, if it has one (bodies are small; errors ignored).
async fn read_outcome(response: reqwest::Response, limit: usize) -> Option<OutcomeSummary> {
    let body = read_capped(response, limit).await.ok()?;
    let json: Json = serde_json::from_slice(&body).ok()?;
    (json.get("resourceType").and_then(Json::as_str) == Some("OperationOutcome"))
        .then(|| OutcomeSummary::from_outcome(&json))
}

fn with_trailing_slash(base: &Url) -> Url {
    let mut base = base.clone();
    if !base.path().ends_with('/') {
        let path = format!("{}/", base.path());
        base.set_path(&path);
    }
    base
}

/// `base` + `relative`, refusing anything that escapes the base (another origin, `../`, `//host`).
fn search_url(base: &Url, relative: &str) -> Result<Url, FetchError> {
    // `//host/x` is a network-path reference: never what a prefetch template means.
    if relative.starts_with("//") {
        return Err(FetchError::InvalidQuery);
    }
    let relative = relative.strip_prefix('/').unwrap_or(relative);
    if relative.is_empty() {
        return Err(FetchError::InvalidQuery);
    }
    let url = base.join(relative).map_err(|_| FetchError::InvalidQuery)?;
    if !same_origin(&url, base) || !url.path().starts_with(base.path()) {
        return Err(FetchError::InvalidQuery);
    }
    Ok(url)
}

/// Same scheme, host and port (the web's notion of origin).
fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

/// Why a `fhirServer` value is refused. The server answers 403.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ServerUrlError {
    #[error("fhirServer is not an absolute URL")]
    Invalid,
    #[error("fhirServer must use https (http is allowed on loopback only)")]
    NotHttps,
    #[error("fhirServer must not contain a user name or password")]
    Userinfo,
    #[error("fhirServer must not contain a query or fragment")]
    QueryOrFragment,
}

/// Checks a `fhirServer` value from a hook request and normalises it to end with `/`.
///
/// `https` is required unless the host is a loopback address (127.0.0.0/8, ::1, `localhost`),
/// where `http` is allowed for development and tests. Which servers an issuer may name is checked
/// elsewhere (the issuer allow-list).
pub fn check_fhir_server(raw: &str) -> Result<Url, ServerUrlError> {
    let url = Url::parse(raw.trim()).map_err(|_| ServerUrlError::Invalid)?;
    if url.cannot_be_a_base() || url.host().is_none() {
        return Err(ServerUrlError::Invalid);
    }
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&url) => {}
        _ => return Err(ServerUrlError::NotHttps),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ServerUrlError::Userinfo);
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(ServerUrlError::QueryOrFragment);
    }
    Ok(with_trailing_slash(&url))
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

#[cfg(test)]
pub(crate) mod tests;
