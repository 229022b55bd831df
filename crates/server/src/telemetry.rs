//! Structured logs: JSON lines when the output is not a terminal, readable text when it is.
//!
//! Every line logged while a request is handled carries the request's span fields (`request_id`,
//! and for hook calls `service` and `hook_instance`), because the subscriber prints the current
//! span with each event. What is never logged: access tokens, JWTs, patient ids, names, or any
//! other resource content. Tests check this.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use crate::settings::{LogFormat, LogSettings};

/// Crates whose debug and trace output may hold URLs, headers or bodies.
const QUIET_DEPENDENCIES: [&str; 7] = [
    "reqwest",
    "hyper",
    "hyper_util",
    "h2",
    "rustls",
    "tower_http",
    "wiremock",
];

/// Installs the global subscriber writing to stdout. Call once, at start-up.
pub fn init(settings: &LogSettings) {
    init_with_writer(settings, std::io::stdout, std::io::stdout().is_terminal());
}

/// Installs the global subscriber with a given writer. Returns quietly if one is already set
/// (tests start several servers in one process).
pub fn init_with_writer<W>(settings: &LogSettings, writer: W, is_terminal: bool)
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let mut filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&settings.filter))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    // HTTP and TLS libraries can print URLs (which hold patient ids in search queries), headers
    // (which hold tokens) or raw bytes at debug and trace. Whatever the filter says, they are
    // held at info, so no log level exposes what they see.
    for quiet in QUIET_DEPENDENCIES {
        if let Ok(directive) = format!("{quiet}=info").parse() {
            filter = filter.add_directive(directive);
        }
    }
    let json = match settings.format {
        LogFormat::Json => true,
        LogFormat::Pretty => false,
        LogFormat::Auto => !is_terminal,
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_target(true);
    let result = if json {
        builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .try_init()
    } else {
        builder.try_init()
    };
    // Already initialised (a second server in the same test process): keep the first.
    drop(result);
}
