//! What knowledge.md §3.5 adds to the bleeding cards once the decision table has made them: the
//! risk factors on R2 (item 9), the NICE reading of the hCG pair in a PUL (R5N, item 16), then
//! escalation (R2E, item 12; §3.6 W7): instability or a bleed worded heavy turns the card about
//! the bleed into a critical one.

use time::Date;

use super::Engine;
use super::bleed::Bleed;
use super::read::Rec;
use super::risks::add_risk_factors;
use crate::facts::Record;
use crate::finding::{Finding, Indicator, IupStatus, Modifier, RiskFactor, RuleId};
use crate::text;

/// The bleeding cards an R2E card escalates, in order of preference: the card about the bleed
/// itself (R2–R4, R12, R13, R14, R9), not the Rh or hematoma notes beside it.
pub(super) const ESCALATES: [RuleId; 7] = [
    RuleId::R2,
    RuleId::R3,
    RuleId::R4,
    RuleId::R13,
    RuleId::R14,
    RuleId::R9,
    RuleId::R12,
];

impl<'a> Engine<'a> {
    /// What §3.5 adds to the bleeding cards once they are made: risk factors on R2 (item 9), the
    /// NICE reading of the hCG pair in a PUL (R5N, item 16), then escalation (R2E, item 12).
    pub(super) fn refine(
        &mut self,
        valid: &[Rec<'a>],
        bleed: &Bleed<'a>,
        start: Option<Date>,
        iup: IupStatus,
        risks: &[(RiskFactor, Option<&'a Record>)],
        findings: &mut Vec<Finding>,
    ) {
        if let Some(r2) = findings.iter_mut().find(|f| f.rule == RuleId::R2) {
            add_risk_factors(r2, risks);
            if iup == IupStatus::Pul {
                self.nice_hcg(valid, start, r2);
            }
        }
        self.escalate(valid, bleed, findings);
    }

    /// R2E (§3.5 item 12): with any bleeding card, a vital sign of the last 24 h showing
    /// instability, or a bleeding record worded heavy, turns the card about the bleed into a
    /// critical one that leads with the emergency steps and keeps that card's advice after them.
    /// A vital sign that cannot be read is named on every card; alone it changes nothing.
    pub(super) fn escalate(
        &self,
        valid: &[Rec<'a>],
        bleed: &Bleed<'a>,
        findings: &mut Vec<Finding>,
    ) {
        if findings.is_empty() {
            return;
        }
        let (signs, evidence, unreadable) = self.instability(valid);
        for finding in findings.iter_mut() {
            for id in &unreadable {
                finding
                    .modifiers
                    .push(Modifier::UnreadableVitalSign { id: id.clone() });
            }
        }
        let heavy = text::mentions(
            &bleed.record.text,
            &self.kb.text.heavy_bleeding_terms,
            &self.kb.text,
        );
        // "Most pregnancies with light bleeding continue" is said of light bleeding only
        // (§3.6 W7): R4 is told when the bleed is described otherwise.
        let moderate = text::mentions(
            &bleed.record.text,
            &self.kb.text.moderate_bleeding_terms,
            &self.kb.text,
        );
        if heavy || moderate {
            for finding in findings.iter_mut().filter(|f| f.rule == RuleId::R4) {
                finding.modifiers.push(Modifier::BleedNotLight);
            }
        }
        if signs.is_empty() && !heavy {
            return;
        }
        let primary = ESCALATES
            .iter()
            .find_map(|rule| findings.iter().position(|f| f.rule == *rule));
        let mut card = match primary {
            Some(i) => findings.remove(i),
            None => {
                let mut f = findings[0].clone();
                f.modifiers
                    .retain(|m| !matches!(m, Modifier::ProgesteroneOrder));
                f
            }
        };
        let mut lead = vec![Modifier::EscalatedFrom(card.rule)];
        if card
            .ga
            .is_none_or(|g| g.days() <= self.kb.thresholds.early_window_max_days)
        {
            lead.push(Modifier::RupturedEctopicPossible);
        }
        lead.extend(signs);
        if heavy {
            lead.push(Modifier::HeavyBleeding);
        }
        card.rule = RuleId::R2E;
        card.indicator = Indicator::Critical;
        card.modifiers.splice(0..0, lead);
        card.evidence.extend(evidence);
        findings.insert(0, card);
    }
}
