//! Two readings of knowledge.md §3.6, on facts built in code: a hedged ectopic, molar or loss
//! diagnosis (item 2) is no G5 and is named on the bleeding card, from every record kind that can
//! carry one; a negative pregnancy test that ends a pregnancy of unknown location being followed
//! (item 7) gives R2R's note instead of silence.

use time::macros::{date, datetime};
use time::{Date, Duration, OffsetDateTime};

use crate::facts::{Code, PatientFacts, Presence, Record, RecordKind, Value, When};
use crate::knowledge::{ICD10CM, LOINC, SNOMED};
use crate::testkit::knowledge;
use crate::{Evaluation, Indicator, Modifier, RuleId, Suspected, evaluate};

const NOW: OffsetDateTime = datetime!(2025-04-01 12:00 UTC);
const TODAY: Date = date!(2025 - 04 - 01);

fn days_ago(days: i64) -> Date {
    TODAY - Duration::days(days)
}

fn obs(id: &str, code: &str, on: Date, value: Option<Value>) -> Record {
    let mut r = Record::new(RecordKind::Observation, id);
    r.codes = vec![Code::new(LOINC, code)];
    r.status = Some("final".into());
    r.effective = Some(When::day(on));
    r.value = value;
    r
}

fn hcg(id: &str, on: Date, value: f64, comparator: Option<&str>) -> Record {
    obs(
        id,
        "21198-7",
        on,
        Some(Value::Quantity {
            value,
            unit: Some("mIU/mL".into()),
            code: Some("m[IU]/mL".into()),
            comparator: comparator.map(Into::into),
        }),
    )
}

fn scan_without_iup(on: Date) -> Record {
    let mut r = Record::new(RecordKind::DiagnosticReport, "us");
    r.codes = vec![Code::new(LOINC, "42451-5")];
    r.status = Some("final".into());
    r.text = vec!["No intrauterine gestational sac. Pregnancy of unknown location.".into()];
    r.effective = Some(When::day(on));
    r
}

/// Positive hCG, dated by LMP at `weeks` today, bleeding `bled` days ago.
fn bleeding(weeks: i64, bled: i64, text: &str) -> Vec<Record> {
    let lmp = obs(
        "lmp",
        "8665-2",
        days_ago(1),
        Some(Value::DateTime(When::day(days_ago(weeks * 7)))),
    );
    let mut bleed = Record::new(RecordKind::Condition, "bleed");
    bleed.codes = vec![Code::new(SNOMED, "723665008")];
    bleed.text = vec![text.into()];
    bleed.clinical_status = Some("active".into());
    bleed.effective = Some(When::day(days_ago(bled)));
    vec![hcg("hcg1", days_ago(bled), 1240.0, None), lmp, bleed]
}

/// An ectopic pregnancy diagnosis (O00.90) of `kind`, recorded 1 day ago.
fn ectopic(kind: RecordKind, text: &str, verification: Option<&str>) -> Record {
    let mut r = Record::new(kind, "dx");
    r.codes = vec![Code::new(ICD10CM, "O00.90")];
    r.text = vec![text.into()];
    r.verification_status = verification.map(Into::into);
    if kind == RecordKind::Condition {
        r.clinical_status = Some("active".into());
    } else {
        r.status = Some("final".into());
    }
    r.effective = Some(When::day(days_ago(1)));
    r
}

fn run(records: Vec<Record>) -> Evaluation {
    let facts = PatientFacts {
        records,
        ..Default::default()
    };
    evaluate(&knowledge(), &facts, NOW)
}

/// The suspected diagnosis every card names, if each names one (and the same one).
fn suspected(e: &Evaluation) -> Option<(Suspected, Option<Date>)> {
    let named: Vec<_> = e
        .findings
        .iter()
        .map(|f| {
            f.modifiers.iter().find_map(|m| match m {
                Modifier::Suspected { what, date, .. } => Some((*what, *date)),
                _ => None,
            })
        })
        .collect();
    let first = *named.first()?;
    named.iter().all(|n| *n == first).then_some(first).flatten()
}

// ----- Item 2: hedged diagnoses ------------------------------------------------------------------

#[test]
fn a_provisional_ectopic_diagnosis_is_no_g5_and_the_bleeding_card_says_it_is_suspected() {
    let mut records = bleeding(7, 2, "vaginal bleeding");
    records.push(ectopic(
        RecordKind::Condition,
        "Ectopic pregnancy",
        Some("provisional"),
    ));
    let e = run(records);
    assert_eq!(e.rules(), vec![RuleId::R2]);
    assert_eq!(suspected(&e), Some((Suspected::Ectopic, Some(days_ago(1)))));
}

#[test]
fn a_confirmed_ectopic_worded_rule_out_is_hedged_by_its_words() {
    for words in [
        "R/O ectopic pregnancy",
        "? ectopic",
        "Ectopic pregnancy, rule out",
    ] {
        let mut records = bleeding(7, 2, "vaginal bleeding");
        records.push(ectopic(RecordKind::Condition, words, Some("confirmed")));
        let e = run(records);
        assert_eq!(e.rules(), vec![RuleId::R2], "{words}");
        assert_eq!(
            suspected(&e).map(|s| s.0),
            Some(Suspected::Ectopic),
            "{words}"
        );
    }
}

#[test]
fn a_confirmed_unhedged_ectopic_still_silences_every_card() {
    let mut records = bleeding(7, 2, "vaginal bleeding");
    records.push(ectopic(
        RecordKind::Condition,
        "Ectopic pregnancy",
        Some("confirmed"),
    ));
    assert!(run(records).findings.is_empty());
}

#[test]
fn an_encounter_reason_and_an_observation_of_a_problem_are_read_hedged_too() {
    let mut records = bleeding(7, 2, "vaginal bleeding");
    records.push(ectopic(RecordKind::Encounter, "r/o ectopic", None));
    let e = run(records);
    assert_eq!(e.rules(), vec![RuleId::R2]);
    assert_eq!(suspected(&e).map(|s| s.0), Some(Suspected::Ectopic));

    let mut loss = Record::new(RecordKind::Observation, "dx");
    loss.codes = vec![Code::new(SNOMED, "17369002")];
    loss.text = vec!["Possible miscarriage".into()];
    loss.status = Some("final".into());
    loss.effective = Some(When::day(days_ago(1)));
    let mut records = bleeding(7, 2, "vaginal bleeding");
    records.push(loss);
    let e = run(records);
    assert!(!e.findings.is_empty(), "a hedged loss is no G5");
    assert_eq!(suspected(&e).map(|s| s.0), Some(Suspected::Loss));
}

#[test]
fn an_unhedged_encounter_reason_names_nothing() {
    let mut records = bleeding(7, 2, "vaginal bleeding");
    records.push(ectopic(RecordKind::Encounter, "Ectopic pregnancy", None));
    let e = run(records);
    assert_eq!(e.rules(), vec![RuleId::R2]);
    assert_eq!(suspected(&e), None);
}

#[test]
fn implantation_bleeding_at_four_weeks_gives_r2_when_an_ectopic_is_suspected() {
    let records = bleeding(4, 0, "implantation bleeding");
    assert!(run(records).findings.is_empty(), "R1 is terminal");
    let mut records = bleeding(4, 0, "implantation bleeding");
    records.push(ectopic(RecordKind::Condition, "R/O ectopic", None));
    let e = run(records);
    assert_eq!(e.rules(), vec![RuleId::R2]);
    assert_eq!(suspected(&e).map(|s| s.0), Some(Suspected::Ectopic));
}

// ----- Item 7: a pregnancy of unknown location resolved ------------------------------------------

/// A PUL followed: bleeding a week ago, hCG 412 then 160, a scan with no IUP.
fn pul_followed() -> Vec<Record> {
    let mut records = bleeding(7, 7, "vaginal bleeding");
    records[0] = hcg("hcg1", days_ago(7), 412.0, None);
    records.push(scan_without_iup(days_ago(7)));
    records.push(hcg("hcg2", days_ago(5), 160.0, None));
    records
}

fn resolved(e: &Evaluation) -> Option<(&str, Option<&str>)> {
    let f = e.findings.iter().find(|f| f.rule == RuleId::R2R)?;
    assert_eq!(f.indicator, Indicator::Info);
    f.modifiers.iter().find_map(|m| match m {
        Modifier::PulResolved { id, written, .. } => Some((id.as_str(), written.as_deref())),
        _ => None,
    })
}

#[test]
fn an_hcg_below_5_after_a_pul_gives_the_resolved_note_quoting_the_bound() {
    let mut records = pul_followed();
    records.push(hcg("hcg3", TODAY, 5.0, Some("<")));
    let e = run(records);
    assert_eq!(e.rules(), vec![RuleId::R2R]);
    assert_eq!(resolved(&e), Some(("hcg3", Some("<5 mIU/mL"))));
}

#[test]
fn a_negative_urine_test_resolves_it_too_but_a_same_day_quantitative_one_is_quoted() {
    let mut urine = obs(
        "urine",
        "2106-3",
        TODAY,
        Some(Value::String("Negative".into())),
    );
    urine.presence = Some(Presence::Absent);
    let mut records = pul_followed();
    records.push(urine.clone());
    assert_eq!(resolved(&run(records)), Some(("urine", None)));
    let mut records = pul_followed();
    records.push(urine);
    records.push(hcg("hcg3", TODAY, 3.0, None));
    assert_eq!(resolved(&run(records)).map(|r| r.0), Some("hcg3"));
}

#[test]
fn without_a_scan_or_with_a_positive_test_after_it_there_is_no_resolved_note() {
    // No scan: no PUL was being followed; G1 leaves nothing.
    let mut records = bleeding(7, 7, "vaginal bleeding");
    records.push(hcg("hcg3", TODAY, 5.0, Some("<")));
    assert!(run(records).findings.is_empty());
    // A positive test after the negative one: the pregnancy goes on, and so does R2.
    let mut records = pul_followed();
    records.push(hcg("hcg3", days_ago(2), 5.0, Some("<")));
    records.push(hcg("hcg4", TODAY, 90.0, None));
    let e = run(records);
    assert_eq!(resolved(&e), None);
    assert!(!e.findings.is_empty());
}
