//! Tests against the published CDS Hooks examples in `tests/fixtures/cds-hooks-spec/`.
//!
//! `MANIFEST.json` lists every example with its `kind` and whether it is conformant as published.
//! The sweep test parses every 2.0-era example by its kind. Examples that are *not* conformant are
//! each named in a test of their own that says what we do with them and why. The `v1.0/` and
//! `v3.0.0/` examples are tested where they tell us something about 2.0 behaviour (below);
//! JWT/JWK examples belong to the auth crate; the `schema/` files are non-normative models.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

use crate::discovery::DiscoveryResponse;
use crate::error::RequestError;
use crate::feedback::{FeedbackRequest, Outcome};
use crate::hook::Hook;
use crate::prefetch::{self, TemplateError};
use crate::request::{FhirAuthorization, ServiceRequest};
use crate::response::{Action, Card, CardError, Coding, Indicator, ServiceResponse, Source};
use crate::wire::find_empty_values;

const SPEC_DIR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/fixtures/cds-hooks-spec"
);

fn path(file: &str) -> PathBuf {
    Path::new(SPEC_DIR).join(file)
}

fn bytes(file: &str) -> Vec<u8> {
    std::fs::read(path(file)).unwrap_or_else(|e| panic!("reading {file}: {e}"))
}

fn json(file: &str) -> Value {
    serde_json::from_slice(&bytes(file)).unwrap_or_else(|e| panic!("parsing {file}: {e}"))
}

fn object(value: &Value) -> &Map<String, Value> {
    value.as_object().expect("a JSON object")
}

/// Wraps a hook context example in a minimal request for `hook`.
fn request_with_context(hook: &str, context: &Value) -> ServiceRequest {
    let body = json!({ "hook": hook, "hookInstance": "test-instance", "context": context });
    ServiceRequest::parse(&serde_json::to_vec(&body).unwrap()).unwrap()
}

/// Files not conformant as published, each handled by a named test in this module.
const NAMED_NON_CONFORMANT: &[&str] = &[
    "request-with-extension.json",
    "response-autolaunchable.json",
    "response-system-actions.json",
    "fragments/prefetch-data-example.json",
    "fragments/action-create.json",
    "fragments/action-update.json",
    "hook-contexts/order-select-context-r4.json",
    "hook-contexts/appointment-book-context-1.json",
    "cds-hooks-org/examples-opioid-card.json",
    "cds-hooks-org/examples-pama-system-action-response.json",
    "cds-hooks-org/quickstart-discovery-response.json",
    "cds-hooks-org/quickstart-response.json",
    "cds-hooks-org/quickstart-card.json",
];

/// Marked conformant, but written for the deprecated medication-prescribe hook with an order-sign
/// name: its context has `medications` instead of `draftOrders`.
const LEGACY_OPIOID_REQUEST: &str =
    "cds-hooks-org/examples-opioid-medication-prescribe-request.json";

/// Context fragments without `patientId`, which only illustrate prefetch token eligibility.
const TOKEN_FRAGMENTS: &[&str] = &[
    "fragments/context-draftorders-token-ineligible.json",
    "fragments/context-draftorders-with-medicationrequestid.json",
];

/// Directories whose examples are not 2.0 documents (see the module comment).
fn is_outside_2_0(file: &str) -> bool {
    file.starts_with("v1.0/") || file.starts_with("v3.0.0/") || file.starts_with("schema/")
}

/// Re-serialises `value` as `T` and checks it is unchanged and free of empty values.
fn assert_round_trips<T>(file: &str, original: &Value)
where
    T: serde::de::DeserializeOwned + serde::Serialize,
{
    let parsed: T =
        serde_json::from_value(original.clone()).unwrap_or_else(|e| panic!("{file}: {e}"));
    let again = serde_json::to_value(&parsed).unwrap();
    assert_eq!(&again, original, "{file} changed on a round trip");
    assert!(find_empty_values(&again).is_empty(), "{file}: {again}");
}

/// The hook a context example is for, from its file name.
fn hook_of_context_file(file: &str) -> &'static str {
    let name = file.rsplit('/').next().unwrap_or(file);
    [
        "patient-view",
        "order-select",
        "order-sign",
        "encounter-start",
        "encounter-discharge",
        "appointment-book",
    ]
    .into_iter()
    .find(|hook| name.starts_with(hook))
    .unwrap_or("patient-view")
}

/// Checks one conformant 2.0 example; returns false when its kind is not ours to check.
fn check_example(file: &str, kind: &str) -> bool {
    match kind {
        "discovery-response" => {
            let original = json(file);
            assert_round_trips::<DiscoveryResponse>(file, &original);
            let document: DiscoveryResponse = serde_json::from_value(original).unwrap();
            for service in &document.services {
                for template in service.prefetch.values() {
                    assert!(prefetch::parse(template).is_ok(), "{file}: {template}");
                }
            }
        }
        "service-request" => {
            let request =
                ServiceRequest::parse(&bytes(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
            // Examples for hooks Gravida serves must also give a valid context (the legacy
            // opioid example is tested on its own below).
            let legacy = file == LEGACY_OPIOID_REQUEST;
            if let Some(hook) = Hook::from_name(&request.hook).filter(|_| !legacy)
                && let Err(error) = request.context_for(hook)
            {
                panic!("{file}: {error}");
            }
        }
        "service-response" => {
            let original = json(file);
            assert_round_trips::<ServiceResponse>(file, &original);
            let response: ServiceResponse = serde_json::from_value(original).unwrap();
            assert_eq!(response.validate(), Ok(()), "{file}");
        }
        "feedback-request" => {
            let request =
                FeedbackRequest::parse(&bytes(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
            assert_eq!(
                serde_json::to_value(&request).unwrap(),
                json(file),
                "{file}"
            );
        }
        "prefetch-template" => {
            let context =
                object(&json("fragments/context-patient-view-example.json")["context"]).clone();
            for (key, template) in object(&json(file)["prefetch"]) {
                let template = template.as_str().expect("templates are strings");
                let rendered = prefetch::render(template, &context)
                    .unwrap_or_else(|e| panic!("{file} {key}: {e}"));
                assert!(!rendered.contains("{{"), "{file} {key}: {rendered}");
            }
        }
        "context" => {
            let example = json(file);
            let context = &example["context"];
            if context.get("patientId").is_none() {
                // Spec fragments that only illustrate prefetch tokens; tested by name below.
                assert!(TOKEN_FRAGMENTS.contains(&file), "{file} has no patientId");
                return true;
            }
            // Hooks Gravida does not serve are checked as the served hook with the same common
            // fields (userId, patientId, encounterId).
            let (hook, as_name) = match hook_of_context_file(file) {
                "encounter-discharge" => (Hook::EncounterStart, "encounter-start"),
                "appointment-book" => (Hook::PatientView, "patient-view"),
                name => (Hook::from_name(name).expect("a served hook"), name),
            };
            let request = request_with_context(as_name, context);
            let checked = request
                .context_for(hook)
                .unwrap_or_else(|e| panic!("{file}: {e}"));
            assert_eq!(
                Some(checked.patient_id()),
                context["patientId"].as_str(),
                "{file}"
            );
            assert_eq!(
                checked.encounter_id(),
                context["encounterId"].as_str(),
                "{file}"
            );
        }
        "fhirAuthorization" => {
            let auth = FhirAuthorization::from_object(object(&json(file)["fhirAuthorization"]))
                .unwrap_or_else(|e| panic!("{file}: {e}"));
            assert_eq!(auth.expires_in, 300);
        }
        "card-source" => {
            let original = &json(file)["source"];
            assert_round_trips::<Source>(file, original);
        }
        "action" => {
            let action: Action =
                serde_json::from_value(json(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
            assert_eq!(action.validate(), Ok(()), "{file}");
        }
        "card-overrideReasons" => {
            let original = &json(file)["overrideReasons"];
            assert_round_trips::<Vec<Coding>>(file, original);
            let reasons: Vec<Coding> = serde_json::from_value(original.clone()).unwrap();
            assert!(reasons.iter().all(|r| r.display.is_some()));
        }
        // Belong to the auth crate (JWT/JWK), or are not CDS Hooks documents.
        "jwt-header" | "jwt-payload" | "jwks" | "jwk-private" | "jwt-compact" | "error-body"
        | "fhir-terminology" | "fhir-logical-model" | "openapi" => return false,
        other => panic!("{file}: kind `{other}` is not handled by this test"),
    }
    true
}

#[test]
fn every_conformant_2_0_example_in_the_manifest_parses_as_its_kind() {
    let manifest = json("MANIFEST.json");
    let entries = manifest["entries"].as_array().expect("manifest entries");
    let mut checked = 0;
    for entry in entries {
        let file = entry["file"].as_str().expect("file");
        let kind = entry["kind"].as_str().expect("kind");
        let conformant = entry["conformant_as_published"]
            .as_bool()
            .expect("conformant flag");
        if is_outside_2_0(file) {
            continue;
        }
        if !conformant {
            assert!(
                NAMED_NON_CONFORMANT.contains(&file),
                "{file} is non-conformant but no test names it"
            );
            continue;
        }
        if check_example(file, kind) {
            checked += 1;
        }
    }
    // 30 conformant 2.0-era CDS Hooks documents are listed today; fail loudly if the sweep
    // silently stops finding them.
    assert!(checked >= 30, "only {checked} examples were checked");
}

#[test]
fn every_named_non_conformant_example_is_flagged_so_in_the_manifest() {
    let manifest = json("MANIFEST.json");
    for file in NAMED_NON_CONFORMANT {
        let entry = manifest["entries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|entry| entry["file"] == *file)
            .unwrap_or_else(|| panic!("{file} is not in the manifest"));
        assert_eq!(entry["conformant_as_published"], false, "{file}");
    }
}

// --- Non-conformant 2.0 examples, one by one ------------------------------------------------

/// request-with-extension.json: patient-view without `patientId`. It parses (the common request
/// fields are fine, and `extension` is accepted), but we cannot evaluate a patient we are not told
/// about, so `context_for` refuses it.
#[test]
fn request_with_extension_parses_but_its_missing_patient_id_is_refused() {
    let request = ServiceRequest::parse(&bytes("request-with-extension.json")).unwrap();
    assert_eq!(
        request.extension.as_ref().unwrap()["com.example.timestamp"],
        "2017-11-27T22:13:25Z"
    );
    assert_eq!(
        request.context_for(Hook::PatientView),
        Err(RequestError::Missing {
            field: "context.patientId".into()
        })
    );
}

/// response-autolaunchable.json: the card has no `indicator`, which is REQUIRED. We never send
/// such a card, and we do not read one as valid either.
#[test]
fn response_autolaunchable_is_refused_for_its_missing_indicator() {
    let error = serde_json::from_value::<ServiceResponse>(json("response-autolaunchable.json"))
        .unwrap_err();
    assert!(error.to_string().contains("indicator"), "{error}");
    // With an indicator added, the rest of the card (autolaunchable link) is fine.
    let mut fixed = json("response-autolaunchable.json");
    fixed["cards"][0]["indicator"] = json!("info");
    let response: ServiceResponse = serde_json::from_value(fixed).unwrap();
    assert_eq!(response.cards[0].links[0].autolaunchable, Some(true));
    assert_eq!(response.validate(), Ok(()));
}

/// response-system-actions.json: the system action has no `description` (REQUIRED in 2.0, optional
/// only from 3.0). It reads, but `validate` refuses it, so we never emit one like it.
#[test]
fn response_system_actions_reads_but_fails_validation_for_its_missing_description() {
    let response: ServiceResponse =
        serde_json::from_value(json("response-system-actions.json")).unwrap();
    assert!(response.cards.is_empty());
    assert_eq!(response.system_actions.len(), 1);
    assert_eq!(
        response.validate(),
        Err(CardError::ActionWithoutDescription)
    );
}

/// cds-hooks.org's PAMA system-action response has the same flaw.
#[test]
fn the_pama_system_action_response_fails_validation_for_its_missing_description() {
    let response: ServiceResponse = serde_json::from_value(json(
        "cds-hooks-org/examples-pama-system-action-response.json",
    ))
    .unwrap();
    assert_eq!(
        response.validate(),
        Err(CardError::ActionWithoutDescription)
    );
}

/// fragments/prefetch-data-example.json: `user` is the bare string "123" and resources hold
/// "<snipped>" placeholders. Prefetch values are not checked by this crate (the fhir crate reads
/// them one by one), so the request parses; the odd `user` value is passed on untouched.
#[test]
fn the_2_0_prefetch_data_example_is_carried_untouched_in_a_request() {
    let prefetch = json("fragments/prefetch-data-example.json")["prefetch"].clone();
    let body = json!({
        "hook": "patient-view", "hookInstance": "x",
        "context": {"patientId": "1288992"}, "prefetch": prefetch
    });
    let request = ServiceRequest::parse(&serde_json::to_vec(&body).unwrap()).unwrap();
    let prefetch = request.prefetch.unwrap();
    assert_eq!(prefetch["user"], "123");
    assert_eq!(prefetch["hemoglobin-a1c"]["resourceType"], "Bundle");
}

/// fragments/action-create.json and action-update.json contain a `"...": "<snipped>"` placeholder
/// inside the resource. The action itself is well-formed; the resource is opaque to this crate.
#[test]
fn the_snipped_create_and_update_actions_are_valid_actions() {
    for file in [
        "fragments/action-create.json",
        "fragments/action-update.json",
    ] {
        let action: Action = serde_json::from_value(json(file)).unwrap();
        assert_eq!(action.validate(), Ok(()), "{file}");
        assert!(action.resource.as_ref().unwrap().get("...").is_some());
        let again = serde_json::to_value(&action).unwrap();
        assert_eq!(again, json(file), "{file}");
    }
}

/// hook-contexts/order-select-context-r4.json: the MedicationRequest is not valid R4 (doseAndRate
/// is an object). This crate only checks that `draftOrders` is a Bundle; validating resources is
/// the fhir crate's job, so the context is accepted here.
#[test]
fn the_r4_order_select_context_is_accepted_because_resources_are_checked_downstream() {
    let example = json("hook-contexts/order-select-context-r4.json");
    let request = request_with_context("order-select", &example["context"]);
    let context = request.context_for(Hook::OrderSelect).unwrap();
    assert_eq!(context.selections().len(), 2);
    assert_eq!(context.draft_orders().unwrap()["resourceType"], "Bundle");
}

/// hook-contexts/appointment-book-context-1.json: invalid Appointments, and appointment-book is not
/// a hook Gravida serves, so asking for any of our hooks is a mismatch.
#[test]
fn the_appointment_book_example_is_a_hook_we_do_not_serve() {
    let example = json("hook-contexts/appointment-book-context-1.json");
    let request = request_with_context("appointment-book", &example["context"]);
    assert_eq!(
        request.context_for(Hook::PatientView),
        Err(RequestError::HookMismatch {
            expected: Hook::PatientView,
            received: None
        })
    );
}

/// The cds-hooks.org opioid request says `order-sign` but carries medication-prescribe's
/// `medications` array: without `draftOrders` there is nothing for order-sign to check.
#[test]
fn the_legacy_opioid_request_is_refused_for_order_sign_without_draft_orders() {
    let request = ServiceRequest::parse(&bytes(LEGACY_OPIOID_REQUEST)).unwrap();
    assert_eq!(
        request.context_for(Hook::OrderSign),
        Err(RequestError::Missing {
            field: "context.draftOrders".into()
        })
    );
}

/// cds-hooks.org opioid card: no `source`, which is REQUIRED.
#[test]
fn the_opioid_card_without_a_source_is_refused() {
    let error = serde_json::from_value::<Card>(json("cds-hooks-org/examples-opioid-card.json"))
        .unwrap_err();
    assert!(error.to_string().contains("source"), "{error}");
}

/// cds-hooks.org quickstart discovery uses pre-1.0 `name` for `title`. Unknown fields are ignored,
/// so it reads with no title, and re-serialises without the stray `name`.
#[test]
fn the_quickstart_discovery_reads_with_no_title() {
    let document: DiscoveryResponse =
        serde_json::from_value(json("cds-hooks-org/quickstart-discovery-response.json")).unwrap();
    assert_eq!(document.services[0].title, None);
    assert!(document.validate().is_ok());
    let again = serde_json::to_value(&document).unwrap();
    assert!(again["services"][0].get("name").is_none());
}

/// cds-hooks.org quickstart response uses indicator `success`, removed before 1.0.
#[test]
fn the_quickstart_response_with_a_success_indicator_is_refused() {
    let error =
        serde_json::from_value::<ServiceResponse>(json("cds-hooks-org/quickstart-response.json"))
            .unwrap_err();
    assert!(error.to_string().contains("success"), "{error}");
}

/// cds-hooks.org quickstart card has `"url": null` (nulls are prohibited). We read `null` as
/// absent, and what we write back has no `null`.
#[test]
fn the_quickstart_card_null_url_is_read_as_absent_and_never_written() {
    let card: Card = serde_json::from_value(json("cds-hooks-org/quickstart-card.json")).unwrap();
    assert_eq!(card.source.url, None);
    assert_eq!(card.indicator, Indicator::Info);
    assert_eq!(card.validate(), Ok(()));
    let again = serde_json::to_value(&card).unwrap();
    assert!(find_empty_values(&again).is_empty(), "{again}");
}

// --- Other versions: what applies to 2.0 ---------------------------------------------------------

/// The 1.0 patient-view request (patient/ scopes, no `fhirAuthorization.patient`) is still a
/// valid 2.0 request.
#[test]
fn the_1_0_patient_view_request_is_a_valid_2_0_request() {
    let request = ServiceRequest::parse(&bytes("v1.0/patient-view-request.json")).unwrap();
    assert_eq!(request.fhir_authorization.as_ref().unwrap().patient, None);
    let context = request.context_for(Hook::PatientView).unwrap();
    assert_eq!(context.encounter_id(), Some("89284"));
}

/// The 1.0 request-with-extension lacks `patientId` too, and is refused the same way.
#[test]
fn the_1_0_request_with_extension_is_refused_for_its_missing_patient_id() {
    let request = ServiceRequest::parse(&bytes("v1.0/request-with-extension.json")).unwrap();
    assert!(matches!(
        request.context_for(Hook::PatientView),
        Err(RequestError::Missing { .. })
    ));
}

/// The 1.0 example response is still a valid 2.0 response.
#[test]
fn the_1_0_example_response_is_valid_2_0() {
    let original = json("v1.0/response-example.json");
    assert_round_trips::<ServiceResponse>("v1.0/response-example.json", &original);
}

/// 1.0 deleted by putting the id in `resource`; 2.0 deprecates that for `resourceId`, so such an
/// action fails our validation.
#[test]
fn a_1_0_style_delete_action_fails_2_0_validation() {
    let action: Action =
        serde_json::from_value(json("v1.0/fragments/action-delete-1.0-style.json")).unwrap();
    assert_eq!(action.validate(), Err(CardError::DeleteWithoutResourceId));
}

/// The 3.0 paginated order-sign request parses and gives a context; its draft order ids contain
/// U+2011, which this crate does not inspect (they are inside the Bundle).
#[test]
fn the_3_0_paginated_order_sign_request_gives_an_order_sign_context() {
    let request =
        ServiceRequest::parse(&bytes("v3.0.0/order-sign-request-paginated-prefetch.json")).unwrap();
    let context = request.context_for(Hook::OrderSign).unwrap();
    assert_eq!(context.patient_id(), "1288992");
    assert!(request.prefetch.unwrap().contains_key("orders"));
}

/// The 3.0 relative-date tokens are evaluated (the spec's own example: 90 days before
/// 2024-09-13 is 2024-06-15); the FHIRPath beyond that subset (`resolve()`, `ofType()`, `%key`
/// variables) is refused instead of sending a broken query.
#[test]
fn the_3_0_relative_date_templates_render_and_the_rest_of_fhirpath_is_refused() {
    let example = json("v3.0.0/fragments/prefetch-template-fhirpath-relative-date.json");
    let template = example["prefetch"]["labsFromLastQuarter"].as_str().unwrap();
    let context = serde_json::json!({"patientId": "1288992"});
    assert_eq!(
        prefetch::render_on(
            template,
            object(&context),
            time::macros::date!(2024 - 09 - 13)
        )
        .unwrap(),
        "Observation?patient=1288992&category=laboratory&date=gt2024-06-15"
    );
    for file in [
        "v3.0.0/fragments/prefetch-template-fhirpath-chained-variables.json",
        "v3.0.0/fragments/prefetch-template-fhirpath-meds-appointments.json",
    ] {
        let example = json(file);
        let any_refused = object(&example["prefetch"])
            .values()
            .any(|template| prefetch::parse(template.as_str().unwrap()).is_err());
        assert!(any_refused, "{file}");
    }
}

// --- Prefetch examples rendered with real contexts ----------------------------------------------

#[test]
fn the_spec_prefetch_examples_render_to_the_expected_queries() {
    let context = object(&json("fragments/context-patient-view-example.json")["context"]).clone();
    let templates = json("fragments/prefetch-templates-example.json");
    let templates = object(&templates["prefetch"]);
    let render = |key: &str| prefetch::render(templates[key].as_str().unwrap(), &context);
    assert_eq!(render("patient").unwrap(), "Patient/1288992");
    assert_eq!(
        render("hemoglobin-a1c").unwrap(),
        "Observation?patient=1288992&code=4548-4&_count=1&sort:desc=date"
    );
    // The example context's user is PractitionerRole/123.
    assert_eq!(render("user").unwrap(), "PractitionerRole?_id=123");
    let read = json("fragments/prefetch-template-user-read.json");
    assert_eq!(
        prefetch::render(read["prefetch"]["user"].as_str().unwrap(), &context).unwrap(),
        "PractitionerRole/123"
    );
}

#[test]
fn the_spec_draft_orders_token_examples_behave_as_the_spec_says() {
    // `medicationRequestId` is a root-level primitive: eligible.
    let eligible = json("fragments/context-draftorders-with-medicationrequestid.json");
    assert_eq!(
        prefetch::render(
            "MedicationRequest/{{context.medicationRequestId}}",
            object(&eligible["context"])
        )
        .unwrap(),
        "MedicationRequest/123"
    );
    // `draftOrders` is an object: not eligible.
    let ineligible = json("fragments/context-draftorders-token-ineligible.json");
    assert_eq!(
        prefetch::render(
            "MedicationRequest?_id={{context.draftOrders}}",
            object(&ineligible["context"])
        ),
        Err(TemplateError::NotPrimitive {
            field: "draftOrders".into()
        })
    );
}

#[test]
fn the_spec_feedback_examples_carry_their_outcomes() {
    let accepted = FeedbackRequest::parse(&bytes("feedback-accepted.json")).unwrap();
    assert_eq!(accepted.feedback[0].outcome, Outcome::Accepted);
    let overridden =
        FeedbackRequest::parse(&bytes("feedback-overridden-with-reason.json")).unwrap();
    let reason = overridden.feedback[0].override_reason.as_ref().unwrap();
    assert_eq!(reason.reason.as_ref().unwrap().code, "d7ecf885");
    // A feedback `reason` need not have a display (only a card's overrideReasons must).
    assert_eq!(reason.reason.as_ref().unwrap().display, None);
}

#[test]
fn the_spec_request_example_maps_to_a_patient_view_context() {
    let request = ServiceRequest::parse(&bytes("patient-view-request.json")).unwrap();
    let auth = request.fhir_authorization.as_ref().unwrap();
    assert_eq!(auth.subject, "cds-service4");
    assert!(!format!("{auth:?}").contains("some-opaque-fhir-access-token"));
    let context = request.context_for(Hook::PatientView).unwrap();
    assert_eq!(context.patient_id(), "1288992");
    assert_eq!(context.encounter_id(), Some("89284"));
    assert_eq!(context.user_id(), Some("Practitioner/example"));
}

/// Every JSON file under the spec fixtures, and bodies that break each rule of `parse`.
fn request_bodies() -> Vec<(String, Vec<u8>)> {
    let mut bodies = Vec::new();
    let mut stack = vec![path("")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("fixture folder") {
            let file = entry.expect("dir entry").path();
            if file.is_dir() {
                stack.push(file);
            } else if file.extension().is_some_and(|ext| ext == "json") {
                let body = std::fs::read(&file).expect("fixture");
                bodies.push((file.display().to_string(), body));
            }
        }
    }
    let valid = json!({"hook": "patient-view", "hookInstance": "x",
        "context": {"patientId": "p1"}, "prefetch": {"patient": null}});
    let raw = [
        "",
        "[]",
        "{\"hook\": \"patient-view\"",
        "{\"hook\":\"patient-view\",\"hookInstance\":\"x\",\"context\":{\"patientId\":\"p1\"}} trailing",
        "{\"hook\":\"patient-view\",\"hookInstance\":\"x\",\"context\":{\"patientId\":\"p1\"},\"prefetch\":{},\"prefetch\":{\"a\":1}}",
        "{\"hook\":\"patient-view\",\"hookInstance\":\"x\",\"hook\":\"order-sign\",\"context\":{\"patientId\":\"p1\"}}",
    ];
    bodies.extend(
        raw.iter()
            .map(|body| (format!("raw {body:?}"), body.as_bytes().to_vec())),
    );
    let deep = format!(
        "{{\"hook\":\"patient-view\",\"hookInstance\":\"x\",\"context\":{{\"patientId\":\"p1\"}},\"prefetch\":{{\"k\":{}{}}}}}",
        "[".repeat(200),
        "]".repeat(200)
    );
    bodies.push(("deep prefetch".into(), deep.into_bytes()));
    for (pointer, value) in [
        ("/prefetch", json!([1])),
        ("/prefetch", json!("x")),
        ("/prefetch", Value::Null),
        ("/hook", json!(5)),
        ("/context", json!(null)),
        ("/fhirServer", json!("ftp://x")),
        (
            "/fhirAuthorization",
            json!({"access_token": "t", "token_type": "Bearer"}),
        ),
        ("/extension", json!([1])),
    ] {
        let mut body = valid.clone();
        body[&pointer[1..]] = value.clone();
        bodies.push((
            format!("{pointer} = {value}"),
            serde_json::to_vec(&body).unwrap(),
        ));
    }
    bodies
}

#[test]
fn the_split_parse_gives_what_parse_gives_or_declines() {
    let mut split = 0;
    let mut declined_valid = Vec::new();
    for (name, body) in request_bodies() {
        let reference = ServiceRequest::parse(&body);
        let seed = std::marker::PhantomData::<Map<String, Value>>;
        match (ServiceRequest::parse_with_prefetch(&body, seed), reference) {
            (None, Ok(_)) => declined_valid.push(name),
            (None, Err(_)) => {}
            (Some(_), Err(error)) => panic!("{name}: accepted, but parse says {error}"),
            (Some((request, prefetch)), Ok(mut expected)) => {
                assert_eq!(request.prefetch, None, "{name}");
                assert_eq!(prefetch, expected.prefetch.take(), "{name}");
                assert_eq!(request, expected, "{name}");
                split += 1;
            }
        }
    }
    // Every valid request is read by the split parse, except one with two `prefetch` fields
    // (which `parse` reads as the last one).
    assert!(split >= 10, "only {split} bodies were split");
    assert_eq!(declined_valid.len(), 1, "{declined_valid:?}");
    assert!(
        declined_valid[0].contains("\\\"prefetch\\\":{},\\\"prefetch\\\""),
        "{declined_valid:?}"
    );
}

/// [`crate::override_reasons::STANDARD`] is the 3.0.0 terminology's own: each code is in the
/// code system with the same display, and exactly the value set's codes are marked
/// clinical-selection.
#[test]
fn the_standard_override_reasons_match_the_3_0_0_terminology() {
    use crate::override_reasons::{
        CLINICAL_SELECTION_VALUE_SET, NON_ADHERENCE_REASON_SYSTEM, STANDARD,
    };
    let system = json("v3.0.0/terminology/CodeSystem-non-adherence-reason-codes.json");
    assert_eq!(system["url"], NON_ADHERENCE_REASON_SYSTEM);
    fn displays(concepts: &Value, into: &mut Vec<(String, String)>) {
        for concept in concepts.as_array().into_iter().flatten() {
            into.push((
                concept["code"].as_str().unwrap().to_owned(),
                concept["display"].as_str().unwrap().to_owned(),
            ));
            displays(&concept["concept"], into);
        }
    }
    let mut all = Vec::new();
    displays(&system["concept"], &mut all);
    for reason in STANDARD {
        assert!(
            all.iter()
                .any(|(code, display)| code == reason.code && display == reason.display),
            "{reason:?}"
        );
    }
    let value_set = json("v3.0.0/terminology/ValueSet-non-adherence-reason-clinical.json");
    assert_eq!(value_set["url"], CLINICAL_SELECTION_VALUE_SET);
    let include = &value_set["compose"]["include"][0];
    assert_eq!(include["system"], NON_ADHERENCE_REASON_SYSTEM);
    let mut in_value_set: Vec<&str> = include["concept"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["code"].as_str().unwrap())
        .collect();
    let mut marked: Vec<&str> = STANDARD
        .iter()
        .filter(|r| r.clinical_selection)
        .map(|r| r.code)
        .collect();
    in_value_set.sort_unstable();
    marked.sort_unstable();
    assert_eq!(marked, in_value_set);
}
