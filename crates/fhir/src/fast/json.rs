//! The subset of FHIR JSON the fast reader models: strings borrowed from the body, the
//! elements the engine reads (each in the one shape it has), and the rules every object is read
//! by (a repeated key, `null` or an unmodelled element declines).

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use fhir_sdk::r4b::codes::QuantityComparator;
use fhir_sdk::{Date as FhirDate, DateTime as FhirDateTime, Instant as FhirInstant};
use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::element::{
    Annotation, Coding, Component, Concept, Period, Quantity, Reference, Text, ValueX,
};

/// A JSON string, borrowed from the body when it has no escapes.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Str<'de>(pub(super) Cow<'de, str>);

impl<'de> Str<'de> {
    pub(super) fn into_owned(self) -> String {
        self.0.into_owned()
    }

    pub(super) fn text(self) -> Text<'de> {
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
pub(super) fn once<T, E: de::Error>(slot: &mut Option<T>, value: T) -> Result<(), E> {
    if slot.is_some() {
        return Err(E::custom("repeated element"));
    }
    *slot = Some(value);
    Ok(())
}

/// An element the engine does not read, inside an element it does (a Coding, a Period, …):
/// skipped, unless it could change or hide meaning.
pub(super) fn unread_in_element<'de, A: MapAccess<'de>>(
    key: &str,
    map: &mut A,
) -> Result<(), A::Error> {
    if key == "id" || key == "extension" || key.starts_with('_') || key == "modifierExtension" {
        return Err(de::Error::custom("extension or id in a read element"));
    }
    map.next_value::<Scan>().map(drop)
}

/// Reads an object field by field with `field`, which must consume each value.
pub(super) fn object<'de, A, F>(mut map: A, mut field: F) -> Result<(), A::Error>
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
pub(super) use from_object;

/// Skips a value the engine does not read, declining a `modifierExtension` anywhere in it
/// (except inside `contained` resources, which are not read; the reference reader does the same).
pub(super) struct Scan;

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

/// A FHIR `dateTime`: a plain day at once, anything else by fhir-sdk's parser.
pub(super) fn date_time<'de, A: MapAccess<'de>>(map: &mut A) -> Result<FhirDateTime, A::Error> {
    let text = map.next_value::<Str<'de>>()?;
    if let Some(day) = plain_day(&text) {
        return Ok(FhirDateTime::Date(FhirDate::Date(day)));
    }
    FhirDateTime::from_str(&text).map_err(|_| de::Error::custom("unreadable dateTime"))
}

/// `YYYY-MM-DD`, the shape most dates in a chart have, read without the general parser, which
/// splits the text and walks a format description for every date (a tenth of reading a whole
/// record). Anything else, an impossible day included ("2026-02-30"), is `None` and goes to
/// fhir-sdk's parser, which reads the same day from this shape and gives the error for the rest.
pub(super) fn plain_day(text: &str) -> Option<time::Date> {
    let b = text.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let number = |digits: &[u8]| {
        digits.iter().try_fold(0u16, |n, &d| {
            d.is_ascii_digit().then(|| n * 10 + u16::from(d - b'0'))
        })
    };
    let year = i32::from(number(&b[0..4])?);
    let month = time::Month::try_from(u8::try_from(number(&b[5..7])?).ok()?).ok()?;
    let day = u8::try_from(number(&b[8..10])?).ok()?;
    time::Date::from_calendar_date(year, month, day).ok()
}

/// A FHIR `instant`, read by fhir-sdk's parser.
pub(super) fn instant<'de, A: MapAccess<'de>>(map: &mut A) -> Result<FhirInstant, A::Error> {
    let text = map.next_value::<Str<'de>>()?;
    FhirInstant::from_str(&text).map_err(|_| de::Error::custom("unreadable instant"))
}

/// A JSON string as an element's text.
pub(super) fn text<'de, A: MapAccess<'de>>(map: &mut A) -> Result<Text<'de>, A::Error> {
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
pub(super) struct FastPeriod(Period);

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

pub(super) fn period<'de, A: MapAccess<'de>>(map: &mut A) -> Result<Period, A::Error> {
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
pub(super) fn value_x<'de, A: MapAccess<'de>>(
    key: &str,
    map: &mut A,
) -> Result<ValueX<'de>, A::Error> {
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
pub(super) enum OneOrMany<'de> {
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
pub(super) enum TypeElement<'de> {
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

/// True for `valueQuantity` given `value`: the prefix followed by a type name (capitalised).
pub(super) fn is_choice_of(key: &str, prefix: &str) -> bool {
    key.strip_prefix(prefix)
        .and_then(|rest| rest.chars().next())
        .is_some_and(char::is_uppercase)
}
