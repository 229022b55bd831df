//! R16, the abortifacient guard (knowledge.md §3.6 item 14), on facts built in code.

use time::macros::{date, datetime};
use time::{Date, Duration, OffsetDateTime};

use crate::facts::{Code, DraftOrder, PatientFacts, Record, RecordKind, Value, When};
use crate::knowledge::{ICD10CM, LOINC, RXNORM, SNOMED};
use crate::testkit::knowledge;
use crate::{Evaluation, Indicator, Modifier, RuleId, evaluate};

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

fn concept(system: &str, code: &str) -> Option<Value> {
    Some(Value::Concept {
        codes: vec![Code::new(system.to_owned(), code)],
        text: None,
    })
}

/// A positive pregnancy status and an LMP that puts today at `ga_days`.
fn pregnant_at(ga_days: i64) -> Vec<Record> {
    vec![
        obs(
            "status",
            "82810-3",
            days_ago(3),
            concept(SNOMED, "77386006"),
        ),
        obs(
            "lmp",
            "8665-2",
            days_ago(1),
            Some(Value::DateTime(When::day(days_ago(ga_days)))),
        ),
    ]
}

fn crl(mm: f64) -> Record {
    obs(
        "crl",
        "11957-8",
        days_ago(1),
        Some(Value::Quantity {
            value: mm,
            unit: Some("mm".into()),
            code: Some("mm".into()),
            comparator: None,
        }),
    )
}

fn heart(present: bool) -> Record {
    obs(
        "fh",
        "11615-2",
        days_ago(1),
        concept(SNOMED, if present { "52101004" } else { "2667000" }),
    )
}

fn misoprostol(reasons: &[&str]) -> DraftOrder {
    DraftOrder {
        resource_type: "MedicationRequest".into(),
        id: "miso".into(),
        codes: vec![Code::new(RXNORM, "317128")],
        text: vec!["misoprostol 200 MCG Oral Tablet".into()],
        status: Some("draft".into()),
        reasons: reasons.iter().map(|r| r.to_string()).collect(),
        ..Default::default()
    }
}

fn run(records: Vec<Record>, order: DraftOrder) -> Evaluation {
    let facts = PatientFacts {
        records,
        draft_orders: vec![order],
        ..Default::default()
    };
    evaluate(&knowledge(), &facts, NOW)
}

fn r16(e: &Evaluation) -> Option<&crate::Finding> {
    e.findings.iter().find(|f| f.rule == RuleId::R16)
}

#[test]
fn misoprostol_for_a_miscarriage_with_a_live_embryo_is_critical_and_names_the_heartbeat() {
    let mut records = pregnant_at(60);
    records.extend([crl(9.0), heart(true)]);
    let e = run(records, misoprostol(&["Missed miscarriage"]));
    let f = r16(&e).expect("R16");
    assert_eq!(f.indicator, Indicator::Critical);
    assert!(
        f.modifiers
            .iter()
            .any(|m| matches!(m, Modifier::SruLive { id, .. } if id == "fh"))
    );
    assert!(f.modifiers.iter().any(
        |m| matches!(m, Modifier::Abortifacient { drug, for_loss: true } if drug == "Misoprostol")
    ));
    assert_eq!(
        f.draft_order,
        Some(("MedicationRequest".into(), "miso".into()))
    );
}

#[test]
fn misoprostol_without_a_reason_is_a_warning_that_says_no_ultrasound_is_on_record() {
    let e = run(pregnant_at(56), misoprostol(&[]));
    let f = r16(&e).expect("R16");
    assert_eq!(f.indicator, Indicator::Warning);
    assert!(f.has(&Modifier::SruNoUltrasound));
}

#[test]
fn a_crl_of_seven_millimetres_without_cardiac_activity_establishes_the_loss() {
    let mut records = pregnant_at(63);
    records.extend([crl(7.0), heart(false)]);
    assert!(r16(&run(records, misoprostol(&["miscarriage"]))).is_none());
}

#[test]
fn a_crl_below_seven_millimetres_without_cardiac_activity_does_not() {
    let mut records = pregnant_at(60);
    records.extend([crl(6.0), heart(false)]);
    let e = run(records, misoprostol(&["miscarriage"]));
    let f = r16(&e).expect("R16");
    assert!(
        f.modifiers
            .iter()
            .any(|m| matches!(m, Modifier::SruNotMet { .. }))
    );
}

#[test]
fn a_crl_in_centimetres_is_read_in_millimetres() {
    let mut c = crl(0.8);
    c.value = Some(Value::Quantity {
        value: 0.8,
        unit: Some("cm".into()),
        code: Some("cm".into()),
        comparator: None,
    });
    let mut records = pregnant_at(63);
    records.extend([c, heart(false)]);
    assert!(r16(&run(records, misoprostol(&[]))).is_none());
}

#[test]
fn an_induced_abortion_gets_no_card() {
    let e = run(
        pregnant_at(50),
        misoprostol(&["Induced abortion, patient request"]),
    );
    assert!(r16(&e).is_none(), "{:?}", e.findings);
}

#[test]
fn a_confirmed_loss_diagnosis_gets_no_card() {
    let mut records = pregnant_at(60);
    let mut loss = Record::new(RecordKind::Condition, "epl");
    loss.codes = vec![Code::new(ICD10CM, "O02.1")];
    loss.clinical_status = Some("active".into());
    loss.verification_status = Some("confirmed".into());
    loss.effective = Some(When::day(days_ago(1)));
    records.push(loss);
    assert!(r16(&run(records, misoprostol(&["missed abortion"]))).is_none());
}

#[test]
fn misoprostol_after_the_first_trimester_is_not_guarded() {
    // Induction of labour, postpartum haemorrhage: not the early-loss question.
    assert!(r16(&run(pregnant_at(39 * 7), misoprostol(&[]))).is_none());
}

#[test]
fn mifepristone_named_only_in_text_is_recognised() {
    let mut order = misoprostol(&[]);
    order.codes.clear();
    order.text = vec!["Mifepristone 200 mg tablet".into()];
    let e = run(pregnant_at(50), order);
    assert!(r16(&e).is_some_and(|f| {
        f.modifiers
            .iter()
            .any(|m| matches!(m, Modifier::Abortifacient { drug, .. } if drug == "Mifepristone"))
    }));
}

#[test]
fn a_cancelled_order_gets_no_card() {
    let mut order = misoprostol(&[]);
    order.status = Some("cancelled".into());
    assert!(r16(&run(pregnant_at(50), order)).is_none());
}

#[test]
fn a_draft_medication_that_names_nothing_is_named_on_a_warning() {
    let order = DraftOrder {
        resource_type: "MedicationRequest".into(),
        id: "unknown".into(),
        codes: Vec::new(),
        text: Vec::new(),
        status: Some("draft".into()),
        reasons: Vec::new(),
        ..Default::default()
    };
    let e = run(pregnant_at(200), order);
    let f = r16(&e).expect("R16");
    assert_eq!(f.indicator, Indicator::Warning);
    assert!(f.has(&Modifier::UnidentifiedOrder));
    assert_eq!(f.draft_order, None);
}

#[test]
fn no_pregnancy_means_no_card() {
    let facts = PatientFacts {
        records: Vec::new(),
        draft_orders: vec![misoprostol(&["miscarriage"])],
        ..Default::default()
    };
    assert!(evaluate(&knowledge(), &facts, NOW).findings.is_empty());
}

#[test]
fn a_reason_given_only_as_a_loss_code_makes_the_card_critical() {
    let mut order = misoprostol(&[]);
    order.reason_codes = vec![Code::new(ICD10CM, "O02.1")];
    let e = run(pregnant_at(60), order);
    assert_eq!(r16(&e).map(|f| f.indicator), Some(Indicator::Critical));
}

#[test]
fn a_reason_given_only_as_an_elective_termination_code_gets_no_card() {
    let mut order = misoprostol(&[]);
    order.reason_codes = vec![Code::new(ICD10CM, "Z33.2")];
    assert!(r16(&run(pregnant_at(50), order)).is_none());
}

#[test]
fn a_reason_referenced_as_a_provisional_loss_condition_makes_the_card_critical() {
    let mut records = pregnant_at(60);
    let mut suspected = Record::new(RecordKind::Condition, "epl-query");
    suspected.codes = vec![Code::new(ICD10CM, "O02.1")];
    suspected.clinical_status = Some("active".into());
    suspected.verification_status = Some("provisional".into());
    suspected.effective = Some(When::day(days_ago(1)));
    records.push(suspected);
    let mut order = misoprostol(&[]);
    order.reason_references = vec!["Condition/epl-query".into()];
    let e = run(records, order);
    assert_eq!(
        r16(&e).map(|f| f.indicator),
        Some(Indicator::Critical),
        "{:?}",
        e.findings
    );
}
