//! The facts the engine reasons over: FHIR records reduced to what the decision table reads.
//!
//! These types are the contract between `gravida-fhir` (which maps FHIR resources into them) and
//! the engine (which classifies them with the knowledge base's value sets). They carry codes and
//! text, not meanings: deciding that a code is "bleeding" or "a dating source" is the engine's job,
//! so that a site can change its value sets without touching the mapping.
//!
//! Incomplete data is data. A field that was present in the resource but could not be read is not
//! `None`: it is recorded in [`Record::problems`], so the engine can say what it could not read
//! instead of passing the patient silently.

use std::borrow::Cow;
use std::collections::BTreeSet;

use time::{Date, OffsetDateTime, UtcOffset};

/// Everything the engine knows about one patient for one hook call.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PatientFacts {
    /// Conditions, Observations, DiagnosticReports, Encounters, Procedures and medication records
    /// (MedicationAdministration, MedicationStatement, MedicationRequest, Immunization) of the
    /// patient, in any order.
    pub records: Vec<Record>,
    /// The draft orders of an order hook (`context.draftOrders`); empty on other hooks.
    pub draft_orders: Vec<DraftOrder>,
    /// The patient's medication records (MedicationRequest, MedicationStatement), in the same
    /// shape as a draft order: type, id, codes, names, status. An anticoagulant among the
    /// current ones is named on every bleeding card (knowledge.md §3.6 item 21). The FHIR layer
    /// fills it from the MedicationRequest and MedicationStatement records it read
    /// ([`DraftOrder::from_medication_record`]); the rule picks the current ones by status.
    pub medications: Vec<DraftOrder>,
    /// Inputs that could not be obtained (prefetch failed and no FHIR server, or the fetch failed).
    /// The records that decide whether any card is warranted are never listed here: when those are
    /// missing the server answers 412 instead of evaluating.
    pub unavailable: BTreeSet<Input>,
    /// How many resources the EHR sent for this call were refused before they became records:
    /// about another patient (or no patient), or with an id that is not a FHIR id. The engine
    /// never sees them; it only says, on every card, that they were not used.
    pub refused_records: usize,
}

impl PatientFacts {
    /// Puts every time the records hold on the calendar of `offset`, the site's (the offset of
    /// the `now` the engine is given), so that the day of a bleed and today are counted on the
    /// same calendar: a bleed charted `2026-12-08T06:00:00Z` happened on 7 December at a site
    /// ten hours behind UTC, where it is still 7 December, not at 13w0d while today is 12w6d.
    /// Dates written without a time stay as written.
    pub fn on_calendar(&mut self, offset: UtcOffset) {
        for record in &mut self.records {
            for when in [
                &mut record.effective,
                &mut record.abatement,
                &mut record.recorded,
            ]
            .into_iter()
            .flatten()
            {
                *when = when.on_calendar(offset);
            }
            if let Some(Value::DateTime(when)) = &mut record.value {
                *when = when.on_calendar(offset);
            }
        }
    }
}

/// A group of records that is searched for separately, and can therefore be missing on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Input {
    /// Quantitative serum hCG results.
    Hcg,
    /// ABO/Rh typing results.
    RhType,
    /// Ultrasound reports and findings.
    Ultrasound,
    /// Encounters (their reasons can be the only bleeding record: knowledge.md §3.5 item 8).
    Encounters,
    /// Procedures (an ultrasound, hCG test, Rh typing or anti-D charted as done: §3.5 item 20).
    Procedures,
    /// Vital signs: blood pressure and heart rate (R2E, §3.5 item 12).
    VitalSigns,
    /// Medication records: anti-D given (MedicationAdministration, MedicationStatement,
    /// Immunization) and current anticoagulants (MedicationRequest, MedicationStatement;
    /// knowledge.md §3.6 items 10 and 21).
    Medications,
}

/// Which kind of FHIR resource a record came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordKind {
    Condition,
    Observation,
    DiagnosticReport,
    /// An Encounter: its `reasonCode` and `reasonReference` say why the patient came
    /// (knowledge.md §3.5 item 8: an emergency department charts the chief complaint this way).
    Encounter,
    /// A Procedure: an ultrasound, hCG test, Rh typing or anti-D given, charted as done
    /// (knowledge.md §3.5 item 20). Its `reasonCode` is read into its codes, like a Condition's
    /// code (§3.6 item 8: an evacuation for a miscarriage ends the pregnancy episode).
    Procedure,
    /// A MedicationAdministration: a dose given (or, `not-done`, not given). Anti-D given is read
    /// from it (knowledge.md §3.6 item 10).
    MedicationAdministration,
    /// A MedicationStatement: a medication the patient takes or took (`active`, `completed`),
    /// or does not (`not-taken`, `intended`). Anti-D given, and a current anticoagulant (§3.6
    /// items 10, 21).
    MedicationStatement,
    /// A MedicationRequest in the chart (not a draft order): a current one (`active`) may be an
    /// anticoagulant (§3.6 item 21). An order is never a dose given.
    MedicationRequest,
    /// An Immunization: anti-D is charted as one in some EHRs (§3.6 item 10).
    Immunization,
}

impl RecordKind {
    /// The FHIR resource type.
    pub fn resource_type(self) -> &'static str {
        match self {
            RecordKind::Condition => "Condition",
            RecordKind::Observation => "Observation",
            RecordKind::DiagnosticReport => "DiagnosticReport",
            RecordKind::Encounter => "Encounter",
            RecordKind::Procedure => "Procedure",
            RecordKind::MedicationAdministration => "MedicationAdministration",
            RecordKind::MedicationStatement => "MedicationStatement",
            RecordKind::MedicationRequest => "MedicationRequest",
            RecordKind::Immunization => "Immunization",
        }
    }

    /// A medication record (MedicationAdministration, MedicationStatement, MedicationRequest,
    /// Immunization): it says what was given or taken, never what was found, so its words are
    /// never a bleed, a dating source or the end of a pregnancy.
    pub fn is_medication(self) -> bool {
        matches!(
            self,
            RecordKind::MedicationAdministration
                | RecordKind::MedicationStatement
                | RecordKind::MedicationRequest
                | RecordKind::Immunization
        )
    }

    /// The record kind of a FHIR resource type, if the engine reads that type.
    pub fn from_resource_type(resource_type: &str) -> Option<Self> {
        Some(match resource_type {
            "Condition" => RecordKind::Condition,
            "Observation" => RecordKind::Observation,
            "DiagnosticReport" => RecordKind::DiagnosticReport,
            "Encounter" => RecordKind::Encounter,
            "Procedure" => RecordKind::Procedure,
            "MedicationAdministration" => RecordKind::MedicationAdministration,
            "MedicationStatement" => RecordKind::MedicationStatement,
            "MedicationRequest" => RecordKind::MedicationRequest,
            "Immunization" => RecordKind::Immunization,
            _ => return None,
        })
    }
}

/// A code from a `CodeableConcept.coding`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Code {
    /// The code system URI, e.g. `http://loinc.org`. Empty when the coding had none. Borrowed
    /// for the systems the value sets name (a chart's codings are nearly all in a few systems:
    /// no allocation each), owned for any other.
    pub system: Cow<'static, str>,
    pub code: String,
    pub display: Option<String>,
}

impl Code {
    pub fn new(system: impl Into<Cow<'static, str>>, code: impl Into<String>) -> Self {
        Code {
            system: system.into(),
            code: code.into(),
            display: None,
        }
    }
}

/// How precise a FHIR date or dateTime was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Precision {
    /// `2025` only.
    Year,
    /// `2025-03` only.
    Month,
    /// `2025-03-14`.
    Day,
    /// A full dateTime or instant with a time of day.
    Time,
}

/// A point in time read from a FHIR `date`, `dateTime`, `instant` or the start of a `Period`.
///
/// Dates without a time are placed at 00:00 UTC; partial dates at the first day of their year or
/// month, with `precision` saying so.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct When {
    pub at: OffsetDateTime,
    pub precision: Precision,
}

impl When {
    /// A whole day, at 00:00 UTC.
    pub fn day(date: Date) -> Self {
        When {
            at: date.midnight().assume_utc(),
            precision: Precision::Day,
        }
    }

    /// The calendar date in the offset `at` carries: as written, until
    /// [`PatientFacts::on_calendar`] moves it to the site's.
    pub fn date(&self) -> Date {
        self.at.date()
    }

    /// The same time on the calendar of `offset`. A date written without a time (a day, a month,
    /// a year) has no time zone and stays the day it names; a time is the same instant, whose
    /// calendar day is the one at `offset`.
    pub fn on_calendar(self, offset: UtcOffset) -> When {
        match self.precision {
            Precision::Time => When {
                at: self.at.to_offset(offset),
                precision: self.precision,
            },
            Precision::Year | Precision::Month | Precision::Day => self,
        }
    }
}

/// A FHIR `value[x]`, reduced to the shapes the engine reads.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Quantity {
        value: f64,
        /// `Quantity.unit` (human readable).
        unit: Option<String>,
        /// `Quantity.code` (UCUM when `Quantity.system` is UCUM).
        code: Option<String>,
        /// `Quantity.comparator` (`<`, `<=`, `>=`, `>`): the value is a bound ("<5"), not a
        /// measurement. Shown as written, never used as a number (knowledge.md §3.5 item 5).
        comparator: Option<String>,
    },
    Concept {
        codes: Vec<Code>,
        text: Option<String>,
    },
    DateTime(When),
    String(String),
    Boolean(bool),
    Integer(i64),
    /// A `value[x]` type the engine does not read (Range, Ratio, SampledData, Period, …).
    Other(&'static str),
}

/// An `Observation.value[x]` read as whether the finding is there (knowledge.md §3.6 item 5):
/// `valueBoolean`, a presence or absence answer code ("Present" LA9633-4, "Absent" 2667000), or
/// the word as the whole of a `valueString` or a concept's text ("seen", "not detected").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Presence {
    Present,
    Absent,
}

/// Which part of a resource could not be read. The engine names it in diagnostics and cards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    Code,
    Status,
    ClinicalStatus,
    VerificationStatus,
    /// `Observation.effective[x]`, `Condition.onset[x]`, `DiagnosticReport.effective[x]`.
    Effective,
    Abatement,
    Recorded,
    /// `Observation.value[x]`.
    Value,
    /// An `Observation.component` (its code or its value).
    Component,
    /// `Observation.category`, `Encounter.class`/`type`, `Procedure.category`.
    Category,
    /// `Encounter.reasonReference`.
    Reference,
}

/// A field that was present in the resource but could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub field: Field,
    /// What was wrong, without patient data (e.g. "effectiveDateTime is not a FHIR dateTime").
    pub message: String,
}

/// One `Observation.component`: a code and a value inside an Observation (the systolic pressure
/// of a blood-pressure panel; the gestational age inside a pregnancy-status Observation, as the
/// US eCR profile sends it).
#[derive(Debug, Clone, PartialEq)]
pub struct Component {
    /// `component.code.coding`.
    pub codes: Vec<Code>,
    /// `component.code.text` and coding displays.
    pub text: Vec<String>,
    /// `component.value[x]`.
    pub value: Option<Value>,
}

/// One Condition, Observation, DiagnosticReport, Encounter or Procedure.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub kind: RecordKind,
    /// The resource id, used to point at the evidence in a card.
    pub id: String,
    /// `code.coding` (Condition, Observation, Procedure), `code.coding` + `conclusionCode`
    /// (DiagnosticReport), or `reasonCode.coding` (Encounter).
    pub codes: Vec<Code>,
    /// Free text that may name what the record is: `code.text`, coding displays, `note[].text`,
    /// `valueString`, `DiagnosticReport.conclusion`. The engine searches it for bleeding words.
    pub text: Vec<String>,
    /// `Observation.status` / `DiagnosticReport.status` / `Encounter.status` / `Procedure.status`.
    pub status: Option<String>,
    /// `Observation.category`, `Procedure.category`, or `Encounter.class` and `Encounter.type`
    /// (an emergency encounter is class `EMER`).
    pub category: Vec<Code>,
    /// `Condition.clinicalStatus` code (condition-clinical).
    pub clinical_status: Option<String>,
    /// `Condition.verificationStatus` code (condition-ver-status).
    pub verification_status: Option<String>,
    /// `Condition.onset[x]`, `Observation.effective[x]` / `DiagnosticReport.effective[x]`,
    /// `Encounter.period.start`, `Procedure.performed[x]`.
    pub effective: Option<When>,
    /// `Condition.abatement[x]`.
    pub abatement: Option<When>,
    /// `Condition.recordedDate` or `Observation.issued` / `DiagnosticReport.issued`.
    pub recorded: Option<When>,
    /// `Observation.value[x]`.
    pub value: Option<Value>,
    /// `Observation.value[x]` read as present or absent, whatever its type (`None` when it
    /// says neither).
    pub presence: Option<Presence>,
    /// `Observation.component`, in order.
    pub components: Vec<Component>,
    /// `Encounter.reasonReference[].reference` ("Condition/abc"), as written.
    pub references: Vec<String>,
    /// Fields present in the resource that could not be read.
    pub problems: Vec<Problem>,
    /// The resource carries a `modifierExtension` the reader does not understand: FHIR forbids
    /// reading it as if the extension were absent, so it is never a fact. It is kept only so that
    /// the card can name it when it would have mattered (knowledge.md §3.6 item 13).
    pub not_interpreted: bool,
}

impl Record {
    /// An empty record of the given kind and id, to be filled in field by field.
    pub fn new(kind: RecordKind, id: impl Into<String>) -> Self {
        Record {
            kind,
            id: id.into(),
            codes: Vec::new(),
            text: Vec::new(),
            status: None,
            category: Vec::new(),
            clinical_status: None,
            verification_status: None,
            effective: None,
            abatement: None,
            recorded: None,
            value: None,
            presence: None,
            components: Vec::new(),
            references: Vec::new(),
            problems: Vec::new(),
            not_interpreted: false,
        }
    }
}

/// A draft order from `context.draftOrders` (MedicationRequest, ServiceRequest, …).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DraftOrder {
    /// `MedicationRequest`, `ServiceRequest`, ….
    pub resource_type: String,
    pub id: String,
    /// `medicationCodeableConcept.coding` or `code.coding`.
    pub codes: Vec<Code>,
    /// `medicationCodeableConcept.text`, coding displays, `medicationReference.display`, `code.text`.
    pub text: Vec<String>,
    pub status: Option<String>,
    /// Why and how it is ordered, as written: `reasonCode` texts and displays, and
    /// `dosageInstruction` texts (knowledge.md §3.6 W10 reads a weekly methotrexate schedule or a
    /// rheumatological indication from them).
    pub reasons: Vec<String>,
    /// The codes of `reasonCode`, code systems normalised (an ICD-10-CM code sent under its OID,
    /// `O021` for `O02.1`): a reason given only as a code is still a reason (knowledge.md §3.6
    /// items 6 and 14).
    pub reason_codes: Vec<Code>,
    /// `reasonReference` references ("Condition/123"): the engine reads the chart's record of
    /// that reason as it reads the order's own reason.
    pub reason_references: Vec<String>,
}

impl DraftOrder {
    /// A draft that may still be given: not cancelled, withdrawn, completed or in error. Every
    /// guard over draft orders (R6, R16, anti-D ordered) reads the status this way.
    pub fn is_live(&self) -> bool {
        !matches!(
            self.status.as_deref(),
            Some("cancelled" | "entered-in-error" | "revoked" | "completed" | "stopped")
        )
    }

    /// A MedicationRequest or MedicationStatement record of the chart in the shape of a draft
    /// order, for the rules that read medications (knowledge.md §3.6 item 21); `None` for any
    /// other record. Its reasons are not kept apart in a record: they are among its text.
    pub fn from_medication_record(record: &Record) -> Option<DraftOrder> {
        matches!(
            record.kind,
            RecordKind::MedicationRequest | RecordKind::MedicationStatement
        )
        .then(|| DraftOrder {
            resource_type: record.kind.resource_type().to_owned(),
            id: record.id.clone(),
            codes: record.codes.clone(),
            text: record.text.clone(),
            status: record.status.clone(),
            ..DraftOrder::default()
        })
    }
}
