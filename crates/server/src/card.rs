//! A rendered card as the server handles it on its way out: what it says about itself (the rule
//! behind it, its indicator), its fingerprint once screened ([`Shown`]), and where its long form
//! is served.
//!
//! These few items are read by metrics, suppression, the audit trail and the long forms alike.
//! They live here, below all four, so that none of those modules has to import another to reach
//! them (and no two of them import each other).

use gravida_cds_hooks::{Card, Indicator};

/// The path prefix of long forms: a card's long form is served at `/cards/{id}`.
pub const LONG_FORM_PATH_PREFIX: &str = "/cards/";

/// A card that will be shown, with its fingerprint (when it has a finding behind it; see
/// [`crate::suppress::fingerprint`]).
#[derive(Debug, Clone)]
pub struct Shown {
    pub card: Card,
    pub fingerprint: Option<String>,
}

/// The rule that produced a card: its `source.topic.code` (`R1`…), or `unknown`.
pub fn rule_of(card: &Card) -> &str {
    card.source
        .topic
        .as_ref()
        .map_or("unknown", |topic| topic.code.as_str())
}

/// The card's indicator as written on the wire.
pub fn indicator_of(card: &Card) -> &'static str {
    match card.indicator {
        Indicator::Info => "info",
        Indicator::Warning => "warning",
        Indicator::Critical => "critical",
    }
}
