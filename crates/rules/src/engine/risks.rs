//! Risk factors (knowledge.md §3.5 items 9, 15): of ectopic and heterotopic pregnancy (a prior
//! ectopic, an IUD in situ, an ART conception), named on R2 and R6, and R15's previous
//! miscarriage.

use time::Date;

use super::Engine;
use super::read::{Rec, is_active, record_date};
use crate::facts::{Record, Value};
use crate::finding::{Dating, DatingSource, Evidence, Finding, Modifier, RiskFactor, Role};
use crate::knowledge::class;

/// Adds the risk factors (and the records that show them) to a finding.
pub(super) fn add_risk_factors(finding: &mut Finding, risks: &[(RiskFactor, Option<&Record>)]) {
    for (risk, record) in risks {
        let modifier = Modifier::RiskFactor(*risk);
        if !finding.has(&modifier) {
            finding.modifiers.push(modifier);
        }
        if let Some(r) = record
            && !finding.evidence.iter().any(|e| e.id == r.id)
        {
            finding.evidence.push(Evidence::record(
                Role::RiskFactor,
                r.kind,
                &r.id,
                record_date(r),
            ));
        }
    }
}

impl<'a> Engine<'a> {
    /// §3.5 item 9: a prior ectopic (dated before this pregnancy, or undated), an IUD in situ, or
    /// an ART conception (coded, or the pregnancy dated by ART), each with the record that shows
    /// it (`None` for ART dating, which the card states already).
    pub(super) fn risk_factors(
        &self,
        valid: &[Rec<'a>],
        start: Option<Date>,
        dating: Option<&Dating>,
    ) -> Vec<(RiskFactor, Option<&'a Record>)> {
        let margin = self.kb.thresholds.before_pregnancy_margin_days;
        let mut risks: Vec<(RiskFactor, Option<&'a Record>)> = Vec::new();
        let mut add = |risk: RiskFactor, record: Option<&'a Record>| {
            if !risks.iter().any(|(r, _)| *r == risk) {
                risks.push((risk, record));
            }
        };
        for r in valid {
            if r.is(class::ECTOPIC) && !self.diagnosed_in_pregnancy(r, start) {
                add(RiskFactor::PriorEctopic, Some(r.record));
            }
            if r.is(class::IUD) && is_active(r) && r.abatement.is_none() {
                add(RiskFactor::Iud, Some(r.record));
            }
            // Conception comes about two weeks after the pregnancy's start; ART records shortly
            // before it (stimulation, transfer) are this pregnancy's.
            let this_pregnancy = match (record_date(r), start) {
                (Some(d), Some(s)) => (s - d).whole_days() <= margin,
                (date, None) => self.within_lookback(date),
                (None, Some(_)) => true,
            };
            // An embryo transfer is an ART conception whether or not it dates (§3.6 item 9).
            if r.is(class::ART_CONCEPTION | class::EMBRYO_TRANSFER) && this_pregnancy {
                add(RiskFactor::ArtConception, Some(r.record));
            }
        }
        if dating.is_some_and(|d| d.source == DatingSource::Art) {
            add(RiskFactor::ArtConception, None);
        }
        risks
    }

    /// R15's previous miscarriage: a count of previous spontaneous abortions ≥ 1, a miscarriage
    /// diagnosed before this pregnancy's start, or recurrent pregnancy loss (§3.5 item 15).
    pub(super) fn previous_miscarriage(
        &self,
        valid: &[Rec<'a>],
        start: Option<Date>,
    ) -> Option<&'a Record> {
        valid
            .iter()
            .find(|r| {
                // A count is a count whatever its unit ({#}, none); a bound ("<1") is not one.
                let count = match &r.value {
                    Some(Value::Integer(n)) => Some(*n as f64),
                    Some(Value::Quantity {
                        value,
                        comparator: None,
                        ..
                    }) => Some(*value),
                    _ => None,
                };
                let counted = r.is(class::MISCARRIAGE_COUNT) && count.is_some_and(|n| n >= 1.0);
                let before = r.is(class::PREVIOUS_MISCARRIAGE)
                    && matches!((record_date(r), start), (Some(d), Some(s)) if d < s);
                counted || before || r.is(class::RECURRENT_LOSS)
            })
            .map(|r| r.record)
    }
}
