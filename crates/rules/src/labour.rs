//! A bloody show in labour at term (knowledge.md §3.6 item 17): not an antepartum haemorrhage.
//!
//! As the cervix ripens and dilates in labour, the mucus plug comes away streaked with blood:
//! the "show". RCOG GTG 63 defines antepartum haemorrhage as bleeding from the genital tract
//! *other than* show, so R14's "placental abruption and previa to be considered" is noise on a
//! term labour ward, and a card a midwife learns to dismiss. But the exceptions are what keep a
//! real abruption from being taken for a show, and they are kept exactly as §3.6 writes them.
//! R14 is left out only when all of these hold:
//!
//! * the bleed is at or beyond 37w0d (term; the profile's `term_from` threshold);
//! * the bleeding record names a show ("show", "bloody show", "mucus show", "show with
//!   contractions"): the word itself, not a stem ("ultrasound shows" is not a show);
//! * she is in labour, by a labour Condition or a labour Encounter, or a cervical dilation
//!   recorded: each dated today or since yesterday (a labour that began overnight);
//! * the bleed is not worded heavy (the profile's heavy-bleeding words);
//! * no abruption wording is on the bleed or on today's records ("abruption", "constant pain",
//!   "tender uterus", "rigid uterus"), not negated;
//! * no R2E card (the vital signs or the wording of haemodynamic instability) was raised;
//! * no previa of either kind is documented: a known placenta or vasa previa in labour is an
//!   emergency, never a show.
//!
//! Only R14 goes: an Rh or any other card about the same bleed stays.
//!
//! The words (labour, dilation, show, abruption) are the profile's `text.toml`; the term
//! threshold is its `thresholds.toml`. This module holds only the reading.

use time::Date;

use crate::facts::{Record, RecordKind};
use crate::finding::{Finding, Modifier, RuleId};
use crate::knowledge::{BleedingText, RulesKnowledge};

/// True when a text names a show (one of the profile's `show_words`) as a whole word: the word
/// itself, not a stem, so "ultrasound shows" is not a show.
fn names_show(record_text: &str, text: &BleedingText) -> bool {
    record_text
        .to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .any(|word| text.show_words.iter().any(|show| show == word))
}

/// True when `record` puts her in labour: a labour Condition or Encounter, or a cervical
/// dilation Observation.
fn in_labour(record: &Record, text: &BleedingText) -> bool {
    let words = match record.kind {
        RecordKind::Condition | RecordKind::Encounter => &text.labour_words,
        RecordKind::Observation => &text.dilation_words,
        _ => return false,
    };
    let withdrawn = [&record.clinical_status, &record.verification_status]
        .into_iter()
        .flatten()
        .any(|s| {
            matches!(
                s.as_str(),
                "resolved" | "inactive" | "refuted" | "entered-in-error"
            )
        });
    let encounter_over = record.kind == RecordKind::Encounter
        && matches!(
            record.status.as_deref(),
            Some("finished" | "cancelled" | "entered-in-error")
        );
    !withdrawn && !encounter_over && crate::text::mentions(&record.text, words, text)
}

/// The chart around the bleed that §3.6 item 17 reads.
pub(crate) struct Labour<'r> {
    /// The bleeding record the cards are about.
    pub bleed: &'r Record,
    /// The records of the patient with their dates; only those since yesterday are read.
    pub records: Vec<(&'r Record, Option<Date>)>,
    pub today: Date,
}

impl Labour<'_> {
    /// True when the bleed is a show in labour that R14 must not be raised for (all but the GA
    /// and the cards' own exceptions, which [`apply`] checks).
    fn is_show_in_labour(&self, text: &BleedingText) -> bool {
        if !self.bleed.text.iter().any(|t| names_show(t, text)) {
            return false;
        }
        if crate::text::mentions(&self.bleed.text, &text.heavy_bleeding_terms, text) {
            return false;
        }
        let recent: Vec<&Record> = self
            .records
            .iter()
            .filter(|(_, date)| {
                date.is_some_and(|d| d <= self.today && self.today - d <= time::Duration::days(1))
            })
            .map(|(r, _)| *r)
            .collect();
        let abruption_worded = std::iter::once(self.bleed)
            .chain(recent.iter().copied())
            .any(|r| crate::text::mentions(&r.text, &text.abruption_words, text));
        !abruption_worded && recent.iter().any(|r| in_labour(r, text))
    }
}

/// Takes R14 out of `findings` for a bloody show in labour at term (see the module's list).
pub(crate) fn apply(labour: &Labour<'_>, kb: &RulesKnowledge, findings: &mut Vec<Finding>) {
    let text = &kb.text;
    let escalated = findings.iter().any(|f| f.rule == RuleId::R2E);
    let show_at_term = |f: &Finding| {
        f.rule == RuleId::R14
            && f.ga
                .is_some_and(|g| g.days() >= kb.thresholds.term_from_days)
            && !f.has(&Modifier::PreviaDocumented)
            && !f.has(&Modifier::VasaPrevia)
    };
    if escalated || !findings.iter().any(show_at_term) || !labour.is_show_in_labour(text) {
        return;
    }
    findings.retain(|f| !show_at_term(f));
}
