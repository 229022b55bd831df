//! Charts that once froze a replica: the body is read and the chart evaluated off the async
//! workers, on a bounded pool, so that health probes are answered while it works; and a call
//! that cannot be answered within `http.request_timeout_ms` is answered 503, not left to run.

use std::time::Duration;

use serde_json::{Map, Value, json};
use time::{Duration as Days, OffsetDateTime};
use tokio::time::Instant;

use crate::helpers::TestApp;
use crate::scenarios_http::{Scenario, prefetch_for, request};

const SERVICE: &str = "gravida-patient-view";

/// A date `days` days from today (negative: in the past), as FHIR writes it.
pub fn day(days: i64) -> String {
    (OffsetDateTime::now_utc().date() + Days::days(days)).to_string()
}

/// The motivating chart of `patient`: pregnant, LMP 10 weeks ago, a bleed today (R2).
pub fn chart(patient: &str) -> Vec<Value> {
    let subject = json!({ "reference": format!("Patient/{patient}") });
    vec![
        json!({ "resourceType": "Patient", "id": patient, "gender": "female", "birthDate": "1993-04-12" }),
        json!({
            "resourceType": "Observation", "id": format!("{patient}-status"), "status": "final",
            "code": { "coding": [{ "system": "http://loinc.org", "code": "82810-3" }] },
            "subject": subject, "effectiveDateTime": day(-30),
            "valueCodeableConcept": { "coding": [{ "system": "http://snomed.info/sct", "code": "77386006" }] },
        }),
        json!({
            "resourceType": "Observation", "id": format!("{patient}-lmp"), "status": "final",
            "code": { "coding": [{ "system": "http://loinc.org", "code": "8665-2" }] },
            "subject": subject, "effectiveDateTime": day(-5), "valueDateTime": day(-70),
        }),
        json!({
            "resourceType": "Condition", "id": format!("{patient}-bleed"),
            "clinicalStatus": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active" }] },
            "verificationStatus": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "confirmed" }] },
            "code": { "coding": [{ "system": "http://snomed.info/sct", "code": "723665008" }],
                      "text": "vaginal bleeding" },
            "subject": subject, "onsetDateTime": day(0),
        }),
    ]
}

pub fn scenario(patient: &str, resources: Vec<Value>) -> Scenario {
    Scenario {
        name: format!("heavy-{patient}"),
        hook: "patient-view".into(),
        context: json!({ "userId": "Practitioner/example", "patientId": patient }),
        resources,
        expect: Value::Null,
    }
}

/// One blood-pressure panel taken ten minutes ago with `n` heart rates and `n` systolic
/// pressures as its components: the issue's 15,000 + 15,000 make a body of about 5 MB.
fn vital_sign_panel(patient: &str, n: usize) -> Value {
    let taken = (OffsetDateTime::now_utc() - Days::minutes(10))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let mut components = Vec::with_capacity(2 * n);
    for i in 0..n {
        components.push(json!({
            "code": { "coding": [{ "system": "http://loinc.org", "code": "8867-4" }] },
            "valueQuantity": { "value": 80 + i % 40, "unit": "/min" },
        }));
        components.push(json!({
            "code": { "coding": [{ "system": "http://loinc.org", "code": "8480-6" }] },
            "valueQuantity": { "value": 120 - i % 30, "unit": "mm[Hg]" },
        }));
    }
    json!({
        "resourceType": "Observation", "id": format!("{patient}-panel"), "status": "final",
        "code": { "coding": [{ "system": "http://loinc.org", "code": "85354-9" }] },
        "subject": { "reference": format!("Patient/{patient}") },
        "effectiveDateTime": taken, "component": components,
    })
}

/// The body of a patient-view call whose prefetch holds the motivating chart and the panel.
async fn huge_call(app: &TestApp, patient: &str, n: usize) -> Vec<u8> {
    let mut resources = chart(patient);
    resources.push(vital_sign_panel(patient, n));
    let scenario = scenario(patient, resources);
    let prefetch: Map<String, Value> = prefetch_for(app, SERVICE, &scenario).await;
    request(&scenario, Some(prefetch), None)
        .to_string()
        .into_bytes()
}

/// Status, time taken and headers of a GET.
async fn probe(app: &TestApp, path: &str) -> (u16, Duration) {
    let started = Instant::now();
    let response = app.client.get(app.url(path)).send().await.unwrap();
    let status = response.status().as_u16();
    response.bytes().await.unwrap();
    (status, started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_probes_are_answered_within_50_ms_while_two_5_mb_charts_are_read_and_evaluated() {
    // One pool thread: a core stays for the async workers, as on a replica given two.
    let app = TestApp::spawn_with(&[
        ("GRAVIDA_HTTP__CPU_THREADS", "1"),
        ("GRAVIDA_HTTP__REQUEST_TIMEOUT_MS", "60000"),
    ])
    .await;
    let body = huge_call(&app, "hv01", 15_000).await;
    assert!(body.len() > 2_500_000, "{} bytes", body.len());
    let calls: Vec<_> = (0..2)
        .map(|_| {
            let client = app.client.clone();
            let url = app.url(&format!("/cds-services/{SERVICE}"));
            let body = body.clone();
            tokio::spawn(async move {
                let started = Instant::now();
                let response = client
                    .post(url)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                let status = response.status().as_u16();
                let cards: Value = response.json().await.unwrap_or(Value::Null);
                (status, cards, started.elapsed())
            })
        })
        .collect();
    // The bodies arrive in milliseconds on loopback; reading and evaluating them takes longer.
    tokio::time::sleep(Duration::from_millis(150)).await;
    let mut probes = Vec::new();
    let mut busy_probes = 0;
    while calls.iter().any(|c| !c.is_finished()) && probes.len() < 40 {
        for path in ["/healthz", "/readyz"] {
            let (status, took) = probe(&app, path).await;
            assert_eq!(status, 200, "{path}");
            probes.push((path, took));
        }
        if calls.iter().any(|c| !c.is_finished()) {
            busy_probes += 1;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        busy_probes >= 2,
        "the calls ended before the probes: {probes:?}"
    );
    let slowest = probes.iter().map(|(_, took)| *took).max().unwrap();
    assert!(
        slowest < Duration::from_millis(50),
        "slowest probe {slowest:?}: {probes:?}"
    );
    // The figures, for the README and the attack report (`--nocapture` shows them).
    eprintln!(
        "two {}-byte charts: slowest of {} health probes {slowest:?}",
        body.len(),
        probes.len()
    );
    for call in calls {
        let (status, cards, took) = call.await.unwrap();
        eprintln!(
            "a {}-byte chart answered {status} after {took:?}",
            body.len()
        );
        assert_eq!(status, 200, "{cards}");
        // The vital signs are read: the pressures and rates make a shock index, and the bleed's
        // card is escalated.
        let topic = &cards["cards"][0]["source"]["topic"]["code"];
        assert_eq!(topic, "R2E", "{took:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_past_the_request_timeout_is_answered_503_with_retry_after() {
    // The deadline runs from the request's head, so it must leave time to receive the body
    // (else the answer is the router's 408, a slow client's) and not enough to read and evaluate
    // it. A 6.8 MB chart arrives over loopback in a few milliseconds, and takes about 400 ms to
    // read and evaluate on an idle machine (a debug build): 150 ms is between. On a loaded
    // machine the body itself can take longer than that to arrive: then the deadline is
    // doubled and the call made again, up to 1.2 s, which is still well under the evaluation
    // on such a machine. Every answer before the 503 must be the 408 of a body not yet in.
    let mut answered = None;
    for timeout_ms in [150, 300, 600, 1200] {
        let timeout = timeout_ms.to_string();
        let app = TestApp::spawn_with(&[
            ("GRAVIDA_HTTP__CPU_THREADS", "1"),
            ("GRAVIDA_HTTP__REQUEST_TIMEOUT_MS", timeout.as_str()),
            ("GRAVIDA_FHIR__DEADLINE_MS", "50"),
        ])
        .await;
        let body = huge_call(&app, "hv02", 30_000).await;
        let started = Instant::now();
        let response = app
            .client
            .post(app.url(&format!("/cds-services/{SERVICE}")))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let took = started.elapsed();
        if response.status().as_u16() == 408 {
            eprintln!("{timeout_ms} ms: the body was not in before the deadline (408)");
            continue;
        }
        answered = Some((app, response, took));
        break;
    }
    let (app, response, took) = answered.expect("every deadline passed before the body was in");
    assert_eq!(response.status().as_u16(), 503);
    assert_eq!(
        response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("1")
    );
    let error: Value = response.json().await.unwrap();
    let issue = &error["issue"][0];
    assert_eq!(issue["code"], "timeout", "{error}");
    assert_eq!(
        issue["details"]["coding"][0]["code"], "deadline-exceeded",
        "{error}"
    );
    assert!(took < Duration::from_secs(2), "answered after {took:?}");
    // The small call after it is answered as usual.
    let (status, _) = probe(&app, "/healthz").await;
    assert_eq!(status, 200);
}
