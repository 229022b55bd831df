//! Tests of the page reader: it reads a page exactly as the reference path does, stops at the
//! deadline and the entry cap, and falls back per resource, not per page.

use std::time::{Duration, Instant};

use serde_json::json;

use super::*;
use crate::fast::FastRead;

fn later() -> Instant {
    Instant::now() + Duration::from_secs(30)
}

fn plenty() -> CallAllowance {
    CallAllowance::new(100_000, usize::MAX)
}

fn observation(id: &str) -> Json {
    json!({"resourceType": "Observation", "id": id, "status": "final",
           "subject": {"reference": "Patient/p1"},
           "code": {"coding": [{"system": "http://loinc.org", "code": "8665-2"}]},
           "effectiveDateTime": "2026-01-02"})
}

fn bundle(entries: Vec<Json>) -> Vec<u8> {
    serde_json::to_vec(&json!({"resourceType": "Bundle", "type": "searchset", "entry": entries}))
        .expect("serialisable")
}

fn entry(resource: Json) -> Json {
    json!({"fullUrl": "urn:x", "resource": resource, "search": {"mode": "match"}})
}

fn resources(read: PageRead) -> Vec<Fetched> {
    match read {
        PageRead::Bundle { resources, .. } => resources,
        PageRead::Resource(resource) => vec![*resource],
    }
}

/// What the reference path makes of the same resources.
fn reference(resources: &[Json]) -> Vec<Fetched> {
    resources.iter().map(by_reference).collect()
}

#[test]
fn a_page_of_usual_resources_is_read_as_the_reference_reader_reads_it() {
    let page = [observation("a"), observation("b")];
    let body = bundle(page.iter().cloned().map(entry).collect());
    let read = read_page(&body, true, later(), &plenty()).expect("read");
    assert_eq!(resources(read), reference(&page));
}

#[test]
fn one_resource_the_fast_reader_declines_is_read_by_the_reference_reader_alone() {
    // A primitive extension (`_status`) is outside what the fast reader models.
    let mut odd = observation("odd");
    odd["_status"] = json!({"extension": []});
    let page = [observation("a"), odd, observation("b")];
    let body = bundle(page.iter().cloned().map(entry).collect());
    let read = resources(read_page(&body, true, later(), &plenty()).expect("read"));
    assert_eq!(read.len(), 3);
    assert!(matches!(read[1].resource.read, FastRead::Record(_)));
    assert_eq!(read, reference(&page));
}

#[test]
fn a_resource_that_is_refused_gives_its_diagnostic() {
    let mut refused = observation("x");
    refused["modifierExtension"] = json!([{"url": "urn:x", "valueBoolean": true}]);
    let page = [refused];
    let body = bundle(page.iter().cloned().map(entry).collect());
    let read = resources(read_page(&body, true, later(), &plenty()).expect("read"));
    assert_eq!(read, reference(&page));
    assert!(!read[0].diagnostics.is_empty(), "{read:?}");
}

#[test]
fn the_next_link_is_read() {
    let mut page = json!({"resourceType": "Bundle", "entry": [entry(observation("a"))]});
    page["link"] = json!([{"relation": "self", "url": "s"}, {"relation": "next", "url": "n2"}]);
    let body = serde_json::to_vec(&page).expect("serialisable");
    match read_page(&body, true, later(), &plenty()).expect("read") {
        PageRead::Bundle {
            next, resources, ..
        } => {
            assert_eq!(next.as_deref(), Some("n2"));
            assert_eq!(resources.len(), 1);
        }
        other => panic!("not a bundle: {other:?}"),
    }
}

#[test]
fn an_error_outcome_entry_fails_the_page_and_a_warning_is_skipped() {
    let warning = json!({"resourceType": "OperationOutcome",
        "issue": [{"severity": "warning", "code": "informational"}]});
    let error = json!({"resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "too-costly"}]});
    let body = bundle(vec![entry(observation("a")), entry(warning)]);
    let read = resources(read_page(&body, true, later(), &plenty()).expect("read"));
    assert_eq!(read.len(), 1);
    let body = bundle(vec![entry(observation("a")), entry(error)]);
    let failed = read_page(&body, true, later(), &plenty());
    assert!(matches!(failed, Err(FetchError::Outcome(_))), "{failed:?}");
}

#[test]
fn an_entry_that_is_not_an_array_fails_as_the_reference_says() {
    for entry in [json!(null), json!({}), json!("x")] {
        let body = serde_json::to_vec(&json!({"resourceType": "Bundle", "entry": entry}))
            .expect("serialisable");
        let failed = read_page(&body, true, later(), &plenty());
        assert!(
            matches!(failed, Err(FetchError::Outcome(_))),
            "{entry}: {failed:?}"
        );
    }
}

#[test]
fn a_repeated_key_sends_the_page_to_the_reference_path_where_the_last_one_wins() {
    let one = serde_json::to_string(&json!([entry(observation("first"))])).expect("json");
    let two = serde_json::to_string(&json!([entry(observation("second"))])).expect("json");
    let body = format!(r#"{{"resourceType":"Bundle","entry":{one},"entry":{two}}}"#);
    let read = resources(read_page(body.as_bytes(), true, later(), &plenty()).expect("read"));
    assert_eq!(read.len(), 1);
    assert_eq!(
        read[0].resource.identity,
        Some(("Observation".to_owned(), "second".to_owned()))
    );
}

#[test]
fn a_read_answers_with_the_resource_itself_on_the_first_page_only() {
    let body = serde_json::to_vec(&json!({"resourceType": "Patient", "id": "p1"})).expect("json");
    let read = read_page(&body, true, later(), &plenty()).expect("read");
    assert!(matches!(
        read,
        PageRead::Resource(ref fetched) if matches!(fetched.resource.read, FastRead::Patient(_))
    ));
    let later_page = read_page(&body, false, later(), &plenty());
    assert!(
        matches!(later_page, Err(FetchError::NotABundle { .. })),
        "{later_page:?}"
    );
}

#[test]
fn a_page_beyond_the_calls_entry_cap_is_refused_before_it_is_read() {
    let body = bundle(
        (0..50)
            .map(|i| entry(observation(&format!("o{i}"))))
            .collect(),
    );
    let allowance = CallAllowance::new(120, usize::MAX);
    read_page(&body, true, later(), &allowance).expect("50 of 120");
    read_page(&body, true, later(), &allowance).expect("100 of 120");
    let refused = read_page(&body, true, later(), &allowance);
    assert!(
        matches!(refused, Err(FetchError::TooManyEntries { limit: 120 })),
        "{refused:?}"
    );
}

#[test]
fn reading_stops_at_the_deadline() {
    let body = bundle(
        (0..500)
            .map(|i| entry(observation(&format!("o{i}"))))
            .collect(),
    );
    let past = Instant::now();
    let stopped = read_page(&body, true, past, &plenty());
    assert!(matches!(stopped, Err(FetchError::Deadline)), "{stopped:?}");
}

#[test]
fn text_that_is_not_json_is_not_json() {
    for body in [
        &b"<html>"[..],
        b"",
        b"{\"resourceType\": \"Bundle\", \"entry\": [}",
        // A well-formed Bundle but for one byte that is not UTF-8, inside a string.
        b"{\"resourceType\": \"Bundle\", \"entry\": [{\"resource\": {\"resourceType\": \
          \"Observation\", \"id\": \"o1\", \"valueString\": \"bleeding \xff\"}}]}",
    ] {
        let failed = read_page(body, true, later(), &plenty());
        assert!(matches!(failed, Err(FetchError::NotJson)), "{failed:?}");
    }
}

#[test]
fn the_call_allowance_counts_bytes_across_searches() {
    let allowance = CallAllowance::new(10, 100);
    allowance.take_bytes(60).expect("60 of 100");
    assert!(matches!(
        allowance.take_bytes(41),
        Err(FetchError::CallTooLarge { limit: 100 })
    ));
    allowance.take_bytes(40).expect("100 of 100");
}

#[test]
fn a_usual_page_is_read_in_one_pass_and_its_records_are_charged_the_page() {
    let page = [observation("a"), observation("b")];
    let mut bundle = json!({"resourceType": "Bundle", "type": "searchset", "total": 2,
        "link": [{"relation": "next", "url": "n2"}],
        "entry": page.iter().cloned().map(entry).collect::<Vec<_>>()});
    bundle["meta"] = json!({"lastUpdated": "2026-12-07T10:00:00Z"});
    let body = serde_json::to_vec(&bundle).expect("serialisable");
    match read_page(&body, true, later(), &plenty()).expect("read") {
        PageRead::Bundle {
            resources,
            next,
            kept_bytes,
        } => {
            assert_eq!(resources, reference(&page));
            assert_eq!(next.as_deref(), Some("n2"));
            assert_eq!(kept_bytes, body.len());
        }
        other => panic!("not a bundle: {other:?}"),
    }
}

#[test]
fn a_page_the_one_pass_reader_declines_for_a_modifier_extension_is_read_entry_by_entry() {
    let mut odd = observation("odd");
    odd["modifierExtension"] = json!([{"url": "urn:x", "valueBoolean": true}]);
    let page = [observation("a"), odd.clone(), observation("b")];
    let mut bundle = json!({"resourceType": "Bundle", "type": "searchset",
        "entry": page.iter().cloned().map(entry).collect::<Vec<_>>()});
    bundle["link"] = json!([{"relation": "next", "url": "n2"}]);
    let body = serde_json::to_vec(&bundle).expect("serialisable");
    let allowance = CallAllowance::new(3, usize::MAX);
    match read_page(&body, true, later(), &allowance).expect("read") {
        PageRead::Bundle {
            resources,
            next,
            kept_bytes,
        } => {
            assert_eq!(resources, reference(&page));
            assert!(!resources[1].diagnostics.is_empty(), "{resources:?}");
            assert_eq!(next.as_deref(), Some("n2"));
            // Each kept record charged its resource's size as sent, not the page's.
            let sizes: usize = page.iter().map(|r| r.to_string().len()).sum();
            assert_eq!(kept_bytes, sizes);
        }
        other => panic!("not a bundle: {other:?}"),
    }
    // The entries were taken once, by the reader that read them, not also by the pass that
    // declined: three of three.
    assert!(matches!(
        allowance.take_entries(1),
        Err(FetchError::TooManyEntries { limit: 3 })
    ));
    allowance.check_entries(0).expect("none left, none asked");
}

#[test]
fn a_page_with_an_outcome_entry_reads_as_before_whatever_its_place() {
    let warning = json!({"resourceType": "OperationOutcome",
        "issue": [{"severity": "information", "code": "informational"}]});
    let error = json!({"resourceType": "OperationOutcome",
        "issue": [{"severity": "fatal", "code": "timeout"}]});
    let outcome = |resource: Json| json!({"resource": resource, "search": {"mode": "outcome"}});
    for first in [true, false] {
        let mut entries = vec![entry(observation("a")), entry(observation("b"))];
        entries.insert(if first { 0 } else { 2 }, outcome(warning.clone()));
        let mut page = json!({"resourceType": "Bundle", "entry": entries});
        page["link"] = json!([{"relation": "next", "url": "n2"}]);
        let body = serde_json::to_vec(&page).expect("serialisable");
        match read_page(&body, true, later(), &plenty()).expect("read") {
            PageRead::Bundle {
                resources, next, ..
            } => {
                assert_eq!(resources, reference(&[observation("a"), observation("b")]));
                assert_eq!(next.as_deref(), Some("n2"));
            }
            other => panic!("not a bundle: {other:?}"),
        }
        let mut entries = vec![entry(observation("a")), entry(observation("b"))];
        entries.insert(if first { 0 } else { 2 }, outcome(error.clone()));
        let body = bundle_of_entries(entries);
        let failed = read_page(&body, true, later(), &plenty());
        assert!(
            matches!(&failed, Err(FetchError::Outcome(summary)) if summary.is_failure()),
            "{failed:?}"
        );
    }
}

#[test]
fn a_page_over_what_the_call_has_left_costs_the_call_no_entries() {
    let body = bundle(
        (0..40)
            .map(|i| entry(observation(&format!("o{i}"))))
            .collect(),
    );
    let allowance = CallAllowance::new(30, usize::MAX);
    let refused = read_page(&body, true, later(), &allowance);
    assert!(
        matches!(refused, Err(FetchError::TooManyEntries { limit: 30 })),
        "{refused:?}"
    );
    // Another search of the call still has all thirty.
    allowance.take_entries(30).expect("thirty left");
}

#[test]
fn a_read_is_read_by_the_fast_reader_as_the_reference_reads_it() {
    let patient = json!({"resourceType": "Patient", "id": "p1", "gender": "female"});
    let body = serde_json::to_vec(&patient).expect("json");
    let read = resources(read_page(&body, true, later(), &plenty()).expect("read"));
    assert_eq!(read, reference(&[patient]));
}

fn bundle_of_entries(entries: Vec<Json>) -> Vec<u8> {
    serde_json::to_vec(&json!({"resourceType": "Bundle", "entry": entries})).expect("json")
}

#[test]
fn the_benchmark_patients_pages_are_each_read_in_one_pass() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/fhir/bench-patient-pages.json");
    let pages: serde_json::Map<String, Json> =
        serde_json::from_slice(&std::fs::read(path).expect("fixture")).expect("json");
    for (key, page) in pages {
        if page["resourceType"] != "Bundle" {
            continue;
        }
        let body = serde_json::to_vec(&page).expect("serialisable");
        let PageRead::Bundle { kept_bytes, .. } =
            read_page(&body, true, later(), &plenty()).expect("read")
        else {
            panic!("{key}: not a bundle");
        };
        // Only the one-pass reader charges a page its whole size.
        assert_eq!(kept_bytes, body.len(), "{key}");
    }
}

/// A page's reading, comparable: its resources and `next` link, or its error.
fn outcome(read: Result<PageRead, FetchError>) -> String {
    match read {
        Ok(PageRead::Bundle {
            resources, next, ..
        }) => format!("{resources:?} {next:?}"),
        Ok(PageRead::Resource(resource)) => format!("{resource:?}"),
        Err(error) => format!("{error:?}"),
    }
}

#[test]
fn on_every_mutation_of_a_page_the_reader_reads_as_the_reference_path() {
    let (_, resources) = crate::fast::tests::scenario_resources()
        .into_iter()
        .find(|(_, resources)| resources.len() >= 3)
        .expect("a scenario of three resources");
    let mut page = json!({"resourceType": "Bundle", "type": "searchset", "total": 3,
        "link": [{"relation": "self", "url": "s"}, {"relation": "next", "url": "n2"}],
        "entry": resources[..3].iter().cloned().map(entry).collect::<Vec<_>>()});
    page["entry"][1]["search"] = json!({"mode": "include"});
    let (mut tried, mut one_pass) = (0, 0);
    for mutated in std::iter::once(page.clone()).chain(crate::fast::tests::mutations(&page)) {
        let body = serde_json::to_vec(&mutated).expect("serialisable");
        let read = read_page(&body, true, later(), &plenty());
        if let Ok(PageRead::Bundle { kept_bytes, .. }) = &read
            && *kept_bytes == body.len()
        {
            one_pass += 1;
        }
        let reference = read_page_as_value(&body, true, &plenty());
        assert_eq!(outcome(read), outcome(reference), "{mutated}");
        tried += 1;
    }
    assert!(one_pass > 10 && one_pass < tried, "{one_pass} of {tried}");
}
