//! The demo page, `/demo`: plain HTML, CSS and JavaScript compiled into the binary, plus the
//! patient list it reads at `/demo/patients.json`.
//!
//! Every asset is sent with a strict Content-Security-Policy: scripts and styles from this
//! origin only, no inline script, no frames, no forms posting elsewhere. Card Markdown is parsed
//! by a vendored markdown-it (`assets/markdown-it.umd.min.js`, licence and version in
//! `assets/markdown-it.LICENSE`) with raw HTML off, and `app.js` turns its tokens into DOM nodes,
//! so nothing a card says can become markup; the policy is the second line of defence.

use std::sync::Arc;

use axum::http::{HeaderName, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use super::data::DemoData;

const INDEX_HTML: &str = include_str!("assets/index.html");
const APP_JS: &str = include_str!("assets/app.js");
const APP_CSS: &str = include_str!("assets/app.css");
const MARKDOWN_IT_JS: &str = include_str!("assets/markdown-it.umd.min.js");

/// Scripts, styles and fetches from this origin only; links may open anywhere (a card's
/// source); nothing may frame the page.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// The page's routes.
pub fn routes(data: Arc<DemoData>, fhir_base: &str) -> Router {
    // The list is fixed at start-up: build it once.
    let patients = Arc::new(json!({
        "fhirServer": fhir_base,
        "patients": data.patients,
    }));
    Router::new()
        .route(
            "/demo",
            get(|| async { asset("text/html; charset=utf-8", INDEX_HTML) }),
        )
        .route(
            "/demo/",
            get(|| async { asset("text/html; charset=utf-8", INDEX_HTML) }),
        )
        .route(
            "/demo/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }),
        )
        .route(
            "/demo/markdown-it.umd.min.js",
            get(|| async { asset("text/javascript; charset=utf-8", MARKDOWN_IT_JS) }),
        )
        .route(
            "/demo/app.css",
            get(|| async { asset("text/css; charset=utf-8", APP_CSS) }),
        )
        .route(
            "/demo/patients.json",
            get(move || {
                let patients = Arc::clone(&patients);
                async move { Json(patients.as_ref().clone()) }
            }),
        )
}

/// An embedded asset with the security headers.
fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        HeaderName::from_static("referrer-policy"),
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}
