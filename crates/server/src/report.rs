//! `gravida report [--since DATE] [--config FILE] [--format text|csv|json]`: the numbers a
//! governance committee reviews.
//!
//! `text` (the default): per rule, how often it fired, how often clinicians accepted or overrode
//! its cards, the top override reasons and which suggestions were taken. Rates are over cards
//! issued, and feedback about cards the audit trail does not know is shown apart, never in a
//! rule's row. `csv` and `json`: the governance console's numbers, per ISO week, rule and hook
//! ([`crate::export`]).

use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;

use gravida_store::{Report, Store};
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, OffsetDateTime};

use crate::audit::unix_ms;
use crate::command::{load_settings, one_shot_runtime, write_stdout};
use crate::export;

/// How many override reasons and suggestions are listed per rule.
const TOP: usize = 5;

/// What `gravida report` prints.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// The per-rule table, for people.
    #[default]
    Text,
    /// The console's weekly numbers, one row per week and rule, hook, reason or suggestion.
    Csv,
    /// The console's weekly numbers, as the console's `/admin/report.json` gives them.
    Json,
}

/// Runs the command: exit 2 for bad arguments or settings, 1 if the store cannot be read.
pub fn main(since: Option<&str>, config: Option<&Path>, format: Format) -> ExitCode {
    let since = match since.map(parse_since).transpose() {
        Ok(since) => since,
        Err(message) => {
            eprintln!("gravida: --since: {message}");
            return ExitCode::from(2);
        }
    };
    let settings = match load_settings(config) {
        Ok(settings) => settings,
        Err(code) => return code,
    };
    let runtime = match one_shot_runtime() {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    let url = match settings.store.url() {
        Ok(url) => url,
        Err(e) => {
            eprintln!("gravida: store.url_file: {e}");
            return ExitCode::from(2);
        }
    };
    // The profile these settings name, so that the report can say which `version` its hash is
    // (older hashes are named only by `name@hash`: /readyz and the start-up log of their day).
    let current = match &settings.profiles {
        Some(dir) => gravida_knowledge::KnowledgeBase::load_dir(dir),
        None => gravida_knowledge::KnowledgeBase::embedded(),
    }
    .ok()
    .map(|kb| (kb.version().to_owned(), kb.profile_version().to_owned()));
    let since_ms = since.map_or(0, unix_ms);
    let output = runtime.block_on(async {
        let store = Store::connect(&url).await?;
        let output = match format {
            Format::Text => store.report(since_ms).await.map(|mut report| {
                if let Some((hash, version)) = &current {
                    for p in &mut report.profiles {
                        if p.version == *hash {
                            p.version =
                                format!("{hash} (version {version}, the configured profile)");
                        }
                    }
                }
                render(&report, since)
            }),
            Format::Csv => store.weekly(since_ms).await.map(|w| export::csv(&w)),
            Format::Json => store
                .weekly(since_ms)
                .await
                .map(|w| format!("{:#}\n", export::json(&w))),
        };
        store.close().await;
        output
    });
    match output {
        Ok(output) => write_stdout(&output),
        Err(e) => {
            eprintln!("gravida: cannot read the audit store: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `2026-01-31` (midnight UTC) or an RFC 3339 date-time.
fn parse_since(text: &str) -> Result<OffsetDateTime, String> {
    if let Ok(date) = Date::parse(text, format_description!("[year]-[month]-[day]")) {
        return Ok(date.midnight().assume_utc());
    }
    OffsetDateTime::parse(text, &Rfc3339)
        .map_err(|_| format!("expected YYYY-MM-DD or an RFC 3339 date-time, got {text:?}"))
}

/// The report as text: a table, then each rule's reasons and suggestions.
pub fn render(report: &Report, since: Option<OffsetDateTime>) -> String {
    let mut out = String::new();
    let period = since
        .and_then(|t| t.format(&Rfc3339).ok())
        .map_or("all time".to_owned(), |t| format!("since {t}"));
    let _ = writeln!(out, "Gravida governance report: cards issued {period}\n");
    if report.rules.is_empty() {
        let _ = writeln!(out, "No cards were issued in this period.");
    } else {
        let _ = writeln!(
            out,
            "{:<6} {:>7} {:>9} {:>11} {:>11} {:>10} {:>10}",
            "rule", "fired", "accepted", "overridden", "acceptance", "override", "suppressed"
        );
        for rule in &report.rules {
            let _ = writeln!(
                out,
                "{:<6} {:>7} {:>9} {:>11} {:>10.1}% {:>9.1}% {:>10}",
                rule.rule_id,
                rule.fired,
                rule.accepted,
                rule.overridden,
                rule.acceptance_rate() * 100.0,
                rule.override_rate() * 100.0,
                rule.suppressed_repeat + rule.suppressed_already_addressed
            );
        }
        for rule in &report.rules {
            let suppressed = rule.suppressed_repeat + rule.suppressed_already_addressed;
            if rule.override_reasons.is_empty()
                && rule.suggestions_taken.is_empty()
                && suppressed == 0
                && rule.silent == 0
            {
                continue;
            }
            let _ = writeln!(out, "\n{}", rule.rule_id);
            if rule.silent > 0 {
                let _ = writeln!(
                    out,
                    "  silent:               {} card(s) would have been shown (recorded, never sent)",
                    rule.silent
                );
            }
            if !rule.override_reasons.is_empty() {
                let _ = writeln!(
                    out,
                    "  top override reasons: {}",
                    list(&rule.override_reasons)
                );
            }
            if !rule.suggestions_taken.is_empty() {
                let _ = writeln!(
                    out,
                    "  suggestions taken:    {}",
                    list(&rule.suggestions_taken)
                );
            }
            if suppressed > 0 {
                let _ = writeln!(
                    out,
                    "  not shown again:      {} as repeats at order hooks, {} dismissed as already addressed",
                    rule.suppressed_repeat, rule.suppressed_already_addressed
                );
            }
        }
    }
    let _ = writeln!(
        out,
        "\nfeedback received: {} item(s); about cards with no audit record (not counted above): {}",
        report.feedback_rows, report.unmatched_feedback
    );
    if !report.profiles.is_empty() {
        let _ = writeln!(out, "\nprofile versions that issued these cards:");
        let day = |ms: i64| {
            OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
                .ok()
                .and_then(|t| t.format(&Rfc3339).ok())
                .unwrap_or_else(|| ms.to_string())
        };
        for p in &report.profiles {
            let _ = writeln!(
                out,
                "  {}: {} card(s), {} to {}",
                p.version,
                p.cards,
                day(p.first_ms),
                day(p.last_ms)
            );
        }
    }
    out
}

/// `a (3), b (1)`, the first [`TOP`].
fn list(items: &[(String, i64)]) -> String {
    items
        .iter()
        .take(TOP)
        .map(|(name, count)| format!("{name} ({count})"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use gravida_store::RuleReport;

    #[test]
    fn since_takes_a_date_or_a_date_time_and_refuses_anything_else() {
        assert_eq!(
            parse_since("2026-01-31").unwrap(),
            time::macros::datetime!(2026-01-31 0:00 UTC)
        );
        assert!(parse_since("2026-01-31T10:00:00+01:00").is_ok());
        assert!(parse_since("31/01/2026").is_err());
    }

    #[test]
    fn the_rendered_report_shows_rates_reasons_and_suggestions() {
        let report = Report {
            rules: vec![RuleReport {
                rule_id: "R1".into(),
                fired: 4,
                accepted: 1,
                overridden: 2,
                override_reasons: vec![("already-done".into(), 2)],
                suggestions_taken: vec![("Order TVUS".into(), 1)],
                suppressed_repeat: 3,
                suppressed_already_addressed: 2,
                silent: 0,
            }],
            unmatched_feedback: 1,
            feedback_rows: 4,
            profiles: vec![gravida_store::ProfileUse {
                version: "default@0123456789ab".into(),
                cards: 4,
                first_ms: 1_767_225_600_000,
                last_ms: 1_767_312_000_000,
            }],
        };
        let text = render(&report, None);
        assert!(text.contains("all time"), "{text}");
        assert!(text.contains("25.0%") && text.contains("50.0%"), "{text}");
        assert!(text.contains("already-done (2)"), "{text}");
        assert!(text.contains("Order TVUS (1)"), "{text}");
        assert!(
            text.contains("3 as repeats at order hooks, 2 dismissed as already addressed"),
            "{text}"
        );
        assert!(text.contains("not counted above): 1"), "{text}");
        assert!(
            text.contains("default@0123456789ab: 4 card(s), 2026-01-01T00:00:00Z to 2026-01-02"),
            "{text}"
        );
    }
}
