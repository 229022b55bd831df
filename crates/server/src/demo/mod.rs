//! `gravida demo`: the service plus a pretend EHR on the same address, for seeing Gravida's
//! cards in a chart with no EHR at hand.
//!
//! Three things share one listener:
//! - the service itself, exactly as `serve` runs it (`/cds-services/...`);
//! - `/demo/fhir`, a read-only FHIR R4 endpoint holding synthetic patients ([`data`]), dated
//!   relative to today, with no token and CORS for any origin ([`fhir`]);
//! - `/demo`, a page that plays the EHR ([`page`]): it calls the real hook endpoints with
//!   `fhirServer` set to `/demo/fhir` and no prefetch, so every call exercises the fetch path.
//!
//! The demo is unauthenticated: it shows synthetic data only. It listens on loopback unless
//! `--public` is given. With `--public` the address must be unspecified (`0.0.0.0` or `[::]`):
//! the service fetches from its own `/demo/fhir` over loopback, because `fhirServer` may be plain
//! http only on loopback, and an unspecified address is the one that is also reachable there.

pub mod data;
pub mod dry_run;
pub mod fhir;
pub mod fill;
pub mod page;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::Method;
use time::OffsetDateTime;
use tower_http::cors::{AllowHeaders, Any, CorsLayer};

use crate::settings::Settings;
use crate::startup::Application;

/// Why `gravida demo` refuses to start.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error(
        "refusing to run the demo on {0}: it is unauthenticated; listen on loopback, \
         or pass --public to show it on the network"
    )]
    NotLoopback(SocketAddr),
    #[error(
        "--public needs an unspecified address (0.0.0.0 or [::]), not {0}: the service \
         fetches from its own /demo/fhir over loopback"
    )]
    PublicNeedsUnspecified(SocketAddr),
    #[error("the demo data: {0}")]
    Data(#[from] data::DemoDataError),
}

/// Checks the address the demo may listen on; see the module documentation.
pub fn check_listen(listen: SocketAddr, public: bool) -> Result<(), DemoError> {
    let ip = listen.ip();
    match (ip.is_loopback(), public) {
        (true, _) => Ok(()),
        (false, false) => Err(DemoError::NotLoopback(listen)),
        (false, true) if ip.is_unspecified() => Ok(()),
        (false, true) => Err(DemoError::PublicNeedsUnspecified(listen)),
    }
}

/// Builds the service with the demo beside it: checks the address, makes the service
/// unauthenticated (trusted issuers are dropped; `insecure_no_auth` follows `--public`), binds,
/// and adds the demo's routes.
pub async fn build(mut settings: Settings, public: bool) -> anyhow::Result<Application> {
    check_listen(settings.listen, public)?;
    if !settings.auth.issuers.is_empty() {
        tracing::warn!("the demo is unauthenticated: ignoring the configured trusted issuers");
        settings.auth.issuers.clear();
    }
    settings.insecure_no_auth = public;
    let data = Arc::new(data::DemoData::load(OffsetDateTime::now_utc().date())?);
    let app = Application::build(settings).await?;
    let fhir_base = format!("http://{}/demo/fhir", loopback_of(app.local_addr()));
    tracing::info!(
        page = format!("http://{}/demo", app.local_addr()),
        fhir = fhir_base.as_str(),
        patients = data.patients.len(),
        "demo ready"
    );
    let routes = Router::new()
        .merge(fhir::routes(Arc::clone(&data), &fhir_base))
        .merge(page::routes(data, &fhir_base))
        .layer(cors());
    Ok(app.with_routes(routes))
}

/// The loopback address that reaches a listener on `addr` (the same address if it is loopback).
fn loopback_of(addr: SocketAddr) -> SocketAddr {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, addr.port())
}

/// CORS for the demo's routes: a browser-based CDS client on another origin (the public CDS
/// Hooks sandbox, say) may read `/demo/fhir`. GET only, any header, no credentials: the data is
/// synthetic.
fn cors() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::HEAD, Method::OPTIONS])
        // Mirrored, not `*`: a wildcard does not cover `Authorization`, which FHIR clients send.
        .allow_headers(AllowHeaders::mirror_request())
        // A page on a public origin calling loopback: Chromium asks this of the preflight.
        .allow_private_network(true)
        .max_age(Duration::from_secs(600))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().expect("a socket address")
    }

    #[test]
    fn the_demo_listens_on_loopback_or_with_public_on_an_unspecified_address_only() {
        assert!(check_listen(addr("127.0.0.1:8080"), false).is_ok());
        assert!(check_listen(addr("[::1]:8080"), false).is_ok());
        assert!(check_listen(addr("0.0.0.0:8080"), false).is_err());
        assert!(check_listen(addr("0.0.0.0:8080"), true).is_ok());
        assert!(check_listen(addr("[::]:8080"), true).is_ok());
        assert!(check_listen(addr("192.0.2.7:8080"), true).is_err());
    }

    #[test]
    fn the_service_reaches_its_own_fhir_endpoint_over_loopback() {
        assert_eq!(loopback_of(addr("0.0.0.0:9")), addr("127.0.0.1:9"));
        assert_eq!(loopback_of(addr("[::]:9")), addr("[::1]:9"));
        assert_eq!(loopback_of(addr("127.0.0.2:9")), addr("127.0.0.2:9"));
    }
}
