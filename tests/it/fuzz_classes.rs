//! Regression tests for the classes of bad input that fuzzing 24,000 mutated hook calls found
//! (tracker issues 14 and 18): impossible dates, template and Markdown syntax in chart text,
//! records about another patient, bad ids, and duplicated records. Each test posts a real
//! patient-view call, with prefetch, to a real Gravida on port 0 and reads the cards it answers.
//!
//! The charts are built in code around today's date (not from fixtures), so each test shows the
//! one field it mutates next to a chart that would otherwise fire a card.

use regex::Regex;
use serde_json::{Map, Value, json};
use time::{Duration, OffsetDateTime};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::expect::card_text;
use crate::fhir_sim::run_query;
use crate::helpers::TestApp;
use crate::scenarios_http::{Scenario, prefetch_for, request};

const SERVICE: &str = "gravida-patient-view";
const TOKEN: &str = "fuzz-classes-access-token-93d1";

/// A date `days` days from today (negative: in the past), as FHIR writes it.
fn day(days: i64) -> String {
    (OffsetDateTime::now_utc().date() + Duration::days(days)).to_string()
}

/// The motivating chart of patient `patient`: pregnant, LMP 10 weeks ago, no ultrasound, and an
/// active bleeding Condition with onset today (`bleed` lets a test change it). It fires R2
/// ("ectopic pregnancy not excluded") as it is.
fn chart(patient: &str, bleed: impl FnOnce(&mut Value)) -> Vec<Value> {
    let subject = json!({ "reference": format!("Patient/{patient}") });
    let mut bleeding = json!({
        "resourceType": "Condition", "id": format!("{patient}-bleed"),
        "clinicalStatus": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active" }] },
        "verificationStatus": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "confirmed" }] },
        "code": { "coding": [{ "system": "http://snomed.info/sct", "code": "723665008",
                               "display": "Vaginal bleeding complicating early pregnancy" }],
                  "text": "vaginal bleeding" },
        "subject": subject, "onsetDateTime": day(0),
    });
    bleed(&mut bleeding);
    vec![
        json!({ "resourceType": "Patient", "id": patient, "gender": "female", "birthDate": "1993-04-12" }),
        json!({
            "resourceType": "Observation", "id": format!("{patient}-status"), "status": "final",
            "code": { "coding": [{ "system": "http://loinc.org", "code": "82810-3" }] },
            "subject": subject, "effectiveDateTime": day(-30),
            "valueCodeableConcept": { "coding": [{ "system": "http://snomed.info/sct", "code": "77386006" }] },
        }),
        lmp(patient, "lmp", day(-5), day(-70)),
        bleeding,
    ]
}

/// An LMP Observation charted on `charted`, saying the LMP began on `lmp`.
fn lmp(patient: &str, id: &str, charted: String, lmp: String) -> Value {
    json!({
        "resourceType": "Observation", "id": format!("{patient}-{id}"), "status": "final",
        "code": { "coding": [{ "system": "http://loinc.org", "code": "8665-2" }] },
        "subject": { "reference": format!("Patient/{patient}") },
        "effectiveDateTime": charted, "valueDateTime": lmp,
    })
}

fn scenario(patient: &str, resources: Vec<Value>) -> Scenario {
    Scenario {
        name: format!("fuzz-{patient}"),
        hook: "patient-view".into(),
        context: json!({ "userId": "Practitioner/example", "patientId": patient }),
        resources,
        expect: Value::Null,
    }
}

/// Posts a patient-view call for `patient` with everything prefetched from `resources` (as an
/// EHR that honours every template would send it), and returns the status and the cards.
async fn call(app: &TestApp, patient: &str, resources: Vec<Value>) -> (u16, Vec<Value>) {
    let scenario = scenario(patient, resources);
    let prefetch = prefetch_for(app, SERVICE, &scenario).await;
    call_with(app, &scenario, prefetch).await
}

async fn call_with(
    app: &TestApp,
    scenario: &Scenario,
    prefetch: Map<String, Value>,
) -> (u16, Vec<Value>) {
    let (status, body) = app
        .call(SERVICE, &request(scenario, Some(prefetch), None))
        .await;
    (
        status,
        body["cards"].as_array().cloned().unwrap_or_default(),
    )
}

/// Every card's visible text, joined.
fn all_text(cards: &[Value]) -> String {
    cards.iter().map(card_text).collect::<Vec<_>>().join("\n")
}

fn rules(cards: &[Value]) -> Vec<String> {
    cards
        .iter()
        .map(|c| {
            c["source"]["topic"]["code"]
                .as_str()
                .unwrap_or("")
                .to_owned()
        })
        .collect()
}

/// Every gestational age written on the cards (`12w0d`, `-3w2d`) is between 0w0d and 45w0d.
fn assert_no_absurd_ga(cards: &[Value]) {
    let text = all_text(cards);
    let ga = Regex::new(r"(-?)(\d+)w(\d)d").unwrap();
    for m in ga.captures_iter(&text) {
        let weeks: i64 = m[2].parse().unwrap_or(i64::MAX);
        assert!(
            m[1].is_empty() && weeks <= 45,
            "an impossible gestational age {} on a card:\n{text}",
            &m[0]
        );
    }
}

// ----- Impossible dates (issue 14 item 4) ------------------------------------------------------

#[tokio::test]
async fn a_bleed_dated_9999_12_31_is_named_as_dated_in_the_future_and_no_absurd_ga_is_shown() {
    let app = TestApp::spawn().await;
    let (status, cards) = call(
        &app,
        "fz01",
        chart("fz01", |b| b["onsetDateTime"] = json!("9999-12-31")),
    )
    .await;
    assert_eq!(status, 200);
    assert!(!cards.is_empty(), "the patient is not passed silently");
    let text = all_text(&cards);
    assert!(text.contains("dated in the future"), "{text}");
    assert!(text.contains("31 Dec 9999"), "{text}");
    assert_no_absurd_ga(&cards);
}

#[tokio::test]
async fn a_bleeding_observation_dated_9999_12_31_is_named_as_dated_in_the_future() {
    let app = TestApp::spawn().await;
    let mut resources = chart("fz02", |_| {});
    resources.pop();
    resources.push(json!({
        "resourceType": "Observation", "id": "fz02-bleed-obs", "status": "final",
        "code": { "coding": [{ "system": "http://snomed.info/sct", "code": "289530006" }],
                  "text": "Vaginal bleeding" },
        "subject": { "reference": "Patient/fz02" }, "effectiveDateTime": "9999-12-31",
    }));
    let (status, cards) = call(&app, "fz02", resources).await;
    assert_eq!(status, 200);
    let text = all_text(&cards);
    assert!(!cards.is_empty(), "the patient is not passed silently");
    assert!(text.contains("dated in the future"), "{text}");
    assert_no_absurd_ga(&cards);
}

#[tokio::test]
async fn a_bleed_dated_two_years_before_the_pregnancy_is_named_as_dated_before_this_pregnancy() {
    let app = TestApp::spawn().await;
    let (status, cards) = call(
        &app,
        "fz03",
        chart("fz03", |b| b["onsetDateTime"] = json!(day(-70 - 730))),
    )
    .await;
    assert_eq!(status, 200);
    let text = all_text(&cards);
    assert!(!cards.is_empty(), "the patient is not passed silently");
    assert!(text.contains("older than this pregnancy"), "{text}");
    // G4: the old bleed is not this pregnancy's; no bleeding rule reads it.
    assert_eq!(rules(&cards), ["D1"], "{text}");
    assert_no_absurd_ga(&cards);
}

#[tokio::test]
async fn a_dating_record_dated_in_the_future_is_named_and_not_used_to_date_the_pregnancy() {
    let app = TestApp::spawn().await;
    // Each chart has one dating record, made impossible in a different way.
    let edd = |value: &str, charted: &str| {
        json!({
            "resourceType": "Observation", "id": "fz04-dating", "status": "final",
            "code": { "coding": [{ "system": "http://loinc.org", "code": "11778-8" }] },
            "subject": { "reference": "Patient/fz04" },
            "effectiveDateTime": charted, "valueDateTime": value,
        })
    };
    let ultrasound_ga = json!({
        "resourceType": "Observation", "id": "fz04-dating", "status": "final",
        "code": { "coding": [{ "system": "http://loinc.org", "code": "11888-5" }] },
        "subject": { "reference": "Patient/fz04" }, "effectiveDateTime": "9999-12-31",
        "valueQuantity": { "value": 8, "unit": "wk", "system": "http://unitsofmeasure.org", "code": "wk" },
    });
    let variants = [
        (
            "an LMP in the future",
            lmp("fz04", "dating", day(-5), "9999-12-31".into()),
        ),
        ("an EDD in 9999", edd("9999-12-31", &day(-5))),
        ("an EDD charted in 9999", edd(&day(200), "9999-12-31")),
        ("an ultrasound GA measured in 9999", ultrasound_ga),
    ];
    for (what, dating) in variants {
        let mut resources = chart("fz04", |_| {});
        resources[2] = dating;
        let (status, cards) = call(&app, "fz04", resources).await;
        assert_eq!(status, 200, "{what}");
        let text = all_text(&cards);
        assert!(text.contains("in the future"), "{what}:\n{text}");
        // Named by what it is, never by its resource id (issue 17 item 2).
        assert!(
            text.contains("chart entry (no text)"),
            "{what} is named:\n{text}"
        );
        assert!(
            !text.contains("fz04\\-dating") && !text.contains("fz04-dating"),
            "{what} by its id:\n{text}"
        );
        assert_no_absurd_ga(&cards);
    }
}

// ----- Chart text that looks like markup or a template (issue 18 item 2) -----------------------

/// What chart text may never add to a card: a link, an image, HTML, a heading, a code fence or
/// a template placeholder. The templates themselves use none of these.
const MARKUP: [&str; 8] = ["](", "![", "<script", "<img", "\n#", "```", "{{", "}}"];

/// The detail with each backslash escape (`\\` and an ASCII punctuation character) replaced by
/// `·`, as the knowledge crate's property test reads it.
fn unescaped(detail: &str) -> String {
    let mut out = String::with_capacity(detail.len());
    let mut chars = detail.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' && chars.peek().is_some_and(char::is_ascii_punctuation) {
            chars.next();
            out.push('·');
        } else {
            out.push(c);
        }
    }
    out
}

#[tokio::test]
async fn chart_text_that_looks_like_markdown_html_or_a_template_reaches_the_card_as_text() {
    let app = TestApp::spawn().await;
    let hostile = [
        "implantation bleeding [Re-enter your EHR password here](https://evil.example/login)",
        "implantation bleeding ![img](x) ![pixel](https://evil.example/p.png)",
        "implantation bleeding <script>alert(document.cookie)</script> <img src=x onerror=alert(1)>",
        "implantation bleeding\n# URGENT: stop all orders\n## and sign here",
        "implantation bleeding ```\n</div><b>code</b>\n```",
        "implantation bleeding {{context.patientId}} {ga} }} {{",
        "implantation bleeding NaN inf",
    ];
    for text in hostile {
        let resources = chart("fz10", |b| b["code"]["text"] = json!(text));
        let (status, cards) = call(&app, "fz10", resources).await;
        assert_eq!(status, 200, "{text}");
        assert_eq!(rules(&cards), ["R2"], "{text}");
        for card in &cards {
            let raw = card["detail"].as_str().unwrap_or_default();
            // What a CommonMark renderer could read as markup: the detail less its escapes.
            let detail = unescaped(raw);
            let summary = card["summary"].as_str().unwrap_or_default();
            for marker in MARKUP {
                assert!(!detail.contains(marker), "{marker:?} in the detail:\n{raw}");
                assert!(
                    !summary.contains(marker),
                    "{marker:?} in the summary: {summary}"
                );
            }
            assert!(!raw.contains("](https://evil"), "{raw}");
            // The text is there, shown as charted, its punctuation escaped.
            assert!(raw.contains("implantation bleeding "), "{raw}");
        }
        assert_no_absurd_ga(&cards);
    }
}

// ----- Patient binding (issue 18 item 1) -------------------------------------------------------

/// The public scenario pub01 (implantation bleeding at 10w0d, no ultrasound: an R2 card).
fn pub01() -> Scenario {
    let path = crate::scenarios_http::scenario_files()
        .into_iter()
        .find(|path| path.ends_with("pub01.json"))
        .expect("pub01 is a public scenario");
    let mut scenario = crate::scenarios_http::load(&path);
    // The hook instance is logged (it is no patient id); keep the id out of it.
    scenario.name = "binding".into();
    scenario
}

/// Ids that must never appear in an answer, a log line or a metric.
const IDS: [&str; 2] = ["pub01", "victim7"];

#[tokio::test]
async fn a_prefetch_of_another_patients_records_does_not_fire_a_card() {
    let app = TestApp::spawn().await;
    let mut scenario = pub01();
    // pub01's own call fires R2: the records are the kind that would.
    let prefetch = prefetch_for(&app, SERVICE, &scenario).await;
    let (status, cards) = call_with(&app, &scenario, prefetch.clone()).await;
    assert_eq!((status, rules(&cards)), (200, vec!["R2".to_owned()]));

    // The same prefetch in a call about victim7: every Condition and Observation is refused, so
    // the deciding keys hold none of victim7's records, which cannot be had: 412.
    scenario.context["patientId"] = json!("victim7");
    let (status, body) = app
        .call(SERVICE, &request(&scenario, Some(prefetch), None))
        .await;
    assert_eq!(status, 412, "{body}");
    assert!(body.get("cards").is_none(), "{body}");
    let body = body.to_string();
    for id in IDS {
        assert!(!body.contains(id), "{id} in the answer: {body}");
    }
    let metrics = crate::helpers::get_text(&app.client, &app.url("/metrics")).await;
    for id in IDS {
        assert!(!metrics.contains(id), "{id} in /metrics");
    }
}

#[tokio::test]
async fn the_log_of_a_call_about_another_patients_records_names_no_patient() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    use std::sync::mpsc;
    use std::time::Duration as Wait;

    let mut scenario = pub01();
    let prefetch = {
        let app = TestApp::spawn().await;
        prefetch_for(&app, SERVICE, &scenario).await
    };
    scenario.context["patientId"] = json!("victim7");

    // The real binary, logging everything as JSON lines on stdout.
    let data_dir = std::env::temp_dir().join(format!("gravida-it-fuzz-{}", std::process::id()));
    let mut child = crate::binary::gravida()
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("GRAVIDA_STORE__DATA_DIR", &data_dir)
        .env("RUST_LOG", "trace")
        .env("GRAVIDA_LOG__FORMAT", "json")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary starts");
    let stdout = child.stdout.take().unwrap();
    let (tx, lines) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen: Vec<String> = Vec::new();
    let wait_for = |needle: &str, seen: &mut Vec<String>| -> String {
        loop {
            let line = lines
                .recv_timeout(Wait::from_secs(20))
                .unwrap_or_else(|_| panic!("no log line with {needle:?}:\n{}", seen.join("\n")));
            seen.push(line.clone());
            if line.contains(needle) {
                return line;
            }
        }
    };
    let ready: Value = serde_json::from_str(&wait_for("gravida ready", &mut seen)).unwrap();
    let listen = ready["fields"]["listen"].as_str().unwrap().to_owned();
    let response = crate::helpers::http_client()
        .post(format!("http://{listen}/cds-services/{SERVICE}"))
        .json(&request(&scenario, Some(prefetch), None))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 412);
    wait_for(
        "refused resources that are not about the call's patient",
        &mut seen,
    );
    wait_for("central FHIR data unavailable", &mut seen);
    // Let the call's last lines arrive, then stop the process this test started.
    std::thread::sleep(Wait::from_millis(300));
    child.kill().unwrap();
    child.wait().unwrap();
    while let Ok(line) = lines.recv_timeout(Wait::from_secs(2)) {
        seen.push(line);
    }
    let log = seen.join("\n");
    for id in IDS {
        assert!(!log.contains(id), "{id} in the log:\n{log}");
    }
}

/// Wiremock as an EHR whose searches ignore the patient asked for: every search is answered
/// with pub01's records, whoever the call is about.
struct WrongPatient(Vec<Value>);

impl Respond for WrongPatient {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let path = request.url.path().trim_start_matches("/fhir/");
        let path = path.replace("victim7", "pub01");
        let query = match request.url.query() {
            Some(q) => format!("{path}?{}", q.replace("victim7", "pub01")),
            None => path,
        };
        match run_query(&self.0, &query) {
            Some(body) => ResponseTemplate::new(200)
                .insert_header("content-type", "application/fhir+json")
                .set_body_json(body),
            None => ResponseTemplate::new(404),
        }
    }
}

#[tokio::test]
async fn a_fhir_server_answering_with_another_patients_records_does_not_fire_a_card() {
    let app = TestApp::spawn().await;
    let mut scenario = pub01();
    let ehr = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(WrongPatient(scenario.resources.clone()))
        .mount(&ehr)
        .await;
    scenario.context["patientId"] = json!("victim7");
    let base = format!("{}/fhir", ehr.uri());
    let (status, body) = app
        .call(SERVICE, &request(&scenario, None, Some((&base, TOKEN))))
        .await;
    assert_eq!(status, 412, "{body}");
    assert!(body.get("cards").is_none(), "{body}");
    let body = body.to_string();
    for id in IDS {
        assert!(!body.contains(id), "{id} in the answer: {body}");
    }
    assert!(
        !ehr.received_requests().await.unwrap_or_default().is_empty(),
        "the searches were made"
    );
}

#[tokio::test]
async fn one_record_of_another_patient_is_refused_and_every_card_says_a_record_was_not_used() {
    let app = TestApp::spawn().await;
    let mut resources = chart("fz20", |_| {});
    // A bleed of pub01's in fz20's prefetch: not used, counted, and said on the card.
    resources.push(json!({
        "resourceType": "Condition", "id": "someone-elses-bleed",
        "clinicalStatus": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active" }] },
        "code": { "coding": [{ "system": "http://snomed.info/sct", "code": "723665008" }], "text": "heavy bleeding" },
        "subject": { "reference": "Patient/pub01" }, "onsetDateTime": day(0),
    }));
    let scenario = scenario("fz20", resources.clone());
    let mut prefetch = prefetch_for(&app, SERVICE, &scenario).await;
    // The simulator searches by patient; an EHR that mixes patients sends the record anyway.
    let entries = prefetch["conditions"]["entry"].as_array_mut().unwrap();
    entries.push(json!({ "resource": resources.last().unwrap() }));
    let (status, cards) = call_with(&app, &scenario, prefetch).await;
    assert_eq!(status, 200);
    assert_eq!(rules(&cards), ["R2"]);
    for card in &cards {
        let text = card_text(card);
        assert!(
            text.contains("1 record the EHR sent was set aside: it is another patient's, or could not be interpreted (invalid id)."),
            "{text}"
        );
        assert!(
            !text.contains("someone") && !text.contains("heavy"),
            "{text}"
        );
        assert!(!text.contains("pub01"), "{text}");
    }
    let metrics = crate::helpers::get_text(&app.client, &app.url("/metrics")).await;
    let refused = metrics
        .lines()
        .find(|l| l.starts_with("gravida_records_refused_total"))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|n| n.parse::<f64>().ok());
    assert!(refused.is_some_and(|n| n >= 1.0), "{metrics}");
    assert!(!metrics.contains("pub01") && !metrics.contains("fz20"));
}

#[tokio::test]
async fn records_refused_when_no_rule_fires_are_named_in_a_data_problem_note() {
    let app = TestApp::spawn().await;
    let mut resources = chart("fz21", |_| {});
    resources.pop(); // no bleed of her own: nothing would fire
    resources.push(json!({
        "resourceType": "Condition", "id": "fz21-pregnancy",
        "clinicalStatus": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active" }] },
        "code": { "coding": [{ "system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "Z34.01" }] },
        "subject": { "reference": "Patient/fz21" }, "onsetDateTime": day(-30),
    }));
    let scenario = scenario("fz21", resources);
    let mut prefetch = prefetch_for(&app, SERVICE, &scenario).await;
    let (_, quiet) = call_with(&app, &scenario, prefetch.clone()).await;
    assert!(quiet.is_empty(), "{quiet:?}");
    let other = chart("pub01", |_| {});
    let entries = prefetch["conditions"]["entry"].as_array_mut().unwrap();
    entries.push(json!({ "resource": other[3] }));
    entries.push(json!({ "resource": other[3].clone() }));
    let (status, cards) = call_with(&app, &scenario, prefetch).await;
    assert_eq!(status, 200);
    assert_eq!(rules(&cards), ["D1"]);
    assert_eq!(cards[0]["indicator"], "info");
    let text = card_text(&cards[0]);
    assert!(
        text.contains("2 records the EHR sent were set aside: they are another patient's, or could not be interpreted (invalid id)."),
        "{text}"
    );
    assert!(!text.contains("pub01"), "{text}");
}

// ----- Ids that are not FHIR ids (issue 18 item 1) ---------------------------------------------

#[tokio::test]
async fn a_resource_whose_id_is_not_a_fhir_id_is_refused_and_its_id_never_reaches_the_card() {
    let app = TestApp::spawn().await;
    let long = "x".repeat(65);
    let bad_ids = [
        "lmp](https://evil.example/login)",
        "has space",
        "{{context.patientId}}",
        "<script>alert(1)</script>",
        long.as_str(),
        "lmp_with_underscore",
    ];
    for bad in bad_ids {
        let mut resources = chart("fz30", |_| {});
        resources[2]["id"] = json!(bad);
        let (status, cards) = call(&app, "fz30", resources).await;
        assert_eq!(status, 200, "{bad}");
        // The LMP was refused, so the pregnancy has no dating left: R13, saying why.
        assert_eq!(rules(&cards), ["R13"], "{bad}");
        let text = all_text(&cards);
        assert!(
            text.contains("1 record the EHR sent was set aside"),
            "{bad}:\n{text}"
        );
        for piece in [
            "evil",
            "has space",
            "{{",
            "script",
            "xxxxxxxxxx",
            "underscore",
        ] {
            assert!(
                !text.contains(piece),
                "{piece:?} from {bad:?} on the card:\n{text}"
            );
        }
    }
}

// ----- The same resource twice (issue 14) ------------------------------------------------------

/// The cards without what differs between two calls (uuids, the repeat-hCG time).
fn comparable(cards: &[Value]) -> Vec<Value> {
    cards
        .iter()
        .map(|card| {
            json!({
                "summary": card["summary"], "indicator": card["indicator"],
                "detail": card["detail"], "source": card["source"],
                "suggestions": card["suggestions"].as_array().map(|s| s.iter().map(|s| s["label"].clone()).collect::<Vec<_>>()),
            })
        })
        .collect()
}

#[tokio::test]
async fn the_same_resource_twice_in_one_bundle_gives_exactly_the_cards_of_once() {
    let app = TestApp::spawn().await;
    let scenario = pub01();
    let once = prefetch_for(&app, SERVICE, &scenario).await;
    let mut twice = once.clone();
    for bundle in twice.values_mut() {
        if let Some(entries) = bundle["entry"].as_array_mut() {
            let copies = entries.clone();
            entries.extend(copies);
        }
    }
    let (status_once, cards_once) = call_with(&app, &scenario, once).await;
    let (status_twice, cards_twice) = call_with(&app, &scenario, twice).await;
    assert_eq!(status_once, 200);
    assert!(!cards_once.is_empty());
    assert_eq!(
        (status_twice, comparable(&cards_twice)),
        (status_once, comparable(&cards_once))
    );
}
