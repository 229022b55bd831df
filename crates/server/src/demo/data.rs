//! The demo's synthetic patients: scenario files compiled into the binary, their dates moved so
//! that each scenario's `now` is today, and the two FHIR interactions the demo answers (read by
//! id; search by `patient` and `code`).
//!
//! A scenario file is one patient's story: `title`, `narrative`, the `hook` it was written for,
//! its `context` (draft orders for the order hooks) and the FHIR `resources` an EHR would hold.
//! The public scenarios come from `tests/fixtures/scenarios`; `crates/server/demo-data` adds
//! patients so that every rule and every gate has one.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::{Date, Duration, Month, macros::format_description};

/// Every scenario file the demo serves, by name. Order is the order of the patient list.
const SCENARIOS: &[(&str, &str)] = &[
    ("demo01", include_str!("../../demo-data/demo01.json")),
    (
        "pub01",
        include_str!("../../../../tests/fixtures/scenarios/pub01.json"),
    ),
    (
        "pub02",
        include_str!("../../../../tests/fixtures/scenarios/pub02.json"),
    ),
    (
        "pub03",
        include_str!("../../../../tests/fixtures/scenarios/pub03.json"),
    ),
    (
        "pub04",
        include_str!("../../../../tests/fixtures/scenarios/pub04.json"),
    ),
    (
        "pub05",
        include_str!("../../../../tests/fixtures/scenarios/pub05.json"),
    ),
    (
        "pub06",
        include_str!("../../../../tests/fixtures/scenarios/pub06.json"),
    ),
    (
        "pub07",
        include_str!("../../../../tests/fixtures/scenarios/pub07.json"),
    ),
    (
        "pub08",
        include_str!("../../../../tests/fixtures/scenarios/pub08.json"),
    ),
    (
        "pub09",
        include_str!("../../../../tests/fixtures/scenarios/pub09.json"),
    ),
    (
        "pub10",
        include_str!("../../../../tests/fixtures/scenarios/pub10.json"),
    ),
    (
        "pub11",
        include_str!("../../../../tests/fixtures/scenarios/pub11.json"),
    ),
    (
        "pub12",
        include_str!("../../../../tests/fixtures/scenarios/pub12.json"),
    ),
    (
        "pub13",
        include_str!("../../../../tests/fixtures/scenarios/pub13.json"),
    ),
    (
        "x01",
        include_str!("../../../../tests/fixtures/scenarios-extra/x01.json"),
    ),
    (
        "x02",
        include_str!("../../../../tests/fixtures/scenarios-extra/x02.json"),
    ),
    (
        "x03",
        include_str!("../../../../tests/fixtures/scenarios-extra/x03.json"),
    ),
    // x04 is left out: its bleed is an uncoded nursing note, which no code search finds.
    (
        "x05",
        include_str!("../../../../tests/fixtures/scenarios-extra/x05.json"),
    ),
    (
        "x06",
        include_str!("../../../../tests/fixtures/scenarios-extra/x06.json"),
    ),
    (
        "x07",
        include_str!("../../../../tests/fixtures/scenarios-extra/x07.json"),
    ),
    (
        "x08",
        include_str!("../../../../tests/fixtures/scenarios-extra/x08.json"),
    ),
    (
        "x09",
        include_str!("../../../../tests/fixtures/scenarios-extra/x09.json"),
    ),
    (
        "x10",
        include_str!("../../../../tests/fixtures/scenarios-extra/x10.json"),
    ),
    (
        "x11",
        include_str!("../../../../tests/fixtures/scenarios-extra/x11.json"),
    ),
    ("demo02", include_str!("../../demo-data/demo02.json")),
    ("demo03", include_str!("../../demo-data/demo03.json")),
    ("demo04", include_str!("../../demo-data/demo04.json")),
    ("demo05", include_str!("../../demo-data/demo05.json")),
];

/// The resource types the demo FHIR endpoint holds (and lists in its CapabilityStatement). A
/// search of another type is refused with 404, as a real server refuses an unknown type.
pub const RESOURCE_TYPES: &[&str] = &[
    "Patient",
    "Condition",
    "Observation",
    "DiagnosticReport",
    "Encounter",
    "MedicationRequest",
    "MedicationAdministration",
    "Procedure",
];

/// A scenario file as written.
#[derive(Debug, Deserialize)]
struct ScenarioFile {
    title: String,
    #[serde(default)]
    narrative: String,
    now: String,
    hook: String,
    context: Value,
    resources: Vec<Value>,
    expect: Expect,
}

#[derive(Debug, Deserialize)]
struct Expect {
    max_indicator: String,
}

/// One patient in the demo's list: what the page shows and what it needs to call a hook.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DemoPatient {
    /// The FHIR Patient id (`context.patientId`).
    pub id: String,
    /// The scenario it comes from (`pub01`, `demo01`).
    pub scenario: String,
    /// The one-line story.
    pub title: String,
    pub narrative: String,
    /// The hook the scenario was written for; the page offers order hooks for every patient.
    pub hook: String,
    /// The scenario's draft orders (a FHIR Bundle), for the order hooks; dates shifted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub draft_orders: Option<Value>,
    /// The highest card indicator the scenario expects: `none`, `info`, `warning`, `critical`.
    pub expected: String,
}

/// Why the embedded data could not be loaded. Only a broken build can cause one; the unit test
/// below loads the data, so it cannot ship.
#[derive(Debug, thiserror::Error)]
pub enum DemoDataError {
    #[error("demo scenario {name}: {source}")]
    Json {
        name: &'static str,
        source: serde_json::Error,
    },
    #[error("demo scenario {name}: {problem}")]
    Invalid {
        name: &'static str,
        problem: &'static str,
    },
}

/// The demo's patients and every resource they own, dated relative to `today`.
#[derive(Debug)]
pub struct DemoData {
    pub patients: Vec<DemoPatient>,
    resources: Vec<Value>,
}

impl DemoData {
    /// Loads every embedded scenario, shifting its dates by (`today` − its `now`).
    pub fn load(today: Date) -> Result<DemoData, DemoDataError> {
        let mut patients = Vec::with_capacity(SCENARIOS.len());
        let mut resources = Vec::new();
        for (name, text) in SCENARIOS {
            let invalid = |problem| DemoDataError::Invalid { name, problem };
            let mut file: ScenarioFile = serde_json::from_str(text)
                .map_err(|source| DemoDataError::Json { name, source })?;
            let now = Date::parse(&file.now, format_description!("[year]-[month]-[day]"))
                .map_err(|_| invalid("`now` is not a YYYY-MM-DD date"))?;
            let days = (today - now).whole_days();
            shift_dates(&mut file.context, days);
            file.resources.iter_mut().for_each(|r| shift_dates(r, days));
            let id = file.context["patientId"]
                .as_str()
                .ok_or_else(|| invalid("`context.patientId` is missing"))?
                .to_owned();
            patients.push(DemoPatient {
                id,
                scenario: (*name).to_owned(),
                title: file.title,
                narrative: file.narrative,
                hook: file.hook,
                draft_orders: file.context.get("draftOrders").cloned(),
                expected: file.expect.max_indicator,
            });
            resources.append(&mut file.resources);
        }
        Ok(DemoData {
            patients,
            resources,
        })
    }

    /// The resource with this type and id.
    pub fn read(&self, resource_type: &str, id: &str) -> Option<&Value> {
        self.resources
            .iter()
            .find(|r| r["resourceType"] == resource_type && r["id"] == id)
    }

    /// Every resource of the patient `id`: the Patient itself and whatever names it as its
    /// subject or patient.
    pub fn resources_of<'a>(&'a self, id: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
        self.resources
            .iter()
            .filter(move |r| (r["resourceType"] == "Patient" && r["id"] == id) || subject_is(r, id))
    }

    /// The resources of `resource_type` matching every search parameter. `patient` (or
    /// `subject`) matches the subject reference; `code` matches any of its comma-separated
    /// tokens (`system|code`, `|code` or `code`); see [`matches_search`].
    pub fn search<'a>(
        &'a self,
        resource_type: &str,
        params: &[(String, String)],
    ) -> Vec<&'a Value> {
        self.resources
            .iter()
            .filter(|r| r["resourceType"] == resource_type && matches_search(r, params))
            .collect()
    }
}

/// Whether `resource` matches every search parameter: `patient` (or `subject`) against its
/// subject reference, `code` against any of its comma-separated tokens, `date` against its
/// clinical date ([`matches_date`]). Other parameters (paging, sorting) do not filter. The
/// integration tests' FHIR simulator shares this.
pub fn matches_search(resource: &Value, params: &[(String, String)]) -> bool {
    params.iter().all(|(name, value)| match name.as_str() {
        "patient" | "subject" => subject_is(resource, value),
        "code" => value.split(',').any(|token| has_code(resource, token)),
        // MedicationAdministration's date parameter is `effective-time` (FHIR R4).
        "date" | "effective-time" => matches_date(resource, value),
        _ => true,
    })
}

/// FHIR R4 date search (§3.1.1.4.2 with the prefixes `eq`, `gt`, `ge`, `lt`, `le`; day
/// precision): the record's clinical date — `effective[x]` of an Observation or
/// DiagnosticReport, `period` of an Encounter, `performed[x]` of a Procedure — is the range of
/// days it names (`2025` is the whole year, a Period from its start to its end), and matches
/// when that range meets the range the prefix asks for. As on a real server, a record without
/// the element never matches a date search.
pub fn matches_date(resource: &Value, search: &str) -> bool {
    let (prefix, day) = match search.get(..2) {
        Some(p @ ("eq" | "gt" | "ge" | "lt" | "le")) => (p, &search[2..]),
        _ => ("eq", search),
    };
    let Some(day) = day.get(..10) else {
        return false;
    };
    let (element, period) = match resource["resourceType"].as_str() {
        Some("Observation" | "DiagnosticReport" | "MedicationAdministration") => {
            ("effective", "effectivePeriod")
        }
        Some("Immunization") => ("occurrence", "occurrencePeriod"),
        Some("Encounter") => ("period", "period"),
        Some("Procedure") => ("performed", "performedPeriod"),
        _ => return false,
    };
    let (low, high) = if let Some(range) = resource.get(period).filter(|p| p.is_object()) {
        let start = range["start"].as_str().map(|s| day_range(s).0);
        let end = range["end"].as_str().map(|s| day_range(s).1);
        match (start, end) {
            (None, None) => return false,
            (start, end) => (
                start.unwrap_or_else(|| "0000-01-01".into()),
                end.unwrap_or_else(|| "9999-12-31".into()),
            ),
        }
    } else {
        let value = ["DateTime", "Instant"]
            .iter()
            .find_map(|kind| resource[format!("{element}{kind}")].as_str());
        match value {
            Some(value) => day_range(value),
            None => return false,
        }
    };
    let (low, high) = (low.as_str(), high.as_str());
    match prefix {
        "ge" => high >= day,
        "gt" => high > day,
        "le" => low <= day,
        "lt" => low < day,
        _ => low <= day && day <= high,
    }
}

/// The first and last day (`YYYY-MM-DD`) a FHIR date or dateTime names: `2025` is
/// 2025-01-01…2025-12-31, `2025-03` is 2025-03-01…2025-03-31 (every month compares as if it
/// had 31 days, which keeps the order of real days), a full date or a dateTime its day.
fn day_range(value: &str) -> (String, String) {
    match value.len() {
        4 => (format!("{value}-01-01"), format!("{value}-12-31")),
        7 => (format!("{value}-01"), format!("{value}-31")),
        _ => {
            let day = value.get(..10).unwrap_or(value).to_owned();
            (day.clone(), day)
        }
    }
}

fn subject_is(resource: &Value, patient: &str) -> bool {
    let patient = patient.trim_start_matches("Patient/");
    let reference = resource["subject"]["reference"]
        .as_str()
        .or_else(|| resource["patient"]["reference"].as_str())
        .unwrap_or("");
    reference.strip_prefix("Patient/") == Some(patient)
}

/// FHIR token search on `code`: `system|code`, `|code` (no system) or `code` (any system).
fn has_code(resource: &Value, token: &str) -> bool {
    let (system, code) = match token.split_once('|') {
        Some((s, c)) => (Some(s), c),
        None => (None, token),
    };
    resource["code"]["coding"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| {
            c["code"] == code
                && match system {
                    None => true,
                    Some("") => c.get("system").is_none(),
                    Some(s) => c["system"] == s,
                }
        })
}

/// Shifts every FHIR date and dateTime string in `value` by `days`. Dates are recognised by
/// shape (`YYYY-MM-DD` at the start of a string); partial dates (`YYYY`, `YYYY-MM`) are kept,
/// since a scenario that uses them means them literally.
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

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn every_embedded_scenario_loads_with_unique_patients_and_resources_of_known_types() {
        let data = DemoData::load(date!(2030 - 01 - 15)).expect("the embedded data loads");
        assert_eq!(data.patients.len(), SCENARIOS.len());
        let mut ids: Vec<&str> = data.patients.iter().map(|p| p.id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), SCENARIOS.len(), "patient ids are unique");
        for r in &data.resources {
            let t = r["resourceType"].as_str().unwrap_or("");
            assert!(RESOURCE_TYPES.contains(&t), "{t} is listed");
            let same = data
                .resources
                .iter()
                .filter(|o| o["resourceType"] == t && o["id"] == r["id"])
                .count();
            assert_eq!(same, 1, "{t}/{} is unique", r["id"]);
        }
    }

    #[test]
    fn a_date_search_matches_the_clinical_date_and_never_a_record_without_one() {
        let observation = |effective: Value| {
            let mut o = serde_json::json!({"resourceType": "Observation"});
            if !effective.is_null() {
                o["effectiveDateTime"] = effective;
            }
            o
        };
        let dated = observation("2026-02-10T08:00:00+01:00".into());
        assert!(matches_date(&dated, "ge2026-02-10"));
        assert!(!matches_date(&dated, "gt2026-02-10"));
        assert!(!matches_date(&dated, "ge2026-02-11"));
        assert!(matches_date(&dated, "le2026-02-10"));
        assert!(!matches_date(&observation(Value::Null), "ge1900-01-01"));
        // A year is the whole year; a period reaches to its end.
        assert!(matches_date(&observation("2025".into()), "ge2025-12-31"));
        let encounter = serde_json::json!({"resourceType": "Encounter",
            "period": {"start": "2025-01-01", "end": "2025-06-30"}});
        assert!(matches_date(&encounter, "ge2025-06-01"));
        assert!(!matches_date(&encounter, "ge2025-07-01"));
    }

    #[test]
    fn dates_move_so_that_the_scenario_day_is_today() {
        let data = DemoData::load(date!(2030 - 01 - 15)).expect("the embedded data loads");
        // pub01 is written for 2025-04-01 and its bleed is recorded that day.
        let bleed = data
            .read("Condition", "pub01-cond-3")
            .expect("pub01's bleed");
        assert_eq!(bleed["recordedDate"], "2030-01-15");
        // Its LMP was 70 days earlier: 10w0d.
        let lmp = data
            .read("Observation", "pub01-obs-2")
            .expect("pub01's LMP");
        assert_eq!(lmp["valueDateTime"], "2029-11-06");
    }

    #[test]
    fn search_matches_patient_and_any_of_the_code_tokens() {
        let data = DemoData::load(date!(2030 - 01 - 15)).expect("the embedded data loads");
        let params = |code: &str| {
            vec![
                ("patient".to_owned(), "pub01".to_owned()),
                ("code".to_owned(), code.to_owned()),
            ]
        };
        let lmp = data.search(
            "Observation",
            &params("http://snomed.info/sct|1,http://loinc.org|8665-2"),
        );
        assert_eq!(lmp.len(), 1);
        assert!(
            data.search("Observation", &params("http://snomed.info/sct|8665-2"))
                .is_empty()
        );
        assert_eq!(
            data.search("Observation", &params("|8665-2")).len(),
            0,
            "|code means no system"
        );
        assert_eq!(data.search("Observation", &params("8665-2")).len(), 1);
        let other = vec![("patient".to_owned(), "pub0".to_owned())];
        assert!(
            data.search("Observation", &other).is_empty(),
            "ids match whole"
        );
    }
}
