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

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use gravida_cds_hooks::{Card, Link};
use gravida_knowledge::render::LONG_FORM_NAMED;
use gravida_rules::finding::Finding;
use gravida_store::LongFormRecord;
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, UnboundKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::audit::{Audit, unix_ms};
use crate::card::LONG_FORM_PATH_PREFIX;
use crate::error::ApiError;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The label of the link each card carries to its long form.
pub const LINK_LABEL: &str = "Why this card (full reasoning)";

/// The page's one stylesheet, inline and allowed by its hash in the CSP.
const STYLE: &str = "body{font:16px/1.45 system-ui,sans-serif;max-width:44rem;margin:2rem auto;\
padding:0 1rem;color:#1b1b1b}h1{font-size:1.3rem}h2{font-size:1.05rem;margin-top:1.6rem}\
.indicator{display:inline-block;padding:.1rem .5rem;border-radius:.3rem;background:#eee;\
font-size:.85rem;text-transform:uppercase}.critical{background:#f8d7da}.warning{background:#fff3cd}\
.info{background:#d1ecf1}.meta{color:#555;font-size:.85rem}li{margin:.2rem 0}";

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
        id: &str,
        now: OffsetDateTime,
    ) -> Result<Option<String>, ApiError> {
        if let Some(sheet) = self.get_local(id) {
            return Ok(Some(sheet.render()));
        }
        let (Some(audit), Some(secret)) = (audit, decode_id(id)) else {
            return Ok(None);
        };
        let (lookup, key) = derive(&secret);
        let sealed = match audit.read_long_form(&lookup, now).await {
            Ok(sealed) => sealed,
            Err(e) => {
                tracing::warn!(error = %e, "a long form could not be read from the store");
                return Err(ApiError::LongFormUnavailable);
            }
        };
        // A row that does not open was not sealed with this id's key: as good as absent.
        let Some(plain) = sealed.and_then(|sealed| open(&key, &lookup, &sealed)) else {
            return Ok(None);
        };
        Ok(unpack(&plain))
    }

    /// Captures the long form of `card`, keeps it, and adds the card's link to it; with `seal`
    /// (a store is configured), also returns it sealed, for the caller to store with the call's
    /// records. A card whose page cannot be kept (no randomness) gets no link.
    pub fn attach(
        &self,
        seal: bool,
        public_base: &str,
        card: &mut Card,
        finding: &Finding,
        profile_version: &str,
        now: OffsetDateTime,
    ) -> Option<LongFormRecord> {
        let expires = now + self.ttl;
        // The full reasoning rides in the card's extension from the renderer to here; the EHR
        // gets the short card and the link, not the long text twice.
        let reasoning = take_reasoning(card);
        let sheet = Sheet::of(card, reasoning, finding, profile_version, now, expires);
        let secret = new_secret()?;
        let record = if seal {
            let (lookup, key) = derive(&secret);
            serde_json::to_vec(&sheet)
                .ok()
                .and_then(|plain| seal_page(&key, &lookup, &pack(&plain)))
                .map(|sealed| LongFormRecord {
                    lookup,
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

/// The lookup hash (hex) and the sealing key of a long form, both derived from its id's bytes
/// (256 random bits, so one SHA-256 each is a sound derivation), with different prefixes so
/// that neither tells anything about the other.
fn derive(secret: &[u8; 32]) -> (String, [u8; 32]) {
    let hash = |purpose: &[u8]| -> [u8; 32] {
        let mut hasher = Sha256::new();
        hasher.update(purpose);
        hasher.update(secret);
        hasher.finalize().into()
    };
    let lookup = hash(b"gravida long-form lookup v1\0")
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    (lookup, hash(b"gravida long-form key v1\0"))
}

/// The first byte of a packed sheet: what follows is its JSON's length (4 bytes, little-endian)
/// and the JSON, LZ4-compressed. A sealed page that starts with `{` is a sheet's JSON as it is,
/// and one that starts with `<` a page of HTML: what earlier releases sealed (see [`unpack`]).
const LZ4: u8 = b'L';

/// The most bytes a packed sheet may unpack to: far above any long form (they are a few kB, and
/// the renderer bounds what a card names), so that a corrupt row cannot take the memory.
const MAX_SHEET_BYTES: usize = 4 << 20;

/// A sheet's JSON as stored: LZ4-compressed, to about half (a long form is mostly the profile's
/// wording and the records' names and dates). LZ4, not DEFLATE: DEFLATE packed a little tighter
/// but cost about 0.7 M instructions per call (most of it clearing its 300 kB of tables), a
/// quarter of a bare parse of the request; LZ4 costs a few tens of thousands.
fn pack(json: &[u8]) -> Vec<u8> {
    let length = u32::try_from(json.len()).unwrap_or(u32::MAX);
    let mut packed = Vec::with_capacity(5 + json.len() / 2);
    packed.push(LZ4);
    packed.extend(length.to_le_bytes());
    packed.extend(lz4_flex::block::compress(json));
    packed
}

/// The page of what [`pack`] (or an earlier release) sealed: `None` if it does not read.
fn unpack(plain: &[u8]) -> Option<String> {
    match plain.first() {
        Some(&LZ4) => {
            let length: [u8; 4] = plain.get(1..5)?.try_into().ok()?;
            let length = usize::try_from(u32::from_le_bytes(length)).ok()?;
            if length > MAX_SHEET_BYTES {
                return None;
            }
            let json = lz4_flex::block::decompress(plain.get(5..)?, length).ok()?;
            serde_json::from_slice::<Sheet>(&json)
                .ok()
                .map(|sheet| sheet.render())
        }
        // A replica of an earlier release sealed the page itself (HTML), or its sheet's JSON as
        // it is: during a rolling upgrade the kinds of row live side by side, for at most a TTL.
        Some(b'<') => String::from_utf8(plain.to_vec()).ok(),
        _ => serde_json::from_slice::<Sheet>(plain)
            .ok()
            .map(|sheet| sheet.render()),
    }
}

/// Seals `page` under `key`, bound to its lookup hash; base64.
fn seal_page(key: &[u8; 32], lookup: &str, page: &[u8]) -> Option<String> {
    let key = LessSafeKey::new(UnboundKey::new(&CHACHA20_POLY1305, key).ok()?);
    let mut buffer = page.to_vec();
    // Every key seals exactly one page, so the all-zero nonce is never reused under a key.
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key([0; 12]),
        Aad::from(lookup.as_bytes()),
        &mut buffer,
    )
    .ok()?;
    Some(base64::engine::general_purpose::STANDARD.encode(buffer))
}

/// Opens what [`seal_page`] made; `None` if it was not sealed with this key and lookup.
fn open(key: &[u8; 32], lookup: &str, sealed: &str) -> Option<Vec<u8>> {
    let key = LessSafeKey::new(UnboundKey::new(&CHACHA20_POLY1305, key).ok()?);
    let mut buffer = base64::engine::general_purpose::STANDARD
        .decode(sealed)
        .ok()?;
    let plain = key
        .open_in_place(
            Nonce::assume_unique_for_key([0; 12]),
            Aad::from(lookup.as_bytes()),
            &mut buffer,
        )
        .ok()?;
    Some(plain.to_vec())
}

/// 32 random bytes: a long form's id, before encoding.
fn new_secret() -> Option<[u8; 32]> {
    let mut bytes = [0u8; 32];
    match getrandom::getrandom(&mut bytes) {
        Ok(()) => Some(bytes),
        Err(e) => {
            tracing::error!(error = %e, "no randomness for a long-form id: the card has no link");
            None
        }
    }
}

/// A new id: 32 random bytes, base64url without padding (43 characters).
#[cfg(test)]
fn new_id() -> Option<String> {
    new_secret().map(|secret| encode_id(&secret))
}

fn encode_id(secret: &[u8; 32]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret)
}

/// The id's 32 bytes, if it is one of ours in shape.
fn decode_id(id: &str) -> Option<[u8; 32]> {
    if !is_well_formed(id) {
        return None;
    }
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(id)
        .ok()?
        .try_into()
        .ok()
}

/// Whether `id` has the shape of an id we make (so anything else is refused before a lookup).
pub fn is_well_formed(id: &str) -> bool {
    id.len() == 43
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The page as a response, with the headers that make it safe to open from an EHR.
pub fn response(page: String) -> Response {
    let mut response = page.into_response();
    let headers = response.headers_mut();
    // No site may show the page in a frame (`frame-ancestors`, and X-Frame-Options for
    // browsers that predate it): a page of chart text must not be overlaid or clickjacked.
    let csp = format!(
        "default-src 'none'; style-src 'sha256-{}'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        base64::engine::general_purpose::STANDARD.encode(Sha256::digest(STYLE.as_bytes()))
    );
    for (name, value) in [
        (header::CONTENT_TYPE, "text/html; charset=utf-8".to_owned()),
        (header::CACHE_CONTROL, "no-store".to_owned()),
        (header::CONTENT_SECURITY_POLICY, csp),
        (header::REFERRER_POLICY, "no-referrer".to_owned()),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
        (header::X_FRAME_OPTIONS, "DENY".to_owned()),
        (
            header::HeaderName::from_static("x-robots-tag"),
            "noindex".to_owned(),
        ),
    ] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    response
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

/// What a long form says, as plain text: captured from the card and its finding when the card
/// is issued (cheap: a few copies), rendered as HTML by [`Sheet::render`] when the link is opened.
/// It is also what a store seals (as JSON), so any replica renders the same page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Sheet {
    indicator: String,
    summary: String,
    /// The card's detail as shown (Markdown).
    detail: Option<String>,
    /// What did not fit on the card (Markdown).
    reasoning: Option<String>,
    /// The records the card rests on, `(role, resource type, date)`: the first
    /// [`LONG_FORM_NAMED`] of them.
    records: Vec<(String, String, Option<String>)>,
    /// How many more records the card rests on.
    #[serde(default)]
    more_records: usize,
    /// How the pregnancy was dated: `(source, the record's date, the day of GA 0)`.
    dating: Option<(String, Option<String>, String)>,
    /// The card's source, then its other links: `(label, url)`.
    sources: Vec<(String, Option<String>)>,
    suggestions: Vec<String>,
    rule: String,
    profile_version: String,
    issued: String,
    expires: String,
}

impl Sheet {
    /// The sheet of `card` as it is shown (its reasoning already taken out of it).
    fn of(
        card: &Card,
        reasoning: Option<String>,
        finding: &Finding,
        profile_version: &str,
        issued: OffsetDateTime,
        expires: OffsetDateTime,
    ) -> Sheet {
        let stamp = |t: OffsetDateTime| {
            t.replace_nanosecond(0)
                .unwrap_or(t)
                .format(&Rfc3339)
                .unwrap_or_default()
        };
        let records = finding
            .evidence
            .iter()
            .take(LONG_FORM_NAMED)
            .map(|e| {
                (
                    role_name(e.role),
                    e.resource_type.clone(),
                    e.date.map(|d| d.to_string()),
                )
            })
            .collect();
        let dating = finding.dating.as_ref().map(|dating| {
            (
                role_name_of(&format!("{:?}", dating.source)),
                dating.record_date.map(|d| d.to_string()),
                dating.start.to_string(),
            )
        });
        let sources = std::iter::once((card.source.label.clone(), card.source.url.clone()))
            .chain(
                card.links
                    .iter()
                    .filter(|l| l.label != LINK_LABEL)
                    .map(|l| (l.label.clone(), Some(l.url.clone()))),
            )
            .collect();
        Sheet {
            indicator: finding.indicator.as_str().to_owned(),
            summary: card.summary.clone(),
            detail: card.detail.clone(),
            reasoning,
            records,
            more_records: finding.evidence.len().saturating_sub(LONG_FORM_NAMED),
            dating,
            sources,
            suggestions: card.suggestions.iter().map(|s| s.label.clone()).collect(),
            rule: finding.rule.as_str().to_owned(),
            profile_version: profile_version.to_owned(),
            issued: stamp(issued),
            expires: stamp(expires),
        }
    }

    /// About the bytes the sheet holds: what the long-form cache counts against
    /// `cards.long_form_max_bytes`.
    fn bytes(&self) -> usize {
        let text = |s: &str| s.len();
        let maybe = |s: &Option<String>| s.as_deref().map_or(0, str::len);
        std::mem::size_of::<Sheet>()
            + text(&self.indicator)
            + text(&self.summary)
            + maybe(&self.detail)
            + maybe(&self.reasoning)
            + self
                .records
                .iter()
                .map(|(a, b, c)| 72 + a.len() + b.len() + maybe(c))
                .sum::<usize>()
            + self
                .dating
                .as_ref()
                .map_or(0, |(a, b, c)| a.len() + maybe(b) + c.len())
            + self
                .sources
                .iter()
                .map(|(a, b)| 48 + a.len() + maybe(b))
                .sum::<usize>()
            + self.suggestions.iter().map(|s| 24 + s.len()).sum::<usize>()
            + text(&self.rule)
            + text(&self.profile_version)
            + text(&self.issued)
            + text(&self.expires)
    }

    /// The page: summary, the card as shown, the full reasoning (what did not fit on the card),
    /// the records used, the links and source, the suggestions offered, and the profile version.
    /// Every value is escaped; the indicator is one of ours and names a style class.
    fn render(&self) -> String {
        let indicator = match self.indicator.as_str() {
            known @ ("critical" | "warning" | "info") => known,
            _ => "info",
        };
        let mut html = String::with_capacity(4096);
        html.push_str("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">");
        html.push_str("<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">");
        html.push_str("<meta name=\"referrer\" content=\"no-referrer\">");
        html.push_str("<title>Gravida: why this card</title><style>");
        html.push_str(STYLE);
        html.push_str("</style></head><body>");
        html.push_str(&format!(
            "<p><span class=\"indicator {indicator}\">{indicator}</span></p><h1>{}</h1>",
            escape(&self.summary)
        ));
        // The reasoning names the records used, each once with what it says; the page shows
        // that list under its own heading instead of a second list (issue 31 item 5).
        let (reasoning, records_used) = split_records_used(self.reasoning.as_deref());
        if let Some(detail) = &self.detail {
            html.push_str("<h2>The card</h2>");
            html.push_str(&markdown_to_html(card_steps(detail, reasoning.is_some())));
        }
        if let Some(reasoning) = &reasoning {
            html.push_str("<h2>The full reasoning</h2>");
            html.push_str(&markdown_to_html(reasoning));
        }

        let records = &self.records;
        html.push_str("<h2>The records the card rests on</h2>");
        if let Some(used) = records_used {
            html.push_str(&markdown_to_html(used));
        } else {
            html.push_str("<ul>");
            for (role, resource_type, date) in records {
                html.push_str(&format!(
                    "<li>{}: {}, {}</li>",
                    escape(role),
                    escape(gravida_knowledge::render::words::thing(resource_type)),
                    escape(date.as_deref().unwrap_or("no date"))
                ));
            }
            if self.more_records > 0 {
                html.push_str(&format!("<li>and {} more records</li>", self.more_records));
            }
            if records.is_empty() {
                html.push_str("<li>No record: the card is about what is missing.</li>");
            }
            html.push_str("</ul>");
        }
        // Gestational age as the cards write it: the day the pregnancy is dated from is 0w0d.
        if let Some((source, date, start)) = &self.dating {
            html.push_str(&format!(
                "<p>Pregnancy dated by {} (record of {}): 0w0d on {}.</p>",
                escape(source),
                escape(date.as_deref().unwrap_or("no date")),
                escape(start)
            ));
        }

        html.push_str("<h2>Guidelines and sources</h2><ul>");
        for (label, url) in &self.sources {
            html.push_str(&format!("<li>{}</li>", link_html(label, url.as_deref())));
        }
        html.push_str("</ul>");

        if !self.suggestions.is_empty() {
            html.push_str("<h2>Suggestions offered on the card</h2><ul>");
            for label in &self.suggestions {
                html.push_str(&format!("<li>{}</li>", escape(label)));
            }
            html.push_str("</ul>");
        }

        html.push_str(&format!(
            "<p class=\"meta\">Rule {} · knowledge profile {} · issued {} · this page expires {}.</p>",
            escape(&self.rule),
            escape(&self.profile_version),
            escape(&self.issued),
            escape(&self.expires)
        ));
        // The reasoning closes with the profile's disclaimer; the page says it only when there
        // is no reasoning to say it (each disclaimer once).
        if reasoning.is_none() {
            html.push_str("<p class=\"meta\">Advice for the clinician, not a diagnosis.</p>");
        }
        html.push_str(
            "<p class=\"meta\">This page is not cached, and its link stops working when it \
             expires.</p></body></html>",
        );
        html
    }
}

/// What the page repeats of the card: its steps. The card's **Why** and its closing disclaimer
/// are said again, in full, by the reasoning below them, so with a reasoning they are left out:
/// the page states each record and each disclaimer once (issue 31 item 5).
fn card_steps(detail: &str, with_reasoning: bool) -> &str {
    const WHY: &str = "**Why.**";
    match detail.find(WHY) {
        Some(at) if with_reasoning && at > 0 => detail[..at].trim_end(),
        _ => detail,
    }
}

/// The reasoning without its "Records used: …" paragraph, and that paragraph.
fn split_records_used(reasoning: Option<&str>) -> (Option<String>, Option<&str>) {
    const OPENING: &str = "Records used: ";
    let Some(reasoning) = reasoning else {
        return (None, None);
    };
    let start = reasoning
        .find(&format!("\n\n{OPENING}"))
        .map(|i| i + 2)
        .or_else(|| reasoning.starts_with(OPENING).then_some(0));
    let Some(start) = start else {
        return (Some(reasoning.to_owned()), None);
    };
    let end = reasoning[start..]
        .find("\n\n")
        .map_or(reasoning.len(), |i| start + i);
    let rest = format!("{}{}", reasoning[..start].trim_end(), &reasoning[end..]);
    (Some(rest), Some(&reasoning[start..end]))
}

/// A link, if its URL is http(s); otherwise the label alone.
fn link_html(label: &str, url: Option<&str>) -> String {
    match url {
        Some(url) if url.starts_with("https://") || url.starts_with("http://") => format!(
            "<a href=\"{}\" rel=\"noopener noreferrer\" target=\"_blank\">{}</a>",
            escape(url),
            escape(label)
        ),
        _ => escape(label),
    }
}

/// `PregnancyEvidence` → `pregnancy evidence`: the engine's role names, read aloud. (Written
/// from the `Debug` name, so a role added to the engine needs nothing here.)
fn role_name(role: gravida_rules::finding::Role) -> String {
    role_name_of(&format!("{role:?}"))
}

fn role_name_of(debug: &str) -> String {
    let mut words: Vec<String> = Vec::new();
    for c in debug.chars() {
        match words.last_mut() {
            Some(word) if !c.is_ascii_uppercase() => word.push(c),
            _ => words.push(c.to_string()),
        }
    }
    words
        .iter()
        .map(|word| match word.as_str() {
            // Abbreviations clinicians write in capitals (or as hCG).
            "Lmp" => "LMP".to_owned(),
            "Edd" => "EDD".to_owned(),
            "Art" => "ART".to_owned(),
            "Hcg" => "hCG".to_owned(),
            "Rh" => "Rh".to_owned(),
            "Ga" => "gestational-age".to_owned(),
            other => other.to_ascii_lowercase(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Escapes text for HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        push_escaped(&mut out, c);
    }
    out
}

fn push_escaped(out: &mut String, c: char) {
    match c {
        '&' => out.push_str("&amp;"),
        '<' => out.push_str("&lt;"),
        '>' => out.push_str("&gt;"),
        '"' => out.push_str("&quot;"),
        '\'' => out.push_str("&#39;"),
        _ => out.push(c),
    }
}

/// The card detail's Markdown, as far as cards use it: paragraphs, `- ` list items, `**bold**`,
/// `*emphasis*` and backslash escapes. Everything else is text, escaped; no link, image or HTML
/// from the detail becomes live (chart text in it is escaped for CommonMark already).
fn markdown_to_html(markdown: &str) -> String {
    let mut html = String::new();
    let mut in_list = false;
    for block in markdown.split("\n\n") {
        for line in block.lines() {
            let line = line.trim_end();
            if let Some(item) = line.strip_prefix("- ").or_else(|| line.strip_prefix("* ")) {
                if !in_list {
                    html.push_str("<ul>");
                    in_list = true;
                }
                html.push_str(&format!("<li>{}</li>", inline(item)));
            } else {
                if in_list {
                    html.push_str("</ul>");
                    in_list = false;
                }
                if !line.trim().is_empty() {
                    html.push_str(&format!("<p>{}</p>", inline(line)));
                }
            }
        }
        if in_list {
            html.push_str("</ul>");
            in_list = false;
        }
    }
    html
}

/// One line of Markdown: backslash escapes, `**`, `*`; every tag opened is closed.
fn inline(line: &str) -> String {
    let mut out = String::new();
    let (mut strong, mut em) = (false, false);
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek().is_some_and(|n| n.is_ascii_punctuation()) => {
                if let Some(n) = chars.next() {
                    push_escaped(&mut out, n);
                }
            }
            '*' if chars.peek() == Some(&'*') => {
                chars.next();
                out.push_str(if strong { "</strong>" } else { "<strong>" });
                strong = !strong;
            }
            '*' => {
                out.push_str(if em { "</em>" } else { "<em>" });
                em = !em;
            }
            _ => push_escaped(&mut out, c),
        }
    }
    if em {
        out.push_str("</em>");
    }
    if strong {
        out.push_str("</strong>");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_from_the_chart_cannot_become_html_or_a_link() {
        let html = markdown_to_html(
            "**Why**: \"<script>x</script>\" \\[Re-enter your password\\](https://evil.example)\n\n- one *two*",
        );
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("<a "), "{html}");
        assert!(html.contains("<strong>Why</strong>"), "{html}");
        assert!(html.contains("<li>one <em>two</em></li>"), "{html}");
    }

    fn sheet(summary: &str) -> Sheet {
        Sheet {
            indicator: "warning".into(),
            summary: summary.into(),
            detail: Some("**Why**: bleeding at 12w0d".into()),
            reasoning: None,
            records: vec![(
                "bleed".into(),
                "Condition".into(),
                Some("2026-12-01".into()),
            )],
            more_records: 0,
            dating: None,
            sources: vec![(
                "ACOG <PB 200>".into(),
                Some("https://www.acog.org/x".into()),
            )],
            suggestions: vec!["Order TVUS".into()],
            rule: "R2".into(),
            profile_version: "default@abc".into(),
            issued: "2026-12-03T10:00:00Z".into(),
            expires: "2026-12-03T10:30:00Z".into(),
        }
    }

    #[test]
    fn a_sheet_sealed_as_json_renders_the_same_page_as_the_sheet_kept_in_memory() {
        let kept = sheet("Bleeding <at> 12w0d");
        let json = serde_json::to_string(&kept).unwrap();
        let opened: Sheet = serde_json::from_str(&json).unwrap();
        assert_eq!(opened.render(), kept.render());
        let page = kept.render();
        assert!(
            page.contains("<h1>Bleeding &lt;at&gt; 12w0d</h1>"),
            "{page}"
        );
        assert!(page.contains("ACOG &lt;PB 200&gt;"), "{page}");
        assert!(
            page.contains("<li>bleed: diagnosis, 2026-12-01</li>"),
            "{page}"
        );
    }

    #[test]
    fn a_page_with_reasoning_names_each_record_once_says_the_disclaimer_once_and_writes_0w0d() {
        let mut with = sheet("Bleeding at 12w0d");
        with.reasoning = Some(
            "**Why.** Bleeding.\n\nRecords used: diagnosis 'vaginal bleeding' (2026-12-01).\n\n\
             *Advice for the clinician, not a diagnosis.*"
                .into(),
        );
        with.dating = Some(("LMP".into(), Some("2026-11-09".into()), "2026-09-14".into()));
        let page = with.render();
        assert_eq!(page.matches("vaginal bleeding").count(), 1, "{page}");
        assert!(!page.contains("Condition"), "{page}");
        assert_eq!(page.matches("not a diagnosis").count(), 1, "{page}");
        assert!(page.contains("0w0d on 2026-09-14"), "{page}");
        assert!(!page.contains("gestational age 0"), "{page}");
    }

    #[test]
    fn an_indicator_that_is_not_ours_cannot_inject_a_class_or_markup() {
        let mut odd = sheet("x");
        odd.indicator = "\"><script>".into();
        let page = odd.render();
        assert!(!page.contains("<script>"), "{page}");
        assert!(page.contains("indicator info"), "{page}");
    }

    #[test]
    fn ids_are_long_random_and_url_safe() {
        let a = new_id().unwrap();
        let b = new_id().unwrap();
        assert_ne!(a, b);
        assert!(is_well_formed(&a), "{a}");
        assert!(!is_well_formed("../etc/passwd"));
    }

    #[test]
    fn a_packed_sheet_is_half_its_json_or_less_and_opens_as_the_same_page_as_earlier_rows_do() {
        let mut kept = sheet("Bleeding at 12w0d");
        kept.reasoning = Some(
            "- The bleed is charted at 12w0d.\n- No ultrasound confirms an intrauterine \
             pregnancy.\n- No hCG is charted since the bleed.\n"
                .repeat(6),
        );
        let json = serde_json::to_vec(&kept).unwrap();
        let packed = pack(&json);
        assert!(
            packed.len() * 2 < json.len(),
            "{} of {}",
            packed.len(),
            json.len()
        );
        assert_eq!(unpack(&packed), Some(kept.render()));
        // What earlier releases sealed still opens: the sheet's JSON as it is, or the page.
        assert_eq!(unpack(&json), Some(kept.render()));
        assert_eq!(
            unpack(b"<html>page</html>").as_deref(),
            Some("<html>page</html>")
        );
        assert_eq!(unpack(b"L\x05\0\0\0not lz4"), None);
        assert_eq!(unpack(b"L\xff\xff\xff\xff"), None, "too large to unpack");
    }

    #[test]
    fn a_sealed_page_opens_only_with_its_own_id() {
        let secret = new_secret().unwrap();
        let (lookup, key) = derive(&secret);
        let sealed = seal_page(&key, &lookup, b"Bleeding at 10w0d").unwrap();
        assert!(!sealed.contains("Bleeding"));
        assert_eq!(
            open(&key, &lookup, &sealed).as_deref(),
            Some(&b"Bleeding at 10w0d"[..])
        );
        let (other_lookup, other_key) = derive(&new_secret().unwrap());
        assert_eq!(open(&other_key, &lookup, &sealed), None);
        assert_eq!(open(&key, &other_lookup, &sealed), None);
        assert_ne!(lookup, other_lookup);
        assert_eq!(decode_id(&encode_id(&secret)), Some(secret));
    }

    #[test]
    fn the_oldest_page_goes_first_when_the_map_is_full() {
        let forms = LongForms::new(Duration::from_secs(60), 2, usize::MAX);
        let first = forms.keep(sheet("one")).unwrap();
        let second = forms.keep(sheet("two")).unwrap();
        let third = forms.keep(sheet("three")).unwrap();
        assert!(forms.get_local(&first).is_none());
        assert_eq!(forms.get_local(&second).unwrap().summary, "two");
        assert_eq!(forms.get_local(&third).unwrap().summary, "three");
    }

    #[test]
    fn the_oldest_pages_go_first_when_the_kept_bytes_would_pass_the_bound() {
        let page = |summary: &str| {
            let mut s = sheet(summary);
            s.reasoning = Some("x".repeat(10_000));
            s
        };
        let one = page("one").bytes();
        // Room for two pages and a half.
        let forms = LongForms::new(Duration::from_secs(60), 1_000, one * 5 / 2);
        let ids: Vec<String> = ["a", "b", "c", "d"]
            .iter()
            .map(|s| forms.keep(page(s)).unwrap())
            .collect();
        let (pages, bytes) = forms.kept();
        assert_eq!(pages, 2);
        assert!(bytes <= one * 5 / 2, "{bytes} bytes kept");
        assert!(forms.get_local(&ids[0]).is_none() && forms.get_local(&ids[1]).is_none());
        assert_eq!(forms.get_local(&ids[3]).unwrap().summary, "d");
        // A page larger than the whole bound is not kept at all, and evicts nothing.
        let mut huge = page("huge");
        huge.reasoning = Some("x".repeat(one * 3));
        let huge = forms.keep(huge).unwrap();
        assert!(forms.get_local(&huge).is_none());
        assert_eq!(forms.kept().0, 2);
    }

    #[test]
    fn role_names_are_read_aloud() {
        assert_eq!(role_name_of("PregnancyEvidence"), "pregnancy evidence");
        assert_eq!(role_name_of("Bleed"), "bleed");
        assert_eq!(role_name_of("Lmp"), "LMP");
        assert_eq!(role_name_of("ChartedEdd"), "charted EDD");
        assert_eq!(role_name_of("RhType"), "Rh type");
        assert_eq!(role_name_of("GaObservation"), "gestational-age observation");
    }
}
