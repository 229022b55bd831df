//! Operating Gravida: `/metrics` after real calls, the audit trail (keyed patient hash, no raw
//! id), feedback joined to rules in the governance report, the documented answers to odd
//! feedback, a store that is down, and acknowledged feedback surviving a SIGKILL.
//!
//! The store tests run on SQLite always and on PostgreSQL when `GRAVIDA_TEST_POSTGRES_URL` is
//! set (`scripts/postgres-test-server.sh start` prints it; CI sets it).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use gravida_store::testing::fresh_postgres_url;
use gravida_store::{
    AuditWriter, CardRecord, PatientHasher, Report, Store, WriterConfig, sqlite_url_in,
};
use serde_json::{Value, json};

use crate::binary::{Running, gravida};
use crate::helpers::{TestApp, fixture_path};
use crate::scenarios_http::{load, prefetch_for, request};
use crate::store::postgres_admin_url;

const SERVICE: &str = "gravida-patient-view";
/// The patient of scenario pub01: it must never reach the store.
const PATIENT: &str = "pub01";

/// The stores to run a test against: `(backend, store URL or None for the default SQLite)`.
async fn backends(test: &str) -> Vec<(&'static str, Option<String>)> {
    let mut backends = vec![("sqlite", None)];
    if let Some(admin) = postgres_admin_url(test) {
        backends.push(("postgres", Some(fresh_postgres_url(&admin).await)));
    }
    backends
}

/// A Gravida on `store_url` (None: SQLite in its temp data folder), and that store's URL.
async fn spawn(store_url: &Option<String>) -> (TestApp, String) {
    let app = match store_url {
        Some(url) => TestApp::spawn_with(&[("GRAVIDA_STORE__URL", url)]).await,
        None => TestApp::spawn().await,
    };
    let url = store_url
        .clone()
        .unwrap_or_else(|| sqlite_url_in(&app.data_dir));
    (app, url)
}

/// Calls patient-view with scenario pub01 (one card, with suggestions) and returns the cards.
async fn issue_cards(app: &TestApp, hook_instance: &str) -> Vec<Value> {
    let scenario = load(&fixture_path("scenarios/pub01.json"));
    let prefetch = prefetch_for(app, SERVICE, &scenario).await;
    let mut body = request(&scenario, Some(prefetch), None);
    body["hookInstance"] = json!(hook_instance);
    let (status, response) = app.call(SERVICE, &body).await;
    assert_eq!(status, 200, "{response}");
    let cards = response["cards"].as_array().cloned().unwrap_or_default();
    assert!(!cards.is_empty(), "pub01 gives a card");
    cards
}

async fn send_feedback(app: &TestApp, items: Value) -> (u16, Value) {
    app.post_raw(
        &format!("/cds-services/{SERVICE}/feedback"),
        json!({ "feedback": items }).to_string().into_bytes(),
    )
    .await
}

/// The report, once the fire-and-forget card records of `cards` issued cards are written.
async fn report_after(url: &str, cards: i64) -> Report {
    let store = Store::connect(url).await.unwrap();
    for _ in 0..100 {
        let report = store.report(0).await.unwrap();
        if report.rules.iter().map(|r| r.fired).sum::<i64>() >= cards {
            store.close().await;
            return report;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the card records were not written");
}

fn rule(card: &Value) -> String {
    card["source"]["topic"]["code"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn metrics_show_requests_cards_auth_failures_and_feedback_after_real_calls() {
    let app = TestApp::spawn().await;
    let cards = issue_cards(&app, "8a1b0c2d-0000-4000-8000-00000000a001").await;
    let card = &cards[0];
    let (status, _) = send_feedback(
        &app,
        json!([{ "card": card["uuid"], "outcome": "overridden",
                 "overrideReason": { "reason": { "system": "http://example.org/reasons",
                                                 "code": "metrics-test-reason" } },
                 "outcomeTimestamp": "2026-01-01T10:00:00Z" }]),
    )
    .await;
    assert_eq!(status, 200);

    // A FHIR server that is not there: the fetches fail with `connect`.
    let (status, _) = app
        .call(
            SERVICE,
            &json!({ "hook": "patient-view", "hookInstance": "8a1b0c2d-0000-4000-8000-00000000a002",
                     "fhirServer": "http://127.0.0.1:1/fhir",
                     "context": { "userId": "Practitioner/1", "patientId": PATIENT } }),
        )
        .await;
    assert_eq!(status, 412);

    // A deployment with a trusted issuer, called without a token: one authentication failure.
    let secured = TestApp::spawn_with_config(
        "[[auth.issuers]]\niss = \"https://ehr.example.org\"\n\
         jwks_file = \"{fixtures}/keys/jwks-issuer-a.json\"\n",
    )
    .await;
    let (status, _) = secured.call(SERVICE, &json!({})).await;
    assert_eq!(status, 401);

    let response = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = response.text().await.unwrap();
    let has = |needle: &str| text.lines().any(|l| l.contains(needle));
    assert!(
        has(
            r#"gravida_http_requests_total{endpoint="hook",service="gravida-patient-view",status="200"}"#
        ),
        "{text}"
    );
    assert!(
        has("gravida_http_request_duration_seconds_bucket{endpoint=\"hook\""),
        "{text}"
    );
    assert!(
        has(&format!(
            r#"gravida_cards_total{{rule="{}",indicator="{}"}}"#,
            rule(card),
            card["indicator"].as_str().unwrap()
        )),
        "{text}"
    );
    assert!(
        has(&format!(
            r#"gravida_feedback_total{{rule="{}",outcome="overridden",reason="metrics-test-reason"}} 1"#,
            rule(card)
        )),
        "{text}"
    );
    assert!(
        has(r#"gravida_fhir_fetch_failures_total{cause="connect"}"#),
        "{text}"
    );
    assert!(
        has("gravida_fhir_fetch_duration_seconds_bucket{outcome=\"connect\""),
        "{text}"
    );
    // The recorder is process-wide, so either app's page shows the other's numbers.
    assert!(
        has(r#"gravida_auth_failures_total{reason="no-authorization-header"}"#),
        "{text}"
    );
    assert!(!text.contains(PATIENT), "no patient id in metrics");
}

#[tokio::test]
async fn an_issued_card_is_audited_with_a_keyed_patient_hash_and_never_the_raw_patient_id() {
    for (backend, url) in backends("audit trail").await {
        let (app, store_url) = spawn(&url).await;
        let cards = issue_cards(&app, "8a1b0c2d-0000-4000-8000-00000000b001").await;
        let report = report_after(&store_url, cards.len() as i64).await;
        assert_eq!(report.rules[0].rule_id, rule(&cards[0]), "{backend}");

        if backend == "sqlite" {
            // Look at the raw bytes on disk: the hash is there, the patient id is not.
            let (key, created) =
                PatientHasher::from_file_or_create(&app.data_dir.join("patient.key")).unwrap();
            assert!(!created, "the server created the patient key on first run");
            let bytes = database_bytes(&app.data_dir);
            assert!(
                contains(&bytes, key.hash(PATIENT).as_bytes()),
                "the hash is stored"
            );
            assert!(!contains(&bytes, PATIENT.as_bytes()), "the raw id is not");
        }
    }
}

#[tokio::test]
async fn feedback_is_joined_to_its_rule_and_odd_feedback_does_not_move_the_numbers() {
    for (backend, url) in backends("feedback report").await {
        let (app, store_url) = spawn(&url).await;
        let first = issue_cards(&app, "8a1b0c2d-0000-4000-8000-00000000c001").await;
        let second = issue_cards(&app, "8a1b0c2d-0000-4000-8000-00000000c002").await;
        let (accepted, overridden) = (&first[0], &second[0]);
        let suggestion = &accepted["suggestions"][0];
        let accept = json!([{ "card": accepted["uuid"], "outcome": "accepted",
                              "acceptedSuggestions": [{ "id": suggestion["uuid"] }],
                              "outcomeTimestamp": "2026-01-01T10:00:00Z" }]);
        assert_eq!(send_feedback(&app, accept.clone()).await.0, 200);
        // The same verdict again: 200, stored once.
        assert_eq!(send_feedback(&app, accept).await.0, 200, "{backend}");
        let (status, _) = send_feedback(
            &app,
            json!([{ "card": overridden["uuid"], "outcome": "overridden",
                     "overrideReason": { "reason": {
                         "system": "http://terminology.hl7.org/CodeSystem/non-adherence-reason-codes",
                         "code": "indication-order-exists" },
                                         "userComment": "see note" },
                     "outcomeTimestamp": "2026-01-01T10:05:00+00:00" }]),
        )
        .await;
        assert_eq!(status, 200);
        // A card that was never issued: 200 (nothing to retry), and not stored.
        let (status, _) = send_feedback(
            &app,
            json!([{ "card": "00000000-0000-4000-8000-000000000000", "outcome": "overridden",
                     "outcomeTimestamp": "2026-01-01T10:06:00Z" }]),
        )
        .await;
        assert_eq!(status, 200);

        let report = report_after(&store_url, 2).await;
        let numbers = report
            .rules
            .iter()
            .find(|r| r.rule_id == rule(accepted))
            .unwrap();
        assert_eq!(numbers.fired, 2, "{backend}");
        assert_eq!((numbers.accepted, numbers.overridden), (1, 1), "{backend}");
        assert_eq!(
            numbers.override_reasons,
            vec![("indication-order-exists".to_owned(), 1)]
        );
        assert_eq!(
            numbers.suggestions_taken,
            vec![(suggestion["label"].as_str().unwrap().to_owned(), 1)]
        );
        assert_eq!(report.unmatched_feedback, 0, "{backend}");
        assert_eq!(
            report.feedback_rows, 2,
            "the duplicate was stored once, the unknown card not at all"
        );
    }
}

#[tokio::test]
async fn feedback_with_a_malformed_timestamp_gets_400_and_stores_nothing() {
    let (app, store_url) = spawn(&None).await;
    let cards = issue_cards(&app, "8a1b0c2d-0000-4000-8000-00000000d001").await;
    let (status, body) = send_feedback(
        &app,
        json!([{ "card": cards[0]["uuid"], "outcome": "accepted",
                 "acceptedSuggestions": [{ "id": cards[0]["suggestions"][0]["uuid"] }],
                 "outcomeTimestamp": "yesterday at noon" }]),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(crate::cds3::error_name(&body), "invalid-request");
    let report = report_after(&store_url, 1).await;
    assert_eq!(report.feedback_rows, 0);
}

#[tokio::test]
async fn with_the_store_down_hooks_still_answer_and_feedback_gets_503_and_is_counted() {
    // Nothing listens on port 1: the store is down from the start.
    let app =
        TestApp::spawn_with(&[("GRAVIDA_STORE__URL", "postgres://gravida@127.0.0.1:1/gone")]).await;
    let cards = issue_cards(&app, "8a1b0c2d-0000-4000-8000-00000000e001").await;
    let (status, body) = send_feedback(
        &app,
        json!([{ "card": cards[0]["uuid"], "outcome": "overridden",
                 "outcomeTimestamp": "2026-01-01T10:00:00Z" }]),
    )
    .await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(crate::cds3::error_name(&body), "store-unavailable");
    let text = crate::helpers::get_text(&app.client, &app.url("/metrics")).await;
    let unavailable = text
        .lines()
        .find(|l| l.starts_with("gravida_feedback_unavailable_total"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(!unavailable.ends_with(" 0"), "{unavailable}");
}

#[tokio::test]
async fn feedback_acknowledged_before_a_sigkill_is_all_there_after_the_restart() {
    let data_dir = std::env::temp_dir().join(format!("gravida-it-sigkill-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data_dir);
    let data = data_dir.display().to_string();
    const CLIENTS: usize = 8;
    const PER_CLIENT: usize = 200;
    let card_uuid = |worker: usize, i: usize| format!("7e57ca4d-0000-4000-8{worker:03}-{i:012}");
    // Feedback is stored only about cards the store issued: the cards come first, as a run of
    // hook calls would have left them.
    {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        let store = Store::connect(&sqlite_url_in(&data_dir)).await.unwrap();
        let writer = AuditWriter::spawn(store.clone(), WriterConfig { queue_capacity: 64 });
        for worker in 0..CLIENTS {
            let cards = (0..PER_CLIENT)
                .map(|i| CardRecord {
                    card_uuid: card_uuid(worker, i),
                    rule_id: "R1".to_owned(),
                    indicator: "warning".to_owned(),
                    mode: "active".to_owned(),
                    profile_version: "test".to_owned(),
                    service: SERVICE.to_owned(),
                    hook: "patient-view".to_owned(),
                    hook_instance: "sigkill".to_owned(),
                    // Now: the server's retention purge at start-up keeps it.
                    issued_at_ms: now_ms,
                    issuer: None,
                    tenant: None,
                    patient_hash: "p".to_owned(),
                    fingerprint: None,
                    encounter_hash: None,
                    suggestions: Vec::new(),
                })
                .collect();
            assert!(writer.offer_cards(cards));
        }
        let report = report_after(&sqlite_url_in(&data_dir), (CLIENTS * PER_CLIENT) as i64).await;
        assert_eq!(report.rules[0].fired, (CLIENTS * PER_CLIENT) as i64);
        drop(writer);
        store.close().await;
    }
    let env = [
        ("GRAVIDA_LOG__FORMAT", "json"),
        ("GRAVIDA_STORE__DATA_DIR", data.as_str()),
    ];
    let mut server = Running::start(&["serve", "--listen", "127.0.0.1:0"], &env);
    let listen = server.wait_for("gravida ready")["fields"]["listen"]
        .as_str()
        .unwrap()
        .to_owned();

    // A burst of feedback from 8 clients, each item about its own card; the server is killed
    // once 100 items have been acknowledged, while the rest are in flight.
    let acked = Arc::new(AtomicUsize::new(0));
    let client = crate::helpers::http_client();
    let url = format!("http://{listen}/cds-services/{SERVICE}/feedback");
    let mut workers = Vec::new();
    for worker in 0..CLIENTS {
        let (client, url, acked) = (client.clone(), url.clone(), acked.clone());
        workers.push(tokio::spawn(async move {
            for i in 0..PER_CLIENT {
                let body = json!({ "feedback": [{
                    "card": card_uuid(worker, i),
                    "outcome": "overridden",
                    "outcomeTimestamp": "2026-01-01T10:00:00Z" }] });
                match client.post(&url).json(&body).send().await {
                    Ok(r) if r.status() == 200 => acked.fetch_add(1, Ordering::SeqCst),
                    _ => break,
                };
            }
        }));
    }
    for _ in 0..400 {
        if acked.load(Ordering::SeqCst) >= 100 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.child.kill().unwrap(); // SIGKILL: no graceful shutdown, no flush.
    let _ = server.child.wait();
    for worker in workers {
        worker.await.unwrap();
    }
    let acknowledged = acked.load(Ordering::SeqCst) as i64;
    assert!(
        acknowledged >= 100,
        "the burst was under way: {acknowledged}"
    );
    assert!(
        acknowledged < (CLIENTS * PER_CLIENT) as i64,
        "the kill interrupted the burst"
    );

    // After the restart, `gravida report` reads what survived.
    let output = gravida()
        .args(["report"])
        .env_clear()
        .env("GRAVIDA_STORE__DATA_DIR", &data)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let text = String::from_utf8(output.stdout).unwrap();
    let stored: i64 = text
        .split("feedback received: ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{text}"));
    eprintln!("SIGKILL burst: {acknowledged} acknowledged, {stored} stored");
    // Every acknowledged item survived; a few more may have committed just before the kill
    // without their answer reaching the client.
    assert!(
        stored >= acknowledged,
        "{stored} stored < {acknowledged} acknowledged"
    );
    assert!(stored <= (CLIENTS * PER_CLIENT) as i64);
}

#[test]
fn gravida_report_refuses_a_malformed_since_date() {
    let output = gravida()
        .args(["report", "--since", "last tuesday"])
        .env_clear()
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--since"));
}

/// The SQLite database and its write-ahead log, as bytes.
fn database_bytes(data_dir: &Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    for name in ["gravida.db", "gravida.db-wal"] {
        if let Ok(mut b) = std::fs::read(data_dir.join(name)) {
            bytes.append(&mut b);
        }
    }
    bytes
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
