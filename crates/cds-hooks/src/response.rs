//! The service response: cards, their parts, and the rules a card must follow before we send it.
//!
//! Build cards with [`Card::builder`], which checks the 2.0 rules (notes §3 and the 3.0 invariants
//! cds-resp-1..6) and refuses a card that breaks one. A card that arrives by deserialisation can be
//! checked with [`Card::validate`]. Serialisation omits every absent or empty optional field, so
//! what we emit never contains `null`, `""`, `[]` or `{}` (except a response's `cards: []`).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use thiserror::Error;

use crate::wire::{is_absent_value, is_blank, is_empty_object};

/// A card's summary must be shorter than this many characters (Unicode scalar values).
pub const SUMMARY_MAX_CHARS: usize = 140;

/// `{ "cards": [...], "systemActions": [...] }`, the body of a 200 answer to a hook call.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceResponse {
    /// Always present; `[]` means "no guidance".
    pub cards: Vec<Card>,
    /// Actions the client may apply without showing a card. Omitted when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub system_actions: Vec<Action>,
}

impl ServiceResponse {
    /// A response with these cards and no system actions.
    pub fn with_cards(cards: Vec<Card>) -> Self {
        ServiceResponse {
            cards,
            system_actions: Vec::new(),
        }
    }

    /// Checks every card, and that every system action follows the 2.0 action rules.
    pub fn validate(&self) -> Result<(), CardError> {
        for card in &self.cards {
            card.validate()?;
        }
        for action in &self.system_actions {
            action.validate()?;
        }
        Ok(())
    }
}

/// How urgent a card is. Ordered: `Info < Warning < Critical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Indicator {
    Info,
    Warning,
    Critical,
}

/// Whether the user may pick several suggestions, or at most one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SelectionBehavior {
    AtMostOne,
    Any,
}

/// Which of a suggestion's actions the user may take (CDS Hooks 3.0.0, STU). A service SHALL
/// NOT send it to a client it does not know supports it (index.md, "Capability
/// documentation"): see [`Suggestion::without_action_selection`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ActionSelectionBehavior {
    /// Choosing the suggestion takes every action (what a client assumes when it is absent).
    All,
    /// The user may take any number of the actions, none or all included.
    Any,
    /// The user may take none or one of the actions.
    AtMostOne,
}

/// A code from a code system: card topics and override reasons.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coding {
    pub system: String,
    pub code: String,
    /// REQUIRED in a card's `overrideReasons`, optional elsewhere.
    #[serde(default, skip_serializing_if = "is_blank")]
    pub display: Option<String>,
}

impl Coding {
    /// A coding without a display text.
    pub fn new(system: impl Into<String>, code: impl Into<String>) -> Self {
        Coding {
            system: system.into(),
            code: code.into(),
            display: None,
        }
    }

    /// The same coding with a display text.
    pub fn with_display(mut self, display: impl Into<String>) -> Self {
        self.display = Some(display.into());
        self
    }

    fn validate(&self, with_display: bool) -> Result<(), CardError> {
        if self.system.is_empty() || self.code.is_empty() {
            return Err(CardError::IncompleteCoding);
        }
        if with_display && self.display.as_deref().is_none_or(str::is_empty) {
            return Err(CardError::OverrideReasonWithoutDisplay);
        }
        Ok(())
    }
}

/// Who the guidance comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    pub label: String,
    #[serde(default, skip_serializing_if = "is_blank")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "is_blank")]
    pub icon: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<Coding>,
}

impl Source {
    /// A source with only a label.
    pub fn new(label: impl Into<String>) -> Self {
        Source {
            label: label.into(),
            url: None,
            icon: None,
            topic: None,
        }
    }

    /// The same source with a URL about the organisation behind it.
    pub fn with_url(mut self, url: impl Into<String>) -> Self {
        self.url = Some(url.into());
        self
    }

    /// The same source with a topic coding.
    pub fn with_topic(mut self, topic: Coding) -> Self {
        self.topic = Some(topic);
        self
    }
}

/// What an action does to the EHR's record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ActionType {
    Create,
    Update,
    Delete,
}

/// A change to propose: in a suggestion, or as a system action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Action {
    #[serde(rename = "type")]
    pub action_type: ActionType,
    /// REQUIRED in 2.0. Read leniently (absent → empty) so [`Action::validate`] can say what is
    /// wrong with published examples that omit it; never emitted empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// The new resource (create) or the whole updated resource (update).
    #[serde(default, skip_serializing_if = "is_absent_value")]
    pub resource: Option<Value>,
    /// `ResourceType/id` of the resource to delete.
    #[serde(default, skip_serializing_if = "is_blank")]
    pub resource_id: Option<String>,
}

impl Action {
    /// Propose creating `resource`.
    pub fn create(description: impl Into<String>, resource: Value) -> Self {
        Action {
            action_type: ActionType::Create,
            description: description.into(),
            resource: Some(resource),
            resource_id: None,
        }
    }

    /// Propose replacing a resource with `resource`.
    pub fn update(description: impl Into<String>, resource: Value) -> Self {
        Action {
            action_type: ActionType::Update,
            description: description.into(),
            resource: Some(resource),
            resource_id: None,
        }
    }

    /// Propose deleting `resource_id` (`ResourceType/id`).
    pub fn delete(description: impl Into<String>, resource_id: impl Into<String>) -> Self {
        Action {
            action_type: ActionType::Delete,
            description: description.into(),
            resource: None,
            resource_id: Some(resource_id.into()),
        }
    }

    /// Checks the 2.0 action rules: a description (cds-resp-5); a `resourceId` for a delete
    /// (cds-resp-2); a resource object for a create or update.
    pub fn validate(&self) -> Result<(), CardError> {
        if self.description.trim().is_empty() {
            return Err(CardError::ActionWithoutDescription);
        }
        match self.action_type {
            ActionType::Delete => {
                if self.resource_id.as_deref().is_none_or(str::is_empty) {
                    return Err(CardError::DeleteWithoutResourceId);
                }
            }
            ActionType::Create | ActionType::Update => {
                if !matches!(&self.resource, Some(Value::Object(fields)) if !fields.is_empty()) {
                    return Err(CardError::ActionWithoutResource);
                }
            }
        }
        Ok(())
    }
}

/// A button on a card: a set of actions taken together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Suggestion {
    pub label: String,
    /// Needed for the client to report which suggestion was accepted.
    #[serde(default, skip_serializing_if = "is_blank")]
    pub uuid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_recommended: Option<bool>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<Action>,
    /// 3.0.0: which of the actions the user may take; only for clients that support it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_selection_behavior: Option<ActionSelectionBehavior>,
}

impl Suggestion {
    /// A suggestion with a label and nothing else.
    pub fn new(label: impl Into<String>) -> Self {
        Suggestion {
            label: label.into(),
            uuid: None,
            is_recommended: None,
            actions: Vec::new(),
            action_selection_behavior: None,
        }
    }

    /// The same suggestion, saying which of its actions the user may take.
    pub fn with_action_selection(mut self, behavior: ActionSelectionBehavior) -> Self {
        self.action_selection_behavior = Some(behavior);
        self
    }

    /// Removes `actionSelectionBehavior`, for a client that has not declared it supports it.
    pub fn without_action_selection(&mut self) {
        self.action_selection_behavior = None;
    }

    /// The same suggestion with a uuid (for feedback).
    pub fn with_uuid(mut self, uuid: impl Into<String>) -> Self {
        self.uuid = Some(uuid.into());
        self
    }

    /// The same suggestion, marked recommended or not.
    pub fn recommended(mut self, is_recommended: bool) -> Self {
        self.is_recommended = Some(is_recommended);
        self
    }

    /// The same suggestion with one more action.
    pub fn with_action(mut self, action: Action) -> Self {
        self.actions.push(action);
        self
    }
}

/// Whether a link opens a plain web page or launches a SMART app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkType {
    Absolute,
    Smart,
}

/// A link shown on a card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Link {
    pub label: String,
    pub url: String,
    #[serde(rename = "type")]
    pub link_type: LinkType,
    /// Only for SMART links (cds-resp-3).
    #[serde(default, skip_serializing_if = "is_blank")]
    pub app_context: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autolaunchable: Option<bool>,
}

impl Link {
    /// A link to a web page.
    pub fn absolute(label: impl Into<String>, url: impl Into<String>) -> Self {
        Link {
            label: label.into(),
            url: url.into(),
            link_type: LinkType::Absolute,
            app_context: None,
            autolaunchable: None,
        }
    }

    /// A SMART app launch link.
    pub fn smart(label: impl Into<String>, url: impl Into<String>) -> Self {
        Link {
            link_type: LinkType::Smart,
            ..Link::absolute(label, url)
        }
    }

    fn validate(&self) -> Result<(), CardError> {
        if self.label.trim().is_empty() || self.url.trim().is_empty() {
            return Err(CardError::IncompleteLink);
        }
        if self.app_context.is_some() && self.link_type != LinkType::Smart {
            return Err(CardError::AppContextOnAbsoluteLink);
        }
        Ok(())
    }
}

/// One piece of guidance shown to the clinician.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Card {
    /// Needed for the client to send feedback about this card.
    #[serde(default, skip_serializing_if = "is_blank")]
    pub uuid: Option<String>,
    /// One sentence, under 140 characters.
    pub summary: String,
    /// GitHub-flavoured Markdown.
    #[serde(default, skip_serializing_if = "is_blank")]
    pub detail: Option<String>,
    pub indicator: Indicator,
    pub source: Source,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub suggestions: Vec<Suggestion>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selection_behavior: Option<SelectionBehavior>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub override_reasons: Vec<Coding>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<Link>,
    #[serde(default, skip_serializing_if = "is_empty_object")]
    pub extension: Option<Map<String, Value>>,
}

/// A rule of CDS Hooks 2.0 that a card (or action) breaks.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CardError {
    #[error("card summary is empty")]
    EmptySummary,
    #[error("card summary has {chars} characters; it must be under {SUMMARY_MAX_CHARS}")]
    SummaryTooLong { chars: usize },
    #[error("card source label is empty")]
    EmptySourceLabel,
    #[error("an optional card field is present but empty")]
    EmptyOptionalField,
    #[error("a card with suggestions must have a selectionBehavior")]
    SuggestionsWithoutSelectionBehavior,
    #[error("a suggestion label is empty")]
    EmptySuggestionLabel,
    #[error("selectionBehavior at-most-one allows at most one recommended suggestion")]
    SeveralRecommendedWithAtMostOne,
    #[error("an override reason has no display text")]
    OverrideReasonWithoutDisplay,
    #[error("a coding has an empty system or code")]
    IncompleteCoding,
    #[error("an action has no description")]
    ActionWithoutDescription,
    #[error("a delete action has no resourceId")]
    DeleteWithoutResourceId,
    #[error("a create or update action has no resource")]
    ActionWithoutResource,
    #[error("a link has an empty label or url")]
    IncompleteLink,
    #[error("appContext is only allowed on smart links")]
    AppContextOnAbsoluteLink,
}

impl Card {
    /// Starts a card. Nothing is checked until [`CardBuilder::build`].
    pub fn builder(
        summary: impl Into<String>,
        indicator: Indicator,
        source: Source,
    ) -> CardBuilder {
        CardBuilder {
            card: Card {
                uuid: None,
                summary: summary.into(),
                detail: None,
                indicator,
                source,
                suggestions: Vec::new(),
                selection_behavior: None,
                override_reasons: Vec::new(),
                links: Vec::new(),
                extension: None,
            },
        }
    }

    /// Checks every CDS Hooks 2.0 rule a card must follow.
    pub fn validate(&self) -> Result<(), CardError> {
        if self.summary.trim().is_empty() {
            return Err(CardError::EmptySummary);
        }
        // The limit is in characters, not bytes: "é" counts once.
        let chars = self.summary.chars().count();
        if chars >= SUMMARY_MAX_CHARS {
            return Err(CardError::SummaryTooLong { chars });
        }
        if self.source.label.trim().is_empty() {
            return Err(CardError::EmptySourceLabel);
        }
        let optional_strings = [
            &self.uuid,
            &self.detail,
            &self.source.url,
            &self.source.icon,
        ];
        if optional_strings
            .iter()
            .any(|text| text.as_deref().is_some_and(str::is_empty))
        {
            return Err(CardError::EmptyOptionalField);
        }
        if let Some(topic) = &self.source.topic {
            topic.validate(false)?;
        }

        if !self.suggestions.is_empty() && self.selection_behavior.is_none() {
            return Err(CardError::SuggestionsWithoutSelectionBehavior);
        }
        let recommended = self
            .suggestions
            .iter()
            .filter(|s| s.is_recommended == Some(true))
            .count();
        if self.selection_behavior == Some(SelectionBehavior::AtMostOne) && recommended > 1 {
            return Err(CardError::SeveralRecommendedWithAtMostOne);
        }
        for suggestion in &self.suggestions {
            if suggestion.label.trim().is_empty() {
                return Err(CardError::EmptySuggestionLabel);
            }
            if suggestion.uuid.as_deref().is_some_and(str::is_empty) {
                return Err(CardError::EmptyOptionalField);
            }
            for action in &suggestion.actions {
                action.validate()?;
            }
        }

        for reason in &self.override_reasons {
            reason.validate(true)?;
        }
        for link in &self.links {
            link.validate()?;
        }
        Ok(())
    }
}

/// Builds a [`Card`] and checks it. Made by [`Card::builder`].
#[derive(Debug, Clone)]
#[must_use = "a card builder does nothing until `.build()`"]
pub struct CardBuilder {
    card: Card,
}

impl CardBuilder {
    /// The card's Markdown detail.
    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.card.detail = Some(detail.into());
        self
    }

    /// The card's uuid, which the client echoes in feedback.
    pub fn uuid(mut self, uuid: impl Into<String>) -> Self {
        self.card.uuid = Some(uuid.into());
        self
    }

    /// Adds a suggestion (a card with suggestions needs a selection behaviour too).
    pub fn suggestion(mut self, suggestion: Suggestion) -> Self {
        self.card.suggestions.push(suggestion);
        self
    }

    /// Whether the user may accept several suggestions or at most one.
    pub fn selection_behavior(mut self, behavior: SelectionBehavior) -> Self {
        self.card.selection_behavior = Some(behavior);
        self
    }

    /// Adds a reason the clinician may give for dismissing the card (it needs a display text).
    pub fn override_reason(mut self, reason: Coding) -> Self {
        self.card.override_reasons.push(reason);
        self
    }

    /// Adds a link.
    pub fn link(mut self, link: Link) -> Self {
        self.card.links.push(link);
        self
    }

    /// Sets the card's `extension` object.
    pub fn extension(mut self, extension: Map<String, Value>) -> Self {
        self.card.extension = Some(extension);
        self
    }

    /// Checks the card (see [`Card::validate`]) and returns it.
    pub fn build(self) -> Result<Card, CardError> {
        self.card.validate()?;
        Ok(self.card)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::find_empty_values;
    use serde_json::json;

    fn source() -> Source {
        Source::new("Gravida")
    }

    fn card(summary: &str) -> Result<Card, CardError> {
        Card::builder(summary, Indicator::Warning, source()).build()
    }

    #[test]
    fn a_summary_of_139_characters_is_accepted_and_140_is_refused() {
        assert!(card(&"a".repeat(139)).is_ok());
        assert_eq!(
            card(&"a".repeat(140)),
            Err(CardError::SummaryTooLong { chars: 140 })
        );
    }

    #[test]
    fn the_summary_limit_counts_characters_not_bytes() {
        // 139 two-byte characters are 278 bytes but still one character short of the limit.
        let accented = "é".repeat(139);
        assert_eq!(accented.len(), 278);
        assert!(card(&accented).is_ok());
        // Four-byte characters (emoji, some CJK extensions) too.
        assert!(card(&"𝄞".repeat(139)).is_ok());
        assert_eq!(
            card(&"𝄞".repeat(140)),
            Err(CardError::SummaryTooLong { chars: 140 })
        );
    }

    #[test]
    fn an_empty_or_blank_summary_is_refused() {
        assert_eq!(card(""), Err(CardError::EmptySummary));
        assert_eq!(card("   "), Err(CardError::EmptySummary));
    }

    #[test]
    fn an_empty_source_label_is_refused() {
        let result =
            Card::builder("Bleeding at 12 weeks", Indicator::Info, Source::new("")).build();
        assert_eq!(result, Err(CardError::EmptySourceLabel));
    }

    #[test]
    fn suggestions_need_a_selection_behavior() {
        let without = Card::builder("s", Indicator::Info, source())
            .suggestion(Suggestion::new("Order ultrasound"))
            .build();
        assert_eq!(without, Err(CardError::SuggestionsWithoutSelectionBehavior));
        let with = Card::builder("s", Indicator::Info, source())
            .suggestion(Suggestion::new("Order ultrasound"))
            .selection_behavior(SelectionBehavior::Any)
            .build();
        assert!(with.is_ok());
    }

    #[test]
    fn at_most_one_allows_only_one_recommended_suggestion() {
        let build = |behavior| {
            Card::builder("s", Indicator::Info, source())
                .suggestion(Suggestion::new("A").recommended(true))
                .suggestion(Suggestion::new("B").recommended(true))
                .selection_behavior(behavior)
                .build()
        };
        assert_eq!(
            build(SelectionBehavior::AtMostOne),
            Err(CardError::SeveralRecommendedWithAtMostOne)
        );
        assert!(build(SelectionBehavior::Any).is_ok());
        let one = Card::builder("s", Indicator::Info, source())
            .suggestion(Suggestion::new("A").recommended(true))
            .suggestion(Suggestion::new("B").recommended(false))
            .selection_behavior(SelectionBehavior::AtMostOne)
            .build();
        assert!(one.is_ok());
    }

    #[test]
    fn override_reasons_need_a_display() {
        let without = Card::builder("s", Indicator::Info, source())
            .override_reason(Coding::new("http://example.org/reasons", "r1"))
            .build();
        assert_eq!(without, Err(CardError::OverrideReasonWithoutDisplay));
        let with = Card::builder("s", Indicator::Info, source())
            .override_reason(
                Coding::new("http://example.org/reasons", "r1").with_display("Declined"),
            )
            .build();
        assert!(with.is_ok());
    }

    #[test]
    fn a_delete_action_needs_a_resource_id() {
        let mut delete = Action::delete("Remove the order", "ServiceRequest/1");
        delete.resource_id = None;
        let result = Card::builder("s", Indicator::Info, source())
            .suggestion(Suggestion::new("Remove").with_action(delete))
            .selection_behavior(SelectionBehavior::AtMostOne)
            .build();
        assert_eq!(result, Err(CardError::DeleteWithoutResourceId));
    }

    #[test]
    fn suggestion_actions_need_a_description() {
        let result = Card::builder("s", Indicator::Info, source())
            .suggestion(Suggestion::new("Order").with_action(Action::create(
                " ",
                json!({"resourceType": "ServiceRequest"}),
            )))
            .selection_behavior(SelectionBehavior::AtMostOne)
            .build();
        assert_eq!(result, Err(CardError::ActionWithoutDescription));
    }

    #[test]
    fn a_create_action_needs_a_resource_object() {
        let mut create = Action::create("Order", json!({"resourceType": "ServiceRequest"}));
        create.resource = Some(json!("ServiceRequest/1"));
        assert_eq!(create.validate(), Err(CardError::ActionWithoutResource));
    }

    #[test]
    fn app_context_is_only_allowed_on_smart_links() {
        let mut absolute = Link::absolute("Guideline", "https://example.org/g");
        absolute.app_context = Some("{\"a\":1}".into());
        let result = Card::builder("s", Indicator::Info, source())
            .link(absolute)
            .build();
        assert_eq!(result, Err(CardError::AppContextOnAbsoluteLink));

        let mut smart = Link::smart("App", "https://example.org/launch");
        smart.app_context = Some("{\"a\":1}".into());
        assert!(
            Card::builder("s", Indicator::Info, source())
                .link(smart)
                .build()
                .is_ok()
        );
    }

    #[test]
    fn indicators_are_ordered_by_urgency() {
        assert!(Indicator::Info < Indicator::Warning);
        assert!(Indicator::Warning < Indicator::Critical);
        let worst = [Indicator::Warning, Indicator::Critical, Indicator::Info]
            .into_iter()
            .max();
        assert_eq!(worst, Some(Indicator::Critical));
    }

    #[test]
    fn a_full_card_serialises_with_spec_names_and_round_trips() {
        let card = Card::builder(
            "Bleeding at 12 weeks: no ultrasound on file",
            Indicator::Warning,
            source().with_url("https://example.org"),
        )
        .uuid("5b3a2f4e-0000-4000-8000-000000000001")
        .detail("Consider **ultrasound**.")
        .suggestion(
            Suggestion::new("Order pelvic ultrasound")
                .with_uuid("5b3a2f4e-0000-4000-8000-000000000002")
                .recommended(true)
                .with_action(Action::create(
                    "Order pelvic ultrasound",
                    json!({"resourceType": "ServiceRequest", "status": "draft"}),
                ))
                .with_action(Action::delete("Remove duplicate", "ServiceRequest/dup-1")),
        )
        .selection_behavior(SelectionBehavior::AtMostOne)
        .override_reason(
            Coding::new("http://example.org/r", "done-elsewhere").with_display("Done elsewhere"),
        )
        .link(Link::absolute("Guideline", "https://example.org/guideline"))
        .build()
        .unwrap();
        let json = serde_json::to_value(&card).unwrap();
        assert_eq!(json["selectionBehavior"], "at-most-one");
        assert_eq!(json["indicator"], "warning");
        assert_eq!(json["suggestions"][0]["isRecommended"], true);
        assert_eq!(json["suggestions"][0]["actions"][0]["type"], "create");
        assert_eq!(
            json["suggestions"][0]["actions"][1]["resourceId"],
            "ServiceRequest/dup-1"
        );
        assert_eq!(json["overrideReasons"][0]["display"], "Done elsewhere");
        assert_eq!(json["links"][0]["type"], "absolute");
        assert!(find_empty_values(&json).is_empty(), "{json}");
        let back: Card = serde_json::from_value(json).unwrap();
        assert_eq!(back, card);
    }

    #[test]
    fn a_minimal_card_omits_every_absent_field() {
        let card = card("Bleeding at 12 weeks").unwrap();
        let json = serde_json::to_value(&card).unwrap();
        let keys: Vec<_> = json.as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys.len(), 3, "{json}");
        assert!(
            json.get("summary").is_some()
                && json.get("indicator").is_some()
                && json.get("source").is_some()
        );
        assert_eq!(json["source"], json!({"label": "Gravida"}));
    }

    #[test]
    fn empty_optional_values_set_by_hand_are_refused_and_never_emitted() {
        let mut card = card("s").unwrap();
        card.detail = Some(String::new());
        card.extension = Some(Map::new());
        card.source.url = Some(String::new());
        assert_eq!(card.validate(), Err(CardError::EmptyOptionalField));
        let json = serde_json::to_value(&card).unwrap();
        assert!(find_empty_values(&json).is_empty(), "{json}");
    }

    #[test]
    fn an_empty_response_keeps_cards_and_omits_system_actions() {
        let json = serde_json::to_value(ServiceResponse::default()).unwrap();
        assert_eq!(json, json!({"cards": []}));
    }

    #[test]
    fn a_response_with_cards_and_system_actions_round_trips_without_empty_values() {
        let response = ServiceResponse {
            cards: vec![card("Bleeding at 12 weeks").unwrap()],
            system_actions: vec![Action::update(
                "Record the assessment",
                json!({"resourceType": "ServiceRequest", "id": "sr-1", "status": "draft"}),
            )],
        };
        assert_eq!(response.validate(), Ok(()));
        let json = serde_json::to_value(&response).unwrap();
        assert_eq!(json["systemActions"][0]["type"], "update");
        assert!(find_empty_values(&json).is_empty(), "{json}");
        let back: ServiceResponse = serde_json::from_value(json).unwrap();
        assert_eq!(back, response);
    }

    #[test]
    fn a_system_action_without_description_fails_response_validation() {
        let mut action = Action::update(
            "Record score",
            json!({"resourceType": "ServiceRequest", "id": "1"}),
        );
        action.description.clear();
        let response = ServiceResponse {
            cards: Vec::new(),
            system_actions: vec![action],
        };
        assert_eq!(
            response.validate(),
            Err(CardError::ActionWithoutDescription)
        );
    }
}
