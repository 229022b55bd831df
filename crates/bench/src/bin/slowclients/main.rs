//! The slow-clients benchmark: a Gravida on loopback under slowloris, an idle keep-alive flood,
//! slow bodies and large bodies, while two paced valid clients check that real calls are still
//! answered.
//!
//! Run it through `scripts/slow-clients.sh`, which builds the release binaries and raises the
//! file-descriptor limit first. For each load it starts a fresh `gravida serve` with its defaults
//! (a temp audit store, and one trusted issuer whose tokens the valid clients sign with, unless
//! `--no-auth`), so each load's peak RSS (`VmHWM`) is its own, then for `--seconds`:
//!
//! * two **valid clients** send a patient-view call (a minimal valid one: no records, no cards),
//!   each with a 30 s timeout: one over a new connection per call every
//!   `--new-connection-interval-ms`, one over a single kept-alive connection every
//!   `--keep-alive-interval-ms` (an EHR calling every few seconds);
//! * the **load**, one of
//!   - `slowloris`: up to `--slowloris-connections` connections, each sending a request line and
//!     then one header line every `--slowloris-interval-s`, never finishing; a connection the
//!     server closes is opened again;
//!   - `idle`: `--idle-connections` connections that each make one `GET /healthz` and then sit
//!     idle; one the server closes is opened again and makes its request again;
//!   - `slow-bodies`: `--slow-bodies` hook calls declaring a `--slow-body-bytes` body and sending
//!     one byte a second; one the server answers or closes is started again;
//!   - `big-bodies`: `--big-bodies` hook calls without a token, each declaring `--big-body-bytes`
//!     and sending all of it but the last byte at once, then waiting for the answer or the close,
//!     then starting again (what an unauthenticated caller could make a replica hold);
//!   - `signed-big-bodies`: the same with a valid token each (what the body budget bounds);
//!   - `quiet`: nothing, for reference.
//!
//! It then prints, per load and valid client: calls sent, answered 200, other outcomes, the
//! median, 99th-percentile and slowest answer, the attackers' connections and answers, and the
//! server's peak RSS, plus the server's own connection counters from `/metrics`. It asserts
//! nothing: the figures are for reading.

mod attacks;
mod valid;

use std::path::PathBuf;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;
use gravida_auth::testing;
use gravida_bench::process;
use tokio::task::JoinSet;
use tokio::time::Instant;

use attacks::{Attack, attacker, big_body, idle, slow_body, slowloris};
use valid::{Connections, Valid, valid_client};

#[derive(Debug, Parser)]
#[command(
    about = "Loads gravida with slow, idle and large-body clients while valid clients call it.",
    // scripts/slow-clients.sh passes --gravida; a later one (another build) replaces it.
    args_override_self = true
)]
struct Args {
    /// The gravida binary (release or debug).
    #[arg(long, default_value = "target/release/gravida")]
    gravida: PathBuf,
    /// How long each load runs, in seconds.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// The loads to run, in order: quiet, slowloris, idle, slow-bodies, big-bodies,
    /// signed-big-bodies.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "quiet,slowloris,idle,slow-bodies,big-bodies,signed-big-bodies"
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
    /// Large-body hook calls at once.
    #[arg(long, default_value_t = 150)]
    big_bodies: usize,
    /// The body size a large-body call declares (all but its last byte are sent).
    #[arg(long, default_value_t = 8 * 1024 * 1024)]
    big_body_bytes: usize,
    /// Milliseconds between two calls of the new-connection-per-call valid client.
    #[arg(long, default_value_t = 500)]
    new_connection_interval_ms: u64,
    /// Milliseconds between two calls of the kept-alive valid client.
    #[arg(long, default_value_t = 2000)]
    keep_alive_interval_ms: u64,
    /// Start gravida without a trusted issuer, and send the valid calls unsigned.
    #[arg(long)]
    no_auth: bool,
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
        auth: bool,
    ) -> anyhow::Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let data = TempDir::new(label)?;
        // The settings file: the public base the tokens name, and the test issuer's keys.
        let config = data.0.join("gravida.toml");
        let mut toml = format!("public_base_url = \"http://127.0.0.1:{port}\"\n");
        if auth {
            let jwks = data.0.join("jwks.json");
            std::fs::write(&jwks, testing::ISSUER_A_JWKS)?;
            toml.push_str(&format!(
                "[[auth.issuers]]\niss = \"{}\"\njwks_file = \"{}\"\ntenants = [\"{}\"]\n",
                testing::ISSUER_A,
                jwks.display(),
                testing::TENANT_A
            ));
        }
        std::fs::write(&config, toml)?;
        let child = Command::new(binary)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .arg("--config")
            .arg(&config)
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

/// One load's figures.
struct Figures {
    load: String,
    new_connection: Valid,
    keep_alive: Valid,
    attack: Arc<Attack>,
    peak_rss: u64,
    /// The server's connection counters, from `/metrics`.
    counters: Vec<String>,
}

async fn run_load(args: &Args, load: &str, client: &reqwest::Client) -> anyhow::Result<Figures> {
    let auth = !args.no_auth;
    let gravida = Gravida::start(&args.gravida, load, client, auth).await?;
    eprintln!(
        "{load}: gravida pid {} on {} …",
        gravida.pid(),
        gravida.addr
    );
    let attack = Arc::new(Attack::default());
    let connects = Arc::new(tokio::sync::Semaphore::new(args.connect_concurrency.max(1)));
    let mut attackers = JoinSet::new();
    let addr = gravida.addr.clone();
    let count = match load {
        "quiet" => 0,
        "slowloris" => args.slowloris_connections,
        "idle" => args.idle_connections,
        "slow-bodies" => args.slow_bodies,
        "big-bodies" | "signed-big-bodies" => args.big_bodies,
        other => bail!(
            "unknown load `{other}` (quiet, slowloris, idle, slow-bodies, big-bodies, \
             signed-big-bodies)"
        ),
    };
    let interval = Duration::from_secs(args.slowloris_interval_s);
    let (size, big) = (args.slow_body_bytes, args.big_body_bytes);
    let audience = format!("http://{addr}/cds-services/gravida-patient-view");
    for _ in 0..count {
        let (addr, attack, connects) = (addr.clone(), attack.clone(), connects.clone());
        match load {
            "slowloris" => attackers.spawn(attacker(addr, attack, connects, move |s, a| {
                slowloris(s, a, interval)
            })),
            "idle" => attackers.spawn(attacker(addr, attack, connects, idle)),
            "slow-bodies" => attackers.spawn(attacker(addr, attack, connects, move |s, a| {
                slow_body(s, a, size)
            })),
            "big-bodies" => attackers.spawn(attacker(addr, attack, connects, move |s, a| {
                big_body(s, a, big, None)
            })),
            _ => {
                let audience = audience.clone();
                attackers.spawn(attacker(addr, attack, connects, move |s, a| {
                    big_body(s, a, big, Some(valid::token(&audience)))
                }))
            }
        };
    }
    let length = Duration::from_secs(args.seconds);
    let (new_connection, keep_alive) = tokio::join!(
        valid_client(
            addr.clone(),
            Connections::NewPerCall,
            auth,
            Duration::from_millis(args.new_connection_interval_ms),
            length,
        ),
        valid_client(
            addr.clone(),
            Connections::KeepAlive,
            auth,
            Duration::from_millis(args.keep_alive_interval_ms),
            length,
        ),
    );
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
                l.starts_with("gravida_http_connection")
                    || l.starts_with("gravida_hook_calls_shed")
                    || l.starts_with("gravida_body_budget")
            })
            .map(str::to_owned)
            .collect(),
        Err(e) => vec![format!("(metrics unavailable: {e})")],
    };
    Ok(Figures {
        load: load.to_owned(),
        new_connection: new_connection?,
        keep_alive: keep_alive?,
        attack,
        peak_rss,
        counters,
    })
}

/// `a: n, b: m`, or `none`.
fn listed<K: std::fmt::Display>(counts: impl Iterator<Item = (K, usize)>) -> String {
    let listed: Vec<String> = counts.map(|(k, v)| format!("{k}: {v}")).collect();
    if listed.is_empty() {
        "none".to_owned()
    } else {
        listed.join(", ")
    }
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
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
        "\n{} s per load; valid calls {} (new connection every {} ms, keep-alive every {} ms); \
         binary {}\n",
        args.seconds,
        if args.no_auth { "unsigned" } else { "signed" },
        args.new_connection_interval_ms,
        args.keep_alive_interval_ms,
        args.gravida.display()
    );
    println!(
        "| load | valid client | sent | 200 | other | p50 | p99 | slowest | attackers: peak connected / connections made / closed by server / connect failures | attackers' answers | peak RSS |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for f in &all {
        let answers = {
            let answers = f.attack.answers.lock().unwrap_or_else(|e| e.into_inner());
            listed(answers.iter().map(|(k, v)| (k, *v)))
        };
        for (client, valid) in [
            ("new connection per call", &f.new_connection),
            ("keep-alive", &f.keep_alive),
        ] {
            println!(
                "| {} | {client} | {} | {} | {} | {} | {} | {} | {} / {} / {} / {} | {} | {:.1} MiB |",
                f.load,
                valid.sent,
                valid.ok,
                listed(valid.other.iter().map(|(k, v)| (k, *v))),
                ms(valid.quantile(0.5)),
                ms(valid.quantile(0.99)),
                ms(valid.quantile(1.0)),
                f.attack.peak_open.load(Ordering::Relaxed),
                f.attack.opened.load(Ordering::Relaxed),
                f.attack.closed_by_server.load(Ordering::Relaxed),
                f.attack.connect_failures.load(Ordering::Relaxed),
                answers,
                f.peak_rss as f64 / (1024.0 * 1024.0),
            );
        }
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
