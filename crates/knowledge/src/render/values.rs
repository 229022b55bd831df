//! The values a card's templates are filled with: the finding's own (the bleed and its day, the
//! GA, the dating, the thresholds it was judged by, the hCG change), each record named as a
//! clinician knows it, and numbers the service computed, written so that one that is not finite
//! is never `NaN`.

use gravida_rules::facts::{PatientFacts, Precision};
use gravida_rules::finding::kind_name;
use gravida_rules::{DatingSource, Finding, HcgTrend, IupStatus, Modifier, NiceReading, Role};
use time::{Duration, OffsetDateTime};

use super::words::{DateForm, capitalised, day, day_as_written, iso_as_written, thing};
use super::{Quote, UNREADABLE_NUMBER, record_days};
use crate::load::Profile;
use crate::templates::{Values, fill};

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
pub(super) fn reference(kind: &str, id: &str, facts: &PatientFacts, quote: Quote) -> String {
    named(kind, id, facts, quote).unwrap_or_else(|| format!("{} (no text)", thing(kind)))
}

/// How precisely the chart wrote the date of the record `id` (its onset or effective date, else
/// its recorded date, as the engine dates it): a day unless it is among the facts with less.
pub(super) fn precision_of(id: &str, facts: &PatientFacts) -> Precision {
    facts
        .records
        .iter()
        .find(|r| r.id == id)
        .and_then(|r| r.effective.or(r.recorded))
        .map_or(Precision::Day, |w| w.precision)
}

/// `Kind 'what it says'`, or `None` when the record has no text (or is not among the facts).
pub(super) fn named(kind: &str, id: &str, facts: &PatientFacts, quote: Quote) -> Option<String> {
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

/// A number the service computed, with `decimals`; [`UNREADABLE_NUMBER`] if not finite.
pub(super) fn number(value: f64, decimals: usize) -> String {
    if value.is_finite() {
        format!("{value:.decimals$}")
    } else {
        UNREADABLE_NUMBER.to_string()
    }
}

/// The type of a record among the facts, for naming it (`Observation` if it is not there).
pub(super) fn kind_of(id: &str, facts: &PatientFacts) -> &'static str {
    facts
        .records
        .iter()
        .find(|r| r.id == id)
        .map(|r| kind_name(r.kind))
        .unwrap_or("Observation")
}

/// Placeholder values common to every text of a finding; chart text is passed through `quote`.
pub(super) fn values(
    profile: &Profile,
    finding: &Finding,
    facts: &PatientFacts,
    quote: Quote,
    now: OffsetDateTime,
) -> Values<'static> {
    let mut v = Values::default();
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
        let mut dv = Values::default();
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
