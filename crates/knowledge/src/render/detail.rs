//! The short card's detail (issue 17): what to do first, then **Why** (the bleed as a clinician
//! knows it, the dating, the reason, the modifiers' reasons), then what the card does not mean.

use gravida_rules::facts::PatientFacts;
use gravida_rules::{Finding, IupStatus, RuleId};
use time::OffsetDateTime;

use super::Folded;
use super::modifiers::{CARD_NAMED, said, said_text};
use super::variant::escalated_template;
use super::words::DateForm;
use crate::load::Profile;
use crate::templates::{RuleCard, Values, fill, fill_over};

/// Adds `line` to `steps` unless a step already says it ("CBC." after "CBC; type and
/// crossmatch.").
pub(super) fn push_step(steps: &mut Vec<String>, line: String) {
    let said = steps
        .iter()
        .any(|step| step.starts_with(line.trim_end_matches('.')));
    if !said && !line.trim().is_empty() {
        steps.push(line);
    }
}

/// The short card's facts: the bleed as a clinician knows it and its day, how the pregnancy
/// was dated, and (before 14 weeks, or when undated) what the ultrasound shows.
fn card_fact_lines(profile: &Profile, finding: &Finding, v: &Values<'_>) -> Vec<String> {
    let t = &profile.cards.facts;
    let early_max = profile.rules.thresholds.early_window_max_days;
    let location = || {
        fill(
            match finding.iup {
                IupStatus::Documented(_) => &t.card_iup_documented,
                IupStatus::Pul if finding.ga.is_some_and(|g| g.days() <= early_max) => &t.card_pul,
                IupStatus::Pul => &t.card_pul_late,
                IupStatus::NoUltrasound => &t.card_no_ultrasound,
            },
            v,
        )
    };
    match finding.rule {
        RuleId::D1 => Vec::new(),
        RuleId::R6 | RuleId::R16 | RuleId::R2R => vec![location()],
        _ => {
            let mut lines = vec![
                fill(
                    if finding.bleed_date.is_some() && v.contains_key("bleed_record") {
                        &t.card_bleed
                    } else {
                        &t.card_bleed_undated
                    },
                    v,
                ),
                fill(
                    if finding.dating.is_some() {
                        &t.card_dated
                    } else {
                        &t.card_undated
                    },
                    v,
                ),
            ];
            // Beyond 14 weeks where the pregnancy is matters less than the placenta; the long
            // form still says it.
            if finding.ga.is_none_or(|g| g.days() <= early_max) {
                lines.push(location());
            }
            lines
        }
    }
}

/// The card's detail (issue 17): what to do first (the template's `card_do`, at most three
/// lines, then the modifiers' steps and the findings folded in), then **Why** (the facts, the
/// reason, the modifiers' reasons), then what the card does not mean. Everything else is in
/// the long form (`reasoning.rs`), one click away.
pub(super) fn short_detail(
    profile: &Profile,
    card: &RuleCard,
    finding: &Finding,
    folded: &[Folded],
    facts: &PatientFacts,
    v: &Values<'_>,
    now: OffsetDateTime,
) -> String {
    let mut todo: Vec<String> = Vec::new();
    for line in card.card_do.iter().map(|t| fill(t, v)) {
        push_step(&mut todo, line);
    }
    if let Some(escalated) = escalated_template(profile, finding) {
        for line in escalated.card_do.iter().map(|t| fill(t, v)) {
            push_step(&mut todo, line);
        }
    }
    let mut why = card_fact_lines(profile, finding, v);
    why.extend(card.card_why.iter().map(|t| fill(t, v)));
    for item in said(finding, CARD_NAMED) {
        let Some((text, mv)) = said_text(profile, &item, finding, facts, DateForm::Card(now))
        else {
            continue;
        };
        // A modifier without short text is shown in full: never silently left off the card.
        if let Some(w) = text.card_why.as_ref().or(text.why.as_ref()) {
            let w = fill_over(w, &mv, v);
            if !w.trim().is_empty() {
                why.push(w);
            }
        }
        if let Some(d) = text.card_do.as_ref().or(text.what_to_do.as_ref()) {
            push_step(&mut todo, fill_over(d, &mv, v));
        }
    }
    for f in folded {
        push_step(&mut todo, f.line.clone());
    }
    let mut out = String::new();
    for line in &todo {
        out.push_str("- ");
        out.push_str(line);
        out.push('\n');
    }
    out.push_str("\n**Why.** ");
    out.push_str(&why.join(" "));
    out.push_str("\n\n*");
    out.push_str(&fill(&card.card_not_mean, v));
    out.push('*');
    out
}
