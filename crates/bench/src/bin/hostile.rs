//! The hostile-FHIR-server benchmark: Gravida's peak memory and slowest answer when the EHR's
//! FHIR server sends too much, too slowly, or nothing at all.
//!
//! It starts a FHIR server of its own on loopback that answers every search (all eight of
//! Gravida's prefetch keys, since the calls carry no prefetch) with `--pages` pages of
//! `--page-mib` MiB each, in one of these shapes:
//!
//! * `many`: each page is a Bundle of small Observations about the call's patient (tens of
//!   thousands of entries per page), sent as fast as loopback allows;
//! * `large`: each page is a Bundle of a few Observations with a note of about a MiB each;
//! * `drip`: a `many` page sent 16 KiB every `--drip-ms` milliseconds;
//! * `stall`: the status line and headers, then nothing.
//!
//! For each shape it starts a fresh Gravida (so that each peak RSS is the shape's own), sends
//! `--rounds` rounds of `--calls` concurrent patient-view calls, and reports the status codes,
//! the slowest answer against `fhir.deadline_ms`, and Gravida's peak resident set (VmHWM).
//! Run it with `scripts/hostile-fhir.sh`.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener as StdListener};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use gravida_bench::process::peak_rss;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Debug, Parser)]
struct Args {
    /// The gravida binary.
    #[arg(long, default_value = "target/release/gravida")]
    gravida: String,
    /// Concurrent hook calls per round.
    #[arg(long, default_value_t = 16)]
    calls: usize,
    /// Rounds of concurrent calls per shape.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Pages per search (each with a `next` link but the last).
    #[arg(long, default_value_t = 10)]
    pages: usize,
    /// MiB per page.
    #[arg(long, default_value_t = 10)]
    page_mib: usize,
    /// Milliseconds between 16 KiB chunks in the `drip` shape.
    #[arg(long, default_value_t = 100)]
    drip_ms: u64,
    /// Gravida's `fhir.deadline_ms`.
    #[arg(long, default_value_t = 3000)]
    deadline_ms: u64,
    /// The shapes to run, comma-separated.
    #[arg(long, default_value = "many,large,drip,stall")]
    shapes: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Many,
    Large,
    Drip,
    Stall,
}

impl Shape {
    fn parse(name: &str) -> anyhow::Result<Shape> {
        Ok(match name {
            "many" => Shape::Many,
            "large" => Shape::Large,
            "drip" => Shape::Drip,
            "stall" => Shape::Stall,
            other => anyhow::bail!("unknown shape {other:?}"),
        })
    }
}

const PATIENT: &str = "hostile-p1";

/// One page of `mib` MiB of Observations about the patient; `note` bytes of note text each.
fn page_body(mib: usize, note: usize, next: Option<&str>) -> Vec<u8> {
    let target = mib * 1024 * 1024;
    let note_text = "x".repeat(note);
    let mut entries = Vec::new();
    let mut size = 0;
    let mut i = 0;
    while size < target.saturating_sub(note + 512) {
        let mut resource = json!({
            "resourceType": "Observation", "id": format!("o{i}"), "status": "final",
            "subject": {"reference": format!("Patient/{PATIENT}")},
            "code": {"coding": [{"system": "http://loinc.org", "code": "8665-2"}]},
            "effectiveDateTime": "2026-01-02"
        });
        if note > 0 {
            resource["note"] = json!([{"text": note_text}]);
        }
        let entry = json!({"resource": resource, "search": {"mode": "match"}});
        size += entry.to_string().len() + 1;
        entries.push(entry);
        i += 1;
    }
    let mut bundle = json!({"resourceType": "Bundle", "type": "searchset", "entry": entries});
    if let Some(next) = next {
        bundle["link"] = json!([{"relation": "next", "url": next}]);
    }
    bundle.to_string().into_bytes()
}

/// The pages, built once: page `n` (1-based) links to `n + 1` on the same server.
struct Pages {
    bodies: Vec<Arc<Vec<u8>>>,
}

impl Pages {
    fn build(addr: SocketAddr, shape: Shape, pages: usize, mib: usize) -> Pages {
        let note = if shape == Shape::Large {
            1024 * 1024
        } else {
            0
        };
        // The pages differ only in their next link: build one body and patch the link.
        let bodies = (1..=pages)
            .map(|n| {
                let next = (n < pages)
                    .then(|| format!("http://{addr}/fhir/Observation?hostile-page={}", n + 1));
                Arc::new(page_body(mib, note, next.as_deref()))
            })
            .collect();
        Pages { bodies }
    }
}

/// Serves one connection: one request, one answer, then close.
async fn serve(mut stream: TcpStream, pages: Arc<Pages>, shape: Shape, drip: Duration) {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
        if head.len() > 64 * 1024 {
            return;
        }
    }
    let head = String::from_utf8_lossy(&head);
    let target = head.split_whitespace().nth(1).unwrap_or("/");
    if target.starts_with(&format!("/fhir/Patient/{PATIENT}")) {
        let body = json!({"resourceType": "Patient", "id": PATIENT}).to_string();
        let _ = stream
            .write_all(
                format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/fhir+json\r\n\
                     content-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                )
                .as_bytes(),
            )
            .await;
        return;
    }
    let page: usize = target
        .split("hostile-page=")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(1);
    let Some(body) = pages.bodies.get(page - 1) else {
        let _ = stream
            .write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
            .await;
        return;
    };
    let headers = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/fhir+json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    if stream.write_all(headers.as_bytes()).await.is_err() {
        return;
    }
    match shape {
        Shape::Stall => tokio::time::sleep(Duration::from_secs(3600)).await,
        Shape::Drip => {
            for chunk in body.chunks(16 * 1024) {
                if stream.write_all(chunk).await.is_err() {
                    return;
                }
                tokio::time::sleep(drip).await;
            }
        }
        Shape::Many | Shape::Large => {
            let _ = stream.write_all(body).await;
        }
    }
}

async fn start_fhir(shape: Shape, args: &Args) -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let pages = Arc::new(Pages::build(addr, shape, args.pages, args.page_mib));
    let drip = Duration::from_millis(args.drip_ms);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(serve(stream, Arc::clone(&pages), shape, drip));
        }
    });
    Ok(addr)
}

/// A started gravida, killed when dropped.
struct Gravida {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Gravida {
    /// SIGTERM first (gravida shuts down cleanly, and a profiler wrapping it writes its output),
    /// then SIGKILL if it is still there after five seconds.
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let asked = Instant::now();
        while asked.elapsed() < Duration::from_secs(5) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_gravida(args: &Args) -> anyhow::Result<Gravida> {
    let addr = StdListener::bind("127.0.0.1:0")?.local_addr()?;
    let child = Command::new(&args.gravida)
        .arg("serve")
        .env("GRAVIDA_LISTEN", addr.to_string())
        .env("GRAVIDA_STORE__ENABLED", "false")
        .env("GRAVIDA_METRICS__ENABLED", "false")
        .env("GRAVIDA_LOG__FILTER", "error")
        .env("GRAVIDA_FHIR__DEADLINE_MS", args.deadline_ms.to_string())
        .env(
            "GRAVIDA_HTTP__REQUEST_TIMEOUT_MS",
            (args.deadline_ms + 5000).to_string(),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("starting {}", args.gravida))?;
    let gravida = Gravida { child, addr };
    let client = reqwest::Client::new();
    let started = Instant::now();
    loop {
        if let Ok(response) = client.get(format!("http://{addr}/readyz")).send().await
            && response.status().is_success()
        {
            return Ok(gravida);
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(30),
            "gravida did not become ready"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn hook_call(fhir: SocketAddr) -> String {
    json!({
        "hook": "patient-view",
        "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "fhirServer": format!("http://{fhir}/fhir"),
        "context": {"userId": "Practitioner/hostile", "patientId": PATIENT}
    })
    .to_string()
}

/// What one shape gave.
#[derive(Debug)]
struct Figures {
    statuses: BTreeMap<String, usize>,
    slowest: Duration,
    peak_rss: u64,
}

async fn run_shape(shape: Shape, args: &Args) -> anyhow::Result<Figures> {
    let fhir = start_fhir(shape, args).await?;
    let gravida = start_gravida(args).await?;
    let url = format!("http://{}/cds-services/gravida-patient-view", gravida.addr);
    let body = hook_call(fhir);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(args.deadline_ms + 10_000))
        .build()?;
    let mut statuses = BTreeMap::new();
    let mut slowest = Duration::ZERO;
    for _ in 0..args.rounds {
        let calls = (0..args.calls).map(|_| {
            let (client, url, body) = (client.clone(), url.clone(), body.clone());
            tokio::spawn(async move {
                let started = Instant::now();
                let status = client
                    .post(url)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .map(|response| response.status().as_u16().to_string())
                    .unwrap_or_else(|error| format!("error: {error}"));
                (status, started.elapsed())
            })
        });
        for call in calls.collect::<Vec<_>>() {
            let (status, elapsed) = call.await?;
            *statuses.entry(status).or_default() += 1;
            slowest = slowest.max(elapsed);
        }
    }
    let peak_rss = peak_rss(gravida.child.id())?;
    Ok(Figures {
        statuses,
        slowest,
        peak_rss,
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // reqwest is built without a default TLS provider; loopback is plain HTTP, but a client
    // cannot be built without one.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let shapes: Vec<Shape> = args
        .shapes
        .split(',')
        .map(Shape::parse)
        .collect::<anyhow::Result<_>>()?;
    println!(
        "{} rounds of {} concurrent patient-view calls; each search {} pages x {} MiB; deadline {} ms",
        args.rounds, args.calls, args.pages, args.page_mib, args.deadline_ms
    );
    println!(
        "{:<6} {:>12} {:>10} {:>16}  statuses",
        "shape", "slowest ms", "over ms", "peak RSS MB"
    );
    for shape in shapes {
        let figures = run_shape(shape, &args).await?;
        let slowest_ms = figures.slowest.as_secs_f64() * 1000.0;
        println!(
            "{:<6} {:>12.0} {:>10.0} {:>16.1}  {:?}",
            format!("{shape:?}").to_lowercase(),
            slowest_ms,
            slowest_ms - args.deadline_ms as f64,
            figures.peak_rss as f64 / 1e6,
            figures.statuses
        );
    }
    Ok(())
}
