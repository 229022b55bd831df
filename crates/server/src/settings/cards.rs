//! `[cards]` and `[rule_modes]`: how cards are kept from repeating and how long their long form
//! lives, and the site's mode for each rule over the profile's.

use std::collections::BTreeMap;

use serde::Deserialize;

/// How cards are kept from repeating, and their long form (README "Cards shown once").
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CardSettings {
    /// At order-select and order-sign, a card not about the orders is not shown again when the
    /// same card (rule and evidence) was shown for the patient within this many hours (or in the
    /// same encounter, whatever the time). 0: the encounter alone decides. Needs the store.
    pub repeat_window_hours: u32,
    /// How long a card's long-form link (`GET /cards/{id}`) works, in seconds.
    pub long_form_ttl_s: u64,
    /// Long forms kept in memory at once by a replica (about 4 kB each); beyond it the oldest
    /// are dropped first (with a store, they are still served from it).
    pub long_form_capacity: usize,
    /// The bytes the long forms kept in memory may take at once, all together; beyond it the
    /// oldest are dropped first. A long form names at most a few records of each kind, so one
    /// takes a few kB, at most tens.
    pub long_form_max_bytes: usize,
}

impl Default for CardSettings {
    fn default() -> Self {
        CardSettings {
            repeat_window_hours: 12,
            long_form_ttl_s: 1800,
            long_form_capacity: 2_000,
            long_form_max_bytes: 16 * 1024 * 1024,
        }
    }
}

/// A site's rule modes, `rule id → mode` (ids upper-cased: an environment variable's key arrives
/// lower-cased). Written as a table, or as one string of `RULE=MODE` pairs separated by commas.
/// Which ids and modes exist is the knowledge base's to say, at start-up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleModeSettings(pub BTreeMap<String, String>);

impl<'de> Deserialize<'de> for RuleModeSettings {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Written {
            Table(BTreeMap<String, String>),
            Pairs(String),
        }
        let pairs: Vec<(String, String)> = match Written::deserialize(deserializer)? {
            Written::Table(table) => table.into_iter().collect(),
            Written::Pairs(text) => text
                .split(',')
                .map(str::trim)
                .filter(|item| !item.is_empty())
                .map(|item| {
                    item.split_once('=')
                        .map(|(rule, mode)| (rule.trim().to_owned(), mode.trim().to_owned()))
                        .ok_or_else(|| {
                            serde::de::Error::custom(format!(
                                "rule_modes: {item:?} is not RULE=MODE (as in \"R12=off,R3=silent\")"
                            ))
                        })
                })
                .collect::<Result<_, _>>()?,
        };
        Ok(RuleModeSettings(
            pairs
                .into_iter()
                .map(|(rule, mode)| (rule.to_ascii_uppercase(), mode))
                .collect(),
        ))
    }
}
