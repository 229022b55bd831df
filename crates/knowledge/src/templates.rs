//! The card templates: the text of each rule's card and each modifier (`cards.toml`), the
//! orderables its buttons create (`orderables.toml`), and the checks a template must pass at
//! load (known placeholders only, summaries under 140 characters, orderables that exist).
//!
//! Loading ([`crate::load`]) reads the files into these types; rendering ([`crate::render`])
//! fills them. Each text is compiled at load (`templates/compiled.rs`, [`Template`]); the checks
//! are `templates/checks.rs`.

use std::collections::BTreeMap;

use serde::Deserialize;

mod checks;
mod compiled;
mod text_override;
pub use checks::MODIFIER_KEYS;
pub(crate) use checks::{check_cards, check_orderables};
pub use compiled::{Template, Values, fill, fill_over};
pub use text_override::TextOverride;

/// A coding in TOML (orderables, override reasons).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodingToml {
    pub system: String,
    pub code: String,
    pub display: Option<String>,
}

/// One orderable: the draft ServiceRequest a suggestion creates.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Orderable {
    pub label: String,
    pub text: String,
    pub intent: String,
    pub codes: Vec<CodingToml>,
    #[serde(default)]
    pub occurrence_offset_hours: Option<i64>,
    #[serde(default)]
    pub note: Option<String>,
    /// The resource the suggestion creates: `ServiceRequest` (default) or `MedicationRequest`
    /// (R15's progesterone), whose `codes` are the medication's.
    #[serde(default)]
    pub resource: Option<String>,
    /// A MedicationRequest's `dosageInstruction` text.
    #[serde(default)]
    pub dosage: Option<String>,
    /// Orderables the same button also creates (one button, "hCG now and in 48 h", for two
    /// orders), so that a card needs no more than three buttons.
    #[serde(default)]
    pub with: Vec<String>,
    /// Another orderable this one shares a button with when the three-button cap would drop
    /// either (CBC with ABO/Rh type: "Order CBC and ABO/Rh type", both orders).
    #[serde(default)]
    pub shares_with: Option<SharesWith>,
    /// For a button that creates several orders: which of them the clinician may take
    /// (`"all"`, `"any"`, `"at-most-one"`; CDS Hooks 3.0.0 `actionSelectionBehavior`). Sent
    /// only to EHRs that declare support for it (`[[auth.issuers]] action_selection_behavior`).
    #[serde(default)]
    pub action_selection_behavior: Option<gravida_cds_hooks::ActionSelectionBehavior>,
    /// The test this order repeats when it is on record today: the button leaves it out
    /// (knowledge.md §3.6 item 16).
    #[serde(default)]
    pub done_today: Option<DoneToday>,
}

/// The orderable an orderable shares a button with, and the shared button's label
/// (`orderables.toml` `shares_with`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SharesWith {
    pub orderable: String,
    pub label: String,
}

/// A test an orderable repeats (`orderables.toml` `done_today`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DoneToday {
    Ultrasound,
    Hcg,
}

impl DoneToday {
    /// The engine's name of the same test.
    pub fn engine(self) -> gravida_rules::Done {
        match self {
            DoneToday::Ultrasound => gravida_rules::Done::Ultrasound,
            DoneToday::Hcg => gravida_rules::Done::Hcg,
        }
    }
}

/// A link a card carries to a guideline it cites (knowledge.md §3.5 item 17).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkToml {
    pub label: String,
    pub url: String,
}

/// The card text of one rule: templates, compiled at load, and the keys of its buttons.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleCard {
    pub summary: Template,
    #[serde(default)]
    pub variants: BTreeMap<String, Template>,
    pub why: Vec<Template>,
    pub what_to_do: Vec<Template>,
    pub does_not_mean: Vec<Template>,
    pub suggestions: Vec<String>,
    pub suggestions_if_rh_unknown: Vec<String>,
    #[serde(default)]
    pub delete_label: Option<String>,
    pub source_label: String,
    pub source_url: String,
    /// Further guidelines the card cites, as links.
    #[serde(default)]
    pub links: Vec<LinkToml>,
    /// The short card (issue 17): its first lines, what to do (at most three). The full
    /// `why`/`what_to_do`/`does_not_mean` go to the card's long form.
    pub card_do: Vec<Template>,
    /// The short card's reason, after the facts.
    pub card_why: Vec<Template>,
    /// The short card's "what this card does not mean", one sentence.
    pub card_not_mean: Template,
    /// R4, R8 and R10: the one line this card becomes when it is folded into another bleeding
    /// card instead of being shown beside it.
    #[serde(default)]
    pub card_folded: Option<Template>,
    /// Text that replaces the rule's own when one of its variants applies (the same keys as
    /// `variants`): R6 with a documented intrauterine pregnancy must never say "until a normal
    /// intrauterine pregnancy is excluded", R9 with a previa documented never "no placental
    /// location is documented" (knowledge.md §3.6 W1, W5, W10).
    #[serde(default)]
    pub variant_text: BTreeMap<String, TextOverride>,
    /// What this rule's card contributes when R2E escalates it (knowledge.md §3.6 W2): by
    /// default its own steps and buttons; an unstable patient gets no 48-hour hCG plan.
    #[serde(default)]
    pub escalated: Option<TextOverride>,
}

/// Text a modifier adds to a card.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModifierText {
    #[serde(default)]
    pub why: Option<Template>,
    #[serde(default)]
    pub what_to_do: Option<Template>,
    /// Orderables the modifier adds to the card's suggestions (e.g. Kleihauer–Betke when RhD
    /// negative, R14).
    #[serde(default)]
    pub suggestions: Vec<String>,
    /// The modifier's words on the short card: `card_why` among the reasons, `card_do` among
    /// the steps. Absent: the full `why` / `what_to_do` is used (so a new modifier is never
    /// silently left off the card); empty (`""`): the text is in the long form only.
    #[serde(default)]
    pub card_why: Option<Template>,
    #[serde(default)]
    pub card_do: Option<Template>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceToml {
    pub label: String,
}

/// Sentences built from the records found.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FactsText {
    pub bleed: Template,
    pub bleed_undated: Template,
    pub dated: Template,
    pub undated: Template,
    pub iup_documented: Template,
    pub pul: Template,
    /// `pul` from 14w0d or at an unknown GA: without "pregnancy of unknown location".
    pub pul_late: Template,
    pub no_ultrasound: Template,
    pub dating_art: Template,
    pub dating_edd: Template,
    pub dating_ultrasound: Template,
    pub dating_lmp: Template,
    pub dating_ga: Template,
    /// The short card's facts: the bleed as a clinician knows it, its day, the GA and the dating.
    pub card_bleed: Template,
    pub card_bleed_undated: Template,
    pub card_dated: Template,
    pub card_undated: Template,
    pub card_iup_documented: Template,
    pub card_pul: Template,
    pub card_pul_late: Template,
    pub card_no_ultrasound: Template,
}

/// `cards.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardsToml {
    pub closing: String,
    /// The hosts a card's `source_url` and links may point to (checked by
    /// `crate::source_urls`): publishers, doi.org and the PubMed record.
    pub allowed_source_hosts: Vec<String>,
    pub source: SourceToml,
    pub override_reasons: Vec<CodingToml>,
    pub facts: FactsText,
    pub rules: BTreeMap<String, RuleCard>,
    pub modifiers: BTreeMap<String, ModifierText>,
}
