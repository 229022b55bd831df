//! Vital signs (knowledge.md §3.5 item 12; "Bad input", issue 16): the systolic pressures, heart
//! rates and shock indices of the last hours that show instability (the input of R2E), and the
//! vital signs whose value cannot be read, which are named on the card and never raise one.

use time::{Duration, OffsetDateTime};

use super::read::{Rec, record_date};
use super::{Engine, ROUNDING};
use crate::facts::{Field, Record, RecordKind, Value};
use crate::finding::{Evidence, Modifier, Role, VitalSign};
use crate::knowledge::class;

/// One systolic pressure or heart rate read from a record or a panel component.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Reading<'a> {
    pub(crate) at: OffsetDateTime,
    pub(crate) value: f64,
    pub(crate) record: &'a Record,
}

/// A quantity the engine may use as a number: no comparator (a bound is not a measurement,
/// §3.5 item 5), finite, positive and below `max`, with one of `units` (or none: the lab's
/// default).
pub(super) fn measured(value: &Option<Value>, units: &[&str], max: f64) -> Option<f64> {
    let (v, unit) = match value {
        Some(Value::Quantity {
            value,
            unit,
            code,
            comparator: None,
        }) => (*value, code.as_deref().or(unit.as_deref())),
        Some(Value::Integer(i)) => (*i as f64, None),
        _ => return None,
    };
    let unit_ok = unit.is_none_or(|u| units.contains(&u.trim().to_ascii_lowercase().as_str()));
    (unit_ok && v.is_finite() && v > 0.0 && v < max).then_some(v)
}

/// No blood pressure or heart rate reaches this: a larger number is a charting error.
pub(super) const VITAL_MAX: f64 = 400.0;

pub(super) const PRESSURE_UNITS: &[&str] = &["mm[hg]", "mmhg", "mm hg"];

pub(super) const RATE_UNITS: &[&str] = &[
    "/min",
    "1/min",
    "{beats}/min",
    "{beat}/min",
    "beats/min",
    "bpm",
];

/// The systolic pressures in time order, to find the one taken nearest a heart rate in
/// O(log n) (a shock index pairs the two: R2E, §3.5 item 12) instead of scanning them all for
/// every rate.
pub(crate) struct Pairing<'r, 'a> {
    /// `(taken at, position in the readings as given)`, sorted: among pressures taken at the
    /// same instant, the first given comes first.
    order: Vec<(OffsetDateTime, usize)>,
    readings: &'r [Reading<'a>],
}

impl<'r, 'a> Pairing<'r, 'a> {
    pub(crate) fn new(readings: &'r [Reading<'a>]) -> Self {
        let mut order: Vec<(OffsetDateTime, usize)> = readings
            .iter()
            .enumerate()
            .map(|(i, r)| (r.at, i))
            .collect();
        order.sort_unstable();
        Pairing { order, readings }
    }

    /// The pressure taken nearest `at`, within `window`; of two equally near, the one given
    /// first (what a scan in the order given, keeping the first minimum, would choose).
    pub(crate) fn nearest(&self, at: OffsetDateTime, window: Duration) -> Option<Reading<'a>> {
        // The first pressure taken at or after `at`, and the first of those taken at the
        // latest instant before it.
        let after = self.order.partition_point(|(t, _)| *t < at);
        let before = after.checked_sub(1).map(|last| {
            let t = self.order[last].0;
            self.order.partition_point(|(u, _)| *u < t)
        });
        [before, Some(after)]
            .into_iter()
            .flatten()
            .filter_map(|i| self.order.get(i))
            .map(|&(t, i)| ((t - at).abs(), i))
            .filter(|(distance, _)| *distance <= window)
            .min()
            .map(|(_, i)| self.readings[i])
    }
}

impl<'a> Engine<'a> {
    /// A vital sign (systolic pressure, heart rate, or a blood-pressure panel) from the recency
    /// window whose value cannot be read: it is named on the card, and never raises one
    /// ("Bad input", issue 16). The field that could not be read.
    pub(super) fn unreadable_vital(&self, record: &Rec<'a>) -> Option<Field> {
        let vs = &self.kb.value_sets;
        let recent = record_date(record)
            .is_some_and(|d| (self.today - d).whole_days() <= self.kb.thresholds.recency_days);
        if record.kind != RecordKind::Observation || !recent {
            return None;
        }
        let number = |v: &Option<Value>| matches!(v, Some(Value::Quantity { value, comparator: None, .. }) if value.is_finite());
        if record.is(class::BP_PANEL) {
            let systolic = record
                .components
                .iter()
                .find(|c| vs.systolic_bp.contains_any(&c.codes));
            return match systolic {
                Some(c) if number(&c.value) => None,
                _ => Some(Field::Component),
            };
        }
        let vital = record.is(class::SYSTOLIC_BP | class::HEART_RATE);
        (vital && !number(&record.value)).then_some(Field::Value)
    }

    /// The vital signs of the last `vital_signs_window_hours` that show instability (the latest
    /// of each sign), their records as evidence, and the ids of vital signs that could not be
    /// read (no usable value, unit or date).
    pub(super) fn instability(
        &self,
        valid: &[Rec<'a>],
    ) -> (Vec<Modifier>, Vec<Evidence>, Vec<String>) {
        let vs = &self.kb.value_sets;
        let t = &self.kb.thresholds;
        let from = self.now - Duration::hours(t.vital_signs_window_hours);
        let until = self.now + Duration::days(t.future_tolerance_days);
        let mut pressures: Vec<Reading<'a>> = Vec::new();
        let mut rates: Vec<Reading<'a>> = Vec::new();
        let mut unreadable = Vec::new();
        for r in valid {
            let systolic = r.is(class::SYSTOLIC_BP);
            let rate = r.is(class::HEART_RATE);
            if !(systolic || rate || r.is(class::BP_PANEL)) {
                continue;
            }
            let Some(at) = r.effective.or(r.recorded).map(|w| w.at) else {
                unreadable.push(r.id.clone());
                continue;
            };
            if at < from {
                continue;
            }
            if at > until {
                unreadable.push(r.id.clone());
                continue;
            }
            let before = pressures.len() + rates.len();
            let mut read = |value: &Option<Value>, systolic: bool, rate: bool| {
                if systolic && let Some(value) = measured(value, PRESSURE_UNITS, VITAL_MAX) {
                    pressures.push(Reading {
                        at,
                        value,
                        record: r.record,
                    });
                }
                if rate && let Some(value) = measured(value, RATE_UNITS, VITAL_MAX) {
                    rates.push(Reading {
                        at,
                        value,
                        record: r.record,
                    });
                }
            };
            read(&r.value, systolic, rate);
            for c in &r.components {
                read(
                    &c.value,
                    vs.systolic_bp.contains_any(&c.codes),
                    vs.heart_rate.contains_any(&c.codes),
                );
            }
            if pressures.len() + rates.len() == before {
                unreadable.push(r.id.clone());
            }
        }
        // The latest reading (of two taken at once, the later given), in one pass.
        let latest =
            |readings: &mut Vec<Reading<'a>>| readings.iter().copied().max_by_key(|r| r.at);
        let mut low: Vec<Reading<'a>> = pressures
            .iter()
            .copied()
            .filter(|p| p.value < t.systolic_bp_below)
            .collect();
        let mut fast: Vec<Reading<'a>> = rates
            .iter()
            .copied()
            .filter(|r| r.value > t.heart_rate_above)
            .collect();
        // A shock index needs a heart rate and a systolic pressure taken together.
        let pairing = Duration::minutes(t.shock_index_pairing_minutes);
        let paired = Pairing::new(&pressures);
        let shock: Vec<(Reading<'a>, Reading<'a>)> = rates
            .iter()
            .filter_map(|rate| {
                let pressure = paired.nearest(rate.at, pairing)?;
                (rate.value / pressure.value >= t.shock_index_from - ROUNDING)
                    .then_some((*rate, pressure))
            })
            .collect();

        let mut signs = Vec::new();
        let mut evidence: Vec<Evidence> = Vec::new();
        let mut cite = |reading: &Reading<'a>| {
            if !evidence.iter().any(|e| e.id == reading.record.id) {
                evidence.push(Evidence::record(
                    Role::VitalSign,
                    reading.record.kind,
                    &reading.record.id,
                    Some(reading.at.date()),
                ));
            }
        };
        if let Some(p) = latest(&mut low) {
            cite(&p);
            signs.push(Modifier::Vital {
                sign: VitalSign::SystolicBp,
                value: p.value,
                at: p.at,
                id: p.record.id.clone(),
            });
        }
        if let Some(r) = latest(&mut fast) {
            cite(&r);
            signs.push(Modifier::Vital {
                sign: VitalSign::HeartRate,
                value: r.value,
                at: r.at,
                id: r.record.id.clone(),
            });
        }
        if let Some((rate, pressure)) = shock.iter().max_by_key(|(rate, _)| rate.at) {
            cite(rate);
            cite(pressure);
            signs.push(Modifier::Vital {
                sign: VitalSign::ShockIndex,
                value: rate.value / pressure.value,
                at: rate.at,
                id: rate.record.id.clone(),
            });
        }
        (signs, evidence, unreadable)
    }
}
