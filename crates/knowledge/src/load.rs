//! Loading a profile: reading its files (a profile folder, or the copy embedded in the binary),
//! checking them, and building the [`Profile`] the knowledge base holds: value sets (FHIR
//! `ValueSet` JSON, `load/value_sets.rs`), thresholds and text cues (TOML, `thresholds.rs` and
//! `text.rs`) for the engine, and the card templates ([`crate::templates`]) for rendering. This
//! file holds `profile.toml` and the order the files are read and checked in.
//!
//! Every check adds to a [`Problems`] list instead of returning early, so one run reports every
//! problem of the profile. Unknown keys are errors (`deny_unknown_fields`): a misspelt key must not
//! silently fall back to a default.

pub mod embedded;
mod text;
mod thresholds;
mod value_sets;

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::error::{Problems, ProfileError};
use crate::modes::{RuleMode, RuleModes, RuleToml};
pub use crate::systems::{CPT, HCPCS, KNOWN_SYSTEMS, LOCAL};
use crate::templates::{CardsToml, Orderable, check_cards, check_orderables};
use text::TextToml;
use thresholds::ThresholdsToml;
pub use value_sets::{LoadedValueSet, VALUE_SET_NAMES};

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

// ----- The checked profile ---------------------------------------------------------------------

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

    let value_sets = value_sets::read_all(files, &mut problems);

    let thresholds = parse_toml::<ThresholdsToml>(files, "thresholds.toml", &mut problems)
        .and_then(|t| thresholds::thresholds(t, &mut problems));
    let text = parse_toml::<TextToml>(files, "text.toml", &mut problems)
        .map(|t| text::text(t, &mut problems));
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
    let vs = value_sets::engine_sets(&value_sets);
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
