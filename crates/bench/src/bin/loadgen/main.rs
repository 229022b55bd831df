//! The benchmark driver: starts the release `gravida` and the bare `baseline`, loads both with
//! the same `patient-view` request, checks every answer, and prints the figures.
//!
//! Run it through `scripts/bench.sh`, which builds both in release mode first. What it does:
//!
//! 1. Starts each server on a free loopback port and times spawn → `GET /readyz` 200. Gravida
//!    runs with its defaults, audit store included (a fresh SQLite database in a temp folder).
//! 2. Builds the requests from Gravida's own discovery document: the **full-prefetch** request
//!    (every template answered from the benchmark patient's ~100 records) and the **fetch**
//!    request (no prefetch; `fhirServer` is an in-process stub that answers the same records at
//!    once).
//! 3. Checks the first answer against pub01's expectations, then requires every answer of every
//!    run to carry the same cards (see `gravida_bench::check`).
//! 4. Saturated runs at a fixed concurrency: baseline and Gravida on the full-prefetch request,
//!    Gravida on the fetch request, in interleaved rounds (three by default) so that a stretch of
//!    host slowdowns falls on every server alike. Each target's rounds together give its
//!    throughput, p50/p99 and the server's CPU time per request (from `/proc/<pid>/stat`).
//! 5. Peak RSS (`VmHWM`) of each server after the saturated runs.
//! 6. Paced runs of the full-prefetch request at shares of the baseline's saturated throughput
//!    (10 %, 25 % and, for the latency target, 50 %), the baseline and Gravida in turn; the fetch
//!    request, and the full-prefetch request, at half Gravida's own throughput; Gravida's peak RSS
//!    after them. A 503 (load shed: more calls than the replica can take in time) is counted
//!    apart, neither timed nor wrong.
//! 7. The audit trail: the card records Gravida issued (`gravida_cards_total` on `/metrics`)
//!    and those its store holds after a graceful stop (SIGTERM: the writer flushes), which must be
//!    equal; the store's bytes per call; the server's context switches per call (all its
//!    threads) in each saturated run; its resident memory after each round and after the load.
//! 8. With `--soak-seconds`, a soak: the full-prefetch request paced at `--soak-rate` for that
//!    long, printing the store's size and the resident memory every minute.
//! 9. Throughout, from a few idle seconds before the servers start, a canary thread times a
//!    fixed piece of work by its own CPU clock (see `gravida_bench::canary`): each run, and the
//!    idle machine, report how often the host slowed the CPU, so that a tail the machine caused
//!    is not read as one the server caused.
//!
//! Exit status: 0 when every answer was right and every card issued is in the store, 1 when any
//! answer was wrong, a card record is missing (or a run failed). Other targets that are missed
//! are printed as MISSED but do not change the exit status.

use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use axum::body::Bytes;
use clap::Parser;
use gravida_bench::canary::{Canary, SLOWED, Steadiness};
use gravida_bench::check::{Expectations, fingerprint};
use gravida_bench::load::{Check, Target};
use gravida_bench::patient::{Chart, PATIENT_ID};
use gravida_bench::{process, stub};
use serde_json::{Map, Value as Json, json};
use time::OffsetDateTime;

mod runs;
mod servers;
mod trail;

use runs::{Saturated, pace, saturate, soak};
use servers::{Server, TempDir, free_port};
use trail::trail;

#[derive(Debug, Parser)]
#[command(
    about = "Loads gravida and the bare baseline with the same requests; prints the figures."
)]
struct Args {
    /// The release gravida binary.
    #[arg(long, default_value = "target/release/gravida")]
    gravida: PathBuf,
    /// The release baseline binary.
    #[arg(long, default_value = "target/release/baseline")]
    baseline: PathBuf,
    /// Requests in flight at once in the saturated runs.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// Requests per saturated run in each round (a run also stops after --seconds).
    #[arg(long, default_value_t = 3000)]
    requests: usize,
    /// Rounds of saturated runs, each round running every target once.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Longest saturated run, in seconds.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Length of each paced run, in seconds.
    #[arg(long, default_value_t = 5)]
    paced_seconds: u64,
    /// The paced rates of the full-prefetch request, as shares of the baseline's saturated
    /// throughput (0.5, the latency target's rate, is always run).
    #[arg(long, value_delimiter = ',', default_value = "0.1,0.25,0.5")]
    paced_shares: Vec<f64>,
    /// Seconds the canary watches the idle machine before the servers start.
    #[arg(long, default_value_t = 3)]
    idle_seconds: u64,
    /// Requests sent before each measured run, to warm connections and caches.
    #[arg(long, default_value_t = 300)]
    warmup: usize,
    /// Also write the two request bodies to this folder (full-prefetch.json, fetch.json), e.g. to
    /// profile one call with `gravida evaluate --request`.
    #[arg(long)]
    save_requests: Option<PathBuf>,
    /// After the runs, pace the full-prefetch request at --soak-rate for this many seconds,
    /// reporting the store's size and the memory every minute.
    #[arg(long, default_value_t = 0)]
    soak_seconds: u64,
    /// The soak's rate, requests per second.
    #[arg(long, default_value_t = 200.0)]
    soak_rate: f64,
    /// Run gravida without its audit store (`GRAVIDA_STORE__ENABLED=false`), to see what the
    /// store costs; the audit trail is then not counted.
    #[arg(long)]
    no_store: bool,
}

/// How often the host slowed the CPU during a run, for the tables.
fn host(steadiness: &Steadiness) -> String {
    format!(
        "{:.0} % (p99 {:.1}×)",
        steadiness.slowed * 100.0,
        steadiness.p99_ratio
    )
}

fn hook_request(context: &Map<String, Json>) -> Json {
    json!({
        "hook": "patient-view",
        "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "context": context,
    })
}

fn ms(duration: Duration) -> String {
    format!("{:.2}", duration.as_secs_f64() * 1000.0)
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "MISSED" }
}

async fn run(args: Args) -> anyhow::Result<bool> {
    rustls::crypto::ring::default_provider()
        .install_default()
        .map_err(|_| anyhow::anyhow!("installing the TLS provider"))?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()?;

    // 0. The idle machine, as the canary sees it.
    let canary = Canary::start();
    let idle_from = std::time::Instant::now();
    eprintln!("watching the idle machine for {} s …", args.idle_seconds);
    tokio::time::sleep(Duration::from_secs(args.idle_seconds)).await;
    let idle = canary.during(idle_from, std::time::Instant::now());

    // 1. The servers.
    let port = free_port()?;
    let mut command = Command::new(&args.baseline);
    command.arg(format!("127.0.0.1:{port}"));
    let baseline = Server::start("baseline", command, port, &client).await?;
    let port = free_port()?;
    let mut command = Command::new(&args.gravida);
    command.args(["serve", "--listen", &format!("127.0.0.1:{port}")]);
    // A fresh audit store each run: a database grown by earlier runs would make every run
    // slower than the last, and the figures incomparable.
    let data_dir = TempDir::new()?;
    command.env("GRAVIDA_STORE__DATA_DIR", &data_dir.0);
    // The patient-hash key as a deployment gives it (a Secret), so that start-up is not timed
    // creating and syncing a key file, which only a very first start does.
    command.env(
        "GRAVIDA_STORE__PATIENT_KEY",
        "gravida-benchmark-patient-key",
    );
    // Stopped at the end to count what its store holds: no endpoints to wait for.
    command.env("GRAVIDA_HTTP__DRAIN_GRACE_MS", "0");
    if args.no_store {
        command.env("GRAVIDA_STORE__ENABLED", "false");
    }
    let gravida = Server::start("gravida", command, port, &client).await?;

    // 2. The requests, from Gravida's discovery document.
    let discovery: Json = client
        .get(format!("{}/cds-services", gravida.base))
        .send()
        .await?
        .json()
        .await?;
    let templates = discovery["services"]
        .as_array()
        .and_then(|services| services.iter().find(|s| s["id"] == "gravida-patient-view"))
        .and_then(|service| service["prefetch"].as_object())
        .context("gravida-patient-view and its prefetch templates in discovery")?;
    let context: Map<String, Json> =
        serde_json::from_value(json!({"userId": "Practitioner/example", "patientId": PATIENT_ID}))?;
    let chart = Chart::new(OffsetDateTime::now_utc().date());
    let mut prefetch = Map::new();
    let mut answers = Vec::new();
    for (key, template) in templates {
        let rendered =
            gravida_cds_hooks::prefetch::render(template.as_str().unwrap_or_default(), &context)?;
        let value = chart.prefetch_value(key);
        answers.push((rendered, value.to_string()));
        prefetch.insert(key.clone(), value);
    }
    let stub_address = stub::start(answers).await?;

    let mut full = hook_request(&context);
    full["prefetch"] = Json::Object(prefetch);
    let full = Bytes::from(full.to_string());
    let mut fetch = hook_request(&context);
    fetch["fhirServer"] = json!(format!("http://{stub_address}{}", stub::BASE_PATH));
    fetch["fhirAuthorization"] = json!({"access_token": "bench-token", "token_type": "Bearer",
        "expires_in": 300, "scope": "patient/*.read", "subject": "gravida-bench"});
    let fetch = Bytes::from(fetch.to_string());
    if let Some(folder) = &args.save_requests {
        std::fs::create_dir_all(folder)?;
        std::fs::write(folder.join("full-prefetch.json"), &full)?;
        std::fs::write(folder.join("fetch.json"), &fetch)?;
    }

    // 3. The reference answer, checked against pub01's expectations.
    let hook_url = |server: &Server| format!("{}/cds-services/gravida-patient-view", server.base);
    let first = client
        .post(hook_url(&gravida))
        .header("content-type", "application/json")
        .body(full.clone())
        .send()
        .await?;
    let status = first.status();
    let first: Json = first.json().await?;
    if status != 200 {
        bail!("the full-prefetch request was answered {status}: {first}");
    }
    Expectations::pub01()?
        .check(&first)
        .map_err(|wrong| anyhow::anyhow!("Gravida's answer is wrong: {wrong}\n{first:#}"))?;
    let reference = Arc::new(fingerprint(&first));
    let same_cards: Check = Arc::new(move |status, body| {
        if status != 200 {
            return Err(format!("status {status}"));
        }
        let answer: Json = serde_json::from_slice(body).map_err(|e| e.to_string())?;
        if fingerprint(&answer) != *reference {
            return Err(format!("different cards: {answer}"));
        }
        Ok(())
    });
    let no_cards: Check = Arc::new(|status, body| match (status, body) {
        (200, br#"{"cards":[]}"#) => Ok(()),
        _ => Err(format!("status {status}")),
    });
    let targets = [
        (
            "baseline, full prefetch",
            &baseline,
            Target {
                url: hook_url(&baseline),
                body: full.clone(),
                check: no_cards,
            },
        ),
        (
            "gravida, full prefetch",
            &gravida,
            Target {
                url: hook_url(&gravida),
                body: full.clone(),
                check: same_cards.clone(),
            },
        ),
        (
            "gravida, fetch",
            &gravida,
            Target {
                url: hook_url(&gravida),
                body: fetch.clone(),
                check: same_cards,
            },
        ),
    ];

    // 4. Saturated runs, in interleaved rounds.
    let rounds = args.rounds.max(1);
    let mut runs: Vec<Vec<Saturated>> = targets.iter().map(|_| Vec::new()).collect();
    // Gravida's resident memory after each round: now, and its peak so far.
    let mut rss_rounds = Vec::new();
    for round in 1..=rounds {
        for ((name, server, target), runs) in targets.iter().zip(&mut runs) {
            eprintln!("saturating, round {round} of {rounds}: {name} …");
            runs.push(saturate(&client, &canary, server, target, &args).await?);
        }
        rss_rounds.push((
            process::rss(gravida.pid())?,
            process::peak_rss(gravida.pid())?,
        ));
    }
    let saturated: Vec<Saturated> = runs.into_iter().map(Saturated::merged).collect();
    // Memory under saturating load, before the paced runs can pile requests up.
    let rss = [
        process::peak_rss(baseline.pid())?,
        process::peak_rss(gravida.pid())?,
    ];
    // 5. Paced runs: the full-prefetch request at each share of the baseline's throughput, the
    // baseline and Gravida in turn; the fetch request (which the baseline does not do) at half
    // its own.
    let baseline_rate = saturated[0].outcome.throughput();
    let mut shares = args.paced_shares.clone();
    shares.retain(|share| *share > 0.0 && *share < 1.0);
    if !shares.contains(&0.5) {
        shares.push(0.5);
    }
    shares.sort_unstable_by(f64::total_cmp);
    shares.dedup();
    let mut paced = Vec::new();
    for &share in &shares {
        for i in [0, 1] {
            let (name, _, target) = &targets[i];
            let run = (name.to_string(), target);
            paced.push(pace(&client, &canary, run, (baseline_rate * share, share), &args).await);
        }
    }
    let fetch_rate = saturated[2].outcome.throughput() / 2.0;
    let run = (
        format!("{} (half its own throughput)", targets[2].0),
        &targets[2].2,
    );
    let share = fetch_rate / baseline_rate;
    paced.push(pace(&client, &canary, run, (fetch_rate, share), &args).await);
    // The full-prefetch request at half Gravida's own saturated throughput: the latency of a
    // replica at half its capacity (half the baseline's can be above its capacity).
    let own_half = saturated[1].outcome.throughput() / 2.0;
    let run = (
        format!("{} (half its own throughput)", targets[1].0),
        &targets[1].2,
    );
    paced.push(
        pace(
            &client,
            &canary,
            run,
            (own_half, own_half / baseline_rate),
            &args,
        )
        .await,
    );
    let rss_after_paced = process::peak_rss(gravida.pid())?;
    // The memory a second after the load: what the allocator and the store gave back.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_idle = process::rss(gravida.pid())?;
    let soaked = soak(&client, &gravida, &data_dir, &targets[1].2, &args).await?;
    let typical = canary.typical();
    drop(canary);
    // The calls Gravida answered (a call shed with 503 recorded nothing).
    let answered = |o: &gravida_bench::load::Outcome| o.count() - o.shed;
    let calls = 1
        + saturated[1..]
            .iter()
            .map(|run| run.warmup + answered(&run.outcome))
            .sum::<usize>()
        + paced
            .iter()
            .filter(|run| run.name.starts_with("gravida"))
            .map(|run| answered(&run.outcome))
            .sum::<usize>()
        + soaked;
    let trail = if args.no_store {
        None
    } else {
        Some(trail(&client, &gravida, &data_dir.0, calls).await?)
    };

    // The report.
    let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, model)| model.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!();
    println!(
        "Gravida load benchmark, {} UTC, {cores} cores, {cpu_model}",
        OffsetDateTime::now_utc().date()
    );
    println!(
        "full-prefetch request: {} bytes, {} records; fetch request: {} bytes; concurrency {}",
        full.len(),
        chart.len(),
        fetch.len(),
        args.concurrency
    );
    println!(
        "host slowed: the share of the canary's samples (a fixed {} µs of CPU work every 20 ms) \
         that took at least {SLOWED}× that by the thread's own CPU clock, and their p99; \
         on the idle machine before the servers started: {}",
        typical.as_micros(),
        host(&idle)
    );
    println!();
    println!(
        "| saturated runs ({rounds} interleaved rounds) | requests | wrong | req/s | p50 ms | p99 ms | server CPU µs/req | voluntary (involuntary) context switches/req | host slowed |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut wrong = 0;
    for ((name, _, _), saturated) in targets.iter().zip(&saturated) {
        let o = &saturated.outcome;
        wrong += o.failures;
        println!(
            "| {name} | {} | {} | {:.0} | {} | {} | {} | {:.2} ({:.2}) | {} |",
            o.count(),
            o.failures,
            o.throughput(),
            ms(o.percentile(50.0)),
            ms(o.percentile(99.0)),
            saturated.cpu_per_request().as_micros(),
            saturated.switches_per_request(),
            saturated.preempted_per_request(),
            host(&saturated.host),
        );
        if let Some(failure) = &o.first_failure {
            println!("|   first wrong answer: {failure} |");
        }
    }
    println!();
    println!(
        "| paced run | req/s | share of the baseline's saturated req/s | requests | wrong | shed (503) | p50 ms | p99 ms | p99.9 ms | sent late, p99 ms | host slowed |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for run in &paced {
        let o = &run.outcome;
        wrong += o.failures;
        println!(
            "| {} | {:.0} | {:.0} % | {} | {} | {} | {} | {} | {} | {} | {} |",
            run.name,
            run.rate,
            run.share * 100.0,
            o.count(),
            o.failures,
            o.shed,
            ms(o.percentile(50.0)),
            ms(o.percentile(99.0)),
            ms(o.percentile(99.9)),
            ms(o.lateness_percentile(99.0)),
            host(&run.host),
        );
        if let Some(failure) = &o.first_failure {
            println!("|   first wrong answer: {failure} |");
        }
    }
    println!();
    let cpu_ratio = saturated[1].cpu_per_request().as_secs_f64()
        / saturated[0].cpu_per_request().as_secs_f64().max(1e-9);
    let throughput_ratio = saturated[1].outcome.throughput() / saturated[0].outcome.throughput();
    // The target's runs: the full-prefetch request at half the baseline's throughput.
    let at_half = |i: usize| &paced[2 * shares.iter().position(|s| *s == 0.5).unwrap_or(0) + i];
    let (baseline_half, gravida_half) = (at_half(0), at_half(1));
    let paced_p99 = gravida_half.outcome.percentile(99.0);
    let mib = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);
    println!("| target | figure | goal | |");
    println!("|---|---:|---:|---|");
    println!(
        "| server CPU per full-prefetch request, gravida / baseline | {cpu_ratio:.2}× | ≤ 1.5× | {} |",
        verdict(cpu_ratio <= 1.5)
    );
    println!(
        "| throughput, gravida / baseline (full prefetch) | {:.0} % | ≥ 70 % | {} |",
        throughput_ratio * 100.0,
        verdict(throughput_ratio >= 0.7)
    );
    println!(
        "| p99 at {:.0} req/s, half the baseline's saturated throughput (the bare baseline's: {} ms; host slowed in gravida's run: {}) | {} ms | < 10 ms | {} |",
        gravida_half.rate,
        ms(baseline_half.outcome.percentile(99.0)),
        host(&gravida_half.host),
        ms(paced_p99),
        verdict(paced_p99 < Duration::from_millis(10))
    );
    if let Some(own_half) = paced.last() {
        let p99 = own_half.outcome.percentile(99.0);
        println!(
            "| p99 at {:.0} req/s, half gravida's own saturated throughput ({} shed; host slowed: {}) | {} ms | < 10 ms | {} |",
            own_half.rate,
            own_half.outcome.shed,
            host(&own_half.host),
            ms(p99),
            verdict(p99 < Duration::from_millis(10))
        );
    }
    println!(
        "| peak RSS of gravida under saturating load (baseline: {:.1} MiB; gravida after the paced runs: {:.1} MiB) | {:.1} MiB | < 100 MB | {} |",
        mib(rss[0]),
        mib(rss_after_paced),
        mib(rss[1]),
        verdict(rss[1] < 100_000_000)
    );
    println!(
        "| start to ready, gravida (baseline: {} ms) | {} ms | < 300 ms | {} |",
        ms(baseline.ready_after),
        ms(gravida.ready_after),
        verdict(gravida.ready_after < Duration::from_millis(300))
    );
    println!(
        "| fetch request (not compared): CPU per request, ratio to the baseline's full-prefetch | {:.2}× | | |",
        saturated[2].cpu_per_request().as_secs_f64()
            / saturated[0].cpu_per_request().as_secs_f64().max(1e-9)
    );
    if let Some(trail) = &trail {
        println!(
            "| card records issued / stored (after a graceful stop; {} counted as dropped) | {} / {} | equal | {} |",
            trail.dropped,
            trail.issued,
            trail.stored,
            verdict(trail.issued == trail.stored)
        );
        // Per card record: a call shed with 503 (past capacity in a paced run) writes nothing,
        // and the benchmark patient gets one card per call answered.
        let per_card = trail.bytes as f64 / trail.stored.max(1) as f64;
        println!(
            "| store bytes per card recorded, one per call answered ({:.1} MB after {} calls, {:.0} bytes per call sent) | {per_card:.0} | ≤ 1,500 | {} |",
            trail.bytes as f64 / 1e6,
            trail.calls,
            trail.bytes as f64 / trail.calls.max(1) as f64,
            verdict(per_card <= 1500.0)
        );
    }
    println!(
        "| voluntary context switches per full-prefetch request at saturation, gravida (baseline: {:.2}) | {:.2} | ≤ 1.5 | {} |",
        saturated[0].switches_per_request(),
        saturated[1].switches_per_request(),
        verdict(saturated[1].switches_per_request() <= 1.5)
    );
    let rounds_rss: Vec<String> = rss_rounds
        .iter()
        .map(|(now, peak)| format!("{:.1}/{:.1}", mib(*now), mib(*peak)))
        .collect();
    let peak = rss_rounds.iter().map(|(_, peak)| *peak).max().unwrap_or(0);
    println!(
        "| gravida's RSS after each round, now/peak MiB: {}; a second after the load: {:.1} MiB | {:.1} MiB | < 80 MB | {} |",
        rounds_rss.join(", "),
        mib(rss_idle),
        mib(peak),
        verdict(peak < 80_000_000)
    );
    if wrong > 0 {
        println!("\n{wrong} WRONG ANSWERS: the figures above do not count.");
    }
    let missing = trail.as_ref().is_some_and(|t| t.issued != t.stored);
    if let Some(trail) = trail.as_ref().filter(|_| missing) {
        println!(
            "\nCARD RECORDS MISSING: {} issued, {} stored.",
            trail.issued, trail.stored
        );
    }
    Ok(wrong == 0 && !missing)
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Args::parse()).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("benchmark failed: {error:#}");
            ExitCode::FAILURE
        }
    }
}
