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
    /// `active`, or `silent` when the rule runs silently (recorded, never shown).
    pub mode: String,
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
    /// A keyed hash of the card's rule and the records it rests on (identities and dates), the
    /// same for the same card on the same evidence; `None` when the caller did not compute one.
    pub fingerprint: Option<String>,
    /// A keyed hash of `context.encounterId`, when the call named an encounter.
    pub encounter_hash: Option<String>,
    pub suggestions: Vec<SuggestionRecord>,
}

/// A suggestion a card offered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuggestionRecord {
    pub uuid: String,
    pub label: String,
}

impl CardRecord {
    /// The card's suggestions as its row's `suggestions` column keeps them: a line each, the
    /// uuid, a space and the label (a line break in a label kept as a space). `None` when it
    /// offered none. A uuid is ours (a UUID's text), so it holds neither a space nor a line break;
    /// one that did could not be told apart, and is left out.
    pub(crate) fn suggestions_column(&self) -> Option<String> {
        let mut column = String::new();
        for suggestion in &self.suggestions {
            if suggestion.uuid.is_empty() || suggestion.uuid.contains([' ', '\n']) {
                continue;
            }
            if !column.is_empty() {
                column.push('\n');
            }
            column.push_str(&suggestion.uuid);
            column.push(' ');
            column.extend(
                suggestion
                    .label
                    .chars()
                    .map(|c| if c == '\n' { ' ' } else { c }),
            );
        }
        (!column.is_empty()).then_some(column)
    }
}

/// The label of the suggestion `uuid` in a card's `suggestions` column
/// ([`CardRecord::suggestions_column`]).
pub(crate) fn suggestion_label<'a>(column: &'a str, uuid: &str) -> Option<&'a str> {
    column
        .lines()
        .find_map(|line| line.strip_prefix(uuid)?.strip_prefix(' '))
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
    /// The rule of the card it is about; `None` if no such card was issued to the sender (to
    /// its issuer and tenant, at the service the feedback was posted to), or its record was
    /// purged or dropped. Such feedback is not stored.
    pub rule_id: Option<String>,
    /// The same card, outcome and timestamp had been stored before: nothing was written.
    pub duplicate: bool,
}

/// Why a card was not shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SuppressionReason {
    /// At an order hook: the same card was shown for this patient in the same encounter or
    /// within the repeat window.
    Repeat,
    /// A clinician overrode the same card (same evidence) as "already addressed".
    AlreadyAddressed,
}

impl SuppressionReason {
    /// `repeat` or `already-addressed`: the metric label and the stored value.
    pub fn as_str(self) -> &'static str {
        match self {
            SuppressionReason::Repeat => "repeat",
            SuppressionReason::AlreadyAddressed => "already-addressed",
        }
    }
}

/// "Should these cards be hidden?": one question per hook call, about its candidate cards.
/// The caller (issuer and tenant, empty when unauthenticated), the service and the patient hash
/// scope it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuppressionQuery {
    pub patient_hash: String,
    /// The service called: a dismissal hides only the cards of the service it was sent to.
    pub service: String,
    pub issuer: Option<String>,
    pub tenant: Option<String>,
    /// The encounter of this call (a keyed hash), if it named one.
    pub encounter_hash: Option<String>,
    /// Cards issued at or after this time (Unix ms) count as repeats.
    pub repeat_since_ms: i64,
    /// The override reasons that dismiss a card, each as (system, code): a card overridden with
    /// any of them is dismissed.
    pub dismissing: Vec<(String, String)>,
    /// One entry per candidate card: its fingerprint, and whether a repeat hides it (only at the
    /// order hooks) or only a dismissal does.
    pub candidates: Vec<(String, bool)>,
}

/// A card that was not shown, for the audit trail and the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuppressedRecord {
    pub rule_id: String,
    pub reason: SuppressionReason,
    pub fingerprint: String,
    pub service: String,
    pub hook_instance: String,
    pub suppressed_at_ms: i64,
    pub issuer: Option<String>,
    pub tenant: Option<String>,
    pub patient_hash: String,
}

/// What one hook call leaves in the audit trail: the records of its cards, their long forms and
/// the cards it hid. Queued as one job, so a call costs the writer's queue one slot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallRecords {
    pub cards: Vec<CardRecord>,
    pub long_forms: Vec<LongFormRecord>,
    pub suppressed: Vec<SuppressedRecord>,
}

impl CallRecords {
    pub fn is_empty(&self) -> bool {
        self.cards.is_empty() && self.long_forms.is_empty() && self.suppressed.is_empty()
    }
}

/// A card's long form, sealed by the server: found by a hash of its link's id (16 bytes) and
/// readable only with the id, which is not stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LongFormRecord {
    pub lookup: Vec<u8>,
    pub expires_at_ms: i64,
    pub sealed: Vec<u8>,
}
