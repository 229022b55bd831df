//! The binding card wording of knowledge.md §3.6 (W1–W10 and C4), rendered from the default
//! profile: each test reads the card a clinician would read and fails on the wording it
//! replaces.

use gravida_cds_hooks::{ActionType, Card, Indicator};
use gravida_rules::facts::{Code, DraftOrder, PatientFacts};
use gravida_rules::knowledge::{RXNORM, SNOMED};
use time::Duration;

use super::escalation::{
    NOW, TODAY, bleeding_at, cond, iup, progesterone_case, pul_pair, rh_negative, tvus,
};
use super::{cards_of, full_text};
use crate::KnowledgeBase;

fn methotrexate(reasons: &[&str]) -> DraftOrder {
    DraftOrder {
        resource_type: "MedicationRequest".into(),
        id: "mtx".into(),
        codes: vec![Code::new(RXNORM, "6851")],
        text: vec!["Methotrexate 2.5 mg tablet".into()],
        status: Some("draft".into()),
        reasons: reasons.iter().map(|r| (*r).to_owned()).collect(),
        ..Default::default()
    }
}

/// The card of `rule` among the cards for `facts`.
fn card_of(facts: &PatientFacts, rule: &str) -> Card {
    let kb = KnowledgeBase::embedded().expect("loads");
    cards_of(kb.evaluate(facts, "p1", NOW))
        .into_iter()
        .find(|c| c.source.topic.as_ref().is_some_and(|t| t.code == rule))
        .unwrap_or_else(|| panic!("no {rule} card"))
}

fn short(card: &Card) -> &str {
    card.detail.as_deref().unwrap_or_default()
}

fn previa() -> gravida_rules::facts::Record {
    cond(
        "previa",
        SNOMED,
        "36813001",
        "Placenta previa",
        TODAY - Duration::days(10),
    )
}

#[test]
fn methotrexate_beside_a_documented_intrauterine_pregnancy_is_contraindicated_and_the_pregnancy_is_never_to_be_excluded()
 {
    let mut facts = bleeding_at(49, "bleeding", vec![iup()]);
    facts.draft_orders.push(methotrexate(&[]));
    let card = card_of(&facts, "R6");
    assert_eq!(card.indicator, Indicator::Critical);
    let text = full_text(&card);
    for wanted in [
        "Methotrexate is contraindicated with an intrauterine pregnancy.",
        "If a coexisting tubal pregnancy is suspected (heterotopic), gynecology: management preserves the intrauterine pregnancy.",
    ] {
        assert!(short(&card).contains(wanted), "{wanted}: {}", short(&card));
    }
    for unwanted in ["is excluded", "been excluded", "excluded first"] {
        assert!(!text.contains(unwanted), "{unwanted}: {text}");
    }
    assert!(card.suggestions.iter().any(|s| {
        s.actions
            .iter()
            .any(|a| a.action_type == ActionType::Delete)
    }));
}

#[test]
fn methotrexate_for_rheumatoid_arthritis_in_early_pregnancy_gets_the_teratogen_wording_not_the_ectopic_one()
 {
    for reasons in [&["Rheumatoid arthritis"][..], &["15 mg once weekly"][..]] {
        let mut facts = bleeding_at(42, "spotting", vec![]);
        facts.draft_orders.push(methotrexate(reasons));
        let card = card_of(&facts, "R6");
        assert_eq!(card.indicator, Indicator::Critical);
        assert_eq!(
            card.summary,
            "Methotrexate ordered in pregnancy: contraindicated (embryo-fetal toxicity)"
        );
        assert!(
            short(&card).contains(
                "Methotrexate is contraindicated in pregnancy (embryo-fetal toxicity): review the indication with the prescriber."
            ),
            "{}",
            short(&card)
        );
        let text = full_text(&card);
        assert!(!text.contains("normal intrauterine pregnancy"), "{text}");
        assert!(card.suggestions.iter().any(|s| {
            s.actions
                .iter()
                .any(|a| a.action_type == ActionType::Delete)
        }));
    }
}

#[test]
fn methotrexate_with_no_stated_reason_and_no_documented_pregnancy_location_keeps_the_ectopic_wording()
 {
    let mut facts = bleeding_at(42, "spotting", vec![]);
    facts.draft_orders.push(methotrexate(&[]));
    let card = card_of(&facts, "R6");
    assert_eq!(
        card.summary,
        "Methotrexate ordered while a normal intrauterine pregnancy has not been excluded"
    );
}

#[test]
fn the_31_week_card_asks_for_coagulation_whatever_the_loss_and_names_corticosteroids_and_magnesium()
{
    let card = card_of(&bleeding_at(217, "bleeding", vec![rh_negative()]), "R14");
    let detail = short(&card);
    for wanted in [
        "Continuous fetal heart rate monitoring (CTG) from viability",
        "CBC, coagulation studies and fibrinogen whatever the visible loss",
        "Antenatal corticosteroids if delivery before 34w0d is possible",
        "magnesium sulfate for neuroprotection if delivery before 32w0d is imminent",
    ] {
        assert!(detail.contains(wanted), "{wanted}: {detail}");
    }
    assert!(
        !full_text(&card).contains("if heavy"),
        "{}",
        full_text(&card)
    );
}

#[test]
fn the_anti_d_card_states_the_rh_fact_once_with_its_date_and_recommends_anti_d() {
    let card = card_of(
        &bleeding_at(91, "bleeding", vec![iup(), rh_negative()]),
        "R7",
    );
    let detail = short(&card);
    assert!(detail.contains("RhD negative (2 Mar)."), "{detail}");
    let said = detail.to_lowercase();
    assert_eq!(
        said.matches("rhd negative").count() + said.matches("rhd-negative").count(),
        1,
        "{detail}"
    );
    assert!(
        detail.contains(
            "Anti-D immune globulin is recommended (BSH 2014; ACOG PB 181), per local protocol."
        ),
        "{detail}"
    );
    let text = full_text(&card);
    assert!(!text.contains("not read"), "{text}");
}

#[test]
fn a_documented_previa_is_stated_once_with_its_day_and_never_beside_no_placental_location() {
    for (ga_days, rule) in [(120, "R9"), (217, "R14")] {
        let card = card_of(&bleeding_at(ga_days, "bleeding", vec![previa()]), rule);
        let detail = short(&card);
        assert!(
            detail.contains("Placenta previa documented (22 Mar): no digital cervical examination"),
            "{rule}: {detail}"
        );
        assert_eq!(detail.matches("revia documented").count(), 1, "{detail}");
        let text = full_text(&card).to_lowercase();
        for unwanted in [
            "no placental location",
            "does not mean a previa",
            "does not mean a placenta previa",
            "until ultrasound",
            "previa are not excluded",
            "previa is present",
        ] {
            assert!(!text.contains(unwanted), "{rule} {unwanted}: {text}");
        }
    }
}

#[test]
fn the_progesterone_card_gives_the_dose_and_its_off_label_status() {
    let card = card_of(&progesterone_case(), "R15");
    assert!(
        short(&card).contains(
            "vaginal micronised progesterone 400 mg twice daily to 16 completed weeks (off-label in the UK and US)"
        ),
        "{}",
        short(&card)
    );
}

#[test]
fn the_data_note_says_why_a_record_was_set_aside_in_clinical_words() {
    let mut facts = bleeding_at(70, "bleeding", vec![]);
    // The bleed is two years old and still active: older than this pregnancy.
    facts.records.retain(|r| r.id != "bleed");
    facts.records.push(cond(
        "old",
        SNOMED,
        "723665008",
        "vaginal bleeding",
        TODAY - Duration::days(800),
    ));
    let card = card_of(&facts, "D1");
    assert!(
        card.summary.contains("older than this pregnancy"),
        "{}",
        card.summary
    );
    let text = full_text(&card);
    assert!(!text.to_lowercase().contains("impossible date"), "{text}");
    assert!(text.contains("is older than this pregnancy"), "{text}");
}

#[test]
fn the_short_slow_rise_card_says_it_does_not_distinguish_ectopic_from_a_failing_pregnancy() {
    // 1,000 then 1,100 m[IU]/mL 48 h apart after a scan with no intrauterine pregnancy.
    let card = card_of(&pul_pair(1100.0), "R2");
    assert!(
        short(&card).contains("does not distinguish ectopic from a failing intrauterine pregnancy"),
        "{}",
        short(&card)
    );
}

#[test]
fn most_pregnancies_with_light_bleeding_continue_is_said_only_of_a_bleed_not_described_as_moderate()
{
    let light = card_of(&bleeding_at(63, "spotting", vec![iup()]), "R4");
    assert!(
        full_text(&light).contains("most pregnancies with light bleeding continue")
            || full_text(&light).contains("Most pregnancies with light bleeding continue"),
        "{}",
        full_text(&light)
    );
    let moderate = card_of(
        &bleeding_at(63, "vaginal bleeding, moderate", vec![iup()]),
        "R4",
    );
    let text = full_text(&moderate).to_lowercase();
    assert!(!text.contains("light bleeding continue"), "{text}");
    assert!(text.contains("described as more than light"), "{text}");
}

#[test]
fn after_a_scan_with_no_intrauterine_pregnancy_the_card_leads_with_the_last_hcg_and_its_repeat_and_offers_no_tvus()
 {
    // 1,000 then 1,100 m[IU]/mL 48 h apart, the second on 1 Apr, after a scan 3 days ago.
    let card = card_of(&pul_pair(1100.0), "R2");
    let detail = short(&card);
    let first = detail.lines().next().unwrap_or_default();
    assert!(
        first.contains("Last hCG 1100 m\\[IU\\]\\/mL (1 Apr)"),
        "{detail}"
    );
    assert!(
        first.contains("repeat quantitative hCG 48 h after 1 Apr"),
        "{detail}"
    );
    assert!(
        !full_text(&card).contains("to locate"),
        "{}",
        full_text(&card)
    );
    let labels: Vec<&str> = card.suggestions.iter().map(|s| s.label.as_str()).collect();
    assert!(!labels.iter().any(|l| l.contains("TVUS")), "{labels:?}");
    assert!(labels.iter().any(|l| l.contains("repeat")), "{labels:?}");
    // With no hCG on file, what is missing now is a first value and its repeat.
    let card = card_of(&bleeding_at(45, "spotting", vec![tvus()]), "R2");
    let first = short(&card).lines().next().unwrap_or_default().to_owned();
    assert!(
        first.contains("Quantitative serum hCG now and in 48 h"),
        "{first}"
    );
    assert!(
        !card.suggestions.iter().any(|s| s.label.contains("TVUS")),
        "{:?}",
        card.suggestions
    );
}
