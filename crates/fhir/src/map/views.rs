//! fhir-sdk's elements (Coding, CodeableConcept, Period, Quantity, Annotation, `value[x]`) as
//! the borrowed element views of [`crate::element`]: borrowed, so no text is copied on the way.

use std::borrow::Cow;

use fhir_sdk::r4b::resources::{ObservationComponentValue, ObservationValue};
use fhir_sdk::r4b::types::{Annotation, CodeableConcept, Coding, Period, Quantity};
use gravida_rules::facts::Code;

use crate::element::{self, Text, ValueX};

pub(super) fn borrowed(text: &Option<String>) -> Option<Text<'_>> {
    text.as_deref().map(Cow::Borrowed)
}

pub(super) fn coding(coding: &Coding) -> element::Coding<'_> {
    element::Coding {
        system: borrowed(&coding.system),
        code: borrowed(&coding.code),
        display: borrowed(&coding.display),
    }
}

pub(super) fn concept(concept: &CodeableConcept) -> element::Concept<'_> {
    element::Concept {
        text: borrowed(&concept.text),
        coding: concept.coding.iter().flatten().map(coding).collect(),
    }
}

pub(super) fn concepts(concepts: &[Option<CodeableConcept>]) -> Vec<element::Concept<'_>> {
    concepts.iter().flatten().map(concept).collect()
}

pub(super) fn period(period: &Period) -> element::Period {
    element::Period {
        start: period.start.clone(),
        end: period.end.clone(),
    }
}

fn quantity(quantity: &Quantity) -> element::Quantity<'_> {
    element::Quantity {
        value: quantity.value,
        comparator: quantity.comparator,
        unit: borrowed(&quantity.unit),
        code: borrowed(&quantity.code),
    }
}

pub(super) fn notes(notes: &[Option<Annotation>]) -> Vec<element::Annotation<'_>> {
    notes
        .iter()
        .flatten()
        .map(|note| element::Annotation {
            text: Cow::Borrowed(&note.text),
        })
        .collect()
}

/// A `value[x]` as its view. fhir-sdk has one enum per element (the Observation's, a
/// component's) with the same variants, hence a macro rather than a function.
macro_rules! value_x {
    ($value:expr, $enum:ident) => {
        match $value {
            $enum::Quantity(q) => ValueX::Quantity(quantity(q)),
            $enum::CodeableConcept(c) => ValueX::Concept(concept(c)),
            $enum::String(string) => ValueX::String(Cow::Borrowed(string)),
            $enum::Boolean(boolean) => ValueX::Boolean(*boolean),
            $enum::Integer(integer) => ValueX::Integer(*integer),
            $enum::DateTime(date_time) => ValueX::DateTime(date_time.clone()),
            $enum::Range(_) => ValueX::Other("Range"),
            $enum::Ratio(_) => ValueX::Other("Ratio"),
            $enum::SampledData(_) => ValueX::Other("SampledData"),
            $enum::Time(_) => ValueX::Other("Time"),
            $enum::Period(_) => ValueX::Other("Period"),
        }
    };
}

pub(super) fn observation_value(value: &ObservationValue) -> ValueX<'_> {
    value_x!(value, ObservationValue)
}

pub(super) fn component_value(value: &ObservationComponentValue) -> ValueX<'_> {
    value_x!(value, ObservationComponentValue)
}

/// Adds a concept's codings and text (for draft orders).
pub(super) fn read_concept(
    concept_: &CodeableConcept,
    codes: &mut Vec<Code>,
    text: &mut Vec<String>,
) {
    element::read_concept(&concept(concept_), codes, text);
}
