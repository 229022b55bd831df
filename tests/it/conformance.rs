//! CDS Hooks 3.0.0's invariants over HTTP: every card the public scenarios produce meets
//! cds-resp-1 to cds-resp-7, the feedback Gravida accepts meets cds-fb-1 to cds-fb-3 (and what
//! breaks them is refused), a request that breaks cds-r-1 is refused, and a 412 has the shape of
//! the specification's own OperationOutcome example.

use gravida_cds_hooks::invariants::{check_feedback, check_request, check_response};
use gravida_cds_hooks::override_reasons;
use serde_json::{Value, json};

use crate::cds3::error_name;
use crate::helpers::{TestApp, fixture};
use crate::scenarios_http::{load, prefetch_for, request, scenario_files};

const NOW: &str = "2026-01-01T10:00:00Z";

/// Sends a feedback body for `service`; returns the status and the body.
async fn feedback(app: &TestApp, service: &str, body: &Value) -> (u16, Value) {
    app.post_raw(
        &format!("/cds-services/{service}/feedback"),
        body.to_string().into_bytes(),
    )
    .await
}

#[tokio::test]
async fn every_card_of_every_public_scenario_meets_the_response_invariants_and_its_feedback_is_accepted()
 {
    let app = TestApp::spawn_with(&[("GRAVIDA_CARDS__REPEAT_WINDOW_HOURS", "0")]).await;
    let mut problems = Vec::new();
    let mut cards_seen = 0;
    for path in scenario_files() {
        let scenario = load(&path);
        let service = format!("gravida-{}", scenario.hook);
        let prefetch = prefetch_for(&app, &service, &scenario).await;
        let sent = request(&scenario, Some(prefetch), None);
        assert!(check_request(&sent).is_empty(), "{}", scenario.name);
        let (status, body) = app.call(&service, &sent).await;
        assert_eq!(status, 200, "{}: {body}", scenario.name);
        for violation in check_response(&body) {
            problems.push(format!("{}: {violation}", scenario.name));
        }
        for card in body["cards"].as_array().unwrap() {
            cards_seen += 1;
            // Every override reason is a standard one, with the code system's display.
            for reason in card["overrideReasons"].as_array().into_iter().flatten() {
                let standard = reason["code"].as_str().and_then(override_reasons::standard);
                let known = reason["system"] == override_reasons::NON_ADHERENCE_REASON_SYSTEM
                    && standard.is_some_and(|s| reason["display"] == s.display);
                if !known {
                    problems.push(format!("{}: override reason {reason}", scenario.name));
                }
            }
            // Feedback a 3.0 client would send about it: accepted with its first suggestion,
            // and overridden with its first reason and a comment. Both meet cds-fb-1..3 and are
            // accepted.
            let uuid = card["uuid"].as_str().unwrap();
            let mut items = vec![json!({
                "card": uuid, "outcome": "overridden", "outcomeTimestamp": NOW,
                "overrideReason": { "reason": card["overrideReasons"][0], "userComment": "ok" }
            })];
            if let Some(suggestion) = card["suggestions"][0]["uuid"].as_str() {
                items.push(json!({
                    "card": uuid, "outcome": "accepted", "outcomeTimestamp": NOW,
                    "acceptedSuggestions": [{ "id": suggestion }]
                }));
            }
            let body = json!({ "feedback": items });
            assert!(check_feedback(&body).is_empty(), "{body}");
            let (status, answer) = feedback(&app, &service, &body).await;
            if status != 200 {
                problems.push(format!(
                    "{}: feedback answered {status}: {answer}",
                    scenario.name
                ));
            }
        }
    }
    assert!(cards_seen >= 10, "the scenarios give cards: {cards_seen}");
    assert!(problems.is_empty(), "{problems:#?}");
}

#[tokio::test]
async fn feedback_that_breaks_a_feedback_invariant_is_refused_with_an_operation_outcome() {
    let app = TestApp::spawn().await;
    let card = "9368d37b-283f-44a0-93ea-547cebab93ed";
    let broken = [
        // cds-fb-1: an outcome other than accepted or overridden.
        json!({"feedback": [{"card": card, "outcome": "ignored", "outcomeTimestamp": NOW}]}),
        // cds-fb-2: accepted without the suggestions accepted.
        json!({"feedback": [{"card": card, "outcome": "accepted", "outcomeTimestamp": NOW}]}),
        json!({"feedback": [{"card": card, "outcome": "accepted", "acceptedSuggestions": [],
                             "outcomeTimestamp": NOW}]}),
        // cds-fb-3: an override reason with neither a reason nor a comment.
        json!({"feedback": [{"card": card, "outcome": "overridden", "overrideReason": {},
                             "outcomeTimestamp": NOW}]}),
    ];
    for body in broken {
        assert!(!check_feedback(&body).is_empty(), "{body}");
        let (status, answer) = feedback(&app, "gravida-patient-view", &body).await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert_eq!(error_name(&answer), "invalid-request");
    }
    // The specification's own feedback example (3.0.0 text) is accepted.
    let example = json!({"feedback": [{
        "card": card, "outcome": "overridden",
        "overrideReason": {"reason": {"code": "d7ecf885",
                                      "system": "https://example.com/cds-hooks/override-reason-system"},
                           "userComment": "A comment entered by the clinician."},
        "outcomeTimestamp": "2020-12-11T00:00:00Z"
    }]});
    assert!(check_feedback(&example).is_empty());
    let (status, answer) = feedback(&app, "gravida-patient-view", &example).await;
    assert_eq!(status, 200, "{answer}");
}

#[tokio::test]
async fn a_request_with_fhir_authorization_but_no_fhir_server_is_refused_cds_r_1() {
    let app = TestApp::spawn().await;
    let body = json!({
        "hook": "patient-view",
        "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "fhirAuthorization": {"access_token": "t", "token_type": "Bearer", "expires_in": 300,
                              "scope": "user/Patient.read", "subject": "gravida"},
        "context": {"userId": "Practitioner/example", "patientId": "p1"}
    });
    assert_eq!(
        check_request(&body)
            .iter()
            .map(|v| v.invariant.key())
            .collect::<Vec<_>>(),
        ["cds-r-1"]
    );
    let (status, answer) = app.call("gravida-patient-view", &body).await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(error_name(&answer), "invalid-request");
}

#[tokio::test]
async fn a_412_has_the_shape_of_the_specifications_operation_outcome_example() {
    let example = fixture("cds-hooks-spec/v3.0.0/error-412-operationoutcome.json");
    let app = TestApp::spawn().await;
    let body = json!({
        "hook": "patient-view",
        "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "context": {"userId": "Practitioner/example", "patientId": "p1"}
    });
    let (status, ours) = app.call("gravida-patient-view", &body).await;
    assert_eq!(status, 412, "{ours}");
    assert_eq!(ours["resourceType"], example["resourceType"]);
    let (theirs, ours) = (&example["issue"][0], &ours["issue"][0]);
    for field in ["severity", "code"] {
        assert_eq!(ours[field], theirs[field], "{field}");
    }
    for field in ["diagnostics", "expression"] {
        assert_eq!(
            ours[field].is_string(),
            theirs[field].is_string(),
            "{field}"
        );
        assert_eq!(ours[field].is_array(), theirs[field].is_array(), "{field}");
    }
}
