//! Rendering findings as CDS Hooks cards, from the profile's templates.
//!
//! A card is short (issue 17): its detail opens with what to do (the template's `card_do`, then
//! the modifiers' steps), then **Why** (the bleed as a clinician knows the record, how the
//! pregnancy was dated, the reason, the modifiers' reasons), then what the card does not mean;
//! at most [`MAX_SUGGESTIONS`] buttons unless it is critical; R4, R8 and R10 beside a main
//! bleeding card are folded into it as one line. The full reasoning (**Why**, **What to do**,
//! **What this card does not mean**, the records used) goes to the card's long form through the
//! [`REASONING_EXTENSION`]. Suggestions create draft `ServiceRequest`s from `orderables.toml`
//! (one button may create several: `with`; two paired orderables share one rather than lose one
//! to the cap: `shares_with`, `render/buttons.rs`), or (R6) delete the draft methotrexate order.
//!
//! Each card comes back with the finding it renders, and the rules folded into it
//! ([`Rendered`]), so that nothing after the rendering reads the rule back out of the card.
//!
//! Chart text never enters a card as it was charted. Templates are filled in one pass (`fill`
//! does not read a value a second time) and every value taken from the chart (record text,
//! resource types and ids) goes through a [`Quote`]: [`markdown::escape_inline`] for the
//! Markdown `detail`, [`markdown::plain_inline`] for the plain-text `summary`. Values the service
//! computes itself (GA, dates, day counts, percentages) are not chart text and are not quoted;
//! a number that is not finite is shown as [`UNREADABLE_NUMBER`], never as `NaN` or `inf`.

mod buttons;
pub mod markdown;
mod record_days;
mod variant;
pub mod words;

use std::collections::HashMap;

use gravida_cds_hooks::{
    Action, Card, Coding, Indicator, Link, SelectionBehavior, Source, Suggestion,
};
use gravida_rules::facts::{Field, Input, PatientFacts, Precision};
use gravida_rules::finding::kind_name;
use gravida_rules::{
    DateProblem, DatingSource, Finding, HcgTrend, IupStatus, Modifier, NiceReading, RiskFactor,
    Role, RuleId, VitalSign,
};
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

use crate::load::Profile;
use crate::templates::{Orderable, RuleCard, fill};
use variant::escalated_template;
use words::{DateForm, capitalised, day, day_as_written, iso_as_written, thing};

/// The code system of `source.topic`: the rule that produced a card.
pub const RULE_SYSTEM: &str = "urn:gravida:rule";

fn indicator(i: gravida_rules::Indicator) -> Indicator {
    match i {
        gravida_rules::Indicator::Info => Indicator::Info,
        gravida_rules::Indicator::Warning => Indicator::Warning,
        gravida_rules::Indicator::Critical => Indicator::Critical,
    }
}

/// How a computed number that is not finite (`NaN`, infinite) is shown on a card.
pub const UNREADABLE_NUMBER: &str = "an unreadable value";

/// How chart text is made safe for the text it goes into (Markdown detail or plain summary).
type Quote = fn(&str) -> String;

/// A fraction as a whole percentage (`0.21` → `21 %`); [`UNREADABLE_NUMBER`] if not finite.
pub(crate) fn percent(fraction: f64) -> String {
    let p = (fraction * 100.0).abs();
    if p.is_finite() {
        format!("{p:.0} %")
    } else {
        UNREADABLE_NUMBER.to_string()
    }
}

/// A chart record as a clinician knows it: its type and what it says (`Condition 'implantation
/// bleeding'`), from the record's first text (code text or display) or the draft order's; when
/// it has none, its type alone (`Condition (no text)`). Never its resource id: an id means
/// nothing to a clinician (issue 17, item 2). Chart text is quoted (escaped and length-capped).
fn reference(kind: &str, id: &str, facts: &PatientFacts, quote: Quote) -> String {
    named(kind, id, facts, quote).unwrap_or_else(|| format!("{} (no text)", thing(kind)))
}

/// How precisely the chart wrote the date of the record `id` (its onset or effective date, else
/// its recorded date, as the engine dates it): a day unless it is among the facts with less.
fn precision_of(id: &str, facts: &PatientFacts) -> Precision {
    facts
        .records
        .iter()
        .find(|r| r.id == id)
        .and_then(|r| r.effective.or(r.recorded))
        .map_or(Precision::Day, |w| w.precision)
}

/// `Kind 'what it says'`, or `None` when the record has no text (or is not among the facts).
fn named(kind: &str, id: &str, facts: &PatientFacts, quote: Quote) -> Option<String> {
    let text = facts
        .records
        .iter()
        .find(|record| record.id == id && kind_name(record.kind) == kind)
        .and_then(|record| record.text.first())
        .or_else(|| {
            facts
                .draft_orders
                .iter()
                .find(|order| order.id == id && order.resource_type == kind)
                .and_then(|order| order.text.first())
        })
        .map(|text| text.trim())
        .filter(|text| !text.is_empty());
    text.map(|text| format!("{} '{}'", thing(kind), quote(text)))
}

/// What a record was used as, in the words of the card.
fn role_name(role: Role) -> &'static str {
    match role {
        Role::Bleed => "bleeding",
        Role::PregnancyEvidence => "pregnancy",
        Role::Dating => "dating",
        Role::Lmp => "LMP",
        Role::IntrauterinePregnancy => "intrauterine pregnancy",
        Role::Ultrasound => "ultrasound",
        Role::Hcg => "hCG",
        Role::RhType => "Rh type",
        Role::Previa => "placenta previa",
        Role::VasaPrevia => "vasa previa",
        Role::PlacentalLocation => "placental location",
        Role::SubchorionicHematoma => "subchorionic hematoma",
        Role::DraftOrder => "draft order",
        Role::RiskFactor => "risk factor",
        Role::VitalSign => "vital sign",
        Role::PreviousMiscarriage => "previous miscarriage",
        Role::Diagnosis => "diagnosis",
    }
}

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

/// A number the service computed, with `decimals`; [`UNREADABLE_NUMBER`] if not finite.
fn number(value: f64, decimals: usize) -> String {
    if value.is_finite() {
        format!("{value:.decimals$}")
    } else {
        UNREADABLE_NUMBER.to_string()
    }
}

/// The type of a record among the facts, for naming it (`Observation` if it is not there).
fn kind_of(id: &str, facts: &PatientFacts) -> &'static str {
    facts
        .records
        .iter()
        .find(|r| r.id == id)
        .map(|r| kind_name(r.kind))
        .unwrap_or("Observation")
}

/// Placeholder values common to every text of a finding; chart text is passed through `quote`.
fn values(
    profile: &Profile,
    finding: &Finding,
    facts: &PatientFacts,
    quote: Quote,
    now: OffsetDateTime,
) -> HashMap<&'static str, String> {
    let mut v = HashMap::new();
    let unknown = || "(date unknown)".to_string();
    // The bleed's date as its record wrote it (a month, a year, or a day).
    let bleed_precision = finding
        .evidence
        .iter()
        .find(|e| e.role == Role::Bleed)
        .map_or(Precision::Day, |e| precision_of(&e.id, facts));
    v.insert(
        "bleed_day",
        finding
            .bleed_date
            .map(|d| day_as_written(d, bleed_precision, now))
            .unwrap_or_else(unknown),
    );
    v.insert(
        "iup_day",
        match finding.iup {
            IupStatus::Documented(Some(d)) => day(d, now),
            _ => unknown(),
        },
    );
    v.insert(
        "ga",
        finding
            .ga
            .map(|g| g.to_string())
            .unwrap_or_else(|| "an unknown GA".into()),
    );
    v.insert(
        "bleed_date",
        finding
            .bleed_date
            .map(|d| iso_as_written(d, bleed_precision))
            .unwrap_or_else(unknown),
    );
    let iup_date = match finding.iup {
        IupStatus::Documented(Some(d)) => d.to_string(),
        _ => unknown(),
    };
    v.insert("iup_date", iup_date);
    v.insert(
        "rhig_window_weeks",
        profile.rules.thresholds.rhig_window_weeks.to_string(),
    );
    v.insert(
        "nice_rise",
        percent(profile.rules.thresholds.nice_rise_above),
    );
    v.insert(
        "nice_fall",
        percent(profile.rules.thresholds.nice_fall_above),
    );
    if let Some((kind, id)) = &finding.draft_order {
        v.insert("order", reference(kind, id, facts, quote));
    } else {
        v.insert("order", String::new());
    }
    // R16's drug, as the engine named it from the profile's terms (never chart text).
    if let Some(Modifier::Abortifacient { drug, .. }) = finding
        .modifiers
        .iter()
        .find(|m| matches!(m, Modifier::Abortifacient { .. }))
    {
        v.insert("drug", drug.clone());
    }
    if let Some(bleed) = finding.evidence.iter().find(|e| e.role == Role::Bleed) {
        v.insert("bleed_kind", thing(&bleed.resource_type).to_string());
        // The engine chose the words that name the bleed (`Finding::bleed_text`). The record
        // opens the card's Why: its name is capitalised ("Diagnosis 'vaginal bleeding'").
        let text = finding.bleed_text.as_deref().unwrap_or("vaginal bleeding");
        v.insert(
            "bleed_record",
            capitalised(&format!(
                "{} '{}'",
                thing(&bleed.resource_type),
                quote(text)
            )),
        );
        v.insert("bleed_text", quote(text));
    }
    if let Some(d) = &finding.dating {
        let t = &profile.cards.facts;
        let record_date = d.record_date.map(|x| x.to_string()).unwrap_or_else(unknown);
        let mut dv: HashMap<&str, String> = HashMap::new();
        dv.insert("record_date", record_date);
        // An LMP written as a month or a year is said as written, never as its first day.
        let lmp_as_written = |form: DateForm| match (&d.partial, d.source) {
            (Some(p), DatingSource::Lmp) => form.date(p.written, p.precision),
            _ => form.date(d.start, Precision::Day),
        };
        dv.insert("lmp", lmp_as_written(DateForm::Long));
        dv.insert(
            "edd",
            d.start
                .checked_add(Duration::days(gravida_rules::ga::TERM_DAYS))
                .map(|e| e.to_string())
                .unwrap_or_else(unknown),
        );
        let template = match d.source {
            DatingSource::Art => &t.dating_art,
            DatingSource::ChartedEdd => &t.dating_edd,
            DatingSource::Ultrasound => &t.dating_ultrasound,
            DatingSource::Lmp => &t.dating_lmp,
            DatingSource::GaObservation => &t.dating_ga,
        };
        v.insert("dating", fill(template, &dv));
        // The same in the card's way of writing days (`24 Sep`).
        let record_day = d.record_date.map(|x| day(x, now)).unwrap_or_else(unknown);
        dv.insert("record_date", record_day);
        dv.insert("lmp", lmp_as_written(DateForm::Card(now)));
        dv.insert(
            "edd",
            d.start
                .checked_add(Duration::days(gravida_rules::ga::TERM_DAYS))
                .map(|e| day(e, now))
                .unwrap_or_else(unknown),
        );
        v.insert("dating_day", fill(template, &dv));
    }
    record_days::insert(&mut v, finding, now, quote);
    for m in &finding.modifiers {
        match m {
            Modifier::HcgTrend(HcgTrend::Fall { change } | HcgTrend::SlowFall { change }) => {
                v.insert("hcg_change", percent(*change));
                v.insert(
                    "hcg_minimum",
                    percent(profile.rules.thresholds.hcg_min_decline),
                );
            }
            Modifier::HcgTrend(
                HcgTrend::SlowRise { change, minimum } | HcgTrend::AdequateRise { change, minimum },
            ) => {
                v.insert("hcg_change", percent(*change));
                v.insert("hcg_minimum", percent(*minimum));
            }
            Modifier::HcgNice(
                NiceReading::Rise { change }
                | NiceReading::Fall { change }
                | NiceReading::Between { change },
            ) => {
                v.insert("hcg_change", percent(*change));
                v.insert(
                    "hcg_direction",
                    if *change < 0.0 { "fell" } else { "rose" }.to_string(),
                );
            }
            Modifier::Redated { days } => {
                v.insert("redate_days", days.to_string());
            }
            _ => {}
        }
    }
    v
}

/// The **Why** facts: the bleed, the dating and the pregnancy location.
fn fact_lines(profile: &Profile, finding: &Finding, v: &HashMap<&str, String>) -> Vec<String> {
    let t = &profile.cards.facts;
    let mut lines = Vec::new();
    // The data-problem note is about the records it names (its modifiers), not about a bleed.
    if finding.rule == RuleId::D1 {
        return lines;
    }
    // R2R is about the test that resolved the PUL, not a bleed: the location line only.
    if matches!(finding.rule, RuleId::R6 | RuleId::R16 | RuleId::R2R) {
        lines.push(fill(
            match finding.iup {
                IupStatus::Documented(_) => &t.iup_documented,
                IupStatus::Pul => &t.pul,
                IupStatus::NoUltrasound => &t.no_ultrasound,
            },
            v,
        ));
        return lines;
    }
    lines.push(fill(
        if finding.bleed_date.is_some() {
            &t.bleed
        } else {
            &t.bleed_undated
        },
        v,
    ));
    lines.push(fill(
        if finding.dating.is_some() {
            &t.dated
        } else {
            &t.undated
        },
        v,
    ));
    // "Pregnancy of unknown location" is an early-pregnancy term: never from 14w0d, nor when the
    // GA is unknown (knowledge.md §3.5 item 13).
    let early = finding
        .ga
        .is_some_and(|g| g.days() <= profile.rules.thresholds.early_window_max_days);
    lines.push(fill(
        match finding.iup {
            IupStatus::Documented(_) => &t.iup_documented,
            IupStatus::Pul if early => &t.pul,
            IupStatus::Pul => &t.pul_late,
            IupStatus::NoUltrasound => &t.no_ultrasound,
        },
        v,
    ));
    lines
}

/// The plain-text summary. Its placeholders are limited at load to computed values (GA, dates);
/// `v` holds chart text only as [`markdown::plain_inline`] made it.
fn summary(card: &RuleCard, finding: &Finding, v: &HashMap<&str, String>) -> String {
    let variant = variant::variant_of(finding).and_then(|name| card.variants.get(name));
    fill(variant.unwrap_or(&card.summary), v)
}

/// The values a modifier's text may name besides the finding's own (`{record}`, `{field}`, a
/// vital sign's reading), added to a copy of `v`. Chart text is escaped for Markdown.
fn modifier_values<'v>(
    m: &Modifier,
    finding: &Finding,
    facts: &PatientFacts,
    v: &HashMap<&'v str, String>,
    form: DateForm,
) -> HashMap<&'v str, String> {
    let mut mv = v.clone();
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
enum Said<'f> {
    Modifier(&'f Modifier),
    More { key: &'static str, more: usize },
}

fn said(finding: &Finding, named: usize) -> Vec<Said<'_>> {
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
fn thousands(n: usize) -> String {
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

/// The text of one thing a card says of its modifiers, and the values to fill it with.
fn said_text<'p, 'v>(
    profile: &'p Profile,
    item: &Said<'_>,
    finding: &Finding,
    facts: &PatientFacts,
    v: &HashMap<&'v str, String>,
    form: DateForm,
) -> Option<(&'p crate::templates::ModifierText, HashMap<&'v str, String>)> {
    match item {
        Said::Modifier(m) => {
            let text = profile.cards.modifiers.get(modifier_key(m))?;
            Some((text, modifier_values(m, finding, facts, v, form)))
        }
        Said::More { key, more } => {
            let text = profile.cards.modifiers.get(*key)?;
            let mut mv = v.clone();
            mv.insert("more", thousands(*more));
            Some((text, mv))
        }
    }
}

/// Adds `line` to `steps` unless a step already says it ("CBC." after "CBC; type and
/// crossmatch.").
fn push_step(steps: &mut Vec<String>, line: String) {
    let said = steps
        .iter()
        .any(|step| step.starts_with(line.trim_end_matches('.')));
    if !said && !line.trim().is_empty() {
        steps.push(line);
    }
}

/// The card's long form in Markdown: the full reasoning. `v` holds chart text only as
/// [`markdown::escape_inline`] made it, and the values added here (an unreadable record, the
/// records used) are escaped the same way. The server's `GET /cards/{id}` page shows it.
fn long_detail(
    profile: &Profile,
    card: &RuleCard,
    finding: &Finding,
    facts: &PatientFacts,
    v: &HashMap<&str, String>,
) -> LongForm {
    let mut why = fact_lines(profile, finding, v);
    why.extend(card.why.iter().map(|t| fill(t, v)));
    let mut todo: Vec<String> = card.what_to_do.iter().map(|t| fill(t, v)).collect();
    // R2E leads with the emergency steps; the advice of the card it escalates follows them.
    if let Some(escalated) = escalated_template(profile, finding) {
        for line in escalated.what_to_do.iter().map(|t| fill(t, v)) {
            push_step(&mut todo, line);
        }
    }
    for item in said(finding, LONG_FORM_NAMED) {
        let Some((text, mv)) = said_text(profile, &item, finding, facts, v, DateForm::Long) else {
            continue;
        };
        if let Some(w) = &text.why {
            why.push(fill(w, &mv));
        }
        if let Some(w) = &text.what_to_do {
            todo.push(fill(w, &mv));
        }
    }
    let mut records: Vec<String> = finding
        .evidence
        .iter()
        .take(LONG_FORM_NAMED)
        .map(|e| {
            let r = match named(&e.resource_type, &e.id, facts, markdown::escape_inline) {
                Some(name) => name,
                // A coded record with no text: what it was used as says what it is.
                None => format!("{} ({})", thing(&e.resource_type), role_name(e.role)),
            };
            match e.date {
                Some(d) => format!("{r} ({})", iso_as_written(d, precision_of(&e.id, facts))),
                None => r,
            }
        })
        .collect();
    if finding.evidence.len() > LONG_FORM_NAMED {
        records.push(format!(
            "and {} more",
            thousands(finding.evidence.len() - LONG_FORM_NAMED)
        ));
    }
    let not_mean = card.does_not_mean.iter().map(|t| fill(t, v)).collect();
    LongForm {
        why,
        todo,
        not_mean,
        records,
    }
}

/// A finding's long form before it is put together: its sections, and the records it used
/// (each named once, with its date).
#[derive(Debug)]
struct LongForm {
    why: Vec<String>,
    todo: Vec<String>,
    not_mean: Vec<String>,
    records: Vec<String>,
}

impl LongForm {
    /// The sections in Markdown, leaving out each sentence of **Why** and each step that `said`
    /// holds already (a folded finding's bleed, dating and Rh type are its host's), and a
    /// section with nothing left; what it writes is added to `said`.
    fn write(&self, out: &mut String, said: &mut Vec<String>) {
        let mut fresh = |lines: &[String]| -> Vec<String> {
            let new: Vec<String> = lines
                .iter()
                .filter(|l| !said.contains(l))
                .cloned()
                .collect();
            said.extend(new.iter().cloned());
            new
        };
        let why = fresh(&self.why);
        let todo = fresh(&self.todo);
        let not_mean = fresh(&self.not_mean);
        let mut sections = Vec::new();
        if !why.is_empty() {
            sections.push(format!("**Why.** {}", why.join(" ")));
        }
        if !todo.is_empty() {
            let steps: Vec<String> = todo.iter().map(|l| format!("- {l}")).collect();
            sections.push(format!("**What to do.**\n{}", steps.join("\n")));
        }
        if !not_mean.is_empty() {
            sections.push(format!(
                "**What this card does not mean.** {}",
                not_mean.join(" ")
            ));
        }
        out.push_str(&sections.join("\n\n"));
    }
}

/// The card's long form: the main finding's sections, then each folded finding's (what the
/// main one said already left out), then the records used by any of them (each once), then
/// the closing line (once; issue 31 item 5).
fn long_form(profile: &Profile, main: LongForm, folded: &[Folded]) -> String {
    let mut out = String::new();
    let mut said = Vec::new();
    main.write(&mut out, &mut said);
    let mut records = main.records;
    for f in folded {
        out.push_str("\n\n**Also: ");
        out.push_str(&markdown::escape_inline(&f.summary));
        out.push_str(".**\n\n");
        f.reasoning.write(&mut out, &mut said);
        for record in &f.reasoning.records {
            if !records.contains(record) {
                records.push(record.clone());
            }
        }
    }
    if !records.is_empty() {
        out.push_str("\n\nRecords used: ");
        out.push_str(&records.join(", "));
        out.push('.');
    }
    out.push_str("\n\n");
    out.push_str(&profile.cards.closing);
    out
}

/// The short card's facts: the bleed as a clinician knows it and its day, how the pregnancy
/// was dated, and (before 14 weeks, or when undated) what the ultrasound shows.
fn card_fact_lines(profile: &Profile, finding: &Finding, v: &HashMap<&str, String>) -> Vec<String> {
    let t = &profile.cards.facts;
    let early_max = profile.rules.thresholds.early_window_max_days;
    let location = || {
        fill(
            match finding.iup {
                IupStatus::Documented(_) => &t.card_iup_documented,
                IupStatus::Pul if finding.ga.is_some_and(|g| g.days() <= early_max) => &t.card_pul,
                IupStatus::Pul => &t.card_pul_late,
                IupStatus::NoUltrasound => &t.card_no_ultrasound,
            },
            v,
        )
    };
    match finding.rule {
        RuleId::D1 => Vec::new(),
        RuleId::R6 | RuleId::R16 | RuleId::R2R => vec![location()],
        _ => {
            let mut lines = vec![
                fill(
                    if finding.bleed_date.is_some() && v.contains_key("bleed_record") {
                        &t.card_bleed
                    } else {
                        &t.card_bleed_undated
                    },
                    v,
                ),
                fill(
                    if finding.dating.is_some() {
                        &t.card_dated
                    } else {
                        &t.card_undated
                    },
                    v,
                ),
            ];
            // Beyond 14 weeks where the pregnancy is matters less than the placenta; the long
            // form still says it.
            if finding.ga.is_none_or(|g| g.days() <= early_max) {
                lines.push(location());
            }
            lines
        }
    }
}

/// The card's detail (issue 17): what to do first (the template's `card_do`, at most three
/// lines, then the modifiers' steps and the findings folded in), then **Why** (the facts, the
/// reason, the modifiers' reasons), then what the card does not mean. Everything else is in
/// [`long_detail`], one click away.
fn short_detail(
    profile: &Profile,
    card: &RuleCard,
    finding: &Finding,
    folded: &[Folded],
    facts: &PatientFacts,
    v: &HashMap<&str, String>,
    now: OffsetDateTime,
) -> String {
    let mut todo: Vec<String> = Vec::new();
    for line in card.card_do.iter().map(|t| fill(t, v)) {
        push_step(&mut todo, line);
    }
    if let Some(escalated) = escalated_template(profile, finding) {
        for line in escalated.card_do.iter().map(|t| fill(t, v)) {
            push_step(&mut todo, line);
        }
    }
    let mut why = card_fact_lines(profile, finding, v);
    why.extend(card.card_why.iter().map(|t| fill(t, v)));
    for item in said(finding, CARD_NAMED) {
        let Some((text, mv)) = said_text(profile, &item, finding, facts, v, DateForm::Card(now))
        else {
            continue;
        };
        // A modifier without short text is shown in full: never silently left off the card.
        if let Some(w) = text.card_why.as_ref().or(text.why.as_ref()) {
            let w = fill(w, &mv);
            if !w.trim().is_empty() {
                why.push(w);
            }
        }
        if let Some(d) = text.card_do.as_ref().or(text.what_to_do.as_ref()) {
            push_step(&mut todo, fill(d, &mv));
        }
    }
    for f in folded {
        push_step(&mut todo, f.line.clone());
    }
    let mut out = String::new();
    for line in &todo {
        out.push_str("- ");
        out.push_str(line);
        out.push('\n');
    }
    out.push_str("\n**Why.** ");
    out.push_str(&why.join(" "));
    out.push_str("\n\n*");
    out.push_str(&fill(&card.card_not_mean, v));
    out.push('*');
    out
}

/// A finding folded into another card (R4, R8 or R10 beside a main bleeding card): its one
/// line on the card, its full reasoning for the long form, and its suggestions.
#[derive(Debug)]
struct Folded {
    rule: RuleId,
    line: String,
    summary: String,
    reasoning: LongForm,
    suggestions: Vec<String>,
}

/// A draft ServiceRequest for an orderable, or a draft MedicationRequest when the orderable is
/// a medication (R15's progesterone).
fn service_request(o: &Orderable, patient_id: &str, now: OffsetDateTime) -> Value {
    let codings: Vec<Value> = o
        .codes
        .iter()
        .map(|c| match &c.display {
            Some(d) => json!({ "system": c.system, "code": c.code, "display": d }),
            None => json!({ "system": c.system, "code": c.code }),
        })
        .collect();
    let concept = json!({ "coding": codings, "text": o.text });
    let subject = json!({ "reference": format!("Patient/{patient_id}") });
    let mut resource = if o.resource.as_deref() == Some("MedicationRequest") {
        let mut request = json!({
            "resourceType": "MedicationRequest",
            "status": "draft",
            "intent": o.intent,
            "medicationCodeableConcept": concept,
            "subject": subject,
        });
        if let Some(dosage) = &o.dosage {
            request["dosageInstruction"] = json!([{ "text": dosage }]);
        }
        request
    } else {
        json!({
            "resourceType": "ServiceRequest",
            "status": "draft",
            "intent": o.intent,
            "code": concept,
            "subject": subject,
        })
    };
    if let Some(hours) = o.occurrence_offset_hours
        && let Some(at) = now.checked_add(Duration::hours(hours))
        && let Ok(text) = at.format(&Rfc3339)
    {
        resource["occurrenceDateTime"] = json!(text);
    }
    if let Some(note) = &o.note {
        resource["note"] = json!([{ "text": note }]);
    }
    resource
}

/// The card's `extension`: the knowledge profile (name and content hash) that made it. CDS Hooks
/// 2.0 lets a service put its own data there; the key is namespaced so that no client mistakes it.
fn profile_extension(version: &str) -> serde_json::Map<String, Value> {
    let mut extension = serde_json::Map::new();
    extension.insert(
        "org.gravida.profile".to_owned(),
        Value::String(version.to_owned()),
    );
    extension
}

/// True when a draft order of the call carries one of the orderable's codes (issue 17, item 3).
fn already_drafted(orderable: &Orderable, facts: &PatientFacts) -> bool {
    facts.draft_orders.iter().any(|order| {
        order.codes.iter().any(|code| {
            orderable
                .codes
                .iter()
                .any(|wanted| wanted.system == code.system && wanted.code == code.code)
        })
    })
}

/// True when the finding says the test this orderable repeats is on record today (§3.6 item 16).
fn done_today(orderable: &Orderable, finding: &Finding) -> bool {
    orderable.done_today.is_some_and(|test| {
        finding
            .modifiers
            .iter()
            .any(|m| matches!(m, Modifier::DoneToday { what, .. } if *what == test.engine()))
    })
}

fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The orderables a finding's card suggests, in order: the rule's, then (Rh unknown) the Rh
/// type, then (R2E) the escalated card's, then the modifiers'.
fn suggestion_keys(profile: &Profile, template: &RuleCard, finding: &Finding) -> Vec<String> {
    let mut keys: Vec<String> = template.suggestions.clone();
    // An Rh type that could not be read is asked for again, like an unknown one.
    if finding
        .modifiers
        .iter()
        .any(|m| matches!(m, Modifier::RhUnknown | Modifier::RhUnreadable { .. }))
    {
        keys.extend(template.suggestions_if_rh_unknown.iter().cloned());
    }
    // R2E: the escalated card's suggestions follow the emergency ones.
    // (Its Rh-unknown suggestions are not: the crossmatch types the blood.)
    if let Some(escalated) = escalated_template(profile, finding) {
        keys.extend(escalated.suggestions.iter().cloned());
    }
    for m in &finding.modifiers {
        if let Some(text) = profile.cards.modifiers.get(modifier_key(m)) {
            keys.extend(text.suggestions.iter().cloned());
        }
    }
    keys
}

/// Buttons a card shows in the common case (issue 17): the most useful first, the rest in the
/// text and the long form. A critical card shows every emergency step it has.
pub const MAX_SUGGESTIONS: usize = 3;

/// Findings a main bleeding card takes in as one line rather than standing beside it.
const FOLDABLE: [RuleId; 3] = [RuleId::R4, RuleId::R8, RuleId::R10];

/// A card with the finding it renders. What follows the rendering (suppression, the long form,
/// the audit trail, the metrics) takes the rule and the indicator from the finding, never back
/// out of the card.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub card: Card,
    /// The finding the card renders: its rule is the card's `source.topic`, its indicator the
    /// card's.
    pub finding: Finding,
    /// The findings folded into the card, one line each (R4, R8 or R10 beside a main bleeding
    /// card), by rule. Their words and buttons are on the card; their records are not in
    /// `finding`.
    pub folded: Vec<RuleId>,
}

/// Renders the engine's findings as cards, highest indicator first, folding R4, R8 and R10
/// into the main bleeding card when there is one. Cards about something else than the bleed's
/// work-up (R6 the methotrexate order, R15 progesterone, R16 the abortifacient order, D1 the data
/// note) are never hosts.
/// With no other bleeding card, R4 (else R8, else R10) is the host of the others.
pub fn cards(
    profile: &Profile,
    version: &str,
    findings: &[Finding],
    facts: &PatientFacts,
    patient_id: &str,
    now: OffsetDateTime,
) -> Vec<Rendered> {
    let bleeding_main = |f: &Finding| {
        !FOLDABLE.contains(&f.rule)
            && !matches!(
                f.rule,
                RuleId::R2R | RuleId::R6 | RuleId::R15 | RuleId::R16 | RuleId::D1
            )
    };
    let host = findings.iter().position(bleeding_main).or_else(|| {
        // R4 (the bleed in a documented pregnancy) before R8 and R10, whatever their order.
        FOLDABLE
            .iter()
            .find_map(|rule| findings.iter().position(|f| f.rule == *rule))
    });
    let folds_into_host =
        |i: usize, f: &Finding| FOLDABLE.contains(&f.rule) && host.is_some_and(|h| h != i);
    let folded: Vec<Folded> = findings
        .iter()
        .enumerate()
        .filter(|(i, f)| folds_into_host(*i, f))
        .filter_map(|(_, f)| fold(profile, f, facts, now))
        .collect();
    findings
        .iter()
        .enumerate()
        .filter(|(i, f)| !folds_into_host(*i, f))
        .filter_map(|(i, f)| {
            let with: &[Folded] = if Some(i) == host { &folded } else { &[] };
            let card = card_with(profile, version, f, with, facts, patient_id, now)?;
            Some(Rendered {
                card,
                finding: f.clone(),
                folded: with.iter().map(|folded| folded.rule).collect(),
            })
        })
        .collect()
}

/// What a folded finding brings to its host card.
fn fold(
    profile: &Profile,
    finding: &Finding,
    facts: &PatientFacts,
    now: OffsetDateTime,
) -> Option<Folded> {
    let template = variant::text_for(profile.cards.rules.get(finding.rule.as_str())?, finding);
    let template = template.as_ref();
    let v = values(profile, finding, facts, markdown::escape_inline, now);
    let summary = summary(
        template,
        finding,
        &values(profile, finding, facts, markdown::plain_inline, now),
    );
    Some(Folded {
        rule: finding.rule,
        line: fill(
            template.card_folded.as_ref().unwrap_or(&template.summary),
            &v,
        ),
        summary,
        reasoning: long_detail(profile, template, finding, facts, &v),
        suggestions: suggestion_keys(profile, template, finding),
    })
}

/// Renders one finding as a card on its own. `None` only if the rule has no template
/// (prevented at load).
pub fn card(
    profile: &Profile,
    version: &str,
    finding: &Finding,
    facts: &PatientFacts,
    patient_id: &str,
    now: OffsetDateTime,
) -> Option<Rendered> {
    let card = card_with(profile, version, finding, &[], facts, patient_id, now)?;
    Some(Rendered {
        card,
        finding: finding.clone(),
        folded: Vec::new(),
    })
}

/// The card's extension key holding its full reasoning (Markdown), which the server moves to
/// the card's long form (`GET /cards/{id}`) before the card is sent.
pub const REASONING_EXTENSION: &str = "org.gravida.reasoning";

fn card_with(
    profile: &Profile,
    version: &str,
    finding: &Finding,
    folded: &[Folded],
    facts: &PatientFacts,
    patient_id: &str,
    now: OffsetDateTime,
) -> Option<Card> {
    let template = variant::text_for(profile.cards.rules.get(finding.rule.as_str())?, finding);
    let template = template.as_ref();
    // The summary is plain text (punctuation kept); the detail is Markdown (punctuation escaped).
    let summary = summary(
        template,
        finding,
        &values(profile, finding, facts, markdown::plain_inline, now),
    );
    let v = values(profile, finding, facts, markdown::escape_inline, now);
    let detail = short_detail(profile, template, finding, folded, facts, &v, now);
    let reasoning = long_form(
        profile,
        long_detail(profile, template, finding, facts, &v),
        folded,
    );
    // The label is what the physician reads: who says it and on what authority. Which profile
    // version said it is for the audit, `/readyz` and the card's extension, not for the label.
    let source = Source::new(format!(
        "{} · {}",
        profile.cards.source.label, template.source_label
    ))
    .with_url(template.source_url.clone())
    .with_topic(
        Coding::new(RULE_SYSTEM, finding.rule.as_str()).with_display(match finding.rule {
            RuleId::D1 => "Gravida data-problem note D1".to_string(),
            rule => format!("Gravida decision table row {rule}"),
        }),
    );

    let mut keys = suggestion_keys(profile, template, finding);
    for f in folded {
        keys.extend(f.suggestions.iter().cloned());
    }
    let mut seen = std::collections::BTreeSet::new();
    keys.retain(|key| seen.insert(key.clone()));
    let mut suggestions = buttons::suggestions(profile, &keys, finding, facts, patient_id, now);
    if let (Some((kind, id)), Some(label)) = (&finding.draft_order, &template.delete_label) {
        suggestions.push(
            Suggestion::new(label.clone())
                .with_uuid(uuid())
                .recommended(true)
                // The resource id of the action is a reference for the EHR, not text shown: raw.
                .with_action(Action::delete(label.clone(), format!("{kind}/{id}"))),
        );
    }

    let mut extension = profile_extension(version);
    extension.insert(REASONING_EXTENSION.to_owned(), Value::String(reasoning));
    let build = |summary: String, with_suggestions: bool| {
        let mut b = Card::builder(summary, indicator(finding.indicator), source.clone())
            .uuid(uuid())
            .detail(detail.clone())
            .extension(extension.clone());
        if with_suggestions && !suggestions.is_empty() {
            b = b.selection_behavior(SelectionBehavior::Any);
            for s in &suggestions {
                b = b.suggestion(s.clone());
            }
        }
        for link in &template.links {
            b = b.link(Link::absolute(link.label.clone(), link.url.clone()));
        }
        for r in &profile.cards.override_reasons {
            let mut c = Coding::new(r.system.clone(), r.code.clone());
            if let Some(d) = &r.display {
                c = c.with_display(d.clone());
            }
            b = b.override_reason(c);
        }
        b.build()
    };
    match build(summary.clone(), true) {
        Ok(card) => Some(card),
        // The profile checks summaries with worst-case values, so this is a last resort that
        // still shows the clinician the advice rather than dropping it.
        Err(_) => {
            let short: String = summary.chars().take(130).collect();
            build(format!("{short}…"), false).ok()
        }
    }
}
