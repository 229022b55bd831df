//! Code systems by any name (knowledge.md §3.6 item 6): a coding's system and code as the value
//! sets name them, whatever name the EHR used.
//!
//! EHRs that speak HL7 v3 or CDA send a code system as its OID (`urn:oid:2.16.840.1.113883.6.90`
//! is ICD-10-CM), some send WHO ICD-10 for obstetric codes, and ICD codes come with or without
//! their dot and in either case. The value sets name each system by its FHIR URI and each ICD code
//! without its dot, in upper case. So every coding is normalised here, once, where it is read:
//! every record kind, its value codes and the draft orders get it, and the engine compares
//! strings.

use std::borrow::Cow;

use gravida_rules::knowledge::{ICD10CM, LOINC, RXNORM, SNOMED};

/// CPT, as FHIR names it.
pub(crate) const CPT: &str = "http://www.ama-assn.org/go/cpt";
/// HCPCS Level II, as FHIR names it.
const HCPCS: &str = "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets";
/// WHO ICD-10.
const ICD10_WHO: &str = "http://hl7.org/fhir/sid/icd-10";

/// Other names of the systems the value sets use: HL7 OIDs, and the WHO ICD-10 OID.
const ALIASES: &[(&str, &str)] = &[
    ("urn:oid:2.16.840.1.113883.6.90", ICD10CM),
    ("urn:oid:2.16.840.1.113883.6.96", SNOMED),
    ("urn:oid:2.16.840.1.113883.6.1", LOINC),
    ("urn:oid:2.16.840.1.113883.6.88", RXNORM),
    ("urn:oid:2.16.840.1.113883.6.12", CPT),
    ("urn:oid:2.16.840.1.113883.6.285", HCPCS),
    ("urn:oid:2.16.840.1.113883.6.3", ICD10_WHO),
];

/// The systems charts code in most, kept as `'static` text: a coding in one of them is read
/// without allocating its system (a chart has hundreds of codings, nearly all in these).
const COMMON: &[&str] = &[
    SNOMED,
    LOINC,
    ICD10CM,
    RXNORM,
    CPT,
    HCPCS,
    ICD10_WHO,
    "http://terminology.hl7.org/CodeSystem/observation-category",
    "http://terminology.hl7.org/CodeSystem/condition-category",
    "http://terminology.hl7.org/CodeSystem/v3-ActCode",
];

/// A normalised system (see [`normalise`]) as a [`gravida_rules::Code`] holds it: borrowed
/// when it is one of the [`COMMON`] systems, owned otherwise.
pub(crate) fn system_text(system: &str) -> Cow<'static, str> {
    COMMON.iter().find(|known| **known == system).map_or_else(
        || Cow::Owned(system.to_owned()),
        |known| Cow::Borrowed(*known),
    )
}

/// A coding's `(system, code)` as the value sets name them.
///
/// * A known OID becomes the system's FHIR URI.
/// * A WHO ICD-10 O-code (pregnancy, childbirth and the puerperium) becomes the ICD-10-CM code of
///   the same stem: O20.0 is "threatened abortion" in both. Other WHO codes keep their system.
/// * An ICD-10-CM code loses its dot, surrounding spaces and lower case: `o20.0` = `O200`.
///
/// Everything else is returned as written (a code is compared exactly in other systems).
pub(crate) fn normalise<'a>(system: &'a str, code: &'a str) -> (&'a str, Code<'a>) {
    let system = ALIASES
        .iter()
        .find(|(alias, _)| *alias == system)
        .map_or(system, |(_, canonical)| *canonical);
    let system = if system == ICD10_WHO && code.trim_start().starts_with(['O', 'o']) {
        ICD10CM
    } else {
        system
    };
    if system != ICD10CM {
        return (system, Code::AsWritten(code));
    }
    let plain = code
        .bytes()
        .all(|b| b != b'.' && !b.is_ascii_lowercase() && !b.is_ascii_whitespace());
    if plain {
        return (system, Code::AsWritten(code));
    }
    let normal = code
        .trim()
        .chars()
        .filter(|c| *c != '.')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    (system, Code::Normalised(normal))
}

/// A code as written, or rewritten by [`normalise`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Code<'a> {
    AsWritten(&'a str),
    Normalised(String),
}

impl Code<'_> {
    pub(crate) fn into_owned(self) -> String {
        match self {
            Code::AsWritten(code) => code.to_owned(),
            Code::Normalised(code) => code,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(system: &str, code: &str) -> (String, String) {
        let (system, code) = normalise(system, code);
        (system.to_owned(), code.into_owned())
    }

    fn pair(system: &str, code: &str) -> (String, String) {
        (system.to_owned(), code.to_owned())
    }

    #[test]
    fn each_hl7_oid_names_its_system() {
        assert_eq!(
            read("urn:oid:2.16.840.1.113883.6.90", "O20.0"),
            pair(ICD10CM, "O200")
        );
        assert_eq!(
            read("urn:oid:2.16.840.1.113883.6.96", "289530006"),
            pair(SNOMED, "289530006")
        );
        assert_eq!(
            read("urn:oid:2.16.840.1.113883.6.1", "21198-7"),
            pair(LOINC, "21198-7")
        );
        assert_eq!(
            read("urn:oid:2.16.840.1.113883.6.88", "6851"),
            pair(RXNORM, "6851")
        );
        assert_eq!(
            read("urn:oid:2.16.840.1.113883.6.12", "76817"),
            pair(CPT, "76817")
        );
    }

    #[test]
    fn a_who_icd10_o_code_is_the_icd10cm_code_of_the_same_stem() {
        assert_eq!(read(ICD10_WHO, "O20.0"), pair(ICD10CM, "O200"));
        assert_eq!(
            read("urn:oid:2.16.840.1.113883.6.3", "o03.9"),
            pair(ICD10CM, "O039")
        );
        // Only the obstetric chapter is shared as is.
        assert_eq!(read(ICD10_WHO, "Z34.0"), pair(ICD10_WHO, "Z34.0"));
    }

    #[test]
    fn icd10cm_codes_lose_their_dot_and_case_other_systems_are_kept_as_written() {
        assert_eq!(read(ICD10CM, " o20.9 "), pair(ICD10CM, "O209"));
        assert_eq!(read(ICD10CM, "O209"), pair(ICD10CM, "O209"));
        assert_eq!(read(LOINC, "LA6576-8"), pair(LOINC, "LA6576-8"));
        // An unknown OID (CDC race codes look like LOINC codes) is not a known system.
        assert_eq!(
            read("urn:oid:2.16.840.1.113883.6.238", "2106-3"),
            pair("urn:oid:2.16.840.1.113883.6.238", "2106-3")
        );
    }

    #[test]
    fn a_common_system_is_held_without_a_copy_and_any_other_as_written() {
        let snomed = system_text("http://snomed.info/sct");
        assert!(matches!(snomed, Cow::Borrowed(_)));
        assert_eq!(snomed, SNOMED);
        let local = system_text("urn:oid:1.2.3.4.local");
        assert!(matches!(local, Cow::Owned(_)));
        assert_eq!(local, "urn:oid:1.2.3.4.local");
        assert_eq!(system_text(""), "");
    }
}
