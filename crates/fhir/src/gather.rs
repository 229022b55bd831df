//! Gathering one hook call's facts: prefetch where the EHR gave it, fetch the rest at once.
//!
//! For each prefetch key the service declares:
//!
//! * present and usable (a Bundle, a resource, or `null` for "no data") → use it;
//! * missing, failed (an OperationOutcome, or not a FHIR result) or only a first page → fetch it
//!   from the EHR's FHIR server, if the request gave one, by rendering the same template, its
//!   date tokens on the site's today. A client that cannot evaluate a date token leaves the key
//!   out (CDS Hooks 3.0.0 index.md, "Prefetch Template": "CDS Clients SHALL omit the prefetch
//!   key if relevant details cannot be provided"), and the key is fetched like any absent one;
//! * otherwise it cannot be obtained. What that costs depends on the key's [`Need`]:
//!   a central key makes the whole call fail ([`GatherError::Unavailable`], answered with 412), an
//!   optional one is listed in [`PatientFacts::unavailable`] so the cards can say so, and the
//!   context-only Patient is simply noted.
//!
//! All fetches run concurrently under the one deadline. A fetch that fails on any page fails the
//! key: we never evaluate part of a search as if it were all of it.

use std::collections::BTreeMap;
use std::fmt;

use futures::future::join_all;
use gravida_cds_hooks::prefetch::{TemplateError, render_on};
use gravida_cds_hooks::scopes::Grants;
use gravida_rules::facts::{DraftOrder, PatientFacts};
use gravida_rules::query::{Need, PrefetchQuery};
use serde_json::{Map, Value as Json};
use thiserror::Error;
use tokio::time::Instant;

use crate::by_resource::ValueRead;
use crate::client::FhirClient;
use crate::diagnostic::{Diagnostic, DiagnosticKind};
use crate::element::PatientSummary;
use crate::fast::{FastPrefetch, FastRead, FastResource};
use crate::fetch_error::FetchError;
use crate::fhir_server::FhirServer;
use crate::map::{draft_orders, facts_from_resources};
use crate::page::Fetched;
use crate::prefetch::{OutcomeSummary, PrefetchEntry, classify_prefetch};
use crate::subject::CallPatient;

mod keep;

use keep::{ReadResources, Refusals, Seen, identity, is_read, keep_fetched, keep_read, subject_of};

/// Everything `gather` needs from one hook call.
///
/// Its `Debug` output shows the shape of the input, never the token or context values.
#[derive(Clone)]
pub struct GatherInput<'a> {
    /// The service's prefetch keys and templates.
    pub queries: &'a [PrefetchQuery],
    /// The hook's `context`, for rendering templates.
    pub context: &'a Map<String, Json>,
    /// The request's prefetch, if any.
    pub prefetch: Prefetch<'a>,
    /// The FHIR server to fetch from: the shared client, the checked `fhirServer` base, and the
    /// call's bearer token (`fhirAuthorization.access_token`), if any.
    pub fhir: Option<(&'a FhirClient, &'a FhirServer, Option<&'a str>)>,
    /// `context.draftOrders` on order hooks.
    pub draft_orders: Option<&'a Json>,
    /// When data gathering must be over.
    pub deadline: Instant,
    /// The SMART scopes of `fhirAuthorization.scope`, when the request gave one: a key whose
    /// search they do not cover is not fetched ([`Unobtained::NotGranted`]).
    pub granted: Option<&'a Grants>,
    /// Today on the site's calendar: the day the templates' date tokens
    /// (`{{today() - 1 year}}`, CDS Hooks 3.0.0) are evaluated on when a key is fetched, as the
    /// EHR evaluates them on its day when it prefetches.
    pub today: time::Date,
}

impl fmt::Debug for GatherInput<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys = |map: &Map<String, Json>| map.keys().cloned().collect::<Vec<_>>();
        f.debug_struct("GatherInput")
            .field("queries", &self.queries)
            .field("context_fields", &keys(self.context))
            .field("prefetch_keys", &self.prefetch.keys())
            .field(
                "fhir_server",
                &self.fhir.map(|(_, base, _)| base.url().as_str().to_owned()),
            )
            .field(
                "token",
                &self
                    .fhir
                    .and_then(|(_, _, token)| token)
                    .map(|_| "<redacted>"),
            )
            .field("draft_orders", &self.draft_orders.is_some())
            .field("deadline", &self.deadline)
            .field("granted", &self.granted)
            .field("today", &self.today)
            .finish()
    }
}

/// A request's prefetch, as the reference reader or the fast reader read it.
#[derive(Debug, Clone)]
pub enum Prefetch<'a> {
    /// The request had no `prefetch` (or it was `null`).
    None,
    /// The `prefetch` object as JSON values, for [`classify_prefetch`] and [`facts_from_resources`].
    Json(&'a Map<String, Json>),
    /// The `prefetch` object as the fast reader read it ([`crate::fast`]). Owned: its records
    /// are moved into the facts, not copied.
    Fast(FastPrefetch),
    /// The `prefetch` object read value by value, after the fast reader declined it
    /// ([`crate::by_resource`]).
    ByResource(BTreeMap<String, ValueRead>),
}

impl<'a> From<Option<&'a Map<String, Json>>> for Prefetch<'a> {
    fn from(prefetch: Option<&'a Map<String, Json>>) -> Self {
        prefetch.map_or(Prefetch::None, Prefetch::Json)
    }
}

impl Prefetch<'_> {
    /// The keys it holds (`None` without a prefetch), for logs: never the values.
    pub fn keys(&self) -> Option<Vec<String>> {
        match self {
            Prefetch::None => None,
            Prefetch::Json(map) => Some(map.keys().cloned().collect()),
            Prefetch::Fast(fast) => Some(fast.entries.keys().cloned().collect()),
            Prefetch::ByResource(values) => Some(values.keys().cloned().collect()),
        }
    }
}

/// The facts of one hook call, with what could not be read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Gathered {
    pub facts: PatientFacts,
    pub diagnostics: Vec<Diagnostic>,
    /// The keys that were fetched from the FHIR server (not prefetched), in declaration order.
    pub fetched: Vec<String>,
    pub patient: Option<PatientSummary>,
    /// Resources refused because they are about another patient (or no patient), or carry an
    /// id that is not a FHIR id; each also has a diagnostic. See [`crate::subject`].
    pub refused: usize,
}

/// The data that decides whether any card is warranted could not be obtained (answer 412).
///
/// Exhaustive on purpose: `crates/server/src/error.rs` matches every variant, so a new failure
/// kind cannot reach a caller without someone choosing its status there.
#[derive(Debug, Error)]
pub enum GatherError {
    #[error("required FHIR data could not be obtained for prefetch keys: {}", keys.join(", "))]
    Unavailable {
        keys: Vec<String>,
        causes: Vec<KeyFailure>,
    },
    /// The EHR's FHIR server answered 404 to the read of a context resource (the patient):
    /// the hook names a patient the EHR does not have, so there is nothing to evaluate.
    #[error("the FHIR server has no resource for prefetch key `{key}` (404)")]
    NotFound { key: String },
}

/// Why one key could not be obtained.
#[derive(Debug, Error)]
#[error("{key}: {cause}")]
pub struct KeyFailure {
    pub key: String,
    pub cause: Unobtained,
}

#[derive(Debug, Error)]
pub enum Unobtained {
    /// Not prefetched (or prefetch failed, or was only a first page) and no FHIR server was given.
    #[error("not prefetched and no FHIR server to fetch from{}", prefetch.as_ref().map(|p| format!(" (prefetch: {p})")).unwrap_or_default())]
    NoFhirServer { prefetch: Option<OutcomeSummary> },
    /// The template could not be rendered from the hook context.
    #[error("the prefetch template could not be rendered")]
    Template(#[source] TemplateError),
    /// The fetch failed.
    #[error("fetch failed: {0}")]
    Fetch(#[source] FetchError),
    /// The granted SMART scopes do not cover the key's search: it is not fetched.
    #[error("the granted scopes do not cover it (needs {needed})")]
    NotGranted { needed: String },
    /// Every resource the key gave was refused: none is about the call's patient.
    #[error("all {refused} resources were refused as not about the call's patient")]
    OnlyOtherPatients { refused: usize },
}

/// Gathers the facts of one hook call. See the module documentation.
pub async fn gather(input: GatherInput<'_>) -> Result<Gathered, GatherError> {
    let mut gathered = Gathered::default();
    // What was fetched, already read, per key; with the memory budget its records hold, which is
    // returned when gathering ends (the facts are evaluated at once, then dropped).
    let mut fetched: Vec<(&PrefetchQuery, Vec<Fetched>)> = Vec::new();
    let mut holds = Vec::new();
    // Resources per key, in declaration order, and the keys that could not be obtained.
    let mut obtained: Vec<(&PrefetchQuery, Vec<&Json>)> = Vec::new();
    let mut failures: Vec<(&PrefetchQuery, Unobtained)> = Vec::new();
    let mut to_fetch: Vec<(&PrefetchQuery, String)> = Vec::new();

    // What the fast reader (or the reading value by value) read, per key, in declaration order.
    // No key of such a prefetch is JSON, so these come before anything fetched, as prefetched
    // keys do on the JSON path.
    let (prefetch_json, mut read): (_, BTreeMap<String, ValueRead>) = match input.prefetch {
        Prefetch::None => (None, BTreeMap::new()),
        Prefetch::Json(prefetch) => (Some(prefetch), BTreeMap::new()),
        Prefetch::Fast(fast) => (
            None,
            fast.entries
                .into_iter()
                .map(|(key, entry)| (key, entry.into()))
                .collect(),
        ),
        Prefetch::ByResource(values) => (None, values),
    };
    let mut fast_obtained: Vec<(&PrefetchQuery, ReadResources)> = Vec::new();

    for query in input.queries {
        let prefetched = match read.remove(&query.key) {
            Some(ValueRead::Fast(resources)) => {
                tracing::debug!(key = %query.key, resources = resources.len(), "using prefetch");
                fast_obtained.push((query, ReadResources::Fast(resources)));
                continue;
            }
            Some(ValueRead::Resources(resources)) => {
                tracing::debug!(key = %query.key, resources = resources.len(), "using prefetch");
                fast_obtained.push((query, ReadResources::Mixed(resources)));
                continue;
            }
            Some(ValueRead::Null) => Some(PrefetchEntry::Null),
            Some(ValueRead::Paged) => Some(PrefetchEntry::Paged),
            Some(ValueRead::Failed(summary)) => Some(PrefetchEntry::Failed(summary)),
            None => prefetch_json
                .and_then(|prefetch| prefetch.get(&query.key))
                .map(classify_prefetch),
        };
        let prefetch_failure = match prefetched {
            Some(PrefetchEntry::Null) => {
                tracing::debug!(key = %query.key, "prefetch says there is no data");
                obtained.push((query, Vec::new()));
                continue;
            }
            Some(PrefetchEntry::Resources(resources)) => {
                tracing::debug!(key = %query.key, resources = resources.len(), "using prefetch");
                obtained.push((query, resources));
                continue;
            }
            Some(PrefetchEntry::Failed(summary)) => {
                tracing::info!(key = %query.key, outcome = %summary, "prefetch failed");
                Some(summary)
            }
            Some(PrefetchEntry::Paged) => {
                tracing::info!(key = %query.key, "prefetch holds only a first page");
                Some(OutcomeSummary::note("prefetch holds only the first page"))
            }
            None => None,
        };
        if input.fhir.is_none() {
            failures.push((
                query,
                Unobtained::NoFhirServer {
                    prefetch: prefetch_failure,
                },
            ));
            continue;
        }
        match render_on(&query.template, input.context, input.today) {
            Ok(relative) if input.granted.is_some_and(|g| !g.covers(&relative)) => {
                let needed = Grants::needed(&relative);
                tracing::info!(key = %query.key, needed, "not fetched: the granted scopes do not cover it");
                failures.push((query, Unobtained::NotGranted { needed }));
            }
            Ok(relative) => to_fetch.push((query, relative)),
            Err(error) => failures.push((query, Unobtained::Template(error))),
        }
    }

    if let Some((client, base, token)) = input.fhir {
        // One allowance for the whole call: its searches share the entry and byte caps.
        let allowance = client.call_allowance();
        let allowance = &allowance;
        let fetches = to_fetch.iter().map(|(query, relative)| async move {
            let started = Instant::now();
            let result = client
                .search(base, relative, token, input.deadline, allowance)
                .await;
            let elapsed_ms = started.elapsed().as_millis() as u64;
            match &result {
                // A search that worked is a debug line: its time is in the histogram
                // `gravida_fhir_fetch_duration_seconds` and the hook's one info line names the
                // keys fetched; eleven info lines a call cost more than the rest of the logging.
                Ok(search) => tracing::debug!(key = %query.key, resources = search.resources.len(), held_bytes = search.hold.held(), elapsed_ms, "fetched"),
                Err(error) => tracing::warn!(key = %query.key, error = %error, elapsed_ms, "fetch failed"),
            }
            (*query, result)
        });
        for (query, result) in join_all(fetches).await {
            match result {
                Ok(search) => {
                    gathered.fetched.push(query.key.clone());
                    fetched.push((query, search.resources));
                    holds.push(search.hold);
                }
                Err(error) => failures.push((query, Unobtained::Fetch(error))),
            }
        }
    }

    // Only the call's patient's records are used (crate::subject); then the same resource can
    // come back from two searches: keep its first copy.
    let patient_id = input.context.get("patientId").and_then(Json::as_str);
    let call_patient = patient_id.map(|id| CallPatient {
        id,
        fhir_base: input.fhir.map(|(_, base, _)| base.url()),
    });
    let mut refusals = Refusals::default();
    // Sized for every resource at once: growing a set (or the records) a hundred times over, by
    // rehashing and copying, cost more than the lookups themselves.
    let resource_count = fast_obtained.iter().map(|(_, r)| r.len()).sum::<usize>()
        + obtained.iter().map(|(_, r)| r.len()).sum::<usize>();
    let mut seen = Seen::with_capacity_and_hasher(resource_count, Default::default());
    gathered.facts.records.reserve(resource_count);
    for (query, resources) in fast_obtained.iter_mut() {
        let resources = match resources {
            ReadResources::Fast(resources) => resources,
            ReadResources::Mixed(resources) => {
                keep_fetched(
                    query,
                    resources,
                    call_patient,
                    &mut seen,
                    &mut refusals,
                    &mut failures,
                    &mut gathered,
                );
                continue;
            }
        };
        let before = refusals.count;
        let total = resources.len();
        for (index, resource) in resources.iter_mut().enumerate() {
            // The record is moved out; the identity stays, borrowed by `seen`.
            let FastResource {
                identity,
                subject,
                read,
            } = resource;
            let identity: &_ = identity;
            if let (Some(patient), FastRead::Record(_) | FastRead::Patient(_)) =
                (call_patient, &*read)
            {
                let resource_type = match &*read {
                    FastRead::Patient(_) => "Patient",
                    _ => identity.as_ref().map_or("", |(t, _)| t.as_str()),
                };
                let id = identity.as_ref().map(|(_, id)| id.as_str());
                if let Err(refusal) = patient.check(resource_type, id, subject.as_deref()) {
                    refusals.add(query, resource_type, index, refusal);
                    continue;
                }
            }
            if let Some((resource_type, id)) = identity
                && !seen.insert((resource_type, id))
            {
                continue;
            }
            keep_read(read, &mut gathered);
        }
        refusals.key_done(query, total, before, &mut failures);
    }
    for (query, resources) in obtained {
        let before = refusals.count;
        let total = resources.len();
        let mut kept = Vec::with_capacity(total);
        for (index, resource) in resources.into_iter().enumerate() {
            let resource_type = resource.get("resourceType").and_then(Json::as_str);
            if let (Some(patient), Some(resource_type)) = (call_patient, resource_type)
                && is_read(resource_type)
            {
                let id = resource.get("id").and_then(Json::as_str);
                if let Err(refusal) = patient.check(resource_type, id, subject_of(resource)) {
                    refusals.add(query, resource_type, index, refusal);
                    continue;
                }
            }
            if let Some(identity) = identity(resource)
                && !seen.insert(identity)
            {
                continue;
            }
            kept.push(resource);
        }
        refusals.key_done(query, total, before, &mut failures);
        let mapped = facts_from_resources(kept);
        gathered.facts.records.extend(mapped.facts.records);
        gathered
            .diagnostics
            .extend(mapped.diagnostics.into_iter().map(|mut diagnostic| {
                diagnostic.message = format!("[{}] {}", query.key, diagnostic.message);
                diagnostic
            }));
        if gathered.patient.is_none() {
            gathered.patient = mapped.patient;
        }
    }
    // Fetched pages were read as they came (crate::page); the same checks apply, in the same
    // order.
    for (query, resources) in fetched.iter_mut() {
        keep_fetched(
            query,
            resources,
            call_patient,
            &mut seen,
            &mut refusals,
            &mut failures,
            &mut gathered,
        );
    }
    drop(holds);
    if refusals.count > 0 {
        // Counted and said without ids: which patient they were about is nobody's business here.
        tracing::warn!(
            refused = refusals.count,
            "refused resources that are not about the call's patient"
        );
    }
    // Counted here, before a missing key can end the call with 412: every refusal is counted,
    // whatever the answer.
    metrics::counter!("gravida_records_refused_total").increment(refusals.count as u64);
    gathered.refused = refusals.count;
    gathered.facts.refused_records = refusals.count;
    gathered.diagnostics.append(&mut refusals.diagnostics);

    // The chart's current prescriptions and statements, for the rules that read medications
    // (knowledge.md §3.6 item 21), in the shape of an order.
    gathered.facts.medications = gathered
        .facts
        .records
        .iter()
        .filter_map(DraftOrder::from_medication_record)
        .collect();

    if let Some(bundle) = input.draft_orders {
        let (orders, diagnostics) = draft_orders(bundle);
        gathered.facts.draft_orders = orders;
        gathered.diagnostics.extend(diagnostics);
    }

    let mut central = Vec::new();
    for (query, cause) in failures {
        match query.need {
            Need::Central => central.push(KeyFailure {
                key: query.key.clone(),
                cause,
            }),
            Need::Optional(input) => {
                gathered.facts.unavailable.insert(input);
                gathered.diagnostics.push(key_diagnostic(
                    query,
                    DiagnosticKind::Unavailable,
                    &cause,
                ));
            }
            Need::Context => {
                // A 404 on the patient read is an answer, not a failure: no such patient.
                if matches!(
                    cause,
                    Unobtained::Fetch(FetchError::Status { status: 404, .. })
                ) {
                    return Err(GatherError::NotFound {
                        key: query.key.clone(),
                    });
                }
                gathered.diagnostics.push(key_diagnostic(
                    query,
                    DiagnosticKind::ContextUnavailable,
                    &cause,
                ));
            }
        }
    }
    if !central.is_empty() {
        let keys: Vec<String> = central.iter().map(|failure| failure.key.clone()).collect();
        tracing::warn!(keys = ?keys, "central FHIR data unavailable");
        return Err(GatherError::Unavailable {
            keys,
            causes: central,
        });
    }
    tracing::debug!(
        records = gathered.facts.records.len(),
        fetched = gathered.fetched.len(),
        diagnostics = gathered.diagnostics.len(),
        "facts gathered"
    );
    Ok(gathered)
}

fn key_diagnostic(query: &PrefetchQuery, kind: DiagnosticKind, cause: &Unobtained) -> Diagnostic {
    Diagnostic {
        resource_type: query.key.clone(),
        index: 0,
        kind,
        message: format!(
            "prefetch key {:?} could not be obtained: {cause}",
            query.key
        ),
    }
}

#[cfg(test)]
mod tests;
