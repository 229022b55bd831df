//! The SQL the writer runs, as macros that compile once per backend's connection or
//! transaction (like [`crate::on_pool!`]): card records, the records of suppressed cards,
//! feedback, and the suppression check.

//!
//! The macros name the record types and these constants unqualified: the module that uses them
//! imports both.
/// Inserts card records, each with its suggestions in its `suggestions` column
/// ([`CardRecord::suggestions_column`]), with one multi-row INSERT (a macro so that it works on
/// either backend's transaction, like [`on_pool!`]). A card uuid seen before is left as it was.
/// `$cards` is a non-empty slice of at most [`MAX_CARDS_PER_INSERT`] records.
macro_rules! insert_cards {
    ($tx:expr, $cards:expr) => {{
        let cards: &[&CardRecord] = $cards;
        let mut insert = sqlx::QueryBuilder::new(
            "INSERT INTO audit_cards (card_uuid, rule_id, indicator, mode, profile_version, \
             service, hook, hook_instance, issued_at_ms, issuer, tenant, patient_hash, \
             fingerprint, encounter_hash, suggestions) ",
        );
        insert.push_values(cards, |mut row, card| {
            row.push_bind(&card.card_uuid)
                .push_bind(&card.rule_id)
                .push_bind(&card.indicator)
                .push_bind(&card.mode)
                .push_bind(&card.profile_version)
                .push_bind(&card.service)
                .push_bind(&card.hook)
                .push_bind(&card.hook_instance)
                .push_bind(card.issued_at_ms)
                .push_bind(&card.issuer)
                .push_bind(&card.tenant)
                .push_bind(&card.patient_hash)
                .push_bind(&card.fingerprint)
                .push_bind(&card.encounter_hash)
                .push_bind(card.suggestions_column());
        });
        insert.push(" ON CONFLICT (card_uuid) DO NOTHING");
        insert.build().execute(&mut *$tx).await?;
    }};
}

/// Rows per multi-row INSERT (cards, suggestions, long forms): 14 bound values each at most,
/// far within SQLite's 32,766 and PostgreSQL's 65,535 bound values per statement. Few enough
/// that each table's statements come in at most 16 texts (one per row count), so every one stays
/// prepared in sqlx's per-connection statement cache (100 statements) instead of being parsed
/// and planned again; enough that a batch of 25 calls takes two or three statements per table.
pub(super) const MAX_CARDS_PER_INSERT: usize = 16;

/// Inserts the records of suppressed cards, one statement each (they are few).
macro_rules! insert_suppressed {
    ($tx:expr, $record:expr) => {{
        let record: &SuppressedRecord = $record;
        sqlx::query(
            "INSERT INTO audit_suppressed (rule_id, reason, fingerprint, service, hook_instance, \
             suppressed_at_ms, issuer, tenant, patient_hash) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&record.rule_id)
        .bind(record.reason.as_str())
        .bind(&record.fingerprint)
        .bind(&record.service)
        .bind(&record.hook_instance)
        .bind(record.suppressed_at_ms)
        .bind(&record.issuer)
        .bind(&record.tenant)
        .bind(&record.patient_hash)
        .execute($tx)
        .await?;
    }};
}

/// A card with this fingerprint, for this patient, caller and service, that a clinician of the
/// same caller overrode with a dismissing reason at the same service: one primary-key lookup
/// in `scoped_overrides`, which storing feedback keeps. Feedback about a card with no audit
/// record, or one issued to another caller or service, is not stored and dismisses nothing.
pub(crate) const DISMISSED: &str = "SELECT EXISTS (SELECT 1 FROM scoped_overrides \
     WHERE patient_hash = $1 AND fingerprint = $2 AND issuer = $3 AND tenant = $4 \
     AND service = $7 AND override_system = $5 AND override_code = $6)";

/// A card with this fingerprint, for this patient and caller, shown since the start of the
/// repeat window or in the same encounter. Two lookups, each on its own index, so that neither
/// reads the patient's older cards: a range of (patient, fingerprint, issued at), and a prefix
/// of (encounter, fingerprint). A NULL encounter matches no row. A silent card was never shown,
/// so it makes no later card a repeat (`mode = 'active'`, read from the rows the index found).
pub(crate) const SHOWN: &str = "SELECT EXISTS (SELECT 1 FROM audit_cards \
     WHERE patient_hash = $1 AND fingerprint = $2 AND issued_at_ms >= $5 \
     AND COALESCE(issuer, '') = $3 AND COALESCE(tenant, '') = $4 AND mode = 'active') \
     OR EXISTS (SELECT 1 FROM audit_cards \
     WHERE encounter_hash = $6 AND fingerprint = $2 AND patient_hash = $1 \
     AND COALESCE(issuer, '') = $3 AND COALESCE(tenant, '') = $4 AND mode = 'active')";

/// Remembers that a clinician overrode a card with a reason, under the card's patient,
/// fingerprint, caller and service (from its audit row: a card without a fingerprint adds
/// nothing). Run only for a card whose caller and service are the sender's (see
/// [`CARD_OF_SENDER`]). The same card overridden again keeps the latest card's issue time.
/// Returns the patient hash when it stored or updated a row (for the index of dismissals).
pub(super) const REMEMBER_OVERRIDE: &str = "INSERT INTO scoped_overrides (patient_hash, fingerprint, \
     issuer, tenant, service, override_system, override_code, card_issued_at_ms) \
     SELECT patient_hash, fingerprint, COALESCE(issuer, ''), COALESCE(tenant, ''), service, \
     $2, $3, issued_at_ms FROM audit_cards WHERE card_uuid = $1 AND fingerprint IS NOT NULL \
     ON CONFLICT (patient_hash, fingerprint, issuer, tenant, service, override_system, \
     override_code) DO UPDATE SET card_issued_at_ms = excluded.card_issued_at_ms \
     WHERE excluded.card_issued_at_ms > scoped_overrides.card_issued_at_ms \
     RETURNING patient_hash";

/// The rule of a card and the suggestions it offered (its `suggestions` column), if it was
/// issued to the sender of the feedback about it: the same issuer and tenant (empty when
/// unauthenticated), at the service the feedback was posted to.
pub(super) const CARD_OF_SENDER: &str = "SELECT rule_id, suggestions FROM audit_cards \
     WHERE card_uuid = $1 \
     AND service = $2 AND COALESCE(issuer, '') = $3 AND COALESCE(tenant, '') = $4";

/// Answers a suppression query: a dismissal first (it hides a card at every hook), then a
/// repeat (only where the candidate allows it).
macro_rules! check_suppression {
    ($tx:expr, $query:expr) => {{
        let query: &SuppressionQuery = $query;
        let issuer = query.issuer.as_deref().unwrap_or("");
        let tenant = query.tenant.as_deref().unwrap_or("");
        let mut found = Vec::with_capacity(query.candidates.len());
        for (fingerprint, repeat_hides) in &query.candidates {
            // One primary-key lookup per dismissing reason, stopping at the first found.
            let mut dismissed = false;
            for (system, code) in &query.dismissing {
                dismissed = sqlx::query_scalar(DISMISSED)
                    .bind(&query.patient_hash)
                    .bind(fingerprint)
                    .bind(issuer)
                    .bind(tenant)
                    .bind(system)
                    .bind(code)
                    .bind(&query.service)
                    .fetch_one(&mut *$tx)
                    .await?;
                if dismissed {
                    break;
                }
            }
            if dismissed {
                found.push(Some(SuppressionReason::AlreadyAddressed));
                continue;
            }
            if *repeat_hides {
                let shown: bool = sqlx::query_scalar(SHOWN)
                    .bind(&query.patient_hash)
                    .bind(fingerprint)
                    .bind(issuer)
                    .bind(tenant)
                    .bind(query.repeat_since_ms)
                    .bind(&query.encounter_hash)
                    .fetch_one(&mut *$tx)
                    .await?;
                if shown {
                    found.push(Some(SuppressionReason::Repeat));
                    continue;
                }
            }
            found.push(None);
        }
        found
    }};
}

/// Stores one feedback item, if it is about a card issued to its sender (see [`CARD_OF_SENDER`])
/// and not a duplicate, and finds the rule of its card. Also gives the patient hash of a card it
/// stored an override for.
macro_rules! insert_feedback {
    ($tx:expr, $item:expr) => {{
        let item: &FeedbackRecord = $item;
        let card: Option<(String, Option<String>)> = sqlx::query_as(CARD_OF_SENDER)
            .bind(&item.card_uuid)
            .bind(&item.service)
            .bind(item.issuer.as_deref().unwrap_or(""))
            .bind(item.tenant.as_deref().unwrap_or(""))
            .fetch_optional(&mut *$tx)
            .await?;
        let (rule_id, offered) = match card {
            Some((rule_id, offered)) => (Some(rule_id), offered),
            None => (None, None),
        };
        let inserted = if rule_id.is_none() {
            // Not a card of this sender's (never issued, purged, or another caller's or
            // service's): nothing is stored, so it can neither hide a card nor fill the disk.
            0
        } else {
            sqlx::query(
                "INSERT INTO feedback (card_uuid, outcome, outcome_at_ms, service, \
                 override_system, override_code, has_comment, received_at_ms, issuer, tenant) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                 ON CONFLICT (card_uuid, outcome, outcome_at_ms) DO NOTHING",
            )
            .bind(&item.card_uuid)
            .bind(&item.outcome)
            .bind(item.outcome_at_ms)
            .bind(&item.service)
            .bind(&item.override_system)
            .bind(&item.override_code)
            .bind(item.has_comment)
            .bind(item.received_at_ms)
            .bind(&item.issuer)
            .bind(&item.tenant)
            .execute(&mut *$tx)
            .await?
            .rows_affected()
        };
        let mut dismissed: Option<String> = None;
        if inserted > 0
            && item.outcome == "overridden"
            && let (Some(system), Some(code)) = (&item.override_system, &item.override_code)
        {
            dismissed = sqlx::query_scalar(REMEMBER_OVERRIDE)
                .bind(&item.card_uuid)
                .bind(system)
                .bind(code)
                .fetch_optional(&mut *$tx)
                .await?;
        }
        if inserted > 0 {
            for suggestion in &item.accepted_suggestions {
                sqlx::query(
                    "INSERT INTO feedback_suggestions (card_uuid, outcome_at_ms, suggestion_uuid) \
                     VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                )
                .bind(&item.card_uuid)
                .bind(item.outcome_at_ms)
                .bind(suggestion)
                .execute(&mut *$tx)
                .await?;
                // The reports name an accepted suggestion by its label, from
                // `audit_suggestions`: the row is written now, from the card's own column. (A
                // card of the release before has its rows there already.)
                if let Some(label) = offered
                    .as_deref()
                    .and_then(|offered| suggestion_label(offered, suggestion))
                {
                    sqlx::query(
                        "INSERT INTO audit_suggestions (card_uuid, suggestion_uuid, label) \
                         VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                    )
                    .bind(&item.card_uuid)
                    .bind(suggestion)
                    .bind(label)
                    .execute(&mut *$tx)
                    .await?;
                }
            }
        }
        (
            FeedbackStored {
                duplicate: rule_id.is_some() && inserted == 0,
                rule_id,
            },
            dismissed,
        )
    }};
}

pub(super) use {check_suppression, insert_cards, insert_feedback, insert_suppressed};
