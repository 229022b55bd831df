//! The governance console's numbers: per ISO week (UTC, Monday to Sunday), per rule and per
//! hook, how often cards fired (shown, or recorded silently), how clinicians answered them, why
//! they overrode them, which suggestions they took, and the share of the week's hook calls that
//! fired; with the profile versions that answered in that week.
//!
//! Like [`crate::Store::report`], outcomes count *cards* (a card accepted twice is one accepted
//! card) and are counted in the week the card was issued, so a week's row does not change
//! meaning as late feedback arrives: it fills in. The calls come from `hook_calls`, which the
//! writer counts (see `writer/tally.rs`); weeks before that count existed have cards but no
//! calls, and their shares are unknown (`None`), not zero.
//!
//! Each query groups by the week's number, `(day + 3) / 7` with `day` the days since the Unix
//! epoch: 1970-01-01 was a Thursday, so adding 3 makes each group run Monday to Sunday. The
//! same integer division runs on both backends; the calendar names ([`iso_week`]) are computed
//! here rather than in SQL, where the two backends spell dates differently.

use std::collections::BTreeMap;

use sqlx::Row as _;

use crate::ProfileVersion;
use crate::report::reason_label;
use crate::{Store, StoreError, on_pool};

/// Every week with a card or a counted call since a moment, oldest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Weekly {
    pub weeks: Vec<WeekReport>,
    /// The version and change note of each profile version the weeks name, as recorded
    /// ([`crate::ProfileVersion`]), in the order first seen; a hash with no record is absent.
    pub profiles: Vec<ProfileVersion>,
}

impl Weekly {
    /// What `profile_version` (`name@hash`) is, when recorded.
    pub fn profile(&self, profile_version: &str) -> Option<&ProfileVersion> {
        self.profiles
            .iter()
            .find(|p| p.profile_version == profile_version)
    }
}

/// One ISO week's numbers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WeekReport {
    /// `2026-W49`.
    pub week: String,
    /// Its Monday, `2026-11-30`.
    pub starts: String,
    /// Hook calls answered, at every hook (0 before calls were counted).
    pub calls: i64,
    /// The knowledge profile versions that answered calls or issued cards this week.
    pub profile_versions: Vec<String>,
    /// One entry per rule that fired, ordered by rule id (R2 before R10).
    pub rules: Vec<RuleWeek>,
    /// One entry per hook called or fired at, by name.
    pub hooks: Vec<HookWeek>,
}

/// One rule in one week.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuleWeek {
    pub rule_id: String,
    /// Cards shown.
    pub fired_active: i64,
    /// Cards recorded and not shown (the rule ran silently).
    pub fired_silent: i64,
    /// Hook calls in which the rule gave a card (shown or silent).
    pub calls_fired: i64,
    /// Cards with at least one `accepted` feedback.
    pub accepted: i64,
    /// Cards with at least one `overridden` feedback.
    pub overridden: i64,
    /// Override reasons, most frequent first: a code of HL7's standard override reasons by
    /// itself, any other as `code (system)`, `(none given)` when absent.
    pub override_reasons: Vec<(String, i64)>,
    /// Suggestion labels accepted, most frequent first.
    pub suggestions_taken: Vec<(String, i64)>,
    /// `calls_fired` over the week's calls; `None` when no call was counted.
    pub share_fired: Option<f64>,
}

/// One hook in one week.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HookWeek {
    pub hook: String,
    /// Calls answered at this hook.
    pub calls: i64,
    /// Calls that showed at least one card.
    pub calls_fired: i64,
    pub cards_active: i64,
    pub cards_silent: i64,
    /// `calls_fired` over `calls`; `None` when no call was counted.
    pub share_fired: Option<f64>,
}

/// The week's number of a time in Unix milliseconds, as SQL both backends run.
macro_rules! week_of {
    ($column:literal) => {
        concat!("((", $column, " / 86400000 + 3) / 7)")
    };
}

const CARDS: &str = concat!(
    "SELECT ",
    week_of!("issued_at_ms"),
    ", rule_id, mode, COUNT(*), COUNT(DISTINCT hook_instance) FROM audit_cards \
     WHERE issued_at_ms >= $1 GROUP BY ",
    week_of!("issued_at_ms"),
    ", rule_id, mode"
);

const HOOK_CARDS: &str = concat!(
    "SELECT ",
    week_of!("issued_at_ms"),
    ", hook, mode, COUNT(*), COUNT(DISTINCT hook_instance) FROM audit_cards \
     WHERE issued_at_ms >= $1 GROUP BY ",
    week_of!("issued_at_ms"),
    ", hook, mode"
);

const OUTCOMES: &str = concat!(
    "SELECT ",
    week_of!("c.issued_at_ms"),
    ", c.rule_id, f.outcome, COUNT(DISTINCT c.card_uuid) \
     FROM feedback f JOIN audit_cards c ON c.card_uuid = f.card_uuid \
     WHERE c.issued_at_ms >= $1 GROUP BY ",
    week_of!("c.issued_at_ms"),
    ", c.rule_id, f.outcome"
);

const REASONS: &str = concat!(
    "SELECT ",
    week_of!("c.issued_at_ms"),
    ", c.rule_id, ",
    reason_label!(),
    ", COUNT(DISTINCT c.card_uuid) \
     FROM feedback f JOIN audit_cards c ON c.card_uuid = f.card_uuid \
     WHERE c.issued_at_ms >= $1 AND f.outcome = 'overridden' GROUP BY ",
    week_of!("c.issued_at_ms"),
    ", c.rule_id, ",
    reason_label!()
);

const SUGGESTIONS: &str = concat!(
    "SELECT ",
    week_of!("c.issued_at_ms"),
    ", c.rule_id, COALESCE(s.label, '(unknown suggestion)'), COUNT(DISTINCT c.card_uuid) \
     FROM feedback_suggestions fs JOIN audit_cards c ON c.card_uuid = fs.card_uuid \
     LEFT JOIN audit_suggestions s \
       ON s.card_uuid = fs.card_uuid AND s.suggestion_uuid = fs.suggestion_uuid \
     WHERE c.issued_at_ms >= $1 GROUP BY ",
    week_of!("c.issued_at_ms"),
    ", c.rule_id, COALESCE(s.label, '(unknown suggestion)')"
);

/// `SUM` of a `BIGINT` is `NUMERIC` on PostgreSQL: cast back.
const CALLS: &str = "SELECT (day + 3) / 7, hook, CAST(SUM(calls) AS BIGINT) FROM hook_calls \
     WHERE day >= $1 GROUP BY (day + 3) / 7, hook";

const PROFILES: &str = concat!(
    "SELECT ",
    week_of!("issued_at_ms"),
    ", profile_version FROM audit_cards WHERE issued_at_ms >= $1 GROUP BY ",
    week_of!("issued_at_ms"),
    ", profile_version"
);

const CALL_PROFILES: &str = "SELECT (day + 3) / 7, profile_version FROM hook_calls \
     WHERE day >= $1 GROUP BY (day + 3) / 7, profile_version";

/// Rows of (week, a, b, count, distinct calls).
type Fives = Vec<(i64, String, String, i64, i64)>;
/// Rows of (week, a, b, count).
type Fours = Vec<(i64, String, String, i64)>;
/// Rows of (week, a, count) and (week, a).
type Threes = Vec<(i64, String, i64)>;
type Twos = Vec<(i64, String)>;

impl Store {
    /// The console's numbers for cards issued, and calls answered, at or after `since_ms`
    /// (Unix milliseconds; 0 for all). Calls are counted by day, so the day holding `since_ms`
    /// counts whole.
    pub async fn weekly(&self, since_ms: i64) -> Result<Weekly, StoreError> {
        let since_day = since_ms.div_euclid(86_400_000);
        let (cards, hook_cards, fours, calls, profiles): (Fives, Fives, Vec<Fours>, Threes, Twos) = on_pool!(self, pool => {
            let mut fives = Vec::new();
            for sql in [CARDS, HOOK_CARDS] {
                fives.push(sqlx::query(sql).bind(since_ms).fetch_all(pool).await?
                    .iter()
                    .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?, r.try_get(4)?)))
                    .collect::<Result<Fives, sqlx::Error>>()?);
            }
            let mut fours = Vec::new();
            for sql in [OUTCOMES, REASONS, SUGGESTIONS] {
                fours.push(sqlx::query(sql).bind(since_ms).fetch_all(pool).await?
                    .iter()
                    .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?)))
                    .collect::<Result<Fours, sqlx::Error>>()?);
            }
            let calls = sqlx::query(CALLS).bind(since_day).fetch_all(pool).await?
                .iter()
                .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
                .collect::<Result<Threes, sqlx::Error>>()?;
            let mut profiles = Vec::new();
            for (sql, bound) in [(PROFILES, since_ms), (CALL_PROFILES, since_day)] {
                profiles.extend(sqlx::query(sql).bind(bound).fetch_all(pool).await?
                    .iter()
                    .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
                    .collect::<Result<Twos, sqlx::Error>>()?);
            }
            let hook_cards = fives.pop().unwrap_or_default();
            let cards = fives.pop().unwrap_or_default();
            (cards, hook_cards, fours, calls, profiles)
        });
        let mut weekly = assemble(cards, hook_cards, fours, calls, profiles);
        weekly.profiles = self
            .profile_versions()
            .await?
            .into_iter()
            .filter(|p| {
                weekly
                    .weeks
                    .iter()
                    .any(|w| w.profile_versions.contains(&p.profile_version))
            })
            .collect();
        Ok(weekly)
    }
}

/// Puts the grouped rows together, week by week.
fn assemble(
    cards: Fives,
    hook_cards: Fives,
    mut fours: Vec<Fours>,
    calls: Threes,
    profiles: Twos,
) -> Weekly {
    let mut weeks: BTreeMap<i64, WeekReport> = BTreeMap::new();
    fn entry(weeks: &mut BTreeMap<i64, WeekReport>, n: i64) -> &mut WeekReport {
        weeks.entry(n).or_insert_with(|| {
            let (week, starts) = iso_week(n);
            WeekReport {
                week,
                starts,
                ..WeekReport::default()
            }
        })
    }
    fn rule<'a>(week: &'a mut WeekReport, id: &str) -> &'a mut RuleWeek {
        if let Some(i) = week.rules.iter().position(|r| r.rule_id == id) {
            return &mut week.rules[i];
        }
        week.rules.push(RuleWeek {
            rule_id: id.to_owned(),
            ..RuleWeek::default()
        });
        week.rules.last_mut().expect("just pushed")
    }
    fn hook<'a>(week: &'a mut WeekReport, name: &str) -> &'a mut HookWeek {
        if let Some(i) = week.hooks.iter().position(|h| h.hook == name) {
            return &mut week.hooks[i];
        }
        week.hooks.push(HookWeek {
            hook: name.to_owned(),
            ..HookWeek::default()
        });
        week.hooks.last_mut().expect("just pushed")
    }

    for (n, rule_id, mode, count, in_calls) in cards {
        let r = rule(entry(&mut weeks, n), &rule_id);
        if mode == "silent" {
            r.fired_silent += count;
        } else {
            r.fired_active += count;
        }
        r.calls_fired += in_calls;
    }
    for (n, name, mode, count, in_calls) in hook_cards {
        let h = hook(entry(&mut weeks, n), &name);
        if mode == "silent" {
            h.cards_silent += count;
        } else {
            h.cards_active += count;
            h.calls_fired += in_calls;
        }
    }
    // In the order of the queries: outcomes, reasons, suggestions.
    let suggestions = fours.pop().unwrap_or_default();
    let reasons = fours.pop().unwrap_or_default();
    let outcomes = fours.pop().unwrap_or_default();
    for (n, rule_id, outcome, count) in outcomes {
        let r = rule(entry(&mut weeks, n), &rule_id);
        match outcome.as_str() {
            "accepted" => r.accepted = count,
            "overridden" => r.overridden = count,
            _ => {}
        }
    }
    for (n, rule_id, reason, count) in reasons {
        rule(entry(&mut weeks, n), &rule_id)
            .override_reasons
            .push((reason, count));
    }
    for (n, rule_id, label, count) in suggestions {
        rule(entry(&mut weeks, n), &rule_id)
            .suggestions_taken
            .push((label, count));
    }
    for (n, name, count) in calls {
        let week = entry(&mut weeks, n);
        week.calls += count;
        hook(week, &name).calls += count;
    }
    for (n, version) in profiles {
        let week = entry(&mut weeks, n);
        if !week.profile_versions.contains(&version) {
            week.profile_versions.push(version);
        }
    }

    let share = |part: i64, whole: i64| (whole > 0).then(|| part as f64 / whole as f64);
    for week in weeks.values_mut() {
        week.profile_versions.sort();
        week.hooks.sort_by(|a, b| a.hook.cmp(&b.hook));
        week.rules
            .sort_by(|a, b| (a.rule_id.len(), &a.rule_id).cmp(&(b.rule_id.len(), &b.rule_id)));
        for h in &mut week.hooks {
            h.share_fired = share(h.calls_fired, h.calls);
        }
        for r in &mut week.rules {
            r.share_fired = share(r.calls_fired, week.calls);
            r.override_reasons
                .sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            r.suggestions_taken
                .sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        }
    }
    Weekly {
        weeks: weeks.into_values().collect(),
        profiles: Vec::new(),
    }
}

/// The ISO name and the Monday of week number `n` (see the module documentation):
/// (`2026-W49`, `2026-11-30`). A week belongs to the year of its Thursday.
pub fn iso_week(n: i64) -> (String, String) {
    let monday = n * 7 - 3;
    let thursday = monday + 3;
    let (year, _, _) = civil_from_days(thursday);
    let week = (thursday - days_from_civil(year, 1, 1)) / 7 + 1;
    let (y, m, d) = civil_from_days(monday);
    (
        format!("{year}-W{week:02}"),
        format!("{y:04}-{m:02}-{d:02}"),
    )
}

/// The proleptic Gregorian date of a day since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// The days since 1970-01-01 of a proleptic Gregorian date (the inverse of the above).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weeks_are_named_as_iso_8601_names_them() {
        // 1970-01-01 is a Thursday, in week 1 of 1970, which starts on Monday 1969-12-29.
        assert_eq!(
            iso_week(0),
            ("1970-W01".to_owned(), "1969-12-29".to_owned())
        );
        // 2026-12-07 (day 20,794) is a Monday in week 50 of 2026.
        let n = (20_794 + 3) / 7;
        assert_eq!(
            iso_week(n),
            ("2026-W50".to_owned(), "2026-12-07".to_owned())
        );
        // 2021-01-03, a Sunday, is still in 2020's week 53.
        let day = days_from_civil(2021, 1, 3);
        assert_eq!(iso_week((day + 3) / 7).0, "2020-W53");
        // 2024-12-30, a Monday, starts 2025's week 1.
        let day = days_from_civil(2024, 12, 30);
        assert_eq!(
            iso_week((day + 3) / 7),
            ("2025-W01".to_owned(), "2024-12-30".to_owned())
        );
    }

    #[test]
    fn days_and_dates_convert_both_ways() {
        for day in [-800_000, -1, 0, 59, 20_794, 2_932_896] {
            let (y, m, d) = civil_from_days(day);
            assert_eq!(days_from_civil(y, m, d), day);
        }
        assert_eq!(civil_from_days(20_794), (2026, 12, 7));
    }
}
