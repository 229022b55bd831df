//! Dating (knowledge.md §3.4 item 3): the dating Observations reduced to the pregnancy start each
//! implies, and the one that dates the pregnancy: ART, then a charted EDD, then the first
//! ultrasound against the LMP by ACOG CO 700's re-dating thresholds, then the LMP, then a GA
//! Observation.

use time::{Date, Duration};

use super::Engine;
use super::read::{Rec, record_date};
use crate::facts::{Field, Record, RecordKind, Value};
use crate::finding::{DateProblem, Dating, DatingSource};
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
        let start = match &record.value {
            Some(Value::DateTime(w)) if rec.is(class::LMP_DATE) => w.date(),
            Some(Value::DateTime(w)) => w.date().checked_sub(Duration::days(TERM_DAYS))?,
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
                let Some(on) = date else {
                    self.diagnose(
                        record,
                        Some(Field::Effective),
                        "gestational age has no effective date to count from",
                    );
                    return None;
                };
                ga.start_when_on(on)?
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
        // A start after today is no pregnancy at all: a data problem, named on the card.
        if start > self.today {
            self.date_problem(record, Some(start), DateProblem::StartInFuture);
            return None;
        }
        // Not the current pregnancy: beyond term plus the EDD tolerance.
        let ga_today = (self.today - start).whole_days();
        if ga_today < 0 || ga_today > TERM_DAYS + self.kb.thresholds.edd_passed_tolerance_days {
            return None;
        }
        Some(DatingCandidate {
            source,
            record,
            start,
            date,
        })
    }

    pub(super) fn dating(&mut self, valid: &[Rec<'a>]) -> Option<Dating> {
        let mut candidates = Vec::new();
        for record in valid {
            if record.kind != RecordKind::Observation || !self.is_dating_code(record) {
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
        };

        if let Some(c) = latest(DatingSource::Art) {
            return Some(to_dating(&c, None));
        }
        if let Some(c) = latest(DatingSource::ChartedEdd) {
            return Some(to_dating(&c, None));
        }
        let lmp = latest(DatingSource::Lmp);
        if let Some(us) = first_us {
            let Some(lmp) = &lmp else {
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
