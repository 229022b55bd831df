//! Loading a profile: reading its files (a profile folder, or the copy embedded in the binary),
//! checking them, and building the [`Profile`] the knowledge base holds: value sets (FHIR
//! `ValueSet` JSON), thresholds and text cues (TOML) for the engine, and the card templates
//! ([`crate::templates`]) for rendering.
//!
//! Every check adds to a [`Problems`] list instead of returning early, so one run reports every
//! problem of the profile. Unknown keys are errors (`deny_unknown_fields`): a misspelt key must not
//! silently fall back to a default.

pub mod embedded;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use gravida_rules::knowledge::ICD10CM;
use gravida_rules::{BleedingText, CodeSet, GestationalAge, Thresholds, ValueSets};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::error::{Problems, ProfileError};
use crate::modes::{RuleMode, RuleModes, RuleToml};
pub use crate::systems::{CPT, HCPCS, KNOWN_SYSTEMS, LOCAL};
use crate::templates::{CardsToml, Orderable, check_cards, check_orderables};

/// Every value set file the engine reads, by file stem.
pub const VALUE_SET_NAMES: &[&str] = &[
    "abortifacient",
    "absent-answer",
    "already-diagnosed",
    "art-conception",
    "bleeding",
    "bleeding-other-site",
    "bp-panel",
    "conception-date",
    "crown-rump-length",
    "dating-art",
    "dating-edd",
    "dating-lmp",
    "dating-other",
    "dating-ultrasound",
    "delivery-date",
    "ectopic-pregnancy",
    "embryo-transfer",
    "fetal-heart-activity",
    "hcg-qualitative",
    "hcg-quantitative",
    "induced-abortion",
    "heart-rate",
    "iud",
    "iup",
    "lmp-date",
    "medication-anti-d",
    "methotrexate",
    "miscarriage-count",
    "molar-pregnancy",
    "not-pregnant-answer",
    "personal-history",
    "placenta-previa",
    "placental-location",
    "pregnancy-ended",
    "pregnancy-evidence",
    "pregnancy-status",
    "pregnant-answer",
    "present-answer",
    "previous-miscarriage",
    "procedure-anti-d",
    "procedure-hcg",
    "procedure-pregnancy-ended",
    "procedure-rh-typing",
    "procedure-ultrasound",
    "recurrent-pregnancy-loss",
    "rh-antibody-identified",
    "rh-antibody-screen",
    "rh-negative",
    "rh-positive",
    "rh-sensitised",
    "rh-type",
    "subchorionic-hematoma",
    "systolic-bp",
    "ultrasound-performed",
    "vasa-previa",
];

// ----- File formats ------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileToml {
    pub name: String,
    pub version: String,
    /// What changed since the previous version, for the reviewer and the console (required).
    #[serde(default)]
    pub change_note: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// Each rule's mode, by rule id (`[rules.R12] mode = "off"`; see [`crate::modes`]).
    #[serde(default)]
    pub rules: BTreeMap<String, RuleToml>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ValueSetJson {
    resource_type: String,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    publisher: Option<String>,
    compose: Option<Compose>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Compose {
    #[serde(default)]
    include: Vec<Include>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Include {
    #[serde(default)]
    system: Option<String>,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    concept: Vec<Concept>,
    #[serde(default)]
    filter: Vec<Filter>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Concept {
    code: String,
    #[serde(default)]
    display: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Filter {
    property: String,
    op: String,
    value: String,
}

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
struct ThresholdsToml {
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TextToml {
    bleeding_terms: Vec<String>,
    implantation_terms: Vec<String>,
    negation_cues: Vec<String>,
    negation_window_words: usize,
    hedge_terms: Vec<String>,
    methotrexate_terms: Vec<String>,
    methotrexate_other_indication_terms: Vec<String>,
    heavy_bleeding_terms: Vec<String>,
    moderate_bleeding_terms: Vec<String>,
    absent_answers: Vec<String>,
    history_prefixes: Vec<String>,
    postpartum_terms: Vec<String>,
    postpartum_exclusions: Vec<String>,
    other_site_words: Vec<String>,
    vaginal_context_terms: Vec<String>,
    rh_negative_words: Vec<String>,
    rh_positive_words: Vec<String>,
    vasa_previa_words: Vec<String>,
    labour_words: Vec<String>,
    dilation_words: Vec<String>,
    show_words: Vec<String>,
    abruption_words: Vec<String>,
    anticoagulant_names: Vec<String>,
    rh_variant_names: Vec<String>,
    abortifacient_terms: Vec<String>,
    molar_words: Vec<String>,
    pregnancy_loss_reason_terms: Vec<String>,
    induced_abortion_reason_terms: Vec<String>,
    anti_d_names: Vec<String>,
}

// ----- The checked profile ---------------------------------------------------------------------

/// A value set, as the engine's code set plus the exact codes (for prefetch queries).
#[derive(Debug, Clone, Default)]
pub struct LoadedValueSet {
    pub set: CodeSet,
    pub exact: Vec<(String, String)>,
}

/// Everything a profile holds, checked.
#[derive(Debug, Clone)]
pub struct Profile {
    pub name: String,
    /// `version` and `change_note` of `profile.toml`, as written.
    pub version: String,
    pub change_note: String,
    /// Each card rule's mode (the profile's; the site's overrides are applied by
    /// [`crate::KnowledgeBase::with_site_modes`]).
    pub modes: RuleModes,
    pub value_sets: BTreeMap<String, LoadedValueSet>,
    pub rules: gravida_rules::RulesKnowledge,
    pub cards: CardsToml,
    pub orderables: BTreeMap<String, Orderable>,
}

fn parse_toml<T: DeserializeOwned>(
    files: &BTreeMap<String, Vec<u8>>,
    path: &str,
    problems: &mut Problems,
) -> Option<T> {
    let Some(bytes) = files.get(path) else {
        problems.add(path, "file is missing");
        return None;
    };
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(_) => {
            problems.add(path, "file is not UTF-8");
            return None;
        }
    };
    match toml::from_str(text) {
        Ok(value) => Some(value),
        Err(e) => {
            problems.add(path, format!("invalid TOML: {}", e.message()));
            None
        }
    }
}

fn load_value_set(path: &str, bytes: &[u8], problems: &mut Problems) -> Option<LoadedValueSet> {
    let vs: ValueSetJson = match serde_json::from_slice(bytes) {
        Ok(vs) => vs,
        Err(e) => {
            problems.add(path, format!("invalid ValueSet JSON: {e}"));
            return None;
        }
    };
    // Read the descriptive fields so that they are part of the format, not ignored noise.
    let _ = (
        &vs.id,
        &vs.url,
        &vs.name,
        &vs.title,
        &vs.status,
        &vs.description,
    );
    let _ = (&vs.version, &vs.publisher);
    if vs.resource_type != "ValueSet" {
        problems.add(
            path,
            format!("resourceType is {:?}, not \"ValueSet\"", vs.resource_type),
        );
    }
    let includes = vs.compose.map(|c| c.include).unwrap_or_default();
    let mut loaded = LoadedValueSet::default();
    let mut seen = BTreeSet::new();
    for include in &includes {
        let _ = &include.version;
        let Some(system) = include.system.as_deref() else {
            problems.add(path, "compose.include without a system");
            continue;
        };
        if !KNOWN_SYSTEMS.contains(&system) {
            problems.add(path, format!("unknown code system {system}"));
            continue;
        }
        if include.concept.is_empty() && include.filter.is_empty() {
            problems.add(
                path,
                format!("include of {system} lists no concept and no filter"),
            );
        }
        for concept in &include.concept {
            let _ = &concept.display;
            let code = concept.code.trim();
            if code.is_empty() {
                problems.add(path, format!("empty code in {system}"));
                continue;
            }
            let key = (
                system.to_string(),
                code.replace('.', "").to_ascii_uppercase(),
            );
            if !seen.insert(key) {
                problems.add(path, format!("duplicate code {system}|{code}"));
            }
            loaded.set.insert(system, code);
            loaded.exact.push((system.to_string(), code.to_string()));
        }
        for filter in &include.filter {
            // The one filter we support: ICD-10-CM `concept is-a X`, read as "code starts with X".
            if system != ICD10CM || filter.property != "concept" || filter.op != "is-a" {
                problems.add(
                    path,
                    format!(
                        "unsupported filter {} {} on {system} (only ICD-10-CM 'concept is-a' prefixes)",
                        filter.property, filter.op
                    ),
                );
                continue;
            }
            if filter.value.trim().is_empty() {
                problems.add(path, "empty is-a filter value");
                continue;
            }
            loaded.set.insert_prefix(system, &filter.value);
        }
    }
    if loaded.set.is_empty() {
        problems.add(path, "value set is empty");
    }
    Some(loaded)
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

fn thresholds(t: ThresholdsToml, problems: &mut Problems) -> Option<Thresholds> {
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

fn text(t: TextToml, problems: &mut Problems) -> BleedingText {
    let file = "text.toml";
    let lower = |list: Vec<String>, name: &str, problems: &mut Problems| {
        if list.is_empty() {
            problems.add(file, format!("{name} is empty"));
        }
        list.into_iter()
            .map(|w| w.trim().to_lowercase())
            .filter(|w| !w.is_empty())
            .collect::<Vec<_>>()
    };
    BleedingText {
        bleeding_terms: lower(t.bleeding_terms, "bleeding_terms", problems),
        implantation_terms: lower(t.implantation_terms, "implantation_terms", problems),
        negation_cues: lower(t.negation_cues, "negation_cues", problems),
        negation_window_words: t.negation_window_words,
        hedge_terms: lower(t.hedge_terms, "hedge_terms", problems),
        methotrexate_terms: lower(t.methotrexate_terms, "methotrexate_terms", problems),
        methotrexate_other_indication_terms: lower(
            t.methotrexate_other_indication_terms,
            "methotrexate_other_indication_terms",
            problems,
        ),
        heavy_bleeding_terms: lower(t.heavy_bleeding_terms, "heavy_bleeding_terms", problems),
        moderate_bleeding_terms: lower(
            t.moderate_bleeding_terms,
            "moderate_bleeding_terms",
            problems,
        ),
        absent_answers: lower(t.absent_answers, "absent_answers", problems),
        history_prefixes: lower(t.history_prefixes, "history_prefixes", problems),
        postpartum_terms: lower(t.postpartum_terms, "postpartum_terms", problems),
        postpartum_exclusions: lower(t.postpartum_exclusions, "postpartum_exclusions", problems),
        other_site_words: lower(t.other_site_words, "other_site_words", problems),
        vaginal_context_terms: lower(t.vaginal_context_terms, "vaginal_context_terms", problems),
        rh_negative_words: lower(t.rh_negative_words, "rh_negative_words", problems),
        rh_positive_words: lower(t.rh_positive_words, "rh_positive_words", problems),
        vasa_previa_words: lower(t.vasa_previa_words, "vasa_previa_words", problems),
        labour_words: lower(t.labour_words, "labour_words", problems),
        dilation_words: lower(t.dilation_words, "dilation_words", problems),
        show_words: lower(t.show_words, "show_words", problems),
        abruption_words: lower(t.abruption_words, "abruption_words", problems),
        anticoagulant_names: lower(t.anticoagulant_names, "anticoagulant_names", problems),
        rh_variant_names: lower(t.rh_variant_names, "rh_variant_names", problems),
        abortifacient_terms: lower(t.abortifacient_terms, "abortifacient_terms", problems),
        molar_words: lower(t.molar_words, "molar_words", problems),
        pregnancy_loss_reason_terms: lower(
            t.pregnancy_loss_reason_terms,
            "pregnancy_loss_reason_terms",
            problems,
        ),
        induced_abortion_reason_terms: lower(
            t.induced_abortion_reason_terms,
            "induced_abortion_reason_terms",
            problems,
        ),
        anti_d_names: lower(t.anti_d_names, "anti_d_names", problems),
    }
}

/// Checks every file and builds the profile, or returns every problem found.
pub fn load(files: &BTreeMap<String, Vec<u8>>) -> Result<Profile, Vec<crate::ProfileProblem>> {
    let mut problems = Problems::default();

    let profile: Option<ProfileToml> = parse_toml(files, "profile.toml", &mut problems);
    let mut modes = RuleModes::all_active();
    if let Some(p) = &profile {
        let _ = &p.description;
        if p.name.trim().is_empty() || p.version.trim().is_empty() {
            problems.add("profile.toml", "name and version must not be empty");
        }
        if p.change_note
            .as_deref()
            .is_none_or(|note| note.trim().is_empty())
        {
            problems.add(
                "profile.toml",
                "change_note is missing or empty: say what changed in this version",
            );
        }
        modes = RuleModes::from_profile(&p.rules, &mut problems);
    }

    let mut value_sets = BTreeMap::new();
    for (path, bytes) in files {
        if let Some(stem) = path.strip_prefix("valuesets/") {
            let Some(name) = stem.strip_suffix(".json") else {
                problems.add(path, "value sets must be .json files");
                continue;
            };
            if !VALUE_SET_NAMES.contains(&name) {
                problems.add(path, format!("unknown value set {name}"));
                continue;
            }
            if let Some(vs) = load_value_set(path, bytes, &mut problems) {
                value_sets.insert(name.to_string(), vs);
            }
        }
    }
    for name in VALUE_SET_NAMES {
        if !files.contains_key(&format!("valuesets/{name}.json")) {
            problems.add(
                &format!("valuesets/{name}.json"),
                "value set file is missing",
            );
        }
    }

    let thresholds = parse_toml::<ThresholdsToml>(files, "thresholds.toml", &mut problems)
        .and_then(|t| thresholds(t, &mut problems));
    let text =
        parse_toml::<TextToml>(files, "text.toml", &mut problems).map(|t| text(t, &mut problems));
    let orderables: Option<BTreeMap<String, Orderable>> =
        parse_toml(files, "orderables.toml", &mut problems);
    if let Some(o) = &orderables {
        check_orderables(o, &mut problems);
    }
    let cards: Option<CardsToml> = parse_toml(files, "cards.toml", &mut problems);
    if let (Some(c), Some(o)) = (&cards, &orderables) {
        check_cards(c, o, &mut problems);
        crate::source_urls::check(c, &mut problems);
    }

    if !problems.0.is_empty() {
        return Err(problems.0);
    }
    let (Some(profile), Some(thresholds), Some(text), Some(orderables), Some(cards)) =
        (profile, thresholds, text, orderables, cards)
    else {
        // Every `None` above added a problem, so this is unreachable in practice.
        return Err(vec![crate::ProfileProblem {
            file: "profile".into(),
            message: "profile is incomplete".into(),
        }]);
    };
    let set = |name: &str| {
        value_sets
            .get(name)
            .map(|v| v.set.clone())
            .unwrap_or_default()
    };
    let vs = ValueSets {
        bleeding: set("bleeding"),
        pregnancy_status: set("pregnancy-status"),
        pregnant_answer: set("pregnant-answer"),
        not_pregnant_answer: set("not-pregnant-answer"),
        pregnancy_condition: set("pregnancy-evidence"),
        dating_art: set("dating-art"),
        dating_edd: set("dating-edd"),
        dating_ultrasound: set("dating-ultrasound"),
        dating_lmp: set("dating-lmp"),
        lmp_date: set("lmp-date"),
        conception_date: set("conception-date"),
        embryo_transfer: set("embryo-transfer"),
        dating_other: set("dating-other"),
        hcg_quantitative: set("hcg-quantitative"),
        hcg_qualitative: set("hcg-qualitative"),
        procedure_pregnancy_ended: set("procedure-pregnancy-ended"),
        rh_type: set("rh-type"),
        rh_negative: set("rh-negative"),
        rh_positive: set("rh-positive"),
        rh_sensitised: set("rh-sensitised"),
        iup: set("iup"),
        fetal_heart_activity: set("fetal-heart-activity"),
        present_answer: set("present-answer"),
        crown_rump_length: set("crown-rump-length"),
        ultrasound_performed: set("ultrasound-performed"),
        placenta_previa: set("placenta-previa"),
        vasa_previa: set("vasa-previa"),
        rh_antibody_screen: set("rh-antibody-screen"),
        rh_antibody_identified: set("rh-antibody-identified"),
        placental_location: set("placental-location"),
        subchorionic_hematoma: set("subchorionic-hematoma"),
        pregnancy_ended: set("pregnancy-ended"),
        already_diagnosed: set("already-diagnosed"),
        methotrexate: set("methotrexate"),
        abortifacient: set("abortifacient"),
        induced_abortion: set("induced-abortion"),
        molar_pregnancy: set("molar-pregnancy"),
        absent_answer: set("absent-answer"),
        systolic_bp: set("systolic-bp"),
        heart_rate: set("heart-rate"),
        bp_panel: set("bp-panel"),
        procedure_ultrasound: set("procedure-ultrasound"),
        procedure_rh_typing: set("procedure-rh-typing"),
        procedure_anti_d: set("procedure-anti-d"),
        procedure_hcg: set("procedure-hcg"),
        medication_anti_d: set("medication-anti-d"),
        ectopic_pregnancy: set("ectopic-pregnancy"),
        iud: set("iud"),
        art_conception: set("art-conception"),
        previous_miscarriage: set("previous-miscarriage"),
        recurrent_pregnancy_loss: set("recurrent-pregnancy-loss"),
        miscarriage_count: set("miscarriage-count"),
        personal_history: set("personal-history"),
        bleeding_other_site: set("bleeding-other-site"),
        delivery_date: set("delivery-date"),
    };
    let mut thresholds = thresholds;
    thresholds.r12_enabled = modes.mode(gravida_rules::finding::RuleId::R12) != RuleMode::Off;
    Ok(Profile {
        name: profile.name,
        version: profile.version,
        change_note: profile.change_note.unwrap_or_default(),
        modes,
        value_sets,
        rules: gravida_rules::RulesKnowledge::from_parts(vs, text, thresholds),
        cards,
        orderables,
    })
}

/// Reads every file under `dir` (recursively) as `relative/path` → bytes.
pub(crate) fn read_tree(
    root: &Path,
    dir: &Path,
    files: &mut BTreeMap<String, Vec<u8>>,
) -> Result<(), ProfileError> {
    let io = |e: std::io::Error| ProfileError::Io {
        path: dir.display().to_string(),
        source: e,
    };
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(io)?
        .collect::<Result<_, _>>()
        .map_err(io)?;
    entries.sort_by_key(|e| e.path());
    for entry in entries {
        let path = entry.path();
        let file_type = entry.file_type().map_err(io)?;
        if file_type.is_dir() {
            read_tree(root, &path, files)?;
        } else if file_type.is_file() {
            let bytes = std::fs::read(&path).map_err(io)?;
            let relative = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            files.insert(relative, bytes);
        }
    }
    Ok(())
}
