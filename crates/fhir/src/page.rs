//! One fetched search page, read into records with bounded time and memory.
//!
//! A search page is a Bundle of up to [`crate::FetchLimits::max_response_bytes`]. Parsing it into
//! `serde_json::Value` and then each resource into fhir-sdk's model (the reference reader,
//! [`crate::map`]) costs several times the page's size in memory and cannot stop half-way. So a
//! page is read in at most three ways, each only if the one before declined it, and none holds
//! more than the page's bytes plus what is kept:
//!
//! 1. in one pass, as a prefetched Bundle is read ([`crate::fast::read_page`]): the page's bytes
//!    deserialised straight into the records of its entries and its `next` link. This is the
//!    usual page, and it is read once;
//! 2. split into its entries without parsing their resources (each entry's `resource` a
//!    `&RawValue`, a slice of the page that serde_json has only checked to be valid JSON), each
//!    resource then read by the fast reader or, when it declines (a shape it does not model),
//!    that one resource, and only it, parsed into a `Value` and read by the reference reader;
//! 3. anything else parsed whole into a `Value`, as the reference path always did: errors,
//!    rarities and a Bundle the split does not read, never the bulk. (A read, `Patient/123`,
//!    answers with the resource itself: the fast reader reads it, and only if it declines does
//!    it go this way.)
//!
//! Between entries the reader checks the call's deadline and the call's entry cap, so a page of
//! 100,000 small resources stops when the call has no time or room left for it, instead of being
//! read to the end after the call should have answered. A page takes its entries from the call's
//! cap all at once (the one-pass reader checks as it goes, and takes them when it is done), so a
//! page the call cannot read costs the call's other searches nothing.
//!
//! Whatever this reader accepts, it reads exactly as the reference path does (the same records,
//! diagnostics and failures); anything at the Bundle level that it does not expect (a page that is
//! not a Bundle, an `entry` that is not an array of objects, a key repeated, an escaped key) sends
//! the whole page to the reference path instead, which is the definition of what a page means.

use std::sync::atomic::{AtomicUsize, Ordering};

use serde::Deserialize;
use serde_json::Value as Json;
use serde_json::value::RawValue;

use crate::diagnostic::Diagnostic;
use crate::fast::{self, FastPage, FastRead, FastResource, read_resource_json};
use crate::fetch_error::FetchError;
use crate::map::facts_from_resources;
use crate::prefetch::{OutcomeSummary, into_bundle_entries, next_link};

/// One resource of a fetched page, reduced to what the engine reads.
#[derive(Debug, Clone, PartialEq)]
pub struct Fetched {
    /// `resourceType`, or empty when the entry was not a resource.
    pub resource_type: String,
    /// The record (and whose it is), as the fast reader gives it.
    pub resource: FastResource,
    /// What the reference reader could not read in it (only for resources the fast reader
    /// declined), to be reported if the resource is kept. Their `index` is 0: the caller knows
    /// where the resource stands among those it keeps.
    pub diagnostics: Vec<Diagnostic>,
}

/// What one page gave.
#[derive(Debug)]
pub enum PageRead {
    /// A read (`Patient/123`) answered with the resource itself.
    Resource(Box<Fetched>),
    /// A Bundle page: its resources, and the `next` link, if any.
    Bundle {
        resources: Vec<Fetched>,
        next: Option<String>,
        /// What the kept records (all but [`FastRead::Ignored`]) were read from, in bytes as
        /// sent: an upper bound on what they cost to keep, beyond each record's fixed part. Their
        /// resources' sizes, or the whole page's when it was read in one pass (which does not
        /// measure each entry; the rest of a page is its envelope, a small part of it).
        kept_bytes: usize,
    },
}

/// What one hook call may still read, shared by its concurrent searches.
#[derive(Debug)]
pub struct CallAllowance {
    /// Entries left to read across all of the call's searches.
    entries_left: AtomicUsize,
    /// The cap, for the error message.
    max_entries: usize,
    /// Response bytes left to read across all of the call's searches.
    bytes_left: AtomicUsize,
    max_bytes: usize,
}

impl CallAllowance {
    pub fn new(max_entries: usize, max_bytes: usize) -> Self {
        CallAllowance {
            entries_left: AtomicUsize::new(max_entries),
            max_entries,
            bytes_left: AtomicUsize::new(max_bytes),
            max_bytes,
        }
    }

    /// Takes `n` entries from the allowance, or fails when fewer are left.
    pub(crate) fn take_entries(&self, n: usize) -> Result<(), FetchError> {
        take(&self.entries_left, n).map_err(|()| FetchError::TooManyEntries {
            limit: self.max_entries,
        })
    }

    /// Fails as [`CallAllowance::take_entries`] would, but takes nothing: a page read in one
    /// pass checks as it goes that its entries so far are not more than are left, and takes
    /// them all at once when it is read (so a page the call cannot read costs the call nothing).
    pub(crate) fn check_entries(&self, n: usize) -> Result<(), FetchError> {
        if n > self.entries_left.load(Ordering::Acquire) {
            return Err(FetchError::TooManyEntries {
                limit: self.max_entries,
            });
        }
        Ok(())
    }

    /// Takes `n` response bytes from the allowance, or fails when fewer are left.
    pub(crate) fn take_bytes(&self, n: usize) -> Result<(), FetchError> {
        take(&self.bytes_left, n).map_err(|()| FetchError::CallTooLarge {
            limit: self.max_bytes,
        })
    }
}

fn take(left: &AtomicUsize, n: usize) -> Result<(), ()> {
    left.fetch_update(Ordering::AcqRel, Ordering::Acquire, |left| {
        left.checked_sub(n)
    })
    .map(drop)
    .map_err(drop)
}

/// How often (in entries) the reader looks at the clock.
const DEADLINE_EVERY: usize = 64;

/// Reads one page. `deadline` is the call's; `allowance` is the call's entry cap. Public for the
/// benchmark of reading fetched pages (`benches/read.rs`); the client is its one caller.
pub fn read_page(
    body: &[u8],
    first_page: bool,
    deadline: std::time::Instant,
    allowance: &CallAllowance,
) -> Result<PageRead, FetchError> {
    // UTF-8 is checked once for the whole page, not again for each string in it (serde_json's
    // `str` reader trusts its input); a page that is not UTF-8 gets the value reader's error.
    let Ok(text) = std::str::from_utf8(body) else {
        return read_page_as_value(body, first_page, allowance);
    };
    // 1. One pass, as a prefetched Bundle is read. The entries met so far are checked against
    //    what the call has left, and the clock is looked at every few dozen entries.
    let mut count = 0;
    let mut stopped = None;
    let page = fast::read_page(text, || {
        let over = if count % DEADLINE_EVERY == 0 && std::time::Instant::now() >= deadline {
            Err(FetchError::Deadline)
        } else {
            count += 1;
            allowance.check_entries(count)
        };
        stopped = over.err();
        stopped.is_none()
    });
    if let Some(error) = stopped {
        return Err(error);
    }
    if let Some(FastPage { resources, next }) = page {
        allowance.take_entries(count)?;
        let resources: Vec<Fetched> = resources.into_iter().map(fast_read).collect();
        let kept_bytes = if resources.iter().any(is_kept) {
            body.len()
        } else {
            0
        };
        return Ok(PageRead::Bundle {
            resources,
            next,
            kept_bytes,
        });
    }
    // 2. Declined: the page split into its entries, each read on its own.
    let Ok(Object(page)) = serde_json::from_str::<Object<RawPage<'_>>>(text) else {
        return read_page_as_value(body, first_page, allowance);
    };
    let is_bundle = page
        .resource_type
        .is_some_and(|raw| serde_json::from_str::<&str>(raw.get()).ok() == Some("Bundle"));
    if !is_bundle {
        // A read (`Patient/123`) answers with the resource itself: read by the fast reader if it
        // can, else by the reference path with everything that is not a Bundle.
        if first_page && let Some(read) = read_resource_json(text) {
            allowance.take_entries(1)?;
            return Ok(PageRead::Resource(Box::new(fast_read(read))));
        }
        return read_page_as_value(body, first_page, allowance);
    }
    let next = match page.link {
        None => None,
        Some(raw) => {
            let link: Json = serde_json::from_str(raw.get()).map_err(|_| FetchError::NotJson)?;
            next_link(&serde_json::json!({ "link": link })).map(str::to_owned)
        }
    };
    let entries = page.entry.unwrap_or_default();
    allowance.take_entries(entries.len())?;
    let mut resources = Vec::with_capacity(entries.len());
    let mut kept_bytes = 0;
    for (n, entry) in entries.into_iter().enumerate() {
        if n % DEADLINE_EVERY == 0 && std::time::Instant::now() >= deadline {
            return Err(FetchError::Deadline);
        }
        if let Some((resource, bytes)) = read_entry(entry.0)? {
            if is_kept(&resource) {
                kept_bytes += bytes;
            }
            resources.push(resource);
        }
    }
    Ok(PageRead::Bundle {
        resources,
        next,
        kept_bytes,
    })
}

/// True for a resource whose record is kept (the engine reads its type).
fn is_kept(resource: &Fetched) -> bool {
    !matches!(resource.resource.read, FastRead::Ignored)
}

/// A resource the fast reader read.
fn fast_read(read: FastResource) -> Fetched {
    Fetched {
        resource_type: read
            .identity
            .as_ref()
            .map(|(t, _)| t.clone())
            .unwrap_or_else(|| resource_type_of(&read)),
        resource: read,
        diagnostics: Vec::new(),
    }
}

/// A Bundle's top level, its entries' resources left unread. Unknown elements are skipped; a
/// repeated one, or an `entry` that is not an array of objects (`null` included), fails the
/// parse, and the page goes to the reference path (where the last key wins, and which says what
/// a bad `entry` means).
#[derive(Deserialize)]
struct RawPage<'a> {
    #[serde(rename = "resourceType", borrow, default, deserialize_with = "present")]
    resource_type: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    link: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "entries")]
    entry: Option<Vec<Object<RawEntry<'a>>>>,
}

/// A Bundle entry, its resource left unread.
#[derive(Deserialize)]
struct RawEntry<'a> {
    #[serde(borrow, default, deserialize_with = "present")]
    resource: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    search: Option<&'a RawValue>,
}

/// An object only. serde's derived structs also accept an array of their fields in order, which
/// a page or an entry never is: the reference path skips such an entry and refuses such a page,
/// so the split must not read either.
struct Object<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for ObjectVisitor<T> {
            type Value = T;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(map))
            }
        }
        deserializer
            .deserialize_map(ObjectVisitor(std::marker::PhantomData))
            .map(Object)
    }
}

/// `Some` for any value that is there, `null` included (serde's `Option` would read `null` as
/// absent, and the reference path tells the two apart).
fn present<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(deserializer).map(Some)
}

/// `Some` for an array of entries; anything else (`null` included) fails the page's parse.
fn entries<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Vec<Object<RawEntry<'de>>>>, D::Error> {
    Vec::<Object<RawEntry<'de>>>::deserialize(deserializer).map(Some)
}

/// One entry: its resource and its size as sent, `None` to skip it (no resource, or an
/// OperationOutcome that only warns), or the failure an error OperationOutcome reports. As
/// [`crate::prefetch`] reads entries.
fn read_entry(
    RawEntry { resource, search }: RawEntry<'_>,
) -> Result<Option<(Fetched, usize)>, FetchError> {
    let Some(resource) = resource else {
        return Ok(None);
    };
    let bytes = resource.get().len();
    let is_outcome_entry = match search {
        None => false,
        Some(search) => {
            let search: Json =
                serde_json::from_str(search.get()).map_err(|_| FetchError::NotJson)?;
            search.get("mode").and_then(Json::as_str) == Some("outcome")
        }
    };
    if !is_outcome_entry && let Some(read) = read_resource_json(resource.get()) {
        return Ok(Some((fast_read(read), bytes)));
    }
    let resource: Json = serde_json::from_str(resource.get()).map_err(|_| FetchError::NotJson)?;
    check_outcome(&resource, is_outcome_entry)?;
    if is_outcome(&resource) || is_outcome_entry {
        return Ok(None);
    }
    Ok(Some((by_reference(&resource), bytes)))
}

fn entry_bytes(bundle: &Json) -> usize {
    serde_json::to_vec(bundle).map_or(0, |bytes| bytes.len())
}

fn is_outcome(resource: &Json) -> bool {
    resource.get("resourceType").and_then(Json::as_str) == Some("OperationOutcome")
}

/// An OperationOutcome with an error or fatal issue fails the search.
fn check_outcome(resource: &Json, is_outcome_entry: bool) -> Result<(), FetchError> {
    if is_outcome(resource) || is_outcome_entry {
        let summary = OutcomeSummary::from_outcome(resource);
        if summary.is_failure() {
            return Err(FetchError::Outcome(summary));
        }
    }
    Ok(())
}

/// A resource the fast reader declined, read by the reference reader.
pub(crate) fn by_reference(resource: &Json) -> Fetched {
    let resource_type = resource
        .get("resourceType")
        .and_then(Json::as_str)
        .unwrap_or_default()
        .to_owned();
    let id = resource.get("id").and_then(Json::as_str);
    let identity = (!resource_type.is_empty())
        .then_some(id)
        .flatten()
        .map(|id| (resource_type.clone(), id.to_owned()));
    let subject = resource
        .get("subject")
        .or_else(|| resource.get("patient"))
        .and_then(|owner| owner.get("reference"))
        .and_then(Json::as_str)
        .map(str::to_owned);
    let mut mapped = facts_from_resources([resource]);
    let read = if let Some(record) = mapped.facts.records.pop() {
        FastRead::Record(record)
    } else if let Some(patient) = mapped.patient {
        FastRead::Patient(patient)
    } else {
        FastRead::Ignored
    };
    Fetched {
        resource_type,
        resource: FastResource {
            identity,
            subject,
            read,
        },
        diagnostics: mapped.diagnostics,
    }
}

/// The type of a fast-read resource without an id (the fast reader keeps the type in `identity`).
fn resource_type_of(read: &FastResource) -> String {
    match &read.read {
        FastRead::Patient(_) => "Patient".to_owned(),
        FastRead::Record(record) => record.kind.resource_type().to_owned(),
        FastRead::Ignored => String::new(),
    }
}

/// A page the typed split does not read (not a Bundle, or an unusual Bundle): parsed whole, as the
/// reference path always did. Pages like these are reads, errors and rarities, never the bulk.
fn read_page_as_value(
    body: &[u8],
    first_page: bool,
    allowance: &CallAllowance,
) -> Result<PageRead, FetchError> {
    let body: Json = serde_json::from_slice(body).map_err(|_| FetchError::NotJson)?;
    let resource_type = body
        .get("resourceType")
        .and_then(Json::as_str)
        .unwrap_or_default();
    if resource_type != "Bundle" {
        // A read (`Patient/123`) returns the resource itself.
        if first_page && !resource_type.is_empty() && resource_type != "OperationOutcome" {
            allowance.take_entries(1)?;
            return Ok(PageRead::Resource(Box::new(by_reference(&body))));
        }
        if resource_type == "OperationOutcome" {
            return Err(FetchError::Outcome(OutcomeSummary::from_outcome(&body)));
        }
        return Err(FetchError::NotABundle {
            resource_type: resource_type.chars().take(64).collect(),
        });
    }
    let next = next_link(&body).map(str::to_owned);
    let entries = into_bundle_entries(body).map_err(FetchError::Outcome)?;
    allowance.take_entries(entries.len())?;
    let mut kept_bytes = 0;
    let resources = entries
        .iter()
        .map(|resource| {
            let read = by_reference(resource);
            if is_kept(&read) {
                kept_bytes += entry_bytes(resource);
            }
            read
        })
        .collect();
    Ok(PageRead::Bundle {
        resources,
        next,
        kept_bytes,
    })
}

/// For the client's tests: a resource as the reference reader reads it from a page.
#[cfg(test)]
pub(crate) mod tests_support {
    use super::*;

    pub(crate) fn by_reference(resource: &Json) -> Fetched {
        super::by_reference(resource)
    }
}

#[cfg(test)]
mod tests;
