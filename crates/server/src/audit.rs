//! The audit trail as the server sees it: opening the store at start-up, recording the cards
//! of each hook call, storing feedback, the hourly retention purge, and the keyed hashes that
//! stand in for patients, encounters and cards (see [`crate::suppress`], which uses them).
//!
//! A hook call's records (its cards, their sealed long forms) are queued as one job on the
//! [`AuditWriter`] before the call is answered, never waiting for the disk: at most
//! `store.enqueue_wait_ms` for room in a full queue, and never past the call's deadline. A call
//! whose records find none is answered 503, without its cards, so that no card is sent that the
//! trail does not hold. Feedback is acknowledged only
//! once committed, and gets 503 when it cannot be (the store is down or the queue is full). The
//! patient appears in the trail only as a keyed hash.
//!
//! A background check asks the store every [`HEALTH_INTERVAL`] whether it can be used
//! ([`Store::health`]), and `/readyz` reads its last answer ([`Audit::not_ready`]): a probe costs
//! no query, and a store that is down or has a schema newer than this binary's makes the replica
//! not ready, with the reason; so does a writer that has lost records lately
//! ([`AuditWriter::losing`]: a store that is full, slow or read-only answers the health query
//! but refuses or delays the writes).

use std::time::Duration;

use anyhow::Context as _;
use gravida_auth::Caller;
use gravida_cds_hooks::{FeedbackRequest, HookContext};
use gravida_store::{
    AuditWriter, Backlog, CallRecords, CallTally, CardRecord, FeedbackRecord, Health,
    LongFormRecord, PatientHasher, ProfileVersion, Store, StoreOptions, SuggestionRecord,
    SuppressedRecord, SuppressionQuery, SuppressionReason, WriterConfig,
};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::watch;

use crate::card::Shown;
use crate::error::ApiError;
use crate::metrics::bounded_label;
use crate::services::ServiceDef;
use crate::settings::StoreSettings;

/// A sealed long form as the store holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SealedLongForm {
    /// Sealed bytes (`long_form_sheets`).
    Current(Vec<u8>),
    /// Base64, sealed by the release before (`card_long_forms`).
    Legacy(String),
}

/// One answered hook call as the audit trail and suppression see it.
#[derive(Debug, Clone, Copy)]
pub struct HookCall<'a> {
    pub service: &'a ServiceDef,
    pub hook_instance: &'a str,
    /// The context as [`crate::call::answer`] validated it for the service's hook.
    pub context: &'a HookContext,
    /// The authenticated caller; `None` on an unauthenticated (loopback) deployment.
    pub caller: Option<&'a Caller>,
    /// When the call was answered.
    pub now: OffsetDateTime,
}

/// How often the retention purge runs.
const PURGE_INTERVAL: Duration = Duration::from_secs(3600);

/// How often expired long forms are deleted ([`purge_expired_periodically`]).
const EXPIRY_PURGE_INTERVAL: Duration = Duration::from_secs(60);

/// How often the store's health is checked for `/readyz`.
const HEALTH_INTERVAL: Duration = Duration::from_secs(2);

/// How long one health check may take before the store counts as unreachable.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(5);

/// The audit trail: the store, its writer and the patient-id hasher. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Audit {
    store: Store,
    writer: AuditWriter,
    hasher: PatientHasher,
    /// The last health check's answer.
    health: watch::Receiver<Health>,
}

impl Audit {
    /// Opens the store (lazily: a database that is down does not stop start-up), starts the
    /// writer and the retention task, and loads or creates the patient key. `None` when
    /// `[store] enabled = false`. Must run inside a tokio runtime.
    pub async fn start(settings: &StoreSettings) -> anyhow::Result<Option<Audit>> {
        if !settings.enabled {
            tracing::info!("the audit store is disabled: feedback is logged only");
            return Ok(None);
        }
        let url = settings.url().context("reading store.url_file")?;
        let options = StoreOptions {
            acquire_timeout: Duration::from_millis(settings.acquire_timeout_ms),
            max_connections: settings.max_connections,
        };
        let store = Store::open_lazy_with(&url, options).context("opening the audit store")?;
        let hasher = match &settings.patient_key {
            Some(key) if key.len() >= 16 => PatientHasher::new(key.as_bytes()),
            Some(_) => anyhow::bail!("store.patient_key must be at least 16 characters"),
            None => {
                let path = settings.patient_key_file();
                let (hasher, created) = PatientHasher::from_file_or_create(&path)?;
                if created {
                    tracing::warn!(
                        path = %path.display(),
                        "created a new random patient key: back it up, and give every replica \
                         the same key, or patient hashes will not match"
                    );
                }
                hasher
            }
        };
        let writer = AuditWriter::spawn(
            store.clone(),
            WriterConfig {
                queue_capacity: settings.queue_capacity,
            },
        )
        .with_enqueue_wait(Duration::from_millis(settings.enqueue_wait_ms));
        // Migrate now, so that a broken store shows up in the start-up log; if it is down, the
        // health check retries, and meanwhile hooks are answered, feedback gets 503 and the
        // replica is not ready.
        let health = store.health().await;
        match &health {
            Health::Ready => tracing::info!(backend = store.backend(), "audit store ready"),
            problem => log_health(&store, problem),
        }
        let (report, health) = watch::channel(health);
        tokio::spawn(check_health_periodically(store.clone(), report));
        tokio::spawn(purge_periodically(store.clone(), settings.retention_days));
        tokio::spawn(purge_expired_periodically(store.clone()));
        Ok(Some(Audit {
            store,
            writer,
            hasher,
            health,
        }))
    }

    /// Why the store cannot be used now (the last health check's answer, or records lost
    /// lately, in words fit for an unauthenticated probe); `None` when it can.
    pub fn not_ready(&self) -> Option<String> {
        self.health
            .borrow()
            .not_ready_reason()
            .or_else(|| self.writer.losing())
    }

    /// How long a hook call waits for the store's suppression check before showing every card:
    /// twice the acquire timeout (a connection, then the lookups; 500 ms by default).
    pub fn check_timeout(&self) -> Duration {
        self.store.acquire_timeout() * 2
    }

    /// Records, once, what this replica's profile hash is (its `version` and `change_note`),
    /// for the console: now if the store answers, else retried at each health interval until
    /// it does. Never on the hook path.
    pub fn record_profile_version(&self, profile: ProfileVersion) {
        let store = self.store.clone();
        tokio::spawn(async move {
            loop {
                match store
                    .record_profile_version(&profile, unix_ms(OffsetDateTime::now_utc()))
                    .await
                {
                    Ok(()) => break,
                    Err(e) => tracing::debug!(
                        error = %e,
                        "could not record the profile version yet: retrying"
                    ),
                }
                tokio::time::sleep(HEALTH_INTERVAL).await;
            }
        });
    }

    /// The store, for the shared replay guard.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Waits until every record queued so far is written (at shutdown); `false` if they could
    /// not be.
    pub async fn flush(&self) -> bool {
        self.writer.flush().await
    }

    /// Closes the store's connections, at exit, after [`Audit::flush`]: SQLite's last connection
    /// to close writes the log back into the database and removes it (what stays on disk is the
    /// database alone, as the bytes-per-call figures count it).
    pub async fn close(&self) {
        self.store.close().await;
    }

    /// The keyed hash of a patient id, as stored.
    pub fn patient_hash(&self, patient_id: &str) -> String {
        self.hasher.hash(patient_id)
    }

    /// The keyed hash of an encounter id (domain-separated from patient ids).
    pub fn encounter_hash(&self, encounter_id: &str) -> String {
        self.hasher
            .hash_parts(&[b"encounter\0", encounter_id.as_bytes()])
    }

    /// The keyed hash of a card's canonical description (see [`crate::suppress::fingerprint`]).
    /// Keyed, because the description holds resource ids and dates.
    pub fn card_hash(&self, canonical: &str) -> String {
        self.hasher.hash_parts(&[b"card\0", canonical.as_bytes()])
    }

    /// Asks the store which candidates a suppression rule hides (a repeat through the writer's
    /// queue, so that it sees every card this replica issued before; a dismissal at once).
    pub async fn check_suppression(
        &self,
        query: SuppressionQuery,
    ) -> Result<Vec<Option<SuppressionReason>>, gravida_store::StoreError> {
        self.writer.check_suppression(query).await
    }

    /// A sealed long form by its lookup hash, unless expired: today's row, else a row the
    /// release before wrote (found by its hex `legacy_lookup`), until the last of them expires.
    pub async fn read_long_form(
        &self,
        lookup: &[u8],
        legacy_lookup: &str,
        now: OffsetDateTime,
    ) -> Result<Option<SealedLongForm>, gravida_store::StoreError> {
        let now = unix_ms(now);
        if let Some(sealed) = self.store.long_form(lookup, now).await? {
            return Ok(Some(SealedLongForm::Current(sealed)));
        }
        Ok(self
            .store
            .legacy_long_form(legacy_lookup, now)
            .await?
            .map(SealedLongForm::Legacy))
    }

    /// Records cards that were not shown (without waiting for the disk or for room in the
    /// queue: they are few, and a lost one is counted like any other).
    pub fn record_suppressed(&self, records: Vec<SuppressedRecord>) {
        self.writer.offer(CallRecords {
            suppressed: records,
            ..CallRecords::default()
        });
    }

    /// Records the cards of one answer (those shown, then those of silent rules, each with its
    /// fingerprint and mode) and the sealed long forms of those shown (for the other replicas),
    /// as one job, then counts the call. Never waits for the disk; waits for room in a full queue
    /// for at most `store.enqueue_wait_ms`, and never past `until` (the call's deadline). Called
    /// before the answer is sent: on [`Backlog`] nothing was recorded or counted, and the call
    /// must be refused rather than issue cards the trail would not hold.
    pub async fn record_cards(
        &self,
        call: &HookCall<'_>,
        profile_version: &str,
        [shown, silent]: [&[Shown]; 2],
        long_forms: Vec<LongFormRecord>,
        until: tokio::time::Instant,
    ) -> Result<(), Backlog> {
        let HookCall {
            service,
            hook_instance,
            context,
            caller,
            now,
        } = *call;
        // Every answered call is counted, cards or none: the console's "share of calls that
        // fired" divides by it. An increment in memory, written with the next batch; a call
        // refused for a full queue is not answered, and not counted.
        let tally = CallTally {
            day: CallTally::day_of(unix_ms(now)),
            service: service.id.to_owned(),
            hook: context.hook().as_str().to_owned(),
            profile_version: profile_version.to_owned(),
        };
        if shown.is_empty() && silent.is_empty() && long_forms.is_empty() {
            self.writer.count_call(tally);
            return Ok(());
        }
        let patient_hash = self.hasher.hash(context.patient_id());
        let encounter_hash = context.encounter_id().map(|id| self.encounter_hash(id));
        let records = shown
            .iter()
            .chain(silent)
            .filter_map(
                |Shown {
                     rendered,
                     fingerprint,
                     mode,
                 }| {
                    let card = &rendered.card;
                    Some(CardRecord {
                        card_uuid: card.uuid.clone()?,
                        rule_id: rendered.finding.rule.as_str().to_owned(),
                        indicator: rendered.finding.indicator.as_str().to_owned(),
                        mode: mode.as_str().to_owned(),
                        profile_version: profile_version.to_owned(),
                        service: service.id.to_owned(),
                        hook: context.hook().as_str().to_owned(),
                        hook_instance: hook_instance.to_owned(),
                        issued_at_ms: unix_ms(now),
                        issuer: caller.map(|c| c.iss.clone()),
                        tenant: caller.and_then(|c| c.tenant.clone()),
                        patient_hash: patient_hash.clone(),
                        fingerprint: fingerprint.clone(),
                        encounter_hash: encounter_hash.clone(),
                        suggestions: card
                            .suggestions
                            .iter()
                            .filter_map(|s| {
                                Some(SuggestionRecord {
                                    uuid: s.uuid.clone()?,
                                    label: s.label.clone(),
                                })
                            })
                            .collect(),
                    })
                },
            )
            .collect();
        self.writer
            .record_within(
                CallRecords {
                    cards: records,
                    long_forms,
                    suppressed: Vec::new(),
                },
                until,
            )
            .await?;
        self.writer.count_call(tally);
        Ok(())
    }

    /// Stores feedback and returns once it is committed; counts each new item by rule,
    /// outcome and override reason.
    pub async fn record_feedback(
        &self,
        service: &ServiceDef,
        feedback: &FeedbackRequest,
        caller: Option<&Caller>,
        now: OffsetDateTime,
    ) -> Result<(), ApiError> {
        let mut items = Vec::with_capacity(feedback.feedback.len());
        for item in &feedback.feedback {
            // Checked by `FeedbackRequest::parse`; refused here too rather than guessed.
            let at = OffsetDateTime::parse(&item.outcome_timestamp, &Rfc3339).map_err(|_| {
                ApiError::BadRequest("outcomeTimestamp is not an RFC 3339 date-time".to_owned())
            })?;
            let reason = item
                .override_reason
                .as_ref()
                .and_then(|r| r.reason.as_ref());
            items.push(FeedbackRecord {
                card_uuid: item.card.clone(),
                outcome: item.outcome.as_str().to_owned(),
                outcome_at_ms: unix_ms(at),
                service: service.id.to_owned(),
                override_system: reason.map(|c| c.system.clone()),
                override_code: reason.map(|c| c.code.clone()),
                has_comment: item
                    .override_reason
                    .as_ref()
                    .is_some_and(|r| r.user_comment.is_some()),
                accepted_suggestions: item
                    .accepted_suggestions
                    .iter()
                    .map(|s| s.id.clone())
                    .collect(),
                received_at_ms: unix_ms(now),
                issuer: caller.map(|c| c.iss.clone()),
                tenant: caller.and_then(|c| c.tenant.clone()),
            });
        }
        let stored = match self.writer.store_feedback(items.clone()).await {
            Ok(stored) => stored,
            Err(e) => {
                metrics::counter!("gravida_feedback_unavailable_total").increment(1);
                tracing::error!(error = %e, "feedback could not be stored");
                return Err(ApiError::StoreUnavailable);
            }
        };
        for (item, stored) in items.iter().zip(stored) {
            if stored.duplicate {
                metrics::counter!("gravida_feedback_duplicates_total").increment(1);
                continue;
            }
            // Not a card issued to this sender at this service: acknowledged, not stored.
            let Some(rule) = stored.rule_id else {
                metrics::counter!("gravida_feedback_unknown_card_total").increment(1);
                continue;
            };
            metrics::counter!("gravida_feedback_total",
                "rule" => rule,
                "outcome" => item.outcome.clone(),
                "reason" => item.override_code.as_deref().map_or("none".to_owned(), bounded_label))
            .increment(1);
        }
        Ok(())
    }
}

/// Checks the store's health every [`HEALTH_INTERVAL`], logging each change.
///
/// A schema newer than this binary's makes a replica not ready only if the replica never had
/// its own schema: that is a rollback. A replica that was ready and then finds a newer schema is
/// in a rolling update, beside a newer release that has just migrated; the migrations only
/// expand (README Operations), so it keeps working, and keeps its place until it is replaced.
async fn check_health_periodically(store: Store, report: watch::Sender<Health>) {
    let mut ticks = tokio::time::interval(HEALTH_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await; // The first tick is now, and start-up has just checked.
    let mut had_own_schema = *report.borrow() == Health::Ready;
    let mut newer_seen = false;
    loop {
        ticks.tick().await;
        let health = tokio::time::timeout(HEALTH_TIMEOUT, store.health())
            .await
            .unwrap_or_else(|_| Health::Unreachable("no answer within 5 s".to_owned()));
        let health = match health {
            Health::SchemaNewer { database, binary } if had_own_schema => {
                if !newer_seen {
                    newer_seen = true;
                    tracing::info!(
                        database,
                        binary,
                        "a newer release has migrated the store: this replica keeps working \
                         (migrations only expand) until it is replaced"
                    );
                }
                Health::Ready
            }
            health => health,
        };
        had_own_schema |= health == Health::Ready;
        let changed = *report.borrow() != health;
        if changed {
            match &health {
                Health::Ready => {
                    tracing::info!(backend = store.backend(), "the audit store is back")
                }
                problem => log_health(&store, problem),
            }
        }
        report.send_replace(health);
    }
}

/// Logs why the store cannot be used (the error text names no password).
fn log_health(store: &Store, health: &Health) {
    let reason = health.not_ready_reason().unwrap_or_default();
    match health {
        Health::Unreachable(error) | Health::SchemaInvalid(error) => tracing::error!(
            backend = store.backend(),
            error = error.as_str(),
            "{reason}: hooks are answered, feedback gets 503 and /readyz 503 until it is back"
        ),
        _ => tracing::error!(
            backend = store.backend(),
            "{reason}: this replica does not write to it, and /readyz answers 503"
        ),
    }
}

/// Purges rows past retention and expired replay entries and long forms, once an hour, unless
/// another replica is purging (see [`Store::purge`]).
async fn purge_periodically(store: Store, retention_days: Option<u32>) {
    let mut ticks = tokio::time::interval(PURGE_INTERVAL);
    loop {
        // The first tick completes at once: purge at start-up, then hourly.
        ticks.tick().await;
        let now = unix_ms(OffsetDateTime::now_utc());
        let before = match retention_days {
            Some(days) => now - i64::from(days) * 86_400_000,
            None => i64::MIN,
        };
        match store.purge(before, now).await {
            Ok(Some(purged)) => tracing::info!(
                cards = purged.cards,
                feedback = purged.feedback,
                replay = purged.replay,
                suppressed = purged.suppressed,
                overrides = purged.overrides,
                long_forms = purged.long_forms,
                "retention purge done"
            ),
            Ok(None) => tracing::info!("retention purge skipped: another replica is purging"),
            Err(e) => tracing::warn!(error = %e, "retention purge failed"),
        }
    }
}

/// Deletes the long forms that have expired, once a minute, unless another replica is (see
/// [`Store::purge_expired`]): the long forms then take what one TTL's calls need.
async fn purge_expired_periodically(store: Store) {
    // The hourly purge runs at start-up; this one first a minute later.
    let first = tokio::time::Instant::now() + EXPIRY_PURGE_INTERVAL;
    let mut ticks = tokio::time::interval_at(first, EXPIRY_PURGE_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let now = unix_ms(OffsetDateTime::now_utc());
        match store.purge_expired(now).await {
            Ok(Some(long_forms)) => tracing::debug!(long_forms, "expired long forms purged"),
            Ok(None) => tracing::debug!("expired long forms: another replica is purging"),
            Err(e) => tracing::warn!(error = %e, "purging expired long forms failed"),
        }
    }
}

/// Milliseconds since the Unix epoch.
pub fn unix_ms(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}
