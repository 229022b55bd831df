//! What changed between two versions of a profile, for its review (`gravida profile diff OLD
//! NEW`): the rules' modes, the thresholds, the value sets' codes, the words the engine reads,
//! the card text (as a unified diff), the order codes, the source URLs, and any other file.
//!
//! The two folders are read as files, not loaded: a diff must work across versions whose
//! schemas differ (a threshold added, a key moved), and between a profile and one that no longer
//! loads, so that the reviewer sees the change that broke it. Only a file that is not TOML or
//! JSON at all stops it.
//!
//! Some changes need a clinician's sign-off before they ship ([`Section::sign_off`]): a rule's
//! mode, a threshold, a value set, and the words of `text.toml` (they decide what a record is,
//! as a value set's codes do). Card text, order codes, source URLs and other files are listed for
//! the reviewer without that.

pub mod unified;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

use gravida_rules::finding::RuleId;

use crate::error::{ProfileError, ProfileProblem};

/// A profile's files, `relative/path → bytes`.
pub type Files = BTreeMap<String, Vec<u8>>;

/// One part of the review: its title, whether its changes need a clinician's sign-off, and one
/// line per change (a unified diff's lines for text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub title: &'static str,
    pub sign_off: bool,
    pub lines: Vec<String>,
}

/// What changed between two profiles, section by section; sections with no change are left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileDiff {
    /// `name version` of each side, from `profile.toml`.
    pub old: String,
    pub new: String,
    /// The new side's `change_note` (empty if it has none).
    pub change_note: String,
    pub sections: Vec<Section>,
}

impl ProfileDiff {
    /// The diff between the profile folders `old` and `new`.
    pub fn between(old: &Path, new: &Path) -> Result<ProfileDiff, ProfileError> {
        let read = |dir: &Path| -> Result<Files, ProfileError> {
            let mut files = Files::new();
            crate::load::read_tree(dir, dir, &mut files)?;
            Ok(files)
        };
        ProfileDiff::of_files(&read(old)?, &read(new)?)
    }

    /// The diff between two profiles' files.
    pub fn of_files(old: &Files, new: &Files) -> Result<ProfileDiff, ProfileError> {
        let mut problems = Vec::new();
        let (old_p, new_p) = (
            toml_of(old, "profile.toml", &mut problems),
            toml_of(new, "profile.toml", &mut problems),
        );
        let (old_t, new_t) = (
            toml_of(old, "thresholds.toml", &mut problems),
            toml_of(new, "thresholds.toml", &mut problems),
        );
        let (old_o, new_o) = (
            toml_of(old, "orderables.toml", &mut problems),
            toml_of(new, "orderables.toml", &mut problems),
        );
        let value_sets = value_sets(old, new, &mut problems);
        if !problems.is_empty() {
            return Err(ProfileError::Invalid(problems));
        }
        let sections = [
            Section {
                title: "Rule modes",
                sign_off: true,
                lines: rule_modes(&old_p, &new_p),
            },
            Section {
                title: "Thresholds (thresholds.toml)",
                sign_off: true,
                lines: tables(&old_t, &new_t, &["source"]),
            },
            Section {
                title: "Value sets (valuesets/)",
                sign_off: true,
                lines: value_sets,
            },
            Section {
                title: "Words the engine reads (text.toml)",
                sign_off: true,
                lines: text_diff(old, new, "text.toml"),
            },
            Section {
                title: "Card text (cards.toml)",
                sign_off: false,
                lines: text_diff(old, new, "cards.toml"),
            },
            Section {
                title: "Order codes (orderables.toml)",
                sign_off: false,
                lines: tables(&old_o, &new_o, &[]),
            },
            Section {
                title: "Source URLs",
                sign_off: false,
                lines: source_urls(old, new),
            },
            Section {
                title: "Other files",
                sign_off: false,
                lines: other_files(old, new),
            },
        ]
        .into_iter()
        .filter(|s| !s.lines.is_empty())
        .collect();
        let named = |p: &toml::Table| {
            let field = |k: &str| p.get(k).and_then(|v| v.as_str()).unwrap_or("?").to_owned();
            format!("{} {}", field("name"), field("version"))
        };
        Ok(ProfileDiff {
            old: named(&old_p),
            new: named(&new_p),
            change_note: new_p
                .get("change_note")
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_owned(),
            sections,
        })
    }

    /// Whether any change needs a clinician's sign-off (a rule mode, a threshold, a value set,
    /// the engine's words).
    pub fn needs_sign_off(&self) -> bool {
        self.sections.iter().any(|s| s.sign_off)
    }
}

impl fmt::Display for ProfileDiff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "profile {} -> {}", self.old, self.new)?;
        writeln!(f, "change note: {}", self.change_note)?;
        if self.sections.is_empty() {
            return writeln!(f, "\nno change");
        }
        for section in &self.sections {
            let mark = if section.sign_off {
                " [needs clinical sign-off]"
            } else {
                ""
            };
            writeln!(f, "\n{}{mark}", section.title)?;
            for line in &section.lines {
                writeln!(f, "  {line}")?;
            }
        }
        Ok(())
    }
}

/// A TOML file of the profile as a table (empty when the file is missing: that shows as every
/// entry removed or added); a problem when it is not TOML.
fn toml_of(files: &Files, path: &str, problems: &mut Vec<ProfileProblem>) -> toml::Table {
    let Some(bytes) = files.get(path) else {
        return toml::Table::new();
    };
    match std::str::from_utf8(bytes)
        .map_err(|e| e.to_string())
        .and_then(|text| text.parse::<toml::Table>().map_err(|e| e.to_string()))
    {
        Ok(table) => table,
        Err(message) => {
            problems.push(ProfileProblem {
                file: path.to_owned(),
                message,
            });
            toml::Table::new()
        }
    }
}

/// Each rule's mode and acknowledgement in `profile.toml`'s `[rules]` (a rule not named is
/// active), where they differ: `R2: active -> silent`.
fn rule_modes(old: &toml::Table, new: &toml::Table) -> Vec<String> {
    let rules = |p: &toml::Table| -> BTreeMap<String, toml::Table> {
        p.get("rules")
            .and_then(|r| r.as_table())
            .map(|r| {
                r.iter()
                    .filter_map(|(id, t)| Some((id.clone(), t.as_table()?.clone())))
                    .collect()
            })
            .unwrap_or_default()
    };
    let (old, new) = (rules(old), rules(new));
    let mut ids: Vec<&String> = old.keys().chain(new.keys()).collect();
    // In the engine's rule order where the id is a rule's, else by name.
    ids.sort_by_key(|id| {
        (
            RuleId::parse(id).map_or(usize::MAX, |r| r as usize),
            id.as_str(),
        )
    });
    ids.dedup();
    let field = |t: Option<&toml::Table>, key: &str| -> Option<String> {
        t.and_then(|t| t.get(key)).map(|v| match v.as_str() {
            Some(s) => s.to_owned(),
            None => v.to_string(),
        })
    };
    let mut lines = Vec::new();
    for id in ids {
        let (o, n) = (old.get(id), new.get(id));
        let mode = |t| field(t, "mode").unwrap_or_else(|| "active".to_owned());
        if mode(o) != mode(n) {
            lines.push(format!("{id}: {} -> {}", mode(o), mode(n)));
        }
        let (oa, na) = (
            field(o, "acknowledge_silent_critical"),
            field(n, "acknowledge_silent_critical"),
        );
        if oa != na {
            lines.push(format!(
                "{id}: acknowledge_silent_critical {} -> {}",
                shown(oa.as_deref()),
                shown(na.as_deref())
            ));
        }
    }
    lines
}

fn shown(value: Option<&str>) -> String {
    value.map_or_else(|| "(none)".to_owned(), |v| format!("{v:?}"))
}

/// The top-level entries of two TOML tables that differ, leaving out the keys `ignore` (a
/// threshold's `source`: its URL shows under "Source URLs"): `key: old -> new`, `+ key: new`,
/// `- key: old`. Values are written as inline TOML.
fn tables(old: &toml::Table, new: &toml::Table, ignore: &[&str]) -> Vec<String> {
    let strip = |v: &toml::Value| -> String {
        match v {
            toml::Value::Table(t) => {
                let kept: toml::Table = t
                    .iter()
                    .filter(|(k, _)| !ignore.contains(&k.as_str()))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                // A table with only `value` left reads best as the value alone.
                match kept.get("value") {
                    Some(value) if kept.len() == 1 => value.to_string(),
                    _ => toml::Value::Table(kept).to_string(),
                }
            }
            other => other.to_string(),
        }
    };
    let keys: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    let mut lines = Vec::new();
    for key in keys {
        match (old.get(key).map(strip), new.get(key).map(strip)) {
            (Some(o), Some(n)) if o != n => lines.push(format!("{key}: {o} -> {n}")),
            (Some(o), None) => lines.push(format!("- {key}: {o}")),
            (None, Some(n)) => lines.push(format!("+ {key}: {n}")),
            _ => {}
        }
    }
    lines
}

/// Each value set's codes (`system|code`) added and removed, a concept whose other fields
/// changed (a per-code threshold, as `anti_d_from`), and value set files added or removed.
fn value_sets(old: &Files, new: &Files, problems: &mut Vec<ProfileProblem>) -> Vec<String> {
    let mut read = |files: &Files| -> BTreeMap<String, BTreeMap<String, String>> {
        let mut sets = BTreeMap::new();
        for (path, bytes) in files {
            let Some(name) = path
                .strip_prefix("valuesets/")
                .and_then(|p| p.strip_suffix(".json"))
            else {
                continue;
            };
            match serde_json::from_slice::<serde_json::Value>(bytes) {
                Ok(json) => {
                    sets.insert(name.to_owned(), concepts(&json));
                }
                Err(e) => problems.push(ProfileProblem {
                    file: path.clone(),
                    message: e.to_string(),
                }),
            }
        }
        sets
    };
    let (old, new) = (read(old), read(new));
    let names: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    let mut lines = Vec::new();
    for name in names {
        let (o, n) = match (old.get(name), new.get(name)) {
            (Some(o), Some(n)) => (o, n),
            (Some(o), None) => {
                lines.push(format!("- {name} (removed, {} codes)", o.len()));
                continue;
            }
            (None, Some(n)) => {
                lines.push(format!("+ {name} (new, {} codes)", n.len()));
                continue;
            }
            (None, None) => continue,
        };
        for (code, attributes) in o {
            match n.get(code) {
                None => lines.push(format!("{name}: - {code} {attributes}")),
                Some(now) if now != attributes => {
                    lines.push(format!("{name}: {code} {attributes} -> {now}"));
                }
                Some(_) => {}
            }
        }
        for (code, attributes) in n {
            if !o.contains_key(code) {
                lines.push(format!("{name}: + {code} {attributes}"));
            }
        }
    }
    lines
}

/// A ValueSet's concepts, `system|code → its other fields` (display included, as JSON).
fn concepts(json: &serde_json::Value) -> BTreeMap<String, String> {
    let mut codes = BTreeMap::new();
    let includes = json["compose"]["include"].as_array().cloned();
    for include in includes.unwrap_or_default() {
        let system = include["system"].as_str().unwrap_or("?").to_owned();
        for concept in include["concept"].as_array().cloned().unwrap_or_default() {
            let mut rest = concept.clone();
            let code = rest
                .as_object_mut()
                .and_then(|c| c.remove("code"))
                .and_then(|c| c.as_str().map(str::to_owned))
                .unwrap_or_default();
            codes.insert(format!("{system}|{code}"), rest.to_string());
        }
        for filter in include["filter"].as_array().cloned().unwrap_or_default() {
            codes.insert(format!("{system}|filter"), filter.to_string());
        }
    }
    codes
}

/// A file's changes as a unified diff (a file missing on one side counts as empty).
fn text_diff(old: &Files, new: &Files, path: &str) -> Vec<String> {
    let text = |files: &Files| {
        files
            .get(path)
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default()
    };
    unified::unified(&text(old), &text(new))
        .map(|d| d.lines().map(str::to_owned).collect())
        .unwrap_or_default()
}

/// The URLs the profile cites (in any TOML file, and the value sets' descriptions), added and
/// removed.
fn source_urls(old: &Files, new: &Files) -> Vec<String> {
    let urls = |files: &Files| -> BTreeSet<String> {
        files
            .iter()
            .filter(|(path, _)| path.ends_with(".toml") || path.ends_with(".json"))
            .flat_map(|(_, bytes)| urls_in(&String::from_utf8_lossy(bytes)))
            .collect()
    };
    let (old, new) = (urls(old), urls(new));
    let mut lines: Vec<String> = old.difference(&new).map(|u| format!("- {u}")).collect();
    lines.extend(new.difference(&old).map(|u| format!("+ {u}")));
    lines
}

/// Every `http://` or `https://` URL in `text`, up to a space, quote or closing bracket.
fn urls_in(text: &str) -> Vec<String> {
    let mut urls = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("http") {
        let tail = &rest[at..];
        if tail.starts_with("https://") || tail.starts_with("http://") {
            let end = tail
                .find(|c: char| c.is_whitespace() || "\"'<>)]},`".contains(c))
                .unwrap_or(tail.len());
            let url = tail[..end].trim_end_matches(['.', ';', ':']);
            // Code systems are identifiers, not sources.
            if !crate::systems::KNOWN_SYSTEMS.contains(&url) {
                urls.push(url.to_owned());
            }
            rest = &tail[end..];
        } else {
            rest = &tail[4..];
        }
    }
    urls
}

/// The files no section above reads, added, removed or changed (TOML with its diff).
fn other_files(old: &Files, new: &Files) -> Vec<String> {
    let covered = |path: &str| {
        matches!(
            path,
            "profile.toml" | "thresholds.toml" | "orderables.toml" | "text.toml" | "cards.toml"
        ) || path.starts_with("valuesets/")
    };
    let paths: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    let mut lines = Vec::new();
    for path in paths.into_iter().filter(|p| !covered(p)) {
        match (old.get(path), new.get(path)) {
            (Some(_), None) => lines.push(format!("- {path} (removed)")),
            (None, Some(_)) => lines.push(format!("+ {path} (new)")),
            (Some(o), Some(n)) if o != n => {
                lines.push(format!("{path} changed"));
                if path.ends_with(".toml") {
                    let diff =
                        unified::unified(&String::from_utf8_lossy(o), &String::from_utf8_lossy(n));
                    lines.extend(diff.unwrap_or_default().lines().map(|l| format!("  {l}")));
                }
            }
            _ => {}
        }
    }
    lines
}
