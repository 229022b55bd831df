//! The public scenarios end to end over HTTP, with their dates shifted to today: once with
//! everything prefetched, once with nothing prefetched and wiremock standing in for the EHR's
//! FHIR server. Both paths must meet each scenario's expectations and give the same cards.

use std::path::PathBuf;

use serde_json::{Map, Value, json};
use time::{Date, OffsetDateTime, macros::format_description};
use wiremock::matchers::{header, method};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::expect;
use crate::fhir_sim::{run_query, shift_dates};
use crate::helpers::{TestApp, fixture_path};

pub const TOKEN: &str = "scenario-access-token-7f3a";

/// What discovery's `usageRequirements` asks an integrator to grant, in SMART v1 form.
pub const V1_SCOPES: &str = "patient/Patient.read patient/Condition.read \
    patient/Observation.read patient/DiagnosticReport.read patient/Encounter.read \
    patient/Procedure.read patient/MedicationAdministration.read \
    patient/MedicationStatement.read patient/MedicationRequest.read patient/Immunization.read";

/// The same in SMART v2 form (CDS Hooks 3.0.0 uses SMART App Launch STU 2).
pub const V2_SCOPES: &str = "patient/Patient.rs patient/Condition.rs patient/Observation.rs \
    patient/DiagnosticReport.rs patient/Encounter.rs patient/Procedure.rs \
    patient/MedicationAdministration.rs patient/MedicationStatement.rs \
    patient/MedicationRequest.rs patient/Immunization.rs";

/// A scenario with its dates moved so that its `now` is today.
pub struct Scenario {
    pub name: String,
    pub hook: String,
    pub context: Value,
    pub resources: Vec<Value>,
    pub expect: Value,
}

pub fn scenario_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in ["scenarios", "scenarios-extra"] {
        let Ok(entries) = std::fs::read_dir(fixture_path(dir)) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "json") {
                files.push(path);
            }
        }
    }
    files.sort();
    assert!(
        files.len() >= 13,
        "the public scenarios are in tests/fixtures/scenarios"
    );
    files
}

/// The scenario at `path` with its day-precision dates moved so that its `now` is today, for
/// an app on the system clock. A month- or year-precision date cannot be moved by days: a chart
/// holding one is read with [`load_as_written`] by an app pinned to its day.
pub fn load(path: &PathBuf) -> Scenario {
    let (mut scenario, written_on) = load_as_written(path);
    let days = (OffsetDateTime::now_utc().date() - written_on).whole_days();
    scenario
        .resources
        .iter_mut()
        .for_each(|r| shift_dates(r, days));
    shift_dates(&mut scenario.context, days);
    scenario
}

/// The scenario at `path` as written, and the day it was written for (its `now`), on which
/// [`TestApp::spawn_on`] reads it.
pub fn load_as_written(path: &PathBuf) -> (Scenario, Date) {
    let raw: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let now = Date::parse(
        raw["now"].as_str().unwrap(),
        format_description!("[year]-[month]-[day]"),
    )
    .unwrap();
    let scenario = Scenario {
        name: path.file_stem().unwrap().to_string_lossy().into_owned(),
        hook: raw["hook"].as_str().unwrap().to_owned(),
        context: raw["context"].clone(),
        resources: raw["resources"].as_array().cloned().unwrap_or_default(),
        expect: raw["expect"].clone(),
    };
    (scenario, now)
}

/// The prefetch templates Gravida advertises for a hook, from its own discovery document.
pub async fn templates(app: &TestApp, service_id: &str) -> Map<String, Value> {
    let (_, discovery) = app.get("/cds-services").await;
    discovery["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == service_id)
        .and_then(|s| s["prefetch"].as_object().cloned())
        .unwrap()
}

/// The prefetch an EHR that honours every template of the service would send for a scenario.
pub async fn prefetch_for(
    app: &TestApp,
    service_id: &str,
    scenario: &Scenario,
) -> Map<String, Value> {
    let context = scenario.context.as_object().unwrap();
    let mut prefetch = Map::new();
    for (key, template) in templates(app, service_id).await {
        let query = gravida_cds_hooks::prefetch::render_on(
            template.as_str().unwrap(),
            context,
            app.today(),
        )
        .unwrap();
        prefetch.insert(
            key,
            run_query(&scenario.resources, &query).unwrap_or(Value::Null),
        );
    }
    prefetch
}

pub fn request(
    scenario: &Scenario,
    prefetch: Option<Map<String, Value>>,
    fhir: Option<(&str, &str)>,
) -> Value {
    let mut request = json!({
        "hook": scenario.hook,
        "hookInstance": format!("{}-instance", scenario.name),
        "context": scenario.context,
    });
    if let Some(prefetch) = prefetch {
        request["prefetch"] = Value::Object(prefetch);
    }
    if let Some((base, token)) = fhir {
        request["fhirServer"] = json!(base);
        request["fhirAuthorization"] = json!({
            "access_token": token, "token_type": "Bearer", "expires_in": 300,
            // SMART v1, as a CDS Hooks 2.0 client grants it: every type Gravida reads.
            "scope": V1_SCOPES,
            "subject": "gravida"
        });
    }
    request
}

/// Wiremock as the EHR's FHIR server: every search is answered from the scenario's resources.
pub struct Ehr(pub Vec<Value>);

impl Respond for Ehr {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let path = request.url.path().trim_start_matches("/fhir/");
        let query = match request.url.query() {
            Some(q) => format!("{path}?{q}"),
            None => path.to_owned(),
        };
        match run_query(&self.0, &query) {
            Some(body) => ResponseTemplate::new(200)
                .insert_header("content-type", "application/fhir+json")
                .set_body_json(body),
            None => ResponseTemplate::new(404),
        }
    }
}

pub fn rules_of(cards: &[Value]) -> Vec<String> {
    let mut rules: Vec<String> = cards
        .iter()
        .map(|c| format!("{}:{}", c["source"]["topic"]["code"], c["indicator"]))
        .collect();
    rules.sort();
    rules
}

#[tokio::test]
async fn every_scenario_gives_the_expected_cards_by_prefetch_and_the_same_cards_by_fetching() {
    // Each scenario is called more than once for the same patient: with no repeat window (and
    // no encounter), an order hook's second call is not taken for a repeat of the first.
    let app = TestApp::spawn_with(&[("GRAVIDA_CARDS__REPEAT_WINDOW_HOURS", "0")]).await;
    let mut problems = Vec::new();
    let mut skipped = Vec::new();
    for path in scenario_files() {
        let scenario = load(&path);
        let service_id = format!("gravida-{}", scenario.hook);
        let patient = scenario.context["patientId"].as_str().unwrap().to_owned();

        // 1. Everything prefetched, as an EHR that honours every template would send it.
        let prefetch = prefetch_for(&app, &service_id, &scenario).await;
        // Observations are searched by code, so one with no coding at all cannot reach Gravida
        // through its searches. Such a scenario is tested through the engine only.
        let reached = prefetch.values().map(|v| v.to_string()).collect::<String>();
        let unreachable: Vec<&str> = scenario
            .resources
            .iter()
            .filter(|r| r["resourceType"] == "Observation")
            .filter_map(|r| r["id"].as_str())
            .filter(|id| !reached.contains(&format!("\"id\":\"{id}\"")))
            .collect();
        if !unreachable.is_empty() {
            skipped.push(format!("{} ({})", scenario.name, unreachable.join(", ")));
            continue;
        }
        let (status, by_prefetch) = app
            .call(&service_id, &request(&scenario, Some(prefetch), None))
            .await;
        // What we emit is spec-valid: no null or empty values, and every card meets the
        // CDS Hooks rules (summary length, selectionBehavior with suggestions, ...).
        let empty = gravida_cds_hooks::wire::find_empty_values(&by_prefetch);
        if !empty.is_empty() {
            problems.push(format!("{}: empty values at {empty:?}", scenario.name));
        }
        match serde_json::from_value::<gravida_cds_hooks::ServiceResponse>(by_prefetch.clone()) {
            Ok(response) => {
                if let Err(e) = response.validate() {
                    problems.push(format!("{}: invalid card: {e}", scenario.name));
                }
            }
            Err(e) => problems.push(format!("{}: not a CDS Hooks response: {e}", scenario.name)),
        }
        let by_prefetch = by_prefetch["cards"].as_array().cloned().unwrap_or_default();
        if status != 200 {
            problems.push(format!(
                "{}: prefetch call answered {status}",
                scenario.name
            ));
            continue;
        }
        for failure in expect::failures(&scenario.expect, &by_prefetch) {
            problems.push(format!("{} (prefetch): {failure}", scenario.name));
        }

        // 2. Nothing prefetched: everything is fetched from the EHR's FHIR server.
        let ehr = MockServer::start().await;
        Mock::given(method("GET"))
            .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
            .respond_with(Ehr(scenario.resources.clone()))
            .mount(&ehr)
            .await;
        let base = format!("{}/fhir", ehr.uri());
        let (status, by_fetch) = app
            .call(&service_id, &request(&scenario, None, Some((&base, TOKEN))))
            .await;
        let by_fetch = by_fetch["cards"].as_array().cloned().unwrap_or_default();
        if status != 200 {
            problems.push(format!("{}: fetch call answered {status}", scenario.name));
            continue;
        }
        if rules_of(&by_fetch) != rules_of(&by_prefetch) {
            problems.push(format!(
                "{}: fetching gave {:?}, prefetch gave {:?}",
                scenario.name,
                rules_of(&by_fetch),
                rules_of(&by_prefetch)
            ));
        }
        let received = ehr.received_requests().await.unwrap_or_default();
        let templates = templates(&app, &service_id).await;
        if received.len() < templates.len() {
            problems.push(format!(
                "{}: {} searches for {} prefetch keys",
                scenario.name,
                received.len(),
                templates.len()
            ));
        }
        for r in &received {
            let query = r.url.query().unwrap_or_default();
            if r.url.path() != format!("/fhir/Patient/{patient}")
                && !query.contains(&format!("patient={patient}"))
            {
                problems.push(format!(
                    "{}: a search not scoped to the patient: {}",
                    scenario.name,
                    r.url.path()
                ));
            }
            if r.headers.get("accept").and_then(|v| v.to_str().ok())
                != Some("application/fhir+json")
            {
                problems.push(format!(
                    "{}: a search without Accept: application/fhir+json",
                    scenario.name
                ));
            }
        }
    }
    if !skipped.is_empty() {
        println!(
            "scenarios whose Observations no code search can find (tested through the engine only): {}",
            skipped.join("; ")
        );
    }
    // Every public scenario must be reachable over HTTP; only extra ones may be engine-only.
    assert!(
        skipped.iter().all(|s| s.starts_with('x')),
        "public scenarios skipped: {skipped:?}"
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Cards without what differs from call to call (every `uuid`, the long-form link's id, and the
/// time of the repeat hCG order, which is the call's time plus 48 h), for comparing two calls.
fn without_uuids(cards: &Value) -> Value {
    fn strip(value: &mut Value) {
        match value {
            Value::Object(object) => {
                object.remove("uuid");
                // The long-form link's id is new on every call.
                if object.get("label").and_then(Value::as_str)
                    == Some("Why this card (full reasoning)")
                {
                    object.remove("url");
                }
                object.remove("occurrenceDateTime");
                object.values_mut().for_each(strip);
            }
            Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let mut cards = cards.clone();
    strip(&mut cards);
    cards
}

#[tokio::test]
async fn every_scenario_gives_the_same_cards_whether_the_fast_or_the_reference_reader_reads_it() {
    // Each scenario is called more than once for the same patient: with no repeat window (and
    // no encounter), an order hook's second call is not taken for a repeat of the first.
    let app = TestApp::spawn_with(&[("GRAVIDA_CARDS__REPEAT_WINDOW_HOURS", "0")]).await;
    let mut compared = 0;
    for path in scenario_files() {
        let scenario = load(&path);
        let service_id = format!("gravida-{}", scenario.hook);
        let prefetch = prefetch_for(&app, &service_id, &scenario).await;
        // An empty `modifierExtension` changes nothing for the reference reader, but the fast
        // reader declines any `modifierExtension`: this prefetch is read by the reference reader.
        let mut declined = prefetch.clone();
        for value in declined.values_mut() {
            if let Some(object) = value.as_object_mut() {
                object.insert("modifierExtension".into(), json!([]));
            }
        }
        let (fast_status, fast) = app
            .call(&service_id, &request(&scenario, Some(prefetch), None))
            .await;
        let (reference_status, reference) = app
            .call(&service_id, &request(&scenario, Some(declined), None))
            .await;
        assert_eq!(
            (fast_status, without_uuids(&fast["cards"])),
            (reference_status, without_uuids(&reference["cards"])),
            "{}",
            scenario.name
        );
        compared += 1;
    }
    assert!(compared >= 24, "{compared} scenarios");
}
