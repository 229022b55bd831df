//! Checks a response's cards against a scenario's `expect` block (see tests/fixtures/scenarios/README.md).
//!
//! Shared by the engine-level and the HTTP-level scenario tests, so both hold cards to the same
//! standard: the highest indicator, the phrases that must and must not appear, the suggestions,
//! and the card limits every card must meet.

use regex::Regex;
use serde_json::Value;

const INDICATORS: [&str; 4] = ["none", "info", "warning", "critical"];

fn rank(indicator: &str) -> Option<usize> {
    INDICATORS.iter().position(|i| *i == indicator)
}

fn pattern(source: &str) -> Result<Regex, String> {
    Regex::new(&format!("(?i){source}")).map_err(|e| format!("bad pattern {source:?}: {e}"))
}

/// All the text a clinician can see on a card: summary, detail, suggestion labels and the
/// resources they create or delete, and links.
pub fn card_text(card: &Value) -> String {
    let mut parts = vec![
        card["summary"].as_str().unwrap_or_default().to_owned(),
        card["detail"].as_str().unwrap_or_default().to_owned(),
    ];
    for suggestion in card["suggestions"].as_array().into_iter().flatten() {
        parts.push(suggestion_text(suggestion));
    }
    for link in card["links"].as_array().into_iter().flatten() {
        parts.push(link["label"].as_str().unwrap_or_default().to_owned());
        parts.push(link["url"].as_str().unwrap_or_default().to_owned());
    }
    parts.join("\n")
}

fn suggestion_text(suggestion: &Value) -> String {
    let mut text = suggestion["label"].as_str().unwrap_or_default().to_owned();
    for action in suggestion["actions"].as_array().into_iter().flatten() {
        text.push('\n');
        text.push_str(action["description"].as_str().unwrap_or_default());
        text.push('\n');
        text.push_str(&action["resource"].to_string());
        text.push('\n');
        text.push_str(action["resourceId"].as_str().unwrap_or_default());
    }
    text
}

/// Every way `cards` fails `expect`; empty when they meet it.
pub fn failures(expect: &Value, cards: &[Value]) -> Vec<String> {
    let mut out = Vec::new();
    for (i, card) in cards.iter().enumerate() {
        let summary = card["summary"].as_str().unwrap_or_default();
        if summary.is_empty() || summary.chars().count() >= 140 {
            out.push(format!(
                "card {i}: summary must be 1-139 characters: {summary:?}"
            ));
        }
        let ranked = card["indicator"].as_str().and_then(rank);
        if ranked.is_none_or(|r| r == 0) {
            out.push(format!(
                "card {i}: indicator {:?} is not info/warning/critical",
                card["indicator"]
            ));
        }
        if card["source"]["label"].as_str().is_none_or(str::is_empty) {
            out.push(format!("card {i}: no source.label"));
        }
    }

    let highest = cards
        .iter()
        .filter_map(|c| c["indicator"].as_str().and_then(rank))
        .max()
        .unwrap_or(0);
    let wanted = expect["max_indicator"].as_str().unwrap_or("none");
    if rank(wanted) != Some(highest) {
        out.push(format!(
            "highest indicator is {}, expected {wanted}",
            INDICATORS[highest]
        ));
    }

    let texts: Vec<String> = cards.iter().map(card_text).collect();
    let suggestions: Vec<String> = cards
        .iter()
        .flat_map(|c| c["suggestions"].as_array().cloned().unwrap_or_default())
        .map(|s| suggestion_text(&s))
        .collect();
    let patterns = |key: &str| -> Vec<String> {
        expect[key]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p.as_str().map(str::to_owned))
            .collect()
    };
    for source in patterns("mention") {
        match pattern(&source) {
            Ok(re) if texts.iter().any(|t| re.is_match(t)) => {}
            Ok(_) => out.push(format!("no card mentions /{source}/")),
            Err(e) => out.push(e),
        }
    }
    for source in patterns("not_mention") {
        match pattern(&source) {
            Ok(re) => {
                for t in texts.iter().filter(|t| re.is_match(t)) {
                    let found = re.find(t).map(|m| m.as_str()).unwrap_or_default();
                    out.push(format!("a card says {found:?}, which /{source}/ forbids"));
                }
            }
            Err(e) => out.push(e),
        }
    }
    for source in patterns("suggest") {
        match pattern(&source) {
            Ok(re) if suggestions.iter().any(|t| re.is_match(t)) => {}
            Ok(_) => out.push(format!("no suggestion matches /{source}/")),
            Err(e) => out.push(e),
        }
    }
    out
}

#[test]
fn the_checker_catches_a_missing_mention_a_forbidden_phrase_and_a_wrong_indicator() {
    let expect = serde_json::json!({
        "max_indicator": "warning",
        "mention": ["ultrasound"],
        "not_mention": ["consistent with miscarriage"],
        "suggest": ["hCG"]
    });
    let good = serde_json::json!({
        "summary": "Bleeding at 10w0d", "indicator": "warning", "source": {"label": "Gravida"},
        "detail": "Order a transvaginal ultrasound.",
        "suggestions": [{"label": "Order quantitative serum hCG", "actions": []}]
    });
    assert!(failures(&expect, std::slice::from_ref(&good)).is_empty());

    let mut bad = good;
    bad["indicator"] = "info".into();
    bad["detail"] = "This is consistent with miscarriage.".into();
    bad["suggestions"] = serde_json::json!([]);
    let found = failures(&expect, &[bad]);
    assert_eq!(found.len(), 4, "{found:#?}");
}
