//! The audit trail after the runs: the cards Gravida issued (from `/metrics`) against the card
//! records its store holds once a graceful stop has flushed the writer, and the store's bytes.

use std::process::Command;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::time::Instant;

use super::servers::Server;

/// What the audit trail holds after the runs.
pub(super) struct Trail {
    /// Cards Gravida issued (`gravida_cards_total`).
    pub(super) issued: u64,
    /// Card records, shown or suppressed, in the store after the writer flushed.
    pub(super) stored: u64,
    /// Records the writer counted as dropped (`gravida_audit_dropped_total`).
    pub(super) dropped: u64,
    /// The store's files after a graceful stop, and the hook calls that made them.
    pub(super) bytes: u64,
    pub(super) calls: usize,
}

/// Reads the cards issued from `/metrics`, stops gravida gracefully (SIGTERM: it drains and
/// flushes its writer), and counts the card records its SQLite store holds (with `sqlite3`).
pub(super) async fn trail(
    client: &reqwest::Client,
    gravida: &Server,
    data_dir: &std::path::Path,
    calls: usize,
) -> anyhow::Result<Trail> {
    let metrics = client
        .get(format!("{}/metrics", gravida.base))
        .send()
        .await?
        .text()
        .await?;
    let sum = |name: &str| -> u64 {
        metrics
            .lines()
            .filter(|line| line.starts_with(name))
            .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>() as u64
    };
    let (issued, dropped) = (
        sum("gravida_cards_total"),
        sum("gravida_audit_dropped_total"),
    );
    let status = Command::new("kill")
        .args(["-TERM", &gravida.pid().to_string()])
        .status()?;
    if !status.success() {
        bail!("could not stop gravida");
    }
    let stopped = Instant::now();
    while gravida.exited()?.is_none() {
        if stopped.elapsed() > Duration::from_secs(60) {
            bail!("gravida did not stop within 60 s of SIGTERM");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let db = data_dir.join("gravida.db");
    let output = Command::new("sqlite3")
        .arg(&db)
        .arg("SELECT (SELECT COUNT(*) FROM audit_cards) + (SELECT COUNT(*) FROM audit_suppressed)")
        .output()
        .context("running sqlite3 (Debian: apt-get install sqlite3) to count the card records")?;
    if !output.status.success() {
        bail!("sqlite3: {}", String::from_utf8_lossy(&output.stderr));
    }
    let stored = String::from_utf8_lossy(&output.stdout).trim().parse()?;
    Ok(Trail {
        issued,
        stored,
        dropped,
        bytes: folder_bytes(data_dir),
        calls,
    })
}

/// The bytes of the files in `folder` (the store: its database, and its WAL while open).
pub(super) fn folder_bytes(folder: &std::path::Path) -> u64 {
    std::fs::read_dir(folder)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| entry.metadata().ok())
        .filter(|metadata| metadata.is_file())
        .map(|metadata| metadata.len())
        .sum()
}
