//! The fast prefetch reader: facts read straight from the request bytes, for the common case.
//!
//! Most of a hook request is its prefetch: a hundred resources or so, of which the engine reads a
//! dozen elements each. The reference reader ([`crate::map`]) parses the body into JSON values,
//! then each resource into fhir-sdk's full R4B model, then picks the dozen elements out. That is
//! three passes and thousands of allocations per call; this reader does one pass, keeps only what
//! the engine reads, and skips the rest without allocating.
//!
//! It is built to **decline rather than guess**. It models a narrow, common subset of FHIR JSON:
//! the elements the engine reads, in their usual shapes. On anything else it fails (a serde
//! error), and [`ServiceRequest::parse_with_prefetch`] gives up on it; the request is then read
//! again value by value ([`crate::by_resource`]), where a resource this reader declines is read
//! alone by the reference reader. Among what it declines:
//!
//! * a `modifierExtension` anywhere in a resource, primitive extensions (`_status`), and
//!   `extension` or `id` inside an element the engine reads;
//! * a choice element (`value[x]`, `effective[x]`, `onset[x]`, `abatement[x]`, `performed[x]`)
//!   of a type it does not model (Timing, Age, Range, …), or two of them;
//! * an element in the other of its two shapes (`category` is an array in an Observation and one
//!   concept in a Procedure), an Encounter `type` that is not an array;
//! * `null`, a wrong JSON type, or a repeated key in anything it reads;
//! * an OperationOutcome (alone or as an entry), a value that is not a resource or Bundle;
//! * a missing required element, a status that is not a code, a date fhir-sdk cannot read;
//! * a `medicationReference` (the Medication it names is resolved by the reference reader only).
//!
//! It holds no rule of its own: it reads the JSON into the element views of [`crate::element`]
//! (its `Deserialize` impls, in `fast/json.rs` and `fast/resource.rs`, are the JSON shapes of
//! those views) and [`crate::element`]'s functions make the record, as they do for the
//! reference reader. So when it accepts, what it gives is exactly what the reference reader gives
//! for the same request (records, in the same
//! order, with the same problems), and it reads dates, statuses and comparators with fhir-sdk's
//! own parsers to make sure of it. The tests in `fast/tests.rs`
//! hold it to that: on every fixture and on mutations of each, the fast reader either declines
//! or agrees with the reference reader.
//!
//! Elements the engine does not read are skipped, not validated; the reference reader does not
//! report them either (see [`crate::map`]).
//!
//! [`ServiceRequest::parse_with_prefetch`]: gravida_cds_hooks::ServiceRequest::parse_with_prefetch

use std::collections::BTreeMap;
use std::fmt;

use gravida_rules::facts::{Record, RecordKind};
use gravida_rules::query::PrefetchQuery;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};

use crate::element::{self, PatientSummary};

mod json;
mod page;
mod records;
mod resource;

use json::Str;
pub(crate) use page::{FastPage, read_page};
use records::{
    condition, diagnostic_report, encounter, immunization, medication, observation, procedure,
};
use resource::{Boxed, Resource, next_url};

/// The prefetch of one request, as the fast reader read it: one entry per prefetch key the
/// service declares (other keys are skipped).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FastPrefetch {
    pub entries: BTreeMap<String, FastEntry>,
}

/// What one prefetch value holds (the fast reader's [`crate::PrefetchEntry`]; it never holds a
/// failure, since it declines those).
#[derive(Debug, Clone, PartialEq)]
pub enum FastEntry {
    /// `null`: no data.
    Null,
    /// The first page of a paginated search: to be fetched whole.
    Paged,
    /// The resources of the Bundle, or the one resource that was read, in order.
    Resources(Vec<FastResource>),
}

/// One resource, already reduced to what the engine reads.
#[derive(Debug, Clone, PartialEq)]
pub struct FastResource {
    /// `(resourceType, id)`, for removing a resource two searches both returned.
    pub identity: Option<(String, String)>,
    /// `subject.reference`, else `patient.reference`: whose record it is ([`crate::subject`]).
    pub subject: Option<String>,
    pub read: FastRead,
}

/// What a resource gave.
#[derive(Debug, Clone, PartialEq)]
#[expect(
    clippy::large_enum_variant,
    reason = "nearly every resource is a Record: boxing would cost an allocation each"
)]
pub enum FastRead {
    Record(Record),
    Patient(PatientSummary),
    /// A type the engine does not read.
    Ignored,
}

/// Reads a request's `prefetch` object; give it to
/// [`ServiceRequest::parse_with_prefetch`](gravida_cds_hooks::ServiceRequest::parse_with_prefetch).
/// Only the keys in `queries` are read.
#[derive(Debug, Clone, Copy)]
pub struct PrefetchSeed<'a> {
    pub queries: &'a [PrefetchQuery],
}

impl<'de> DeserializeSeed<'de> for PrefetchSeed<'_> {
    type Value = FastPrefetch;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<FastPrefetch, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for PrefetchSeed<'_> {
    type Value = FastPrefetch;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a prefetch object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<FastPrefetch, A::Error> {
        let mut prefetch = FastPrefetch::default();
        while let Some(key) = map.next_key::<Str<'de>>()? {
            if !self.queries.iter().any(|query| query.key == *key) {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            let value = map.next_value::<Option<Boxed<'de>>>()?;
            let entry = match value {
                None => FastEntry::Null,
                Some(Boxed(resource)) => classify(resource).map_err(de::Error::custom)?,
            };
            // A repeated key keeps its last value, as a JSON object parsed into a map does.
            prefetch.entries.insert(key.into_owned(), entry);
        }
        Ok(prefetch)
    }
}

/// Why the fast reader declined a value. Nobody sees it: the reference path takes over.
type Decline = &'static str;

/// A prefetch value: a Bundle's resources, a first page, or a single resource.
fn classify(value: Box<Resource<'_>>) -> Result<FastEntry, Decline> {
    match value.resource_type.as_deref() {
        None => Err("not a FHIR resource"),
        Some("OperationOutcome") => Err("an OperationOutcome"),
        Some("Bundle") => {
            if next_url(value.link.as_deref().unwrap_or_default())?.is_some() {
                return Ok(FastEntry::Paged);
            }
            // Each entry was read into its record as it was parsed (see `Entries`).
            Ok(FastEntry::Resources(
                value.entry.map(|entries| entries.0).unwrap_or_default(),
            ))
        }
        Some(_) => Ok(FastEntry::Resources(vec![read(value)?])),
    }
}

/// One resource, reduced. Elements that do not belong to its type are ignored, as fhir-sdk
/// ignores unknown elements.
fn read(resource: Box<Resource<'_>>) -> Result<FastResource, Decline> {
    // An empty type is no type, as the reference reader has it (no identity, nothing read).
    let resource_type = resource
        .resource_type
        .as_deref()
        .filter(|resource_type| !resource_type.is_empty())
        .ok_or("an entry without a resourceType")?;
    let identity = resource
        .id
        .as_ref()
        .map(|id| (resource_type.to_owned(), id.to_string()));
    let subject = match (&resource.subject, &resource.patient) {
        (Some(subject), _) => subject.reference.as_ref().map(|r| r.to_string()),
        (None, Some(patient)) => patient.reference.as_ref().map(|r| r.to_string()),
        (None, None) => None,
    };
    let read = match resource_type {
        "OperationOutcome" => return Err("an OperationOutcome entry"),
        "Observation" => FastRead::Record(observation(resource)?),
        "Condition" => FastRead::Record(condition(resource)),
        "DiagnosticReport" => FastRead::Record(diagnostic_report(resource)?),
        "Encounter" => FastRead::Record(encounter(resource)?),
        "Procedure" => FastRead::Record(procedure(resource)?),
        "Patient" => FastRead::Patient(element::patient(resource.id.map(Str::text))),
        "MedicationAdministration" => {
            FastRead::Record(medication(RecordKind::MedicationAdministration, resource)?)
        }
        "MedicationStatement" => {
            FastRead::Record(medication(RecordKind::MedicationStatement, resource)?)
        }
        "MedicationRequest" => {
            FastRead::Record(medication(RecordKind::MedicationRequest, resource)?)
        }
        "Immunization" => FastRead::Record(immunization(resource)?),
        _ => FastRead::Ignored,
    };
    Ok(FastResource {
        identity,
        subject,
        read,
    })
}

/// Reads one prefetch value from its JSON text, as [`PrefetchSeed`] reads it; `None` when the fast
/// reader declines it. For a prefetch read value by value ([`crate::by_resource`]).
pub(crate) fn read_prefetch_value(json: &str) -> Option<FastEntry> {
    match serde_json::from_str::<Option<Boxed<'_>>>(json).ok()? {
        None => Some(FastEntry::Null),
        Some(Boxed(resource)) => classify(resource).ok(),
    }
}

/// Reads one resource from its JSON text, as a prefetch resource is read; `None` when the fast
/// reader declines it (the caller then reads it with the reference reader). For fetched pages.
pub(crate) fn read_resource_json(json: &str) -> Option<FastResource> {
    let Boxed(resource) = serde_json::from_str(json).ok()?;
    read(resource).ok()
}

#[cfg(test)]
pub(crate) mod tests;
