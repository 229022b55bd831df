//! `thresholds.toml`: every number the engine decides by, each with the source it is cited
//! from, read and range-checked into the engine's [`Thresholds`]. A value out of range, or
//! thresholds that contradict each other, stop the service at start-up.

use gravida_rules::{GestationalAge, Thresholds};
use serde::Deserialize;

use crate::error::Problems;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Cited<T> {
    value: T,
    source: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RedatingRow {
    up_to: String,
    more_than_days: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Redating {
    source: String,
    rows: Vec<RedatingRow>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ThresholdsToml {
    implantation_plausible_max: Option<Cited<String>>,
    implantation_doubtful_max: Option<Cited<String>>,
    early_window_max: Option<Cited<String>>,
    anti_d_from: Option<Cited<String>>,
    previa_check_from: Option<Cited<String>>,
    previa_warning_from: Option<Cited<String>>,
    term_from: Option<Cited<String>>,
    sru_crl_mm: Option<Cited<f64>>,
    gtd_hcg_above: Option<Cited<f64>>,
    recency_days: Option<Cited<i64>>,
    redating: Option<Redating>,
    hcg_band_low_below: Option<Cited<f64>>,
    hcg_band_mid_max: Option<Cited<f64>>,
    hcg_min_rise_low: Option<Cited<f64>>,
    hcg_min_rise_mid: Option<Cited<f64>>,
    hcg_min_rise_high: Option<Cited<f64>>,
    hcg_min_decline: Option<Cited<f64>>,
    hcg_pair_min_hours: Option<Cited<f64>>,
    hcg_pair_max_hours: Option<Cited<f64>>,
    rhig_window_weeks: Option<Cited<i64>>,
    edd_passed_tolerance_days: Option<Cited<i64>>,
    ga_lookback_weeks: Option<Cited<i64>>,
    r12_enabled: Option<Cited<bool>>,
    future_tolerance_days: Option<Cited<i64>>,
    before_pregnancy_margin_days: Option<Cited<i64>>,
    ga_at_conception_days: Option<Cited<i64>>,
    max_gestational_age: Option<Cited<String>>,
    vital_signs_window_hours: Option<Cited<i64>>,
    systolic_bp_below: Option<Cited<f64>>,
    heart_rate_above: Option<Cited<f64>>,
    shock_index_from: Option<Cited<f64>>,
    shock_index_pairing_minutes: Option<Cited<i64>>,
    obstetric_triage_from: Option<Cited<String>>,
    progesterone_before: Option<Cited<String>>,
    r15_order_enabled: Option<Cited<bool>>,
    nice_rise_above: Option<Cited<f64>>,
    nice_fall_above: Option<Cited<f64>>,
    nice_pair_max_hours: Option<Cited<f64>>,
    hcg_trend_lead: Option<Cited<String>>,
    pregnancy_evidence_max_age_days: Option<Cited<i64>>,
    hcg_pregnant_from: Option<Cited<f64>>,
    hcg_not_pregnant_below: Option<Cited<f64>>,
    postpartum_window_weeks: Option<Cited<i64>>,
}

fn ga_threshold(field: &Option<Cited<String>>, name: &str, problems: &mut Problems) -> Option<i64> {
    let file = "thresholds.toml";
    let Some(cited) = field else {
        problems.add(file, format!("threshold {name} is missing"));
        return None;
    };
    if cited.source.trim().is_empty() {
        problems.add(file, format!("threshold {name} has no source"));
    }
    match cited.value.parse::<GestationalAge>() {
        Ok(ga) if (0..=45 * 7).contains(&ga.days()) => Some(ga.days()),
        Ok(_) => {
            problems.add(
                file,
                format!("threshold {name} = {} is out of range", cited.value),
            );
            None
        }
        Err(e) => {
            problems.add(file, format!("threshold {name}: {e}"));
            None
        }
    }
}

fn number<T: Copy + PartialOrd + std::fmt::Display>(
    field: &Option<Cited<T>>,
    name: &str,
    range: std::ops::RangeInclusive<T>,
    problems: &mut Problems,
) -> Option<T> {
    let file = "thresholds.toml";
    let Some(cited) = field else {
        problems.add(file, format!("threshold {name} is missing"));
        return None;
    };
    if cited.source.trim().is_empty() {
        problems.add(file, format!("threshold {name} has no source"));
    }
    if !range.contains(&cited.value) {
        problems.add(
            file,
            format!(
                "threshold {name} = {} is out of range {}..={}",
                cited.value,
                range.start(),
                range.end()
            ),
        );
        return None;
    }
    Some(cited.value)
}

pub(super) fn thresholds(t: ThresholdsToml, problems: &mut Problems) -> Option<Thresholds> {
    let file = "thresholds.toml";
    let plausible = ga_threshold(
        &t.implantation_plausible_max,
        "implantation_plausible_max",
        problems,
    );
    let doubtful = ga_threshold(
        &t.implantation_doubtful_max,
        "implantation_doubtful_max",
        problems,
    );
    let early = ga_threshold(&t.early_window_max, "early_window_max", problems);
    let anti_d = ga_threshold(&t.anti_d_from, "anti_d_from", problems);
    let previa = ga_threshold(&t.previa_check_from, "previa_check_from", problems);
    let previa_warning = ga_threshold(&t.previa_warning_from, "previa_warning_from", problems);
    let term = ga_threshold(&t.term_from, "term_from", problems);
    // SRU 2013: the CRL from which no cardiac activity establishes a loss (R16, §3.6 item 14).
    let sru_crl_mm = number(&t.sru_crl_mm, "sru_crl_mm", 1.0..=20.0, problems);
    // The hCG above which the GTD picture is raised (§3.6 item 15).
    let gtd_hcg_above = number(
        &t.gtd_hcg_above,
        "gtd_hcg_above",
        10_000.0..=1_000_000.0,
        problems,
    );
    let recency = number(&t.recency_days, "recency_days", 1..=90, problems);
    let low_below = number(
        &t.hcg_band_low_below,
        "hcg_band_low_below",
        1.0..=100_000.0,
        problems,
    );
    let mid_max = number(
        &t.hcg_band_mid_max,
        "hcg_band_mid_max",
        1.0..=100_000.0,
        problems,
    );
    let rise_low = number(&t.hcg_min_rise_low, "hcg_min_rise_low", 0.0..=2.0, problems);
    let rise_mid = number(&t.hcg_min_rise_mid, "hcg_min_rise_mid", 0.0..=2.0, problems);
    let rise_high = number(
        &t.hcg_min_rise_high,
        "hcg_min_rise_high",
        0.0..=2.0,
        problems,
    );
    let decline = number(&t.hcg_min_decline, "hcg_min_decline", 0.0..=1.0, problems);
    let pair_min = number(
        &t.hcg_pair_min_hours,
        "hcg_pair_min_hours",
        1.0..=240.0,
        problems,
    );
    let pair_max = number(
        &t.hcg_pair_max_hours,
        "hcg_pair_max_hours",
        1.0..=240.0,
        problems,
    );
    let rhig = number(&t.rhig_window_weeks, "rhig_window_weeks", 1..=40, problems);
    let edd_tol = number(
        &t.edd_passed_tolerance_days,
        "edd_passed_tolerance_days",
        0..=60,
        problems,
    );
    let lookback = number(&t.ga_lookback_weeks, "ga_lookback_weeks", 20..=60, problems);
    let future_tolerance = number(
        &t.future_tolerance_days,
        "future_tolerance_days",
        0..=7,
        problems,
    );
    let before_margin = number(
        &t.before_pregnancy_margin_days,
        "before_pregnancy_margin_days",
        0..=90,
        problems,
    );
    let at_conception = number(
        &t.ga_at_conception_days,
        "ga_at_conception_days",
        7..=21,
        problems,
    );
    let max_ga = ga_threshold(&t.max_gestational_age, "max_gestational_age", problems);
    // Escalation and the rules of knowledge.md §3.5 items 12–16.
    let vitals_window = number(
        &t.vital_signs_window_hours,
        "vital_signs_window_hours",
        1..=72,
        problems,
    );
    let sbp_below = number(
        &t.systolic_bp_below,
        "systolic_bp_below",
        50.0..=120.0,
        problems,
    );
    let hr_above = number(
        &t.heart_rate_above,
        "heart_rate_above",
        80.0..=180.0,
        problems,
    );
    let shock_index = number(&t.shock_index_from, "shock_index_from", 0.5..=2.0, problems);
    let shock_pairing = number(
        &t.shock_index_pairing_minutes,
        "shock_index_pairing_minutes",
        0..=120,
        problems,
    );
    let triage = ga_threshold(&t.obstetric_triage_from, "obstetric_triage_from", problems);
    let progesterone = ga_threshold(&t.progesterone_before, "progesterone_before", problems);
    let nice_rise = number(&t.nice_rise_above, "nice_rise_above", 0.0..=2.0, problems);
    let nice_fall = number(&t.nice_fall_above, "nice_fall_above", 0.0..=1.0, problems);
    let nice_max = number(
        &t.nice_pair_max_hours,
        "nice_pair_max_hours",
        1.0..=240.0,
        problems,
    );
    let r15_order = match &t.r15_order_enabled {
        Some(c) => Some(c.value),
        None => {
            problems.add(file, "threshold r15_order_enabled is missing");
            None
        }
    };
    let lead = match t.hcg_trend_lead.as_ref().map(|c| c.value.as_str()) {
        Some("barnhart") => Some(gravida_rules::HcgLead::Barnhart),
        Some("nice") => Some(gravida_rules::HcgLead::Nice),
        Some(other) => {
            problems.add(
                file,
                format!("hcg_trend_lead = {other:?} is neither \"barnhart\" nor \"nice\""),
            );
            None
        }
        None => {
            problems.add(file, "threshold hcg_trend_lead is missing");
            None
        }
    };
    // R12 was switched here; it now has a mode like every rule (set into the engine's
    // `r12_enabled` by `load`, from the rule's mode).
    if t.r12_enabled.is_some() {
        problems.add(
            file,
            "r12_enabled has moved: R12 is switched by its mode in profile.toml, \
             [rules.R12] mode = \"off\" (was r12_enabled = false) or \"active\" (was true), \
             or \"silent\"",
        );
    }

    let mut redating = Vec::new();
    match &t.redating {
        None => problems.add(file, "threshold redating is missing"),
        Some(table) => {
            if table.source.trim().is_empty() {
                problems.add(file, "redating has no source");
            }
            if table.rows.is_empty() {
                problems.add(file, "redating has no rows");
            }
            let mut last = -1;
            for row in &table.rows {
                let max = if row.up_to == "any" {
                    i64::MAX
                } else {
                    match row.up_to.parse::<GestationalAge>() {
                        Ok(ga) => ga.days(),
                        Err(e) => {
                            problems.add(file, format!("redating row: {e}"));
                            continue;
                        }
                    }
                };
                if max <= last {
                    problems.add(
                        file,
                        format!(
                            "redating rows are not in increasing GA order at {}",
                            row.up_to
                        ),
                    );
                }
                if !(1..=60).contains(&row.more_than_days) {
                    problems.add(
                        file,
                        format!(
                            "redating threshold {} days is out of range",
                            row.more_than_days
                        ),
                    );
                }
                last = max;
                redating.push((max, row.more_than_days));
            }
            if redating.last().is_some_and(|(max, _)| *max != i64::MAX) {
                problems.add(file, "the last redating row must be up_to = \"any\"");
            }
        }
    }

    let (
        Some(plausible),
        Some(doubtful),
        Some(early),
        Some(anti_d),
        Some(previa),
        Some(previa_warning),
        Some(recency),
        Some(low_below),
        Some(mid_max),
        Some(rise_low),
        Some(rise_mid),
        Some(rise_high),
        Some(decline),
        Some(pair_min),
        Some(pair_max),
        Some(rhig),
        Some(edd_tol),
        Some(lookback),
        Some(future_tolerance),
        Some(before_margin),
        Some(max_ga),
    ) = (
        plausible,
        doubtful,
        early,
        anti_d,
        previa,
        previa_warning,
        recency,
        low_below,
        mid_max,
        rise_low,
        rise_mid,
        rise_high,
        decline,
        pair_min,
        pair_max,
        rhig,
        edd_tol,
        lookback,
        future_tolerance,
        before_margin,
        max_ga,
    )
    else {
        return None;
    };
    let (
        Some(vitals_window),
        Some(sbp_below),
        Some(hr_above),
        Some(shock_index),
        Some(shock_pairing),
        Some(triage),
        Some(progesterone),
        Some(r15_order),
        Some(nice_rise),
        Some(nice_fall),
        Some(nice_max),
        Some(lead),
    ) = (
        vitals_window,
        sbp_below,
        hr_above,
        shock_index,
        shock_pairing,
        triage,
        progesterone,
        r15_order,
        nice_rise,
        nice_fall,
        nice_max,
        lead,
    )
    else {
        return None;
    };
    if triage < previa {
        problems.add(
            file,
            "obstetric_triage_from must not be below previa_check_from (R9 folds into R14)",
        );
    }
    if nice_max < pair_min || nice_max > pair_max {
        problems.add(
            file,
            "nice_pair_max_hours must lie within hcg_pair_min_hours..=hcg_pair_max_hours",
        );
    }
    // Reading the record (knowledge.md §3.5 items 4 and 11).
    let evidence_age = number(
        &t.pregnancy_evidence_max_age_days,
        "pregnancy_evidence_max_age_days",
        1..=600,
        problems,
    );
    let postpartum_weeks = number(
        &t.postpartum_window_weeks,
        "postpartum_window_weeks",
        1..=52,
        problems,
    );
    // Pregnancy tests as evidence both ways (knowledge.md §3.6 item 7).
    let hcg_pregnant = number(
        &t.hcg_pregnant_from,
        "hcg_pregnant_from",
        1.0..=1_000.0,
        problems,
    );
    let hcg_not_pregnant = number(
        &t.hcg_not_pregnant_below,
        "hcg_not_pregnant_below",
        1.0..=1_000.0,
        problems,
    );
    let (Some(evidence_age), Some(postpartum_weeks), Some(hcg_pregnant), Some(hcg_not_pregnant)) = (
        evidence_age,
        postpartum_weeks,
        hcg_pregnant,
        hcg_not_pregnant,
    ) else {
        return None;
    };
    if hcg_not_pregnant > hcg_pregnant {
        problems.add(
            file,
            "hcg_not_pregnant_below must not exceed hcg_pregnant_from",
        );
    }
    if !(plausible < doubtful && doubtful < early && early < previa && previa <= previa_warning) {
        problems.add(
            file,
            "GA thresholds must increase: implantation_plausible_max < implantation_doubtful_max < early_window_max < previa_check_from <= previa_warning_from",
        );
    }
    if low_below > mid_max {
        problems.add(file, "hcg_band_low_below must not exceed hcg_band_mid_max");
    }
    if pair_min >= pair_max {
        problems.add(file, "hcg_pair_min_hours must be below hcg_pair_max_hours");
    }
    if max_ga < lookback * 7 {
        problems.add(
            file,
            "max_gestational_age must not be below the GA lookback (ga_lookback_weeks)",
        );
    }
    let term = term?;
    let at_conception = at_conception?;
    Some(Thresholds {
        implantation_plausible_max_days: plausible,
        implantation_doubtful_max_days: doubtful,
        early_window_max_days: early,
        anti_d_from_days: anti_d,
        previa_check_from_days: previa,
        previa_warning_from_days: previa_warning,
        term_from_days: term,
        sru_crl_mm: sru_crl_mm?,
        gtd_hcg_above: gtd_hcg_above?,
        recency_days: recency,
        redating,
        hcg_band_low_below: low_below,
        hcg_band_mid_max: mid_max,
        hcg_min_rise_low: rise_low,
        hcg_min_rise_mid: rise_mid,
        hcg_min_rise_high: rise_high,
        hcg_min_decline: decline,
        hcg_pair_min_hours: pair_min,
        hcg_pair_max_hours: pair_max,
        rhig_window_weeks: rhig,
        edd_passed_tolerance_days: edd_tol,
        ga_lookback_days: lookback * 7,
        // Set from R12's mode by `load`.
        r12_enabled: false,
        future_tolerance_days: future_tolerance,
        before_pregnancy_margin_days: before_margin,
        ga_at_conception_days: at_conception,
        max_gestational_age_days: max_ga,
        vital_signs_window_hours: vitals_window,
        systolic_bp_below: sbp_below,
        heart_rate_above: hr_above,
        shock_index_from: shock_index,
        shock_index_pairing_minutes: shock_pairing,
        obstetric_triage_from_days: triage,
        progesterone_before_days: progesterone,
        r15_order_enabled: r15_order,
        nice_rise_above: nice_rise,
        nice_fall_above: nice_fall,
        nice_pair_max_hours: nice_max,
        hcg_trend_lead: lead,
        pregnancy_evidence_max_age_days: evidence_age,
        postpartum_window_days: postpartum_weeks * 7,
        hcg_pregnant_from: hcg_pregnant,
        hcg_not_pregnant_below: hcg_not_pregnant,
    })
}
