//! A sheet as the store keeps it (before sealing): packed small, and read back whatever an
//! earlier release packed.

use super::sheet::Sheet;

/// The first byte of a packed sheet: what follows is its JSON's length (4 bytes, little-endian)
/// and the JSON, LZ4-compressed. A sealed page that starts with `{` is a sheet's JSON as it is,
/// and one that starts with `<` a page of HTML: what earlier releases sealed (see [`unpack`]).
pub(super) const LZ4: u8 = b'L';

/// The most bytes a packed sheet may unpack to: far above any long form (they are a few kB, and
/// the renderer bounds what a card names), so that a corrupt row cannot take the memory.
pub(super) const MAX_SHEET_BYTES: usize = 4 << 20;

/// A sheet's JSON as stored: LZ4-compressed, to about half (a long form is mostly the profile's
/// wording and the records' names and dates). LZ4, not DEFLATE: DEFLATE packed a little tighter
/// but cost about 0.7 M instructions per call (most of it clearing its 300 kB of tables), a
/// quarter of a bare parse of the request; LZ4 costs a few tens of thousands.
pub(super) fn pack(json: &[u8]) -> Vec<u8> {
    let length = u32::try_from(json.len()).unwrap_or(u32::MAX);
    let mut packed = Vec::with_capacity(5 + json.len() / 2);
    packed.push(LZ4);
    packed.extend(length.to_le_bytes());
    packed.extend(lz4_flex::block::compress(json));
    packed
}

/// The page of what [`pack`] (or an earlier release) sealed: `None` if it does not read.
pub(super) fn unpack(plain: &[u8]) -> Option<String> {
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
