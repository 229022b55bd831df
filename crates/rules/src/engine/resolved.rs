//! R2R, the pregnancy of unknown location resolved (knowledge.md §3.6 item 7).
//!
//! A negative pregnancy test (qualitative Negative / Not detected, or a quantitative hCG below
//! `hcg_not_pregnant_below`, a bound such as "<5" included) dated after the bleed and after every
//! positive evidence means no ongoing pregnancy: G1, no bleeding card. But when a pregnancy of
//! unknown location was being followed (a scan of this pregnancy, on or before the test, with no
//! intrauterine pregnancy documented), silence would leave R2's follow-up ("repeat hCG in 48 h",
//! R5's "follow hCG to undetectable") without its end: the note says the PUL resolved, with the
//! test and its date. It is a variant of R2, whose follow-up it ends (as R2E is R2 escalated),
//! and an info card: advice, not a diagnosis (the location stays unknown; SRU 2024 and the ESHRE
//! PUL nomenclature call this a resolved PUL).
//!
//! It runs only on G1's path, once, after the pass that found the test: what it reads (the dating
//! and the ultrasound status) is what the bleeding rules would have read.

use super::{Engine, Rec, record_date};
use crate::facts::Value;
use crate::finding::{Evidence, Finding, Indicator, IupStatus, Label, Modifier, Role, RuleId};
use crate::ga::GestationalAge;

impl<'a> Engine<'a> {
    /// R2R's note, if `test` (the negative test that decided G1) ends a PUL being followed.
    pub(super) fn pul_resolved(&mut self, valid: &[Rec<'a>], test: Rec<'a>) -> Option<Finding> {
        let dating = self.dating(valid);
        let start = dating.as_ref().map(|d| d.start);
        let (iup, evidence) = self.iup_status(valid, start);
        let tested = record_date(&test);
        let scanned_before = evidence.iter().any(|e| {
            e.role == Role::Ultrasound && e.date.is_none_or(|d| tested.is_none_or(|t| d <= t))
        });
        // "Pregnancy of unknown location" is an early-pregnancy term (§3.5 item 13): a dated
        // pregnancy past the early window at the test gets no such note.
        let ga = start
            .zip(tested)
            .map(|(s, t)| GestationalAge::on(s, t))
            .filter(|g| g.days() >= 0);
        let early = ga.is_none_or(|g| g.days() <= self.kb.thresholds.early_window_max_days);
        if iup != IupStatus::Pul || !scanned_before || !early {
            return None;
        }
        // The value as the lab wrote it, when the test is quantitative ("<5 m[IU]/mL").
        let written = match &test.value {
            Some(Value::Quantity {
                value,
                unit,
                code,
                comparator,
            }) if test.presence.is_none() => Some(super::hcg::written_bound(
                *value,
                comparator.as_deref().unwrap_or(""),
                unit.as_deref().or(code.as_deref()),
            )),
            _ => None,
        };
        let mut used: Vec<Evidence> = evidence
            .into_iter()
            .filter(|e| e.role == Role::Ultrasound)
            .collect();
        used.push(Evidence::record(Role::Hcg, test.kind, &test.id, tested));
        Some(Finding {
            rule: RuleId::R2R,
            indicator: Indicator::Info,
            ga,
            bleed_date: None,
            bleed_text: None,
            label: Label::Unspecified,
            iup,
            dating,
            evidence: used,
            modifiers: vec![Modifier::PulResolved {
                id: test.id.clone(),
                date: tested,
                written,
            }],
            draft_order: None,
        })
    }
}
