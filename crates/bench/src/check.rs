//! Checking answers: a fast wrong answer is a failure, not a result.
//!
//! The first answer Gravida gives is checked against pub01's expectations (the card's indicator,
//! what it must and must not say, the suggestions it must offer), taken from the scenario file in
//! `tests/fixtures/scenarios`. Every later answer, prefetched or fetched, must then carry exactly
//! the same cards: its [`fingerprint`] (the cards without their per-response `uuid`s and order
//! times) must equal the checked one. The baseline must answer `{"cards": []}` every time.

use regex::{Regex, RegexBuilder};
use serde_json::Value as Json;

const PUB01: &str = include_str!("../../../tests/fixtures/scenarios/pub01.json");

/// pub01's expectations, compiled.
#[derive(Debug)]
pub struct Expectations {
    max_indicator: String,
    mention: Vec<Regex>,
    not_mention: Vec<Regex>,
    suggest: Vec<Regex>,
}

impl Expectations {
    /// Reads them from the embedded scenario file.
    pub fn pub01() -> anyhow::Result<Expectations> {
        let scenario: Json = serde_json::from_str(PUB01)?;
        let expect = &scenario["expect"];
        let patterns = |name: &str| -> anyhow::Result<Vec<Regex>> {
            expect[name]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .map(|p| {
                    let pattern = p.as_str().unwrap_or_default();
                    Ok(RegexBuilder::new(pattern).case_insensitive(true).build()?)
                })
                .collect()
        };
        Ok(Expectations {
            max_indicator: expect["max_indicator"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            mention: patterns("mention")?,
            not_mention: patterns("not_mention")?,
            suggest: patterns("suggest")?,
        })
    }

    /// Checks a response body (`{"cards": [...]}`); returns what is wrong, if anything.
    pub fn check(&self, response: &Json) -> Result<(), String> {
        let cards = response["cards"].as_array().ok_or("no cards array")?;
        let rank = |indicator: &str| {
            ["info", "warning", "critical"]
                .iter()
                .position(|i| *i == indicator)
        };
        let highest = cards
            .iter()
            .filter_map(|c| rank(c["indicator"].as_str()?))
            .max();
        if highest != rank(&self.max_indicator) {
            return Err(format!(
                "highest indicator is {highest:?}, expected {}",
                self.max_indicator
            ));
        }
        let text = card_text(cards);
        for pattern in &self.mention {
            if !pattern.is_match(&text) {
                return Err(format!("no card says /{pattern}/"));
            }
        }
        for pattern in &self.not_mention {
            if pattern.is_match(&text) {
                return Err(format!("a card says /{pattern}/"));
            }
        }
        let suggestions: Vec<String> = cards
            .iter()
            .flat_map(|c| c["suggestions"].as_array().cloned().unwrap_or_default())
            .map(|s| s.to_string())
            .collect();
        for pattern in &self.suggest {
            if !suggestions.iter().any(|s| pattern.is_match(s)) {
                return Err(format!("no suggestion matches /{pattern}/"));
            }
        }
        Ok(())
    }
}

/// The text a clinician sees: summaries, details, suggestion labels, link labels.
fn card_text(cards: &[Json]) -> String {
    let mut text = String::new();
    for card in cards {
        for field in [&card["summary"], &card["detail"]] {
            text.push_str(field.as_str().unwrap_or_default());
            text.push('\n');
        }
        for list in ["suggestions", "links"] {
            for item in card[list].as_array().map(Vec::as_slice).unwrap_or_default() {
                text.push_str(item["label"].as_str().unwrap_or_default());
                text.push('\n');
            }
        }
    }
    text
}

/// What legitimately differs between two answers to the same request: the `uuid`s, the
/// `occurrenceDateTime` of a suggested order (e.g. the repeat hCG "in 48 h" counts from now), and
/// the id at the end of each card's long-form link (a fresh capability per card; see
/// [`LONG_FORM_PATH`]).
const VARYING: [&str; 2] = ["uuid", "occurrenceDateTime"];

/// The path of a card's long form, `/cards/{id}`: the link is compared up to the id.
const LONG_FORM_PATH: &str = "/cards/";

/// The cards of a response without their [`VARYING`] fields, serialised: two answers with the
/// same fingerprint carry the same cards.
pub fn fingerprint(response: &Json) -> String {
    fn strip(value: &mut Json) {
        match value {
            Json::Object(map) => {
                VARYING.iter().for_each(|key| {
                    map.remove(*key);
                });
                if let Some(Json::String(url)) = map.get_mut("url")
                    && let Some(at) = url.find(LONG_FORM_PATH)
                {
                    url.truncate(at + LONG_FORM_PATH.len());
                }
                map.values_mut().for_each(strip);
            }
            Json::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let mut cards = response["cards"].clone();
    strip(&mut cards);
    cards.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn no_cards_fails_pub01s_expectations() {
        let expectations = Expectations::pub01().expect("pub01 expectations");
        assert!(expectations.check(&json!({"cards": []})).is_err());
        assert!(expectations.check(&json!({"error": "x"})).is_err());
    }

    #[test]
    fn fingerprints_ignore_uuids_and_order_times_but_not_content() {
        let a = json!({"cards": [{"uuid": "1", "summary": "s", "suggestions": [{"uuid": "2", "label": "l"}]}]});
        let b = json!({"cards": [{"uuid": "3", "summary": "s", "suggestions": [{"uuid": "4", "label": "l", "occurrenceDateTime": "2026-11-24T04:27:01Z"}]}]});
        let c = json!({"cards": [{"uuid": "3", "summary": "t", "suggestions": [{"uuid": "4", "label": "l"}]}]});
        assert_eq!(fingerprint(&a), fingerprint(&b));
        assert_ne!(fingerprint(&a), fingerprint(&c));
    }

    #[test]
    fn fingerprints_ignore_the_long_form_id_but_not_the_link() {
        let link = |url: &str| json!({"cards": [{"summary": "s", "links": [{"label": "Why", "url": url}]}]});
        let a = link("http://127.0.0.1:1/cards/rpT9mPBzzHZDWqNtHNaeVcjsymUJAJPyh_ofs9M0yzo");
        let b = link("http://127.0.0.1:1/cards/Zz9mPBzzHZDWqNtHNaeVcjsymUJAJPyh_ofs9M0yzoA");
        let none = json!({"cards": [{"summary": "s", "links": []}]});
        assert_eq!(fingerprint(&a), fingerprint(&b));
        assert_ne!(fingerprint(&a), fingerprint(&none));
    }
}
