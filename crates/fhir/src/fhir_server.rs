//! The `fhirServer` of a hook request, checked once against the deployment's policy.
//!
//! The CDS Hooks layer parses `fhirServer` into a [`Url`] (an absolute http or https URL with a
//! host: the spec's own examples use plain http, so that is all a request must be). Whether
//! Gravida may *contact* that server is decided here, once per call, by [`FhirServer::check`]:
//! https, or plain http on loopback only; no user name or password; no query or fragment. A
//! [`FhirServer`] can be had only from that check, so whatever holds one (the FHIR client, the
//! issuer allow-list through [`FhirServer::url`]) knows the check passed and parses nothing
//! again. Which servers an issuer may name is checked elsewhere (the issuer allow-list).

use std::fmt;
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

/// A FHIR server base URL that passed [`FhirServer::check`], normalised to end with `/` (so
/// that a search joins onto it, `{base}Observation?…`).
#[derive(Clone, PartialEq, Eq)]
pub struct FhirServer {
    url: Url,
}

/// Shows the URL as text, as `ServiceRequest`'s `Debug` does.
impl fmt::Debug for FhirServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("FhirServer")
            .field(&self.url.as_str())
            .finish()
    }
}

impl FhirServer {
    /// Checks a request's `fhirServer` against the deployment's policy.
    ///
    /// `https` is required unless the host is a loopback address (127.0.0.0/8, ::1,
    /// `localhost`), where `http` is allowed for development and tests.
    pub fn check(url: &Url) -> Result<FhirServer, ServerUrlError> {
        if url.cannot_be_a_base() || url.host().is_none() {
            return Err(ServerUrlError::Invalid);
        }
        match url.scheme() {
            "https" => {}
            "http" if is_loopback(url) => {}
            _ => return Err(ServerUrlError::NotHttps),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(ServerUrlError::Userinfo);
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(ServerUrlError::QueryOrFragment);
        }
        Ok(FhirServer {
            url: with_trailing_slash(url),
        })
    }

    /// The checked base URL, ending with `/`.
    pub fn url(&self) -> &Url {
        &self.url
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

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(raw: &str) -> Result<FhirServer, ServerUrlError> {
        FhirServer::check(&Url::parse(raw).unwrap_or_else(|e| panic!("{raw}: {e}")))
    }

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
                check(raw).map(|server| server.url().to_string()),
                Ok(expected.to_owned()),
                "{raw}"
            );
        }
        // A value that is not a URL at all never gets here: the request parser refuses it (400).
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
            ("mailto:someone@example.org", ServerUrlError::Invalid),
            ("file:///etc/fhir", ServerUrlError::Invalid),
        ];
        for (raw, expected) in bad {
            assert_eq!(check(raw), Err(expected), "{raw}");
        }
    }
}
