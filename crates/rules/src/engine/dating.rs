//! Dating (knowledge.md §3.4 item 3; §3.6 items 4 and 9): the dating records reduced to the
//! pregnancy start each implies, and the one that dates the pregnancy: ART (an EDD or GA from
//! conception, a conception date, an embryo transfer: `art.rs`), then a charted EDD, then the
//! first ultrasound against the LMP by ACOG CO 700's re-dating thresholds, then the LMP, then a GA
//! Observation.
//!
//! A date written with month or year precision is the interval it names (§3.6 item 4): every
//! start is computed at both ends of it, the earliest kept as `start` and the latest beside it
//! (`PartialDate`), so that the decision table can read the GA as the range it is.

use time::{Date, Duration};

use super::Engine;
use super::read::{Rec, days_named, procedure_done, record_date};
use crate::facts::{Field, Precision, Record, RecordKind, Value, When};
use crate::finding::{DateProblem, Dating, DatingSource, PartialDate};
use crate::ga::{GestationalAge, TERM_DAYS};
use crate::knowledge::class;

/// A dating Observation reduced to the pregnancy start it implies.
#[derive(Debug, Clone)]
pub(super) struct DatingCandidate<'a> {
    pub(super) source: DatingSource,
    pub(super) record: &'a Record,
    pub(super) start: Date,
    /// The Observation's own date (when the scan or the charting happened).
    pub(super) date: Option<Date>,
    /// The date it was computed from was partial: the interval's latest start.
    pub(super) partial: Option<PartialDate>,
}

/// The starts a dating date implies, at both ends of the days it names: `shift` maps a day to
/// the start it implies. A partial date ("2026-09") also names its interval (§3.6 item 4).
pub(super) fn starts_from(
    when: When,
    shift: impl Fn(Date) -> Option<Date>,
) -> Option<(Date, Option<PartialDate>)> {
    let (first, last) = days_named(when);
    let start = shift(first)?;
    let partial = match when.precision {
        Precision::Month | Precision::Year => Some(PartialDate {
            written: first,
            precision: when.precision,
            latest_start: shift(last)?,
        }),
        Precision::Day | Precision::Time => None,
    };
    Some((start, partial))
}

/// A GA quantity read: a GA, a unit that is not weeks or days, or a number no GA can be.
pub(super) enum GaQuantity {
    Ga(GestationalAge),
    BadUnit,
    /// Not finite, or a million days or more.
    Impossible,
}

/// A GA quantity in days, from a UCUM code or unit text (`wk`, `d`, `week(s)`, `day(s)`).
pub(super) fn ga_from_quantity(value: f64, unit: Option<&str>) -> GaQuantity {
    let Some(unit) = unit else {
        return GaQuantity::BadUnit;
    };
    let ga = match unit.trim().to_ascii_lowercase().as_str() {
        "wk" | "w" | "week" | "weeks" | "/wk" => GestationalAge::from_fractional_weeks(value),
        "d" | "day" | "days" => {
            let days = value.round();
            (days.is_finite() && days.abs() < 1.0e6).then(|| GestationalAge::from_days(days as i64))
        }
        _ => return GaQuantity::BadUnit,
    };
    ga.map_or(GaQuantity::Impossible, GaQuantity::Ga)
}

impl<'a> Engine<'a> {
    pub(super) fn is_dating_code(&self, record: &Rec) -> bool {
        record.is(class::DATING)
    }

    pub(super) fn dating_candidate(&mut self, rec: Rec<'a>) -> Option<DatingCandidate<'a>> {
        let record = rec.record;
        if rec.is(class::EMBRYO_TRANSFER) {
            return self.transfer_candidate(rec);
        }
        let source = if rec.is(class::DATING_ART) {
            DatingSource::Art
        } else if rec.is(class::DATING_EDD) {
            DatingSource::ChartedEdd
        } else if rec.is(class::DATING_ULTRASOUND) {
            DatingSource::Ultrasound
        } else if rec.is(class::DATING_LMP) {
            DatingSource::Lmp
        } else if rec.is(class::DATING_OTHER) {
            DatingSource::GaObservation
        } else {
            return None;
        };
        let date = record.effective.map(|w| w.date());
        let conception = self.kb.thresholds.ga_at_conception_days;
        let (start, partial) = match &record.value {
            Some(Value::DateTime(w)) if rec.is(class::LMP_DATE) => starts_from(*w, Some)?,
            // A conception date: the start is two weeks before it (§3.6 item 9).
            Some(Value::DateTime(w)) if rec.is(class::CONCEPTION_DATE) => {
                starts_from(*w, |d| d.checked_sub(Duration::days(conception)))?
            }
            Some(Value::DateTime(w)) => {
                starts_from(*w, |d| d.checked_sub(Duration::days(TERM_DAYS)))?
            }
            Some(Value::Quantity {
                value, unit, code, ..
            }) => {
                let ga = match ga_from_quantity(*value, code.as_deref().or(unit.as_deref())) {
                    GaQuantity::Ga(ga)
                        if (0..=self.kb.thresholds.max_gestational_age_days)
                            .contains(&ga.days()) =>
                    {
                        ga
                    }
                    GaQuantity::Ga(_) | GaQuantity::Impossible => {
                        self.date_problem(record, None, DateProblem::ImpossibleGa);
                        return None;
                    }
                    GaQuantity::BadUnit => {
                        self.diagnose(
                            record,
                            Some(Field::Value),
                            "gestational age unit is not weeks or days",
                        );
                        return None;
                    }
                };
                let Some(on) = record.effective else {
                    self.diagnose(
                        record,
                        Some(Field::Effective),
                        "gestational age has no effective date to count from",
                    );
                    return None;
                };
                starts_from(on, |d| ga.start_when_on(d))?
            }
            Some(_) => {
                self.diagnose(
                    record,
                    Some(Field::Value),
                    "dating value is neither a date nor a quantity",
                );
                return None;
            }
            None => return None,
        };
        self.candidate(source, record, start, date, partial)
    }

    /// A candidate with the start (and partial interval) it implies, if that start can be the
    /// current pregnancy's.
    pub(super) fn candidate(
        &mut self,
        source: DatingSource,
        record: &'a Record,
        start: Date,
        date: Option<Date>,
        mut partial: Option<PartialDate>,
    ) -> Option<DatingCandidate<'a>> {
        // A start after today is no pregnancy at all: a data problem, named on the card. A
        // partial date's interval is cut at today, where it can still be a pregnancy.
        if start > self.today {
            self.date_problem(record, Some(start), DateProblem::StartInFuture);
            return None;
        }
        let longest = TERM_DAYS + self.kb.thresholds.edd_passed_tolerance_days;
        let mut start = start;
        if let Some(p) = &mut partial {
            p.latest_start = p.latest_start.min(self.today);
            // Its earliest end may be beyond term where its latest is not: cut it there too.
            if (self.today - start).whole_days() > longest
                && let Some(earliest) = self.today.checked_sub(Duration::days(longest))
            {
                start = earliest.min(p.latest_start);
            }
        }
        // Not the current pregnancy: beyond term plus the EDD tolerance.
        let ga_today = (self.today - start).whole_days();
        if ga_today < 0 || ga_today > longest {
            return None;
        }
        Some(DatingCandidate {
            source,
            record,
            start,
            date,
            partial: partial.filter(|p| p.latest_start > start),
        })
    }

    pub(super) fn dating(&mut self, valid: &[Rec<'a>]) -> Option<Dating> {
        let mut candidates = Vec::new();
        for record in valid {
            // An embryo transfer dates in any record kind; a Procedure only when done.
            let transfer = record.is(class::EMBRYO_TRANSFER)
                && (record.kind != RecordKind::Procedure || procedure_done(record));
            if !transfer && (record.kind != RecordKind::Observation || !self.is_dating_code(record))
            {
                continue;
            }
            if !self.within_lookback(record_date(record)) {
                continue;
            }
            if let Some(c) = self.dating_candidate(*record) {
                candidates.push(c);
            }
        }
        // Latest charted of a source, except ultrasound where the first scan dates the pregnancy.
        let latest = |source: DatingSource| {
            candidates
                .iter()
                .filter(|c| c.source == source)
                .max_by_key(|c| c.date)
                .cloned()
        };
        let first_us = candidates
            .iter()
            .filter(|c| c.source == DatingSource::Ultrasound)
            .min_by_key(|c| c.date.unwrap_or(Date::MAX))
            .cloned();
        let to_dating = |c: &DatingCandidate, redated: Option<i64>| Dating {
            source: c.source,
            start: c.start,
            record_id: c.record.id.clone(),
            record_date: c.date,
            redated_from_lmp_days: redated,
            partial: c.partial,
        };

        if let Some(c) = latest(DatingSource::Art) {
            return Some(to_dating(&c, None));
        }
        if let Some(c) = latest(DatingSource::ChartedEdd) {
            return Some(to_dating(&c, None));
        }
        let lmp = latest(DatingSource::Lmp);
        if let Some(us) = first_us {
            // An LMP recorded only as a month or a year is what a dating scan replaces (§3.6
            // item 4): the scan dates.
            let Some(lmp) = lmp.as_ref().filter(|l| l.partial.is_none()) else {
                return Some(to_dating(&us, None));
            };
            // CO 700: re-date when LMP and US differ by more than the threshold for the GA at the scan.
            let scan_date = us.date.unwrap_or(self.today);
            let ga_at_scan = (scan_date - us.start).whole_days();
            let difference = (lmp.start - us.start).whole_days().abs();
            if difference > self.kb.thresholds.redating_threshold(ga_at_scan) {
                return Some(to_dating(&us, Some(difference)));
            }
            return Some(to_dating(lmp, None));
        }
        if let Some(c) = lmp {
            return Some(to_dating(&c, None));
        }
        latest(DatingSource::GaObservation).map(|c| to_dating(&c, None))
    }
}
