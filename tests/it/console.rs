//! The governance console over HTTP: its own listener, its token, its page and exports, and
//! what it must never show (patient identifiers) or where it must never be (the EHR port).

use gravida_server::settings::Settings;
use gravida_store::PatientHasher;
use serde_json::Value;

use crate::helpers::TestApp;
use crate::scenarios_http::{load, prefetch_for, request};

const TOKEN: &str = "a-console-token-for-tests";

/// An app with its console on loopback port 0, asking for [`TOKEN`].
async fn with_console() -> TestApp {
    TestApp::spawn_with(&[
        ("GRAVIDA_ADMIN__LISTEN", "127.0.0.1:0"),
        ("GRAVIDA_ADMIN__TOKEN", TOKEN),
    ])
    .await
}

async fn admin_get(app: &TestApp, path: &str, token: Option<&str>) -> (u16, String) {
    let base = app
        .admin_address
        .as_ref()
        .expect("the console is listening");
    let mut request = app.client.get(format!("{base}{path}"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

/// Answers one patient-view call for pub01 (a patient with a card); its patient id.
async fn one_call_with_a_card(app: &TestApp) -> String {
    let scenario = load(&crate::helpers::fixture_path("scenarios/pub01.json"));
    let prefetch = prefetch_for(app, "gravida-patient-view", &scenario).await;
    let (status, body) = app
        .call(
            "gravida-patient-view",
            &request(&scenario, Some(prefetch), None),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(!body["cards"].as_array().unwrap().is_empty(), "{body}");
    scenario.context["patientId"].as_str().unwrap().to_owned()
}

/// The JSON export once it shows `calls` calls and a card shown at each hook called (the
/// writer lingers a few milliseconds, and may write a call's count and its cards in two
/// batches).
async fn export_with_calls(app: &TestApp, calls: i64) -> Value {
    for _ in 0..200 {
        let (status, text) = admin_get(app, "/admin/report.json", Some(TOKEN)).await;
        assert_eq!(status, 200, "{text}");
        let json: Value = serde_json::from_str(&text).unwrap();
        let hooks_fired = json["weeks"][0]["hooks"]
            .as_array()
            .is_some_and(|hooks| hooks.iter().all(|h| h["cards_active"].as_i64() > Some(0)));
        if json["weeks"][0]["calls"].as_i64() == Some(calls) && hooks_fired {
            return json;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("the export never showed {calls} call(s) with their cards");
}

#[tokio::test]
async fn the_console_answers_401_without_its_token_or_with_a_wrong_one() {
    let app = with_console().await;
    for path in [
        "/admin",
        "/admin?weeks=not-a-number",
        "/admin/report.json",
        "/admin/report.csv",
        "/elsewhere",
    ] {
        let (status, _) = admin_get(&app, path, None).await;
        assert_eq!(status, 401, "{path} without a token");
        let (status, _) = admin_get(&app, path, Some("a-console-token-for-tesTs")).await;
        assert_eq!(status, 401, "{path} with a wrong token");
    }
    let (status, _) = admin_get(&app, "/admin", Some(TOKEN)).await;
    assert_eq!(status, 200);
    // Past the token, an unknown path is 404.
    let (status, _) = admin_get(&app, "/elsewhere", Some(TOKEN)).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn the_console_is_never_served_on_the_ehr_facing_port() {
    let app = with_console().await;
    for path in ["/admin", "/admin/report.json", "/admin/report.csv"] {
        let response = app
            .client
            .get(app.url(path))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 404, "{path} on the EHR port");
    }
    assert_ne!(app.admin_address.as_deref(), Some(app.address.as_str()));
}

#[tokio::test]
async fn a_hook_call_shows_in_the_console_as_a_counted_call_with_its_cards_plotted() {
    let app = with_console().await;
    let patient = one_call_with_a_card(&app).await;
    let json = export_with_calls(&app, 1).await;
    let week = &json["weeks"][0];
    let fired: i64 = week["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["fired_active"].as_i64().unwrap())
        .sum();
    assert!(fired >= 1, "{json:#}");
    assert_eq!(week["hooks"][0]["hook"], "patient-view");
    assert_eq!(week["hooks"][0]["calls_fired"], 1);
    assert_eq!(week["hooks"][0]["share_fired"], 1.0);
    // The service recorded at start-up what its profile hash is: the console names its version.
    let kb = gravida_knowledge::KnowledgeBase::embedded().unwrap();
    assert_eq!(week["profile_versions"][0], kb.version(), "{json:#}");
    assert_eq!(
        json["profiles"][0]["version"],
        kb.profile_version(),
        "{json:#}"
    );

    let (status, html) = admin_get(&app, "/admin", Some(TOKEN)).await;
    assert_eq!(status, 200);
    assert_eq!(html.matches("<svg class=\"plot\"").count(), 4, "{html}");
    let named = format!("version {} ({})", kb.profile_version(), kb.version());
    assert!(html.contains(&named), "{html}");
    assert!(!html.contains("<script"), "no JavaScript");
    let (_, csv) = admin_get(&app, "/admin/report.csv", Some(TOKEN)).await;
    assert!(csv.starts_with(gravida_server::export::CSV_HEADER), "{csv}");

    // No patient identifier anywhere: not the id, not its keyed hash.
    let (hasher, _) =
        PatientHasher::from_file_or_create(&app.data_dir.join("patient.key")).unwrap();
    let hash = hasher.hash(&patient);
    for (what, text) in [("page", &html), ("csv", &csv), ("json", &json.to_string())] {
        assert!(!text.contains(&patient), "the {what} names the patient");
        assert!(!text.contains(&hash), "the {what} shows the patient's hash");
    }
}

#[test]
fn a_console_exposed_without_a_token_is_refused_at_start_up_with_the_reason() {
    let refused = Settings::load_from(
        None,
        [(
            "GRAVIDA_ADMIN__LISTEN".to_owned(),
            "0.0.0.0:9091".to_owned(),
        )],
    )
    .unwrap_err()
    .to_string();
    assert!(
        refused
            .contains("refusing to expose the governance console on 0.0.0.0:9091 without a token"),
        "{refused}"
    );
    // With a token it may be exposed.
    assert!(
        Settings::load_from(
            None,
            [
                (
                    "GRAVIDA_ADMIN__LISTEN".to_owned(),
                    "0.0.0.0:9091".to_owned()
                ),
                ("GRAVIDA_ADMIN__TOKEN".to_owned(), TOKEN.to_owned()),
            ],
        )
        .is_ok()
    );
}

#[tokio::test]
async fn an_empty_token_file_does_not_expose_the_console() {
    let dir = std::env::temp_dir().join(format!("gravida-it-console-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("admin.token");
    std::fs::write(&file, "\n").unwrap();
    let settings = Settings::load_from(
        None,
        [
            ("GRAVIDA_LISTEN".to_owned(), "127.0.0.1:0".to_owned()),
            ("GRAVIDA_ADMIN__LISTEN".to_owned(), "0.0.0.0:0".to_owned()),
            (
                "GRAVIDA_ADMIN__TOKEN_FILE".to_owned(),
                file.display().to_string(),
            ),
            (
                "GRAVIDA_STORE__DATA_DIR".to_owned(),
                dir.join("data").display().to_string(),
            ),
        ],
    )
    .unwrap();
    let error = gravida_server::startup::Application::build(settings)
        .await
        .expect_err("refused")
        .to_string();
    assert!(error.contains("without a token"), "{error}");
}

#[tokio::test]
async fn a_demo_month_fills_every_week_through_the_engine_with_feedback_a_silent_rule_then_the_shipped_profile_and_the_same_numbers_twice()
 {
    use gravida_server::demo::dry_run::{DRY_RUN_RULE, dry_run_profile};
    use gravida_server::demo::fill::{Profiles, fill};
    use gravida_store::{Store, sqlite_url_in};
    let kb = gravida_knowledge::KnowledgeBase::embedded().unwrap();
    let dry_run = dry_run_profile().unwrap();
    let profiles = Profiles {
        dry_run: &dry_run,
        shipped: &kb,
    };
    let last_day = time::macros::date!(2026 - 12 - 07);
    let mut runs = Vec::new();
    for run in 0..2 {
        let dir = std::env::temp_dir().join(format!(
            "gravida-it-demo-fill-{}-{run}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        let url = sqlite_url_in(&dir);
        let filled = fill(Store::connect(&url).await.unwrap(), profiles, 30, last_day)
            .await
            .unwrap();
        let store = Store::connect(&url).await.unwrap();
        let weekly = store.weekly(0).await.unwrap();
        store.close().await;
        runs.push((filled, weekly));
    }
    let (filled, weekly) = &runs[0];
    // 2026-11-08 (a Sunday) to 2026-12-07 (a Monday): six ISO weeks, W45 to W50.
    let names: Vec<&str> = weekly.weeks.iter().map(|w| w.week.as_str()).collect();
    assert_eq!(
        names,
        [
            "2026-W45", "2026-W46", "2026-W47", "2026-W48", "2026-W49", "2026-W50"
        ]
    );
    // The store holds what the fill says it wrote.
    let sum = |f: &dyn Fn(&gravida_store::RuleWeek) -> i64| -> i64 {
        weekly.weeks.iter().flat_map(|w| &w.rules).map(f).sum()
    };
    let calls: i64 = weekly.weeks.iter().map(|w| w.calls).sum();
    assert_eq!(calls as u64, filled.calls);
    assert_eq!(sum(&|r| r.fired_active) as u64, filled.cards);
    assert_eq!(sum(&|r| r.accepted) as u64, filled.accepted);
    assert_eq!(sum(&|r| r.overridden) as u64, filled.overridden);
    // A month of a ward: every weekday has calls, cards of several rules, answers of both kinds,
    // and the overrides carry HL7's standard codes (named by the code alone).
    assert!(filled.calls >= 30 * 8, "{filled:?}");
    let rules: std::collections::BTreeSet<&str> = weekly
        .weeks
        .iter()
        .flat_map(|w| w.rules.iter().map(|r| r.rule_id.as_str()))
        .collect();
    assert!(rules.len() >= 5, "{rules:?}");
    assert!(filled.accepted > 0 && filled.overridden > 0, "{filled:?}");
    assert!(
        weekly
            .weeks
            .iter()
            .flat_map(|w| &w.rules)
            .flat_map(|r| &r.override_reasons)
            .all(|(code, _)| gravida_cds_hooks::override_reasons::STANDARD
                .iter()
                .any(|s| s.code == code)),
        "{weekly:#?}"
    );
    assert_eq!(sum(&|r| r.fired_silent) as u64, filled.silent);
    // The first 15 days (2026-11-08 to 11-22: W45 to W47) are the dry run's, the silent rule's
    // cards recorded and never answered; from 11-23 (W48, a Monday) the shipped profile's.
    let versions: Vec<Vec<&str>> = weekly
        .weeks
        .iter()
        .map(|w| w.profile_versions.iter().map(String::as_str).collect())
        .collect();
    let (dry, shipped) = (vec![dry_run.version()], vec![kb.version()]);
    assert_eq!(
        versions,
        [&dry, &dry, &dry, &shipped, &shipped, &shipped].map(Clone::clone),
        "{weekly:#?}"
    );
    // The store says what each hash is, in the order they answered.
    let described: Vec<(&str, &str)> = weekly
        .profiles
        .iter()
        .map(|p| (p.profile_version.as_str(), p.version.as_str()))
        .collect();
    assert_eq!(
        described,
        [
            (dry_run.version(), dry_run.profile_version()),
            (kb.version(), kb.profile_version())
        ]
    );
    assert_eq!(weekly.profiles[1].change_note, kb.change_note());
    let silent_rule = DRY_RUN_RULE.as_str();
    for (i, week) in weekly.weeks.iter().enumerate() {
        let silent: i64 = week.rules.iter().map(|r| r.fired_silent).sum();
        let rule = week.rules.iter().find(|r| r.rule_id == silent_rule);
        if i < 3 {
            // Silent only, and never answered; W45 is one Sunday, which may have none of its cards.
            let (fired_silent, fired_active, answered) = rule.map_or((0, 0, 0), |r| {
                (r.fired_silent, r.fired_active, r.accepted + r.overridden)
            });
            assert!(fired_silent > 0 || i == 0, "{week:?}");
            assert_eq!((fired_active, answered), (0, 0), "{week:?}");
            assert_eq!(silent, fired_silent, "{week:?}");
        } else {
            assert_eq!(silent, 0, "{week:?}");
            assert!(rule.is_some_and(|r| r.fired_active > 0), "{week:?}");
        }
    }
    // The same days give the same numbers.
    assert_eq!(runs[0], runs[1]);
}

/// A fresh folder for a binary's store.
fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "gravida-it-console-{name}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn gravida_demo_fills_a_store_that_gravida_report_exports_as_csv_and_json_alike() {
    use crate::binary::gravida;
    let dir = scratch("demo-report");
    let url = format!("sqlite://{}", dir.join("gravida.db").display());
    let filled = gravida()
        .args(["demo", "--days", "8", "--fill-only", "--store", &url])
        .env_clear()
        .env("GRAVIDA_STORE__DATA_DIR", &dir)
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(filled.status.success(), "{filled:?}");
    let said = String::from_utf8(filled.stdout).unwrap();
    assert!(
        said.starts_with("filled 8 day(s) of synthetic activity (issuer synthetic-demo): "),
        "{said}"
    );
    let export = |format: &str| {
        let output = gravida()
            .args(["report", "--format", format])
            .env_clear()
            .env("GRAVIDA_STORE__URL", &url)
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        String::from_utf8(output.stdout).unwrap()
    };
    let json: Value = serde_json::from_str(&export("json")).unwrap();
    let csv = export("csv");
    // The calls the fill said it made are the store's, in both exports.
    let calls: i64 = json["weeks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["calls"].as_i64().unwrap())
        .sum();
    assert!(
        said.contains(&format!(": {calls} calls, ")),
        "{said} vs {json:#}"
    );
    for week in json["weeks"].as_array().unwrap() {
        for rule in week["rules"].as_array().unwrap() {
            let row = format!(
                "{},{},rule,{},,{},{},",
                week["week"].as_str().unwrap(),
                week["starts"].as_str().unwrap(),
                rule["rule"].as_str().unwrap(),
                week["calls"],
                rule["calls_fired"]
            );
            assert!(csv.contains(&row), "{row} not in\n{csv}");
        }
    }
    // Every call is at one hook: the CSV's hook rows add up to the same calls.
    let csv_calls: i64 = csv
        .lines()
        .filter(|line| line.split(',').nth(2) == Some("hook"))
        .map(|line| line.split(',').nth(5).unwrap().parse::<i64>().unwrap())
        .sum();
    assert_eq!(csv_calls, calls);
    // The text report is still the default, and unchanged in form.
    let text = export("text");
    assert!(
        text.starts_with("Gravida governance report: cards issued all time"),
        "{text}"
    );
}

#[test]
fn gravida_report_refuses_an_unknown_format_and_gravida_demo_a_day_count_out_of_range() {
    use crate::binary::gravida;
    let output = gravida()
        .args(["report", "--format", "xml"])
        .env_clear()
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let dir = scratch("demo-days");
    let output = gravida()
        .args(["demo", "--days", "0", "--fill-only"])
        .env_clear()
        .current_dir(&dir)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("--days"));
}

#[tokio::test]
async fn a_slow_client_on_the_admin_port_is_cut_off_after_the_header_timeout_as_on_the_main_port() {
    let app = TestApp::spawn_with(&[
        ("GRAVIDA_ADMIN__LISTEN", "127.0.0.1:0"),
        ("GRAVIDA_ADMIN__TOKEN", TOKEN),
        ("GRAVIDA_HTTP__HEADER_READ_TIMEOUT_MS", "300"),
    ])
    .await;
    let admin = app
        .admin_address
        .as_deref()
        .expect("the console is listening");
    let stream = tokio::net::TcpStream::connect(admin.trim_start_matches("http://"))
        .await
        .unwrap();
    let lasted =
        crate::http_front::slowloris(stream, b"GET /admin HTTP/1.1\r\nHost: localhost\r\n").await;
    assert!(
        lasted >= std::time::Duration::from_millis(250),
        "closed before the timeout: {lasted:?}"
    );
    // The console still answers a well-behaved client.
    let (status, _) = admin_get(&app, "/admin", Some(TOKEN)).await;
    assert_eq!(status, 200);
}
