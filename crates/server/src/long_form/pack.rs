//! A sheet as the store keeps it (before sealing): packed against the profile's words, and read
//! back whatever an earlier release packed.
//!
//! A long form is mostly the profile's wording around a few facts from the chart. So a sheet is
//! stored as its JSON compressed by LZ4 with a *dictionary*: the profile's words for the card's
//! rule, the rules folded into it and its finding's modifiers
//! ([`gravida_knowledge::lexicon`]), then the sheet's own JSON keys. What is stored is then
//! little more than the facts and back-references into the profile; the profile's text is not
//! stored again for every card. The row names the profile version and the keys it was packed
//! against, and opens only under that version: the dictionary is the profile's text, and
//! another version's text would read back as other words. A replica that does not have that
//! version loaded (the profile changed since) says so on the page rather than guess.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use gravida_knowledge::KnowledgeBase;

use super::sheet::Sheet;

/// The first byte of a sheet packed against the profile's words: then the profile version
/// (2 bytes of length, little-endian, and its text), the keys of the words, comma-separated
/// (the same), a checksum of the dictionary (4 bytes), the JSON's length (4 bytes) and the JSON,
/// LZ4-compressed with the words as its dictionary.
///
/// The dictionary is made by code (which words, in which order) as well as by the profile, so
/// the same profile version under another release could make other bytes: the checksum tells,
/// and such a row is refused rather than read with the wrong words.
pub(super) const WORDS: u8 = b'W';

/// The first byte of a sheet packed by the release before: the JSON's length (4 bytes) and the
/// JSON, LZ4-compressed alone. A sealed page that starts with `{` is a sheet's JSON as it is,
/// and one that starts with `<` a page of HTML: what earlier releases still sealed (see
/// [`unpack`]).
pub(super) const LZ4: u8 = b'L';

/// The most bytes a packed sheet may unpack to: far above any long form (they are a few kB, and
/// the renderer bounds what a card names), so that a corrupt row cannot take the memory.
pub(super) const MAX_SHEET_BYTES: usize = 4 << 20;

/// Words every sheet repeats whatever its rule: the resource types and the roles its records
/// are named by. (Its JSON keys are added from the sheet itself, [`Sheet::skeleton`].)
const SHEET_WORDS: &str = "Condition Observation DiagnosticReport Procedure Encounter \
MedicationRequest MedicationStatement pregnancy evidence bleed dating LMP charted EDD \
ultrasound hCG Rh type intrauterine pregnancy risk factor vital sign T00:00:00Z";

/// What a sealed row opened to.
#[derive(Debug, PartialEq)]
pub(super) enum Unpacked {
    /// The page, rendered.
    Page(String),
    /// Packed under a profile version this replica does not have loaded (or by a release that
    /// made that version's words into other bytes): which version.
    OtherProfile(String),
}

/// The dictionary of a sheet packed under `kb` with the words of `keys`. LZ4 reaches back at
/// most 64 KiB: the sheet's own keys go last, nearest.
fn dictionary(kb: &KnowledgeBase, keys: &[&str]) -> Vec<u8> {
    let mut words = kb.long_form_words(keys);
    words.extend_from_slice(SHEET_WORDS.as_bytes());
    words.extend_from_slice(Sheet::skeleton());
    words
}

/// A dictionary, the profile version it was made under, and its [`checksum`].
struct Dictionary {
    version: String,
    words: Vec<u8>,
    checksum: u32,
}

/// The most dictionaries kept: one per set of keys (a card's rule, the rules folded into it and
/// its modifiers), so a handful in practice.
const DICTIONARIES_KEPT: usize = 64;

/// The dictionary of `keys` (their text, comma-separated, is `keys_text`) under `kb`, made once
/// and then kept: building it and its checksum cost about 40,000 instructions per card, for
/// the same few kB every time.
fn dictionary_of(kb: &KnowledgeBase, keys_text: &str, keys: &[&str]) -> Arc<Dictionary> {
    /// By the keys' text; each made under the profile version it names. A replica runs one
    /// profile version, so the lookup is by a borrowed key, with nothing allocated.
    type Kept = HashMap<String, Arc<Dictionary>>;
    static KEPT: LazyLock<Mutex<Kept>> = LazyLock::new(Mutex::default);
    let found = KEPT
        .lock()
        .ok()
        .and_then(|kept| kept.get(keys_text).cloned());
    if let Some(found) = found.filter(|found| found.version == kb.version()) {
        return found;
    }
    let words = dictionary(kb, keys);
    let made = Arc::new(Dictionary {
        version: kb.version().to_owned(),
        checksum: checksum(&words),
        words,
    });
    if let Ok(mut kept) = KEPT.lock() {
        if kept.len() >= DICTIONARIES_KEPT {
            kept.clear();
        }
        kept.insert(keys_text.to_owned(), made.clone());
    }
    made
}

/// `sheet` as stored: its JSON, compressed against the words of `keys` in `kb` (the profile
/// that rendered its card). LZ4, not DEFLATE: DEFLATE cost about 0.7 M instructions per call
/// (most of it clearing its 300 kB of tables); LZ4 with a dictionary of a few kB costs a few
/// tens of thousands.
pub(super) fn pack(sheet: &Sheet, kb: &KnowledgeBase, keys: &[&str]) -> Option<Vec<u8>> {
    let json = serde_json::to_vec(sheet).ok()?;
    let version = kb.version().as_bytes();
    let keys_text = keys.join(",");
    let mut packed = Vec::with_capacity(16 + version.len() + keys_text.len() + json.len() / 4);
    packed.push(WORDS);
    packed.extend(u16::try_from(version.len()).ok()?.to_le_bytes());
    packed.extend(version);
    packed.extend(u16::try_from(keys_text.len()).ok()?.to_le_bytes());
    packed.extend(keys_text.as_bytes());
    let dictionary = dictionary_of(kb, &keys_text, keys);
    packed.extend(dictionary.checksum.to_le_bytes());
    packed.extend(u32::try_from(json.len()).ok()?.to_le_bytes());
    packed.extend(lz4_flex::block::compress_with_dict(
        &json,
        &dictionary.words,
    ));
    Some(packed)
}

/// FNV-1a over the dictionary, folded to 32 bits: enough to tell one dictionary from another
/// (the row is authenticated by its seal; this only guards against a release that builds the
/// words differently), and a few thousand instructions where SHA-256 would take tens.
fn checksum(bytes: &[u8]) -> u32 {
    let hash = bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    (hash ^ (hash >> 32)) as u32
}

/// A field of 2 bytes of length (little-endian) and its bytes, from the front of `rest`.
fn field<'a>(rest: &mut &'a [u8]) -> Option<&'a [u8]> {
    let length = usize::from(u16::from_le_bytes(rest.get(..2)?.try_into().ok()?));
    let value = rest.get(2..2 + length)?;
    *rest = &rest[2 + length..];
    Some(value)
}

/// The JSON's length, checked against [`MAX_SHEET_BYTES`], from the front of `rest`.
fn sheet_length(rest: &mut &[u8]) -> Option<usize> {
    let length = usize::try_from(u32::from_le_bytes(rest.get(..4)?.try_into().ok()?)).ok()?;
    *rest = &rest[4..];
    (length <= MAX_SHEET_BYTES).then_some(length)
}

fn render(json: &[u8]) -> Option<Unpacked> {
    serde_json::from_slice::<Sheet>(json)
        .ok()
        .map(|sheet| Unpacked::Page(sheet.render()))
}

/// The page of what [`pack`] (or an earlier release) sealed, read under `kb`: `None` if it does
/// not read.
pub(super) fn unpack(plain: &[u8], kb: &KnowledgeBase) -> Option<Unpacked> {
    let (first, mut rest) = plain.split_first()?;
    match *first {
        WORDS => {
            let version = std::str::from_utf8(field(&mut rest)?).ok()?;
            if version != kb.version() {
                return Some(Unpacked::OtherProfile(version.to_owned()));
            }
            let keys_text = std::str::from_utf8(field(&mut rest)?).ok()?;
            let keys: Vec<&str> = keys_text.split(',').filter(|k| !k.is_empty()).collect();
            let dictionary = dictionary_of(kb, keys_text, &keys);
            let expected = u32::from_le_bytes(rest.get(..4)?.try_into().ok()?);
            rest = &rest[4..];
            if dictionary.checksum != expected {
                return Some(Unpacked::OtherProfile(version.to_owned()));
            }
            let length = sheet_length(&mut rest)?;
            let json =
                lz4_flex::block::decompress_with_dict(rest, length, &dictionary.words).ok()?;
            render(&json)
        }
        LZ4 => {
            let length = sheet_length(&mut rest)?;
            render(&lz4_flex::block::decompress(rest, length).ok()?)
        }
        // A replica of an earlier release sealed the page itself (HTML), or its sheet's JSON as
        // it is: during a rolling upgrade the kinds of row live side by side, for at most a TTL.
        b'<' => String::from_utf8(plain.to_vec()).ok().map(Unpacked::Page),
        _ => render(plain),
    }
}
