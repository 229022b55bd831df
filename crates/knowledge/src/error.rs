//! Profile errors: every problem found in a profile, reported together.

use std::fmt;

/// One thing wrong with one file of a profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileProblem {
    /// Path relative to the profile directory, e.g. `valuesets/bleeding.json`.
    pub file: String,
    /// What is wrong, e.g. "unknown code system http://example.org".
    pub message: String,
}

impl fmt::Display for ProfileProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.file, self.message)
    }
}

/// Why a profile could not be loaded. `Invalid` lists every problem at once, so a reviewer can fix
/// them in one pass.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("cannot read profile directory {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("profile has {} problem(s):\n{}", .0.len(), render(.0))]
    Invalid(Vec<ProfileProblem>),
}

impl ProfileError {
    /// The problems of an invalid profile (empty for I/O errors).
    pub fn problems(&self) -> &[ProfileProblem] {
        match self {
            ProfileError::Invalid(problems) => problems,
            ProfileError::Io { .. } => &[],
        }
    }
}

fn render(problems: &[ProfileProblem]) -> String {
    problems
        .iter()
        .map(|p| format!("  - {p}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Collects problems while a profile is checked.
#[derive(Debug, Default)]
pub(crate) struct Problems(pub(crate) Vec<ProfileProblem>);

impl Problems {
    pub(crate) fn add(&mut self, file: &str, message: impl Into<String>) {
        self.0.push(ProfileProblem {
            file: file.to_string(),
            message: message.into(),
        });
    }
}
