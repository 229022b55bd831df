//! Rule modes: whether each rule's cards are shown (`active`), evaluated and recorded but never
//! shown (`silent`), or dropped (`off`).
//!
//! A profile names a mode for any rule that gives a card of its own, in `profile.toml`:
//!
//! ```toml
//! [rules.R12]
//! mode = "off"
//! note = "policy-dependent: off until the site decides"
//!
//! [rules.R2E]
//! mode = "silent"
//! acknowledge_silent_critical = "two weeks' dry run before go-live, signed off by Dr X"
//! ```
//!
//! A rule the profile does not name is `active`. A site may override any rule's mode in its
//! settings (`rule_modes`), applied at start-up by [`RuleModes::with_overrides`]; the override
//! is held to the same checks as the profile.
//!
//! What each mode does, once the engine has run:
//!
//! - **active**: the card goes through suppression to the EHR and into the audit trail.
//! - **silent**: the card is rendered exactly as it would be shown (but with no other card
//!   folded into it or it into another: it is rendered apart from the active ones), recorded in
//!   the audit trail with `mode = 'silent'`, and never sent. It takes no part in suppression, so
//!   it neither is hidden as a repeat nor makes a later active card one.
//! - **off**: the finding is dropped before rendering: never rendered, never recorded. R12 is
//!   the one rule the engine does not even evaluate when it is off (its switch,
//!   `Thresholds::r12_enabled`, is set from its mode), so that an R12 that is off leaves the
//!   answer exactly as it was before modes existed.
//!
//! A rule whose cards may be critical ([`RuleId::MAY_BE_CRITICAL`]) may run silently only when
//! the profile says why, in `acknowledge_silent_critical`: a silent critical rule is a critical
//! warning nobody sees.

use std::collections::BTreeMap;
use std::fmt;

use gravida_rules::finding::RuleId;
use serde::Deserialize;

use crate::error::{Problems, ProfileProblem};

/// What happens to a rule's cards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RuleMode {
    /// Shown to the EHR and recorded (the default).
    Active,
    /// Recorded as "would have shown", never sent to the EHR.
    Silent,
    /// Dropped before rendering: neither shown nor recorded.
    Off,
}

impl RuleMode {
    /// `"active"`, `"silent"` or `"off"`: as written in the profile, the settings, `/readyz`
    /// and the audit trail.
    pub fn as_str(self) -> &'static str {
        match self {
            RuleMode::Active => "active",
            RuleMode::Silent => "silent",
            RuleMode::Off => "off",
        }
    }

    /// The mode named `text` (exactly as [`RuleMode::as_str`] writes it).
    pub fn parse(text: &str) -> Option<RuleMode> {
        [RuleMode::Active, RuleMode::Silent, RuleMode::Off]
            .into_iter()
            .find(|mode| mode.as_str() == text)
    }
}

impl fmt::Display for RuleMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One `[rules.<id>]` table of `profile.toml`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RuleToml {
    /// `active`, `silent` or `off`.
    pub mode: String,
    /// Why a rule whose cards may be critical runs silently; required for such a rule in
    /// silent mode (the profile's reviewer signs this off).
    #[serde(default)]
    pub acknowledge_silent_critical: Option<String>,
    /// Why the rule has this mode, for the reviewer.
    #[serde(default)]
    pub note: Option<String>,
}

/// The mode of every rule that gives a card of its own, and the acknowledgements that allow a
/// critical one to run silently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleModes {
    modes: BTreeMap<RuleId, RuleMode>,
    /// `acknowledge_silent_critical`, by rule, as the profile wrote it.
    acknowledged: BTreeMap<RuleId, String>,
}

/// Where a site's overrides are reported from, in a problem's `file`.
pub const OVERRIDE_SOURCE: &str = "settings rule_modes";

impl RuleModes {
    /// Every card rule active, nothing acknowledged.
    pub fn all_active() -> RuleModes {
        RuleModes {
            modes: RuleId::CARD_RULES
                .into_iter()
                .map(|rule| (rule, RuleMode::Active))
                .collect(),
            acknowledged: BTreeMap::new(),
        }
    }

    /// The modes `profile.toml` names, each checked; a problem for each unknown rule or mode,
    /// and for a critical rule made silent without an acknowledgement.
    pub(crate) fn from_profile(
        tables: &BTreeMap<String, RuleToml>,
        problems: &mut Problems,
    ) -> RuleModes {
        let file = "profile.toml";
        let mut modes = RuleModes::all_active();
        for (id, table) in tables {
            let Some(rule) = card_rule(id, file, problems) else {
                continue;
            };
            if let Some(reason) = &table.acknowledge_silent_critical {
                if reason.trim().is_empty() {
                    problems.add(
                        file,
                        format!("rules.{id}: acknowledge_silent_critical is empty: say why"),
                    );
                } else {
                    modes.acknowledged.insert(rule, reason.clone());
                }
            }
            if let Some(mode) = mode_of(id, &table.mode, file, problems) {
                modes.modes.insert(rule, mode);
            }
        }
        modes.check_silent_critical(file, problems);
        modes
    }

    /// These modes with a site's overrides applied (`rule id → mode`, ids in any case), held to
    /// the profile's checks: an unknown rule or mode, or a critical rule made silent that the
    /// profile does not acknowledge, is refused with the reason.
    pub fn with_overrides(
        &self,
        overrides: &BTreeMap<String, String>,
    ) -> Result<RuleModes, Vec<ProfileProblem>> {
        let mut problems = Problems::default();
        let mut modes = self.clone();
        for (id, mode) in overrides {
            let rule = card_rule(id, OVERRIDE_SOURCE, &mut problems);
            let mode = mode_of(id, mode, OVERRIDE_SOURCE, &mut problems);
            if let (Some(rule), Some(mode)) = (rule, mode) {
                modes.modes.insert(rule, mode);
            }
        }
        modes.check_silent_critical(OVERRIDE_SOURCE, &mut problems);
        if problems.0.is_empty() {
            Ok(modes)
        } else {
            Err(problems.0)
        }
    }

    fn check_silent_critical(&self, file: &str, problems: &mut Problems) {
        for rule in RuleId::MAY_BE_CRITICAL {
            if self.mode(rule) == RuleMode::Silent && !self.acknowledged.contains_key(&rule) {
                problems.add(
                    file,
                    format!(
                        "{rule} may give critical cards and is silent without \
                         acknowledge_silent_critical in profile.toml [rules.{rule}]: a silent \
                         critical card is a warning nobody sees; say why, or keep it active"
                    ),
                );
            }
        }
    }

    /// The mode of `rule` (`active` for a rule with no card of its own).
    pub fn mode(&self, rule: RuleId) -> RuleMode {
        self.modes.get(&rule).copied().unwrap_or(RuleMode::Active)
    }

    /// Every card rule with its mode, in rule order.
    pub fn iter(&self) -> impl Iterator<Item = (RuleId, RuleMode)> + '_ {
        self.modes.iter().map(|(rule, mode)| (*rule, *mode))
    }
}

/// The card rule named `id`, or a problem.
fn card_rule(id: &str, file: &str, problems: &mut Problems) -> Option<RuleId> {
    match RuleId::parse(id) {
        Some(rule) if RuleId::CARD_RULES.contains(&rule) => Some(rule),
        Some(rule) => {
            problems.add(
                file,
                format!("rule {rule} gives no card of its own, so it has no mode"),
            );
            None
        }
        None => {
            let known: Vec<&str> = RuleId::CARD_RULES.iter().map(|r| r.as_str()).collect();
            problems.add(
                file,
                format!(
                    "unknown rule {id:?} (the rules with a mode: {})",
                    known.join(", ")
                ),
            );
            None
        }
    }
}

/// The mode named `text` for rule `id`, or a problem.
fn mode_of(id: &str, text: &str, file: &str, problems: &mut Problems) -> Option<RuleMode> {
    let mode = RuleMode::parse(text);
    if mode.is_none() {
        problems.add(
            file,
            format!("rule {id}: unknown mode {text:?} (\"active\", \"silent\" or \"off\")"),
        );
    }
    mode
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(mode: &str, ack: Option<&str>) -> RuleToml {
        RuleToml {
            mode: mode.to_owned(),
            acknowledge_silent_critical: ack.map(str::to_owned),
            note: None,
        }
    }

    fn load(tables: &[(&str, RuleToml)]) -> (RuleModes, Vec<String>) {
        let tables = tables
            .iter()
            .map(|(id, t)| (id.to_string(), t.clone()))
            .collect();
        let mut problems = Problems::default();
        let modes = RuleModes::from_profile(&tables, &mut problems);
        (modes, problems.0.iter().map(|p| p.to_string()).collect())
    }

    #[test]
    fn a_rule_the_profile_does_not_name_is_active() {
        let (modes, problems) = load(&[("R3", table("silent", None))]);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(modes.mode(RuleId::R3), RuleMode::Silent);
        assert_eq!(modes.mode(RuleId::R4), RuleMode::Active);
        assert_eq!(modes.iter().count(), RuleId::CARD_RULES.len());
    }

    #[test]
    fn an_unknown_mode_an_unknown_rule_and_a_rule_without_a_card_are_each_refused() {
        let (_, problems) = load(&[
            ("R3", table("quiet", None)),
            ("R99", table("off", None)),
            ("R1", table("off", None)),
        ]);
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(
            problems
                .iter()
                .any(|p| p.contains("unknown mode \"quiet\""))
        );
        assert!(problems.iter().any(|p| p.contains("unknown rule \"R99\"")));
        assert!(problems.iter().any(|p| p.contains("R1 gives no card")));
    }

    #[test]
    fn a_silent_critical_rule_needs_an_acknowledgement_that_says_something() {
        let (_, problems) = load(&[("R2E", table("silent", None))]);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].contains("R2E may give critical cards"),
            "{problems:?}"
        );
        let (_, problems) = load(&[("R6", table("silent", Some("  ")))]);
        assert_eq!(problems.len(), 2, "{problems:?}");
        let (modes, problems) = load(&[("R6", table("silent", Some("dry run, signed off")))]);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(modes.mode(RuleId::R6), RuleMode::Silent);
    }

    #[test]
    fn a_site_override_wins_and_is_held_to_the_same_checks() {
        let (modes, _) = load(&[("R12", table("off", None))]);
        let site = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>()
        };
        let overridden = modes
            .with_overrides(&site(&[("r12", "active"), ("R3", "silent")]))
            .unwrap();
        assert_eq!(overridden.mode(RuleId::R12), RuleMode::Active);
        assert_eq!(overridden.mode(RuleId::R3), RuleMode::Silent);
        let refused = modes
            .with_overrides(&site(&[("R2E", "silent"), ("R3", "loud")]))
            .unwrap_err();
        assert_eq!(refused.len(), 2, "{refused:?}");
        assert!(refused.iter().all(|p| p.file == OVERRIDE_SOURCE));
    }
}
