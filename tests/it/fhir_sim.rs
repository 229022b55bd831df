//! A small FHIR search simulator over a list of resources: it answers the searches Gravida's
//! prefetch templates make (read by id; search by `patient` and `code`) the way an EHR would.
//!
//! It serves two purposes: building the prefetch an EHR would send for a scenario, and standing
//! behind wiremock as the EHR's FHIR server, so the prefetch path and the fetch path are fed from
//! the same data and must give the same cards.

// Matching and re-dating are the demo FHIR endpoint's own, so the two cannot drift apart.
use gravida_server::demo::data::matches_search;
pub use gravida_server::demo::data::shift_dates;
use serde_json::{Value, json};

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
        .filter(|r| r["resourceType"] == path && matches_search(r, &params))
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
