//! The discovery document (`GET /cds-services`): the services we offer and their prefetch templates.
//!
//! [`DiscoveryResponse::validate`] checks what we advertise before the server starts: ids usable in
//! a URL path, non-empty descriptions, templates that parse, `{{context.<field>}}` tokens that
//! the service's hook marks as prefetch tokens (notes §6), and a `version` that is a semantic
//! version.
//!
//! CDS Hooks 3.0.0 adds two fields to each service (index.md, "Discovery › Response"):
//! `version`, RECOMMENDED, "the semantic version of the CDS Hooks specification implemented by
//! this service (e.g. `3.0.0`)", and `hookVersion`, OPTIONAL, "the version of the hook this
//! service supports, which SHALL match the `hookVersion` in the published hook definition".
//! Both are optional on the wire, so a 2.0 document without them still parses, and a 2.0 client
//! that does not know them ignores them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use thiserror::Error;

use crate::hook::Hook;
use crate::prefetch::{self, Segment, TemplateError, Token};
use crate::wire::{is_blank, is_empty_object};

/// `{ "services": [...] }`. `services` is always present, `[]` when there are none.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DiscoveryResponse {
    pub services: Vec<Service>,
}

/// One CDS service: a hook, an id (`/cds-services/{id}`), and what to prefetch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Service {
    /// The hook name. A `String` so that documents listing hooks Gravida does not serve still parse.
    pub hook: String,
    #[serde(default, skip_serializing_if = "is_blank")]
    pub title: Option<String>,
    pub description: String,
    pub id: String,
    /// Prefetch key → FHIR query template. Omitted when empty (an empty `{}` hangs some clients).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub prefetch: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "is_blank")]
    pub usage_requirements: Option<String>,
    /// The CDS Hooks version this service implements (3.0.0: RECOMMENDED), e.g. `"3.0.0"`.
    #[serde(default, skip_serializing_if = "is_blank")]
    pub version: Option<String>,
    /// The version of the hook definition this service follows (3.0.0: OPTIONAL), e.g. `"1.0"`.
    #[serde(default, skip_serializing_if = "is_blank")]
    pub hook_version: Option<String>,
    #[serde(default, skip_serializing_if = "is_empty_object")]
    pub extension: Option<Map<String, Value>>,
}

/// The CDS Hooks version Gravida's services implement, advertised as each service's `version`.
/// Requests and answers of 2.0 clients are unchanged by 3.0.0 (it adds optional fields), so a
/// service at 3.0.0 also answers 2.0 clients.
pub const SPEC_VERSION: &str = "3.0.0";

/// Something wrong with a service we are about to advertise.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DiscoveryError {
    #[error("service `{id}`: `{field}` is empty")]
    EmptyField { id: String, field: &'static str },
    #[error("service id `{id}` may only use letters, digits, '-', '.', '_' and '~'")]
    InvalidId { id: String },
    #[error("service `{id}`: hook `{hook}` is not one Gravida serves")]
    UnknownHook { id: String, hook: String },
    #[error("service `{id}`: prefetch `{key}`: {source}")]
    Template {
        id: String,
        key: String,
        source: TemplateError,
    },
    #[error(
        "service `{id}`: prefetch `{key}` uses `context.{field}`, which `{hook}` does not offer as a token"
    )]
    NotAPrefetchToken {
        id: String,
        key: String,
        field: String,
        hook: Hook,
    },
    #[error("service id `{id}` is listed twice for hook `{hook}`")]
    Duplicate { id: String, hook: String },
    #[error("service `{id}`: `version` `{version}` is not a semantic version (MAJOR.MINOR.PATCH)")]
    NotASemanticVersion { id: String, version: String },
}

/// Whether `version` is a semantic version (semver.org 2.0.0): `MAJOR.MINOR.PATCH`, each a
/// number without leading zeros, with an optional `-pre-release` and `+build` of dot-separated
/// `[0-9A-Za-z-]` identifiers (`3.0.0`, `3.0.0-ballot`).
pub fn is_semantic_version(version: &str) -> bool {
    let identifiers = |part: &str| {
        part.split('.')
            .all(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
    };
    let (rest, build) = match version.split_once('+') {
        Some((rest, build)) => (rest, Some(build)),
        None => (version, None),
    };
    let (core, pre) = match rest.split_once('-') {
        Some((core, pre)) => (core, Some(pre)),
        None => (rest, None),
    };
    let numbers: Vec<&str> = core.split('.').collect();
    let number = |n: &&str| {
        !n.is_empty()
            && n.bytes().all(|b| b.is_ascii_digit())
            && (n.len() == 1 || !n.starts_with('0'))
    };
    numbers.len() == 3
        && numbers.iter().all(number)
        && pre.is_none_or(identifiers)
        && build.is_none_or(identifiers)
}

impl Service {
    /// A service for `hook` with an id, a title and a description, and no prefetch yet. It
    /// advertises [`SPEC_VERSION`] and the hook's [`Hook::hook_version`].
    pub fn new(
        hook: Hook,
        id: impl Into<String>,
        title: impl Into<String>,
        description: impl Into<String>,
    ) -> Self {
        Service {
            hook: hook.as_str().to_owned(),
            title: Some(title.into()),
            description: description.into(),
            id: id.into(),
            prefetch: BTreeMap::new(),
            usage_requirements: None,
            version: Some(SPEC_VERSION.to_owned()),
            hook_version: Some(hook.hook_version().to_owned()),
            extension: None,
        }
    }

    /// The same service with one more prefetch template.
    pub fn with_prefetch(mut self, key: impl Into<String>, template: impl Into<String>) -> Self {
        self.prefetch.insert(key.into(), template.into());
        self
    }

    /// Checks the service can be advertised as it is.
    pub fn validate(&self) -> Result<(), DiscoveryError> {
        let id = || self.id.clone();
        if self.id.is_empty() {
            return Err(DiscoveryError::EmptyField {
                id: id(),
                field: "id",
            });
        }
        let url_safe = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~');
        if !self.id.bytes().all(url_safe) {
            return Err(DiscoveryError::InvalidId { id: id() });
        }
        if self.description.trim().is_empty() {
            return Err(DiscoveryError::EmptyField {
                id: id(),
                field: "description",
            });
        }
        if let Some(version) = &self.version
            && !is_semantic_version(version)
        {
            return Err(DiscoveryError::NotASemanticVersion {
                id: id(),
                version: version.clone(),
            });
        }
        let Some(hook) = Hook::from_name(&self.hook) else {
            return Err(DiscoveryError::UnknownHook {
                id: id(),
                hook: self.hook.clone(),
            });
        };
        for (key, template) in &self.prefetch {
            let segments =
                prefetch::parse(template).map_err(|source| DiscoveryError::Template {
                    id: id(),
                    key: key.clone(),
                    source,
                })?;
            for segment in segments {
                if let Segment::Token(Token::Context(field)) = segment
                    && !hook.prefetch_tokens().any(|token| token == field)
                {
                    return Err(DiscoveryError::NotAPrefetchToken {
                        id: id(),
                        key: key.clone(),
                        field,
                        hook,
                    });
                }
            }
        }
        Ok(())
    }
}

impl DiscoveryResponse {
    /// Checks every service, and that no (id, hook) pair is listed twice. (The same id for
    /// different hooks is allowed by the spec.)
    pub fn validate(&self) -> Result<(), DiscoveryError> {
        for (index, service) in self.services.iter().enumerate() {
            service.validate()?;
            let duplicate = self.services[..index]
                .iter()
                .any(|earlier| earlier.id == service.id && earlier.hook == service.hook);
            if duplicate {
                return Err(DiscoveryError::Duplicate {
                    id: service.id.clone(),
                    hook: service.hook.clone(),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::find_empty_values;
    use serde_json::json;

    fn service() -> Service {
        Service::new(
            Hook::PatientView,
            "gravida-patient-view",
            "Gravida",
            "Flags bleeding in pregnancy that needs work-up",
        )
        .with_prefetch("patient", "Patient/{{context.patientId}}")
        .with_prefetch("conditions", "Condition?patient={{context.patientId}}")
    }

    #[test]
    fn a_service_serialises_with_spec_names_and_no_empty_fields() {
        let document = DiscoveryResponse {
            services: vec![service()],
        };
        assert!(document.validate().is_ok());
        let json = serde_json::to_value(&document).unwrap();
        assert_eq!(json["services"][0]["hook"], "patient-view");
        assert_eq!(
            json["services"][0]["prefetch"]["patient"],
            "Patient/{{context.patientId}}"
        );
        assert!(json["services"][0].get("usageRequirements").is_none());
        assert_eq!(json["services"][0]["version"], "3.0.0");
        assert_eq!(json["services"][0]["hookVersion"], "1.0");
        assert!(find_empty_values(&json).is_empty(), "{json}");
        let back: DiscoveryResponse = serde_json::from_value(json).unwrap();
        assert_eq!(back, document);
    }

    #[test]
    fn a_service_without_prefetch_omits_the_key_and_no_services_is_an_empty_array() {
        let bare = Service::new(Hook::OrderSign, "x", "X", "d");
        let json = serde_json::to_value(&bare).unwrap();
        assert!(json.get("prefetch").is_none(), "{json}");
        let empty = serde_json::to_value(DiscoveryResponse::default()).unwrap();
        assert_eq!(empty, json!({"services": []}));
    }

    #[test]
    fn a_broken_template_is_caught_before_it_is_advertised() {
        let broken = service().with_prefetch("bad", "Observation?patient={{context.patientId");
        assert!(matches!(
            broken.validate(),
            Err(DiscoveryError::Template { key, .. }) if key == "bad"
        ));
    }

    #[test]
    fn a_context_token_the_hook_does_not_offer_is_refused() {
        let orders = Service::new(Hook::OrderSign, "s", "S", "d")
            .with_prefetch("orders", "MedicationRequest?_id={{context.draftOrders}}");
        assert!(matches!(
            orders.validate(),
            Err(DiscoveryError::NotAPrefetchToken { field, .. }) if field == "draftOrders"
        ));
        let user = Service::new(Hook::OrderSign, "s", "S", "d")
            .with_prefetch("user", "PractitionerRole?_id={{userPractitionerRoleId}}");
        assert!(user.validate().is_ok());
    }

    #[test]
    fn ids_must_be_url_safe_and_descriptions_present() {
        let mut bad_id = service();
        bad_id.id = "gravida/patient view".into();
        assert!(matches!(
            bad_id.validate(),
            Err(DiscoveryError::InvalidId { .. })
        ));
        let mut no_description = service();
        no_description.description = " ".into();
        assert!(matches!(
            no_description.validate(),
            Err(DiscoveryError::EmptyField {
                field: "description",
                ..
            })
        ));
    }

    #[test]
    fn the_same_id_may_serve_two_hooks_but_not_one_hook_twice() {
        let other_hook = Service::new(Hook::EncounterStart, "gravida-patient-view", "G", "d");
        let ok = DiscoveryResponse {
            services: vec![service(), other_hook],
        };
        assert!(ok.validate().is_ok());
        let twice = DiscoveryResponse {
            services: vec![service(), service()],
        };
        assert!(matches!(
            twice.validate(),
            Err(DiscoveryError::Duplicate { .. })
        ));
    }

    #[test]
    fn a_2_0_service_without_versions_still_parses_and_validates() {
        let json = json!({"hook": "patient-view", "id": "x", "description": "d"});
        let service: Service = serde_json::from_value(json).unwrap();
        assert_eq!(service.version, None);
        assert_eq!(service.hook_version, None);
        assert!(service.validate().is_ok());
    }

    #[test]
    fn a_version_that_is_not_semantic_is_refused() {
        for bad in [
            "3.0", "3", "v3.0.0", "03.0.0", "3.0.0-", "3.0.0+", "3.0.x", "",
        ] {
            let mut service = service();
            service.version = Some(bad.to_owned());
            assert!(
                matches!(
                    service.validate(),
                    Err(DiscoveryError::NotASemanticVersion { .. })
                ),
                "{bad:?}"
            );
        }
        for good in ["3.0.0", "2.0.1", "3.0.0-ballot", "1.10.0+build.7"] {
            assert!(is_semantic_version(good), "{good}");
        }
    }
}
