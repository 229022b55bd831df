//! The long form of a card: `GET /cards/{id}`, a small HTML page with the card's full reasoning.
//!
//! A card must be short (issue 17), so everything that does not fit is one click away: the card
//! carries a `links` entry to this page. What the page says (a [`Sheet`]) is captured when the
//! card is issued and kept for `cards.long_form_ttl_s`: in a bounded map in this replica's memory,
//! and, with a store, sealed in the store for the other replicas. The HTML is rendered only when
//! the link is opened: most long forms never are, and rendering (Markdown to HTML, escaping) cost
//! more than the rest of issuing a card.
//!
//! - **The id is the credential.** A browser opening a card link cannot present the EHR's
//!   bearer JWT, so the URL is a capability: 256 random bits, base64url, naming nothing about the
//!   patient. It works until it expires (or, without a store, until the replica restarts).
//! - **Nothing readable at rest.** The page holds chart text (what the records say, their
//!   dates), which the audit store never holds in the clear. So the store gets it *sealed*:
//!   ChaCha20-Poly1305 under a key derived from the id, found by another hash of the id. The id
//!   itself is never stored or logged, so a row can be neither found nor read without the link.
//!   Each key seals one page only, which is why a fixed nonce is safe here.
//! - **Safe to open from an EHR:** `Cache-Control: no-store`, a Content-Security-Policy that
//!   allows no script, no image, no frame, no form and only the page's own inline style (by
//!   hash), `Referrer-Policy: no-referrer` (so the capability never leaks to a guideline site),
//!   and every value HTML-escaped.
//!
//! - **Small at rest.** What the store gets is the sheet packed against the profile's own
//!   words (an LZ4 dictionary, [`pack`]): little more than the chart's facts and references into
//!   the profile, under the profile version that wrote it. A replica without that version says
//!   so on the page rather than render it with other words.
//!
//! The parts, one file each: [`sheet`] what a page says and its HTML, [`html`] the page's
//! Markdown, escaping and headers, [`pack`] a sheet as stored, [`seal`] the ids, the lookup
//! hashes and the sealing.

mod html;
mod pack;
mod seal;
mod sheet;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gravida_cds_hooks::{Card, Link};
use gravida_knowledge::lexicon::long_form_keys;
use gravida_knowledge::{KnowledgeBase, Rendered};
use gravida_store::LongFormRecord;
use time::OffsetDateTime;

use crate::audit::{Audit, SealedLongForm, unix_ms};
use crate::card::LONG_FORM_PATH_PREFIX;
use crate::error::ApiError;

pub use html::response;
pub use seal::is_well_formed;

use html::other_profile_page;
use pack::{Unpacked, pack, unpack};
#[cfg(test)]
use seal::new_id;
use seal::{decode_id, derive, encode_id, new_secret, open, open_legacy, seal_page};
use sheet::Sheet;

/// The label of the link each card carries to its long form.
pub const LINK_LABEL: &str = "Why this card (full reasoning)";

/// Long forms kept by this replica. Cheap to share (`Arc` inside).
#[derive(Debug, Clone)]
pub struct LongForms {
    inner: Arc<Mutex<Kept>>,
    ttl: Duration,
    capacity: usize,
    /// The bytes the kept pages may take, all together (`cards.long_form_max_bytes`).
    max_bytes: usize,
}

#[derive(Debug, Default)]
struct Kept {
    pages: HashMap<String, (Arc<Sheet>, Instant)>,
    /// Ids in the order they were kept: every page has the same lifetime, so the front is both
    /// the oldest and the first to expire.
    order: VecDeque<String>,
    /// The bytes of the pages kept ([`Sheet::bytes`]).
    bytes: usize,
}

impl Kept {
    /// Forgets the oldest page.
    fn drop_front(&mut self) {
        if let Some(front) = self.order.pop_front()
            && let Some((page, _)) = self.pages.remove(&front)
        {
            self.bytes -= page.bytes();
        }
    }
}

impl LongForms {
    pub fn new(ttl: Duration, capacity: usize, max_bytes: usize) -> LongForms {
        LongForms {
            inner: Arc::new(Mutex::new(Kept::default())),
            ttl,
            capacity: capacity.max(1),
            max_bytes,
        }
    }

    /// The pages kept in memory and their bytes (for tests).
    #[cfg(test)]
    fn kept(&self) -> (usize, usize) {
        let kept = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        (kept.pages.len(), kept.bytes)
    }

    /// Keeps `sheet` in memory and returns its new id.
    #[cfg(test)]
    fn keep(&self, sheet: Sheet) -> Option<String> {
        let id = new_id()?;
        self.keep_as(&id, Arc::new(sheet));
        Some(id)
    }

    fn keep_as(&self, id: &str, page: Arc<Sheet>) {
        let now = Instant::now();
        let bytes = page.bytes();
        if bytes > self.max_bytes {
            // Larger than the whole cache: kept in the store only (when there is one).
            tracing::warn!(bytes, "a long form too large to keep in memory");
            return;
        }
        let mut kept = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        // Drop what has expired, then the oldest while at capacity, in pages or in bytes.
        while let Some(front) = kept.order.front() {
            let expired = kept.pages.get(front).is_none_or(|(_, until)| *until <= now);
            let full = kept.pages.len() >= self.capacity || kept.bytes + bytes > self.max_bytes;
            if expired || full {
                kept.drop_front();
            } else {
                break;
            }
        }
        let before = kept.pages.insert(id.to_owned(), (page, now + self.ttl));
        kept.bytes += bytes;
        match before {
            Some((replaced, _)) => kept.bytes -= replaced.bytes(),
            None => kept.order.push_back(id.to_owned()),
        }
    }

    /// The sheet with this id from this replica's memory, unless it expired or was never kept.
    fn get_local(&self, id: &str) -> Option<Arc<Sheet>> {
        let kept = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        kept.pages
            .get(id)
            .filter(|(_, until)| *until > Instant::now())
            .map(|(page, _)| page.clone())
    }

    /// The page with this id, rendered now: from memory, or else (with a store) from the store,
    /// where another replica may have put it. `Ok(None)` when it expired or never existed.
    pub async fn get(
        &self,
        audit: Option<&Audit>,
        kb: &KnowledgeBase,
        id: &str,
        now: OffsetDateTime,
    ) -> Result<Option<String>, ApiError> {
        if let Some(sheet) = self.get_local(id) {
            return Ok(Some(sheet.render()));
        }
        let (Some(audit), Some(secret)) = (audit, decode_id(id)) else {
            return Ok(None);
        };
        let derived = derive(&secret);
        let sealed = match audit
            .read_long_form(&derived.lookup, &derived.legacy_lookup, now)
            .await
        {
            Ok(sealed) => sealed,
            Err(e) => {
                tracing::warn!(error = %e, "a long form could not be read from the store");
                return Err(ApiError::LongFormUnavailable);
            }
        };
        // A row that does not open was not sealed with this id's key: as good as absent.
        let plain = sealed.and_then(|sealed| match sealed {
            SealedLongForm::Current(sealed) => open(&derived.key, &derived.lookup, &sealed),
            SealedLongForm::Legacy(sealed) => open_legacy(&derived, &sealed),
        });
        let Some(plain) = plain else {
            return Ok(None);
        };
        Ok(unpack(&plain, kb).map(|unpacked| match unpacked {
            Unpacked::Page(page) => page,
            Unpacked::OtherProfile(version) => other_profile_page(&version),
        }))
    }

    /// Captures the long form of the rendered card, keeps it, and adds the card's link to it;
    /// with `seal` (a store is configured), also returns it packed against the words of `kb`
    /// (the profile that rendered it) and sealed, for the caller to store with the call's
    /// records. A card whose page cannot be kept (no randomness) gets no link.
    pub fn attach(
        &self,
        seal: bool,
        public_base: &str,
        rendered: &mut Rendered,
        kb: &KnowledgeBase,
        now: OffsetDateTime,
    ) -> Option<LongFormRecord> {
        let Rendered {
            card,
            finding,
            folded,
        } = rendered;
        let expires = now + self.ttl;
        // The full reasoning rides in the card's extension from the renderer to here; the EHR
        // gets the short card and the link, not the long text twice.
        let reasoning = take_reasoning(card);
        let sheet = Sheet::of(card, reasoning, finding, kb.version(), now, expires);
        let secret = new_secret()?;
        let record = if seal {
            let derived = derive(&secret);
            pack(&sheet, kb, &long_form_keys(finding, folded))
                .and_then(|packed| seal_page(&derived.key, &derived.lookup, &packed))
                .map(|sealed| LongFormRecord {
                    lookup: derived.lookup.to_vec(),
                    expires_at_ms: unix_ms(expires),
                    sealed,
                })
        } else {
            None
        };
        let id = encode_id(&secret);
        self.keep_as(&id, Arc::new(sheet));
        card.links.push(Link::absolute(
            LINK_LABEL,
            format!("{public_base}{LONG_FORM_PATH_PREFIX}{id}"),
        ));
        record
    }
}

/// Takes the full reasoning the renderer put in the card's extension
/// ([`gravida_knowledge::render::REASONING_EXTENSION`]) out of it.
fn take_reasoning(card: &mut Card) -> Option<String> {
    let extension = card.extension.as_mut()?;
    match extension.remove(gravida_knowledge::render::REASONING_EXTENSION)? {
        serde_json::Value::String(text) => Some(text),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
