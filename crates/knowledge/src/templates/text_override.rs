//! Text that replaces part of a rule's card in one situation: a variant (R6 with a documented
//! intrauterine pregnancy, R9 with a documented previa) or the rule's card under R2E
//! (knowledge.md §3.6 W1–W7). What the override leaves out, the rule says as usual.

use serde::Deserialize;

use super::{RuleCard, Template};

/// Parts of a rule's text replaced in one situation (a variant, or under R2E); a part left out
/// keeps the rule's own.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextOverride {
    #[serde(default)]
    pub card_do: Option<Vec<Template>>,
    #[serde(default)]
    pub card_why: Option<Vec<Template>>,
    #[serde(default)]
    pub card_not_mean: Option<Template>,
    #[serde(default)]
    pub why: Option<Vec<Template>>,
    #[serde(default)]
    pub what_to_do: Option<Vec<Template>>,
    #[serde(default)]
    pub does_not_mean: Option<Vec<Template>>,
    #[serde(default)]
    pub suggestions: Option<Vec<String>>,
}

impl TextOverride {
    /// Every template of the override, for the load's checks.
    pub fn templates(&self) -> impl Iterator<Item = &Template> {
        self.card_do
            .iter()
            .flatten()
            .chain(self.card_why.iter().flatten())
            .chain(&self.card_not_mean)
            .chain(self.why.iter().flatten())
            .chain(self.what_to_do.iter().flatten())
            .chain(self.does_not_mean.iter().flatten())
    }

    /// `card` with this override's parts in place of its own.
    pub fn apply(&self, card: &RuleCard) -> RuleCard {
        let mut out = card.clone();
        let pick = |o: &Option<Vec<Template>>, own: &mut Vec<Template>| {
            if let Some(v) = o {
                own.clone_from(v);
            }
        };
        pick(&self.card_do, &mut out.card_do);
        pick(&self.card_why, &mut out.card_why);
        pick(&self.why, &mut out.why);
        pick(&self.what_to_do, &mut out.what_to_do);
        pick(&self.does_not_mean, &mut out.does_not_mean);
        if let Some(t) = &self.card_not_mean {
            out.card_not_mean = t.clone();
        }
        if let Some(s) = &self.suggestions {
            out.suggestions.clone_from(s);
        }
        out
    }
}
