//! Rule modes end to end (issue 28 item 1): a silent rule fires in the audit trail and never in
//! the HTTP answer, by prefetch and by fetch (wiremock as the EHR's FHIR server); an off rule is
//! in neither; `/readyz` lists each rule's mode; a site's override wins over the profile; and a
//! profile or a site mode that fails a check is refused by `check-profiles` and at start-up,
//! with the reason.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use gravida_server::settings::Settings;
use gravida_server::startup::Application;
use gravida_store::{Store, sqlite_url_in};

use crate::binary::{gravida, walk};
use crate::helpers::{TestApp, fixture_path};
use crate::real_world::ehr;
use crate::scenarios_http::{Scenario, load, prefetch_for, request, rules_of};
use crate::suppression::counter;

const TOKEN: &str = "rule-modes-access-token-5c1a";

/// Scenario pub01 ("implantation bleeding" at 10w0d, no ultrasound): an R2 warning card.
fn pub01() -> Scenario {
    load(&fixture_path("scenarios/pub01.json"))
}

/// The rules of the cards answered for `scenario`, by prefetch and then by fetch.
async fn answered_both_ways(app: &TestApp, scenario: &Scenario) -> [Vec<String>; 2] {
    let service = format!("gravida-{}", scenario.hook);
    let prefetch = prefetch_for(app, &service, scenario).await;
    let (status, by_prefetch) = app
        .call(&service, &request(scenario, Some(prefetch), None))
        .await;
    assert_eq!(status, 200, "by prefetch: {by_prefetch}");
    let server = ehr(scenario.resources.clone()).await;
    let base = format!("{}/fhir", server.uri());
    let (status, by_fetch) = app
        .call(&service, &request(scenario, None, Some((&base, TOKEN))))
        .await;
    assert_eq!(status, 200, "by fetch: {by_fetch}");
    assert!(
        !server
            .received_requests()
            .await
            .unwrap_or_default()
            .is_empty(),
        "the fetch path asked the FHIR server"
    );
    [by_prefetch, by_fetch].map(|r| rules_of(r["cards"].as_array().unwrap_or(&Vec::new())))
}

/// The app's audit trail as `rule=mode`, once `expected` records are written (the writer is
/// asynchronous), or whatever is there after 10 s.
async fn recorded(app: &TestApp, expected: usize) -> Vec<String> {
    let store = Store::connect(&sqlite_url_in(&app.data_dir)).await.unwrap();
    let started = Instant::now();
    loop {
        let rows = gravida_store::testing::card_modes(&store).await;
        if rows.len() >= expected || started.elapsed() > Duration::from_secs(10) {
            return rows
                .into_iter()
                .map(|(_, rule, mode)| format!("{rule}={mode}"))
                .collect();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn has_r2(rules: &[String]) -> bool {
    rules.iter().any(|r| r.starts_with("\"R2\""))
}

#[tokio::test]
async fn a_silent_rule_fires_in_the_audit_trail_but_never_in_the_answer_by_prefetch_or_fetch() {
    // Control: active, the R2 card is answered both ways and recorded as active.
    let active = TestApp::spawn().await;
    let [by_prefetch, by_fetch] = answered_both_ways(&active, &pub01()).await;
    assert!(
        has_r2(&by_prefetch) && has_r2(&by_fetch),
        "{by_prefetch:?} {by_fetch:?}"
    );
    assert_eq!(recorded(&active, 2).await, ["R2=active", "R2=active"]);

    let silent = TestApp::spawn_with(&[("GRAVIDA_RULE_MODES", "R2=silent")]).await;
    let [by_prefetch, by_fetch] = answered_both_ways(&silent, &pub01()).await;
    assert!(!has_r2(&by_prefetch), "{by_prefetch:?}");
    assert!(!has_r2(&by_fetch), "{by_fetch:?}");
    assert_eq!(recorded(&silent, 2).await, ["R2=silent", "R2=silent"]);
    // Counted as what the rule would have shown (the registry is the process's: at least ours).
    let counted = counter(&silent, "gravida_silent_cards_total", &[r#"rule="R2""#]).await;
    assert!(counted >= 2.0, "{counted}");
}

#[tokio::test]
async fn an_off_rule_is_neither_answered_nor_recorded() {
    let app = TestApp::spawn_with(&[("GRAVIDA_RULE_MODES__R2", "off")]).await;
    let [by_prefetch, by_fetch] = answered_both_ways(&app, &pub01()).await;
    assert!(
        !has_r2(&by_prefetch) && !has_r2(&by_fetch),
        "{by_prefetch:?} {by_fetch:?}"
    );
    // A call with a card of another rule (pub03: R3), recorded after them: the writer keeps
    // the order of its queue, so once it is written, theirs would have been.
    let [after, _] = answered_both_ways(&app, &load(&fixture_path("scenarios/pub03.json"))).await;
    assert!(!after.is_empty(), "pub03 has a card");
    let rows = recorded(&app, 2).await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(rows.iter().all(|r| !r.starts_with("R2=")), "{rows:?}");
}

#[tokio::test]
async fn readyz_lists_every_rules_mode_with_the_sites_overrides() {
    let app = TestApp::spawn_with(&[("GRAVIDA_RULE_MODES", "R3=silent")]).await;
    let (status, body) = app.get("/readyz").await;
    assert_eq!(status, 200, "{body}");
    let modes = &body["rule_modes"];
    assert_eq!(modes["R3"], "silent", "{body}");
    assert_eq!(modes["R12"], "off", "the profile's: {body}");
    assert_eq!(modes["R2"], "active", "{body}");
    assert_eq!(
        modes.as_object().unwrap().len(),
        gravida_rules::finding::RuleId::CARD_RULES.len()
    );
    assert_eq!(body["profile_version"], "1.1.0", "{body}");
}

/// A copy of `profiles/default` in a temp folder, with `tail` appended to its `profile.toml`.
fn profile_with(tail: &str) -> PathBuf {
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/default");
    let dir = std::env::temp_dir().join(format!(
        "gravida-modes-profile-{}-{}",
        std::process::id(),
        next_number()
    ));
    for file in walk(&from) {
        let target = dir.join(file.strip_prefix(&from).unwrap());
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(&file, &target).unwrap();
    }
    let profile = dir.join("profile.toml");
    let mut text = std::fs::read_to_string(&profile).unwrap();
    text.push_str(tail);
    std::fs::write(&profile, text).unwrap();
    dir
}

/// A number no other call in this process gets.
fn next_number() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

#[tokio::test]
async fn a_sites_override_wins_over_the_profile() {
    let dir = profile_with("\n[rules.R2]\nmode = \"silent\"\nnote = \"a dry run\"\n");
    let profiles = dir.to_str().unwrap();
    let by_profile = TestApp::spawn_with(&[("GRAVIDA_PROFILES", profiles)]).await;
    let [answered, _] = answered_both_ways(&by_profile, &pub01()).await;
    assert!(!has_r2(&answered), "the profile's silent R2: {answered:?}");
    let overridden = TestApp::spawn_with(&[
        ("GRAVIDA_PROFILES", profiles),
        ("GRAVIDA_RULE_MODES", "R2=active"),
    ])
    .await;
    let [answered, _] = answered_both_ways(&overridden, &pub01()).await;
    assert!(has_r2(&answered), "the site's active R2: {answered:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// What `Application::build` says when it refuses to start with `env`.
async fn refused(env: &[(&str, &str)]) -> String {
    let mut vars: Vec<(String, String)> = vec![("GRAVIDA_LISTEN".into(), "127.0.0.1:0".into())];
    vars.extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let settings = Settings::load_from(None, vars).unwrap();
    match Application::build(settings).await {
        Ok(_) => panic!("started with {env:?}"),
        Err(e) => format!("{e:#}"),
    }
}

/// What `gravida check-profiles DIR` says, and whether it accepted the profile.
fn check_profiles(dir: &Path) -> (bool, String) {
    let out = gravida()
        .args(["check-profiles", dir.to_str().unwrap()])
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), said)
}

#[tokio::test]
async fn an_unknown_mode_and_a_silent_critical_rule_without_acknowledgement_are_refused_with_the_reason()
 {
    for (tail, reason) in [
        ("\n[rules.R3]\nmode = \"muted\"\n", "unknown mode \"muted\""),
        (
            "\n[rules.R2E]\nmode = \"silent\"\n",
            "R2E may give critical cards",
        ),
    ] {
        let dir = profile_with(tail);
        let (accepted, said) = check_profiles(&dir);
        assert!(!accepted && said.contains(reason), "check-profiles: {said}");
        let said = refused(&[("GRAVIDA_PROFILES", dir.to_str().unwrap())]).await;
        assert!(said.contains(reason), "start-up: {said}");
        let _ = std::fs::remove_dir_all(&dir);
    }
    // The same checks hold a site's override.
    let said = refused(&[("GRAVIDA_RULE_MODES", "R6=silent")]).await;
    assert!(said.contains("R6 may give critical cards"), "{said}");
    let said = refused(&[("GRAVIDA_RULE_MODES", "R3=loud")]).await;
    assert!(said.contains("unknown mode \"loud\""), "{said}");
    // Acknowledged in the profile, a silent critical rule starts.
    let dir = profile_with(
        "\n[rules.R2E]\nmode = \"silent\"\nacknowledge_silent_critical = \"a month's dry run\"\n",
    );
    let (accepted, said) = check_profiles(&dir);
    assert!(accepted, "{said}");
    let _ = std::fs::remove_dir_all(&dir);
}
