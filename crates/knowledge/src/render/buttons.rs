//! A card's buttons: one per orderable the card advises (`orderables.toml`), each creating its
//! order and those it names in `with`, at most [`MAX_SUGGESTIONS`] unless the card is critical.
//!
//! The cap drops the buttons past the third. An orderable that a profile pairs with another
//! (`shares_with`: CBC with ABO/Rh type) keeps both when the cap would drop either: the two
//! become one button ("Order CBC and ABO/Rh type") that creates both orders, in the place of the
//! first of them, and a button the cap dropped comes back. Which orders pair is the profile's
//! data, not a case written here.
//!
//! Which orderables a finding suggests is [`suggestion_keys`]; an order already drafted in the
//! call, or a test already done today, gets no button; each button creates its draft order
//! with [`service_request`].

use gravida_cds_hooks::{Action, Suggestion};
use gravida_rules::facts::PatientFacts;
use gravida_rules::{Finding, Modifier};
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

use super::modifiers::modifier_key;
use super::variant::escalated_template;
use super::{MAX_SUGGESTIONS, uuid};
use crate::load::Profile;
use crate::templates::{Orderable, RuleCard};

/// A button before it is built: the orderable it stands for, its label and the orders it
/// creates.
struct Button<'a> {
    key: &'a str,
    orderable: &'a Orderable,
    label: String,
    /// Whether the label is the profile's own (every order the button names is in it), rather
    /// than what was left after a drafted order was taken out.
    whole: bool,
    actions: Vec<Action>,
}

/// The buttons for the orderables `keys` names, in that order: an unknown key or an orderable
/// with nothing left to order gives none; a card that is not critical keeps at most
/// [`MAX_SUGGESTIONS`], orderables paired by `shares_with` sharing a button rather than one of
/// them being dropped.
pub(super) fn suggestions(
    profile: &Profile,
    keys: &[String],
    finding: &Finding,
    facts: &PatientFacts,
    patient_id: &str,
    now: OffsetDateTime,
) -> Vec<Suggestion> {
    let mut buttons: Vec<Button> = keys
        .iter()
        .filter_map(|key| button(profile, key, finding, facts, patient_id, now))
        .collect();
    if finding.indicator != gravida_rules::Indicator::Critical {
        share(&mut buttons);
        buttons.truncate(MAX_SUGGESTIONS);
    }
    buttons.into_iter().map(suggestion).collect()
}

fn button<'a>(
    profile: &'a Profile,
    key: &'a str,
    finding: &Finding,
    facts: &PatientFacts,
    patient_id: &str,
    now: OffsetDateTime,
) -> Option<Button<'a>> {
    let o = profile.orderables.get(key)?;
    // One button may create several orders (`with`: hCG now and in 48 h). Never suggest what
    // the clinician is ordering right now: a draft order of the call with one of the
    // orderable's codes already is it. A timed suggestion (the repeat hCG in 48 h) is another
    // order than a draft for now, so it stays.
    let actions: Vec<Action> = std::iter::once(o)
        .chain(o.with.iter().filter_map(|k| profile.orderables.get(k)))
        .filter(|o| o.occurrence_offset_hours.is_some() || !already_drafted(o, facts))
        .filter(|o| o.occurrence_offset_hours.is_some() || !done_today(o, finding))
        .map(|part| Action::create(part.label.clone(), service_request(part, patient_id, now)))
        .collect();
    if actions.is_empty() {
        return None;
    }
    // What is left when the main order is drafted already is labelled as itself.
    let whole = actions.len() == 1 + o.with.len();
    Some(Button {
        key,
        orderable: o,
        label: if whole {
            o.label.clone()
        } else {
            descriptions(&actions)
        },
        whole,
        actions,
    })
}

fn descriptions(actions: &[Action]) -> String {
    actions
        .iter()
        .map(|a| a.description.clone())
        .collect::<Vec<_>>()
        .join("; ")
}

/// Joins each pair of buttons the profile pairs (`shares_with`) into the first of them, when
/// the cap would drop either; one join at a time, until the buttons fit or no pair is left
/// (each join removes a button, so this ends).
fn share(buttons: &mut Vec<Button>) {
    while buttons.len() > MAX_SUGGESTIONS {
        let pair = buttons.iter().enumerate().find_map(|(i, b)| {
            let shared = b.orderable.shares_with.as_ref()?;
            let j = buttons.iter().position(|p| p.key == shared.orderable)?;
            (i != j && i.max(j) >= MAX_SUGGESTIONS).then_some((i.min(j), i.max(j)))
        });
        let Some((first, second)) = pair else {
            return;
        };
        let other = buttons.remove(second);
        let host = &mut buttons[first];
        // The pair's label is the one on whichever of the two names the pairing.
        let label = [host.orderable, other.orderable]
            .iter()
            .find_map(|o| o.shares_with.as_ref())
            .map(|s| s.label.clone());
        host.actions.extend(other.actions);
        host.label = match label {
            Some(label) if host.whole && other.whole => label,
            _ => descriptions(&host.actions),
        };
    }
}

fn suggestion(b: Button) -> Suggestion {
    let several = b.actions.len() > 1;
    let mut suggestion = Suggestion::new(b.label).with_uuid(uuid());
    for action in b.actions {
        suggestion = suggestion.with_action(action);
    }
    // Which of the orders the clinician may take, where the profile says. The server removes
    // it for an EHR that has not declared support (CDS Hooks 3.0.0 forbids it then).
    if let Some(behavior) = b.orderable.action_selection_behavior.filter(|_| several) {
        suggestion = suggestion.with_action_selection(behavior);
    }
    suggestion
}

/// A draft ServiceRequest for an orderable, or a draft MedicationRequest when the orderable is
/// a medication (R15's progesterone).
fn service_request(o: &Orderable, patient_id: &str, now: OffsetDateTime) -> Value {
    let codings: Vec<Value> = o
        .codes
        .iter()
        .map(|c| match &c.display {
            Some(d) => json!({ "system": c.system, "code": c.code, "display": d }),
            None => json!({ "system": c.system, "code": c.code }),
        })
        .collect();
    let concept = json!({ "coding": codings, "text": o.text });
    let subject = json!({ "reference": format!("Patient/{patient_id}") });
    let mut resource = if o.resource.as_deref() == Some("MedicationRequest") {
        let mut request = json!({
            "resourceType": "MedicationRequest",
            "status": "draft",
            "intent": o.intent,
            "medicationCodeableConcept": concept,
            "subject": subject,
        });
        if let Some(dosage) = &o.dosage {
            request["dosageInstruction"] = json!([{ "text": dosage }]);
        }
        request
    } else {
        json!({
            "resourceType": "ServiceRequest",
            "status": "draft",
            "intent": o.intent,
            "code": concept,
            "subject": subject,
        })
    };
    if let Some(hours) = o.occurrence_offset_hours
        && let Some(at) = now.checked_add(Duration::hours(hours))
        && let Ok(text) = at.format(&Rfc3339)
    {
        resource["occurrenceDateTime"] = json!(text);
    }
    if let Some(note) = &o.note {
        resource["note"] = json!([{ "text": note }]);
    }
    resource
}

/// True when a draft order of the call carries one of the orderable's codes (issue 17, item 3).
fn already_drafted(orderable: &Orderable, facts: &PatientFacts) -> bool {
    facts.draft_orders.iter().any(|order| {
        order.codes.iter().any(|code| {
            orderable
                .codes
                .iter()
                .any(|wanted| wanted.system == code.system && wanted.code == code.code)
        })
    })
}

/// True when the finding says the test this orderable repeats is on record today (§3.6 item 16).
fn done_today(orderable: &Orderable, finding: &Finding) -> bool {
    orderable.done_today.is_some_and(|test| {
        finding
            .modifiers
            .iter()
            .any(|m| matches!(m, Modifier::DoneToday { what, .. } if *what == test.engine()))
    })
}

/// The orderables a finding's card suggests, in order: the rule's, then (Rh unknown) the Rh
/// type, then (R2E) the escalated card's, then the modifiers'.
pub(super) fn suggestion_keys(
    profile: &Profile,
    template: &RuleCard,
    finding: &Finding,
) -> Vec<String> {
    let mut keys: Vec<String> = template.suggestions.clone();
    // An Rh type that could not be read is asked for again, like an unknown one.
    if finding
        .modifiers
        .iter()
        .any(|m| matches!(m, Modifier::RhUnknown | Modifier::RhUnreadable { .. }))
    {
        keys.extend(template.suggestions_if_rh_unknown.iter().cloned());
    }
    // R2E: the escalated card's suggestions follow the emergency ones.
    // (Its Rh-unknown suggestions are not: the crossmatch types the blood.)
    if let Some(escalated) = escalated_template(profile, finding) {
        keys.extend(escalated.suggestions.iter().cloned());
    }
    for m in &finding.modifiers {
        if let Some(text) = profile.cards.modifiers.get(modifier_key(m)) {
            keys.extend(text.suggestions.iter().cloned());
        }
    }
    keys
}
