//! A FHIR server stub that answers at once, for the benchmark's fetch request.
//!
//! It knows one answer per search: the rendered prefetch template (e.g.
//! `Observation?patient=bench-pub01&code=http://loinc.org|8665-2,...`) and the Bundle to return,
//! serialised once up front. A request is matched on its path and its decoded query parameters,
//! so it does not matter how the client percent-encodes `|` and `,`. Anything else gets 404, which
//! Gravida would turn into a failed call, which the benchmark counts as a wrong answer.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use url::Url;

/// A search, normalised: the path below the base and the sorted query parameters.
type SearchKey = (String, Vec<(String, String)>);

/// Where the stub is mounted on its address.
pub const BASE_PATH: &str = "/fhir";

/// Normalises `relative` (below the FHIR base, e.g. `Condition?patient=x`).
fn search_key(relative: &str) -> Option<SearchKey> {
    let url = Url::parse("http://stub/").ok()?.join(relative).ok()?;
    let mut params: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    params.sort();
    Some((url.path().trim_start_matches('/').to_owned(), params))
}

/// Starts the stub on a loopback port of the current tokio runtime. `answers` pairs each rendered
/// search with its JSON body. Returns the address; the server runs until the runtime stops.
pub async fn start(answers: Vec<(String, String)>) -> anyhow::Result<SocketAddr> {
    let answers: HashMap<SearchKey, Arc<str>> = answers
        .into_iter()
        .filter_map(|(relative, body)| Some((search_key(&relative)?, Arc::from(body))))
        .collect();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let app = Router::new().fallback(answer).with_state(Arc::new(answers));
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(address)
}

async fn answer(State(answers): State<Arc<HashMap<SearchKey, Arc<str>>>>, uri: Uri) -> Response {
    let relative = uri
        .path_and_query()
        .map(|pq| pq.as_str())
        .unwrap_or_default()
        .trim_start_matches(BASE_PATH)
        .trim_start_matches('/');
    match search_key(relative).and_then(|key| answers.get(&key)) {
        Some(body) => (
            [(header::CONTENT_TYPE, "application/fhir+json")],
            body.to_string(),
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_encoding_does_not_change_the_search() {
        assert_eq!(
            search_key("Observation?patient=p&code=http://loinc.org|1,http://loinc.org|2"),
            search_key(
                "Observation?code=http%3A%2F%2Floinc.org%7C1%2Chttp%3A%2F%2Floinc.org%7C2&patient=p"
            )
        );
        assert_ne!(
            search_key("Condition?patient=p"),
            search_key("Condition?patient=q")
        );
    }
}
