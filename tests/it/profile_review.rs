//! `gravida profile diff OLD NEW` as an operator runs it (issue 28 item 3), on two real profile
//! versions: the shipped profile and its next version in `tests/fixtures/profile-1.2.0`. Exit 0
//! when nothing needs clinical sign-off, 1 when something does, 2 when a folder cannot be read.

use std::path::Path;

use crate::binary::gravida;

fn diff(old: &Path, new: &Path) -> (Option<i32>, String, String) {
    let out = gravida()
        .args([
            "profile",
            "diff",
            old.to_str().unwrap(),
            new.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn the_next_profile_version_needs_sign_off_and_says_what_changed() {
    let (code, out, err) = diff(
        &root().join("profiles/default"),
        &root().join("tests/fixtures/profile-1.2.0"),
    );
    assert_eq!(code, Some(1), "{out}{err}");
    for wanted in [
        "profile default 1.1.0 -> default 1.2.0",
        "change note: R15 runs silently",
        "Rule modes [needs clinical sign-off]\n  R15: active -> silent",
        "Thresholds (thresholds.toml) [needs clinical sign-off]\n  future_tolerance_days: 1 -> 2",
        "bleeding: - http://hl7.org/fhir/sid/icd-10-cm|N93.9",
        "+summary = \"Vaginal bleeding at {ga} in an intrauterine pregnancy documented {iup_day}\"",
        "+ https://acsearch.acr.org/docs/69457/Narrative/",
    ] {
        assert!(out.contains(wanted), "{wanted}:\n{out}");
    }
}

#[test]
fn the_same_profile_exits_0_and_a_missing_folder_exits_2() {
    let shipped = root().join("profiles/default");
    let (code, out, _) = diff(&shipped, &shipped);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("no change"), "{out}");
    let (code, _, err) = diff(&shipped, &root().join("profiles/no-such-profile"));
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("no-such-profile"), "{err}");
}

#[tokio::test]
async fn the_report_names_the_profile_version_that_issued_the_periods_cards() {
    let app = crate::helpers::TestApp::spawn().await;
    let scenario =
        crate::scenarios_http::load(&crate::helpers::fixture_path("scenarios/pub01.json"));
    let prefetch =
        crate::scenarios_http::prefetch_for(&app, "gravida-patient-view", &scenario).await;
    let (status, body) = app
        .call(
            "gravida-patient-view",
            &crate::scenarios_http::request(&scenario, Some(prefetch), None),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, ready) = app.get("/readyz").await;
    let hash = ready["profile"].as_str().unwrap().to_owned();
    let mut text = String::new();
    for _ in 0..100 {
        let out = gravida()
            .args(["report"])
            .env_clear()
            .env("GRAVIDA_STORE__DATA_DIR", &app.data_dir)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        text = String::from_utf8(out.stdout).unwrap();
        if text.contains(&hash) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        text.contains(&format!(
            "{hash} (version 1.1.0, the configured profile): 1 card(s)"
        )),
        "{text}"
    );
}
