//! Whose record is this? Every record a hook call uses must be about the call's patient.
//!
//! A prefetch is assembled by the EHR and a search is answered by its FHIR server; either can be
//! wrong (a template rendered for the wrong patient, a server that ignores `patient=`, a crafted
//! request). Nothing else in the service compares a record's owner with `context.patientId`, so
//! this module does, before any record reaches the engine: a record whose `subject` (or
//! `patient`) is anyone else, or no one, is refused. A Patient resource must be the patient.
//!
//! The forms of reference that name the call's patient `p1` on the FHIR server `base`:
//!
//! * relative: `Patient/p1`, also with a version, `Patient/p1/_history/3`;
//! * absolute on the call's FHIR server: `{base}/Patient/p1` (with or without the version);
//! * `urn:uuid:p1`, when the patient's id is itself that UUID (a transaction-style Bundle).
//!
//! Any other `urn:uuid:` reference, or an absolute reference to another server, is refused: we
//! cannot show it is the same patient.
//!
//! Resource ids are checked here too, against the FHIR id grammar (`[A-Za-z0-9\-\.]{1,64}`): an
//! id is shown to clinicians and written to the audit trail, so one that is not an id costs the
//! resource.

use url::Url;

/// The patient of one hook call, and the FHIR server its references may be absolute on.
#[derive(Debug, Clone, Copy)]
pub struct CallPatient<'a> {
    pub id: &'a str,
    pub fhir_base: Option<&'a Url>,
}

/// Why a resource was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// It names another patient, or names none.
    OtherPatient,
    /// Its id is not a FHIR id.
    BadId,
}

impl CallPatient<'_> {
    /// Checks one resource: its type, its id and its `subject.reference` (else `patient.reference`).
    pub fn check(
        &self,
        resource_type: &str,
        id: Option<&str>,
        subject: Option<&str>,
    ) -> Result<(), Refusal> {
        if let Some(id) = id
            && !is_fhir_id(id)
        {
            return Err(Refusal::BadId);
        }
        let about_patient = if resource_type == "Patient" {
            id == Some(self.id)
        } else {
            subject.is_some_and(|reference| self.is_named_by(reference))
        };
        if about_patient {
            Ok(())
        } else {
            Err(Refusal::OtherPatient)
        }
    }

    /// True when `reference` names this patient, in any of the forms of the module doc.
    pub fn is_named_by(&self, reference: &str) -> bool {
        if let Some(uuid) = reference.strip_prefix("urn:uuid:") {
            return uuid == self.id;
        }
        let relative = if let Some(rest) = reference.strip_prefix("Patient/") {
            rest
        } else {
            let Some(base) = self.fhir_base else {
                return false;
            };
            let base = base.as_str().trim_end_matches('/');
            let Some(rest) = reference
                .strip_prefix(base)
                .and_then(|rest| rest.strip_prefix("/Patient/"))
            else {
                return false;
            };
            rest
        };
        // Most references are `Patient/{id}` with no version: no '/' left, nothing to split.
        if !relative.contains('/') {
            return relative == self.id;
        }
        let id = match relative.split_once("/_history/") {
            Some((id, version)) if is_fhir_id(version) => id,
            Some(_) => return false,
            None => relative,
        };
        id == self.id
    }
}

/// The FHIR id grammar: 1 to 64 of `A–Z a–z 0–9 - .`.
pub fn is_fhir_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patient(base: Option<&Url>) -> CallPatient<'_> {
        CallPatient {
            id: "p1",
            fhir_base: base,
        }
    }

    #[test]
    fn the_relative_absolute_and_versioned_forms_name_the_patient() {
        let base = Url::parse("https://ehr.example/fhir/R4/").unwrap();
        let p = patient(Some(&base));
        for reference in [
            "Patient/p1",
            "Patient/p1/_history/2",
            "https://ehr.example/fhir/R4/Patient/p1",
            "https://ehr.example/fhir/R4/Patient/p1/_history/7",
        ] {
            assert!(p.is_named_by(reference), "{reference}");
        }
    }

    #[test]
    fn another_patient_another_server_or_an_unknown_uuid_does_not() {
        let base = Url::parse("https://ehr.example/fhir/R4").unwrap();
        let p = patient(Some(&base));
        for reference in [
            "Patient/p10",
            "Patient/p",
            "Patient/p1/_history/",
            "Patient/p1/extra",
            "Group/p1",
            "https://other.example/fhir/R4/Patient/p1",
            "https://ehr.example/fhir/R4X/Patient/p1",
            "urn:uuid:1f0c6a5e-0000-4000-8000-000000000000",
            "",
        ] {
            assert!(!p.is_named_by(reference), "{reference}");
        }
    }

    #[test]
    fn an_absolute_reference_needs_the_calls_fhir_server() {
        assert!(!patient(None).is_named_by("https://ehr.example/fhir/R4/Patient/p1"));
    }

    #[test]
    fn a_urn_uuid_names_the_patient_only_when_it_is_the_patients_id() {
        let id = "1f0c6a5e-0000-4000-8000-000000000000";
        let p = CallPatient {
            id,
            fhir_base: None,
        };
        assert!(p.is_named_by(&format!("urn:uuid:{id}")));
    }

    #[test]
    fn a_record_with_no_subject_or_a_bad_id_is_refused_and_a_patient_must_be_the_patient() {
        let p = patient(None);
        assert_eq!(
            p.check("Observation", Some("o1"), Some("Patient/p1")),
            Ok(())
        );
        assert_eq!(
            p.check("Observation", Some("o1"), None),
            Err(Refusal::OtherPatient)
        );
        assert_eq!(
            p.check("Condition", Some("c1"), Some("Patient/victim7")),
            Err(Refusal::OtherPatient)
        );
        assert_eq!(
            p.check("Condition", Some("c1 [x](y)"), Some("Patient/p1")),
            Err(Refusal::BadId)
        );
        assert_eq!(p.check("Patient", Some("p1"), None), Ok(()));
        assert_eq!(
            p.check("Patient", Some("p2"), None),
            Err(Refusal::OtherPatient)
        );
    }

    #[test]
    fn the_id_grammar_is_fhirs() {
        assert!(is_fhir_id("a-B.9"));
        assert!(is_fhir_id(&"x".repeat(64)));
        assert!(!is_fhir_id(&"x".repeat(65)));
        assert!(!is_fhir_id(""));
        assert!(!is_fhir_id("a_b"));
        assert!(!is_fhir_id("a/b"));
        assert!(!is_fhir_id("ü"));
    }
}
