//! Short cards for the public scenarios (issue 17 items 1, 2 and 5): every common card fits the
//! sandbox's column (detail at most 450 characters, at most three buttons), no text names a
//! record by its resource id, the source label carries no profile version, and the reasoning
//! left off the card is on its long form.

use regex::Regex;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::macros::{format_description, time};

use gravida_knowledge::KnowledgeBase;

use crate::helpers::{TestApp, fixture_path};
use crate::scenarios_http::{load, prefetch_for, request};

/// The rules whose cards must be short; the critical R2E and R6 may be longer.
const COMMON: [&str; 10] = [
    "R2", "R3", "R4", "R7", "R8", "R9", "R12", "R13", "R14", "R10",
];
const MAX_DETAIL_CHARS: usize = 450;
/// R14 before 34 weeks carries knowledge.md §3.6 W3's binding steps whole (continuous CTG;
/// coagulation and fibrinogen whatever the loss; corticosteroids; magnesium sulfate): its
/// budget is larger.
const MAX_R14_DETAIL_CHARS: usize = 520;

/// The detail budget of a common card.
fn budget(rule: &str) -> usize {
    if rule == "R14" {
        MAX_R14_DETAIL_CHARS
    } else {
        MAX_DETAIL_CHARS
    }
}
const MAX_BUTTONS: usize = 3;

/// Each public scenario's cards, evaluated as `scenarios_engine` does (the scenario's `now` at
/// midday UTC, draft orders on the order hooks only).
fn public_cards() -> Vec<(String, Vec<Value>)> {
    let cards = cards_in("scenarios");
    assert_eq!(cards.len(), 13, "the 13 public scenarios");
    cards
}

/// Each chart's cards in a fixture folder of scenarios, evaluated as `public_cards` does.
fn cards_in(dir: &str) -> Vec<(String, Vec<Value>)> {
    let kb = KnowledgeBase::embedded().unwrap();
    let mut paths: Vec<_> = std::fs::read_dir(fixture_path(dir))
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|path| {
            let raw: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
            let now = time::Date::parse(
                raw["now"].as_str().unwrap(),
                format_description!("[year]-[month]-[day]"),
            )
            .unwrap()
            .with_time(time!(12:00))
            .assume_utc();
            let resources = raw["resources"].as_array().cloned().unwrap_or_default();
            let mut facts = gravida_fhir::facts_from_resources(&resources).facts;
            if matches!(raw["hook"].as_str(), Some("order-select" | "order-sign"))
                && let Some(bundle) = raw["context"].get("draftOrders")
            {
                facts.draft_orders = gravida_fhir::draft_orders(bundle).0;
            }
            let patient = raw["context"]["patientId"].as_str().unwrap_or("p");
            let cards = evaluate(&kb, &facts, patient, now);
            (raw["id"].as_str().unwrap().to_owned(), cards)
        })
        .collect()
}

fn evaluate(
    kb: &KnowledgeBase,
    facts: &gravida_rules::facts::PatientFacts,
    patient: &str,
    now: OffsetDateTime,
) -> Vec<Value> {
    kb.evaluate(facts, patient, now)
        .cards
        .iter()
        .map(|c| serde_json::to_value(&c.card).unwrap())
        .collect()
}

fn rule(card: &Value) -> &str {
    card["source"]["topic"]["code"].as_str().unwrap_or_default()
}

/// Every text a clinician reads on a card: summary, detail, button labels and action
/// descriptions, link labels, source label. (A delete action's `resourceId` is for the EHR.)
fn shown_texts(card: &Value) -> Vec<String> {
    let mut texts = vec![
        card["summary"].as_str().unwrap_or_default().to_owned(),
        card["detail"].as_str().unwrap_or_default().to_owned(),
        card["source"]["label"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    ];
    for s in card["suggestions"].as_array().into_iter().flatten() {
        texts.push(s["label"].as_str().unwrap_or_default().to_owned());
        for a in s["actions"].as_array().into_iter().flatten() {
            texts.push(a["description"].as_str().unwrap_or_default().to_owned());
        }
    }
    for l in card["links"].as_array().into_iter().flatten() {
        texts.push(l["label"].as_str().unwrap_or_default().to_owned());
    }
    texts
}

#[test]
fn every_common_card_of_the_public_scenarios_is_short_with_at_most_three_buttons() {
    let mut checked = 0;
    for (scenario, cards) in public_cards() {
        for card in cards.iter().filter(|c| COMMON.contains(&rule(c))) {
            let detail = card["detail"].as_str().unwrap_or_default();
            let chars = detail.chars().count();
            assert!(
                chars <= budget(rule(card)),
                "{scenario} {}: detail of {chars} characters:\n{detail}",
                rule(card)
            );
            // What to do comes first: the detail opens with the steps.
            let steps = detail.lines().take_while(|l| l.starts_with("- ")).count();
            assert!(steps >= 1, "{scenario} {}: {detail}", rule(card));
            let buttons = card["suggestions"].as_array().map_or(0, Vec::len);
            assert!(
                buttons <= MAX_BUTTONS,
                "{scenario} {}: {buttons} buttons",
                rule(card)
            );
            checked += 1;
        }
    }
    assert!(
        checked >= 8,
        "only {checked} common cards among the public scenarios"
    );
}

#[test]
fn no_card_of_the_public_scenarios_names_a_record_by_its_id_or_shows_the_profile_version() {
    let kb = KnowledgeBase::embedded().unwrap();
    let raw_id = Regex::new(
        r"\b(Condition|Observation|MedicationRequest|ServiceRequest|DiagnosticReport|Encounter|Procedure|Medication|Patient)/[A-Za-z0-9\-.\\]+",
    )
    .unwrap();
    for (scenario, cards) in public_cards() {
        for card in &cards {
            for text in shown_texts(card) {
                assert!(
                    !raw_id.is_match(&text),
                    "{scenario} {}: a raw id in {text:?}",
                    rule(card)
                );
                assert!(
                    !text.contains(kb.version()) && !text.contains("default@"),
                    "{scenario} {}: the profile version in {text:?}",
                    rule(card)
                );
            }
        }
    }
}

#[test]
fn related_findings_of_the_public_scenarios_are_folded_rather_than_stacked() {
    for (scenario, cards) in public_cards() {
        let rules: Vec<&str> = cards.iter().map(rule).collect();
        let bleeding_mains = rules
            .iter()
            .filter(|r| !matches!(**r, "R6" | "R15" | "D1"))
            .count();
        assert!(
            bleeding_mains <= 1,
            "{scenario}: bleeding cards stacked: {rules:?}"
        );
    }
}

#[tokio::test]
async fn the_motivating_cases_long_form_holds_the_reasoning_left_off_the_card() {
    let app = TestApp::spawn().await;
    let scenario = load(&fixture_path("scenarios/pub01.json"));
    let service = "gravida-patient-view";
    let prefetch = prefetch_for(&app, service, &scenario).await;
    let mut body = request(&scenario, Some(prefetch), None);
    body["hookInstance"] = json!("short-cards-hook-instance-1");
    let (status, response) = app.call(service, &body).await;
    assert_eq!(status, 200, "{response}");
    let card = &response["cards"][0];
    assert_eq!(rule(card), "R2");
    let detail = card["detail"].as_str().unwrap();
    assert!(!detail.contains("single hCG value"), "{detail}");
    // The reasoning travels to the long form, not to the EHR.
    assert!(
        card["extension"].get("org.gravida.reasoning").is_none(),
        "{}",
        card["extension"]
    );
    assert!(card["extension"]["org.gravida.profile"].is_string());
    let url = crate::helpers::long_form_url(card);
    let page = app
        .client
        .get(&url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for wanted in [
        "The full reasoning",
        "do not base treatment on a single hCG value",
        "No methotrexate before a normal intrauterine pregnancy has been excluded",
        "What this card does not mean",
        "Records used",
        "chronologically implausible",
    ] {
        assert!(page.contains(wanted), "{wanted} missing from the long form");
    }
}

/// A date written `2026-11-09`.
fn has_iso_date(text: &str) -> bool {
    Regex::new(r"\b\d{4}-\d{2}-\d{2}\b").unwrap().is_match(text)
}

#[test]
fn no_headline_or_card_text_of_the_public_and_blind_charts_shows_an_iso_date_or_a_resource_type() {
    let mut checked = 0;
    for dir in ["scenarios", "blind-2026-12-07"] {
        for (chart, cards) in cards_in(dir) {
            for card in &cards {
                // What the clinician reads on the card itself; the long form keeps full dates.
                let summary = card["summary"].as_str().unwrap_or_default();
                let detail = card["detail"].as_str().unwrap_or_default();
                for text in [summary, detail] {
                    assert!(!has_iso_date(text), "{chart} {}: {text}", rule(card));
                }
                for text in shown_texts(card) {
                    for resource_type in [
                        "MedicationRequest",
                        "ServiceRequest",
                        "DiagnosticReport",
                        "Condition '",
                        "Observation '",
                        "Procedure '",
                        "Encounter '",
                    ] {
                        assert!(
                            !text.contains(resource_type),
                            "{chart} {}: {resource_type} in {text}",
                            rule(card)
                        );
                    }
                }
                checked += 1;
            }
        }
    }
    assert!(checked > 30, "{checked} cards");
}
