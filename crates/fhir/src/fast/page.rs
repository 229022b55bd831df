//! A fetched search page read in one pass: its bytes deserialised straight into the records of
//! its entries, and its `next` link, as a prefetched Bundle is read.
//!
//! The page reader ([`crate::page`]) asks this first. Only a Bundle's `resourceType`, `link` and
//! `entry` are read, as the reference path reads a page; its other elements (`type`, `total`,
//! `meta`, …) say nothing the call uses and are skipped. Each entry is read as a prefetched
//! Bundle's entry is ([`EntriesSeed`]), so whatever the fast reader declines there (an outcome
//! entry, an OperationOutcome, a resource shape it does not model, a repeated key) it declines
//! here, and the page goes to the page reader's other paths, which say what such a page means.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};

use super::FastResource;
use super::json::{Str, object, once};
use super::resource::{EntriesSeed, Link, next_url};

/// A searchset page as the fast reader read it.
#[derive(Debug)]
pub(crate) struct FastPage {
    /// The records of its entries, in order (an entry without a resource gives none).
    pub(crate) resources: Vec<FastResource>,
    /// The `url` of its `next` link, if any.
    pub(crate) next: Option<String>,
}

/// Reads a page that is a Bundle, asking `before_entry` after each entry is parsed and before it
/// is read into its record; `None` when the reader declines the page, or when `before_entry`
/// said no (the caller knows which: it said it).
pub(crate) fn read_page(text: &str, before_entry: impl FnMut() -> bool) -> Option<FastPage> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let page = PageSeed(before_entry).deserialize(&mut deserializer).ok()?;
    // Nothing but white space may follow the Bundle, as `serde_json::from_str` requires.
    deserializer.end().ok()?;
    Some(page)
}

struct PageSeed<F>(F);

impl<'de, F: FnMut() -> bool> DeserializeSeed<'de> for PageSeed<F> {
    type Value = FastPage;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<FastPage, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de, F: FnMut() -> bool> Visitor<'de> for PageSeed<F> {
    type Value = FastPage;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a Bundle")
    }

    fn visit_map<A: MapAccess<'de>>(mut self, map: A) -> Result<FastPage, A::Error> {
        let mut resource_type: Option<Str<'de>> = None;
        let mut links: Option<Vec<Link<'de>>> = None;
        let mut entries: Option<Vec<FastResource>> = None;
        let before_entry = &mut self.0;
        object(map, |key, map| match key {
            "resourceType" => {
                let resource_type_now = map.next_value::<Str<'de>>()?;
                // `resourceType` comes first in nearly every page: a read's resource (or an
                // OperationOutcome) is declined before any of it is parsed.
                if &*resource_type_now != "Bundle" {
                    return Err(de::Error::custom("not a Bundle"));
                }
                once(&mut resource_type, resource_type_now)
            }
            "link" => once(&mut links, map.next_value()?),
            "entry" => once(
                &mut entries,
                map.next_value_seed(EntriesSeed(&mut *before_entry))?,
            ),
            _ => map.next_value::<IgnoredAny>().map(drop),
        })?;
        if resource_type.is_none() {
            return Err(de::Error::custom("not a FHIR resource"));
        }
        let next = next_url(links.as_deref().unwrap_or_default())
            .map_err(de::Error::custom)?
            .map(|url| url.to_string());
        Ok(FastPage {
            resources: entries.unwrap_or_default(),
            next,
        })
    }
}
