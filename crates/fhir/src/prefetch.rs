//! Reading one prefetch value: no data, failed, or resources (CDS Hooks 2.0, notes §2.5).
//!
//! The EHR puts the result of each prefetch template under its key. What it can say:
//!
//! | value | meaning | what we do |
//! |---|---|---|
//! | key absent | not prefetched (by choice or by failure) | fetch it (see `gather`) |
//! | `null` | no data: an empty result | nothing to fetch |
//! | an OperationOutcome, alone or as an error entry of the Bundle | prefetching failed | fetch it if we can, else unavailable |
//! | a Bundle (possibly empty) | the search result | use its entries |
//! | a Bundle with a `next` link | only the first page | fetch the whole search if we can, else unavailable |
//! | a single resource | the result of a read | use it |
//!
//! Anything else (a string such as an HTML error page, an array, a wrapped `{"resource": …}`) is
//! not a FHIR result and is treated like a failed prefetch, never as "no data".

use std::fmt;

use serde_json::Value as Json;

/// What one prefetch value holds. The resources are borrowed from the request: a prefetch is most
/// of a request, and copying it would cost about as much as parsing it.
#[derive(Debug, Clone, PartialEq)]
pub enum PrefetchEntry<'a> {
    /// `null`: the EHR ran the search and found nothing. Don't fetch.
    Null,
    /// Prefetching failed (an OperationOutcome, or a value that is not a FHIR result).
    Failed(OutcomeSummary),
    /// The first page of a paginated result: the rest is not here, so the key must be fetched
    /// whole (never evaluate a partial read as if it were whole).
    Paged,
    /// The resources of the Bundle's entries (OperationOutcome entries removed), or the single
    /// resource that was read.
    Resources(Vec<&'a Json>),
}

/// An OperationOutcome reduced to what may be logged: severities and issue codes, no text
/// (`diagnostics` and `details.text` are free text and may name the patient).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutcomeSummary {
    /// `(severity, code)` of each issue, e.g. `("error", "exception")`.
    pub issues: Vec<(String, String)>,
    /// Set when the value was not an OperationOutcome at all, saying what it was instead.
    pub note: Option<&'static str>,
}

impl OutcomeSummary {
    /// A failure that did not come with an OperationOutcome.
    pub fn note(note: &'static str) -> Self {
        OutcomeSummary {
            issues: Vec::new(),
            note: Some(note),
        }
    }

    /// Reads the issues of an OperationOutcome resource.
    pub fn from_outcome(outcome: &Json) -> Self {
        let issues = outcome
            .get("issue")
            .and_then(Json::as_array)
            .map(|issues| {
                issues
                    .iter()
                    .map(|issue| {
                        let field = |name: &str| {
                            issue
                                .get(name)
                                .and_then(Json::as_str)
                                .unwrap_or("?")
                                .chars()
                                .take(40)
                                .collect::<String>()
                        };
                        (field("severity"), field("code"))
                    })
                    .collect()
            })
            .unwrap_or_default();
        OutcomeSummary { issues, note: None }
    }

    /// True when an issue is `error` or `fatal`, i.e. the operation failed.
    pub fn is_failure(&self) -> bool {
        self.note.is_some()
            || self
                .issues
                .iter()
                .any(|(severity, _)| severity == "error" || severity == "fatal")
    }
}

impl fmt::Display for OutcomeSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(note) = self.note {
            return f.write_str(note);
        }
        f.write_str("OperationOutcome")?;
        for (i, (severity, code)) in self.issues.iter().enumerate() {
            let separator = if i == 0 { ": " } else { ", " };
            write!(f, "{separator}{severity}/{code}")?;
        }
        Ok(())
    }
}

/// Classifies one prefetch value.
pub fn classify_prefetch(value: &Json) -> PrefetchEntry<'_> {
    if value.is_null() {
        return PrefetchEntry::Null;
    }
    let Some(resource_type) = value.get("resourceType").and_then(Json::as_str) else {
        return PrefetchEntry::Failed(OutcomeSummary::note(
            "prefetch value is not a FHIR resource or Bundle",
        ));
    };
    match resource_type {
        // An OperationOutcome in place of the result is a failure, whatever its severity: it is
        // not the data the template asked for.
        "OperationOutcome" => {
            let mut summary = OutcomeSummary::from_outcome(value);
            if !summary.is_failure() {
                summary.note = Some("prefetch value is an OperationOutcome instead of data");
            }
            PrefetchEntry::Failed(summary)
        }
        "Bundle" => {
            if next_link(value).is_some() {
                return PrefetchEntry::Paged;
            }
            match bundle_entries(value) {
                Ok(resources) => PrefetchEntry::Resources(resources),
                Err(summary) => PrefetchEntry::Failed(summary),
            }
        }
        _ => PrefetchEntry::Resources(vec![value]),
    }
}

/// The resources of a Bundle's entries, or the failure an error OperationOutcome entry reports.
///
/// An OperationOutcome entry (`search.mode = "outcome"`, or any OperationOutcome) with an `error`
/// or `fatal` issue means the search failed. One with only warnings or information (e.g. "search
/// parameter ignored") is dropped: it is not patient data. Entries without a resource are skipped.
pub fn bundle_entries(bundle: &Json) -> Result<Vec<&Json>, OutcomeSummary> {
    let mut resources = Vec::new();
    for entry in entry_array(bundle)? {
        if let Some(resource) = read_entry(entry)? {
            resources.push(resource);
        }
    }
    Ok(resources)
}

/// [`bundle_entries`] for a Bundle we own (a fetched search page): the resources are moved out
/// of it, not copied.
pub fn into_bundle_entries(mut bundle: Json) -> Result<Vec<Json>, OutcomeSummary> {
    // Check every entry first, so that a failure is reported before anything is moved.
    let kept = bundle_entries(&bundle)?.len();
    let mut resources = Vec::with_capacity(kept);
    if let Some(entries) = bundle.get_mut("entry").and_then(Json::as_array_mut) {
        for entry in entries {
            if matches!(read_entry(entry), Ok(Some(_))) {
                resources.push(entry["resource"].take());
            }
        }
    }
    Ok(resources)
}

/// `Bundle.entry`: empty when absent, a failure when not an array.
fn entry_array(bundle: &Json) -> Result<&[Json], OutcomeSummary> {
    match bundle.get("entry") {
        None => Ok(&[]),
        Some(Json::Array(entries)) => Ok(entries),
        Some(_) => Err(OutcomeSummary::note("Bundle.entry is not an array")),
    }
}

/// One entry: its resource if it is data, `None` if it is to be skipped (no resource, or an
/// OperationOutcome that only warns), or the failure an error OperationOutcome reports.
fn read_entry(entry: &Json) -> Result<Option<&Json>, OutcomeSummary> {
    let Some(resource) = entry.get("resource") else {
        return Ok(None);
    };
    let is_outcome_entry = entry
        .get("search")
        .and_then(|search| search.get("mode"))
        .and_then(Json::as_str)
        == Some("outcome");
    let is_outcome =
        resource.get("resourceType").and_then(Json::as_str) == Some("OperationOutcome");
    if is_outcome || is_outcome_entry {
        let summary = OutcomeSummary::from_outcome(resource);
        if summary.is_failure() {
            return Err(summary);
        }
        return Ok(None);
    }
    Ok(Some(resource))
}

/// The `url` of the Bundle link with relation `next`, if any.
pub fn next_link(bundle: &Json) -> Option<&str> {
    bundle
        .get("link")?
        .as_array()?
        .iter()
        .find(|link| link.get("relation").and_then(Json::as_str) == Some("next"))?
        .get("url")?
        .as_str()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn observation(id: &str) -> Json {
        json!({"resourceType": "Observation", "id": id, "status": "final", "code": {"text": "x"}})
    }

    #[test]
    fn null_means_no_data() {
        assert_eq!(classify_prefetch(&Json::Null), PrefetchEntry::Null);
    }

    #[test]
    fn a_bundle_gives_its_entries_and_an_empty_bundle_gives_none() {
        let bundle = json!({"resourceType": "Bundle", "type": "searchset", "entry": [
            {"resource": observation("a"), "search": {"mode": "match"}},
            {"fullUrl": "no resource here"},
            {"resource": observation("b")}
        ]});
        let PrefetchEntry::Resources(resources) = classify_prefetch(&bundle) else {
            panic!("expected resources");
        };
        let ids: Vec<_> = resources.iter().map(|r| r["id"].as_str()).collect();
        assert_eq!(ids, vec![Some("a"), Some("b")]);
        let empty = json!({"resourceType": "Bundle", "type": "searchset", "total": 0});
        assert_eq!(classify_prefetch(&empty), PrefetchEntry::Resources(vec![]));
    }

    #[test]
    fn a_single_resource_is_a_read_result() {
        let patient = json!({"resourceType": "Patient", "id": "p1"});
        assert_eq!(
            classify_prefetch(&patient),
            PrefetchEntry::Resources(vec![&patient])
        );
    }

    #[test]
    fn an_operation_outcome_alone_is_a_failure_without_its_free_text() {
        let outcome = json!({"resourceType": "OperationOutcome", "issue": [
            {"severity": "error", "code": "exception", "diagnostics": "patient Jane Doe not found"}
        ]});
        let PrefetchEntry::Failed(summary) = classify_prefetch(&outcome) else {
            panic!("expected a failure");
        };
        assert_eq!(summary.issues, vec![("error".into(), "exception".into())]);
        assert!(!summary.to_string().contains("Jane"));
        assert!(summary.to_string().contains("error/exception"));
    }

    #[test]
    fn an_error_outcome_entry_fails_the_whole_bundle() {
        let bundle = json!({"resourceType": "Bundle", "type": "searchset", "entry": [
            {"resource": observation("a")},
            {"resource": {"resourceType": "OperationOutcome", "issue": [{"severity": "fatal", "code": "timeout"}]},
             "search": {"mode": "outcome"}}
        ]});
        assert!(
            matches!(classify_prefetch(&bundle), PrefetchEntry::Failed(summary) if summary.is_failure())
        );
    }

    #[test]
    fn a_warning_outcome_entry_is_dropped_and_the_rest_is_kept() {
        let bundle = json!({"resourceType": "Bundle", "type": "searchset", "entry": [
            {"resource": observation("a")},
            {"resource": {"resourceType": "OperationOutcome", "issue": [{"severity": "warning", "code": "not-supported"}]},
             "search": {"mode": "outcome"}}
        ]});
        assert_eq!(
            classify_prefetch(&bundle),
            PrefetchEntry::Resources(vec![&observation("a")])
        );
    }

    #[test]
    fn the_r4_search_warning_example_is_an_empty_result() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/fhir/r4-core/Bundle-bundle-search-warning.json");
        let text = std::fs::read_to_string(path).expect("fixture");
        let bundle: Json = serde_json::from_str(&text).expect("json");
        assert_eq!(classify_prefetch(&bundle), PrefetchEntry::Resources(vec![]));
    }

    #[test]
    fn a_bundle_with_a_next_link_is_only_a_first_page() {
        let bundle = json!({"resourceType": "Bundle", "type": "searchset",
            "link": [{"relation": "self", "url": "https://x/Observation"}, {"relation": "next", "url": "https://x/page2"}],
            "entry": [{"resource": observation("a")}]});
        assert_eq!(classify_prefetch(&bundle), PrefetchEntry::Paged);
    }

    #[test]
    fn values_that_are_not_fhir_results_are_failures_not_empty() {
        for value in [
            json!("<html>502 Bad Gateway</html>"),
            json!([observation("a")]),
            json!({"resource": observation("a")}),
            json!({"resourceType": "Bundle", "entry": {"resource": observation("a")}}),
        ] {
            assert!(
                matches!(classify_prefetch(&value), PrefetchEntry::Failed(_)),
                "{value}"
            );
        }
    }
}
