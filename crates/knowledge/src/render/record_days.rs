//! The days of the records a card states as facts, for the card's text: when the placenta
//! previa (or a vasa previa) was documented, when the Rh type was recorded, when the last hCG was taken.
//!
//! Each fact is said once, with its date (knowledge.md §3.6 W4 and W5): `{previa_day}` is
//! `9 Nov` on the card (the year only when it is not this year's), `{previa_date}` the same day
//! in the long form's ISO form; likewise `{rh_day}`/`{rh_date}`. A record with no date reads
//! "date unknown", never an invented day.

use gravida_rules::{Finding, Modifier, Role};
use time::OffsetDateTime;

use crate::templates::Values;

/// The latest date among the finding's records of `role`, if any has one.
fn latest(finding: &Finding, role: Role) -> Option<time::Date> {
    finding
        .evidence
        .iter()
        .filter(|e| e.role == role)
        .filter_map(|e| e.date)
        .max()
}

/// Adds `{previa_day}`, `{previa_date}`, `{rh_day}` and `{rh_date}` to `v`, and the latest hCG
/// of this pregnancy as the lab wrote it (`{hcg_last}`, through `quote`: it is chart text) with
/// its `{hcg_last_day}` and `{hcg_last_date}`.
pub(super) fn insert(
    v: &mut Values<'static>,
    finding: &Finding,
    now: OffsetDateTime,
    quote: super::Quote,
) {
    if let Some((written, date)) = finding.modifiers.iter().find_map(|m| match m {
        Modifier::HcgLast { written, date, .. } => Some((written, *date)),
        _ => None,
    }) {
        v.insert("hcg_last", quote(written));
        v.insert(
            "hcg_last_day",
            date.map_or_else(|| "date unknown".into(), |d| super::words::day(d, now)),
        );
        v.insert(
            "hcg_last_date",
            date.map_or_else(|| "date unknown".into(), |d| d.to_string()),
        );
    }
    // R2R: the negative test that resolved the PUL, its day, and its value as the lab wrote it
    // (chart text) when it is quantitative.
    if let Some((written, date)) = finding.modifiers.iter().find_map(|m| match m {
        Modifier::PulResolved { written, date, .. } => Some((written, *date)),
        _ => None,
    }) {
        v.insert(
            "resolved_day",
            date.map_or_else(|| "date unknown".into(), |d| super::words::day(d, now)),
        );
        v.insert(
            "resolved_date",
            date.map_or_else(|| "date unknown".into(), |d| d.to_string()),
        );
        v.insert(
            "resolved_value",
            written.as_deref().map(quote).unwrap_or_default(),
        );
    }
    for (role, day_key, date_key) in [
        (Role::Previa, "previa_day", "previa_date"),
        (Role::VasaPrevia, "vasa_day", "vasa_date"),
        (Role::RhType, "rh_day", "rh_date"),
    ] {
        let date = latest(finding, role);
        v.insert(
            day_key,
            date.map_or_else(|| "date unknown".into(), |d| super::words::day(d, now)),
        );
        v.insert(
            date_key,
            date.map_or_else(|| "date unknown".into(), |d| d.to_string()),
        );
    }
}
