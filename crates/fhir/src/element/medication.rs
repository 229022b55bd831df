//! The medication records the engine reads (knowledge.md §3.6 items 10 and 21): what was given
//! (MedicationAdministration, Immunization), what the patient takes or took
//! (MedicationStatement) and what is prescribed (MedicationRequest), each from its view to a
//! [`Record`] by the same element rules as every other record.
//!
//! The drug is `medication[x]`: a CodeableConcept, or a Reference to a Medication. A reader
//! resolves a reference it can (a contained Medication, or one in the same Bundle) and hands the
//! Medication's `code` here as the concept, with the reference's `display`; a reference it
//! cannot resolve gives its `display` alone. Why it was given (`reasonCode`) and the notes are
//! searchable text, as an Encounter's reasons are: the engine reads a medication record's words
//! only for the drug's name (anti-D given), never as a finding.

use fhir_sdk::DateTime as FhirDateTime;
use gravida_rules::facts::{Field, Record, RecordKind};

use super::codes::{push_text, read_concept, read_notes};
use super::dates::{Choice, read_date_time, read_dated};
use super::{Annotation, Concept, Dated, Text, new_record};

/// A MedicationAdministration, MedicationStatement or MedicationRequest. `status` is the
/// resource's status code as written.
#[derive(Debug)]
pub(crate) struct Medication<'a> {
    pub kind: RecordKind,
    pub id: Option<Text<'a>>,
    pub status: String,
    /// `medicationCodeableConcept`, or the `code` of the Medication `medicationReference` names.
    pub medication: Option<Concept<'a>>,
    /// `medicationReference.display`.
    pub medication_display: Option<Text<'a>>,
    /// `effective[x]` (MedicationAdministration, MedicationStatement).
    pub effective: Option<Dated<'a>>,
    /// `authoredOn` (MedicationRequest).
    pub authored_on: Option<FhirDateTime>,
    pub reason_code: Vec<Concept<'a>>,
    pub notes: Vec<Annotation<'a>>,
}

/// An Immunization. `status` is its status code as written.
#[derive(Debug)]
pub(crate) struct Immunization<'a> {
    pub id: Option<Text<'a>>,
    pub status: String,
    pub vaccine_code: Option<Concept<'a>>,
    /// `occurrence[x]`: a dateTime, or a string (no date).
    pub occurrence: Option<Dated<'a>>,
    pub reason_code: Vec<Concept<'a>>,
    pub notes: Vec<Annotation<'a>>,
}

/// A medication record: the drug as codes and text, its status, when (`effective[x]`: a
/// dateTime, or a Period's start; `authoredOn` as the recorded date of a request), why, and its
/// notes.
pub(crate) fn medication(medication: Medication<'_>) -> Record {
    let mut record = new_record(medication.kind, medication.id);
    if let Some(drug) = &medication.medication {
        read_concept(drug, &mut record.codes, &mut record.text);
    }
    push_text(&mut record.text, medication.medication_display.as_deref());
    for reason in &medication.reason_code {
        read_concept(reason, &mut record.codes, &mut record.text);
    }
    record.status = Some(medication.status);
    record.effective = medication.effective.and_then(|effective| {
        read_dated(
            effective,
            Choice::new("effective", Field::Effective),
            &mut record.text,
            &mut record.problems,
        )
    });
    record.recorded = medication.authored_on.as_ref().and_then(|authored| {
        read_date_time(
            authored,
            "authoredOn",
            Field::Recorded,
            &mut record.problems,
        )
    });
    read_notes(&medication.notes, &mut record.text);
    record
}

/// An Immunization: the product (`vaccineCode`) as codes and text, its status, when
/// (`occurrence[x]`), why, and its notes. Anti-D is charted this way in some EHRs (§3.6 item 10).
pub(crate) fn immunization(immunization: Immunization<'_>) -> Record {
    let mut record = new_record(RecordKind::Immunization, immunization.id);
    if let Some(code) = &immunization.vaccine_code {
        read_concept(code, &mut record.codes, &mut record.text);
    }
    for reason in &immunization.reason_code {
        read_concept(reason, &mut record.codes, &mut record.text);
    }
    record.status = Some(immunization.status);
    record.effective = immunization.occurrence.and_then(|occurrence| {
        read_dated(
            occurrence,
            Choice::new("occurrence", Field::Effective),
            &mut record.text,
            &mut record.problems,
        )
    });
    read_notes(&immunization.notes, &mut record.text);
    record
}
