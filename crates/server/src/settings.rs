//! Typed settings: built-in defaults, overridden by a TOML file, overridden by `GRAVIDA_` variables.
//!
//! The layering is done on a TOML document before anything is typed, so every source goes through
//! the same `serde` checks: an unknown key is an error wherever it comes from, and an environment
//! variable is parsed exactly as if it had been written in the file.
//!
//! `GRAVIDA_FHIR__DEADLINE_MS=1500` sets `[fhir] deadline_ms = 1500`: the prefix is dropped, `__`
//! separates table levels, and names are lower-cased. The value is read as a TOML value when it
//! parses as one (`1500`, `true`, `["a", "b"]`), and as a string otherwise.
//!
//! Not every `GRAVIDA_` variable is ours. Kubernetes injects service links for a Service named
//! `gravida` into every pod of the namespace (`GRAVIDA_SERVICE_HOST`, `GRAVIDA_PORT`,
//! `GRAVIDA_PORT_80_TCP_ADDR`, …), and the platform must never be able to stop a pod from
//! starting. So a variable is a setting when it names one: it has `__` (a key in a section, and
//! the section must exist), or it is exactly a top-level key. Any other `GRAVIDA_` variable is
//! not a setting: it is ignored and its name (never its value) is reported, quietly for the
//! service-link shapes and as a warning otherwise. A typo in a real key (`GRAVIDA_FHIR__DEADLINE`,
//! `GRAVIDA_FHR__DEADLINE_MS`) stays an error.
//!
//! This file holds [`Settings`] itself, its loading (the layering) and the checks across sections;
//! each section's type is in `settings/`, one file per concept: `auth.rs`, `fhir.rs`, `http.rs`
//! (with `[cors]`), `store.rs`, `cards.rs` (with `[rule_modes]`), `telemetry.rs` (`[log]` and
//! `[metrics]`), `admin.rs`; and the `GRAVIDA_` variables are read by `env.rs`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use url::Url;

mod admin;
mod auth;
mod cards;
mod env;
mod fhir;
mod http;
mod store;
mod telemetry;

pub use admin::{AdminSettings, MIN_TOKEN_CHARS};
pub use auth::{AuthSettings, IssuerAudience, IssuerSettings};
pub use cards::{CardSettings, RuleModeSettings};
use env::{EnvName, SECTIONS, classify_env_name, parse_env_value, set_path};
pub use fhir::FhirSettings;
pub use http::{CorsSettings, HttpSettings};
pub use store::StoreSettings;
pub use telemetry::{LogFormat, LogSettings, MetricsSettings};

/// Everything the service can be configured with. The README lists every key.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The address to listen on.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// The base URL that EHRs use to reach this service (and that a JWT's `aud` must name).
    /// Defaults to `http://{listen}`.
    #[serde(default)]
    pub public_base_url: Option<Url>,
    /// A knowledge profile folder. Defaults to the profile compiled into the binary.
    #[serde(default)]
    pub profiles: Option<PathBuf>,
    /// Allow a non-loopback listen address with no trusted issuers. Never in production.
    #[serde(default)]
    pub insecure_no_auth: bool,
    /// The site's IANA time zone: "today" for gestational age (knowledge.md §3.5 item 3).
    #[serde(default)]
    pub time_zone: crate::clock::SiteTimeZone,
    #[serde(default)]
    pub fhir: FhirSettings,
    #[serde(default)]
    pub http: HttpSettings,
    #[serde(default)]
    pub cors: CorsSettings,
    #[serde(default)]
    pub log: LogSettings,
    #[serde(default)]
    pub auth: AuthSettings,
    #[serde(default)]
    pub store: StoreSettings,
    #[serde(default)]
    pub metrics: MetricsSettings,
    #[serde(default)]
    pub cards: CardSettings,
    /// The governance console's own listener (off by default).
    #[serde(default)]
    pub admin: AdminSettings,
    /// Each rule's mode on this site, over the profile's (`[rule_modes] R12 = "off"`, or
    /// `GRAVIDA_RULE_MODES="R12=off,R3=silent"`, or `GRAVIDA_RULE_MODES__R3=silent`). Checked
    /// against the profile at start-up (`KnowledgeBase::with_site_modes`).
    #[serde(default)]
    pub rule_modes: RuleModeSettings,
    /// `GRAVIDA_` variables that are not settings, by name only (see the module doc), for the
    /// caller to log once logging is set up.
    #[serde(skip)]
    pub ignored_env: Vec<IgnoredVariable>,
}

/// A `GRAVIDA_` environment variable that names no setting and was ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IgnoredVariable {
    /// The variable's name. Its value is never kept: it may be anything.
    pub name: String,
    /// True when the name has the shape of a Kubernetes service link, which is expected in a pod.
    pub service_link: bool,
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}

/// Why settings could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{origin}: {message}")]
    Invalid { origin: String, message: String },
}

impl Settings {
    /// Loads settings from the optional TOML file and the process environment.
    pub fn load(file: Option<&Path>) -> Result<Settings, SettingsError> {
        Settings::load_from(file, std::env::vars())
    }

    /// Loads settings from the optional TOML file and the given environment (for tests).
    pub fn load_from(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Settings, SettingsError> {
        let mut doc = toml::Table::new();
        let mut origin = "built-in defaults".to_owned();
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|source| SettingsError::Read {
                path: path.to_owned(),
                source,
            })?;
            doc = text
                .parse::<toml::Table>()
                .map_err(|e| SettingsError::Invalid {
                    origin: path.display().to_string(),
                    message: e.to_string(),
                })?;
            origin = path.display().to_string();
            // Relative paths in the file are relative to the file, not to the working directory.
            let base = path.parent().unwrap_or(Path::new("."));
            resolve_relative(&mut doc, "profiles", base);
            if let Some(toml::Value::Table(store)) = doc.get_mut("store") {
                resolve_relative(store, "data_dir", base);
                resolve_relative(store, "url_file", base);
                resolve_relative(store, "patient_key_file", base);
            }
            if let Some(toml::Value::Table(admin)) = doc.get_mut("admin") {
                resolve_relative(admin, "token_file", base);
            }
            if let Some(toml::Value::Table(auth)) = doc.get_mut("auth")
                && let Some(toml::Value::Array(issuers)) = auth.get_mut("issuers")
            {
                for issuer in issuers.iter_mut() {
                    if let toml::Value::Table(issuer) = issuer {
                        resolve_relative(issuer, "jwks_file", base);
                    }
                }
            }
        }
        let mut env_keys = Vec::new();
        let mut ignored_env = Vec::new();
        for (name, raw) in env {
            let Some(rest) = name.strip_prefix("GRAVIDA_") else {
                continue;
            };
            // Variables the test harness reads are not settings.
            if rest.starts_with("TEST_") {
                continue;
            }
            let path = match classify_env_name(rest) {
                EnvName::Setting(path) => path,
                EnvName::UnknownSection(section) => {
                    return Err(SettingsError::Invalid {
                        origin: name.clone(),
                        message: format!(
                            "unknown section `{section}` (sections: {})",
                            SECTIONS.join(", ")
                        ),
                    });
                }
                EnvName::Other { service_link } => {
                    ignored_env.push(IgnoredVariable { name, service_link });
                    continue;
                }
            };
            set_path(&mut doc, &path, parse_env_value(&raw)).map_err(|message| {
                SettingsError::Invalid {
                    origin: name.clone(),
                    message,
                }
            })?;
            env_keys.push(name);
        }
        if !env_keys.is_empty() {
            origin = format!("{origin} with {}", env_keys.join(", "));
        }
        let mut settings: Settings =
            toml::Value::Table(doc)
                .try_into()
                .map_err(|e: toml::de::Error| SettingsError::Invalid {
                    origin: origin.clone(),
                    message: e.message().to_owned(),
                })?;
        settings
            .validate()
            .map_err(|message| SettingsError::Invalid { origin, message })?;
        ignored_env.sort_by(|a, b| a.name.cmp(&b.name));
        settings.ignored_env = ignored_env;
        Ok(settings)
    }

    /// Cross-field checks that types alone cannot express.
    fn validate(&self) -> Result<(), String> {
        if self.fhir.deadline_ms == 0 {
            return Err("fhir.deadline_ms must be greater than 0".into());
        }
        if self.http.request_timeout_ms <= self.fhir.deadline_ms {
            return Err(format!(
                "http.request_timeout_ms ({}) must be greater than fhir.deadline_ms ({})",
                self.http.request_timeout_ms, self.fhir.deadline_ms
            ));
        }
        if self.store.url.is_some() && self.store.url_file.is_some() {
            return Err("store: give at most one of url and url_file".into());
        }
        if self.store.queue_capacity == 0 {
            return Err("store.queue_capacity must be at least 1".into());
        }
        // A hook call never waits past its own deadline, whatever this says (see
        // `AuditWriter::record_within`), so it need not be less than the request timeout.
        if self.store.enqueue_wait_ms > 1000 {
            return Err("store.enqueue_wait_ms must be at most 1000".into());
        }
        if self.store.retention_days == Some(0) {
            return Err("store.retention_days must be at least 1".into());
        }
        if !(10..=10_000).contains(&self.store.acquire_timeout_ms) {
            return Err("store.acquire_timeout_ms must be between 10 and 10000".into());
        }
        if self.store.max_connections == 0 {
            return Err("store.max_connections must be at least 1".into());
        }
        if self.cards.long_form_ttl_s == 0 || self.cards.long_form_ttl_s > 86_400 {
            return Err("cards.long_form_ttl_s must be between 1 and 86400 (a day)".into());
        }
        if self.cards.long_form_max_bytes < 64 * 1024 {
            return Err("cards.long_form_max_bytes must be at least 65536".into());
        }
        if self.cards.long_form_capacity == 0 {
            return Err("cards.long_form_capacity must be at least 1".into());
        }
        if self.cards.repeat_window_hours > 24 * 14 {
            return Err("cards.repeat_window_hours must be at most 336 (14 days)".into());
        }
        if self.fhir.max_pages == 0 {
            return Err("fhir.max_pages must be at least 1".into());
        }
        if self.fhir.memory_budget_bytes < self.fhir.max_response_bytes {
            return Err(format!(
                "fhir.memory_budget_bytes ({}) must be at least fhir.max_response_bytes ({}): \
                 otherwise a response of the allowed size could never be read",
                self.fhir.memory_budget_bytes, self.fhir.max_response_bytes
            ));
        }
        if self.fhir.max_call_bytes < self.fhir.max_response_bytes {
            return Err(format!(
                "fhir.max_call_bytes ({}) must be at least fhir.max_response_bytes ({})",
                self.fhir.max_call_bytes, self.fhir.max_response_bytes
            ));
        }
        if self.fhir.max_call_entries == 0 {
            return Err("fhir.max_call_entries must be at least 1".into());
        }
        if self.http.cpu_threads == 0 {
            return Err("http.cpu_threads must be at least 1".into());
        }
        if self.http.max_concurrent_hook_calls == 0 {
            return Err("http.max_concurrent_hook_calls must be at least 1".into());
        }
        if self.http.max_connections == 0 {
            return Err("http.max_connections must be at least 1".into());
        }
        // Large bodies may use three quarters of the budget (body.rs), so the largest body
        // must fit in three quarters.
        let in_flight = self.http.max_body_bytes_in_flight;
        if in_flight - in_flight / 4 < self.http.max_body_bytes || in_flight > u32::MAX as usize {
            return Err(format!(
                "http.max_body_bytes_in_flight ({}) must be at least four thirds of \
                 http.max_body_bytes ({}), since a quarter is kept for small bodies, and below \
                 4 GiB",
                self.http.max_body_bytes_in_flight, self.http.max_body_bytes
            ));
        }
        for (key, ms) in [
            ("header_read_timeout_ms", self.http.header_read_timeout_ms),
            ("idle_timeout_ms", self.http.idle_timeout_ms),
            ("body_read_timeout_ms", self.http.body_read_timeout_ms),
        ] {
            if ms == 0 {
                return Err(format!("http.{key} must be at least 1"));
            }
        }
        for issuer in &self.auth.issuers {
            if issuer.jwks_url.is_some() == issuer.jwks_file.is_some() {
                return Err(format!(
                    "auth.issuers `{}`: give exactly one of jwks_url and jwks_file",
                    issuer.iss
                ));
            }
            if issuer.audiences.is_empty() {
                return Err(format!(
                    "auth.issuers `{}`: audiences must list at least one of \"endpoint\" and \"public_base_url\"",
                    issuer.iss
                ));
            }
            if issuer.audiences.contains(&IssuerAudience::PublicBaseUrl)
                && self.public_base_url.is_none()
            {
                return Err(format!(
                    "auth.issuers `{}`: audiences names \"public_base_url\", so public_base_url must be set",
                    issuer.iss
                ));
            }
        }
        if let Some(url) = &self.public_base_url
            && !matches!(url.scheme(), "http" | "https")
        {
            return Err("public_base_url must be an http or https URL".into());
        }
        self.admin.validate(self.listen)?;
        if self.admin.listen.is_some() && !self.store.enabled {
            return Err("admin.listen needs the store: the console reads the audit trail".into());
        }
        Ok(())
    }

    /// The settings of the trusted issuer `iss`, if it is one.
    pub fn issuer(&self, iss: &str) -> Option<&IssuerSettings> {
        self.auth.issuers.iter().find(|issuer| issuer.iss == iss)
    }

    /// The base URL EHRs use to reach the service, without a trailing slash.
    pub fn public_base(&self) -> String {
        match &self.public_base_url {
            Some(url) => url.as_str().trim_end_matches('/').to_owned(),
            None => format!("http://{}", self.listen),
        }
    }
}

/// Makes `table[key]`, a relative path, relative to `base`.
fn resolve_relative(table: &mut toml::Table, key: &str, base: &Path) {
    if let Some(toml::Value::String(p)) = table.get(key)
        && Path::new(p).is_relative()
    {
        let joined = base.join(p).display().to_string();
        table.insert(key.to_owned(), toml::Value::String(joined));
    }
}

#[cfg(test)]
mod tests;
