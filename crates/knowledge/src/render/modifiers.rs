//! What a card says of its finding's modifiers: each modifier's text by its key in
//! `cards.toml`, the values that text may name (the record, the field, a reading), and, of the
//! modifiers that name one record each, only the first few, then a count of the rest.

use std::collections::HashMap;

use gravida_rules::facts::{Field, Input, PatientFacts, Precision};
use gravida_rules::finding::kind_name;
use gravida_rules::{
    DateProblem, DatingSource, Finding, HcgTrend, Modifier, NiceReading, RiskFactor, VitalSign,
};

use super::markdown;
use super::values::{kind_of, number, precision_of, reference};
use super::words::DateForm;
use crate::load::Profile;
use crate::templates::Values;

fn field_name(field: Field) -> &'static str {
    match field {
        Field::Code => "code",
        Field::Status => "status",
        Field::ClinicalStatus => "clinical status",
        Field::VerificationStatus => "verification status",
        Field::Effective => "date",
        Field::Abatement => "abatement date",
        Field::Recorded => "recorded date",
        Field::Value => "value",
        Field::Component => "component",
        Field::Category => "category",
        Field::Reference => "reason reference",
    }
}

pub(crate) fn modifier_key(m: &Modifier) -> &'static str {
    match m {
        Modifier::HcgTrend(HcgTrend::Fall { .. }) => "hcg_fall",
        Modifier::HcgTrend(HcgTrend::SlowFall { .. }) => "hcg_slow_fall",
        Modifier::HcgTrend(HcgTrend::SlowRise { .. }) => "hcg_slow_rise",
        Modifier::HcgTrend(HcgTrend::AdequateRise { .. }) => "hcg_adequate_rise",
        Modifier::HcgNice(NiceReading::Rise { .. }) => "hcg_nice_rise",
        Modifier::HcgNice(NiceReading::Fall { .. }) => "hcg_nice_fall",
        Modifier::HcgNice(NiceReading::Between { .. }) => "hcg_nice_between",
        Modifier::HcgReadingsDiffer => "hcg_readings_differ",
        Modifier::Redated { .. } => "redated",
        Modifier::GaRange { source, .. } => match source {
            DatingSource::Art => "ga_range_art",
            DatingSource::ChartedEdd => "ga_range_edd",
            DatingSource::Ultrasound => "ga_range_ultrasound",
            DatingSource::Lmp => "ga_range_lmp",
            DatingSource::GaObservation => "ga_range_ga",
        },
        Modifier::LabelImplausible => "label_implausible",
        Modifier::LabelDoubtful => "label_doubtful",
        Modifier::RhUnknown => "rh_unknown",
        Modifier::Unavailable(Input::Hcg) => "unavailable_hcg",
        Modifier::Unavailable(Input::RhType) => "unavailable_rh_type",
        Modifier::Unavailable(Input::Ultrasound) => "unavailable_ultrasound",
        Modifier::Unavailable(Input::Encounters) => "unavailable_encounters",
        Modifier::Unavailable(Input::Procedures) => "unavailable_procedures",
        Modifier::Unavailable(Input::VitalSigns) => "unavailable_vital_signs",
        Modifier::Unavailable(Input::Medications) => "unavailable_medications",
        Modifier::BleedDateUnknown => "bleed_date_unknown",
        Modifier::BleedDateFromRecorded => "bleed_date_from_recorded",
        Modifier::PreviaDocumented => "previa_documented",
        Modifier::VasaPrevia => "vasa_previa",
        Modifier::Anticoagulant { .. } => "anticoagulant",
        Modifier::Alloimmunised => "alloimmunised",
        Modifier::RhVariant => "rh_variant",
        Modifier::SubchorionicHematoma => "subchorionic_hematoma",
        Modifier::UnreadableRecord { .. } => "unreadable_record",
        Modifier::NotInterpreted { .. } => "not_interpreted",
        Modifier::ImpossibleDate { problem, .. } => match problem {
            DateProblem::InFuture => "date_in_future",
            DateProblem::StartInFuture => "start_in_future",
            DateProblem::BeforePregnancy => "date_before_pregnancy",
            DateProblem::ImpossibleGa => "impossible_ga",
        },
        Modifier::RefusedRecords { count: 1 } => "refused_record",
        Modifier::RefusedRecords { .. } => "refused_records",
        Modifier::RiskFactor(RiskFactor::PriorEctopic) => "risk_prior_ectopic",
        Modifier::RiskFactor(RiskFactor::Iud) => "risk_iud",
        Modifier::RiskFactor(RiskFactor::ArtConception) => "risk_art",
        Modifier::DiagnosedInThisPregnancy => "diagnosed_in_this_pregnancy",
        Modifier::OtherIndication => "methotrexate_other_indication",
        Modifier::Vital {
            sign: VitalSign::SystolicBp,
            ..
        } => "vital_systolic_bp",
        Modifier::Vital {
            sign: VitalSign::HeartRate,
            ..
        } => "vital_heart_rate",
        Modifier::Vital {
            sign: VitalSign::ShockIndex,
            ..
        } => "vital_shock_index",
        Modifier::HeavyBleeding => "heavy_bleeding",
        Modifier::BleedNotLight => "bleed_not_light",
        Modifier::RupturedEctopicPossible => "ruptured_ectopic_possible",
        // No text of its own: the escalated card's advice is added to R2E's (see `detail`).
        Modifier::EscalatedFrom(_) => "escalated_from",
        Modifier::UnreadableVitalSign { .. } => "unreadable_vital_sign",
        Modifier::PlacentaNotLocated => "placenta_not_located",
        Modifier::KleihauerBetke => "kleihauer_betke",
        Modifier::ProgesteroneOrder => "progesterone_order",
        Modifier::RhOnRecord { negative: true } => "rh_negative_on_record",
        Modifier::RhOnRecord { negative: false } => "rh_positive_on_record",
        Modifier::RhUnreadable { .. } => "rh_unreadable",
        Modifier::RhResultPending { .. } => "rh_result_pending",
        Modifier::AntiDGiven { .. } => "anti_d_given",
        Modifier::HcgBound { .. } => "hcg_bound",
        Modifier::HcgLast { .. } => "hcg_last",
        Modifier::HcgResultPending { .. } => "hcg_result_pending",
        // The drug and the reason are in R16's summary and variant: no text of their own.
        Modifier::Abortifacient { .. } => "abortifacient",
        Modifier::SruNoUltrasound => "sru_no_ultrasound",
        Modifier::SruLive { .. } => "sru_live",
        Modifier::SruNotMet { .. } => "sru_not_met",
        Modifier::UnidentifiedOrder => "unidentified_order",
        Modifier::GtdPossible { hcg: Some(_), .. } => "gtd_hcg",
        Modifier::AntiDOrdered { .. } => "anti_d_ordered",
        Modifier::DoneToday {
            what: gravida_rules::Done::Ultrasound,
            ..
        } => "done_today_ultrasound",
        Modifier::DoneToday {
            what: gravida_rules::Done::Hcg,
            ..
        } => "done_today_hcg",
        Modifier::GtdPossible { hcg: None, .. } => "gtd_appearance",
        // The test is in R2R's summary and facts: no text of its own.
        Modifier::PulResolved { .. } => "pul_resolved",
        Modifier::Suspected {
            what: gravida_rules::Suspected::Ectopic,
            ..
        } => "suspected_ectopic",
        Modifier::Suspected {
            what: gravida_rules::Suspected::Molar,
            ..
        } => "suspected_molar",
        Modifier::Suspected {
            what: gravida_rules::Suspected::Loss,
            ..
        } => "suspected_loss",
    }
}

/// The values a modifier's text may name besides the finding's own (`{record}`, `{field}`, a
/// vital sign's reading), filled over the finding's with [`crate::templates::fill_over`]. Chart
/// text is escaped for Markdown.
fn modifier_values(
    m: &Modifier,
    finding: &Finding,
    facts: &PatientFacts,
    form: DateForm,
) -> Values<'static> {
    let mut mv = Values::default();
    if let Modifier::UnreadableRecord { id, field } = m {
        let kind = finding
            .evidence
            .iter()
            .find(|e| &e.id == id)
            .map(|e| e.resource_type.clone())
            .unwrap_or_else(|| "record".into());
        mv.insert(
            "record",
            reference(&kind, id, facts, markdown::escape_inline),
        );
        mv.insert("field", field_name(*field).to_string());
    }
    if let Modifier::NotInterpreted { kind, id } = m {
        mv.insert(
            "record",
            reference(kind_name(*kind), id, facts, markdown::escape_inline),
        );
    }
    if let Modifier::ImpossibleDate {
        kind,
        id,
        date,
        problem,
    } = m
    {
        mv.insert(
            "record",
            reference(kind_name(*kind), id, facts, markdown::escape_inline),
        );
        // A date the service read (never chart text: `Date` displays as digits and dashes); the
        // record's own date as the chart wrote it, a date computed from it in full.
        let own = matches!(
            problem,
            DateProblem::InFuture | DateProblem::BeforePregnancy
        );
        let precision = if own {
            precision_of(id, facts)
        } else {
            Precision::Day
        };
        mv.insert(
            "record_date",
            date.map(|d| form.date(d, precision))
                .unwrap_or_else(|| "(date unknown)".into()),
        );
        mv.insert(
            "lmp",
            finding
                .dating
                .as_ref()
                .map(|d| form.date(d.start, Precision::Day))
                .unwrap_or_else(|| "(date unknown)".into()),
        );
    }
    // A partial date as written ("September 2026"), and the GA range it gives (§3.6 item 4).
    if let Modifier::GaRange {
        written,
        precision,
        low,
        high,
        ..
    } = m
    {
        mv.insert("range_written", form.date(*written, *precision));
        mv.insert("ga_low", low.to_string());
        mv.insert("ga_high", high.to_string());
    }
    // The anticoagulant as the chart names it: chart text.
    if let Modifier::Anticoagulant { drug } = m {
        mv.insert("drug", markdown::escape_inline(drug));
    }
    if let Modifier::RefusedRecords { count } = m {
        mv.insert("refused", count.to_string());
    }
    if let Modifier::AntiDOrdered { resource_type, id } = m {
        mv.insert(
            "record",
            reference(resource_type, id, facts, markdown::escape_inline),
        );
    }
    if let Modifier::UnreadableVitalSign { id } | Modifier::DoneToday { id, .. } = m {
        mv.insert(
            "record",
            reference(kind_of(id, facts), id, facts, markdown::escape_inline),
        );
    }
    if let Modifier::Vital {
        sign, value, at, ..
    } = m
    {
        let decimals = if *sign == VitalSign::ShockIndex { 2 } else { 0 };
        mv.insert("vital_value", number(*value, decimals));
        mv.insert("vital_time", form.instant(*at));
    }
    // A record named by a modifier of the reading (§3.5): what it says, and its date.
    if let Modifier::RhUnreadable { id, date }
    | Modifier::RhResultPending { id, date }
    | Modifier::AntiDGiven { id, date }
    | Modifier::HcgBound { id, date, .. }
    | Modifier::HcgLast { id, date, .. }
    | Modifier::HcgResultPending { id, date }
    | Modifier::SruLive { id, date }
    | Modifier::SruNotMet { id, date }
    | Modifier::GtdPossible { id, date, .. }
    | Modifier::Suspected { id, date, .. }
    | Modifier::PulResolved { id, date, .. } = m
    {
        mv.insert(
            "record",
            reference(kind_of(id, facts), id, facts, markdown::escape_inline),
        );
        mv.insert(
            "record_date",
            date.map(|d| form.date(d, precision_of(id, facts)))
                .unwrap_or_else(|| "(date unknown)".into()),
        );
    }
    // The bound as the lab wrote it ("<5 m[IU]/mL"): its unit is chart text.
    if let Modifier::HcgBound { written, .. }
    | Modifier::HcgLast { written, .. }
    | Modifier::GtdPossible {
        hcg: Some(written), ..
    } = m
    {
        mv.insert("bound", markdown::escape_inline(written));
    }
    mv
}

/// How many records of one kind of problem (dated in the future, unreadable, …) a card names;
/// the rest are counted in one line ("And 2,997 more records dated in the future"), so that a
/// chart of thousands of bad records still gives a card within its wording limits.
pub const CARD_NAMED: usize = 3;

/// How many records of one kind of problem a long form names, and how many records it lists
/// as used; the rest are counted.
pub const LONG_FORM_NAMED: usize = 20;

/// The line that counts the records of a problem beyond those named, for the modifiers that
/// name one record each.
pub(crate) fn more_key(key: &str) -> Option<&'static str> {
    Some(match key {
        "date_in_future" => "date_in_future_more",
        "start_in_future" => "start_in_future_more",
        "date_before_pregnancy" => "date_before_pregnancy_more",
        "impossible_ga" => "impossible_ga_more",
        "unreadable_record" => "unreadable_record_more",
        "unreadable_vital_sign" => "unreadable_vital_sign_more",
        _ => return None,
    })
}

/// What a card says of its finding's modifiers: each one, except that of those naming one
/// record each, only the first `named` of each kind are said, followed by a count of the rest.
#[derive(Debug)]
pub(super) enum Said<'f> {
    Modifier(&'f Modifier),
    More { key: &'static str, more: usize },
}

pub(super) fn said(finding: &Finding, named: usize) -> Vec<Said<'_>> {
    let mut totals: HashMap<&'static str, usize> = HashMap::new();
    for m in &finding.modifiers {
        let key = modifier_key(m);
        if more_key(key).is_some() {
            *totals.entry(key).or_default() += 1;
        }
    }
    let mut seen: HashMap<&'static str, usize> = HashMap::new();
    let mut out = Vec::new();
    for m in &finding.modifiers {
        let key = modifier_key(m);
        let Some(more) = more_key(key) else {
            out.push(Said::Modifier(m));
            continue;
        };
        let n = seen.entry(key).or_default();
        *n += 1;
        if *n <= named {
            out.push(Said::Modifier(m));
        }
        let total = totals.get(key).copied().unwrap_or(0);
        if *n == named && total > named {
            out.push(Said::More {
                key: more,
                more: total - named,
            });
        }
    }
    out
}

/// A count as a clinician reads it: `2,997`.
pub(super) fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The text of one thing a card says of its modifiers, and the values it adds to the finding's
/// (fill it with [`crate::templates::fill_over`]).
pub(super) fn said_text<'p>(
    profile: &'p Profile,
    item: &Said<'_>,
    finding: &Finding,
    facts: &PatientFacts,
    form: DateForm,
) -> Option<(&'p crate::templates::ModifierText, Values<'static>)> {
    match item {
        Said::Modifier(m) => {
            let text = profile.cards.modifiers.get(modifier_key(m))?;
            Some((text, modifier_values(m, finding, facts, form)))
        }
        Said::More { key, more } => {
            let text = profile.cards.modifiers.get(*key)?;
            let mut mv = Values::default();
            mv.insert("more", thousands(*more));
            Some((text, mv))
        }
    }
}
