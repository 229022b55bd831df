//! The valid clients: an EHR calling beside the attack, once over a new connection per call and
//! once over one kept-alive connection, each call signed when the server trusts an issuer.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use gravida_auth::testing::{self, TestKey};
use serde_json::json;
use tokio::task::JoinSet;
use tokio::time::Instant;

/// What one valid client saw.
#[derive(Debug, Default)]
pub struct Valid {
    pub sent: usize,
    pub ok: usize,
    /// Other statuses and errors, by name (`503`, `timeout`, `connect`, …).
    pub other: BTreeMap<String, usize>,
    /// Every call's answer time, sorted.
    pub times: Vec<Duration>,
}

impl Valid {
    /// The answer time below which `share` of the calls were answered.
    pub fn quantile(&self, share: f64) -> Duration {
        if self.times.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((self.times.len() as f64 * share).ceil() as usize).clamp(1, self.times.len());
        self.times[rank - 1]
    }
}

/// How a valid client reaches the server.
#[derive(Debug, Clone, Copy)]
pub enum Connections {
    /// A new connection for each call (as an EHR without a connection pool).
    NewPerCall,
    /// One pooled connection, kept alive between calls.
    KeepAlive,
}

/// A minimal valid patient-view call for the embedded profile: no records, so no cards.
fn valid_call() -> String {
    json!({
        "hook": "patient-view",
        "hookInstance": "4a1b7c9e-2f3d-4e5a-8b6c-7d8e9f0a1b2c",
        "context": { "userId": "Practitioner/bench", "patientId": "bench-slow" },
        "prefetch": { "patient": null, "conditions": null, "pregnancy": null, "bleeding": null,
                      "hcg": null, "rh": null, "ultrasound": null }
    })
    .to_string()
}

/// A fresh token of the test issuer for `audience`, which the server started with `--auth`
/// trusts.
pub fn token(audience: &str) -> String {
    let claims = testing::claims_a(audience, SystemTime::now());
    testing::mint(TestKey::AEs384, json!({}), claims)
}

/// Sends a valid call every `interval` for `length`, each on its own task, and collects what
/// came back (waiting for the calls still in flight at the end).
pub async fn valid_client(
    addr: String,
    connections: Connections,
    signed: bool,
    interval: Duration,
    length: Duration,
) -> anyhow::Result<Valid> {
    let builder = reqwest::Client::builder().timeout(Duration::from_secs(30));
    let client = match connections {
        Connections::NewPerCall => builder.pool_max_idle_per_host(0),
        Connections::KeepAlive => builder
            .pool_max_idle_per_host(1)
            .pool_idle_timeout(Duration::from_secs(600)),
    }
    .build()?;
    let path = "/cds-services/gravida-patient-view";
    let url = format!("http://{addr}{path}");
    let body = valid_call();
    let mut calls = JoinSet::new();
    let mut ticks = tokio::time::interval(interval);
    let end = Instant::now() + length;
    while Instant::now() < end {
        ticks.tick().await;
        let (client, url, body) = (client.clone(), url.clone(), body.clone());
        // The audience is the URL the EHR believes it calls (the server's public base).
        let authorization =
            signed.then(|| format!("Bearer {}", token(&format!("http://{addr}{path}"))));
        calls.spawn(async move {
            let started = Instant::now();
            let mut request = client
                .post(url)
                .header("content-type", "application/json")
                .body(body);
            if let Some(authorization) = authorization {
                request = request.header("authorization", authorization);
            }
            let outcome = match request.send().await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    match response.bytes().await {
                        Ok(_) => Ok(status),
                        Err(_) => Err("body".to_owned()),
                    }
                }
                Err(e) if e.is_timeout() => Err("timeout".to_owned()),
                Err(e) if e.is_connect() => Err("connect".to_owned()),
                Err(_) => Err("error".to_owned()),
            };
            (outcome, started.elapsed())
        });
    }
    let mut valid = Valid::default();
    while let Some(joined) = calls.join_next().await {
        let Ok((outcome, took)) = joined else {
            continue;
        };
        valid.sent += 1;
        valid.times.push(took);
        match outcome {
            Ok(200) => valid.ok += 1,
            Ok(status) => *valid.other.entry(status.to_string()).or_default() += 1,
            Err(kind) => *valid.other.entry(kind).or_default() += 1,
        }
    }
    valid.times.sort();
    Ok(valid)
}
