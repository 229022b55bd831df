//! The demo month's first profile version: the embedded profile with one rule silent, as a
//! committee would run a rule for its first weeks ("would have shown" in the audit trail, never
//! shown) before switching it on with the profile as shipped.
//!
//! It is made from the embedded profile's own files, `profile.toml` edited in three places: its
//! `version` (a pre-release of the shipped one), its `change_note`, and a `[rules.<id>]` table
//! that makes [`DRY_RUN_RULE`] silent. Being other files, it has another content hash, so the
//! console shows a profile version change where the demo switches from it to the shipped one.

use std::collections::BTreeMap;

use gravida_knowledge::{KnowledgeBase, ProfileError, embedded};
use gravida_rules::finding::RuleId;

/// The rule the demo runs silently at first: a frequent card that is never critical (a silent
/// critical rule needs the profile's acknowledgement, which a demo should not pretend to have).
pub const DRY_RUN_RULE: RuleId = RuleId::R4;

/// Why the dry-run profile could not be made.
#[derive(Debug, thiserror::Error)]
pub enum DryRunError {
    #[error("the embedded profile.toml has no `{0} = ` line to edit")]
    Missing(&'static str),
    #[error(transparent)]
    Profile(#[from] ProfileError),
}

/// The embedded profile with [`DRY_RUN_RULE`] silent, under version `<shipped>-dryrun` and a
/// change note that says so.
pub fn dry_run_profile() -> Result<KnowledgeBase, DryRunError> {
    let mut files: BTreeMap<String, Vec<u8>> = embedded::FILES
        .iter()
        .map(|(path, text)| (path.to_string(), text.as_bytes().to_vec()))
        .collect();
    let shipped = embedded::FILES
        .iter()
        .find(|(path, _)| *path == "profile.toml")
        .map(|(_, text)| *text)
        .ok_or(DryRunError::Missing("profile.toml"))?;
    files.insert("profile.toml".into(), edit(shipped)?.into_bytes());
    Ok(KnowledgeBase::from_files(files)?)
}

/// `profile.toml` with the dry run's version, change note and silent rule. The top-level keys
/// are edited line by line (they sit before any table, one per line); the rule's table is
/// appended, so it lands among the other `[rules.<id>]` tables.
fn edit(shipped: &str) -> Result<String, DryRunError> {
    let rule = DRY_RUN_RULE.as_str();
    let mut version = None;
    let mut noted = false;
    let mut out = String::with_capacity(shipped.len() + 256);
    for line in shipped.lines() {
        if version.is_none()
            && let Some(value) = line.strip_prefix("version = ")
        {
            let shipped_version = value.trim().trim_matches('"').to_owned();
            out.push_str(&format!("version = \"{shipped_version}-dryrun\"\n"));
            version = Some(shipped_version);
        } else if !noted && line.starts_with("change_note = ") {
            out.push_str(&format!(
                "change_note = \"Dry run before go-live: {rule} silent (recorded as would have \
                 shown, never shown) for the first weeks; otherwise as the version shipped.\"\n"
            ));
            noted = true;
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    if version.is_none() {
        return Err(DryRunError::Missing("version"));
    }
    if !noted {
        return Err(DryRunError::Missing("change_note"));
    }
    out.push_str(&format!(
        "\n[rules.{rule}]\nmode = \"silent\"\nnote = \"the demo's dry run\"\n"
    ));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use gravida_knowledge::RuleMode;

    #[test]
    fn the_dry_run_is_the_shipped_profile_with_one_rule_silent_under_another_version() {
        let shipped = KnowledgeBase::embedded().unwrap();
        let dry = dry_run_profile().unwrap();
        assert_eq!(dry.modes().mode(DRY_RUN_RULE), RuleMode::Silent);
        assert_eq!(shipped.modes().mode(DRY_RUN_RULE), RuleMode::Active);
        let others = |kb: &KnowledgeBase| {
            kb.modes()
                .iter()
                .filter(|(rule, _)| *rule != DRY_RUN_RULE)
                .collect::<Vec<_>>()
        };
        assert_eq!(others(&dry), others(&shipped));
        assert_ne!(dry.version(), shipped.version());
        assert_eq!(
            dry.profile_version(),
            format!("{}-dryrun", shipped.profile_version())
        );
        assert!(
            dry.change_note().contains("R4 silent"),
            "{}",
            dry.change_note()
        );
        assert!(!RuleId::MAY_BE_CRITICAL.contains(&DRY_RUN_RULE));
    }
}
