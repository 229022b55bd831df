//! A profile's value sets: the files it must hold (`valuesets/<name>.json`, one per name of
//! [`VALUE_SET_NAMES`]), each read from FHIR `ValueSet` JSON and checked into a [`LoadedValueSet`],
//! and the engine's [`ValueSets`] built from them by name.

use std::collections::{BTreeMap, BTreeSet};

use gravida_rules::knowledge::ICD10CM;
use gravida_rules::{CodeSet, ValueSets};
use serde::Deserialize;

use crate::error::Problems;
use crate::systems::KNOWN_SYSTEMS;

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

/// A value set, as the engine's code set plus the exact codes (for prefetch queries).
#[derive(Debug, Clone, Default)]
pub struct LoadedValueSet {
    pub set: CodeSet,
    pub exact: Vec<(String, String)>,
}

// ----- The file format: a FHIR ValueSet, as much of it as a profile may write --------------------

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

/// Reads every `valuesets/*.json` file of the profile, and reports a file that is not one of
/// [`VALUE_SET_NAMES`] as well as a name that has no file.
pub(super) fn read_all(
    files: &BTreeMap<String, Vec<u8>>,
    problems: &mut Problems,
) -> BTreeMap<String, LoadedValueSet> {
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
            if let Some(vs) = load_value_set(path, bytes, problems) {
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
    value_sets
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

/// The engine's value sets, each by the name of its file (an empty set for a file that failed,
/// which `load` has reported already and will not build a profile from).
pub(super) fn engine_sets(value_sets: &BTreeMap<String, LoadedValueSet>) -> ValueSets {
    let set = |name: &str| {
        value_sets
            .get(name)
            .map(|v| v.set.clone())
            .unwrap_or_default()
    };
    ValueSets {
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
    }
}
