//! The prefetch read again after the fast reader declined it, one value and one resource at a time.
//!
//! The fast reader ([`crate::fast`]) reads the whole prefetch in one streaming pass, and declines
//! the whole request at the first shape it does not model. Reading the whole request again as JSON
//! values would make one odd resource cost the price of all of them. Instead, a second pass keeps
//! each prefetch value as the slice of the body it was sent as ([`RawPrefetchSeed`]), and each
//! value is read on its own ([`read_each`]):
//!
//! 1. a value the fast reader reads whole is taken as it reads it;
//! 2. a Bundle is split into its entries, as a fetched search page is ([`crate::page`]): each
//!    resource is read by the fast reader, and a resource it declines, alone, by the reference
//!    reader;
//! 3. anything else (a first page of several, an OperationOutcome, a Bundle the split does not
//!    read, a single resource that was declined) is parsed into a JSON value, that value only, and
//!    read as the reference reader reads a prefetch value ([`crate::classify_prefetch`]).
//!
//! What it gives is what the reference reader gives for the same request (the tests in
//! `fast/tests.rs` hold it to that on every mutation the fast reader declines), so the reference
//! path is still the definition of what a request means; this is only a cheaper way to it.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, Instant};

use gravida_rules::query::PrefetchQuery;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::Value as Json;
use serde_json::value::RawValue;

use crate::fast::{FastEntry, FastResource, read_prefetch_value};
use crate::page::{CallAllowance, Fetched, PageRead, by_reference, read_page};
use crate::prefetch::{OutcomeSummary, PrefetchEntry, classify_prefetch};

/// What one prefetch value gave, read on its own.
#[derive(Debug, Clone, PartialEq)]
pub enum ValueRead {
    /// `null`: no data.
    Null,
    /// The first page of a paginated search: to be fetched whole.
    Paged,
    /// Not the data asked for (an OperationOutcome, or not a FHIR result).
    Failed(OutcomeSummary),
    /// Every resource read by the fast reader.
    Fast(Vec<FastResource>),
    /// The resources, each read by the fast reader or, declined, by the reference reader (with
    /// what the reference reader could not read in it).
    Resources(Vec<Fetched>),
}

impl From<FastEntry> for ValueRead {
    fn from(entry: FastEntry) -> Self {
        match entry {
            FastEntry::Null => ValueRead::Null,
            FastEntry::Paged => ValueRead::Paged,
            FastEntry::Resources(resources) => ValueRead::Fast(resources),
        }
    }
}

/// A request's `prefetch` object, each value kept as its slice of the body. Only the keys in
/// `queries` are kept; a repeated key keeps its last value, as a JSON object parsed into a map
/// does.
#[derive(Debug, Clone, Copy)]
pub struct RawPrefetchSeed<'a> {
    pub queries: &'a [PrefetchQuery],
}

/// The prefetch values of [`RawPrefetchSeed`], by key.
pub type RawPrefetch<'de> = BTreeMap<String, &'de RawValue>;

impl<'de> DeserializeSeed<'de> for RawPrefetchSeed<'_> {
    type Value = RawPrefetch<'de>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RawPrefetchSeed<'_> {
    type Value = RawPrefetch<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a prefetch object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut values = RawPrefetch::new();
        // A key is compared as what it spells, escapes and all, as the other readers compare it.
        while let Some(key) = map.next_key::<String>()? {
            if self.queries.iter().any(|query| query.key == key) {
                values.insert(key, map.next_value::<&'de RawValue>()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(values)
    }
}

/// Reads each prefetch value on its own (see the module's documentation).
pub fn read_each(values: RawPrefetch<'_>) -> BTreeMap<String, ValueRead> {
    values
        .into_iter()
        .map(|(key, raw)| (key, read_value(raw)))
        .collect()
}

fn read_value(raw: &RawValue) -> ValueRead {
    if let Some(entry) = read_prefetch_value(raw.get()) {
        return entry.into();
    }
    // A prefetch is not a fetch: no deadline or entry cap of the call applies to reading it.
    let unlimited = CallAllowance::new(usize::MAX, usize::MAX);
    let far = Instant::now() + Duration::from_secs(24 * 3600);
    if let Ok(PageRead::Bundle {
        resources,
        next: None,
        ..
    }) = read_page(raw.get().as_bytes(), true, far, &unlimited)
    {
        return ValueRead::Resources(resources);
    }
    let Ok(value) = serde_json::from_str::<Json>(raw.get()) else {
        // Not reachable: serde_json checked the slice to be JSON when it cut it out.
        return ValueRead::Failed(OutcomeSummary::note("prefetch value is not JSON"));
    };
    match classify_prefetch(&value) {
        PrefetchEntry::Null => ValueRead::Null,
        PrefetchEntry::Paged => ValueRead::Paged,
        PrefetchEntry::Failed(summary) => ValueRead::Failed(summary),
        PrefetchEntry::Resources(resources) => {
            ValueRead::Resources(resources.into_iter().map(by_reference).collect())
        }
    }
}
