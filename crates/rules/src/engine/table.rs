//! The decision table for a bleed (knowledge.md §3.4, §3.5 items 13, 15, 20): one function per
//! rule family (R13; R1; R12 and R2–R4; R7 and R8; R9 and R14; R10; R15), each reading only the
//! derived inputs ([`BleedInputs`]) and the thresholds, never a record. The gates before it are in
//! `Engine::run` (engine.rs); what is added to its cards afterwards is in `escalation.rs`.

use super::Engine;
use super::bleed::Bleed;
use super::inputs::BleedInputs;
use super::read::{Rec, record_date};
use crate::finding::{
    Dating, Evidence, Finding, Indicator, IupStatus, Label, Modifier, Role, RuleId,
};
use crate::ga::GestationalAge;
use crate::knowledge::Thresholds;

impl<'a> Engine<'a> {
    /// The cards about `bleed`: its inputs derived first, then the table applied to them.
    pub(super) fn bleed_findings(
        &mut self,
        valid: &[Rec<'a>],
        bleed: &Bleed<'a>,
        dating: Option<Dating>,
        iup: (IupStatus, Vec<Evidence>),
        suspected: bool,
    ) -> Vec<Finding> {
        let mut inputs = self.bleed_inputs(valid, bleed, dating, iup);
        inputs.suspected = suspected;
        decide(inputs, &self.kb.thresholds)
    }
}

/// The table at the pregnancy's GA; for a GA that is a range (a partial date, §3.6 item 4), at
/// both ends of it, following the more cautious (the higher indicator; on a tie, the higher GA),
/// each card stating the range.
fn decide(i: BleedInputs<'_>, t: &Thresholds) -> Vec<Finding> {
    // R13: no usable dating.
    let (Some(dating), Some(ga)) = (&i.dating, i.ga) else {
        return vec![no_dating(i)];
    };
    let (Some(low), Some(partial)) = (i.ga_low, dating.partial) else {
        return dated(&i, dating, ga, t);
    };
    let high_cards = dated(&i, dating, ga, t);
    let low_cards = dated(&i, dating, low, t);
    let highest = |cards: &[Finding]| cards.iter().map(|f| f.indicator).max();
    let mut cards = if highest(&low_cards) > highest(&high_cards) {
        low_cards
    } else {
        high_cards
    };
    let range = Modifier::GaRange {
        source: dating.source,
        written: partial.written,
        precision: partial.precision,
        low,
        high: ga,
    };
    for card in &mut cards {
        card.modifiers.push(range.clone());
    }
    cards
}

/// The rule families at `ga`, in the order their cards are made.
fn dated(i: &BleedInputs<'_>, dating: &Dating, ga: GestationalAge, t: &Thresholds) -> Vec<Finding> {
    let card = Dated::new(i, dating, ga, t);

    // R1 is terminal: implantation bleeding in the plausible window gets no card at all, unless
    // an ectopic, molar or loss diagnosis is suspected on record (§3.6 item 2: R2 then fires).
    if implantation(&card) {
        return suspected(&card).into_iter().collect();
    }

    let mut findings = Vec::new();
    findings.extend(early_pregnancy(&card));
    findings.extend(rh(&card));
    findings.extend(placenta(&card));
    findings.extend(hematoma(&card));
    findings.extend(progesterone(&card));
    if findings.is_empty() {
        findings.extend(suspected(&card));
    }
    findings
}

/// R2 at the bleed's GA when a hedged ectopic, molar or loss diagnosis is on record and no other
/// rule fired (knowledge.md §3.6 item 2): before a sac is expected, say.
fn suspected(c: &Dated) -> Option<Finding> {
    c.i.suspected.then(|| r2(c))
}

/// R2's card: the label's modifier, the hCG trend (R5) and notes.
fn r2(c: &Dated) -> Finding {
    let i = c.i;
    let mut f = c.card(
        RuleId::R2,
        Indicator::Warning,
        std::slice::from_ref(&c.label_modifier),
    );
    if let Some((trend, hcg_evidence)) = &i.hcg_trend {
        f.modifiers.push(Modifier::HcgTrend(*trend));
        f.evidence.extend(hcg_evidence.iter().cloned());
    }
    f.modifiers.extend(i.hcg_notes.iter().cloned());
    f
}

/// The card of `rule`, with what every bleeding card carries.
fn base(
    i: &BleedInputs<'_>,
    rule: RuleId,
    indicator: Indicator,
    ga: Option<GestationalAge>,
) -> Finding {
    Finding {
        rule,
        indicator,
        ga,
        bleed_date: i.bleed_date,
        bleed_text: i.bleed_text.clone(),
        label: i.label,
        iup: i.iup,
        dating: i.dating.clone(),
        evidence: i.evidence.clone(),
        modifiers: i.common.clone(),
        draft_order: None,
    }
}

/// R13: no usable dating.
fn no_dating(i: BleedInputs<'_>) -> Finding {
    let mut f = base(&i, RuleId::R13, Indicator::Warning, None);
    f.modifiers.extend(i.hcg_notes);
    f
}

/// A dated pregnancy: the inputs, the GA in days, and what every dated card adds.
struct Dated<'i, 'a> {
    i: &'i BleedInputs<'a>,
    t: &'i Thresholds,
    ga: GestationalAge,
    g: i64,
    redated: Option<Modifier>,
    label_modifier: Option<Modifier>,
    documented_iup: bool,
}

impl<'i, 'a> Dated<'i, 'a> {
    fn new(i: &'i BleedInputs<'a>, dating: &Dating, ga: GestationalAge, t: &'i Thresholds) -> Self {
        let g = ga.days();
        let redated = dating
            .redated_from_lmp_days
            .map(|days| Modifier::Redated { days });
        let label_modifier = match i.label {
            Label::Implantation if g > t.implantation_doubtful_max_days => {
                Some(Modifier::LabelImplausible)
            }
            Label::Implantation if g > t.implantation_plausible_max_days => {
                Some(Modifier::LabelDoubtful)
            }
            _ => None,
        };
        let documented_iup = matches!(i.iup, IupStatus::Documented(_));
        Dated {
            i,
            t,
            ga,
            g,
            redated,
            label_modifier,
            documented_iup,
        }
    }

    /// The card of `rule` at this GA, with the re-dating named and the `extra` modifiers.
    fn card(&self, rule: RuleId, indicator: Indicator, extra: &[Option<Modifier>]) -> Finding {
        let mut f = base(self.i, rule, indicator, Some(self.ga));
        f.modifiers.extend(self.redated.iter().cloned());
        f.modifiers.extend(extra.iter().flatten().cloned());
        f
    }
}

/// R1: implantation bleeding in the plausible window (terminal: no card at all).
fn implantation(c: &Dated) -> bool {
    c.i.label == Label::Implantation && c.g <= c.t.implantation_plausible_max_days
}

/// R12, R2, R3, R4: the bleed in early pregnancy, by GA and IUP status.
fn early_pregnancy(c: &Dated) -> Option<Finding> {
    let (i, t, g) = (c.i, c.t, c.g);
    if g <= t.implantation_plausible_max_days {
        // R12 (policy switch): unlabelled bleeding before a sac is expected.
        if t.r12_enabled {
            let mut f = c.card(RuleId::R12, Indicator::Info, &[]);
            f.modifiers.extend(i.hcg_notes.iter().cloned());
            return Some(f);
        }
    } else if g <= t.early_window_max_days {
        if c.documented_iup {
            let sch_note = (!i.sch.is_empty()).then_some(Modifier::SubchorionicHematoma);
            if i.label == Label::Implantation {
                return Some(c.card(
                    RuleId::R3,
                    Indicator::Info,
                    &[c.label_modifier.clone(), sch_note],
                ));
            } else {
                return Some(c.card(RuleId::R4, Indicator::Info, &[sch_note]));
            }
        } else {
            return Some(r2(c));
        }
    }
    None
}

/// R7 / R8: Rh negative, not sensitised.
fn rh(c: &Dated) -> Option<Finding> {
    let (i, t, g) = (c.i, c.t, c.g);
    if i.rh_negative == Some(true) && !i.sensitised {
        if g >= t.anti_d_from_days {
            // Anti-D given within its protective window, or being ordered now: nothing to
            // consider (§3.5 item 20, §3.6 item 16). The fact stays on the other cards' long form.
            if i.anti_d.is_none() && !i.anti_d_drafted {
                return Some(c.card(RuleId::R7, Indicator::Warning, &[]));
            }
        } else if g > t.implantation_plausible_max_days || i.label != Label::Implantation {
            return Some(c.card(RuleId::R8, Indicator::Info, &[]));
        }
    }
    None
}

/// R9: placenta previa not excluded from 14w0d. R14: from 20w0d, obstetric triage, into which R9
/// folds (§3.5 item 13).
fn placenta(c: &Dated) -> Option<Finding> {
    let (i, t, g) = (c.i, c.t, c.g);
    if g < t.previa_check_from_days {
        return None;
    }
    let (previa, location) = (&i.previa, &i.placental_location);
    if g >= t.obstetric_triage_from_days {
        let not_located = previa.is_empty() && location.is_empty();
        let mut f = c.card(
            RuleId::R14,
            Indicator::Warning,
            &[
                c.label_modifier.clone(),
                (!previa.is_empty()).then_some(Modifier::PreviaDocumented),
                not_located.then_some(Modifier::PlacentaNotLocated),
                (i.rh_negative == Some(true)).then_some(Modifier::KleihauerBetke),
            ],
        );
        for r in previa {
            f.evidence.push(Evidence::record(
                Role::Previa,
                r.kind,
                &r.id,
                record_date(r),
            ));
        }
        for r in location {
            f.evidence.push(Evidence::record(
                Role::PlacentalLocation,
                r.kind,
                &r.id,
                record_date(r),
            ));
        }
        Some(f)
    } else if !previa.is_empty() || location.is_empty() {
        let indicator = if g >= t.previa_warning_from_days {
            Indicator::Warning
        } else {
            Indicator::Info
        };
        let mut f = c.card(
            RuleId::R9,
            indicator,
            &[
                c.label_modifier.clone(),
                (!previa.is_empty()).then_some(Modifier::PreviaDocumented),
            ],
        );
        for r in previa {
            f.evidence.push(Evidence::record(
                Role::Previa,
                r.kind,
                &r.id,
                record_date(r),
            ));
        }
        Some(f)
    } else {
        None
    }
}

/// R10: subchorionic hematoma with bleeding in a documented IUP.
fn hematoma(c: &Dated) -> Option<Finding> {
    if !c.documented_iup || c.i.sch.is_empty() {
        return None;
    }
    let mut f = c.card(RuleId::R10, Indicator::Info, &[]);
    for r in &c.i.sch {
        f.evidence.push(Evidence::record(
            Role::SubchorionicHematoma,
            r.kind,
            &r.id,
            record_date(r),
        ));
    }
    Some(f)
}

/// R15: bleeding before 16w0d in a documented IUP after a previous miscarriage: NICE offers
/// vaginal progesterone, ACOG does not routinely (§3.5 item 15). Never without a documented IUP,
/// so never for a PUL.
fn progesterone(c: &Dated) -> Option<Finding> {
    let t = c.t;
    if c.documented_iup
        && c.g < t.progesterone_before_days
        && let Some(previous) = c.i.previous_miscarriage
    {
        let mut f = c.card(
            RuleId::R15,
            Indicator::Info,
            &[t.r15_order_enabled.then_some(Modifier::ProgesteroneOrder)],
        );
        f.evidence.push(Evidence::record(
            Role::PreviousMiscarriage,
            previous.kind,
            &previous.id,
            record_date(previous),
        ));
        return Some(f);
    }
    None
}
