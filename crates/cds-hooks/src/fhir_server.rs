//! The `fhirServer` of a hook request, parsed and checked once, when the request is read.
//!
//! Everything downstream (the fetch client, the issuer allow-list) takes the checked [`Url`]:
//! https, or http on loopback only; no user name or password; no query or fragment; normalised to
//! end with `/`. A request that breaks the policy is refused with [`ServerUrlError`] (403: the
//! caller named a server it may not use), one that is not a URL at all with a 400.

use std::net::IpAddr;

use thiserror::Error;
use url::{Host, Url};

/// Why a `fhirServer` value is refused. The server answers 403.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ServerUrlError {
    #[error("fhirServer is not an absolute URL")]
    Invalid,
    #[error("fhirServer must use https (http is allowed on loopback only)")]
    NotHttps,
    #[error("fhirServer must not contain a user name or password")]
    Userinfo,
    #[error("fhirServer must not contain a query or fragment")]
    QueryOrFragment,
}

/// Checks a `fhirServer` value from a hook request and normalises it to end with `/`.
///
/// `https` is required unless the host is a loopback address (127.0.0.0/8, ::1, `localhost`),
/// where `http` is allowed for development and tests. Which servers an issuer may name is checked
/// elsewhere (the issuer allow-list, `gravida_auth::Verifier::fhir_server_allowed`).
pub fn check_fhir_server(raw: &str) -> Result<Url, ServerUrlError> {
    let url = Url::parse(raw.trim()).map_err(|_| ServerUrlError::Invalid)?;
    if url.cannot_be_a_base() || url.host().is_none() {
        return Err(ServerUrlError::Invalid);
    }
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&url) => {}
        _ => return Err(ServerUrlError::NotHttps),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ServerUrlError::Userinfo);
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(ServerUrlError::QueryOrFragment);
    }
    Ok(with_trailing_slash(&url))
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

fn with_trailing_slash(base: &Url) -> Url {
    let mut base = base.clone();
    if !base.path().ends_with('/') {
        let path = format!("{}/", base.path());
        base.set_path(&path);
    }
    base
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fhir_server_urls_are_checked_and_normalised() {
        let ok = [
            (
                "https://fhir.example.org/R4",
                "https://fhir.example.org/R4/",
            ),
            (
                "https://fhir.example.org/R4/",
                "https://fhir.example.org/R4/",
            ),
            ("http://localhost:8080/fhir", "http://localhost:8080/fhir/"),
            ("http://127.0.0.2/fhir", "http://127.0.0.2/fhir/"),
            ("http://[::1]:9000", "http://[::1]:9000/"),
        ];
        for (raw, expected) in ok {
            assert_eq!(
                check_fhir_server(raw).map(|url| url.to_string()),
                Ok(expected.to_owned()),
                "{raw}"
            );
        }
        let bad = [
            ("http://fhir.example.org/R4", ServerUrlError::NotHttps),
            ("http://10.0.0.1/fhir", ServerUrlError::NotHttps),
            (
                "http://localhost.evil.example/fhir",
                ServerUrlError::NotHttps,
            ),
            ("ftp://fhir.example.org/", ServerUrlError::NotHttps),
            (
                "https://user:pw@fhir.example.org/R4",
                ServerUrlError::Userinfo,
            ),
            (
                "https://fhir.example.org/R4?x=1",
                ServerUrlError::QueryOrFragment,
            ),
            (
                "https://fhir.example.org/R4#top",
                ServerUrlError::QueryOrFragment,
            ),
            ("fhir.example.org/R4", ServerUrlError::Invalid),
            ("mailto:someone@example.org", ServerUrlError::Invalid),
            ("", ServerUrlError::Invalid),
        ];
        for (raw, expected) in bad {
            assert_eq!(check_fhir_server(raw), Err(expected), "{raw}");
        }
    }
}
