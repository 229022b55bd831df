//! Tests of prefetch template parsing and rendering.

use super::*;
use serde_json::json;

fn context(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("test context must be an object, got {other}"),
    }
}

fn pv_context() -> Map<String, Value> {
    context(json!({
        "userId": "Practitioner/example",
        "patientId": "1288992",
        "encounterId": "89284"
    }))
}

#[test]
fn context_tokens_are_replaced_by_the_field_value() {
    let rendered = render(
        "Observation?patient={{context.patientId}}&encounter={{context.encounterId}}&code=4548-4",
        &pv_context(),
    )
    .unwrap();
    assert_eq!(
        rendered,
        "Observation?patient=1288992&encounter=89284&code=4548-4"
    );
}

#[test]
fn the_user_id_token_renders_the_whole_reference_for_a_read() {
    assert_eq!(
        render("{{context.userId}}", &pv_context()).unwrap(),
        "Practitioner/example"
    );
}

#[test]
fn each_user_token_takes_the_id_when_the_user_has_that_resource_type() {
    let cases = [
        ("{{userPractitionerId}}", "Practitioner/p1"),
        ("{{userPractitionerRoleId}}", "PractitionerRole/r-2"),
        ("{{userPatientId}}", "Patient/pt.3"),
        ("{{userRelatedPersonId}}", "RelatedPerson/rp4"),
    ];
    for (template, user) in cases {
        let ctx = context(json!({ "userId": user, "patientId": "1" }));
        let id = user.split_once('/').unwrap().1;
        assert_eq!(render(template, &ctx).unwrap(), id, "{template}");
    }
}

#[test]
fn a_user_token_for_another_resource_type_is_an_error() {
    let ctx = context(json!({ "userId": "PractitionerRole/123" }));
    assert_eq!(
        render("Practitioner/{{userPractitionerId}}", &ctx),
        Err(TemplateError::UserTypeMismatch {
            token: "userPractitionerId",
            expected: "Practitioner"
        })
    );
}

#[test]
fn a_user_token_without_a_user_reference_is_an_error() {
    let missing = context(json!({ "patientId": "1" }));
    assert!(matches!(
        render("{{userPatientId}}", &missing),
        Err(TemplateError::NoUser { .. })
    ));
    let bare_id = context(json!({ "userId": "123" }));
    assert!(matches!(
        render("{{userPatientId}}", &bare_id),
        Err(TemplateError::NoUser { .. })
    ));
}

#[test]
fn a_missing_or_null_context_field_is_an_error() {
    let ctx = context(json!({ "encounterId": null }));
    assert_eq!(
        render("Patient/{{context.patientId}}", &ctx),
        Err(TemplateError::MissingContextField {
            field: "patientId".into()
        })
    );
    assert!(matches!(
        render("Encounter/{{context.encounterId}}", &ctx),
        Err(TemplateError::MissingContextField { .. })
    ));
}

#[test]
fn a_non_primitive_context_field_is_not_a_token() {
    let ctx = context(json!({ "draftOrders": {"resourceType": "Bundle"}, "selections": ["A/1"] }));
    assert!(matches!(
        render("X?_id={{context.draftOrders}}", &ctx),
        Err(TemplateError::NotPrimitive { .. })
    ));
    assert!(matches!(
        render("X?_id={{context.selections}}", &ctx),
        Err(TemplateError::NotPrimitive { .. })
    ));
}

#[test]
fn nested_context_paths_are_refused() {
    assert_eq!(
        parse("Medication/{{context.medication.id}}"),
        Err(TemplateError::NotRootLevel {
            token: "context.medication.id".into()
        })
    );
}

#[test]
fn numbers_and_booleans_render_as_text() {
    let ctx = context(json!({ "patientId": 1288992, "flag": true }));
    assert_eq!(
        render("Patient/{{context.patientId}}?x={{context.flag}}", &ctx).unwrap(),
        "Patient/1288992?x=true"
    );
}

#[test]
fn values_that_are_not_fhir_ids_are_refused_not_injected() {
    let hostile = [
        "123&_include=*",
        "1 2",
        "../Patient",
        "a?b",
        "",
        "draft\u{2011}rx\u{2011}1", // U+2011 non-breaking hyphen, as in a 3.0 example
        "Patient/1/_history/2",
    ];
    for value in hostile {
        let ctx = context(json!({ "patientId": value }));
        assert_eq!(
            render("Patient/{{context.patientId}}", &ctx),
            Err(TemplateError::InvalidValue {
                field: "patientId".into()
            }),
            "{value:?}"
        );
    }
    let too_long = context(json!({ "patientId": "a".repeat(65) }));
    assert!(render("Patient/{{context.patientId}}", &too_long).is_err());
    let longest = context(json!({ "patientId": "a".repeat(64) }));
    assert!(render("Patient/{{context.patientId}}", &longest).is_ok());
}

#[test]
fn error_messages_never_contain_the_value() {
    let ctx = context(json!({ "patientId": "SECRET&name=Smith" }));
    let error = render("Patient/{{context.patientId}}", &ctx).unwrap_err();
    assert!(!error.to_string().contains("SECRET"));
    assert!(!error.to_string().contains("Smith"));
}

#[test]
fn unknown_tokens_are_errors() {
    for template in [
        "Patient/{{Patient.id}}",
        "Observation?date=gt{{today() - 1.5 days}}",
        "{{}}",
        "{{context.}}",
        "{{%prefetchKey.id}}",
        "{{context.draftOrders.entry.resource.ofType(MedicationRequest).id}}",
    ] {
        assert!(parse(template).is_err(), "{template}");
    }
    assert_eq!(
        parse("Patient/{{Patient.id}}"),
        Err(TemplateError::UnknownToken {
            token: "Patient.id".into()
        })
    );
}

#[test]
fn unterminated_and_unmatched_braces_are_errors() {
    assert_eq!(
        parse("Patient/{{context.patientId"),
        Err(TemplateError::Unterminated { at: 8 })
    );
    assert_eq!(
        parse("Patient/{{context.patientId{{context.userId}}"),
        Err(TemplateError::Unterminated { at: 8 })
    );
    assert_eq!(
        parse("Patient/context.patientId}}"),
        Err(TemplateError::Unmatched { at: 25 })
    );
}

#[test]
fn a_template_without_tokens_renders_unchanged() {
    let template = "Observation?code=http://loinc.org|8665-2&_count=1";
    assert_eq!(render(template, &Map::new()).unwrap(), template);
}

#[test]
fn percent_encoding_escapes_everything_outside_unreserved() {
    assert_eq!(percent_encode("aZ0-._~"), "aZ0-._~");
    assert_eq!(percent_encode("a&b c/é"), "a%26b%20c%2F%C3%A9");
}

#[test]
fn a_2_0_client_gets_the_same_search_without_its_date_bounds() {
    let bounded = "Observation?patient={{context.patientId}}&code=a|1&date=ge{{ today() - 1 year }}&_count=500";
    assert!(has_date_token(bounded));
    let unbounded = for_2_0_clients(bounded);
    assert_eq!(
        unbounded,
        "Observation?patient={{context.patientId}}&code=a|1&_count=500"
    );
    assert!(!has_date_token(&unbounded));
    assert_eq!(
        for_2_0_clients("Appointment?date=gt{{today()}}&date=lt{{today() + 365 days}}"),
        "Appointment"
    );
    // A 2.0 template is left as it is.
    let plain = "Condition?patient={{context.patientId}}&_count=500";
    assert_eq!(for_2_0_clients(plain), plain);
    assert_eq!(
        for_2_0_clients("Patient/{{context.patientId}}"),
        "Patient/{{context.patientId}}"
    );
}

#[test]
fn a_date_token_renders_as_a_fhir_date_and_one_off_the_calendar_is_an_error() {
    let context = serde_json::Map::new();
    assert_eq!(
        render_on(
            "X?date=ge{{today() - 300 days}}",
            &context,
            time::macros::date!(2026 - 12 - 07)
        ),
        Ok("X?date=ge2026-02-10".to_owned())
    );
    assert_eq!(
        render_on(
            "X?date=ge{{today() - 3000 years}}",
            &context,
            time::macros::date!(2026 - 12 - 07)
        ),
        Err(TemplateError::DateOutOfRange {
            token: "today() - 3000 years".into()
        })
    );
}
