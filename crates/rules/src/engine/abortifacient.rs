//! What the abortifacient guard (R16, knowledge.md §3.6 item 14) reads of the current pregnancy.
//!
//! The rule itself is `crate::abortifacient`, pure over this summary; here the engine picks the
//! records of this pregnancy episode it needs, read as every rule reads them: the scans
//! (findings, reports and ultrasound Procedures), the crown–rump lengths in millimetres, the
//! cardiac-activity findings as present or absent (§3.6 item 5: in any form FHIR allows), and
//! the reasons of the encounters in progress.

use time::Date;

use super::read::encounter_current;
use super::vitals::measured;
use super::{Engine, Rec, record_date};
use crate::abortifacient::Pregnancy;
use crate::facts::{Presence, RecordKind, Value};
use crate::finding::{Evidence, IupStatus};
use crate::ga::GestationalAge;
use crate::knowledge::class;

/// No embryo measures this much: a larger crown–rump length is a charting error.
const CRL_MAX_MM: f64 = 150.0;

impl<'a> Engine<'a> {
    /// The current pregnancy as R16 reads it. `start` is GA 0 when the pregnancy is dated.
    pub(super) fn abortifacient_pregnancy(
        &self,
        valid: &[Rec<'a>],
        start: Option<Date>,
        iup: (IupStatus, &[Evidence]),
    ) -> Pregnancy<'a> {
        let mut pregnancy = Pregnancy {
            ga_today: start.map(|s| GestationalAge::on(s, self.today)),
            iup: iup.0,
            iup_evidence: iup.1.to_vec(),
            ultrasounds: Vec::new(),
            crl_mm: Vec::new(),
            cardiac_activity: Vec::new(),
            encounter_reasons: Vec::new(),
            conditions: Vec::new(),
        };
        for rec in valid {
            let date = record_date(rec);
            if rec.kind == RecordKind::Encounter && encounter_current(rec) {
                pregnancy.encounter_reasons.push(&rec.record.text);
            }
            if rec.kind == RecordKind::Condition {
                pregnancy.conditions.push(rec.record);
            }
            if !self.in_pregnancy(date, start) {
                continue;
            }
            if rec.is(class::CRL) {
                let mm = measured(&rec.value, &["mm"], CRL_MAX_MM).or_else(|| {
                    measured(&rec.value, &["cm"], CRL_MAX_MM / 10.0).map(|cm| cm * 10.0)
                });
                if let Some(mm) = mm {
                    pregnancy.crl_mm.push((mm, rec.record, date));
                }
            }
            if rec.is(class::FETAL_HEART) {
                if self.is_present(&rec.value) || rec.presence == Some(Presence::Present) {
                    pregnancy.cardiac_activity.push((true, rec.record, date));
                } else if self.answered_absent(rec)
                    || matches!(rec.value, Some(Value::Quantity { value, .. }) if value == 0.0)
                    || matches!(rec.value, Some(Value::Integer(0)))
                {
                    pregnancy.cardiac_activity.push((false, rec.record, date));
                }
            }
            let scan = (rec.kind != RecordKind::Condition && rec.is(class::ULTRASOUND))
                || (rec.kind == RecordKind::Procedure && rec.is(class::PROCEDURE_ULTRASOUND));
            if scan {
                pregnancy.ultrasounds.push((rec.record, date));
            }
        }
        pregnancy
    }
}
