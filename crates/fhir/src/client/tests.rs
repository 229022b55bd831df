//! Tests of the FHIR client against wiremock (and a raw TCP server where wiremock cannot help).

use super::*;
use crate::fast::FastRead;
use serde_json::json;
use std::sync::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

pub(crate) const TOKEN: &str = "sekrit-token-4f9a";

pub(crate) fn observation(id: &str) -> Json {
    json!({"resourceType": "Observation", "id": id, "status": "final",
           "subject": {"reference": "Patient/pat-4711"},
           "code": {"coding": [{"system": "http://loinc.org", "code": "8665-2"}]}})
}

pub(crate) fn bundle(resources: &[Json], next: Option<&str>) -> Json {
    let mut bundle = json!({
        "resourceType": "Bundle", "type": "searchset",
        "entry": resources.iter().map(|resource| json!({"resource": resource, "search": {"mode": "match"}})).collect::<Vec<_>>()
    });
    if let Some(next) = next {
        bundle["link"] = json!([{"relation": "next", "url": next}]);
    }
    bundle
}

pub(crate) fn fhir_json(body: &Json) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(body.to_string(), "application/fhir+json")
}

fn client() -> FhirClient {
    FhirClient::new(FetchLimits::default()).expect("client")
}

/// A checked FHIR server base, for the tests.
pub(crate) fn fhir_server(raw: &str) -> FhirServer {
    let url = Url::parse(raw).unwrap_or_else(|e| panic!("{raw}: {e}"));
    FhirServer::check(&url).expect("a FHIR server the policy allows")
}

fn base(server: &MockServer) -> FhirServer {
    fhir_server(&format!("{}/fhir", server.uri()))
}

/// A call's allowance with the default caps.
fn allowance() -> Arc<CallAllowance> {
    Arc::new(CallAllowance::new(10_000, 32 * 1024 * 1024))
}

/// What the reference reader makes of these resources, as a fetched page gives them.
fn reference(resources: &[Json]) -> Vec<Fetched> {
    resources
        .iter()
        .map(crate::page::tests_support::by_reference)
        .collect()
}

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(5)
}

#[tokio::test]
async fn a_search_sends_the_query_the_accept_header_and_the_bearer_token() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/fhir/Observation"))
        .and(query_param("patient", "p1"))
        .and(query_param("code", "http://loinc.org|8665-2"))
        .and(header("accept", "application/fhir+json"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .respond_with(fhir_json(&bundle(
            &[observation("a"), observation("b")],
            None,
        )))
        .expect(1)
        .mount(&server)
        .await;
    let resources = client()
        .search(
            &base(&server),
            "Observation?patient=p1&code=http://loinc.org|8665-2",
            Some(TOKEN),
            soon(),
            &allowance(),
        )
        .await
        .expect("search");
    assert_eq!(
        resources.resources,
        reference(&[observation("a"), observation("b")])
    );
}

#[tokio::test]
async fn without_a_token_no_authorization_header_is_sent() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(fhir_json(&bundle(&[], None)))
        .mount(&server)
        .await;
    client()
        .search(
            &base(&server),
            "Condition?patient=p1",
            None,
            soon(),
            &allowance(),
        )
        .await
        .expect("search");
    let requests = server.received_requests().await.expect("recorded");
    assert_eq!(requests.len(), 1);
    assert!(requests[0].headers.get("authorization").is_none());
}

#[tokio::test]
async fn next_links_are_followed_and_pages_concatenated() {
    let server = MockServer::start().await;
    let page2 = format!("{}/fhir/Observation?page=2", server.uri());
    Mock::given(path("/fhir/Observation"))
        .and(query_param("patient", "p1"))
        .respond_with(fhir_json(&bundle(&[observation("a")], Some(&page2))))
        .mount(&server)
        .await;
    Mock::given(path("/fhir/Observation"))
        .and(query_param("page", "2"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .respond_with(fhir_json(&bundle(&[observation("b")], None)))
        .expect(1)
        .mount(&server)
        .await;
    let resources = client()
        .search(
            &base(&server),
            "Observation?patient=p1",
            Some(TOKEN),
            soon(),
            &allowance(),
        )
        .await
        .expect("search");
    assert_eq!(
        resources.resources,
        reference(&[observation("a"), observation("b")])
    );
}

#[tokio::test]
async fn a_next_link_to_another_origin_is_refused_and_not_followed() {
    let server = MockServer::start().await;
    let elsewhere = MockServer::start().await;
    Mock::given(path("/fhir/Observation"))
        .respond_with(fhir_json(&bundle(
            &[observation("a")],
            Some(&format!("{}/steal", elsewhere.uri())),
        )))
        .mount(&server)
        .await;
    let error = client()
        .search(
            &base(&server),
            "Observation?patient=p1",
            Some(TOKEN),
            soon(),
            &allowance(),
        )
        .await
        .expect_err("foreign next link");
    assert!(matches!(error, FetchError::ForeignNextLink), "{error:?}");
    assert!(
        elsewhere
            .received_requests()
            .await
            .expect("recorded")
            .is_empty()
    );
}

#[tokio::test]
async fn a_next_link_loop_is_detected() {
    let server = MockServer::start().await;
    let page2 = format!("{}/fhir/Observation?page=2", server.uri());
    let page1 = format!("{}/fhir/Observation?patient=p1", server.uri());
    Mock::given(path("/fhir/Observation"))
        .and(query_param("patient", "p1"))
        .respond_with(fhir_json(&bundle(&[observation("a")], Some(&page2))))
        .mount(&server)
        .await;
    Mock::given(path("/fhir/Observation"))
        .and(query_param("page", "2"))
        .respond_with(fhir_json(&bundle(&[observation("b")], Some(&page1))))
        .mount(&server)
        .await;
    let error = client()
        .search(
            &base(&server),
            "Observation?patient=p1",
            None,
            soon(),
            &allowance(),
        )
        .await
        .expect_err("loop");
    assert!(matches!(error, FetchError::PagingLoop), "{error:?}");
    assert_eq!(server.received_requests().await.expect("recorded").len(), 2);
}

#[tokio::test]
async fn pages_beyond_the_cap_fail_the_search() {
    let server = MockServer::start().await;
    // Every page links to a new page: page=N -> page=N+1, forever.
    for n in 0..5 {
        Mock::given(path("/fhir/Observation"))
            .and(query_param("page", n.to_string().as_str()))
            .respond_with(fhir_json(&bundle(
                &[observation(&format!("o{n}"))],
                Some(&format!("{}/fhir/Observation?page={}", server.uri(), n + 1)),
            )))
            .mount(&server)
            .await;
    }
    let limits = FetchLimits {
        max_pages: 3,
        ..FetchLimits::default()
    };
    let error = FhirClient::new(limits)
        .expect("client")
        .search(
            &base(&server),
            "Observation?page=0",
            None,
            soon(),
            &allowance(),
        )
        .await
        .expect_err("too many pages");
    assert!(
        matches!(error, FetchError::TooManyPages { limit: 3 }),
        "{error:?}"
    );
    assert_eq!(server.received_requests().await.expect("recorded").len(), 3);
}

#[tokio::test]
async fn a_401_with_an_operation_outcome_is_a_typed_status_error() {
    let server = MockServer::start().await;
    let outcome = json!({"resourceType": "OperationOutcome", "issue": [
        {"severity": "error", "code": "login", "diagnostics": "token for patient Jane expired"}]});
    Mock::given(path("/fhir/Observation"))
        .respond_with(
            ResponseTemplate::new(401).set_body_raw(outcome.to_string(), "application/fhir+json"),
        )
        .expect(1)
        .mount(&server)
        .await;
    let error = client()
        .search(
            &base(&server),
            "Observation?patient=p1",
            Some(TOKEN),
            soon(),
            &allowance(),
        )
        .await
        .expect_err("401");
    let FetchError::Status { status, outcome } = &error else {
        panic!("expected a status error, got {error:?}");
    };
    assert_eq!(*status, 401);
    assert_eq!(
        outcome.as_ref().map(|o| o.issues.clone()),
        Some(vec![("error".into(), "login".into())])
    );
    assert!(!error.to_string().contains("Jane"));
}

#[tokio::test]
async fn a_403_and_a_404_are_not_retried() {
    for status in [403, 404] {
        let server = MockServer::start().await;
        Mock::given(path("/fhir/Observation"))
            .respond_with(ResponseTemplate::new(status))
            .expect(1)
            .mount(&server)
            .await;
        let error = client()
            .search(
                &base(&server),
                "Observation?patient=p1",
                None,
                soon(),
                &allowance(),
            )
            .await
            .expect_err("error status");
        assert!(
            matches!(error, FetchError::Status { status: s, outcome: None } if s == status),
            "{error:?}"
        );
    }
}

#[tokio::test]
async fn a_500_is_an_error_and_a_503_is_retried_once() {
    let server = MockServer::start().await;
    Mock::given(path("/fhir/Condition"))
        .respond_with(ResponseTemplate::new(500))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path("/fhir/Observation"))
        .respond_with(ResponseTemplate::new(503))
        .expect(2)
        .mount(&server)
        .await;
    let client = client();
    let error = client
        .search(
            &base(&server),
            "Condition?patient=p1",
            None,
            soon(),
            &allowance(),
        )
        .await
        .expect_err("500");
    assert!(
        matches!(error, FetchError::Status { status: 500, .. }),
        "{error:?}"
    );
    let error = client
        .search(
            &base(&server),
            "Observation?patient=p1",
            None,
            soon(),
            &allowance(),
        )
        .await
        .expect_err("503");
    assert!(
        matches!(error, FetchError::Status { status: 503, .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_503_then_success_succeeds_on_the_retry() {
    let server = MockServer::start().await;
    Mock::given(path("/fhir/Observation"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(path("/fhir/Observation"))
        .respond_with(fhir_json(&bundle(&[observation("a")], None)))
        .mount(&server)
        .await;
    let resources = client()
        .search(
            &base(&server),
            "Observation?patient=p1",
            None,
            soon(),
            &allowance(),
        )
        .await
        .expect("retried");
    assert_eq!(resources.resources.len(), 1);
}

#[tokio::test]
async fn a_redirect_is_not_followed() {
    let server = MockServer::start().await;
    Mock::given(path("/fhir/Observation"))
        .respond_with(
            ResponseTemplate::new(302).insert_header("location", "https://evil.example/steal"),
        )
        .mount(&server)
        .await;
    let error = client()
        .search(
            &base(&server),
            "Observation?patient=p1",
            Some(TOKEN),
            soon(),
            &allowance(),
        )
        .await
        .expect_err("redirect");
    assert!(
        matches!(error, FetchError::Status { status: 302, .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_slow_server_is_cut_off_at_the_deadline() {
    let server = MockServer::start().await;
    Mock::given(path("/fhir/Observation"))
        .respond_with(fhir_json(&bundle(&[], None)).set_delay(Duration::from_secs(5)))
        .mount(&server)
        .await;
    let started = Instant::now();
    let deadline = started + Duration::from_millis(300);
    let error = client()
        .search(
            &base(&server),
            "Observation?patient=p1",
            None,
            deadline,
            &allowance(),
        )
        .await
        .expect_err("deadline");
    let elapsed = started.elapsed();
    assert!(matches!(error, FetchError::Deadline), "{error:?}");
    assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
    assert!(elapsed < Duration::from_millis(600), "took {elapsed:?}");
}

#[tokio::test]
async fn a_refused_connection_is_a_connect_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    let base = fhir_server(&format!("http://127.0.0.1:{port}/fhir"));
    let error = client()
        .search(
            &base,
            "Observation?patient=p1",
            Some(TOKEN),
            soon(),
            &allowance(),
        )
        .await
        .expect_err("refused");
    assert!(matches!(error, FetchError::Connect(_)), "{error:?}");
    let shown = format!("{error} {error:?}");
    assert!(
        !shown.contains("patient=p1") && !shown.contains(TOKEN),
        "{shown}"
    );
}

#[tokio::test]
async fn wrong_content_type_non_json_and_non_bundle_are_typed_errors() {
    let server = MockServer::start().await;
    Mock::given(path("/fhir/Html"))
        .respond_with(ResponseTemplate::new(200).set_body_raw("<html>login</html>", "text/html"))
        .mount(&server)
        .await;
    Mock::given(path("/fhir/Broken"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw("{\"resourceType\": \"Bundle\", ", "application/fhir+json"),
        )
        .mount(&server)
        .await;
    Mock::given(path("/fhir/Array"))
        .respond_with(ResponseTemplate::new(200).set_body_raw("[1, 2]", "application/json"))
        .mount(&server)
        .await;
    let client = client();
    let base = base(&server);
    let html = client
        .search(&base, "Html?x=1", None, soon(), &allowance())
        .await
        .expect_err("html");
    assert!(
        matches!(&html, FetchError::WrongContentType { content_type } if content_type == "text/html"),
        "{html:?}"
    );
    let broken = client
        .search(&base, "Broken?x=1", None, soon(), &allowance())
        .await
        .expect_err("broken");
    assert!(matches!(broken, FetchError::NotJson), "{broken:?}");
    let array = client
        .search(&base, "Array?x=1", None, soon(), &allowance())
        .await
        .expect_err("array");
    assert!(matches!(array, FetchError::NotABundle { .. }), "{array:?}");
}

#[tokio::test]
async fn a_bundle_with_no_entries_is_an_empty_result() {
    let server = MockServer::start().await;
    Mock::given(path("/fhir/Observation"))
        .respond_with(fhir_json(
            &json!({"resourceType": "Bundle", "type": "searchset", "total": 0}),
        ))
        .mount(&server)
        .await;
    let resources = client()
        .search(
            &base(&server),
            "Observation?patient=p1",
            None,
            soon(),
            &allowance(),
        )
        .await
        .expect("search");
    assert!(resources.resources.is_empty());
}

#[tokio::test]
async fn an_error_operation_outcome_entry_fails_the_search() {
    let server = MockServer::start().await;
    let outcome = json!({"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "too-costly"}]});
    let mut page = bundle(&[observation("a")], None);
    page["entry"]
        .as_array_mut()
        .expect("entries")
        .push(json!({"resource": outcome, "search": {"mode": "outcome"}}));
    Mock::given(path("/fhir/Observation"))
        .respond_with(fhir_json(&page))
        .mount(&server)
        .await;
    let error = client()
        .search(
            &base(&server),
            "Observation?patient=p1",
            None,
            soon(),
            &allowance(),
        )
        .await
        .expect_err("outcome");
    assert!(
        matches!(&error, FetchError::Outcome(summary) if summary.issues == vec![("error".to_owned(), "too-costly".to_owned())]),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_bundle_with_an_invalid_entry_and_an_r4_only_resource_keeps_the_rest() {
    let server = MockServer::start().await;
    let page = bundle(
        &[
            observation("good"),
            json!({"resourceType": "MedicinalProduct", "id": "r4-only"}),
            json!({"resourceType": "Observation", "id": "bad", "status": 7, "code": 8}),
            json!({"resourceType": "Patient", "id": "p1", "birthDate": "not a date"}),
        ],
        None,
    );
    Mock::given(path("/fhir/Observation"))
        .respond_with(fhir_json(&page))
        .mount(&server)
        .await;
    let resources = client()
        .search(
            &base(&server),
            "Observation?patient=p1",
            None,
            soon(),
            &allowance(),
        )
        .await
        .expect("the page is not lost");
    let resources = resources.resources;
    assert_eq!(resources.len(), 4);
    // The R4-only resource is skipped; the broken Observation is kept with its problems named;
    // the Patient's unreadable birth date is not read by the engine and costs nothing.
    let records: Vec<_> = resources
        .iter()
        .filter_map(|fetched| match &fetched.resource.read {
            FastRead::Record(record) => Some((record.id.as_str(), record.problems.len())),
            _ => None,
        })
        .collect();
    assert_eq!(records, vec![("good", 0), ("bad", 2)]);
    let patient = resources
        .iter()
        .find_map(|fetched| match &fetched.resource.read {
            FastRead::Patient(patient) => patient.id.as_deref(),
            _ => None,
        });
    assert_eq!(patient, Some("p1"));
    assert!(
        resources
            .iter()
            .all(|fetched| fetched.diagnostics.is_empty())
    );
}

#[tokio::test]
async fn a_large_body_with_a_content_length_fails_before_reading() {
    let server = MockServer::start().await;
    let big = vec![b' '; 11 * 1024 * 1024];
    Mock::given(path("/fhir/Observation"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(big, "application/fhir+json"))
        .mount(&server)
        .await;
    let error = client()
        .search(
            &base(&server),
            "Observation?patient=p1",
            None,
            soon(),
            &allowance(),
        )
        .await
        .expect_err("too large");
    assert!(
        matches!(error, FetchError::TooLarge { limit } if limit == 10 * 1024 * 1024),
        "{error:?}"
    );
}

/// A server that streams a 50 MB chunked body (no Content-Length), 1 MB at a time, and counts
/// how much it managed to send before the client hung up.
async fn streaming_server() -> (FhirServer, Arc<Mutex<usize>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let sent = Arc::new(Mutex::new(0usize));
    let counter = Arc::clone(&sent);
    tokio::spawn(async move {
        let Ok((mut socket, _)) = listener.accept().await else {
            return;
        };
        let mut request = [0u8; 4096];
        let _ = socket.read(&mut request).await;
        let head = "HTTP/1.1 200 OK\r\ncontent-type: application/fhir+json\r\ntransfer-encoding: chunked\r\n\r\n";
        if socket.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        let chunk = vec![b' '; 1024 * 1024];
        for _ in 0..50 {
            let framed = [
                format!("{:x}\r\n", chunk.len()).into_bytes(),
                chunk.clone(),
                b"\r\n".to_vec(),
            ]
            .concat();
            if socket.write_all(&framed).await.is_err() {
                return;
            }
            *counter.lock().expect("counter") += chunk.len();
        }
        let _ = socket.write_all(b"0\r\n\r\n").await;
    });
    let base = fhir_server(&format!("http://127.0.0.1:{port}/fhir"));
    (base, sent)
}

#[tokio::test]
async fn a_streamed_50_mb_body_is_cut_off_at_the_byte_cap() {
    let (base, sent) = streaming_server().await;
    let limits = FetchLimits {
        max_response_bytes: 2 * 1024 * 1024,
        ..FetchLimits::default()
    };
    let started = Instant::now();
    let error = FhirClient::new(limits)
        .expect("client")
        .search(&base, "Observation?patient=p1", None, soon(), &allowance())
        .await
        .expect_err("too large");
    assert!(
        matches!(error, FetchError::TooLarge { limit } if limit == 2 * 1024 * 1024),
        "{error:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    // The client stopped reading long before the 50 MB were sent (socket buffers hold a few MB).
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(*sent.lock().expect("counter") < 20 * 1024 * 1024);
}

#[tokio::test]
async fn a_query_that_escapes_the_base_is_refused() {
    let server = MockServer::start().await;
    let client = client();
    let base = base(&server);
    for query in [
        "https://evil.example/Observation",
        "//evil.example/x",
        "../admin?x=1",
        "",
    ] {
        let error = client
            .search(&base, query, Some(TOKEN), soon(), &allowance())
            .await
            .expect_err(query);
        assert!(
            matches!(error, FetchError::InvalidQuery),
            "{query}: {error:?}"
        );
    }
    assert!(
        server
            .received_requests()
            .await
            .expect("recorded")
            .is_empty()
    );
}

#[tokio::test]
async fn a_read_returns_the_single_resource() {
    let server = MockServer::start().await;
    let patient = json!({"resourceType": "Patient", "id": "p1"});
    Mock::given(path("/fhir/Patient/p1"))
        .respond_with(fhir_json(&patient))
        .mount(&server)
        .await;
    let resources = client()
        .search(&base(&server), "Patient/p1", None, soon(), &allowance())
        .await
        .expect("read");
    assert_eq!(resources.resources, reference(&[patient]));
}

#[test]
fn fetch_limits_have_sensible_defaults() {
    let limits = FetchLimits::default();
    assert_eq!(limits.max_pages, 10);
    assert_eq!(limits.max_response_bytes, 10 * 1024 * 1024);
    assert!(limits.request_timeout > Duration::ZERO);
}

#[tokio::test]
async fn a_request_slower_than_the_per_request_timeout_fails_without_a_retry() {
    let server = MockServer::start().await;
    Mock::given(path("/fhir/Observation"))
        .respond_with(fhir_json(&bundle(&[], None)).set_delay(Duration::from_secs(2)))
        .expect(1)
        .mount(&server)
        .await;
    let limits = FetchLimits {
        request_timeout: Duration::from_millis(150),
        ..FetchLimits::default()
    };
    let started = Instant::now();
    let error = FhirClient::new(limits)
        .expect("client")
        .search(
            &base(&server),
            "Observation?patient=p1",
            None,
            soon(),
            &allowance(),
        )
        .await
        .expect_err("timeout");
    assert!(matches!(error, FetchError::Timeout), "{error:?}");
    assert!(
        started.elapsed() < Duration::from_millis(1000),
        "{:?}",
        started.elapsed()
    );
}
