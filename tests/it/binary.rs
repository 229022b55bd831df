//! The real `gravida` binary as an operator runs it: start-up, JSON logs, secrets kept out of
//! them, graceful shutdown on SIGTERM, and the refusal to expose an unauthenticated service.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKEN: &str = "tok-3b9d1c-never-log-me";
const PATIENT: &str = "patient-7c1e9a-private";

pub(crate) fn gravida() -> Command {
    Command::new(env!("CARGO_BIN_EXE_gravida"))
}

/// A running binary whose stdout lines arrive on a channel.
pub(crate) struct Running {
    pub(crate) child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Running {
    pub(crate) fn start(args: &[&str], env: &[(&str, &str)]) -> Running {
        let mut command = gravida();
        command
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            // Its audit store goes to a temp folder, not the repository (`env` may override).
            .env(
                "GRAVIDA_STORE__DATA_DIR",
                std::env::temp_dir().join(format!("gravida-it-binary-{}", std::process::id())),
            )
            // No drain grace unless a test asks for one: SIGTERM then ends it at once.
            .env("GRAVIDA_HTTP__DRAIN_GRACE_MS", "0")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command.spawn().expect("the binary starts");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Running {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for a log line containing `needle` and returns it parsed.
    pub(crate) fn wait_for(&mut self, needle: &str) -> Value {
        loop {
            let line = self
                .lines
                .recv_timeout(Duration::from_secs(20))
                .unwrap_or_else(|_| {
                    panic!(
                        "no log line with {needle:?}; saw:\n{}",
                        self.seen.join("\n")
                    )
                });
            self.seen.push(line.clone());
            if line.contains(needle) {
                return serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
            }
        }
    }

    /// Sends SIGTERM, waits for the exit, and returns every stdout line.
    fn terminate(mut self) -> (std::process::ExitStatus, Vec<String>) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let status = self.child.wait().unwrap();
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(2)) {
            self.seen.push(line);
        }
        (status, self.seen)
    }
}

#[test]
fn the_running_binary_has_transparent_huge_pages_off() {
    let mut server = Running::start(
        &["serve", "--listen", "127.0.0.1:0"],
        &[("GRAVIDA_LOG__FORMAT", "json")],
    );
    server.wait_for("gravida ready");
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.child.id())).unwrap();
    // Linux names the flag since 6.x; PR_SET_THP_DISABLE itself is older. A kernel that does
    // not name it cannot be checked this way, and this line says so rather than pass.
    let thp = status
        .lines()
        .find_map(|line| line.strip_prefix("THP_enabled:"))
        .expect("this kernel reports THP_enabled in /proc/<pid>/status");
    assert_eq!(thp.trim(), "0", "{status}");
    // Its exit is the shutdown tests' business: this one only stops it.
    let _ = server.terminate();
}

#[tokio::test]
async fn the_binary_logs_json_with_request_context_and_never_a_token_or_patient_id() {
    let ehr = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "application/fhir+json")
                .set_body_json(json!({"resourceType": "Bundle", "type": "searchset", "entry": []})),
        )
        .mount(&ehr)
        .await;

    let mut server = Running::start(
        &["serve", "--listen", "127.0.0.1:0"],
        &[("RUST_LOG", "trace"), ("GRAVIDA_LOG__FORMAT", "json")],
    );
    let ready = server.wait_for("gravida ready");
    let listen = ready["fields"]["listen"].as_str().unwrap().to_owned();

    let request = json!({
        "hook": "patient-view",
        "hookInstance": "5f1b8c4e-1111-4222-8333-944455556666",
        "fhirServer": format!("{}/fhir", ehr.uri()),
        "fhirAuthorization": {"access_token": TOKEN, "token_type": "Bearer", "expires_in": 300,
                              "scope": "patient/*.read", "subject": "gravida", "patient": PATIENT},
        "context": {"userId": "Practitioner/1", "patientId": PATIENT}
    });
    let response = crate::helpers::http_client()
        .post(format!("http://{listen}/cds-services/gravida-patient-view"))
        .json(&request)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        !ehr.received_requests().await.unwrap().is_empty(),
        "the EHR was asked"
    );

    let answered = server.wait_for("hook answered");
    assert_eq!(
        answered["span"]["hook_instance"], "5f1b8c4e-1111-4222-8333-944455556666",
        "lines of a call carry its hookInstance: {answered}"
    );
    assert!(
        answered["span"]["request_id"]
            .as_str()
            .is_some_and(|id| id.len() > 8)
    );

    let (status, lines) = server.terminate();
    assert!(status.success(), "SIGTERM is a clean shutdown: {status}");
    assert!(lines.len() > 5, "trace logging produced lines");
    for line in &lines {
        assert!(
            !line.contains(TOKEN),
            "a log line holds the access token: {line}"
        );
        assert!(
            !line.contains(PATIENT),
            "a log line holds the patient id: {line}"
        );
    }
}

#[tokio::test]
async fn metrics_count_which_reader_read_each_hook_request() {
    let mut server = Running::start(&["serve", "--listen", "127.0.0.1:0"], &[]);
    let ready = server.wait_for("gravida ready");
    let base = format!("http://{}", ready["fields"]["listen"].as_str().unwrap());
    let client = crate::helpers::http_client();
    let patient = json!({"resourceType": "Patient", "id": "p-reader", "gender": "female"});
    let mut declined = patient.clone();
    declined["modifierExtension"] = json!([]);
    // Read fast twice; then one resource the fast reader declines, read alone by the reference
    // reader; then a request with `prefetch` twice, which only the reference path reads (the
    // last one counts, as in any JSON object read into a map).
    for (prefetched, twice) in [
        (&patient, false),
        (&patient, false),
        (&declined, false),
        (&patient, true),
    ] {
        let request = json!({
            "hook": "patient-view",
            "hookInstance": "5f1b8c4e-2222-4222-8333-944455556666",
            "context": {"userId": "Practitioner/1", "patientId": "p-reader"},
            "prefetch": {"patient": prefetched, "conditions": null, "pregnancy": null,
                         "bleeding": null, "hcg": null, "rh": null, "ultrasound": null,
                         "ultrasoundReports": null}
        });
        let mut body = request.to_string();
        if twice {
            body = format!(r#"{{"prefetch": null, {}"#, &body[1..]);
        }
        let response = client
            .post(format!("{base}/cds-services/gravida-patient-view"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    let metrics = crate::helpers::get_text(&client, &format!("{base}/metrics")).await;
    assert!(
        metrics.contains(r#"gravida_prefetch_reads_total{reader="fast"} 2"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"gravida_prefetch_reads_total{reader="by-resource"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"gravida_prefetch_reads_total{reader="reference"} 1"#),
        "{metrics}"
    );
    let (status, _) = server.terminate();
    assert!(status.success());
}

#[test]
fn the_binary_refuses_a_public_address_without_trusted_issuers() {
    let output = gravida()
        .args(["serve", "--listen", "0.0.0.0:0"])
        .env("GRAVIDA_LOG__FORMAT", "json")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--insecure-no-auth"), "{stderr}");
}

#[test]
fn check_profiles_accepts_the_shipped_profile_and_rejects_a_missing_folder() {
    let root = env!("CARGO_MANIFEST_DIR");
    let ok = gravida()
        .args(["check-profiles", &format!("{root}/profiles/default")])
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let bad = gravida()
        .args([
            "check-profiles",
            &format!("{root}/profiles/no-such-profile"),
        ])
        .output()
        .unwrap();
    assert!(!bad.status.success());
}

#[test]
fn check_profiles_rejects_a_source_url_that_is_not_https_naming_it() {
    let root = env!("CARGO_MANIFEST_DIR");
    let dir = std::env::temp_dir().join(format!("gravida-sources-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    // A copy of the shipped profile with one source turned back into an http page.
    let from = std::path::Path::new(root).join("profiles/default");
    for entry in walk(&from) {
        let target = dir.join(entry.strip_prefix(&from).unwrap());
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(&entry, &target).unwrap();
    }
    let bad = "http://www.researchgate.net/publication/10610308";
    let cards = std::fs::read_to_string(dir.join("cards.toml")).unwrap();
    assert!(cards.contains("https://doi.org/10.1093/humrep/deg379"));
    std::fs::write(
        dir.join("cards.toml"),
        cards.replace("https://doi.org/10.1093/humrep/deg379", bad),
    )
    .unwrap();
    let out = gravida()
        .args(["check-profiles", dir.to_str().unwrap()])
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(!out.status.success());
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains(bad), "{said}");
}

/// Every file under `dir`, recursively.
pub(crate) fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[test]
fn evaluate_answers_a_request_file_offline() {
    let dir = std::env::temp_dir().join(format!("gravida-evaluate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("request.json");
    let request = json!({
        "hook": "patient-view", "hookInstance": "x-1",
        "context": {"userId": "Practitioner/1", "patientId": "p1"},
        "prefetch": {"patient": null, "conditions": null, "pregnancy": null, "bleeding": null,
                     "hcg": null, "rh": null, "ultrasound": null}
    });
    std::fs::write(&file, request.to_string()).unwrap();
    let out = gravida()
        .args([
            "evaluate",
            "--request",
            file.to_str().unwrap(),
            "--now",
            "2025-04-01T12:00:00Z",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let response: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(response, json!({"cards": []}));

    // Without prefetch and with no network, the deciding records are unavailable: exit 3.
    std::fs::write(
        &file,
        json!({"hook": "patient-view", "hookInstance": "x-2",
        "context": {"userId": "Practitioner/1", "patientId": "p1"}})
        .to_string(),
    )
    .unwrap();
    let out = gravida()
        .args(["evaluate", "--request", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn evaluate_into_a_pipe_closed_early_ends_quietly_without_a_panic() {
    // `gravida evaluate ... | head -c 0`: the reader is gone before the answer is written.
    let dir = std::env::temp_dir().join(format!("gravida-evaluate-pipe-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("request.json");
    let request = json!({
        "hook": "patient-view", "hookInstance": "x-3",
        "context": {"userId": "Practitioner/1", "patientId": "p1"},
        "prefetch": {"patient": null, "conditions": null, "pregnancy": null, "bleeding": null,
                     "hcg": null, "rh": null, "ultrasound": null}
    });
    std::fs::write(&file, request.to_string()).unwrap();
    let mut child = gravida()
        .args(["evaluate", "--request", file.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(out.status.success(), "{:?}: {stderr}", out.status);
}
