//! The `GRAVIDA_` variables: which of them name a setting (and which are a Kubernetes service
//! link or another program's, to be ignored), how a value is read, and where it is set in the
//! settings document before anything is typed.

/// The keys at the top of the settings document that are not sections.
const TOP_LEVEL_KEYS: &[&str] = &[
    "listen",
    "public_base_url",
    "profiles",
    "insecure_no_auth",
    "time_zone",
    "rule_modes",
];
/// The sections (`[fhir]`, …) of the settings document.
pub(super) const SECTIONS: &[&str] = &[
    "fhir",
    "http",
    "cors",
    "log",
    "auth",
    "store",
    "metrics",
    "cards",
    "rule_modes",
    "admin",
];

/// What one `GRAVIDA_` variable is, by its name after the prefix.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum EnvName {
    /// A setting at this path (lower-cased).
    Setting(Vec<String>),
    /// A `__` name whose section does not exist: a typo, refused.
    UnknownSection(String),
    /// Not a setting (a service link, or another program's variable).
    Other { service_link: bool },
}

/// What the variable `GRAVIDA_{rest}` is: a `__` name is a setting when its section exists, a
/// name without `__` only when it is exactly a top-level key.
pub(super) fn classify_env_name(rest: &str) -> EnvName {
    let path: Vec<String> = rest.split("__").map(|s| s.to_ascii_lowercase()).collect();
    if path.len() > 1 {
        return if SECTIONS.contains(&path[0].as_str()) {
            EnvName::Setting(path)
        } else {
            EnvName::UnknownSection(path[0].clone())
        };
    }
    if TOP_LEVEL_KEYS.contains(&path[0].as_str()) {
        return EnvName::Setting(path);
    }
    EnvName::Other {
        service_link: is_service_link(rest),
    }
}

/// The shapes of the variables Kubernetes writes for a Service, after `{SERVICE}_`: `SERVICE_HOST`,
/// `SERVICE_PORT`, `SERVICE_PORT_{NAME}`, `PORT`, and `PORT_{port}_{TCP|UDP|SCTP}[_PROTO|_PORT|_ADDR]`.
/// The service name itself may hold underscores (`gravida-metrics` gives `GRAVIDA_METRICS_…`).
fn is_service_link(rest: &str) -> bool {
    let parts: Vec<&str> = rest.split('_').collect();
    (0..parts.len()).any(|i| match &parts[i..] {
        ["SERVICE", "HOST"] | ["SERVICE", "PORT", ..] => true,
        ["PORT"] => true,
        ["PORT", port, proto, tail @ ..] => {
            port.chars().all(|c| c.is_ascii_digit())
                && matches!(*proto, "TCP" | "UDP" | "SCTP")
                && matches!(tail, [] | ["PROTO"] | ["PORT"] | ["ADDR"])
        }
        _ => false,
    })
}

/// Reads an environment value as TOML when it is one (numbers, booleans, arrays), else as a string.
pub(super) fn parse_env_value(raw: &str) -> toml::Value {
    format!("v = {raw}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_owned()))
}

/// Sets `value` at `path` in the settings document, making the tables on the way; a key on the
/// way that holds a value, not a table, is an error.
pub(super) fn set_path(
    doc: &mut toml::Table,
    path: &[String],
    value: toml::Value,
) -> Result<(), String> {
    let Some((last, parents)) = path.split_last() else {
        return Err("empty setting name".into());
    };
    let mut table = doc;
    for key in parents {
        let entry = table
            .entry(key.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        table = match entry {
            toml::Value::Table(t) => t,
            _ => return Err(format!("`{key}` is not a table")),
        };
    }
    table.insert(last.clone(), value);
    Ok(())
}
