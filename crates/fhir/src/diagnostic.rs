//! Data diagnostics: what could not be read or obtained, said without patient data.
//!
//! A diagnostic names a resource by its type and position (and its id, which is allowed), and a
//! prefetch key by its name. It never carries values, names, dates or URLs with query strings:
//! diagnostics end up in logs and responses.

use std::fmt;

/// One thing the data layer could not read or obtain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The resource type (`Observation`, …), or the prefetch key's name for key-level diagnostics,
    /// or empty when the entry was not even a resource.
    pub resource_type: String,
    /// The position of the resource in the list or Bundle it came from (0 for key-level ones).
    pub index: usize,
    pub kind: DiagnosticKind,
    /// What went wrong, without patient data.
    pub message: String,
}

/// The kinds of trouble, so callers can count and filter without parsing messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DiagnosticKind {
    /// The entry is not a JSON object with a string `resourceType`.
    NotAResource,
    /// The entry is a resource type we do not expect here (e.g. a Bundle where a draft order should be).
    UnexpectedResourceType,
    /// The resource does not match the FHIR R4B model; it was skipped.
    Unparseable,
    /// Part of the resource could not be read; the record was kept with a `Problem`.
    PartlyUnreadable,
    /// The resource carries a `modifierExtension` we do not understand; it was refused.
    ModifierExtension,
    /// A prefetch key or fetch could not be obtained; the input is marked unavailable.
    Unavailable,
    /// A context-only key (the Patient) could not be obtained; ignored.
    ContextUnavailable,
    /// The resource is about another patient, or names none; it was refused.
    OtherPatient,
    /// The resource's id is not a FHIR id; it was refused.
    BadId,
}

impl DiagnosticKind {
    /// A short name for metrics and logs: `unparseable`, `partly-unreadable`, ….
    pub fn as_str(self) -> &'static str {
        match self {
            DiagnosticKind::NotAResource => "not-a-resource",
            DiagnosticKind::UnexpectedResourceType => "unexpected-resource-type",
            DiagnosticKind::Unparseable => "unparseable",
            DiagnosticKind::PartlyUnreadable => "partly-unreadable",
            DiagnosticKind::ModifierExtension => "modifier-extension",
            DiagnosticKind::Unavailable => "unavailable",
            DiagnosticKind::ContextUnavailable => "context-unavailable",
            DiagnosticKind::OtherPatient => "other-patient",
            DiagnosticKind::BadId => "bad-id",
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} {}[{}]: {}",
            self.kind, self.resource_type, self.index, self.message
        )
    }
}

/// Removes values from a serde error message, keeping its shape.
///
/// serde_json says `invalid type: string "Jane", expected f64`: the quoted part is input data and
/// may be patient data. Quoted spans become `"…"`; backticked spans become `` `…` `` except after
/// `field ` (`missing field `code``), where they name a FHIR element, not a value.
///
/// Messages that are not serde's own (custom errors from the FHIR models, such as
/// `Unknown value: <the value>`) have no quotes to find, so they are replaced as a whole.
pub(crate) fn redact(message: &str) -> String {
    const SERDE_SHAPES: [&str; 7] = [
        "invalid type",
        "invalid value",
        "invalid length",
        "missing field",
        "unknown field",
        "duplicate field",
        "unknown variant",
    ];
    if !SERDE_SHAPES.iter().any(|shape| message.starts_with(shape)) {
        return "a value does not match the FHIR R4B model".to_owned();
    }
    redact_quoted(message)
}

fn redact_quoted(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(start) = rest.find(['"', '`']) {
        let quote = rest[start..].chars().next().unwrap_or('"');
        let (before, after_open) = rest.split_at(start);
        out.push_str(before);
        let after_open = &after_open[1..];
        let Some(end) = after_open.find(quote) else {
            // An unterminated quote: drop the remainder rather than risk leaking it.
            out.push(quote);
            out.push('…');
            return out;
        };
        let inner = &after_open[..end];
        let names_a_field = quote == '`' && before.ends_with("field ");
        out.push(quote);
        out.push_str(if names_a_field { inner } else { "…" });
        out.push(quote);
        rest = &after_open[end + 1..];
    }
    out.push_str(rest);
    // serde_json appends " at line 1 column 42"; harmless, but not useful for a Value either.
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_removes_quoted_values_but_keeps_field_names() {
        let message = r#"invalid type: string "Jane Doe", expected f64; missing field `code`; unknown variant `weird`"#;
        let redacted = redact(message);
        assert!(!redacted.contains("Jane"));
        assert!(!redacted.contains("weird"));
        assert!(redacted.contains("missing field `code`"));
        assert!(redacted.contains("expected f64"));
    }

    #[test]
    fn an_unterminated_quote_does_not_leak_its_tail() {
        let redacted = redact(r#"invalid value: "secret without end"#);
        assert!(!redacted.contains("secret"));
    }

    #[test]
    fn custom_error_messages_are_replaced_whole() {
        let redacted = redact("Unknown value: Jane Doe at line 1 column 30");
        assert!(!redacted.contains("Jane"));
        assert!(redacted.contains("FHIR R4B"));
    }
}
