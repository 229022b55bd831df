//! Loads and validates a knowledge profile into an immutable `KnowledgeBase`, and renders the
//! engine's findings as CDS Hooks cards.
//!
//! ```text
//! profiles/default/*  ──load──▶  KnowledgeBase { RulesKnowledge, card templates, orderables, prefetch }
//! PatientFacts ──KnowledgeBase::evaluate──▶ Assessment { cards (each a Rendered: card + finding), findings, diagnostics }
//! ```
//!
//! Three parts, one module each: [`load`] reads and checks the profile's files (from a folder or
//! [`embedded`]) and reports every [`error`] at once; [`templates`] is the card text and the
//! orderables as loaded, with the checks they must pass; [`render`] fills the templates from a
//! finding into a card; [`lexicon`] names the profile words a card's long form repeats (what a
//! stored long form is packed against). [`prefetch`] builds the searches the service advertises.
//! [`modes`] is each rule's mode (active, silent, off): a silent rule's cards are rendered
//! apart, in [`Assessment::silent`], and an off rule's findings are dropped before rendering.

pub mod diff;
pub mod error;
pub mod lexicon;
pub mod load;
pub mod modes;
pub mod prefetch;
pub mod render;
mod source_urls;
pub mod systems;
pub mod templates;

pub use load::embedded;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use gravida_rules::facts::PatientFacts;
use gravida_rules::{Diagnostic, Finding, RulesKnowledge};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

pub use error::{ProfileError, ProfileProblem};
pub use modes::{RuleMode, RuleModes};
pub use prefetch::{Need, PrefetchQuery};
pub use render::Rendered;

/// A checked, immutable knowledge profile. Cheap to share (`Arc<KnowledgeBase>`): `Send + Sync`.
#[derive(Debug, Clone)]
pub struct KnowledgeBase {
    profile: load::Profile,
    version: String,
    prefetch: Vec<PrefetchQuery>,
}

/// The result of one evaluation: the cards to send, each with the finding it renders, the cards
/// of silent rules, and what the engine found and could not read.
#[derive(Debug, Clone)]
pub struct Assessment {
    /// The cards of active rules: what the EHR is sent (after suppression).
    pub cards: Vec<render::Rendered>,
    /// The cards of silent rules, rendered apart from the active ones (neither folds into the
    /// other): recorded in the audit trail, never sent.
    pub silent: Vec<render::Rendered>,
    /// Every finding of a rule that is not off, in the engine's order: those rendered, and
    /// those folded into another card.
    pub findings: Vec<Finding>,
    pub diagnostics: Vec<Diagnostic>,
}

impl KnowledgeBase {
    /// The default profile compiled into the binary.
    pub fn embedded() -> Result<KnowledgeBase, ProfileError> {
        let files = embedded::FILES
            .iter()
            .map(|(path, text)| (path.to_string(), text.as_bytes().to_vec()))
            .collect();
        KnowledgeBase::from_files(files)
    }

    /// Loads and checks the profile in `dir`, reporting every problem at once.
    pub fn load_dir(dir: &Path) -> Result<KnowledgeBase, ProfileError> {
        let mut files = BTreeMap::new();
        load::read_tree(dir, dir, &mut files)?;
        KnowledgeBase::from_files(files)
    }

    /// Checks a profile directory (for `gravida check-profiles DIR`): `load_dir`, discarding the result.
    pub fn check(dir: &Path) -> Result<(), ProfileError> {
        KnowledgeBase::load_dir(dir).map(|_| ())
    }

    /// Builds a knowledge base from `(relative path, contents)` pairs.
    pub fn from_files(files: BTreeMap<String, Vec<u8>>) -> Result<KnowledgeBase, ProfileError> {
        let profile = load::load(&files).map_err(ProfileError::Invalid)?;
        let version = format!("{}@{}", profile.name, digest(&files));
        let prefetch =
            prefetch::build(&files, &profile.value_sets).map_err(ProfileError::Invalid)?;
        Ok(KnowledgeBase {
            profile,
            version,
            prefetch,
        })
    }

    /// `"<profile name>@<first 12 hex of sha256 over the files in sorted path order>"`.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The prefetch keys and templates the service advertises and fetches.
    pub fn prefetch(&self) -> &[PrefetchQuery] {
        &self.prefetch
    }

    /// `version` of `profile.toml`, as its author wrote it (the content hash is in
    /// [`KnowledgeBase::version`]).
    pub fn profile_version(&self) -> &str {
        &self.profile.version
    }

    /// `change_note` of `profile.toml`: what changed in this version.
    pub fn change_note(&self) -> &str {
        &self.profile.change_note
    }

    /// Each card rule's mode, the site's overrides applied.
    pub fn modes(&self) -> &RuleModes {
        &self.profile.modes
    }

    /// This knowledge base with a site's rule modes (`rule id → mode`, from the settings) over
    /// the profile's; refused, with every reason, on an unknown rule or mode, or on a critical
    /// rule made silent that the profile does not acknowledge.
    pub fn with_site_modes(
        mut self,
        overrides: &BTreeMap<String, String>,
    ) -> Result<KnowledgeBase, ProfileError> {
        if overrides.is_empty() {
            return Ok(self);
        }
        let modes = self
            .profile
            .modes
            .with_overrides(overrides)
            .map_err(ProfileError::Invalid)?;
        self.profile.rules.thresholds.r12_enabled =
            modes.mode(gravida_rules::finding::RuleId::R12) != RuleMode::Off;
        self.profile.modes = modes;
        Ok(self)
    }

    /// The profile's words under `keys` ([`lexicon::long_form_keys`]): what a card's long form
    /// repeats of the profile, the same bytes for the same keys under the same version.
    pub fn long_form_words(&self, keys: &[&str]) -> Vec<u8> {
        lexicon::words(&self.profile, keys)
    }

    /// What the engine reads (value sets, text cues, thresholds).
    pub fn rules(&self) -> &RulesKnowledge {
        &self.profile.rules
    }

    /// Runs the engine and renders its findings as cards (highest indicator first).
    /// `patient_id` is the subject of the draft ServiceRequests that suggestions create.
    pub fn evaluate(
        &self,
        facts: &PatientFacts,
        patient_id: &str,
        now: OffsetDateTime,
    ) -> Assessment {
        let never = AtomicBool::new(false);
        self.evaluate_unless(facts, patient_id, now, &never)
            .expect("evaluation stops only when asked to, and nothing asks it to")
    }

    /// Like [`KnowledgeBase::evaluate`], but gives up (`None`) once `stop` is raised, between
    /// the engine's steps or before the cards are rendered (see
    /// [`gravida_rules::evaluate_unless`]).
    pub fn evaluate_unless(
        &self,
        facts: &PatientFacts,
        patient_id: &str,
        now: OffsetDateTime,
        stop: &AtomicBool,
    ) -> Option<Assessment> {
        let mut evaluation = gravida_rules::evaluate_unless(&self.profile.rules, facts, now, stop)?;
        if stop.load(Ordering::Relaxed) {
            return None;
        }
        // A rule that is off is dropped here, before anything is rendered or recorded.
        let modes = &self.profile.modes;
        evaluation
            .findings
            .retain(|f| modes.mode(f.rule) != RuleMode::Off);
        let (silent, active): (Vec<Finding>, Vec<Finding>) = evaluation
            .findings
            .iter()
            .cloned()
            .partition(|f| modes.mode(f.rule) == RuleMode::Silent);
        let render = |findings: &[Finding]| {
            render::cards(
                &self.profile,
                &self.version,
                findings,
                facts,
                patient_id,
                now,
            )
        };
        let cards = render(&active);
        let silent = if silent.is_empty() {
            Vec::new()
        } else {
            render(&silent)
        };
        Some(Assessment {
            cards,
            silent,
            findings: evaluation.findings,
            diagnostics: evaluation.diagnostics,
        })
    }
}

/// sha256 over `path \0 contents \0` for each file in sorted path order; first 12 hex digits.
fn digest(files: &BTreeMap<String, Vec<u8>>) -> String {
    let mut hasher = Sha256::new();
    for (path, bytes) in files {
        hasher.update(path.as_bytes());
        hasher.update([0]);
        hasher.update(bytes);
        hasher.update([0]);
    }
    hasher
        .finalize()
        .iter()
        .take(6)
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests;
