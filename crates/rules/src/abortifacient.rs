//! R16, the abortifacient guard (knowledge.md §3.6 item 14).
//!
//! Misoprostol and mifepristone end a pregnancy. They are the right treatment once early
//! pregnancy loss is established, and for an induced abortion; given to a pregnancy that is in
//! fact continuing, they cause the loss they were meant to manage. The seed's first warning is
//! "guard against injury to normal pregnancies due to inappropriate treatment", and a loss is
//! established by the SRU 2013 criteria (Doubilet, NEJM 2013; ACOG PB 200): a crown–rump length
//! of 7 mm or more with no cardiac activity, a mean sac diameter of 25 mm or more with no embryo,
//! or the interval criteria, or a confirmed diagnosis of loss.
//!
//! So, at an order hook (draft orders exist only there), a live draft order for misoprostol or
//! mifepristone in an early pregnancy (dated up to the end of the first trimester, or undated)
//! gives a card unless:
//! - the order's reason names an induced abortion or another use the guard does not question
//!   (`induced_abortion_reason_terms`): the clinician has said what it is for;
//! - a loss is established: a confirmed loss diagnosis (the engine's G5 stops before this rule),
//!   or a CRL at or above `sru_crl_mm` with the latest cardiac-activity record saying absent;
//! - the pregnancy has ended (the engine does not call this rule then).
//!
//! The card is **critical** when the order's reason, or the reason of a current encounter, names
//! pregnancy loss ("ordered for a miscarriage that is not established"), and a **warning** when
//! no reason is given ("if the intent is management of a suspected loss, confirm SRU criteria
//! first"). Either way it says which criterion is missing and offers to delete the draft.
//!
//! A draft medication order that names nothing at all (no code, no text) cannot be checked by
//! this guard or by R6: in a current pregnancy it is named on an R16 warning of its own, never
//! passed silently (issue 31, "Bad input").

use time::Date;

use crate::facts::{DraftOrder, Record};
use crate::finding::{Evidence, Finding, Indicator, IupStatus, Label, Modifier, Role, RuleId};
use crate::ga::GestationalAge;
use crate::knowledge::RulesKnowledge;

/// A record with its date on the site's calendar.
type Dated<'r> = (&'r Record, Option<Date>);

/// The longest drug name a summary shows: the profile's summary check budgets for it.
const DRUG_NAME_MAX: usize = 27;

/// What R16 reads of the current pregnancy; the engine gathers it from the records of this
/// episode (so an earlier pregnancy's scan never establishes or denies this one's loss).
#[derive(Debug)]
pub(crate) struct Pregnancy<'r> {
    /// Today's gestational age, when the pregnancy is dated.
    pub ga_today: Option<GestationalAge>,
    /// Where the pregnancy is, with the records that say so (for the card's Why).
    pub iup: IupStatus,
    pub iup_evidence: Vec<Evidence>,
    /// Ultrasound records of this pregnancy (findings, reports, procedures), with their dates.
    pub ultrasounds: Vec<Dated<'r>>,
    /// Crown–rump lengths of this pregnancy, in millimetres.
    pub crl_mm: Vec<(f64, &'r Record, Option<Date>)>,
    /// Cardiac-activity records of this pregnancy: present (`true`) or absent, with dates.
    pub cardiac_activity: Vec<(bool, &'r Record, Option<Date>)>,
    /// The reason texts of the current encounters.
    pub encounter_reasons: Vec<&'r [String]>,
    /// The chart's Conditions, which an order's `reasonReference` may name.
    pub conditions: Vec<&'r Record>,
}

/// What an order's reason says, from its words, its codes and the Conditions it references.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reason {
    /// An induced abortion, or another use the guard does not question: no card.
    Induced,
    /// Early pregnancy loss (or another early-pregnancy diagnosis): the card is critical.
    Loss,
    /// No reason the guard can read: the card is a warning.
    Unstated,
}

/// The order's reason. Induced outranks loss: an order "for termination after missed
/// miscarriage" is the management the clinician has decided on.
fn reason(kb: &RulesKnowledge, order: &DraftOrder, pregnancy: &Pregnancy) -> Reason {
    let t = &kb.text;
    let vs = kb.value_sets();
    let referenced: Vec<&Record> = order
        .reason_references
        .iter()
        .filter_map(|reference| {
            let id = reference.rsplit('/').next()?;
            pregnancy.conditions.iter().find(|r| r.id == id).copied()
        })
        .collect();
    let says = |terms: &[String]| {
        crate::text::mentions(&order.reasons, terms, t)
            || referenced
                .iter()
                .any(|r| crate::text::mentions(&r.text, terms, t))
    };
    let coded = |set: &crate::knowledge::CodeSet| {
        set.contains_any(&order.reason_codes)
            || referenced.iter().any(|r| set.contains_any(&r.codes))
    };
    if says(&t.induced_abortion_reason_terms) || coded(&vs.induced_abortion) {
        Reason::Induced
    } else if says(&t.pregnancy_loss_reason_terms) || coded(&vs.already_diagnosed) {
        Reason::Loss
    } else {
        Reason::Unstated
    }
}

/// R16 for the draft orders of this call, if any fires.
pub(crate) fn guard(
    kb: &RulesKnowledge,
    orders: &[DraftOrder],
    pregnancy: &Pregnancy,
) -> Option<Finding> {
    let early = pregnancy
        .ga_today
        .is_none_or(|ga| ga.days() <= kb.thresholds.early_window_max_days);
    let abortifacient = orders
        .iter()
        .filter(|o| o.is_live())
        .find_map(|o| abortifacient_name(kb, o).map(|name| (o, name)));
    if let Some((order, drug)) = abortifacient {
        let t = &kb.text;
        let why = reason(kb, order, pregnancy);
        if !early || why == Reason::Induced {
            return None;
        }
        let (missing, scan) = missing_criterion(kb, pregnancy)?;
        let for_loss = why == Reason::Loss
            || pregnancy
                .encounter_reasons
                .iter()
                .any(|texts| crate::text::mentions(texts, &t.pregnancy_loss_reason_terms, t));
        let mut finding = base(
            pregnancy,
            if for_loss {
                Indicator::Critical
            } else {
                Indicator::Warning
            },
            order,
        );
        finding.draft_order = Some((order.resource_type.clone(), order.id.clone()));
        finding
            .modifiers
            .push(Modifier::Abortifacient { drug, for_loss });
        if let Some((record, date)) = scan {
            finding.evidence.push(Evidence::record(
                Role::Ultrasound,
                record.kind,
                &record.id,
                date,
            ));
        }
        finding.modifiers.push(missing);
        return Some(finding);
    }
    // An order that names no drug at all: no guard can see it (issue 31, "Bad input").
    let unidentified = orders.iter().find(|o| {
        o.resource_type.starts_with("Medication")
            && o.is_live()
            && o.codes.is_empty()
            && o.text.iter().all(|t| t.trim().is_empty())
    })?;
    let mut finding = base(pregnancy, Indicator::Warning, unidentified);
    finding.modifiers.push(Modifier::UnidentifiedOrder);
    Some(finding)
}

/// A finding of R16 about `order`, with the pregnancy's location as its facts.
fn base(pregnancy: &Pregnancy, indicator: Indicator, order: &DraftOrder) -> Finding {
    let mut evidence = vec![Evidence {
        role: Role::DraftOrder,
        resource_type: order.resource_type.clone(),
        id: order.id.clone(),
        date: None,
    }];
    evidence.extend(pregnancy.iup_evidence.iter().cloned());
    Finding {
        rule: RuleId::R16,
        indicator,
        ga: pregnancy.ga_today,
        bleed_date: None,
        bleed_text: None,
        label: Label::Unspecified,
        iup: pregnancy.iup,
        dating: None,
        evidence,
        modifiers: Vec::new(),
        draft_order: None,
    }
}

/// The drug a draft order names, if it is misoprostol or mifepristone: the profile term its
/// text carries ("Misoprostol"), or, when it is only coded, both names.
fn abortifacient_name(kb: &RulesKnowledge, order: &DraftOrder) -> Option<String> {
    let named = kb.text.abortifacient_terms.iter().find(|term| {
        order
            .text
            .iter()
            .any(|t| t.to_lowercase().contains(term.as_str()))
    });
    match named {
        Some(term) if term.chars().count() <= DRUG_NAME_MAX => Some(capitalised(term)),
        Some(_) => Some("Misoprostol or mifepristone".to_owned()),
        None if kb.value_sets.abortifacient.contains_any(&order.codes) => {
            Some("Misoprostol or mifepristone".to_owned())
        }
        None => None,
    }
}

fn capitalised(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Which SRU criterion the chart lacks, with the scan record that shows it; `None` when loss is
/// established on record: a CRL at or above the threshold, and the latest cardiac-activity
/// record says absent.
fn missing_criterion<'r>(
    kb: &RulesKnowledge,
    pregnancy: &Pregnancy<'r>,
) -> Option<(Modifier, Option<Dated<'r>>)> {
    let latest_heart = pregnancy
        .cardiac_activity
        .iter()
        .max_by_key(|(_, _, date)| *date);
    let crl_met = pregnancy
        .crl_mm
        .iter()
        .any(|(mm, _, _)| *mm >= kb.thresholds.sru_crl_mm);
    match latest_heart {
        Some((false, _, _)) if crl_met => None,
        Some((true, record, date)) => Some((
            Modifier::SruLive {
                id: record.id.clone(),
                date: *date,
            },
            Some((*record, *date)),
        )),
        _ => {
            let latest_scan = pregnancy
                .ultrasounds
                .iter()
                .map(|(r, d)| (*r, *d))
                .chain(pregnancy.crl_mm.iter().map(|(_, r, d)| (*r, *d)))
                .chain(pregnancy.cardiac_activity.iter().map(|(_, r, d)| (*r, *d)))
                .max_by_key(|(_, date)| *date);
            Some(match latest_scan {
                Some((record, date)) => (
                    Modifier::SruNotMet {
                        id: record.id.clone(),
                        date,
                    },
                    Some((record, date)),
                ),
                None => (Modifier::SruNoUltrasound, None),
            })
        }
    }
}
