//! The checks a profile's card text and orderables must pass at load: every card rule and
//! modifier has its text, each text names only the placeholders allowed where it is used, a
//! summary stays under 140 characters with the longest values, and every orderable a card
//! names exists, with codes from known systems.

use std::collections::BTreeMap;

use gravida_rules::RuleId;

use super::{CardsToml, Orderable, Template, fill};
use crate::error::Problems;
use crate::systems::KNOWN_SYSTEMS;

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
    let longest: super::Values<'_> = SUMMARY_PLACEHOLDERS
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
