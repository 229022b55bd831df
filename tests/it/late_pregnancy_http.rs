//! The late-pregnancy classes of knowledge.md §3.6 over HTTP, by prefetch and by fetch from
//! wiremock: a bleed with vasa previa documented (item 20) and a bloody show in labour at term
//! (item 17). Each chart is a public scenario with the records of the class added, so that the
//! card with and without them can be compared.

use serde_json::{Value, json};
use time::{Duration, OffsetDateTime};

use crate::helpers::TestApp;
use crate::real_world::{cards_both_ways, scenario};
use crate::scenarios_http::Scenario;

/// `days` before today, as a FHIR date (the scenarios are shifted to today when loaded).
fn days_ago(days: i64) -> String {
    (OffsetDateTime::now_utc().date() - Duration::days(days)).to_string()
}

/// Every card as `indicator: summary`, then its detail, for reading in one assertion.
fn text_of(cards: &[Value]) -> String {
    cards
        .iter()
        .map(|c| format!("{}: {}\n{}", c["indicator"], c["summary"], c["detail"]))
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// The cards by prefetch, after checking that the fetch path gives the same ones.
async fn cards(app: &TestApp, chart: &Scenario) -> Vec<Value> {
    let [by_prefetch, by_fetch] = cards_both_ways(app, chart).await;
    let summaries = |cards: &[Value]| {
        cards
            .iter()
            .map(|c| c["summary"].clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        summaries(&by_prefetch),
        summaries(&by_fetch),
        "prefetch and fetch disagree"
    );
    by_prefetch
}

/// pub06 (antepartum bleeding at 30w0d) with `record` charted as well.
fn antepartum_bleed_with(record: Value) -> Scenario {
    let mut chart = scenario("pub06");
    chart.resources.push(record);
    chart
}

fn vasa_previa_condition(code: Option<&str>, text: &str) -> Value {
    let mut condition = json!({
        "resourceType": "Condition", "id": "vasa",
        "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]},
        "verificationStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "confirmed"}]},
        "code": {"text": text},
        "subject": {"reference": "Patient/pub06"},
        "onsetDateTime": days_ago(70)
    });
    if let Some(code) = code {
        condition["code"]["coding"] = json!([{"system": "http://snomed.info/sct", "code": code}]);
    }
    condition
}

#[tokio::test]
async fn a_bleed_with_vasa_previa_coded_or_written_gets_a_critical_card_with_the_emergency_steps() {
    let app = TestApp::spawn().await;
    let control = text_of(&cards(&app, &scenario("pub06")).await);
    assert!(!control.contains("critical"), "{control}");
    for record in [
        vasa_previa_condition(Some("79668009"), "Velamentous cord insertion"),
        vasa_previa_condition(None, "Vasa praevia on anatomy scan"),
    ] {
        let text = text_of(&cards(&app, &antepartum_bleed_with(record.clone())).await);
        assert!(text.starts_with("\"critical\""), "{record}: {text}");
        for wanted in [
            "with vasa previa documented",
            "fetal haemorrhage possible",
            "continuous CTG",
            "prepare for emergency caesarean",
        ] {
            assert!(text.contains(wanted), "{wanted}: {text}");
        }
        assert!(
            !text.to_lowercase().contains("placenta previa documented"),
            "{text}"
        );
    }
}

#[tokio::test]
async fn no_vasa_previa_seen_leaves_the_usual_triage_warning() {
    let app = TestApp::spawn().await;
    let chart = antepartum_bleed_with(vasa_previa_condition(
        None,
        "Cord insertion central, no vasa previa",
    ));
    let text = text_of(&cards(&app, &chart).await);
    assert!(!text.contains("critical"), "{text}");
    assert!(!text.contains("vasa"), "{text}");
}

/// pub06 moved to 39w0d (its EDD a week from today), its bleed written as `bleed`, with
/// `more` charted as well.
fn term_bleed(bleed: &str, more: Vec<Value>) -> Scenario {
    let mut chart = scenario("pub06");
    for record in chart.resources.iter_mut() {
        if record["id"] == "pub06-obs-2" {
            record["valueDateTime"] = json!(days_ago(-7));
        }
        if record["id"] == "pub06-cond-4" {
            record["code"] = json!({"coding": [{"system": "http://snomed.info/sct",
                "code": "289530006", "display": "Bleeding from vagina"}], "text": bleed});
        }
    }
    chart.resources.extend(more);
    chart
}

fn condition_today(id: &str, text: &str) -> Value {
    json!({
        "resourceType": "Condition", "id": id,
        "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]},
        "code": {"text": text},
        "subject": {"reference": "Patient/pub06"},
        "onsetDateTime": days_ago(0)
    })
}

fn has_triage_card(cards: &[Value]) -> bool {
    cards.iter().any(|c| c["source"]["topic"]["code"] == "R14")
}

#[tokio::test]
async fn a_bloody_show_in_labour_at_term_gets_no_abruption_and_previa_card() {
    let app = TestApp::spawn().await;
    let labour = condition_today("labour", "Spontaneous labour at term, active phase");
    // The same show without labour on record: the triage card, as before.
    let control = cards(&app, &term_bleed("Bloody show", Vec::new())).await;
    assert!(has_triage_card(&control), "{}", text_of(&control));
    let in_labour = cards(&app, &term_bleed("Bloody show", vec![labour.clone()])).await;
    assert!(!has_triage_card(&in_labour), "{}", text_of(&in_labour));
    assert!(
        !text_of(&in_labour).contains("abruption"),
        "{}",
        text_of(&in_labour)
    );
    // Abruption wording or a heavy bleed in labour is never a show.
    let pain = condition_today("pain", "Constant pain, tender uterus");
    let worded = cards(&app, &term_bleed("Bloody show", vec![labour.clone(), pain])).await;
    assert!(has_triage_card(&worded), "{}", text_of(&worded));
    let heavy = cards(
        &app,
        &term_bleed("Heavy bloody show, soaking pads", vec![labour]),
    )
    .await;
    assert!(
        text_of(&heavy).starts_with("\"critical\""),
        "{}",
        text_of(&heavy)
    );
}
