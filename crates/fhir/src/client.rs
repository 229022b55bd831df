//! FHIR search over reqwest: one shared connection pool, explicit deadlines, capped pages and bytes.
//!
//! We do not use fhir-sdk's client: it sends `fhirVersion=4.3` (which some R4 servers reject),
//! retries three times and has no timeout. Here every request:
//!
//! * is bounded by the hook call's deadline (`tokio::time::timeout_at`) and a per-request timeout;
//! * is retried at most once, only for failures that are safe to retry (connection refused,
//!   502/503/504) and only when the deadline leaves room;
//! * follows no redirects (a redirect could carry the bearer token to another host):
//!   `redirect::Policy::none()`, so a 3xx is an error status. reqwest 0.13 still sends every
//!   request through its redirect layer (tower-http's `FollowRedirect`, which keeps a copy of the
//!   request and puts its URI on the response), and turns that URI back into a `Url` with a parse
//!   of its own; its API has no way to leave the layer out;
//! * builds its URL once: the rendered search joined onto the checked base (`search_url`),
//!   that `Url` handed to reqwest (which makes the `http::Uri` hyper sends from it);
//! * reads at most [`FetchLimits::max_response_bytes`], streaming, so a huge body fails fast, and
//!   pays for every byte it keeps from the replica's [`MemoryBudget`] first;
//! * is read into records as it comes ([`crate::page`]) off the async threads, one page at a
//!   time, and the reading stops at the deadline or at the call's entry cap
//!   ([`CallAllowance`]);
//! * follows `Bundle.link[next]` only to the same origin as the FHIR server, never twice to the
//!   same URL, and at most [`FetchLimits::max_pages`] pages.
//!
//! The bearer token is passed in per call and never stored, logged, or put into an error. URLs are
//! not logged or put into errors either: their query strings carry patient ids.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{ACCEPT, CONTENT_TYPE};
use serde_json::Value as Json;
use thiserror::Error;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use url::Url;

use crate::budget::{BudgetHold, MemoryBudget, RECORD_OVERHEAD};
use crate::fetch_error::FetchError;
use crate::fhir_server::FhirServer;
use crate::page::{CallAllowance, Fetched, PageRead, read_page};
use crate::prefetch::OutcomeSummary;

/// The largest page read on the calling task instead of on the blocking pool: a page this size
/// (a few dozen resources) is read in about a millisecond, and the hand-off to a blocking thread
/// and back costs two thread wake-ups. A larger page, which may take tens of milliseconds, is
/// read on the pool, never on the async workers.
const INLINE_PAGE_BYTES: usize = 64 * 1024;

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
    /// Bytes of FHIR responses held at once by all calls of the replica together
    /// ([`MemoryBudget`]).
    pub memory_budget_bytes: usize,
    /// Bundle entries read per hook call, all searches together ([`CallAllowance`]).
    pub max_call_entries: usize,
    /// Response bytes read per hook call, all searches together ([`CallAllowance`]).
    pub max_call_bytes: usize,
}

impl Default for FetchLimits {
    fn default() -> Self {
        FetchLimits {
            max_pages: 10,
            max_response_bytes: 10 * 1024 * 1024,
            request_timeout: Duration::from_secs(5),
            min_retry_budget: Duration::from_millis(100),
            memory_budget_bytes: 32 * 1024 * 1024,
            max_call_entries: 10_000,
            max_call_bytes: 32 * 1024 * 1024,
        }
    }
}

/// Could not build the HTTP client.
#[derive(Debug, Error)]
#[error("could not build the HTTP client for FHIR")]
pub struct ClientBuildError(#[source] reqwest::Error);

/// A FHIR search client. Build one at start-up and share it: it holds the connection pool, the
/// replica's memory budget and the page readers' slots.
#[derive(Debug, Clone)]
pub struct FhirClient {
    http: reqwest::Client,
    limits: FetchLimits,
    budget: MemoryBudget,
    /// Pages are read on the blocking pool, at most this many at once (one per core): reading is
    /// CPU work, and more at once would only slow the async threads that keep the deadlines.
    readers: Arc<Semaphore>,
}

/// What one search gave: its resources, and the share of the memory budget they hold (returned
/// when this is dropped, at the end of the hook call).
#[derive(Debug)]
pub struct Search {
    pub resources: Vec<Fetched>,
    pub hold: BudgetHold,
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
        let readers = std::thread::available_parallelism().map_or(1, |n| n.get());
        Ok(FhirClient {
            http,
            budget: MemoryBudget::new(limits.memory_budget_bytes),
            limits,
            readers: Arc::new(Semaphore::new(readers)),
        })
    }

    pub fn limits(&self) -> &FetchLimits {
        &self.limits
    }

    pub fn budget(&self) -> &MemoryBudget {
        &self.budget
    }

    /// A fresh allowance for one hook call, from the limits.
    pub fn call_allowance(&self) -> Arc<CallAllowance> {
        Arc::new(CallAllowance::new(
            self.limits.max_call_entries,
            self.limits.max_call_bytes,
        ))
    }

    /// Runs a search (or a read) relative to the checked FHIR server `base`, following `next` links, and returns all the
    /// resources of all pages, read. Fails as a whole if any page fails: a partial result is never
    /// returned as if it were whole. `allowance` is the hook call's, shared by its searches.
    ///
    /// Each search is measured: `gravida_fhir_fetch_duration_seconds{outcome}` (`ok` or the
    /// failure's [`FetchError::cause`]) and `gravida_fhir_fetch_failures_total{cause}`.
    pub async fn search(
        &self,
        base: &FhirServer,
        relative_query: &str,
        token: Option<&str>,
        deadline: Instant,
        allowance: &Arc<CallAllowance>,
    ) -> Result<Search, FetchError> {
        let started = std::time::Instant::now();
        let result = self
            .search_pages(base, relative_query, token, deadline, allowance)
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
        base: &FhirServer,
        relative_query: &str,
        token: Option<&str>,
        deadline: Instant,
        allowance: &Arc<CallAllowance>,
    ) -> Result<Search, FetchError> {
        // The base ends with `/` (FhirServer::check saw to it), so the query joins onto it.
        let base = base.url();
        let mut url = search_url(base, relative_query)?;
        let mut seen = HashSet::new();
        let mut search = Search {
            resources: Vec::new(),
            hold: self.budget.hold(),
        };
        for page in 1..=self.limits.max_pages {
            seen.insert(url.as_str().to_owned());
            let (body, hold) = self.get_page(&url, token, deadline, allowance).await?;
            let (read, hold) = self
                .read_page(body, hold, page == 1, deadline, allowance)
                .await?;
            search.hold.absorb(hold);
            let next = match read {
                PageRead::Resource(resource) => {
                    search.resources.push(*resource);
                    return Ok(search);
                }
                PageRead::Bundle {
                    resources, next, ..
                } => {
                    search.resources.extend(resources);
                    next
                }
            };
            let Some(next) = next.as_deref() else {
                tracing::debug!(
                    pages = page,
                    resources = search.resources.len(),
                    held_bytes = search.hold.held(),
                    "FHIR search complete"
                );
                return Ok(search);
            };
            let next = url.join(next).map_err(|_| FetchError::ForeignNextLink)?;
            if !same_origin(&next, base) {
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

    /// Reads a page's body into records on the blocking pool (a page of at most
    /// [`INLINE_PAGE_BYTES`] on the calling task), within the deadline. The body and its share of
    /// the budget go with it; what comes back holds only what the records cost.
    async fn read_page(
        &self,
        body: Vec<u8>,
        mut hold: BudgetHold,
        first_page: bool,
        deadline: Instant,
        allowance: &Arc<CallAllowance>,
    ) -> Result<(PageRead, BudgetHold), FetchError> {
        if body.len() <= INLINE_PAGE_BYTES {
            // A small page (most are: a search of a few dozen resources) is read here, on the
            // request's task: about a millisecond's work, which the two thread hand-offs of the
            // blocking pool would cost as much as. Its entries are still read against the
            // deadline and the call's caps.
            if Instant::now() >= deadline {
                return Err(FetchError::Deadline);
            }
            let read = read_page(&body, first_page, deadline.into_std(), allowance);
            let sent = body.len();
            drop(body);
            return read.map(|read| {
                hold.shrink_to(kept_of(&read, sent));
                (read, hold)
            });
        }
        let slot = tokio::time::timeout_at(deadline, self.readers.clone().acquire_owned())
            .await
            .map_err(|_| FetchError::Deadline)?
            .map_err(|_| FetchError::Reader)?;
        let allowance = Arc::clone(allowance);
        let std_deadline = deadline.into_std();
        let reading = tokio::task::spawn_blocking(move || {
            let _slot = slot;
            let read = read_page(&body, first_page, std_deadline, &allowance);
            let sent = body.len();
            drop(body);
            // Keep only what the records cost; the page's bytes are freed.
            hold.shrink_to(read.as_ref().map_or(0, |read| kept_of(read, sent)));
            read.map(|read| (read, hold))
        });
        // If the deadline passes first, the reading goes on unobserved until its own deadline
        // check (within a few dozen entries) stops it and frees what it holds.
        match tokio::time::timeout_at(deadline, reading).await {
            Err(_) => Err(FetchError::Deadline),
            Ok(Err(join_error)) => {
                tracing::error!(error = %join_error, "a FHIR page reader failed");
                Err(FetchError::Reader)
            }
            Ok(Ok(result)) => result,
        }
    }

    /// One page's body, retried at most once, with the share of the budget it holds.
    async fn get_page(
        &self,
        url: &Url,
        token: Option<&str>,
        deadline: Instant,
        allowance: &CallAllowance,
    ) -> Result<(Vec<u8>, BudgetHold), FetchError> {
        match self.get_page_once(url, token, deadline, allowance).await {
            Err(error)
                if error.is_retryable()
                    && deadline.saturating_duration_since(Instant::now())
                        >= self.limits.min_retry_budget =>
            {
                tracing::debug!(error = %error, "retrying a FHIR request once");
                self.get_page_once(url, token, deadline, allowance).await
            }
            result => result,
        }
    }

    async fn get_page_once(
        &self,
        url: &Url,
        token: Option<&str>,
        deadline: Instant,
        allowance: &CallAllowance,
    ) -> Result<(Vec<u8>, BudgetHold), FetchError> {
        let request_deadline = deadline.min(Instant::now() + self.limits.request_timeout);
        let started = Instant::now();
        let result = tokio::time::timeout_at(
            request_deadline,
            self.get_page_unbounded(url, token, deadline, allowance),
        )
        .await;
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

    async fn get_page_unbounded(
        &self,
        url: &Url,
        token: Option<&str>,
        deadline: Instant,
        allowance: &CallAllowance,
    ) -> Result<(Vec<u8>, BudgetHold), FetchError> {
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
        let mut hold = self.budget.hold();
        let body = read_budgeted(
            response,
            self.limits.max_response_bytes,
            &mut hold,
            deadline,
            allowance,
        )
        .await?;
        tracing::debug!(
            status = status.as_u16(),
            bytes = body.len(),
            "FHIR page received"
        );
        Ok((body, hold))
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

/// What a page's records keep of the budget once its bytes are freed: a single resource is
/// charged the page's size (`sent`), a Bundle what the reader measured ([`kept_cost`]).
fn kept_of(read: &PageRead, sent: usize) -> usize {
    match read {
        PageRead::Resource(resource) => kept_cost(std::slice::from_ref(resource), sent),
        PageRead::Bundle {
            resources,
            kept_bytes,
            ..
        } => kept_cost(resources, *kept_bytes),
    }
}

/// What the kept records of a page cost: the bytes they were read from (see
/// [`PageRead::Bundle`]'s `kept_bytes`), plus each record's fixed part; nothing when none is kept.
fn kept_cost(resources: &[Fetched], kept_bytes: usize) -> usize {
    let kept = resources
        .iter()
        .filter(|resource| !matches!(resource.resource.read, crate::fast::FastRead::Ignored))
        .count();
    if kept == 0 {
        return 0;
    }
    kept_bytes + kept * RECORD_OVERHEAD
}

/// Reads the body, failing as soon as it exceeds `limit` bytes (or announces that it will) or
/// the call's byte allowance, and paying for every byte from the memory budget before keeping it.
/// What is paid for is the buffer's capacity, not its length: that is what the memory costs.
async fn read_budgeted(
    mut response: reqwest::Response,
    limit: usize,
    hold: &mut BudgetHold,
    deadline: Instant,
    allowance: &CallAllowance,
) -> Result<Vec<u8>, FetchError> {
    let announced = response.content_length();
    if announced.is_some_and(|length| length > limit as u64) {
        return Err(FetchError::TooLarge { limit });
    }
    let mut body = Vec::new();
    if let Some(length) = announced.and_then(|length| usize::try_from(length).ok()) {
        // Paid for up front, so that a large body waits for its share once, not chunk by chunk.
        hold.grow_to(length, deadline).await?;
        body.reserve_exact(length);
    }
    while let Some(chunk) = response.chunk().await.map_err(FetchError::from_reqwest)? {
        if body.len() + chunk.len() > limit {
            return Err(FetchError::TooLarge { limit });
        }
        allowance.take_bytes(chunk.len())?;
        if body.capacity() - body.len() < chunk.len() {
            // Grow by doubling (as `Vec` would), but pay before allocating.
            let wanted = (body.len() + chunk.len())
                .max(body.capacity() * 2)
                .min(limit);
            hold.grow_to(wanted, deadline).await?;
            body.reserve_exact(wanted - body.len());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
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

#[cfg(test)]
pub(crate) mod tests;
