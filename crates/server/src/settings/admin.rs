//! `[admin]`: the governance console's own listener (see [`crate::admin`]).
//!
//! The console is never served on the EHR-facing listener: it has an address of its own, off by
//! default. On loopback it may go without a token (whoever can reach loopback can read the store
//! anyway); on any other address a bearer token is required, and a console exposed without one
//! is refused at start-up with the reason.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

/// The shortest token accepted: a guessable token is no token.
pub const MIN_TOKEN_CHARS: usize = 16;

/// The governance console's listener and its bearer token. `Debug` hides the token.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminSettings {
    /// The console's address (`127.0.0.1:9091`); none: no console. Never the `listen` address.
    pub listen: Option<SocketAddr>,
    /// The bearer token the console asks for (`Authorization: Bearer …`). Required when `listen`
    /// is not a loopback address; on loopback, optional.
    pub token: Option<String>,
    /// A file holding the token (a mounted Secret), read at start-up.
    pub token_file: Option<PathBuf>,
}

impl AdminSettings {
    /// The token: `token`, else the content of `token_file` (trimmed), else none.
    pub fn token(&self) -> std::io::Result<Option<String>> {
        if let Some(path) = &self.token_file {
            return Ok(Some(std::fs::read_to_string(path)?.trim().to_owned()));
        }
        Ok(self.token.clone())
    }

    /// The checks that need no file: the reason the console must not start, if any.
    pub fn validate(&self, service: SocketAddr) -> Result<(), String> {
        let Some(listen) = self.listen else {
            return Ok(());
        };
        if self.token.is_some() && self.token_file.is_some() {
            return Err("admin: give at most one of token and token_file".into());
        }
        if let Some(token) = &self.token
            && token.chars().count() < MIN_TOKEN_CHARS
        {
            return Err(format!(
                "admin.token must be at least {MIN_TOKEN_CHARS} characters"
            ));
        }
        if listen.port() != 0 && listen == service {
            return Err(format!(
                "admin.listen ({listen}) is the service's own address: the console is never \
                 served on the EHR-facing port; give it an address of its own"
            ));
        }
        if !listen.ip().is_loopback() && self.token.is_none() && self.token_file.is_none() {
            return Err(format!(
                "refusing to expose the governance console on {listen} without a token: \
                 set admin.token or admin.token_file, or listen on loopback (127.0.0.1)"
            ));
        }
        Ok(())
    }
}

impl std::fmt::Debug for AdminSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminSettings")
            .field("listen", &self.listen)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("token_file", &self.token_file)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admin(listen: &str, token: Option<&str>) -> AdminSettings {
        AdminSettings {
            listen: Some(listen.parse().expect("an address")),
            token: token.map(str::to_owned),
            token_file: None,
        }
    }

    const SERVICE: &str = "127.0.0.1:8080";

    #[test]
    fn a_console_on_loopback_needs_no_token_and_one_elsewhere_is_refused_without_one() {
        let service = SERVICE.parse().expect("an address");
        assert!(admin("127.0.0.1:9091", None).validate(service).is_ok());
        assert!(admin("[::1]:9091", None).validate(service).is_ok());
        let refused = admin("0.0.0.0:9091", None).validate(service).unwrap_err();
        assert!(refused.contains("without a token"), "{refused}");
        assert!(
            admin("0.0.0.0:9091", Some("a-long-enough-token"))
                .validate(service)
                .is_ok()
        );
        assert!(
            admin("0.0.0.0:9091", Some("short"))
                .validate(service)
                .is_err()
        );
        assert!(AdminSettings::default().validate(service).is_ok());
    }

    #[test]
    fn the_console_is_never_given_the_services_own_address() {
        let service = SERVICE.parse().expect("an address");
        let refused = admin(SERVICE, None).validate(service).unwrap_err();
        assert!(refused.contains("EHR-facing"), "{refused}");
    }

    #[test]
    fn the_token_never_appears_in_debug_output() {
        let text = format!("{:?}", admin("0.0.0.0:1", Some("a-long-enough-token")));
        assert!(!text.contains("a-long-enough-token"), "{text}");
    }
}
