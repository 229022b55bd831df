//! `[fhir]`: how Gravida reads from an EHR's FHIR server, the budget of one hook call's
//! searches and the memory all of them may hold at once.

use serde::Deserialize;

/// How Gravida reads from an EHR's FHIR server.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FhirSettings {
    /// The whole data-gathering budget of one hook call, in milliseconds.
    pub deadline_ms: u64,
    /// The most search-result pages followed for one search.
    pub max_pages: usize,
    /// The most bytes read from one FHIR response.
    pub max_response_bytes: usize,
    /// The most bytes of FHIR responses this replica holds at once, all hook calls together
    /// (bodies being received and read, and the records kept from them). A call that cannot get
    /// its share before its deadline is answered as data unavailable. See the README's memory
    /// formula.
    pub memory_budget_bytes: usize,
    /// The most Bundle entries one hook call reads, all its searches together.
    pub max_call_entries: usize,
    /// The most response bytes one hook call reads, all its searches together.
    pub max_call_bytes: usize,
}

impl Default for FhirSettings {
    fn default() -> Self {
        FhirSettings {
            deadline_ms: 3_000,
            max_pages: 10,
            max_response_bytes: 10 * 1024 * 1024,
            // A quarter of the manifests' 256 MiB limit: with the rest of the process (about
            // 30 MB) and the sockets' buffers, peak RSS stays under half the limit.
            memory_budget_bytes: 32 * 1024 * 1024,
            // A year of a patient's Conditions and coded Observations is a few hundred entries.
            max_call_entries: 10_000,
            max_call_bytes: 32 * 1024 * 1024,
        }
    }
}
