//! `[store]`: durable storage (the audit trail, feedback, the shared replay guard) and the
//! patient-id key. Its `Debug` shows neither the URL's password nor the key.

use std::path::PathBuf;

use serde::Deserialize;

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
    /// Default 1024.
    pub queue_capacity: usize,
    /// How long a hook call waits for room in a full write queue (never past its deadline)
    /// before it is refused: answered 503 without its cards, which the trail could not hold (a
    /// card is never sent unrecorded). Default 250; at most 1000.
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
            enqueue_wait_ms: 250,
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
