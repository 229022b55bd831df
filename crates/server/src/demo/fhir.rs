//! The demo's read-only FHIR R4 endpoint, `/demo/fhir`: a CapabilityStatement, reads by id and
//! searches by `patient` and `code`, answered as searchset Bundles in `application/fhir+json`.
//!
//! It holds only the synthetic patients of [`DemoData`], needs no token, and refuses every
//! method but GET with 405. Errors are OperationOutcomes ([`FhirApiError`]).

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::data::{DemoData, RESOURCE_TYPES};
use crate::error::{FHIR_JSON, FhirApiError};

/// What the FHIR handlers share.
#[derive(Debug, Clone)]
struct FhirState {
    data: Arc<DemoData>,
    /// The endpoint's absolute base (`http://127.0.0.1:8080/demo/fhir`), for `fullUrl`s.
    base: Arc<str>,
}

/// The `/demo/fhir` routes. Every path below it that is not a read or a search is a 404
/// OperationOutcome; every method but GET is a 405.
pub fn routes(data: Arc<DemoData>, base: &str) -> Router {
    let state = FhirState {
        data,
        base: base.trim_end_matches('/').into(),
    };
    let read_only = |route: axum::routing::MethodRouter<FhirState>| {
        route.fallback(|| async { FhirApiError::ReadOnly })
    };
    let endpoint = Router::new()
        .route("/metadata", read_only(get(capabilities)))
        .route("/{resource_type}", read_only(get(search)))
        .route("/{resource_type}/{id}", read_only(get(read)))
        .route("/", read_only(get(unknown_path)))
        .fallback(unknown_path)
        .with_state(state);
    // Nested, its fallback answers every other path below `/demo/fhir` with an
    // OperationOutcome, without touching the service's own fallback.
    Router::new().nest("/demo/fhir", endpoint)
}

/// A FHIR JSON response.
fn fhir_json(value: Value) -> Response {
    let mut response = Json(value).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(FHIR_JSON));
    response
}

async fn capabilities() -> Response {
    let resources: Vec<Value> = RESOURCE_TYPES
        .iter()
        .map(|t| {
            json!({
                "type": t,
                "interaction": [{"code": "read"}, {"code": "search-type"}],
                "searchParam": [
                    {"name": "patient", "type": "reference"},
                    {"name": "subject", "type": "reference"},
                    {"name": "code", "type": "token"}
                ]
            })
        })
        .collect();
    fhir_json(json!({
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": env!("CARGO_PKG_VERSION"),
        "kind": "instance",
        "software": {"name": "Gravida demo FHIR server", "version": env!("CARGO_PKG_VERSION")},
        "description": "Synthetic patients for the Gravida demo. Read-only; no authentication.",
        "fhirVersion": "4.0.1",
        "format": ["json"],
        "rest": [{"mode": "server", "resource": resources}]
    }))
}

fn known_type(resource_type: &str) -> Result<(), FhirApiError> {
    if RESOURCE_TYPES.contains(&resource_type) {
        Ok(())
    } else {
        Err(FhirApiError::NotFound(
            "this server holds no resources of that type".to_owned(),
        ))
    }
}

async fn read(
    State(state): State<FhirState>,
    Path((resource_type, id)): Path<(String, String)>,
) -> Result<Response, FhirApiError> {
    known_type(&resource_type)?;
    let resource = state
        .data
        .read(&resource_type, &id)
        .ok_or_else(|| FhirApiError::NotFound(format!("{resource_type} not found")))?;
    Ok(fhir_json(resource.clone()))
}

async fn search(
    State(state): State<FhirState>,
    Path(resource_type): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, FhirApiError> {
    known_type(&resource_type)?;
    let params: Vec<(String, String)> =
        url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
    for (name, _) in &params {
        // Result parameters (`_count`, `_sort`, ...) are accepted and ignored: every match fits
        // on one page. Any other parameter would silently widen the search, so it is refused.
        let supported = matches!(name.as_str(), "patient" | "subject" | "code" | "date");
        if !supported && !name.starts_with('_') {
            return Err(FhirApiError::BadSearch(
                "unsupported search parameter: use patient, subject, code or date".to_owned(),
            ));
        }
    }
    let matches = state.data.search(&resource_type, &params);
    let entries: Vec<Value> = matches
        .iter()
        .map(|r| {
            let id = r["id"].as_str().unwrap_or_default();
            json!({
                "fullUrl": format!("{}/{resource_type}/{id}", state.base),
                "resource": r,
                "search": {"mode": "match"}
            })
        })
        .collect();
    Ok(fhir_json(json!({
        "resourceType": "Bundle",
        "type": "searchset",
        "total": entries.len(),
        "entry": entries
    })))
}

async fn unknown_path() -> FhirApiError {
    FhirApiError::NotFound("no such FHIR endpoint".to_owned())
}
