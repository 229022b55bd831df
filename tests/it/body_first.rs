//! A hook call's token is checked before its body is read, and the bodies a replica reads at once
//! share a byte budget: an unknown caller costs no body memory, a call that finds the budget
//! spent gets 503 with `Retry-After`, and a call shed that way may be retried with its token.
//!
//! Each test speaks raw HTTP/1.1 over a `TcpStream`, so that it can send a head without its body
//! and see what the server answers before the body comes.

use std::time::{Duration, SystemTime};

use gravida_auth::testing::{self, TestKey};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

use crate::helpers::TestApp;

const BASE: &str = "https://cds.example.org";
const HOOK: &str = "/cds-services/gravida-patient-view";
/// How long a test waits for something that should happen within a few hundred milliseconds.
const GENEROUS: Duration = Duration::from_secs(3);

/// Issuer A, trusted from its JWKS file, plus `http` settings.
fn config(http: &str) -> String {
    format!(
        r#"
public_base_url = "{BASE}"

[http]
{http}

[[auth.issuers]]
iss = "{iss}"
jwks_file = "{{fixtures}}/keys/jwks-issuer-a.json"
tenants = ["{tenant}"]
"#,
        iss = testing::ISSUER_A,
        tenant = testing::TENANT_A,
    )
}

/// A fresh token from issuer A for the patient-view service.
fn token() -> String {
    let claims = testing::claims_a(&format!("{BASE}{HOOK}"), SystemTime::now());
    testing::mint(TestKey::AEs384, json!({}), claims)
}

/// A valid patient-view call with no records, padded with spaces to `size` bytes (at least its
/// own length).
fn call_body(size: usize) -> String {
    let call: Value = json!({
        "hook": "patient-view",
        "hookInstance": "6a1f0e2d-3c4b-4a59-8e7f-0123456789ab",
        "context": { "userId": "Practitioner/1", "patientId": "p1" },
        "prefetch": { "patient": null, "conditions": null, "pregnancy": null, "bleeding": null,
                      "hcg": null, "rh": null, "ultrasound": null }
    });
    let mut body = call.to_string();
    let padding = size.saturating_sub(body.len());
    body.push_str(&" ".repeat(padding));
    body
}

/// A hook call's head, declaring `length` body bytes, with `token` if any.
fn head(length: usize, token: Option<&str>) -> String {
    let authorization = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    format!(
        "POST {HOOK} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         {authorization}Content-Length: {length}\r\n\r\n"
    )
}

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(app.address.trim_start_matches("http://"))
        .await
        .expect("the server accepts")
}

/// Reads an answer's status line and headers (lower-cased), and then whatever arrives until the
/// connection closes or a second passes.
async fn read_head(stream: &mut TcpStream) -> String {
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 4096];
    while !bytes.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => bytes.extend_from_slice(&chunk[..n]),
        }
    }
    String::from_utf8_lossy(&bytes).to_ascii_lowercase()
}

/// Sends a whole call and returns the answer's head.
async fn call(app: &TestApp, token: Option<&str>, body: &str) -> String {
    let mut stream = connect(app).await;
    let request = format!("{}{body}", head(body.len(), token));
    stream.write_all(request.as_bytes()).await.unwrap();
    timeout(GENEROUS, read_head(&mut stream))
        .await
        .expect("an answer in time")
}

#[tokio::test]
async fn an_unauthenticated_call_declaring_8_mib_gets_401_before_any_body_byte_is_sent() {
    let app = TestApp::spawn_with_config(&config("")).await;
    for token in [None, Some("not-a-jwt".to_owned())] {
        let mut stream = connect(&app).await;
        // The head alone: 8 MiB declared, not one byte of it sent.
        stream
            .write_all(head(8 * 1024 * 1024, token.as_deref()).as_bytes())
            .await
            .unwrap();
        let answer = timeout(GENEROUS, read_head(&mut stream))
            .await
            .expect("answered while the body is still to come (a body read first would wait)");
        assert!(answer.starts_with("http/1.1 401"), "{token:?}: {answer}");
        assert!(answer.contains("www-authenticate: bearer"), "{answer}");
    }
}

#[tokio::test]
async fn a_declared_body_over_the_limit_gets_413_before_it_is_sent() {
    let app = TestApp::spawn_with_config(&config("max_body_bytes = 100000")).await;
    let mut stream = connect(&app).await;
    stream
        .write_all(head(100_001, Some(&token())).as_bytes())
        .await
        .unwrap();
    let answer = timeout(GENEROUS, read_head(&mut stream))
        .await
        .expect("answered without the body");
    assert!(answer.starts_with("http/1.1 413"), "{answer}");
}

#[tokio::test]
async fn a_call_that_finds_the_body_budget_spent_gets_503_and_its_token_works_on_retry() {
    // Room for one body of 150,000 bytes and 50,000 more.
    let app = TestApp::spawn_with_config(&config(
        "max_body_bytes = 150000\nmax_body_bytes_in_flight = 200000\nbody_read_timeout_ms = 10000",
    ))
    .await;
    // An authenticated call that declares 150,000 bytes and sends one: it holds its share.
    let mut slow = connect(&app).await;
    slow.write_all(format!("{}{{", head(150_000, Some(&token()))).as_bytes())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    // A small call still fits beside it.
    let answer = call(&app, Some(&token()), &call_body(1_000)).await;
    assert!(answer.starts_with("http/1.1 200"), "{answer}");

    // One of 60,000 bytes does not: 503 at once, with Retry-After.
    let retried = token();
    let body = call_body(60_000);
    let answer = call(&app, Some(&retried), &body).await;
    assert!(answer.starts_with("http/1.1 503"), "{answer}");
    assert!(answer.contains("retry-after: 1"), "{answer}");
    assert!(
        answer.contains("\"resourcetype\":\"operationoutcome\""),
        "{answer}"
    );
    assert!(answer.contains("\"code\":\"overloaded\""), "{answer}");

    // Once the slow one is gone, the same token is accepted: the 503 did not use it up.
    drop(slow);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let answer = call(&app, Some(&retried), &body).await;
    assert!(answer.starts_with("http/1.1 200"), "{answer}");
    // And it is used now: a third try is a replay.
    let answer = call(&app, Some(&retried), &body).await;
    assert!(answer.starts_with("http/1.1 401"), "{answer}");
}

#[tokio::test]
async fn large_bodies_cannot_take_the_quarter_of_the_budget_kept_for_small_calls() {
    // A budget of 320,000 bytes: bodies over 10,000 bytes (a thirty-second) are large and must
    // leave 80,000 (a quarter) free for the small ones.
    let app = TestApp::spawn_with_config(&config(
        "max_body_bytes = 150000\nmax_body_bytes_in_flight = 320000\nbody_read_timeout_ms = 10000",
    ))
    .await;
    // Authenticated calls that each declare 80,000 bytes and send one: three of them get the
    // 240,000 bytes large bodies may hold; the fourth is refused at once.
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut slow = connect(&app).await;
        slow.write_all(format!("{}{{", head(80_000, Some(&token()))).as_bytes())
            .await
            .unwrap();
        held.push(slow);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut fourth = connect(&app).await;
    fourth
        .write_all(format!("{}{{", head(80_000, Some(&token()))).as_bytes())
        .await
        .unwrap();
    let answer = timeout(GENEROUS, read_head(&mut fourth))
        .await
        .expect("refused before its body is sent");
    assert!(answer.starts_with("http/1.1 503"), "{answer}");

    // Small calls are still answered beside them, several at once.
    let calls: Vec<_> = (0..4)
        .map(|_| {
            let app = &app;
            async move { call(app, Some(&token()), &call_body(2_000)).await }
        })
        .collect();
    for answer in futures::future::join_all(calls).await {
        assert!(answer.starts_with("http/1.1 200"), "{answer}");
    }
    drop(held);
}

#[tokio::test]
async fn a_chunked_body_reserves_the_budget_as_it_grows() {
    let app = TestApp::spawn_with_config(&config(
        "max_body_bytes = 150000\nmax_body_bytes_in_flight = 200000",
    ))
    .await;
    // A slow call holding 150,000 bytes of the budget.
    let mut slow = connect(&app).await;
    slow.write_all(format!("{}{{", head(150_000, Some(&token()))).as_bytes())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    // A chunked call, which declares no length: its first 5,000 bytes fit (a small body may use
    // the 50,000 bytes kept for small ones), the next 75,000 do not (it is large now, and large
    // bodies must leave those 50,000 free).
    let body = call_body(80_000);
    let (first, second) = body.split_at(5_000);
    let mut stream = connect(&app).await;
    let head = format!(
        "POST {HOOK} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         Authorization: Bearer {}\r\nTransfer-Encoding: chunked\r\n\r\n",
        token()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    for (nth, chunk) in [first, second].into_iter().enumerate() {
        let framed = format!("{:x}\r\n{chunk}\r\n", chunk.len());
        let written = stream.write_all(framed.as_bytes()).await;
        // The first chunk must be taken; the server may refuse and close during the second.
        if nth == 0 {
            written.expect("the first chunk is read");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let answer = timeout(GENEROUS, read_head(&mut stream))
        .await
        .expect("an answer in time");
    assert!(answer.starts_with("http/1.1 503"), "{answer}");
    drop(slow);
}
