//! The HTTP front against slow and malformed clients: header-read and idle timeouts, the
//! connection cap, a body read before the hook permit, the Host check, and graceful shutdown.
//!
//! Each test speaks raw HTTP/1.1 over a `TcpStream`, since a well-behaved client (reqwest) cannot
//! be slow or omit its Host header on purpose. Timeouts are set to a few hundred milliseconds, and
//! the assertions only say "closed (or answered) within a generous bound".

use std::time::Duration;

use gravida_server::settings::Settings;
use gravida_server::startup::Application;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout};

use crate::helpers::TestApp;

const HOOK: &str = "/cds-services/gravida-patient-view";
/// How long a test waits for something that should happen within a few hundred milliseconds.
const GENEROUS: Duration = Duration::from_secs(3);

/// A valid patient-view call for a patient with no records: 200 with no cards.
fn patient_view() -> Value {
    json!({
        "hook": "patient-view",
        "hookInstance": "0b1f4f6e-8a4e-4f7e-9d1c-3c9d2f0a7e11",
        "context": { "userId": "Practitioner/example", "patientId": "p1" },
        "prefetch": { "patient": null, "conditions": null, "pregnancy": null, "bleeding": null,
                      "hcg": null, "rh": null, "ultrasound": null }
    })
}

/// A raw connection to the app.
async fn connect(app: &TestApp) -> TcpStream {
    let addr = app.address.trim_start_matches("http://");
    TcpStream::connect(addr).await.expect("the server accepts")
}

/// An answer read off a raw connection.
#[derive(Debug)]
struct Answer {
    status: u16,
    /// The head, lower-cased, for looking up headers.
    head: String,
    body: String,
}

/// Reads one answer (its head and its `Content-Length` body); `None` if the connection closes
/// first.
async fn read_answer(stream: &mut TcpStream) -> Option<Answer> {
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&bytes[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse().unwrap());
            while bytes.len() < end + 4 + length {
                let n = stream.read(&mut chunk).await.ok()?;
                if n == 0 {
                    return None;
                }
                bytes.extend_from_slice(&chunk[..n]);
            }
            let status = head.split(' ').nth(1)?.parse().ok()?;
            let body = String::from_utf8_lossy(&bytes[end + 4..end + 4 + length]).into_owned();
            return Some(Answer { status, head, body });
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        bytes.extend_from_slice(&chunk[..n]);
    }
}

/// True once the server has closed `stream` (a read gives end-of-file or a reset).
async fn closed_within(stream: &mut TcpStream, bound: Duration) -> bool {
    let mut chunk = [0u8; 1024];
    let waited = timeout(bound, async {
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    });
    waited.await.is_ok()
}

/// Sends a raw request and reads its answer.
async fn exchange(app: &TestApp, request: &str) -> Answer {
    let mut stream = connect(app).await;
    stream.write_all(request.as_bytes()).await.unwrap();
    timeout(GENEROUS, read_answer(&mut stream))
        .await
        .expect("an answer in time")
        .expect("an answer before the connection closes")
}

fn healthz() -> &'static str {
    "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n"
}

#[tokio::test]
async fn a_connection_that_never_finishes_its_headers_is_closed_after_the_header_timeout() {
    let app = TestApp::spawn_with(&[("GRAVIDA_HTTP__HEADER_READ_TIMEOUT_MS", "300")]).await;
    let lasted = slowloris(
        connect(&app).await,
        b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n",
    )
    .await;
    assert!(
        lasted >= Duration::from_millis(250),
        "closed after {lasted:?}"
    );
}

/// Slowloris on `stream`: sends `head`, then a header line every 100 ms, never the blank line
/// that ends the head; returns how long the server kept the connection open (the clock runs
/// from the first byte, so the lines do not keep it open). Fails if it is still open after
/// [`GENEROUS`].
pub(crate) async fn slowloris(mut stream: TcpStream, head: &[u8]) -> Duration {
    let started = Instant::now();
    stream.write_all(head).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let drip = tokio::spawn(async move {
        for i in 0.. {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let line = format!("X-Drip-{i}: 1\r\n");
            if writer.write_all(line.as_bytes()).await.is_err() {
                return;
            }
        }
    });
    let mut chunk = [0u8; 1024];
    let closed = timeout(GENEROUS, async {
        loop {
            match reader.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    drip.abort();
    assert!(closed.is_ok(), "still open after {:?}", started.elapsed());
    started.elapsed()
}

#[tokio::test]
async fn a_connection_that_sends_nothing_is_closed_after_the_header_timeout() {
    let app = TestApp::spawn_with(&[("GRAVIDA_HTTP__HEADER_READ_TIMEOUT_MS", "300")]).await;
    let mut stream = connect(&app).await;
    assert!(closed_within(&mut stream, GENEROUS).await);
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let app = TestApp::spawn_with(&[("GRAVIDA_HTTP__IDLE_TIMEOUT_MS", "300")]).await;
    let mut stream = connect(&app).await;
    stream.write_all(healthz().as_bytes()).await.unwrap();
    let answer = read_answer(&mut stream).await.expect("an answer");
    assert_eq!(answer.status, 200);
    let started = Instant::now();
    assert!(closed_within(&mut stream, GENEROUS).await);
    assert!(started.elapsed() >= Duration::from_millis(250));
}

#[tokio::test]
async fn a_keep_alive_connection_may_idle_longer_than_the_header_timeout() {
    let app = TestApp::spawn_with(&[
        ("GRAVIDA_HTTP__HEADER_READ_TIMEOUT_MS", "200"),
        ("GRAVIDA_HTTP__IDLE_TIMEOUT_MS", "5000"),
    ])
    .await;
    let mut stream = connect(&app).await;
    for _ in 0..2 {
        stream.write_all(healthz().as_bytes()).await.unwrap();
        let answer = read_answer(&mut stream).await.expect("an answer");
        assert_eq!(answer.status, 200);
        // Idle for longer than a head may take: still open.
        tokio::time::sleep(Duration::from_millis(600)).await;
    }
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_while_every_connection_is_busy() {
    let app = TestApp::spawn_with(&[
        ("GRAVIDA_HTTP__MAX_CONNECTIONS", "1"),
        ("GRAVIDA_HTTP__BODY_READ_TIMEOUT_MS", "10000"),
    ])
    .await;
    // The one slot, held by a hook call whose body is on its way: busy, never shed.
    let body = patient_view().to_string();
    let (half, rest) = body.split_at(body.len() / 2);
    let mut busy = connect(&app).await;
    let head = format!(
        "POST {HOOK} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{half}",
        body.len()
    );
    busy.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;

    // The second connects (the kernel queues it) but is not served while the first is busy.
    let mut second = connect(&app).await;
    second.write_all(healthz().as_bytes()).await.unwrap();
    let early = timeout(Duration::from_millis(500), read_answer(&mut second)).await;
    assert!(early.is_err(), "served beyond the cap: {early:?}");

    // The busy call is answered whole, and then the second is served.
    busy.write_all(rest.as_bytes()).await.unwrap();
    let answer = timeout(GENEROUS, read_answer(&mut busy))
        .await
        .expect("the busy call is answered")
        .expect("an answer");
    assert_eq!(answer.status, 200, "{answer:?}");
    drop(busy);
    let answer = timeout(GENEROUS, read_answer(&mut second))
        .await
        .expect("served once the first closed")
        .expect("an answer");
    assert_eq!(answer.status, 200);
}

#[tokio::test]
async fn at_the_cap_the_oldest_incomplete_head_is_closed_to_make_room() {
    let app = TestApp::spawn_with(&[
        ("GRAVIDA_HTTP__MAX_CONNECTIONS", "2"),
        ("GRAVIDA_HTTP__HEADER_READ_TIMEOUT_MS", "30000"),
    ])
    .await;
    // Two slowloris connections hold both slots, the older one first.
    let mut older = connect(&app).await;
    older.write_all(b"GET /healthz HTTP/1.1\r\n").await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut newer = connect(&app).await;
    newer.write_all(b"GET /healthz HTTP/1.1\r\n").await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;

    // A new client is served at once (not after the 30 s header timeout), in the older's place.
    let answer = exchange(&app, healthz()).await;
    assert_eq!(answer.status, 200);
    assert!(
        closed_within(&mut older, GENEROUS).await,
        "the older closes"
    );
    assert!(
        !closed_within(&mut newer, Duration::from_millis(300)).await,
        "the newer stays"
    );
}

#[tokio::test]
async fn an_ehr_keep_alive_outlasts_a_slowloris_flood_at_the_cap() {
    let app = TestApp::spawn_with(&[
        ("GRAVIDA_HTTP__MAX_CONNECTIONS", "4"),
        ("GRAVIDA_HTTP__HEADER_READ_TIMEOUT_MS", "30000"),
        ("GRAVIDA_HTTP__IDLE_TIMEOUT_MS", "60000"),
    ])
    .await;
    // The EHR's keep-alive connection, which has made a hook call and sits idle.
    let body = patient_view().to_string();
    let hook_call = format!(
        "POST {HOOK} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut ehr = connect(&app).await;
    ehr.write_all(hook_call.as_bytes()).await.unwrap();
    assert_eq!(read_answer(&mut ehr).await.expect("an answer").status, 200);

    // Slowloris connections, far more than the cap, each sending part of a head; and an idle
    // flood of connections that made one unauthenticated request.
    let mut attackers = Vec::new();
    for i in 0..12 {
        let mut stream = connect(&app).await;
        if i % 3 == 0 {
            stream.write_all(healthz().as_bytes()).await.unwrap();
        } else {
            stream
                .write_all(b"GET /healthz HTTP/1.1\r\n")
                .await
                .unwrap();
        }
        attackers.push(stream);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Longer than the old one second an idle connection was kept at the cap.
    tokio::time::sleep(Duration::from_millis(1500)).await;

    // The EHR's next call goes down the same connection and is answered.
    ehr.write_all(hook_call.as_bytes()).await.unwrap();
    let answer = timeout(GENEROUS, read_answer(&mut ehr))
        .await
        .expect("answered in time")
        .expect("answered on the same connection, which was kept");
    assert_eq!(answer.status, 200, "{answer:?}");
}

#[tokio::test]
async fn at_the_cap_an_idle_keep_alive_connection_is_closed_to_make_room() {
    let app = TestApp::spawn_with(&[
        ("GRAVIDA_HTTP__MAX_CONNECTIONS", "1"),
        ("GRAVIDA_HTTP__IDLE_TIMEOUT_MS", "60000"),
    ])
    .await;
    let mut idle = connect(&app).await;
    idle.write_all(healthz().as_bytes()).await.unwrap();
    assert_eq!(read_answer(&mut idle).await.expect("an answer").status, 200);

    // Far sooner than the idle timeout, the idle connection gives way to the waiting one.
    let answer = exchange(&app, healthz()).await;
    assert_eq!(answer.status, 200);
    assert!(closed_within(&mut idle, GENEROUS).await);
}

#[tokio::test]
async fn a_slow_body_does_not_hold_a_hook_permit() {
    let app = TestApp::spawn_with(&[("GRAVIDA_HTTP__MAX_CONCURRENT_HOOK_CALLS", "1")]).await;
    // A hook call that declares a body and sends one byte of it.
    let mut slow = connect(&app).await;
    let head = format!(
        "POST {HOOK} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         Content-Length: 100000\r\n\r\n{{"
    );
    slow.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    // The only permit is free: a valid call is answered.
    let (status, body) = app.call("gravida-patient-view", &patient_view()).await;
    assert_eq!(status, 200, "{body}");
    drop(slow);
}

#[tokio::test]
async fn a_body_that_arrives_too_slowly_gets_408() {
    let app = TestApp::spawn_with(&[("GRAVIDA_HTTP__BODY_READ_TIMEOUT_MS", "300")]).await;
    let body = patient_view().to_string();
    let head = format!(
        "POST {HOOK} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    );
    let (mut reader, mut writer) = connect(&app).await.into_split();
    writer.write_all(head.as_bytes()).await.unwrap();
    let drip = tokio::spawn(async move {
        for byte in body.into_bytes() {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if writer.write_all(&[byte]).await.is_err() {
                return;
            }
        }
    });
    let mut text = String::new();
    let read = timeout(GENEROUS, reader.read_to_string(&mut text)).await;
    drip.abort();
    assert!(read.is_ok(), "no answer and still open: {text}");
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("\"code\":\"body-timeout\""), "{text}");
    assert!(text.contains("\"code\":\"timeout\""), "{text}");
    assert!(
        text.to_ascii_lowercase().contains("connection: close"),
        "{text}"
    );
}

#[tokio::test]
async fn a_request_without_a_host_header_gets_400() {
    let app = TestApp::spawn().await;
    let answer = exchange(&app, "GET /healthz HTTP/1.1\r\n\r\n").await;
    assert_eq!(answer.status, 400, "{answer:?}");
    let body: Value = serde_json::from_str(&answer.body).unwrap();
    assert_eq!(crate::cds3::error_name(&body), "invalid-host", "{body}");
    assert!(answer.head.contains("content-type: application/fhir+json"));

    // HTTP/1.0 may omit it.
    let answer = exchange(&app, "GET /healthz HTTP/1.0\r\n\r\n").await;
    assert_eq!(answer.status, 200, "{answer:?}");
}

#[tokio::test]
async fn a_request_with_two_host_headers_gets_400() {
    let app = TestApp::spawn().await;
    let answer = exchange(
        &app,
        "GET /healthz HTTP/1.1\r\nHost: localhost\r\nHost: other.example\r\n\r\n",
    )
    .await;
    assert_eq!(answer.status, 400, "{answer:?}");
    let body: Value = serde_json::from_str(&answer.body).unwrap();
    assert_eq!(crate::cds3::error_name(&body), "invalid-host", "{body}");
}

#[tokio::test]
async fn a_host_header_that_is_not_a_host_gets_400_before_authentication() {
    let app = TestApp::spawn().await;
    let body = patient_view().to_string();
    let request = format!(
        "POST {HOOK} HTTP/1.1\r\nHost: user@bad host\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let answer = exchange(&app, &request).await;
    assert_eq!(answer.status, 400, "{answer:?}");
    assert!(answer.body.contains("invalid-host"), "{answer:?}");
}

#[tokio::test]
async fn on_the_stop_signal_a_request_in_flight_is_answered_idle_connections_close_and_serving_ends()
 {
    let settings = Settings::load_from(
        None,
        vec![
            ("GRAVIDA_LISTEN".to_owned(), "127.0.0.1:0".to_owned()),
            ("GRAVIDA_STORE__ENABLED".to_owned(), "false".to_owned()),
            // No grace: what follows the drain's grace is tested here.
            ("GRAVIDA_HTTP__DRAIN_GRACE_MS".to_owned(), "1".to_owned()),
        ],
    )
    .unwrap();
    let app = Application::build(settings).await.unwrap();
    let addr = app.local_addr();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));

    // An idle keep-alive connection, and a hook call whose body is still on its way.
    let mut idle = TcpStream::connect(addr).await.unwrap();
    idle.write_all(healthz().as_bytes()).await.unwrap();
    assert_eq!(read_answer(&mut idle).await.expect("an answer").status, 200);
    let body = patient_view().to_string();
    let (half, rest) = body.split_at(body.len() / 2);
    let mut in_flight = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST {HOOK} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{half}",
        body.len()
    );
    in_flight.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;

    stop.send(()).unwrap();
    assert!(
        closed_within(&mut idle, GENEROUS).await,
        "the idle one closes"
    );
    in_flight.write_all(rest.as_bytes()).await.unwrap();
    let answer = timeout(GENEROUS, read_answer(&mut in_flight))
        .await
        .expect("answered in time")
        .expect("an answer");
    assert_eq!(answer.status, 200, "{answer:?}");
    timeout(GENEROUS, serving)
        .await
        .expect("serving ends once the last connection has")
        .unwrap()
        .unwrap();
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "no longer accepting"
    );
}

#[tokio::test]
async fn during_the_drain_grace_readyz_answers_503_and_new_connections_are_still_served() {
    let settings = Settings::load_from(
        None,
        vec![
            ("GRAVIDA_LISTEN".to_owned(), "127.0.0.1:0".to_owned()),
            ("GRAVIDA_STORE__ENABLED".to_owned(), "false".to_owned()),
            ("GRAVIDA_HTTP__DRAIN_GRACE_MS".to_owned(), "1500".to_owned()),
        ],
    )
    .unwrap();
    let app = Application::build(settings).await.unwrap();
    let addr = app.local_addr();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    let get = |path: &'static str| async move {
        let mut stream = TcpStream::connect(addr).await.expect("still accepting");
        let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        timeout(GENEROUS, read_answer(&mut stream))
            .await
            .expect("an answer in time")
            .expect("an answer")
    };
    assert_eq!(get("/readyz").await.status, 200);

    stop.send(()).unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let ready = get("/readyz").await;
    assert_eq!(ready.status, 503, "{ready:?}");
    assert!(ready.body.contains("draining"), "{ready:?}");
    // New connections, and hook calls on them, are still answered.
    assert_eq!(get("/healthz").await.status, 200);
    let body = patient_view().to_string();
    let mut stream = TcpStream::connect(addr).await.expect("still accepting");
    let request = format!(
        "POST {HOOK} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let answer = read_answer(&mut stream).await.expect("an answer");
    assert_eq!(answer.status, 200, "{answer:?}");

    // After the grace, serving ends and nothing more is accepted.
    timeout(GENEROUS, serving)
        .await
        .expect("serving ends after the grace")
        .unwrap()
        .unwrap();
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "no longer accepting"
    );
}

#[tokio::test]
async fn a_request_the_routers_timeout_cuts_off_gets_408_with_an_operation_outcome() {
    // The body may take 5 s, but the whole request only 400 ms: the router's timeout answers.
    let app = TestApp::spawn_with(&[
        ("GRAVIDA_HTTP__REQUEST_TIMEOUT_MS", "400"),
        ("GRAVIDA_FHIR__DEADLINE_MS", "100"),
        ("GRAVIDA_HTTP__BODY_READ_TIMEOUT_MS", "5000"),
    ])
    .await;
    let body = patient_view().to_string();
    let head = format!(
        "POST {HOOK} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    );
    let (mut reader, mut writer) = connect(&app).await.into_split();
    writer.write_all(head.as_bytes()).await.unwrap();
    let drip = tokio::spawn(async move {
        for byte in body.into_bytes() {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if writer.write_all(&[byte]).await.is_err() {
                return;
            }
        }
    });
    let mut text = String::new();
    let read = timeout(GENEROUS, reader.read_to_string(&mut text)).await;
    drip.abort();
    assert!(read.is_ok(), "no answer and still open: {text}");
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    // The rest of the body may still be on its way: the connection closes.
    assert!(
        text.to_ascii_lowercase().contains("connection: close"),
        "{text}"
    );
    assert!(text.contains("\"code\":\"request-timeout\""), "{text}");
    assert!(
        text.contains("\"resourceType\":\"OperationOutcome\""),
        "{text}"
    );
}
