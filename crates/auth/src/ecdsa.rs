//! ECDSA signature malleability, for tests: which half of the curve order an ES256 or ES384
//! signature's `s` lies in, and the twin with the other `s`.
//!
//! An ECDSA signature `(r, s)` has a twin `(r, n - s)` (`n` the curve order) that verifies
//! just as well, so anyone holding a token can mint a second, different-looking one
//! without the key. The verifier accepts both forms (standard signers such as jsrsasign,
//! PyJWT, `jose` and OpenSSL give a "high" `s > n / 2` about half the time); the twin keeps
//! the original's `iss` and `jti`, so the replay guard refuses whichever comes second.
//! Tests use this module to prove both halves are accepted and the twin is refused as a
//! replay. A JWS carries the signature as the fixed-width big-endian `r || s` (RFC 7518 §3.4).

use jsonwebtoken::Algorithm;

/// The order `n` of the P-256 group, big-endian (SEC 2 §2.4.2; p256 0.13 `ORDER_HEX`).
const P256_ORDER: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];

/// The order `n` of the P-384 group, big-endian (SEC 2 §2.5.1; p384 0.13 `ORDER_HEX`).
const P384_ORDER: [u8; 48] = [
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xc7, 0x63, 0x4d, 0x81, 0xf4, 0x37, 0x2d, 0xdf,
    0x58, 0x1a, 0x0d, 0xb2, 0x48, 0xb0, 0xa7, 0x7a, 0xec, 0xec, 0x19, 0x6a, 0xcc, 0xc5, 0x29, 0x73,
];

/// The curve order for an ECDSA algorithm; `None` for any other algorithm.
fn order(alg: Algorithm) -> Option<&'static [u8]> {
    match alg {
        Algorithm::ES256 => Some(&P256_ORDER),
        Algorithm::ES384 => Some(&P384_ORDER),
        _ => None,
    }
}

/// Whether `signature` (the decoded JWS signature bytes) is an ECDSA signature for `alg`
/// whose `s` is above `n / 2` (a "high-S" signature). Non-ECDSA algorithms and signatures
/// of the wrong length answer `false`.
pub(crate) fn is_high_s(alg: Algorithm, signature: &[u8]) -> bool {
    let Some(n) = order(alg) else {
        return false;
    };
    if signature.len() != 2 * n.len() {
        return false;
    }
    let s = &signature[n.len()..];
    // n is odd, so s > floor(n / 2) exactly when 2s > n, i.e. when s > n - s (or s >= n).
    match subtract(n, s) {
        Some(n_minus_s) => s > n_minus_s.as_slice(),
        None => true,
    }
}

/// `signature` with `s` replaced by `n - s`: the twin that still verifies. `None` for a
/// non-ECDSA algorithm, a wrong length, or `s >= n`.
pub(crate) fn flip_s(alg: Algorithm, signature: &[u8]) -> Option<Vec<u8>> {
    let n = order(alg)?;
    if signature.len() != 2 * n.len() {
        return None;
    }
    let (r, s) = signature.split_at(n.len());
    let n_minus_s = subtract(n, s)?;
    let mut twin = r.to_vec();
    twin.extend_from_slice(&n_minus_s);
    Some(twin)
}

/// `a - b` for equal-width big-endian unsigned integers; `None` if `b > a`.
fn subtract(a: &[u8], b: &[u8]) -> Option<Vec<u8>> {
    if a.len() != b.len() || b > a {
        return None;
    }
    let mut out = vec![0u8; a.len()];
    let mut borrow = 0u16;
    for i in (0..a.len()).rev() {
        let minuend = u16::from(a[i]);
        let subtrahend = u16::from(b[i]) + borrow;
        if minuend >= subtrahend {
            out[i] = (minuend - subtrahend) as u8;
            borrow = 0;
        } else {
            out[i] = (minuend + 256 - subtrahend) as u8;
            borrow = 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `r || s` for P-256 with `r = 1` and the given `s`.
    fn p256_signature(s: &[u8; 32]) -> Vec<u8> {
        let mut signature = vec![0u8; 31];
        signature.push(1);
        signature.extend_from_slice(s);
        signature
    }

    #[test]
    fn s_at_half_the_order_is_low_and_one_more_is_high() {
        // floor(n / 2) for P-256 (n shifted right one bit), and floor(n / 2) + 1.
        let mut half = [0u8; 32];
        let mut carry = 0u8;
        for (out, byte) in half.iter_mut().zip(P256_ORDER) {
            *out = (byte >> 1) | (carry << 7);
            carry = byte & 1;
        }
        let mut above = half;
        above[31] += 1; // the last byte of floor(n / 2) is 0xa8: no carry.
        assert!(!is_high_s(Algorithm::ES256, &p256_signature(&half)));
        assert!(is_high_s(Algorithm::ES256, &p256_signature(&above)));
        assert!(is_high_s(Algorithm::ES256, &p256_signature(&P256_ORDER)));
        assert!(!is_high_s(Algorithm::ES256, &p256_signature(&[0u8; 32])));
    }

    #[test]
    fn flipping_s_twice_gives_back_the_signature_and_changes_its_height() {
        let mut s = [0u8; 32];
        s[31] = 7;
        let low = p256_signature(&s);
        let Some(high) = flip_s(Algorithm::ES256, &low) else {
            panic!("s = 7 can be flipped");
        };
        assert!(!is_high_s(Algorithm::ES256, &low));
        assert!(is_high_s(Algorithm::ES256, &high));
        assert_eq!(flip_s(Algorithm::ES256, &high), Some(low));
    }

    #[test]
    fn only_ecdsa_signatures_of_the_right_length_are_judged() {
        let all_ones = [0xffu8; 96];
        assert!(is_high_s(Algorithm::ES384, &all_ones));
        assert!(!is_high_s(Algorithm::ES256, &all_ones));
        assert!(!is_high_s(Algorithm::RS384, &all_ones));
        assert_eq!(flip_s(Algorithm::RS256, &all_ones[..64]), None);
    }
}
