//! Property tests: parsing never panics on any input, and the limits hold for any value.

use proptest::prelude::*;
use serde_json::json;

use crate::feedback::FeedbackRequest;
use crate::hook::Hook;
use crate::prefetch::{self, is_fhir_id, split_reference};
use crate::request::ServiceRequest;
use crate::response::{Card, Indicator, SUMMARY_MAX_CHARS, Source};

/// Text that looks like JSON often enough to reach past the syntax check.
fn jsonish() -> impl Strategy<Value = String> {
    proptest::string::string_regex(r#"[\[\]{}":,0-9a-zA-Z \-\.\\]{0,200}"#).expect("a valid regex")
}

proptest! {
    #[test]
    fn parsing_any_bytes_returns_a_result_and_never_panics(body in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = ServiceRequest::parse(&body);
        let _ = FeedbackRequest::parse(&body);
    }

    #[test]
    fn parsing_json_like_text_never_panics(body in jsonish()) {
        if let Ok(request) = ServiceRequest::parse(body.as_bytes()) {
            for hook in Hook::ALL {
                let _ = request.context_for(hook);
            }
        }
        let _ = FeedbackRequest::parse(body.as_bytes());
    }

    #[test]
    fn a_summary_is_accepted_exactly_when_it_is_non_blank_and_under_140_characters(summary in ".{0,160}") {
        let built = Card::builder(summary.clone(), Indicator::Info, Source::new("Gravida")).build();
        let expected = !summary.trim().is_empty() && summary.chars().count() < SUMMARY_MAX_CHARS;
        prop_assert_eq!(built.is_ok(), expected);
    }

    #[test]
    fn a_context_value_renders_only_when_it_is_an_id_or_reference(id in ".{0,70}") {
        let context = json!({ "patientId": id });
        let context = context.as_object().expect("an object");
        let acceptable = is_fhir_id(&id) || split_reference(&id).is_some();
        match prefetch::render("Condition?patient={{context.patientId}}", context) {
            Ok(rendered) => {
                prop_assert!(acceptable);
                // Ids and references need no escaping, so they go in unchanged.
                prop_assert_eq!(rendered, format!("Condition?patient={id}"));
            }
            Err(_) => prop_assert!(!acceptable),
        }
    }

    #[test]
    fn template_errors_never_echo_the_value(id in ".{0,70}") {
        // The marker cannot occur in any message by accident.
        let context = json!({ "patientId": format!("ZQX{id}?") });
        let context = context.as_object().expect("an object");
        let error = prefetch::render("Patient/{{context.patientId}}", context);
        prop_assert!(error.is_err());
        if let Err(error) = error {
            prop_assert!(!error.to_string().contains("ZQX"), "{}", error);
        }
    }

    #[test]
    fn request_errors_never_echo_a_patient_id(id in "[^\"\\\\]{1,40}") {
        let marked = format!("ZQX{id}");
        let body = json!({"hook": "patient-view", "hookInstance": "x", "context": {"patientId": marked}});
        let request = ServiceRequest::parse(&serde_json::to_vec(&body).expect("serialisable"))
            .expect("a well-formed request");
        if let Err(error) = request.context_for(Hook::PatientView) {
            prop_assert!(!error.to_string().contains("ZQX"), "{}", error);
        }
    }
}
