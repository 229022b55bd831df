//! Loads and validates a knowledge profile into an immutable `KnowledgeBase`, and renders the
//! engine's findings as CDS Hooks cards.
//!
//! ```text
//! profiles/default/*  ──load──▶  KnowledgeBase { RulesKnowledge, card templates, orderables, prefetch }
//! PatientFacts ──KnowledgeBase::evaluate──▶ Assessment { cards, findings, diagnostics }
//! ```
pub mod embedded;
pub mod error;
pub mod markdown;
pub mod prefetch;
pub mod profile;
pub mod render;

use std::collections::BTreeMap;
use std::path::Path;

use gravida_rules::facts::PatientFacts;
use gravida_rules::{Diagnostic, Finding, RulesKnowledge};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

pub use error::{ProfileError, ProfileProblem};
pub use prefetch::{Need, PrefetchQuery};

/// A checked, immutable knowledge profile. Cheap to share (`Arc<KnowledgeBase>`): `Send + Sync`.
#[derive(Debug, Clone)]
pub struct KnowledgeBase {
    profile: profile::Profile,
    version: String,
    prefetch: Vec<PrefetchQuery>,
}

/// The result of one evaluation: the cards to send, and what the engine found and could not read.
#[derive(Debug, Clone)]
pub struct Assessment {
    pub cards: Vec<gravida_cds_hooks::Card>,
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
        read_tree(dir, dir, &mut files)?;
        KnowledgeBase::from_files(files)
    }

    /// Checks a profile directory (for `gravida check-profiles DIR`): `load_dir`, discarding the result.
    pub fn check(dir: &Path) -> Result<(), ProfileError> {
        KnowledgeBase::load_dir(dir).map(|_| ())
    }

    /// Builds a knowledge base from `(relative path, contents)` pairs.
    pub fn from_files(files: BTreeMap<String, Vec<u8>>) -> Result<KnowledgeBase, ProfileError> {
        let profile = profile::load(&files).map_err(ProfileError::Invalid)?;
        let version = format!("{}@{}", profile.name, digest(&files));
        let prefetch = prefetch::build(&profile.value_sets);
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
        let evaluation = gravida_rules::evaluate(&self.profile.rules, facts, now);
        let cards = render::cards(
            &self.profile,
            &self.version,
            &evaluation.findings,
            facts,
            patient_id,
            now,
        );
        Assessment {
            cards,
            findings: evaluation.findings,
            diagnostics: evaluation.diagnostics,
        }
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

/// Reads every file under `dir` (recursively) as `relative/path` → bytes.
fn read_tree(
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

#[cfg(test)]
mod tests;
