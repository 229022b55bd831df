//! The feedback request (`POST /cds-services/{id}/feedback`): what the clinician did with a card.
//!
//! Rules checked (notes §4 and the 3.0 invariants cds-fb-1..3): `feedback` is a non-empty array;
//! each item has `card`, an `outcome` of `accepted` or `overridden` (cds-fb-1), at least one
//! accepted suggestion when accepted (cds-fb-2), an `overrideReason` with a `reason` or a
//! `userComment` when one is given (cds-fb-3), and an RFC 3339 `outcomeTimestamp`. The spec says
//! the timestamp is in UTC; any RFC 3339 offset is accepted, since the instant is still exact.
//! A bare Coding sent as `overrideReason` (the sandbox's pre-2.0 habit) breaks cds-fb-3 and is
//! refused.
//!
//! Feedback is stored, so it is bounded here: at most [`MAX_ITEMS`] items per request and
//! [`MAX_SUGGESTIONS`] accepted suggestions per item, card and suggestion ids in the form Gravida
//! issues them (a UUID, 36 characters), and override reason codings of at most
//! [`MAX_CODING_CHARS`] characters. A card answered by one hook call has a handful of cards, each
//! with a handful of suggestions, so an honest EHR never comes near these.

use std::fmt;

use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::error::RequestError;
use crate::json::{Object, parse_object};
use crate::response::Coding;

/// The most feedback items one request may carry.
pub const MAX_ITEMS: usize = 50;

/// The most accepted suggestions one item may name.
pub const MAX_SUGGESTIONS: usize = 20;

/// The longest override reason `system` or `code`, in characters.
pub const MAX_CODING_CHARS: usize = 256;

/// `{ "feedback": [ ... ] }`
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FeedbackRequest {
    pub feedback: Vec<Feedback>,
}

/// What happened to one card.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Feedback {
    /// The card's `uuid`.
    pub card: String,
    pub outcome: Outcome,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub accepted_suggestions: Vec<AcceptedSuggestion>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub override_reason: Option<OverrideReason>,
    /// RFC 3339 date-time, as sent (already checked to parse).
    pub outcome_timestamp: String,
}

/// Whether the clinician accepted a suggestion or dismissed the card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Accepted,
    Overridden,
}

impl Outcome {
    /// The wire name: `accepted` or `overridden`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Accepted => "accepted",
            Outcome::Overridden => "overridden",
        }
    }
}

/// `{ "id": <suggestion uuid> }`
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AcceptedSuggestion {
    pub id: String,
}

/// Why the clinician dismissed the card. `Debug` hides the free-text comment, which may name
/// the patient.
#[derive(Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OverrideReason {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<Coding>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_comment: Option<String>,
}

impl fmt::Debug for OverrideReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OverrideReason")
            .field("reason", &self.reason)
            .field(
                "user_comment",
                &self.user_comment.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

impl FeedbackRequest {
    /// Parses and checks a feedback body. Errors name the item and field (`feedback[1].outcome`),
    /// never the values.
    pub fn parse(body: &[u8]) -> Result<FeedbackRequest, RequestError> {
        let fields = parse_object(body)?;
        let root = Object::new("", &fields);
        let items = root
            .optional_array("feedback")?
            .ok_or_else(|| RequestError::Missing {
                field: "feedback".to_owned(),
            })?;
        if items.is_empty() {
            return Err(RequestError::Empty {
                field: "feedback".to_owned(),
            });
        }
        if items.len() > MAX_ITEMS {
            return Err(RequestError::Invalid {
                field: "feedback".to_owned(),
                problem: "may hold at most 50 items",
            });
        }
        let feedback = items
            .iter()
            .enumerate()
            .map(|(index, item)| {
                let path = format!("feedback[{index}]");
                match item {
                    Value::Object(fields) => read_feedback(Object::new(&path, fields)),
                    _ => Err(RequestError::WrongType {
                        field: path.clone(),
                        expected: "an object",
                    }),
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(FeedbackRequest { feedback })
    }
}

fn read_feedback(item: Object<'_>) -> Result<Feedback, RequestError> {
    let card = item.required_str("card")?;
    if !is_uuid(card) {
        return Err(RequestError::Invalid {
            field: item.path_of("card"),
            problem: "must be the uuid of a card Gravida issued (8-4-4-4-12 hexadecimal digits)",
        });
    }
    let card = card.to_owned();

    // cds-fb-1
    let outcome = match item.required_str("outcome")? {
        "accepted" => Outcome::Accepted,
        "overridden" => Outcome::Overridden,
        _ => {
            return Err(RequestError::Invalid {
                field: item.path_of("outcome"),
                problem: "must be `accepted` or `overridden`",
            });
        }
    };

    let accepted_suggestions = read_accepted_suggestions(&item)?;
    // cds-fb-2
    if outcome == Outcome::Accepted && accepted_suggestions.is_empty() {
        return Err(RequestError::Missing {
            field: item.path_of("acceptedSuggestions"),
        });
    }

    let override_reason = match item.optional_object("overrideReason")? {
        Some(fields) => {
            let path = item.path_of("overrideReason");
            Some(read_override_reason(Object::new(&path, fields))?)
        }
        None => None,
    };

    let outcome_timestamp = item.required_str("outcomeTimestamp")?;
    if OffsetDateTime::parse(outcome_timestamp, &Rfc3339).is_err() {
        return Err(RequestError::Invalid {
            field: item.path_of("outcomeTimestamp"),
            problem: "must be an RFC 3339 date-time",
        });
    }

    Ok(Feedback {
        card,
        outcome,
        accepted_suggestions,
        override_reason,
        outcome_timestamp: outcome_timestamp.to_owned(),
    })
}

fn read_accepted_suggestions(item: &Object<'_>) -> Result<Vec<AcceptedSuggestion>, RequestError> {
    let Some(entries) = item.optional_array("acceptedSuggestions")? else {
        return Ok(Vec::new());
    };
    let field = item.path_of("acceptedSuggestions");
    if entries.len() > MAX_SUGGESTIONS {
        return Err(RequestError::Invalid {
            field,
            problem: "may hold at most 20 suggestions",
        });
    }
    entries
        .iter()
        .enumerate()
        .map(|(index, entry)| {
            let path = format!("{field}[{index}]");
            match entry {
                Value::Object(fields) => {
                    let suggestion = Object::new(&path, fields);
                    let id = suggestion.required_str("id")?;
                    if !is_uuid(id) {
                        return Err(RequestError::Invalid {
                            field: suggestion.path_of("id"),
                            problem: "must be the uuid of a suggestion Gravida issued",
                        });
                    }
                    Ok(AcceptedSuggestion { id: id.to_owned() })
                }
                _ => Err(RequestError::WrongType {
                    field: path.clone(),
                    expected: "an object",
                }),
            }
        })
        .collect()
}

fn read_override_reason(object: Object<'_>) -> Result<OverrideReason, RequestError> {
    let reason = match object.optional_object("reason")? {
        Some(fields) => {
            let path = object.path_of("reason");
            Some(read_coding(Object::new(&path, fields))?)
        }
        None => None,
    };
    let user_comment = object.optional_str("userComment")?.map(str::to_owned);
    // cds-fb-3
    if reason.is_none() && user_comment.is_none() {
        return Err(RequestError::Invalid {
            field: object.path().to_owned(),
            problem: "must have a `reason` or a `userComment`",
        });
    }
    Ok(OverrideReason {
        reason,
        user_comment,
    })
}

fn read_coding(object: Object<'_>) -> Result<Coding, RequestError> {
    let bounded = |name: &str| -> Result<String, RequestError> {
        let value = object.required_str(name)?;
        if value.chars().count() > MAX_CODING_CHARS {
            return Err(RequestError::Invalid {
                field: object.path_of(name),
                problem: "must be at most 256 characters",
            });
        }
        Ok(value.to_owned())
    };
    Ok(Coding {
        system: bounded("system")?,
        code: bounded("code")?,
        display: object.optional_str("display")?.map(str::to_owned),
    })
}

/// A UUID in its text form, as Gravida writes card and suggestion uuids: 36 characters, hex
/// digits (either case) in groups of 8-4-4-4-12 separated by hyphens.
fn is_uuid(text: &str) -> bool {
    text.len() == 36
        && text.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(value: Value) -> Result<FeedbackRequest, RequestError> {
        FeedbackRequest::parse(&serde_json::to_vec(&value).unwrap())
    }

    fn accepted() -> Value {
        json!({"feedback": [{
            "card": "4e0a3a1e-3283-4575-ab82-028d55fe2719",
            "outcome": "accepted",
            "acceptedSuggestions": [{"id": "e56e1945-20b3-4393-8503-a1a20fd73152"}],
            "outcomeTimestamp": "2021-12-11T10:05:31Z"
        }]})
    }

    #[test]
    fn an_accepted_card_with_a_suggestion_parses() {
        let request = parse(accepted()).unwrap();
        let item = &request.feedback[0];
        assert_eq!(item.outcome, Outcome::Accepted);
        assert_eq!(
            item.accepted_suggestions[0].id,
            "e56e1945-20b3-4393-8503-a1a20fd73152"
        );
        assert_eq!(item.outcome_timestamp, "2021-12-11T10:05:31Z");
    }

    #[test]
    fn an_unknown_outcome_is_refused() {
        let mut body = accepted();
        body["feedback"][0]["outcome"] = json!("ignored");
        assert_eq!(
            parse(body),
            Err(RequestError::Invalid {
                field: "feedback[0].outcome".into(),
                problem: "must be `accepted` or `overridden`"
            })
        );
    }

    #[test]
    fn accepted_without_accepted_suggestions_is_refused() {
        let mut body = accepted();
        body["feedback"][0]["acceptedSuggestions"] = json!([]);
        let expected = Err(RequestError::Missing {
            field: "feedback[0].acceptedSuggestions".into(),
        });
        assert_eq!(parse(body.clone()), expected);
        body["feedback"][0]
            .as_object_mut()
            .unwrap()
            .remove("acceptedSuggestions");
        assert_eq!(parse(body), expected);
    }

    #[test]
    fn an_accepted_suggestion_needs_an_id() {
        let mut body = accepted();
        body["feedback"][0]["acceptedSuggestions"] = json!([{"uuid": "x"}]);
        assert_eq!(
            parse(body),
            Err(RequestError::Missing {
                field: "feedback[0].acceptedSuggestions[0].id".into()
            })
        );
    }

    #[test]
    fn an_override_reason_needs_a_reason_or_a_comment() {
        let overridden = |reason: Value| {
            json!({"feedback": [{
                "card": "4e0a3a1e-3283-4575-ab82-028d55fe2719", "outcome": "overridden",
                "overrideReason": reason,
                "outcomeTimestamp": "2020-12-11T00:00:00Z"
            }]})
        };
        assert_eq!(
            parse(overridden(json!({}))),
            Err(RequestError::Invalid {
                field: "feedback[0].overrideReason".into(),
                problem: "must have a `reason` or a `userComment`"
            })
        );
        // A bare Coding (the old sandbox shape) has neither.
        assert!(parse(overridden(json!({"code": "a", "system": "b"}))).is_err());
        let comment = parse(overridden(json!({"userComment": "Seen in clinic"}))).unwrap();
        let reason = comment.feedback[0].override_reason.as_ref().unwrap();
        assert_eq!(reason.user_comment.as_deref(), Some("Seen in clinic"));
        assert!(!format!("{reason:?}").contains("Seen in clinic"));
        let coded = parse(overridden(json!({"reason": {"system": "s", "code": "c"}}))).unwrap();
        let coding = coded.feedback[0]
            .override_reason
            .as_ref()
            .unwrap()
            .reason
            .as_ref()
            .unwrap();
        assert_eq!(coding.code, "c");
        assert!(parse(overridden(json!({"reason": {"system": "s"}}))).is_err());
    }

    #[test]
    fn the_outcome_timestamp_must_be_rfc_3339() {
        for good in [
            "2021-12-11T10:05:31Z",
            "1985-04-12T23:20:50.52Z",
            "2021-12-11T10:05:31+01:00",
        ] {
            let mut body = accepted();
            body["feedback"][0]["outcomeTimestamp"] = json!(good);
            assert!(parse(body).is_ok(), "{good}");
        }
        for bad in [
            "2021-12-11",
            "2021-12-11 10:05:31",
            "yesterday",
            "2021-13-11T10:05:31Z",
            "1639217131",
        ] {
            let mut body = accepted();
            body["feedback"][0]["outcomeTimestamp"] = json!(bad);
            assert_eq!(
                parse(body),
                Err(RequestError::Invalid {
                    field: "feedback[0].outcomeTimestamp".into(),
                    problem: "must be an RFC 3339 date-time"
                }),
                "{bad}"
            );
        }
        let mut missing = accepted();
        missing["feedback"][0]
            .as_object_mut()
            .unwrap()
            .remove("outcomeTimestamp");
        assert!(matches!(parse(missing), Err(RequestError::Missing { .. })));
    }

    #[test]
    fn the_feedback_array_must_be_present_non_empty_and_hold_objects() {
        assert_eq!(
            parse(json!({})),
            Err(RequestError::Missing {
                field: "feedback".into()
            })
        );
        assert_eq!(
            parse(json!({"feedback": []})),
            Err(RequestError::Empty {
                field: "feedback".into()
            })
        );
        assert_eq!(
            parse(json!({"feedback": {"card": "c"}})),
            Err(RequestError::WrongType {
                field: "feedback".into(),
                expected: "an array"
            })
        );
        assert_eq!(
            parse(json!({"feedback": ["c"]})),
            Err(RequestError::WrongType {
                field: "feedback[0]".into(),
                expected: "an object"
            })
        );
        assert!(matches!(
            FeedbackRequest::parse(b"{\"feedback\": [}"),
            Err(RequestError::MalformedJson { .. })
        ));
        assert_eq!(
            FeedbackRequest::parse(b"[]"),
            Err(RequestError::NotAnObject)
        );
    }

    #[test]
    fn errors_point_at_the_failing_item_in_a_batch() {
        let mut body = accepted();
        let mut second = body["feedback"][0].clone();
        second.as_object_mut().unwrap().remove("card");
        body["feedback"].as_array_mut().unwrap().push(second);
        assert_eq!(
            parse(body),
            Err(RequestError::Missing {
                field: "feedback[1].card".into()
            })
        );
    }

    #[test]
    fn a_card_id_that_is_not_a_uuid_is_refused_whatever_its_length() {
        for bad in [
            "c".to_owned(),
            "x".repeat(7_000_000),
            "4e0a3a1e-3283-4575-ab82-028d55fe271".to_owned(),
            "4e0a3a1e-3283-4575-ab82-028d55fe2719-".to_owned(),
            "4e0a3a1e_3283_4575_ab82_028d55fe2719".to_owned(),
            "4e0a3a1e-3283-4575-ab82-028d55fe271g".to_owned(),
        ] {
            let mut body = accepted();
            body["feedback"][0]["card"] = json!(bad);
            assert!(
                matches!(parse(body), Err(RequestError::Invalid { ref field, .. }) if field == "feedback[0].card"),
                "{}",
                &bad[..bad.len().min(40)]
            );
        }
        let mut upper = accepted();
        upper["feedback"][0]["card"] = json!("4E0A3A1E-3283-4575-AB82-028D55FE2719");
        assert!(parse(upper).is_ok());
    }

    #[test]
    fn a_request_holds_at_most_50_items_and_an_item_at_most_20_suggestions() {
        let item = accepted()["feedback"][0].clone();
        let fifty = json!({ "feedback": vec![item.clone(); MAX_ITEMS] });
        assert_eq!(parse(fifty).unwrap().feedback.len(), MAX_ITEMS);
        let more = json!({ "feedback": vec![item.clone(); MAX_ITEMS + 1] });
        assert_eq!(
            parse(more),
            Err(RequestError::Invalid {
                field: "feedback".into(),
                problem: "may hold at most 50 items"
            })
        );
        let mut body = accepted();
        body["feedback"][0]["acceptedSuggestions"] = json!(vec![
            json!({"id": "e56e1945-20b3-4393-8503-a1a20fd73152"});
            MAX_SUGGESTIONS + 1
        ]);
        assert!(matches!(parse(body), Err(RequestError::Invalid { .. })));
        let mut body = accepted();
        body["feedback"][0]["acceptedSuggestions"] = json!([{"id": "not-a-uuid"}]);
        assert_eq!(
            parse(body),
            Err(RequestError::Invalid {
                field: "feedback[0].acceptedSuggestions[0].id".into(),
                problem: "must be the uuid of a suggestion Gravida issued"
            })
        );
    }

    #[test]
    fn an_override_reason_code_longer_than_256_characters_is_refused() {
        let mut body = accepted();
        body["feedback"][0]["outcome"] = json!("overridden");
        body["feedback"][0]["overrideReason"] =
            json!({"reason": {"system": "s", "code": "c".repeat(MAX_CODING_CHARS + 1)}});
        assert_eq!(
            parse(body),
            Err(RequestError::Invalid {
                field: "feedback[0].overrideReason.reason.code".into(),
                problem: "must be at most 256 characters"
            })
        );
    }

    #[test]
    fn parsed_feedback_serialises_back_in_wire_form() {
        let request = parse(accepted()).unwrap();
        let json = serde_json::to_value(&request).unwrap();
        assert_eq!(json, accepted());
    }
}
