//! What a long form says ([`Sheet`]), captured from the card and its finding, and its page.

use gravida_cds_hooks::Card;
use gravida_knowledge::render::LONG_FORM_NAMED;
use gravida_rules::finding::Finding;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::LINK_LABEL;
use super::html::{STYLE, escape, markdown_to_html};

/// What a long form says, as plain text: captured from the card and its finding when the card
/// is issued (cheap: a few copies), rendered as HTML by [`Sheet::render`] when the link is opened.
/// It is also what a store seals (as JSON), so any replica renders the same page.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(super) struct Sheet {
    pub(super) indicator: String,
    pub(super) summary: String,
    /// The card's detail as shown (Markdown).
    pub(super) detail: Option<String>,
    /// What did not fit on the card (Markdown).
    pub(super) reasoning: Option<String>,
    /// The records the card rests on, `(role, resource type, date)`: the first
    /// [`LONG_FORM_NAMED`] of them.
    pub(super) records: Vec<(String, String, Option<String>)>,
    /// How many more records the card rests on.
    #[serde(default)]
    pub(super) more_records: usize,
    /// How the pregnancy was dated: `(source, the record's date, the day of GA 0)`.
    pub(super) dating: Option<(String, Option<String>, String)>,
    /// The card's source, then its other links: `(label, url)`.
    pub(super) sources: Vec<(String, Option<String>)>,
    pub(super) suggestions: Vec<String>,
    pub(super) rule: String,
    pub(super) profile_version: String,
    pub(super) issued: String,
    pub(super) expires: String,
}

impl Sheet {
    /// An empty sheet's JSON: its keys, which every stored sheet repeats (part of the
    /// dictionary it is packed against).
    pub(super) fn skeleton() -> &'static [u8] {
        static SKELETON: std::sync::LazyLock<Vec<u8>> =
            std::sync::LazyLock::new(|| serde_json::to_vec(&Sheet::default()).unwrap_or_default());
        &SKELETON
    }

    /// The sheet of `card` as it is shown (its reasoning already taken out of it).
    pub(super) fn of(
        card: &Card,
        reasoning: Option<String>,
        finding: &Finding,
        profile_version: &str,
        issued: OffsetDateTime,
        expires: OffsetDateTime,
    ) -> Sheet {
        let stamp = |t: OffsetDateTime| {
            t.replace_nanosecond(0)
                .unwrap_or(t)
                .format(&Rfc3339)
                .unwrap_or_default()
        };
        let records = finding
            .evidence
            .iter()
            .take(LONG_FORM_NAMED)
            .map(|e| {
                (
                    role_name(e.role),
                    e.resource_type.clone(),
                    e.date.map(|d| d.to_string()),
                )
            })
            .collect();
        let dating = finding.dating.as_ref().map(|dating| {
            (
                role_name_of(&format!("{:?}", dating.source)),
                dating.record_date.map(|d| d.to_string()),
                dating.start.to_string(),
            )
        });
        let sources = std::iter::once((card.source.label.clone(), card.source.url.clone()))
            .chain(
                card.links
                    .iter()
                    .filter(|l| l.label != LINK_LABEL)
                    .map(|l| (l.label.clone(), Some(l.url.clone()))),
            )
            .collect();
        Sheet {
            indicator: finding.indicator.as_str().to_owned(),
            summary: card.summary.clone(),
            detail: card.detail.clone(),
            reasoning,
            records,
            more_records: finding.evidence.len().saturating_sub(LONG_FORM_NAMED),
            dating,
            sources,
            suggestions: card.suggestions.iter().map(|s| s.label.clone()).collect(),
            rule: finding.rule.as_str().to_owned(),
            profile_version: profile_version.to_owned(),
            issued: stamp(issued),
            expires: stamp(expires),
        }
    }

    /// About the bytes the sheet holds: what the long-form cache counts against
    /// `cards.long_form_max_bytes`.
    pub(super) fn bytes(&self) -> usize {
        let text = |s: &str| s.len();
        let maybe = |s: &Option<String>| s.as_deref().map_or(0, str::len);
        std::mem::size_of::<Sheet>()
            + text(&self.indicator)
            + text(&self.summary)
            + maybe(&self.detail)
            + maybe(&self.reasoning)
            + self
                .records
                .iter()
                .map(|(a, b, c)| 72 + a.len() + b.len() + maybe(c))
                .sum::<usize>()
            + self
                .dating
                .as_ref()
                .map_or(0, |(a, b, c)| a.len() + maybe(b) + c.len())
            + self
                .sources
                .iter()
                .map(|(a, b)| 48 + a.len() + maybe(b))
                .sum::<usize>()
            + self.suggestions.iter().map(|s| 24 + s.len()).sum::<usize>()
            + text(&self.rule)
            + text(&self.profile_version)
            + text(&self.issued)
            + text(&self.expires)
    }

    /// The page: summary, the card as shown, the full reasoning (what did not fit on the card),
    /// the records used, the links and source, the suggestions offered, and the profile version.
    /// Every value is escaped; the indicator is one of ours and names a style class.
    pub(super) fn render(&self) -> String {
        let indicator = match self.indicator.as_str() {
            known @ ("critical" | "warning" | "info") => known,
            _ => "info",
        };
        let mut html = String::with_capacity(4096);
        html.push_str("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">");
        html.push_str("<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">");
        html.push_str("<meta name=\"referrer\" content=\"no-referrer\">");
        html.push_str("<title>Gravida: why this card</title><style>");
        html.push_str(STYLE);
        html.push_str("</style></head><body>");
        html.push_str(&format!(
            "<p><span class=\"indicator {indicator}\">{indicator}</span></p><h1>{}</h1>",
            escape(&self.summary)
        ));
        // The reasoning names the records used, each once with what it says; the page shows
        // that list under its own heading instead of a second list (issue 31 item 5).
        let (reasoning, records_used) = split_records_used(self.reasoning.as_deref());
        if let Some(detail) = &self.detail {
            html.push_str("<h2>The card</h2>");
            html.push_str(&markdown_to_html(card_steps(detail, reasoning.is_some())));
        }
        if let Some(reasoning) = &reasoning {
            html.push_str("<h2>The full reasoning</h2>");
            html.push_str(&markdown_to_html(reasoning));
        }

        let records = &self.records;
        html.push_str("<h2>The records the card rests on</h2>");
        if let Some(used) = records_used {
            html.push_str(&markdown_to_html(used));
        } else {
            html.push_str("<ul>");
            for (role, resource_type, date) in records {
                html.push_str(&format!(
                    "<li>{}: {}, {}</li>",
                    escape(role),
                    escape(gravida_knowledge::render::words::thing(resource_type)),
                    escape(date.as_deref().unwrap_or("no date"))
                ));
            }
            if self.more_records > 0 {
                html.push_str(&format!("<li>and {} more records</li>", self.more_records));
            }
            if records.is_empty() {
                html.push_str("<li>No record: the card is about what is missing.</li>");
            }
            html.push_str("</ul>");
        }
        // Gestational age as the cards write it: the day the pregnancy is dated from is 0w0d.
        if let Some((source, date, start)) = &self.dating {
            html.push_str(&format!(
                "<p>Pregnancy dated by {} (record of {}): 0w0d on {}.</p>",
                escape(source),
                escape(date.as_deref().unwrap_or("no date")),
                escape(start)
            ));
        }

        html.push_str("<h2>Guidelines and sources</h2><ul>");
        for (label, url) in &self.sources {
            html.push_str(&format!("<li>{}</li>", link_html(label, url.as_deref())));
        }
        html.push_str("</ul>");

        if !self.suggestions.is_empty() {
            html.push_str("<h2>Suggestions offered on the card</h2><ul>");
            for label in &self.suggestions {
                html.push_str(&format!("<li>{}</li>", escape(label)));
            }
            html.push_str("</ul>");
        }

        html.push_str(&format!(
            "<p class=\"meta\">Rule {} · knowledge profile {} · issued {} · this page expires {}.</p>",
            escape(&self.rule),
            escape(&self.profile_version),
            escape(&self.issued),
            escape(&self.expires)
        ));
        // The reasoning closes with the profile's disclaimer; the page says it only when there
        // is no reasoning to say it (each disclaimer once).
        if reasoning.is_none() {
            html.push_str("<p class=\"meta\">Advice for the clinician, not a diagnosis.</p>");
        }
        html.push_str(
            "<p class=\"meta\">This page is not cached, and its link stops working when it \
             expires.</p></body></html>",
        );
        html
    }
}

/// What the page repeats of the card: its steps. The card's **Why** and its closing disclaimer
/// are said again, in full, by the reasoning below them, so with a reasoning they are left out:
/// the page states each record and each disclaimer once (issue 31 item 5).
pub(super) fn card_steps(detail: &str, with_reasoning: bool) -> &str {
    const WHY: &str = "**Why.**";
    match detail.find(WHY) {
        Some(at) if with_reasoning && at > 0 => detail[..at].trim_end(),
        _ => detail,
    }
}

/// The reasoning without its "Records used: …" paragraph, and that paragraph.
pub(super) fn split_records_used(reasoning: Option<&str>) -> (Option<String>, Option<&str>) {
    const OPENING: &str = "Records used: ";
    let Some(reasoning) = reasoning else {
        return (None, None);
    };
    let start = reasoning
        .find(&format!("\n\n{OPENING}"))
        .map(|i| i + 2)
        .or_else(|| reasoning.starts_with(OPENING).then_some(0));
    let Some(start) = start else {
        return (Some(reasoning.to_owned()), None);
    };
    let end = reasoning[start..]
        .find("\n\n")
        .map_or(reasoning.len(), |i| start + i);
    let rest = format!("{}{}", reasoning[..start].trim_end(), &reasoning[end..]);
    (Some(rest), Some(&reasoning[start..end]))
}

/// A link, if its URL is http(s); otherwise the label alone.
pub(super) fn link_html(label: &str, url: Option<&str>) -> String {
    match url {
        Some(url) if url.starts_with("https://") || url.starts_with("http://") => format!(
            "<a href=\"{}\" rel=\"noopener noreferrer\" target=\"_blank\">{}</a>",
            escape(url),
            escape(label)
        ),
        _ => escape(label),
    }
}

/// `PregnancyEvidence` → `pregnancy evidence`: the engine's role names, read aloud. (Written
/// from the `Debug` name, so a role added to the engine needs nothing here.)
pub(super) fn role_name(role: gravida_rules::finding::Role) -> String {
    role_name_of(&format!("{role:?}"))
}

pub(super) fn role_name_of(debug: &str) -> String {
    let mut words: Vec<String> = Vec::new();
    for c in debug.chars() {
        match words.last_mut() {
            Some(word) if !c.is_ascii_uppercase() => word.push(c),
            _ => words.push(c.to_string()),
        }
    }
    words
        .iter()
        .map(|word| match word.as_str() {
            // Abbreviations clinicians write in capitals (or as hCG).
            "Lmp" => "LMP".to_owned(),
            "Edd" => "EDD".to_owned(),
            "Art" => "ART".to_owned(),
            "Hcg" => "hCG".to_owned(),
            "Rh" => "Rh".to_owned(),
            "Ga" => "gestational-age".to_owned(),
            other => other.to_ascii_lowercase(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}
