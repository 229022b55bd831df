//! The public scenarios, data-driven through the FHIR mapping and the engine, with each scenario's `now`.
//!
//! For every `tests/fixtures/scenarios/*.json` and `tests/fixtures/scenarios-extra/*.json`: map the
//! scenario's `resources` with `gravida_fhir::facts_from_resources`, take draft orders from
//! `context.draftOrders` (only on order hooks, as the server does), evaluate with the embedded
//! profile at the scenario's `now` **at 12:00 UTC**, and hold the cards to `expect` (see
//! `tests/fixtures/scenarios/README.md`) with the shared checker in `expect.rs`.

use std::path::PathBuf;

use gravida_knowledge::KnowledgeBase;
use serde_json::Value;
use time::macros::{format_description, time};
use time::{Date, OffsetDateTime};

use crate::expect;
use crate::helpers::fixture_path;

fn scenario_files(dir: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(fixture_path(dir))
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "json"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// The scenario's `now` (a date) at midday UTC.
fn scenario_now(raw: &Value) -> Result<OffsetDateTime, String> {
    let text = raw["now"].as_str().ok_or("no `now`")?;
    let date = Date::parse(text, format_description!("[year]-[month]-[day]"))
        .map_err(|e| format!("bad `now` {text:?}: {e}"))?;
    Ok(date.with_time(time!(12:00)).assume_utc())
}

/// Evaluates one scenario file and returns every way it fails its `expect` block.
fn run(kb: &KnowledgeBase, path: &PathBuf) -> Result<Vec<String>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let raw: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    let now = scenario_now(&raw)?;
    let resources = raw["resources"].as_array().cloned().unwrap_or_default();
    let mut facts = gravida_fhir::facts_from_resources(&resources).facts;
    let hook = raw["hook"].as_str().unwrap_or_default();
    if matches!(hook, "order-select" | "order-sign")
        && let Some(bundle) = raw["context"].get("draftOrders")
    {
        facts.draft_orders = gravida_fhir::draft_orders(bundle).0;
    }
    let patient_id = raw["context"]["patientId"].as_str().unwrap_or("unknown");
    let assessment = kb.evaluate(&facts, patient_id, now);
    let cards: Vec<Value> = assessment
        .cards
        .iter()
        .map(|c| serde_json::to_value(&c.card).map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    let mut failures = expect::failures(&raw["expect"], &cards);
    // A rule may run silently only when the profile acknowledges it if its cards may be
    // critical: that list must hold every rule that gives a critical card.
    for finding in &assessment.findings {
        if finding.indicator == gravida_rules::finding::Indicator::Critical
            && !gravida_rules::finding::RuleId::MAY_BE_CRITICAL.contains(&finding.rule)
        {
            failures.push(format!(
                "{} gave a critical card but is not in RuleId::MAY_BE_CRITICAL",
                finding.rule
            ));
        }
    }
    if !failures.is_empty() {
        let rules: Vec<String> = assessment
            .findings
            .iter()
            .map(|f| f.rule.to_string())
            .collect();
        failures.push(format!("findings: {rules:?}"));
        for card in &cards {
            failures.push(format!(
                "card: {}",
                serde_json::to_string_pretty(card).unwrap_or_default()
            ));
        }
    }
    Ok(failures)
}

fn check_all(dir: &str, at_least: usize) {
    let kb = KnowledgeBase::embedded().expect("the embedded profile loads");
    let files = scenario_files(dir);
    assert!(
        files.len() >= at_least,
        "expected {at_least}+ scenarios in tests/fixtures/{dir}"
    );
    let mut report = Vec::new();
    for path in &files {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        match run(&kb, path) {
            Ok(failures) if failures.is_empty() => {}
            Ok(failures) => report.push(format!("{name}:\n  {}", failures.join("\n  "))),
            Err(e) => report.push(format!("{name}: cannot run: {e}")),
        }
    }
    assert!(
        report.is_empty(),
        "{} scenario(s) failed:\n{}",
        report.len(),
        report.join("\n")
    );
}

#[test]
fn every_public_scenario_meets_its_expectations_through_the_engine() {
    check_all("scenarios", 13);
}

#[test]
fn every_extra_scenario_meets_its_expectations_through_the_engine() {
    check_all("scenarios-extra", 6);
}
