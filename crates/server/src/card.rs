//! A rendered card as the server handles it on its way out: with the finding it renders and its
//! fingerprint once screened ([`Shown`]), and where its long form is served.
//!
//! These few items are read by metrics, suppression, the audit trail and the long forms alike.
//! They live here, below all four, so that none of those modules has to import another to reach
//! them (and no two of them import each other).

use gravida_cds_hooks::{Card, Suggestion};
use gravida_knowledge::{Rendered, RuleMode};

/// The path prefix of long forms: a card's long form is served at `/cards/{id}`.
pub const LONG_FORM_PATH_PREFIX: &str = "/cards/";

/// A card that will be shown (with the finding it renders), and its fingerprint (with a store;
/// see [`crate::suppress::fingerprint`]); or, when its rule is silent, one that would have been
/// (recorded, never sent).
#[derive(Debug, Clone)]
pub struct Shown {
    pub rendered: Rendered,
    pub fingerprint: Option<String>,
    /// `Active` for a card sent to the EHR, `Silent` for one only recorded.
    pub mode: RuleMode,
}

/// Removes CDS Hooks 3.0.0's `actionSelectionBehavior` from a card's suggestions unless its
/// client declared it supports it: "CDS Services SHALL NOT make use of the
/// `actionSelectionBehavior` feature without knowing that the requesting client supports it"
/// (index.md, "Capability documentation"). A client that does not know it takes every action of
/// the suggestion, which is what the suggestion meant before the feature.
pub fn for_client(card: &mut Card, supports_action_selection: bool) {
    if !supports_action_selection {
        card.suggestions
            .iter_mut()
            .for_each(Suggestion::without_action_selection);
    }
}
