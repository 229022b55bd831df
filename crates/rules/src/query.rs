//! The searches the engine's facts come from: one prefetch key each, with how much it matters.
//!
//! The knowledge base builds them from its value sets (`gravida_knowledge::prefetch`);
//! `gravida-fhir` reads prefetch values and fetches by them. Both depend on this crate, and
//! neither on the other.

use crate::facts::Input;

/// How much a search matters to the decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Need {
    /// The Patient resource: read for context only. Missing is not an error.
    Context,
    /// Decides whether any card is warranted (Conditions; pregnancy, dating and bleeding
    /// Observations). If it cannot be obtained, the hook call answers 412.
    Central,
    /// A less central input. If it cannot be obtained the engine is told, and the cards say so.
    Optional(Input),
}

/// One prefetch key and its FHIR query template, e.g.
/// `("dating", "Observation?patient={{context.patientId}}&code=http://loinc.org|8665-2,...")`.
///
/// The discovery document advertises `template` under `key`; when an EHR does not prefetch a key,
/// the fetch path renders the same template and runs it against the EHR's FHIR server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrefetchQuery {
    pub key: String,
    pub template: String,
    pub need: Need,
}
