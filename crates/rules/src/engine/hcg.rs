//! hCG (R5, R5N; knowledge.md §3.5 items 5, 16, 20; §3.6 item 3, W6): the trend of the
//! last two quantitative values 24–96 h apart read by Barnhart (R5) and, in a PUL, by NICE NG126
//! beside it (R5N); what the card says of results that are not numbers in a trend (a bound as
//! written, the latest value, a test with no result yet); and the units an hCG may have.

use time::{Date, OffsetDateTime};

use super::read::{Rec, record_date};
use super::vitals::{Reading, measured};
use super::{Engine, ROUNDING};
use crate::facts::{Field, Record, Value};
use crate::finding::{Evidence, Finding, HcgTrend, Modifier, NiceReading, Role};
use crate::knowledge::{HcgLead, class};

/// How a quantity with a comparator is written on a card: `<5 m[IU]/mL` (§3.5 item 5).
pub(super) fn written_bound(value: f64, comparator: &str, unit: Option<&str>) -> String {
    let number = if value.is_finite() && value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{value:.0}")
    } else {
        value.to_string()
    };
    match unit.map(str::trim).filter(|u| !u.is_empty()) {
        Some(unit) => format!("{comparator}{number} {unit}"),
        None => format!("{comparator}{number}"),
    }
}

/// Barnhart 2016 and NICE NG126 agree when both say "rising as an ongoing IUP would", both say
/// "falling", or both leave it open (a slow rise or slow fall, a change between NICE's limits).
pub(super) fn same_reading(barnhart: HcgTrend, nice: NiceReading) -> bool {
    matches!(
        (barnhart, nice),
        (HcgTrend::AdequateRise { .. }, NiceReading::Rise { .. })
            | (HcgTrend::Fall { .. }, NiceReading::Fall { .. })
            | (
                HcgTrend::SlowRise { .. } | HcgTrend::SlowFall { .. },
                NiceReading::Between { .. }
            )
    )
}

/// An hCG result whose unit is no hCG unit (ng/mL): named on the card, never silently dropped
/// (knowledge.md §3.6 item 3).
pub(super) fn unreadable_hcg(record: &Rec) -> Option<Field> {
    let unit = match &record.value {
        Some(Value::Quantity {
            unit,
            code,
            comparator: None,
            ..
        }) => code.as_deref().or(unit.as_deref()),
        _ => return None,
    };
    (record.is(class::HCG) && !hcg_unit_ok(unit)).then_some(Field::Value)
}

/// hCG in mIU/mL or the numerically equal IU/L (a missing unit is accepted as the lab's default).
pub(crate) fn hcg_unit_ok(unit: Option<&str>) -> bool {
    match unit {
        None => true,
        Some(u) => matches!(
            u.trim().to_ascii_lowercase().as_str(),
            "m[iu]/ml" | "miu/ml" | "[iu]/l" | "iu/l" | "mu/ml" | "u/l"
        ),
    }
}

impl<'a> Engine<'a> {
    /// R5: the last two quantitative hCG values 24–96 h apart, normalised to 48 h.
    pub(super) fn hcg_trend(&mut self, valid: &[Rec<'a>]) -> Option<(HcgTrend, Vec<Evidence>)> {
        let t = &self.kb.thresholds;
        let mut values: Vec<(OffsetDateTime, f64, &'a Record)> = Vec::new();
        for record in valid {
            if !record.is(class::HCG) {
                continue;
            }
            let Some(at) = record.effective.map(|w| w.at) else {
                continue;
            };
            match &record.value {
                // "<5" is a bound, never a number in a trend (§3.5 item 5): see `hcg_notes`.
                Some(Value::Quantity {
                    comparator: Some(_),
                    ..
                }) => {}
                Some(Value::Quantity {
                    value, unit, code, ..
                }) if hcg_unit_ok(code.as_deref().or(unit.as_deref())) && *value > 0.0 => {
                    values.push((at, *value, record.record));
                }
                Some(Value::Quantity { .. }) => {
                    self.diagnose(record, Some(Field::Value), "hCG unit is not mIU/mL or IU/L");
                }
                _ => {}
            }
        }
        values.sort_by_key(|(at, _, _)| *at);
        let (at2, v2, r2) = *values.last()?;
        let (at1, v1, r1) = values.iter().rev().skip(1).copied().find(|(at1, _, _)| {
            let hours = (at2 - *at1).as_seconds_f64() / 3600.0;
            hours >= t.hcg_pair_min_hours && hours <= t.hcg_pair_max_hours
        })?;
        let hours = (at2 - at1).as_seconds_f64() / 3600.0;
        let change = (v2 / v1).powf(48.0 / hours) - 1.0;
        let trend = if change < 0.0 {
            if -change >= t.hcg_min_decline - ROUNDING {
                HcgTrend::Fall { change }
            } else {
                HcgTrend::SlowFall { change }
            }
        } else {
            let minimum = t.min_rise_for(v1);
            if change < minimum - ROUNDING {
                HcgTrend::SlowRise { change, minimum }
            } else {
                return None;
            }
        };
        let evidence = vec![
            Evidence::record(Role::Hcg, r1.kind, &r1.id, Some(at1.date())),
            Evidence::record(Role::Hcg, r2.kind, &r2.id, Some(at2.date())),
        ];
        Some((trend, evidence))
    }

    /// What the card says about hCG results that are not numbers in a trend: the latest bound
    /// of this pregnancy ("<5 m[IU]/mL", shown as written; §3.5 item 5), and an hCG test charted
    /// as a Procedure with no result on record since (item 20).
    pub(super) fn hcg_notes(&self, results: &[Rec<'a>]) -> Vec<Modifier> {
        let mut notes = Vec::new();
        let bound = results
            .iter()
            .filter(|r| r.is(class::HCG))
            .filter_map(|r| match &r.value {
                Some(Value::Quantity {
                    value,
                    unit,
                    code,
                    comparator: Some(comparator),
                }) => Some((
                    r.effective.or(r.recorded).map(|w| w.at),
                    r,
                    written_bound(*value, comparator, unit.as_deref().or(code.as_deref())),
                )),
                _ => None,
            })
            .max_by_key(|(at, _, _)| *at);
        // The latest hCG measured in this pregnancy, quoted as the lab wrote it: after a scan
        // with no intrauterine pregnancy the card leads with it and the repeat it calls for
        // (§3.6 W6).
        let last = results
            .iter()
            .filter(|r| r.is(class::HCG))
            .filter_map(|r| match &r.value {
                Some(Value::Quantity {
                    value,
                    unit,
                    code,
                    comparator: None,
                }) if value.is_finite() && *value > 0.0 => Some((
                    r.effective.or(r.recorded).map(|w| w.at),
                    r,
                    written_bound(*value, "", unit.as_deref().or(code.as_deref())),
                )),
                _ => None,
            })
            .max_by_key(|(at, _, _)| *at);
        if let Some((_, r, written)) = last {
            notes.push(Modifier::HcgLast {
                id: r.id.clone(),
                date: record_date(r),
                written,
            });
        }
        if let Some((_, r, written)) = bound {
            notes.push(Modifier::HcgBound {
                id: r.id.clone(),
                date: record_date(r),
                written,
            });
        }
        let latest_result = results
            .iter()
            .filter(|r| r.is(class::HCG) && r.value.is_some())
            .filter_map(|r| record_date(r))
            .max();
        let test = self
            .procedures(results, class::PROCEDURE_HCG)
            .filter_map(|r| record_date(r).map(|d| (d, r)))
            .max_by_key(|(d, _)| *d);
        if let Some((done, r)) = test
            && latest_result.is_none_or(|result| result < done)
        {
            notes.push(Modifier::HcgResultPending {
                id: r.id.clone(),
                date: Some(done),
            });
        }
        notes
    }

    /// The last two quantitative hCG values of this pregnancy 24–96 h apart (as R5 reads them),
    /// measured values only: `(first, second, hours apart)`.
    pub(super) fn hcg_pair(
        &self,
        valid: &[Rec<'a>],
        start: Option<Date>,
    ) -> Option<(Reading<'a>, Reading<'a>, f64)> {
        let t = &self.kb.thresholds;
        let mut values: Vec<Reading<'a>> = valid
            .iter()
            .filter(|r| r.is(class::HCG))
            .filter(|r| self.in_pregnancy(record_date(r), start))
            .filter_map(|r| {
                let at = r.effective?.at;
                let value = measured(
                    &r.value,
                    &["m[iu]/ml", "miu/ml", "[iu]/l", "iu/l", "mu/ml", "u/l"],
                    f64::MAX,
                )?;
                Some(Reading {
                    at,
                    value,
                    record: r.record,
                })
            })
            .collect();
        values.sort_by_key(|v| v.at);
        let second = *values.last()?;
        let hours = |first: &Reading| (second.at - first.at).as_seconds_f64() / 3600.0;
        let first = values
            .iter()
            .rev()
            .skip(1)
            .find(|v| (t.hcg_pair_min_hours..=t.hcg_pair_max_hours).contains(&hours(v)))?;
        Some((*first, second, hours(first)))
    }

    /// R5N: the NICE NG126 reading of a pair 24–72 h apart beside Barnhart's (R5). The profile's
    /// `hcg_trend_lead` says which reading the card gives first; when the two read the pair
    /// differently, the card states both.
    pub(super) fn nice_hcg(&self, valid: &[Rec<'a>], start: Option<Date>, r2: &mut Finding) {
        let t = &self.kb.thresholds;
        let Some((first, second, hours)) = self.hcg_pair(valid, start) else {
            return;
        };
        if hours > t.nice_pair_max_hours {
            return;
        }
        let change = (second.value / first.value).powf(48.0 / hours) - 1.0;
        let nice = if change > t.nice_rise_above + ROUNDING {
            NiceReading::Rise { change }
        } else if -change > t.nice_fall_above + ROUNDING {
            NiceReading::Fall { change }
        } else {
            NiceReading::Between { change }
        };
        let minimum = t.min_rise_for(first.value);
        let barnhart = if change < 0.0 {
            if -change >= t.hcg_min_decline - ROUNDING {
                HcgTrend::Fall { change }
            } else {
                HcgTrend::SlowFall { change }
            }
        } else if change < minimum - ROUNDING {
            HcgTrend::SlowRise { change, minimum }
        } else {
            HcgTrend::AdequateRise { change, minimum }
        };
        let differ = !same_reading(barnhart, nice);
        let has_barnhart = r2
            .modifiers
            .iter()
            .any(|m| matches!(m, Modifier::HcgTrend(_)));
        match t.hcg_trend_lead {
            HcgLead::Barnhart => {
                if !differ {
                    return;
                }
                if !has_barnhart {
                    r2.modifiers.push(Modifier::HcgTrend(barnhart));
                }
                r2.modifiers.push(Modifier::HcgReadingsDiffer);
                r2.modifiers.push(Modifier::HcgNice(nice));
            }
            HcgLead::Nice => {
                r2.modifiers.retain(|m| !matches!(m, Modifier::HcgTrend(_)));
                r2.modifiers.push(Modifier::HcgNice(nice));
                if differ {
                    r2.modifiers.push(Modifier::HcgReadingsDiffer);
                    r2.modifiers.push(Modifier::HcgTrend(barnhart));
                }
            }
        }
        for reading in [first, second] {
            if !r2.evidence.iter().any(|e| e.id == reading.record.id) {
                r2.evidence.push(Evidence::record(
                    Role::Hcg,
                    reading.record.kind,
                    &reading.record.id,
                    Some(reading.at.date()),
                ));
            }
        }
    }
}
