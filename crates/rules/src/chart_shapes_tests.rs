//! The engine reading data charted the way EHRs chart it (knowledge.md §3.5 "Reading the
//! record"): one group of tests per class, each with the shape that misled it and a control
//! that shows the same facts without that shape still fire.

use time::macros::{date, datetime};
use time::{Date, Duration, OffsetDateTime};

use crate::facts::{
    Code, Component, Field, PatientFacts, Precision, Problem, Record, RecordKind, Value, When,
};
use crate::knowledge::{ICD10CM, LOINC, SNOMED};
use crate::testkit::knowledge;
use crate::{Evaluation, HcgTrend, IupStatus, Modifier, Role, RuleId, evaluate};

const NOW: OffsetDateTime = datetime!(2025-04-01 12:00 UTC);
const TODAY: Date = date!(2025 - 04 - 01);
const CPT: &str = "http://www.ama-assn.org/go/cpt";

fn days_ago(days: i64) -> Date {
    TODAY - Duration::days(days)
}

fn obs(id: &str, system: &str, code: &str, on: Date, value: Option<Value>) -> Record {
    let mut r = Record::new(RecordKind::Observation, id);
    r.codes = vec![Code::new(system.to_owned(), code)];
    r.status = Some("final".into());
    r.effective = Some(When::day(on));
    r.value = value;
    r
}

fn cond(id: &str, system: &str, code: &str, text: &str, on: Date) -> Record {
    let mut r = Record::new(RecordKind::Condition, id);
    r.codes = vec![Code::new(system.to_owned(), code)];
    r.text = vec![text.to_string()];
    r.clinical_status = Some("active".into());
    r.verification_status = Some("confirmed".into());
    r.effective = Some(When::day(on));
    r
}

/// A Condition with text only (a problem-list entry typed in, no code).
fn text_cond(id: &str, text: &str, on: Option<Date>) -> Record {
    let mut r = Record::new(RecordKind::Condition, id);
    r.text = vec![text.to_string()];
    r.clinical_status = Some("active".into());
    r.effective = on.map(When::day);
    r
}

fn concept(system: &str, code: &str, display: &str) -> Option<Value> {
    Some(Value::Concept {
        codes: vec![Code {
            system: system.to_owned().into(),
            code: code.into(),
            display: Some(display.into()),
        }],
        text: None,
    })
}

fn pregnant_on(on: Date) -> Record {
    obs(
        "status",
        LOINC,
        "82810-3",
        on,
        concept(SNOMED, "77386006", "Pregnant"),
    )
}

fn pregnant() -> Record {
    pregnant_on(days_ago(10))
}

fn lmp(ga_today_days: i64) -> Record {
    obs(
        "lmp",
        LOINC,
        "8665-2",
        days_ago(1),
        Some(Value::DateTime(When::day(days_ago(ga_today_days)))),
    )
}

/// Bleeding from vagina (289530006): a bleeding code that is not itself pregnancy evidence.
fn bleed_today() -> Record {
    cond("bleed", SNOMED, "289530006", "Bleeding from vagina", TODAY)
}

fn hcg(id: &str, value: f64, at: OffsetDateTime, comparator: Option<&str>) -> Record {
    let mut r = obs(
        id,
        LOINC,
        "21198-7",
        at.date(),
        Some(Value::Quantity {
            value,
            unit: Some("m[IU]/mL".into()),
            code: Some("m[IU]/mL".into()),
            comparator: comparator.map(str::to_owned),
        }),
    );
    r.effective = Some(When {
        at,
        precision: Precision::Time,
    });
    r
}

fn rh_result(id: &str, code: &str, on: Date, value: Option<Value>) -> Record {
    obs(id, LOINC, code, on, value)
}

fn procedure(id: &str, system: &str, code: &str, on: Date, status: &str) -> Record {
    let mut r = Record::new(RecordKind::Procedure, id);
    r.codes = vec![Code::new(system.to_owned(), code)];
    r.status = Some(status.into());
    r.effective = Some(When::day(on));
    r
}

fn encounter(id: &str, status: &str, started: Date) -> Record {
    let mut r = Record::new(RecordKind::Encounter, id);
    r.status = Some(status.into());
    r.category = vec![Code::new(
        "http://terminology.hl7.org/CodeSystem/v3-ActCode",
        "EMER",
    )];
    r.effective = Some(When::day(started));
    r
}

fn run(records: Vec<Record>) -> Evaluation {
    evaluate(
        &knowledge(),
        &PatientFacts {
            records,
            ..Default::default()
        },
        NOW,
    )
}

fn has(e: &Evaluation, rule: RuleId) -> bool {
    e.rules().contains(&rule)
}

fn r2(e: &Evaluation) -> &crate::Finding {
    e.findings
        .iter()
        .find(|f| f.rule == RuleId::R2)
        .unwrap_or_else(|| panic!("an R2 finding: {:?}", e.rules()))
}

// ----- §3.5 item 1: negated structured values --------------------------------------------------

/// A review-of-systems row: "Vaginal bleeding" answered with `value`.
fn ros_row(value: Option<Value>) -> Record {
    let mut r = obs("ros", SNOMED, "289530006", TODAY, value);
    r.text = vec!["Vaginal bleeding".into()];
    r
}

#[test]
fn a_bleeding_row_answered_false_none_no_absent_or_negative_is_not_a_bleed() {
    let answers = [
        Some(Value::Boolean(false)),
        concept(SNOMED, "260413007", "None"),
        concept(SNOMED, "373067005", "No"),
        concept(SNOMED, "2667000", "Absent"),
        concept(SNOMED, "260385009", "Negative"),
        concept(LOINC, "LA32-8", "No"),
        Some(Value::String("None".into())),
        Some(Value::String("denies".into())),
        Some(Value::String("Negative.".into())),
        Some(Value::Concept {
            codes: Vec::new(),
            text: Some("Absent".into()),
        }),
    ];
    for answer in answers {
        let e = run(vec![pregnant(), lmp(60), ros_row(answer.clone())]);
        assert!(e.findings.is_empty(), "{answer:?} gave {:?}", e.rules());
    }
}

#[test]
fn a_bleeding_row_answered_with_what_it_saw_is_still_a_bleed() {
    for answer in [
        Some(Value::Boolean(true)),
        Some(Value::String("Heavy, no clots".into())),
        Some(Value::String("Yes".into())),
    ] {
        let e = run(vec![pregnant(), lmp(60), ros_row(answer.clone())]);
        assert!(has(&e, RuleId::R2), "{answer:?} gave {:?}", e.rules());
    }
}

#[test]
fn a_flowsheet_label_written_with_its_answer_none_is_not_a_bleed() {
    let mut row = Record::new(RecordKind::Observation, "ros-text");
    row.status = Some("final".into());
    row.effective = Some(When::day(TODAY));
    row.text = vec!["Vaginal bleeding: None".into()];
    let e = run(vec![pregnant(), lmp(60), row.clone()]);
    assert!(e.findings.is_empty(), "{:?}", e.rules());
    row.text = vec!["Vaginal bleeding: moderate".into()];
    let e = run(vec![pregnant(), lmp(60), row]);
    assert!(has(&e, RuleId::R2), "{:?}", e.rules());
}

// ----- §3.5 item 2: "history of" is not now -----------------------------------------------------

#[test]
fn history_of_postpartum_hemorrhage_on_the_problem_list_does_not_end_this_pregnancy() {
    let mut history = cond(
        "hx-pph",
        SNOMED,
        "47821001",
        "History of postpartum hemorrhage (2022)",
        TODAY,
    );
    history.effective = None;
    let e = run(vec![pregnant(), lmp(60), bleed_today(), history.clone()]);
    assert!(has(&e, RuleId::R2), "{:?}", e.rules());
    // The same record, not a history, is a postpartum haemorrhage: G2.
    history.text = vec!["Postpartum hemorrhage".into()];
    let e = run(vec![pregnant(), lmp(60), bleed_today(), history]);
    assert!(e.findings.is_empty(), "{:?}", e.rules());
}

#[test]
fn a_history_is_never_the_bleed() {
    for text in [
        "History of vaginal bleeding in pregnancy",
        "h/o spotting",
        "Previous antepartum haemorrhage",
        "Prior bleeding",
        "Past: bleeding at 8 weeks",
    ] {
        let e = run(vec![
            pregnant(),
            lmp(60),
            text_cond("hx", text, Some(TODAY)),
        ]);
        assert!(e.findings.is_empty(), "{text:?} gave {:?}", e.rules());
    }
    let coded = cond(
        "hx",
        ICD10CM,
        "Z87.59",
        "Personal history of other complications of pregnancy",
        TODAY,
    );
    let mut coded_bleed = coded.clone();
    coded_bleed.codes.push(Code::new(SNOMED, "723665008"));
    let e = run(vec![pregnant(), lmp(60), coded_bleed]);
    assert!(e.findings.is_empty(), "{:?}", e.rules());
    // A note that mentions the past does not make the bleed a history.
    let mut bleed = bleed_today();
    bleed.text.push("previous scan normal".into());
    let e = run(vec![pregnant(), lmp(60), bleed]);
    assert!(has(&e, RuleId::R2), "{:?}", e.rules());
}

#[test]
fn a_history_of_pregnancy_is_not_pregnancy_evidence() {
    let previous = cond(
        "prev",
        SNOMED,
        "77386006",
        "Previous pregnancy",
        days_ago(30),
    );
    let e = run(vec![previous.clone(), lmp(60), bleed_today()]);
    assert!(e.findings.is_empty(), "{:?}", e.rules());
    let mut current = previous;
    current.text = vec!["Pregnant".into()];
    let e = run(vec![current, lmp(60), bleed_today()]);
    assert!(has(&e, RuleId::R2), "{:?}", e.rules());
}

// ----- §3.5 item 4: stale evidence, results of this pregnancy only ----------------------------

#[test]
fn a_pregnant_status_older_than_300_days_before_the_bleed_is_no_evidence() {
    let e = run(vec![pregnant_on(days_ago(301)), lmp(60), bleed_today()]);
    assert!(e.findings.is_empty(), "{:?}", e.rules());
    let e = run(vec![pregnant_on(days_ago(300)), lmp(60), bleed_today()]);
    assert!(has(&e, RuleId::R2), "{:?}", e.rules());
}

#[test]
fn an_open_z34_condition_from_years_ago_is_no_evidence() {
    let z34 = cond(
        "z34",
        ICD10CM,
        "Z34.90",
        "Supervision of normal pregnancy",
        date!(2022 - 05 - 01),
    );
    let e = run(vec![z34.clone(), lmp(60), bleed_today()]);
    assert!(e.findings.is_empty(), "{:?}", e.rules());
    let mut recent = z34;
    recent.effective = Some(When::day(days_ago(40)));
    let e = run(vec![recent, lmp(60), bleed_today()]);
    assert!(has(&e, RuleId::R2), "{:?}", e.rules());
}

#[test]
fn an_hcg_pair_from_an_earlier_pregnancy_is_neither_a_trend_nor_a_value_of_this_one() {
    let earlier = NOW - Duration::days(200);
    let pair = vec![
        hcg("old-1", 1000.0, earlier - Duration::hours(48), None),
        hcg("old-2", 400.0, earlier, None),
    ];
    let mut records = vec![pregnant(), lmp(60), bleed_today()];
    records.extend(pair);
    let e = run(records);
    let f = r2(&e);
    assert!(
        !f.modifiers
            .iter()
            .any(|m| matches!(m, Modifier::HcgTrend(_))),
        "{:?}",
        f.modifiers
    );
    assert!(!f.evidence.iter().any(|ev| ev.role == Role::Hcg));
    // The same pair within this pregnancy is its trend.
    let recent = NOW - Duration::days(2);
    let e = run(vec![
        pregnant(),
        lmp(60),
        bleed_today(),
        hcg("new-1", 1000.0, recent - Duration::hours(48), None),
        hcg("new-2", 400.0, recent, None),
    ]);
    assert!(
        r2(&e)
            .modifiers
            .iter()
            .any(|m| matches!(m, Modifier::HcgTrend(HcgTrend::Fall { .. })))
    );
}

#[test]
fn an_rh_type_from_before_this_pregnancy_types_it_with_its_date() {
    // §3.6 C1: a person's RhD type does not change, so a type from any date counts.
    let negative = concept(LOINC, "LA6577-6", "Negative");
    let before = rh_result("rh", "10331-7", days_ago(400), negative.clone());
    let e = run(vec![pregnant(), lmp(88), bleed_today(), before]);
    assert!(has(&e, RuleId::R7), "{:?}", e.rules());
    let r7 = e.findings.iter().find(|f| f.rule == RuleId::R7).unwrap();
    assert!(r7.has(&Modifier::RhOnRecord { negative: true }));
    assert!(!r7.has(&Modifier::RhUnknown));
    // The card gives the type's date: the record is its evidence, with its own date.
    assert!(
        r7.evidence
            .iter()
            .any(|ev| ev.role == Role::RhType && ev.date == Some(days_ago(400))),
        "{:?}",
        r7.evidence
    );
    // The latest type wins, whatever pregnancy it was taken in.
    let positive = concept(LOINC, "LA6576-8", "Positive");
    let e = run(vec![
        pregnant(),
        lmp(88),
        bleed_today(),
        rh_result("old", "10331-7", days_ago(800), positive),
        rh_result("rh", "10331-7", days_ago(400), negative),
    ]);
    assert!(has(&e, RuleId::R7), "{:?}", e.rules());
}

// ----- §3.5 item 5: comparator results ----------------------------------------------------------

#[test]
fn an_hcg_below_5_is_a_bound_shown_as_written_and_never_a_number_in_a_trend() {
    let mut bound = hcg("hcg-2", 5.0, NOW, Some("<"));
    bound.problems.push(Problem {
        field: Field::Value,
        message: "valueQuantity is a bound (<), not an exact value".into(),
    });
    let e = run(vec![
        pregnant(),
        lmp(60),
        bleed_today(),
        hcg("hcg-1", 900.0, NOW - Duration::hours(48), None),
        bound,
    ]);
    let f = r2(&e);
    assert!(
        !f.modifiers
            .iter()
            .any(|m| matches!(m, Modifier::HcgTrend(_))),
        "a bound is no fall to 5: {:?}",
        f.modifiers
    );
    assert!(f.has(&Modifier::HcgBound {
        id: "hcg-2".into(),
        date: Some(TODAY),
        written: "<5 m[IU]/mL".into(),
    }));
    assert!(
        !f.modifiers
            .iter()
            .any(|m| matches!(m, Modifier::UnreadableRecord { id, .. } if id == "hcg-2")),
        "a bound is read, not unreadable: {:?}",
        f.modifiers
    );
}

// ----- §3.5 item 6: Rh as text -------------------------------------------------------------------

fn rh_of(records: Vec<Record>) -> Evaluation {
    let mut all = vec![pregnant(), lmp(88), bleed_today()];
    all.extend(records);
    run(all)
}

#[test]
fn rh_negative_written_as_text_gets_the_anti_d_card() {
    let written = |s: &str| Some(Value::String(s.into()));
    let shapes = vec![
        rh_result("rh", "10331-7", days_ago(3), written("Negative")),
        rh_result("rh", "10331-7", days_ago(3), written("Rh neg")),
        rh_result("rh", "10331-7", days_ago(3), written("D neg")),
        rh_result("rh", "882-1", days_ago(3), written("O NEG")),
        rh_result("rh", "882-1", days_ago(3), written("AB Rh(D) negative")),
        rh_result("rh", "882-1", days_ago(3), written("O-")),
        rh_result(
            "rh",
            "882-1",
            days_ago(3),
            Some(Value::Concept {
                codes: vec![Code {
                    system: "urn:oid:1.2.3.4".into(),
                    code: "ONEG".into(),
                    display: Some("O Neg".into()),
                }],
                text: None,
            }),
        ),
        cond(
            "rh",
            ICD10CM,
            "Z67.41",
            "Type O blood, Rh negative",
            days_ago(700),
        ),
    ];
    for shape in shapes {
        let e = rh_of(vec![shape.clone()]);
        assert!(has(&e, RuleId::R7), "{shape:?} gave {:?}", e.rules());
        assert!(r2(&e).has(&Modifier::RhOnRecord { negative: true }));
    }
}

#[test]
fn rh_positive_written_as_text_is_said_and_not_asked_for() {
    for shape in [
        rh_result(
            "rh",
            "882-1",
            days_ago(3),
            Some(Value::String("A POS".into())),
        ),
        rh_result(
            "rh",
            "10331-7",
            days_ago(3),
            Some(Value::String("Positive".into())),
        ),
        cond(
            "rh",
            ICD10CM,
            "Z67.10",
            "Type A blood, Rh positive",
            days_ago(700),
        ),
    ] {
        let e = rh_of(vec![shape.clone()]);
        assert!(!has(&e, RuleId::R7), "{shape:?} gave {:?}", e.rules());
        let f = r2(&e);
        assert!(
            f.has(&Modifier::RhOnRecord { negative: false }),
            "{shape:?}"
        );
        assert!(!f.has(&Modifier::RhUnknown), "{shape:?}");
    }
}

#[test]
fn an_rh_value_that_cannot_be_read_is_rh_not_readable_never_not_on_record() {
    let mut broken = rh_result("rh", "10331-7", days_ago(3), None);
    broken.problems.push(Problem {
        field: Field::Value,
        message: "valueCodeableConcept is not a CodeableConcept".into(),
    });
    for shape in [
        rh_result(
            "rh",
            "10331-7",
            days_ago(3),
            Some(Value::String("see report".into())),
        ),
        rh_result(
            "rh",
            "882-1",
            days_ago(3),
            Some(Value::String("O POS / Rh NEG".into())),
        ),
        rh_result("rh", "10331-7", days_ago(3), Some(Value::Other("Range"))),
        broken,
    ] {
        let e = rh_of(vec![shape.clone()]);
        let f = r2(&e);
        assert!(
            f.has(&Modifier::RhUnreadable {
                id: "rh".into(),
                date: Some(days_ago(3)),
            }),
            "{shape:?}: {:?}",
            f.modifiers
        );
        assert!(!f.has(&Modifier::RhUnknown), "{shape:?}");
        assert!(!has(&e, RuleId::R7), "an unreadable value raises nothing");
    }
}

// ----- §3.5 item 8: Encounter reasons ------------------------------------------------------------

#[test]
fn an_emergency_encounter_for_vaginal_bleeding_is_the_bleed_dated_by_its_start() {
    let mut ed = encounter("ed", "finished", days_ago(2));
    ed.codes = vec![Code::new(SNOMED, "289530006")];
    ed.text = vec!["Vaginal bleeding".into()];
    let e = run(vec![pregnant(), lmp(60), ed.clone()]);
    let f = r2(&e);
    assert_eq!(f.bleed_date, Some(days_ago(2)));
    assert!(
        f.evidence
            .iter()
            .any(|ev| ev.role == Role::Bleed && ev.resource_type == "Encounter")
    );
    // Older than the recency window, and over: not a current bleed.
    ed.effective = Some(When::day(days_ago(15)));
    let e = run(vec![pregnant(), lmp(60), ed.clone()]);
    assert!(e.findings.is_empty(), "{:?}", e.rules());
    // Still in progress: current, whenever it started.
    ed.status = Some("in-progress".into());
    let e = run(vec![pregnant(), lmp(60), ed]);
    assert!(has(&e, RuleId::R2), "{:?}", e.rules());
}

#[test]
fn an_encounter_whose_reason_references_a_bleeding_record_is_a_bleed() {
    let mut old = cond(
        "c1",
        SNOMED,
        "289530006",
        "Bleeding from vagina",
        days_ago(40),
    );
    old.clinical_status = Some("resolved".into());
    let mut ed = encounter("ed", "finished", days_ago(1));
    ed.references = vec!["Condition/c1".into()];
    let e = run(vec![pregnant(), lmp(60), old.clone(), ed.clone()]);
    assert_eq!(r2(&e).bleed_date, Some(days_ago(1)));
    // A reference to a record that is not bleeding is no bleeding reason.
    let mut other = cond("c1", SNOMED, "386661006", "Fever", days_ago(40));
    other.clinical_status = Some("resolved".into());
    let e = run(vec![pregnant(), lmp(60), other, ed]);
    assert!(e.findings.is_empty(), "{:?}", e.rules());
}

#[test]
fn an_encounter_reason_documents_no_intrauterine_pregnancy() {
    let mut visit = encounter("visit", "finished", days_ago(1));
    visit.codes = vec![Code::new(SNOMED, "65727000")];
    let e = run(vec![pregnant(), lmp(60), bleed_today(), visit]);
    assert_eq!(r2(&e).iup, IupStatus::NoUltrasound);
}

// ----- §3.5 item 10: absent findings -------------------------------------------------------------

#[test]
fn an_intrauterine_pregnancy_finding_answered_absent_is_a_pul_after_tvus_not_an_iup() {
    let absent = obs(
        "iup",
        SNOMED,
        "65727000",
        days_ago(1),
        concept(SNOMED, "2667000", "Absent"),
    );
    let tvus = obs("tvus", LOINC, "42451-5", days_ago(1), None);
    let e = run(vec![
        pregnant(),
        lmp(60),
        bleed_today(),
        absent,
        tvus.clone(),
    ]);
    assert!(!has(&e, RuleId::R4), "{:?}", e.rules());
    assert_eq!(r2(&e).iup, IupStatus::Pul);
    let not_seen = obs(
        "iup",
        SNOMED,
        "65727000",
        days_ago(1),
        Some(Value::Boolean(false)),
    );
    let e = run(vec![pregnant(), lmp(60), bleed_today(), not_seen]);
    assert_eq!(r2(&e).iup, IupStatus::NoUltrasound);
    let present = obs(
        "iup",
        SNOMED,
        "65727000",
        days_ago(1),
        Some(Value::Boolean(true)),
    );
    let e = run(vec![pregnant(), lmp(60), bleed_today(), present, tvus]);
    assert!(has(&e, RuleId::R4), "{:?}", e.rules());
}

// ----- §3.5 item 11: postpartum without a delivery code -----------------------------------------

#[test]
fn a_postpartum_note_within_12_weeks_ends_the_pregnancy_without_a_delivery_code() {
    for text in [
        "Postpartum day 10",
        "Post partum check",
        "S/P delivery 03/21, lochia",
        "Puerperium, uncomplicated",
        "Delivered at 39 weeks",
        "PPH 800 mL",
    ] {
        let note = text_cond("pp", text, Some(days_ago(10)));
        let e = run(vec![pregnant(), lmp(290), bleed_today(), note]);
        assert!(e.findings.is_empty(), "{text:?} gave {:?}", e.rules());
    }
}

#[test]
fn postpartum_text_counts_only_in_its_window_and_not_negated_or_as_a_chapter_title() {
    // 13 weeks ago: out of the window (the pregnancy started 30 weeks ago). At 30 weeks the
    // bleed gets R14, obstetric triage (R9 folds into it from 20 weeks).
    let old = text_cond("pp", "Postpartum check", Some(days_ago(91)));
    let e = run(vec![pregnant(), lmp(210), bleed_today(), old]);
    assert!(has(&e, RuleId::R14), "{:?}", e.rules());
    for text in [
        "Not delivered",
        "Anemia complicating pregnancy, childbirth and the puerperium",
    ] {
        let note = text_cond("pp", text, Some(days_ago(10)));
        let e = run(vec![pregnant(), lmp(210), bleed_today(), note]);
        assert!(has(&e, RuleId::R14), "{text:?} gave {:?}", e.rules());
    }
}

#[test]
fn a_delivery_date_observation_ends_the_pregnancy() {
    let delivered = obs(
        "dd",
        LOINC,
        "93857-1",
        days_ago(9),
        Some(Value::DateTime(When::day(days_ago(10)))),
    );
    let e = run(vec![pregnant(), lmp(290), bleed_today(), delivered]);
    assert!(e.findings.is_empty(), "{:?}", e.rules());
}

// ----- §3.5 item 18: bleeding that is not vaginal ------------------------------------------------

#[test]
fn bleeding_from_another_site_or_cause_is_not_a_vaginal_bleed() {
    let coded = [
        ("6072007", "Bleeding from anus"),
        ("278365007", "Anticoagulant-induced bleeding"),
        ("249366005", "Bleeding from nose"),
    ];
    for (code, display) in coded {
        let e = run(vec![
            pregnant(),
            lmp(60),
            cond("b", SNOMED, code, display, TODAY),
        ]);
        assert!(e.findings.is_empty(), "{display} gave {:?}", e.rules());
    }
    for text in [
        "Rectal bleeding",
        "Nose bleed",
        "Bleeding gums",
        "Epistaxis, bleeding stopped",
    ] {
        let e = run(vec![pregnant(), lmp(60), text_cond("b", text, Some(TODAY))]);
        assert!(e.findings.is_empty(), "{text:?} gave {:?}", e.rules());
    }
}

#[test]
fn bleeding_text_with_a_genital_tract_context_or_no_site_is_a_vaginal_bleed() {
    for text in [
        "Bleeding",
        "Bleeding in early pregnancy",
        "Bleeding gums; vaginal spotting since this morning",
        "PV bleeding",
    ] {
        let e = run(vec![pregnant(), lmp(60), text_cond("b", text, Some(TODAY))]);
        assert!(has(&e, RuleId::R2), "{text:?} gave {:?}", e.rules());
    }
    // A vaginal bleeding code wins over the site the text names.
    let mut coded = bleed_today();
    coded.text.push("also nose bleeds".into());
    let e = run(vec![pregnant(), lmp(60), coded]);
    assert!(has(&e, RuleId::R2), "{:?}", e.rules());
}

// ----- §3.5 item 19: more codes -----------------------------------------------------------------

#[test]
fn more_miscarriage_and_ectopic_codes_defer_to_the_managing_team() {
    for (code, display) in [
        ("85116003", "Miscarriage in second trimester"),
        ("35999006", "Blighted ovum"),
        ("156073000", "Complete miscarriage"),
        ("79586000", "Tubal pregnancy"),
    ] {
        let e = run(vec![
            pregnant(),
            lmp(60),
            bleed_today(),
            cond("dx", SNOMED, code, display, days_ago(2)),
        ]);
        assert!(e.findings.is_empty(), "{display} gave {:?}", e.rules());
    }
}

#[test]
fn high_risk_pregnancy_and_pre_eclampsia_are_pregnancy_evidence() {
    for (code, display) in [
        ("47200007", "High risk pregnancy"),
        ("398254007", "Pre-eclampsia"),
    ] {
        let e = run(vec![
            cond("p", SNOMED, code, display, days_ago(20)),
            lmp(60),
            bleed_today(),
        ]);
        assert!(has(&e, RuleId::R2), "{display} gave {:?}", e.rules());
    }
    let e = run(vec![lmp(60), bleed_today()]);
    assert!(e.findings.is_empty(), "an LMP alone is no evidence");
}

// ----- §3.5 item 20: Procedures ------------------------------------------------------------------

#[test]
fn an_ultrasound_charted_as_a_procedure_is_a_tvus_performed() {
    let scan = procedure("us", SNOMED, "169230002", days_ago(1), "completed");
    let e = run(vec![pregnant(), lmp(60), bleed_today(), scan.clone()]);
    let f = r2(&e);
    assert_eq!(f.iup, IupStatus::Pul);
    assert!(
        f.evidence
            .iter()
            .any(|ev| ev.role == Role::Ultrasound && ev.resource_type == "Procedure")
    );
    let mut not_done = scan;
    not_done.status = Some("not-done".into());
    let e = run(vec![pregnant(), lmp(60), bleed_today(), not_done]);
    assert_eq!(r2(&e).iup, IupStatus::NoUltrasound);
}

#[test]
fn rh_typing_charted_as_a_procedure_asks_for_the_result_not_for_a_type() {
    let typing = procedure("rh-proc", SNOMED, "44608003", days_ago(1), "completed");
    let e = run(vec![pregnant(), lmp(60), bleed_today(), typing]);
    let f = r2(&e);
    assert!(f.has(&Modifier::RhResultPending {
        id: "rh-proc".into(),
        date: Some(days_ago(1)),
    }));
    assert!(!f.has(&Modifier::RhUnknown));
}

#[test]
fn anti_d_given_within_12_weeks_silences_consider_anti_d_but_not_the_other_cards() {
    let negative = rh_result(
        "rh",
        "10331-7",
        days_ago(20),
        concept(LOINC, "LA6577-6", "Negative"),
    );
    let given = procedure(
        "rhig",
        "urn:gravida:local",
        "anti-d-given",
        days_ago(30),
        "completed",
    );
    let e = run(vec![
        pregnant(),
        lmp(88),
        bleed_today(),
        negative.clone(),
        given.clone(),
    ]);
    assert!(!has(&e, RuleId::R7), "{:?}", e.rules());
    assert!(r2(&e).has(&Modifier::AntiDGiven {
        id: "rhig".into(),
        date: Some(days_ago(30)),
    }));
    // Given 13 weeks ago: outside the window.
    let mut long_ago = given;
    long_ago.effective = Some(When::day(days_ago(91)));
    let e = run(vec![
        pregnant(),
        lmp(120),
        bleed_today(),
        negative,
        long_ago,
    ]);
    assert!(has(&e, RuleId::R7), "{:?}", e.rules());
}

#[test]
fn an_hcg_test_charted_as_a_procedure_without_a_result_is_said() {
    let test = procedure("hcg-proc", CPT, "84702", TODAY, "completed");
    let e = run(vec![pregnant(), lmp(60), bleed_today(), test.clone()]);
    assert!(r2(&e).has(&Modifier::HcgResultPending {
        id: "hcg-proc".into(),
        date: Some(TODAY),
    }));
    let e = run(vec![
        pregnant(),
        lmp(60),
        bleed_today(),
        test,
        hcg("hcg", 1200.0, NOW, None),
    ]);
    assert!(
        !r2(&e)
            .modifiers
            .iter()
            .any(|m| matches!(m, Modifier::HcgResultPending { .. }))
    );
}

#[test]
fn procedures_alone_raise_no_card() {
    let e = run(vec![
        pregnant(),
        lmp(60),
        procedure("us", SNOMED, "169230002", days_ago(1), "completed"),
        procedure("rh-proc", SNOMED, "44608003", days_ago(1), "completed"),
    ]);
    assert!(e.findings.is_empty(), "{:?}", e.rules());
}

// ----- Bad input ---------------------------------------------------------------------------------

fn heart_rate(value: Option<Value>) -> Record {
    obs("hr", LOINC, "8867-4", TODAY, value)
}

#[test]
fn an_unreadable_vital_sign_is_named_on_the_card_and_never_raises_one() {
    let unreadable = heart_rate(Some(Value::String("unable to obtain".into())));
    let e = run(vec![pregnant(), lmp(60), bleed_today(), unreadable.clone()]);
    assert!(r2(&e).has(&Modifier::UnreadableRecord {
        id: "hr".into(),
        field: Field::Value,
    }));
    let e = run(vec![pregnant(), lmp(60), unreadable]);
    assert!(e.findings.is_empty(), "{:?}", e.rules());
    let mut panel = obs("bp", LOINC, "85354-9", TODAY, None);
    panel.components = vec![Component {
        codes: vec![Code::new(LOINC, "8480-6")],
        text: vec!["Systolic blood pressure".into()],
        value: Some(Value::String("--".into())),
    }];
    let e = run(vec![pregnant(), lmp(60), bleed_today(), panel]);
    assert!(r2(&e).has(&Modifier::UnreadableRecord {
        id: "bp".into(),
        field: Field::Component,
    }));
    let readable = heart_rate(Some(Value::Quantity {
        value: 88.0,
        unit: Some("/min".into()),
        code: Some("/min".into()),
        comparator: None,
    }));
    let e = run(vec![pregnant(), lmp(60), bleed_today(), readable]);
    assert!(
        !r2(&e)
            .modifiers
            .iter()
            .any(|m| matches!(m, Modifier::UnreadableRecord { .. }))
    );
}

#[test]
fn an_unreadable_bleed_date_is_named_and_does_not_silence_the_card() {
    let mut bleed = bleed_today();
    bleed.effective = None;
    bleed.problems.push(Problem {
        field: Field::Effective,
        message: "onsetDateTime is not a FHIR dateTime".into(),
    });
    let e = run(vec![pregnant(), lmp(60), bleed]);
    let f = r2(&e);
    assert!(f.has(&Modifier::BleedDateUnknown));
    assert!(f.has(&Modifier::UnreadableRecord {
        id: "bleed".into(),
        field: Field::Effective,
    }));
}

#[test]
fn anti_d_given_as_a_medication_record_silences_consider_anti_d_only_when_given() {
    let negative = rh_result(
        "rh",
        "10331-7",
        days_ago(20),
        concept(LOINC, "LA6577-6", "Negative"),
    );
    let medication = |kind: RecordKind, status: &str| {
        let mut r = Record::new(kind, "rhig");
        r.status = Some(status.into());
        r.text = vec!["RhoGAM 300 mcg IM".into()];
        r.effective = Some(When::day(days_ago(10)));
        r
    };
    let chart = |extra: Record| {
        run(vec![
            pregnant(),
            lmp(88),
            bleed_today(),
            negative.clone(),
            extra,
        ])
    };
    for (kind, status) in [
        (RecordKind::MedicationAdministration, "completed"),
        (RecordKind::MedicationStatement, "completed"),
        (RecordKind::Immunization, "completed"),
    ] {
        let e = chart(medication(kind, status));
        assert!(!has(&e, RuleId::R7), "{kind:?}: {:?}", e.rules());
        assert!(r2(&e).has(&Modifier::AntiDGiven {
            id: "rhig".into(),
            date: Some(days_ago(10)),
        }));
    }
    // Coded by its HCPCS code alone, without a name.
    let mut coded = medication(RecordKind::MedicationAdministration, "completed");
    coded.text.clear();
    coded.codes = vec![Code::new(
        "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets",
        "J2790",
    )];
    assert!(!has(&chart(coded), RuleId::R7));
    // Not given: not done, not taken, only intended, only prescribed, or entered in error.
    for (kind, status) in [
        (RecordKind::MedicationAdministration, "not-done"),
        (RecordKind::MedicationAdministration, "entered-in-error"),
        (RecordKind::MedicationStatement, "not-taken"),
        (RecordKind::MedicationStatement, "intended"),
        (RecordKind::Immunization, "not-done"),
        (RecordKind::MedicationRequest, "active"),
    ] {
        let e = chart(medication(kind, status));
        assert!(has(&e, RuleId::R7), "{kind:?} {status}: {:?}", e.rules());
    }
    // A medication record's words are never a bleed: a dose given "for the bleeding" alone is
    // no bleed.
    let mut note = medication(RecordKind::MedicationAdministration, "completed");
    note.text.push("given for vaginal bleeding".into());
    let e = run(vec![pregnant(), lmp(88), negative.clone(), note]);
    assert!(e.findings.is_empty(), "{:?}", e.rules());
}
