//! The one reading of each FHIR element the engine reads: neutral, borrowed views of the elements,
//! and one function per resource kind from those views to a [`Record`].
//!
//! Gravida has two readers of FHIR JSON. [`crate::fast`] reads the common shapes straight from the
//! request bytes; [`crate::map`] reads anything with fhir-sdk's R4B model and salvages what breaks
//! it. Both only *model*: each turns its own types into the views below and hands them to the
//! functions at the end of this module ([`observation`], [`condition`], …). Every rule lives here,
//! once:
//!
//! * which text a record is searchable by (`code.text`, coding displays, notes, `valueString`,
//!   `onsetString` and `performedString`, but not `abatementString`: "bleeding stopped" is not a
//!   bleed);
//! * what each type of a choice element (`effective[x]`, `onset[x]`, `performed[x]`, …) gives,
//!   and which [`Problem`] is recorded when it gives no date;
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
use std::fmt;

use fhir_sdk::r4b::codes::QuantityComparator;
use fhir_sdk::{Date as FhirDate, DateTime as FhirDateTime, Instant as FhirInstant};
use gravida_rules::facts::{
    self, Code, Field, Precision, Problem, Record, RecordKind, Value, When,
};
use time::Month;

mod medication;
mod terminology;
mod units;
mod values;

pub(crate) use medication::{Immunization, Medication, immunization, medication};

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

// ---------------------------------------------------------------------------------------------
// The rules of each element
// ---------------------------------------------------------------------------------------------

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
fn code_of(coding: &Coding<'_>) -> Option<Code> {
    let code = coding.code.as_deref()?;
    let (system, code) = terminology::normalise(coding.system.as_deref().unwrap_or_default(), code);
    Some(Code {
        system: system.to_owned(),
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
        system: system.to_owned(),
        code: code.into_owned(),
        display: display.map(str::to_owned),
    }
}

/// The codes of categories. Their text is not searchable: a category ("Vital Signs",
/// "Emergency") says what kind of record it is, not what it found.
fn concept_codes(concepts: &[Concept<'_>]) -> Vec<Code> {
    concepts
        .iter()
        .flat_map(|concept| concept.coding.iter().filter_map(code_of))
        .collect()
}

fn read_notes(notes: &[Annotation<'_>], text: &mut Vec<String>) {
    for note in notes {
        push_text(text, Some(&note.text));
    }
}

/// The code of a status CodeableConcept, preferring the coding from the expected code system.
fn read_status_concept(
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

/// How one dated choice element is read: its name (`onset` for `onsetDateTime`, …), the record
/// field it feeds, and whether a string's words are kept as searchable text.
#[derive(Debug, Clone, Copy)]
struct Choice {
    prefix: &'static str,
    field: Field,
    keeps_words: bool,
}

impl Choice {
    fn new(prefix: &'static str, field: Field) -> Self {
        Choice {
            prefix,
            field,
            keeps_words: true,
        }
    }
}

/// A dated choice element as a date: a dateTime or instant as itself, a Period by its start
/// (else its end). A Timing, Age, Range or string is no date: each is a problem, so the engine
/// can say the record could not be placed in time. A string is valid FHIR and may name the
/// problem, so its words are kept unless the element says otherwise.
fn read_dated(
    dated: Dated<'_>,
    choice: Choice,
    text: &mut Vec<String>,
    problems: &mut Vec<Problem>,
) -> Option<When> {
    let Choice {
        prefix,
        field,
        keeps_words,
    } = choice;
    let not_a_date = |problems: &mut Vec<Problem>, type_name: &str, what: &str| {
        problem(problems, field, &format!("{prefix}{type_name} is {what}"));
        None
    };
    match dated {
        Dated::DateTime(date_time) => {
            read_date_time(&date_time, Named(prefix, "DateTime"), field, problems)
        }
        Dated::Period(period) => read_period(&period, Named(prefix, "Period"), field, problems),
        Dated::Instant(instant) => Some(when_from_instant(&instant)),
        Dated::Timing => not_a_date(problems, "Timing", "a schedule, not a date"),
        Dated::Age => not_a_date(problems, "Age", "an age, not a date"),
        Dated::Range => not_a_date(problems, "Range", "an age range, not a date"),
        Dated::String(words) => {
            if keeps_words {
                push_text(text, Some(&words));
            }
            not_a_date(problems, "String", "free text, not a date")
        }
    }
}

/// A Period's start (or its end when it has no start).
fn read_period(
    period: &Period,
    name: impl fmt::Display,
    field: Field,
    problems: &mut Vec<Problem>,
) -> Option<When> {
    let Some(date_time) = period.start.as_ref().or(period.end.as_ref()) else {
        problem(
            problems,
            field,
            &format!("{name} has neither start nor end"),
        );
        return None;
    };
    read_date_time(date_time, name, field, problems)
}

/// A `value[x]`: `(prefix, field)` name the element (`value`, or `component[2].value`) and the
/// field its problems are about; a string's words go to `text`.
fn read_value(
    value: ValueX<'_>,
    (prefix, field): (&str, Field),
    text: &mut Vec<String>,
    problems: &mut Vec<Problem>,
) -> Option<Value> {
    Some(match value {
        ValueX::Quantity(quantity) => {
            let Some(number) = quantity.value else {
                problem(problems, field, &format!("{prefix}Quantity has no value"));
                return None;
            };
            // `<5` or `>10000` is a bound, not a measurement: the number is kept with its
            // comparator, and the engine is told it is not exact (knowledge.md §3.5 item 5).
            if let Some(comparator) = &quantity.comparator {
                problem(
                    problems,
                    field,
                    &format!("{prefix}Quantity is a bound ({comparator}), not an exact value"),
                );
            }
            let (value, unit, code) = read_quantity_unit(
                number,
                quantity.comparator.is_some(),
                quantity.unit,
                quantity.code,
            )
            .unwrap_or_else(|(unit, code)| {
                problem(
                    problems,
                    field,
                    &format!("{prefix}Quantity has a unit that cannot be converted"),
                );
                (number, unit, code)
            });
            Value::Quantity {
                value,
                unit,
                code,
                comparator: quantity.comparator.map(|c| c.to_string()),
            }
        }
        ValueX::Concept(concept) => {
            let mut codes = Vec::new();
            let mut ignored = Vec::new();
            read_concept(&concept, &mut codes, &mut ignored);
            Value::Concept {
                codes,
                text: concept.text.map(Cow::into_owned),
            }
        }
        ValueX::String(string) => {
            push_text(text, Some(&string));
            // "10 weeks 2 days" is a gestational age: read as the quantity it is, in days (its
            // words stay searchable in `text`).
            match values::gestational_age_days(&string) {
                Some(days) => Value::Quantity {
                    value: days as f64,
                    unit: Some("d".to_owned()),
                    code: Some("d".to_owned()),
                    comparator: None,
                },
                None => Value::String(string.into_owned()),
            }
        }
        ValueX::Boolean(boolean) => Value::Boolean(boolean),
        ValueX::Integer(integer) => Value::Integer(i64::from(integer)),
        ValueX::DateTime(date_time) => Value::DateTime(read_date_time(
            &date_time,
            Named(prefix, "DateTime"),
            field,
            problems,
        )?),
        ValueX::Other(type_name) => Value::Other(type_name),
    })
}

/// A quantity in its canonical unit (knowledge.md §3.6 item 3; see [`units`]): the value scaled
/// and the UCUM code made canonical, the written `unit` kept when the number did not change. A
/// bound (`<0.005 IU/mL`) is shown as written and never compared, so it is kept as written. A
/// unit that cannot be converted gives back the unit and code as written (`Err`), for a problem.
#[allow(clippy::type_complexity)]
fn read_quantity_unit(
    value: f64,
    bound: bool,
    unit: Option<Text<'_>>,
    code: Option<Text<'_>>,
) -> Result<(f64, Option<String>, Option<String>), (Option<String>, Option<String>)> {
    let written = code
        .as_deref()
        .or(unit.as_deref())
        .map(str::trim)
        .filter(|written| !written.is_empty());
    let as_written = |unit: Option<Text<'_>>, code: Option<Text<'_>>| {
        (unit.map(Cow::into_owned), code.map(Cow::into_owned))
    };
    let Some(written) = written.filter(|_| !bound) else {
        let (unit, code) = as_written(unit, code);
        return Ok((value, unit, code));
    };
    match units::read(written) {
        units::Unit::Convertible { factor, canonical } => {
            let canonical_code = Some(canonical.to_owned());
            if factor == 1.0 {
                let unit = unit.map(Cow::into_owned);
                let code = if code.as_deref() == Some(canonical) {
                    code.map(Cow::into_owned)
                } else {
                    canonical_code
                };
                Ok((value, unit, code))
            } else {
                Ok((value * factor, Some(canonical.to_owned()), canonical_code))
            }
        }
        units::Unit::Known => {
            let (unit, code) = as_written(unit, code);
            Ok((value, unit, code))
        }
        units::Unit::Unknown => Err(as_written(unit, code)),
    }
}

/// An `Observation.component`: its code as codes and text, its value by the rules of
/// `Observation.value[x]` (a string's words go to the component's text). Problems are the
/// record's, about [`Field::Component`].
fn read_component(component: Component<'_>, problems: &mut Vec<Problem>) -> facts::Component {
    let mut read = facts::Component {
        codes: Vec::new(),
        text: Vec::new(),
        value: None,
    };
    read_concept(&component.code, &mut read.codes, &mut read.text);
    if let Some(value) = component.value {
        read.value = read_value(
            value,
            ("component.value", Field::Component),
            &mut read.text,
            problems,
        );
    }
    read
}

/// An element's name made of a choice prefix and a type (`onset` + `DateTime`), written only
/// when a problem needs it.
#[derive(Debug, Clone, Copy)]
struct Named<'a>(&'a str, &'static str);

impl fmt::Display for Named<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.0, self.1)
    }
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

/// A dateTime as a `When`, or a problem naming the element when it is out of range.
pub(crate) fn read_date_time(
    date_time: &FhirDateTime,
    name: impl fmt::Display,
    field: Field,
    problems: &mut Vec<Problem>,
) -> Option<When> {
    let when = when_from_date_time(date_time);
    if when.is_none() {
        problem(problems, field, &format!("{name} is out of range"));
    }
    when
}

/// A FHIR date or dateTime as a `When`: partial dates keep their precision; a time keeps the
/// offset it was written with (see [`when_from_instant`]).
pub(crate) fn when_from_date_time(date_time: &FhirDateTime) -> Option<When> {
    match date_time {
        FhirDateTime::Date(date) => when_from_date(date),
        FhirDateTime::DateTime(instant) => Some(when_from_instant(instant)),
    }
}

fn when_from_date(date: &FhirDate) -> Option<When> {
    let (day, precision) = match date {
        FhirDate::Year(year) => (
            time::Date::from_calendar_date(*year, Month::January, 1).ok()?,
            Precision::Year,
        ),
        FhirDate::YearMonth(year, month) => (
            time::Date::from_calendar_date(*year, *month, 1).ok()?,
            Precision::Month,
        ),
        FhirDate::Date(date) => (*date, Precision::Day),
    };
    Some(When {
        at: day.midnight().assume_utc(),
        precision,
    })
}

/// A time as a `When`, in the offset the record was written with. Gestational age is counted on
/// calendar dates as the record states them (knowledge.md §3.5 item 3): a bleed charted at
/// `2025-06-15T00:30:00+02:00` happened on 15 June, although it was still 14 June in UTC. The
/// instant is unchanged, so intervals between times (hCG 48 hours apart) are still exact.
pub(crate) fn when_from_instant(instant: &FhirInstant) -> When {
    When {
        at: instant.0,
        precision: Precision::Time,
    }
}

#[cfg(test)]
mod tests;
