//! The day of the bleed and today are counted on the same calendar, the site's: a bleed charted
//! as a UTC time gets the gestational age of the site's day it happened on, not UTC's.

use serde_json::json;
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime, UtcOffset};

use crate::helpers::TestApp;
use crate::scenarios_http::{load, prefetch_for, request, scenario_files};

/// A zone whose calendar date differs from UTC's right now, its offset, and with at least an
/// hour to spare (as in `site_time.rs`): at UTC 11:00 or later it is already tomorrow on
/// Kiritimati (UTC+14); before 11:00 it is still yesterday at UTC−12.
fn a_zone_on_another_date() -> (&'static str, UtcOffset) {
    if OffsetDateTime::now_utc().hour() >= 11 {
        ("Pacific/Kiritimati", UtcOffset::from_hms(14, 0, 0).unwrap())
    } else {
        ("Etc/GMT+12", UtcOffset::from_hms(-12, 0, 0).unwrap())
    }
}

#[tokio::test]
async fn a_bleed_charted_as_a_utc_time_is_dated_on_the_site_s_calendar_like_today() {
    let (zone, offset) = a_zone_on_another_date();
    let now = OffsetDateTime::now_utc();
    let site_today = now.to_offset(offset).date();
    // pub01, its bleed charted ten minutes ago as a UTC time, its LMP 97 days before the site's
    // today: the bleed is at 13w6d on the site's calendar, a day more or less on UTC's.
    let path = scenario_files()
        .into_iter()
        .find(|path| path.ends_with("pub01.json"))
        .unwrap();
    let mut scenario = load(&path);
    let bleed_at = (now - Duration::minutes(10)).format(&Rfc3339).unwrap();
    assert!(bleed_at.ends_with('Z'), "{bleed_at}");
    for resource in &mut scenario.resources {
        let object = resource.as_object_mut().unwrap();
        if object["resourceType"] == "Condition" {
            object.insert("onsetDateTime".into(), json!(bleed_at));
            object.remove("recordedDate");
        }
        if object.get("valueDateTime").is_some() {
            let lmp = site_today - Duration::days(97);
            object.insert("valueDateTime".into(), json!(lmp.to_string()));
        }
    }
    let app = TestApp::spawn_with(&[("GRAVIDA_TIME_ZONE", zone)]).await;
    let prefetch = prefetch_for(&app, "gravida-patient-view", &scenario).await;
    let (status, body) = app
        .call(
            "gravida-patient-view",
            &request(&scenario, Some(prefetch), None),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let text = body["cards"].to_string();
    assert!(
        text.contains("13w6d") && !text.contains("14w0d") && !text.contains("13w5d"),
        "in {zone} the bleed of ten minutes ago is at 13w6d: {text}"
    );
}
