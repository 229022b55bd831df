//! Tests of gathering: which keys are fetched, what each prefetch value leads to, and the logs.

use super::*;
use crate::client::FetchLimits;
use crate::client::tests::{TOKEN, bundle, fhir_json, fhir_server, observation};
use gravida_rules::facts::Input;
use serde_json::json;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const PATIENT: &str = "pat-4711";

fn queries() -> Vec<PrefetchQuery> {
    vec![
        PrefetchQuery {
            key: "patient".into(),
            template: "Patient/{{context.patientId}}".into(),
            need: Need::Context,
        },
        PrefetchQuery {
            key: "conditions".into(),
            template: "Condition?patient={{context.patientId}}".into(),
            need: Need::Central,
        },
        PrefetchQuery {
            key: "dating".into(),
            template: "Observation?patient={{context.patientId}}&code=http://loinc.org|8665-2"
                .into(),
            need: Need::Central,
        },
        PrefetchQuery {
            key: "hcg".into(),
            template: "Observation?patient={{context.patientId}}&code=http://loinc.org|21198-7"
                .into(),
            need: Need::Optional(Input::Hcg),
        },
    ]
}

fn context() -> Map<String, Json> {
    let Json::Object(context) = json!({"patientId": PATIENT, "userId": "Practitioner/u1"}) else {
        unreachable!("a literal object")
    };
    context
}

fn prefetch(value: Json) -> Map<String, Json> {
    match value {
        Json::Object(map) => map,
        _ => Map::new(),
    }
}

fn condition(id: &str) -> Json {
    json!({"resourceType": "Condition", "id": id, "subject": {"reference": "Patient/pat-4711"},
           "code": {"text": "vaginal bleeding"}})
}

fn deadline() -> Instant {
    Instant::now() + Duration::from_secs(5)
}

/// A FHIR server answering every search of the fixture queries.
async fn full_server() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(path(format!("/fhir/Patient/{PATIENT}")))
        .respond_with(fhir_json(
            &json!({"resourceType": "Patient", "id": PATIENT}),
        ))
        .mount(&server)
        .await;
    Mock::given(path("/fhir/Condition"))
        .and(query_param("patient", PATIENT))
        .respond_with(fhir_json(&bundle(&[condition("c1")], None)))
        .mount(&server)
        .await;
    Mock::given(path("/fhir/Observation"))
        .and(query_param("patient", PATIENT))
        .and(query_param("code", "http://loinc.org|8665-2"))
        .respond_with(fhir_json(&bundle(&[observation("lmp")], None)))
        .mount(&server)
        .await;
    Mock::given(path("/fhir/Observation"))
        .and(query_param("patient", PATIENT))
        .and(query_param("code", "http://loinc.org|21198-7"))
        // The same Observation also comes back from this search: it must be counted once.
        .respond_with(fhir_json(&bundle(
            &[observation("hcg1"), observation("lmp")],
            None,
        )))
        .mount(&server)
        .await;
    server
}

/// The (path, code) of every request the server received, sorted.
async fn searches(server: &MockServer) -> Vec<(String, Option<String>)> {
    let mut searches: Vec<_> = server
        .received_requests()
        .await
        .expect("recorded")
        .iter()
        .map(|request| {
            let code = request
                .url
                .query_pairs()
                .find(|(name, _)| name == "code")
                .map(|(_, value)| value.into_owned());
            (request.url.path().to_owned(), code)
        })
        .collect();
    searches.sort();
    searches
}

#[tokio::test]
async fn with_no_prefetch_every_key_is_fetched_at_once_with_the_token() {
    let server = full_server().await;
    let client = FhirClient::new(FetchLimits::default()).expect("client");
    let base = fhir_server(&format!("{}/fhir", server.uri()));
    let (queries, context) = (queries(), context());
    let gathered = gather(GatherInput {
        granted: None,
        today: time::OffsetDateTime::now_utc().date(),
        queries: &queries,
        context: &context,
        prefetch: Prefetch::None,
        fhir: Some((&client, &base, Some(TOKEN))),
        draft_orders: None,
        deadline: deadline(),
    })
    .await
    .expect("gathered");
    assert_eq!(
        gathered.fetched,
        vec!["patient", "conditions", "dating", "hcg"]
    );
    let mut ids: Vec<_> = gathered
        .facts
        .records
        .iter()
        .map(|record| record.id.clone())
        .collect();
    ids.sort();
    assert_eq!(ids, vec!["c1", "hcg1", "lmp"]);
    assert_eq!(
        gathered.patient,
        Some(PatientSummary {
            id: Some(PATIENT.into())
        })
    );
    assert!(gathered.facts.unavailable.is_empty());
    let requests = server.received_requests().await.expect("recorded");
    assert_eq!(requests.len(), 4);
    for request in &requests {
        assert_eq!(
            request
                .headers
                .get("authorization")
                .and_then(|v| v.to_str().ok()),
            Some(format!("Bearer {TOKEN}").as_str())
        );
    }
}

#[tokio::test]
async fn only_the_keys_missing_from_prefetch_are_fetched() {
    let server = full_server().await;
    let client = FhirClient::new(FetchLimits::default()).expect("client");
    let base = fhir_server(&format!("{}/fhir", server.uri()));
    let (queries, context) = (queries(), context());
    let prefetched = prefetch(json!({
        "patient": {"resourceType": "Patient", "id": PATIENT},
        "conditions": bundle(&[condition("c-prefetched")], None),
    }));
    let gathered = gather(GatherInput {
        granted: None,
        today: time::OffsetDateTime::now_utc().date(),
        queries: &queries,
        context: &context,
        prefetch: Prefetch::Json(&prefetched),
        fhir: Some((&client, &base, Some(TOKEN))),
        draft_orders: None,
        deadline: deadline(),
    })
    .await
    .expect("gathered");
    assert_eq!(gathered.fetched, vec!["dating", "hcg"]);
    assert_eq!(
        searches(&server).await,
        vec![
            (
                "/fhir/Observation".to_owned(),
                Some("http://loinc.org|21198-7".to_owned())
            ),
            (
                "/fhir/Observation".to_owned(),
                Some("http://loinc.org|8665-2".to_owned())
            ),
        ]
    );
    assert!(
        gathered
            .facts
            .records
            .iter()
            .any(|record| record.id == "c-prefetched")
    );
    assert!(
        !gathered
            .facts
            .records
            .iter()
            .any(|record| record.id == "c1")
    );
}

#[tokio::test]
async fn null_prefetch_means_no_data_and_nothing_is_fetched() {
    let server = full_server().await;
    let client = FhirClient::new(FetchLimits::default()).expect("client");
    let base = fhir_server(&format!("{}/fhir", server.uri()));
    let (queries, context) = (queries(), context());
    let prefetched =
        prefetch(json!({"patient": null, "conditions": null, "dating": null, "hcg": null}));
    let gathered = gather(GatherInput {
        granted: None,
        today: time::OffsetDateTime::now_utc().date(),
        queries: &queries,
        context: &context,
        prefetch: Prefetch::Json(&prefetched),
        fhir: Some((&client, &base, Some(TOKEN))),
        draft_orders: None,
        deadline: deadline(),
    })
    .await
    .expect("gathered");
    assert!(gathered.fetched.is_empty());
    assert!(gathered.facts.records.is_empty());
    assert!(gathered.facts.unavailable.is_empty());
    assert!(
        server
            .received_requests()
            .await
            .expect("recorded")
            .is_empty()
    );
}

#[tokio::test]
async fn an_operation_outcome_prefetch_is_fetched_when_there_is_a_server() {
    let server = full_server().await;
    let client = FhirClient::new(FetchLimits::default()).expect("client");
    let base = fhir_server(&format!("{}/fhir", server.uri()));
    let (queries, context) = (queries(), context());
    let failed = json!({"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "timeout"}]});
    let prefetched =
        prefetch(json!({"patient": null, "conditions": failed, "dating": null, "hcg": null}));
    let gathered = gather(GatherInput {
        granted: None,
        today: time::OffsetDateTime::now_utc().date(),
        queries: &queries,
        context: &context,
        prefetch: Prefetch::Json(&prefetched),
        fhir: Some((&client, &base, None)),
        draft_orders: None,
        deadline: deadline(),
    })
    .await
    .expect("gathered");
    assert_eq!(gathered.fetched, vec!["conditions"]);
    assert_eq!(
        searches(&server).await,
        vec![("/fhir/Condition".to_owned(), None)]
    );
    assert_eq!(gathered.facts.records.len(), 1);
}

#[tokio::test]
async fn without_a_server_a_failed_central_key_is_unavailable_and_an_optional_one_is_noted() {
    let (queries, context) = (queries(), context());
    let failed = json!({"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "timeout"}]});
    // Central keys fine, the optional hCG key failed, the Patient missing.
    let prefetched = prefetch(json!({
        "conditions": bundle(&[condition("c1")], None), "dating": null, "hcg": failed.clone()
    }));
    let gathered = gather(GatherInput {
        granted: None,
        today: time::OffsetDateTime::now_utc().date(),
        queries: &queries,
        context: &context,
        prefetch: Prefetch::Json(&prefetched),
        fhir: None,
        draft_orders: None,
        deadline: deadline(),
    })
    .await
    .expect("optional keys do not fail the call");
    assert_eq!(
        gathered
            .facts
            .unavailable
            .iter()
            .copied()
            .collect::<Vec<_>>(),
        vec![Input::Hcg]
    );
    let kinds: Vec<_> = gathered
        .diagnostics
        .iter()
        .map(|d| (d.resource_type.as_str(), d.kind))
        .collect();
    assert!(kinds.contains(&("hcg", DiagnosticKind::Unavailable)));
    assert!(kinds.contains(&("patient", DiagnosticKind::ContextUnavailable)));

    // Now a central key fails too.
    let prefetched = prefetch(json!({"conditions": failed, "dating": null, "hcg": null}));
    let error = gather(GatherInput {
        granted: None,
        today: time::OffsetDateTime::now_utc().date(),
        queries: &queries,
        context: &context,
        prefetch: Prefetch::Json(&prefetched),
        fhir: None,
        draft_orders: None,
        deadline: deadline(),
    })
    .await
    .expect_err("central key unavailable");
    let GatherError::Unavailable { keys, causes } = error else {
        panic!("expected GatherError::Unavailable");
    };
    assert_eq!(keys, vec!["conditions"]);
    assert!(
        matches!(&causes[0].cause, Unobtained::NoFhirServer { prefetch: Some(summary) } if summary.is_failure())
    );
}

#[tokio::test]
async fn a_central_fetch_that_fails_mid_paging_fails_the_call() {
    let server = full_server().await;
    // Conditions: page 1 fine, page 2 a 500. The whole key fails; page 1 is not used alone.
    let page2 = format!("{}/fhir/Condition?page=2", server.uri());
    server.reset().await;
    Mock::given(path("/fhir/Condition"))
        .and(query_param("patient", PATIENT))
        .respond_with(fhir_json(&bundle(&[condition("c1")], Some(&page2))))
        .mount(&server)
        .await;
    Mock::given(path("/fhir/Condition"))
        .and(query_param("page", "2"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&server)
        .await;
    let client = FhirClient::new(FetchLimits::default()).expect("client");
    let base = fhir_server(&format!("{}/fhir", server.uri()));
    let (queries, context) = (queries(), context());
    let prefetched = prefetch(json!({"patient": null, "dating": null, "hcg": null}));
    let error = gather(GatherInput {
        granted: None,
        today: time::OffsetDateTime::now_utc().date(),
        queries: &queries,
        context: &context,
        prefetch: Prefetch::Json(&prefetched),
        fhir: Some((&client, &base, None)),
        draft_orders: None,
        deadline: deadline(),
    })
    .await
    .expect_err("partial read refused");
    let GatherError::Unavailable { keys, causes } = error else {
        panic!("expected GatherError::Unavailable");
    };
    assert_eq!(keys, vec!["conditions"]);
    assert!(matches!(
        &causes[0].cause,
        Unobtained::Fetch(FetchError::Status { status: 500, .. })
    ));
}

#[tokio::test]
async fn a_failed_optional_fetch_marks_the_input_unavailable() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/fhir/Observation"))
        .respond_with(ResponseTemplate::new(403))
        .mount(&server)
        .await;
    let client = FhirClient::new(FetchLimits::default()).expect("client");
    let base = fhir_server(&format!("{}/fhir", server.uri()));
    let (queries, context) = (queries(), context());
    let prefetched = prefetch(json!({"patient": null, "conditions": null, "dating": null}));
    let gathered = gather(GatherInput {
        granted: None,
        today: time::OffsetDateTime::now_utc().date(),
        queries: &queries,
        context: &context,
        prefetch: Prefetch::Json(&prefetched),
        fhir: Some((&client, &base, None)),
        draft_orders: None,
        deadline: deadline(),
    })
    .await
    .expect("optional");
    assert!(gathered.facts.unavailable.contains(&Input::Hcg));
    assert!(gathered.fetched.is_empty());
}

#[tokio::test]
async fn fetches_run_concurrently_within_one_deadline() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(fhir_json(&bundle(&[], None)).set_delay(Duration::from_millis(300)))
        .mount(&server)
        .await;
    let client = FhirClient::new(FetchLimits::default()).expect("client");
    let base = fhir_server(&format!("{}/fhir", server.uri()));
    let (queries, context) = (queries(), context());
    let started = Instant::now();
    let gathered = gather(GatherInput {
        granted: None,
        today: time::OffsetDateTime::now_utc().date(),
        queries: &queries,
        context: &context,
        prefetch: Prefetch::None,
        fhir: Some((&client, &base, None)),
        draft_orders: None,
        deadline: deadline(),
    })
    .await
    .expect("gathered");
    assert_eq!(gathered.fetched.len(), 4);
    // Four 300 ms searches one after another would take 1.2 s.
    assert!(
        started.elapsed() < Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn draft_orders_are_read_into_the_facts() {
    let (queries, context) = (queries(), context());
    let prefetched =
        prefetch(json!({"patient": null, "conditions": null, "dating": null, "hcg": null}));
    let orders = json!({"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": {"resourceType": "ServiceRequest", "id": "sr1", "status": "draft", "intent": "order",
                      "subject": {"reference": "Patient/pat-4711"}, "code": {"text": "pelvic ultrasound"}}}]});
    let gathered = gather(GatherInput {
        granted: None,
        today: time::OffsetDateTime::now_utc().date(),
        queries: &queries,
        context: &context,
        prefetch: Prefetch::Json(&prefetched),
        fhir: None,
        draft_orders: Some(&orders),
        deadline: deadline(),
    })
    .await
    .expect("gathered");
    assert_eq!(gathered.facts.draft_orders.len(), 1);
    assert_eq!(
        gathered.facts.draft_orders[0].text,
        vec!["pelvic ultrasound".to_owned()]
    );
}

/// A `tracing` writer that keeps everything written to it.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .map_err(|_| std::io::Error::other("poisoned"))?
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn the_token_and_the_patient_id_never_appear_in_logs_or_errors() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    // One success, one 401 with an OperationOutcome, one 503 (retried), one slow past the deadline.
    let server = MockServer::start().await;
    Mock::given(path(format!("/fhir/Patient/{PATIENT}")))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .respond_with(fhir_json(
            &json!({"resourceType": "Patient", "id": PATIENT}),
        ))
        .mount(&server)
        .await;
    Mock::given(path("/fhir/Condition"))
        .respond_with(ResponseTemplate::new(401).set_body_raw(
            json!({"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "login",
                   "diagnostics": format!("bad token {TOKEN} for {PATIENT}")}]}).to_string(),
            "application/fhir+json",
        ))
        .mount(&server)
        .await;
    Mock::given(path("/fhir/Observation"))
        .and(query_param("code", "http://loinc.org|8665-2"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&server)
        .await;
    Mock::given(path("/fhir/Observation"))
        .and(query_param("code", "http://loinc.org|21198-7"))
        .respond_with(fhir_json(&bundle(&[], None)).set_delay(Duration::from_secs(2)))
        .mount(&server)
        .await;
    let client = FhirClient::new(FetchLimits::default()).expect("client");
    let base = fhir_server(&format!("{}/fhir", server.uri()));
    let (queries, context) = (queries(), context());
    let error = gather(GatherInput {
        granted: None,
        today: time::OffsetDateTime::now_utc().date(),
        queries: &queries,
        context: &context,
        prefetch: Prefetch::None,
        fhir: Some((&client, &base, Some(TOKEN))),
        draft_orders: None,
        deadline: Instant::now() + Duration::from_millis(400),
    })
    .await
    .expect_err("central keys failed");

    let input = GatherInput {
        granted: None,
        today: time::OffsetDateTime::now_utc().date(),
        queries: &queries,
        context: &context,
        prefetch: Prefetch::None,
        fhir: Some((&client, &base, Some(TOKEN))),
        draft_orders: None,
        deadline: Instant::now(),
    };
    let input_debug = format!("{input:?}");
    assert!(input_debug.contains("<redacted>"), "{input_debug}");

    let logs = String::from_utf8(captured.0.lock().expect("logs").clone()).expect("utf-8");
    assert!(
        logs.contains("fetch failed"),
        "the test must see the logs: {logs}"
    );
    assert!(
        logs.contains("conditions") && logs.contains("401"),
        "{logs}"
    );
    for secret in [TOKEN, PATIENT] {
        assert!(!logs.contains(secret), "{secret} in logs: {logs}");
        let shown = format!("{error} {error:?} {input_debug}");
        assert!(!shown.contains(secret), "{secret} in error: {shown}");
    }
}

#[tokio::test]
async fn a_first_page_prefetch_is_fetched_whole_or_is_unavailable() {
    let server = full_server().await;
    let client = FhirClient::new(FetchLimits::default()).expect("client");
    let base = fhir_server(&format!("{}/fhir", server.uri()));
    let (queries, context) = (queries(), context());
    let first_page = bundle(
        &[condition("c-page-1")],
        Some("https://ehr.example/next-page"),
    );
    let prefetched =
        prefetch(json!({"patient": null, "conditions": first_page, "dating": null, "hcg": null}));

    let gathered = gather(GatherInput {
        granted: None,
        today: time::OffsetDateTime::now_utc().date(),
        queries: &queries,
        context: &context,
        prefetch: Prefetch::Json(&prefetched),
        fhir: Some((&client, &base, None)),
        draft_orders: None,
        deadline: deadline(),
    })
    .await
    .expect("fetched whole");
    assert_eq!(gathered.fetched, vec!["conditions"]);
    let ids: Vec<_> = gathered
        .facts
        .records
        .iter()
        .map(|record| record.id.as_str())
        .collect();
    assert_eq!(ids, vec!["c1"]);

    let error = gather(GatherInput {
        granted: None,
        today: time::OffsetDateTime::now_utc().date(),
        queries: &queries,
        context: &context,
        prefetch: Prefetch::Json(&prefetched),
        fhir: None,
        draft_orders: None,
        deadline: deadline(),
    })
    .await
    .expect_err("a first page alone is not the whole");
    let GatherError::Unavailable { keys, .. } = error else {
        panic!("expected GatherError::Unavailable");
    };
    assert_eq!(keys, vec!["conditions"]);
}

#[tokio::test]
async fn a_template_that_cannot_be_rendered_makes_its_key_unobtainable() {
    let server = full_server().await;
    let client = FhirClient::new(FetchLimits::default()).expect("client");
    let base = fhir_server(&format!("{}/fhir", server.uri()));
    let queries = queries();
    let Json::Object(context) = json!({"patientId": "not an id & more"}) else {
        unreachable!("a literal object")
    };
    let error = gather(GatherInput {
        granted: None,
        today: time::OffsetDateTime::now_utc().date(),
        queries: &queries,
        context: &context,
        prefetch: Prefetch::None,
        fhir: Some((&client, &base, None)),
        draft_orders: None,
        deadline: deadline(),
    })
    .await
    .expect_err("central keys unobtainable");
    let GatherError::Unavailable { keys, causes } = error else {
        panic!("expected GatherError::Unavailable");
    };
    assert_eq!(keys, vec!["conditions", "dating"]);
    assert!(
        causes
            .iter()
            .all(|failure| matches!(failure.cause, Unobtained::Template(_)))
    );
    assert!(
        server
            .received_requests()
            .await
            .expect("recorded")
            .is_empty()
    );
}

#[tokio::test]
async fn a_call_that_cannot_get_memory_budget_before_its_deadline_gets_its_key_unavailable() {
    let server = full_server().await;
    let client = FhirClient::new(FetchLimits {
        memory_budget_bytes: 64 * 1024,
        ..FetchLimits::default()
    })
    .expect("client");
    // Another call holds the whole budget for longer than this call's deadline.
    let mut other_call = client.budget().hold();
    other_call
        .grow_to(64 * 1024, deadline())
        .await
        .expect("the budget is free");
    let base = fhir_server(&format!("{}/fhir", server.uri()));
    let (queries, context) = (queries(), context());
    let started = Instant::now();
    let error = gather(GatherInput {
        granted: None,
        today: time::OffsetDateTime::now_utc().date(),
        queries: &queries,
        context: &context,
        prefetch: Prefetch::None,
        fhir: Some((&client, &base, None)),
        draft_orders: None,
        deadline: Instant::now() + Duration::from_millis(300),
    })
    .await
    .expect_err("no budget, no deciding data");
    let elapsed = started.elapsed();
    let GatherError::Unavailable { keys, causes } = error else {
        panic!("expected GatherError::Unavailable");
    };
    assert_eq!(keys, vec!["conditions", "dating"]);
    assert!(
        causes
            .iter()
            .all(|failure| matches!(failure.cause, Unobtained::Fetch(FetchError::Budget))),
        "{causes:?}"
    );
    assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
    drop(other_call);
    assert_eq!(
        client.budget().available(),
        64 * 1024,
        "every share returned"
    );
}

#[tokio::test]
async fn the_memory_budget_is_returned_when_the_call_is_gathered() {
    let server = full_server().await;
    let client = FhirClient::new(FetchLimits::default()).expect("client");
    let base = fhir_server(&format!("{}/fhir", server.uri()));
    let (queries, context) = (queries(), context());
    gather(GatherInput {
        granted: None,
        today: time::OffsetDateTime::now_utc().date(),
        queries: &queries,
        context: &context,
        prefetch: Prefetch::None,
        fhir: Some((&client, &base, None)),
        draft_orders: None,
        deadline: deadline(),
    })
    .await
    .expect("gathered");
    assert_eq!(client.budget().available(), client.budget().total());
}

#[tokio::test]
async fn searches_that_return_more_entries_than_a_call_may_read_make_their_key_unavailable() {
    let server = full_server().await;
    let many: Vec<Json> = (0..40).map(|i| condition(&format!("c{i}"))).collect();
    Mock::given(path("/fhir/Condition"))
        .respond_with(fhir_json(&bundle(&many, None)))
        .with_priority(1)
        .mount(&server)
        .await;
    let client = FhirClient::new(FetchLimits {
        max_call_entries: 30,
        ..FetchLimits::default()
    })
    .expect("client");
    let base = fhir_server(&format!("{}/fhir", server.uri()));
    let (queries, context) = (queries(), context());
    let error = gather(GatherInput {
        granted: None,
        today: time::OffsetDateTime::now_utc().date(),
        queries: &queries,
        context: &context,
        prefetch: Prefetch::None,
        fhir: Some((&client, &base, None)),
        draft_orders: None,
        deadline: deadline(),
    })
    .await
    .expect_err("the Conditions are more than a call may read");
    let GatherError::Unavailable { keys, causes } = error else {
        panic!("expected GatherError::Unavailable");
    };
    assert_eq!(keys, vec!["conditions"]);
    assert!(matches!(
        causes[0].cause,
        Unobtained::Fetch(FetchError::TooManyEntries { limit: 30 })
    ));
}

#[tokio::test]
async fn a_resource_both_prefetched_and_fetched_is_read_once() {
    let server = full_server().await;
    let client = FhirClient::new(FetchLimits::default()).expect("client");
    let base = fhir_server(&format!("{}/fhir", server.uri()));
    let (queries, context) = (queries(), context());
    // `lmp` is prefetched under `dating` (twice, in one Bundle) and fetched again under `hcg`.
    let prefetched = prefetch(json!({
        "patient": {"resourceType": "Patient", "id": PATIENT},
        "conditions": bundle(&[condition("c1")], None),
        "dating": bundle(&[observation("lmp"), observation("lmp")], None),
    }));
    let gathered = gather(GatherInput {
        granted: None,
        today: time::OffsetDateTime::now_utc().date(),
        queries: &queries,
        context: &context,
        prefetch: Prefetch::Json(&prefetched),
        fhir: Some((&client, &base, None)),
        draft_orders: None,
        deadline: deadline(),
    })
    .await
    .expect("gathered");
    assert_eq!(gathered.fetched, vec!["hcg"]);
    let mut ids: Vec<_> = gathered
        .facts
        .records
        .iter()
        .map(|record| record.id.as_str())
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, vec!["c1", "hcg1", "lmp"]);
}
