//! The conformance invariants of CDS Hooks 3.0.0, checked on documents as they travel (JSON).
//!
//! CDS Hooks 3.0.0 states its invariants in FHIR Shorthand (`input/fsh/invariants/*.fsh`, copied
//! to `tests/fixtures/cds-hooks-spec/v3.0.0/invariants/`) and binds them to elements of its
//! logical models (`input/fsh/logicals/*.fsh`): `cards obeys cds-resp-1 and cds-resp-6`,
//! `cards.suggestions obeys cds-resp-5 and cds-resp-7`, `cards.suggestions.actions obeys
//! cds-resp-2`, `cards.overrideReasons obeys cds-resp-4`, `cards.links obeys cds-resp-3`,
//! `feedback obeys cds-fb-1 and cds-fb-2`, `feedback.overrideReason obeys cds-fb-3`, the request
//! `obeys cds-r-1` and its `fhirAuthorization obeys cds-r-2`. Each [`Invariant`] quotes its
//! FHIRPath expression, and the functions here evaluate it on the element it is bound to.
//!
//! They read `serde_json::Value`, not this crate's types, so that they judge exactly what was
//! sent or received, whoever built it. `exists()` is FHIRPath's: present, not `null`, and (for a
//! string or an array) not empty, since FHIR JSON has no empty values.

use std::fmt;

use serde_json::Value;

/// One invariant of CDS Hooks 3.0.0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Invariant {
    /// `(selectionBehavior = 'at-most-one') implies suggestions.where(isRecommended).count() <= 1`
    Resp1,
    /// `(type = 'delete') implies (resourceId.exists() and resource.empty())` (a warning)
    Resp2,
    /// `(type != 'smart') implies (appContext.empty())`
    Resp3,
    /// `all(display.exists())`, on a card's `overrideReasons`
    Resp4,
    /// `actions.all(description.exists())`, on a suggestion
    Resp5,
    /// `suggestions.exists() implies selectionBehavior.exists()`, on a card
    Resp6,
    /// `actionSelectionBehavior.empty() or actionSelectionBehavior = 'all' or ... = 'any' or
    /// ... = 'at-most-one'`, on a suggestion
    Resp7,
    /// `outcome = 'accepted' or outcome = 'overridden'`
    Fb1,
    /// `(outcome = 'accepted') implies acceptedSuggestions.exists()`
    Fb2,
    /// `reason.exists() or userComment.exists()`, on an `overrideReason`
    Fb3,
    /// `fhirAuthorization.exists() implies fhirServer.exists()`, on a request
    R1,
    /// `scope.contains('patient/') implies patient.exists()`, on `fhirAuthorization` (a warning)
    R2,
}

impl Invariant {
    /// Every invariant, in the specification's order.
    pub const ALL: [Invariant; 12] = [
        Invariant::Resp1,
        Invariant::Resp2,
        Invariant::Resp3,
        Invariant::Resp4,
        Invariant::Resp5,
        Invariant::Resp6,
        Invariant::Resp7,
        Invariant::Fb1,
        Invariant::Fb2,
        Invariant::Fb3,
        Invariant::R1,
        Invariant::R2,
    ];

    /// The specification's key, e.g. `cds-resp-4`.
    pub fn key(self) -> &'static str {
        match self {
            Invariant::Resp1 => "cds-resp-1",
            Invariant::Resp2 => "cds-resp-2",
            Invariant::Resp3 => "cds-resp-3",
            Invariant::Resp4 => "cds-resp-4",
            Invariant::Resp5 => "cds-resp-5",
            Invariant::Resp6 => "cds-resp-6",
            Invariant::Resp7 => "cds-resp-7",
            Invariant::Fb1 => "cds-fb-1",
            Invariant::Fb2 => "cds-fb-2",
            Invariant::Fb3 => "cds-fb-3",
            Invariant::R1 => "cds-r-1",
            Invariant::R2 => "cds-r-2",
        }
    }

    /// The FHIRPath expression, as the specification's `.fsh` file gives it.
    pub fn expression(self) -> &'static str {
        match self {
            Invariant::Resp1 => {
                "(selectionBehavior = 'at-most-one') implies suggestions.where(isRecommended).count() <= 1"
            }
            Invariant::Resp2 => {
                "(type = 'delete') implies (resourceId.exists() and resource.empty())"
            }
            Invariant::Resp3 => "(type != 'smart') implies (appContext.empty())",
            Invariant::Resp4 => "all(display.exists())",
            Invariant::Resp5 => "actions.all(description.exists())",
            Invariant::Resp6 => "suggestions.exists() implies selectionBehavior.exists()",
            Invariant::Resp7 => {
                "actionSelectionBehavior.empty() or actionSelectionBehavior = 'all' or actionSelectionBehavior = 'any' or actionSelectionBehavior = 'at-most-one'"
            }
            Invariant::Fb1 => "outcome = 'accepted' or outcome = 'overridden'",
            Invariant::Fb2 => "(outcome = 'accepted') implies acceptedSuggestions.exists()",
            Invariant::Fb3 => "reason.exists() or userComment.exists()",
            Invariant::R1 => "fhirAuthorization.exists() implies fhirServer.exists()",
            Invariant::R2 => "scope.contains('patient/') implies patient.exists()",
        }
    }

    /// Whether the specification gives it severity `warning` (cds-resp-2, cds-r-2) rather than
    /// `error`.
    pub fn is_warning(self) -> bool {
        matches!(self, Invariant::Resp2 | Invariant::R2)
    }
}

/// An invariant that does not hold, and where (a JSON path such as `cards[1].links[0]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub invariant: Invariant,
    pub path: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} at {}: {}",
            self.invariant.key(),
            self.path,
            self.invariant.expression()
        )
    }
}

/// FHIRPath's `exists()` on a JSON member.
fn exists(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) => false,
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(items)) => items.iter().any(|item| exists(Some(item))),
        Some(Value::Object(members)) => !members.is_empty(),
        Some(_) => true,
    }
}

/// The items of an array member (none when absent or not an array).
fn items<'a>(value: &'a Value, key: &str) -> &'a [Value] {
    value
        .get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// A string member, if it is one.
fn text<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value.get(key).and_then(Value::as_str)
}

/// The invariants of a service response (`{"cards": [...], "systemActions": [...]}`): cds-resp-1
/// to cds-resp-7 on every card, suggestion, action, link and override reason; cds-resp-2 on the
/// system actions too, which "follow the schema of a card-based suggestion.action".
pub fn check_response(response: &Value) -> Vec<Violation> {
    let mut found = Vec::new();
    for (c, card) in items(response, "cards").iter().enumerate() {
        check_card(card, &format!("cards[{c}]"), &mut found);
    }
    for (a, action) in items(response, "systemActions").iter().enumerate() {
        check_action(action, &format!("systemActions[{a}]"), &mut found);
    }
    found
}

/// The invariants of one card, with `path` naming it.
pub fn check_card(card: &Value, path: &str, found: &mut Vec<Violation>) {
    let suggestions = items(card, "suggestions");
    if text(card, "selectionBehavior") == Some("at-most-one") {
        let recommended = suggestions
            .iter()
            .filter(|s| s.get("isRecommended") == Some(&Value::Bool(true)))
            .count();
        if recommended > 1 {
            fail(found, Invariant::Resp1, path.to_owned());
        }
    }
    if exists(card.get("suggestions")) && !exists(card.get("selectionBehavior")) {
        fail(found, Invariant::Resp6, path.to_owned());
    }
    for (r, reason) in items(card, "overrideReasons").iter().enumerate() {
        if !exists(reason.get("display")) {
            fail(
                found,
                Invariant::Resp4,
                format!("{path}.overrideReasons[{r}]"),
            );
        }
    }
    for (l, link) in items(card, "links").iter().enumerate() {
        if text(link, "type") != Some("smart") && exists(link.get("appContext")) {
            fail(found, Invariant::Resp3, format!("{path}.links[{l}]"));
        }
    }
    for (s, suggestion) in suggestions.iter().enumerate() {
        let at = format!("{path}.suggestions[{s}]");
        let actions = items(suggestion, "actions");
        if !actions.iter().all(|a| exists(a.get("description"))) {
            fail(found, Invariant::Resp5, at.clone());
        }
        if let Some(behavior) = suggestion.get("actionSelectionBehavior")
            && !matches!(behavior.as_str(), Some("all" | "any" | "at-most-one"))
        {
            fail(found, Invariant::Resp7, at.clone());
        }
        for (a, action) in actions.iter().enumerate() {
            check_action(action, &format!("{at}.actions[{a}]"), found);
        }
    }
}

/// Records that `invariant` does not hold at `path`.
fn fail(found: &mut Vec<Violation>, invariant: Invariant, path: String) {
    found.push(Violation { invariant, path });
}

/// cds-resp-2 on one action.
fn check_action(action: &Value, path: &str, found: &mut Vec<Violation>) {
    // The implication's consequent, `resourceId.exists() and resource.empty()`, negated.
    let consequent_fails = !exists(action.get("resourceId")) || exists(action.get("resource"));
    if text(action, "type") == Some("delete") && consequent_fails {
        found.push(Violation {
            invariant: Invariant::Resp2,
            path: path.to_owned(),
        });
    }
}

/// The invariants of a feedback request (`{"feedback": [...]}`): cds-fb-1 and cds-fb-2 on each
/// item, cds-fb-3 on each item's `overrideReason`.
pub fn check_feedback(request: &Value) -> Vec<Violation> {
    let mut found = Vec::new();
    for (i, item) in items(request, "feedback").iter().enumerate() {
        let path = format!("feedback[{i}]");
        let outcome = text(item, "outcome");
        if !matches!(outcome, Some("accepted" | "overridden")) {
            found.push(Violation {
                invariant: Invariant::Fb1,
                path: path.clone(),
            });
        }
        if outcome == Some("accepted") && !exists(item.get("acceptedSuggestions")) {
            found.push(Violation {
                invariant: Invariant::Fb2,
                path: path.clone(),
            });
        }
        if let Some(reason) = item.get("overrideReason").filter(|r| !r.is_null())
            && !(exists(reason.get("reason")) || exists(reason.get("userComment")))
        {
            found.push(Violation {
                invariant: Invariant::Fb3,
                path: format!("{path}.overrideReason"),
            });
        }
    }
    found
}

/// The invariants of a service request: cds-r-1, and cds-r-2 on its `fhirAuthorization`.
pub fn check_request(request: &Value) -> Vec<Violation> {
    let mut found = Vec::new();
    let authorization = request.get("fhirAuthorization");
    if exists(authorization) && !exists(request.get("fhirServer")) {
        found.push(Violation {
            invariant: Invariant::R1,
            path: String::new(),
        });
    }
    if let Some(authorization) = authorization
        && text(authorization, "scope").is_some_and(|scope| scope.contains("patient/"))
        && !exists(authorization.get("patient"))
    {
        found.push(Violation {
            invariant: Invariant::R2,
            path: "fhirAuthorization".to_owned(),
        });
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn keys(found: &[Violation]) -> Vec<&'static str> {
        found.iter().map(|v| v.invariant.key()).collect()
    }

    #[test]
    fn each_response_invariant_is_caught_where_it_is_broken() {
        let response = json!({
            "cards": [{
                "summary": "s", "indicator": "info", "source": {"label": "l"},
                "selectionBehavior": "at-most-one",
                "suggestions": [
                    {"label": "a", "isRecommended": true, "actionSelectionBehavior": "some",
                     "actions": [{"type": "delete", "resource": {"resourceType": "X"}}]},
                    {"label": "b", "isRecommended": true,
                     "actions": [{"type": "create", "description": "ok"}]}
                ],
                "overrideReasons": [{"system": "s", "code": "c"}],
                "links": [{"label": "l", "url": "https://x", "type": "absolute", "appContext": "x"}]
            }, {
                "summary": "s", "indicator": "info", "source": {"label": "l"},
                "suggestions": [{"label": "c"}]
            }],
            "systemActions": [{"type": "delete", "description": "d"}]
        });
        let found = check_response(&response);
        assert_eq!(
            keys(&found),
            [
                "cds-resp-1",
                "cds-resp-4",
                "cds-resp-3",
                "cds-resp-5",
                "cds-resp-7",
                "cds-resp-2",
                "cds-resp-6",
                "cds-resp-2"
            ],
            "{found:?}"
        );
        assert_eq!(found[5].path, "cards[0].suggestions[0].actions[0]");
        assert_eq!(found[7].path, "systemActions[0]");
    }

    #[test]
    fn a_conformant_card_breaks_nothing() {
        let response = json!({"cards": [{
            "summary": "s", "indicator": "info", "source": {"label": "l"},
            "selectionBehavior": "any",
            "suggestions": [{"label": "a", "actionSelectionBehavior": "all", "actions": [
                {"type": "delete", "description": "d", "resourceId": ["ServiceRequest/1"]}]}],
            "overrideReasons": [{"system": "s", "code": "c", "display": "C"}],
            "links": [{"label": "l", "url": "https://x", "type": "smart", "appContext": "x"}]
        }]});
        assert!(check_response(&response).is_empty());
    }

    #[test]
    fn feedback_and_request_invariants() {
        let feedback = json!({"feedback": [
            {"card": "a", "outcome": "ignored", "outcomeTimestamp": "t"},
            {"card": "b", "outcome": "accepted", "acceptedSuggestions": [], "outcomeTimestamp": "t"},
            {"card": "c", "outcome": "overridden", "overrideReason": {}, "outcomeTimestamp": "t"},
            {"card": "d", "outcome": "overridden", "overrideReason": {"userComment": "x"},
             "outcomeTimestamp": "t"}
        ]});
        assert_eq!(
            keys(&check_feedback(&feedback)),
            ["cds-fb-1", "cds-fb-2", "cds-fb-3"]
        );
        let request = json!({"fhirAuthorization": {"scope": "patient/Patient.read"}});
        assert_eq!(keys(&check_request(&request)), ["cds-r-1", "cds-r-2"]);
        let fine = json!({"fhirServer": "https://x", "fhirAuthorization":
            {"scope": "user/Patient.read"}});
        assert!(check_request(&fine).is_empty());
    }

    #[test]
    fn every_invariant_file_of_the_specification_is_stated_here() {
        let dir = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/fixtures/cds-hooks-spec/v3.0.0/invariants"
        );
        let Ok(entries) = std::fs::read_dir(dir) else {
            // Built alone (a published crate): the fixtures are not there.
            return;
        };
        let mut files = 0;
        for entry in entries {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            let key = path.file_stem().unwrap().to_string_lossy().into_owned();
            let invariant = Invariant::ALL
                .into_iter()
                .find(|i| i.key() == key)
                .unwrap_or_else(|| panic!("{key} is not stated"));
            assert!(
                text.contains(&format!("expression = \"{}\"", invariant.expression())),
                "{key}: {text}"
            );
            assert_eq!(
                text.contains("severity = #warning"),
                invariant.is_warning(),
                "{key}"
            );
            files += 1;
        }
        assert_eq!(files, Invariant::ALL.len());
    }
}
