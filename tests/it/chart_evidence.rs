//! Pregnancy evidence and the reading classes of issue #30, end to end by prefetch and by fetch
//! (wiremock as the EHR): a pregnancy test read both ways (knowledge.md §3.6 item 7), and records
//! attached to the pregnancy episode they fall in (§3.6 item 8), and a vaginal bleed named
//! positively by its codes (§3.6 C5), and a record that cannot be read named, never silent
//! (§3.6 item 13).
//!
//! Each chart is small and written here, dated relative to today; each test has a control that
//! changes one record, so that the test fails if the class is not read.

use serde_json::{Value, json};

use crate::heavy_charts::{day, scenario};
use crate::helpers::TestApp;
use crate::real_world::cards_both_ways;
use crate::scenarios_http::Scenario;

const PATIENT: &str = "evidence-pt";

fn subject() -> Value {
    json!({ "reference": format!("Patient/{PATIENT}") })
}

fn patient() -> Value {
    json!({ "resourceType": "Patient", "id": PATIENT, "gender": "female", "birthDate": "1994-02-03" })
}

/// "Bleeding from vagina" (a finding, not itself pregnancy evidence), `days` from today.
fn bleed(days: i64) -> Value {
    json!({
        "resourceType": "Condition", "id": "ev-bleed",
        "clinicalStatus": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active" }] },
        "verificationStatus": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "confirmed" }] },
        "code": { "coding": [{ "system": "http://snomed.info/sct", "code": "289530006" }], "text": "Vaginal bleeding" },
        "subject": subject(), "onsetDateTime": day(days),
    })
}

/// A qualitative urine pregnancy test (LOINC 2106-3), `days` from today, its value `value`
/// (the whole `value[x]` element, in any form FHIR allows).
fn urine_test(id: &str, days: i64, value: Value) -> Value {
    let mut test = json!({
        "resourceType": "Observation", "id": id, "status": "final",
        "code": { "coding": [{ "system": "http://loinc.org", "code": "2106-3" }], "text": "Urine HCG, POC" },
        "subject": subject(), "effectiveDateTime": day(days),
    });
    for (key, v) in value.as_object().unwrap() {
        test[key] = v.clone();
    }
    test
}

/// A quantitative serum hCG of `iu_per_l` IU/L, `days` from today.
fn serum_hcg(days: i64, iu_per_l: f64) -> Value {
    json!({
        "resourceType": "Observation", "id": "ev-hcg", "status": "final",
        "code": { "coding": [{ "system": "http://loinc.org", "code": "83086-9" }] },
        "subject": subject(), "effectiveDateTime": day(days),
        "valueQuantity": { "value": iu_per_l, "unit": "IU/L", "system": "http://unitsofmeasure.org", "code": "[IU]/L" },
    })
}

fn chart(resources: Vec<Value>) -> Scenario {
    let mut all = vec![patient()];
    all.extend(resources);
    scenario(PATIENT, all)
}

/// "indicator: summary" of each card, by prefetch and by fetch, which must agree.
async fn cards(app: &TestApp, chart: &Scenario) -> Vec<String> {
    let [by_prefetch, by_fetch] = cards_both_ways(app, chart).await;
    let summaries = |cards: &[Value]| -> Vec<String> {
        cards
            .iter()
            .map(|c| format!("{}: {}", c["indicator"], c["summary"]))
            .collect()
    };
    assert_eq!(
        summaries(&by_prefetch),
        summaries(&by_fetch),
        "prefetch and fetch disagree"
    );
    summaries(&by_prefetch)
}

#[tokio::test]
async fn a_positive_urine_test_in_any_value_form_is_pregnancy_evidence_for_an_undated_bleed() {
    let app = TestApp::spawn().await;
    let control = cards(&app, &chart(vec![bleed(0)])).await;
    assert!(control.is_empty(), "no evidence, no card: {control:?}");
    for value in [
        json!({ "valueString": "Positive" }),
        json!({ "valueBoolean": true }),
        json!({ "valueCodeableConcept": { "coding": [{ "system": "http://loinc.org", "code": "LA6576-8" }] } }),
        json!({ "valueCodeableConcept": { "coding": [{ "system": "urn:oid:2.16.840.1.113883.6.1", "code": "LA11882-0" }] } }),
    ] {
        let got = cards(
            &app,
            &chart(vec![urine_test("ev-upt", -2, value.clone()), bleed(0)]),
        )
        .await;
        assert!(
            got.iter()
                .any(|c| c.starts_with("\"warning\"") && c.contains("unknown gestational age")),
            "{value}: {got:?}"
        );
    }
}

#[tokio::test]
async fn a_negative_test_after_the_bleed_and_after_every_positive_one_means_no_ongoing_pregnancy() {
    let app = TestApp::spawn().await;
    let positive = urine_test(
        "ev-upt",
        -20,
        json!({ "valueCodeableConcept": { "coding": [{ "system": "http://loinc.org", "code": "LA6576-8" }] } }),
    );
    // Control: an hCG of 1,200 IU/L today keeps the pregnancy going, and the bleed gets a card.
    let control = cards(
        &app,
        &chart(vec![positive.clone(), bleed(-10), serum_hcg(0, 1200.0)]),
    )
    .await;
    assert!(
        !control.is_empty(),
        "the bleed of an ongoing pregnancy: {control:?}"
    );
    let quantitative = cards(
        &app,
        &chart(vec![positive.clone(), bleed(-10), serum_hcg(0, 3.0)]),
    )
    .await;
    assert!(
        quantitative.is_empty(),
        "hCG 3 IU/L today: {quantitative:?}"
    );
    let qualitative = cards(
        &app,
        &chart(vec![
            positive.clone(),
            bleed(-10),
            urine_test("ev-neg", 0, json!({ "valueString": "Negative" })),
        ]),
    )
    .await;
    assert!(
        qualitative.is_empty(),
        "a negative urine test today: {qualitative:?}"
    );
    // A positive test after the negative one is new evidence: the card is back.
    let again = cards(
        &app,
        &chart(vec![
            urine_test("ev-neg", -15, json!({ "valueBoolean": false })),
            urine_test("ev-upt", -3, json!({ "valueString": "Positive" })),
            bleed(0),
        ]),
    )
    .await;
    assert!(!again.is_empty(), "positive after negative: {again:?}");
}

// ----- Episodes (§3.6 item 8) ----------------------------------------------------------------

/// An LMP of `start` days from today, charted `charted` days from today.
fn lmp(id: &str, charted: i64, start: i64) -> Value {
    json!({
        "resourceType": "Observation", "id": id, "status": "final",
        "code": { "coding": [{ "system": "http://loinc.org", "code": "8665-2" }] },
        "subject": subject(), "effectiveDateTime": day(charted), "valueDateTime": day(start),
    })
}

/// A confirmed, resolved miscarriage (ICD-10-CM `code`) `days` from today.
fn miscarriage(code: &str, days: i64) -> Value {
    json!({
        "resourceType": "Condition", "id": "ev-loss",
        "clinicalStatus": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "resolved" }] },
        "verificationStatus": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "confirmed" }] },
        "code": { "coding": [{ "system": "http://hl7.org/fhir/sid/icd-10-cm", "code": code }], "text": "Miscarriage" },
        "subject": subject(), "onsetDateTime": day(days), "abatementDateTime": day(days),
    })
}

#[tokio::test]
async fn an_earlier_pregnancys_edd_never_dates_the_pregnancy_after_a_recorded_miscarriage() {
    let app = TestApp::spawn().await;
    let earlier_edd = json!({
        "resourceType": "Observation", "id": "ev-old-edd", "status": "final",
        "code": { "coding": [{ "system": "http://loinc.org", "code": "11778-8" }] },
        "subject": subject(), "effectiveDateTime": day(-150), "valueDateTime": day(-215 + 280),
    });
    let records = |with_end: bool| {
        let mut r = vec![
            lmp("ev-old-lmp", -150, -215),
            earlier_edd.clone(),
            urine_test("ev-upt", -18, json!({ "valueString": "Positive" })),
            lmp("ev-lmp", -18, -49),
            bleed(0),
        ];
        if with_end {
            r.push(miscarriage("O03.4", -150));
        }
        chart(r)
    };
    // Control: with no recorded end, the charted EDD is the best estimate and dates it 30w5d.
    let control = cards(&app, &records(false)).await;
    assert!(control.iter().any(|c| c.contains("30w5d")), "{control:?}");
    let got = cards(&app, &records(true)).await;
    assert!(
        got.iter()
            .any(|c| c.starts_with("\"warning\"") && c.contains("7w0d")),
        "dated by the new LMP: {got:?}"
    );
    assert!(!got.iter().any(|c| c.contains("30w")), "{got:?}");
}

#[tokio::test]
async fn an_evacuation_whose_only_loss_code_is_its_reason_ends_the_earlier_episode() {
    let app = TestApp::spawn().await;
    let earlier_edd = json!({
        "resourceType": "Observation", "id": "ev-old-edd", "status": "final",
        "code": { "coding": [{ "system": "http://loinc.org", "code": "11778-8" }] },
        "subject": subject(), "effectiveDateTime": day(-150), "valueDateTime": day(-215 + 280),
    });
    // No procedure code of the pregnancy-ended set: only `reasonCode` says a miscarriage
    // (O03.4), read like the code of the Condition in the test above.
    let evacuation = json!({
        "resourceType": "Procedure", "id": "ev-evac", "status": "completed",
        "code": { "text": "Evacuation of uterus" },
        "reasonCode": [{ "coding": [{ "system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "O03.4" }],
                         "text": "Incomplete miscarriage" }],
        "subject": subject(), "performedDateTime": day(-150),
    });
    let records = |with_end: bool| {
        let mut r = vec![
            lmp("ev-old-lmp", -150, -215),
            earlier_edd.clone(),
            urine_test("ev-upt", -18, json!({ "valueString": "Positive" })),
            lmp("ev-lmp", -18, -49),
            bleed(0),
        ];
        if with_end {
            r.push(evacuation.clone());
        }
        chart(r)
    };
    // Control: with no recorded end, the earlier EDD dates the bleed (as in the test above).
    let control = cards(&app, &records(false)).await;
    assert!(control.iter().any(|c| c.contains("30w5d")), "{control:?}");
    let got = cards(&app, &records(true)).await;
    assert!(
        got.iter()
            .any(|c| c.starts_with("\"warning\"") && c.contains("7w0d")),
        "dated by the new LMP: {got:?}"
    );
    assert!(!got.iter().any(|c| c.contains("30w")), "{got:?}");
}

#[tokio::test]
async fn a_bleed_five_days_after_an_induced_termination_procedure_gets_no_card() {
    let app = TestApp::spawn().await;
    let termination = |status: &str| {
        json!({
            "resourceType": "Procedure", "id": "ev-top", "status": status,
            "code": { "coding": [
                { "system": "http://snomed.info/sct", "code": "714812005" },
                { "system": "http://www.ama-assn.org/go/cpt", "code": "59841" }] },
            "subject": subject(), "performedDateTime": day(-5),
        })
    };
    let status = json!({
        "resourceType": "Observation", "id": "ev-status", "status": "final",
        "code": { "coding": [{ "system": "http://loinc.org", "code": "82810-3" }] },
        "subject": subject(), "effectiveDateTime": day(-30),
        "valueCodeableConcept": { "coding": [{ "system": "http://snomed.info/sct", "code": "77386006" }] },
    });
    let with = |procedure: Value| {
        chart(vec![
            status.clone(),
            lmp("ev-lmp", -30, -70),
            procedure,
            bleed(0),
        ])
    };
    // Control: a termination only planned ends nothing, and the bleed gets its card.
    let planned = cards(&app, &with(termination("preparation"))).await;
    assert!(!planned.is_empty(), "{planned:?}");
    let done = cards(&app, &with(termination("completed"))).await;
    assert!(done.is_empty(), "after the termination: {done:?}");
}

#[tokio::test]
async fn an_undated_bleed_in_a_new_pregnancy_after_an_earlier_loss_gets_the_undated_card() {
    let app = TestApp::spawn().await;
    let records = |with_negative: bool| {
        let mut r = vec![
            miscarriage("O03.9", -70),
            urine_test(
                "ev-upt",
                -5,
                json!({ "valueCodeableConcept": { "coding": [{ "system": "http://loinc.org", "code": "LA6576-8" }] } }),
            ),
            bleed(0),
        ];
        if with_negative {
            r.push(serum_hcg(-40, 2.0));
        }
        chart(r)
    };
    // Control: a positive test alone after a loss may be its tail: the loss still owns the chart.
    let control = cards(&app, &records(false)).await;
    assert!(control.is_empty(), "{control:?}");
    let got = cards(&app, &records(true)).await;
    assert!(
        got.iter()
            .any(|c| c.starts_with("\"warning\"") && c.contains("unknown gestational age")),
        "a positive test after hCG < 5 is a new pregnancy: {got:?}"
    );
}

// ----- Non-obstetric haemorrhage codes (§3.6 C5) -----------------------------------------------

/// A pregnancy at 10 weeks by LMP, with `record` beside it.
fn pregnant_with(record: Value) -> Scenario {
    let status = json!({
        "resourceType": "Observation", "id": "ev-status", "status": "final",
        "code": { "coding": [{ "system": "http://loinc.org", "code": "82810-3" }] },
        "subject": subject(), "effectiveDateTime": day(-20),
        "valueCodeableConcept": { "coding": [{ "system": "http://snomed.info/sct", "code": "77386006" }] },
    });
    chart(vec![status, lmp("ev-lmp", -20, -70), record])
}

/// An active, confirmed Condition coded `system|code`, with `text`, onset today.
fn condition(system: &str, code: &str, text: &str) -> Value {
    json!({
        "resourceType": "Condition", "id": "ev-cond",
        "clinicalStatus": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active" }] },
        "verificationStatus": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "confirmed" }] },
        "code": { "coding": [{ "system": system, "code": code }], "text": text },
        "subject": subject(), "onsetDateTime": day(0),
    })
}

/// An emergency Encounter in progress today whose reason is coded `system|code`, with `text`.
fn encounter(system: &str, code: &str, text: &str) -> Value {
    json!({
        "resourceType": "Encounter", "id": "ev-enc", "status": "in-progress",
        "class": { "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "EMER" },
        "subject": subject(), "period": { "start": day(0) },
        "reasonCode": [{ "coding": [{ "system": system, "code": code }], "text": text }],
    })
}

#[tokio::test]
async fn a_subarachnoid_cerebral_or_retinal_haemorrhage_code_is_never_a_vaginal_bleed() {
    const SNOMED: &str = "http://snomed.info/sct";
    const ICD: &str = "http://hl7.org/fhir/sid/icd-10-cm";
    let app = TestApp::spawn().await;
    // Controls: a vaginal bleed coded so, as a Condition and as an Encounter reason, gets a card.
    for control in [
        condition(SNOMED, "289530006", "Vaginal bleeding"),
        encounter(ICD, "O20.9", "Hemorrhage in early pregnancy"),
    ] {
        let got = cards(&app, &pregnant_with(control.clone())).await;
        assert!(!got.is_empty(), "{control}: {got:?}");
    }
    for other in [
        condition(SNOMED, "21454007", "Subarachnoid hemorrhage"),
        condition(SNOMED, "274100004", "Cerebral hemorrhage"),
        condition(ICD, "H35.61", "Retinal haemorrhage OD"),
        encounter(ICD, "I60.9", "Subarachnoid hemorrhage"),
        encounter(SNOMED, "28998008", "Retinal hemorrhage"),
    ] {
        let got = cards(&app, &pregnant_with(other.clone())).await;
        assert!(got.is_empty(), "{other}: {got:?}");
    }
}

// ----- A record that cannot be read is never silent (§3.6 item 13, W9) --------------------------

#[tokio::test]
async fn a_bleed_with_an_unknown_modifier_extension_is_named_on_a_card_in_every_record_kind() {
    const SNOMED: &str = "http://snomed.info/sct";
    let app = TestApp::spawn().await;
    let observation = json!({
        "resourceType": "Observation", "id": "ev-obs", "status": "final",
        "code": { "coding": [{ "system": SNOMED, "code": "289530006" }], "text": "Vaginal bleeding" },
        "subject": subject(), "effectiveDateTime": day(0), "valueBoolean": true,
    });
    for bleed in [
        condition(SNOMED, "289530006", "Vaginal bleeding"),
        observation,
        encounter(
            "http://hl7.org/fhir/sid/icd-10-cm",
            "O20.9",
            "Bleeding in pregnancy",
        ),
    ] {
        // Control: read as written, the bleed gets the warning.
        let control = cards(&app, &pregnant_with(bleed.clone())).await;
        assert!(
            control.iter().any(|c| c.starts_with("\"warning\"")),
            "{bleed}: {control:?}"
        );
        let mut modified = bleed.clone();
        modified["modifierExtension"] = json!([{
            "url": "http://example-ehr.org/fhir/StructureDefinition/assertion-context",
            "valueCode": "family-member",
        }]);
        let scenario = pregnant_with(modified);
        let got = cards(&app, &scenario).await;
        assert!(
            !got.is_empty() && got.iter().all(|c| c.starts_with("\"info\"")),
            "not read as a bleed, but named: {got:?}"
        );
        let [by_prefetch, _] = cards_both_ways(&app, &scenario).await;
        let text: String = by_prefetch
            .iter()
            .map(|c| format!("{} {}", c["summary"], c["detail"]))
            .collect();
        assert!(text.contains("could not be interpreted"), "{text}");
        assert!(text.contains("review it in the chart"), "{text}");
    }
}
