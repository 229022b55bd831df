//! Reading and checking a profile's files: value sets (FHIR `ValueSet` JSON) and TOML settings.
//!
//! Every check adds to a [`Problems`] list instead of returning early, so one run reports every
//! problem of the profile. Unknown keys are errors (`deny_unknown_fields`): a misspelt key must not
//! silently fall back to a default.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use gravida_rules::knowledge::{ICD10CM, LOINC, RXNORM, SNOMED};
use gravida_rules::{BleedingText, CodeSet, GestationalAge, RuleId, Thresholds, ValueSets};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::error::Problems;

/// CPT (used only by orderables).
pub const CPT: &str = "http://www.ama-assn.org/go/cpt";
/// Site-local codes (e.g. placental location, which has no verified standard code).
pub const LOCAL: &str = "urn:gravida:local";

/// Code systems a profile may use.
pub const KNOWN_SYSTEMS: &[&str] = &[SNOMED, LOINC, ICD10CM, RXNORM, CPT, LOCAL];

/// Every value set file the engine reads, by file stem.
pub const VALUE_SET_NAMES: &[&str] = &[
    "absent-answer",
    "already-diagnosed",
    "art-conception",
    "bleeding",
    "bleeding-other-site",
    "bp-panel",
    "crown-rump-length",
    "dating-art",
    "dating-edd",
    "dating-lmp",
    "dating-other",
    "dating-ultrasound",
    "delivery-date",
    "ectopic-pregnancy",
    "fetal-heart-activity",
    "hcg-quantitative",
    "heart-rate",
    "iud",
    "iup",
    "lmp-date",
    "methotrexate",
    "miscarriage-count",
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
    "procedure-rh-typing",
    "procedure-ultrasound",
    "recurrent-pregnancy-loss",
    "rh-negative",
    "rh-positive",
    "rh-sensitised",
    "rh-type",
    "subchorionic-hematoma",
    "systolic-bp",
    "ultrasound-performed",
];

// ----- File formats ------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileToml {
    pub name: String,
    pub version: String,
    #[serde(default)]
    pub description: Option<String>,
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
    heavy_bleeding_terms: Vec<String>,
    absent_answers: Vec<String>,
    history_prefixes: Vec<String>,
    postpartum_terms: Vec<String>,
    postpartum_exclusions: Vec<String>,
    other_site_words: Vec<String>,
    vaginal_context_terms: Vec<String>,
    rh_negative_words: Vec<String>,
    rh_positive_words: Vec<String>,
}

/// A coding in TOML (orderables, override reasons).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodingToml {
    pub system: String,
    pub code: String,
    pub display: Option<String>,
}

/// One orderable: the draft ServiceRequest a suggestion creates.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Orderable {
    pub label: String,
    pub text: String,
    pub intent: String,
    pub codes: Vec<CodingToml>,
    #[serde(default)]
    pub occurrence_offset_hours: Option<i64>,
    #[serde(default)]
    pub note: Option<String>,
    /// The resource the suggestion creates: `ServiceRequest` (default) or `MedicationRequest`
    /// (R15's progesterone), whose `codes` are the medication's.
    #[serde(default)]
    pub resource: Option<String>,
    /// A MedicationRequest's `dosageInstruction` text.
    #[serde(default)]
    pub dosage: Option<String>,
    /// Orderables the same button also creates (one button, "hCG now and in 48 h", for two
    /// orders), so that a card needs no more than three buttons.
    #[serde(default)]
    pub with: Vec<String>,
}

/// A link a card carries to a guideline it cites (knowledge.md §3.5 item 17).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkToml {
    pub label: String,
    pub url: String,
}

/// The card text of one rule.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleCard {
    pub summary: String,
    #[serde(default)]
    pub variants: BTreeMap<String, String>,
    pub why: Vec<String>,
    pub what_to_do: Vec<String>,
    pub does_not_mean: Vec<String>,
    pub suggestions: Vec<String>,
    pub suggestions_if_rh_unknown: Vec<String>,
    #[serde(default)]
    pub delete_label: Option<String>,
    pub source_label: String,
    pub source_url: String,
    /// Further guidelines the card cites, as links.
    #[serde(default)]
    pub links: Vec<LinkToml>,
    /// The short card (issue 17): its first lines, what to do (at most three). The full
    /// `why`/`what_to_do`/`does_not_mean` go to the card's long form.
    pub card_do: Vec<String>,
    /// The short card's reason, after the facts.
    pub card_why: Vec<String>,
    /// The short card's "what this card does not mean", one sentence.
    pub card_not_mean: String,
    /// R4, R8 and R10: the one line this card becomes when it is folded into another bleeding
    /// card instead of being shown beside it.
    #[serde(default)]
    pub card_folded: Option<String>,
}

/// Text a modifier adds to a card.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModifierText {
    #[serde(default)]
    pub why: Option<String>,
    #[serde(default)]
    pub what_to_do: Option<String>,
    /// Orderables the modifier adds to the card's suggestions (e.g. Kleihauer–Betke when RhD
    /// negative, R14).
    #[serde(default)]
    pub suggestions: Vec<String>,
    /// The modifier's words on the short card: `card_why` among the reasons, `card_do` among
    /// the steps. Absent: the full `why` / `what_to_do` is used (so a new modifier is never
    /// silently left off the card); empty (`""`): the text is in the long form only.
    #[serde(default)]
    pub card_why: Option<String>,
    #[serde(default)]
    pub card_do: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceToml {
    pub label: String,
}

/// Sentences built from the records found.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FactsText {
    pub bleed: String,
    pub bleed_undated: String,
    pub dated: String,
    pub undated: String,
    pub iup_documented: String,
    pub pul: String,
    /// `pul` from 14w0d or at an unknown GA: without "pregnancy of unknown location".
    pub pul_late: String,
    pub no_ultrasound: String,
    pub dating_art: String,
    pub dating_edd: String,
    pub dating_ultrasound: String,
    pub dating_lmp: String,
    pub dating_ga: String,
    /// The short card's facts: the bleed as a clinician knows it, its day, the GA and the dating.
    pub card_bleed: String,
    pub card_bleed_undated: String,
    pub card_dated: String,
    pub card_undated: String,
    pub card_iup_documented: String,
    pub card_pul: String,
    pub card_pul_late: String,
    pub card_no_ultrasound: String,
}

/// `cards.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardsToml {
    pub closing: String,
    pub source: SourceToml,
    pub override_reasons: Vec<CodingToml>,
    pub facts: FactsText,
    pub rules: BTreeMap<String, RuleCard>,
    pub modifiers: BTreeMap<String, ModifierText>,
}

/// Every modifier key `cards.toml` must define.
pub const MODIFIER_KEYS: &[&str] = &[
    "anti_d_given",
    "bleed_date_from_recorded",
    "bleed_date_unknown",
    "date_before_pregnancy",
    "date_in_future",
    "diagnosed_in_this_pregnancy",
    "hcg_adequate_rise",
    "hcg_bound",
    "hcg_fall",
    "hcg_nice_between",
    "hcg_nice_fall",
    "hcg_nice_rise",
    "hcg_readings_differ",
    "hcg_result_pending",
    "hcg_slow_fall",
    "hcg_slow_rise",
    "heavy_bleeding",
    "impossible_ga",
    "kleihauer_betke",
    "label_doubtful",
    "label_implausible",
    "placenta_not_located",
    "previa_documented",
    "progesterone_order",
    "redated",
    "refused_record",
    "refused_records",
    "rh_earlier_pregnancy",
    "rh_negative_on_record",
    "rh_positive_on_record",
    "rh_result_pending",
    "rh_unknown",
    "rh_unreadable",
    "risk_art",
    "risk_iud",
    "risk_prior_ectopic",
    "ruptured_ectopic_possible",
    "start_in_future",
    "subchorionic_hematoma",
    "unavailable_encounters",
    "unavailable_hcg",
    "unavailable_procedures",
    "unavailable_rh_type",
    "unavailable_ultrasound",
    "unavailable_vital_signs",
    "unreadable_record",
    "unreadable_vital_sign",
    "vital_heart_rate",
    "vital_shock_index",
    "vital_systolic_bp",
];

/// Variant summaries a rule may define, by rule.
const VARIANTS: &[(&str, &str)] = &[
    ("R3", "label_doubtful"),
    ("R6", "documented_iup"),
    ("R9", "previa_documented"),
    ("R14", "previa_documented"),
];

/// Placeholders allowed in summaries, with the longest value each can take.
const SUMMARY_PLACEHOLDERS: &[(&str, &str)] = &[
    ("ga", "40w6d"),
    ("bleed_date", "2025-12-31"),
    ("iup_date", "2025-12-31"),
];

/// Placeholders allowed in detail text.
const DETAIL_PLACEHOLDERS: &[&str] = &[
    "ga",
    "bleed_date",
    "iup_date",
    "rhig_window_weeks",
    "hcg_change",
    "hcg_minimum",
    "redate_days",
    "record",
    "field",
    "order",
    "bleed_text",
    "bleed_kind",
    "bleed_record",
    "bleed_day",
    "iup_day",
    "dating_day",
    "dating",
    "record_date",
    "edd",
    "lmp",
    "refused",
    "bound",
    "hcg_direction",
    "nice_fall",
    "nice_rise",
    "vital_time",
    "vital_value",
];

// ----- Templates -----------------------------------------------------------------------------

/// The `{name}` placeholders of a template, or an error for an unclosed brace.
pub fn placeholders(template: &str) -> Result<Vec<&str>, String> {
    let mut names = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let close = after
            .find('}')
            .ok_or_else(|| format!("unclosed '{{' in {template:?}"))?;
        names.push(&after[..close]);
        rest = &after[close + 1..];
    }
    Ok(names)
}

/// Replaces `{name}` with its value; unknown names are left as they are (checked at load).
///
/// One pass, left to right: a value is copied as it is and never read for placeholders, so chart
/// text holding `{summary}` or `{{ga}}` cannot be expanded (values are escaped as well, see
/// [`crate::markdown`]).
pub fn fill(template: &str, values: &HashMap<&str, String>) -> String {
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) => {
                let name = &after[..close];
                match values.get(name) {
                    Some(value) => out.push_str(value),
                    None => {
                        out.push('{');
                        out.push_str(name);
                        out.push('}');
                    }
                }
                rest = &after[close + 1..];
            }
            None => {
                out.push_str(&rest[open..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
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
    let r12 = match &t.r12_enabled {
        Some(c) => Some(c.value),
        None => {
            problems.add(file, "threshold r12_enabled is missing");
            None
        }
    };

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
        Some(r12),
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
        r12,
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
    let (Some(evidence_age), Some(postpartum_weeks)) = (evidence_age, postpartum_weeks) else {
        return None;
    };
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
    Some(Thresholds {
        implantation_plausible_max_days: plausible,
        implantation_doubtful_max_days: doubtful,
        early_window_max_days: early,
        anti_d_from_days: anti_d,
        previa_check_from_days: previa,
        previa_warning_from_days: previa_warning,
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
        r12_enabled: r12,
        future_tolerance_days: future_tolerance,
        before_pregnancy_margin_days: before_margin,
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
        heavy_bleeding_terms: lower(t.heavy_bleeding_terms, "heavy_bleeding_terms", problems),
        absent_answers: lower(t.absent_answers, "absent_answers", problems),
        history_prefixes: lower(t.history_prefixes, "history_prefixes", problems),
        postpartum_terms: lower(t.postpartum_terms, "postpartum_terms", problems),
        postpartum_exclusions: lower(t.postpartum_exclusions, "postpartum_exclusions", problems),
        other_site_words: lower(t.other_site_words, "other_site_words", problems),
        vaginal_context_terms: lower(t.vaginal_context_terms, "vaginal_context_terms", problems),
        rh_negative_words: lower(t.rh_negative_words, "rh_negative_words", problems),
        rh_positive_words: lower(t.rh_positive_words, "rh_positive_words", problems),
    }
}

fn check_template(
    file: &str,
    what: &str,
    template: &str,
    allowed: &[&str],
    problems: &mut Problems,
) {
    match placeholders(template) {
        Ok(names) => {
            for name in names {
                if !allowed.contains(&name) {
                    problems.add(file, format!("{what}: unknown placeholder {{{name}}}"));
                }
            }
        }
        Err(e) => problems.add(file, format!("{what}: {e}")),
    }
}

fn check_summary(rule: &str, what: &str, template: &str, problems: &mut Problems) {
    let file = "cards.toml";
    let allowed: Vec<&str> = SUMMARY_PLACEHOLDERS.iter().map(|(n, _)| *n).collect();
    check_template(
        file,
        &format!("{rule} {what}"),
        template,
        &allowed,
        problems,
    );
    let longest: HashMap<&str, String> = SUMMARY_PLACEHOLDERS
        .iter()
        .map(|(n, v)| (*n, v.to_string()))
        .collect();
    let filled = fill(template, &longest);
    let chars = filled.chars().count();
    if chars >= gravida_cds_hooks::response::SUMMARY_MAX_CHARS {
        problems.add(
            file,
            format!(
                "{rule} {what} has {chars} characters after substitution; it must be under 140"
            ),
        );
    }
}

fn check_cards(
    cards: &CardsToml,
    orderables: &BTreeMap<String, Orderable>,
    problems: &mut Problems,
) {
    let file = "cards.toml";
    for rule in RuleId::CARD_RULES {
        if !cards.rules.contains_key(rule.as_str()) {
            problems.add(file, format!("rule {rule} has no card template"));
        }
    }
    let card_rules: Vec<&str> = RuleId::CARD_RULES.iter().map(|r| r.as_str()).collect();
    for (name, card) in &cards.rules {
        if !card_rules.contains(&name.as_str()) {
            problems.add(file, format!("rules.{name} is not a rule that has a card"));
        }
        check_summary(name, "summary", &card.summary, problems);
        for (variant, summary) in &card.variants {
            if !VARIANTS.contains(&(name.as_str(), variant.as_str())) {
                problems.add(file, format!("{name} has an unknown variant {variant}"));
            }
            check_summary(name, &format!("variant {variant}"), summary, problems);
        }
        for text in card
            .why
            .iter()
            .chain(&card.what_to_do)
            .chain(&card.does_not_mean)
            .chain(&card.card_do)
            .chain(&card.card_why)
            .chain(std::iter::once(&card.card_not_mean))
            .chain(&card.card_folded)
        {
            check_template(file, name, text, DETAIL_PLACEHOLDERS, problems);
        }
        if card.card_do.is_empty() || card.card_do.len() > 3 {
            problems.add(
                file,
                format!("{name} needs one to three card_do lines (what to do, first on the card)"),
            );
        }
        if card.why.is_empty() || card.what_to_do.is_empty() || card.does_not_mean.is_empty() {
            problems.add(
                file,
                format!("{name} needs why, what_to_do and does_not_mean text"),
            );
        }
        for key in card
            .suggestions
            .iter()
            .chain(&card.suggestions_if_rh_unknown)
        {
            if !orderables.contains_key(key) {
                problems.add(file, format!("{name} suggests unknown orderable {key}"));
            }
        }
        if card.source_label.trim().is_empty() {
            problems.add(file, format!("{name} has no source_label"));
        }
        if !card.source_url.starts_with("https://") && !card.source_url.starts_with("http://") {
            problems.add(file, format!("{name} source_url is not an http(s) URL"));
        }
        for link in &card.links {
            if link.label.trim().is_empty() {
                problems.add(file, format!("{name} has a link without a label"));
            }
            if !link.url.starts_with("https://") && !link.url.starts_with("http://") {
                problems.add(
                    file,
                    format!("{name} link {} is not an http(s) URL", link.url),
                );
            }
        }
    }
    if cards
        .rules
        .get("R6")
        .is_some_and(|c| c.delete_label.is_none())
    {
        problems.add(file, "R6 needs a delete_label");
    }
    for key in MODIFIER_KEYS {
        match cards.modifiers.get(*key) {
            None => problems.add(file, format!("modifier {key} has no text")),
            Some(m) => {
                if m.why.is_none() && m.what_to_do.is_none() {
                    problems.add(file, format!("modifier {key} needs why or what_to_do"));
                }
                for text in m
                    .why
                    .iter()
                    .chain(&m.what_to_do)
                    .chain(&m.card_why)
                    .chain(&m.card_do)
                {
                    check_template(file, key, text, DETAIL_PLACEHOLDERS, problems);
                }
                for orderable in &m.suggestions {
                    if !orderables.contains_key(orderable) {
                        problems.add(
                            file,
                            format!("modifier {key} suggests unknown orderable {orderable}"),
                        );
                    }
                }
            }
        }
    }
    for key in cards.modifiers.keys() {
        if !MODIFIER_KEYS.contains(&key.as_str()) {
            problems.add(file, format!("unknown modifier {key}"));
        }
    }
    if cards.override_reasons.is_empty() {
        problems.add(file, "no override_reasons");
    }
    for reason in &cards.override_reasons {
        if reason.system.is_empty() || reason.code.is_empty() {
            problems.add(file, "override reason with an empty system or code");
        }
        if reason
            .display
            .as_deref()
            .is_none_or(|d| d.trim().is_empty())
        {
            problems.add(
                file,
                format!("override reason {} has no display", reason.code),
            );
        }
    }
    let f = &cards.facts;
    for text in [
        &f.bleed,
        &f.bleed_undated,
        &f.dated,
        &f.undated,
        &f.iup_documented,
        &f.pul,
        &f.pul_late,
        &f.no_ultrasound,
        &f.dating_art,
        &f.dating_edd,
        &f.dating_ultrasound,
        &f.dating_lmp,
        &f.dating_ga,
        &f.card_bleed,
        &f.card_bleed_undated,
        &f.card_dated,
        &f.card_undated,
        &f.card_iup_documented,
        &f.card_pul,
        &f.card_pul_late,
        &f.card_no_ultrasound,
    ] {
        check_template(file, "facts", text, DETAIL_PLACEHOLDERS, problems);
    }
}

fn check_orderables(orderables: &BTreeMap<String, Orderable>, problems: &mut Problems) {
    let file = "orderables.toml";
    for (key, o) in orderables {
        if o.label.trim().is_empty() || o.text.trim().is_empty() {
            problems.add(file, format!("{key} needs a label and a text"));
        }
        if !matches!(o.intent.as_str(), "proposal" | "plan" | "order") {
            problems.add(
                file,
                format!("{key} intent {:?} is not proposal, plan or order", o.intent),
            );
        }
        if o.codes.is_empty() {
            problems.add(file, format!("{key} has no codes"));
        }
        for other in &o.with {
            if other == key || !orderables.contains_key(other) {
                problems.add(
                    file,
                    format!("{key} is also to create unknown orderable {other}"),
                );
            }
        }
        for code in &o.codes {
            if !KNOWN_SYSTEMS.contains(&code.system.as_str()) {
                problems.add(file, format!("{key}: unknown code system {}", code.system));
            }
            if code.code.trim().is_empty() {
                problems.add(file, format!("{key}: empty code"));
            }
        }
        if !matches!(
            o.resource.as_deref(),
            None | Some("ServiceRequest" | "MedicationRequest")
        ) {
            problems.add(
                file,
                format!("{key}: resource must be ServiceRequest or MedicationRequest"),
            );
        }
        if o.dosage.is_some() && o.resource.as_deref() != Some("MedicationRequest") {
            problems.add(
                file,
                format!("{key}: dosage is for a MedicationRequest only"),
            );
        }
        if o.occurrence_offset_hours
            .is_some_and(|h| !(0..=24 * 14).contains(&h))
        {
            problems.add(file, format!("{key}: occurrence_offset_hours out of range"));
        }
    }
}

/// Checks every file and builds the profile, or returns every problem found.
pub fn load(files: &BTreeMap<String, Vec<u8>>) -> Result<Profile, Vec<crate::ProfileProblem>> {
    let mut problems = Problems::default();

    let profile: Option<ProfileToml> = parse_toml(files, "profile.toml", &mut problems);
    if let Some(p) = &profile {
        let _ = &p.description;
        if p.name.trim().is_empty() || p.version.trim().is_empty() {
            problems.add("profile.toml", "name and version must not be empty");
        }
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
        dating_other: set("dating-other"),
        hcg_quantitative: set("hcg-quantitative"),
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
        placental_location: set("placental-location"),
        subchorionic_hematoma: set("subchorionic-hematoma"),
        pregnancy_ended: set("pregnancy-ended"),
        already_diagnosed: set("already-diagnosed"),
        methotrexate: set("methotrexate"),
        absent_answer: set("absent-answer"),
        systolic_bp: set("systolic-bp"),
        heart_rate: set("heart-rate"),
        bp_panel: set("bp-panel"),
        procedure_ultrasound: set("procedure-ultrasound"),
        procedure_rh_typing: set("procedure-rh-typing"),
        procedure_anti_d: set("procedure-anti-d"),
        procedure_hcg: set("procedure-hcg"),
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
    Ok(Profile {
        name: profile.name,
        value_sets,
        rules: gravida_rules::RulesKnowledge::from_parts(vs, text, thresholds),
        cards,
        orderables,
    })
}
