//! A small FHIR search simulator over a list of resources: it answers the searches Gravida's
//! prefetch templates make (read by id; search by `patient` and `code`) the way an EHR would.
//!
//! It serves two purposes: building the prefetch an EHR would send for a scenario, and standing
//! behind wiremock as the EHR's FHIR server, so the prefetch path and the fetch path are fed from
//! the same data and must give the same cards.

use serde_json::{Value, json};
use time::{Date, Duration, Month};

/// Runs one relative FHIR query (`Observation?patient=p1&code=http://loinc.org|8665-2,...` or
/// `Patient/p1`) against `resources`. A read returns the resource (or `None`); a search returns
/// a searchset Bundle, possibly empty.
pub fn run_query(resources: &[Value], query: &str) -> Option<Value> {
    let (path, params) = query.split_once('?').unwrap_or((query, ""));
    let params: Vec<(String, String)> = url::form_urlencoded::parse(params.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if let Some((resource_type, id)) = path.split_once('/') {
        return resources
            .iter()
            .find(|r| r["resourceType"] == resource_type && r["id"] == id)
            .cloned();
    }
    let matches: Vec<&Value> = resources
        .iter()
        .filter(|r| r["resourceType"] == path)
        .filter(|r| {
            params.iter().all(|(name, value)| match name.as_str() {
                "patient" | "subject" => subject_is(r, value),
                "code" => value.split(',').any(|wanted| has_code(r, wanted)),
                // Paging and sorting parameters do not filter.
                _ => true,
            })
        })
        .collect();
    Some(searchset(&matches))
}

/// A searchset Bundle of these resources.
pub fn searchset(resources: &[&Value]) -> Value {
    let entries: Vec<Value> = resources
        .iter()
        .map(|r| {
            json!({
                "fullUrl": format!("urn:test:{}/{}", r["resourceType"].as_str().unwrap_or(""), r["id"].as_str().unwrap_or("")),
                "resource": r,
                "search": { "mode": "match" }
            })
        })
        .collect();
    json!({ "resourceType": "Bundle", "type": "searchset", "total": entries.len(), "entry": entries })
}

fn subject_is(resource: &Value, patient: &str) -> bool {
    let patient = patient.trim_start_matches("Patient/");
    let reference = resource["subject"]["reference"]
        .as_str()
        .or_else(|| resource["patient"]["reference"].as_str())
        .unwrap_or("");
    reference == format!("Patient/{patient}")
}

/// `system|code`, `|code` or `code`, as FHIR token search reads them.
fn has_code(resource: &Value, wanted: &str) -> bool {
    let (system, code) = match wanted.split_once('|') {
        Some((s, c)) => (Some(s), c),
        None => (None, wanted),
    };
    resource["code"]["coding"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["code"] == code && system.is_none_or(|s| s.is_empty() || c["system"] == s))
}

/// Shifts every FHIR date and dateTime string in `value` by `days`. Dates are recognised by
/// shape (`YYYY-MM-DD` at the start of a string); partial dates (`YYYY`, `YYYY-MM`) are left as
/// they are, since a scenario that uses them means them literally.
pub fn shift_dates(value: &mut Value, days: i64) {
    match value {
        Value::String(s) => {
            if let Some(shifted) = shift_date_string(s, days) {
                *s = shifted;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| shift_dates(v, days)),
        Value::Object(map) => map.values_mut().for_each(|v| shift_dates(v, days)),
        _ => {}
    }
}

fn shift_date_string(s: &str, days: i64) -> Option<String> {
    let head = s.get(..10)?;
    let bytes = head.as_bytes();
    if bytes[4] != b'-' || bytes[7] != b'-' {
        return None;
    }
    let year: i32 = head.get(..4)?.parse().ok()?;
    let month: u8 = head.get(5..7)?.parse().ok()?;
    let day: u8 = head.get(8..10)?.parse().ok()?;
    let date = Date::from_calendar_date(year, Month::try_from(month).ok()?, day).ok()?;
    let shifted = date.checked_add(Duration::days(days))?;
    Some(format!(
        "{:04}-{:02}-{:02}{}",
        shifted.year(),
        u8::from(shifted.month()),
        shifted.day(),
        &s[10..]
    ))
}

#[test]
fn the_simulator_finds_observations_by_patient_and_code_and_shifts_dates() {
    let resources = vec![
        json!({"resourceType": "Observation", "id": "a", "subject": {"reference": "Patient/p"},
               "code": {"coding": [{"system": "http://loinc.org", "code": "8665-2"}]},
               "valueDateTime": "2025-01-31"}),
        json!({"resourceType": "Observation", "id": "b", "subject": {"reference": "Patient/q"},
               "code": {"coding": [{"system": "http://loinc.org", "code": "8665-2"}]}}),
    ];
    let bundle = run_query(
        &resources,
        "Observation?patient=p&code=http://loinc.org|8665-2",
    )
    .unwrap();
    assert_eq!(bundle["total"], 1);
    assert_eq!(bundle["entry"][0]["resource"]["id"], "a");
    let none = run_query(
        &resources,
        "Observation?patient=p&code=http://snomed.info/sct|8665-2",
    )
    .unwrap();
    assert_eq!(none["total"], 0);

    let mut shifted = resources[0].clone();
    shift_dates(&mut shifted, 1);
    assert_eq!(shifted["valueDateTime"], "2025-02-01");
}
