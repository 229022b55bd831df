//! Prefetch template rendering: turns `Observation?patient={{context.patientId}}` into a FHIR query.
//!
//! CDS Hooks 2.0 (notes §2.4) allows two kinds of token between `{{` and `}}`, and 3.0.0 a third
//! (the relative dates of [`crate::fhirpath`], e.g. `{{today() - 300 days}}`):
//!
//! * `{{context.<field>}}`: a root-level field of the hook's `context` with a primitive value
//!   (`{{context.medication.id}}` is not allowed);
//! * the user tokens `{{userPractitionerId}}`, `{{userPractitionerRoleId}}`, `{{userPatientId}}`
//!   and `{{userRelatedPersonId}}`: the id part of `context.userId` (`Practitioner/123` → `123`),
//!   allowed only when `userId` names that resource type.
//!
//! The rendered text goes into a URL, so a value is only substituted when it is a FHIR id
//! (`[A-Za-z0-9\-\.]{1,64}`) or a reference `ResourceType/id`. Anything else is refused rather than
//! escaped: a patient id with `&` in it is an attack or a bug, never a patient. The values that pass
//! are then percent-encoded anyway, which leaves them unchanged and keeps the code safe if the
//! allowed set ever grows. Error messages name the token, never the value (values may be PHI).
//!
//! A date token renders as a FHIR `date` on the calendar of the day it is given
//! ([`render_on`]): the caller says which day "today" is, a site's and not UTC's.
//! [`for_2_0_clients`] gives the same search without its date bounds, for a client that cannot
//! evaluate them.

use serde_json::{Map, Value};
use thiserror::Error;
use time::{Date, OffsetDateTime};

use crate::fhirpath::{self, ExpressionError, Step};

/// Why a template could not be rendered (or is not a valid template at all).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TemplateError {
    /// A `{{` with no matching `}}`.
    #[error("prefetch template has an unterminated `{{{{` at byte {at}")]
    Unterminated { at: usize },
    /// A `}}` with no `{{` before it.
    #[error("prefetch template has an unmatched `}}}}` at byte {at}")]
    Unmatched { at: usize },
    /// A token that CDS Hooks does not define, e.g. `{{Patient.id}}`.
    #[error("prefetch template uses unknown token `{token}`")]
    UnknownToken { token: String },
    /// A FHIRPath token outside the subset Gravida evaluates (see [`crate::fhirpath`]), e.g.
    /// `{{today() - 1.5 days}}` or `{{%encounter.id}}`.
    #[error("prefetch template: {0}")]
    Expression(#[from] ExpressionError),
    /// A date token that leaves the calendar's range (year ±9999).
    #[error("prefetch token `{token}` gives no date")]
    DateOutOfRange { token: String },
    /// `{{context.a.b}}`: only root-level context fields may be tokens.
    #[error("prefetch token `{token}` is not a root-level context field")]
    NotRootLevel { token: String },
    /// The context has no such field (or it is `null`).
    #[error("context field `{field}` needed by the prefetch template is missing")]
    MissingContextField { field: String },
    /// The field is an object or an array.
    #[error("context field `{field}` is not a primitive value and cannot be a prefetch token")]
    NotPrimitive { field: String },
    /// The value is not a FHIR id or `ResourceType/id`, so it cannot go into a URL.
    #[error("context field `{field}` is not a FHIR id or reference")]
    InvalidValue { field: String },
    /// A user token was used but `context.userId` is missing or not `ResourceType/id`.
    #[error("prefetch token `{token}` needs `context.userId` as `ResourceType/id`")]
    NoUser { token: &'static str },
    /// A user token whose resource type does not match `context.userId`, e.g.
    /// `{{userPractitionerId}}` when the user is a `PractitionerRole`.
    #[error("prefetch token `{token}` needs a `{expected}` user")]
    UserTypeMismatch {
        token: &'static str,
        expected: &'static str,
    },
}

/// A token found in a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token {
    /// `{{context.<field>}}`, holding the field name.
    Context(String),
    /// `{{userPractitionerId}}`
    UserPractitionerId,
    /// `{{userPractitionerRoleId}}`
    UserPractitionerRoleId,
    /// `{{userPatientId}}`
    UserPatientId,
    /// `{{userRelatedPersonId}}`
    UserRelatedPersonId,
    /// `{{today() - 300 days}}` (CDS Hooks 3.0.0): `today()` and its calendar steps, with the
    /// token's text for error messages.
    Today { steps: Vec<Step>, text: String },
}

impl Token {
    /// For a user token: its name and the resource type `context.userId` must have.
    fn user_token(&self) -> Option<(&'static str, &'static str)> {
        match self {
            Token::Context(_) | Token::Today { .. } => None,
            Token::UserPractitionerId => Some(("userPractitionerId", "Practitioner")),
            Token::UserPractitionerRoleId => Some(("userPractitionerRoleId", "PractitionerRole")),
            Token::UserPatientId => Some(("userPatientId", "Patient")),
            Token::UserRelatedPersonId => Some(("userRelatedPersonId", "RelatedPerson")),
        }
    }
}

/// A piece of a parsed template: literal text, or a token to substitute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment<'a> {
    Literal(&'a str),
    Token(Token),
}

/// Splits a template into literal text and tokens, checking every token is a 2.0 token.
///
/// Use it to check templates without a context (e.g. at start-up, for the discovery document).
pub fn parse(template: &str) -> Result<Vec<Segment<'_>>, TemplateError> {
    let mut segments = Vec::new();
    let mut rest = template;
    let mut offset = 0; // byte offset of `rest` inside `template`, for error messages

    while let Some(open) = rest.find("{{") {
        let literal = &rest[..open];
        if let Some(stray) = literal.find("}}") {
            return Err(TemplateError::Unmatched { at: offset + stray });
        }
        if !literal.is_empty() {
            segments.push(Segment::Literal(literal));
        }
        let after_open = &rest[open + 2..];
        let Some(close) = after_open.find("}}") else {
            return Err(TemplateError::Unterminated { at: offset + open });
        };
        let inner = &after_open[..close];
        if inner.contains("{{") {
            // `{{a{{b}}`: the first `{{` is never closed.
            return Err(TemplateError::Unterminated { at: offset + open });
        }
        segments.push(Segment::Token(parse_token(inner.trim())?));
        let consumed = open + 2 + close + 2;
        rest = &rest[consumed..];
        offset += consumed;
    }

    if let Some(stray) = rest.find("}}") {
        return Err(TemplateError::Unmatched { at: offset + stray });
    }
    if !rest.is_empty() {
        segments.push(Segment::Literal(rest));
    }
    Ok(segments)
}

fn parse_token(token: &str) -> Result<Token, TemplateError> {
    match token {
        "userPractitionerId" => return Ok(Token::UserPractitionerId),
        "userPractitionerRoleId" => return Ok(Token::UserPractitionerRoleId),
        "userPatientId" => return Ok(Token::UserPatientId),
        "userRelatedPersonId" => return Ok(Token::UserRelatedPersonId),
        _ => {}
    }
    if token.starts_with("today") {
        return match fhirpath::parse(token)? {
            fhirpath::Expression::Today(steps) => Ok(Token::Today {
                steps,
                text: token.to_owned(),
            }),
            // Only `context.` expressions parse as context, and `token` starts with `today`.
            fhirpath::Expression::Context(_) => Err(TemplateError::UnknownToken {
                token: token.to_owned(),
            }),
        };
    }
    if token.starts_with('%') || token.contains('(') {
        // `%key` variables, `resolve()`, `ofType()`: 3.0 FHIRPath outside the subset.
        return Err(fhirpath::parse(token).err().map_or_else(
            || TemplateError::UnknownToken {
                token: token.to_owned(),
            },
            Into::into,
        ));
    }
    let Some(field) = token.strip_prefix("context.") else {
        return Err(TemplateError::UnknownToken {
            token: token.to_owned(),
        });
    };
    // A JSON field name made of letters and digits (every hook's fields are camelCase).
    // Anything else — `a.b`, `draftOrders.entry`, FHIRPath like `ofType(X)` — is refused.
    if field.contains('.') {
        return Err(TemplateError::NotRootLevel {
            token: token.to_owned(),
        });
    }
    if field.is_empty() || !field.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(TemplateError::UnknownToken {
            token: token.to_owned(),
        });
    }
    Ok(Token::Context(field.to_owned()))
}

/// Renders `template` with values from a hook request's `context` object.
///
/// ```
/// use gravida_cds_hooks::prefetch::render;
/// let context = serde_json::json!({"patientId": "123", "userId": "PractitionerRole/9"});
/// let context = context.as_object().unwrap();
/// assert_eq!(
///     render("Observation?patient={{context.patientId}}&code=4548-4", context).unwrap(),
///     "Observation?patient=123&code=4548-4"
/// );
/// assert_eq!(render("PractitionerRole?_id={{userPractitionerRoleId}}", context).unwrap(),
///     "PractitionerRole?_id=9");
/// ```
///
/// A date token (`{{today() - 90 days}}`) is evaluated on UTC's calendar; a service with a
/// site calendar uses [`render_on`].
pub fn render(template: &str, context: &Map<String, Value>) -> Result<String, TemplateError> {
    render_on(template, context, OffsetDateTime::now_utc().date())
}

/// Renders `template` with values from `context`, and date tokens on the day `today`.
///
/// ```
/// use gravida_cds_hooks::prefetch::render_on;
/// let context = serde_json::json!({"patientId": "123"});
/// let today = time::macros::date!(2024 - 09 - 13);
/// assert_eq!(
///     render_on("Observation?patient={{context.patientId}}&date=gt{{today() - 90 days}}",
///         context.as_object().unwrap(), today).unwrap(),
///     "Observation?patient=123&date=gt2024-06-15"
/// );
/// ```
pub fn render_on(
    template: &str,
    context: &Map<String, Value>,
    today: Date,
) -> Result<String, TemplateError> {
    let mut out = String::with_capacity(template.len() + 32);
    for segment in parse(template)? {
        match segment {
            Segment::Literal(text) => out.push_str(text),
            Segment::Token(token) => out.push_str(&token_value(&token, context, today)?),
        }
    }
    Ok(out)
}

/// True when `template` holds a CDS Hooks 3.0.0 date token, which a 2.0 client cannot fill.
pub fn has_date_token(template: &str) -> bool {
    parse(template).is_ok_and(|segments| {
        segments
            .iter()
            .any(|segment| matches!(segment, Segment::Token(Token::Today { .. })))
    })
}

/// The template a CDS Hooks 2.0 client can fill: every search parameter holding a date token
/// removed (`Observation?patient={{context.patientId}}&date=ge{{today() - 1 year}}&_count=500`
/// gives `Observation?patient={{context.patientId}}&_count=500`). Removing a bound only widens
/// the search, so the result holds every record the bounded one does.
pub fn for_2_0_clients(template: &str) -> String {
    let Some((path, query)) = template.split_once('?') else {
        return template.to_owned();
    };
    let kept: Vec<&str> = query
        .split('&')
        .filter(|parameter| !has_date_token(parameter))
        .collect();
    if kept.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{}", kept.join("&"))
    }
}

/// The URL-safe text a token stands for in `context` on the day `today`.
fn token_value(
    token: &Token,
    context: &Map<String, Value>,
    today: Date,
) -> Result<String, TemplateError> {
    let field = match token {
        Token::Context(field) => field,
        Token::Today { steps, text } => {
            let date = fhirpath::Expression::Today(steps.clone())
                .date_on(today)
                .filter(|date| date.year() >= 1)
                .ok_or_else(|| TemplateError::DateOutOfRange {
                    token: text.clone(),
                })?;
            // A FHIR `date`: `YYYY-MM-DD`, digits and `-` only, safe in a URL as it is.
            return Ok(format!(
                "{:04}-{:02}-{:02}",
                date.year(),
                u8::from(date.month()),
                date.day()
            ));
        }
        user => return user_token_value(user, context),
    };
    let text = match context.get(field) {
        None | Some(Value::Null) => {
            return Err(TemplateError::MissingContextField {
                field: field.clone(),
            });
        }
        Some(Value::String(text)) => text.clone(),
        Some(Value::Number(number)) => number.to_string(),
        Some(Value::Bool(flag)) => flag.to_string(),
        Some(Value::Array(_) | Value::Object(_)) => {
            return Err(TemplateError::NotPrimitive {
                field: field.clone(),
            });
        }
    };
    if is_fhir_id(&text) {
        return Ok(percent_encode(&text));
    }
    match split_reference(&text) {
        Some((resource_type, id)) => Ok(format!(
            "{}/{}",
            percent_encode(resource_type),
            percent_encode(id)
        )),
        None => Err(TemplateError::InvalidValue {
            field: field.clone(),
        }),
    }
}

/// The id part of `context.userId`, for a user token whose resource type matches it.
fn user_token_value(token: &Token, context: &Map<String, Value>) -> Result<String, TemplateError> {
    let Some((name, expected_type)) = token.user_token() else {
        // Only called for user tokens; a context token here would be a caller bug.
        return Err(TemplateError::UnknownToken {
            token: "context".to_owned(),
        });
    };
    let (resource_type, id) = context
        .get("userId")
        .and_then(Value::as_str)
        .and_then(split_reference)
        .ok_or(TemplateError::NoUser { token: name })?;
    if resource_type != expected_type {
        return Err(TemplateError::UserTypeMismatch {
            token: name,
            expected: expected_type,
        });
    }
    Ok(percent_encode(id))
}

/// True when `text` is a valid FHIR id: `[A-Za-z0-9\-\.]{1,64}`.
pub fn is_fhir_id(text: &str) -> bool {
    (1..=64).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

/// True when `text` looks like a FHIR resource type: an ASCII capital, then letters.
fn is_resource_type(text: &str) -> bool {
    let mut chars = text.chars();
    matches!(chars.next(), Some(first) if first.is_ascii_uppercase())
        && chars.all(|c| c.is_ascii_alphabetic())
        && text.len() <= 64
}

/// Splits a relative reference `ResourceType/id` into its parts, if it is one.
pub fn split_reference(reference: &str) -> Option<(&str, &str)> {
    let (resource_type, id) = reference.split_once('/')?;
    (is_resource_type(resource_type) && is_fhir_id(id)).then_some((resource_type, id))
}

/// Percent-encodes every byte outside RFC 3986 "unreserved" (`A-Z a-z 0-9 - . _ ~`).
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests;
