//! The code systems a profile may name: the engine's own (SNOMED CT, LOINC, ICD-10-CM, RxNorm)
//! and those only orderables or site-local codes use.
//!
//! Both the value set checks (`load/value_sets.rs`) and the orderable checks (`templates.rs`) ask
//! this list, so it sits below both.

use gravida_rules::knowledge::{ICD10CM, LOINC, RXNORM, SNOMED};

/// CPT (used only by orderables).
pub const CPT: &str = "http://www.ama-assn.org/go/cpt";
/// HCPCS Level II, as FHIR names it (the Rho(D) immune globulin supply codes, knowledge.md §3.6
/// item 10).
pub const HCPCS: &str = "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets";
/// Site-local codes (e.g. placental location, which has no verified standard code).
pub const LOCAL: &str = "urn:gravida:local";

/// Code systems a profile may use.
pub const KNOWN_SYSTEMS: &[&str] = &[SNOMED, LOINC, ICD10CM, RXNORM, CPT, HCPCS, LOCAL];
