//! Rh (knowledge.md §3.4 item 9; §3.5 items 4, 6, 20; §3.6 item 11 and C1): the RhD type from
//! the latest readable Rh result or coded Rh finding of any date (a person's RhD type does not
//! change), what is said when there is none (unreadable, typed without a result), and anti-D
//! charted as given within R7's protective window.

use time::{Date, OffsetDateTime};

use super::Engine;
use super::read::{Rec, record_date};
use crate::facts::{Field, Record, RecordKind, Value};
use crate::knowledge::class;
use crate::text;

/// What the Rh records say (knowledge.md §3.4 item 9, §3.5 items 4, 6, 20).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct RhStatus<'a> {
    /// `Some(true)` RhD negative, `Some(false)` positive, `None` unknown.
    pub(super) negative: Option<bool>,
    /// The record the type was read from.
    pub(super) record: Option<&'a Record>,
    /// The latest Rh result whose value could not be read ("Rh not readable").
    pub(super) unreadable: Option<&'a Record>,
    /// Rh typing done (a Procedure, or a result with no value yet): the result is still needed.
    pub(super) tested: Option<&'a Record>,
}

impl<'a> Engine<'a> {
    /// An Rh result's value read: `Some(Some(true))` negative, `Some(Some(false))` positive,
    /// `Some(None)` present but not readable, `None` no value yet (§3.5 item 6).
    pub(super) fn rh_value(&self, record: &Record) -> Option<Option<bool>> {
        let vs = &self.kb.value_sets;
        let t = &self.kb.text;
        // Weak D, partial D: RhD negative for prophylaxis until genotyped (§3.6 item 11).
        if crate::rh_variant::names_variant(&record.value, t) {
            return Some(Some(true));
        }
        Some(match &record.value {
            Some(Value::Concept { codes, .. }) if vs.rh_negative.contains_any(codes) => Some(true),
            Some(Value::Concept { codes, .. }) if vs.rh_positive.contains_any(codes) => Some(false),
            // Uncoded, or coded locally: the concept's text, else its displays ("O Rh(D) neg").
            Some(Value::Concept { codes, text }) => text
                .as_deref()
                .and_then(|x| text::rh_from_text(x, t))
                .or_else(|| {
                    codes
                        .iter()
                        .filter_map(|c| c.display.as_deref())
                        .find_map(|d| text::rh_from_text(d, t))
                }),
            // An HL7v2-style string result: "Rh Negative", "O NEG", "D neg".
            Some(Value::String(x)) => text::rh_from_text(x, t),
            Some(_) => None,
            // A value that was there but could not be read is unreadable; no value is no result.
            None if record.problems.iter().any(|p| p.field == Field::Value) => None,
            None => return None,
        })
    }

    /// The Rh type, from the latest readable Rh result, or a coded Rh finding (165746003, Z67.x1
    /// negative; 165747007, Z67.x0 positive), of any date: the RhD type is a fact about the
    /// person, so §3.5 item 4's "results count from the pregnancy's start" does not apply to it
    /// (§3.6 C1), and the card gives its date. Only the antibody screen and identification are
    /// per pregnancy (`alloimmune.rs`). A typing charted only as a Procedure counts from this
    /// pregnancy's `start`: it asks for a result, which an earlier pregnancy's cannot still owe.
    pub(super) fn rh(&self, valid: &[Rec<'a>], start: Option<Date>) -> RhStatus<'a> {
        let mut status = RhStatus::default();
        let mut latest: Option<(Option<OffsetDateTime>, bool, &'a Record)> = None;
        let mut unreadable_at: Option<Option<OffsetDateTime>> = None;
        for record in valid {
            let result = record.kind != RecordKind::Condition;
            let at = record.effective.or(record.recorded).map(|w| w.at);
            let answer = if record.is(class::RH_TYPE) && result {
                match self.rh_value(record) {
                    Some(Some(negative)) => Some(negative),
                    Some(None) => {
                        if unreadable_at.is_none_or(|latest_at| at >= latest_at) {
                            unreadable_at = Some(at);
                            status.unreadable = Some(record.record);
                        }
                        None
                    }
                    // A result still owed is this pregnancy's only (like a typing Procedure).
                    None => {
                        if self.result_of_this_pregnancy(record, start) {
                            status.tested = Some(record.record);
                        }
                        None
                    }
                }
            } else if record.is(class::RH_NEGATIVE) {
                Some(true)
            } else if record.is(class::RH_POSITIVE) {
                Some(false)
            } else {
                None
            };
            if let Some(negative) = answer
                && latest.is_none_or(|(latest_at, _, _)| at >= latest_at)
            {
                latest = Some((at, negative, record.record));
            }
        }
        // Rh typing charted only as a Procedure: tested, the result is still needed (item 20).
        for record in self.procedures(valid, class::PROCEDURE_RH_TYPING) {
            if self.result_of_this_pregnancy(record, start) {
                status.tested = Some(record.record);
            }
        }
        if let Some((_, negative, record)) = latest {
            status.negative = Some(negative);
            status.record = Some(record);
        }
        status
    }

    /// Anti-D charted as given (a Procedure or a medication record) within R7's protective
    /// window before `on`, or after it (§3.5 item 20, §3.4 item 9, §3.6 item 10): the latest
    /// such record.
    pub(super) fn anti_d_given(&self, valid: &[Rec<'a>], on: Date) -> Option<(&'a Record, Date)> {
        let window = self.kb.thresholds.rhig_window_weeks * 7;
        // A Procedure coded as anti-D (or with an anti-D product code), or a medication record
        // of anti-D given (§3.6 item 10: `crate::anti_d`), on a date that has come.
        let medications = valid.iter().filter(|r| {
            crate::anti_d::given_medication(r, r.class, &self.kb.text)
                && record_date(r).is_none_or(|d| !self.is_future(d))
        });
        self.procedures(valid, class::PROCEDURE_ANTI_D | class::MEDICATION_ANTI_D)
            .chain(medications)
            .filter_map(|r| record_date(r).map(|d| (r.record, d)))
            .filter(|(_, d)| (on - *d).whole_days() <= window)
            .max_by_key(|(_, d)| *d)
    }
}
