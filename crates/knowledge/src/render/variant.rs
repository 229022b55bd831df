//! Which variant of a rule's card a finding gets, and the card text that variant reads.
//!
//! A variant is a situation in which the rule's usual words would be wrong, not merely
//! incomplete: R6's "until a normal intrauterine pregnancy is excluded" beside a documented
//! intrauterine pregnancy, R9's "no placental location is documented" beside a documented previa
//! (knowledge.md §3.6 W1, W5, W10). The profile writes each variant's summary (`variants`) and
//! the text it replaces (`variant_text`); this module only decides which one applies.

use std::borrow::Cow;

use gravida_rules::{Finding, IupStatus, Modifier, RuleId};

use crate::load::Profile;
use crate::templates::RuleCard;

/// The variant of the finding's card, if one applies.
pub(super) fn variant_of(finding: &Finding) -> Option<&'static str> {
    match finding.rule {
        // After a scan with no intrauterine pregnancy, the card leads with what is missing now:
        // the repeat of the last hCG, or a first one (§3.6 W6).
        RuleId::R2 if finding.iup == IupStatus::Pul => Some(
            if finding
                .modifiers
                .iter()
                .any(|m| matches!(m, Modifier::HcgLast { .. }))
            {
                "after_pul"
            } else {
                "after_pul_no_hcg"
            },
        ),
        // R2R: a qualitative test has no value to quote.
        RuleId::R2R
            if finding
                .modifiers
                .iter()
                .any(|m| matches!(m, Modifier::PulResolved { written: None, .. })) =>
        {
            Some("qualitative")
        }
        RuleId::R3 if finding.has(&Modifier::LabelDoubtful) => Some("label_doubtful"),
        RuleId::R4 if finding.has(&Modifier::BleedNotLight) => Some("not_light"),
        // An intrauterine pregnancy on record outranks the indication: it is the stronger reason.
        RuleId::R6 if matches!(finding.iup, IupStatus::Documented(_)) => Some("documented_iup"),
        RuleId::R6 if finding.has(&Modifier::OtherIndication) => Some("other_indication"),
        // R16: the order's reason names a loss the chart does not establish (§3.6 item 14); or
        // the draft names no drug at all.
        RuleId::R16 if finding.has(&Modifier::UnidentifiedOrder) => Some("unidentified_order"),
        RuleId::R16
            if finding
                .modifiers
                .iter()
                .any(|m| matches!(m, Modifier::Abortifacient { for_loss: true, .. })) =>
        {
            Some("for_loss")
        }
        // Vasa previa outranks a placenta previa: the fetus's blood may be the loss (§3.6
        // item 20).
        RuleId::R9 | RuleId::R14 if finding.has(&Modifier::VasaPrevia) => Some("vasa_previa"),
        RuleId::R9 | RuleId::R14 if finding.has(&Modifier::PreviaDocumented) => {
            Some("previa_documented")
        }
        _ => None,
    }
}

/// The rule's card text as this finding reads it: the variant's text in place of the rule's
/// own where the profile gives one.
pub(super) fn text_for<'p>(card: &'p RuleCard, finding: &Finding) -> Cow<'p, RuleCard> {
    match variant_of(finding).and_then(|v| card.variant_text.get(v)) {
        Some(text) => Cow::Owned(text.apply(card)),
        None => Cow::Borrowed(card),
    }
}

/// The card text of the rule an R2E card escalates, as R2E reads it: the rule's `escalated`
/// parts in place of its own (knowledge.md §3.6 W2: no 48-hour hCG plan for an unstable
/// patient).
pub(super) fn escalated_template(profile: &Profile, finding: &Finding) -> Option<RuleCard> {
    if finding.rule != RuleId::R2E {
        return None;
    }
    finding.modifiers.iter().find_map(|m| match m {
        Modifier::EscalatedFrom(rule) => {
            let card = profile.cards.rules.get(rule.as_str())?;
            Some(match &card.escalated {
                Some(text) => text.apply(card),
                None => card.clone(),
            })
        }
        _ => None,
    })
}
