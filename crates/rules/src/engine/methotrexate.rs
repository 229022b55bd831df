//! R6 (knowledge.md §3.4 item 8; §3.6 W10): a live draft order for methotrexate, coded or named,
//! in a current pregnancy gets a critical card; an order for another indication is said to be
//! one. Read from the draft orders only, so R6 answers only at the order hooks.

use super::Engine;
use crate::facts::DraftOrder;
use crate::finding::{Evidence, Finding, Indicator, IupStatus, Label, Modifier, Role, RuleId};

impl<'a> Engine<'a> {
    pub(super) fn is_methotrexate(&self, order: &DraftOrder) -> bool {
        let coded = self.kb.value_sets.methotrexate.contains_any(&order.codes);
        let named = order.text.iter().any(|t| {
            let lower = t.to_lowercase();
            self.kb
                .text
                .methotrexate_terms
                .iter()
                .any(|term| lower.contains(term.as_str()))
        });
        (coded || named) && order.is_live()
    }

    pub(super) fn methotrexate(
        &self,
        iup: IupStatus,
        iup_evidence: &[Evidence],
    ) -> Option<Finding> {
        let order = self
            .facts
            .draft_orders
            .iter()
            .find(|o| self.is_methotrexate(o))?;
        let mut evidence = vec![Evidence {
            role: Role::DraftOrder,
            resource_type: order.resource_type.clone(),
            id: order.id.clone(),
            date: None,
        }];
        evidence.extend(iup_evidence.iter().cloned());
        let mut modifiers = Vec::new();
        // Methotrexate for rheumatoid arthritis is not a treatment of ectopic pregnancy: its card
        // speaks of teratogenicity (§3.6 W10). Which card fires does not change.
        let other_indication = order.reasons.iter().any(|reason| {
            let lower = reason.to_lowercase();
            self.kb
                .text
                .methotrexate_other_indication_terms
                .iter()
                .any(|term| lower.contains(term.as_str()))
        });
        if other_indication {
            modifiers.push(Modifier::OtherIndication);
        }
        if self
            .facts
            .unavailable
            .contains(&crate::facts::Input::Ultrasound)
        {
            modifiers.push(Modifier::Unavailable(crate::facts::Input::Ultrasound));
        }
        Some(Finding {
            rule: RuleId::R6,
            indicator: Indicator::Critical,
            ga: None,
            bleed_date: None,
            bleed_text: None,
            label: Label::Unspecified,
            iup,
            dating: None,
            evidence,
            modifiers,
            draft_order: Some((order.resource_type.clone(), order.id.clone())),
        })
    }
}
