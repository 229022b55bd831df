//! The governance console: a read-only web page, `GET /admin`, on a listener of its own
//! (`[admin] listen`, off by default, never the EHR-facing one), built from the audit store.
//!
//! Per ISO week, per rule and per hook: cards fired (shown and silent), accepted, overridden,
//! override reasons (standard codes grouped), suggestions taken, and the share of calls that
//! fired; with the profile versions of each week ([`gravida_store::Store::weekly`]). Plots are
//! SVG drawn on the server ([`plots`]), the page has no script at all (its CSP forbids one) and
//! prints on paper. `/admin/report.json` and `/admin/report.csv` give the same numbers as
//! `gravida report --format json|csv`.
//!
//! **Access.** With a token (`admin.token`, required off loopback) every path answers 401
//! without `Authorization: Bearer <token>`, compared in constant time. **Never a patient
//! identifier**: the page is built from counts grouped by week, rule, hook, reason and
//! suggestion label; no query it runs selects a patient hash, an encounter or a card id.

mod page;
pub mod plots;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use gravida_store::Store;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use tokio::net::TcpListener;

use crate::audit::unix_ms;
use crate::export;

/// How many weeks the console shows unless asked (`?weeks=`).
pub const DEFAULT_WEEKS: u32 = 12;

/// What the console's handlers share.
#[derive(Debug, Clone)]
pub struct Console {
    store: Store,
    /// The bearer token's SHA-256; `None`: no token asked (loopback only, see settings).
    token_digest: Option<[u8; 32]>,
}

impl Console {
    pub fn new(store: Store, token: Option<&str>) -> Console {
        Console {
            store,
            token_digest: token.map(|t| Sha256::digest(t.as_bytes()).into()),
        }
    }

    /// Whether the request carries the token. Both sides are hashed first, so the comparison
    /// takes the same time whatever the length or the content of what was sent, and it is
    /// done on every byte (no early exit).
    fn admits(&self, headers: &HeaderMap) -> bool {
        let Some(expected) = &self.token_digest else {
            return true;
        };
        let Some(given) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
        else {
            return false;
        };
        let given: [u8; 32] = Sha256::digest(given.trim().as_bytes()).into();
        given
            .iter()
            .zip(expected)
            .fold(0u8, |diff, (a, b)| diff | (a ^ b))
            == 0
    }
}

/// The console's routes. Any other path is 404 (after the token check).
pub fn router(console: Console) -> Router {
    let console = Arc::new(console);
    Router::new()
        .route("/admin", get(html))
        .route("/admin/", get(html))
        .route("/admin/report.json", get(report_json))
        .route("/admin/report.csv", get(report_csv))
        .fallback(not_found)
        .with_state(console)
}

/// `?weeks=N`: how far back (1 to 520; default [`DEFAULT_WEEKS`]).
#[derive(Debug)]
struct Period {
    weeks: Option<u32>,
}

impl Period {
    /// Read by hand rather than by axum's `Query`, whose rejection (400) would answer before
    /// the token is checked: without the token, every request is 401. Anything unreadable is
    /// the default.
    fn from_query(query: Option<&str>) -> Period {
        let weeks = query
            .unwrap_or("")
            .split('&')
            .find_map(|pair| pair.strip_prefix("weeks="))
            .and_then(|n| n.parse().ok());
        Period { weeks }
    }

    fn weeks(&self) -> u32 {
        self.weeks.unwrap_or(DEFAULT_WEEKS).clamp(1, 520)
    }

    /// The Monday (UTC, 00:00) that opens the period: this week and the `weeks - 1` before it.
    fn since_ms(&self, now: OffsetDateTime) -> i64 {
        let day = unix_ms(now).div_euclid(86_400_000);
        let week = (day + 3).div_euclid(7);
        (week - i64::from(self.weeks()) + 1) * 7 * 86_400_000 - 3 * 86_400_000
    }
}

async fn html(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    answer(
        &console,
        &headers,
        query.as_deref(),
        |weekly, weeks, now| ("text/html; charset=utf-8", page::render(weekly, weeks, now)),
    )
    .await
}

async fn report_json(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    answer(&console, &headers, query.as_deref(), |weekly, _, _| {
        ("application/json", format!("{:#}\n", export::json(weekly)))
    })
    .await
}

async fn report_csv(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    answer(&console, &headers, query.as_deref(), |weekly, _, _| {
        ("text/csv; charset=utf-8", export::csv(weekly))
    })
    .await
}

/// What every console path does: the token first (so that a request without it learns nothing,
/// not even that its query was malformed), then the period's numbers from the store, answered in
/// the form `render` gives them (its content type and body).
async fn answer(
    console: &Console,
    headers: &HeaderMap,
    query: Option<&str>,
    render: impl FnOnce(&gravida_store::Weekly, u32, OffsetDateTime) -> (&'static str, String),
) -> Response {
    if !console.admits(headers) {
        return unauthorized();
    }
    let period = Period::from_query(query);
    let now = OffsetDateTime::now_utc();
    match console.store.weekly(period.since_ms(now)).await {
        Ok(weekly) => {
            let (content_type, body) = render(&weekly, period.weeks(), now);
            respond(content_type, body)
        }
        Err(e) => unavailable(&e),
    }
}

async fn not_found(State(console): State<Arc<Console>>, headers: HeaderMap) -> Response {
    if !console.admits(&headers) {
        return unauthorized();
    }
    (StatusCode::NOT_FOUND, "not found\n").into_response()
}

/// A page or export, never cached (it is the audit trail's numbers) and never scripted.
fn respond(content_type: &'static str, body: String) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; \
             frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
        ),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

fn unauthorized() -> Response {
    let mut response = (
        StatusCode::UNAUTHORIZED,
        "the governance console needs its bearer token\n",
    )
        .into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"gravida-admin\""),
    );
    response
}

fn unavailable(error: &gravida_store::StoreError) -> Response {
    tracing::error!(error = %error, "the console cannot read the audit store");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        "the audit store cannot be read now\n",
    )
        .into_response()
}

/// Binds the console's listener, or says why it cannot.
pub async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    use anyhow::Context as _;
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding the governance console on {addr}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bearer(token: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {token}")).expect("a header value"),
        );
        headers
    }

    fn console(token: Option<&str>) -> Console {
        let store = Store::open_lazy("sqlite::memory:").expect("an in-memory store");
        Console::new(store, token)
    }

    #[tokio::test]
    async fn only_the_configured_token_is_admitted() {
        let console = console(Some("the-right-token-123"));
        assert!(console.admits(&bearer("the-right-token-123")));
        assert!(!console.admits(&bearer("the-right-token-124")));
        assert!(!console.admits(&bearer("")));
        assert!(!console.admits(&HeaderMap::new()));
    }

    #[tokio::test]
    async fn without_a_configured_token_everyone_on_the_listener_is_admitted() {
        assert!(console(None).admits(&HeaderMap::new()));
    }

    #[test]
    fn the_period_is_read_from_the_query_and_anything_else_is_the_default() {
        assert_eq!(Period::from_query(Some("weeks=4")).weeks(), 4);
        assert_eq!(Period::from_query(Some("x=1&weeks=9999")).weeks(), 520);
        assert_eq!(Period::from_query(Some("weeks=0")).weeks(), 1);
        assert_eq!(Period::from_query(Some("weeks=abc")).weeks(), DEFAULT_WEEKS);
        assert_eq!(Period::from_query(None).weeks(), DEFAULT_WEEKS);
    }

    #[test]
    fn the_period_opens_on_a_monday_at_midnight_utc() {
        // Wednesday 2026-12-09 12:00 UTC; two weeks: from Monday 2026-11-30.
        let now = time::macros::datetime!(2026-12-09 12:00 UTC);
        let since = Period { weeks: Some(2) }.since_ms(now);
        assert_eq!(since, unix_ms(time::macros::datetime!(2026-11-30 0:00 UTC)));
    }
}
