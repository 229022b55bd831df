//! Test support: a real Gravida on port 0, an HTTP client, and the fixtures.

use std::path::PathBuf;

use gravida_server::clock::Clock;
use gravida_server::settings::Settings;
use gravida_server::startup::Application;
use serde_json::Value;

/// A running Gravida and a client to talk to it.
pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    /// The app's `[store] data_dir`: a fresh temp folder unless the test chose one.
    pub data_dir: PathBuf,
    /// The governance console's base URL, when `[admin] listen` was set.
    pub admin_address: Option<String>,
    /// Where the app's hook calls read "now".
    pub clock: Clock,
}

/// The embedded defaults plus `env`-style overrides, listening on loopback port 0.
fn settings_with(env: &[(&str, &str)]) -> Settings {
    let mut vars: Vec<(String, String)> = vec![("GRAVIDA_LISTEN".into(), "127.0.0.1:0".into())];
    vars.extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Settings::load_from(None, vars).expect("test settings are valid")
}

impl TestApp {
    /// Starts Gravida on loopback port 0 with the embedded defaults plus `env`-style overrides.
    pub async fn spawn_with(env: &[(&str, &str)]) -> TestApp {
        TestApp::start(settings_with(env)).await
    }

    async fn start(settings: Settings) -> TestApp {
        TestApp::start_with_clock(settings, Clock::System).await
    }

    /// Starts Gravida with the embedded defaults, reading every hook call at noon UTC of `day`:
    /// a chart written on `day` is read as its writer read it, whatever day the test runs.
    pub async fn spawn_on(day: time::Date) -> TestApp {
        let noon = day.with_time(time::macros::time!(12:00)).assume_utc();
        TestApp::start_with_clock(settings_with(&[]), Clock::Pinned(noon)).await
    }

    async fn start_with_clock(mut settings: Settings, clock: Clock) -> TestApp {
        // Each app gets its own audit store and patient key, outside the repository.
        if settings.store.data_dir == std::path::Path::new("data") {
            settings.store.data_dir = std::env::temp_dir().join(format!(
                "gravida-it-data-{}-{}",
                std::process::id(),
                uuid_like()
            ));
        }
        let data_dir = settings.store.data_dir.clone();
        let app = Application::build(settings)
            .await
            .expect("the application builds")
            .with_clock(clock);
        let address = format!("http://{}", app.local_addr());
        let admin_address = app.admin_addr().map(|a| format!("http://{a}"));
        // The server stops when the test's runtime shuts down.
        tokio::spawn(app.run_until(std::future::pending()));
        TestApp {
            address,
            client: http_client(),
            data_dir,
            admin_address,
            clock,
        }
    }

    /// Starts Gravida with a settings file holding `toml` (relative paths resolve against
    /// `tests/fixtures/`), plus a loopback port-0 listener.
    pub async fn spawn_with_config(toml: &str) -> TestApp {
        let dir =
            std::env::temp_dir().join(format!("gravida-it-{}-{}", std::process::id(), uuid_like()));
        std::fs::create_dir_all(&dir).expect("a temp dir");
        let file = dir.join("gravida.toml");
        let toml = toml.replace("{fixtures}", &fixture_path("").display().to_string());
        std::fs::write(&file, toml).expect("the settings file is written");
        let vars = vec![("GRAVIDA_LISTEN".to_owned(), "127.0.0.1:0".to_owned())];
        let settings = Settings::load_from(Some(&file), vars).expect("test settings are valid");
        TestApp::start(settings).await
    }

    pub async fn spawn() -> TestApp {
        TestApp::spawn_with(&[]).await
    }

    /// The day the app's hook calls read as today (UTC, the default site zone).
    pub fn today(&self) -> time::Date {
        self.clock
            .now_in(&gravida_server::clock::SiteTimeZone::default())
            .date()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// POSTs a JSON body to a service and returns the status and the parsed body (Null if none).
    pub async fn call(&self, service: &str, body: &Value) -> (u16, Value) {
        self.post_raw(
            &format!("/cds-services/{service}"),
            body.to_string().into_bytes(),
        )
        .await
    }

    pub async fn post_raw(&self, path: &str, body: Vec<u8>) -> (u16, Value) {
        let response = self
            .client
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("the request is sent");
        let status = response.status().as_u16();
        let bytes = response.bytes().await.expect("the body is read");
        let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, value)
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let response = self
            .client
            .get(self.url(path))
            .send()
            .await
            .expect("the request is sent");
        let status = response.status().as_u16();
        let bytes = response.bytes().await.expect("the body is read");
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }
}

/// GETs `url` and returns the body as text (for pages that are not JSON: `/metrics`, `/demo`).
pub async fn get_text(client: &reqwest::Client, url: &str) -> String {
    client
        .get(url)
        .send()
        .await
        .expect("the request is sent")
        .text()
        .await
        .expect("the body is read")
}

/// An HTTP client for talking to Gravida. reqwest is built without a default TLS provider, so
/// the process-wide one (ring) is installed first, as the server does.
pub fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .build()
        .expect("the test client builds")
}

/// A short unique suffix for temp paths.
fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed).to_string()
}

/// A file under `tests/fixtures/`.
pub fn fixture_path(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(relative)
}

/// A JSON fixture under `tests/fixtures/`.
pub fn fixture(relative: &str) -> Value {
    let path = fixture_path(relative);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// The URL of a card's long form (its "Why this card" link).
pub fn long_form_url(card: &Value) -> String {
    card["links"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|l| l["label"] == "Why this card (full reasoning)")
        .and_then(|l| l["url"].as_str())
        .expect("a long-form link")
        .to_owned()
}

/// The text of a card's long form, with the page's HTML escapes undone.
pub async fn long_form_text(app: &TestApp, card: &Value) -> String {
    let html = app
        .client
        .get(long_form_url(card))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    html.replace("&#39;", "'")
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
}

// ---- real servers: used when given, skipped out loud, and counted ---------------------------
//
// Some tests have a half that needs a real server or tool: the FHIR test server, PostgreSQL,
// kubectl. Each asks `real_server` (or `require_real`) once; that records, one line per test
// in `target/test-servers/it-<pid>.log`, whether the test ran against the real thing or
// skipped it and why. `scripts/test` reads those lines for its summary, so a skip is never
// silent: cargo hides the output of passing tests. Under `CI=true` (or `GRAVIDA_REQUIRE_<NAME>=1`)
// a missing server fails the test instead.

/// A real server or tool that some tests use when this machine has it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RealServer {
    /// The FHIR test server (`scripts/fhir-test-server.sh`).
    Fhir,
    /// A PostgreSQL where the test user may create databases (`scripts/postgres-test-server.sh`).
    Postgres,
    /// `kubectl`, to render `deploy/k8s`.
    Kubectl,
}

impl RealServer {
    /// The name in the log lines and in `GRAVIDA_REQUIRE_<NAME>`.
    pub fn name(self) -> &'static str {
        match self {
            RealServer::Fhir => "fhir",
            RealServer::Postgres => "postgres",
            RealServer::Kubectl => "kubectl",
        }
    }

    /// The environment variables that name the server, in the order `real_server` returns them.
    fn vars(self) -> &'static [&'static str] {
        match self {
            RealServer::Fhir => &["GRAVIDA_TEST_FHIR_URL", "GRAVIDA_TEST_FHIR_TOKEN"],
            RealServer::Postgres => &["GRAVIDA_TEST_POSTGRES_URL"],
            RealServer::Kubectl => &[],
        }
    }

    /// Whether a missing server fails the test: under CI, or when asked for by name.
    fn required(self) -> bool {
        let name = format!("GRAVIDA_REQUIRE_{}", self.name().to_uppercase());
        std::env::var("CI").as_deref() == Ok("true") || std::env::var(name).as_deref() == Ok("1")
    }
}

/// The values of the server's environment variables (see `RealServer::vars`), or `None` when
/// one is unset: then the test skips `what` (its real-server half), recorded as skipped.
pub fn real_server(server: RealServer, what: &str) -> Option<Vec<String>> {
    let found = server
        .vars()
        .iter()
        .map(|var| std::env::var(var).map_err(|_| format!("{var} is not set")))
        .collect::<Result<Vec<_>, _>>();
    require_real(server, what, found)
}

/// The one decision for every real-server half: `found` is what the test needs from the
/// server, or why it is not there. Records the outcome for this test, prints `SKIPPED` with
/// `what` was skipped and why, and fails the test instead when the server is required.
pub fn require_real<T>(server: RealServer, what: &str, found: Result<T, String>) -> Option<T> {
    match found {
        Ok(value) => {
            record_real(server, "ran-real", "");
            Some(value)
        }
        Err(reason) => {
            record_real(server, "skipped", &reason);
            assert!(
                !server.required(),
                "{what}: {} is required here (CI=true or GRAVIDA_REQUIRE_{}=1) but missing: \
                 {reason}",
                server.name(),
                server.name().to_uppercase()
            );
            eprintln!("SKIPPED: {what} ({}): {reason}", server.name());
            None
        }
    }
}

/// The running test's name: libtest names each test's thread after it.
fn current_test() -> String {
    let thread = std::thread::current();
    match thread.name() {
        Some(name) if name.contains("::") => name.to_owned(),
        other => format!("(a test on thread {})", other.unwrap_or("unnamed")),
    }
}

/// Appends `outcome<TAB>server<TAB>test<TAB>reason` to this process's log, once per test and
/// server (a test may ask more than once).
fn record_real(server: RealServer, outcome: &str, reason: &str) {
    use std::collections::HashSet;
    use std::io::Write;
    use std::sync::Mutex;
    static SEEN: Mutex<Option<HashSet<(RealServer, String)>>> = Mutex::new(None);

    let test = current_test();
    let mut seen = SEEN.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if !seen
        .get_or_insert_with(HashSet::new)
        .insert((server, test.clone()))
    {
        return;
    }
    // CARGO_TARGET_TMPDIR is `<target>/tmp`: the log goes beside it, in `<target>/test-servers`.
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .map(|target| target.join("test-servers"))
        .unwrap_or_else(|| std::env::temp_dir().join("gravida-test-servers"));
    let line = format!(
        "{outcome}\t{}\t{test}\t{}\n",
        server.name(),
        reason.replace(['\t', '\n'], " ")
    );
    let written = std::fs::create_dir_all(&dir).and_then(|()| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join(format!("it-{}.log", std::process::id())))?
            .write_all(line.as_bytes())
    });
    if let Err(e) = written {
        eprintln!(
            "cannot record the real-server outcome in {}: {e}",
            dir.display()
        );
    }
}
