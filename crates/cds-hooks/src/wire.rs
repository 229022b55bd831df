//! JSON output rules shared by every type we emit: nothing `null` and nothing empty.
//!
//! CDS Hooks 2.0 ("Use of JSON", notes §0): elements SHALL NOT be `null`, `""`, `[]` or `{}`;
//! an optional attribute without a value is omitted. The spec's own exceptions are the top-level
//! `cards: []` of a response and `services: []` of a discovery document (and `null` prefetch
//! values, which only clients send). The serde attributes on our types follow these rules; the
//! helpers here let the serialisers and the tests say so in one place.

use serde_json::Value;

/// `skip_serializing_if` helper: omit an optional string that is absent or empty.
pub(crate) fn is_blank(value: &Option<String>) -> bool {
    value.as_deref().is_none_or(str::is_empty)
}

/// `skip_serializing_if` helper: omit an optional JSON object that is absent or `{}`.
pub(crate) fn is_empty_object(value: &Option<serde_json::Map<String, Value>>) -> bool {
    value.as_ref().is_none_or(serde_json::Map::is_empty)
}

/// `skip_serializing_if` helper: omit an optional JSON value that is absent, `null` or empty.
pub(crate) fn is_absent_value(value: &Option<Value>) -> bool {
    match value {
        None | Some(Value::Null) => true,
        Some(Value::String(text)) => text.is_empty(),
        Some(Value::Array(items)) => items.is_empty(),
        Some(Value::Object(fields)) => fields.is_empty(),
        Some(_) => false,
    }
}

/// JSON-pointer paths of every `null`, `""`, `[]` and `{}` in `value`.
///
/// The root-level `cards` and `services` arrays are allowed to be empty (the spec's exceptions),
/// so `{"cards": []}` yields no paths while `{"cards": [{"links": []}]}` yields `/cards/0/links`.
pub fn find_empty_values(value: &Value) -> Vec<String> {
    let mut found = Vec::new();
    match value {
        Value::Object(fields) => {
            for (key, child) in fields {
                let allowed_empty =
                    (key == "cards" || key == "services") && child.as_array().is_some();
                if allowed_empty {
                    walk(child, &format!("/{key}"), &mut found, true);
                } else {
                    walk(child, &format!("/{key}"), &mut found, false);
                }
            }
            if fields.is_empty() {
                found.push(String::new());
            }
        }
        other => walk(other, "", &mut found, false),
    }
    found
}

fn walk(value: &Value, path: &str, found: &mut Vec<String>, may_be_empty: bool) {
    match value {
        Value::Null => found.push(path.to_owned()),
        Value::String(text) if text.is_empty() => found.push(path.to_owned()),
        Value::Array(items) => {
            if items.is_empty() && !may_be_empty {
                found.push(path.to_owned());
            }
            for (index, item) in items.iter().enumerate() {
                walk(item, &format!("{path}/{index}"), found, false);
            }
        }
        Value::Object(fields) => {
            if fields.is_empty() {
                found.push(path.to_owned());
            }
            for (key, child) in fields {
                walk(child, &format!("{path}/{key}"), found, false);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_checker_finds_every_kind_of_empty_value_at_any_depth() {
        let value = json!({
            "cards": [{"summary": "", "links": [], "source": {"url": null, "topic": {}}}],
            "ok": [1, {"deep": [null]}]
        });
        let mut found = find_empty_values(&value);
        found.sort();
        assert_eq!(
            found,
            [
                "/cards/0/links",
                "/cards/0/source/topic",
                "/cards/0/source/url",
                "/cards/0/summary",
                "/ok/1/deep/0",
            ]
        );
    }

    #[test]
    fn only_root_cards_and_services_may_be_empty_arrays() {
        assert!(find_empty_values(&json!({"cards": []})).is_empty());
        assert!(find_empty_values(&json!({"services": []})).is_empty());
        assert_eq!(
            find_empty_values(&json!({"systemActions": []})),
            ["/systemActions"]
        );
        assert_eq!(
            find_empty_values(&json!({"cards": [{"cards": []}]})),
            ["/cards/0/cards"]
        );
        assert_eq!(find_empty_values(&json!({})), [""]);
    }
}
