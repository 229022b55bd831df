//! The rules of codes and text: a coding as a code named as the value sets name it, a
//! concept's codes and searchable text, a status concept's code, and the two helpers every
//! element rule shares (a [`Problem`] on the record, text added once).

use gravida_rules::facts::{Code, Field, Problem};

use super::terminology;
use super::{Annotation, Coding, Concept};

/// Adds a concept's codings to `codes` and its text and coding displays to `text`.
pub(crate) fn read_concept(concept: &Concept<'_>, codes: &mut Vec<Code>, text: &mut Vec<String>) {
    push_text(text, concept.text.as_deref());
    for coding in &concept.coding {
        push_text(text, coding.display.as_deref());
        codes.extend(code_of(coding));
    }
}

/// A coding as a code, if it has one, its system and code named as the value sets name them
/// (an OID as its URI, `O20.0` as `O200`: see [`terminology`]).
pub(super) fn code_of(coding: &Coding<'_>) -> Option<Code> {
    let code = coding.code.as_deref()?;
    let (system, code) = terminology::normalise(coding.system.as_deref().unwrap_or_default(), code);
    Some(Code {
        system: terminology::system_text(system),
        code: code.into_owned(),
        display: coding.display.as_deref().map(str::to_owned),
    })
}

/// A code as the value sets name it, from a coding's system and code as written: for an element
/// read straight from JSON (a draft order's `reasonCode`), through the same normalisation as
/// [`code_of`].
pub(crate) fn code_named(system: &str, code: &str, display: Option<&str>) -> Code {
    let (system, code) = terminology::normalise(system, code);
    Code {
        system: terminology::system_text(system),
        code: code.into_owned(),
        display: display.map(str::to_owned),
    }
}

/// The codes of categories. Their text is not searchable: a category ("Vital Signs",
/// "Emergency") says what kind of record it is, not what it found.
pub(super) fn concept_codes(concepts: &[Concept<'_>]) -> Vec<Code> {
    concepts
        .iter()
        .flat_map(|concept| concept.coding.iter().filter_map(code_of))
        .collect()
}

pub(super) fn read_notes(notes: &[Annotation<'_>], text: &mut Vec<String>) {
    for note in notes {
        push_text(text, Some(&note.text));
    }
}

/// The code of a status CodeableConcept, preferring the coding from the expected code system.
pub(super) fn read_status_concept(
    concept: Option<&Concept<'_>>,
    system_suffix: &str,
    field: Field,
    problems: &mut Vec<Problem>,
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

pub(crate) fn problem(problems: &mut Vec<Problem>, field: Field, message: &str) {
    problems.push(Problem {
        field,
        message: message.to_owned(),
    });
}

/// Adds non-empty text once.
pub(crate) fn push_text(text: &mut Vec<String>, value: Option<&str>) {
    if let Some(value) = value.map(str::trim).filter(|value| !value.is_empty())
        && !text.iter().any(|existing| existing == value)
    {
        text.push(value.to_owned());
    }
}
