//! R16, the abortifacient guard (knowledge.md §3.6 item 14), over HTTP: the blind charts of a
//! misoprostol draft for a "failed pregnancy" that the scan does not establish (order-select) and
//! of a misoprostol draft with no reason (order-sign) go in by prefetch and by fetch, and the
//! card that comes out says which SRU criterion is missing and offers to delete the draft.

use serde_json::{Value, json};
use time::Date;
use time::macros::date;
use wiremock::matchers::{header, method};
use wiremock::{Mock, MockServer};

use crate::expect;
use crate::helpers::{TestApp, fixture_path};
use crate::scenarios_http::{Ehr, Scenario, load_as_written, prefetch_for, request, rules_of};

const TOKEN: &str = "abortifacient-access-token-51c2";

pub fn blind(chart: &str) -> Scenario {
    as_written(&format!("blind-2026-12-07/{chart}.json"))
}

/// A chart of the second blind set (`blind-2026-12-07-2`, charts c01–c20).
pub fn blind2(chart: &str) -> Scenario {
    as_written(&format!("blind-2026-12-07-2/{chart}.json"))
}

/// The day both blind sets were written for: every chart's `now`.
pub const BLIND_DAY: Date = date!(2026 - 12 - 07);

/// A blind chart as written (its dates unmoved: some are months, which cannot be moved by
/// days), for an app from [`blind_app`].
fn as_written(relative: &str) -> Scenario {
    let (scenario, day) = load_as_written(&fixture_path(relative));
    assert_eq!(day, BLIND_DAY, "{relative} was written for another day");
    scenario
}

/// A Gravida that reads the blind charts on the day they were written.
pub async fn blind_app() -> TestApp {
    TestApp::spawn_on(BLIND_DAY).await
}

/// The cards for `scenario`, everything prefetched.
pub async fn by_prefetch(app: &TestApp, scenario: &Scenario) -> Vec<Value> {
    let service = format!("gravida-{}", scenario.hook);
    let prefetch = prefetch_for(app, &service, scenario).await;
    let (status, body) = app
        .call(&service, &request(scenario, Some(prefetch), None))
        .await;
    assert_eq!(status, 200, "{body}");
    body["cards"].as_array().cloned().unwrap_or_default()
}

/// The cards for `scenario`, nothing prefetched: wiremock is the EHR's FHIR server. Also
/// returns what the server was asked.
pub async fn by_fetch(app: &TestApp, scenario: &Scenario) -> (Vec<Value>, Vec<String>) {
    let ehr = MockServer::start().await;
    Mock::given(method("GET"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .respond_with(Ehr(scenario.resources.clone()))
        .mount(&ehr)
        .await;
    let base = format!("{}/fhir", ehr.uri());
    let service = format!("gravida-{}", scenario.hook);
    let (status, body) = app
        .call(&service, &request(scenario, None, Some((&base, TOKEN))))
        .await;
    assert_eq!(status, 200, "{body}");
    let asked = ehr
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .map(|r| r.url.to_string())
        .collect();
    (body["cards"].as_array().cloned().unwrap_or_default(), asked)
}

fn r16(cards: &[Value]) -> (Value, String) {
    let card = cards
        .iter()
        .find(|c| c["source"]["topic"]["code"] == "R16")
        .cloned()
        .unwrap_or_else(|| panic!("no R16 card: {cards:#?}"));
    let text = format!(
        "{}\n{}\n{}",
        card["summary"].as_str().unwrap_or_default(),
        card["detail"].as_str().unwrap_or_default(),
        card["suggestions"]
    );
    (card, text)
}

/// The delete action of a card's suggestions, as `ResourceType/id`.
fn delete_target(card: &Value) -> Option<String> {
    card["suggestions"]
        .as_array()?
        .iter()
        .flat_map(|s| s["actions"].as_array().cloned().unwrap_or_default())
        .find(|a| a["type"] == "delete")
        .and_then(|a| match &a["resourceId"] {
            Value::Array(ids) => ids.first().and_then(Value::as_str).map(str::to_owned),
            Value::String(id) => Some(id.clone()),
            _ => None,
        })
}

#[tokio::test]
async fn misoprostol_for_a_failed_pregnancy_the_scan_does_not_establish_is_critical_by_prefetch_and_by_fetch()
 {
    let app = blind_app().await;
    let scenario = blind("b27");
    let prefetched = by_prefetch(&app, &scenario).await;
    let (fetched, asked) = by_fetch(&app, &scenario).await;
    assert!(asked.iter().any(|u| u.contains("Observation")), "{asked:?}");
    for cards in [&prefetched, &fetched] {
        assert!(
            expect::failures(&scenario.expect, cards).is_empty(),
            "{:?}",
            expect::failures(&scenario.expect, cards)
        );
        let (card, text) = r16(cards);
        assert_eq!(card["indicator"], "critical");
        assert!(
            text.contains("Misoprostol ordered for pregnancy loss, but loss is not established by SRU criteria on record"),
            "{text}"
        );
        // Which criterion is missing: the scan on record does not meet them.
        assert!(
            text.contains("SRU criteria for loss not met on record"),
            "{text}"
        );
        assert_eq!(
            delete_target(&card).as_deref(),
            Some("MedicationRequest/b27-draft-1")
        );
    }
    assert_eq!(rules_of(&prefetched), rules_of(&fetched));
}

#[tokio::test]
async fn misoprostol_with_no_reason_and_no_scan_is_a_warning_that_says_so() {
    let scenario = blind("b28");
    // A warning shown once at an order hook is not repeated in the same encounter: each path
    // gets a service of its own.
    let prefetched = by_prefetch(&blind_app().await, &scenario).await;
    let (fetched, _) = by_fetch(&blind_app().await, &scenario).await;
    for cards in [&prefetched, &fetched] {
        assert!(
            expect::failures(&scenario.expect, cards).is_empty(),
            "{:?}",
            expect::failures(&scenario.expect, cards)
        );
        let (card, text) = r16(cards);
        assert_eq!(card["indicator"], "warning");
        assert!(
            text.contains(
                "If the intent is management of a suspected loss, confirm SRU criteria first"
            ),
            "{text}"
        );
        assert!(
            text.contains("No ultrasound on record: loss cannot be established."),
            "{text}"
        );
        assert_eq!(
            delete_target(&card).as_deref(),
            Some("MedicationRequest/b28-draft-1")
        );
    }
}

#[tokio::test]
async fn misoprostol_for_an_induced_abortion_gets_no_card() {
    let app = blind_app().await;
    let mut scenario = blind("b28");
    let order = &mut scenario.context["draftOrders"]["entry"][0]["resource"];
    order["reasonCode"] = json!([{"coding": [{
        "system": "http://snomed.info/sct", "code": "714812005",
        "display": "Induced termination of pregnancy"}]}]);
    let cards = by_prefetch(&app, &scenario).await;
    assert!(!rules_of(&cards).contains(&"R16".to_owned()), "{cards:#?}");
}

#[tokio::test]
async fn a_draft_medication_order_that_names_no_drug_is_named_at_order_sign() {
    let app = blind_app().await;
    let mut scenario = blind("b28");
    scenario.context["draftOrders"]["entry"][0]["resource"] = json!({
        "resourceType": "MedicationRequest", "id": "b28-unnamed", "status": "draft",
        "intent": "order", "subject": {"reference": "Patient/blind-b28-pt"},
        "medicationReference": {"reference": "Medication/not-sent"}
    });
    let cards = by_prefetch(&app, &scenario).await;
    let (card, text) = r16(&cards);
    assert_eq!(card["indicator"], "warning");
    assert!(
        text.contains("check it is not methotrexate, misoprostol or mifepristone"),
        "{text}"
    );
    assert_eq!(delete_target(&card), None);
}
