//! The drain, with the real binary: SIGTERM while hook calls and feedback keep arriving, over
//! kept-alive connections and over a new connection per call. Every call sent during the grace
//! is answered 200, and every feedback answered 200 is in the SQLite file afterwards, as is the
//! record of every card answered (the audit queue is flushed before exit).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::binary::Running;
use crate::helpers::{TestApp, http_client};
use crate::scenarios_http::{load, prefetch_for, request, scenario_files};

const SERVICE: &str = "gravida-patient-view";
/// The drain's grace in this test.
const GRACE: Duration = Duration::from_millis(4_000);
/// How long calls are sent after SIGTERM: well inside the grace, so that none is refused.
const SEND_AFTER_TERM: Duration = Duration::from_millis(2_500);

/// What the clients saw.
#[derive(Debug, Default)]
struct Tally {
    calls_answered: usize,
    cards_answered: usize,
    /// Every call or feedback not answered 200, with when it was sent (relative to SIGTERM,
    /// negative before) and what came back.
    refused: Vec<String>,
    /// Cards answered, waiting for their feedback.
    cards: Vec<String>,
    feedback_acknowledged: usize,
}

/// A patient-view call that gives at least one card, built from a scenario with its prefetch,
/// and the number of cards it gave the first time.
async fn call_with_cards(app: &TestApp) -> (Value, usize) {
    for path in scenario_files() {
        let scenario = load(&path);
        if scenario.hook != "patient-view" || scenario.expect["max_indicator"] == "none" {
            continue;
        }
        let prefetch: Map<String, Value> = prefetch_for(app, SERVICE, &scenario).await;
        let call = request(&scenario, Some(prefetch), None);
        let (status, answer) = app.call(SERVICE, &call).await;
        let cards = answer["cards"].as_array().map_or(0, Vec::len);
        assert_eq!(status, 200, "{}: {answer}", scenario.name);
        if cards > 0 {
            return (call, cards);
        }
    }
    panic!("no patient-view scenario gives a card");
}

/// Sends hook calls with `client` until `until`, recording answers in `tally`.
async fn send_calls(
    client: reqwest::Client,
    url: String,
    call: Value,
    term: Arc<Mutex<Option<Instant>>>,
    until: Arc<Mutex<Option<Instant>>>,
    tally: Arc<Mutex<Tally>>,
    new_client_per_call: bool,
) {
    loop {
        if until.lock().unwrap().is_some_and(|u| Instant::now() >= u) {
            return;
        }
        let sent_at = Instant::now();
        let client = if new_client_per_call {
            http_client()
        } else {
            client.clone()
        };
        let answer = client.post(&url).json(&call).send().await;
        let answer = match answer {
            Ok(response) => {
                let status = response.status().as_u16();
                let body: Value = response.json().await.unwrap_or(Value::Null);
                (status == 200).then_some(body).ok_or(format!("{status}"))
            }
            Err(e) => Err(format!("{e}")),
        };
        let mut tally = tally.lock().unwrap();
        match answer {
            Ok(body) => {
                tally.calls_answered += 1;
                for card in body["cards"].as_array().into_iter().flatten() {
                    tally.cards_answered += 1;
                    tally.cards.push(card["uuid"].as_str().unwrap().to_owned());
                }
            }
            Err(problem) => {
                let when = relative(sent_at, *term.lock().unwrap());
                tally
                    .refused
                    .push(format!("hook call sent at {when}: {problem}"));
            }
        }
    }
}

/// Posts feedback for the cards answered, one card a request, until `until`.
async fn send_feedback(
    url: String,
    term: Arc<Mutex<Option<Instant>>>,
    until: Arc<Mutex<Option<Instant>>>,
    tally: Arc<Mutex<Tally>>,
) {
    let client = http_client();
    loop {
        if until.lock().unwrap().is_some_and(|u| Instant::now() >= u) {
            return;
        }
        let card = tally.lock().unwrap().cards.pop();
        let Some(card) = card else {
            tokio::time::sleep(Duration::from_millis(5)).await;
            continue;
        };
        let feedback = json!({ "feedback": [{
            "card": card,
            // Dismissed without a reason: nothing is hidden by it.
            "outcome": "overridden",
            "outcomeTimestamp": OffsetDateTime::now_utc().format(&Rfc3339).unwrap(),
        }]});
        let sent_at = Instant::now();
        let status = client
            .post(&url)
            .json(&feedback)
            .send()
            .await
            .map(|r| r.status().as_u16());
        let mut tally = tally.lock().unwrap();
        match status {
            Ok(200) => tally.feedback_acknowledged += 1,
            other => {
                let when = relative(sent_at, *term.lock().unwrap());
                tally
                    .refused
                    .push(format!("feedback sent at {when}: {other:?}"));
            }
        }
    }
}

/// `at` relative to SIGTERM, in milliseconds.
fn relative(at: Instant, term: Option<Instant>) -> String {
    match term {
        Some(term) if at >= term => format!("+{} ms", (at - term).as_millis()),
        Some(term) => format!("-{} ms", (term - at).as_millis()),
        None => "before SIGTERM".to_owned(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_a_sigterm_no_call_is_refused_during_the_grace_and_no_acknowledged_feedback_is_lost() {
    let data_dir = std::env::temp_dir().join(format!(
        "gravida-it-drain-{}-{}",
        std::process::id(),
        OffsetDateTime::now_utc().unix_timestamp_nanos()
    ));
    let grace_ms = GRACE.as_millis().to_string();
    let mut server = Running::start(
        &["serve", "--listen", "127.0.0.1:0"],
        &[
            ("GRAVIDA_LOG__FORMAT", "json"),
            ("GRAVIDA_STORE__DATA_DIR", data_dir.to_str().unwrap()),
            ("GRAVIDA_HTTP__DRAIN_GRACE_MS", &grace_ms),
        ],
    );
    let ready = server.wait_for("gravida ready");
    let listen = ready["fields"]["listen"].as_str().unwrap().to_owned();
    let app = TestApp {
        address: format!("http://{listen}"),
        client: http_client(),
        data_dir: data_dir.clone(),
        admin_address: None,
        clock: gravida_server::clock::Clock::System,
    };
    let (call, first_cards) = call_with_cards(&app).await;

    let term = Arc::new(Mutex::new(None));
    let until = Arc::new(Mutex::new(None));
    let tally = Arc::new(Mutex::new(Tally::default()));
    let hook_url = app.url(&format!("/cds-services/{SERVICE}"));
    let mut clients = Vec::new();
    for new_client_per_call in [false, false, true] {
        clients.push(tokio::spawn(send_calls(
            app.client.clone(),
            hook_url.clone(),
            call.clone(),
            term.clone(),
            until.clone(),
            tally.clone(),
            new_client_per_call,
        )));
    }
    clients.push(tokio::spawn(send_feedback(
        app.url(&format!("/cds-services/{SERVICE}/feedback")),
        term.clone(),
        until.clone(),
        tally.clone(),
    )));

    tokio::time::sleep(Duration::from_millis(500)).await;
    let pid = server.child.id().to_string();
    *term.lock().unwrap() = Some(Instant::now());
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    *until.lock().unwrap() = Some(Instant::now() + SEND_AFTER_TERM);
    // Readiness turns off at once, while calls are still answered.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (ready_status, _) = app.get("/readyz").await;
    for client in clients {
        client.await.unwrap();
    }
    let answered_by = term.lock().unwrap().unwrap().elapsed();

    let exit = tokio::task::spawn_blocking(move || server.child.wait())
        .await
        .unwrap()
        .unwrap();
    let exited_after = term.lock().unwrap().unwrap().elapsed();
    assert!(exit.success(), "SIGTERM is a clean exit: {exit}");
    assert_eq!(ready_status, 503, "/readyz during the drain");

    // Every client has ended: the tally is theirs no longer.
    let tally = std::mem::take(&mut *tally.lock().unwrap());
    assert!(
        tally.refused.is_empty(),
        "refused during the grace:\n{}",
        tally.refused.join("\n")
    );
    assert!(
        tally.calls_answered >= 10 && tally.feedback_acknowledged >= 5,
        "too little traffic to judge: {tally:?}"
    );
    assert!(
        exited_after >= GRACE,
        "exited {exited_after:?} after SIGTERM, before the grace ended; last answer at \
         {answered_by:?}"
    );

    // The binary closed its store: SQLite wrote the log back into the database and truncated
    // it (closing the last connection also removes the file, on that connection's thread, which
    // the exiting process may not wait for).
    let log = std::fs::metadata(data_dir.join("gravida.db-wal")).map_or(0, |m| m.len());
    assert_eq!(log, 0, "the write-ahead log is empty after a graceful stop");
    // Read back from the SQLite file the binary wrote.
    let url = gravida_store::sqlite_url_in(&data_dir);
    let store = gravida_store::Store::connect(&url).await.unwrap();
    let report = store.report(0).await.unwrap();
    store.close().await;
    let _ = std::fs::remove_dir_all(&data_dir);
    assert_eq!(
        report.feedback_rows, tally.feedback_acknowledged as i64,
        "every feedback answered 200 is stored"
    );
    let overridden: i64 = report.rules.iter().map(|r| r.overridden).sum();
    assert_eq!(overridden, tally.feedback_acknowledged as i64);
    let fired: i64 = report.rules.iter().map(|r| r.fired).sum();
    assert_eq!(
        fired,
        (tally.cards_answered + first_cards) as i64,
        "every card answered is recorded"
    );
}
