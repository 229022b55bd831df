//! The gestational trophoblastic disease picture (knowledge.md §3.6 item 15): a modifier of the
//! bleeding card, never a diagnosis.
//!
//! A molar pregnancy bleeds in the first trimester like any other, and its work-up differs:
//! histology of any tissue passed or evacuated, and hCG followed to normal (RCOG GTG 38, 2020;
//! ACR Appropriateness Criteria, first-trimester bleeding, 2025). So when no intrauterine
//! pregnancy is documented and the chart shows one of the signs, every bleeding card says that
//! the picture raises the possibility:
//! - a quantitative hCG of this pregnancy above `gtd_hcg_above` (100,000 IU/L), in canonical
//!   units (§3.6 item 3: IU/mL is read ×1,000);
//! - an ultrasound record (a finding, a report or its conclusion) naming the appearance
//!   (`molar_words`: "molar", "hydatidiform", "snowstorm", "vesicular"), not negated;
//! - a hedged molar diagnosis (a Condition of the `molar-pregnancy` value set, or naming it, with
//!   a provisional, differential or unconfirmed status or hedge words): a confirmed one is G5 and
//!   never reaches this.
//!
//! The hCG is named when there is one (the card quotes it); else the record whose appearance or
//! diagnosis raised it.

use time::Date;

use super::{Engine, Rec, hcg_unit_ok, is_confirmed, record_date};
use crate::facts::{RecordKind, Value};
use crate::finding::{IupStatus, Modifier};
use crate::knowledge::class;
use crate::text;

impl<'a> Engine<'a> {
    /// The GTD modifier for the bleeding cards of this pregnancy, if the chart shows its picture.
    pub(super) fn gtd_picture(
        &self,
        valid: &[Rec<'a>],
        start: Option<Date>,
        iup: IupStatus,
    ) -> Option<Modifier> {
        if matches!(iup, IupStatus::Documented(_)) {
            return None;
        }
        let t = &self.kb.text;
        let mut appearance: Option<&Rec<'a>> = None;
        let mut hcg: Option<(&Rec<'a>, String)> = None;
        for rec in valid {
            if !self.in_pregnancy(record_date(rec), start) {
                continue;
            }
            if rec.is(class::HCG)
                && let Some(Value::Quantity {
                    value,
                    unit,
                    code,
                    comparator: None,
                }) = &rec.value
                && hcg_unit_ok(code.as_deref().or(unit.as_deref()))
                && value.is_finite()
                && *value > self.kb.thresholds.gtd_hcg_above
                && hcg
                    .as_ref()
                    .is_none_or(|(r, _)| record_date(r) < record_date(rec))
            {
                let written =
                    super::hcg::written_bound(*value, "", unit.as_deref().or(code.as_deref()));
                hcg = Some((rec, written));
            }
            let scan = rec.kind != RecordKind::Condition && rec.is(class::ULTRASOUND)
                || rec.kind == RecordKind::DiagnosticReport;
            let condition = rec.kind == RecordKind::Condition;
            // Only a scan's or a diagnosis's words can raise the picture: no other record's text
            // is read for them.
            if !scan && !condition {
                continue;
            }
            let named = text::mentions(&rec.text, &t.molar_words, t);
            let hedged_diagnosis = condition
                && (named || self.kb.value_sets.molar_pregnancy.contains_any(&rec.codes))
                && (!is_confirmed(rec) || text::hedged(&rec.text, t));
            if (scan && named) || hedged_diagnosis {
                appearance = Some(rec);
            }
        }
        match (hcg, appearance) {
            (Some((rec, written)), _) => Some(Modifier::GtdPossible {
                id: rec.id.clone(),
                date: record_date(rec),
                hcg: Some(written),
            }),
            (None, Some(rec)) => Some(Modifier::GtdPossible {
                id: rec.id.clone(),
                date: record_date(rec),
                hcg: None,
            }),
            (None, None) => None,
        }
    }
}
