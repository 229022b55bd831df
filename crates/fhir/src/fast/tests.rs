//! Tests of the fast reader: on every input it either declines or agrees with the reference reader.
//!
//! "Agrees" means that `gather` gives the same facts, patient, diagnostics and errors whether the
//! prefetch was read by the fast reader or as JSON values by the reference reader ([`crate::map`]).
//! The corpus is every scenario and FHIR fixture, and thousands of mutations of each of their
//! resources: every element replaced by `null`, a wrong JSON type or an unreadable date, or
//! removed; plus the things the fast reader must decline by design.

use super::json::plain_day;
use super::*;
use crate::gather::{GatherInput, Prefetch, gather};
use fhir_sdk::{Date as FhirDate, DateTime as FhirDateTime};
use gravida_rules::facts::Field;
use gravida_rules::facts::Input;
use gravida_rules::query::Need;
use serde_json::{Map, Value as Json, json};
use std::path::{Path, PathBuf};
use std::str::FromStr;

fn queries() -> Vec<PrefetchQuery> {
    let query = |key: &str, need| PrefetchQuery {
        key: key.into(),
        template: format!("{key}?patient={{{{context.patientId}}}}"),
        need,
    };
    vec![
        query("patient", Need::Context),
        query("conditions", Need::Central),
        query("observations", Need::Central),
        query("hcg", Need::Optional(Input::Hcg)),
    ]
}

/// What `gather` gave, errors as their text.
type Outcome = Result<crate::Gathered, String>;

fn run_gather(queries: &[PrefetchQuery], prefetch: Prefetch<'_>) -> Outcome {
    let context = Map::from_iter([("patientId".to_owned(), json!("p1"))]);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    runtime
        .block_on(gather(GatherInput {
            granted: None,
            today: time::OffsetDateTime::now_utc().date(),
            queries,
            context: &context,
            prefetch,
            fhir: None,
            draft_orders: None,
            deadline: tokio::time::Instant::now() + std::time::Duration::from_secs(5),
        }))
        .map_err(|error| error.to_string())
}

/// The fast reader's reading of a prefetch object's JSON text, or `None` when it declines.
fn read_fast(text: &str, queries: &[PrefetchQuery]) -> Option<FastPrefetch> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let fast = PrefetchSeed { queries }
        .deserialize(&mut deserializer)
        .ok()?;
    deserializer.end().ok()?;
    Some(fast)
}

/// The prefetch object's JSON text read value by value, as after a decline
/// ([`crate::by_resource`]).
fn read_by_resource(
    text: &str,
    queries: &[PrefetchQuery],
) -> Option<BTreeMap<String, crate::ValueRead>> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let values = crate::RawPrefetchSeed { queries }
        .deserialize(&mut deserializer)
        .ok()?;
    deserializer.end().ok()?;
    Some(crate::read_each(values))
}

/// Reads `text` three ways: as JSON values by the reference reader, value by value (which must
/// always agree), and by the fast reader. Panics on a disagreement; true when the fast reader
/// accepted.
fn agrees(text: &str, what: &str) -> bool {
    let queries = queries();
    let value: Json = serde_json::from_str(text).expect("test JSON");
    let reference = run_gather(
        &queries,
        Prefetch::Json(value.as_object().expect("an object")),
    );
    let by_resource = read_by_resource(text, &queries)
        .unwrap_or_else(|| panic!("reading value by value declined {what}:\n{text}"));
    assert_eq!(
        run_gather(&queries, Prefetch::ByResource(by_resource)),
        reference,
        "reading value by value disagrees on {what}:\n{text}"
    );
    let Some(fast) = read_fast(text, &queries) else {
        return false;
    };
    let fast = run_gather(&queries, Prefetch::Fast(fast));
    assert_eq!(
        fast, reference,
        "the fast reader disagrees on {what}:\n{text}"
    );
    true
}

/// A prefetch object holding `resources` the way an EHR would: the Patient read, the rest in a
/// searchset Bundle, the other keys empty.
fn prefetch_of(resources: &[Json]) -> Json {
    let (patients, others): (Vec<&Json>, Vec<&Json>) = resources
        .iter()
        .partition(|resource| resource["resourceType"] == "Patient");
    let entries: Vec<Json> = others
        .iter()
        .map(|resource| json!({"fullUrl": "urn:uuid:x", "resource": resource, "search": {"mode": "match"}}))
        .collect();
    json!({
        "patient": patients.first().copied().cloned().unwrap_or(Json::Null),
        "conditions": {"resourceType": "Bundle", "type": "searchset", "entry": entries},
        "observations": null,
        "hcg": null,
    })
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("fixture folder") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|ext| ext == "json") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

fn read_json(path: &Path) -> Json {
    let text = std::fs::read_to_string(path).expect("fixture");
    serde_json::from_str(&text).expect("fixture JSON")
}

/// The resources of every scenario (public and extra).
pub(crate) fn scenario_resources() -> Vec<(String, Vec<Json>)> {
    ["scenarios", "scenarios-extra"]
        .iter()
        .flat_map(|dir| json_files(&fixtures().join(dir)))
        .map(|path| {
            let scenario = read_json(&path);
            let resources = scenario["resources"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            (path.display().to_string(), resources)
        })
        .collect()
}

/// The resources of every FHIR example fixture (Bundles opened).
fn fhir_fixture_resources() -> Vec<Json> {
    let mut resources = Vec::new();
    for path in json_files(&fixtures().join("fhir")) {
        let value = read_json(&path);
        match value["entry"].as_array() {
            Some(entries) if value["resourceType"] == "Bundle" => resources.extend(
                entries
                    .iter()
                    .filter_map(|entry| entry.get("resource"))
                    .cloned(),
            ),
            _ => resources.push(value),
        }
    }
    resources
}

#[test]
fn the_fast_reader_accepts_every_scenario_and_agrees_with_the_reference_reader() {
    let scenarios = scenario_resources();
    assert!(scenarios.len() >= 24, "{} scenarios", scenarios.len());
    let mut keys_read = 0;
    for (name, resources) in &scenarios {
        let text = prefetch_of(resources).to_string();
        assert!(agrees(&text, name), "the fast reader declined {name}");
        keys_read += read_fast(&text, &queries())
            .map(|fast| fast.entries.len())
            .unwrap_or_default();
    }
    assert!(keys_read > 0);
}

#[test]
fn the_fast_reader_agrees_on_every_fhir_fixture_and_accepts_most() {
    let resources = fhir_fixture_resources();
    let mut accepted = 0;
    for (index, resource) in resources.iter().enumerate() {
        let text = prefetch_of(std::slice::from_ref(resource)).to_string();
        if agrees(&text, &format!("FHIR fixture resource {index}")) {
            accepted += 1;
        }
    }
    eprintln!("FHIR fixtures: {accepted} of {} accepted", resources.len());
    // The whole corpus at once, as one search result.
    agrees(&prefetch_of(&resources).to_string(), "all FHIR fixtures");
    assert!(
        accepted * 10 >= resources.len() * 8,
        "accepted only {accepted} of {} resources",
        resources.len()
    );
}

/// Every element of `value` (at any depth) replaced by each of `odd`, and removed.
pub(crate) fn mutations(value: &Json) -> Vec<Json> {
    let odd = [
        Json::Null,
        json!("x"),
        json!(""),
        json!(7),
        json!(-1.5),
        json!(4_000_000_000_u64),
        json!(true),
        json!([]),
        json!([null]),
        json!({}),
        json!("2024-13-45"),
        json!("2024-02-10T25:00:00Z"),
        json!("2024-02"),
    ];
    let mut out = Vec::new();
    mutate(value, value, &mut Vec::new(), &odd, &mut out);
    out
}

#[derive(Clone)]
enum Step {
    Key(String),
    Index(usize),
}

fn mutate(root: &Json, node: &Json, path: &mut Vec<Step>, odd: &[Json], out: &mut Vec<Json>) {
    let children: Vec<(Step, &Json)> = match node {
        // `resourceType` stays: a resource of another type is another test.
        Json::Object(object) => object
            .iter()
            .filter(|(key, _)| !(path.is_empty() && *key == "resourceType"))
            .map(|(key, value)| (Step::Key(key.clone()), value))
            .collect(),
        Json::Array(items) => items
            .iter()
            .enumerate()
            .map(|(index, value)| (Step::Index(index), value))
            .collect(),
        _ => return,
    };
    for (step, child) in children {
        path.push(step);
        for replacement in odd {
            out.push(replaced(root.clone(), path, Some(replacement.clone())));
        }
        out.push(replaced(root.clone(), path, None));
        mutate(root, child, path, odd, out);
        path.pop();
    }
}

/// `root` with the element at `path` replaced (or removed when `replacement` is `None`).
fn replaced(mut root: Json, path: &[Step], replacement: Option<Json>) -> Json {
    let (last, parents) = path.split_last().expect("a path");
    let mut node = &mut root;
    for step in parents {
        node = match step {
            Step::Key(key) => &mut node[key.as_str()],
            Step::Index(index) => &mut node[*index],
        };
    }
    match (last, replacement, node) {
        (Step::Key(key), Some(value), Json::Object(object)) => {
            object.insert(key.clone(), value);
        }
        (Step::Key(key), None, Json::Object(object)) => {
            object.remove(key);
        }
        (Step::Index(index), Some(value), Json::Array(items)) => items[*index] = value,
        (Step::Index(index), None, Json::Array(items)) => {
            items.remove(*index);
        }
        _ => {}
    }
    root
}

/// Resources that take every branch the fast reader has: each value[x], effective[x], onset[x]
/// and abatement[x] it models, partial dates and offsets, comparators, status concepts with
/// several codings, conclusions, annotations with either author.
fn rich_resources() -> Vec<Json> {
    let coding = |system: &str, code: &str, display: &str| json!({"system": system, "code": code, "display": display, "version": "1", "userSelected": false});
    let concept = json!({"coding": [
        coding("http://snomed.info/sct", "289530006", "Bleeding from vagina"),
        coding("http://loinc.org", "8665-2", "LMP"),
        {"code": "no-system"},
        {"system": "http://example.org", "display": "no code"}
    ], "text": "Bleeding from vagina"});
    let status = |suffix: &str, code: &str| {
        json!({"coding": [
            {"system": "http://example.org/local", "code": "local"},
            {"system": format!("http://terminology.hl7.org/CodeSystem/{suffix}"), "code": code},
            {"code": "last"}
        ]})
    };
    let observation = |extra: Json| {
        let mut resource = json!({"resourceType": "Observation", "id": "o", "status": "amended",
            "code": concept, "issued": "2026-10-02T08:30:00.123+02:00",
            "note": [{"text": "first", "authorReference": {"reference": "Practitioner/1", "display": "Dr A", "type": "Practitioner"}},
                     {"text": "  ", "authorString": "RN"}, {"text": "first"}]});
        for (key, value) in extra.as_object().unwrap() {
            resource[key] = value.clone();
        }
        resource
    };
    vec![
        observation(
            json!({"effectiveDateTime": "2026", "valueQuantity": {"value": 3.5, "comparator": ">=", "unit": "mIU/mL", "system": "http://unitsofmeasure.org", "code": "m[IU]/mL"}}),
        ),
        observation(json!({"effectiveDateTime": "2026-09", "valueQuantity": {"unit": "wk"}})),
        observation(
            json!({"effectivePeriod": {"end": "2026-09-30T23:59:59-05:00"}, "valueCodeableConcept": concept}),
        ),
        observation(json!({"effectivePeriod": {}, "valueString": "Implantation bleeding"})),
        observation(json!({"effectiveInstant": "2026-09-30T10:00:00Z", "valueBoolean": false})),
        observation(json!({"effectiveDateTime": "2026-09-30T10:00:00Z", "valueInteger": -3})),
        observation(
            json!({"effectivePeriod": {"start": "2026-09-01", "end": "2026-09-02"}, "valueDateTime": "2026-04"}),
        ),
        json!({"resourceType": "Condition", "id": "c", "code": concept,
            "clinicalStatus": status("condition-clinical", "active"),
            "verificationStatus": status("condition-ver-status", "confirmed"),
            "onsetPeriod": {"start": "2026-09-03"}, "abatementDateTime": "2026-09-04",
            "recordedDate": "2026-09-05T11:00:00+01:00", "note": [{"text": "spotting", "time": "2026-09-05"}],
            "subject": {"reference": "Patient/p1"}}),
        json!({"resourceType": "Condition", "id": "c2", "clinicalStatus": {"coding": [{"system": "x"}], "text": "?"},
            "verificationStatus": {"text": "no coding"}, "onsetDateTime": "2026-09", "abatementPeriod": {"end": "2026-10"}}),
        json!({"resourceType": "DiagnosticReport", "id": "d", "status": "final", "code": concept,
            "conclusion": "Intrauterine pregnancy", "conclusionCode": [concept, {"text": "IUP"}],
            "effectivePeriod": {"start": "2026-09-06T09:00:00Z"}, "issued": "2026-09-06T10:00:00Z"}),
        json!({"resourceType": "DiagnosticReport", "id": "d2", "status": "partial", "code": {"text": "TVUS"},
            "effectiveDateTime": "2026-09-07"}),
        json!({"resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1990-01-01"}),
        json!({"resourceType": "Encounter", "id": "e", "status": "finished"}),
    ]
}

#[test]
fn the_fast_reader_agrees_on_every_branch_it_has() {
    let resources = rich_resources();
    for (index, resource) in resources.iter().enumerate() {
        assert!(
            agrees(
                &prefetch_of(std::slice::from_ref(resource)).to_string(),
                &format!("rich resource {index}")
            ),
            "rich resource {index} was declined"
        );
    }
    assert!(agrees(
        &prefetch_of(&resources).to_string(),
        "all rich resources"
    ));
}

#[test]
fn on_every_mutation_of_every_scenario_resource_the_fast_reader_declines_or_agrees() {
    let mut seen = std::collections::HashSet::new();
    let (mut tried, mut accepted) = (0, 0);
    let corpus = scenario_resources()
        .into_iter()
        .flat_map(|(_, resources)| resources)
        .chain(rich_resources());
    {
        for resource in corpus {
            // Many scenario resources share a shape; one of each is enough.
            let shape = shape_of(&resource);
            if !seen.insert(shape) {
                continue;
            }
            for mutated in mutations(&resource) {
                let text = prefetch_of(&[mutated]).to_string();
                tried += 1;
                if agrees(&text, "a mutated resource") {
                    accepted += 1;
                }
            }
        }
    }
    eprintln!("mutations: {accepted} of {tried} accepted");
    assert!(tried > 2_000, "only {tried} mutations");
    // Most mutations are declined; the rest must agree. Both happen.
    assert!(accepted > 100 && accepted < tried, "{accepted} of {tried}");
}

/// A resource's keys at every depth, as a string: resources with the same shape mutate alike.
fn shape_of(value: &Json) -> String {
    match value {
        Json::Object(object) => {
            let inner: Vec<String> = object
                .iter()
                .map(|(key, value)| format!("{key}:{}", shape_of(value)))
                .collect();
            format!("{{{}}}", inner.join(","))
        }
        Json::Array(items) => format!(
            "[{}]",
            items.iter().map(shape_of).collect::<Vec<_>>().join(",")
        ),
        Json::String(_) => "s".into(),
        Json::Number(_) => "n".into(),
        Json::Bool(_) => "b".into(),
        Json::Null => "0".into(),
    }
}

fn bleeding_observation() -> Json {
    json!({
        "resourceType": "Observation",
        "id": "o1",
        "status": "final",
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "289530006", "display": "Bleeding from vagina"}], "text": "implantation bleeding"},
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": "2026-10-01",
        "valueQuantity": {"value": 5, "comparator": "<", "unit": "mIU/mL"},
        "note": [{"text": "spotting", "authorString": "RN", "time": "2026-10-01T10:00:00Z"}]
    })
}

fn one(resource: Json) -> String {
    prefetch_of(&[resource]).to_string()
}

#[test]
fn a_plain_observation_is_read_fast_with_its_problems() {
    let text = one(bleeding_observation());
    assert!(agrees(&text, "the plain observation"));
    let fast = read_fast(&text, &queries()).expect("accepted");
    let FastEntry::Resources(resources) = &fast.entries["conditions"] else {
        panic!("expected resources");
    };
    let FastRead::Record(record) = &resources[0].read else {
        panic!("expected a record");
    };
    assert_eq!(
        record.text,
        vec!["implantation bleeding", "Bleeding from vagina", "spotting"]
    );
    // The comparator is a problem on the value, as the reference reader says.
    assert_eq!(record.problems.len(), 1);
    assert_eq!(record.problems[0].field, Field::Value);
}

#[test]
fn a_modifier_extension_anywhere_is_declined_and_the_reference_reader_refuses_the_resource() {
    let mut top = bleeding_observation();
    top["modifierExtension"] =
        json!([{"url": "http://example.org/not-done", "valueBoolean": true}]);
    let mut nested = bleeding_observation();
    nested["component"] = json!([{"code": {"text": "x"}, "modifierExtension": [{"url": "u"}]}]);
    let mut in_note = bleeding_observation();
    in_note["note"][0]["modifierExtension"] = json!([{"url": "u"}]);
    for resource in [top, nested, in_note] {
        let text = one(resource);
        assert!(!agrees(&text, "a modifierExtension"));
        let reference = run_gather(
            &queries(),
            Prefetch::Json(
                serde_json::from_str::<Json>(&text)
                    .unwrap()
                    .as_object()
                    .unwrap(),
            ),
        )
        .expect("gathered");
        // Never a fact, but kept so that the card can name it (knowledge.md §3.6 item 13).
        assert!(reference.facts.records.iter().all(|r| r.not_interpreted));
        assert!(!reference.facts.records.is_empty());
    }
}

#[test]
fn an_escaped_key_is_read_as_what_it_spells() {
    // `modifier\u0045xtension` is `modifierExtension`: the fast reader must see it too.
    let mut resource = bleeding_observation();
    resource["modifierExtension"] = json!([{"url": "u"}]);
    let text = one(resource).replace("\"modifierExtension\"", "\"modifier\\u0045xtension\"");
    assert!(text.contains("\\u0045"));
    assert!(!agrees(&text, "an escaped modifierExtension"));
    // And an escaped element the engine reads is read.
    let text = one(bleeding_observation()).replace("\"status\"", "\"st\\u0061tus\"");
    assert!(agrees(&text, "an escaped status key"));
}

#[test]
fn a_repeated_key_is_declined_where_it_is_read() {
    let text = one(bleeding_observation()).replace(
        "\"status\":\"final\"",
        "\"status\":\"final\",\"status\":\"amended\"",
    );
    assert!(text.contains("amended"));
    assert!(!agrees(&text, "a repeated status"));
}

#[test]
fn what_the_fast_reader_does_not_model_is_declined() {
    let cases: Vec<(&str, Json)> = vec![
        ("primitive extension", json!({"_status": {"extension": []}})),
        (
            "a value[x] not modelled",
            json!({"valueRange": {"low": {"value": 1}}}),
        ),
        ("effectiveTiming", json!({"effectiveTiming": {}})),
        (
            "two effective[x]",
            json!({"effectivePeriod": {"start": "2026-10-01"}}),
        ),
        (
            "a coding extension",
            json!({"code": {"coding": [{"code": "1", "extension": [{"url": "u"}]}]}}),
        ),
        ("a status that is no code", json!({"status": "FINAL"})),
        (
            "an unreadable date",
            json!({"effectiveDateTime": "1 Oct 2026"}),
        ),
        ("a null", json!({"code": null})),
    ];
    for (what, change) in cases {
        let mut resource = bleeding_observation();
        for (key, value) in change.as_object().unwrap() {
            resource[key] = value.clone();
        }
        assert!(!agrees(&one(resource), what), "{what} was accepted");
    }
    let outcome = json!({"patient": null, "conditions": {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "exception"}]}});
    assert!(!agrees(&outcome.to_string(), "an OperationOutcome"));
    let not_a_resource = json!({"patient": null, "conditions": "<html>502</html>"});
    assert!(!agrees(&not_a_resource.to_string(), "an HTML error page"));
}

#[test]
fn null_paged_and_unknown_keys_mean_what_they_mean_to_the_reference_reader() {
    let text = json!({
        "patient": {"resourceType": "Patient", "id": "p1", "gender": "female"},
        "conditions": null,
        "observations": {"resourceType": "Bundle", "type": "searchset",
            "link": [{"relation": "next", "url": "https://ehr.example.org/fhir/page2"}],
            "entry": [{"resource": bleeding_observation()}]},
        "hcg": {"resourceType": "Bundle", "type": "searchset", "total": 0},
        "somethingElse": {"resourceType": "OperationOutcome", "modifierExtension": [{}]}
    })
    .to_string();
    let fast = read_fast(&text, &queries()).expect("accepted");
    assert_eq!(fast.entries["conditions"], FastEntry::Null);
    assert_eq!(fast.entries["observations"], FastEntry::Paged);
    assert_eq!(fast.entries["hcg"], FastEntry::Resources(Vec::new()));
    assert!(!fast.entries.contains_key("somethingElse"));
    // Both readers then fail the call the same way: the paged key cannot be fetched here.
    assert!(agrees(&text, "null, paged and unknown keys"));
}

#[test]
fn a_resource_two_keys_return_is_read_once_by_both_readers() {
    let observation = bleeding_observation();
    let bundle = json!({"resourceType": "Bundle", "entry": [{"resource": observation}]});
    let text = json!({"patient": null, "conditions": bundle, "observations": bundle, "hcg": null})
        .to_string();
    assert!(agrees(&text, "a resource returned twice"));
    let queries = queries();
    let fast = read_fast(&text, &queries).expect("accepted");
    let gathered = run_gather(&queries, Prefetch::Fast(fast)).expect("gathered");
    assert_eq!(gathered.facts.records.len(), 1);
}

#[test]
fn a_plain_day_is_read_as_fhir_sdks_parser_reads_it_and_anything_else_is_left_to_it() {
    let plain = [
        "2026-12-07",
        "0001-01-01",
        "2024-02-29",
        "1999-12-31",
        "2026-01-09",
    ];
    let other = [
        "2023-02-29",
        "2026-13-01",
        "2026-00-10",
        "2026-12-32",
        "2026-12-00",
        "2026-1-07",
        "2026-12-7 ",
        "20261207xx",
        "2026/12/07",
        "+026-12-07",
        "2026-12",
        "2026",
        "2026-12-07T10:00:00Z",
    ];
    for text in plain {
        let fast = plain_day(text).map(|d| FhirDateTime::Date(FhirDate::Date(d)));
        assert!(fast.is_some(), "{text} is a plain day");
        assert_eq!(fast, FhirDateTime::from_str(text).ok(), "{text}");
    }
    for text in other {
        assert_eq!(plain_day(text), None, "{text} is left to the parser");
    }
}
