//! The profile's words a card's long form repeats: what a stored long form need not hold.
//!
//! A long form is mostly the profile's own wording (the rule's reasons and steps, the
//! modifiers' sentences, the facts' sentences, the orderables' names) around a few facts from the
//! chart (what the records say, their dates). The server stores long forms compressed against
//! these words (an LZ4 dictionary), so that a stored long form holds little more than its facts
//! and back-references into the profile, and names the *keys* of the words it was packed
//! against ([`long_form_keys`]): the card's rule, the rules folded into it, and the modifiers
//! of its finding.
//!
//! The words of a set of keys are fixed by the profile's content, so the same profile version
//! gives the same bytes on every replica and after every restart. A profile that changed gives
//! other bytes: a long form is opened only under the version that packed it.

use gravida_rules::{Finding, RuleId};

use crate::load::Profile;
use crate::render::{modifier_key, more_key};
use crate::templates::{ModifierText, RuleCard, Template, TextOverride};

/// The keys of the profile words the long form of a card of `finding` (with `folded` rules
/// folded into it) is likely to repeat: the rules first (the card's own first), then the
/// modifiers, each once.
pub fn long_form_keys(finding: &Finding, folded: &[RuleId]) -> Vec<&'static str> {
    let mut keys: Vec<&'static str> = vec![finding.rule.as_str()];
    let modifiers = finding.modifiers.iter().map(modifier_key);
    for key in folded.iter().map(|rule| rule.as_str()).chain(modifiers) {
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    keys
}

/// The words of `keys` (see [`long_form_keys`]): the sentences every card may use (the
/// closing, the facts, the orderables' names), then each key's text, the first key's last. LZ4
/// reaches back at most 64 KiB, so what matters most goes nearest the end. A key the profile
/// does not have adds nothing.
pub(crate) fn words(profile: &Profile, keys: &[&str]) -> Vec<u8> {
    let mut out = String::with_capacity(8 * 1024);
    out.push_str(&profile.cards.closing);
    out.push('\n');
    out.push_str(&profile.cards.source.label);
    out.push('\n');
    let facts = &profile.cards.facts;
    for template in [
        &facts.bleed,
        &facts.bleed_undated,
        &facts.dated,
        &facts.undated,
        &facts.iup_documented,
        &facts.pul,
        &facts.pul_late,
        &facts.no_ultrasound,
        &facts.dating_art,
        &facts.dating_edd,
        &facts.dating_ultrasound,
        &facts.dating_lmp,
        &facts.dating_ga,
        &facts.card_bleed,
        &facts.card_bleed_undated,
        &facts.card_dated,
        &facts.card_undated,
        &facts.card_iup_documented,
        &facts.card_pul,
        &facts.card_pul_late,
        &facts.card_no_ultrasound,
    ] {
        push(&mut out, template);
    }
    for orderable in profile.orderables.values() {
        out.push_str(&orderable.label);
        out.push('\n');
    }
    for key in keys.iter().rev() {
        if let Some(card) = profile.cards.rules.get(*key) {
            push_rule(&mut out, card);
        } else if let Some(text) = profile.cards.modifiers.get(*key) {
            if let Some(more) = more_key(key).and_then(|k| profile.cards.modifiers.get(k)) {
                push_modifier(&mut out, more);
            }
            push_modifier(&mut out, text);
        }
    }
    out.into_bytes()
}

fn push(out: &mut String, template: &Template) {
    out.push_str(template.as_str());
    out.push('\n');
}

fn push_modifier(out: &mut String, text: &ModifierText) {
    for template in [&text.why, &text.what_to_do, &text.card_why, &text.card_do]
        .into_iter()
        .flatten()
    {
        push(out, template);
    }
}

fn push_override(out: &mut String, text: &TextOverride) {
    for template in text.templates() {
        push(out, template);
    }
}

fn push_rule(out: &mut String, card: &RuleCard) {
    for text in card.variant_text.values().chain(&card.escalated) {
        push_override(out, text);
    }
    for link in &card.links {
        out.push_str(&link.label);
        out.push('\n');
        out.push_str(&link.url);
        out.push('\n');
    }
    out.push_str(&card.source_label);
    out.push('\n');
    out.push_str(&card.source_url);
    out.push('\n');
    if let Some(label) = &card.delete_label {
        out.push_str(label);
        out.push('\n');
    }
    for template in card.variants.values().chain(&card.card_folded) {
        push(out, template);
    }
    for template in card
        .card_do
        .iter()
        .chain(&card.card_why)
        .chain([&card.card_not_mean])
        .chain(&card.does_not_mean)
        .chain(&card.what_to_do)
        .chain(&card.why)
        .chain([&card.summary])
    {
        push(out, template);
    }
}

#[cfg(test)]
mod tests {
    use crate::KnowledgeBase;

    #[test]
    fn the_words_of_a_rule_hold_its_long_form_sentences_and_are_the_same_bytes_every_time() {
        let kb = KnowledgeBase::embedded().unwrap();
        let words = kb.long_form_words(&["R2", "label_implausible"]);
        assert_eq!(words, kb.long_form_words(&["R2", "label_implausible"]));
        let text = String::from_utf8(words.clone()).unwrap();
        let r2 = &kb.profile.cards.rules["R2"];
        assert!(
            text.ends_with(&format!("{}\n", r2.summary.as_str())),
            "the rule's own text last"
        );
        assert!(text.contains(r2.why[0].as_str()));
        let label = kb.profile.cards.modifiers["label_implausible"]
            .why
            .as_ref()
            .unwrap();
        assert!(text.contains(label.as_str()));
        // Another rule's words are not among them; an unknown key adds nothing.
        assert!(!text.contains(kb.profile.cards.rules["R16"].why[0].as_str()));
        assert_eq!(
            kb.long_form_words(&["R2", "label_implausible", "no-such-key"]),
            words
        );
    }
}
