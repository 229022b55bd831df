//! Cards of escalation and the rules of knowledge.md §3.5 items 9 and 12–16, rendered from the
//! default profile: R2E, R14, R15, R5N, risk factors, and no "pregnancy of unknown location"
//! beyond 14 weeks.

use gravida_rules::facts::{
    Code, Component, PatientFacts, Precision, Record, RecordKind, Value, When,
};
use gravida_rules::knowledge::{ICD10CM, LOINC, SNOMED};
use time::macros::{date, datetime, offset};
use time::{Date, Duration, OffsetDateTime};

use super::{cards_of, default_files};
use crate::KnowledgeBase;

pub(super) const NOW: OffsetDateTime = datetime!(2025-04-01 12:00 UTC);
pub(super) const TODAY: Date = date!(2025 - 04 - 01);

pub(super) fn obs(id: &str, system: &str, code: &str, on: Date, value: Option<Value>) -> Record {
    let mut r = Record::new(RecordKind::Observation, id);
    r.codes = vec![Code::new(system.to_owned(), code)];
    r.status = Some("final".into());
    r.effective = Some(When::day(on));
    r.value = value;
    r
}

pub(super) fn cond(id: &str, system: &str, code: &str, text: &str, on: Date) -> Record {
    let mut r = Record::new(RecordKind::Condition, id);
    r.codes = vec![Code::new(system.to_owned(), code)];
    r.text = vec![text.into()];
    r.clinical_status = Some("active".into());
    r.effective = Some(When::day(on));
    r
}

fn quantity(value: f64, unit: &str) -> Option<Value> {
    Some(Value::Quantity {
        value,
        unit: Some(unit.into()),
        code: Some(unit.into()),
        comparator: None,
    })
}

fn timed(mut r: Record, at: OffsetDateTime) -> Record {
    r.effective = Some(When {
        at,
        precision: Precision::Time,
    });
    r
}

/// A pregnancy at `ga_days` today with a bleed today, and `more` records.
pub(super) fn bleeding_at(ga_days: i64, text: &str, more: Vec<Record>) -> PatientFacts {
    let status = obs(
        "status",
        LOINC,
        "82810-3",
        TODAY - Duration::days(5),
        Some(Value::Concept {
            codes: vec![Code::new(SNOMED, "77386006")],
            text: None,
        }),
    );
    let lmp = obs(
        "lmp",
        LOINC,
        "8665-2",
        TODAY - Duration::days(5),
        Some(Value::DateTime(When::day(TODAY - Duration::days(ga_days)))),
    );
    let bleed = cond("bleed", SNOMED, "723665008", text, TODAY);
    let mut records = vec![status, lmp, bleed];
    records.extend(more);
    PatientFacts {
        records,
        ..Default::default()
    }
}

pub(super) fn tvus() -> Record {
    obs("tvus", LOINC, "42451-5", TODAY - Duration::days(3), None)
}

pub(super) fn iup() -> Record {
    cond(
        "iup",
        SNOMED,
        "65727000",
        "Intrauterine pregnancy",
        TODAY - Duration::days(3),
    )
}

pub(super) fn rh_negative() -> Record {
    obs(
        "rh",
        LOINC,
        "10331-7",
        TODAY - Duration::days(30),
        Some(Value::Concept {
            codes: vec![Code::new(LOINC, "LA6577-6")],
            text: None,
        }),
    )
}

pub(super) fn heart_rate(value: f64, at: OffsetDateTime) -> Record {
    let mut r = timed(
        obs("hr", LOINC, "8867-4", at.date(), quantity(value, "/min")),
        at,
    );
    r.text = vec!["Heart rate".into()];
    r
}

pub(super) fn bp_panel(systolic: f64, diastolic: f64, at: OffsetDateTime) -> Record {
    let mut r = timed(obs("bp", LOINC, "85354-9", at.date(), None), at);
    r.text = vec!["Blood pressure panel".into()];
    r.components = vec![
        Component {
            codes: vec![Code::new(LOINC, "8480-6")],
            text: vec![],
            value: quantity(systolic, "mm[Hg]"),
        },
        Component {
            codes: vec![Code::new(LOINC, "8462-4")],
            text: vec![],
            value: quantity(diastolic, "mm[Hg]"),
        },
    ];
    r
}

fn hcg(id: &str, value: f64, at: OffsetDateTime) -> Record {
    timed(
        obs(id, LOINC, "21198-7", at.date(), quantity(value, "m[IU]/mL")),
        at,
    )
}

/// Every text of every card: summary, detail, suggestion labels and links.
fn texts(cards: &[gravida_cds_hooks::Card]) -> String {
    let mut all = String::new();
    for card in cards {
        all.push_str(&card.summary);
        all.push('\n');
        all.push_str(&super::full_text(card));
        for s in &card.suggestions {
            all.push_str(&s.label);
        }
        for l in &card.links {
            all.push_str(&l.label);
        }
        all.push('\n');
    }
    all
}

pub(super) fn topics(cards: &[gravida_cds_hooks::Card]) -> Vec<String> {
    cards
        .iter()
        .filter_map(|c| c.source.topic.as_ref().map(|t| t.code.clone()))
        .collect()
}

pub(super) fn labels(card: &gravida_cds_hooks::Card) -> Vec<String> {
    card.suggestions.iter().map(|s| s.label.clone()).collect()
}

fn with(replacements: &[(&str, &str)]) -> KnowledgeBase {
    let mut files = default_files();
    let thresholds = String::from_utf8(files["thresholds.toml"].clone()).expect("utf-8");
    let mut changed = thresholds.clone();
    for (from, to) in replacements {
        changed = changed.replace(from, to);
    }
    assert_ne!(changed, thresholds, "the replacement applies");
    files.insert("thresholds.toml".into(), changed.into_bytes());
    KnowledgeBase::from_files(files).expect("loads")
}

// ----- No "pregnancy of unknown location" beyond 14 weeks (§3.5 item 13) ---------------------------

#[test]
fn no_card_from_14_weeks_says_pregnancy_of_unknown_location() {
    let kb = KnowledgeBase::embedded().expect("loads");
    let unstable = || heart_rate(130.0, NOW - Duration::minutes(20));
    let mut fired = std::collections::BTreeSet::new();
    for ga in [98, 111, 112, 139, 140, 217] {
        for more in [
            vec![tvus()],
            vec![tvus(), rh_negative()],
            vec![tvus(), unstable()],
            vec![tvus(), rh_negative(), unstable()],
        ] {
            let cards =
                cards_of(kb.evaluate(&bleeding_at(ga, "vaginal bleeding", more), "p1", NOW));
            assert!(!cards.is_empty(), "GA {ga} days gets a card");
            fired.extend(topics(&cards));
            let all = texts(&cards).to_lowercase();
            assert!(!all.contains("unknown location"), "GA {ga} days: {all}");
        }
    }
    for rule in ["R2E", "R7", "R9", "R14"] {
        assert!(fired.contains(rule), "{rule} among {fired:?}");
    }
}

#[test]
fn no_template_a_card_can_carry_from_14_weeks_says_pregnancy_of_unknown_location() {
    // R2, R2R, R3, R4, R6 and R12 fire only before 14 weeks (R6 has no GA); R5/R5N text and the
    // risk factors go on R2 and R6 only. Everything else can reach a card from 14w0d.
    let kb = KnowledgeBase::embedded().expect("loads");
    let cards = &kb.profile.cards;
    let early_rules = ["R2", "R2R", "R3", "R4", "R6", "R12"];
    for (rule, card) in &cards.rules {
        if early_rules.contains(&rule.as_str()) {
            continue;
        }
        let all = std::iter::once(&card.summary)
            .chain(card.variants.values())
            .chain(&card.why)
            .chain(&card.what_to_do)
            .chain(&card.does_not_mean)
            .map(|t| t.as_str().to_lowercase())
            .collect::<Vec<_>>()
            .join(" ");
        assert!(!all.contains("unknown location"), "{rule}: {all}");
    }
    for (key, text) in &cards.modifiers {
        let early_only = key.starts_with("hcg_")
            || key.starts_with("risk_")
            || key == "diagnosed_in_this_pregnancy";
        if early_only {
            continue;
        }
        let all = format!("{:?} {:?}", text.why, text.what_to_do).to_lowercase();
        assert!(!all.contains("unknown location"), "modifier {key}: {all}");
    }
    assert!(
        !cards
            .facts
            .pul_late
            .as_str()
            .to_lowercase()
            .contains("unknown location")
    );
}

// ----- R2E (§3.5 item 12) ---------------------------------------------------------------------------

#[test]
fn the_r2e_card_names_the_vital_signs_with_their_time_and_leads_with_the_emergency_steps() {
    let kb = KnowledgeBase::embedded().expect("loads");
    let taken = NOW - Duration::minutes(30);
    let facts = bleeding_at(
        47,
        "vaginal bleeding",
        vec![heart_rate(128.0, taken), bp_panel(84.0, 48.0, taken)],
    );
    let cards = cards_of(kb.evaluate(&facts, "p1", NOW));
    assert_eq!(topics(&cards), vec!["R2E"], "R2 is escalated, not repeated");
    let card = &cards[0];
    assert_eq!(card.indicator, gravida_cds_hooks::Indicator::Critical);
    assert_eq!(
        card.summary,
        "Bleeding at 6w5d with signs of haemodynamic instability: emergency assessment"
    );
    let detail = &super::full_text(card);
    for wanted in [
        "Heart rate 128/min at 2025-04-01 11:30 UTC",
        "Systolic blood pressure 84 mmHg at 2025-04-01 11:30 UTC",
        "Shock index 1.52",
        "ruptured ectopic pregnancy is possible",
        "Senior obstetric or gynecology review now",
        "Two large-bore IV lines",
        "type and crossmatch",
        "Bedside ultrasound for free fluid",
        "prepare for theatre",
    ] {
        assert!(detail.contains(wanted), "{wanted}: {detail}");
    }
    // knowledge.md §3.6 W2: no 48-hour hCG plan and no "TVUS to locate" for an unstable
    // patient, and CBC once, on the card as in the long form.
    let short = card.detail.as_deref().unwrap_or_default();
    let todo = detail
        .split("**What to do.**")
        .nth(1)
        .and_then(|t| t.split("**What this card").next())
        .unwrap_or_default();
    for text in [short, todo] {
        for unwanted in ["48 h", "to locate", "Transvaginal ultrasound (TVUS)"] {
            assert!(!text.contains(unwanted), "{unwanted}: {text}");
        }
        assert_eq!(text.matches("CBC").count(), 1, "CBC once: {text}");
    }
    let labels = labels(card);
    assert!(
        labels.iter().any(|l| l.contains("crossmatch")),
        "{labels:?}"
    );
    assert!(
        !labels
            .iter()
            .any(|l| l.contains("TVUS") || l.contains("hCG")),
        "{labels:?}"
    );
    assert!(card.links.iter().any(|l| l.url.contains("1471-0528.13206")));
    assert!(card.summary.chars().count() < 140);
    assert!(card.validate().is_ok());
}

#[test]
fn a_vital_sign_is_shown_at_the_time_of_its_own_offset() {
    let kb = KnowledgeBase::embedded().expect("loads");
    let taken = (NOW - Duration::minutes(30)).to_offset(offset!(+2));
    let facts = bleeding_at(47, "bleeding", vec![heart_rate(135.0, taken)]);
    let detail = cards_of(kb.evaluate(&facts, "p1", NOW))
        .first()
        .map(super::full_text)
        .unwrap_or_default();
    assert!(
        detail.contains("Heart rate 135/min at 2025-04-01 13:30 +02:00"),
        "{detail}"
    );
}

#[test]
fn an_unreadable_vital_sign_is_named_on_the_card() {
    let kb = KnowledgeBase::embedded().expect("loads");
    let mut hr = heart_rate(0.0, NOW - Duration::minutes(5));
    hr.value = Some(Value::String("fast".into()));
    let cards = cards_of(kb.evaluate(&bleeding_at(47, "bleeding", vec![hr]), "p1", NOW));
    assert_eq!(topics(&cards), vec!["R2"]);
    let detail = &super::full_text(&cards[0]);
    assert!(
        detail.contains("The chart entry 'Heart rate' could not be read as a vital sign"),
        "{detail}"
    );
}

#[test]
fn heavy_bleeding_asks_for_coagulation_studies() {
    let kb = KnowledgeBase::embedded().expect("loads");
    let cards = cards_of(kb.evaluate(
        &bleeding_at(217, "heavy bleeding with clots", vec![]),
        "p1",
        NOW,
    ));
    assert_eq!(topics(&cards), vec!["R2E"]);
    let card = &cards[0];
    let detail = &super::full_text(card);
    assert!(detail.contains("worded heavy"), "{detail}");
    assert!(!detail.contains("ruptured ectopic"), "31 weeks: {detail}");
    // R14's advice under R2E (knowledge.md §3.6 W2, W3): monitoring and the GA-dependent
    // drugs; CBC once, R2E's.
    for wanted in [
        "Continuous fetal heart rate monitoring (CTG) from viability",
        "Antenatal corticosteroids if delivery before 34w0d is possible",
        "magnesium sulfate for neuroprotection if delivery before 32w0d is imminent",
    ] {
        assert!(detail.contains(wanted), "R14 advice {wanted}: {detail}");
    }
    let short = card.detail.as_deref().unwrap_or_default();
    assert_eq!(short.matches("CBC").count(), 1, "{short}");
    assert!(labels(card).iter().any(|l| l.contains("coagulation")));
}

// ----- R14 (§3.5 item 13) ---------------------------------------------------------------------------

#[test]
fn the_r14_card_advises_triage_fetal_monitoring_and_kleihauer_betke_when_rh_negative() {
    let kb = KnowledgeBase::embedded().expect("loads");
    let cards = cards_of(kb.evaluate(
        &bleeding_at(
            217,
            "vaginal bleeding and abdominal pain",
            vec![rh_negative()],
        ),
        "p1",
        NOW,
    ));
    let card = cards
        .iter()
        .find(|c| c.source.topic.as_ref().is_some_and(|t| t.code == "R14"))
        .expect("R14");
    assert_eq!(
        card.summary,
        "Bleeding at 31w0d: obstetric triage assessment; placental abruption and previa to be considered"
    );
    let detail = &super::full_text(card);
    for wanted in [
        "Continuous fetal heart rate monitoring (CTG) from viability",
        "No digital cervical exam",
        "Kleihauer",
    ] {
        assert!(detail.contains(wanted), "{wanted}: {detail}");
    }
    // Three buttons at most: Kleihauer–Betke is advised in the text, the first buttons are the
    // blood tests and the placental scan.
    let labels = labels(card);
    assert!(labels.len() <= 3, "{labels:?}");
    assert!(
        labels.iter().any(|l| l.contains("type and screen")),
        "{labels:?}"
    );
    assert!(
        card.detail
            .as_deref()
            .unwrap_or_default()
            .contains("Kleihauer"),
        "{detail}"
    );
    assert!(!texts(&cards).to_lowercase().contains("ectopic"));
}

// ----- R15 (§3.5 item 15) ---------------------------------------------------------------------------

pub(super) fn progesterone_case() -> PatientFacts {
    let previous = cond(
        "mc-2024",
        SNOMED,
        "17369002",
        "Miscarriage",
        date!(2024 - 05 - 10),
    );
    bleeding_at(60, "spotting", vec![iup(), previous])
}

#[test]
fn the_r15_card_states_both_guidelines_and_suggests_no_order_by_default() {
    let kb = KnowledgeBase::embedded().expect("loads");
    let cards = cards_of(kb.evaluate(&progesterone_case(), "p1", NOW));
    let card = cards
        .iter()
        .find(|c| c.source.topic.as_ref().is_some_and(|t| t.code == "R15"))
        .expect("R15");
    assert_eq!(card.indicator, gravida_cds_hooks::Indicator::Info);
    assert!(
        card.summary
            .contains("NICE advises offering vaginal progesterone")
    );
    let detail = &super::full_text(card);
    for wanted in [
        "400 mg twice daily",
        "16 completed weeks",
        "off-label",
        "75 % vs 70 %",
        "72 % vs 57 %",
        "ACOG Practice Bulletin 200",
    ] {
        assert!(detail.contains(wanted), "{wanted}: {detail}");
    }
    assert!(card.suggestions.is_empty(), "{:?}", labels(card));
    assert!(card.links.iter().any(|l| l.url.contains("NEJMoa1813730")));
}

#[test]
fn a_site_that_enables_it_gets_a_draft_progesterone_medication_request() {
    let kb = with(&[(
        "[r15_order_enabled]\nvalue = false",
        "[r15_order_enabled]\nvalue = true",
    )]);
    let cards = cards_of(kb.evaluate(&progesterone_case(), "p1", NOW));
    let card = cards
        .iter()
        .find(|c| c.source.topic.as_ref().is_some_and(|t| t.code == "R15"))
        .expect("R15");
    let resource = card.suggestions[0].actions[0]
        .resource
        .clone()
        .expect("a resource");
    assert_eq!(resource["resourceType"], "MedicationRequest");
    assert_eq!(resource["status"], "draft");
    assert_eq!(
        resource["medicationCodeableConcept"]["coding"][0]["code"],
        "8727"
    );
    assert!(
        resource["dosageInstruction"][0]["text"]
            .as_str()
            .is_some_and(|t| t.contains("400 mg"))
    );
}

// ----- R5N (§3.5 item 16) ---------------------------------------------------------------------------

pub(super) fn pul_pair(second: f64) -> PatientFacts {
    let later = NOW - Duration::hours(2);
    bleeding_at(
        45,
        "spotting",
        vec![
            tvus(),
            hcg("h1", 1000.0, later - Duration::hours(48)),
            hcg("h2", second, later),
        ],
    )
}

#[test]
fn when_barnhart_and_nice_differ_the_card_states_both_with_the_profiles_lead_first() {
    let barnhart_first = KnowledgeBase::embedded().expect("loads");
    let nice_first = with(&[("value = \"barnhart\"", "value = \"nice\"")]);
    for (kb, first, second) in [
        (
            &barnhart_first,
            "at or above the minimum",
            "NICE NG126: hCG rose 55 %",
        ),
        (
            &nice_first,
            "NICE NG126: hCG rose 55 %",
            "at or above the minimum",
        ),
    ] {
        let detail = cards_of(kb.evaluate(&pul_pair(1550.0), "p1", NOW))
            .first()
            .map(super::full_text)
            .unwrap_or_default();
        assert!(
            detail.contains("read this hCG pair differently"),
            "{detail}"
        );
        let a = detail
            .find(first)
            .unwrap_or_else(|| panic!("{first}: {detail}"));
        let b = detail
            .find(second)
            .unwrap_or_else(|| panic!("{second}: {detail}"));
        assert!(a < b, "{first} leads: {detail}");
        assert!(detail.contains("Clinical review within 24 h"), "{detail}");
    }
}

#[test]
fn when_both_read_a_rise_alike_only_the_lead_is_said() {
    let nice_first = with(&[("value = \"barnhart\"", "value = \"nice\"")]);
    let detail = cards_of(nice_first.evaluate(&pul_pair(1700.0), "p1", NOW))
        .first()
        .map(super::full_text)
        .unwrap_or_default();
    assert!(
        detail.contains("a developing intrauterine pregnancy is likely"),
        "{detail}"
    );
    assert!(detail.contains("TVUS within 7–14 days"), "{detail}");
    assert!(!detail.contains("differently"), "{detail}");
}

#[test]
fn an_unknown_hcg_lead_is_refused_when_the_profile_loads() {
    let mut files = default_files();
    let thresholds = String::from_utf8(files["thresholds.toml"].clone()).expect("utf-8");
    files.insert(
        "thresholds.toml".into(),
        thresholds
            .replace("value = \"barnhart\"", "value = \"whichever\"")
            .into_bytes(),
    );
    let problems = super::problems_of(files);
    assert!(
        problems
            .iter()
            .any(|p| p.message.contains("hcg_trend_lead")),
        "{problems:?}"
    );
}

// ----- Risk factors (§3.5 item 9) ---------------------------------------------------------------------

#[test]
fn a_prior_ectopic_is_said_on_the_r2_card() {
    let kb = KnowledgeBase::embedded().expect("loads");
    let mut ectopic = cond(
        "ectopic-2021",
        ICD10CM,
        "O00.10",
        "Tubal ectopic pregnancy",
        date!(2021 - 03 - 10),
    );
    ectopic.clinical_status = Some("resolved".into());
    let cards = cards_of(kb.evaluate(&bleeding_at(45, "bleeding", vec![ectopic]), "p1", NOW));
    assert_eq!(topics(&cards), vec!["R2"]);
    let detail = &super::full_text(&cards[0]);
    assert!(
        detail.contains("A previous ectopic pregnancy is on record"),
        "{detail}"
    );
    assert!(
        detail.contains("Tubal ectopic pregnancy"),
        "named among the records: {detail}"
    );
}
