//! The card templates: the text of each rule's card and each modifier (`cards.toml`), the
//! orderables its buttons create (`orderables.toml`), and the checks a template must pass at
//! load (known placeholders only, summaries under 140 characters, orderables that exist).
//!
//! Loading ([`crate::load`]) reads the files into these types; rendering ([`crate::render`])
//! fills them.

use std::collections::{BTreeMap, HashMap};

use gravida_rules::RuleId;
use serde::Deserialize;

use crate::error::Problems;
use crate::systems::KNOWN_SYSTEMS;

mod text_override;
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

/// Every modifier key `cards.toml` must define.
pub const MODIFIER_KEYS: &[&str] = &[
    "alloimmunised",
    "anti_d_given",
    "anti_d_ordered",
    "anticoagulant",
    "bleed_date_from_recorded",
    "bleed_date_unknown",
    "bleed_not_light",
    "date_before_pregnancy",
    "date_before_pregnancy_more",
    "date_in_future",
    "date_in_future_more",
    "diagnosed_in_this_pregnancy",
    "done_today_hcg",
    "done_today_ultrasound",
    "gtd_appearance",
    "gtd_hcg",
    "hcg_adequate_rise",
    "hcg_bound",
    "hcg_fall",
    "hcg_last",
    "hcg_nice_between",
    "hcg_nice_fall",
    "hcg_nice_rise",
    "hcg_readings_differ",
    "hcg_result_pending",
    "hcg_slow_fall",
    "hcg_slow_rise",
    "heavy_bleeding",
    "impossible_ga",
    "impossible_ga_more",
    "kleihauer_betke",
    "label_doubtful",
    "label_implausible",
    "methotrexate_other_indication",
    "not_interpreted",
    "placenta_not_located",
    "previa_documented",
    "progesterone_order",
    "pul_resolved",
    "redated",
    "ga_range_art",
    "ga_range_edd",
    "ga_range_ga",
    "ga_range_lmp",
    "ga_range_ultrasound",
    "refused_record",
    "refused_records",
    "rh_negative_on_record",
    "rh_positive_on_record",
    "rh_result_pending",
    "rh_unknown",
    "rh_unreadable",
    "rh_variant",
    "risk_art",
    "risk_iud",
    "risk_prior_ectopic",
    "ruptured_ectopic_possible",
    "sru_live",
    "sru_no_ultrasound",
    "sru_not_met",
    "start_in_future",
    "start_in_future_more",
    "subchorionic_hematoma",
    "suspected_ectopic",
    "suspected_loss",
    "suspected_molar",
    "unavailable_encounters",
    "unavailable_hcg",
    "unavailable_medications",
    "unavailable_procedures",
    "unavailable_rh_type",
    "unavailable_ultrasound",
    "unavailable_vital_signs",
    "unreadable_record",
    "unreadable_record_more",
    "unreadable_vital_sign",
    "unreadable_vital_sign_more",
    "vasa_previa",
    "vital_heart_rate",
    "vital_shock_index",
    "vital_systolic_bp",
];

/// Variant summaries a rule may define, by rule.
const VARIANTS: &[(&str, &str)] = &[
    ("R2", "after_pul"),
    ("R2", "after_pul_no_hcg"),
    ("R2R", "qualitative"),
    ("R3", "label_doubtful"),
    ("R4", "not_light"),
    ("R6", "documented_iup"),
    ("R6", "other_indication"),
    ("R9", "previa_documented"),
    ("R14", "previa_documented"),
    ("R9", "vasa_previa"),
    ("R14", "vasa_previa"),
    ("R16", "for_loss"),
    ("R16", "unidentified_order"),
];

/// Placeholders allowed in summaries, with the longest value each can take. Dates only as the
/// card's body writes them (`9 Nov`, `9 Nov 2025`): never an ISO date in a headline.
const SUMMARY_PLACEHOLDERS: &[(&str, &str)] = &[
    ("ga", "40w6d"),
    ("bleed_day", "31 Dec 2025"),
    ("iup_day", "31 Dec 2025"),
    // R16's drug: a profile term of at most 27 characters, or "Misoprostol or mifepristone".
    ("drug", "Misoprostol or mifepristone"),
    // R2R's negative test: its day.
    ("resolved_day", "31 Dec 2025"),
];

/// Placeholders allowed in detail text.
const DETAIL_PLACEHOLDERS: &[&str] = &[
    "ga",
    "bleed_date",
    "iup_date",
    "rhig_window_weeks",
    "hcg_change",
    "hcg_minimum",
    "redate_days",
    "record",
    "field",
    "order",
    "bleed_text",
    "bleed_kind",
    "bleed_record",
    "bleed_day",
    "iup_day",
    "dating_day",
    "dating",
    "record_date",
    "edd",
    "lmp",
    "refused",
    "bound",
    "hcg_direction",
    "nice_fall",
    "nice_rise",
    "vital_time",
    "vital_value",
    "more",
    "previa_day",
    "previa_date",
    "vasa_day",
    "vasa_date",
    "drug",
    "rh_day",
    "rh_date",
    "hcg_last",
    "hcg_last_day",
    "hcg_last_date",
    "range_written",
    "ga_low",
    "ga_high",
    "resolved_day",
    "resolved_date",
    "resolved_value",
];

// ----- Templates -----------------------------------------------------------------------------

/// A card text compiled at load: its literal text and its `{name}` slots, in order, so that
/// rendering fills the slots without reading the text for braces again.
///
/// A slot is what stands between a `{` and the next `}`. A `{` with no `}` after it is kept as
/// text; the load refuses such a template (see [`Template::unclosed`]), so none reaches a card.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(from = "String")]
pub struct Template {
    /// The text as written in `cards.toml`.
    text: String,
    parts: Vec<Part>,
}

/// A piece of a [`Template`].
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Slot(String),
}

impl From<String> for Template {
    fn from(text: String) -> Template {
        let mut parts = Vec::new();
        let mut rest = text.as_str();
        while let Some(open) = rest.find('{') {
            let after = &rest[open + 1..];
            let Some(close) = after.find('}') else {
                // Unclosed: the rest, brace included, is text.
                break;
            };
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_owned()));
            }
            parts.push(Part::Slot(after[..close].to_owned()));
            rest = &after[close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_owned()));
        }
        Template { text, parts }
    }
}

impl From<&str> for Template {
    fn from(text: &str) -> Template {
        Template::from(text.to_owned())
    }
}

impl Template {
    /// The text as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The names of the slots, in order.
    pub fn slots(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|part| match part {
            Part::Slot(name) => Some(name.as_str()),
            Part::Text(_) => None,
        })
    }

    /// What is wrong when a `{` is never closed. Text before a slot holds no `{` (a slot starts
    /// at the first one), so only the text after the last slot can hold an unclosed one.
    pub fn unclosed(&self) -> Option<String> {
        match self.parts.last() {
            Some(Part::Text(text)) if text.contains('{') => {
                Some(format!("unclosed '{{' in {:?}", self.text))
            }
            _ => None,
        }
    }
}

/// The template with each slot replaced by its value; a slot without a value is left as it is
/// written (`{name}`; every slot is checked at load).
///
/// One pass, left to right: a value is copied as it is and never read for slots, so chart text
/// holding `{summary}` or `{{ga}}` cannot be expanded (values are escaped as well, see
/// [`crate::render::markdown`]).
pub fn fill(template: &Template, values: &HashMap<&str, String>) -> String {
    let mut out = String::with_capacity(template.text.len() + 32);
    for part in &template.parts {
        match part {
            Part::Text(text) => out.push_str(text),
            Part::Slot(name) => match values.get(name.as_str()) {
                Some(value) => out.push_str(value),
                None => {
                    out.push('{');
                    out.push_str(name);
                    out.push('}');
                }
            },
        }
    }
    out
}

// ----- Checks at load ----------------------------------------------------------------------------

fn check_template(
    file: &str,
    what: &str,
    template: &Template,
    allowed: &[&str],
    problems: &mut Problems,
) {
    if let Some(e) = template.unclosed() {
        problems.add(file, format!("{what}: {e}"));
        return;
    }
    for name in template.slots() {
        if !allowed.contains(&name) {
            problems.add(file, format!("{what}: unknown placeholder {{{name}}}"));
        }
    }
}

fn check_summary(rule: &str, what: &str, template: &Template, problems: &mut Problems) {
    let file = "cards.toml";
    let allowed: Vec<&str> = SUMMARY_PLACEHOLDERS.iter().map(|(n, _)| *n).collect();
    check_template(
        file,
        &format!("{rule} {what}"),
        template,
        &allowed,
        problems,
    );
    let longest: HashMap<&str, String> = SUMMARY_PLACEHOLDERS
        .iter()
        .map(|(n, v)| (*n, v.to_string()))
        .collect();
    let filled = fill(template, &longest);
    let chars = filled.chars().count();
    if chars >= gravida_cds_hooks::response::SUMMARY_MAX_CHARS {
        problems.add(
            file,
            format!(
                "{rule} {what} has {chars} characters after substitution; it must be under 140"
            ),
        );
    }
}

pub(crate) fn check_cards(
    cards: &CardsToml,
    orderables: &BTreeMap<String, Orderable>,
    problems: &mut Problems,
) {
    let file = "cards.toml";
    for rule in RuleId::CARD_RULES {
        if !cards.rules.contains_key(rule.as_str()) {
            problems.add(file, format!("rule {rule} has no card template"));
        }
    }
    let card_rules: Vec<&str> = RuleId::CARD_RULES.iter().map(|r| r.as_str()).collect();
    for (name, card) in &cards.rules {
        if !card_rules.contains(&name.as_str()) {
            problems.add(file, format!("rules.{name} is not a rule that has a card"));
        }
        check_summary(name, "summary", &card.summary, problems);
        for (variant, summary) in &card.variants {
            if !VARIANTS.contains(&(name.as_str(), variant.as_str())) {
                problems.add(file, format!("{name} has an unknown variant {variant}"));
            }
            check_summary(name, &format!("variant {variant}"), summary, problems);
        }
        for (variant, text) in &card.variant_text {
            if !VARIANTS.contains(&(name.as_str(), variant.as_str())) {
                problems.add(
                    file,
                    format!("{name} has text for an unknown variant {variant}"),
                );
            }
            if text
                .card_do
                .as_ref()
                .is_some_and(|d| d.is_empty() || d.len() > 3)
            {
                problems.add(
                    file,
                    format!("{name} variant {variant} needs one to three card_do lines"),
                );
            }
        }
        for text in card.variant_text.values().chain(&card.escalated) {
            for t in text.templates() {
                check_template(file, name, t, DETAIL_PLACEHOLDERS, problems);
            }
            for key in text.suggestions.iter().flatten() {
                if !orderables.contains_key(key) {
                    problems.add(file, format!("{name} suggests unknown orderable {key}"));
                }
            }
        }
        for text in card
            .why
            .iter()
            .chain(&card.what_to_do)
            .chain(&card.does_not_mean)
            .chain(&card.card_do)
            .chain(&card.card_why)
            .chain(std::iter::once(&card.card_not_mean))
            .chain(&card.card_folded)
        {
            check_template(file, name, text, DETAIL_PLACEHOLDERS, problems);
        }
        if card.card_do.is_empty() || card.card_do.len() > 3 {
            problems.add(
                file,
                format!("{name} needs one to three card_do lines (what to do, first on the card)"),
            );
        }
        if card.why.is_empty() || card.what_to_do.is_empty() || card.does_not_mean.is_empty() {
            problems.add(
                file,
                format!("{name} needs why, what_to_do and does_not_mean text"),
            );
        }
        for key in card
            .suggestions
            .iter()
            .chain(&card.suggestions_if_rh_unknown)
        {
            if !orderables.contains_key(key) {
                problems.add(file, format!("{name} suggests unknown orderable {key}"));
            }
        }
        if card.source_label.trim().is_empty() {
            problems.add(file, format!("{name} has no source_label"));
        }
        // The URLs themselves are held to the allow-list by `crate::source_urls`.
        for link in &card.links {
            if link.label.trim().is_empty() {
                problems.add(file, format!("{name} has a link without a label"));
            }
        }
    }
    for rule in ["R6", "R16"] {
        if cards
            .rules
            .get(rule)
            .is_some_and(|c| c.delete_label.is_none())
        {
            problems.add(file, format!("{rule} needs a delete_label"));
        }
    }
    for key in MODIFIER_KEYS {
        match cards.modifiers.get(*key) {
            None => problems.add(file, format!("modifier {key} has no text")),
            Some(m) => {
                if m.why.is_none() && m.what_to_do.is_none() {
                    problems.add(file, format!("modifier {key} needs why or what_to_do"));
                }
                for text in m
                    .why
                    .iter()
                    .chain(&m.what_to_do)
                    .chain(&m.card_why)
                    .chain(&m.card_do)
                {
                    check_template(file, key, text, DETAIL_PLACEHOLDERS, problems);
                }
                for orderable in &m.suggestions {
                    if !orderables.contains_key(orderable) {
                        problems.add(
                            file,
                            format!("modifier {key} suggests unknown orderable {orderable}"),
                        );
                    }
                }
            }
        }
    }
    for key in cards.modifiers.keys() {
        if !MODIFIER_KEYS.contains(&key.as_str()) {
            problems.add(file, format!("unknown modifier {key}"));
        }
    }
    if cards.override_reasons.is_empty() {
        problems.add(file, "no override_reasons");
    }
    for reason in &cards.override_reasons {
        if reason.system.is_empty() || reason.code.is_empty() {
            problems.add(file, "override reason with an empty system or code");
        }
        if reason
            .display
            .as_deref()
            .is_none_or(|d| d.trim().is_empty())
        {
            problems.add(
                file,
                format!("override reason {} has no display", reason.code),
            );
        }
    }
    let f = &cards.facts;
    for text in [
        &f.bleed,
        &f.bleed_undated,
        &f.dated,
        &f.undated,
        &f.iup_documented,
        &f.pul,
        &f.pul_late,
        &f.no_ultrasound,
        &f.dating_art,
        &f.dating_edd,
        &f.dating_ultrasound,
        &f.dating_lmp,
        &f.dating_ga,
        &f.card_bleed,
        &f.card_bleed_undated,
        &f.card_dated,
        &f.card_undated,
        &f.card_iup_documented,
        &f.card_pul,
        &f.card_pul_late,
        &f.card_no_ultrasound,
    ] {
        check_template(file, "facts", text, DETAIL_PLACEHOLDERS, problems);
    }
}

pub(crate) fn check_orderables(orderables: &BTreeMap<String, Orderable>, problems: &mut Problems) {
    let file = "orderables.toml";
    for (key, o) in orderables {
        if o.label.trim().is_empty() || o.text.trim().is_empty() {
            problems.add(file, format!("{key} needs a label and a text"));
        }
        if !matches!(o.intent.as_str(), "proposal" | "plan" | "order") {
            problems.add(
                file,
                format!("{key} intent {:?} is not proposal, plan or order", o.intent),
            );
        }
        if o.codes.is_empty() {
            problems.add(file, format!("{key} has no codes"));
        }
        if o.action_selection_behavior.is_some() && o.with.is_empty() {
            problems.add(
                file,
                format!("{key}: action_selection_behavior needs several orders (`with`)"),
            );
        }
        for other in &o.with {
            if other == key || !orderables.contains_key(other) {
                problems.add(
                    file,
                    format!("{key} is also to create unknown orderable {other}"),
                );
            }
        }
        if let Some(shared) = &o.shares_with {
            if shared.orderable == *key || !orderables.contains_key(&shared.orderable) {
                problems.add(
                    file,
                    format!(
                        "{key} is to share a button with unknown orderable {}",
                        shared.orderable
                    ),
                );
            }
            if shared.label.trim().is_empty() {
                problems.add(file, format!("{key}: a shared button needs a label"));
            }
        }
        for code in &o.codes {
            if !KNOWN_SYSTEMS.contains(&code.system.as_str()) {
                problems.add(file, format!("{key}: unknown code system {}", code.system));
            }
            if code.code.trim().is_empty() {
                problems.add(file, format!("{key}: empty code"));
            }
        }
        if !matches!(
            o.resource.as_deref(),
            None | Some("ServiceRequest" | "MedicationRequest")
        ) {
            problems.add(
                file,
                format!("{key}: resource must be ServiceRequest or MedicationRequest"),
            );
        }
        if o.dosage.is_some() && o.resource.as_deref() != Some("MedicationRequest") {
            problems.add(
                file,
                format!("{key}: dosage is for a MedicationRequest only"),
            );
        }
        if o.occurrence_offset_hours
            .is_some_and(|h| !(0..=24 * 14).contains(&h))
        {
            problems.add(file, format!("{key}: occurrence_offset_hours out of range"));
        }
    }
}
