//! Gravida's FHIR layer: prefetch parsing, strict R4 reading with fhir-sdk, FHIR search over
//! reqwest, and mapping of resources to the engine's facts.
//!
//! This is the only crate that names fhir-sdk. Everything it hands out is either raw JSON or the
//! engine's own fact types ([`gravida_rules::facts`]), so the engine stays free of FHIR libraries.
//!
//! * [`element`]: the one reading of each element the engine reads, and one function per
//!   resource kind from those elements to a record; both readers below feed it.
//! * [`map`]: resources → [`gravida_rules::facts::PatientFacts`], one resource at a time, with the
//!   strictness fhir-sdk lacks. The reference reader.
//! * [`fast`]: the same facts read straight from the request bytes for the common case; it
//!   declines whatever it does not model, and then [`map`] reads the request.
//! * [`prefetch`]: what one prefetch value means (no data, failed, resources, first page only).
//! * [`fhir_server`]: the request's `fhirServer`, checked once against the deployment's policy.
//! * [`client`]: FHIR search with deadlines, capped pages and bytes, and no redirects.
//! * [`page`]: one fetched page read into records, entry by entry, within the deadline.
//! * [`budget`]: the replica's one bound on the FHIR response bytes held at once.
//! * [`gather`]: one hook call's facts, from prefetch and from concurrent fetches.
//! * [`diagnostic`]: what could not be read or obtained, said without patient data.

pub mod budget;
pub mod by_resource;
pub mod client;
pub mod diagnostic;
mod element;
pub mod fast;
pub mod fetch_error;
pub mod fhir_server;
pub mod gather;
pub mod map;
pub mod page;
pub mod prefetch;
pub mod subject;

pub use budget::MemoryBudget;
pub use by_resource::{RawPrefetchSeed, ValueRead, read_each};
pub use client::{FetchLimits, FhirClient, Search};
pub use diagnostic::{Diagnostic, DiagnosticKind};
pub use element::PatientSummary;
pub use fast::{FastPrefetch, PrefetchSeed};
pub use fetch_error::FetchError;
pub use fhir_server::{FhirServer, ServerUrlError};
pub use gather::{GatherError, GatherInput, Gathered, KeyFailure, Prefetch, Unobtained, gather};
pub use map::{Mapped, draft_orders, facts_from_resources};
pub use prefetch::{OutcomeSummary, PrefetchEntry, classify_prefetch};
