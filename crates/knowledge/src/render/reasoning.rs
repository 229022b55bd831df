//! The card's long form: the full reasoning (**Why**, **What to do**, **What this card does not
//! mean**, the records used), for the main finding and each finding folded into it, each
//! sentence said once. It travels in the card's
//! [`REASONING_EXTENSION`](super::REASONING_EXTENSION).

use gravida_rules::facts::PatientFacts;
use gravida_rules::{Finding, IupStatus, Role, RuleId};

use super::Folded;
use super::detail::push_step;
use super::markdown;
use super::modifiers::{LONG_FORM_NAMED, said, said_text, thousands};
use super::values::{named, precision_of};
use super::variant::escalated_template;
use super::words::{DateForm, iso_as_written, thing};
use crate::load::Profile;
use crate::templates::{RuleCard, Values, fill, fill_over};

/// What a record was used as, in the words of the card.
fn role_name(role: Role) -> &'static str {
    match role {
        Role::Bleed => "bleeding",
        Role::PregnancyEvidence => "pregnancy",
        Role::Dating => "dating",
        Role::Lmp => "LMP",
        Role::IntrauterinePregnancy => "intrauterine pregnancy",
        Role::Ultrasound => "ultrasound",
        Role::Hcg => "hCG",
        Role::RhType => "Rh type",
        Role::Previa => "placenta previa",
        Role::VasaPrevia => "vasa previa",
        Role::PlacentalLocation => "placental location",
        Role::SubchorionicHematoma => "subchorionic hematoma",
        Role::DraftOrder => "draft order",
        Role::RiskFactor => "risk factor",
        Role::VitalSign => "vital sign",
        Role::PreviousMiscarriage => "previous miscarriage",
        Role::Diagnosis => "diagnosis",
    }
}

/// The **Why** facts: the bleed, the dating and the pregnancy location.
fn fact_lines(profile: &Profile, finding: &Finding, v: &Values<'_>) -> Vec<String> {
    let t = &profile.cards.facts;
    let mut lines = Vec::new();
    // The data-problem note is about the records it names (its modifiers), not about a bleed.
    if finding.rule == RuleId::D1 {
        return lines;
    }
    // R2R is about the test that resolved the PUL, not a bleed: the location line only.
    if matches!(finding.rule, RuleId::R6 | RuleId::R16 | RuleId::R2R) {
        lines.push(fill(
            match finding.iup {
                IupStatus::Documented(_) => &t.iup_documented,
                IupStatus::Pul => &t.pul,
                IupStatus::NoUltrasound => &t.no_ultrasound,
            },
            v,
        ));
        return lines;
    }
    lines.push(fill(
        if finding.bleed_date.is_some() {
            &t.bleed
        } else {
            &t.bleed_undated
        },
        v,
    ));
    lines.push(fill(
        if finding.dating.is_some() {
            &t.dated
        } else {
            &t.undated
        },
        v,
    ));
    // "Pregnancy of unknown location" is an early-pregnancy term: never from 14w0d, nor when the
    // GA is unknown (knowledge.md §3.5 item 13).
    let early = finding
        .ga
        .is_some_and(|g| g.days() <= profile.rules.thresholds.early_window_max_days);
    lines.push(fill(
        match finding.iup {
            IupStatus::Documented(_) => &t.iup_documented,
            IupStatus::Pul if early => &t.pul,
            IupStatus::Pul => &t.pul_late,
            IupStatus::NoUltrasound => &t.no_ultrasound,
        },
        v,
    ));
    lines
}

/// The card's long form in Markdown: the full reasoning. `v` holds chart text only as
/// [`markdown::escape_inline`] made it, and the values added here (an unreadable record, the
/// records used) are escaped the same way. The server's `GET /cards/{id}` page shows it.
pub(super) fn long_detail(
    profile: &Profile,
    card: &RuleCard,
    finding: &Finding,
    facts: &PatientFacts,
    v: &Values<'_>,
) -> LongForm {
    let mut why = fact_lines(profile, finding, v);
    why.extend(card.why.iter().map(|t| fill(t, v)));
    let mut todo: Vec<String> = card.what_to_do.iter().map(|t| fill(t, v)).collect();
    // R2E leads with the emergency steps; the advice of the card it escalates follows them.
    if let Some(escalated) = escalated_template(profile, finding) {
        for line in escalated.what_to_do.iter().map(|t| fill(t, v)) {
            push_step(&mut todo, line);
        }
    }
    for item in said(finding, LONG_FORM_NAMED) {
        let Some((text, mv)) = said_text(profile, &item, finding, facts, DateForm::Long) else {
            continue;
        };
        if let Some(w) = &text.why {
            why.push(fill_over(w, &mv, v));
        }
        if let Some(w) = &text.what_to_do {
            todo.push(fill_over(w, &mv, v));
        }
    }
    let mut records: Vec<String> = finding
        .evidence
        .iter()
        .take(LONG_FORM_NAMED)
        .map(|e| {
            let r = match named(&e.resource_type, &e.id, facts, markdown::escape_inline) {
                Some(name) => name,
                // A coded record with no text: what it was used as says what it is.
                None => format!("{} ({})", thing(&e.resource_type), role_name(e.role)),
            };
            match e.date {
                Some(d) => format!("{r} ({})", iso_as_written(d, precision_of(&e.id, facts))),
                None => r,
            }
        })
        .collect();
    if finding.evidence.len() > LONG_FORM_NAMED {
        records.push(format!(
            "and {} more",
            thousands(finding.evidence.len() - LONG_FORM_NAMED)
        ));
    }
    let not_mean = card.does_not_mean.iter().map(|t| fill(t, v)).collect();
    LongForm {
        why,
        todo,
        not_mean,
        records,
    }
}

/// A finding's long form before it is put together: its sections, and the records it used
/// (each named once, with its date).
#[derive(Debug)]
pub(super) struct LongForm {
    why: Vec<String>,
    todo: Vec<String>,
    not_mean: Vec<String>,
    records: Vec<String>,
}

impl LongForm {
    /// The sections in Markdown, leaving out each sentence of **Why** and each step that `said`
    /// holds already (a folded finding's bleed, dating and Rh type are its host's), and a
    /// section with nothing left; what it writes is added to `said`.
    fn write(&self, out: &mut String, said: &mut Vec<String>) {
        let mut fresh = |lines: &[String]| -> Vec<String> {
            let new: Vec<String> = lines
                .iter()
                .filter(|l| !said.contains(l))
                .cloned()
                .collect();
            said.extend(new.iter().cloned());
            new
        };
        let why = fresh(&self.why);
        let todo = fresh(&self.todo);
        let not_mean = fresh(&self.not_mean);
        let mut sections = Vec::new();
        if !why.is_empty() {
            sections.push(format!("**Why.** {}", why.join(" ")));
        }
        if !todo.is_empty() {
            let steps: Vec<String> = todo.iter().map(|l| format!("- {l}")).collect();
            sections.push(format!("**What to do.**\n{}", steps.join("\n")));
        }
        if !not_mean.is_empty() {
            sections.push(format!(
                "**What this card does not mean.** {}",
                not_mean.join(" ")
            ));
        }
        out.push_str(&sections.join("\n\n"));
    }
}

/// The card's long form: the main finding's sections, then each folded finding's (what the
/// main one said already left out), then the records used by any of them (each once), then
/// the closing line (once; issue 31 item 5).
pub(super) fn long_form(profile: &Profile, main: LongForm, folded: &[Folded]) -> String {
    let mut out = String::new();
    let mut said = Vec::new();
    main.write(&mut out, &mut said);
    let mut records = main.records;
    for f in folded {
        out.push_str("\n\n**Also: ");
        out.push_str(&markdown::escape_inline(&f.summary));
        out.push_str(".**\n\n");
        f.reasoning.write(&mut out, &mut said);
        for record in &f.reasoning.records {
            if !records.contains(record) {
                records.push(record.clone());
            }
        }
    }
    if !records.is_empty() {
        out.push_str("\n\nRecords used: ");
        out.push_str(&records.join(", "));
        out.push('.');
    }
    out.push_str("\n\n");
    out.push_str(&profile.cards.closing);
    out
}
