//! The site's time zone decides "today" (knowledge.md §3.5 item 3): the same chart, at the same
//! instant, is 13w6d on a UTC ward and a day more (or less) on a ward where the date has already
//! turned (or not yet), across the 14-week boundary.

use serde_json::{Value, json};
use time::{Duration, OffsetDateTime};

use crate::helpers::TestApp;
use crate::scenarios_http::{Scenario, load, prefetch_for, request, scenario_files};

/// A zone whose calendar date differs from UTC's right now, and by how many days, with at least
/// an hour to spare: at UTC 11:00 or later it is already tomorrow on Kiritimati (UTC+14); before
/// 11:00 it is still yesterday at UTC−12.
fn a_zone_on_another_date() -> (&'static str, i64) {
    if OffsetDateTime::now_utc().hour() >= 11 {
        ("Pacific/Kiritimati", 1)
    } else {
        ("Etc/GMT+12", -1)
    }
}

/// pub01 (an "implantation bleeding" with no ultrasound), its bleed undated so that the card
/// gives today's gestational age, and its LMP 97 days before today's UTC date: 13w6d by UTC.
fn undated_bleed_at_13w6d_by_utc() -> Scenario {
    let path = scenario_files()
        .into_iter()
        .find(|path| path.ends_with("pub01.json"))
        .unwrap();
    let mut scenario = load(&path);
    let lmp = OffsetDateTime::now_utc().date() - Duration::days(97);
    for resource in &mut scenario.resources {
        let object = resource.as_object_mut().unwrap();
        if object["resourceType"] == "Condition" {
            object.remove("onsetDateTime");
            object.remove("recordedDate");
        }
        if object.get("valueDateTime").is_some() {
            object.insert("valueDateTime".into(), json!(lmp.to_string()));
        }
    }
    scenario
}

async fn cards_text(app: &TestApp, scenario: &Scenario) -> String {
    let prefetch = prefetch_for(app, "gravida-patient-view", scenario).await;
    let (status, body) = app
        .call(
            "gravida-patient-view",
            &request(scenario, Some(prefetch), None),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let cards = body["cards"].as_array().cloned().unwrap_or_default();
    assert!(
        !cards.is_empty(),
        "a bleed in pregnancy gets a card: {body}"
    );
    Value::Array(cards).to_string()
}

#[tokio::test]
async fn today_is_the_site_time_zone_s_calendar_day_not_utc_s() {
    let scenario = undated_bleed_at_13w6d_by_utc();
    let utc = TestApp::spawn().await;
    let on_utc = cards_text(&utc, &scenario).await;
    assert!(on_utc.contains("13w6d"), "UTC's today is 13w6d: {on_utc}");

    let (zone, days) = a_zone_on_another_date();
    let site = TestApp::spawn_with(&[("GRAVIDA_TIME_ZONE", zone)]).await;
    let on_site = cards_text(&site, &scenario).await;
    let expected = if days > 0 { "14w0d" } else { "13w5d" };
    assert!(
        on_site.contains(expected) && !on_site.contains("13w6d"),
        "in {zone} today is {expected}: {on_site}"
    );
}

#[tokio::test]
async fn an_unknown_time_zone_stops_the_service_from_starting_with_its_name() {
    let error = gravida_server::settings::Settings::load_from(
        None,
        [(
            "GRAVIDA_TIME_ZONE".to_owned(),
            "Mars/Olympus_Mons".to_owned(),
        )],
    )
    .unwrap_err()
    .to_string();
    assert!(error.contains("Mars/Olympus_Mons"), "{error}");
}
