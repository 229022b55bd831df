//! Reading the credentials: from raw `Authorization` header values to a decoded, *not yet
//! trusted* JWT (header, claims, signing input and signature).
//!
//! Nothing here checks a signature or a claim's value; it only refuses what cannot be a
//! CDS Hooks JWT at all, cheaply and before any allocation proportional to an attacker's
//! input: the header count, the scheme, the size cap, the three base64url parts, the JSON.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde_json::Value;

use crate::error::AuthError;

/// The longest accepted bearer token, in bytes. Real CDS Hooks JWTs are well under 2 KiB.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// Picks the bearer token out of all the request's `Authorization` header values.
///
/// Exactly one header is accepted; its scheme must be `Bearer` (any case); the token must
/// be non-empty and at most [`MAX_TOKEN_BYTES`]. An oversized header is refused by its
/// length alone, before it is looked at.
pub fn bearer_token<'a>(authorization: &[&'a [u8]]) -> Result<&'a str, AuthError> {
    let value = match authorization {
        [] => return Err(AuthError::MissingHeader),
        [one] => *one,
        _ => return Err(AuthError::MultipleHeaders),
    };
    // "Bearer " + token: anything longer than that cannot hold an acceptable token.
    if value.len() > MAX_TOKEN_BYTES + "Bearer ".len() + 16 {
        return Err(AuthError::TokenTooLarge {
            max: MAX_TOKEN_BYTES,
        });
    }
    let value = std::str::from_utf8(value).map_err(|_| AuthError::Malformed {
        what: "header is not text",
    })?;
    let value = value.trim();
    let (scheme, rest) = match value.split_once(' ') {
        Some((scheme, rest)) => (scheme, rest),
        None => (value, ""),
    };
    if !scheme.eq_ignore_ascii_case("Bearer") {
        return Err(AuthError::NotBearer);
    }
    let token = rest.trim();
    if token.is_empty() {
        return Err(AuthError::EmptyToken);
    }
    if token.len() > MAX_TOKEN_BYTES {
        return Err(AuthError::TokenTooLarge {
            max: MAX_TOKEN_BYTES,
        });
    }
    Ok(token)
}

/// The JOSE header fields this crate reads. Others are ignored, except `crit`, whose mere
/// presence is recorded (with any value, even `null`, `[]` or a non-array).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Header {
    pub alg: Option<String>,
    pub typ: Option<String>,
    pub kid: Option<String>,
    pub jku: Option<String>,
    #[serde(default, rename = "crit", deserialize_with = "present")]
    pub has_crit: bool,
}

/// `true` for a member that is there at all, whatever its value; with
/// `#[serde(default)]`, an absent member is `false`.
fn present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    serde::de::IgnoredAny::deserialize(deserializer).map(|_| true)
}

/// The claims this crate reads; `sub` and any other claim are ignored. Time claims are
/// kept as JSON values and read by [`numeric_date`], so a string `exp` is a malformed
/// token rather than a missing one.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Claims {
    pub iss: Option<String>,
    pub aud: Option<Value>,
    pub exp: Option<Value>,
    pub nbf: Option<Value>,
    pub iat: Option<Value>,
    pub jti: Option<String>,
    pub tenant: Option<String>,
}

/// A JWT split and decoded, but not verified.
#[derive(Debug)]
pub(crate) struct Unverified<'a> {
    pub header: Header,
    pub claims: Claims,
    /// `base64(header) "." base64(claims)`: the bytes the signature covers.
    pub signing_input: &'a str,
    /// The third part, still base64url (as `jsonwebtoken::crypto::verify` wants it).
    pub signature: &'a str,
}

/// Splits a compact JWS into its three parts and decodes the first two.
pub(crate) fn decode(token: &str) -> Result<Unverified<'_>, AuthError> {
    let mut parts = token.split('.');
    let (Some(header_b64), Some(claims_b64), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(AuthError::Malformed {
            what: "not three dot-separated parts",
        });
    };
    let header_bytes = URL_SAFE_NO_PAD
        .decode(header_b64)
        .map_err(|_| AuthError::Malformed {
            what: "header base64",
        })?;
    let claims_bytes = URL_SAFE_NO_PAD
        .decode(claims_b64)
        .map_err(|_| AuthError::Malformed {
            what: "claims base64",
        })?;
    // The signature is decoded again by jsonwebtoken; checking here keeps a garbled
    // signature a "malformed-token" rather than a "bad-signature". An empty signature
    // (as `alg: none` tokens have) is well-formed here and fails verification later.
    URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| AuthError::Malformed {
            what: "signature base64",
        })?;
    let header: Header =
        serde_json::from_slice(&header_bytes).map_err(|_| AuthError::Malformed {
            what: "header JSON",
        })?;
    let claims: Claims =
        serde_json::from_slice(&claims_bytes).map_err(|_| AuthError::Malformed {
            what: "claims JSON",
        })?;
    let signing_input_len = header_b64.len() + 1 + claims_b64.len();
    Ok(Unverified {
        header,
        claims,
        signing_input: &token[..signing_input_len],
        signature,
    })
}

/// Reads a NumericDate claim (seconds since the epoch, possibly fractional; RFC 7519 §2).
pub(crate) fn numeric_date(value: &Value) -> Result<i64, AuthError> {
    match value {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| {
                n.as_f64()
                    .filter(|f| f.is_finite())
                    .map(|f| f.floor() as i64)
            })
            .ok_or(AuthError::Malformed {
                what: "time claim out of range",
            }),
        _ => Err(AuthError::Malformed {
            what: "time claim is not a number",
        }),
    }
}

/// Whether `aud` (a string or an array of strings) names `audience` exactly.
pub(crate) fn audience_matches(aud: &Value, audience: &str) -> bool {
    match aud {
        Value::String(one) => one == audience,
        Value::Array(many) => many.iter().any(|v| v.as_str() == Some(audience)),
        _ => false,
    }
}

/// At most 80 characters of an untrusted value (a `kid`, `iss` or `jti` from a token not
/// yet verified), for a log line. Log it with `?` so control characters are escaped.
pub(crate) fn clip(value: &str) -> &str {
    match value.char_indices().nth(80) {
        Some((cut, _)) => &value[..cut],
        None => value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_untrusted_value_is_clipped_for_the_log_on_a_character_boundary() {
        assert_eq!(clip("short"), "short");
        let long = "é".repeat(100);
        assert_eq!(clip(&long).chars().count(), 80);
    }

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        assert_eq!(bearer_token(&[b"bEaReR abc.def.ghi"]), Ok("abc.def.ghi"));
    }

    #[test]
    fn a_scheme_without_a_token_is_an_empty_token() {
        assert_eq!(bearer_token(&[b"Bearer"]), Err(AuthError::EmptyToken));
        assert_eq!(bearer_token(&[b"Bearer    "]), Err(AuthError::EmptyToken));
    }

    #[test]
    fn a_token_at_the_cap_passes_transport_and_one_byte_more_does_not() {
        let at_cap = format!("Bearer {}", "a".repeat(MAX_TOKEN_BYTES));
        assert!(bearer_token(&[at_cap.as_bytes()]).is_ok());
        let over = format!("Bearer {}", "a".repeat(MAX_TOKEN_BYTES + 1));
        assert_eq!(
            bearer_token(&[over.as_bytes()]).map_err(|e| e.reason()),
            Err("token-too-large")
        );
    }

    #[test]
    fn aud_may_be_a_string_or_an_array_but_must_match_exactly() {
        let url = "https://cds.example.org/cds-services/x";
        assert!(audience_matches(&Value::String(url.into()), url));
        assert!(audience_matches(&serde_json::json!(["other", url]), url));
        assert!(!audience_matches(&serde_json::json!(["other"]), url));
        assert!(!audience_matches(&Value::String(format!("{url}/")), url));
        assert!(!audience_matches(&serde_json::json!(42), url));
    }

    #[test]
    fn a_crit_member_is_noticed_whatever_its_value_even_null() {
        let token = |header: &str| {
            format!(
                "{}.{}.",
                URL_SAFE_NO_PAD.encode(header),
                URL_SAFE_NO_PAD.encode("{}")
            )
        };
        let has_crit = |header: &str| decode(&token(header)).map(|jwt| jwt.header.has_crit);
        assert_eq!(has_crit(r#"{"alg":"ES384"}"#), Ok(false));
        assert_eq!(has_crit(r#"{"alg":"ES384","crit":null}"#), Ok(true));
        assert_eq!(has_crit(r#"{"alg":"ES384","crit":[]}"#), Ok(true));
        assert_eq!(has_crit(r#"{"alg":"ES384","crit":["exp"]}"#), Ok(true));
        assert_eq!(has_crit(r#"{"alg":"ES384","crit":{"a":[1]}}"#), Ok(true));
        // A duplicate member is not JSON this crate will guess about.
        assert!(has_crit(r#"{"crit":[],"crit":[]}"#).is_err());
    }

    #[test]
    fn a_fractional_numeric_date_is_rounded_down_and_a_string_is_malformed() {
        assert_eq!(numeric_date(&serde_json::json!(10.9)), Ok(10));
        assert!(numeric_date(&serde_json::json!("10")).is_err());
    }
}
