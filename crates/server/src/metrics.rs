//! Operational metrics in the Prometheus text format, served at `GET /metrics`.
//!
//! Code anywhere in the service records through the `metrics` facade (`counter!`,
//! `histogram!`); the Prometheus recorder installed here keeps the numbers and renders them
//! on request. The recorder is process-wide, installed once however many apps a process runs
//! (the tests run many). It has no listener of its own: the axum router serves the page.
//!
//! Labels carry service ids, statuses, rule ids, reasons: never patient data, and never a
//! value a caller could choose freely without bound (unknown service ids are `unknown`).
//!
//! The metrics, all prefixed `gravida_`:
//!
//! | metric | labels |
//! |---|---|
//! | `http_requests_total`, `http_request_duration_seconds` | `endpoint`, `service`, `status` |
//! | `cards_total` | `rule`, `indicator` |
//! | `fhir_fetch_duration_seconds` | `outcome` (`ok` or a failure cause) |
//! | `fhir_fetch_failures_total` | `cause` |
//! | `auth_failures_total` | `reason` |
//! | `feedback_total` | `rule`, `outcome`, `reason` |
//! | `feedback_duplicates_total`, `feedback_unavailable_total` | |
//! | `audit_dropped_total` | `kind` |
//! | `replay_store_fallbacks_total` | |
//! | `cards_suppressed_total` | `reason` (`repeat`, `already-addressed`), `rule` |
//! | `suppression_checks_failed_total` | |
//! | `prefetch_reads_total` | `reader`: `fast`; `by-resource` when the fast reader declined and each resource it declined was read alone by the reference reader; `reference` when the whole request was |
//! | `http_connections_open` (gauge), `http_connections_total` | |
//! | `http_connections_closed_total` | `reason` (`header-timeout`, `idle-timeout`, `idle-at-cap`) |
//! | `http_connection_cap_waits_total` | |
//!
//! The connection metrics are recorded by the HTTP front (`startup.rs`), not by a middleware: a
//! connection closed for being slow never became a request.

use std::sync::OnceLock;
use std::time::Instant;

use axum::body::Body;
use axum::http::{HeaderValue, Request, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use gravida_rules::finding::Finding;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::card::LONG_FORM_PATH_PREFIX;
use crate::services;

/// Histogram buckets, in seconds: from a prefetch-only answer to a slow FHIR server.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// How often the recorder's histograms are folded into their buckets without a scrape.
const UPKEEP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

/// Installs the process-wide recorder (once) and returns its handle; `None` if another
/// recorder was installed first.
///
/// A histogram keeps each value recorded until the recorder's upkeep folds it into the buckets.
/// A scrape of `/metrics` runs the upkeep, but a replica that nobody scrapes (a development
/// machine, a site without Prometheus) would keep 8 bytes per request for ever: a thread of
/// its own runs it every [`UPKEEP_INTERVAL`] as well.
pub fn install() -> Option<&'static PrometheusHandle> {
    static UPKEEP: std::sync::Once = std::sync::Once::new();
    let handle = installed();
    if let Some(handle) = handle {
        UPKEEP.call_once(|| {
            let spawned = std::thread::Builder::new()
                .name("metrics-upkeep".to_owned())
                .spawn(move || {
                    loop {
                        std::thread::sleep(UPKEEP_INTERVAL);
                        handle.run_upkeep();
                    }
                });
            if let Err(e) = spawned {
                tracing::warn!(error = %e, "metrics upkeep thread not started");
            }
        });
    }
    handle
}

/// The recorder, installed on first use.
fn installed() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new().set_buckets(&BUCKETS);
            match builder.and_then(PrometheusBuilder::install_recorder) {
                Ok(handle) => Some(handle),
                Err(e) => {
                    tracing::warn!(error = %e, "metrics recorder not installed");
                    None
                }
            }
        })
        .as_ref()
}

/// `GET /metrics`: the current numbers in the Prometheus text format.
pub fn render() -> Response {
    let Some(handle) = HANDLE.get().and_then(Option::as_ref) else {
        return crate::error::ApiError::NotFound.into_response();
    };
    handle.run_upkeep();
    let mut response = handle.render().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

/// Middleware: counts every request and its latency by endpoint, service and status.
pub async fn track(request: Request<Body>, next: Next) -> Response {
    let (endpoint, service) = classify(request.uri().path());
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("gravida_http_requests_total",
        "endpoint" => endpoint, "service" => service, "status" => status.clone())
    .increment(1);
    metrics::histogram!("gravida_http_request_duration_seconds",
        "endpoint" => endpoint, "service" => service, "status" => status)
    .record(started.elapsed().as_secs_f64());
    response
}

/// The endpoint kind and the service id of a path; ids we do not offer become `unknown`, so a
/// caller cannot mint label values.
fn classify(path: &str) -> (&'static str, &'static str) {
    let service = |id: &str| services::find(id).map_or("unknown", |s| s.id);
    match path.strip_prefix("/cds-services") {
        Some("" | "/") => ("discovery", ""),
        Some(rest) => {
            let rest = rest.trim_start_matches('/');
            match rest.split_once('/') {
                None => ("hook", service(rest)),
                Some((id, "feedback")) => ("feedback", service(id)),
                Some(_) => ("other", ""),
            }
        }
        None => match path {
            "/metrics" => ("metrics", ""),
            "/healthz" | "/readyz" => ("health", ""),
            _ if path.starts_with(LONG_FORM_PATH_PREFIX) => ("long-form", ""),
            _ => ("other", ""),
        },
    }
}

/// Counts the cards of one answer (those shown) by rule and indicator, from the findings they
/// render.
pub fn count_cards<'a>(findings: impl IntoIterator<Item = &'a Finding>) {
    for finding in findings {
        metrics::counter!("gravida_cards_total",
            "rule" => finding.rule.as_str(), "indicator" => finding.indicator.as_str())
        .increment(1);
    }
}

/// Counts the cards of silent rules, recorded and never sent (`gravida_silent_cards_total`), by
/// rule and indicator: what a silent rule would have shown.
pub fn count_silent_cards<'a>(findings: impl IntoIterator<Item = &'a Finding>) {
    for finding in findings {
        metrics::counter!("gravida_silent_cards_total",
            "rule" => finding.rule.as_str(), "indicator" => finding.indicator.as_str())
        .increment(1);
    }
}

/// A label value from caller input (an override reason code): kept if short and plain, else
/// `other`, so a caller cannot flood the metrics with values.
/// Counts what the readers could not read, by kind (`gravida_records_unread_total`): a resource
/// that is not one, does not parse, is read in part, carries an unknown modifier extension, is
/// another patient's, or an input that could not be had. Each is also named on the cards; the
/// counter lets an operator see an EHR's shapes going wrong before a clinician does.
pub fn count_unread(diagnostics: &[gravida_fhir::Diagnostic]) {
    for d in diagnostics {
        metrics::counter!("gravida_records_unread_total", "kind" => d.kind.as_str()).increment(1);
    }
}

pub fn bounded_label(value: &str) -> String {
    let plain = value.len() <= 40
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if plain {
        value.to_owned()
    } else {
        "other".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_classified_without_letting_callers_mint_labels() {
        assert_eq!(classify("/cds-services"), ("discovery", ""));
        assert_eq!(
            classify("/cds-services/gravida-patient-view"),
            ("hook", "gravida-patient-view")
        );
        assert_eq!(
            classify("/cds-services/gravida-order-sign/feedback"),
            ("feedback", "gravida-order-sign")
        );
        assert_eq!(classify("/cds-services/made-up-123"), ("hook", "unknown"));
        assert_eq!(classify("/metrics"), ("metrics", ""));
        assert_eq!(classify("/nope"), ("other", ""));
        assert_eq!(classify("/cards/abc"), ("long-form", ""));
    }

    #[test]
    fn one_thread_folds_the_histograms_however_often_the_recorder_is_asked_for() {
        // Linux names a thread in /proc; the name is cut at 15 bytes.
        let upkeep_threads = || {
            std::fs::read_dir("/proc/self/task")
                .unwrap()
                .flatten()
                .filter(|task| {
                    std::fs::read_to_string(task.path().join("comm"))
                        .is_ok_and(|name| name.trim() == "metrics-upkeep")
                })
                .count()
        };
        install().expect("nothing else installs a recorder in this test process");
        install();
        // A spawned thread names itself once it runs: wait for it (a second at most).
        for _ in 0..100 {
            if upkeep_threads() > 0 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert_eq!(upkeep_threads(), 1);
    }

    #[test]
    fn odd_reason_codes_become_other() {
        assert_eq!(bounded_label("already-done"), "already-done");
        assert_eq!(bounded_label("a b"), "other");
        assert_eq!(bounded_label(&"x".repeat(41)), "other");
    }
}
