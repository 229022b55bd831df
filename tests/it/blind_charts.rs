//! The blind charts (tests/fixtures/blind-2026-12-07 and blind-2026-12-07-2), written by
//! reviewers from knowledge.md alone, end to end over HTTP: each chart that the service answers
//! as its reviewer expected is held to it, by prefetch and by fetch (wiremock as the EHR's FHIR
//! server), so that a class once read right stays right. Charts still failing are scored by
//! `scripts/score-charts.py`, not listed here: b13 and b17 expect a GA written "11 weeks" or
//! "11+0" where cards write `11w0d` (the form knowledge.md binds). b08 and b10 are read right when their records are
//! sent (the score script sends every record), but a code-filtered search does not find them:
//! b08's findings are coded under OIDs and b10's bleed is an Observation with text and no code,
//! and FHIR servers match a search's code system literally.

use crate::abortifacient_http::{by_fetch, by_prefetch};
use crate::expect;
use crate::helpers::{TestApp, fixture_path};
use crate::scenarios_http::{load_as_written, rules_of};

/// Charts of the first set held to their expectations.
const FIRST: &[&str] = &[
    "b01", "b02", "b03", "b04", "b05", "b06", "b07", "b09", "b11", "b12", "b14", "b15", "b16",
    "b18", "b19", "b20", "b21", "b22", "b23", "b24", "b25", "b26", "b27", "b28", "b29", "b30",
    "b31", "b32", "b33", "b34", "b35", "b36", "b37", "b38",
];

/// Charts of the second set held to their expectations.
const SECOND: &[&str] = &[
    "c01", "c02", "c03", "c04", "c05", "c06", "c07", "c08", "c09", "c10", "c11", "c12", "c13",
    "c14", "c15", "c16", "c17", "c18", "c19", "c20",
];

async fn check(folder: &str, charts: &[&str]) {
    let mut problems = Vec::new();
    for chart in charts {
        let (scenario, written_on) =
            load_as_written(&fixture_path(&format!("{folder}/{chart}.json")));
        // A warning shown once at an order hook is not repeated in the encounter: each path
        // gets a service of its own.
        let prefetched = by_prefetch(&TestApp::spawn_on(written_on).await, &scenario).await;
        let (fetched, _) = by_fetch(&TestApp::spawn_on(written_on).await, &scenario).await;
        for (path, cards) in [("prefetch", &prefetched), ("fetch", &fetched)] {
            for failure in expect::failures(&scenario.expect, cards) {
                problems.push(format!("{chart} ({path}): {failure}"));
            }
        }
        if rules_of(&prefetched) != rules_of(&fetched) {
            problems.push(format!(
                "{chart}: prefetch gave {:?}, fetch {:?}",
                rules_of(&prefetched),
                rules_of(&fetched)
            ));
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

#[tokio::test]
async fn the_first_blind_set_is_answered_as_its_reviewer_expected_by_prefetch_and_by_fetch() {
    check("blind-2026-12-07", FIRST).await;
}

#[tokio::test]
async fn the_second_blind_set_is_answered_as_its_reviewer_expected_by_prefetch_and_by_fetch() {
    check("blind-2026-12-07-2", SECOND).await;
}
