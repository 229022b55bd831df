//! Short cards (issue 17 items 1 and 2), rendered from the default profile: what to do first,
//! at most three buttons, related findings folded into the main card, the reasoning that does
//! not fit kept for the long form, and records named as a clinician knows them.

use gravida_rules::RuleId;
use gravida_rules::facts::{Code, DraftOrder};
use gravida_rules::knowledge::LOINC;

use super::escalation::{NOW, bleeding_at, iup, labels, rh_negative, topics};
use super::{cards_of, full_text};
use crate::KnowledgeBase;

#[test]
fn an_rhd_negative_bleed_before_12_weeks_is_one_ectopic_card_with_the_anti_d_line_folded_in() {
    let kb = KnowledgeBase::embedded().expect("loads");
    // 9w0d, no ultrasound, RhD negative: R2 and R8 fire; the physician sees one card.
    let a = kb.evaluate(&bleeding_at(63, "bleeding", vec![rh_negative()]), "p1", NOW);
    let rules: Vec<String> = a.findings.iter().map(|f| f.rule.to_string()).collect();
    assert!(rules.contains(&"R8".to_owned()), "{rules:?}");
    assert_eq!(topics(&cards_of(a.clone())), vec!["R2"]);
    // The card comes with the finding it renders and the rule folded into it.
    assert_eq!(a.cards[0].finding.rule, RuleId::R2);
    assert_eq!(a.cards[0].folded, [RuleId::R8]);
    let card = &a.cards[0].card;
    let detail = card.detail.as_deref().unwrap_or_default();
    assert!(detail.contains("anti-D guidance differs"), "{detail}");
    assert!(detail.chars().count() <= 450, "{detail}");
    // R8's whole reasoning (the three guideline positions) is in the long form.
    let full = full_text(card);
    assert!(full.contains("**Also: RhD"), "{full}");
    assert!(
        full.contains("SMFM (2024) recommends offering it"),
        "{full}"
    );
}

#[test]
fn a_documented_intrauterine_pregnancy_beside_an_rh_card_is_folded_into_it() {
    let kb = KnowledgeBase::embedded().expect("loads");
    // 13w0d, IUP, RhD negative: R7 (warning) and R4 (info) fire; R4 becomes one line of R7.
    let a = kb.evaluate(
        &bleeding_at(91, "bleeding", vec![iup(), rh_negative()]),
        "p1",
        NOW,
    );
    assert_eq!(topics(&cards_of(a.clone())), vec!["R7"], "{:?}", a.findings);
    let detail = a.cards[0].card.detail.as_deref().unwrap_or_default();
    assert!(detail.contains("reassess bleeding, pain"), "{detail}");
    assert!(full_text(&a.cards[0].card).contains("It does not mean the pregnancy is failing"));
}

#[test]
fn a_lone_related_finding_is_its_own_card() {
    let kb = KnowledgeBase::embedded().expect("loads");
    let a = kb.evaluate(&bleeding_at(63, "bleeding", vec![iup()]), "p1", NOW);
    assert_eq!(topics(&cards_of(a.clone())), vec!["R4"]);
}

#[test]
fn a_drafted_hcg_leaves_only_the_48_hour_repeat_on_the_hcg_button() {
    let kb = KnowledgeBase::embedded().expect("loads");
    let mut facts = bleeding_at(63, "bleeding", vec![]);
    facts.draft_orders.push(DraftOrder {
        resource_type: "ServiceRequest".into(),
        id: "hcg-now".into(),
        codes: vec![Code::new(LOINC, "21198-7")],
        text: vec!["hCG quantitative".into()],
        status: Some("draft".into()),
        reasons: Vec::new(),
        ..Default::default()
    });
    let card = &cards_of(kb.evaluate(&facts, "p1", NOW))[0];
    let hcg = card
        .suggestions
        .iter()
        .find(|s| s.label.contains("hCG"))
        .expect("the repeat is still offered");
    assert_eq!(hcg.actions.len(), 1, "{:?}", labels(card));
    assert_eq!(hcg.label, "Order repeat quantitative serum hCG in 48 h");
}

#[test]
fn the_first_three_lines_of_every_common_card_are_what_to_do() {
    let kb = KnowledgeBase::embedded().expect("loads");
    for (ga_days, more) in [
        (63, vec![]),                     // R2
        (63, vec![iup()]),                // R4
        (91, vec![iup(), rh_negative()]), // R7 (+ R4)
        (120, vec![]),                    // R9
        (150, vec![]),                    // R14, Rh unknown
        (217, vec![rh_negative()]),       // R14
    ] {
        for card in cards_of(kb.evaluate(&bleeding_at(ga_days, "bleeding", more), "p1", NOW)) {
            let detail = card.detail.as_deref().unwrap_or_default();
            let lines: Vec<&str> = detail.lines().collect();
            assert!(
                lines.len() >= 3 && lines[0].starts_with("- "),
                "{}: {detail}",
                card.summary
            );
            assert!(lines.iter().take_while(|l| l.starts_with("- ")).count() >= 1);
            assert!(detail.contains("**Why.**"), "{detail}");
            // R14 carries knowledge.md §3.6 W3's four binding steps whole: a larger budget.
            let budget = if card.summary.contains("abruption") {
                520
            } else {
                450
            };
            assert!(
                detail.chars().count() <= budget,
                "{}: {detail}",
                detail.chars().count()
            );
            assert!(card.suggestions.len() <= 3, "{:?}", labels(&card));
        }
    }
}

#[test]
fn cbc_and_abo_rh_type_share_one_button_rather_than_the_cap_dropping_one() {
    let kb = KnowledgeBase::embedded().expect("loads");
    // 9w0d, no ultrasound, Rh unknown: R2 advises TVUS, hCG now and in 48 h, CBC and ABO/Rh
    // type, four buttons' worth for three.
    let card = &cards_of(kb.evaluate(&bleeding_at(63, "bleeding", vec![]), "p1", NOW))[0];
    let shown: Vec<&str> = card.suggestions.iter().map(|s| s.label.as_str()).collect();
    assert_eq!(
        shown,
        [
            "Order transvaginal ultrasound (TVUS)",
            "Order quantitative serum hCG now and in 48 h",
            "Order CBC and ABO/Rh type",
        ]
    );
    let shared: Vec<&str> = card.suggestions[2]
        .actions
        .iter()
        .map(|a| a.description.as_str())
        .collect();
    assert_eq!(shared, ["Order CBC", "Order ABO/Rh type"]);
}

#[test]
fn cbc_and_abo_rh_type_keep_a_button_each_when_the_card_has_room() {
    let kb = KnowledgeBase::embedded().expect("loads");
    // 17w1d, Rh unknown, placenta not localised: R9 advises the placental scan, CBC and ABO/Rh
    // type, three buttons.
    let card = &cards_of(kb.evaluate(&bleeding_at(120, "bleeding", vec![]), "p1", NOW))[0];
    let shown: Vec<&str> = card.suggestions.iter().map(|s| s.label.as_str()).collect();
    assert!(shown.contains(&"Order CBC"), "{shown:?}");
    assert!(shown.contains(&"Order ABO/Rh type"), "{shown:?}");
}

#[test]
fn a_folded_findings_reasoning_leaves_out_the_bleed_and_dating_its_host_said() {
    let kb = KnowledgeBase::embedded().expect("loads");
    // 13w0d, IUP, RhD negative: R4 folded into R7. The long form names the bleed, the dating
    // and the Rh type once, in R7's reasoning; R4's adds only what is its own.
    let a = kb.evaluate(
        &bleeding_at(91, "bleeding", vec![iup(), rh_negative()]),
        "p1",
        NOW,
    );
    let reasoning = full_text(&a.cards[0].card)
        .split("**Why.**")
        .skip(1)
        .collect::<Vec<_>>()
        .join("**Why.**");
    assert_eq!(
        reasoning.matches("Bleeding record:").count(),
        1,
        "{reasoning}"
    );
    assert_eq!(
        reasoning.matches("Rh type on record").count(),
        1,
        "{reasoning}"
    );
    let also = reasoning.split("**Also:").nth(1).expect("R4 folded in");
    assert!(
        also.contains("most pregnancies with light bleeding continue"),
        "{also}"
    );
}
