//! A resource as the fast reader reads it, and the Bundle around it: the union of the elements
//! the engine reads from each type, read in place on the heap, and a Bundle's entries read into
//! records one by one as they are parsed.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::json::{
    OneOrMany, Scan, Str, TypeElement, date_time, from_object, instant, is_choice_of, object, once,
    period, text, unread_in_element, value_x,
};
use super::{FastResource, read};
use crate::element::{Annotation, Coding, Component, Concept, Dated, Period, Reference, ValueX};
use fhir_sdk::{DateTime as FhirDateTime, Instant as FhirInstant};

/// A Bundle entry: its resource and its search mode; the rest is not part of the resource.
pub(super) struct Entry<'de> {
    pub(super) resource: Option<Box<Resource<'de>>>,
    pub(super) search_mode: Option<Str<'de>>,
}

from_object!(Entry, "a Bundle entry", |map| {
    let mut resource = None;
    let mut search_mode = None;
    object(map, |key, map| match key {
        "resource" => once(&mut resource, map.next_value::<Boxed<'de>>()?.0),
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
pub(super) struct Entries(pub(super) Vec<FastResource>);

impl<'de> Deserialize<'de> for Entries {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        EntriesSeed(|| true).deserialize(deserializer).map(Entries)
    }
}

/// [`Entries`] with a question asked after each entry is parsed and before it is read into its
/// record: `false` stops the parse (as a decline). A fetched page asks it to keep within the
/// call's deadline and entry cap while it reads (see [`crate::page`]).
pub(super) struct EntriesSeed<F>(pub(super) F);

impl<'de, F: FnMut() -> bool> DeserializeSeed<'de> for EntriesSeed<F> {
    type Value = Vec<FastResource>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de, F: FnMut() -> bool> Visitor<'de> for EntriesSeed<F> {
    type Value = Vec<FastResource>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of Bundle entries")
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<Self::Value, A::Error> {
        // A resource is a few hundred bytes, and growing the vector copies them all each time it
        // doubles. Searches return a few dozen: room for 64 at once is a few pages of memory for
        // the length of one call, and saves the copies.
        let mut resources = Vec::with_capacity(seq.size_hint().unwrap_or(0).clamp(64, 1024));
        while let Some(entry) = seq.next_element::<Entry<'de>>()? {
            if !(self.0)() {
                return Err(de::Error::custom("stopped"));
            }
            let Some(resource) = entry.resource else {
                continue;
            };
            if entry.search_mode.as_deref() == Some("outcome") {
                return Err(de::Error::custom("an outcome entry"));
            }
            resources.push(read(resource).map_err(de::Error::custom)?);
        }
        Ok(resources)
    }
}

pub(super) struct Search<'de> {
    pub(super) mode: Option<Str<'de>>,
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
pub(super) struct OwnerReference<'de> {
    pub(super) reference: Option<Str<'de>>,
}

from_object!(OwnerReference, "a Reference", |map| {
    let mut reference = OwnerReference::default();
    object(map, |key, map| match key {
        "reference" => once(&mut reference.reference, map.next_value()?),
        _ => unread_in_element(key, map),
    })?;
    Ok(reference)
});

pub(super) struct Link<'de> {
    pub(super) relation: Option<Str<'de>>,
    pub(super) url: Option<Str<'de>>,
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

/// The `url` of a Bundle's first link whose relation is `next` (the reference reader looks at
/// that one only); declined when that link has no `url`.
pub(super) fn next_url<'a, 'de>(
    links: &'a [Link<'de>],
) -> Result<Option<&'a Str<'de>>, super::Decline> {
    match links
        .iter()
        .find(|link| link.relation.as_deref() == Some("next"))
    {
        None => Ok(None),
        Some(Link { url: Some(url), .. }) => Ok(Some(url)),
        Some(_) => Err("a next link without a url"),
    }
}

/// Any resource, or a Bundle: the union of the elements the engine reads from each type it
/// reads. `resourceType` may come last in the JSON, so the type is only known at the end; each
/// element is read in the one shape it has wherever it occurs (`category` and `type`, which have
/// two, are read in either and checked once the type is known).
#[derive(Default)]
pub(super) struct Resource<'de> {
    pub(super) resource_type: Option<Str<'de>>,
    pub(super) id: Option<Str<'de>>,
    // Whose record it is
    pub(super) subject: Option<OwnerReference<'de>>,
    pub(super) patient: Option<OwnerReference<'de>>,
    // Observation, DiagnosticReport, Encounter, Procedure
    pub(super) status: Option<Str<'de>>,
    pub(super) code: Option<Concept<'de>>,
    pub(super) category: Option<OneOrMany<'de>>,
    pub(super) issued: Option<FhirInstant>,
    pub(super) effective: Option<Dated<'de>>,
    pub(super) value: Option<ValueX<'de>>,
    pub(super) component: Option<Vec<Component<'de>>>,
    pub(super) note: Option<Vec<Annotation<'de>>>,
    pub(super) conclusion: Option<Str<'de>>,
    pub(super) conclusion_code: Option<Vec<Concept<'de>>>,
    // Condition
    pub(super) clinical_status: Option<Concept<'de>>,
    pub(super) verification_status: Option<Concept<'de>>,
    pub(super) onset: Option<Dated<'de>>,
    pub(super) abatement: Option<Dated<'de>>,
    pub(super) recorded_date: Option<FhirDateTime>,
    // Encounter
    pub(super) class: Option<Coding<'de>>,
    pub(super) kind: Option<TypeElement<'de>>,
    pub(super) reason_code: Option<Vec<Concept<'de>>>,
    pub(super) reason_reference: Option<Vec<Reference<'de>>>,
    pub(super) period: Option<Period>,
    // Procedure
    pub(super) performed: Option<Dated<'de>>,
    // MedicationAdministration, MedicationStatement, MedicationRequest, Immunization
    pub(super) medication: Option<Concept<'de>>,
    pub(super) intent: Option<Str<'de>>,
    pub(super) authored_on: Option<FhirDateTime>,
    pub(super) vaccine_code: Option<Concept<'de>>,
    pub(super) occurrence: Option<Dated<'de>>,
    // Bundle
    pub(super) entry: Option<Entries>,
    pub(super) link: Option<Vec<Link<'de>>>,
}

/// A [`Resource`], read in place on the heap. A resource holds every element the engine might
/// read, so it is large (about two kilobytes), and a value that large is copied at each step
/// out of the parser (the visitor, `next_value`, the entry, the reader of its type): several
/// times per resource, about 6 % of a call's instructions. Boxed, each step moves a
/// pointer, and the reader of its type moves only the elements it takes out of the box.
pub(super) struct Boxed<'de>(pub(super) Box<Resource<'de>>);

from_object!(Boxed, "a FHIR resource", |map| {
    let mut r = Box::<Resource<'de>>::default();
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
    Ok(Boxed(r))
});
