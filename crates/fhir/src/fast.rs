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
//! error), and [`ServiceRequest::parse_with_prefetch`] then gives up on the whole request, which
//! is read again by the reference path. Among what it declines:
//!
//! * a `modifierExtension` anywhere in a resource, primitive extensions (`_status`), and
//!   `extension` or `id` inside an element the engine reads;
//! * a choice element (`value[x]`, `effective[x]`, `onset[x]`, `abatement[x]`) of a type it does
//!   not model, or two of them;
//! * `null`, a wrong JSON type, or a repeated key in anything it reads;
//! * an OperationOutcome (alone or as an entry), a value that is not a resource or Bundle;
//! * a missing required element, a status that is not a code, a date fhir-sdk cannot read.
//!
//! So when it accepts, what it gives must be exactly what the reference reader gives for the
//! same request (records, in the same order, with the same problems), and it reads dates, statuses
//! and comparators with fhir-sdk's own parsers to make sure of it. The tests in `fast/tests.rs`
//! hold it to that: on every fixture and on mutations of each, the fast reader either declines
//! or agrees with the reference reader.
//!
//! Elements the engine does not read are skipped, not validated; the reference reader does not
//! report them either (see [`crate::map`]).
//!
//! [`ServiceRequest::parse_with_prefetch`]: gravida_cds_hooks::ServiceRequest::parse_with_prefetch

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use fhir_sdk::r4b::codes::{DiagnosticReportStatus, ObservationStatus, QuantityComparator};
use fhir_sdk::{DateTime as FhirDateTime, Instant as FhirInstant};
use gravida_knowledge::prefetch::PrefetchQuery;
use gravida_rules::facts::{Code, Field, Record, RecordKind, Value, When};
use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::map::{PatientSummary, problem, push_text, read_date_time, when_from_instant};

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
            let value = map.next_value::<Option<Resource<'de>>>()?;
            let entry = match value {
                None => FastEntry::Null,
                Some(resource) => classify(resource).map_err(de::Error::custom)?,
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
fn classify(value: Resource<'_>) -> Result<FastEntry, Decline> {
    match value.resource_type.as_deref() {
        None => Err("not a FHIR resource"),
        Some("OperationOutcome") => Err("an OperationOutcome"),
        Some("Bundle") => {
            if let Some(links) = &value.link {
                for link in links {
                    if link.relation.as_deref() == Some("next") {
                        // The reference reader looks at the first `next` link only.
                        return match link.url {
                            Some(_) => Ok(FastEntry::Paged),
                            None => Err("a next link without a url"),
                        };
                    }
                }
            }
            let mut resources = Vec::new();
            for entry in value.entry.unwrap_or_default() {
                let Some(resource) = entry.resource else {
                    continue;
                };
                if entry.search_mode.as_deref() == Some("outcome") {
                    return Err("an outcome entry");
                }
                resources.push(read(resource)?);
            }
            Ok(FastEntry::Resources(resources))
        }
        Some(_) => Ok(FastEntry::Resources(vec![read(value)?])),
    }
}

/// One resource, reduced. Elements that do not belong to its type are ignored, as fhir-sdk
/// ignores unknown elements.
fn read(resource: Resource<'_>) -> Result<FastResource, Decline> {
    let resource_type = resource
        .resource_type
        .as_deref()
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
        "Patient" => FastRead::Patient(PatientSummary {
            id: resource.id.map(Str::into_owned),
        }),
        _ => FastRead::Ignored,
    };
    Ok(FastResource {
        identity,
        subject,
        read,
    })
}

/// Reads one resource from its JSON text, as a prefetch resource is read; `None` when the fast
/// reader declines it (the caller then reads it with the reference reader). For fetched pages.
pub(crate) fn read_resource_json(json: &str) -> Option<FastResource> {
    let resource: Resource<'_> = serde_json::from_str(json).ok()?;
    read(resource).ok()
}

// ---------------------------------------------------------------------------------------------
// From the read elements to a record, as crate::map does it (same order of text and problems)
// ---------------------------------------------------------------------------------------------

fn observation(resource: Resource<'_>) -> Result<Record, Decline> {
    let status = resource.status.ok_or("Observation.status is missing")?;
    let status = ObservationStatus::from_str(&status).map_err(|_| "not an Observation status")?;
    let code = resource.code.ok_or("Observation.code is missing")?;
    let mut record = Record::new(
        RecordKind::Observation,
        resource.id.map(Str::into_owned).unwrap_or_default(),
    );
    code.read_into(&mut record.codes, &mut record.text);
    record.status = Some(status.to_string());
    record.effective = match resource.effective {
        None => None,
        Some(effective) => effective.read(&mut record.problems),
    };
    record.recorded = resource.issued.as_ref().map(when_from_instant);
    if let Some(value) = resource.value {
        record.value = value.read(&mut record.text, &mut record.problems);
    }
    read_notes(resource.note, &mut record.text);
    Ok(record)
}

fn condition(resource: Resource<'_>) -> Record {
    let mut record = Record::new(
        RecordKind::Condition,
        resource.id.map(Str::into_owned).unwrap_or_default(),
    );
    if let Some(code) = &resource.code {
        code.read_into(&mut record.codes, &mut record.text);
    }
    record.clinical_status = read_status_concept(
        resource.clinical_status.as_ref(),
        "condition-clinical",
        Field::ClinicalStatus,
        &mut record.problems,
    );
    record.verification_status = read_status_concept(
        resource.verification_status.as_ref(),
        "condition-ver-status",
        Field::VerificationStatus,
        &mut record.problems,
    );
    record.effective = resource.onset.and_then(|onset| {
        onset.read(
            ("onsetDateTime", "onsetPeriod"),
            Field::Effective,
            &mut record.problems,
        )
    });
    record.abatement = resource.abatement.and_then(|abatement| {
        abatement.read(
            ("abatementDateTime", "abatementPeriod"),
            Field::Abatement,
            &mut record.problems,
        )
    });
    record.recorded = resource.recorded_date.as_ref().and_then(|date_time| {
        read_date_time(
            date_time,
            "recordedDate",
            Field::Recorded,
            &mut record.problems,
        )
    });
    read_notes(resource.note, &mut record.text);
    record
}

fn diagnostic_report(resource: Resource<'_>) -> Result<Record, Decline> {
    let status = resource
        .status
        .ok_or("DiagnosticReport.status is missing")?;
    let status =
        DiagnosticReportStatus::from_str(&status).map_err(|_| "not a DiagnosticReport status")?;
    let code = resource.code.ok_or("DiagnosticReport.code is missing")?;
    let mut record = Record::new(
        RecordKind::DiagnosticReport,
        resource.id.map(Str::into_owned).unwrap_or_default(),
    );
    code.read_into(&mut record.codes, &mut record.text);
    for concept in resource.conclusion_code.iter().flatten() {
        concept.read_into(&mut record.codes, &mut record.text);
    }
    push_text(&mut record.text, resource.conclusion.as_deref());
    record.status = Some(status.to_string());
    record.effective = match resource.effective {
        None => None,
        // Not a DiagnosticReport choice: the reference reader reports it as unreadable.
        Some(Effective::Instant(_)) => return Err("DiagnosticReport.effectiveInstant"),
        Some(effective) => effective.read(&mut record.problems),
    };
    record.recorded = resource.issued.as_ref().map(when_from_instant);
    Ok(record)
}

fn read_notes(notes: Option<Vec<Annotation<'_>>>, text: &mut Vec<String>) {
    for note in notes.iter().flatten() {
        push_text(text, Some(&note.text));
    }
}

/// The code of a status concept, preferring the coding from the expected code system.
fn read_status_concept(
    concept: Option<&Concept<'_>>,
    system_suffix: &str,
    field: Field,
    problems: &mut Vec<gravida_rules::facts::Problem>,
) -> Option<String> {
    let concept = concept?;
    let preferred = concept
        .coding
        .iter()
        .find(|coding| {
            coding
                .system
                .as_deref()
                .is_some_and(|system| system.ends_with(system_suffix))
        })
        .or_else(|| concept.coding.first())
        .and_then(|coding| coding.code.as_deref().map(str::to_owned));
    if preferred.is_none() {
        problem(problems, field, "status concept has no code");
    }
    preferred
}

// ---------------------------------------------------------------------------------------------
// The subset of FHIR JSON the fast reader models
// ---------------------------------------------------------------------------------------------

/// A JSON string, borrowed from the body when it has no escapes.
#[derive(Debug, Clone, PartialEq)]
struct Str<'de>(Cow<'de, str>);

impl<'de> Str<'de> {
    fn into_owned(self) -> String {
        self.0.into_owned()
    }
}

impl std::ops::Deref for Str<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Str<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StrVisitor;
        impl<'de> Visitor<'de> for StrVisitor {
            type Value = Str<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, text: &'de str) -> Result<Str<'de>, E> {
                Ok(Str(Cow::Borrowed(text)))
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<Str<'de>, E> {
                Ok(Str(Cow::Owned(text.to_owned())))
            }
            fn visit_string<E: de::Error>(self, text: String) -> Result<Str<'de>, E> {
                Ok(Str(Cow::Owned(text)))
            }
        }
        deserializer.deserialize_str(StrVisitor)
    }
}

/// Stores a field's value, declining a repeated key.
fn once<T, E: de::Error>(slot: &mut Option<T>, value: T) -> Result<(), E> {
    if slot.is_some() {
        return Err(E::custom("repeated element"));
    }
    *slot = Some(value);
    Ok(())
}

/// An element the engine does not read, inside an element it does (a Coding, a Period, …):
/// skipped, unless it could change or hide meaning.
fn unread_in_element<'de, A: MapAccess<'de>>(key: &str, map: &mut A) -> Result<(), A::Error> {
    if key == "id" || key == "extension" || key.starts_with('_') || key == "modifierExtension" {
        return Err(de::Error::custom("extension or id in a read element"));
    }
    map.next_value::<Scan>().map(drop)
}

/// Reads an object field by field with `field`, which must consume each value.
fn object<'de, A, F>(mut map: A, mut field: F) -> Result<(), A::Error>
where
    A: MapAccess<'de>,
    F: FnMut(&str, &mut A) -> Result<(), A::Error>,
{
    while let Some(key) = map.next_key::<Str<'de>>()? {
        field(&key, &mut map)?;
    }
    Ok(())
}

/// Declares a `Deserialize` impl that accepts only a JSON object and reads it with `$body`.
macro_rules! from_object {
    ($type:ident, $what:literal, |$map:ident| $body:block) => {
        impl<'de> Deserialize<'de> for $type<'de> {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct ObjectVisitor;
                impl<'de> Visitor<'de> for ObjectVisitor {
                    type Value = $type<'de>;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str($what)
                    }
                    fn visit_map<A: MapAccess<'de>>(
                        self,
                        #[allow(unused_mut)] mut $map: A,
                    ) -> Result<$type<'de>, A::Error> {
                        $body
                    }
                }
                deserializer.deserialize_map(ObjectVisitor)
            }
        }
    };
}

/// Skips a value the engine does not read, declining a `modifierExtension` anywhere in it
/// (except inside `contained` resources, which are not read; the reference reader does the same).
struct Scan;

impl<'de> Deserialize<'de> for Scan {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(Scan)
    }
}

impl<'de> Visitor<'de> for Scan {
    type Value = Scan;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Scan, E> {
        Ok(Scan)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Scan, E> {
        Ok(Scan)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Scan, E> {
        Ok(Scan)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Scan, E> {
        Ok(Scan)
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Scan, E> {
        Ok(Scan)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Scan, E> {
        Ok(Scan)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Scan, A::Error> {
        while seq.next_element::<Scan>()?.is_some() {}
        Ok(Scan)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Scan, A::Error> {
        object(map, |key, map| match key {
            "modifierExtension" => Err(de::Error::custom("modifierExtension")),
            "contained" => map.next_value::<IgnoredAny>().map(drop),
            _ => map.next_value::<Scan>().map(drop),
        })?;
        Ok(Scan)
    }
}

/// A FHIR `dateTime`, read by fhir-sdk's parser.
fn date_time<'de, A: MapAccess<'de>>(map: &mut A) -> Result<FhirDateTime, A::Error> {
    let text = map.next_value::<Str<'de>>()?;
    FhirDateTime::from_str(&text).map_err(|_| de::Error::custom("unreadable dateTime"))
}

/// A FHIR `instant`, read by fhir-sdk's parser.
fn instant<'de, A: MapAccess<'de>>(map: &mut A) -> Result<FhirInstant, A::Error> {
    let text = map.next_value::<Str<'de>>()?;
    FhirInstant::from_str(&text).map_err(|_| de::Error::custom("unreadable instant"))
}

#[derive(Debug, Default)]
struct Coding<'de> {
    system: Option<Str<'de>>,
    code: Option<Str<'de>>,
    display: Option<Str<'de>>,
}

from_object!(Coding, "a Coding", |map| {
    let mut coding = Coding::default();
    let (mut version, mut user_selected) = (None, None);
    object(map, |key, map| match key {
        "system" => once(&mut coding.system, map.next_value()?),
        "code" => once(&mut coding.code, map.next_value()?),
        "display" => once(&mut coding.display, map.next_value()?),
        "version" => once(&mut version, map.next_value::<Str<'de>>()?),
        "userSelected" => once(&mut user_selected, map.next_value::<bool>()?),
        _ => unread_in_element(key, map),
    })?;
    Ok(coding)
});

#[derive(Debug, Default)]
struct Concept<'de> {
    coding: Vec<Coding<'de>>,
    text: Option<Str<'de>>,
}

from_object!(Concept, "a CodeableConcept", |map| {
    let mut coding = None;
    let mut text = None;
    object(map, |key, map| match key {
        "coding" => once(&mut coding, map.next_value::<Vec<Coding<'de>>>()?),
        "text" => once(&mut text, map.next_value()?),
        _ => unread_in_element(key, map),
    })?;
    Ok(Concept {
        coding: coding.unwrap_or_default(),
        text,
    })
});

impl Concept<'_> {
    /// Adds the codings to `codes` and the text and displays to `text` (as `map::read_concept`).
    fn read_into(&self, codes: &mut Vec<Code>, text: &mut Vec<String>) {
        push_text(text, self.text.as_deref());
        for coding in &self.coding {
            push_text(text, coding.display.as_deref());
            if let Some(code) = &coding.code {
                codes.push(Code {
                    system: coding.system.as_deref().unwrap_or_default().to_owned(),
                    code: code.to_string(),
                    display: coding.display.as_deref().map(str::to_owned),
                });
            }
        }
    }
}

#[derive(Debug, Default)]
struct Quantity<'de> {
    value: Option<f64>,
    comparator: Option<QuantityComparator>,
    unit: Option<Str<'de>>,
    code: Option<Str<'de>>,
}

from_object!(Quantity, "a Quantity", |map| {
    let mut quantity = Quantity::default();
    let mut system = None;
    object(map, |key, map| match key {
        "value" => once(&mut quantity.value, map.next_value()?),
        "comparator" => {
            let text = map.next_value::<Str<'de>>()?;
            let comparator = QuantityComparator::from_str(&text)
                .map_err(|_| de::Error::custom("not a comparator"))?;
            once(&mut quantity.comparator, comparator)
        }
        "unit" => once(&mut quantity.unit, map.next_value()?),
        "system" => once(&mut system, map.next_value::<Str<'de>>()?),
        "code" => once(&mut quantity.code, map.next_value()?),
        _ => unread_in_element(key, map),
    })?;
    Ok(quantity)
});

#[derive(Debug, Default)]
struct Period {
    start: Option<FhirDateTime>,
    end: Option<FhirDateTime>,
}

impl<'de> Deserialize<'de> for Period {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PeriodVisitor;
        impl<'de> Visitor<'de> for PeriodVisitor {
            type Value = Period;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a Period")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Period, A::Error> {
                let mut period = Period::default();
                object(map, |key, map| match key {
                    "start" => once(&mut period.start, date_time(map)?),
                    "end" => once(&mut period.end, date_time(map)?),
                    _ => unread_in_element(key, map),
                })?;
                Ok(period)
            }
        }
        deserializer.deserialize_map(PeriodVisitor)
    }
}

impl Period {
    /// The start (or the end when there is no start), as `map::read_period`.
    fn read(
        &self,
        name: &str,
        field: Field,
        problems: &mut Vec<gravida_rules::facts::Problem>,
    ) -> Option<When> {
        let Some(date_time) = self.start.as_ref().or(self.end.as_ref()) else {
            problem(
                problems,
                field,
                &format!("{name} has neither start nor end"),
            );
            return None;
        };
        read_date_time(date_time, name, field, problems)
    }
}

/// A Reference, checked and dropped (only an Annotation's author has one here).
struct Reference;

impl<'de> Deserialize<'de> for Reference {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ReferenceVisitor;
        impl<'de> Visitor<'de> for ReferenceVisitor {
            type Value = Reference;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a Reference")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Reference, A::Error> {
                let (mut reference, mut kind, mut display) = (None, None, None);
                object(map, |key, map| match key {
                    "reference" => once(&mut reference, map.next_value::<Str<'de>>()?),
                    "type" => once(&mut kind, map.next_value::<Str<'de>>()?),
                    "display" => once(&mut display, map.next_value::<Str<'de>>()?),
                    // `identifier` is a whole datatype of its own: not modelled.
                    "identifier" => Err(de::Error::custom("Reference.identifier")),
                    _ => unread_in_element(key, map),
                })?;
                Ok(Reference)
            }
        }
        deserializer.deserialize_map(ReferenceVisitor)
    }
}

#[derive(Debug)]
struct Annotation<'de> {
    text: Str<'de>,
}

from_object!(Annotation, "an Annotation", |map| {
    let mut text = None;
    let (mut author, mut time) = (None, None);
    object(map, |key, map| match key {
        "text" => once(&mut text, map.next_value::<Str<'de>>()?),
        "time" => once(&mut time, date_time(map)?),
        // author[x]: one slot, so that two of them are declined.
        "authorString" => once(&mut author, map.next_value::<Str<'de>>().map(drop)?),
        "authorReference" => once(&mut author, map.next_value::<Reference>().map(drop)?),
        _ if is_choice_of(key, "author") => Err(de::Error::custom("unknown author[x]")),
        _ => unread_in_element(key, map),
    })?;
    let text = text.ok_or_else(|| de::Error::custom("Annotation.text is missing"))?;
    Ok(Annotation { text })
});

#[derive(Debug)]
enum Effective {
    DateTime(FhirDateTime),
    Period(Period),
    Instant(FhirInstant),
}

impl Effective {
    /// An Observation's or DiagnosticReport's `effective[x]` as a date (as `map.rs` reads it).
    fn read(self, problems: &mut Vec<gravida_rules::facts::Problem>) -> Option<When> {
        let date_or_period = match self {
            Effective::Instant(instant) => return Some(when_from_instant(&instant)),
            Effective::DateTime(date_time) => DateOrPeriod::DateTime(date_time),
            Effective::Period(period) => DateOrPeriod::Period(period),
        };
        date_or_period.read(
            ("effectiveDateTime", "effectivePeriod"),
            Field::Effective,
            problems,
        )
    }
}

#[derive(Debug)]
enum DateOrPeriod {
    DateTime(FhirDateTime),
    Period(Period),
}

impl DateOrPeriod {
    /// The date, or the period's start (its end without a start); `names` are the element names
    /// (`…DateTime`, `…Period`) the problems name.
    fn read(
        self,
        names: (&str, &str),
        field: Field,
        problems: &mut Vec<gravida_rules::facts::Problem>,
    ) -> Option<When> {
        match self {
            DateOrPeriod::DateTime(date_time) => {
                read_date_time(&date_time, names.0, field, problems)
            }
            DateOrPeriod::Period(period) => period.read(names.1, field, problems),
        }
    }
}

#[derive(Debug)]
enum ObservationValue<'de> {
    Quantity(Quantity<'de>),
    Concept(Concept<'de>),
    String(Str<'de>),
    Boolean(bool),
    Integer(i32),
    DateTime(FhirDateTime),
}

impl ObservationValue<'_> {
    /// As `map::read_observation_value`.
    fn read(
        self,
        text: &mut Vec<String>,
        problems: &mut Vec<gravida_rules::facts::Problem>,
    ) -> Option<Value> {
        Some(match self {
            ObservationValue::Quantity(quantity) => {
                let Some(number) = quantity.value else {
                    problem(problems, Field::Value, "valueQuantity has no value");
                    return None;
                };
                if let Some(comparator) = &quantity.comparator {
                    problem(
                        problems,
                        Field::Value,
                        &format!("valueQuantity is a bound ({comparator}), not an exact value"),
                    );
                }
                Value::Quantity {
                    value: number,
                    unit: quantity.unit.map(Str::into_owned),
                    code: quantity.code.map(Str::into_owned),
                    comparator: quantity.comparator.map(|c| c.to_string()),
                }
            }
            ObservationValue::Concept(concept) => {
                let mut codes = Vec::new();
                let mut ignored = Vec::new();
                concept.read_into(&mut codes, &mut ignored);
                Value::Concept {
                    codes,
                    text: concept.text.map(Str::into_owned),
                }
            }
            ObservationValue::String(string) => {
                push_text(text, Some(&string));
                Value::String(string.into_owned())
            }
            ObservationValue::Boolean(boolean) => Value::Boolean(boolean),
            ObservationValue::Integer(integer) => Value::Integer(i64::from(integer)),
            ObservationValue::DateTime(date_time) => Value::DateTime(read_date_time(
                &date_time,
                "valueDateTime",
                Field::Value,
                problems,
            )?),
        })
    }
}

/// A Bundle entry: its resource and its search mode; the rest is not part of the resource.
struct Entry<'de> {
    resource: Option<Resource<'de>>,
    search_mode: Option<Str<'de>>,
}

from_object!(Entry, "a Bundle entry", |map| {
    let mut resource = None;
    let mut search_mode = None;
    object(map, |key, map| match key {
        "resource" => once(&mut resource, map.next_value::<Resource<'de>>()?),
        "search" => {
            let search = map.next_value::<Search<'de>>()?;
            once(&mut search_mode, search.mode)
        }
        _ => map.next_value::<IgnoredAny>().map(drop),
    })?;
    Ok(Entry {
        resource,
        search_mode: search_mode.flatten(),
    })
});

struct Search<'de> {
    mode: Option<Str<'de>>,
}

from_object!(Search, "a Bundle entry search", |map| {
    let mut mode = None;
    object(map, |key, map| match key {
        "mode" => once(&mut mode, map.next_value::<Str<'de>>()?),
        _ => map.next_value::<IgnoredAny>().map(drop),
    })?;
    Ok(Search { mode })
});

/// The Reference to whose record it is (`subject`, `patient`): only its `reference` is read.
#[derive(Debug, Default)]
struct OwnerReference<'de> {
    reference: Option<Str<'de>>,
}

from_object!(OwnerReference, "a Reference", |map| {
    let mut reference = OwnerReference::default();
    object(map, |key, map| match key {
        "reference" => once(&mut reference.reference, map.next_value()?),
        _ => unread_in_element(key, map),
    })?;
    Ok(reference)
});

struct Link<'de> {
    relation: Option<Str<'de>>,
    url: Option<Str<'de>>,
}

from_object!(Link, "a Bundle link", |map| {
    let mut link = Link {
        relation: None,
        url: None,
    };
    object(map, |key, map| match key {
        "relation" => once(&mut link.relation, map.next_value()?),
        "url" => once(&mut link.url, map.next_value()?),
        _ => map.next_value::<IgnoredAny>().map(drop),
    })?;
    Ok(link)
});

/// Any resource, or a Bundle: the union of the elements the engine reads from each type it
/// reads. `resourceType` may come last in the JSON, so the type is only known at the end; each
/// element is read in the one shape it has wherever it occurs.
#[derive(Default)]
struct Resource<'de> {
    resource_type: Option<Str<'de>>,
    id: Option<Str<'de>>,
    // Whose record it is
    subject: Option<OwnerReference<'de>>,
    patient: Option<OwnerReference<'de>>,
    // Observation, DiagnosticReport
    status: Option<Str<'de>>,
    code: Option<Concept<'de>>,
    issued: Option<FhirInstant>,
    effective: Option<Effective>,
    value: Option<ObservationValue<'de>>,
    note: Option<Vec<Annotation<'de>>>,
    conclusion: Option<Str<'de>>,
    conclusion_code: Option<Vec<Concept<'de>>>,
    // Condition
    clinical_status: Option<Concept<'de>>,
    verification_status: Option<Concept<'de>>,
    onset: Option<DateOrPeriod>,
    abatement: Option<DateOrPeriod>,
    recorded_date: Option<FhirDateTime>,
    // Bundle
    entry: Option<Vec<Entry<'de>>>,
    link: Option<Vec<Link<'de>>>,
}

from_object!(Resource, "a FHIR resource", |map| {
    let mut r = Resource::default();
    object(map, |key, map| match key {
        "resourceType" => once(&mut r.resource_type, map.next_value()?),
        "id" => once(&mut r.id, map.next_value()?),
        "subject" => once(&mut r.subject, map.next_value()?),
        "patient" => once(&mut r.patient, map.next_value()?),
        "status" => once(&mut r.status, map.next_value()?),
        "code" => once(&mut r.code, map.next_value()?),
        "issued" => once(&mut r.issued, instant(map)?),
        "effectiveDateTime" => once(&mut r.effective, Effective::DateTime(date_time(map)?)),
        "effectivePeriod" => once(&mut r.effective, Effective::Period(map.next_value()?)),
        "effectiveInstant" => once(&mut r.effective, Effective::Instant(instant(map)?)),
        "valueQuantity" => once(&mut r.value, ObservationValue::Quantity(map.next_value()?)),
        "valueCodeableConcept" => once(&mut r.value, ObservationValue::Concept(map.next_value()?)),
        "valueString" => once(&mut r.value, ObservationValue::String(map.next_value()?)),
        "valueBoolean" => once(&mut r.value, ObservationValue::Boolean(map.next_value()?)),
        "valueInteger" => once(&mut r.value, ObservationValue::Integer(map.next_value()?)),
        "valueDateTime" => once(&mut r.value, ObservationValue::DateTime(date_time(map)?)),
        "note" => once(&mut r.note, map.next_value()?),
        "conclusion" => once(&mut r.conclusion, map.next_value()?),
        "conclusionCode" => once(&mut r.conclusion_code, map.next_value()?),
        "clinicalStatus" => once(&mut r.clinical_status, map.next_value()?),
        "verificationStatus" => once(&mut r.verification_status, map.next_value()?),
        "onsetDateTime" => once(&mut r.onset, DateOrPeriod::DateTime(date_time(map)?)),
        "onsetPeriod" => once(&mut r.onset, DateOrPeriod::Period(map.next_value()?)),
        "abatementDateTime" => once(&mut r.abatement, DateOrPeriod::DateTime(date_time(map)?)),
        "abatementPeriod" => once(&mut r.abatement, DateOrPeriod::Period(map.next_value()?)),
        "recordedDate" => once(&mut r.recorded_date, date_time(map)?),
        "entry" => once(&mut r.entry, map.next_value()?),
        "link" => once(&mut r.link, map.next_value()?),
        "modifierExtension" => Err(de::Error::custom("modifierExtension")),
        // Contained resources are not read (nor checked for modifiers, as by the reference).
        "contained" => map.next_value::<IgnoredAny>().map(drop),
        _ if key.starts_with('_') => Err(de::Error::custom("primitive extension")),
        _ if ["value", "effective", "onset", "abatement"]
            .iter()
            .any(|prefix| is_choice_of(key, prefix)) =>
        {
            Err(de::Error::custom("a choice type not modelled"))
        }
        _ => map.next_value::<Scan>().map(drop),
    })?;
    Ok(r)
});

/// True for `valueQuantity` given `value`: the prefix followed by a type name (capitalised).
fn is_choice_of(key: &str, prefix: &str) -> bool {
    key.strip_prefix(prefix)
        .and_then(|rest| rest.chars().next())
        .is_some_and(char::is_uppercase)
}

#[cfg(test)]
mod tests;
