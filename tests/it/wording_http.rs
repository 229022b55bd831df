//! The binding methotrexate wording of knowledge.md §3.6 over HTTP (W1, W10): the blind charts
//! of a heterotopic IVF pregnancy and of weekly methotrexate for rheumatoid arthritis go in as a
//! CDS Hooks call, and the critical card that comes out never asks to exclude the pregnancy.

use serde_json::{Value, json};

use crate::helpers::{TestApp, fixture_path};
use crate::scenarios_http::{load, prefetch_for, request};

/// The cards Gravida answers for a blind chart at its hook, with `more` resources charted.
async fn cards(app: &TestApp, chart: &str, more: Vec<Value>) -> Vec<Value> {
    let mut scenario = load(&fixture_path(&format!("blind-2026-12-07/{chart}.json")));
    scenario.resources.extend(more);
    let service = format!("gravida-{}", scenario.hook);
    let prefetch = prefetch_for(app, &service, &scenario).await;
    let (status, body) = app
        .call(&service, &request(&scenario, Some(prefetch), None))
        .await;
    assert_eq!(status, 200, "{body}");
    body["cards"].as_array().cloned().unwrap_or_default()
}

/// The methotrexate card among `cards`, and everything it says on the card.
fn methotrexate_card(cards: &[Value]) -> (Value, String) {
    let card = cards
        .iter()
        .find(|c| c["source"]["topic"]["code"] == "R6")
        .cloned()
        .unwrap_or_else(|| panic!("no R6 card: {cards:?}"));
    let text = format!(
        "{}\n{}\n{}",
        card["summary"].as_str().unwrap_or_default(),
        card["detail"].as_str().unwrap_or_default(),
        card["suggestions"]
    );
    (card, text)
}

#[tokio::test]
async fn methotrexate_in_a_heterotopic_pregnancy_is_contraindicated_and_the_intrauterine_pregnancy_is_preserved()
 {
    let app = TestApp::spawn().await;
    let (card, text) = methotrexate_card(&cards(&app, "b36", Vec::new()).await);
    assert_eq!(card["indicator"], "critical");
    assert!(
        text.contains("Methotrexate is contraindicated with an intrauterine pregnancy."),
        "{text}"
    );
    assert!(
        text.contains("management preserves the intrauterine pregnancy"),
        "{text}"
    );
    assert!(
        !text.contains("until a normal intrauterine pregnancy"),
        "{text}"
    );
    assert!(!text.contains("MedicationRequest '"), "{text}");
    assert!(text.contains("\"delete\""), "{text}");
}

#[tokio::test]
async fn weekly_methotrexate_for_rheumatoid_arthritis_gets_the_teratogen_wording_with_its_delete() {
    let app = TestApp::spawn().await;
    // The chart's only pregnancy evidence is a positive urine test, which the reader does not
    // take as evidence yet (§3.6 item 7, another item of issue 31): the pregnancy status is
    // charted as well, so that the wording is what this test reads.
    let today = time::OffsetDateTime::now_utc().date().to_string();
    let status = json!({
        "resourceType": "Observation", "id": "b35-status", "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "82810-3"}]},
        "subject": {"reference": "Patient/blind-b35-pt"},
        "effectiveDateTime": today,
        "valueCodeableConcept": {"coding": [{"system": "http://snomed.info/sct", "code": "77386006"}]}
    });
    let (card, text) = methotrexate_card(&cards(&app, "b35", vec![status]).await);
    assert_eq!(card["indicator"], "critical");
    assert!(
        text.contains(
            "Methotrexate is contraindicated in pregnancy (embryo-fetal toxicity): review the indication with the prescriber."
        ),
        "{text}"
    );
    assert!(
        !text.contains("until a normal intrauterine pregnancy"),
        "{text}"
    );
    assert!(text.contains("\"delete\""), "{text}");
}
