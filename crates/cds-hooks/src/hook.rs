//! The four hooks Gravida answers, and what each hook's `context` carries.
//!
//! The field tables come from the CDS Hooks Library hook definitions (notes §6). Each field says
//! whether the hook marks it REQUIRED, what JSON shape it has, and whether it may be used as a
//! `{{context.<field>}}` prefetch token.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A CDS Hooks hook that Gravida can serve.
///
/// On the wire a hook is a string such as `"patient-view"`. Requests for hooks outside this enum
/// are not rejected while parsing (the `hook` field stays a `String`); they fail later, in
/// [`crate::ServiceRequest::context_for`], because no Gravida service answers them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Hook {
    PatientView,
    EncounterStart,
    OrderSelect,
    OrderSign,
}

/// The JSON shape a context field must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// A FHIR reference string `ResourceType/id`, e.g. `userId: "Practitioner/123"`.
    Reference,
    /// A bare FHIR id, e.g. `patientId: "1288992"`.
    Id,
    /// A non-empty array of `ResourceType/id` strings (`selections`).
    ReferenceArray,
    /// A FHIR Bundle object (`draftOrders`).
    Bundle,
}

/// One field of a hook's `context`, as the hook definition describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContextField {
    /// The JSON name inside `context`.
    pub name: &'static str,
    /// The hook definition marks it REQUIRED.
    pub required: bool,
    /// It may be used as `{{context.<name>}}` in a prefetch template.
    pub prefetch_token: bool,
    /// The JSON shape it must have.
    pub kind: FieldKind,
}

const fn field(
    name: &'static str,
    required: bool,
    prefetch_token: bool,
    kind: FieldKind,
) -> ContextField {
    ContextField {
        name,
        required,
        prefetch_token,
        kind,
    }
}

const USER_ID: ContextField = field("userId", true, true, FieldKind::Reference);
const PATIENT_ID: ContextField = field("patientId", true, true, FieldKind::Id);
const ENCOUNTER_ID_OPTIONAL: ContextField = field("encounterId", false, true, FieldKind::Id);
const ENCOUNTER_ID_REQUIRED: ContextField = field("encounterId", true, true, FieldKind::Id);
const SELECTIONS: ContextField = field("selections", true, false, FieldKind::ReferenceArray);
const DRAFT_ORDERS: ContextField = field("draftOrders", true, false, FieldKind::Bundle);

const PATIENT_VIEW_FIELDS: &[ContextField] = &[USER_ID, PATIENT_ID, ENCOUNTER_ID_OPTIONAL];
const ENCOUNTER_START_FIELDS: &[ContextField] = &[USER_ID, PATIENT_ID, ENCOUNTER_ID_REQUIRED];
const ORDER_SELECT_FIELDS: &[ContextField] = &[
    USER_ID,
    PATIENT_ID,
    ENCOUNTER_ID_OPTIONAL,
    SELECTIONS,
    DRAFT_ORDERS,
];
const ORDER_SIGN_FIELDS: &[ContextField] =
    &[USER_ID, PATIENT_ID, ENCOUNTER_ID_OPTIONAL, DRAFT_ORDERS];

impl Hook {
    /// Every hook Gravida serves, in discovery order.
    pub const ALL: [Hook; 4] = [
        Hook::PatientView,
        Hook::EncounterStart,
        Hook::OrderSelect,
        Hook::OrderSign,
    ];

    /// The hook's wire name, e.g. `"patient-view"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Hook::PatientView => "patient-view",
            Hook::EncounterStart => "encounter-start",
            Hook::OrderSelect => "order-select",
            Hook::OrderSign => "order-sign",
        }
    }

    /// The `hookVersion` of the hook definition whose context table this crate follows, as the
    /// CDS Hooks Library publishes it (HL7/cds-hooks-library `input/pagecontent/<hook>.md`,
    /// metadata table: `hookVersion | 1.0` for all four, with `specificationVersion | 1.0`).
    /// Advertised in discovery as the service's `hookVersion` (CDS Hooks 3.0.0).
    pub fn hook_version(self) -> &'static str {
        match self {
            Hook::PatientView | Hook::EncounterStart | Hook::OrderSelect | Hook::OrderSign => "1.0",
        }
    }

    /// Looks a wire name up. Names are case-sensitive, as in the hook definitions.
    pub fn from_name(name: &str) -> Option<Hook> {
        Hook::ALL.into_iter().find(|hook| hook.as_str() == name)
    }

    /// The context fields the hook definition lists, REQUIRED and OPTIONAL.
    pub fn context_fields(self) -> &'static [ContextField] {
        match self {
            Hook::PatientView => PATIENT_VIEW_FIELDS,
            Hook::EncounterStart => ENCOUNTER_START_FIELDS,
            Hook::OrderSelect => ORDER_SELECT_FIELDS,
            Hook::OrderSign => ORDER_SIGN_FIELDS,
        }
    }

    /// Names of the fields usable as `{{context.<name>}}` prefetch tokens for this hook.
    pub fn prefetch_tokens(self) -> impl Iterator<Item = &'static str> {
        self.context_fields()
            .iter()
            .filter(|field| field.prefetch_token)
            .map(|field| field.name)
    }

    /// True for the order hooks, whose context carries `draftOrders`.
    pub fn has_draft_orders(self) -> bool {
        matches!(self, Hook::OrderSelect | Hook::OrderSign)
    }
}

impl fmt::Display for Hook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Hook {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Hook {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        Hook::from_name(&name).ok_or_else(|| serde::de::Error::custom("unknown hook"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_hook_name_round_trips_through_from_name() {
        for hook in Hook::ALL {
            assert_eq!(Hook::from_name(hook.as_str()), Some(hook));
        }
    }

    #[test]
    fn hooks_gravida_does_not_serve_have_no_name() {
        assert_eq!(Hook::from_name("encounter-discharge"), None);
        assert_eq!(Hook::from_name("Patient-View"), None);
        assert_eq!(Hook::from_name(""), None);
    }

    #[test]
    fn only_encounter_start_requires_an_encounter_id() {
        for hook in Hook::ALL {
            let encounter = hook
                .context_fields()
                .iter()
                .find(|f| f.name == "encounterId")
                .expect("every Gravida hook lists encounterId");
            assert_eq!(encounter.required, hook == Hook::EncounterStart, "{hook}");
        }
    }

    #[test]
    fn draft_orders_and_selections_are_not_prefetch_tokens() {
        let tokens: Vec<_> = Hook::OrderSelect.prefetch_tokens().collect();
        assert_eq!(tokens, ["userId", "patientId", "encounterId"]);
        assert!(Hook::OrderSign.has_draft_orders());
        assert!(!Hook::PatientView.has_draft_orders());
    }

    #[test]
    fn a_hook_serialises_as_its_wire_name() {
        let json = serde_json::to_string(&Hook::OrderSign).unwrap();
        assert_eq!(json, "\"order-sign\"");
        let back: Hook = serde_json::from_str(&json).unwrap();
        assert_eq!(back, Hook::OrderSign);
        assert!(serde_json::from_str::<Hook>("\"medication-prescribe\"").is_err());
    }
}
