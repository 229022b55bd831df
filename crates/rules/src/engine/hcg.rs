//! hCG (R5, R5N; knowledge.md §3.5 items 5, 16, 20; §3.6 item 3, W6): the trend of the
//! last two quantitative values 24–96 h apart read by Barnhart (R5) and, in a PUL, by NICE NG126
//! beside it (R5N); what the card says of results that are not numbers in a trend (a bound as
//! written, the latest value, a test with no result yet); and the units an hCG may have.

use time::Date;

use super::read::{Rec, record_date};
use super::vitals::{Reading, measured};
use super::{Engine, ROUNDING};
use crate::facts::{Field, Value};
use crate::finding::{Evidence, Finding, HcgTrend, Modifier, NiceReading, Role};
use crate::knowledge::{HcgLead, Thresholds, class};
use crate::pregnancy_test::hcg_unit_ok;

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

/// The one pair-finder: the latest hCG value and the latest before it taken
/// `hcg_pair_min_hours..=hcg_pair_max_hours` (24–96 h) earlier, `(first, second, hours apart)`;
/// of two values taken at the same instant, the one given later counts as the later (the sort is
/// stable).
///
/// R5 and R5N read the same pair, but each gathers its values as it always has, and the two
/// gatherings differ at the edges, so they are kept apart rather than made one (which would change
/// what a card says): R5's (`hcg_trend`) reads the results of this pregnancy, quantities only,
/// and names a unit that is no hCG unit in the diagnostics; R5N's (`nice_values`) reads values
/// in the pregnancy (undated pregnancy: within the GA lookback) through `measured`, which also
/// takes an integer value and refuses a value that is not finite.
fn latest_pair<'a>(
    mut values: Vec<Reading<'a>>,
    t: &Thresholds,
) -> Option<(Reading<'a>, Reading<'a>, f64)> {
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

/// The change over a pair, normalised to 48 h: 0.35 is a 35 % rise in two days.
fn growth(first: Reading, second: Reading, hours: f64) -> f64 {
    (second.value / first.value).powf(48.0 / hours) - 1.0
}

/// The one Barnhart classifier (R5; Barnhart 2016): a fall of at least `hcg_min_decline`, a
/// slower fall, a rise below the minimum for the first value's band, or an adequate rise (R5
/// says nothing of that one; R5N states it when NICE reads the pair otherwise).
///
/// NICE NG126's reading ([`nice`]) is a second classifier beside it, not a duplicate: the two
/// guidelines draw their lines in different places (NICE: a rise above 63 %, a fall above 50 %,
/// over 24–72 h), the profile's `hcg_trend_lead` says which one the card leads with, and the card
/// states both when they differ (knowledge.md §3.5 item 16).
fn barnhart(first: f64, change: f64, t: &Thresholds) -> HcgTrend {
    let minimum = t.min_rise_for(first);
    if change < 0.0 {
        if -change >= t.hcg_min_decline - ROUNDING {
            HcgTrend::Fall { change }
        } else {
            HcgTrend::SlowFall { change }
        }
    } else if change < minimum - ROUNDING {
        HcgTrend::SlowRise { change, minimum }
    } else {
        HcgTrend::AdequateRise { change, minimum }
    }
}

/// NICE NG126's reading of a pair (R5N): a rise above `nice_rise_above`, a fall above
/// `nice_fall_above`, or between the two (see [`barnhart`] for why there are two classifiers).
fn nice(change: f64, t: &Thresholds) -> NiceReading {
    if change > t.nice_rise_above + ROUNDING {
        NiceReading::Rise { change }
    } else if -change > t.nice_fall_above + ROUNDING {
        NiceReading::Fall { change }
    } else {
        NiceReading::Between { change }
    }
}

impl<'a> Engine<'a> {
    /// R5: the last two quantitative hCG values 24–96 h apart, normalised to 48 h, read by
    /// Barnhart: a trend only when it is not the rise of an ongoing IUP.
    pub(super) fn hcg_trend(&mut self, valid: &[Rec<'a>]) -> Option<(HcgTrend, Vec<Evidence>)> {
        let t = &self.kb.thresholds;
        let mut values: Vec<Reading<'a>> = Vec::new();
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
                    values.push(Reading {
                        at,
                        value: *value,
                        record: record.record,
                    });
                }
                Some(Value::Quantity { .. }) => {
                    self.diagnose(record, Some(Field::Value), "hCG unit is not mIU/mL or IU/L");
                }
                _ => {}
            }
        }
        let (first, second, hours) = latest_pair(values, t)?;
        let trend = match barnhart(first.value, growth(first, second, hours), t) {
            HcgTrend::AdequateRise { .. } => return None,
            trend => trend,
        };
        let evidence = vec![
            Evidence::record(
                Role::Hcg,
                first.record.kind,
                &first.record.id,
                Some(first.at.date()),
            ),
            Evidence::record(
                Role::Hcg,
                second.record.kind,
                &second.record.id,
                Some(second.at.date()),
            ),
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

    /// The hCG values R5N reads: measured values of this pregnancy (see [`latest_pair`] for why
    /// they are gathered apart from R5's).
    fn nice_values(&self, valid: &[Rec<'a>], start: Option<Date>) -> Vec<Reading<'a>> {
        valid
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
            .collect()
    }

    /// R5N: the NICE NG126 reading of a pair 24–72 h apart beside Barnhart's (R5). The profile's
    /// `hcg_trend_lead` says which reading the card gives first; when the two read the pair
    /// differently, the card states both.
    pub(super) fn nice_hcg(&self, valid: &[Rec<'a>], start: Option<Date>, r2: &mut Finding) {
        let t = &self.kb.thresholds;
        let Some((first, second, hours)) = latest_pair(self.nice_values(valid, start), t) else {
            return;
        };
        if hours > t.nice_pair_max_hours {
            return;
        }
        let change = growth(first, second, hours);
        let nice = nice(change, t);
        let barnhart = barnhart(first.value, change, t);
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
