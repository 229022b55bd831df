//! The governance report (per rule: how often it fired, how often clinicians accepted or
//! overrode it, why they overrode it, which suggestions they took; how often a silent rule would
//! have shown a card; which profile versions issued the period's cards).
//!
//! Feedback is joined to the rule through the card it names. Rates count *cards*, not
//! feedback rows, so a clinician who sends the same verdict twice, or feedback for a card that
//! was never issued, cannot move a rule's numbers: the latter is reported apart, as unmatched.

use sqlx::Row as _;

use crate::{Store, StoreError, on_pool};

/// The report for cards issued since a moment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    /// One entry per rule that fired, ordered by rule id.
    pub rules: Vec<RuleReport>,
    /// Feedback items (received since the same moment) about cards with no audit record.
    pub unmatched_feedback: i64,
    /// All feedback rows received since the same moment, matched or not.
    pub feedback_rows: i64,
    /// The profile versions that issued the cards (shown and silent), earliest first: which
    /// version produced the period's numbers.
    pub profiles: Vec<ProfileUse>,
}

/// One profile version's share of the period's cards.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfileUse {
    /// `name@hash`, as every card record holds it.
    pub version: String,
    pub cards: i64,
    /// The first and last card it issued in the period (Unix ms).
    pub first_ms: i64,
    pub last_ms: i64,
}

/// One rule's numbers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuleReport {
    pub rule_id: String,
    /// Cards issued and sent (`mode = 'active'`): the rates are of these.
    pub fired: i64,
    /// Cards of the rule running silently: recorded as "would have shown", never sent, so never
    /// accepted or overridden.
    pub silent: i64,
    /// Cards with at least one `accepted` feedback.
    pub accepted: i64,
    /// Cards with at least one `overridden` feedback.
    pub overridden: i64,
    /// Override reasons (`(none given)` when absent), most frequent first: a standard code by
    /// itself (`action-completed`), any other as `code (system)`.
    pub override_reasons: Vec<(String, i64)>,
    /// Suggestion labels accepted, most frequent first.
    pub suggestions_taken: Vec<(String, i64)>,
    /// Cards of this rule not shown because the same card had been shown already (in the
    /// encounter or the repeat window, at an order hook), since the same moment.
    pub suppressed_repeat: i64,
    /// Cards of this rule not shown because a clinician had dismissed the same card, on the same
    /// evidence, as already addressed.
    pub suppressed_already_addressed: i64,
}

impl RuleReport {
    /// The share of fired cards accepted, 0 when the rule never fired.
    pub fn acceptance_rate(&self) -> f64 {
        ratio(self.accepted, self.fired)
    }

    /// The share of fired cards overridden, 0 when the rule never fired.
    pub fn override_rate(&self) -> f64 {
        ratio(self.overridden, self.fired)
    }
}

fn ratio(part: i64, whole: i64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// The report's name for an override reason (see [`REASONS`]), as SQL both backends run.
macro_rules! reason_label {
    () => {
        "CASE WHEN f.override_code IS NULL THEN '(none given)' \
         WHEN f.override_system IS NULL \
           OR f.override_system = 'http://terminology.hl7.org/CodeSystem/non-adherence-reason-codes' \
         THEN f.override_code \
         ELSE f.override_code || ' (' || f.override_system || ')' END"
    };
}
pub(crate) use reason_label;

const FIRED: &str = "SELECT rule_id, COUNT(*) FROM audit_cards WHERE issued_at_ms >= $1 \
     AND mode = 'active' GROUP BY rule_id ORDER BY rule_id";

const SILENT: &str = "SELECT rule_id, mode, COUNT(*) FROM audit_cards WHERE issued_at_ms >= $1 \
     AND mode = 'silent' GROUP BY rule_id, mode";

const PROFILES: &str = "SELECT profile_version, COUNT(*), MIN(issued_at_ms), MAX(issued_at_ms) \
     FROM audit_cards WHERE issued_at_ms >= $1 GROUP BY profile_version \
     ORDER BY MIN(issued_at_ms), profile_version";

const OUTCOMES: &str = "SELECT c.rule_id, f.outcome, COUNT(DISTINCT c.card_uuid) \
     FROM feedback f JOIN audit_cards c ON c.card_uuid = f.card_uuid \
     WHERE c.issued_at_ms >= $1 GROUP BY c.rule_id, f.outcome";

/// Overrides grouped by reason, system and code: a code of HL7's non-adherence reason codes
/// (CDS Hooks 3.0.0) is named by its code alone, a code of any other system (the earlier
/// `urn:gravida:override-reason` ones, a site's own) as `code (system)`, so that two systems'
/// codes never merge.
const REASONS: &str = concat!(
    "SELECT c.rule_id, ",
    reason_label!(),
    ", COUNT(DISTINCT c.card_uuid) \
     FROM feedback f JOIN audit_cards c ON c.card_uuid = f.card_uuid \
     WHERE c.issued_at_ms >= $1 AND f.outcome = 'overridden' \
     GROUP BY c.rule_id, ",
    reason_label!()
);

const SUGGESTIONS: &str = "SELECT c.rule_id, COALESCE(s.label, '(unknown suggestion)'), \
     COUNT(DISTINCT c.card_uuid) \
     FROM feedback_suggestions fs JOIN audit_cards c ON c.card_uuid = fs.card_uuid \
     LEFT JOIN audit_suggestions s \
       ON s.card_uuid = fs.card_uuid AND s.suggestion_uuid = fs.suggestion_uuid \
     WHERE c.issued_at_ms >= $1 \
     GROUP BY c.rule_id, COALESCE(s.label, '(unknown suggestion)')";

const UNMATCHED: &str = "SELECT COUNT(*) FROM feedback f WHERE f.received_at_ms >= $1 \
     AND NOT EXISTS (SELECT 1 FROM audit_cards c WHERE c.card_uuid = f.card_uuid)";

const SUPPRESSED: &str = "SELECT rule_id, reason, COUNT(*) FROM audit_suppressed \
     WHERE suppressed_at_ms >= $1 GROUP BY rule_id, reason";

const FEEDBACK_ROWS: &str = "SELECT COUNT(*) FROM feedback WHERE received_at_ms >= $1";

impl Store {
    /// The report over cards issued at or after `since_ms` (Unix milliseconds; 0 for all).
    pub async fn report(&self, since_ms: i64) -> Result<Report, StoreError> {
        // (rule, label, count) rows from each grouped query.
        type Triples = Vec<(String, String, i64)>;
        // (fired, the grouped queries' rows, unmatched feedback, feedback rows, profiles)
        type Fetched = (Vec<(String, i64)>, Vec<Triples>, i64, i64, Vec<ProfileUse>);
        let (fired, mut triples, unmatched, feedback_rows, profiles): Fetched = on_pool!(self, pool => {
            let fired = sqlx::query(FIRED).bind(since_ms).fetch_all(pool).await?
                .iter()
                .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
                .collect::<Result<Vec<_>, sqlx::Error>>()?;
            let mut triples = Vec::new();
            for sql in [OUTCOMES, REASONS, SUGGESTIONS, SILENT, SUPPRESSED] {
                triples.push(
                    sqlx::query(sql).bind(since_ms).fetch_all(pool).await?
                        .iter()
                        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
                        .collect::<Result<Triples, sqlx::Error>>()?,
                );
            }
            let unmatched: i64 = sqlx::query_scalar(UNMATCHED).bind(since_ms).fetch_one(pool).await?;
            let rows: i64 = sqlx::query_scalar(FEEDBACK_ROWS).bind(since_ms).fetch_one(pool).await?;
            let profiles = sqlx::query(PROFILES).bind(since_ms).fetch_all(pool).await?
                .iter()
                .map(|r| Ok(ProfileUse {
                    version: r.try_get(0)?,
                    cards: r.try_get(1)?,
                    first_ms: r.try_get(2)?,
                    last_ms: r.try_get(3)?,
                }))
                .collect::<Result<Vec<_>, sqlx::Error>>()?;
            (fired, triples, unmatched, rows, profiles)
        });
        // In the order of the queries above.
        let suppressed = triples.pop().unwrap_or_default();
        let silent = triples.pop().unwrap_or_default();
        let suggestions = triples.pop().unwrap_or_default();
        let reasons = triples.pop().unwrap_or_default();
        let outcomes = triples.pop().unwrap_or_default();

        let mut rules: Vec<RuleReport> = fired
            .into_iter()
            .map(|(rule_id, fired)| RuleReport {
                rule_id,
                fired,
                ..RuleReport::default()
            })
            .collect();
        for (rule, outcome, count) in outcomes {
            if let Some(r) = rules.iter_mut().find(|r| r.rule_id == rule) {
                match outcome.as_str() {
                    "accepted" => r.accepted = count,
                    "overridden" => r.overridden = count,
                    _ => {}
                }
            }
        }
        for (rule, reason, count) in reasons {
            if let Some(r) = rules.iter_mut().find(|r| r.rule_id == rule) {
                r.override_reasons.push((reason, count));
            }
        }
        for (rule, label, count) in suggestions {
            if let Some(r) = rules.iter_mut().find(|r| r.rule_id == rule) {
                r.suggestions_taken.push((label, count));
            }
        }
        for (rule, _, count) in silent {
            // A silent rule has no shown cards: its row is made here.
            if !rules.iter().any(|r| r.rule_id == rule) {
                rules.push(RuleReport {
                    rule_id: rule.clone(),
                    ..RuleReport::default()
                });
            }
            if let Some(r) = rules.iter_mut().find(|r| r.rule_id == rule) {
                r.silent = count;
            }
        }
        for (rule, reason, count) in suppressed {
            // A rule may have been only suppressed since the moment: it gets a row too.
            if !rules.iter().any(|r| r.rule_id == rule) {
                rules.push(RuleReport {
                    rule_id: rule.clone(),
                    ..RuleReport::default()
                });
            }
            if let Some(r) = rules.iter_mut().find(|r| r.rule_id == rule) {
                match reason.as_str() {
                    "repeat" => r.suppressed_repeat += count,
                    "already-addressed" => r.suppressed_already_addressed += count,
                    _ => {}
                }
            }
        }
        // R2 before R10: shorter ids first, then by name.
        rules.sort_by(|a, b| (a.rule_id.len(), &a.rule_id).cmp(&(b.rule_id.len(), &b.rule_id)));
        for r in &mut rules {
            // Most frequent first; ties in name order, so the output is stable.
            r.override_reasons
                .sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            r.suggestions_taken
                .sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        }
        Ok(Report {
            rules,
            unmatched_feedback: unmatched,
            feedback_rows,
            profiles,
        })
    }

    /// A sealed long form by its lookup hash, unless it has expired by `now_ms`.
    pub async fn long_form(
        &self,
        lookup: &[u8],
        now_ms: i64,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let sealed = on_pool!(self, pool => {
            sqlx::query_scalar(
                "SELECT sealed FROM long_form_sheets WHERE lookup = $1 AND expires_at_ms > $2",
            )
            .bind(lookup)
            .bind(now_ms)
            .fetch_optional(pool)
            .await?
        });
        Ok(sealed)
    }

    /// A long form sealed by the release before (base64 text, found by a hex lookup hash), unless
    /// it has expired by `now_ms`: read until the last of them expires.
    pub async fn legacy_long_form(
        &self,
        lookup: &str,
        now_ms: i64,
    ) -> Result<Option<String>, StoreError> {
        let sealed = on_pool!(self, pool => {
            sqlx::query_scalar(
                "SELECT sealed FROM card_long_forms WHERE lookup = $1 AND expires_at_ms > $2",
            )
            .bind(lookup)
            .bind(now_ms)
            .fetch_optional(pool)
            .await?
        });
        Ok(sealed)
    }
}
