//! The bleed being evaluated (knowledge.md §3.4 items 1, 10; §3.5 item 8): the most recent
//! current vaginal bleeding record (a Condition, an Observation, or an Encounter whose reason is
//! one), dated by its own date when that is possible, and set aside by G4 when it is dated before
//! this pregnancy.

use time::Date;

use super::Engine;
use super::read::{Rec, encounter_current, is_active, reason_targets};
use crate::facts::{Record, RecordKind, When};
use crate::finding::{DateProblem, Label};
use crate::knowledge::class;
use crate::text;

/// The bleed being evaluated.
#[derive(Debug, Clone)]
pub(super) struct Bleed<'a> {
    pub(super) record: &'a Record,
    pub(super) date: Option<Date>,
    pub(super) from_recorded: bool,
    pub(super) label: Label,
    /// The record's own date was impossible (named by a [`Modifier::ImpossibleDate`]).
    pub(super) date_set_aside: bool,
}

impl<'a> Engine<'a> {
    pub(super) fn bleed(&mut self, valid: &[Rec<'a>], start: Option<Date>) -> Option<Bleed<'a>> {
        let targets = reason_targets(valid);
        let mut dated: Vec<Bleed<'a>> = Vec::new();
        let mut undated: Vec<Bleed<'a>> = Vec::new();
        for record in valid {
            if matches!(
                record.kind,
                RecordKind::DiagnosticReport | RecordKind::Procedure
            ) {
                continue;
            }
            // Ended pregnancies and established diagnoses are gates, not bleeds.
            if record.is(class::ENDED) || record.is(class::DIAGNOSED) {
                continue;
            }
            // An Encounter is a bleeding record when its reason names bleeding, or points at a
            // bleeding Condition or Observation; it is dated by its start, and counts while it is
            // happening or within the recency window (§3.5 item 8). A planned one has not happened.
            let reason = self.bleeding_reason(record, &targets);
            if record.kind == RecordKind::Encounter && record.status.as_deref() == Some("planned") {
                continue;
            }
            if !(self.is_bleeding(record) || reason.is_some()) {
                continue;
            }
            // An Observation answering "no" / "absent" to a bleeding question is not a bleed.
            if self.answered_absent(record) {
                continue;
            }
            let mut words = text::scan(&record.text, &self.kb.text_filters, &self.kb.text);
            if let Some(reason) = reason {
                words.implantation |=
                    text::scan(&reason.text, &self.kb.text_filters, &self.kb.text).implantation;
            }
            // A date in the future is never used: the recorded date if that one is possible,
            // else the bleed is undated (its GA is today's), and the card names the record.
            let effective = record.effective.map(|w| w.date());
            let recorded = record.recorded.map(|w| w.date());
            let possible = |d: &Date| !self.is_future(*d);
            let (date, from_recorded) = match (effective, recorded) {
                (Some(e), _) if possible(&e) => (Some(e), false),
                (_, Some(r)) if possible(&r) => (Some(r), true),
                _ => (None, false),
            };
            let impossible = effective.or(recorded).filter(|d| !possible(d));
            if let Some(d) = impossible {
                self.date_problem(record.record, Some(d), DateProblem::InFuture);
                self.bleed_set_aside = true;
            }
            let label = if words.implantation {
                Label::Implantation
            } else {
                Label::Unspecified
            };
            let bleed = Bleed {
                record: record.record,
                date,
                from_recorded,
                label,
                date_set_aside: impossible.is_some(),
            };
            match date {
                Some(d) => {
                    let recent = (self.today - d).whole_days() <= self.kb.thresholds.recency_days;
                    let active = (record.kind == RecordKind::Condition
                        && record.clinical_status.is_some()
                        && is_active(record))
                        || (record.kind == RecordKind::Encounter && encounter_current(record));
                    // G4: before this pregnancy, or resolved before it started.
                    if let Some(s) = start {
                        let abated_before = record.abatement.is_some_and(|a| a.date() < s);
                        if d < s || abated_before {
                            // Still bleeding, says the chart, since well before this pregnancy
                            // began: a wrong date or a stale status. Not this pregnancy's bleed
                            // (G4), but named, so the chart can be corrected.
                            let margin = self.kb.thresholds.before_pregnancy_margin_days;
                            if active && !abated_before && (s - d).whole_days() > margin {
                                self.date_problem(
                                    record.record,
                                    Some(d),
                                    DateProblem::BeforePregnancy,
                                );
                                self.bleed_set_aside = true;
                            }
                            continue;
                        }
                    }
                    if recent || active {
                        dated.push(bleed);
                    }
                }
                None => undated.push(bleed),
            }
        }
        // The most recent bleed; on the same day, the labelled one (the card questions the label).
        dated
            .into_iter()
            .max_by_key(|b| {
                (
                    b.date,
                    b.record.effective.map(|w: When| w.at),
                    b.label == Label::Implantation,
                )
            })
            .or_else(|| undated.into_iter().next())
    }
}
