//! The slow-clients benchmark: a Gravida on loopback under slowloris, an idle keep-alive flood and
//! slow bodies, while a paced valid client checks that real calls are still answered.
//!
//! Run it through `scripts/slow-clients.sh`, which builds the release binaries and raises the
//! file-descriptor limit first. For each load it starts a fresh `gravida serve` with its defaults
//! (a temp audit store), so each load's peak RSS (`VmHWM`) is its own, then for `--seconds`:
//!
//! * the **valid client** sends a patient-view call (a minimal valid one: no records, no cards)
//!   every `--valid-interval-ms`, each with a 30 s timeout, over a pooled keep-alive client;
//! * the **load**, one of
//!   - `slowloris`: up to `--slowloris-connections` connections, each sending a request line and
//!     then one header line every `--slowloris-interval-s`, never finishing; a connection the
//!     server closes is opened again;
//!   - `idle`: `--idle-connections` connections that each make one `GET /healthz` and then sit
//!     idle; one the server closes is opened again and makes its request again;
//!   - `slow-bodies`: `--slow-bodies` hook calls declaring a `--slow-body-bytes` body and sending
//!     one byte a second; one the server answers or closes is started again;
//!   - `quiet`: nothing, for reference.
//!
//! It then prints, per load: valid calls sent, answered 200, other outcomes, the slowest valid
//! answer, the attackers' peak of open connections, and the server's peak RSS, plus the server's
//! own connection counters from `/metrics`. It asserts nothing: the figures are for reading.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;
use gravida_bench::process;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tokio::time::Instant;

#[derive(Debug, Parser)]
#[command(about = "Loads gravida with slow and idle clients while a valid client calls it.")]
struct Args {
    /// The gravida binary (release or debug).
    #[arg(long, default_value = "target/release/gravida")]
    gravida: PathBuf,
    /// How long each load runs, in seconds.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// The loads to run, in order: quiet, slowloris, idle, slow-bodies.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "quiet,slowloris,idle,slow-bodies"
    )]
    loads: Vec<String>,
    /// Slowloris connections kept trying at once.
    #[arg(long, default_value_t = 20_000)]
    slowloris_connections: usize,
    /// Seconds between two header lines of a slowloris connection.
    #[arg(long, default_value_t = 10)]
    slowloris_interval_s: u64,
    /// Idle keep-alive connections.
    #[arg(long, default_value_t = 6_000)]
    idle_connections: usize,
    /// Slow-body hook calls at once.
    #[arg(long, default_value_t = 300)]
    slow_bodies: usize,
    /// The body size a slow-body call declares.
    #[arg(long, default_value_t = 1_000_000)]
    slow_body_bytes: usize,
    /// Milliseconds between two valid calls.
    #[arg(long, default_value_t = 200)]
    valid_interval_ms: u64,
    /// Connection attempts in progress at once, per load (a ramp, not a limit on open ones).
    #[arg(long, default_value_t = 256)]
    connect_concurrency: usize,
}

/// A folder of its own under the system's temp folder, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(label: &str) -> anyhow::Result<TempDir> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|since| since.as_nanos())
            .unwrap_or_default();
        let path = std::env::temp_dir().join(format!(
            "gravida-slowclients-{label}-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(TempDir(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The gravida this program started; killed (by its own handle) when dropped.
struct Gravida {
    child: Child,
    addr: String,
    _data: TempDir,
}

impl Drop for Gravida {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Gravida {
    async fn start(
        binary: &PathBuf,
        label: &str,
        client: &reqwest::Client,
    ) -> anyhow::Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let data = TempDir::new(label)?;
        let child = Command::new(binary)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .env("GRAVIDA_STORE__DATA_DIR", &data.0)
            .env(
                "GRAVIDA_STORE__PATIENT_KEY",
                "gravida-benchmark-patient-key",
            )
            .env("GRAVIDA_LOG__FILTER", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let mut gravida = Gravida {
            child,
            addr: format!("127.0.0.1:{port}"),
            _data: data,
        };
        let started = Instant::now();
        loop {
            let ready = client
                .get(format!("http://{}/readyz", gravida.addr))
                .send()
                .await;
            if ready.is_ok_and(|r| r.status().is_success()) {
                return Ok(gravida);
            }
            if let Some(status) = gravida.child.try_wait()? {
                bail!("gravida exited: {status}");
            }
            if started.elapsed() > Duration::from_secs(20) {
                bail!("gravida was not ready within 20 s");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

/// What the valid client saw.
#[derive(Debug, Default)]
struct Valid {
    sent: usize,
    ok: usize,
    /// Other statuses and errors, by name (`503`, `timeout`, `connect`, …).
    other: BTreeMap<String, usize>,
    slowest: Duration,
}

/// The attackers' counters.
#[derive(Debug, Default)]
struct Attack {
    open: AtomicUsize,
    peak_open: AtomicUsize,
    opened: AtomicUsize,
    connect_failures: AtomicUsize,
    /// Connections the server closed (end-of-file or reset).
    closed_by_server: AtomicUsize,
    /// Answers the attackers got, by status.
    answers: Mutex<BTreeMap<u16, usize>>,
}

impl Attack {
    fn connected(&self) {
        self.opened.fetch_add(1, Ordering::Relaxed);
        let now = self.open.fetch_add(1, Ordering::Relaxed) + 1;
        self.peak_open.fetch_max(now, Ordering::Relaxed);
    }

    fn disconnected(&self, by_server: bool) {
        self.open.fetch_sub(1, Ordering::Relaxed);
        if by_server {
            self.closed_by_server.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn answered(&self, status: u16) {
        let mut answers = self.answers.lock().unwrap_or_else(|e| e.into_inner());
        *answers.entry(status).or_default() += 1;
    }
}

/// One attacking connection's life, repeated until the load ends: connect, then `behave`.
async fn attacker<F, Fut>(
    addr: String,
    attack: Arc<Attack>,
    connects: Arc<tokio::sync::Semaphore>,
    behave: F,
) where
    F: Fn(TcpStream, Arc<Attack>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    loop {
        let stream = {
            let Ok(_turn) = connects.acquire().await else {
                return;
            };
            tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(&addr)).await
        };
        match stream {
            Ok(Ok(stream)) => {
                attack.connected();
                behave(stream, attack.clone()).await;
            }
            _ => {
                // Out of descriptors or ports, or the server's queue is full: back off a little.
                attack.connect_failures.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

/// Slowloris: a request line, then a header line every `interval`, until the server closes.
async fn slowloris(mut stream: TcpStream, attack: Arc<Attack>, interval: Duration) {
    let mut line = 0u64;
    let mut buf = [0u8; 512];
    if stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n")
        .await
        .is_err()
    {
        attack.disconnected(true);
        return;
    }
    loop {
        tokio::select! {
            read = stream.read(&mut buf) => match read {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            },
            () = tokio::time::sleep(interval) => {
                line += 1;
                let header = format!("X-Slow-{line}: 1\r\n");
                if stream.write_all(header.as_bytes()).await.is_err() {
                    break;
                }
            }
        }
    }
    attack.disconnected(true);
}

/// The idle flood: one request, then nothing, until the server closes.
async fn idle(mut stream: TcpStream, attack: Arc<Attack>) {
    if stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .is_err()
    {
        attack.disconnected(true);
        return;
    }
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if head.len() < 16 {
                    head.extend_from_slice(&buf[..n]);
                    if let Some(status) = status_of(&head) {
                        attack.answered(status);
                    }
                }
            }
        }
    }
    attack.disconnected(true);
}

/// A slow body: a hook call declaring `size` bytes and sending one a second.
async fn slow_body(mut stream: TcpStream, attack: Arc<Attack>, size: usize) {
    let head = format!(
        "POST /cds-services/gravida-patient-view HTTP/1.1\r\nHost: localhost\r\n\
         Content-Type: application/json\r\nContent-Length: {size}\r\n\r\n"
    );
    if stream.write_all(head.as_bytes()).await.is_err() {
        attack.disconnected(true);
        return;
    }
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    let mut ticks = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            read = stream.read(&mut buf) => match read {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    answer.extend_from_slice(&buf[..n]);
                    if let Some(status) = status_of(&answer) {
                        // Answered: this call is over, start another.
                        attack.answered(status);
                        break;
                    }
                }
            },
            _ = ticks.tick() => {
                if stream.write_all(b" ").await.is_err() {
                    break;
                }
            }
        }
    }
    attack.disconnected(true);
}

/// The status of an HTTP/1.1 answer whose first bytes are `bytes`, once they hold it.
fn status_of(bytes: &[u8]) -> Option<u16> {
    let text = std::str::from_utf8(bytes.get(..12)?).ok()?;
    text.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
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

/// Sends a valid call every `interval` for `length`, each on its own task, and collects what
/// came back (waiting for the calls still in flight at the end).
async fn valid_client(
    client: reqwest::Client,
    addr: String,
    interval: Duration,
    length: Duration,
) -> Valid {
    let url = format!("http://{addr}/cds-services/gravida-patient-view");
    let body = valid_call();
    let mut calls = JoinSet::new();
    let mut ticks = tokio::time::interval(interval);
    let end = Instant::now() + length;
    while Instant::now() < end {
        ticks.tick().await;
        let (client, url, body) = (client.clone(), url.clone(), body.clone());
        calls.spawn(async move {
            let started = Instant::now();
            let sent = client
                .post(url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await;
            let outcome = match sent {
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
        valid.slowest = valid.slowest.max(took);
        match outcome {
            Ok(200) => valid.ok += 1,
            Ok(status) => *valid.other.entry(status.to_string()).or_default() += 1,
            Err(kind) => *valid.other.entry(kind).or_default() += 1,
        }
    }
    valid
}

/// One load's figures.
struct Figures {
    load: String,
    valid: Valid,
    attack: Arc<Attack>,
    peak_rss: u64,
    /// The server's connection counters, from `/metrics`.
    counters: Vec<String>,
}

async fn run_load(args: &Args, load: &str, client: &reqwest::Client) -> anyhow::Result<Figures> {
    let gravida = Gravida::start(&args.gravida, load, client).await?;
    eprintln!(
        "{load}: gravida pid {} on {} …",
        gravida.pid(),
        gravida.addr
    );
    let attack = Arc::new(Attack::default());
    let connects = Arc::new(tokio::sync::Semaphore::new(args.connect_concurrency.max(1)));
    let mut attackers = JoinSet::new();
    let addr = gravida.addr.clone();
    let (count, kind) = match load {
        "quiet" => (0, load),
        "slowloris" => (args.slowloris_connections, load),
        "idle" => (args.idle_connections, load),
        "slow-bodies" => (args.slow_bodies, load),
        other => bail!("unknown load `{other}` (quiet, slowloris, idle, slow-bodies)"),
    };
    let interval = Duration::from_secs(args.slowloris_interval_s);
    let size = args.slow_body_bytes;
    for _ in 0..count {
        let (addr, attack, connects) = (addr.clone(), attack.clone(), connects.clone());
        match kind {
            "slowloris" => attackers.spawn(attacker(addr, attack, connects, move |s, a| {
                slowloris(s, a, interval)
            })),
            "idle" => attackers.spawn(attacker(addr, attack, connects, idle)),
            _ => attackers.spawn(attacker(addr, attack, connects, move |s, a| {
                slow_body(s, a, size)
            })),
        };
    }
    let length = Duration::from_secs(args.seconds);
    let valid = valid_client(
        client.clone(),
        addr.clone(),
        Duration::from_millis(args.valid_interval_ms),
        length,
    )
    .await;
    let peak_rss = process::peak_rss(gravida.pid())?;
    attackers.shutdown().await;
    // The attackers' sockets are closed: the server's counters can be read.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let counters = match client
        .get(format!("http://{addr}/metrics"))
        .timeout(Duration::from_secs(10))
        .send()
        .await
    {
        Ok(response) => response
            .text()
            .await
            .unwrap_or_default()
            .lines()
            .filter(|l| {
                l.starts_with("gravida_http_connection") || l.starts_with("gravida_hook_calls_shed")
            })
            .map(str::to_owned)
            .collect(),
        Err(e) => vec![format!("(metrics unavailable: {e})")],
    };
    Ok(Figures {
        load: load.to_owned(),
        valid,
        attack,
        peak_rss,
        counters,
    })
}

async fn run(args: Args) -> anyhow::Result<()> {
    rustls::crypto::ring::default_provider()
        .install_default()
        .map_err(|_| anyhow::anyhow!("installing the TLS provider"))?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let mut all = Vec::new();
    for load in &args.loads {
        all.push(run_load(&args, load, &client).await?);
    }

    println!(
        "\n{} s per load; a valid call every {} ms; binary {}\n",
        args.seconds,
        args.valid_interval_ms,
        args.gravida.display()
    );
    println!(
        "| load | valid calls sent | 200 | other | slowest valid answer | attackers: peak connected / connections made / closed by server / connect failures | attackers' answers | peak RSS |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for f in &all {
        let other = if f.valid.other.is_empty() {
            "none".to_owned()
        } else {
            f.valid
                .other
                .iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let answers = f
            .attack
            .answers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect::<Vec<_>>()
            .join(", ");
        println!(
            "| {} | {} | {} | {} | {:.0} ms | {} / {} / {} / {} | {} | {:.1} MiB |",
            f.load,
            f.valid.sent,
            f.valid.ok,
            other,
            f.valid.slowest.as_secs_f64() * 1000.0,
            f.attack.peak_open.load(Ordering::Relaxed),
            f.attack.opened.load(Ordering::Relaxed),
            f.attack.closed_by_server.load(Ordering::Relaxed),
            f.attack.connect_failures.load(Ordering::Relaxed),
            if answers.is_empty() {
                "none".to_owned()
            } else {
                answers
            },
            f.peak_rss as f64 / (1024.0 * 1024.0),
        );
    }
    for f in &all {
        println!("\n{}: the server's counters at the end", f.load);
        for line in &f.counters {
            println!("    {line}");
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Args::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("slowclients: {e:#}");
            ExitCode::FAILURE
        }
    }
}
