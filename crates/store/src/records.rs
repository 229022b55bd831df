//! What gets written: one card issued, one feedback item, and what storing feedback found.
//!
//! These are plain data with no patient identifiers: the patient appears only as a keyed hash,
//! and a clinician's free-text comment only as "there was one".

/// A card Gravida issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardRecord {
    pub card_uuid: String,
    /// The rule that produced it (`R1`…), the card's `source.topic.code`.
    pub rule_id: String,
    /// `info`, `warning` or `critical`.
    pub indicator: String,
    /// The knowledge profile version (name + content hash).
    pub profile_version: String,
    pub service: String,
    pub hook: String,
    pub hook_instance: String,
    pub issued_at_ms: i64,
    /// The authenticated caller's `iss` and `tenant`; `None` on an unauthenticated deployment.
    pub issuer: Option<String>,
    pub tenant: Option<String>,
    /// [`crate::PatientHasher::hash`] of the patient id.
    pub patient_hash: String,
    pub suggestions: Vec<SuggestionRecord>,
}

/// A suggestion a card offered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuggestionRecord {
    pub uuid: String,
    pub label: String,
}

/// One feedback item, as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedbackRecord {
    pub card_uuid: String,
    /// `accepted` or `overridden`.
    pub outcome: String,
    /// The clinician's `outcomeTimestamp`.
    pub outcome_at_ms: i64,
    pub service: String,
    /// The override reason's coding, if one was given.
    pub override_system: Option<String>,
    pub override_code: Option<String>,
    /// Whether a free-text comment came with it (the text itself is never stored).
    pub has_comment: bool,
    pub accepted_suggestions: Vec<String>,
    pub received_at_ms: i64,
    pub issuer: Option<String>,
    pub tenant: Option<String>,
}

/// What storing one feedback item found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FeedbackStored {
    /// The rule of the card it is about; `None` if no such card was issued (or its record was
    /// purged or dropped).
    pub rule_id: Option<String>,
    /// The same card, outcome and timestamp had been stored before: nothing was written.
    pub duplicate: bool,
}
