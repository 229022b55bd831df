//! A long form's id (the link's capability), the lookup hash and key derived from it, and the
//! sealing of what the store keeps.

use base64::Engine as _;
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, UnboundKey};
use sha2::{Digest, Sha256};

/// What a long form's id gives: where its row is, and the key that opens it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Derived {
    /// The row's key: the first 16 bytes of the lookup hash (128 bits: no two ids meet).
    pub(super) lookup: [u8; 16],
    /// The whole lookup hash as hex: the key of a row the release before wrote.
    pub(super) legacy_lookup: String,
    pub(super) key: [u8; 32],
}

/// The lookup hash and the sealing key of a long form, both derived from its id's bytes (256
/// random bits, so one SHA-256 each is a sound derivation), with different prefixes so that
/// neither tells anything about the other.
pub(super) fn derive(secret: &[u8; 32]) -> Derived {
    let hash = |purpose: &[u8]| -> [u8; 32] {
        let mut hasher = Sha256::new();
        hasher.update(purpose);
        hasher.update(secret);
        hasher.finalize().into()
    };
    let full = hash(b"gravida long-form lookup v1\0");
    let mut lookup = [0u8; 16];
    lookup.copy_from_slice(&full[..16]);
    Derived {
        lookup,
        legacy_lookup: gravida_store::hex(&full),
        key: hash(b"gravida long-form key v1\0"),
    }
}

/// Seals `page` under `key`, bound to its lookup (`lookup`, the associated data).
pub(super) fn seal_page(key: &[u8; 32], lookup: &[u8], page: &[u8]) -> Option<Vec<u8>> {
    let key = LessSafeKey::new(UnboundKey::new(&CHACHA20_POLY1305, key).ok()?);
    let mut buffer = page.to_vec();
    // Every key seals exactly one page, so the all-zero nonce is never reused under a key.
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key([0; 12]),
        Aad::from(lookup),
        &mut buffer,
    )
    .ok()?;
    Some(buffer)
}

/// Opens what [`seal_page`] made; `None` if it was not sealed with this key and lookup.
pub(super) fn open(key: &[u8; 32], lookup: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
    let key = LessSafeKey::new(UnboundKey::new(&CHACHA20_POLY1305, key).ok()?);
    let mut buffer = sealed.to_vec();
    let plain = key
        .open_in_place(
            Nonce::assume_unique_for_key([0; 12]),
            Aad::from(lookup),
            &mut buffer,
        )
        .ok()?;
    Some(plain.to_vec())
}

/// Opens a row the release before sealed: base64, bound to the hex lookup hash.
pub(super) fn open_legacy(derived: &Derived, sealed: &str) -> Option<Vec<u8>> {
    let sealed = base64::engine::general_purpose::STANDARD
        .decode(sealed)
        .ok()?;
    open(&derived.key, derived.legacy_lookup.as_bytes(), &sealed)
}

/// 32 random bytes: a long form's id, before encoding.
pub(super) fn new_secret() -> Option<[u8; 32]> {
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
pub(super) fn new_id() -> Option<String> {
    new_secret().map(|secret| encode_id(&secret))
}

pub(super) fn encode_id(secret: &[u8; 32]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret)
}

/// The id's 32 bytes, if it is one of ours in shape.
pub(super) fn decode_id(id: &str) -> Option<[u8; 32]> {
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
