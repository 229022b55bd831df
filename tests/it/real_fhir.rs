//! Against a real FHIR server (sekmet-fhir, started by `scripts/fhir-test-server.sh`): the public
//! scenarios are loaded into it, and every hook call must give the same cards by fetching from
//! it as by prefetch.
//!
//! Reads `GRAVIDA_TEST_FHIR_URL` and `GRAVIDA_TEST_FHIR_TOKEN` (through `helpers::real_server`).
//! Without them the test says it was skipped and why, and `scripts/test` counts the skip; under CI
//! (`CI=true`) a missing variable fails the run.

use serde_json::{Value, json};

use crate::expect;
use crate::helpers::{RealServer, TestApp, http_client, real_server as real_server_vars};
use crate::scenarios_http::{Scenario, load, prefetch_for, request, rules_of, scenario_files};

/// The real server's address and token, or `None` (recorded and printed as skipped) outside CI.
pub(crate) fn real_server() -> Option<(String, String)> {
    let vars = real_server_vars(RealServer::Fhir, "the real FHIR server half")?;
    let [url, token] = <[String; 2]>::try_from(vars).ok()?;
    Some((url.trim_end_matches('/').to_owned(), token))
}

/// Stores a scenario's resources with a transaction of PUTs (idempotent: ids are the scenario's).
pub(crate) async fn load_into(base: &str, token: &str, scenario: &Scenario) {
    let entries: Vec<Value> = scenario
        .resources
        .iter()
        .map(|r| {
            let url = format!(
                "{}/{}",
                r["resourceType"].as_str().unwrap(),
                r["id"].as_str().unwrap()
            );
            json!({ "resource": r, "request": { "method": "PUT", "url": url } })
        })
        .collect();
    let bundle = json!({ "resourceType": "Bundle", "type": "transaction", "entry": entries });
    let response = http_client()
        .post(base)
        .bearer_auth(token)
        .header("content-type", "application/fhir+json")
        .body(bundle.to_string())
        .send()
        .await
        .expect("the FHIR server answers");
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    assert!(
        status.is_success(),
        "loading {} answered {status}: {body}",
        scenario.name
    );
}

#[tokio::test]
async fn every_public_scenario_gives_the_same_cards_fetched_from_a_real_fhir_server() {
    let Some((base, token)) = real_server() else {
        return;
    };
    // Each scenario is called twice for the same patient (by prefetch, then by fetch): with the
    // default repeat window the second order-sign call would hide the cards already shown
    // (tests/it/suppression.rs tests that), so the window is off here.
    let app = TestApp::spawn_with(&[("GRAVIDA_CARDS__REPEAT_WINDOW_HOURS", "0")]).await;
    let mut problems = Vec::new();
    let mut compared = 0;
    for path in scenario_files() {
        let scenario = load(&path);
        // The extra scenarios include one whose Observation has no code, which no code search
        // can find; the public ones are all reachable.
        if !scenario.name.starts_with("pub") {
            continue;
        }
        load_into(&base, &token, &scenario).await;
        let service_id = format!("gravida-{}", scenario.hook);
        let prefetch = prefetch_for(&app, &service_id, &scenario).await;
        let (_, by_prefetch) = app
            .call(&service_id, &request(&scenario, Some(prefetch), None))
            .await;
        let (status, by_fetch) = app
            .call(
                &service_id,
                &request(&scenario, None, Some((&base, &token))),
            )
            .await;
        if status != 200 {
            problems.push(format!(
                "{}: fetching answered {status}: {by_fetch}",
                scenario.name
            ));
            continue;
        }
        let by_prefetch = by_prefetch["cards"].as_array().cloned().unwrap_or_default();
        let by_fetch = by_fetch["cards"].as_array().cloned().unwrap_or_default();
        if rules_of(&by_fetch) != rules_of(&by_prefetch) {
            problems.push(format!(
                "{}: fetching gave {:?}, prefetch gave {:?}",
                scenario.name,
                rules_of(&by_fetch),
                rules_of(&by_prefetch)
            ));
        }
        for failure in expect::failures(&scenario.expect, &by_fetch) {
            problems.push(format!("{} (real server): {failure}", scenario.name));
        }
        compared += 1;
    }
    assert_eq!(compared, 13, "every public scenario was compared");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The ids of the resources a search of the real server returns (one page: the search is small).
async fn ids_found(base: &str, token: &str, query: &str) -> Vec<String> {
    let response = http_client()
        .get(format!("{base}/{query}"))
        .bearer_auth(token)
        .header("accept", "application/fhir+json")
        .send()
        .await
        .expect("the FHIR server answers");
    let status = response.status();
    let bundle: Value = response.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{query} answered {status}: {bundle}");
    bundle["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["resource"]["id"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn the_real_fhir_server_answers_the_date_bounded_search_leaving_out_only_older_results() {
    let Some((base, token)) = real_server() else {
        return;
    };
    let kb = gravida_knowledge::KnowledgeBase::embedded().unwrap();
    let template = &kb
        .prefetch()
        .iter()
        .find(|q| q.key == "hcg")
        .unwrap()
        .template;
    assert!(
        template.contains("&date=ge{{today() - 1 year}}"),
        "{template}"
    );
    // A code the hcg search asks for, taken from the template itself.
    let code = template
        .split("code=")
        .nth(1)
        .and_then(|codes| codes.split(['&', ',']).next())
        .unwrap();
    let (system, code) = code.split_once('|').unwrap();
    let today = time::OffsetDateTime::now_utc().date();
    let hcg = |id: &str, days_ago: i64| {
        json!({"resourceType": "Observation", "id": id, "status": "final",
            "code": {"coding": [{"system": system, "code": code}]},
            "subject": {"reference": "Patient/window-p1"},
            "effectiveDateTime": format!("{}T09:00:00Z", today - time::Duration::days(days_ago)),
            "valueQuantity": {"value": 1200, "unit": "IU/L", "system": "http://unitsofmeasure.org", "code": "[IU]/L"}})
    };
    let scenario = Scenario {
        name: "date-window".into(),
        hook: "patient-view".into(),
        context: json!({"patientId": "window-p1"}),
        resources: vec![
            json!({"resourceType": "Patient", "id": "window-p1", "gender": "female"}),
            hcg("window-hcg-last-month", 30),
            hcg("window-hcg-two-years-ago", 730),
        ],
        expect: Value::Null,
    };
    load_into(&base, &token, &scenario).await;
    let context = scenario.context.as_object().unwrap();
    let bounded = gravida_cds_hooks::prefetch::render_on(template, context, today).unwrap();
    let found = ids_found(&base, &token, &bounded).await;
    assert!(
        found.contains(&"window-hcg-last-month".to_owned()),
        "{bounded}: {found:?}"
    );
    assert!(
        !found.contains(&"window-hcg-two-years-ago".to_owned()),
        "{bounded}: {found:?}"
    );
    // The same search as a 2.0 client is shown it finds both.
    let unbounded = gravida_cds_hooks::prefetch::render_on(
        &gravida_cds_hooks::prefetch::for_2_0_clients(template),
        context,
        today,
    )
    .unwrap();
    let found = ids_found(&base, &token, &unbounded).await;
    for id in ["window-hcg-last-month", "window-hcg-two-years-ago"] {
        assert!(found.contains(&id.to_owned()), "{unbounded}: {found:?}");
    }
}
