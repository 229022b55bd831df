//! Test support: a real Gravida on port 0, an HTTP client, and the fixtures.

use std::path::PathBuf;

use gravida_server::settings::Settings;
use gravida_server::startup::Application;
use serde_json::Value;

/// A running Gravida and a client to talk to it.
pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    /// The app's `[store] data_dir`: a fresh temp folder unless the test chose one.
    pub data_dir: PathBuf,
}

impl TestApp {
    /// Starts Gravida on loopback port 0 with the embedded defaults plus `env`-style overrides.
    pub async fn spawn_with(env: &[(&str, &str)]) -> TestApp {
        let mut vars: Vec<(String, String)> = vec![("GRAVIDA_LISTEN".into(), "127.0.0.1:0".into())];
        vars.extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let settings = Settings::load_from(None, vars).expect("test settings are valid");
        TestApp::start(settings).await
    }

    async fn start(mut settings: Settings) -> TestApp {
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
            .expect("the application builds");
        let address = format!("http://{}", app.local_addr());
        // The server stops when the test's runtime shuts down.
        tokio::spawn(app.run_until(std::future::pending()));
        TestApp {
            address,
            client: http_client(),
            data_dir,
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
