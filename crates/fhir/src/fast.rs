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
//! (its `Deserialize` impls below are the JSON shapes of those views) and [`crate::element`]'s
//! functions make the record, as they do for the reference reader. So when it accepts, what it
//! gives is exactly what the reference reader gives for the same request (records, in the same
//! order, with the same problems), and it reads dates, statuses and comparators with fhir-sdk's
//! own parsers to make sure of it. The tests in `fast/tests.rs`
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

use fhir_sdk::r4b::codes::{
    DiagnosticReportStatus, EncounterStatus, EventStatus, ObservationStatus, QuantityComparator,
};
use fhir_sdk::{DateTime as FhirDateTime, Instant as FhirInstant};
use gravida_rules::facts::{Record, RecordKind};
use gravida_rules::query::PrefetchQuery;
use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::element::PatientSummary;
use crate::element::{
    self, Annotation, Coding, Component, Concept, Dated, Period, Quantity, Reference, Text, ValueX,
};

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
    match serde_json::from_str::<Option<Resource<'_>>>(json).ok()? {
        None => Some(FastEntry::Null),
        Some(resource) => classify(resource).ok(),
    }
}

/// Reads one resource from its JSON text, as a prefetch resource is read; `None` when the fast
/// reader declines it (the caller then reads it with the reference reader). For fetched pages.
pub(crate) fn read_resource_json(json: &str) -> Option<FastResource> {
    let resource: Resource<'_> = serde_json::from_str(json).ok()?;
    read(resource).ok()
}

// ---------------------------------------------------------------------------------------------
// From the modelled elements to the views of crate::element, which make the record
// ---------------------------------------------------------------------------------------------

/// A status code, checked with fhir-sdk's own parser (so that both readers accept the same codes).
fn status_code<T: FromStr + ToString>(
    status: Option<Str<'_>>,
    what: Decline,
) -> Result<String, Decline> {
    let status = status.ok_or(what)?;
    T::from_str(&status)
        .map(|status| status.to_string())
        .map_err(|_| what)
}

fn observation(resource: Resource<'_>) -> Result<Record, Decline> {
    let status = status_code::<ObservationStatus>(resource.status, "Observation.status")?;
    let code = resource.code.ok_or("Observation.code is missing")?;
    let category = match resource.category {
        None => Vec::new(),
        Some(OneOrMany::Many(concepts)) => concepts,
        // Not an Observation's shape: the reference reader reports it as unreadable.
        Some(OneOrMany::One(_)) => return Err("Observation.category is not an array"),
    };
    Ok(element::observation(element::Observation {
        id: resource.id.map(Str::text),
        status,
        code,
        category,
        effective: resource.effective,
        issued: resource.issued,
        value: resource.value,
        components: resource.component.unwrap_or_default(),
        notes: resource.note.unwrap_or_default(),
    }))
}

fn condition(resource: Resource<'_>) -> Record {
    element::condition(element::Condition {
        id: resource.id.map(Str::text),
        code: resource.code,
        clinical_status: resource.clinical_status,
        verification_status: resource.verification_status,
        onset: resource.onset,
        abatement: resource.abatement,
        recorded_date: resource.recorded_date,
        notes: resource.note.unwrap_or_default(),
    })
}

fn diagnostic_report(resource: Resource<'_>) -> Result<Record, Decline> {
    let status = status_code::<DiagnosticReportStatus>(resource.status, "DiagnosticReport.status")?;
    let code = resource.code.ok_or("DiagnosticReport.code is missing")?;
    // Not a DiagnosticReport choice: the reference reader reports it as unreadable.
    if matches!(resource.effective, Some(Dated::Instant(_))) {
        return Err("DiagnosticReport.effectiveInstant");
    }
    Ok(element::diagnostic_report(element::DiagnosticReport {
        id: resource.id.map(Str::text),
        status,
        code,
        conclusion_code: resource.conclusion_code.unwrap_or_default(),
        conclusion: resource.conclusion.map(Str::text),
        effective: resource.effective,
        issued: resource.issued,
    }))
}

fn encounter(resource: Resource<'_>) -> Result<Record, Decline> {
    let status = status_code::<EncounterStatus>(resource.status, "Encounter.status")?;
    let types = match resource.kind {
        None => Vec::new(),
        Some(TypeElement::Concepts(concepts)) => concepts,
        Some(TypeElement::Code) => return Err("Encounter.type is not an array"),
    };
    Ok(element::encounter(element::Encounter {
        id: resource.id.map(Str::text),
        status,
        class: resource.class,
        types,
        reason_code: resource.reason_code.unwrap_or_default(),
        reason_reference: resource.reason_reference.unwrap_or_default(),
        period: resource.period,
    }))
}

fn procedure(resource: Resource<'_>) -> Result<Record, Decline> {
    let status = status_code::<EventStatus>(resource.status, "Procedure.status")?;
    let category = match resource.category {
        None => None,
        Some(OneOrMany::One(concept)) => Some(concept),
        Some(OneOrMany::Many(_)) => return Err("Procedure.category is an array"),
    };
    Ok(element::procedure(element::Procedure {
        id: resource.id.map(Str::text),
        status,
        code: resource.code,
        category,
        performed: resource.performed,
        reason_code: resource.reason_code.unwrap_or_default(),
        notes: resource.note.unwrap_or_default(),
    }))
}

/// A MedicationAdministration, MedicationStatement or MedicationRequest (knowledge.md §3.6 items
/// 10, 21) whose drug is a `medicationCodeableConcept` (a `medicationReference` was declined
/// while parsing: only the reference reader resolves the Medication it names). Its status is any
/// string, as in fhir-sdk's model; what that model requires (`effective[x]` of an
/// administration, `intent` of a request) is required here.
fn medication(kind: RecordKind, resource: Resource<'_>) -> Result<Record, Decline> {
    let status = resource.status.ok_or("a medication record's status")?;
    let medication = resource
        .medication
        .ok_or("a medication record without medication[x]")?;
    // Not a choice of these resources: the reference reader would not read it as a date.
    if matches!(resource.effective, Some(Dated::Instant(_))) {
        return Err("a medication record's effectiveInstant");
    }
    let request = kind == RecordKind::MedicationRequest;
    if kind == RecordKind::MedicationAdministration && resource.effective.is_none() {
        return Err("MedicationAdministration.effective[x] is missing");
    }
    if request && (resource.intent.is_none() || resource.effective.is_some()) {
        return Err("a MedicationRequest's intent is missing, or it has an effective[x]");
    }
    if !request && resource.authored_on.is_some() {
        return Err("authoredOn belongs to a MedicationRequest");
    }
    Ok(element::medication(element::Medication {
        kind,
        id: resource.id.map(Str::text),
        status: status.into_owned(),
        medication: Some(medication),
        medication_display: None,
        effective: resource.effective,
        authored_on: resource.authored_on,
        reason_code: resource.reason_code.unwrap_or_default(),
        notes: resource.note.unwrap_or_default(),
    }))
}

/// An Immunization: its `vaccineCode` and `occurrence[x]` are required, as in fhir-sdk's model.
fn immunization(resource: Resource<'_>) -> Result<Record, Decline> {
    let status = resource.status.ok_or("Immunization.status")?;
    let vaccine_code = resource.vaccine_code.ok_or("Immunization.vaccineCode")?;
    let occurrence = resource.occurrence.ok_or("Immunization.occurrence[x]")?;
    Ok(element::immunization(element::Immunization {
        id: resource.id.map(Str::text),
        status: status.into_owned(),
        vaccine_code: Some(vaccine_code),
        occurrence: Some(occurrence),
        reason_code: resource.reason_code.unwrap_or_default(),
        notes: resource.note.unwrap_or_default(),
    }))
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

    fn text(self) -> Text<'de> {
        self.0
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

/// A JSON string as an element's text.
fn text<'de, A: MapAccess<'de>>(map: &mut A) -> Result<Text<'de>, A::Error> {
    map.next_value::<Str<'de>>().map(Str::text)
}

from_object!(Coding, "a Coding", |map| {
    let mut coding = Coding::default();
    let (mut version, mut user_selected) = (None, None);
    object(map, |key, map| match key {
        "system" => once(&mut coding.system, text(map)?),
        "code" => once(&mut coding.code, text(map)?),
        "display" => once(&mut coding.display, text(map)?),
        "version" => once(&mut version, map.next_value::<Str<'de>>()?),
        "userSelected" => once(&mut user_selected, map.next_value::<bool>()?),
        _ => unread_in_element(key, map),
    })?;
    Ok(coding)
});

from_object!(Concept, "a CodeableConcept", |map| {
    let mut coding = None;
    let mut concept_text = None;
    object(map, |key, map| match key {
        "coding" => once(&mut coding, map.next_value::<Vec<Coding<'de>>>()?),
        "text" => once(&mut concept_text, text(map)?),
        _ => unread_in_element(key, map),
    })?;
    Ok(Concept {
        coding: coding.unwrap_or_default(),
        text: concept_text,
    })
});

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
        "unit" => once(&mut quantity.unit, text(map)?),
        "system" => once(&mut system, map.next_value::<Str<'de>>()?),
        "code" => once(&mut quantity.code, text(map)?),
        _ => unread_in_element(key, map),
    })?;
    Ok(quantity)
});

/// A Period. Not a `from_object!` type: it holds no text, so it has no lifetime.
struct FastPeriod(Period);

impl<'de> Deserialize<'de> for FastPeriod {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PeriodVisitor;
        impl<'de> Visitor<'de> for PeriodVisitor {
            type Value = FastPeriod;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a Period")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<FastPeriod, A::Error> {
                let mut period = Period::default();
                object(map, |key, map| match key {
                    "start" => once(&mut period.start, date_time(map)?),
                    "end" => once(&mut period.end, date_time(map)?),
                    _ => unread_in_element(key, map),
                })?;
                Ok(FastPeriod(period))
            }
        }
        deserializer.deserialize_map(PeriodVisitor)
    }
}

fn period<'de, A: MapAccess<'de>>(map: &mut A) -> Result<Period, A::Error> {
    map.next_value::<FastPeriod>().map(|period| period.0)
}

from_object!(Reference, "a Reference", |map| {
    let mut reference = Reference::default();
    let (mut kind, mut display) = (None, None);
    object(map, |key, map| match key {
        "reference" => once(&mut reference.reference, text(map)?),
        "type" => once(&mut kind, map.next_value::<Str<'de>>()?),
        "display" => once(&mut display, map.next_value::<Str<'de>>()?),
        // `identifier` is a whole datatype of its own: not modelled.
        "identifier" => Err(de::Error::custom("Reference.identifier")),
        _ => unread_in_element(key, map),
    })?;
    Ok(reference)
});

from_object!(Annotation, "an Annotation", |map| {
    let mut note = None;
    let (mut author, mut time) = (None, None);
    object(map, |key, map| match key {
        "text" => once(&mut note, text(map)?),
        "time" => once(&mut time, date_time(map)?),
        // author[x]: one slot, so that two of them are declined.
        "authorString" => once(&mut author, map.next_value::<Str<'de>>().map(drop)?),
        "authorReference" => once(&mut author, map.next_value::<Reference<'de>>().map(drop)?),
        _ if is_choice_of(key, "author") => Err(de::Error::custom("unknown author[x]")),
        _ => unread_in_element(key, map),
    })?;
    let text = note.ok_or_else(|| de::Error::custom("Annotation.text is missing"))?;
    Ok(Annotation { text })
});

/// The `value[x]` keys the fast reader models, for an Observation and a component alike.
const VALUE_KEYS: [&str; 6] = [
    "valueQuantity",
    "valueCodeableConcept",
    "valueString",
    "valueBoolean",
    "valueInteger",
    "valueDateTime",
];

/// The value of one of [`VALUE_KEYS`].
fn value_x<'de, A: MapAccess<'de>>(key: &str, map: &mut A) -> Result<ValueX<'de>, A::Error> {
    Ok(match key {
        "valueQuantity" => ValueX::Quantity(map.next_value()?),
        "valueCodeableConcept" => ValueX::Concept(map.next_value()?),
        "valueString" => ValueX::String(text(map)?),
        "valueBoolean" => ValueX::Boolean(map.next_value()?),
        "valueInteger" => ValueX::Integer(map.next_value()?),
        "valueDateTime" => ValueX::DateTime(date_time(map)?),
        _ => return Err(de::Error::custom("a value[x] not modelled")),
    })
}

from_object!(Component, "an Observation component", |map| {
    let mut code = None;
    let mut value = None;
    let (mut absent, mut interpretation) = (None, None);
    object(map, |key, map| match key {
        _ if VALUE_KEYS.contains(&key) => once(&mut value, value_x(key, map)?),
        "code" => once(&mut code, map.next_value::<Concept<'de>>()?),
        // Read to be checked (the reference reader's model has them), then dropped.
        "dataAbsentReason" => once(&mut absent, map.next_value::<Concept<'de>>().map(drop)?),
        "interpretation" => once(
            &mut interpretation,
            map.next_value::<Vec<Concept<'de>>>().map(drop)?,
        ),
        "referenceRange" => Err(de::Error::custom("component.referenceRange")),
        _ if is_choice_of(key, "value") => Err(de::Error::custom("a value[x] not modelled")),
        _ => unread_in_element(key, map),
    })?;
    let code = code.ok_or_else(|| de::Error::custom("component.code is missing"))?;
    Ok(Component { code, value })
});

/// `category`: an array of concepts in an Observation, one concept in a Procedure (FHIR R4).
/// Which one is right is only known from `resourceType`, which may come last.
enum OneOrMany<'de> {
    One(Concept<'de>),
    Many(Vec<Concept<'de>>),
}

impl<'de> Deserialize<'de> for OneOrMany<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OneOrManyVisitor;
        impl<'de> Visitor<'de> for OneOrManyVisitor {
            type Value = OneOrMany<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a CodeableConcept or an array of them")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<OneOrMany<'de>, A::Error> {
                Concept::deserialize(de::value::MapAccessDeserializer::new(map)).map(OneOrMany::One)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<OneOrMany<'de>, A::Error> {
                Vec::deserialize(de::value::SeqAccessDeserializer::new(seq)).map(OneOrMany::Many)
            }
        }
        deserializer.deserialize_any(OneOrManyVisitor)
    }
}

/// `type`: a code in a Bundle (not read), an array of concepts in an Encounter.
enum TypeElement<'de> {
    Code,
    Concepts(Vec<Concept<'de>>),
}

impl<'de> Deserialize<'de> for TypeElement<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TypeVisitor;
        impl<'de> Visitor<'de> for TypeVisitor {
            type Value = TypeElement<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a code or an array of CodeableConcepts")
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
                Ok(TypeElement::Code)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                Vec::deserialize(de::value::SeqAccessDeserializer::new(seq))
                    .map(TypeElement::Concepts)
            }
        }
        deserializer.deserialize_any(TypeVisitor)
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

/// A Bundle's `entry` array, each entry's resource read into its record as soon as it is parsed.
///
/// A parsed resource holds every element the engine might read, borrowed: it is large (hundreds
/// of bytes), and collecting a Bundle's worth of them before reading any meant growing a vector
/// of them, copying each several times. Read at once, only the small records are kept. An entry
/// the reader declines (an outcome, a shape not modelled) fails the parse: the fast reader then
/// declines the whole value, as it did when such an entry was met after the parse.
struct Entries(Vec<FastResource>);

impl<'de> Deserialize<'de> for Entries {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EntriesVisitor;
        impl<'de> Visitor<'de> for EntriesVisitor {
            type Value = Entries;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array of Bundle entries")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Entries, A::Error> {
                let mut resources = Vec::new();
                while let Some(entry) = seq.next_element::<Entry<'de>>()? {
                    let Some(resource) = entry.resource else {
                        continue;
                    };
                    if entry.search_mode.as_deref() == Some("outcome") {
                        return Err(de::Error::custom("an outcome entry"));
                    }
                    resources.push(read(resource).map_err(de::Error::custom)?);
                }
                Ok(Entries(resources))
            }
        }
        deserializer.deserialize_seq(EntriesVisitor)
    }
}

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
/// element is read in the one shape it has wherever it occurs (`category` and `type`, which have
/// two, are read in either and checked once the type is known).
#[derive(Default)]
struct Resource<'de> {
    resource_type: Option<Str<'de>>,
    id: Option<Str<'de>>,
    // Whose record it is
    subject: Option<OwnerReference<'de>>,
    patient: Option<OwnerReference<'de>>,
    // Observation, DiagnosticReport, Encounter, Procedure
    status: Option<Str<'de>>,
    code: Option<Concept<'de>>,
    category: Option<OneOrMany<'de>>,
    issued: Option<FhirInstant>,
    effective: Option<Dated<'de>>,
    value: Option<ValueX<'de>>,
    component: Option<Vec<Component<'de>>>,
    note: Option<Vec<Annotation<'de>>>,
    conclusion: Option<Str<'de>>,
    conclusion_code: Option<Vec<Concept<'de>>>,
    // Condition
    clinical_status: Option<Concept<'de>>,
    verification_status: Option<Concept<'de>>,
    onset: Option<Dated<'de>>,
    abatement: Option<Dated<'de>>,
    recorded_date: Option<FhirDateTime>,
    // Encounter
    class: Option<Coding<'de>>,
    kind: Option<TypeElement<'de>>,
    reason_code: Option<Vec<Concept<'de>>>,
    reason_reference: Option<Vec<Reference<'de>>>,
    period: Option<Period>,
    // Procedure
    performed: Option<Dated<'de>>,
    // MedicationAdministration, MedicationStatement, MedicationRequest, Immunization
    medication: Option<Concept<'de>>,
    intent: Option<Str<'de>>,
    authored_on: Option<FhirDateTime>,
    vaccine_code: Option<Concept<'de>>,
    occurrence: Option<Dated<'de>>,
    // Bundle
    entry: Option<Entries>,
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
        "category" => once(&mut r.category, map.next_value()?),
        "issued" => once(&mut r.issued, instant(map)?),
        "valueQuantity"
        | "valueCodeableConcept"
        | "valueString"
        | "valueBoolean"
        | "valueInteger"
        | "valueDateTime" => once(&mut r.value, value_x(key, map)?),
        "effectiveDateTime" => once(&mut r.effective, Dated::DateTime(date_time(map)?)),
        "effectivePeriod" => once(&mut r.effective, Dated::Period(period(map)?)),
        "effectiveInstant" => once(&mut r.effective, Dated::Instant(instant(map)?)),
        "component" => once(&mut r.component, map.next_value()?),
        "note" => once(&mut r.note, map.next_value()?),
        "conclusion" => once(&mut r.conclusion, map.next_value()?),
        "conclusionCode" => once(&mut r.conclusion_code, map.next_value()?),
        "clinicalStatus" => once(&mut r.clinical_status, map.next_value()?),
        "verificationStatus" => once(&mut r.verification_status, map.next_value()?),
        "onsetDateTime" => once(&mut r.onset, Dated::DateTime(date_time(map)?)),
        "onsetPeriod" => once(&mut r.onset, Dated::Period(period(map)?)),
        "onsetString" => once(&mut r.onset, Dated::String(text(map)?)),
        "abatementDateTime" => once(&mut r.abatement, Dated::DateTime(date_time(map)?)),
        "abatementPeriod" => once(&mut r.abatement, Dated::Period(period(map)?)),
        "abatementString" => once(&mut r.abatement, Dated::String(text(map)?)),
        "recordedDate" => once(&mut r.recorded_date, date_time(map)?),
        "class" => once(&mut r.class, map.next_value()?),
        "type" => once(&mut r.kind, map.next_value()?),
        "reasonCode" => once(&mut r.reason_code, map.next_value()?),
        "reasonReference" => once(&mut r.reason_reference, map.next_value()?),
        "period" => once(&mut r.period, period(map)?),
        "performedDateTime" => once(&mut r.performed, Dated::DateTime(date_time(map)?)),
        "performedPeriod" => once(&mut r.performed, Dated::Period(period(map)?)),
        "performedString" => once(&mut r.performed, Dated::String(text(map)?)),
        "medicationCodeableConcept" => once(&mut r.medication, map.next_value()?),
        // A Medication named by reference: resolved by the reference reader only.
        "medicationReference" => Err(de::Error::custom("medicationReference")),
        "intent" => once(&mut r.intent, map.next_value()?),
        "authoredOn" => once(&mut r.authored_on, date_time(map)?),
        "vaccineCode" => once(&mut r.vaccine_code, map.next_value()?),
        "occurrenceDateTime" => once(&mut r.occurrence, Dated::DateTime(date_time(map)?)),
        "occurrenceString" => once(&mut r.occurrence, Dated::String(text(map)?)),
        "entry" => once(&mut r.entry, map.next_value()?),
        "link" => once(&mut r.link, map.next_value()?),
        "modifierExtension" => Err(de::Error::custom("modifierExtension")),
        // Contained resources are not read (nor checked for modifiers, as by the reference).
        "contained" => map.next_value::<IgnoredAny>().map(drop),
        _ if key.starts_with('_') => Err(de::Error::custom("primitive extension")),
        _ if [
            "value",
            "effective",
            "onset",
            "abatement",
            "performed",
            "medication",
            "occurrence",
        ]
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
