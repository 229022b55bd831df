//! Date-bounded prefetch end to end: the bounds a 3.0 client is shown, the bounds Gravida
//! evaluates itself on the site's calendar when it fetches a key the client left out, the
//! unbounded searches a 2.0 client is shown instead (and its cards), and a profile whose window
//! cannot be evaluated, refused at start-up.

use std::time::SystemTime;

use gravida_auth::testing::{self, TestKey};
use gravida_server::settings::Settings;
use gravida_server::startup::Application;
use serde_json::{Map, Value, json};
use time::{Date, Duration, OffsetDateTime, macros::offset};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::expect;
use crate::fhir_sim::run_query;
use crate::helpers::TestApp;
use crate::scenarios_http::{Scenario, load, scenario_files};

const BASE: &str = "https://cds.example.org";

/// The templates of a discovery document's patient-view service.
fn patient_view_templates(discovery: &Value) -> Map<String, Value> {
    discovery["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "gravida-patient-view")
        .and_then(|s| s["prefetch"].as_object().cloned())
        .unwrap()
}

/// `date` one calendar year earlier: FHIRPath's `- 1 year`, 29 February becoming 28 February.
fn a_year_before(date: Date) -> Date {
    date.replace_year(date.year() - 1)
        .or_else(|_| {
            date.replace_day(28)
                .and_then(|d| d.replace_year(d.year() - 1))
        })
        .unwrap()
}

/// The decoded query parameters of a query string, in order.
fn params(query: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

#[tokio::test]
async fn a_key_the_client_left_out_is_fetched_with_its_date_bound_evaluated_on_the_sites_calendar()
{
    // Kiritimati is UTC+14 all year: for ten hours of every UTC day its date is already the
    // next day, so a bound taken on UTC's calendar would be a day off there.
    let app = TestApp::spawn_with(&[("GRAVIDA_TIME_ZONE", "Pacific/Kiritimati")]).await;
    let (_, discovery) = app.get("/cds-services").await;
    let templates = patient_view_templates(&discovery);
    assert_eq!(
        templates["hcg"]
            .as_str()
            .unwrap()
            .rsplit('&')
            .next()
            .unwrap(),
        "date=ge{{today() - 1 year}}"
    );

    let ehr = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "application/fhir+json")
                .set_body_json(json!({"resourceType": "Bundle", "type": "searchset", "total": 0})),
        )
        .mount(&ehr)
        .await;
    // A client that prefetched every key but the two it could not evaluate (CDS Hooks 3.0.0:
    // "CDS Clients SHALL omit the prefetch key if relevant details cannot be provided").
    let mut prefetch: Map<String, Value> =
        templates.keys().map(|k| (k.clone(), Value::Null)).collect();
    prefetch.remove("hcg");
    prefetch.remove("vitalSigns");
    let request = json!({
        "hook": "patient-view",
        "hookInstance": "0c3e1d2e-aaaa-4bbb-8ccc-0123456789ab",
        "context": {"userId": "Practitioner/1", "patientId": "pw-1"},
        "prefetch": prefetch,
        "fhirServer": format!("{}/fhir", ehr.uri()),
        "fhirAuthorization": {"access_token": "t-123", "token_type": "Bearer",
            "expires_in": 300, "scope": "patient/Observation.read", "subject": "gravida"}
    });
    let site_today = || OffsetDateTime::now_utc().to_offset(offset!(+14)).date();
    let before = site_today();
    let (status, _) = app.call("gravida-patient-view", &request).await;
    let after = site_today();
    assert_eq!(status, 200);

    let received = ehr.received_requests().await.unwrap();
    assert_eq!(received.len(), 2, "only the two keys left out are fetched");
    for (key, back) in [("hcg", None), ("vitalSigns", Some(3))] {
        let expected_on = |today: Date| {
            let bound = match back {
                None => a_year_before(today),
                Some(days) => today - Duration::days(days),
            };
            let template = templates[key].as_str().unwrap();
            let (path, query) = template.split_once('?').unwrap();
            // The date token is the template's last token.
            let token = &query[query.rfind("{{").unwrap()..];
            let query = query
                .replace("{{context.patientId}}", "pw-1")
                .replace(token, &bound.to_string());
            (format!("/fhir/{path}"), params(&query))
        };
        let asked = received.iter().any(|r| {
            let got = (r.url.path().to_owned(), params(r.url.query().unwrap_or("")));
            got == expected_on(before) || got == expected_on(after)
        });
        assert!(
            asked,
            "{key}: expected {:?}, the EHR received {:?}",
            expected_on(before),
            received
                .iter()
                .map(|r| r.url.to_string())
                .collect::<Vec<_>>()
        );
    }
}

/// Settings with issuer A, whose EHR evaluates FHIRPath prefetch tokens or not.
fn issuer_a(fhirpath_prefetch: bool) -> String {
    issuer_a_with(&format!("fhirpath_prefetch = {fhirpath_prefetch}"))
}

/// Settings with issuer A and `extra` lines in its `[[auth.issuers]]` table.
pub(crate) fn issuer_a_with(extra: &str) -> String {
    format!(
        r#"
public_base_url = "{BASE}"

[[auth.issuers]]
iss = "{iss}"
jwks_file = "{{fixtures}}/keys/jwks-issuer-a.json"
tenants = ["{tenant}"]
{extra}
"#,
        iss = testing::ISSUER_A,
        tenant = testing::TENANT_A,
    )
}

/// Calls `path` as issuer A's EHR with a fresh token.
pub(crate) async fn post_as_issuer_a(app: &TestApp, path: &str, body: &Value) -> (u16, Value) {
    let response = app
        .client
        .post(app.url(path))
        .header("authorization", bearer(path))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn bearer(path: &str) -> String {
    let claims = testing::claims_a(&format!("{BASE}{path}"), SystemTime::now());
    format!(
        "Bearer {}",
        testing::mint(TestKey::AEs384, json!({}), claims)
    )
}

async fn authenticated_discovery(app: &TestApp) -> Value {
    let response = app
        .client
        .get(app.url("/cds-services"))
        .header("authorization", bearer("/cds-services"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

pub(crate) fn public_scenario(name: &str) -> Scenario {
    let path = scenario_files()
        .into_iter()
        .find(|p| p.file_stem().is_some_and(|s| s == name))
        .unwrap();
    load(&path)
}

#[tokio::test]
async fn a_2_0_issuer_is_shown_every_search_without_its_date_bound_and_gets_the_public_cards() {
    let v3 = TestApp::spawn_with_config(&issuer_a(true)).await;
    let v2 = TestApp::spawn_with_config(&issuer_a(false)).await;
    let bounded = patient_view_templates(&authenticated_discovery(&v3).await);
    let unbounded = patient_view_templates(&authenticated_discovery(&v2).await);
    assert_eq!(
        bounded.keys().collect::<Vec<_>>(),
        unbounded.keys().collect::<Vec<_>>()
    );
    let mut bounds_removed = 0;
    for (key, template) in &bounded {
        let template = template.as_str().unwrap();
        let shown = unbounded[key].as_str().unwrap();
        assert!(!shown.contains("{{today"), "{key}: {shown}");
        // The bound is `&date=ge{{…}}`, or `&effective-time=ge{{…}}` for MedicationAdministration.
        let bound = template
            .find("=ge{{")
            .map(|at| (template[..at].rfind('&').unwrap(), at + "=ge{{".len()));
        match bound {
            Some((start, after)) => {
                bounds_removed += 1;
                let rest = template[after..].split_once("}}").unwrap().1;
                assert_eq!(shown, format!("{}{rest}", &template[..start]), "{key}");
            }
            None => assert_eq!(shown, template, "{key}"),
        }
    }
    assert!(
        bounds_removed >= 4,
        "the results of the pregnancy are bounded for 3.0 clients"
    );

    // pub01 ("implantation bleeding" at 10w0d, no ultrasound) prefetched as the 2.0 client fills
    // the templates it was shown: its cards are the public scenario's.
    let scenario = public_scenario("pub01");
    let service = format!("gravida-{}", scenario.hook);
    let v2_discovery = authenticated_discovery(&v2).await["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == service)
        .cloned()
        .unwrap();
    let context = scenario.context.as_object().unwrap();
    let prefetch: Map<String, Value> = v2_discovery["prefetch"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(key, template)| {
            let query =
                gravida_cds_hooks::prefetch::render(template.as_str().unwrap(), context).unwrap();
            (
                key.clone(),
                run_query(&scenario.resources, &query).unwrap_or(Value::Null),
            )
        })
        .collect();
    let body = json!({
        "hook": scenario.hook,
        "hookInstance": "5d2e1d2e-aaaa-4bbb-8ccc-0123456789ab",
        "context": scenario.context,
        "prefetch": prefetch,
    });
    let (status, answer) = post_as_issuer_a(&v2, &format!("/cds-services/{service}"), &body).await;
    assert_eq!(status, 200);
    let cards = answer["cards"].as_array().cloned().unwrap_or_default();
    assert!(!cards.is_empty());
    let failures = expect::failures(&scenario.expect, &cards);
    assert!(failures.is_empty(), "{failures:?}");
}

#[tokio::test]
async fn a_window_that_cannot_be_evaluated_is_refused_at_start_up_naming_the_key_and_expression() {
    let profile = std::env::temp_dir().join(format!(
        "gravida-bad-window-{}-{}",
        std::process::id(),
        OffsetDateTime::now_utc().unix_timestamp_nanos()
    ));
    let default = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/default");
    copy_tree(&default, &profile);
    std::fs::write(
        profile.join("prefetch.toml"),
        "[windows.hcg]\nsince = \"today() - 10 fortnights\"\nwhy = \"a typo\"\n",
    )
    .unwrap();
    let vars = vec![
        ("GRAVIDA_LISTEN".to_owned(), "127.0.0.1:0".to_owned()),
        ("GRAVIDA_PROFILES".to_owned(), profile.display().to_string()),
    ];
    let settings = Settings::load_from(None, vars).expect("the settings themselves are valid");
    let error = match Application::build(settings).await {
        Ok(_) => panic!("a profile with a bad window must not start"),
        Err(error) => format!("{error:#}"),
    };
    for needle in ["prefetch.toml", "`hcg`", "today() - 10 fortnights"] {
        assert!(error.contains(needle), "{needle:?} in {error}");
    }
}

pub(crate) fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// What a client that honours every template sends for the benchmark patient, key by key: the
/// bytes of each value, and the ids of the resources in it.
fn benchmark_prefetch(
    templates: &[(String, String)],
    today: Date,
) -> Vec<(String, usize, Vec<String>)> {
    use gravida_bench::patient::{Chart, PATIENT_ID, searchset};
    let chart = Chart::new(today);
    let resources: Vec<Value> = chart.by_key.values().flatten().cloned().collect();
    let context = json!({"patientId": PATIENT_ID, "userId": "Practitioner/1"});
    templates
        .iter()
        .map(|(key, template)| {
            let query = gravida_cds_hooks::prefetch::render_on(
                template,
                context.as_object().unwrap(),
                today,
            )
            .unwrap();
            let value = match run_query(&resources, &query) {
                Some(bundle) if bundle["resourceType"] == "Bundle" => {
                    let found: Vec<Value> = bundle["entry"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|e| e["resource"].clone())
                        .collect();
                    searchset(&found)
                }
                Some(resource) => resource,
                None => Value::Null,
            };
            let ids = value["entry"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|e| e["resource"]["id"].as_str().map(str::to_owned))
                .collect();
            // The bytes of `"key":value,` in the prefetch object.
            let bytes = serde_json::to_vec(&value).unwrap().len() + key.len() + 4;
            (key.clone(), bytes, ids)
        })
        .collect()
}

#[test]
fn the_benchmark_patients_prefetch_bounded_holds_everything_in_the_windows_and_its_bytes_are_printed()
 {
    let kb = gravida_knowledge::KnowledgeBase::embedded().unwrap();
    let today = OffsetDateTime::now_utc().date();
    let bounded: Vec<(String, String)> = kb
        .prefetch()
        .iter()
        .map(|q| (q.key.clone(), q.template.clone()))
        .collect();
    let unbounded: Vec<(String, String)> = bounded
        .iter()
        .map(|(k, t)| (k.clone(), gravida_cds_hooks::prefetch::for_2_0_clients(t)))
        .collect();
    let with_bounds = benchmark_prefetch(&bounded, today);
    let without = benchmark_prefetch(&unbounded, today);
    let chart = gravida_bench::patient::Chart::new(today);
    let all: Vec<&Value> = chart.by_key.values().flatten().collect();
    let mut lines = Vec::new();
    for ((key, bytes, ids), (_, whole_bytes, whole_ids)) in with_bounds.iter().zip(&without) {
        lines.push(format!("{key}: {whole_bytes} -> {bytes} bytes"));
        // The bounded search finds a subset of the unbounded one, and leaves out only records
        // dated before its window.
        assert!(ids.iter().all(|id| whole_ids.contains(id)), "{key}");
        let template = &bounded.iter().find(|(k, _)| k == key).unwrap().1;
        let Some(token) = template.rsplit_once("date=ge").map(|(_, t)| t) else {
            assert_eq!(ids, whole_ids, "{key}: an unbounded key");
            continue;
        };
        let bound = gravida_cds_hooks::prefetch::render_on(token, &Map::new(), today).unwrap();
        for left_out in whole_ids.iter().filter(|id| !ids.contains(id)) {
            let resource = all.iter().find(|r| r["id"] == left_out.as_str()).unwrap();
            let date = resource["effectiveDateTime"]
                .as_str()
                .or(resource["period"]["end"].as_str())
                .unwrap_or("");
            assert!(date < bound.as_str(), "{key}: {left_out} ({date}) left out");
        }
    }
    let total = |keys: &[(String, usize, Vec<String>)]| keys.iter().map(|k| k.1).sum::<usize>() + 2;
    println!(
        "benchmark patient prefetch: {} bytes unbounded, {} bytes bounded\n  {}",
        total(&without),
        total(&with_bounds),
        lines.join("\n  ")
    );
    assert!(total(&with_bounds) <= total(&without));
}
