//! The cards the browser test measures (issue 31 item 6): every public scenario and every blind
//! chart (and three variants, for the rules no chart gives a card of) answered over HTTP, by
//! prefetch, and the cards written to `target/card-corpus.json`,
//! which `scripts/demo-browser-test.mjs` renders through the demo page's own card code at the
//! sandbox's 624-px column and a 436-px one. The test fails unless a card of every rule that
//! gives one is among them, so the browser test measures them all.

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde_json::{Value, json};

use crate::abortifacient_http::by_prefetch;
use crate::helpers::{TestApp, fixture_path};
use crate::scenarios_http::{Scenario, load};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

/// The folders of charts, public scenarios first.
const FOLDERS: [&str; 4] = [
    "scenarios",
    "scenarios-extra",
    "blind-2026-12-07",
    "blind-2026-12-07-2",
];

/// The rules whose cards the browser test must see. No chart here gives a card of its own for
/// R8 or R10 (they fold into the bleeding card beside them), nor R12, which gives no card
/// unless a site enables it (`thresholds.toml`); R2E, R3 and R15 come from the variants below.
const RULES: [&str; 13] = [
    "R2", "R2E", "R3", "R4", "R6", "R7", "R9", "R13", "R14", "R15", "R16", "R2R", "D1",
];

/// Public scenario pub03 (threatened miscarriage at 11w0d, intrauterine pregnancy documented)
/// with its bleed charted as "implantation bleeding" (R3), or with a miscarriage two years
/// before this pregnancy (R15).
fn pub03_variants() -> Vec<Scenario> {
    let implantation = {
        let mut scenario = load(&fixture_path("scenarios/pub03.json"));
        for r in &mut scenario.resources {
            if r["id"] == "pub03-cond-7" {
                r["code"] = json!({
                    "coding": [{"system": "http://snomed.info/sct", "code": "723665008",
                        "display": "Vaginal bleeding complicating early pregnancy"}],
                    "text": "implantation bleeding"
                });
            }
        }
        scenario.name = "pub03-implantation".into();
        scenario
    };
    let after_miscarriage = {
        let mut scenario = load(&fixture_path("scenarios/pub03.json"));
        let two_years_ago = OffsetDateTime::now_utc().date() - Duration::days(730);
        scenario.resources.push(json!({
            "resourceType": "Condition",
            "id": "pub03-previous-miscarriage",
            "clinicalStatus": {"coding": [{"system":
                "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "resolved"}]},
            "verificationStatus": {"coding": [{"system":
                "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "confirmed"}]},
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": "17369002",
                "display": "Miscarriage"}], "text": "Miscarriage"},
            "subject": {"reference": "Patient/pub03"},
            "onsetDateTime": two_years_ago.to_string(),
            "recordedDate": two_years_ago.to_string()
        }));
        scenario.name = "pub03-after-miscarriage".into();
        scenario
    };
    vec![implantation, after_miscarriage]
}

/// Blind chart b03 (bleeding at 6w3d, no ultrasound) with its blood pressure taken an hour ago
/// at 82 mmHg systolic: R2 escalated to R2E (knowledge.md §3.5 item 12).
fn unstable() -> Scenario {
    let mut scenario = load(&fixture_path("blind-2026-12-07/b03.json"));
    let hour_ago = (OffsetDateTime::now_utc() - Duration::hours(1))
        .replace_nanosecond(0)
        .unwrap()
        .format(&Rfc3339)
        .unwrap();
    let mut changed = false;
    for r in &mut scenario.resources {
        let Some(components) = r["component"].as_array_mut() else {
            continue;
        };
        for c in components {
            if c["code"]["coding"][0]["code"] == "8480-6" {
                c["valueQuantity"]["value"] = json!(82);
                changed = true;
            }
        }
        if changed {
            r["effectiveDateTime"] = json!(hour_ago);
            break;
        }
    }
    assert!(changed, "b03 has a blood pressure");
    scenario.name = "b03-unstable".into();
    scenario
}

fn charts(folder: &str) -> Vec<PathBuf> {
    let mut paths: Vec<_> = std::fs::read_dir(fixture_path(folder))
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    paths
}

#[tokio::test]
async fn a_card_of_every_rule_is_written_for_the_browser_test_to_measure() {
    let mut corpus = Vec::new();
    let mut seen = BTreeSet::new();
    for folder in FOLDERS {
        for path in charts(folder) {
            let scenario = load(&path);
            // Each chart its own service, so that no card is held back as shown already.
            let cards = by_prefetch(&TestApp::spawn().await, &scenario).await;
            for card in cards {
                let rule = card["source"]["topic"]["code"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                seen.insert(rule.clone());
                corpus.push(json!({
                    "chart": scenario.name,
                    "public": folder == "scenarios",
                    "rule": rule,
                    "card": card,
                }));
            }
        }
    }
    for scenario in std::iter::once(unstable()).chain(pub03_variants()) {
        for card in by_prefetch(&TestApp::spawn().await, &scenario).await {
            let rule = card["source"]["topic"]["code"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            seen.insert(rule.clone());
            corpus.push(
                json!({ "chart": scenario.name, "public": false, "rule": rule, "card": card }),
            );
        }
    }
    let missing: Vec<_> = RULES.iter().filter(|r| !seen.contains(**r)).collect();
    assert!(missing.is_empty(), "no chart gives a card of {missing:?}");
    let out = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/card-corpus.json");
    std::fs::write(
        &out,
        serde_json::to_vec_pretty(&Value::Array(corpus)).unwrap(),
    )
    .unwrap();
    println!("{} written", out.display());
}
