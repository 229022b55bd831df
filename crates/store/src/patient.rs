//! The keyed hash that stands in for a patient id in the audit trail.
//!
//! HMAC-SHA256 under a secret key: the same patient always gets the same hash (so a
//! governance review can count patients), but without the key nobody can test a guessed id
//! against it, as they could with a plain hash of a short id. The key comes from settings, or
//! from a file that is created with 32 random bytes on first run.

use std::fmt;
use std::path::Path;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::StoreError;

/// Hashes patient ids under one key. `Debug` never shows the key.
///
/// It keeps the HMAC already keyed (the key's inner and outer blocks hashed once, at start-up)
/// and clones it for each id: HMAC-SHA256 of a short id is then two SHA-256 blocks, not four.
#[derive(Clone)]
pub struct PatientHasher {
    keyed: Hmac<Sha256>,
}

impl PatientHasher {
    /// A hasher with this key (any length; 32 random bytes is right).
    pub fn new(key: &[u8]) -> PatientHasher {
        // `new_from_slice` accepts a key of any length for HMAC: this cannot fail.
        let keyed = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
        PatientHasher { keyed }
    }

    /// Reads the key from `path`, or creates the file with a fresh random key. Returns the
    /// hasher and whether the key was just created.
    pub fn from_file_or_create(path: &Path) -> Result<(PatientHasher, bool), StoreError> {
        let failed = |message: String| StoreError::PatientKey {
            path: path.display().to_string(),
            message,
        };
        match std::fs::read(path) {
            Ok(key) if key.len() >= 16 => return Ok((PatientHasher::new(&key), false)),
            Ok(_) => return Err(failed("shorter than 16 bytes".to_owned())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(failed(e.to_string())),
        }
        let mut key = [0u8; 32];
        getrandom::getrandom(&mut key).map_err(|e| failed(e.to_string()))?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| failed(e.to_string()))?;
        }
        write_private(path, &key).map_err(|e| failed(e.to_string()))?;
        Ok((PatientHasher::new(&key), true))
    }

    /// The hex HMAC-SHA256 of `patient_id`.
    pub fn hash(&self, patient_id: &str) -> String {
        self.hash_parts(&[patient_id.as_bytes()])
    }

    /// The hex HMAC-SHA256 of `parts` joined (a domain prefix and an id, say), without joining
    /// them first.
    pub fn hash_parts(&self, parts: &[&[u8]]) -> String {
        let mut mac = self.keyed.clone();
        for part in parts {
            mac.update(part);
        }
        hex(&mac.finalize().into_bytes())
    }
}

/// `bytes` in lowercase hex. A table lookup per half-byte: formatting each byte with
/// `format!("{b:02x}")` cost an allocation and a formatter call per byte, about 25,000
/// instructions per hook call across the hashes a card record carries.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        text.push(char::from(DIGITS[usize::from(b >> 4)]));
        text.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    text
}

impl fmt::Debug for PatientHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PatientHasher(<key redacted>)")
    }
}

/// Writes a new file readable by its owner only (where the platform has permissions).
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(bytes)
}
