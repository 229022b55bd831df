//! A card's buttons: one per orderable the card advises (`orderables.toml`), each creating its
//! order and those it names in `with`, at most [`MAX_SUGGESTIONS`] unless the card is critical.
//!
//! The cap drops the buttons past the third. An orderable that a profile pairs with another
//! (`shares_with`: CBC with ABO/Rh type) keeps both when the cap would drop either: the two
//! become one button ("Order CBC and ABO/Rh type") that creates both orders, in the place of the
//! first of them, and a button the cap dropped comes back. Which orders pair is the profile's
//! data, not a case written here.

use gravida_cds_hooks::{Action, Suggestion};
use gravida_rules::Finding;
use gravida_rules::facts::PatientFacts;
use time::OffsetDateTime;

use super::{MAX_SUGGESTIONS, already_drafted, done_today, service_request, uuid};
use crate::load::Profile;
use crate::templates::Orderable;

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
