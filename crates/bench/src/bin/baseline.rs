//! The benchmark's baseline: a bare axum server whose hook handler only parses the JSON body
//! into a `serde_json::Value` and answers `{"cards": []}`.
//!
//! It is the floor: what any Rust CDS service must spend to accept the same request. Gravida's
//! figures are reported as ratios to it, measured in the same run on the same machine.
//!
//! `baseline 127.0.0.1:PORT` serves `POST /cds-services/{id}` and `GET /readyz`.

/// mimalloc, as the `gravida` binary: the floor pays for the same allocator, so the ratios
/// compare the work done and not the allocators.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use axum::Router;
use axum::body::Bytes;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

/// Parses the body, so the work cannot be skipped, and answers no cards.
async fn hook(body: Bytes) -> Response {
    match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(request) if request.is_object() => (
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            r#"{"cards":[]}"#,
        )
            .into_response(),
        _ => StatusCode::BAD_REQUEST.into_response(),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let address = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8090".to_owned());
    let app = Router::new()
        .route("/cds-services/{id}", post(hook))
        .route("/readyz", get(|| async { "ready" }));
    let listener = tokio::net::TcpListener::bind(&address).await?;
    axum::serve(listener, app).await?;
    Ok(())
}
