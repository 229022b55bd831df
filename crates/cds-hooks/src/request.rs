//! The hook request (`POST /cds-services/{id}`): parsing, checking, and the hook's context.
//!
//! Parsing happens in two steps:
//!
//! 1. [`ServiceRequest::parse`] checks what every hook request has in common (notes §2.1): `hook`,
//!    `hookInstance`, `context`, and the `fhirServer` / `fhirAuthorization` pair.
//! 2. [`ServiceRequest::context_for`] checks the request is for the service's hook and that the
//!    hook's context fields are there with the right shapes (notes §6), giving a [`HookContext`].
//!
//! Strict and lenient choices, where real EHRs and the spec part ways:
//!
//! * `context.patientId` is strict: it must be a non-empty FHIR id string, because every query
//!   uses it. `encounterId`, when present, must be a FHIR id string too; `encounter-start`
//!   requires it.
//! * `context.userId` is lenient: REQUIRED by every hook, but Gravida's decision never depends on
//!   who the user is, so a missing or empty `userId` is tolerated (`user_id()` is `None`); only a
//!   non-string `userId` is an error. Prefetch user tokens then fail to render, which the fetch path
//!   reports on its own.
//! * `hookInstance` must be a non-empty string; the spec says UUID, but nothing here depends on it.
//! * `fhirServer` must be an absolute `http` or `https` URL with a host, and is parsed here, once,
//!   into a [`Url`]. Whether plain `http` is acceptable is a deployment decision (the spec's own
//!   examples use `http`), so it is no rule of parsing: the server applies its policy to the
//!   parsed URL (`gravida_fhir::FhirServer::check`).
//! * Unknown fields and `extension` are accepted everywhere; a field that is `null` counts as absent.
//!
//! Error messages name fields, never values: values may be PHI, and the message goes back to the
//! caller in the 400 body. For the same reason the `Debug` impls here do not print the context,
//! the prefetch data or the access token.

use std::fmt;

use serde::Serialize;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde_json::{Map, Value};
use url::Url;

use crate::error::RequestError;
use crate::hook::Hook;
use crate::json::{Object, parse_object, take_object};
use crate::prefetch::is_fhir_id;
use crate::scopes::Grants;
use crate::wire::is_empty_object;

/// The OAuth 2.0 token a client hands the service for its FHIR server (notes §2.1).
///
/// `Debug` redacts `access_token`: the token must never reach a log.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct FhirAuthorization {
    pub access_token: String,
    /// Always `Bearer` (compared case-insensitively, as OAuth 2.0 token types are).
    pub token_type: String,
    /// Lifetime in seconds.
    pub expires_in: u64,
    pub scope: String,
    /// The service's OAuth client id at the client's authorisation server.
    pub subject: String,
    /// The patient the `patient/` scopes are for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patient: Option<String>,
    /// `scope` read as SMART v1 or v2 scopes (checked when the request is parsed: a scope in
    /// neither form is a 400).
    #[serde(skip)]
    pub granted: Grants,
}

impl fmt::Debug for FhirAuthorization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FhirAuthorization")
            .field("access_token", &"<redacted>")
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .field("subject", &self.subject)
            .field("patient", &self.patient.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl FhirAuthorization {
    /// Reads a `fhirAuthorization` object. All fields but `patient` are REQUIRED by the spec.
    pub fn from_object(fields: &Map<String, Value>) -> Result<Self, RequestError> {
        let object = Object::new("fhirAuthorization", fields);
        let token_type = object.required_str("token_type")?;
        if !token_type.eq_ignore_ascii_case("bearer") {
            return Err(RequestError::NotBearer);
        }
        Ok(FhirAuthorization {
            access_token: object.required_str("access_token")?.to_owned(),
            token_type: token_type.to_owned(),
            expires_in: object.required_u64("expires_in")?,
            granted: Grants::parse(object.required_str("scope")?)?,
            scope: object.required_str("scope")?.to_owned(),
            subject: object.required_str("subject")?.to_owned(),
            patient: object.optional_str("patient")?.map(str::to_owned),
        })
    }
}

/// A hook request as the client sent it, checked for what every hook has in common.
///
/// Serialises back to camelCase wire JSON (for tools and tests). `Debug` shows the shape of the
/// request (hook, which context and prefetch keys are present), never the values.
#[derive(Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceRequest {
    pub hook: String,
    pub hook_instance: String,
    /// `fhirServer`, parsed: an absolute http or https URL with a host.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fhir_server: Option<Url>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fhir_authorization: Option<FhirAuthorization>,
    pub context: Map<String, Value>,
    /// Prefetch key → resource. A value may be `null` (no data) or an OperationOutcome (failure);
    /// a key the client did not satisfy is absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefetch: Option<Map<String, Value>>,
    #[serde(skip_serializing_if = "is_empty_object")]
    pub extension: Option<Map<String, Value>>,
}

/// The top level of a request body for [`ServiceRequest::parse_with_prefetch`]: every field as a
/// JSON value (a repeated field keeps its last value, as in [`parse_object`]), except `prefetch`,
/// which goes to the seed (`null` gives `None`; a repeated `prefetch` is declined).
struct SplitBody<S> {
    seed: Option<S>,
}

impl<'de, S: DeserializeSeed<'de>> Visitor<'de> for SplitBody<S> {
    type Value = (Map<String, Value>, Option<S::Value>);

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a hook request object")
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut fields = Map::new();
        let mut prefetch = None;
        while let Some(key) = map.next_key::<String>()? {
            if key == "prefetch" {
                let seed = self
                    .seed
                    .take()
                    .ok_or_else(|| de::Error::duplicate_field("prefetch"))?;
                prefetch = map.next_value_seed(NullOr(seed))?;
            } else {
                let value = map.next_value::<Value>()?;
                fields.insert(key, value);
            }
        }
        Ok((fields, prefetch))
    }
}

/// `null` → `None`; anything else → the inner seed.
struct NullOr<S>(S);

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for NullOr<S> {
    type Value = Option<S::Value>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_option(self)
    }
}

impl<'de, S: DeserializeSeed<'de>> Visitor<'de> for NullOr<S> {
    type Value = Option<S::Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("null or a prefetch object")
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        self.0.deserialize(deserializer).map(Some)
    }
}

impl fmt::Debug for ServiceRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let prefetch_keys: Option<Vec<&String>> = self
            .prefetch
            .as_ref()
            .map(|prefetch| prefetch.keys().collect());
        f.debug_struct("ServiceRequest")
            .field("hook", &self.hook)
            .field("hook_instance", &self.hook_instance)
            .field("fhir_server", &self.fhir_server.as_ref().map(Url::as_str))
            .field("fhir_authorization", &self.fhir_authorization)
            .field("context_keys", &self.context.keys().collect::<Vec<_>>())
            .field("prefetch_keys", &prefetch_keys)
            .field("has_extension", &self.extension.is_some())
            .finish()
    }
}

impl ServiceRequest {
    /// Parses and checks a request body.
    ///
    /// Errors: malformed JSON, a body that is not an object, a field of the wrong type, a missing
    /// or empty `hook` / `hookInstance`, a missing `context`, `fhirAuthorization` without
    /// `fhirServer` (cds-r-1), and a `token_type` other than `Bearer`.
    pub fn parse(body: &[u8]) -> Result<ServiceRequest, RequestError> {
        Self::from_fields(parse_object(body)?)
    }

    /// Parses a request whose `prefetch` object is read by `seed` straight from the body, instead
    /// of into JSON values; the returned request has `prefetch: None` and the seed's output
    /// beside it.
    ///
    /// This is the fast path for the bulk of a request. It gives `None` whenever it declines, for
    /// whatever reason: the seed refused the prefetch (it may refuse anything it does not model),
    /// `prefetch` appeared twice, the JSON is malformed, or the request fails a check. The caller
    /// then uses [`ServiceRequest::parse`], which is the authority on what a request means and on
    /// the error it gets. So a seed may be as narrow as it likes; it only has to be right when it
    /// accepts.
    pub fn parse_with_prefetch<'de, S>(
        body: &'de [u8],
        seed: S,
    ) -> Option<(ServiceRequest, Option<S::Value>)>
    where
        S: DeserializeSeed<'de>,
    {
        // The body is checked to be UTF-8 once, here, so that serde_json's `str` reader does
        // not check each of its thousands of strings again (a body that is not UTF-8 is
        // declined, and `parse` gives its error).
        let text = std::str::from_utf8(body).ok()?;
        let mut deserializer = serde_json::Deserializer::from_str(text);
        let (fields, prefetch) = deserializer
            .deserialize_map(SplitBody { seed: Some(seed) })
            .ok()?;
        deserializer.end().ok()?;
        let request = Self::from_fields(fields).ok()?;
        Some((request, prefetch))
    }

    /// Checks the fields of a parsed body (see [`ServiceRequest::parse`]).
    fn from_fields(mut fields: Map<String, Value>) -> Result<ServiceRequest, RequestError> {
        let root = Object::new("", &fields);

        let hook = root.required_str("hook")?.to_owned();
        let hook_instance = root.required_str("hookInstance")?.to_owned();
        root.required_object("context")?;

        let fhir_server = match root.optional_str("fhirServer")? {
            Some(server) => Some(parse_server_url(server)?),
            None => None,
        };
        let fhir_authorization = match root.optional_object("fhirAuthorization")? {
            Some(auth) => {
                if fhir_server.is_none() {
                    return Err(RequestError::AuthorizationWithoutServer);
                }
                Some(FhirAuthorization::from_object(auth)?)
            }
            None => None,
        };
        root.optional_object("prefetch")?;
        root.optional_object("extension")?;

        // Every field has been checked. The objects are moved out of the parsed body rather than
        // copied: `prefetch` is most of a request, and copying it would cost as much as parsing.
        Ok(ServiceRequest {
            hook,
            hook_instance,
            fhir_server,
            fhir_authorization,
            context: take_object(&mut fields, "context").unwrap_or_default(),
            prefetch: take_object(&mut fields, "prefetch"),
            extension: take_object(&mut fields, "extension"),
        })
    }

    /// Checks that this request is for `expected` (the service's hook) and that the hook's
    /// context fields are present and well-formed.
    pub fn context_for(&self, expected: Hook) -> Result<HookContext, RequestError> {
        let received = Hook::from_name(&self.hook);
        if received != Some(expected) {
            return Err(RequestError::HookMismatch { expected, received });
        }
        let context = Object::new("context", &self.context);

        let patient_id = context.required_str("patientId")?;
        check_id(&context, "patientId", patient_id)?;

        // Lenient: see the module documentation.
        let user_id = context.optional_str("userId")?.map(str::to_owned);

        let encounter_id = read_encounter_id(&context)?;
        if encounter_id.is_none() && expected == Hook::EncounterStart {
            // `required_str` gives the right error (missing, or empty).
            context.required_str("encounterId")?;
        }

        let selections = if expected == Hook::OrderSelect {
            read_selections(&context)?
        } else {
            Vec::new()
        };

        let draft_orders = if expected.has_draft_orders() {
            let bundle = context.required_object("draftOrders")?;
            if bundle.get("resourceType").and_then(Value::as_str) != Some("Bundle") {
                return Err(RequestError::Invalid {
                    field: context.path_of("draftOrders"),
                    problem: "must be a FHIR Bundle",
                });
            }
            Some(Value::Object(bundle.clone()))
        } else {
            None
        };

        Ok(HookContext {
            hook: expected,
            patient_id: patient_id.to_owned(),
            user_id,
            encounter_id,
            selections,
            draft_orders,
            fields: self.context.clone(),
        })
    }
}

/// `fhirServer` must be an absolute http(s) URL with a host. This is the one parse of it.
fn parse_server_url(server: &str) -> Result<Url, RequestError> {
    let invalid = RequestError::Invalid {
        field: "fhirServer".to_owned(),
        problem: "must be an absolute http or https URL",
    };
    let url = Url::parse(server).map_err(|_| invalid.clone())?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(invalid);
    }
    Ok(url)
}

fn check_id(context: &Object<'_>, name: &str, id: &str) -> Result<(), RequestError> {
    if is_fhir_id(id) {
        Ok(())
    } else {
        Err(RequestError::Invalid {
            field: context.path_of(name),
            problem: "must be a FHIR id (letters, digits, '-' and '.', at most 64)",
        })
    }
}

/// `encounterId`: OPTIONAL except for encounter-start; a FHIR id when present.
fn read_encounter_id(context: &Object<'_>) -> Result<Option<String>, RequestError> {
    match context.optional_str("encounterId")? {
        Some(id) => {
            check_id(context, "encounterId", id)?;
            Ok(Some(id.to_owned()))
        }
        None => Ok(None),
    }
}

/// `selections`: REQUIRED for order-select, a non-empty array of non-empty strings.
fn read_selections(context: &Object<'_>) -> Result<Vec<String>, RequestError> {
    let field = context.path_of("selections");
    let items = context
        .optional_array("selections")?
        .ok_or_else(|| RequestError::Missing {
            field: field.clone(),
        })?;
    if items.is_empty() {
        return Err(RequestError::Empty { field });
    }
    items
        .iter()
        .map(|item| match item.as_str() {
            Some(text) if !text.is_empty() => Ok(text.to_owned()),
            _ => Err(RequestError::WrongType {
                field: field.clone(),
                expected: "an array of non-empty strings",
            }),
        })
        .collect()
}

/// A request's context, checked against its hook's definition.
///
/// `Debug` does not print ids or orders (they identify a patient).
#[derive(Clone, PartialEq)]
pub struct HookContext {
    hook: Hook,
    patient_id: String,
    user_id: Option<String>,
    encounter_id: Option<String>,
    selections: Vec<String>,
    draft_orders: Option<Value>,
    fields: Map<String, Value>,
}

impl fmt::Debug for HookContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HookContext")
            .field("hook", &self.hook)
            .field("has_user", &self.user_id.is_some())
            .field("has_encounter", &self.encounter_id.is_some())
            .field("selections", &self.selections.len())
            .field("has_draft_orders", &self.draft_orders.is_some())
            .finish_non_exhaustive()
    }
}

impl HookContext {
    /// The hook this context was checked against.
    pub fn hook(&self) -> Hook {
        self.hook
    }

    /// `context.patientId`: always a valid FHIR id.
    pub fn patient_id(&self) -> &str {
        &self.patient_id
    }

    /// `context.userId`, e.g. `Practitioner/123`, when the client sent one.
    pub fn user_id(&self) -> Option<&str> {
        self.user_id.as_deref()
    }

    /// `context.encounterId`, when present (always present for encounter-start).
    pub fn encounter_id(&self) -> Option<&str> {
        self.encounter_id.as_deref()
    }

    /// `context.draftOrders` for the order hooks: a JSON object with `resourceType: "Bundle"`.
    pub fn draft_orders(&self) -> Option<&Value> {
        self.draft_orders.as_ref()
    }

    /// `context.selections` for order-select (`ResourceType/id` strings); empty for other hooks.
    pub fn selections(&self) -> &[String] {
        &self.selections
    }

    /// The whole `context` object, e.g. for [`crate::prefetch::render`].
    pub fn fields(&self) -> &Map<String, Value> {
        &self.fields
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(value: Value) -> Vec<u8> {
        serde_json::to_vec(&value).unwrap()
    }

    fn patient_view() -> Value {
        json!({
            "hook": "patient-view",
            "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
            "context": {"userId": "Practitioner/example", "patientId": "1288992"}
        })
    }

    fn parse(value: Value) -> Result<ServiceRequest, RequestError> {
        ServiceRequest::parse(&body(value))
    }

    fn with(mut base: Value, pointer: &str, value: Value) -> Value {
        *base.pointer_mut(pointer).unwrap() = value;
        base
    }

    fn without(mut base: Value, pointer: &str) -> Value {
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        base.pointer_mut(if parent.is_empty() { "" } else { parent })
            .unwrap()
            .as_object_mut()
            .unwrap()
            .remove(key);
        base
    }

    fn order_select() -> Value {
        json!({
            "hook": "order-select",
            "hookInstance": "x",
            "context": {
                "userId": "PractitionerRole/123",
                "patientId": "1288992",
                "selections": ["ServiceRequest/us-1"],
                "draftOrders": {"resourceType": "Bundle", "type": "collection", "entry": []}
            }
        })
    }

    #[test]
    fn a_minimal_patient_view_request_parses_and_gives_its_context() {
        let request = parse(patient_view()).unwrap();
        assert_eq!(request.hook, "patient-view");
        assert_eq!(request.fhir_server, None);
        let context = request.context_for(Hook::PatientView).unwrap();
        assert_eq!(context.patient_id(), "1288992");
        assert_eq!(context.user_id(), Some("Practitioner/example"));
        assert_eq!(context.encounter_id(), None);
        assert!(context.draft_orders().is_none());
        assert!(context.selections().is_empty());
    }

    #[test]
    fn malformed_json_is_reported_with_its_position() {
        let error = ServiceRequest::parse(b"{\"hook\": \"patient-view\",\n  oops}").unwrap_err();
        assert_eq!(error, RequestError::MalformedJson { line: 2, column: 3 });
        assert!(matches!(
            ServiceRequest::parse(b""),
            Err(RequestError::MalformedJson { .. })
        ));
        assert!(matches!(
            ServiceRequest::parse(&[0xff, 0xfe]),
            Err(RequestError::MalformedJson { .. })
        ));
    }

    #[test]
    fn a_body_that_is_not_an_object_is_refused() {
        for text in ["[]", "\"patient-view\"", "42", "null", "true"] {
            assert_eq!(
                ServiceRequest::parse(text.as_bytes()),
                Err(RequestError::NotAnObject),
                "{text}"
            );
        }
    }

    #[test]
    fn ten_thousand_nested_arrays_are_an_error_not_a_stack_overflow() {
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert_eq!(
            ServiceRequest::parse(deep.as_bytes()),
            Err(RequestError::TooDeep)
        );
        // The same depth inside the context is refused just the same.
        let nested = format!(
            "{{\"hook\":\"patient-view\",\"hookInstance\":\"x\",\"context\":{{\"patientId\":\"1\",\"x\":{}{}}}}}",
            "[".repeat(10_000),
            "]".repeat(10_000)
        );
        assert_eq!(
            ServiceRequest::parse(nested.as_bytes()),
            Err(RequestError::TooDeep)
        );
    }

    #[test]
    fn missing_hook_hook_instance_or_context_is_named() {
        for field in ["hook", "hookInstance", "context"] {
            assert_eq!(
                parse(without(patient_view(), &format!("/{field}"))),
                Err(RequestError::Missing {
                    field: field.to_owned()
                })
            );
        }
        assert_eq!(
            parse(with(patient_view(), "/hookInstance", json!(""))),
            Err(RequestError::Empty {
                field: "hookInstance".into()
            })
        );
        assert_eq!(
            parse(with(patient_view(), "/context", Value::Null)),
            Err(RequestError::Missing {
                field: "context".into()
            })
        );
    }

    #[test]
    fn fields_of_the_wrong_type_are_named() {
        let cases = [
            ("/hook", json!(1), "hook", "a string"),
            ("/hookInstance", json!({"a": 1}), "hookInstance", "a string"),
            ("/context", json!([1]), "context", "an object"),
            ("/context", json!("ctx"), "context", "an object"),
        ];
        for (pointer, value, field, expected) in cases {
            assert_eq!(
                parse(with(patient_view(), pointer, value)),
                Err(RequestError::WrongType {
                    field: field.into(),
                    expected
                })
            );
        }
        let mut request = patient_view();
        request["prefetch"] = json!(["Patient/1"]);
        assert_eq!(
            parse(request),
            Err(RequestError::WrongType {
                field: "prefetch".into(),
                expected: "an object"
            })
        );
    }

    fn authorization() -> Value {
        json!({
            "access_token": "s3cr3t-token",
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "user/Patient.read",
            "subject": "gravida"
        })
    }

    #[test]
    fn fhir_authorization_without_fhir_server_is_refused() {
        let mut request = patient_view();
        request["fhirAuthorization"] = authorization();
        assert_eq!(
            parse(request.clone()),
            Err(RequestError::AuthorizationWithoutServer)
        );
        request["fhirServer"] = json!("https://ehr.example.org/fhir");
        let parsed = parse(request).unwrap();
        assert_eq!(
            parsed.fhir_authorization.unwrap().access_token,
            "s3cr3t-token"
        );
    }

    #[test]
    fn a_token_type_other_than_bearer_is_refused() {
        let mut request = patient_view();
        request["fhirServer"] = json!("https://ehr.example.org/fhir");
        request["fhirAuthorization"] = with(authorization(), "/token_type", json!("MAC"));
        assert_eq!(parse(request.clone()), Err(RequestError::NotBearer));
        // OAuth token types are case-insensitive.
        request["fhirAuthorization"] = with(authorization(), "/token_type", json!("bearer"));
        assert!(parse(request).is_ok());
    }

    #[test]
    fn fhir_authorization_fields_are_checked() {
        let mut request = patient_view();
        request["fhirServer"] = json!("https://ehr.example.org/fhir");
        request["fhirAuthorization"] = without(authorization(), "/access_token");
        assert_eq!(
            parse(request.clone()),
            Err(RequestError::Missing {
                field: "fhirAuthorization.access_token".into()
            })
        );
        request["fhirAuthorization"] = with(authorization(), "/expires_in", json!(-5));
        assert_eq!(
            parse(request),
            Err(RequestError::WrongType {
                field: "fhirAuthorization.expires_in".into(),
                expected: "a non-negative integer"
            })
        );
    }

    #[test]
    fn the_access_token_never_appears_in_debug_output() {
        let mut request = patient_view();
        request["fhirServer"] = json!("https://ehr.example.org/fhir");
        request["fhirAuthorization"] = authorization();
        request["fhirAuthorization"]["patient"] = json!("1288992");
        let parsed = parse(request).unwrap();
        let auth_debug = format!("{:?}", parsed.fhir_authorization);
        assert!(!auth_debug.contains("s3cr3t-token"), "{auth_debug}");
        assert!(auth_debug.contains("<redacted>"));
        assert!(auth_debug.contains("user/Patient.read"));
        let request_debug = format!("{parsed:?}");
        assert!(!request_debug.contains("s3cr3t-token"), "{request_debug}");
        assert!(!request_debug.contains("1288992"), "{request_debug}");
        let context_debug = format!("{:?}", parsed.context_for(Hook::PatientView).unwrap());
        assert!(!context_debug.contains("1288992"), "{context_debug}");
    }

    #[test]
    fn a_fhir_server_that_is_not_an_http_url_is_refused() {
        for server in [
            "not a url",
            "ftp://ehr.example.org",
            "/fhir",
            "file:///etc/passwd",
        ] {
            let mut request = patient_view();
            request["fhirServer"] = json!(server);
            assert_eq!(
                parse(request),
                Err(RequestError::Invalid {
                    field: "fhirServer".into(),
                    problem: "must be an absolute http or https URL"
                }),
                "{server}"
            );
        }
        let mut plain_http = patient_view();
        plain_http["fhirServer"] = json!("http://hooks.smarthealthit.org:9080");
        assert!(parse(plain_http).is_ok());
    }

    #[test]
    fn a_request_for_another_hook_is_a_mismatch() {
        let request = parse(patient_view()).unwrap();
        assert_eq!(
            request.context_for(Hook::OrderSign),
            Err(RequestError::HookMismatch {
                expected: Hook::OrderSign,
                received: Some(Hook::PatientView)
            })
        );
        let unknown = parse(with(
            patient_view(),
            "/hook",
            json!("<script>alert(1)</script>"),
        ))
        .unwrap();
        let error = unknown.context_for(Hook::PatientView).unwrap_err();
        assert_eq!(
            error,
            RequestError::HookMismatch {
                expected: Hook::PatientView,
                received: None
            }
        );
        assert!(!error.to_string().contains("script"), "{error}");
    }

    #[test]
    fn a_missing_empty_or_malformed_patient_id_is_an_error() {
        let missing = parse(without(patient_view(), "/context/patientId")).unwrap();
        assert_eq!(
            missing.context_for(Hook::PatientView),
            Err(RequestError::Missing {
                field: "context.patientId".into()
            })
        );
        let empty = parse(with(patient_view(), "/context/patientId", json!(""))).unwrap();
        assert_eq!(
            empty.context_for(Hook::PatientView),
            Err(RequestError::Empty {
                field: "context.patientId".into()
            })
        );
        let number = parse(with(patient_view(), "/context/patientId", json!(1288992))).unwrap();
        assert!(matches!(
            number.context_for(Hook::PatientView),
            Err(RequestError::WrongType { .. })
        ));
        let hostile = parse(with(
            patient_view(),
            "/context/patientId",
            json!("1&_count=1000"),
        ))
        .unwrap();
        let error = hostile.context_for(Hook::PatientView).unwrap_err();
        assert!(matches!(error, RequestError::Invalid { .. }));
        assert!(!error.to_string().contains("_count"), "{error}");
    }

    #[test]
    fn a_missing_user_id_is_tolerated_but_a_non_string_one_is_not() {
        let missing = parse(without(patient_view(), "/context/userId")).unwrap();
        assert_eq!(
            missing.context_for(Hook::PatientView).unwrap().user_id(),
            None
        );
        let number = parse(with(patient_view(), "/context/userId", json!(7))).unwrap();
        assert_eq!(
            number.context_for(Hook::PatientView),
            Err(RequestError::WrongType {
                field: "context.userId".into(),
                expected: "a string"
            })
        );
    }

    #[test]
    fn encounter_start_requires_an_encounter_id_and_patient_view_does_not() {
        let request = parse(with(patient_view(), "/hook", json!("encounter-start"))).unwrap();
        assert_eq!(
            request.context_for(Hook::EncounterStart),
            Err(RequestError::Missing {
                field: "context.encounterId".into()
            })
        );
        let with_encounter = parse(with(
            with(patient_view(), "/hook", json!("encounter-start")),
            "/context",
            json!({"userId": "Practitioner/1", "patientId": "p1", "encounterId": "e1"}),
        ))
        .unwrap();
        let context = with_encounter.context_for(Hook::EncounterStart).unwrap();
        assert_eq!(context.encounter_id(), Some("e1"));
        assert_eq!(context.hook(), Hook::EncounterStart);
    }

    #[test]
    fn order_select_needs_selections_and_a_draft_orders_bundle() {
        let good = parse(order_select()).unwrap();
        let context = good.context_for(Hook::OrderSelect).unwrap();
        assert_eq!(context.selections(), ["ServiceRequest/us-1"]);
        assert_eq!(context.draft_orders().unwrap()["resourceType"], "Bundle");

        let no_selections = parse(without(order_select(), "/context/selections")).unwrap();
        assert_eq!(
            no_selections.context_for(Hook::OrderSelect),
            Err(RequestError::Missing {
                field: "context.selections".into()
            })
        );
        let empty = parse(with(order_select(), "/context/selections", json!([]))).unwrap();
        assert!(matches!(
            empty.context_for(Hook::OrderSelect),
            Err(RequestError::Empty { .. })
        ));
        let numbers = parse(with(order_select(), "/context/selections", json!([1]))).unwrap();
        assert!(matches!(
            numbers.context_for(Hook::OrderSelect),
            Err(RequestError::WrongType { .. })
        ));

        let no_orders = parse(without(order_select(), "/context/draftOrders")).unwrap();
        assert_eq!(
            no_orders.context_for(Hook::OrderSelect),
            Err(RequestError::Missing {
                field: "context.draftOrders".into()
            })
        );
        let array = parse(with(order_select(), "/context/draftOrders", json!([]))).unwrap();
        assert!(matches!(
            array.context_for(Hook::OrderSelect),
            Err(RequestError::WrongType { .. })
        ));
        let not_bundle = parse(with(
            order_select(),
            "/context/draftOrders",
            json!({"resourceType": "MedicationRequest"}),
        ))
        .unwrap();
        assert!(matches!(
            not_bundle.context_for(Hook::OrderSelect),
            Err(RequestError::Invalid { .. })
        ));
    }

    #[test]
    fn order_sign_needs_draft_orders_but_not_selections() {
        let request = parse(without(
            with(order_select(), "/hook", json!("order-sign")),
            "/context/selections",
        ))
        .unwrap();
        let context = request.context_for(Hook::OrderSign).unwrap();
        assert!(context.selections().is_empty());
        assert!(context.draft_orders().is_some());
    }

    #[test]
    fn unknown_fields_extension_and_null_prefetch_values_are_accepted() {
        let mut request = patient_view();
        request["extension"] = json!({"com.example.x": 1});
        request["somethingNew"] = json!([1, 2]);
        request["context"]["com.example.extra"] = json!({"a": 1});
        request["prefetch"] =
            json!({"patient": null, "conditions": {"resourceType": "OperationOutcome"}});
        let parsed = parse(request).unwrap();
        assert_eq!(parsed.prefetch.as_ref().unwrap()["patient"], Value::Null);
        assert!(parsed.context_for(Hook::PatientView).is_ok());
    }

    #[test]
    fn a_parsed_request_serialises_back_to_the_same_request() {
        let mut request = patient_view();
        request["fhirServer"] = json!("https://ehr.example.org/fhir");
        request["fhirAuthorization"] = authorization();
        request["prefetch"] = json!({"patient": null});
        let parsed = parse(request).unwrap();
        let again = ServiceRequest::parse(&serde_json::to_vec(&parsed).unwrap()).unwrap();
        assert_eq!(again, parsed);
    }

    #[test]
    fn error_messages_are_short_and_name_fields_not_values() {
        let error = parse(with(patient_view(), "/hook", json!({"name": "Jane Doe"}))).unwrap_err();
        let message = error.to_string();
        assert_eq!(message, "`hook` must be a string");
        assert!(!message.contains("Jane"));
    }
}
