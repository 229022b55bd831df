//! The runs: saturated (a fixed concurrency, with the server's CPU time and context switches
//! over the run), paced (a fixed rate) and the soak, each with how often the host slowed the CPU
//! meanwhile.

use std::time::Duration;

use anyhow::bail;
use gravida_bench::canary::{Canary, Steadiness};
use gravida_bench::load::{self, Outcome, Target};
use gravida_bench::process;
use tokio::time::Instant;

use super::servers::{Server, TempDir};
use super::trail::folder_bytes;
use super::{Args, ms};

/// One saturated run's figures, or those of one target's rounds together.
pub(super) struct Saturated {
    pub(super) outcome: Outcome,
    /// The server's CPU time over the run.
    pub(super) cpu: Duration,
    /// The server's voluntary and involuntary context switches over the run (all its threads).
    pub(super) switches: u64,
    pub(super) preempted: u64,
    /// Requests answered before the run, to warm it up (they reach the audit trail too).
    pub(super) warmup: usize,
    pub(super) host: Steadiness,
}

impl Saturated {
    pub(super) fn cpu_per_request(&self) -> Duration {
        self.cpu / self.outcome.count().max(1) as u32
    }

    pub(super) fn switches_per_request(&self) -> f64 {
        self.switches as f64 / self.outcome.count().max(1) as f64
    }

    pub(super) fn preempted_per_request(&self) -> f64 {
        self.preempted as f64 / self.outcome.count().max(1) as f64
    }

    /// One target's rounds as one run: all their requests, time and CPU.
    pub(super) fn merged(rounds: Vec<Saturated>) -> Saturated {
        let cpu = rounds.iter().map(|round| round.cpu).sum();
        let switches = rounds.iter().map(|round| round.switches).sum();
        let preempted = rounds.iter().map(|round| round.preempted).sum();
        let warmup = rounds.iter().map(|round| round.warmup).sum();
        let host = Steadiness::combined(&rounds.iter().map(|round| round.host).collect::<Vec<_>>());
        Saturated {
            outcome: Outcome::merged(rounds.into_iter().map(|round| round.outcome).collect()),
            cpu,
            switches,
            preempted,
            warmup,
            host,
        }
    }
}

pub(super) async fn saturate(
    client: &reqwest::Client,
    canary: &Canary,
    server: &Server,
    target: &Target,
    args: &Args,
) -> anyhow::Result<Saturated> {
    let warm = load::closed_loop(
        client,
        target,
        args.concurrency,
        args.warmup,
        Duration::from_secs(30),
    )
    .await;
    if warm.failures > 0 {
        bail!(
            "{} warm-up: {} wrong answers, first: {}",
            server.name,
            warm.failures,
            warm.first_failure.unwrap_or_default()
        );
    }
    let cpu_before = process::cpu_time(server.pid())?;
    let switches_before = process::context_switches(server.pid())?;
    let started = Instant::now();
    let outcome = load::closed_loop(
        client,
        target,
        args.concurrency,
        args.requests,
        Duration::from_secs(args.seconds),
    )
    .await;
    let cpu = process::cpu_time(server.pid())? - cpu_before;
    let (voluntary, involuntary) = process::context_switches(server.pid())?;
    Ok(Saturated {
        cpu,
        switches: voluntary.saturating_sub(switches_before.0),
        preempted: involuntary.saturating_sub(switches_before.1),
        warmup: warm.count(),
        outcome,
        host: canary.during(started.into_std(), std::time::Instant::now()),
    })
}

/// One paced run's figures.
pub(super) struct Paced {
    pub(super) name: String,
    pub(super) rate: f64,
    /// The rate as a share of the baseline's saturated throughput.
    pub(super) share: f64,
    pub(super) outcome: Outcome,
    pub(super) host: Steadiness,
}

pub(super) async fn pace(
    client: &reqwest::Client,
    canary: &Canary,
    (name, target): (String, &Target),
    (rate, share): (f64, f64),
    args: &Args,
) -> Paced {
    eprintln!("pacing at {rate:.0}/s: {name} …");
    let started = std::time::Instant::now();
    let outcome = load::paced(
        client,
        target,
        rate,
        Duration::from_secs(args.paced_seconds),
    )
    .await;
    Paced {
        name,
        rate,
        share,
        outcome,
        host: canary.during(started, std::time::Instant::now()),
    }
}

/// The soak (`--soak-seconds`): `target` paced at `--soak-rate`, a minute at a time, each minute
/// reported with the store's size and gravida's memory. Returns the calls it made.
pub(super) async fn soak(
    client: &reqwest::Client,
    gravida: &Server,
    data_dir: &TempDir,
    target: &Target,
    args: &Args,
) -> anyhow::Result<usize> {
    let mut calls = 0;
    let mut left = args.soak_seconds;
    let started = Instant::now();
    while left > 0 {
        let minute = left.min(60);
        left -= minute;
        let outcome =
            load::paced(client, target, args.soak_rate, Duration::from_secs(minute)).await;
        calls += outcome.count();
        if outcome.failures > 0 {
            bail!(
                "soak: {} wrong answers, first: {}",
                outcome.failures,
                outcome.first_failure.unwrap_or_default()
            );
        }
        eprintln!(
            "soak, {:.0} s at {:.0}/s: {calls} calls, p99 {} ms, store {:.1} MB ({:.0} bytes per call), RSS {:.1} MiB (peak {:.1} MiB)",
            started.elapsed().as_secs_f64(),
            args.soak_rate,
            ms(outcome.percentile(99.0)),
            folder_bytes(&data_dir.0) as f64 / 1e6,
            folder_bytes(&data_dir.0) as f64 / calls.max(1) as f64,
            process::rss(gravida.pid())? as f64 / (1024.0 * 1024.0),
            process::peak_rss(gravida.pid())? as f64 / (1024.0 * 1024.0),
        );
    }
    Ok(calls)
}
