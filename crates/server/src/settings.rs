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

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use url::Url;

mod admin;
pub use admin::{AdminSettings, MIN_TOKEN_CHARS};

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

/// The keys at the top of the settings document that are not sections.
const TOP_LEVEL_KEYS: &[&str] = &[
    "listen",
    "public_base_url",
    "profiles",
    "insecure_no_auth",
    "time_zone",
    "rule_modes",
];
/// The sections (`[fhir]`, …) of the settings document.
const SECTIONS: &[&str] = &[
    "fhir",
    "http",
    "cors",
    "log",
    "auth",
    "store",
    "metrics",
    "cards",
    "rule_modes",
    "admin",
];

/// What one `GRAVIDA_` variable is, by its name after the prefix.
#[derive(Debug, PartialEq, Eq)]
enum EnvName {
    /// A setting at this path (lower-cased).
    Setting(Vec<String>),
    /// A `__` name whose section does not exist: a typo, refused.
    UnknownSection(String),
    /// Not a setting (a service link, or another program's variable).
    Other { service_link: bool },
}

fn classify_env_name(rest: &str) -> EnvName {
    let path: Vec<String> = rest.split("__").map(|s| s.to_ascii_lowercase()).collect();
    if path.len() > 1 {
        return if SECTIONS.contains(&path[0].as_str()) {
            EnvName::Setting(path)
        } else {
            EnvName::UnknownSection(path[0].clone())
        };
    }
    if TOP_LEVEL_KEYS.contains(&path[0].as_str()) {
        return EnvName::Setting(path);
    }
    EnvName::Other {
        service_link: is_service_link(rest),
    }
}

/// The shapes of the variables Kubernetes writes for a Service, after `{SERVICE}_`: `SERVICE_HOST`,
/// `SERVICE_PORT`, `SERVICE_PORT_{NAME}`, `PORT`, and `PORT_{port}_{TCP|UDP|SCTP}[_PROTO|_PORT|_ADDR]`.
/// The service name itself may hold underscores (`gravida-metrics` gives `GRAVIDA_METRICS_…`).
fn is_service_link(rest: &str) -> bool {
    let parts: Vec<&str> = rest.split('_').collect();
    (0..parts.len()).any(|i| match &parts[i..] {
        ["SERVICE", "HOST"] | ["SERVICE", "PORT", ..] => true,
        ["PORT"] => true,
        ["PORT", port, proto, tail @ ..] => {
            port.chars().all(|c| c.is_ascii_digit())
                && matches!(*proto, "TCP" | "UDP" | "SCTP")
                && matches!(tail, [] | ["PROTO"] | ["PORT"] | ["ADDR"])
        }
        _ => false,
    })
}

/// Who may call the service. With no issuers, nobody is authenticated (loopback only).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSettings {
    /// The EHRs trusted to call Gravida, each identified by the `iss` of its JWTs.
    pub issuers: Vec<IssuerSettings>,
    /// Tolerance for clock differences when checking `exp`, `nbf` and `iat`, in seconds.
    pub clock_skew_s: u64,
    /// The longest JWT lifetime (`exp - iat`) accepted, in seconds.
    pub max_lifetime_s: u64,
    /// The least time between two fetches of one JWKS (an unknown `kid` triggers a fetch).
    pub jwks_refresh_interval_s: u64,
    /// The timeout of one JWKS fetch, in milliseconds.
    pub jwks_timeout_ms: u64,
    /// How many `jti`s the in-memory replay guard remembers (per replica).
    pub replay_capacity: usize,
}

impl Default for AuthSettings {
    fn default() -> Self {
        AuthSettings {
            issuers: Vec::new(),
            clock_skew_s: 60,
            max_lifetime_s: 3600,
            jwks_refresh_interval_s: 60,
            jwks_timeout_ms: 2000,
            replay_capacity: 100_000,
        }
    }
}

/// One trusted EHR.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerSettings {
    /// The `iss` claim of this EHR's JWTs.
    pub iss: String,
    /// Where its public keys are published. Exactly one of `jwks_url` and `jwks_file`.
    #[serde(default)]
    pub jwks_url: Option<Url>,
    /// A JWKS file with its public keys, relative to the settings file.
    #[serde(default)]
    pub jwks_file: Option<PathBuf>,
    /// `jku` header values accepted from this issuer.
    #[serde(default)]
    pub allowed_jku: Vec<Url>,
    /// FHIR server base URLs this issuer may send as `fhirServer`.
    #[serde(default)]
    pub fhir_servers: Vec<Url>,
    /// Signing algorithms accepted (default ES384 and RS384; never `none` or HMAC).
    #[serde(default)]
    pub algorithms: Option<Vec<String>>,
    /// `tenant` claims accepted; absent means any.
    #[serde(default)]
    pub tenants: Option<Vec<String>>,
    /// The `aud` values this EHR sends; a token must carry one of them (default `endpoint`).
    #[serde(
        default = "default_audiences",
        deserialize_with = "deserialize_audiences"
    )]
    pub audiences: Vec<IssuerAudience>,
    /// Whether this EHR evaluates the CDS Hooks 3.0.0 FHIRPath date tokens of prefetch templates
    /// (`{{today() - 1 year}}`). Default `true`. A 2.0 client sets it `false`: its discovery then
    /// shows every search without its date bound (`prefetch::for_2_0_clients`), which it can
    /// fill, and what it does not prefetch Gravida fetches with the bound evaluated itself.
    #[serde(default = "yes")]
    pub fhirpath_prefetch: bool,
    /// Whether this EHR declares support for a suggestion's `actionSelectionBehavior`
    /// (CDS Hooks 3.0.0, STU). Default `false`: 3.0.0 forbids sending it to a client that has
    /// not said it supports it, so cards for this issuer alone carry it.
    #[serde(default)]
    pub action_selection_behavior: bool,
}

fn yes() -> bool {
    true
}

/// An `aud` value an issuer may send, named in `[[auth.issuers]] audiences`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssuerAudience {
    /// The exact URL of the endpoint invoked (`public_base_url` + path), as CDS Hooks asks.
    Endpoint,
    /// `public_base_url` itself (with or without a trailing `/`), on every endpoint.
    PublicBaseUrl,
}

fn default_audiences() -> Vec<IssuerAudience> {
    vec![IssuerAudience::Endpoint]
}

/// Reads `audiences`, naming the key and the accepted values in every error (serde's own
/// messages name neither).
fn deserialize_audiences<'de, D>(deserializer: D) -> Result<Vec<IssuerAudience>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    use serde::de::Error as _;
    const ACCEPTED: &str = r#"use "endpoint" and/or "public_base_url""#;
    let names = Vec::<String>::deserialize(deserializer)
        .map_err(|e| D::Error::custom(format!("auth.issuers audiences: {e}; {ACCEPTED}")))?;
    names
        .iter()
        .map(|name| match name.as_str() {
            "endpoint" => Ok(IssuerAudience::Endpoint),
            "public_base_url" => Ok(IssuerAudience::PublicBaseUrl),
            other => Err(D::Error::custom(format!(
                "auth.issuers audiences: unknown audience {other:?}; {ACCEPTED}"
            ))),
        })
        .collect()
}

/// How Gravida reads from an EHR's FHIR server.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FhirSettings {
    /// The whole data-gathering budget of one hook call, in milliseconds.
    pub deadline_ms: u64,
    /// The most search-result pages followed for one search.
    pub max_pages: usize,
    /// The most bytes read from one FHIR response.
    pub max_response_bytes: usize,
    /// The most bytes of FHIR responses this replica holds at once, all hook calls together
    /// (bodies being received and read, and the records kept from them). A call that cannot get
    /// its share before its deadline is answered as data unavailable. See the README's memory
    /// formula.
    pub memory_budget_bytes: usize,
    /// The most Bundle entries one hook call reads, all its searches together.
    pub max_call_entries: usize,
    /// The most response bytes one hook call reads, all its searches together.
    pub max_call_bytes: usize,
}

impl Default for FhirSettings {
    fn default() -> Self {
        FhirSettings {
            deadline_ms: 3_000,
            max_pages: 10,
            max_response_bytes: 10 * 1024 * 1024,
            // A quarter of the manifests' 256 MiB limit: with the rest of the process (about
            // 30 MB) and the sockets' buffers, peak RSS stays under half the limit.
            memory_budget_bytes: 32 * 1024 * 1024,
            // A year of a patient's Conditions and coded Observations is a few hundred entries.
            max_call_entries: 10_000,
            max_call_bytes: 32 * 1024 * 1024,
        }
    }
}

/// Limits on the HTTP requests Gravida accepts.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpSettings {
    /// The largest request body accepted; larger bodies get 413.
    pub max_body_bytes: usize,
    /// The longest a request may take, from the first byte to the response, in milliseconds.
    /// It must leave room for `fhir.deadline_ms`.
    pub request_timeout_ms: u64,
    /// Hook calls answered at once; one more gets 503 with `Retry-After` at once, before its
    /// body is read, instead of queueing. It bounds the work an overloaded replica takes on: a
    /// shed call costs no parsing, where a queued one would wait out the EHR's patience. It
    /// must leave room for calls that wait on a slow EHR FHIR server.
    pub max_concurrent_hook_calls: usize,
    /// The longest a client may take to send a request's head (request line and headers), from
    /// its first byte, or from the moment the connection opened, in milliseconds; then the
    /// connection is closed. It is what sheds slowloris clients. An EHR sends its head in one
    /// packet, so 5 s leaves room for a congested network and no more.
    pub header_read_timeout_ms: u64,
    /// How long a keep-alive connection may wait between requests before it is closed, in
    /// milliseconds. 75 s outlasts the 60 s idle timeouts of the usual proxies in front (nginx
    /// ingress upstream keep-alive, cloud load balancers), so the proxy, not Gravida, closes a
    /// pooled connection and never sends a request down one Gravida is closing. The cost of a
    /// long wait is bounded by `max_connections`, and at that cap idle connections are closed
    /// early.
    pub idle_timeout_ms: u64,
    /// Connections open at once on this replica. At the cap Gravida stops accepting (new
    /// connections wait in the kernel's queue) and closes its idle keep-alive connections to
    /// make room. A connection costs about 40 KiB (hyper's buffers, the task, the socket), so
    /// 1024 bound that to about 40 MiB, while leaving four connections per hook permit.
    pub max_connections: usize,
    /// The longest a request body may take to arrive once its head has, in milliseconds; a
    /// slower one gets 408. Bodies are read before a hook permit is taken, so this is how long
    /// a slow client can hold a connection without holding a permit. 5 s carries a 1 MiB prefetch
    /// at 2 Mbit/s; an EHR's body of tens of KiB arrives in milliseconds.
    pub body_read_timeout_ms: u64,
    /// Hook-call steps that read a request body or evaluate a chart at once, each on a thread
    /// of its own, off the async workers (which keep answering `/healthz`, `/readyz` and the
    /// network). More calls than this wait their turn, within `request_timeout_ms`. The number
    /// of cores the replica is given is the sensible value.
    pub cpu_threads: usize,
    /// The bytes of request bodies this replica holds at once, being read or parsed. A body
    /// reserves its `Content-Length` (or its bytes as they arrive) before it is read, and one
    /// that finds no room gets 503 with `Retry-After` at once. Only authenticated callers reach
    /// this point. A quarter is kept for small bodies (up to a thirty-second of it each), which
    /// large ones may not take, so it must be at least four thirds of `max_body_bytes`. 32 MiB
    /// holds three bodies of the largest size beside hundreds of usual ones.
    pub max_body_bytes_in_flight: usize,
    /// After SIGTERM, how long the replica goes on accepting and answering while `/readyz`
    /// answers 503, so that the load balancers stop sending it calls; then it stops accepting,
    /// finishes the calls in flight, flushes the audit queue and exits. The pod's
    /// `terminationGracePeriodSeconds` must exceed this plus `request_timeout_ms`.
    pub drain_grace_ms: u64,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            max_body_bytes: 8 * 1024 * 1024,
            request_timeout_ms: 10_000,
            max_concurrent_hook_calls: 256,
            header_read_timeout_ms: 5_000,
            idle_timeout_ms: 75_000,
            max_connections: 1024,
            body_read_timeout_ms: 5_000,
            cpu_threads: 2,
            max_body_bytes_in_flight: 32 * 1024 * 1024,
            drain_grace_ms: 10_000,
        }
    }
}

/// Cross-origin access for browser-based CDS clients (the CDS Hooks sandbox, SMART apps).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CorsSettings {
    /// Origins allowed to call the service; `["*"]` allows any origin (without credentials).
    /// An empty list turns CORS off.
    pub allowed_origins: Vec<String>,
}

impl Default for CorsSettings {
    fn default() -> Self {
        CorsSettings {
            allowed_origins: vec!["*".to_owned()],
        }
    }
}

/// Log output.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    /// `auto` (JSON unless the output is a terminal), `json` or `pretty`.
    pub format: LogFormat,
    /// A `tracing` filter directive, e.g. `info` or `gravida=debug,info`. `RUST_LOG` wins if set.
    pub filter: String,
}

impl Default for LogSettings {
    fn default() -> Self {
        LogSettings {
            format: LogFormat::Auto,
            filter: "info".to_owned(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Auto,
    Json,
    Pretty,
}

/// Durable storage: the audit trail, clinician feedback and (with PostgreSQL) the replay guard
/// shared between replicas. `Debug` hides the URL's password and the patient key.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreSettings {
    /// Record cards and feedback at all. Off, feedback is acknowledged and only logged.
    pub enabled: bool,
    /// Where the embedded database and the generated patient key live (relative to the
    /// settings file, or to the working directory without one).
    pub data_dir: PathBuf,
    /// `sqlite:PATH` or `postgres://user:password@host/db`. Default: `sqlite://{data_dir}/gravida.db`.
    pub url: Option<String>,
    /// A file holding `url` (a mounted Secret, so the password stays out of the settings).
    pub url_file: Option<PathBuf>,
    /// Jobs waiting for the disk (one per hook call, one per feedback request). A hook call that
    /// finds the queue full waits up to `enqueue_wait_ms` for room; feedback answers 503 at once.
    pub queue_capacity: usize,
    /// How long a hook call waits for room in a full write queue before its audit records are
    /// lost (counted, logged, and `/readyz` 503 for 30 s). Default 10; at most 1000, and less
    /// than `http.request_timeout_ms`.
    pub enqueue_wait_ms: u64,
    /// Audit and feedback rows older than this many days are purged (hourly, by one replica
    /// at a time). Default 730 (two years).
    pub retention_days: Option<u32>,
    /// How long a caller waits for a database connection (connecting included) before the
    /// store counts as down: what a store outage costs a hook call. Default 250.
    pub acquire_timeout_ms: u64,
    /// Connections each replica opens to PostgreSQL at most (SQLite keeps 4). Default 8.
    pub max_connections: u32,
    /// The secret key of the patient-id hash. Give the same key to every replica.
    pub patient_key: Option<String>,
    /// A file holding that key; created with a random key if missing. Default
    /// `{data_dir}/patient.key`. Ignored when `patient_key` is set.
    pub patient_key_file: Option<PathBuf>,
}

impl StoreSettings {
    /// The database URL: `url`, else the content of `url_file` (read now, so a rotated Secret
    /// is picked up at the next start), else SQLite in `data_dir`.
    pub fn url(&self) -> std::io::Result<String> {
        if let Some(path) = &self.url_file {
            return Ok(std::fs::read_to_string(path)?.trim().to_owned());
        }
        Ok(match &self.url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}", self.data_dir.join("gravida.db").display()),
        })
    }

    /// The patient key file, with the default filled in.
    pub fn patient_key_file(&self) -> PathBuf {
        self.patient_key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("patient.key"))
    }
}

impl Default for StoreSettings {
    fn default() -> Self {
        StoreSettings {
            enabled: true,
            data_dir: PathBuf::from("data"),
            url: None,
            url_file: None,
            queue_capacity: 1024,
            enqueue_wait_ms: 10,
            retention_days: Some(730),
            acquire_timeout_ms: 250,
            max_connections: 8,
            patient_key: None,
            patient_key_file: None,
        }
    }
}

impl std::fmt::Debug for StoreSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Only the scheme of the URL: the rest may carry a password.
        let scheme = self.url.as_deref().and_then(|u| u.split(':').next());
        f.debug_struct("StoreSettings")
            .field("enabled", &self.enabled)
            .field("data_dir", &self.data_dir)
            .field("url_scheme", &scheme)
            .field("url_file", &self.url_file)
            .field("queue_capacity", &self.queue_capacity)
            .field("enqueue_wait_ms", &self.enqueue_wait_ms)
            .field("retention_days", &self.retention_days)
            .field("acquire_timeout_ms", &self.acquire_timeout_ms)
            .field("max_connections", &self.max_connections)
            .field(
                "patient_key",
                &self.patient_key.as_ref().map(|_| "<redacted>"),
            )
            .field("patient_key_file", &self.patient_key_file)
            .finish()
    }
}

/// The Prometheus endpoint.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsSettings {
    /// Serve `GET /metrics`.
    pub enabled: bool,
}

impl Default for MetricsSettings {
    fn default() -> Self {
        MetricsSettings { enabled: true }
    }
}

/// How cards are kept from repeating, and their long form (README "Cards shown once").
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CardSettings {
    /// At order-select and order-sign, a card not about the orders is not shown again when the
    /// same card (rule and evidence) was shown for the patient within this many hours (or in the
    /// same encounter, whatever the time). 0: the encounter alone decides. Needs the store.
    pub repeat_window_hours: u32,
    /// How long a card's long-form link (`GET /cards/{id}`) works, in seconds.
    pub long_form_ttl_s: u64,
    /// Long forms kept in memory at once by a replica (about 4 kB each); beyond it the oldest
    /// are dropped first (with a store, they are still served from it).
    pub long_form_capacity: usize,
    /// The bytes the long forms kept in memory may take at once, all together; beyond it the
    /// oldest are dropped first. A long form names at most a few records of each kind, so one
    /// takes a few kB, at most tens.
    pub long_form_max_bytes: usize,
}

impl Default for CardSettings {
    fn default() -> Self {
        CardSettings {
            repeat_window_hours: 12,
            long_form_ttl_s: 1800,
            long_form_capacity: 2_000,
            long_form_max_bytes: 16 * 1024 * 1024,
        }
    }
}

/// A site's rule modes, `rule id → mode` (ids upper-cased: an environment variable's key arrives
/// lower-cased). Written as a table, or as one string of `RULE=MODE` pairs separated by commas.
/// Which ids and modes exist is the knowledge base's to say, at start-up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleModeSettings(pub BTreeMap<String, String>);

impl<'de> Deserialize<'de> for RuleModeSettings {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Written {
            Table(BTreeMap<String, String>),
            Pairs(String),
        }
        let pairs: Vec<(String, String)> = match Written::deserialize(deserializer)? {
            Written::Table(table) => table.into_iter().collect(),
            Written::Pairs(text) => text
                .split(',')
                .map(str::trim)
                .filter(|item| !item.is_empty())
                .map(|item| {
                    item.split_once('=')
                        .map(|(rule, mode)| (rule.trim().to_owned(), mode.trim().to_owned()))
                        .ok_or_else(|| {
                            serde::de::Error::custom(format!(
                                "rule_modes: {item:?} is not RULE=MODE (as in \"R12=off,R3=silent\")"
                            ))
                        })
                })
                .collect::<Result<_, _>>()?,
        };
        Ok(RuleModeSettings(
            pairs
                .into_iter()
                .map(|(rule, mode)| (rule.to_ascii_uppercase(), mode))
                .collect(),
        ))
    }
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
        if self.store.enqueue_wait_ms > 1000
            || self.store.enqueue_wait_ms >= self.http.request_timeout_ms
        {
            return Err("store.enqueue_wait_ms must be at most 1000 and less than \
                        http.request_timeout_ms"
                .into());
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

/// Reads an environment value as TOML when it is one (numbers, booleans, arrays), else as a string.
fn parse_env_value(raw: &str) -> toml::Value {
    format!("v = {raw}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_owned()))
}

fn set_path(doc: &mut toml::Table, path: &[String], value: toml::Value) -> Result<(), String> {
    let Some((last, parents)) = path.split_last() else {
        return Err("empty setting name".into());
    };
    let mut table = doc;
    for key in parents {
        let entry = table
            .entry(key.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        table = match entry {
            toml::Value::Table(t) => t,
            _ => return Err(format!("`{key}` is not a table")),
        };
    }
    table.insert(last.clone(), value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn rule_modes_are_read_from_a_list_a_variable_per_rule_or_the_files_table() {
        let modes = |s: Settings| {
            s.rule_modes
                .0
                .into_iter()
                .map(|(rule, mode)| format!("{rule}={mode}"))
                .collect::<Vec<_>>()
        };
        let listed =
            Settings::load_from(None, env(&[("GRAVIDA_RULE_MODES", "R12=off, r3=silent")]))
                .unwrap();
        assert_eq!(modes(listed), ["R12=off", "R3=silent"]);
        let one = Settings::load_from(None, env(&[("GRAVIDA_RULE_MODES__R2E", "active")])).unwrap();
        assert_eq!(modes(one), ["R2E=active"]);
        let dir = std::env::temp_dir().join(format!("gravida-modes-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("gravida.toml");
        std::fs::write(&file, "[rule_modes]\nR15 = \"silent\"\n").unwrap();
        assert_eq!(
            modes(Settings::load_from(Some(&file), env(&[])).unwrap()),
            ["R15=silent"]
        );
        assert!(modes(Settings::load_from(None, env(&[])).unwrap()).is_empty());
        let err = Settings::load_from(None, env(&[("GRAVIDA_RULE_MODES", "R12:off")])).unwrap_err();
        assert!(err.to_string().contains("rule_modes"), "{err}");
    }

    #[test]
    fn the_defaults_listen_on_loopback_with_a_three_second_fhir_budget() {
        let s = Settings::load_from(None, env(&[])).unwrap();
        assert_eq!(s.listen, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(s.fhir.deadline_ms, 3_000);
        assert_eq!(s.public_base(), "http://127.0.0.1:8080");
        assert!(!s.insecure_no_auth);
        assert_eq!(s.cors.allowed_origins, vec!["*"]);
    }

    #[test]
    fn environment_variables_override_the_file_with_double_underscore_nesting() {
        let dir = std::env::temp_dir().join(format!("gravida-settings-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("gravida.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:9000\"\nprofiles = \"site\"\n[fhir]\ndeadline_ms = 2000\n",
        )
        .unwrap();
        let s = Settings::load_from(
            Some(&file),
            env(&[
                ("GRAVIDA_FHIR__DEADLINE_MS", "1500"),
                ("GRAVIDA_PUBLIC_BASE_URL", "https://cds.example.org/"),
                ("GRAVIDA_TEST_FHIR_URL", "http://ignored"),
                ("OTHER", "x"),
            ]),
        )
        .unwrap();
        assert_eq!(s.listen.port(), 9000);
        assert_eq!(s.fhir.deadline_ms, 1500);
        assert_eq!(s.public_base(), "https://cds.example.org");
        assert_eq!(s.profiles.unwrap(), dir.join("site"));
    }

    #[test]
    fn issuers_are_read_with_jwks_files_relative_to_the_settings_file() {
        let dir = std::env::temp_dir().join(format!("gravida-issuers-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("gravida.toml");
        std::fs::write(
            &file,
            r#"
[[auth.issuers]]
iss = "https://ehr-a.example.org"
jwks_url = "https://ehr-a.example.org/.well-known/jwks.json"
fhir_servers = ["https://fhir.ehr-a.example.org/R4"]
tenants = ["org-1"]

[[auth.issuers]]
iss = "https://ehr-b.example.org"
jwks_file = "keys/ehr-b.jwks.json"
algorithms = ["RS384"]
"#,
        )
        .unwrap();
        let s = Settings::load_from(Some(&file), env(&[])).unwrap();
        assert_eq!(s.auth.issuers.len(), 2);
        assert_eq!(
            s.auth.issuers[0].tenants.as_deref(),
            Some(&["org-1".to_owned()][..])
        );
        assert_eq!(
            s.auth.issuers[1].jwks_file.as_deref(),
            Some(dir.join("keys/ehr-b.jwks.json").as_path())
        );

        std::fs::write(&file, "[[auth.issuers]]\niss = \"x\"\n").unwrap();
        let err = Settings::load_from(Some(&file), env(&[])).unwrap_err();
        assert!(
            err.to_string()
                .contains("exactly one of jwks_url and jwks_file"),
            "{err}"
        );
    }

    #[test]
    fn issuer_audiences_default_to_the_endpoint_and_a_bad_list_is_a_clear_error() {
        let dir = std::env::temp_dir().join(format!("gravida-aud-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("gravida.toml");
        let issuer = "[[auth.issuers]]\niss = \"https://ehr.example.org\"\njwks_url = \"https://ehr.example.org/jwks\"\n";
        let load = |top: &str, audiences: &str| {
            std::fs::write(&file, format!("{top}\n{issuer}{audiences}\n")).unwrap();
            Settings::load_from(Some(&file), env(&[]))
        };

        let s = load("", "").unwrap();
        assert_eq!(s.auth.issuers[0].audiences, [IssuerAudience::Endpoint]);
        let base = "public_base_url = \"https://cds.example.org\"";
        let s = load(base, "audiences = [\"endpoint\", \"public_base_url\"]").unwrap();
        assert_eq!(
            s.auth.issuers[0].audiences,
            [IssuerAudience::Endpoint, IssuerAudience::PublicBaseUrl]
        );

        for (top, audiences, expected) in [
            (
                base,
                "audiences = [\"base_url\"]",
                "unknown audience \"base_url\"",
            ),
            (
                base,
                "audiences = \"endpoint\"",
                "auth.issuers audiences: invalid type",
            ),
            (base, "audiences = []", "audiences must list at least one"),
            (
                "",
                "audiences = [\"public_base_url\"]",
                "public_base_url must be set",
            ),
        ] {
            let err = load(top, audiences).unwrap_err().to_string();
            assert!(err.contains(expected), "{audiences}: {err}");
        }
    }

    #[test]
    fn kubernetes_service_links_are_ignored_and_reported_by_name_only() {
        let s = Settings::load_from(
            None,
            env(&[
                ("GRAVIDA_SERVICE_HOST", "10.0.0.7"),
                ("GRAVIDA_SERVICE_PORT", "80"),
                ("GRAVIDA_SERVICE_PORT_HTTP", "80"),
                ("GRAVIDA_PORT", "tcp://10.0.0.7:80"),
                ("GRAVIDA_PORT_80_TCP", "tcp://10.0.0.7:80"),
                ("GRAVIDA_PORT_80_TCP_PROTO", "tcp"),
                ("GRAVIDA_PORT_80_TCP_PORT", "80"),
                ("GRAVIDA_PORT_80_TCP_ADDR", "10.0.0.7"),
                ("GRAVIDA_METRICS_SERVICE_HOST", "10.0.0.8"),
                ("GRAVIDA_FHIR__DEADLINE_MS", "1500"),
            ]),
        )
        .unwrap();
        assert_eq!(s.fhir.deadline_ms, 1500);
        assert_eq!(s.ignored_env.len(), 9, "{:?}", s.ignored_env);
        assert!(
            s.ignored_env.iter().all(|v| v.service_link),
            "{:?}",
            s.ignored_env
        );
        assert!(
            s.ignored_env
                .iter()
                .all(|v| !format!("{v:?}").contains("10.0.0"))
        );
    }

    #[test]
    fn another_programs_gravida_variable_is_ignored_but_not_taken_for_a_service_link() {
        let s = Settings::load_from(None, env(&[("GRAVIDA_HOME", "/opt/x")])).unwrap();
        assert_eq!(
            s.ignored_env,
            vec![IgnoredVariable {
                name: "GRAVIDA_HOME".into(),
                service_link: false
            }]
        );
    }

    #[test]
    fn a_misspelt_section_is_still_an_error() {
        let err =
            Settings::load_from(None, env(&[("GRAVIDA_FHR__DEADLINE_MS", "10")])).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("GRAVIDA_FHR__DEADLINE_MS"), "{text}");
        assert!(text.contains("unknown section `fhr`"), "{text}");
    }

    #[test]
    fn an_unknown_key_is_an_error_that_names_where_it_came_from() {
        let err = Settings::load_from(None, env(&[("GRAVIDA_FHIR__DEADLINE", "10")])).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("GRAVIDA_FHIR__DEADLINE"), "{text}");
        assert!(text.contains("deadline"), "{text}");
    }

    #[test]
    fn a_zero_hook_call_limit_is_refused() {
        let err = Settings::load_from(
            None,
            env(&[("GRAVIDA_HTTP__MAX_CONCURRENT_HOOK_CALLS", "0")]),
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("max_concurrent_hook_calls"),
            "{err}"
        );
        let default = Settings::load_from(None, env(&[])).expect("defaults");
        assert_eq!(default.http.max_concurrent_hook_calls, 256);
    }

    #[test]
    fn a_body_budget_whose_large_share_cannot_hold_the_largest_body_is_refused() {
        // Three quarters of 1,000,000 is 750,000: a largest body of 750,000 fits, 750,001 not.
        let fits = [
            ("GRAVIDA_HTTP__MAX_BODY_BYTES", "750000"),
            ("GRAVIDA_HTTP__MAX_BODY_BYTES_IN_FLIGHT", "1000000"),
        ];
        Settings::load_from(None, env(&fits)).expect("the largest body fits");
        let err = Settings::load_from(
            None,
            env(&[
                ("GRAVIDA_HTTP__MAX_BODY_BYTES", "750001"),
                ("GRAVIDA_HTTP__MAX_BODY_BYTES_IN_FLIGHT", "1000000"),
            ]),
        )
        .unwrap_err();
        assert!(err.to_string().contains("four thirds"), "{err}");
    }

    #[test]
    fn card_settings_have_safe_defaults_and_refuse_a_link_that_never_works_or_lasts_for_days() {
        let default = Settings::load_from(None, env(&[])).expect("defaults");
        assert_eq!(default.cards.repeat_window_hours, 12);
        assert_eq!(default.cards.long_form_ttl_s, 1800);
        let set = Settings::load_from(None, env(&[("GRAVIDA_CARDS__REPEAT_WINDOW_HOURS", "0")]))
            .expect("a window of 0 is allowed");
        assert_eq!(set.cards.repeat_window_hours, 0);
        for (key, value) in [
            ("GRAVIDA_CARDS__LONG_FORM_TTL_S", "0"),
            ("GRAVIDA_CARDS__LONG_FORM_TTL_S", "604800"),
            ("GRAVIDA_CARDS__LONG_FORM_CAPACITY", "0"),
            ("GRAVIDA_CARDS__REPEAT_WINDOW_HOURS", "720"),
        ] {
            let err = Settings::load_from(None, env(&[(key, value)])).unwrap_err();
            assert!(err.to_string().contains("cards."), "{key}={value}: {err}");
        }
    }

    #[test]
    fn a_request_timeout_shorter_than_the_fhir_deadline_is_refused() {
        let err = Settings::load_from(None, env(&[("GRAVIDA_HTTP__REQUEST_TIMEOUT_MS", "1000")]))
            .unwrap_err();
        assert!(err.to_string().contains("request_timeout_ms"), "{err}");
    }

    #[test]
    fn the_store_is_sqlite_in_the_data_dir_unless_a_url_or_url_file_says_otherwise() {
        let s = Settings::load_from(None, env(&[])).unwrap();
        assert_eq!(s.store.url().unwrap(), "sqlite://data/gravida.db");
        assert!(s.metrics.enabled);

        let dir = std::env::temp_dir().join(format!("gravida-store-url-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("url"), "postgres://u:secret-pw@db/g\n").unwrap();
        let file = dir.join("gravida.toml");
        std::fs::write(&file, "[store]\nurl_file = \"url\"\nretention_days = 30\n").unwrap();
        let s = Settings::load_from(Some(&file), env(&[])).unwrap();
        assert_eq!(s.store.url().unwrap(), "postgres://u:secret-pw@db/g");
        assert_eq!(s.store.retention_days, Some(30));

        let s = Settings::load_from(
            None,
            env(&[("GRAVIDA_STORE__URL", "postgres://u:secret-pw@db/g")]),
        )
        .unwrap();
        assert!(
            !format!("{s:?}").contains("secret-pw"),
            "Debug hides the password"
        );

        let err = Settings::load_from(Some(&file), env(&[("GRAVIDA_STORE__URL", "sqlite:x")]))
            .unwrap_err();
        assert!(
            err.to_string().contains("at most one of url and url_file"),
            "{err}"
        );
        let err =
            Settings::load_from(None, env(&[("GRAVIDA_STORE__RETENTION_DAYS", "0")])).unwrap_err();
        assert!(err.to_string().contains("retention_days"), "{err}");
    }

    #[test]
    fn the_http_front_has_finite_timeouts_and_a_connection_cap_by_default() {
        let s = Settings::load_from(None, env(&[])).expect("defaults");
        assert_eq!(s.http.header_read_timeout_ms, 5_000);
        assert_eq!(s.http.idle_timeout_ms, 75_000);
        assert_eq!(s.http.max_connections, 1024);
        assert_eq!(s.http.body_read_timeout_ms, 5_000);

        let s = Settings::load_from(
            None,
            env(&[
                ("GRAVIDA_HTTP__HEADER_READ_TIMEOUT_MS", "300"),
                ("GRAVIDA_HTTP__MAX_CONNECTIONS", "2"),
            ]),
        )
        .expect("overrides");
        assert_eq!(s.http.header_read_timeout_ms, 300);
        assert_eq!(s.http.max_connections, 2);

        for key in [
            "GRAVIDA_HTTP__MAX_CONNECTIONS",
            "GRAVIDA_HTTP__IDLE_TIMEOUT_MS",
            "GRAVIDA_HTTP__BODY_READ_TIMEOUT_MS",
            "GRAVIDA_HTTP__HEADER_READ_TIMEOUT_MS",
        ] {
            let err = Settings::load_from(None, env(&[(key, "0")])).unwrap_err();
            let field = key
                .trim_start_matches("GRAVIDA_HTTP__")
                .to_ascii_lowercase();
            assert!(err.to_string().contains(&field), "{key}: {err}");
        }
    }

    #[test]
    fn a_malformed_listen_address_is_an_error() {
        let err =
            Settings::load_from(None, env(&[("GRAVIDA_LISTEN", "not-an-address")])).unwrap_err();
        assert!(err.to_string().contains("GRAVIDA_LISTEN"), "{err}");
    }
}
