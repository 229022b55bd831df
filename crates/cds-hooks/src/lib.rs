//! CDS Hooks 2.0 and 3.0.0 wire model: hooks, requests, responses (cards), discovery, feedback,
//! prefetch template rendering, the standard override reasons and the 3.0.0 invariants. No HTTP
//! here: a server moves these types over its framework (Gravida's over axum). See README.md.
//!
//! Incoming bodies are parsed with [`ServiceRequest::parse`] and [`FeedbackRequest::parse`], whose
//! errors are safe to return to the caller (they name fields, never values). Outgoing documents
//! ([`ServiceResponse`], [`DiscoveryResponse`]) serialise without `null` or empty values, and have
//! `validate` methods that check the spec's rules before anything is sent.

pub mod discovery;
pub mod error;
pub mod feedback;
pub mod fhirpath;
pub mod hook;
pub mod invariants;
mod json;
pub mod override_reasons;
pub mod prefetch;
pub mod request;
pub mod response;
pub mod scopes;
pub mod wire;

#[cfg(test)]
mod properties;
/// The README's example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeExample;
#[cfg(test)]
mod spec_examples;

pub use discovery::{DiscoveryError, DiscoveryResponse, Service};
pub use error::RequestError;
pub use feedback::{AcceptedSuggestion, Feedback, FeedbackRequest, Outcome, OverrideReason};
pub use hook::{ContextField, FieldKind, Hook};
pub use override_reasons::{NON_ADHERENCE_REASON_SYSTEM, StandardReason};
pub use prefetch::TemplateError;
pub use request::{FhirAuthorization, HookContext, ServiceRequest};
pub use response::{
    Action, ActionSelectionBehavior, ActionType, Card, CardBuilder, CardError, Coding, Indicator,
    Link, LinkType, SUMMARY_MAX_CHARS, SelectionBehavior, ServiceResponse, Source, Suggestion,
};
