//! Cards never repeated and never asking for what is done: which of an answer's cards are hidden.
//!
//! Two rules, both decided by the audit store (README "Cards shown once"):
//!
//! - **Repeat.** At order-select and order-sign, a card that is not about the orders is hidden
//!   when the *same card* was shown for this patient, by this caller (issuer and tenant), in the
//!   same encounter (`context.encounterId`) or within `cards.repeat_window_hours`. The clinician
//!   saw it at patient-view; signing orders is not the moment to show it again.
//! - **Already addressed.** At every hook, a card is hidden when a clinician overrode the same
//!   card for this patient with a reason that says the advice is in hand ([`DISMISSING`]): HL7's
//!   non-adherence codes `action-completed` and `indication-order-exists` (CDS Hooks 3.0.0), or
//!   the earlier `urn:gravida:override-reason` code `already-addressed`, still accepted; in
//!   feedback sent to the same service by the caller the card was issued to
//!   (docs/card-suppression.md).
//!
//! "The same card" is its **fingerprint**: a keyed hash of the rule id and the identities and
//! dates of the records it rests on, computed from the engine's finding (never parsed back out
//! of card text). A new bleed, a new hCG result or a new ultrasound changes the evidence, so it
//! changes the fingerprint, and the card is shown again.
//!
//! What is never hidden: the methotrexate card (R6, which is about the orders) and any critical
//! card. When the store cannot answer in time ([`Audit::check_timeout`]), or the health check
//! has found it unusable, nothing is hidden: showing a card twice is the safe failure. With no store (`[store] enabled = false`)
//! nothing is hidden at all, as before.

use gravida_cds_hooks::NON_ADHERENCE_REASON_SYSTEM;
use gravida_knowledge::{Rendered, RuleMode};
use gravida_rules::finding::{Dating, Evidence, Finding, Indicator, RuleId};
use gravida_store::{SuppressedRecord, SuppressionQuery};

use crate::audit::{Audit, HookCall, unix_ms};
use crate::card::Shown;

/// The override reasons that dismiss a card until its evidence changes, as (system, code). The
/// knowledge profile offers the two standard ones on every card (`profiles/default/cards.toml`,
/// `[[override_reasons]]`): "Recommended action was already completed" and "Patient has
/// indication/order for intended action" (HL7 non-adherence reason codes, CDS Hooks 3.0.0).
/// The code Gravida offered before them, `urn:gravida:override-reason` `already-addressed`, is
/// still honoured: feedback about cards issued before the change, or from a client that cached
/// the old reasons, keeps its meaning.
pub const DISMISSING: [(&str, &str); 3] = [
    (NON_ADHERENCE_REASON_SYSTEM, "action-completed"),
    (NON_ADHERENCE_REASON_SYSTEM, "indication-order-exists"),
    (LEGACY_REASON_SYSTEM, "already-addressed"),
];

/// The system of the override reasons Gravida offered before CDS Hooks 3.0.0's standard set.
pub const LEGACY_REASON_SYSTEM: &str = "urn:gravida:override-reason";

/// The canonical text a card's fingerprint hashes: the rule, then each record the finding rests
/// on as `Type/id@date`, sorted, so that the order the engine listed them in does not matter.
/// Draft orders are left out: they belong to the call, not to the chart, and a card that is
/// not about the orders must match across hooks whatever is being ordered.
pub fn fingerprint(finding: &Finding) -> String {
    canonical(finding.rule, &finding.evidence, finding.dating.as_ref())
}

fn canonical(rule: RuleId, evidence: &[Evidence], dating: Option<&Dating>) -> String {
    let date = |d: Option<time::Date>| d.map_or_else(|| "-".to_owned(), |d| d.to_string());
    let mut records: Vec<String> = evidence
        .iter()
        .filter(|e| e.role != gravida_rules::finding::Role::DraftOrder)
        .map(|e| format!("{}/{}@{}", e.resource_type, e.id, date(e.date)))
        .collect();
    if let Some(dating) = dating {
        records.push(format!(
            "dating:{}@{}",
            dating.record_id,
            date(dating.record_date)
        ));
    }
    records.sort();
    records.dedup();
    format!("v1|{rule}|{}", records.join("|"))
}

/// Whether a suppression rule may ever hide this finding's card.
fn protected(finding: &Finding) -> bool {
    finding.rule == RuleId::R6 || finding.indicator == Indicator::Critical
}

/// The cards of silent rules as the audit trail records them: each with its fingerprint (with a
/// store), never screened. A silent card is never shown, so no suppression rule applies to it,
/// and the store's repeat check reads only active cards, so it makes no later card a repeat.
pub fn silent(audit: Option<&Audit>, cards: Vec<Rendered>) -> Vec<Shown> {
    cards
        .into_iter()
        .map(|rendered| Shown {
            fingerprint: audit.map(|audit| audit.card_hash(&fingerprint(&rendered.finding))),
            rendered,
            mode: RuleMode::Silent,
        })
        .collect()
}

/// The cards to show, with their fingerprints. Without a store every card is shown.
pub async fn screen(
    audit: Option<&Audit>,
    call: &HookCall<'_>,
    cards: Vec<Rendered>,
    repeat_window_hours: u32,
) -> Vec<Shown> {
    let Some(audit) = audit else {
        return cards
            .into_iter()
            .map(|rendered| Shown {
                rendered,
                fingerprint: None,
                mode: RuleMode::Active,
            })
            .collect();
    };
    let HookCall {
        service,
        hook_instance,
        context,
        caller,
        now,
    } = *call;
    let repeat_hides = service.hook.has_draft_orders();
    // (card, fingerprint, may be hidden)
    let cards: Vec<(Rendered, String, bool)> = cards
        .into_iter()
        .map(|rendered| {
            let fingerprint = audit.card_hash(&fingerprint(&rendered.finding));
            let may_hide = !protected(&rendered.finding);
            (rendered, fingerprint, may_hide)
        })
        .collect();
    let candidates: Vec<(String, bool)> = cards
        .iter()
        .filter(|(_, _, may_hide)| *may_hide)
        .map(|(_, fp, _)| (fp.clone(), repeat_hides))
        .collect();
    let show_all = |cards: Vec<(Rendered, String, bool)>| {
        cards
            .into_iter()
            .map(|(rendered, fingerprint, _)| Shown {
                rendered,
                fingerprint: Some(fingerprint),
                mode: RuleMode::Active,
            })
            .collect()
    };
    if candidates.is_empty() {
        return show_all(cards);
    }

    // The health check found the store unusable: do not wait for it on every call.
    if audit.not_ready().is_some() {
        metrics::counter!("gravida_suppression_checks_failed_total").increment(1);
        return show_all(cards);
    }
    let patient_hash = audit.patient_hash(context.patient_id());
    let query = SuppressionQuery {
        patient_hash: patient_hash.clone(),
        service: service.id.to_owned(),
        issuer: caller.map(|c| c.iss.clone()),
        tenant: caller.and_then(|c| c.tenant.clone()),
        encounter_hash: context.encounter_id().map(|id| audit.encounter_hash(id)),
        // A window of 0 hours: no card is recent enough; only the encounter decides.
        repeat_since_ms: match repeat_window_hours {
            0 => i64::MAX,
            hours => unix_ms(now) - i64::from(hours) * 3_600_000,
        },
        dismissing: DISMISSING
            .iter()
            .map(|(system, code)| ((*system).to_owned(), (*code).to_owned()))
            .collect(),
        candidates,
    };
    let found =
        match tokio::time::timeout(audit.check_timeout(), audit.check_suppression(query)).await {
            Ok(Ok(found)) => found,
            Ok(Err(e)) => {
                metrics::counter!("gravida_suppression_checks_failed_total").increment(1);
                tracing::warn!(error = %e, "suppression check failed: every card is shown");
                return show_all(cards);
            }
            Err(_) => {
                metrics::counter!("gravida_suppression_checks_failed_total").increment(1);
                tracing::warn!("suppression check timed out: every card is shown");
                return show_all(cards);
            }
        };

    // The answers come in the order of the candidates.
    let mut found = found.into_iter();
    let mut shown = Vec::with_capacity(cards.len());
    let mut suppressed = Vec::new();
    for (rendered, fingerprint, may_hide) in cards {
        let reason = if may_hide {
            found.next().flatten()
        } else {
            None
        };
        let rule = rendered.finding.rule;
        match reason {
            Some(reason) => {
                metrics::counter!("gravida_cards_suppressed_total",
                    "reason" => reason.as_str(), "rule" => rule.as_str())
                .increment(1);
                // The rule and the reason, never the patient or the records.
                tracing::info!(
                    rule = rule.as_str(),
                    reason = reason.as_str(),
                    service = service.id,
                    hook_instance,
                    "card suppressed"
                );
                suppressed.push(SuppressedRecord {
                    rule_id: rule.as_str().to_owned(),
                    reason,
                    fingerprint,
                    service: service.id.to_owned(),
                    hook_instance: hook_instance.to_owned(),
                    suppressed_at_ms: unix_ms(now),
                    issuer: caller.map(|c| c.iss.clone()),
                    tenant: caller.and_then(|c| c.tenant.clone()),
                    patient_hash: patient_hash.clone(),
                });
            }
            None => shown.push(Shown {
                rendered,
                fingerprint: Some(fingerprint),
                mode: RuleMode::Active,
            }),
        }
    }
    audit.record_suppressed(suppressed);
    shown
}

#[cfg(test)]
mod tests {
    use super::*;
    use gravida_rules::facts::RecordKind;
    use gravida_rules::finding::Role;
    use time::macros::date;

    fn record(role: Role, id: &str, date: time::Date) -> Evidence {
        Evidence::record(role, RecordKind::Condition, id, Some(date))
    }

    #[test]
    fn the_fingerprint_ignores_the_order_of_the_evidence_and_the_draft_orders() {
        let a = record(Role::Bleed, "b1", date!(2026 - 11 - 22));
        let b = record(Role::PregnancyEvidence, "p1", date!(2026 - 10 - 01));
        let order = record(Role::DraftOrder, "o1", date!(2026 - 12 - 01));
        assert_eq!(
            canonical(RuleId::R2, &[a.clone(), b.clone()], None),
            canonical(RuleId::R2, &[b, order, a], None)
        );
    }

    #[test]
    fn a_new_bleed_a_new_date_or_another_rule_changes_the_fingerprint() {
        let b1 = record(Role::Bleed, "b1", date!(2026 - 11 - 22));
        let b2 = record(Role::Bleed, "b2", date!(2026 - 11 - 29));
        let b1_redated = record(Role::Bleed, "b1", date!(2026 - 11 - 23));
        let all = [
            canonical(RuleId::R2, std::slice::from_ref(&b1), None),
            canonical(RuleId::R2, &[b1.clone(), b2], None),
            canonical(RuleId::R2, &[b1_redated], None),
            canonical(RuleId::R3, &[b1], None),
        ];
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }
}
