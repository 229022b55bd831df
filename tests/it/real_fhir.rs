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
