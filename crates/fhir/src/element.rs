//! The one reading of each FHIR element the engine reads: neutral, borrowed views of the elements,
//! and one function per resource kind from those views to a [`Record`].
//!
//! Gravida has two readers of FHIR JSON. [`crate::fast`] reads the common shapes straight from the
//! request bytes; [`crate::map`] reads anything with fhir-sdk's R4B model and salvages what breaks
//! it. Both only *model*: each turns its own types into the views below and hands them to the
//! functions at the end of this module ([`observation`], [`condition`], …). Every rule lives here,
//! once (those of codes and text in [`codes`], of dates in [`dates`], of a `value[x]` in
//! [`value_x`]):
//!
//! * which text a record is searchable by (`code.text`, coding displays, notes, `valueString`,
//!   `onsetString` and `performedString`, but not `abatementString`: "bleeding stopped" is not a
//!   bleed);
//! * what each type of a choice element (`effective[x]`, `onset[x]`, `performed[x]`, …) gives,
//!   and which [`Problem`](gravida_rules::facts::Problem) is recorded when it gives no date;
//! * that a Period is dated by its start, else by its end;
//! * that a quantity with a comparator (`<5`) is kept, with a problem saying it is a bound;
//! * which coding of a status concept is taken (the one from the expected code system);
//! * that a coding's system and code are named as the value sets name them (an OID as its URI,
//!   a WHO ICD-10 O-code as ICD-10-CM, `O20.0` as `O200`: [`terminology`]);
//! * that a quantity is read in its canonical unit (IU/mL as ×1,000 m[IU]/mL, `wk` as days), and
//!   a unit that cannot be converted is a problem ([`units`]);
//! * that a value says present or absent whatever its type, and that a gestational age written
//!   as a string ("10w2d", "10+2") is a quantity in days ([`values`]).
//!
//! So a new element is read once, here, and the two readers only learn its shape. The invariant
//! test in `element/tests.rs` runs one sample per element through both readers.
//!
//! The views borrow from the JSON (a [`Text`] is borrowed when the JSON string has no escapes) or
//! from fhir-sdk's parsed resource; dates are fhir-sdk's own types, parsed by fhir-sdk in both
//! readers, so that both agree on what a valid date is.

use std::borrow::Cow;

use fhir_sdk::r4b::codes::QuantityComparator;
use fhir_sdk::{DateTime as FhirDateTime, Instant as FhirInstant};
use gravida_rules::facts::{Field, Record, RecordKind};

mod codes;
mod dates;
mod medication;
mod terminology;
mod units;
mod value_x;
mod values;

pub(crate) use codes::{code_named, problem, push_text, read_concept};
use codes::{code_of, concept_codes, read_notes, read_status_concept};
use dates::{Choice, read_dated, read_period};
use dates::{read_date_time, when_from_instant};
pub(crate) use medication::{Immunization, Medication, immunization, medication};
use value_x::{read_component, read_value};

/// A FHIR string, borrowed where it can be.
pub(crate) type Text<'a> = Cow<'a, str>;

/// A `Coding`.
#[derive(Debug, Default)]
pub(crate) struct Coding<'a> {
    pub system: Option<Text<'a>>,
    pub code: Option<Text<'a>>,
    pub display: Option<Text<'a>>,
}

/// A `CodeableConcept`.
#[derive(Debug, Default)]
pub(crate) struct Concept<'a> {
    pub text: Option<Text<'a>>,
    pub coding: Vec<Coding<'a>>,
}

/// A `Quantity` (and its comparator).
#[derive(Debug, Default)]
pub(crate) struct Quantity<'a> {
    pub value: Option<f64>,
    pub comparator: Option<QuantityComparator>,
    pub unit: Option<Text<'a>>,
    pub code: Option<Text<'a>>,
}

/// A `Period`.
#[derive(Debug, Default)]
pub(crate) struct Period {
    pub start: Option<FhirDateTime>,
    pub end: Option<FhirDateTime>,
}

/// A dated choice element (`effective[x]`, `onset[x]`, `abatement[x]`, `performed[x]`): each
/// type it may have. Timing, Age and Range are never dates, so only their presence is kept.
#[derive(Debug)]
pub(crate) enum Dated<'a> {
    DateTime(FhirDateTime),
    Period(Period),
    Instant(FhirInstant),
    Timing,
    Age,
    Range,
    String(Text<'a>),
}

/// A `value[x]` of an Observation or of one of its components.
#[derive(Debug)]
pub(crate) enum ValueX<'a> {
    Quantity(Quantity<'a>),
    Concept(Concept<'a>),
    String(Text<'a>),
    Boolean(bool),
    Integer(i32),
    DateTime(FhirDateTime),
    /// A type the engine does not read (Range, Ratio, SampledData, Time, Period).
    Other(&'static str),
}

/// An `Observation.component`.
#[derive(Debug)]
pub(crate) struct Component<'a> {
    pub code: Concept<'a>,
    pub value: Option<ValueX<'a>>,
}

/// An `Annotation` (a note): only its text is read.
#[derive(Debug)]
pub(crate) struct Annotation<'a> {
    pub text: Text<'a>,
}

/// A `Reference`: only `reference` is read.
#[derive(Debug, Default)]
pub(crate) struct Reference<'a> {
    pub reference: Option<Text<'a>>,
}

// ---------------------------------------------------------------------------------------------
// The resources, as the engine reads them
// ---------------------------------------------------------------------------------------------

/// An Observation. `status` is a valid ObservationStatus code (each reader checks it its way).
#[derive(Debug)]
pub(crate) struct Observation<'a> {
    pub id: Option<Text<'a>>,
    pub status: String,
    pub code: Concept<'a>,
    pub category: Vec<Concept<'a>>,
    pub effective: Option<Dated<'a>>,
    pub issued: Option<FhirInstant>,
    pub value: Option<ValueX<'a>>,
    pub components: Vec<Component<'a>>,
    pub notes: Vec<Annotation<'a>>,
}

#[derive(Debug)]
pub(crate) struct Condition<'a> {
    pub id: Option<Text<'a>>,
    pub code: Option<Concept<'a>>,
    pub clinical_status: Option<Concept<'a>>,
    pub verification_status: Option<Concept<'a>>,
    pub onset: Option<Dated<'a>>,
    pub abatement: Option<Dated<'a>>,
    pub recorded_date: Option<FhirDateTime>,
    pub notes: Vec<Annotation<'a>>,
}

/// A DiagnosticReport. `status` is a valid DiagnosticReportStatus code.
#[derive(Debug)]
pub(crate) struct DiagnosticReport<'a> {
    pub id: Option<Text<'a>>,
    pub status: String,
    pub code: Concept<'a>,
    pub conclusion_code: Vec<Concept<'a>>,
    pub conclusion: Option<Text<'a>>,
    pub effective: Option<Dated<'a>>,
    pub issued: Option<FhirInstant>,
}

/// An Encounter. `status` is a valid EncounterStatus code; `class` is a Coding (FHIR R4).
#[derive(Debug)]
pub(crate) struct Encounter<'a> {
    pub id: Option<Text<'a>>,
    pub status: String,
    pub class: Option<Coding<'a>>,
    pub types: Vec<Concept<'a>>,
    pub reason_code: Vec<Concept<'a>>,
    pub reason_reference: Vec<Reference<'a>>,
    pub period: Option<Period>,
}

/// A Procedure. `status` is a valid EventStatus code; `category` is one concept (FHIR R4).
#[derive(Debug)]
pub(crate) struct Procedure<'a> {
    pub id: Option<Text<'a>>,
    pub status: String,
    pub code: Option<Concept<'a>>,
    pub category: Option<Concept<'a>>,
    pub performed: Option<Dated<'a>>,
    /// `reasonCode`: read like a Condition's code (knowledge.md §3.6 item 8).
    pub reason_code: Vec<Concept<'a>>,
    pub notes: Vec<Annotation<'a>>,
}

// ---------------------------------------------------------------------------------------------
// One function per resource kind
// ---------------------------------------------------------------------------------------------

fn new_record(kind: RecordKind, id: Option<Text<'_>>) -> Record {
    Record::new(kind, id.map(Cow::into_owned).unwrap_or_default())
}

pub(crate) fn observation(observation: Observation<'_>) -> Record {
    let mut record = new_record(RecordKind::Observation, observation.id);
    read_concept(&observation.code, &mut record.codes, &mut record.text);
    record.status = Some(observation.status);
    record.category = concept_codes(&observation.category);
    record.effective = observation.effective.and_then(|effective| {
        read_dated(
            effective,
            Choice::new("effective", Field::Effective),
            &mut record.text,
            &mut record.problems,
        )
    });
    record.recorded = observation.issued.as_ref().map(when_from_instant);
    if let Some(value) = observation.value {
        record.value = read_value(
            value,
            ("value", Field::Value),
            &mut record.text,
            &mut record.problems,
        );
        record.presence = record.value.as_ref().and_then(values::presence);
    }
    record.components = observation
        .components
        .into_iter()
        .map(|component| read_component(component, &mut record.problems))
        .collect();
    read_notes(&observation.notes, &mut record.text);
    record
}

pub(crate) fn condition(condition: Condition<'_>) -> Record {
    let mut record = new_record(RecordKind::Condition, condition.id);
    if let Some(code) = &condition.code {
        read_concept(code, &mut record.codes, &mut record.text);
    }
    record.clinical_status = read_status_concept(
        condition.clinical_status.as_ref(),
        "condition-clinical",
        Field::ClinicalStatus,
        &mut record.problems,
    );
    record.verification_status = read_status_concept(
        condition.verification_status.as_ref(),
        "condition-ver-status",
        Field::VerificationStatus,
        &mut record.problems,
    );
    record.effective = condition.onset.and_then(|onset| {
        read_dated(
            onset,
            Choice::new("onset", Field::Effective),
            &mut record.text,
            &mut record.problems,
        )
    });
    record.abatement = condition.abatement.and_then(|abatement| {
        // Abated, at no readable date. An `abatementString`'s words are not added to `text`:
        // "bleeding stopped" is not a bleed.
        let choice = Choice {
            keeps_words: false,
            ..Choice::new("abatement", Field::Abatement)
        };
        read_dated(abatement, choice, &mut record.text, &mut record.problems)
    });
    record.recorded = condition.recorded_date.as_ref().and_then(|date_time| {
        read_date_time(
            date_time,
            "recordedDate",
            Field::Recorded,
            &mut record.problems,
        )
    });
    read_notes(&condition.notes, &mut record.text);
    record
}

pub(crate) fn diagnostic_report(report: DiagnosticReport<'_>) -> Record {
    let mut record = new_record(RecordKind::DiagnosticReport, report.id);
    read_concept(&report.code, &mut record.codes, &mut record.text);
    for concept in &report.conclusion_code {
        read_concept(concept, &mut record.codes, &mut record.text);
    }
    push_text(&mut record.text, report.conclusion.as_deref());
    record.status = Some(report.status);
    record.effective = report.effective.and_then(|effective| {
        read_dated(
            effective,
            Choice::new("effective", Field::Effective),
            &mut record.text,
            &mut record.problems,
        )
    });
    record.recorded = report.issued.as_ref().map(when_from_instant);
    record
}

/// An Encounter: why the patient came (`reasonCode` as codes and text, `reasonReference` as
/// references), what kind of encounter (`class`, then `type`, as categories: an emergency visit
/// is class `EMER`), its status, and when (`period.start`, else its end). knowledge.md §3.5
/// item 8: an emergency department often charts the bleed only as the encounter's reason.
pub(crate) fn encounter(encounter: Encounter<'_>) -> Record {
    let mut record = new_record(RecordKind::Encounter, encounter.id);
    for reason in &encounter.reason_code {
        read_concept(reason, &mut record.codes, &mut record.text);
    }
    record.references = encounter
        .reason_reference
        .iter()
        .filter_map(|reference| reference.reference.as_deref().map(str::to_owned))
        .collect();
    record.status = Some(encounter.status);
    if let Some(class) = &encounter.class {
        record.category.extend(code_of(class));
    }
    record.category.extend(concept_codes(&encounter.types));
    record.effective = encounter
        .period
        .as_ref()
        .and_then(|period| read_period(period, "period", Field::Effective, &mut record.problems));
    record
}

/// A Procedure: what was done (`code`) and why (`reasonCode`, among its codes and text, as an
/// Encounter's reasons are), its status and category, when (`performed[x]`: a dateTime, or a
/// Period's start; a string, Age or Range is no date), and its notes. knowledge.md §3.5 item 20:
/// an ultrasound or an anti-D dose may be charted only this way; §3.6 item 8: an evacuation
/// whose reason is a miscarriage ends the episode as the miscarriage's Condition would.
pub(crate) fn procedure(procedure: Procedure<'_>) -> Record {
    let mut record = new_record(RecordKind::Procedure, procedure.id);
    if let Some(code) = &procedure.code {
        read_concept(code, &mut record.codes, &mut record.text);
    }
    for reason in &procedure.reason_code {
        read_concept(reason, &mut record.codes, &mut record.text);
    }
    record.status = Some(procedure.status);
    if let Some(category) = &procedure.category {
        record.category = concept_codes(std::slice::from_ref(category));
    }
    record.effective = procedure.performed.and_then(|performed| {
        read_dated(
            performed,
            Choice::new("performed", Field::Effective),
            &mut record.text,
            &mut record.problems,
        )
    });
    read_notes(&procedure.notes, &mut record.text);
    record
}

/// What we keep of the Patient resource. Gender and birth date do not gate anything: a pregnancy
/// record is evidence enough, and Patient.gender is administrative, not clinical. It is made
/// here, beside `Record`, because both readers make it (`patient` below) and `map` and `fast`
/// both import this module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatientSummary {
    pub id: Option<String>,
}

/// What is kept of a Patient: its id.
pub(crate) fn patient(id: Option<Text<'_>>) -> PatientSummary {
    PatientSummary {
        id: id.map(Cow::into_owned),
    }
}

#[cfg(test)]
mod tests;
