//! IUP status (knowledge.md §3.4 item 4, §8; §3.5 items 10, 20): an intrauterine pregnancy
//! documented in this pregnancy (a confirmed, unhedged coded IUP, a fetal heart present, a CRL),
//! else a pregnancy of unknown location when an ultrasound was done (a result, or a TVUS charted
//! as a Procedure), else no ultrasound.

use time::Date;

use super::Engine;
use super::read::{Rec, is_confirmed, record_date};
use crate::facts::{Presence, RecordKind, Value};
use crate::finding::{Evidence, IupStatus, Role};
use crate::knowledge::class;
use crate::text;

impl<'a> Engine<'a> {
    pub(super) fn iup_status(
        &self,
        valid: &[Rec<'a>],
        start: Option<Date>,
    ) -> (IupStatus, Vec<Evidence>) {
        let vs = &self.kb.value_sets;
        let mut iup_evidence = Vec::new();
        let mut us_evidence = Vec::new();
        let mut iup_date: Option<Option<Date>> = None;
        for record in valid {
            let date = record_date(record);
            if !self.in_pregnancy(date, start) {
                continue;
            }
            // A coded finding answered absent ("Intrauterine pregnancy: Absent") documents no IUP
            // (§3.5 item 10).
            let coded_iup = (record.is(class::IUP)
                || matches!(&record.value, Some(Value::Concept { codes, .. }) if vs.iup.contains_any(codes)))
                && !self.answered_absent(record);
            // Only a coded IUP can be hedged ("probable IUP"); read its text only then.
            let documents_iup = (coded_iup
                && is_confirmed(record)
                && !text::hedged(&record.text, &self.kb.text))
                || (record.is(class::FETAL_HEART)
                    && (self.is_present(&record.value)
                        || record.presence == Some(Presence::Present)))
                || (record.is(class::CRL)
                    && matches!(record.value, Some(Value::Quantity { value, .. }) if value > 0.0));
            if documents_iup {
                iup_evidence.push(Evidence::record(
                    Role::IntrauterinePregnancy,
                    record.kind,
                    &record.id,
                    date,
                ));
                iup_date = Some(match (iup_date.flatten(), date) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    (a, b) => a.or(b),
                });
            }
            if record.kind != RecordKind::Condition && record.is(class::ULTRASOUND) {
                us_evidence.push(Evidence::record(
                    Role::Ultrasound,
                    record.kind,
                    &record.id,
                    date,
                ));
            }
        }
        // An ultrasound charted only as a Procedure is a TVUS performed on its date (§3.5 item 20).
        for record in self.procedures(valid, class::PROCEDURE_ULTRASOUND) {
            let date = record_date(record);
            if self.in_pregnancy(date, start) {
                us_evidence.push(Evidence::record(
                    Role::Ultrasound,
                    record.kind,
                    &record.id,
                    date,
                ));
            }
        }
        match iup_date {
            Some(d) => (IupStatus::Documented(d), iup_evidence),
            None if !us_evidence.is_empty() => (IupStatus::Pul, us_evidence),
            None => (IupStatus::NoUltrasound, Vec::new()),
        }
    }

    pub(super) fn is_present(&self, value: &Option<Value>) -> bool {
        match value {
            Some(Value::Boolean(b)) => *b,
            Some(Value::Concept { codes, .. }) => {
                self.kb.value_sets.present_answer.contains_any(codes)
            }
            Some(Value::Quantity { value, .. }) => *value > 0.0,
            Some(Value::Integer(i)) => *i > 0,
            _ => false,
        }
    }
}
