//! The SMART scopes a client grants in `fhirAuthorization.scope`, v1 and v2, and whether they
//! cover a FHIR read or search.
//!
//! CDS Hooks 3.0.0 moves to SMART App Launch STU 2 (changes.md, "Breaking Changes": "Use SMART
//! App Launch STU 2, replacing use of SMART App Launch STU 1 ... this impacts the contents of the
//! `scope` element, within the optional `fhirAuthorization` object"; index.md: "The scopes granted
//! to the CDS Service via the `scope` field are defined by the SMART on FHIR specification",
//! scopes-and-launch-context STU2). A 2.0 client still sends v1 scopes. Both are read here:
//!
//! * v1: `patient/Observation.read`, `user/*.read`, `patient/*.*`, `system/Condition.write`.
//!   `.read` (or `.*`) allows reads and searches.
//! * v2: `patient/Observation.rs`, `user/Condition.cruds`, `patient/Observation.rs?category=laboratory`:
//!   the letters `c r u d s` in that order, at least one; `r` allows a read, `s` a search; the
//!   optional query restricts the grant to requests that carry every one of its parameters with
//!   the same value.
//! * SMART's other scopes (`openid`, `fhirUser`, `profile`, `launch`, `launch/patient`,
//!   `launch/encounter`, `offline_access`, `online_access`) grant no resource and are accepted.
//!
//! Anything else is not a SMART scope: [`Grants::parse`] refuses it ([`ScopeError`]), and the
//! request is answered 400, rather than guessing what the client meant.

use thiserror::Error;

/// A scope string that is in neither SMART form. Names the position, never the text (a scope
/// string is the client's, and the error is returned to it).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("fhirAuthorization.scope: scope {index} is neither a SMART v1 nor a SMART v2 scope")]
pub struct ScopeError {
    /// The scope's position in the space-separated list, from 1.
    pub index: usize,
}

/// Whom a resource scope is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    Patient,
    User,
    System,
}

/// One resource scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceScope {
    pub context: Context,
    /// The resource type, or `None` for `*`.
    pub resource_type: Option<String>,
    pub read: bool,
    pub search: bool,
    /// v2's parameters (`?category=laboratory`), each as (name, value); empty when unrestricted.
    pub restrictions: Vec<(String, String)>,
    /// Whether it was written in SMART v2 form.
    pub v2: bool,
}

/// The resource scopes of one `fhirAuthorization.scope`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants {
    pub scopes: Vec<ResourceScope>,
}

/// SMART's scopes that grant no resource.
const OTHER_SCOPES: &[&str] = &[
    "openid",
    "fhirUser",
    "profile",
    "launch",
    "launch/patient",
    "launch/encounter",
    "offline_access",
    "online_access",
];

impl Grants {
    /// Reads a space-separated scope string.
    pub fn parse(scope: &str) -> Result<Grants, ScopeError> {
        let mut scopes = Vec::new();
        for (i, word) in scope.split_ascii_whitespace().enumerate() {
            if OTHER_SCOPES.contains(&word) {
                continue;
            }
            scopes.push(parse_one(word).ok_or(ScopeError { index: i + 1 })?);
        }
        Ok(Grants { scopes })
    }

    /// Whether some scope allows this request, given as a FHIR path relative to the server's
    /// base: a read (`Patient/123`) or a search (`Observation?patient=1&code=a,b`).
    pub fn covers(&self, relative: &str) -> bool {
        let (path, query) = relative.split_once('?').unwrap_or((relative, ""));
        let (resource_type, is_read) = match path.split_once('/') {
            Some((resource_type, _id)) => (resource_type, true),
            None => (path, false),
        };
        let parameters: Vec<(&str, &str)> = query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| p.split_once('=').unwrap_or((p, "")))
            .collect();
        self.scopes.iter().any(|scope| {
            scope
                .resource_type
                .as_deref()
                .is_none_or(|t| t == resource_type)
                && if is_read { scope.read } else { scope.search }
                && scope
                    .restrictions
                    .iter()
                    .all(|(name, value)| parameters.contains(&(name.as_str(), value.as_str())))
        })
    }

    /// The v2 scope that would allow this request, for saying what is missing: `patient/<type>.r`
    /// for a read, `patient/<type>.s` for a search (a patient's data, as Gravida reads it).
    pub fn needed(relative: &str) -> String {
        let path = relative.split_once('?').map_or(relative, |(p, _)| p);
        match path.split_once('/') {
            Some((resource_type, _)) => format!("patient/{resource_type}.r"),
            None => format!("patient/{path}.s"),
        }
    }
}

/// One resource scope, v1 or v2, or `None` if it is neither.
fn parse_one(word: &str) -> Option<ResourceScope> {
    let (context, rest) = word.split_once('/')?;
    let context = match context {
        "patient" => Context::Patient,
        "user" => Context::User,
        "system" => Context::System,
        _ => return None,
    };
    let (resource_and_permissions, query) = match rest.split_once('?') {
        Some((head, query)) => (head, Some(query)),
        None => (rest, None),
    };
    let (resource, permissions) = resource_and_permissions.split_once('.')?;
    let resource_type = match resource {
        "*" => None,
        name if is_resource_type(name) => Some(name.to_owned()),
        _ => return None,
    };
    let (read, search, v2) = match permissions {
        // v1, which has no query restrictions.
        "read" | "*" if query.is_none() => (true, true, false),
        "write" if query.is_none() => (false, false, false),
        letters => {
            let (read, search) = v2_permissions(letters)?;
            (read, search, true)
        }
    };
    let restrictions = match query {
        None => Vec::new(),
        Some(query) => query
            .split('&')
            .map(|p| {
                let (name, value) = p.split_once('=')?;
                (!name.is_empty() && !value.is_empty()).then(|| (name.to_owned(), value.to_owned()))
            })
            .collect::<Option<Vec<_>>>()?,
    };
    Some(ResourceScope {
        context,
        resource_type,
        read,
        search,
        restrictions,
        v2,
    })
}

/// v2's `cruds` letters: a non-empty subsequence of `c r u d s`, in that order. Gives (read, search).
fn v2_permissions(letters: &str) -> Option<(bool, bool)> {
    let mut order = "cruds".chars();
    if letters.is_empty() {
        return None;
    }
    for letter in letters.chars() {
        // Each letter must come later in `cruds` than the one before.
        order.by_ref().find(|&c| c == letter)?;
    }
    Some((letters.contains('r'), letters.contains('s')))
}

/// A FHIR resource type name: an ASCII capital, then letters.
fn is_resource_type(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_uppercase()) && chars.all(|c| c.is_ascii_alphabetic())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_read_and_v2_rs_cover_the_same_reads_and_searches() {
        for scope in [
            "patient/Observation.read patient/Patient.read",
            "patient/Observation.rs patient/Patient.rs",
            "user/Observation.read user/Patient.r",
            "patient/*.read",
            "patient/*.rs",
            "system/*.*",
            "openid fhirUser launch patient/*.cruds",
        ] {
            let grants = Grants::parse(scope).unwrap();
            assert!(grants.covers("Observation?patient=1&code=a,b"), "{scope}");
            assert!(grants.covers("Patient/1"), "{scope}");
            assert!(
                !grants.covers("Condition?patient=1") || scope.contains('*'),
                "{scope}"
            );
        }
    }

    #[test]
    fn a_v2_scope_allows_only_what_its_letters_and_parameters_say() {
        let read_only = Grants::parse("patient/Observation.r").unwrap();
        assert!(read_only.covers("Observation/1"));
        assert!(!read_only.covers("Observation?patient=1"));
        let labs = Grants::parse("patient/Observation.rs?category=laboratory").unwrap();
        assert!(labs.covers("Observation?patient=1&category=laboratory"));
        assert!(!labs.covers("Observation?patient=1&code=a"));
        let write = Grants::parse("patient/Observation.write user/Observation.cud").unwrap();
        assert!(!write.covers("Observation?patient=1"));
        assert!(!write.covers("Observation/1"));
    }

    #[test]
    fn a_scope_in_neither_form_is_refused_by_position() {
        for (scope, index) in [
            ("patient/Observation.read bogus", 2),
            ("patient/Observation.sr", 1),
            ("patient/Observation.rx", 1),
            ("patient/Observation.", 1),
            ("patient/observation.rs", 1),
            ("admin/Observation.rs", 1),
            ("patient/Observation.read?category=x", 1),
            ("patient/Observation.rs?category", 1),
        ] {
            assert_eq!(Grants::parse(scope), Err(ScopeError { index }), "{scope}");
        }
        let error = Grants::parse("x-secret-looking-scope").unwrap_err();
        assert!(!error.to_string().contains("secret"));
    }

    #[test]
    fn what_is_needed_is_named_in_v2_form() {
        assert_eq!(
            Grants::needed("Observation?patient=1"),
            "patient/Observation.s"
        );
        assert_eq!(Grants::needed("Patient/1"), "patient/Patient.r");
    }
}
