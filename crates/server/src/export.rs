//! The governance console's numbers as data: `gravida report --format json|csv`, and
//! `/admin/report.json` on the admin listener. The same [`Weekly`] the console draws, so what a
//! committee exports is what it saw.
//!
//! JSON keeps the shape of [`Weekly`] (weeks, each with its rules and hooks, and `profiles`:
//! the version and change note of each profile hash the weeks name). CSV is one table,
//! one row per week and *scope*: `rule` and `hook` rows carry the counts, `override_reason` and
//! `suggestion` rows a rule's reasons and suggestions with their `count`. A share with no counted
//! call is empty in CSV and `null` in JSON: unknown, not zero.

use std::fmt::Write as _;

use gravida_store::Weekly;
use serde_json::{Value, json};

/// The CSV header, in the column order of every row.
pub const CSV_HEADER: &str = "week,week_starts,scope,rule,name,calls,calls_fired,share_fired,\
fired_active,fired_silent,accepted,overridden,count,profile_versions";

/// The weekly numbers as JSON.
pub fn json(weekly: &Weekly) -> Value {
    let pairs = |items: &[(String, i64)]| -> Vec<Value> {
        items
            .iter()
            .map(|(name, count)| json!({ "name": name, "count": count }))
            .collect()
    };
    let weeks: Vec<Value> = weekly
        .weeks
        .iter()
        .map(|w| {
            json!({
                "week": w.week,
                "starts": w.starts,
                "calls": w.calls,
                "profile_versions": w.profile_versions,
                "rules": w.rules.iter().map(|r| json!({
                    "rule": r.rule_id,
                    "fired_active": r.fired_active,
                    "fired_silent": r.fired_silent,
                    "calls_fired": r.calls_fired,
                    "share_fired": r.share_fired,
                    "accepted": r.accepted,
                    "overridden": r.overridden,
                    "override_reasons": pairs(&r.override_reasons),
                    "suggestions_taken": pairs(&r.suggestions_taken),
                })).collect::<Vec<_>>(),
                "hooks": w.hooks.iter().map(|h| json!({
                    "hook": h.hook,
                    "calls": h.calls,
                    "calls_fired": h.calls_fired,
                    "share_fired": h.share_fired,
                    "cards_active": h.cards_active,
                    "cards_silent": h.cards_silent,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let profiles: Vec<Value> = weekly
        .profiles
        .iter()
        .map(|p| {
            json!({
                "profile_version": p.profile_version,
                "version": p.version,
                "change_note": p.change_note,
            })
        })
        .collect();
    json!({ "weeks": weeks, "profiles": profiles })
}

/// The weekly numbers as CSV (RFC 4180: a field with a comma, quote or line break is quoted).
pub fn csv(weekly: &Weekly) -> String {
    let mut out = format!("{CSV_HEADER}\r\n");
    let share = |s: Option<f64>| s.map_or(String::new(), |s| format!("{s:.4}"));
    for w in &weekly.weeks {
        let versions = w.profile_versions.join(" ");
        let mut row = |fields: [&str; 14]| {
            let line: Vec<String> = fields.iter().map(|f| field(f)).collect();
            let _ = write!(out, "{}\r\n", line.join(","));
        };
        for r in &w.rules {
            row([
                &w.week,
                &w.starts,
                "rule",
                &r.rule_id,
                "",
                &w.calls.to_string(),
                &r.calls_fired.to_string(),
                &share(r.share_fired),
                &r.fired_active.to_string(),
                &r.fired_silent.to_string(),
                &r.accepted.to_string(),
                &r.overridden.to_string(),
                "",
                &versions,
            ]);
        }
        for h in &w.hooks {
            row([
                &w.week,
                &w.starts,
                "hook",
                "",
                &h.hook,
                &h.calls.to_string(),
                &h.calls_fired.to_string(),
                &share(h.share_fired),
                &h.cards_active.to_string(),
                &h.cards_silent.to_string(),
                "",
                "",
                "",
                &versions,
            ]);
        }
        for r in &w.rules {
            for (scope, items) in [
                ("override_reason", &r.override_reasons),
                ("suggestion", &r.suggestions_taken),
            ] {
                for (name, count) in items {
                    row([
                        &w.week,
                        &w.starts,
                        scope,
                        &r.rule_id,
                        name,
                        "",
                        "",
                        "",
                        "",
                        "",
                        "",
                        "",
                        &count.to_string(),
                        &versions,
                    ]);
                }
            }
        }
    }
    out
}

/// One CSV field, quoted when it must be.
fn field(text: &str) -> String {
    if text.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gravida_store::{HookWeek, RuleWeek, WeekReport};

    fn weekly() -> Weekly {
        Weekly {
            weeks: vec![WeekReport {
                week: "2026-W50".into(),
                starts: "2026-12-07".into(),
                calls: 10,
                profile_versions: vec!["default@abc".into()],
                rules: vec![RuleWeek {
                    rule_id: "R1".into(),
                    fired_active: 2,
                    fired_silent: 1,
                    calls_fired: 3,
                    accepted: 1,
                    overridden: 1,
                    override_reasons: vec![("code, with comma (urn:x)".into(), 1)],
                    suggestions_taken: vec![("Order \"TVUS\"".into(), 1)],
                    share_fired: Some(0.3),
                }],
                hooks: vec![HookWeek {
                    hook: "patient-view".into(),
                    calls: 10,
                    calls_fired: 2,
                    cards_active: 2,
                    cards_silent: 1,
                    share_fired: None,
                }],
            }],
            profiles: vec![gravida_store::ProfileVersion {
                profile_version: "default@abc".into(),
                version: "1.1.0".into(),
                change_note: "rule modes".into(),
            }],
        }
    }

    #[test]
    fn the_csv_has_a_row_per_rule_hook_reason_and_suggestion_quoted_where_needed() {
        let text = csv(&weekly());
        let lines: Vec<&str> = text.split("\r\n").filter(|l| !l.is_empty()).collect();
        assert_eq!(lines[0], CSV_HEADER);
        assert_eq!(
            lines[1],
            "2026-W50,2026-12-07,rule,R1,,10,3,0.3000,2,1,1,1,,default@abc"
        );
        // An unknown share is empty, not 0.
        assert_eq!(
            lines[2],
            "2026-W50,2026-12-07,hook,,patient-view,10,2,,2,1,,,,default@abc"
        );
        assert_eq!(
            lines[3],
            "2026-W50,2026-12-07,override_reason,R1,\"code, with comma (urn:x)\",,,,,,,,1,default@abc"
        );
        assert!(
            lines[4].contains(",\"Order \"\"TVUS\"\"\","),
            "{}",
            lines[4]
        );
        assert_eq!(lines.len(), 5);
        // Every row has every column.
        for line in &lines[..3] {
            assert_eq!(line.split(',').count(), 14, "{line}");
        }
    }

    #[test]
    fn the_json_keeps_the_weeks_rules_and_hooks_with_null_for_an_unknown_share() {
        let value = json(&weekly());
        let week = &value["weeks"][0];
        assert_eq!(week["week"], "2026-W50");
        assert_eq!(week["rules"][0]["fired_silent"], 1);
        assert_eq!(week["rules"][0]["share_fired"], 0.3);
        assert_eq!(week["rules"][0]["override_reasons"][0]["count"], 1);
        assert!(week["hooks"][0]["share_fired"].is_null());
        // What each hash is: its version and change note.
        assert_eq!(value["profiles"][0]["profile_version"], "default@abc");
        assert_eq!(value["profiles"][0]["version"], "1.1.0");
        assert_eq!(value["profiles"][0]["change_note"], "rule modes");
    }
}
