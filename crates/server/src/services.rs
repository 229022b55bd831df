//! The four CDS services Gravida offers, one per hook, and the discovery document that lists them.
//!
//! All four run the same engine; they differ in the hook they answer and in what the hook's
//! context carries (`draftOrders` at order-select and order-sign, which is what the methotrexate
//! rule reads). The prefetch templates come from the knowledge base, so a site profile that adds
//! codes also widens the searches EHRs are asked to prefetch.

use std::collections::BTreeMap;

use gravida_cds_hooks::{DiscoveryResponse, Hook, Service};
use gravida_knowledge::KnowledgeBase;

/// A service Gravida offers.
#[derive(Debug, Clone, Copy)]
pub struct ServiceDef {
    pub id: &'static str,
    pub hook: Hook,
    pub title: &'static str,
    pub description: &'static str,
}

pub const SERVICES: [ServiceDef; 4] = [
    ServiceDef {
        id: "gravida-patient-view",
        hook: Hook::PatientView,
        title: "Gravida: bleeding in pregnancy by gestational age",
        description: "When a chart is opened, checks vaginal bleeding charted in the current \
            pregnancy against the gestational age at which it was recorded, and advises \
            transvaginal ultrasound and serial quantitative hCG where work-up is needed.",
    },
    ServiceDef {
        id: "gravida-encounter-start",
        hook: Hook::EncounterStart,
        title: "Gravida: bleeding in pregnancy by gestational age",
        description: "When an encounter starts, checks vaginal bleeding charted in the current \
            pregnancy against the gestational age at which it was recorded, and advises \
            transvaginal ultrasound and serial quantitative hCG where work-up is needed.",
    },
    ServiceDef {
        id: "gravida-order-select",
        hook: Hook::OrderSelect,
        title: "Gravida: bleeding in pregnancy and methotrexate safety",
        description: "When orders are selected, flags methotrexate ordered before a normal \
            intrauterine pregnancy is excluded, and checks charted bleeding against the \
            gestational age at which it was recorded.",
    },
    ServiceDef {
        id: "gravida-order-sign",
        hook: Hook::OrderSign,
        title: "Gravida: bleeding in pregnancy and methotrexate safety",
        description: "Before orders are signed, flags methotrexate ordered before a normal \
            intrauterine pregnancy is excluded, and checks charted bleeding against the \
            gestational age at which it was recorded.",
    },
];

/// What an EHR integrator must grant, shown in discovery.
const USAGE_REQUIREMENTS: &str = "FHIR R4. Grant read access to the patient's Patient, \
    Condition, Observation, DiagnosticReport, Encounter, Procedure, MedicationAdministration, \
    MedicationStatement, MedicationRequest and Immunization resources (SMART v1 \
    `patient/Patient.read patient/Condition.read patient/Observation.read \
    patient/DiagnosticReport.read patient/Encounter.read patient/Procedure.read \
    patient/MedicationAdministration.read patient/MedicationStatement.read \
    patient/MedicationRequest.read patient/Immunization.read`, or v2 \
    `patient/Patient.rs patient/Condition.rs patient/Observation.rs patient/DiagnosticReport.rs \
    patient/Encounter.rs patient/Procedure.rs patient/MedicationAdministration.rs \
    patient/MedicationStatement.rs patient/MedicationRequest.rs patient/Immunization.rs`). \
    Prefetch every key, or send fhirServer and fhirAuthorization so the service can fetch \
    what is not prefetched; without either, or with scopes that do not cover a key, the call \
    is answered 412.";

/// The service with this id, if any.
pub fn find(id: &str) -> Option<&'static ServiceDef> {
    SERVICES.iter().find(|s| s.id == id)
}

/// Which prefetch tokens the client reading discovery can evaluate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tokens {
    /// CDS Hooks 3.0.0: context and user tokens, and the relative dates (`{{today() - 1 year}}`).
    FhirPath,
    /// CDS Hooks 2.0: context and user tokens only. Each search is offered without its date
    /// bound (`prefetch::for_2_0_clients`), so the client can fill every template; the result
    /// holds more than the bounded search, never less.
    Only2_0,
}

/// The discovery document: one service per hook, each with the knowledge base's prefetch, in
/// the form the client's `tokens` allow.
///
/// Why two documents rather than one. CDS Hooks 3.0.0 (index.md, "Prefetch Template") lets a
/// client leave out a key it cannot satisfy ("CDS Clients SHALL omit the prefetch key if
/// relevant details cannot be provided"), and a left-out key is fetched: so a 2.0 client shown
/// the bounded templates would still get its cards, but only with `fhirServer` and a token,
/// paying a fetch per bounded key on every call. Shown the unbounded templates instead, it can
/// prefetch everything. Discovery is authenticated, so the issuer's `fhirpath_prefetch` setting
/// chooses the document.
pub fn discovery(kb: &KnowledgeBase, tokens: Tokens) -> DiscoveryResponse {
    let prefetch: BTreeMap<String, String> = kb
        .prefetch()
        .iter()
        .map(|q| {
            let template = match tokens {
                Tokens::FhirPath => q.template.clone(),
                Tokens::Only2_0 => gravida_cds_hooks::prefetch::for_2_0_clients(&q.template),
            };
            (q.key.clone(), template)
        })
        .collect();
    DiscoveryResponse {
        services: SERVICES
            .iter()
            .map(|s| Service {
                hook: s.hook.as_str().to_owned(),
                title: Some(s.title.to_owned()),
                description: s.description.to_owned(),
                id: s.id.to_owned(),
                prefetch: prefetch.clone(),
                usage_requirements: Some(USAGE_REQUIREMENTS.to_owned()),
                // CDS Hooks 3.0.0 (index.md, "Discovery › Response"): the specification version
                // we implement and the version of the hook definition we follow. 2.0 clients
                // ignore both.
                version: Some(gravida_cds_hooks::discovery::SPEC_VERSION.to_owned()),
                hook_version: Some(s.hook.hook_version().to_owned()),
                extension: None,
            })
            .collect(),
    }
}
