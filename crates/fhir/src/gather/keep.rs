//! What [`gather`](super::gather) does with each resource it obtained: checks that it is about
//! the call's patient (a refusal is counted and said, and a key that gave only refusals was not
//! obtained), keeps it once however many searches returned it, and moves its record into the
//! [`Gathered`] facts.

use std::collections::HashSet;

use gravida_rules::facts::RecordKind;
use gravida_rules::query::PrefetchQuery;
use serde_json::Value as Json;

use super::{Gathered, Unobtained};
use crate::diagnostic::{Diagnostic, DiagnosticKind};
use crate::fast::{FastRead, FastResource};
use crate::page::Fetched;
use crate::subject::{CallPatient, Refusal};

/// The `(resourceType, id)` of each resource kept, so that one two searches returned is kept
/// once. Hashed with foldhash, seeded per process: a hundred inserts a call, where SipHash cost
/// more than the lookups it served.
pub(super) type Seen<'r> = HashSet<(&'r str, &'r str), foldhash::fast::RandomState>;

/// True for the resource types the engine reads (records and the Patient): only those are checked
/// to be about the call's patient, as the fast reader checks what it reads.
pub(super) fn is_read(resource_type: &str) -> bool {
    resource_type == "Patient" || RecordKind::from_resource_type(resource_type).is_some()
}

/// `subject.reference`, else `patient.reference` (as the fast reader reads it).
pub(super) fn subject_of(resource: &Json) -> Option<&str> {
    let owner = resource
        .get("subject")
        .or_else(|| resource.get("patient"))?;
    owner.get("reference")?.as_str()
}

/// What a prefetch value read resource by resource, or a fetched page, gave: each resource
/// checked against the call's patient, kept once, its record and diagnostics moved into
/// `gathered`. A kept resource's diagnostics are numbered by its place among those kept, as the
/// reference reader numbers them.
pub(super) fn keep_fetched<'r, 'q>(
    query: &'q PrefetchQuery,
    resources: &'r mut [Fetched],
    call_patient: Option<CallPatient<'_>>,
    seen: &mut Seen<'r>,
    refusals: &mut Refusals,
    failures: &mut Vec<(&'q PrefetchQuery, Unobtained)>,
    gathered: &mut Gathered,
) {
    let before = refusals.count;
    let total = resources.len();
    let mut kept = 0;
    for (index, fetched) in resources.iter_mut().enumerate() {
        // The record and diagnostics are moved out; type and identity stay, borrowed by `seen`.
        let Fetched {
            resource_type,
            resource:
                FastResource {
                    identity,
                    subject,
                    read,
                },
            diagnostics,
            ..
        } = fetched;
        let (resource_type, identity): (&'r String, &'r Option<(String, String)>) =
            (resource_type, identity);
        if let Some(patient) = call_patient
            && is_read(resource_type)
        {
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
        gathered
            .diagnostics
            .extend(
                std::mem::take(diagnostics)
                    .into_iter()
                    .map(|mut diagnostic| {
                        diagnostic.index = kept;
                        diagnostic.message = format!("[{}] {}", query.key, diagnostic.message);
                        diagnostic
                    }),
            );
        kept += 1;
        keep_read(read, gathered);
    }
    refusals.key_done(query, total, before, failures);
}

/// Moves a kept resource's record (or its Patient, if none was kept before) into `gathered`.
pub(super) fn keep_read(read: &mut FastRead, gathered: &mut Gathered) {
    match std::mem::replace(read, FastRead::Ignored) {
        FastRead::Record(record) => gathered.facts.records.push(record),
        FastRead::Patient(patient) => {
            if gathered.patient.is_none() {
                gathered.patient = Some(patient);
            }
        }
        FastRead::Ignored => {}
    }
}

/// The resources of one prefetch value, as [`gather`](super::gather) keeps them until it checks
/// them.
pub(super) enum ReadResources {
    /// All read by the fast reader.
    Fast(Vec<FastResource>),
    /// Each read by the fast reader or by the reference reader
    /// ([`ValueRead::Resources`](crate::by_resource::ValueRead::Resources)).
    Mixed(Vec<Fetched>),
}

impl ReadResources {
    pub(super) fn len(&self) -> usize {
        match self {
            ReadResources::Fast(resources) => resources.len(),
            ReadResources::Mixed(resources) => resources.len(),
        }
    }
}

/// The resources refused in one call, with a diagnostic each.
#[derive(Debug, Default)]
pub(super) struct Refusals {
    pub(super) count: usize,
    pub(super) diagnostics: Vec<Diagnostic>,
}

impl Refusals {
    pub(super) fn add(
        &mut self,
        query: &PrefetchQuery,
        resource_type: &str,
        index: usize,
        why: Refusal,
    ) {
        self.count += 1;
        let (kind, message) = match why {
            Refusal::OtherPatient => (
                DiagnosticKind::OtherPatient,
                "refused: not about the call's patient",
            ),
            Refusal::BadId => (DiagnosticKind::BadId, "refused: its id is not a FHIR id"),
        };
        self.diagnostics.push(Diagnostic {
            resource_type: resource_type.to_owned(),
            index,
            kind,
            message: format!("[{}] {message}", query.key),
        });
    }

    /// A key that gave resources, all of them refused, was not obtained.
    pub(super) fn key_done<'q>(
        &self,
        query: &'q PrefetchQuery,
        total: usize,
        before: usize,
        failures: &mut Vec<(&'q PrefetchQuery, Unobtained)>,
    ) {
        let refused = self.count - before;
        if total > 0 && refused == total {
            failures.push((query, Unobtained::OnlyOtherPatients { refused }));
        }
    }
}

/// `(resourceType, id)` of a resource that has both.
pub(super) fn identity(resource: &Json) -> Option<(&str, &str)> {
    let resource_type = resource.get("resourceType")?.as_str()?;
    let id = resource.get("id")?.as_str()?;
    Some((resource_type, id))
}
