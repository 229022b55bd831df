//! The gestational trophoblastic disease picture on the bleeding card (knowledge.md §3.6
//! item 15), on facts built in code.

use time::macros::{date, datetime};
use time::{Date, Duration, OffsetDateTime};

use crate::facts::{Code, PatientFacts, Record, RecordKind, Value, When};
use crate::knowledge::{ICD10CM, LOINC, SNOMED};
use crate::testkit::knowledge;
use crate::{Evaluation, Modifier, RuleId, evaluate};

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

/// Pregnant, dated 9w by LMP, bleeding today.
fn bleeding_at_nine_weeks() -> Vec<Record> {
    let status = obs(
        "status",
        "82810-3",
        days_ago(3),
        Some(Value::Concept {
            codes: vec![Code::new(SNOMED, "77386006")],
            text: None,
        }),
    );
    let lmp = obs(
        "lmp",
        "8665-2",
        days_ago(1),
        Some(Value::DateTime(When::day(days_ago(63)))),
    );
    let mut bleed = Record::new(RecordKind::Condition, "bleed");
    bleed.codes = vec![Code::new(SNOMED, "723665008")];
    bleed.text = vec!["vaginal bleeding".into()];
    bleed.clinical_status = Some("active".into());
    bleed.effective = Some(When::day(TODAY));
    vec![status, lmp, bleed]
}

fn hcg(value: f64, unit: &str) -> Record {
    obs(
        "hcg",
        "21198-7",
        TODAY,
        Some(Value::Quantity {
            value,
            unit: Some(unit.into()),
            code: Some(unit.into()),
            comparator: None,
        }),
    )
}

fn report(conclusion: &str) -> Record {
    let mut r = Record::new(RecordKind::DiagnosticReport, "us");
    r.codes = vec![Code::new(LOINC, "42451-5")];
    r.status = Some("final".into());
    r.text = vec![conclusion.into()];
    r.effective = Some(When::day(TODAY));
    r
}

fn run(records: Vec<Record>) -> Evaluation {
    let facts = PatientFacts {
        records,
        ..Default::default()
    };
    evaluate(&knowledge(), &facts, NOW)
}

fn gtd(e: &Evaluation) -> Option<&Modifier> {
    let bleeding = e.findings.iter().find(|f| f.rule == RuleId::R2)?;
    bleeding
        .modifiers
        .iter()
        .find(|m| matches!(m, Modifier::GtdPossible { .. }))
}

#[test]
fn an_hcg_above_100000_with_no_intrauterine_pregnancy_raises_the_picture_and_is_quoted() {
    let mut records = bleeding_at_nine_weeks();
    records.push(hcg(186_000.0, "m[IU]/mL"));
    let e = run(records);
    assert!(
        matches!(gtd(&e), Some(Modifier::GtdPossible { id, hcg: Some(written), .. })
            if id == "hcg" && written.contains("186000")),
        "{:?}",
        e.findings
    );
}

#[test]
fn an_hcg_of_90000_does_not() {
    let mut records = bleeding_at_nine_weeks();
    records.push(hcg(90_000.0, "m[IU]/mL"));
    assert_eq!(gtd(&run(records)), None);
}

#[test]
fn a_report_naming_a_snowstorm_appearance_raises_it_and_a_negated_one_does_not() {
    let mut records = bleeding_at_nine_weeks();
    records.push(report(
        "Heterogeneous intrauterine mass, 'snowstorm' pattern. No fetal pole.",
    ));
    assert!(matches!(
        gtd(&run(records)),
        Some(Modifier::GtdPossible { hcg: None, .. })
    ));
    let mut records = bleeding_at_nine_weeks();
    records.push(report(
        "Gestational sac without yolk sac. No molar features.",
    ));
    assert_eq!(gtd(&run(records)), None);
}

#[test]
fn a_suspected_mole_raises_it_while_a_confirmed_one_is_already_diagnosed() {
    let mut suspected = Record::new(RecordKind::Condition, "mole");
    suspected.codes = vec![Code::new(ICD10CM, "O01.9")];
    suspected.text = vec!["Hydatidiform mole".into()];
    suspected.clinical_status = Some("active".into());
    suspected.verification_status = Some("provisional".into());
    suspected.effective = Some(When::day(TODAY));
    let mut records = bleeding_at_nine_weeks();
    records.push(suspected.clone());
    assert!(gtd(&run(records)).is_some());

    suspected.verification_status = Some("confirmed".into());
    let mut records = bleeding_at_nine_weeks();
    records.push(suspected);
    assert!(
        run(records).findings.is_empty(),
        "G5: the managing team owns it"
    );
}
