//! A card text compiled at load into its literal text and its `{slots}` ([`Template`]), and
//! [`fill`], which renders one in a single pass that never reads a value for slots.

use std::collections::HashMap;

use serde::Deserialize;

/// A card text compiled at load: its literal text and its `{name}` slots, in order, so that
/// rendering fills the slots without reading the text for braces again.
///
/// A slot is what stands between a `{` and the next `}`. A `{` with no `}` after it is kept as
/// text; the load refuses such a template (see [`Template::unclosed`]), so none reaches a card.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(from = "String")]
pub struct Template {
    /// The text as written in `cards.toml`.
    text: String,
    parts: Vec<Part>,
}

/// A piece of a [`Template`].
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Slot(String),
}

impl From<String> for Template {
    fn from(text: String) -> Template {
        let mut parts = Vec::new();
        let mut rest = text.as_str();
        while let Some(open) = rest.find('{') {
            let after = &rest[open + 1..];
            let Some(close) = after.find('}') else {
                // Unclosed: the rest, brace included, is text.
                break;
            };
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_owned()));
            }
            parts.push(Part::Slot(after[..close].to_owned()));
            rest = &after[close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_owned()));
        }
        Template { text, parts }
    }
}

impl From<&str> for Template {
    fn from(text: &str) -> Template {
        Template::from(text.to_owned())
    }
}

impl Template {
    /// The text as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The names of the slots, in order.
    pub fn slots(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|part| match part {
            Part::Slot(name) => Some(name.as_str()),
            Part::Text(_) => None,
        })
    }

    /// What is wrong when a `{` is never closed. Text before a slot holds no `{` (a slot starts
    /// at the first one), so only the text after the last slot can hold an unclosed one.
    pub fn unclosed(&self) -> Option<String> {
        match self.parts.last() {
            Some(Part::Text(text)) if text.contains('{') => {
                Some(format!("unclosed '{{' in {:?}", self.text))
            }
            _ => None,
        }
    }
}

/// The values of a text's slots, by slot name: filled for every card, so hashed with foldhash
/// (seeded per process), cheaper than SipHash on these short keys.
pub type Values<'v> = HashMap<&'v str, String, foldhash::fast::RandomState>;

/// The template with each slot replaced by its value; a slot without a value is left as it is
/// written (`{name}`; every slot is checked at load).
///
/// One pass, left to right: a value is copied as it is and never read for slots, so chart text
/// holding `{summary}` or `{{ga}}` cannot be expanded (values are escaped as well, see
/// [`crate::render::markdown`]).
pub fn fill(template: &Template, values: &Values<'_>) -> String {
    fill_with(template, |name| values.get(name))
}

/// [`fill`] with `over`'s values before `base`'s: a modifier's few values over the finding's
/// many, without copying the many for each modifier.
pub fn fill_over(template: &Template, over: &Values<'_>, base: &Values<'_>) -> String {
    fill_with(template, |name| over.get(name).or_else(|| base.get(name)))
}

fn fill_with<'v>(template: &Template, value_of: impl Fn(&str) -> Option<&'v String>) -> String {
    let mut out = String::with_capacity(template.text.len() + 32);
    for part in &template.parts {
        match part {
            Part::Text(text) => out.push_str(text),
            Part::Slot(name) => match value_of(name.as_str()) {
                Some(value) => out.push_str(value),
                None => {
                    out.push('{');
                    out.push_str(name);
                    out.push('}');
                }
            },
        }
    }
    out
}
