//! Why a FHIR search failed: the one error the client, the page reader and the memory budget share.
//!
//! It lives below all three (`client.rs` fetches, `page.rs` reads what was fetched, `budget.rs`
//! pays for it), so that each names this module and none names another for its error.

use thiserror::Error;

use crate::prefetch::OutcomeSummary;

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
    /// The replica's memory budget for FHIR responses could not spare the bytes before the
    /// deadline (other calls hold it), or the response is larger than the whole budget.
    #[error("the replica's memory budget for FHIR responses was not available before the deadline")]
    Budget,
    /// The call's searches together returned more Bundle entries than a call may read.
    #[error("the FHIR searches of this call returned more than {limit} entries")]
    TooManyEntries { limit: usize },
    /// The call's searches together returned more bytes than a call may read.
    #[error("the FHIR responses of this call are larger than {limit} bytes in all")]
    CallTooLarge { limit: usize },
    /// Reading a page failed inside Gravida (a bug, never the server's doing).
    #[error("reading a FHIR page failed inside Gravida")]
    Reader,
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
            FetchError::Budget => "memory-budget",
            FetchError::TooManyEntries { .. } => "too-many-entries",
            FetchError::CallTooLarge { .. } => "call-too-large",
            FetchError::Reader => "reader",
            FetchError::ForeignNextLink => "foreign-next-link",
            FetchError::PagingLoop => "paging-loop",
            FetchError::InvalidQuery => "invalid-query",
        }
    }

    /// Safe to retry once: the request did not reach the server, or a gateway said so.
    pub(crate) fn is_retryable(&self) -> bool {
        match self {
            FetchError::Connect(_) => true,
            FetchError::Status { status, .. } => matches!(status, 502..=504),
            _ => false,
        }
    }

    pub(crate) fn from_reqwest(error: reqwest::Error) -> Self {
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
