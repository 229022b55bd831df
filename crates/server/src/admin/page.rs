//! The console's one page: a summary, the plots, then the tables they are drawn from. Plain
//! HTML and inline SVG: no script, no external resource, and a print stylesheet that puts each
//! plot and table on paper whole.
//!
//! Every number in a table cell carries `data-week`, `data-rule` or `data-hook` (on its row)
//! and `data-field` (on its cell), named as in the JSON export, so a reader (the browser test)
//! can hold the page to the export.

use std::fmt::Write as _;

use gravida_store::Weekly;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::plots;

const STYLE: &str = "
body { font: 15px/1.45 system-ui, sans-serif; margin: 1.5rem auto; max-width: 62rem; color: #222; padding: 0 1rem; }
h1 { font-size: 1.5rem; margin-bottom: .2rem; }
h2 { font-size: 1.15rem; margin-top: 2rem; border-bottom: 1px solid #ccc; }
.meta { color: #555; margin-top: 0; }
figure { margin: 1rem 0; }
figure svg { width: 100%; height: auto; border: 1px solid #ddd; }
figcaption { font-weight: 600; margin-bottom: .3rem; }
table { border-collapse: collapse; width: 100%; font-size: .9rem; margin: .5rem 0 1rem; }
th, td { border: 1px solid #ddd; padding: .25rem .4rem; text-align: right; vertical-align: top; }
th:first-child, td.name { text-align: left; white-space: nowrap; }
td.list { text-align: left; font-size: .85rem; }
thead th { background: #f3f3f3; }
.empty { color: #777; font-style: italic; }
nav a { margin-right: 1rem; }
@media print {
  body { margin: 0; max-width: none; font-size: 11pt; }
  nav { display: none; }
  figure, table { break-inside: avoid; page-break-inside: avoid; }
  figure svg { border: none; }
  h2 { break-after: avoid; }
}
";

/// The page for `weekly`, covering `weeks` weeks up to `now`.
pub fn render(weekly: &Weekly, weeks: u32, now: OffsetDateTime) -> String {
    let mut out = String::with_capacity(64 * 1024);
    let generated = now.format(&Rfc3339).unwrap_or_default();
    let _ = write!(
        out,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Gravida governance console</title><style>{STYLE}</style></head><body>\
         <h1>Gravida governance console</h1>\
         <p class=\"meta\">The last {weeks} ISO weeks (UTC), from the audit store, generated \
         {generated}. Counts only: no patient appears here.</p>\
         <nav><a href=\"/admin/report.csv?weeks={weeks}\">CSV</a>\
         <a href=\"/admin/report.json?weeks={weeks}\">JSON</a>\
         <a href=\"/admin?weeks=4\">4 weeks</a><a href=\"/admin?weeks=12\">12 weeks</a>\
         <a href=\"/admin?weeks=52\">52 weeks</a></nav>"
    );
    if weekly.weeks.is_empty() {
        out.push_str("<p class=\"empty\">No hook call or card in this period.</p></body></html>\n");
        return out;
    }
    summary(&mut out, weekly);
    out.push_str("<h2 id=\"plots\">Plots</h2>");
    for plot in plots::all(weekly) {
        figure(&mut out, &plot);
    }
    rules_table(&mut out, weekly);
    hooks_table(&mut out, weekly);
    out.push_str("</body></html>\n");
    out
}

/// The weeks, their calls and their profile versions.
fn summary(out: &mut String, weekly: &Weekly) {
    out.push_str(
        "<h2 id=\"weeks\">Weeks</h2><table class=\"weeks\"><thead><tr><th>week</th>\
         <th>starts</th><th>calls</th><th>cards shown</th><th>cards silent</th>\
         <th>profile versions</th></tr></thead><tbody>",
    );
    for w in &weekly.weeks {
        let shown: i64 = w.rules.iter().map(|r| r.fired_active).sum();
        let silent: i64 = w.rules.iter().map(|r| r.fired_silent).sum();
        let _ = write!(
            out,
            "<tr data-week=\"{week}\"><td class=\"name\">{week}</td><td>{starts}</td>\
             <td data-field=\"calls\">{calls}</td><td data-field=\"fired_active\">{shown}</td>\
             <td data-field=\"fired_silent\">{silent}</td>\
             <td class=\"list\" data-field=\"profile_versions\">{versions}</td></tr>",
            week = escape(&w.week),
            starts = escape(&w.starts),
            calls = w.calls,
            versions = profile_versions(weekly, &w.profile_versions),
        );
    }
    out.push_str("</tbody></table>");
}

/// A week's profile versions, one line each: `version 1.1.0 (default@f46c9f4e667b): its change
/// note` when the store recorded what the hash is, else the hash alone (cards written before
/// versions were recorded). Each line carries its hash in `data-profile`.
fn profile_versions(weekly: &Weekly, hashes: &[String]) -> String {
    let mut out = String::new();
    for (i, hash) in hashes.iter().enumerate() {
        if i > 0 {
            out.push_str("<br>");
        }
        let _ = write!(out, "<span data-profile=\"{}\">", escape(hash));
        match weekly.profile(hash) {
            Some(p) => {
                let _ = write!(
                    out,
                    "version {} ({}): {}",
                    escape(&p.version),
                    escape(hash),
                    escape(&p.change_note)
                );
            }
            None => out.push_str(&escape(hash)),
        }
        out.push_str("</span>");
    }
    out
}

/// One plot in a figure, with its title as the caption and inside the SVG (`<title>`).
fn figure(out: &mut String, plot: &plots::Plot) {
    let title = escape(&plot.title);
    let _ = write!(
        out,
        "<figure data-plot=\"{name}\"><figcaption>{title}</figcaption>",
        name = plot.name
    );
    // plotters writes `<svg width=… height=… viewBox=… xmlns=…>`: our attributes and the
    // title go in right after its opening.
    match plot.svg.find("<svg").zip(plot.svg.find('>')) {
        Some((start, end)) if start < end => {
            let _ = write!(
                out,
                "<svg class=\"plot\" role=\"img\" data-plot=\"{name}\" {attrs}><title>{title}</title>{rest}",
                name = plot.name,
                attrs = plot.svg[start + 4..end].trim(),
                rest = &plot.svg[end + 1..],
            );
        }
        _ => out.push_str("<p class=\"empty\">This plot could not be drawn; the tables below hold its numbers.</p>"),
    }
    out.push_str("</figure>");
}

fn rules_table(out: &mut String, weekly: &Weekly) {
    out.push_str(
        "<h2 id=\"rules\">Per rule and week</h2><table class=\"rules\"><thead><tr>\
         <th>week</th><th>rule</th><th>shown</th><th>silent</th><th>calls fired</th>\
         <th>share of calls</th><th>accepted</th><th>overridden</th>\
         <th>override reasons</th><th>suggestions taken</th></tr></thead><tbody>",
    );
    for w in &weekly.weeks {
        for r in &w.rules {
            let _ = write!(
                out,
                "<tr data-week=\"{week}\" data-rule=\"{rule}\"><td class=\"name\">{week}</td>\
                 <td class=\"name\">{rule}</td><td data-field=\"fired_active\">{active}</td>\
                 <td data-field=\"fired_silent\">{silent}</td>\
                 <td data-field=\"calls_fired\">{calls}</td>\
                 <td data-field=\"share_fired\"{value}>{share}</td>\
                 <td data-field=\"accepted\">{accepted}</td>\
                 <td data-field=\"overridden\">{overridden}</td>\
                 <td class=\"list\">{reasons}</td><td class=\"list\">{suggestions}</td></tr>",
                week = escape(&w.week),
                rule = escape(&r.rule_id),
                active = r.fired_active,
                silent = r.fired_silent,
                calls = r.calls_fired,
                share = percent(r.share_fired),
                value = exact(r.share_fired),
                accepted = r.accepted,
                overridden = r.overridden,
                reasons = list(&r.override_reasons),
                suggestions = list(&r.suggestions_taken),
            );
        }
    }
    out.push_str("</tbody></table>");
}

fn hooks_table(out: &mut String, weekly: &Weekly) {
    out.push_str(
        "<h2 id=\"hooks\">Per hook and week</h2><table class=\"hooks\"><thead><tr>\
         <th>week</th><th>hook</th><th>calls</th><th>calls that showed a card</th>\
         <th>share</th><th>cards shown</th><th>cards silent</th></tr></thead><tbody>",
    );
    for w in &weekly.weeks {
        for h in &w.hooks {
            let _ = write!(
                out,
                "<tr data-week=\"{week}\" data-hook=\"{hook}\"><td class=\"name\">{week}</td>\
                 <td class=\"name\">{hook}</td><td data-field=\"calls\">{calls}</td>\
                 <td data-field=\"calls_fired\">{fired}</td>\
                 <td data-field=\"share_fired\"{value}>{share}</td>\
                 <td data-field=\"cards_active\">{active}</td>\
                 <td data-field=\"cards_silent\">{silent}</td></tr>",
                week = escape(&w.week),
                hook = escape(&h.hook),
                calls = h.calls,
                fired = h.calls_fired,
                share = percent(h.share_fired),
                value = exact(h.share_fired),
                active = h.cards_active,
                silent = h.cards_silent,
            );
        }
    }
    out.push_str("</tbody></table>");
}

/// `12.5%`, or `n/a` when no call was counted.
fn percent(share: Option<f64>) -> String {
    share.map_or("n/a".to_owned(), |s| format!("{:.1}%", s * 100.0))
}

/// The share as a `data-value` attribute, exactly as the JSON export writes it, so a reader
/// can compare without rounding; nothing when unknown.
fn exact(share: Option<f64>) -> String {
    share.map_or(String::new(), |s| format!(" data-value=\"{s}\""))
}

/// `a (3), b (1)`, escaped.
fn list(items: &[(String, i64)]) -> String {
    items
        .iter()
        .map(|(name, count)| format!("{} ({count})", escape(name)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Text for HTML content and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use gravida_store::{HookWeek, RuleWeek, WeekReport};

    fn weekly() -> Weekly {
        let week = |name: &str, starts: &str, fired: i64| WeekReport {
            week: name.into(),
            starts: starts.into(),
            calls: 40,
            profile_versions: vec!["default@abc".into()],
            rules: vec![RuleWeek {
                rule_id: "R1".into(),
                fired_active: fired,
                fired_silent: 1,
                calls_fired: fired + 1,
                accepted: 2,
                overridden: 1,
                override_reasons: vec![("<already-addressed>".into(), 1)],
                suggestions_taken: vec![("Order TVUS".into(), 2)],
                share_fired: Some(0.25),
            }],
            hooks: vec![HookWeek {
                hook: "patient-view".into(),
                calls: 40,
                calls_fired: fired,
                cards_active: fired,
                cards_silent: 1,
                share_fired: Some(fired as f64 / 40.0),
            }],
        };
        Weekly {
            weeks: vec![
                week("2026-W49", "2026-11-30", 9),
                week("2026-W50", "2026-12-07", 5),
            ],
            profiles: vec![gravida_store::ProfileVersion {
                profile_version: "default@abc".into(),
                version: "1.1.0".into(),
                change_note: "Rule modes <no clinical change>".into(),
            }],
        }
    }

    #[test]
    fn the_page_has_four_titled_plots_and_no_script() {
        let html = render(&weekly(), 12, OffsetDateTime::UNIX_EPOCH);
        assert_eq!(html.matches("<svg class=\"plot\"").count(), 4, "{html}");
        assert_eq!(
            html.matches("<title>").count(),
            5,
            "the page's and one per plot"
        );
        assert!(!html.to_lowercase().contains("<script"), "{html}");
        assert!(html.contains("@media print"));
        // The numbers, where a reader finds them.
        assert!(html.contains(
            "<tr data-week=\"2026-W49\" data-rule=\"R1\"><td class=\"name\">2026-W49</td>"
        ));
        assert!(html.contains("<td data-field=\"share_fired\" data-value=\"0.25\">25.0%</td>"));
        // Text from the store is escaped.
        assert!(html.contains("&lt;already-addressed&gt; (1)"), "{html}");
        assert!(!html.contains("<already-addressed>"));
        // Each week names its profile's version and change note beside the hash.
        assert!(html.contains(
            "<span data-profile=\"default@abc\">version 1.1.0 (default@abc): \
             Rule modes &lt;no clinical change&gt;</span>"
        ));
    }

    #[test]
    fn a_profile_hash_the_store_has_no_version_for_is_shown_alone() {
        let mut weekly = weekly();
        weekly.profiles.clear();
        let html = render(&weekly, 12, OffsetDateTime::UNIX_EPOCH);
        assert!(html.contains("<span data-profile=\"default@abc\">default@abc</span>"));
    }

    #[test]
    fn an_empty_period_says_so_and_draws_nothing() {
        let html = render(&Weekly::default(), 4, OffsetDateTime::UNIX_EPOCH);
        assert!(html.contains("No hook call or card in this period."));
        assert!(!html.contains("<svg"));
    }
}
