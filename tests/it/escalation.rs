//! Escalation and the new rules of knowledge.md §3.5 (R2E, R14, risk factors and G5 within this
//! pregnancy, R6 across G5, R15) end to end over HTTP, by prefetch and by fetch from wiremock
//! standing in for the EHR's FHIR server.
//!
//! Vital signs are plain Observations (8480-6, 8867-4 with `valueQuantity`). Until a prefetch key
//! searches for them, an EHR can only send them inside another key's Bundle, and a FHIR server
//! can only return them beside another search's matches: [`cards_both_ways`] puts the records no
//! template reaches into the bleeding search, on both paths. Once a key asks for them, the
//! templates reach them and nothing is added.

use serde_json::{Map, Value, json};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};
use wiremock::matchers::{header, method};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::fhir_sim::{run_query, searchset};
use crate::helpers::{TestApp, long_form_text};
use crate::scenarios_http::{Scenario, prefetch_for, request, templates};

const TOKEN: &str = "escalation-access-token-5c21";

/// A bleeding code the bleeding search asks for: the search that carries unreached records.
const BLEEDING_CODE: &str = "723665008";

fn day(days_ago: i64) -> String {
    (OffsetDateTime::now_utc().date() - Duration::days(days_ago)).to_string()
}

fn minutes_ago(minutes: i64) -> String {
    (OffsetDateTime::now_utc() - Duration::minutes(minutes))
        .format(&Rfc3339)
        .unwrap()
}

fn subject(patient: &str) -> Value {
    json!({"reference": format!("Patient/{patient}")})
}

fn loinc(code: &str, display: &str) -> Value {
    json!({"coding": [{"system": "http://loinc.org", "code": code, "display": display}], "text": display})
}

fn coded(system: &str, code: &str, text: &str) -> Value {
    json!({"coding": [{"system": system, "code": code}], "text": text})
}

const SNOMED: &str = "http://snomed.info/sct";
const ICD10CM: &str = "http://hl7.org/fhir/sid/icd-10-cm";

/// A pregnant patient at `ga_days` today (pregnancy status and LMP), with `more` resources.
fn pregnancy(patient: &str, ga_days: i64, more: Vec<Value>) -> Vec<Value> {
    let mut resources = vec![
        json!({"resourceType": "Patient", "id": patient, "gender": "female", "birthDate": "1992-05-01"}),
        json!({"resourceType": "Observation", "id": format!("{patient}-status"), "status": "final",
               "code": loinc("82810-3", "Pregnancy status"), "subject": subject(patient),
               "effectiveDateTime": day(3),
               "valueCodeableConcept": {"coding": [{"system": SNOMED, "code": "77386006"}]}}),
        json!({"resourceType": "Observation", "id": format!("{patient}-lmp"), "status": "final",
               "code": loinc("8665-2", "Last menstrual period start date"), "subject": subject(patient),
               "effectiveDateTime": day(3), "valueDateTime": day(ga_days)}),
    ];
    resources.extend(more);
    resources
}

fn condition(patient: &str, id: &str, code: Value, onset: &str) -> Value {
    json!({"resourceType": "Condition", "id": id, "subject": subject(patient),
           "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]},
           "verificationStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "confirmed"}]},
           "code": code, "onsetDateTime": onset})
}

fn bleed(patient: &str, text: &str) -> Value {
    condition(
        patient,
        &format!("{patient}-bleed"),
        coded(SNOMED, BLEEDING_CODE, text),
        &day(0),
    )
}

fn vital(patient: &str, id: &str, code: &str, display: &str, value: f64, unit: &str) -> Value {
    json!({"resourceType": "Observation", "id": id, "status": "final",
           "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}]}],
           "code": loinc(code, display), "subject": subject(patient),
           "effectiveDateTime": minutes_ago(30),
           "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit}})
}

fn scenario(name: &str, hook: &str, patient: &str, resources: Vec<Value>) -> Scenario {
    Scenario {
        name: name.to_owned(),
        hook: hook.to_owned(),
        context: json!({"userId": "Practitioner/escalation", "patientId": patient}),
        resources,
        expect: Value::Null,
    }
}

/// The ids of the resources no prefetch template reaches.
fn unreached(prefetch: &Map<String, Value>, resources: &[Value]) -> Vec<Value> {
    let reached: String = prefetch.values().map(|v| v.to_string()).collect();
    resources
        .iter()
        .filter(|r| r["resourceType"] == "Observation")
        .filter(|r| !reached.contains(&format!("\"id\":\"{}\"", r["id"].as_str().unwrap())))
        .cloned()
        .collect()
}

/// The cards of a call, by prefetch and by fetch (both must answer 200). Records that no
/// template reaches travel with the bleeding search (see the module comment).
async fn cards_both_ways(app: &TestApp, scenario: &Scenario) -> [Vec<Value>; 2] {
    let service = format!("gravida-{}", scenario.hook);
    let mut prefetch = prefetch_for(app, &service, scenario).await;
    let extra = unreached(&prefetch, &scenario.resources);
    let bleeding = templates(app, &service)
        .await
        .into_iter()
        .find(|(_, template)| {
            template
                .as_str()
                .unwrap_or_default()
                .contains(BLEEDING_CODE)
        })
        .map(|(key, _)| key)
        .expect("a template searches for bleeding");
    if let Some(entries) = prefetch[&bleeding]["entry"].as_array_mut() {
        for resource in &extra {
            entries.push(json!({"fullUrl": format!("urn:test:{}", resource["id"].as_str().unwrap()), "resource": resource}));
        }
    }
    let (status, by_prefetch) = app
        .call(&service, &request(scenario, Some(prefetch), None))
        .await;
    assert_eq!(status, 200, "by prefetch: {by_prefetch}");

    let resources = scenario.resources.clone();
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .respond_with(move |request: &Request| {
            let path = request.url.path().trim_start_matches("/fhir/");
            let query = request.url.query().unwrap_or_default();
            let Some(mut body) = run_query(&resources, &format!("{path}?{query}")) else {
                return ResponseTemplate::new(404);
            };
            if path == "Observation" && query.contains(BLEEDING_CODE) {
                let mut matches: Vec<Value> = body["entry"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .iter()
                    .map(|e| e["resource"].clone())
                    .collect();
                matches.extend(extra.iter().cloned());
                body = searchset(&matches.iter().collect::<Vec<_>>());
            }
            ResponseTemplate::new(200)
                .insert_header("content-type", "application/fhir+json")
                .set_body_json(body)
        })
        .mount(&server)
        .await;
    let base = format!("{}/fhir", server.uri());
    let (status, by_fetch) = app
        .call(&service, &request(scenario, None, Some((&base, TOKEN))))
        .await;
    assert_eq!(status, 200, "by fetch: {by_fetch}");
    let received = server.received_requests().await.unwrap_or_default();
    assert!(!received.is_empty(), "the fetch path asked the FHIR server");
    [by_prefetch, by_fetch].map(|r| r["cards"].as_array().cloned().unwrap_or_default())
}

fn rule(card: &Value) -> &str {
    card["source"]["topic"]["code"].as_str().unwrap_or("?")
}

fn card_of<'c>(cards: &'c [Value], wanted: &str) -> &'c Value {
    cards
        .iter()
        .find(|c| rule(c) == wanted)
        .unwrap_or_else(|| panic!("no {wanted} card: {cards:#?}"))
}

fn text(cards: &[Value]) -> String {
    cards
        .iter()
        .map(|c| c.to_string())
        .collect::<String>()
        .to_lowercase()
}

#[tokio::test]
async fn a_6w5d_bleed_with_heart_rate_128_and_pressure_84_48_gets_a_critical_card() {
    let app = TestApp::spawn().await;
    let p = "esc-r2e";
    let resources = pregnancy(
        p,
        47,
        vec![
            bleed(p, "vaginal bleeding"),
            vital(p, "esc-r2e-hr", "8867-4", "Heart rate", 128.0, "/min"),
            vital(
                p,
                "esc-r2e-sbp",
                "8480-6",
                "Systolic blood pressure",
                84.0,
                "mm[Hg]",
            ),
            vital(
                p,
                "esc-r2e-dbp",
                "8462-4",
                "Diastolic blood pressure",
                48.0,
                "mm[Hg]",
            ),
        ],
    );
    let calm = pregnancy(p, 47, vec![bleed(p, "vaginal bleeding")]);
    let [calm_cards, _] =
        cards_both_ways(&app, &scenario("esc-calm", "patient-view", p, calm)).await;
    assert_eq!(card_of(&calm_cards, "R2")["indicator"], "warning");

    let scenario = scenario("esc-r2e", "patient-view", p, resources);
    for cards in cards_both_ways(&app, &scenario).await {
        let card = card_of(&cards, "R2E");
        assert_eq!(card["indicator"], "critical");
        assert_eq!(
            card["summary"],
            "Bleeding at 6w5d with signs of haemodynamic instability: emergency assessment"
        );
        let detail = card["detail"].as_str().unwrap();
        for wanted in [
            "Heart rate 128/min at",
            "Systolic blood pressure 84 mmHg at",
            "Shock index 1.52",
            "ruptured ectopic pregnancy is possible",
            "Senior obstetric or gynecology review now",
            "type and crossmatch",
        ] {
            assert!(detail.contains(wanted), "{wanted}: {detail}");
        }
        // The records used are named on the card's long form, one click away.
        let page = long_form_text(&app, card).await;
        assert!(page.contains("chart entry 'Heart rate'"), "{page}");
        assert!(
            cards.iter().all(|c| rule(c) != "R2"),
            "the warning is escalated, not repeated"
        );
    }
}

#[tokio::test]
async fn bleeding_at_31_weeks_with_an_abruption_picture_gets_r14_and_never_unknown_location() {
    let app = TestApp::spawn().await;
    let p = "esc-r14";
    let tvus = json!({"resourceType": "Observation", "id": "esc-r14-us", "status": "final",
        "code": loinc("42451-5", "US Pelvis transvaginal"), "subject": subject(p),
        "effectiveDateTime": day(40)});
    let resources = pregnancy(
        p,
        217,
        vec![
            tvus,
            bleed(
                p,
                "vaginal bleeding with constant abdominal pain and a tender, firm uterus",
            ),
        ],
    );
    let mut scenario = scenario("esc-r14", "encounter-start", p, resources);
    scenario.context["encounterId"] = json!("esc-r14-triage");
    for cards in cards_both_ways(&app, &scenario).await {
        let card = card_of(&cards, "R14");
        assert_eq!(card["indicator"], "warning");
        assert!(
            card["summary"]
                .as_str()
                .unwrap()
                .contains("placental abruption"),
            "{card}"
        );
        let detail = card["detail"].as_str().unwrap();
        assert!(
            detail.contains("Continuous fetal heart rate monitoring (CTG) from viability"),
            "{detail}"
        );
        assert!(detail.contains("No digital cervical exam"), "{detail}");
        assert!(cards.iter().all(|c| rule(c) != "R9"), "R9 folds into R14");
        let all = text(&cards);
        assert!(!all.contains("unknown location"), "{all}");
        assert!(!all.contains("ectopic"), "{all}");
    }
}

#[tokio::test]
async fn a_resolved_ectopic_from_2021_and_a_new_bleed_get_the_card_with_the_risk_factor() {
    let app = TestApp::spawn().await;
    let p = "esc-prior";
    let mut ectopic = condition(
        p,
        "esc-prior-ectopic",
        coded(
            ICD10CM,
            "O00.10",
            "Tubal pregnancy without intrauterine pregnancy",
        ),
        "2021-03-10",
    );
    ectopic["clinicalStatus"]["coding"][0]["code"] = json!("resolved");
    ectopic["abatementDateTime"] = json!("2021-04-02");
    ectopic["recordedDate"] = json!(day(20));
    let resources = pregnancy(p, 45, vec![ectopic, bleed(p, "spotting")]);
    let scenario = scenario("esc-prior", "patient-view", p, resources);
    for cards in cards_both_ways(&app, &scenario).await {
        let card = card_of(&cards, "R2");
        assert_eq!(card["indicator"], "warning");
        let detail = card["detail"].as_str().unwrap();
        assert!(
            detail.contains("A previous ectopic pregnancy is on record"),
            "{detail}"
        );
    }
}

#[tokio::test]
async fn a_heterotopic_ivf_pregnancy_with_methotrexate_at_order_sign_gets_the_critical_card() {
    let app = TestApp::spawn().await;
    let p = "esc-hetero";
    let resources = pregnancy(
        p,
        49,
        vec![
            condition(
                p,
                "esc-hetero-ivf",
                coded(
                    ICD10CM,
                    "O09.811",
                    "Supervision of pregnancy resulting from assisted reproductive technology, first trimester",
                ),
                &day(30),
            ),
            condition(
                p,
                "esc-hetero-iup",
                coded(SNOMED, "65727000", "Intrauterine pregnancy"),
                &day(3),
            ),
            condition(
                p,
                "esc-hetero-ectopic",
                coded(
                    ICD10CM,
                    "O00.102",
                    "Left tubal pregnancy with intrauterine pregnancy",
                ),
                &day(1),
            ),
        ],
    );
    let mut scenario = scenario("esc-hetero", "order-sign", p, resources);
    scenario.context["draftOrders"] = json!({"resourceType": "Bundle", "type": "collection", "entry": [{"resource": {
        "resourceType": "MedicationRequest", "id": "esc-hetero-mtx", "status": "draft", "intent": "order",
        "subject": subject(p),
        "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "6851"}], "text": "methotrexate 50 mg/m2 IM"}
    }}]});
    // Without the methotrexate order, the diagnosis silences every card (G5).
    let [quiet, _] = cards_both_ways(&app, &{
        let mut s = scenario_clone(&scenario);
        s.hook = "patient-view".into();
        s.context.as_object_mut().unwrap().remove("draftOrders");
        s
    })
    .await;
    assert!(quiet.is_empty(), "{quiet:#?}");
    for cards in cards_both_ways(&app, &scenario).await {
        let card = card_of(&cards, "R6");
        assert_eq!(card["indicator"], "critical");
        assert_eq!(
            card["summary"],
            "Methotrexate ordered with a documented intrauterine pregnancy: contraindicated"
        );
        let detail = card["detail"].as_str().unwrap();
        assert!(detail.contains("heterotopic"), "{detail}");
        assert!(detail.contains("assisted reproduction (IVF)"), "{detail}");
        assert!(
            card["suggestions"]
                .to_string()
                .contains("MedicationRequest/esc-hetero-mtx"),
            "{card}"
        );
    }
}

fn scenario_clone(s: &Scenario) -> Scenario {
    Scenario {
        name: format!("{}-copy", s.name),
        hook: s.hook.clone(),
        context: s.context.clone(),
        resources: s.resources.clone(),
        expect: s.expect.clone(),
    }
}

#[tokio::test]
async fn r15_answers_a_bleed_in_a_documented_iup_after_a_previous_miscarriage_and_only_then() {
    let app = TestApp::spawn().await;
    let p = "esc-r15";
    let iup = condition(
        p,
        "esc-r15-iup",
        coded(SNOMED, "65727000", "Intrauterine pregnancy"),
        &day(4),
    );
    let miscarriage = condition(
        p,
        "esc-r15-mc",
        coded(SNOMED, "17369002", "Miscarriage"),
        "2024-06-01",
    );
    let count = json!({"resourceType": "Observation", "id": "esc-r15-count", "status": "final",
        "code": loinc("11614-5", "[#] Abortions.spontaneous"), "subject": subject(p),
        "effectiveDateTime": day(30), "valueQuantity": {"value": 2, "unit": "{#}"}});
    let without = pregnancy(p, 60, vec![iup.clone(), bleed(p, "spotting")]);
    let with_diagnosis = pregnancy(p, 60, vec![iup.clone(), miscarriage, bleed(p, "spotting")]);
    let with_count = pregnancy(p, 60, vec![iup, count, bleed(p, "spotting")]);

    for cards in cards_both_ways(&app, &scenario("esc-r15-no", "patient-view", p, without)).await {
        assert!(cards.iter().all(|c| rule(c) != "R15"), "{cards:#?}");
        assert!(!text(&cards).contains("progesterone"));
    }
    for resources in [with_diagnosis, with_count] {
        let scenario = scenario("esc-r15", "patient-view", p, resources);
        for cards in cards_both_ways(&app, &scenario).await {
            let card = card_of(&cards, "R15");
            assert_eq!(card["indicator"], "info");
            let detail = card["detail"].as_str().unwrap();
            assert!(detail.contains("NICE NG126"), "{detail}");
            assert!(detail.contains("ACOG Practice Bulletin 200"), "{detail}");
            assert!(
                card.get("suggestions")
                    .is_none_or(|s| s.as_array().is_none_or(Vec::is_empty)),
                "no order unless the site enables it: {card}"
            );
            assert!(
                card["links"].to_string().contains("NEJMoa1813730"),
                "{card}"
            );
        }
    }
}
