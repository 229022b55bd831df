//! Rendering findings as CDS Hooks cards, from the profile's templates.
//!
//! A card is short (issue 17): its detail opens with what to do (the template's `card_do`, then
//! the modifiers' steps), then **Why** (the bleed as a clinician knows the record, how the
//! pregnancy was dated, the reason, the modifiers' reasons), then what the card does not mean;
//! at most [`MAX_SUGGESTIONS`] buttons unless it is critical; R4, R8 and R10 beside a main
//! bleeding card are folded into it as one line. The full reasoning (**Why**, **What to do**,
//! **What this card does not mean**, the records used) goes to the card's long form through the
//! [`REASONING_EXTENSION`]. Suggestions create draft `ServiceRequest`s from `orderables.toml`
//! (one button may create several: `with`; two paired orderables share one rather than lose one
//! to the cap: `shares_with`, `render/buttons.rs`), or (R6) delete the draft methotrexate order.
//!
//! Each card comes back with the finding it renders, and the rules folded into it
//! ([`Rendered`]), so that nothing after the rendering reads the rule back out of the card.
//!
//! Chart text never enters a card as it was charted. Templates are filled in one pass (`fill`
//! does not read a value a second time) and every value taken from the chart (record text,
//! resource types and ids) goes through a [`Quote`]: [`markdown::escape_inline`] for the
//! Markdown `detail`, [`markdown::plain_inline`] for the plain-text `summary`. Values the service
//! computes itself (GA, dates, day counts, percentages) are not chart text and are not quoted;
//! a number that is not finite is shown as [`UNREADABLE_NUMBER`], never as `NaN` or `inf`.

mod buttons;
mod detail;
pub mod markdown;
mod modifiers;
mod reasoning;
mod record_days;
mod values;
mod variant;
pub mod words;

use gravida_cds_hooks::{
    Action, Card, Coding, Indicator, Link, SelectionBehavior, Source, Suggestion,
};
use gravida_rules::facts::PatientFacts;
use gravida_rules::{Finding, RuleId};
use serde_json::Value;
use time::OffsetDateTime;

use crate::load::Profile;
use crate::templates::{RuleCard, Values, fill};
use buttons::suggestion_keys;
use detail::short_detail;
pub use modifiers::{CARD_NAMED, LONG_FORM_NAMED};
pub(crate) use modifiers::{modifier_key, more_key};
use reasoning::{LongForm, long_detail, long_form};
// The crate's tests read percentages as the cards write them.
#[cfg(test)]
pub(crate) use values::percent;
use values::values;

/// The code system of `source.topic`: the rule that produced a card.
pub const RULE_SYSTEM: &str = "urn:gravida:rule";

fn indicator(i: gravida_rules::Indicator) -> Indicator {
    match i {
        gravida_rules::Indicator::Info => Indicator::Info,
        gravida_rules::Indicator::Warning => Indicator::Warning,
        gravida_rules::Indicator::Critical => Indicator::Critical,
    }
}

/// How a computed number that is not finite (`NaN`, infinite) is shown on a card.
pub const UNREADABLE_NUMBER: &str = "an unreadable value";

/// How chart text is made safe for the text it goes into (Markdown detail or plain summary).
type Quote = fn(&str) -> String;

/// The plain-text summary. Its placeholders are limited at load to computed values (GA, dates);
/// `v` holds chart text only as [`markdown::plain_inline`] made it.
fn summary(card: &RuleCard, finding: &Finding, v: &Values<'_>) -> String {
    let variant = variant::variant_of(finding).and_then(|name| card.variants.get(name));
    fill(variant.unwrap_or(&card.summary), v)
}

/// A finding folded into another card (R4, R8 or R10 beside a main bleeding card): its one
/// line on the card, its full reasoning for the long form, and its suggestions.
#[derive(Debug)]
struct Folded {
    rule: RuleId,
    line: String,
    summary: String,
    reasoning: LongForm,
    suggestions: Vec<String>,
}

/// The card's `extension`: the knowledge profile (name and content hash) that made it. CDS Hooks
/// 2.0 lets a service put its own data there; the key is namespaced so that no client mistakes it.
fn profile_extension(version: &str) -> serde_json::Map<String, Value> {
    let mut extension = serde_json::Map::new();
    extension.insert(
        "org.gravida.profile".to_owned(),
        Value::String(version.to_owned()),
    );
    extension
}

fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Buttons a card shows in the common case (issue 17): the most useful first, the rest in the
/// text and the long form. A critical card shows every emergency step it has.
pub const MAX_SUGGESTIONS: usize = 3;

/// Findings a main bleeding card takes in as one line rather than standing beside it.
const FOLDABLE: [RuleId; 3] = [RuleId::R4, RuleId::R8, RuleId::R10];

/// A card with the finding it renders. What follows the rendering (suppression, the long form,
/// the audit trail, the metrics) takes the rule and the indicator from the finding, never back
/// out of the card.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub card: Card,
    /// The finding the card renders: its rule is the card's `source.topic`, its indicator the
    /// card's.
    pub finding: Finding,
    /// The findings folded into the card, one line each (R4, R8 or R10 beside a main bleeding
    /// card), by rule. Their words and buttons are on the card; their records are not in
    /// `finding`.
    pub folded: Vec<RuleId>,
}

/// Renders the engine's findings as cards, highest indicator first, folding R4, R8 and R10
/// into the main bleeding card when there is one. Cards about something else than the bleed's
/// work-up (R6 the methotrexate order, R15 progesterone, R16 the abortifacient order, D1 the data
/// note) are never hosts.
/// With no other bleeding card, R4 (else R8, else R10) is the host of the others.
pub fn cards(
    profile: &Profile,
    version: &str,
    findings: &[Finding],
    facts: &PatientFacts,
    patient_id: &str,
    now: OffsetDateTime,
) -> Vec<Rendered> {
    let bleeding_main = |f: &Finding| {
        !FOLDABLE.contains(&f.rule)
            && !matches!(
                f.rule,
                RuleId::R2R | RuleId::R6 | RuleId::R15 | RuleId::R16 | RuleId::D1
            )
    };
    let host = findings.iter().position(bleeding_main).or_else(|| {
        // R4 (the bleed in a documented pregnancy) before R8 and R10, whatever their order.
        FOLDABLE
            .iter()
            .find_map(|rule| findings.iter().position(|f| f.rule == *rule))
    });
    let folds_into_host =
        |i: usize, f: &Finding| FOLDABLE.contains(&f.rule) && host.is_some_and(|h| h != i);
    let folded: Vec<Folded> = findings
        .iter()
        .enumerate()
        .filter(|(i, f)| folds_into_host(*i, f))
        .filter_map(|(_, f)| fold(profile, f, facts, now))
        .collect();
    findings
        .iter()
        .enumerate()
        .filter(|(i, f)| !folds_into_host(*i, f))
        .filter_map(|(i, f)| {
            let with: &[Folded] = if Some(i) == host { &folded } else { &[] };
            let card = card_with(profile, version, f, with, facts, patient_id, now)?;
            Some(Rendered {
                card,
                finding: f.clone(),
                folded: with.iter().map(|folded| folded.rule).collect(),
            })
        })
        .collect()
}

/// What a folded finding brings to its host card.
fn fold(
    profile: &Profile,
    finding: &Finding,
    facts: &PatientFacts,
    now: OffsetDateTime,
) -> Option<Folded> {
    let template = variant::text_for(profile.cards.rules.get(finding.rule.as_str())?, finding);
    let template = template.as_ref();
    let v = values(profile, finding, facts, markdown::escape_inline, now);
    let summary = summary(
        template,
        finding,
        &values(profile, finding, facts, markdown::plain_inline, now),
    );
    Some(Folded {
        rule: finding.rule,
        line: fill(
            template.card_folded.as_ref().unwrap_or(&template.summary),
            &v,
        ),
        summary,
        reasoning: long_detail(profile, template, finding, facts, &v),
        suggestions: suggestion_keys(profile, template, finding),
    })
}

/// Renders one finding as a card on its own. `None` only if the rule has no template
/// (prevented at load).
pub fn card(
    profile: &Profile,
    version: &str,
    finding: &Finding,
    facts: &PatientFacts,
    patient_id: &str,
    now: OffsetDateTime,
) -> Option<Rendered> {
    let card = card_with(profile, version, finding, &[], facts, patient_id, now)?;
    Some(Rendered {
        card,
        finding: finding.clone(),
        folded: Vec::new(),
    })
}

/// The card's extension key holding its full reasoning (Markdown), which the server moves to
/// the card's long form (`GET /cards/{id}`) before the card is sent.
pub const REASONING_EXTENSION: &str = "org.gravida.reasoning";

fn card_with(
    profile: &Profile,
    version: &str,
    finding: &Finding,
    folded: &[Folded],
    facts: &PatientFacts,
    patient_id: &str,
    now: OffsetDateTime,
) -> Option<Card> {
    let template = variant::text_for(profile.cards.rules.get(finding.rule.as_str())?, finding);
    let template = template.as_ref();
    // The summary is plain text (punctuation kept); the detail is Markdown (punctuation escaped).
    let summary = summary(
        template,
        finding,
        &values(profile, finding, facts, markdown::plain_inline, now),
    );
    let v = values(profile, finding, facts, markdown::escape_inline, now);
    let detail = short_detail(profile, template, finding, folded, facts, &v, now);
    let reasoning = long_form(
        profile,
        long_detail(profile, template, finding, facts, &v),
        folded,
    );
    // The label is what the physician reads: who says it and on what authority. Which profile
    // version said it is for the audit, `/readyz` and the card's extension, not for the label.
    let source = Source::new(format!(
        "{} · {}",
        profile.cards.source.label, template.source_label
    ))
    .with_url(template.source_url.clone())
    .with_topic(
        Coding::new(RULE_SYSTEM, finding.rule.as_str()).with_display(match finding.rule {
            RuleId::D1 => "Gravida data-problem note D1".to_string(),
            rule => format!("Gravida decision table row {rule}"),
        }),
    );

    let mut keys = suggestion_keys(profile, template, finding);
    for f in folded {
        keys.extend(f.suggestions.iter().cloned());
    }
    let mut seen = std::collections::BTreeSet::new();
    keys.retain(|key| seen.insert(key.clone()));
    let mut suggestions = buttons::suggestions(profile, &keys, finding, facts, patient_id, now);
    if let (Some((kind, id)), Some(label)) = (&finding.draft_order, &template.delete_label) {
        suggestions.push(
            Suggestion::new(label.clone())
                .with_uuid(uuid())
                .recommended(true)
                // The resource id of the action is a reference for the EHR, not text shown: raw.
                .with_action(Action::delete(label.clone(), format!("{kind}/{id}"))),
        );
    }

    let mut extension = profile_extension(version);
    extension.insert(REASONING_EXTENSION.to_owned(), Value::String(reasoning));
    let build = |summary: String, with_suggestions: bool| {
        let mut b = Card::builder(summary, indicator(finding.indicator), source.clone())
            .uuid(uuid())
            .detail(detail.clone())
            .extension(extension.clone());
        if with_suggestions && !suggestions.is_empty() {
            b = b.selection_behavior(SelectionBehavior::Any);
            for s in &suggestions {
                b = b.suggestion(s.clone());
            }
        }
        for link in &template.links {
            b = b.link(Link::absolute(link.label.clone(), link.url.clone()));
        }
        for r in &profile.cards.override_reasons {
            let mut c = Coding::new(r.system.clone(), r.code.clone());
            if let Some(d) = &r.display {
                c = c.with_display(d.clone());
            }
            b = b.override_reason(c);
        }
        b.build()
    };
    match build(summary.clone(), true) {
        Ok(card) => Some(card),
        // The profile checks summaries with worst-case values, so this is a last resort that
        // still shows the clinician the advice rather than dropping it.
        Err(_) => {
            let short: String = summary.chars().take(130).collect();
            build(format!("{short}…"), false).ok()
        }
    }
}
