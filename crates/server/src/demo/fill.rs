//! `gravida demo --days N`: a month (or `N` days) of synthetic activity in the audit store, so
//! that a newcomer opening the governance console sees it working.
//!
//! The activity is made the way the service makes it, minus the network: each simulated call
//! picks one of the demo's synthetic patients ([`super::data`], dated so that the simulated day
//! is the scenario's "today"), reads the patient's records with the FHIR reader the service uses
//! and runs the real engine and renderer (`KnowledgeBase::evaluate`) at a time on that day; the
//! cards it gives are recorded, and the call counted, through the real [`AuditWriter`]. Then a
//! share of the cards get feedback (accepted, with the first suggestion taken, or overridden with
//! one of HL7's standard override reasons), shifting over the weeks as a ward learning the tool
//! would.
//!
//! **A silent rule, then a new profile version.** The first half of the days (rounded down) is
//! answered by the dry-run profile ([`super::dry_run`]: one rule silent, its cards recorded with
//! `mode = 'silent'` and never answered), the rest by the profile given: the console shows the
//! silent cards, and the week the profile version changed.
//!
//! **Marked synthetic.** Every record has issuer and tenant `synthetic-demo`, and its patient
//! hash is of `synthetic-{id}` under a fixed key, so synthetic rows can be told from real ones
//! (and deleted: `DELETE FROM audit_cards WHERE issuer = 'synthetic-demo'`). The run is
//! deterministic: the same `days` and end date give the same numbers.

use gravida_cds_hooks::Hook;
use gravida_cds_hooks::override_reasons::NON_ADHERENCE_REASON_SYSTEM;
use gravida_knowledge::KnowledgeBase;
use gravida_store::{
    AuditWriter, CallRecords, CallTally, CardRecord, FeedbackRecord, PatientHasher, ProfileVersion,
    Store, SuggestionRecord, WriterConfig,
};
use time::{Date, Duration, OffsetDateTime, Time};

use super::data::{DemoData, DemoDataError};
use crate::audit::unix_ms;
use crate::services::SERVICES;

/// The issuer and tenant of every synthetic record.
pub const SYNTHETIC: &str = "synthetic-demo";

/// The key of the synthetic patients' hashes (not a secret: they are not people).
const SYNTHETIC_KEY: &[u8] = b"gravida synthetic demo patients";

/// The override reasons the synthetic clinicians give, most often first.
const REASONS: [&str; 5] = [
    "action-completed",
    "indication-order-exists",
    "cds-not-applicable",
    "need-more-info",
    "patient-refuses",
];

/// What a fill wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Filled {
    pub days: u32,
    pub calls: u64,
    /// Cards shown (active rules).
    pub cards: u64,
    /// Cards of silent rules: recorded, never shown, so never answered.
    pub silent: u64,
    pub accepted: u64,
    pub overridden: u64,
}

/// Why a fill failed.
#[derive(Debug, thiserror::Error)]
pub enum FillError {
    #[error(transparent)]
    Data(#[from] DemoDataError),
    #[error("the audit store: {0}")]
    Store(#[from] gravida_store::StoreError),
    #[error("the audit writer lost records: the store is full, slow or read-only")]
    Lost,
}

/// A small deterministic generator (SplitMix64): the demo needs variety, not secrecy.
#[derive(Debug)]
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// `true` with probability `p`.
    fn chance(&mut self, p: f64) -> bool {
        ((self.next() >> 11) as f64 / ((1u64 << 53) as f64)) < p
    }

    /// A uuid-shaped id (version 4 layout) from the generator.
    fn uuid(&mut self) -> String {
        let (a, b) = (self.next(), self.next());
        format!(
            "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            b >> 52,
            b & 0xffff_ffff_ffff
        )
    }
}

/// The profiles that answer the demo's calls: `dry_run` for the first half of the days, then
/// `shipped`.
#[derive(Debug, Clone, Copy)]
pub struct Profiles<'a> {
    pub dry_run: &'a KnowledgeBase,
    pub shipped: &'a KnowledgeBase,
}

impl Profiles<'_> {
    /// The days (of `days`) the dry run answers: the first half, rounded down.
    pub fn dry_run_days(days: u32) -> u32 {
        days / 2
    }
}

/// Fills `store` with `days` days of synthetic activity ending on `last_day` (UTC). The store
/// is its writer's, which closes it when done (open it again to read what was written).
pub async fn fill(
    store: Store,
    profiles: Profiles<'_>,
    days: u32,
    last_day: Date,
) -> Result<Filled, FillError> {
    // What each profile hash is (its version and change note), first seen on the first day it
    // answers: the console names them beside the hashes.
    let first_day = last_day - Duration::days(i64::from(days.saturating_sub(1)));
    let dry_run_days = Profiles::dry_run_days(days);
    let switch_day = first_day + Duration::days(i64::from(dry_run_days));
    let mut answering = vec![(profiles.shipped, switch_day)];
    if dry_run_days > 0 {
        answering.insert(0, (profiles.dry_run, first_day));
    }
    for (kb, from) in answering {
        let profile = ProfileVersion {
            profile_version: kb.version().to_owned(),
            version: kb.profile_version().to_owned(),
            change_note: kb.change_note().to_owned(),
        };
        store
            .record_profile_version(&profile, unix_ms(from.midnight().assume_utc()))
            .await?;
    }
    let writer = AuditWriter::spawn(
        store.clone(),
        WriterConfig {
            queue_capacity: 4096,
        },
    );
    let hasher = PatientHasher::new(SYNTHETIC_KEY);
    let mut dice = Dice(u64::from(days) ^ (last_day.to_julian_day() as u64) << 20);
    let mut filled = Filled {
        days,
        ..Filled::default()
    };
    for offset in (0..days).rev() {
        let day = last_day - Duration::days(i64::from(offset));
        let kb = if days - 1 - offset < Profiles::dry_run_days(days) {
            profiles.dry_run
        } else {
            profiles.shipped
        };
        // 0 on the first day, 1 on the last: the synthetic ward takes to the tool.
        let progress = if days > 1 {
            f64::from(days - 1 - offset) / f64::from(days - 1)
        } else {
            1.0
        };
        let data = DemoData::load(day)?;
        let weekend = matches!(
            day.weekday(),
            time::Weekday::Saturday | time::Weekday::Sunday
        );
        let calls = if weekend { 8 } else { 18 } + dice.below(10);
        let mut feedback = Vec::new();
        for _ in 0..calls {
            let patient = &data.patients[dice.below(data.patients.len() as u64) as usize];
            let service = match dice.below(20) {
                0..=11 => &SERVICES[0],
                12..=14 => &SERVICES[1],
                15..=16 => &SERVICES[2],
                _ => &SERVICES[3],
            };
            let minute = 8 * 60 + dice.below(10 * 60);
            let at = day
                .with_time(Time::from_hms(0, 0, 0).unwrap_or(Time::MIDNIGHT))
                .assume_utc()
                + Duration::minutes(minute as i64);
            let mut facts =
                gravida_fhir::facts_from_resources(data.resources_of(&patient.id)).facts;
            if matches!(service.hook, Hook::OrderSelect | Hook::OrderSign)
                && let Some(bundle) = &patient.draft_orders
            {
                facts.draft_orders = gravida_fhir::draft_orders(bundle).0;
            }
            let assessment = kb.evaluate(&facts, &patient.id, at);
            let hook_instance = dice.uuid();
            let patient_hash = hasher.hash(&format!("synthetic-{}", patient.id));
            let record = |rendered: &gravida_knowledge::Rendered,
                          card_uuid: String,
                          mode: &str,
                          suggestions: Vec<SuggestionRecord>| CardRecord {
                card_uuid,
                rule_id: rendered.finding.rule.as_str().to_owned(),
                indicator: rendered.finding.indicator.as_str().to_owned(),
                mode: mode.to_owned(),
                profile_version: kb.version().to_owned(),
                service: service.id.to_owned(),
                hook: service.hook.as_str().to_owned(),
                hook_instance: hook_instance.clone(),
                issued_at_ms: unix_ms(at),
                issuer: Some(SYNTHETIC.to_owned()),
                tenant: Some(SYNTHETIC.to_owned()),
                patient_hash: patient_hash.clone(),
                fingerprint: None,
                encounter_hash: None,
                suggestions,
            };
            writer.count_call(CallTally {
                day: CallTally::day_of(unix_ms(at)),
                service: service.id.to_owned(),
                hook: service.hook.as_str().to_owned(),
                profile_version: kb.version().to_owned(),
            });
            filled.calls += 1;
            let mut cards = Vec::new();
            for rendered in &assessment.cards {
                let card_uuid = dice.uuid();
                let suggestions: Vec<SuggestionRecord> = rendered
                    .card
                    .suggestions
                    .iter()
                    .map(|s| SuggestionRecord {
                        uuid: s.uuid.clone().unwrap_or_else(|| dice.uuid()),
                        label: s.label.clone(),
                    })
                    .collect();
                let answered_at = unix_ms(at) + 60_000 + dice.below(600_000) as i64;
                if dice.chance(0.30 + 0.20 * progress) {
                    feedback.push(verdict(
                        &card_uuid,
                        service.id,
                        answered_at,
                        None,
                        &suggestions,
                    ));
                    filled.accepted += 1;
                } else if dice.chance(0.40 - 0.15 * progress) {
                    let reason = REASONS[match dice.below(10) {
                        0..=3 => 0,
                        4..=5 => 1,
                        6..=7 => 2,
                        8 => 3,
                        _ => 4,
                    }];
                    feedback.push(verdict(
                        &card_uuid,
                        service.id,
                        answered_at,
                        Some(reason),
                        &[],
                    ));
                    filled.overridden += 1;
                }
                cards.push(record(rendered, card_uuid, "active", suggestions));
            }
            filled.cards += cards.len() as u64;
            // The silent rule's cards: recorded as the shown ones are, never answered.
            for rendered in &assessment.silent {
                cards.push(record(rendered, dice.uuid(), "silent", Vec::new()));
                filled.silent += 1;
            }
            if !writer
                .record(CallRecords {
                    cards,
                    ..CallRecords::default()
                })
                .await
            {
                return Err(FillError::Lost);
            }
        }
        // Waits for the day's commit: the cards are written before their feedback.
        writer.store_feedback(feedback).await?;
    }
    if !writer.flush().await {
        return Err(FillError::Lost);
    }
    Ok(filled)
}

/// A synthetic clinician's answer to a card.
fn verdict(
    card: &str,
    service: &str,
    at_ms: i64,
    reason: Option<&str>,
    suggestions: &[SuggestionRecord],
) -> FeedbackRecord {
    FeedbackRecord {
        card_uuid: card.to_owned(),
        outcome: if reason.is_some() {
            "overridden"
        } else {
            "accepted"
        }
        .to_owned(),
        outcome_at_ms: at_ms,
        service: service.to_owned(),
        override_system: reason.map(|_| NON_ADHERENCE_REASON_SYSTEM.to_owned()),
        override_code: reason.map(str::to_owned),
        has_comment: false,
        accepted_suggestions: suggestions.iter().take(1).map(|s| s.uuid.clone()).collect(),
        received_at_ms: at_ms,
        issuer: Some(SYNTHETIC.to_owned()),
        tenant: Some(SYNTHETIC.to_owned()),
    }
}

/// The UTC date today, for the command line.
pub fn today() -> Date {
    OffsetDateTime::now_utc().date()
}
