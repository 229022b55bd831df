//! Chart shapes that misled the engine (knowledge.md §3.5 "Reading the record"), end to end:
//! each public scenario rewritten the way a real EHR charts it, answered by prefetch and by
//! fetch from wiremock, each beside the unchanged scenario as its control.

use serde_json::{Value, json};
use time::{Duration, OffsetDateTime};

use crate::helpers::TestApp;
use crate::real_world::{cards_both_ways, scenario, suggestion_labels};
use crate::scenarios_http::Scenario;

/// A calendar day `days` before today, as FHIR writes it (the scenarios are moved to today).
fn days_ago(days: i64) -> String {
    (OffsetDateTime::now_utc().date() - Duration::days(days)).to_string()
}

/// The resource of the scenario with this id, to rewrite.
fn resource<'s>(scenario: &'s mut Scenario, id: &str) -> &'s mut Value {
    scenario
        .resources
        .iter_mut()
        .find(|r| r["id"] == id)
        .unwrap_or_else(|| panic!("the scenario has {id}"))
}

/// A resource about the scenario's patient.
fn add(scenario: &mut Scenario, mut resource: Value) {
    let patient = scenario.context["patientId"].as_str().unwrap().to_owned();
    resource["subject"] = json!({"reference": format!("Patient/{patient}")});
    scenario.resources.push(resource);
}

fn details(cards: &[Value]) -> String {
    cards
        .iter()
        .map(|c| format!("{} {}", c["summary"], c["detail"]))
        .collect::<Vec<_>>()
        .join("\n")
}

fn indicators(cards: &[Value]) -> Vec<String> {
    cards
        .iter()
        .map(|c| c["indicator"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn coding(system: &str, code: &str, display: &str) -> Value {
    json!({"coding": [{"system": system, "code": code, "display": display}]})
}

const SNOMED: &str = "http://snomed.info/sct";
const LOINC: &str = "http://loinc.org";

#[tokio::test]
async fn a_review_of_systems_row_vaginal_bleeding_none_gives_no_card() {
    let app = TestApp::spawn().await;
    let [control, _] = cards_both_ways(&app, &scenario("pub04")).await;
    assert!(!control.is_empty(), "the bleed as charted fires");
    let mut ros = scenario("pub04");
    ros.resources.retain(|r| r["id"] != "pub04-cond-5");
    for (id, value) in [
        (
            "ros-1",
            json!({"valueCodeableConcept": coding(SNOMED, "260413007", "None")}),
        ),
        ("ros-2", json!({"valueString": "Denies"})),
        ("ros-3", json!({"valueBoolean": false})),
    ] {
        let mut row = json!({
            "resourceType": "Observation", "id": id, "status": "final",
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "survey"}]}],
            "code": {"coding": [{"system": SNOMED, "code": "289530006", "display": "Bleeding from vagina"}], "text": "Vaginal bleeding"},
            "effectiveDateTime": days_ago(0),
        });
        for (k, v) in value.as_object().unwrap() {
            row[k] = v.clone();
        }
        add(&mut ros, row);
    }
    for cards in cards_both_ways(&app, &ros).await {
        assert!(cards.is_empty(), "{cards:#?}");
    }
}

#[tokio::test]
async fn rh_negative_sent_as_an_hl7v2_string_or_an_abo_rh_panel_gets_the_anti_d_card() {
    let app = TestApp::spawn().await;
    for (code, text) in [("10331-7", "Rh Negative"), ("882-1", "O NEG")] {
        let mut s = scenario("pub11");
        let rh = resource(&mut s, "pub11-obs-6");
        rh["code"] = coding(LOINC, code, "Rh or ABO/Rh type");
        rh.as_object_mut().unwrap().remove("valueCodeableConcept");
        rh["valueString"] = json!(text);
        for cards in cards_both_ways(&app, &s).await {
            let text_of = details(&cards);
            assert!(text_of.contains("anti-D"), "{text}: {text_of}");
            assert!(!text_of.contains("not on record"), "{text}: {text_of}");
        }
    }
}

#[tokio::test]
async fn an_rh_type_on_file_is_said_on_the_card_and_never_ordered() {
    let app = TestApp::spawn().await;
    for cards in cards_both_ways(&app, &scenario("pub03")).await {
        assert!(details(&cards).contains("RhD positive"), "{cards:#?}");
        let labels = suggestion_labels(&cards);
        assert!(!labels.iter().any(|l| l.contains("ABO/Rh")), "{labels:?}");
    }
    // Unreadable: named as such, and the type asked for again.
    let mut s = scenario("pub03");
    let rh = resource(&mut s, "pub03-obs-6");
    rh.as_object_mut().unwrap().remove("valueCodeableConcept");
    rh["valueString"] = json!("see blood bank report");
    for cards in cards_both_ways(&app, &s).await {
        let text = details(&cards);
        assert!(text.contains("Rh not readable"), "{text}");
        assert!(!text.contains("not on record"), "{text}");
        let labels = suggestion_labels(&cards);
        assert!(labels.iter().any(|l| l.contains("ABO/Rh")), "{labels:?}");
    }
}

#[tokio::test]
async fn an_hcg_below_5_is_shown_as_written_and_never_read_as_a_fall_to_5() {
    let app = TestApp::spawn().await;
    let mut s = scenario("pub04");
    resource(&mut s, "pub04-obs-4")["valueQuantity"] = json!({
        "comparator": "<", "value": 5, "unit": "m[IU]/mL",
        "system": "http://unitsofmeasure.org", "code": "m[IU]/mL"
    });
    for cards in cards_both_ways(&app, &s).await {
        let text = details(&cards);
        assert_eq!(indicators(&cards), ["warning"], "{text}");
        assert!(text.contains("\\<5"), "the bound as written: {text}");
        assert!(text.contains("a bound, not used in a trend"), "{text}");
        assert!(!text.contains("hCG fell"), "{text}");
        assert!(!text.contains("could not be read"), "{text}");
    }
}

#[tokio::test]
async fn history_of_postpartum_hemorrhage_on_the_problem_list_does_not_silence_the_warning() {
    let app = TestApp::spawn().await;
    let condition = |text: &str| {
        json!({
            "resourceType": "Condition", "id": "hx-pph",
            "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]},
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-category", "code": "problem-list-item"}]}],
            "code": {"coding": [{"system": SNOMED, "code": "47821001", "display": "Postpartum hemorrhage"}], "text": text},
        })
    };
    let mut history = scenario("pub01");
    add(
        &mut history,
        condition("History of postpartum hemorrhage (2022)"),
    );
    for cards in cards_both_ways(&app, &history).await {
        assert_eq!(indicators(&cards), ["warning"], "{cards:#?}");
    }
    // Read as what it says: the same entry without "History of" ends the pregnancy.
    let mut current = scenario("pub01");
    add(&mut current, condition("Postpartum hemorrhage"));
    for cards in cards_both_ways(&app, &current).await {
        assert!(cards.is_empty(), "{cards:#?}");
    }
}

#[tokio::test]
async fn a_pregnant_status_from_three_years_ago_is_no_evidence_for_todays_bleed() {
    let app = TestApp::spawn().await;
    let old_status = || {
        let mut s = scenario("pub04");
        resource(&mut s, "pub04-obs-1")["effectiveDateTime"] = json!(days_ago(3 * 365));
        s
    };
    let mut s = old_status();
    // This pregnancy's hCG results (900 and 1,500 m[IU]/mL) are evidence of it in their own
    // right (knowledge.md §3.6 item 7): without them the old status is the only evidence.
    let current_hcg = ["pub04-obs-3", "pub04-obs-4"];
    let with_hcg = old_status();
    s.resources
        .retain(|r| !current_hcg.iter().any(|id| r["id"] == *id));
    for cards in cards_both_ways(&app, &s).await {
        assert!(cards.is_empty(), "{cards:#?}");
    }
    for cards in cards_both_ways(&app, &with_hcg).await {
        assert!(!cards.is_empty(), "an hCG of 1,500 is evidence: {cards:#?}");
    }
}

#[tokio::test]
async fn a_previous_pregnancys_hcg_pair_is_not_this_pregnancys_trend() {
    let app = TestApp::spawn().await;
    let pair = |s: &mut Scenario, first: i64| {
        for (id, value, ago) in [
            ("pub04-obs-3", 1500, first),
            ("pub04-obs-4", 600, first - 2),
        ] {
            let r = resource(s, id);
            r["effectiveDateTime"] = json!(days_ago(ago));
            r["valueQuantity"]["value"] = json!(value);
        }
    };
    let mut this_pregnancy = scenario("pub04");
    pair(&mut this_pregnancy, 4);
    for cards in cards_both_ways(&app, &this_pregnancy).await {
        assert!(details(&cards).contains("hCG fell"), "{cards:#?}");
    }
    let mut earlier = scenario("pub04");
    pair(&mut earlier, 400);
    for cards in cards_both_ways(&app, &earlier).await {
        let text = details(&cards);
        assert_eq!(indicators(&cards), ["warning"], "{text}");
        assert!(!text.contains("hCG fell"), "{text}");
    }
}

#[tokio::test]
async fn bleeding_from_anus_in_a_pregnant_patient_gives_no_pregnancy_card() {
    let app = TestApp::spawn().await;
    let mut s = scenario("pub04");
    resource(&mut s, "pub04-cond-5")["code"] = json!({
        "coding": [{"system": SNOMED, "code": "6072007", "display": "Bleeding from anus"}],
        "text": "Bleeding from anus"
    });
    for cards in cards_both_ways(&app, &s).await {
        assert!(cards.is_empty(), "{cards:#?}");
    }
}

#[tokio::test]
async fn an_intrauterine_pregnancy_finding_absent_after_tvus_keeps_the_ectopic_warning() {
    let app = TestApp::spawn().await;
    let with_finding = |answer: Value| {
        let mut s = scenario("pub04");
        add(
            &mut s,
            json!({
                "resourceType": "Observation", "id": "tvus", "status": "final",
                "code": coding(LOINC, "42451-5", "US Pelvis transvaginal"),
                "effectiveDateTime": days_ago(0),
            }),
        );
        add(
            &mut s,
            json!({
                "resourceType": "Observation", "id": "iup-finding", "status": "final",
                "code": {"coding": [{"system": SNOMED, "code": "65727000", "display": "Intrauterine pregnancy"}], "text": "Intrauterine pregnancy"},
                "effectiveDateTime": days_ago(0),
                "valueCodeableConcept": answer,
            }),
        );
        s
    };
    let present = with_finding(coding(SNOMED, "52101004", "Present"));
    for cards in cards_both_ways(&app, &present).await {
        assert_eq!(indicators(&cards), ["info"], "{cards:#?}");
    }
    let absent = with_finding(coding(SNOMED, "2667000", "Absent"));
    for cards in cards_both_ways(&app, &absent).await {
        let text = details(&cards);
        assert_eq!(indicators(&cards), ["warning"], "{text}");
        assert!(text.contains("pregnancy of unknown location"), "{text}");
    }
}

#[tokio::test]
async fn ten_days_postpartum_without_a_delivery_code_gets_no_antepartum_card() {
    let app = TestApp::spawn().await;
    let mut s = scenario("pub06");
    resource(&mut s, "pub06-cond-4")["code"] = json!({
        "coding": [{"system": SNOMED, "code": "289530006", "display": "Bleeding from vagina"}],
        "text": "Vaginal bleeding"
    });
    let [control, _] = cards_both_ways(&app, &s).await;
    assert!(!control.is_empty(), "the bleed alone fires");
    add(
        &mut s,
        json!({
            "resourceType": "Condition", "id": "pp-note",
            "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]},
            "code": {"text": "Postpartum day 10, s/p delivery"},
            "onsetDateTime": days_ago(10),
        }),
    );
    for cards in cards_both_ways(&app, &s).await {
        assert!(cards.is_empty(), "{cards:#?}");
    }
}

#[tokio::test]
async fn an_rh_type_from_before_this_pregnancy_types_it_and_is_never_asked_for_again() {
    // §3.6 C1: the RhD type is permanent; a type two years old counts, with its date.
    let app = TestApp::spawn().await;
    let mut s = scenario("pub11");
    resource(&mut s, "pub11-obs-6")["effectiveDateTime"] = json!(days_ago(2 * 365));
    for cards in cards_both_ways(&app, &s).await {
        let text = details(&cards);
        assert!(text.contains("anti-D"), "{text}");
        assert!(!text.contains("predates this pregnancy"), "{text}");
        let labels = suggestion_labels(&cards);
        assert!(!labels.iter().any(|l| l.contains("ABO/Rh")), "{labels:?}");
    }
}
