//! Rule modes through the knowledge base: a silent rule's card is rendered apart and never among
//! the cards to send, an off rule's is in neither, and a profile states its modes, its version
//! and its change note or is refused with the reason.

use super::escalation::{NOW, progesterone_case};
use super::*;
use crate::modes::RuleMode;
use gravida_rules::finding::RuleId;

/// The embedded profile with `profile.toml`'s text after `tail` appended.
fn with_profile_tail(tail: &str) -> BTreeMap<String, Vec<u8>> {
    let mut files = default_files();
    let mut text = String::from_utf8(files["profile.toml"].clone()).expect("utf-8");
    text.push_str(tail);
    files.insert("profile.toml".into(), text.into_bytes());
    files
}

fn rules_of(cards: &[Rendered]) -> Vec<RuleId> {
    cards.iter().map(|r| r.finding.rule).collect()
}

#[test]
fn a_silent_rules_card_is_rendered_apart_and_never_among_the_cards_to_send() {
    let active = KnowledgeBase::from_files(default_files()).unwrap();
    let shown = active.evaluate(&progesterone_case(), "p1", NOW);
    assert!(
        rules_of(&shown.cards).contains(&RuleId::R15),
        "{:?}",
        rules_of(&shown.cards)
    );
    assert!(shown.silent.is_empty());

    let kb =
        KnowledgeBase::from_files(with_profile_tail("\n[rules.R15]\nmode = \"silent\"\n")).unwrap();
    assert_eq!(kb.modes().mode(RuleId::R15), RuleMode::Silent);
    let quiet = kb.evaluate(&progesterone_case(), "p1", NOW);
    assert!(!rules_of(&quiet.cards).contains(&RuleId::R15));
    assert_eq!(rules_of(&quiet.silent), vec![RuleId::R15]);
    // Rendered as it would have been shown.
    let was = shown
        .cards
        .iter()
        .find(|r| r.finding.rule == RuleId::R15)
        .unwrap();
    assert_eq!(quiet.silent[0].card.summary, was.card.summary);
}

#[test]
fn an_off_rule_is_neither_sent_nor_rendered_silently_nor_among_the_findings() {
    let kb =
        KnowledgeBase::from_files(with_profile_tail("\n[rules.R15]\nmode = \"off\"\n")).unwrap();
    let assessment = kb.evaluate(&progesterone_case(), "p1", NOW);
    assert!(!rules_of(&assessment.cards).contains(&RuleId::R15));
    assert!(assessment.silent.is_empty());
    assert!(assessment.findings.iter().all(|f| f.rule != RuleId::R15));
}

#[test]
fn the_shipped_profile_has_a_version_a_change_note_and_r12_off() {
    let kb = KnowledgeBase::embedded().unwrap();
    assert!(!kb.profile_version().is_empty());
    assert!(!kb.change_note().trim().is_empty());
    assert_eq!(kb.modes().mode(RuleId::R12), RuleMode::Off);
    assert!(!kb.rules().thresholds.r12_enabled);
    let on = kb
        .with_site_modes(&BTreeMap::from([("R12".to_owned(), "silent".to_owned())]))
        .unwrap();
    assert!(
        on.rules().thresholds.r12_enabled,
        "a silent R12 is evaluated"
    );
}

#[test]
fn a_profile_without_a_change_note_or_with_the_old_r12_switch_is_refused_saying_why() {
    let mut files = default_files();
    let text = String::from_utf8(files["profile.toml"].clone()).unwrap();
    let without: String = text
        .lines()
        .filter(|l| !l.starts_with("change_note"))
        .map(|l| format!("{l}\n"))
        .collect();
    files.insert("profile.toml".into(), without.into_bytes());
    let problems = problems_of(files);
    assert!(
        problems.iter().any(|p| p.message.contains("change_note")),
        "{problems:?}"
    );

    let mut files = default_files();
    let mut thresholds = String::from_utf8(files["thresholds.toml"].clone()).unwrap();
    thresholds.push_str("\n[r12_enabled]\nvalue = true\nsource = \"x\"\n");
    files.insert("thresholds.toml".into(), thresholds.into_bytes());
    let problems = problems_of(files);
    assert!(
        problems
            .iter()
            .any(|p| p.message.contains("r12_enabled has moved")
                && p.message.contains("[rules.R12]")),
        "{problems:?}"
    );
}

#[test]
fn a_silent_critical_rule_without_acknowledgement_and_an_unknown_mode_are_refused() {
    let problems = problems_of(with_profile_tail(
        "\n[rules.R2E]\nmode = \"silent\"\n\n[rules.R3]\nmode = \"muted\"\n",
    ));
    assert!(
        problems
            .iter()
            .any(|p| p.message.contains("R2E may give critical cards")),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.message.contains("unknown mode \"muted\"")),
        "{problems:?}"
    );
    let acknowledged = with_profile_tail(
        "\n[rules.R2E]\nmode = \"silent\"\nacknowledge_silent_critical = \"a dry run, signed off\"\n",
    );
    assert!(problems_of(acknowledged).is_empty());
}
