//! What is wrong with a hook or feedback request: the one error type of request parsing.
//!
//! It sits below the JSON readers (`json.rs`, which produce it), [`crate::request`] and
//! [`crate::feedback`] (which parse with those readers), so that none of them imports another's
//! module to name it.

use thiserror::Error;

use crate::hook::Hook;

/// What is wrong with a hook or feedback request. The `Display` text is safe to send back in a
/// 400 body: it names fields and rules, never the values the client sent.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RequestError {
    #[error("request body is not valid JSON (line {line}, column {column})")]
    MalformedJson { line: usize, column: usize },
    #[error("request body is nested too deeply")]
    TooDeep,
    #[error("request body must be a JSON object")]
    NotAnObject,
    #[error("`{field}` is required")]
    Missing { field: String },
    #[error("`{field}` must be {expected}")]
    WrongType {
        field: String,
        expected: &'static str,
    },
    #[error("`{field}` must not be empty")]
    Empty { field: String },
    #[error("`{field}` {problem}")]
    Invalid {
        field: String,
        problem: &'static str,
    },
    #[error("`fhirAuthorization` requires `fhirServer`")]
    AuthorizationWithoutServer,
    #[error("`fhirAuthorization.token_type` must be `Bearer`")]
    NotBearer,
    /// A `fhirAuthorization.scope` entry in neither SMART form ([`crate::scopes`]).
    #[error(transparent)]
    Scope(#[from] crate::scopes::ScopeError),
    #[error("{}", hook_mismatch_message(*.expected, *.received))]
    HookMismatch {
        /// The hook the service answers.
        expected: Hook,
        /// The request's hook, when it is one Gravida knows.
        received: Option<Hook>,
    },
}

fn hook_mismatch_message(expected: Hook, received: Option<Hook>) -> String {
    match received {
        Some(received) => {
            format!("request is for hook `{received}` but this service handles `{expected}`")
        }
        None => {
            format!("request is for a hook this service does not handle (expected `{expected}`)")
        }
    }
}
