//! Unit tests of the decision table, with facts built in code around a fixed "now".

use time::macros::{date, datetime};
use time::{Date, Duration, OffsetDateTime};

use crate::facts::{
    Code, DraftOrder, Field, Input, PatientFacts, Problem, Record, RecordKind, Value, When,
};
use crate::knowledge::{ICD10CM, LOINC, RXNORM, SNOMED};
use crate::testkit::knowledge;
use crate::{Evaluation, HcgTrend, Indicator, Modifier, RuleId, evaluate};

const NOW: OffsetDateTime = datetime!(2025-04-01 12:00 UTC);
const TODAY: Date = date!(2025 - 04 - 01);

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

fn concept(system: &str, code: &str) -> Option<Value> {
    Some(Value::Concept {
        codes: vec![Code::new(system.to_owned(), code)],
        text: None,
    })
}

fn pregnant() -> Record {
    obs(
        "status",
        LOINC,
        "82810-3",
        days_ago(10),
        concept(SNOMED, "77386006"),
    )
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

fn bleed_today(text: &str) -> Record {
    cond("bleed", SNOMED, "723665008", text, TODAY)
}

fn iup() -> Record {
    cond(
        "iup",
        SNOMED,
        "65727000",
        "Intrauterine pregnancy",
        days_ago(1),
    )
}

fn hcg(id: &str, value: f64, at: OffsetDateTime) -> Record {
    let mut r = obs(
        id,
        LOINC,
        "21198-7",
        at.date(),
        Some(Value::Quantity {
            value,
            unit: Some("m[IU]/mL".into()),
            code: Some("m[IU]/mL".into()),
            comparator: None,
        }),
    );
    r.effective = Some(When {
        at,
        precision: crate::facts::Precision::Time,
    });
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

fn rules(e: &Evaluation) -> Vec<RuleId> {
    e.rules()
}

// ----- GA boundaries ---------------------------------------------------------------------------

#[test]
fn implantation_bleeding_at_4w6d_gets_no_card() {
    let e = run(vec![
        pregnant(),
        lmp(34),
        bleed_today("implantation bleeding"),
    ]);
    assert!(e.findings.is_empty(), "{:?}", rules(&e));
}

#[test]
fn implantation_bleeding_at_5w0d_is_doubtful_and_gets_a_warning_without_ultrasound() {
    let e = run(vec![
        pregnant(),
        lmp(35),
        bleed_today("implantation bleeding"),
    ]);
    assert_eq!(rules(&e), vec![RuleId::R2]);
    assert!(e.findings[0].has(&Modifier::LabelDoubtful));
    assert_eq!(e.findings[0].ga.map(|g| g.to_string()), Some("5w0d".into()));
}

#[test]
fn implantation_label_at_5w6d_is_doubtful_and_at_6w0d_implausible() {
    let e = run(vec![
        pregnant(),
        lmp(41),
        bleed_today("implantation bleeding"),
    ]);
    assert!(e.findings[0].has(&Modifier::LabelDoubtful));
    let e = run(vec![
        pregnant(),
        lmp(42),
        bleed_today("implantation bleeding"),
    ]);
    assert!(e.findings[0].has(&Modifier::LabelImplausible));
}

#[test]
fn a_bleed_at_12_weeks_with_no_ultrasound_gets_a_warning() {
    let e = run(vec![
        pregnant(),
        lmp(84),
        bleed_today("implantation bleeding"),
    ]);
    assert_eq!(e.max_indicator(), Some(Indicator::Warning));
    assert_eq!(e.findings[0].rule, RuleId::R2);
    assert!(e.findings[0].has(&Modifier::LabelImplausible));
    assert!(e.findings[0].has(&Modifier::RhUnknown));
}

#[test]
fn unlabelled_bleeding_at_4w6d_gets_no_card_while_r12_is_off() {
    let e = run(vec![pregnant(), lmp(34), bleed_today("vaginal bleeding")]);
    assert!(e.findings.is_empty());
}

#[test]
fn unlabelled_bleeding_at_4w6d_gets_r12_when_the_switch_is_on() {
    let mut kb = knowledge();
    kb.thresholds.r12_enabled = true;
    let facts = PatientFacts {
        records: vec![pregnant(), lmp(34), bleed_today("vaginal bleeding")],
        ..Default::default()
    };
    let e = evaluate(&kb, &facts, NOW);
    assert_eq!(rules(&e), vec![RuleId::R12]);
}

#[test]
fn bleeding_at_13w6d_with_no_ultrasound_is_r2_and_at_14w0d_r9() {
    let e = run(vec![pregnant(), lmp(97), bleed_today("bleeding")]);
    assert!(rules(&e).contains(&RuleId::R2));
    assert!(!rules(&e).contains(&RuleId::R9));
    let e = run(vec![pregnant(), lmp(98), bleed_today("bleeding")]);
    assert!(!rules(&e).contains(&RuleId::R2));
    assert_eq!(rules(&e), vec![RuleId::R9]);
    assert_eq!(e.max_indicator(), Some(Indicator::Info));
}

#[test]
fn r9_is_info_at_19w6d_and_a_warning_at_20w0d() {
    let e = run(vec![pregnant(), lmp(139), bleed_today("bleeding")]);
    assert_eq!(e.max_indicator(), Some(Indicator::Info));
    let e = run(vec![pregnant(), lmp(140), bleed_today("bleeding")]);
    assert_eq!(e.max_indicator(), Some(Indicator::Warning));
}

#[test]
fn rh_negative_bleeding_at_11w6d_is_r8_and_at_12w0d_r7() {
    let rh_neg = obs(
        "rh",
        LOINC,
        "10331-7",
        days_ago(20),
        concept(LOINC, "LA6577-6"),
    );
    let e = run(vec![
        pregnant(),
        lmp(83),
        iup(),
        rh_neg.clone(),
        bleed_today("bleeding"),
    ]);
    assert_eq!(rules(&e), vec![RuleId::R4, RuleId::R8]);
    let e = run(vec![
        pregnant(),
        lmp(84),
        iup(),
        rh_neg,
        bleed_today("bleeding"),
    ]);
    assert_eq!(rules(&e), vec![RuleId::R7, RuleId::R4]);
}

#[test]
fn anti_d_being_ordered_now_leaves_r7_out_and_is_said_on_the_other_card() {
    let rh_neg = obs(
        "rh",
        LOINC,
        "10331-7",
        days_ago(20),
        concept(LOINC, "LA6577-6"),
    );
    let facts = PatientFacts {
        records: vec![pregnant(), lmp(84), iup(), rh_neg, bleed_today("bleeding")],
        draft_orders: vec![DraftOrder {
            resource_type: "MedicationRequest".into(),
            id: "rhig".into(),
            text: vec!["RhoGAM (Rho(D) immune globulin) 300 mcg IM".into()],
            status: Some("draft".into()),
            ..Default::default()
        }],
        ..Default::default()
    };
    let e = evaluate(&knowledge(), &facts, NOW);
    assert_eq!(rules(&e), vec![RuleId::R4]);
    assert!(
        e.findings[0]
            .modifiers
            .iter()
            .any(|m| matches!(m, Modifier::AntiDOrdered { id, .. } if id == "rhig"))
    );
}

#[test]
fn a_sensitised_patient_gets_no_anti_d_card() {
    let rh_neg = obs(
        "rh",
        LOINC,
        "10331-7",
        days_ago(20),
        concept(LOINC, "LA6577-6"),
    );
    let sens = cond(
        "sens",
        ICD10CM,
        "O36.0110",
        "anti-D antibodies",
        days_ago(30),
    );
    let e = run(vec![
        pregnant(),
        lmp(90),
        iup(),
        rh_neg,
        sens,
        bleed_today("bleeding"),
    ]);
    assert_eq!(rules(&e), vec![RuleId::R4]);
}

// ----- IUP, label, R3/R4/R10 -------------------------------------------------------------------

#[test]
fn implantation_label_with_a_documented_iup_at_8w_is_r3_info() {
    let e = run(vec![
        pregnant(),
        lmp(56),
        iup(),
        bleed_today("implantation bleeding"),
    ]);
    assert_eq!(rules(&e), vec![RuleId::R3]);
    assert_eq!(e.max_indicator(), Some(Indicator::Info));
}

#[test]
fn a_probable_iup_does_not_count_as_documented() {
    let mut probable = iup();
    probable.text = vec!["Probable intrauterine pregnancy".into()];
    let e = run(vec![pregnant(), lmp(56), probable, bleed_today("bleeding")]);
    assert_eq!(rules(&e), vec![RuleId::R2]);
}

#[test]
fn a_tvus_without_an_iup_is_a_pregnancy_of_unknown_location() {
    let us = obs(
        "us",
        LOINC,
        "42451-5",
        days_ago(2),
        Some(Value::String("no IUP".into())),
    );
    let e = run(vec![pregnant(), lmp(50), us, bleed_today("bleeding")]);
    assert_eq!(rules(&e), vec![RuleId::R2]);
    assert_eq!(e.findings[0].iup, crate::IupStatus::Pul);
}

#[test]
fn subchorionic_hematoma_with_an_iup_adds_r10() {
    let sch = cond("sch", SNOMED, "609204004", "SCH", days_ago(3));
    let e = run(vec![
        pregnant(),
        lmp(60),
        iup(),
        sch,
        bleed_today("bleeding"),
    ]);
    assert_eq!(rules(&e), vec![RuleId::R4, RuleId::R10]);
}

// ----- Gates --------------------------------------------------------------------------------------

#[test]
fn bleeding_without_pregnancy_evidence_gets_no_card() {
    let e = run(vec![
        lmp(60),
        cond("b", ICD10CM, "N93.9", "Abnormal bleeding", TODAY),
    ]);
    assert!(e.findings.is_empty());
}

#[test]
fn a_later_not_pregnant_status_closes_the_gate() {
    let not_preg = obs(
        "np",
        LOINC,
        "82810-3",
        days_ago(2),
        concept(SNOMED, "60001007"),
    );
    // 289530006 is not pregnancy-specific, so the bleed itself is not newer pregnancy evidence.
    let bleed = cond("b", SNOMED, "289530006", "Bleeding", TODAY);
    let e = run(vec![pregnant(), not_preg, lmp(60), bleed]);
    assert!(e.findings.is_empty());
}

#[test]
fn an_entered_in_error_bleed_gets_no_card() {
    let mut b = bleed_today("bleeding");
    b.verification_status = Some("entered-in-error".into());
    let e = run(vec![pregnant(), lmp(60), b]);
    assert!(e.findings.is_empty());
}

#[test]
fn a_confirmed_ectopic_silences_every_card_including_methotrexate() {
    let ectopic = cond("ep", ICD10CM, "O00.101", "Tubal ectopic", days_ago(1));
    let facts = PatientFacts {
        records: vec![pregnant(), lmp(50), ectopic, bleed_today("bleeding")],
        draft_orders: vec![mtx_order()],
        ..Default::default()
    };
    let e = evaluate(&knowledge(), &facts, NOW);
    assert!(e.findings.is_empty());
}

#[test]
fn a_bleed_before_the_lmp_is_not_in_this_pregnancy() {
    let b = cond("b", SNOMED, "723665008", "bleeding", days_ago(12));
    let e = run(vec![pregnant(), lmp(10), b]);
    assert!(e.findings.is_empty());
}

#[test]
fn postpartum_haemorrhage_after_delivery_gets_no_card() {
    let pp = cond("pp", SNOMED, "86569001", "Postpartum", days_ago(10));
    let bleed = cond("b", SNOMED, "289530006", "Bleeding", TODAY);
    let e = run(vec![
        pp,
        cond("preg", SNOMED, "77386006", "pregnant", days_ago(200)),
        bleed,
    ]);
    assert!(e.findings.is_empty());
}

#[test]
fn an_old_resolved_bleed_does_not_fire() {
    let mut b = cond("b", SNOMED, "723665008", "bleeding", days_ago(20));
    b.clinical_status = Some("resolved".into());
    let e = run(vec![pregnant(), lmp(70), b]);
    assert!(e.findings.is_empty());
}

#[test]
fn a_bleed_resolved_today_still_fires() {
    let mut b = bleed_today("bleeding");
    b.clinical_status = Some("resolved".into());
    let e = run(vec![pregnant(), lmp(60), b]);
    assert_eq!(rules(&e), vec![RuleId::R2]);
}

#[test]
fn negated_text_only_observation_is_not_a_bleed() {
    let mut r = Record::new(RecordKind::Observation, "note");
    r.text = vec!["Patient denies bleeding".into()];
    r.effective = Some(When::day(TODAY));
    let e = run(vec![pregnant(), lmp(60), r]);
    assert!(e.findings.is_empty());
}

#[test]
fn a_bleeding_observation_answered_no_is_not_a_bleed() {
    let r = obs(
        "q",
        SNOMED,
        "289530006",
        TODAY,
        concept(SNOMED, "373067005"),
    );
    let e = run(vec![pregnant(), lmp(60), r]);
    assert!(e.findings.is_empty());
}

#[test]
fn methotrexate_after_a_delivery_in_this_pregnancy_gets_no_card() {
    let delivered = cond("pp", SNOMED, "86569001", "Postpartum", days_ago(5));
    let facts = PatientFacts {
        records: vec![pregnant(), lmp(250), delivered],
        draft_orders: vec![mtx_order()],
        ..Default::default()
    };
    assert!(evaluate(&knowledge(), &facts, NOW).findings.is_empty());
}

#[test]
fn text_only_spotting_observation_is_a_bleed() {
    let mut r = Record::new(RecordKind::Observation, "note");
    r.text = vec!["light spotting this morning".into()];
    r.effective = Some(When::day(TODAY));
    let e = run(vec![pregnant(), lmp(60), r]);
    assert_eq!(rules(&e), vec![RuleId::R2]);
}

// ----- Dating ------------------------------------------------------------------------------------

#[test]
fn no_usable_dating_gives_r13() {
    let e = run(vec![pregnant(), bleed_today("bleeding")]);
    assert_eq!(rules(&e), vec![RuleId::R13]);
    assert_eq!(e.max_indicator(), Some(Indicator::Warning));
}

#[test]
fn art_dating_wins_over_lmp() {
    let art = obs(
        "art",
        LOINC,
        "53692-0",
        days_ago(30),
        Some(Value::DateTime(When::day(
            TODAY + Duration::days(280 - 100),
        ))),
    );
    let e = run(vec![pregnant(), lmp(60), art, bleed_today("bleeding")]);
    assert_eq!(e.findings[0].ga.map(|g| g.days()), Some(100));
    assert_eq!(
        e.findings[0].dating.as_ref().map(|d| d.source),
        Some(crate::DatingSource::Art)
    );
}

fn us_ga(on: Date, weeks: f64) -> Record {
    obs(
        "us-ga",
        LOINC,
        "11909-9",
        on,
        Some(Value::Quantity {
            value: weeks,
            unit: Some("wk".into()),
            code: Some("wk".into()),
            comparator: None,
        }),
    )
}

#[test]
fn ultrasound_redates_when_lmp_differs_by_more_than_five_days_before_9_weeks() {
    // Scan 10 days ago at 7w0d by CRL → 8w3d today; LMP says 9w3d today (7 days more).
    let e = run(vec![
        pregnant(),
        lmp(66),
        us_ga(days_ago(10), 7.0),
        bleed_today("bleeding"),
    ]);
    let f = &e.findings[0];
    assert_eq!(f.ga.map(|g| g.to_string()), Some("8w3d".into()));
    assert!(f.has(&Modifier::Redated { days: 7 }));
}

#[test]
fn lmp_dating_stands_when_within_the_co700_threshold() {
    // Scan at 7w0d, LMP differs by 5 days: not more than 5 → keep LMP.
    let e = run(vec![
        pregnant(),
        lmp(64),
        us_ga(days_ago(10), 7.0),
        bleed_today("bleeding"),
    ]);
    let f = &e.findings[0];
    assert_eq!(f.ga.map(|g| g.days()), Some(64));
    assert_eq!(
        f.dating.as_ref().map(|d| d.source),
        Some(crate::DatingSource::Lmp)
    );
}

#[test]
fn mean_sac_diameter_never_dates_the_pregnancy() {
    let msd = obs(
        "msd",
        LOINC,
        "11927-1",
        days_ago(3),
        Some(Value::Quantity {
            value: 6.0,
            unit: Some("wk".into()),
            code: Some("wk".into()),
            comparator: None,
        }),
    );
    let e = run(vec![pregnant(), msd, bleed_today("bleeding")]);
    assert_eq!(rules(&e), vec![RuleId::R13]);
}

#[test]
fn a_ga_observation_in_days_dates_the_pregnancy() {
    let ga = obs(
        "ga",
        LOINC,
        "11884-4",
        days_ago(3),
        Some(Value::Quantity {
            value: 59.0,
            unit: Some("d".into()),
            code: Some("d".into()),
            comparator: None,
        }),
    );
    let e = run(vec![pregnant(), ga, bleed_today("implantation bleeding")]);
    assert_eq!(e.findings[0].ga.map(|g| g.to_string()), Some("8w6d".into()));
}

// ----- hCG -----------------------------------------------------------------------------------

#[test]
fn a_rise_of_exactly_49_percent_is_not_slow() {
    let h1 = hcg("h1", 1000.0, NOW - Duration::hours(48));
    let h2 = hcg("h2", 1490.0, NOW);
    let e = run(vec![pregnant(), lmp(44), h1, h2, bleed_today("bleeding")]);
    assert!(
        !e.findings[0]
            .modifiers
            .iter()
            .any(|m| matches!(m, Modifier::HcgTrend(_)))
    );
}

#[test]
fn a_normal_hcg_rise_adds_no_trend_text() {
    let h1 = hcg("h1", 900.0, NOW - Duration::hours(48));
    let h2 = hcg("h2", 1500.0, NOW);
    let e = run(vec![pregnant(), lmp(44), h1, h2, bleed_today("bleeding")]);
    assert!(
        !e.findings[0]
            .modifiers
            .iter()
            .any(|m| matches!(m, Modifier::HcgTrend(_)))
    );
}

#[test]
fn a_rise_below_49_percent_from_under_1500_is_slow() {
    let h1 = hcg("h1", 1000.0, NOW - Duration::hours(48));
    let h2 = hcg("h2", 1480.0, NOW);
    let e = run(vec![pregnant(), lmp(44), h1, h2, bleed_today("bleeding")]);
    assert!(
        e.findings[0]
            .modifiers
            .iter()
            .any(|m| matches!(m, Modifier::HcgTrend(HcgTrend::SlowRise { .. })))
    );
}

#[test]
fn a_35_percent_rise_from_above_3000_is_not_slow() {
    let h1 = hcg("h1", 4000.0, NOW - Duration::hours(48));
    let h2 = hcg("h2", 5400.0, NOW);
    let e = run(vec![pregnant(), lmp(44), h1, h2, bleed_today("bleeding")]);
    assert!(
        !e.findings[0]
            .modifiers
            .iter()
            .any(|m| matches!(m, Modifier::HcgTrend(_)))
    );
}

#[test]
fn a_fall_of_21_percent_is_a_fall_and_of_10_percent_a_slow_fall() {
    let e = run(vec![
        pregnant(),
        lmp(44),
        hcg("h1", 1000.0, NOW - Duration::hours(48)),
        hcg("h2", 790.0, NOW),
        bleed_today("bleeding"),
    ]);
    assert!(
        e.findings[0]
            .modifiers
            .iter()
            .any(|m| matches!(m, Modifier::HcgTrend(HcgTrend::Fall { .. })))
    );
    let e = run(vec![
        pregnant(),
        lmp(44),
        hcg("h1", 1000.0, NOW - Duration::hours(48)),
        hcg("h2", 900.0, NOW),
        bleed_today("bleeding"),
    ]);
    assert!(
        e.findings[0]
            .modifiers
            .iter()
            .any(|m| matches!(m, Modifier::HcgTrend(HcgTrend::SlowFall { .. })))
    );
}

#[test]
fn hcg_pairs_less_than_24_hours_apart_are_not_compared() {
    let e = run(vec![
        pregnant(),
        lmp(44),
        hcg("h1", 1000.0, NOW - Duration::hours(12)),
        hcg("h2", 1010.0, NOW),
        bleed_today("bleeding"),
    ]);
    assert!(
        !e.findings[0]
            .modifiers
            .iter()
            .any(|m| matches!(m, Modifier::HcgTrend(_)))
    );
}

#[test]
fn the_rise_is_normalised_to_48_hours() {
    // 1000 → 1300 over 24 h is 69 % per 48 h: above the 49 % minimum.
    let e = run(vec![
        pregnant(),
        lmp(44),
        hcg("h1", 1000.0, NOW - Duration::hours(24)),
        hcg("h2", 1300.0, NOW),
        bleed_today("bleeding"),
    ]);
    assert!(
        !e.findings[0]
            .modifiers
            .iter()
            .any(|m| matches!(m, Modifier::HcgTrend(_)))
    );
}

// ----- R6, incomplete data ---------------------------------------------------------------------

fn mtx_order() -> DraftOrder {
    DraftOrder {
        resource_type: "MedicationRequest".into(),
        id: "mtx".into(),
        codes: vec![Code::new(RXNORM, "6851")],
        text: vec![],
        status: Some("draft".into()),
        reasons: Vec::new(),
        ..Default::default()
    }
}

#[test]
fn methotrexate_with_a_documented_iup_is_critical_without_a_bleed() {
    let facts = PatientFacts {
        records: vec![pregnant(), lmp(50), iup()],
        draft_orders: vec![mtx_order()],
        ..Default::default()
    };
    let e = evaluate(&knowledge(), &facts, NOW);
    assert_eq!(rules(&e), vec![RuleId::R6]);
    assert_eq!(e.max_indicator(), Some(Indicator::Critical));
    assert!(matches!(e.findings[0].iup, crate::IupStatus::Documented(_)));
}

#[test]
fn methotrexate_named_only_in_text_is_recognised() {
    let mut order = mtx_order();
    order.codes.clear();
    order.text = vec!["Methotrexate 50 mg/m2 IM".into()];
    let facts = PatientFacts {
        records: vec![pregnant()],
        draft_orders: vec![order],
        ..Default::default()
    };
    assert_eq!(
        rules(&evaluate(&knowledge(), &facts, NOW)),
        vec![RuleId::R6]
    );
}

#[test]
fn an_undated_bleed_still_gets_advice_with_the_date_flagged() {
    let mut b = bleed_today("bleeding");
    b.effective = None;
    b.problems.push(Problem {
        field: Field::Effective,
        message: "onsetDateTime is not a FHIR dateTime".into(),
    });
    let e = run(vec![pregnant(), lmp(60), b]);
    assert_eq!(rules(&e), vec![RuleId::R2]);
    assert!(e.findings[0].has(&Modifier::BleedDateUnknown));
    assert!(
        e.findings[0]
            .modifiers
            .iter()
            .any(|m| matches!(m, Modifier::UnreadableRecord { .. }))
    );
    assert_eq!(e.diagnostics.len(), 1);
}

#[test]
fn unavailable_inputs_are_carried_to_the_finding() {
    let mut facts = PatientFacts {
        records: vec![pregnant(), lmp(60), bleed_today("bleeding")],
        ..Default::default()
    };
    facts.unavailable.insert(Input::Hcg);
    let e = evaluate(&knowledge(), &facts, NOW);
    assert!(e.findings[0].has(&Modifier::Unavailable(Input::Hcg)));
}

// ----- Impossible dates and refused records (issues 14 item 4, 18 item 3) ----------------------

const FAR_FUTURE: Date = date!(9999 - 12 - 31);

fn problems_of(e: &Evaluation, finding: usize) -> Vec<crate::DateProblem> {
    e.findings[finding]
        .modifiers
        .iter()
        .filter_map(|m| match m {
            Modifier::ImpossibleDate { problem, .. } => Some(*problem),
            _ => None,
        })
        .collect()
}

/// Every GA on every finding is between 0 and 45 weeks.
fn assert_sane_ga(e: &Evaluation) {
    for f in &e.findings {
        if let Some(ga) = f.ga {
            assert!((0..=315).contains(&ga.days()), "{ga} on {}", f.rule);
        }
    }
}

#[test]
fn a_bleed_dated_in_the_future_is_evaluated_undated_and_named() {
    let mut b = bleed_today("vaginal bleeding");
    b.effective = Some(When::day(FAR_FUTURE));
    let e = run(vec![pregnant(), lmp(70), b]);
    assert_eq!(rules(&e), vec![RuleId::R2]);
    assert_eq!(e.findings[0].bleed_date, None);
    assert_eq!(e.findings[0].ga.map(|g| g.days()), Some(70), "today's GA");
    assert_eq!(problems_of(&e, 0), [crate::DateProblem::InFuture]);
    assert!(e.findings[0].has(&Modifier::BleedDateUnknown));
    assert_sane_ga(&e);
}

#[test]
fn a_bleed_dated_in_the_future_uses_its_recorded_date_when_that_one_is_possible() {
    let mut b = bleed_today("vaginal bleeding");
    b.effective = Some(When::day(FAR_FUTURE));
    b.recorded = Some(When::day(days_ago(2)));
    let e = run(vec![pregnant(), lmp(70), b]);
    assert_eq!(e.findings[0].bleed_date, Some(days_ago(2)));
    assert_eq!(problems_of(&e, 0), [crate::DateProblem::InFuture]);
    assert!(!e.findings[0].has(&Modifier::BleedDateFromRecorded));
}

#[test]
fn tomorrow_is_within_the_tolerance_and_not_a_data_problem() {
    let mut b = bleed_today("vaginal bleeding");
    b.effective = Some(When::day(TODAY + Duration::days(1)));
    let e = run(vec![pregnant(), lmp(70), b]);
    assert_eq!(rules(&e), vec![RuleId::R2]);
    assert!(problems_of(&e, 0).is_empty());
}

#[test]
fn an_intrauterine_pregnancy_dated_in_the_future_does_not_silence_the_ectopic_warning() {
    let mut future_iup = iup();
    future_iup.effective = Some(When::day(FAR_FUTURE));
    let e = run(vec![
        pregnant(),
        lmp(70),
        bleed_today("vaginal bleeding"),
        future_iup,
    ]);
    assert_eq!(rules(&e), vec![RuleId::R2]);
    assert_eq!(problems_of(&e, 0), [crate::DateProblem::InFuture]);
}

#[test]
fn a_diagnosis_or_a_not_pregnant_status_dated_in_the_future_does_not_gate_the_patient() {
    let ectopic = cond(
        "ectopic",
        SNOMED,
        "34801009",
        "Ectopic pregnancy",
        FAR_FUTURE,
    );
    let not_pregnant = obs(
        "not-pregnant",
        LOINC,
        "82810-3",
        FAR_FUTURE,
        concept(SNOMED, "60001007"),
    );
    for record in [ectopic, not_pregnant] {
        let e = run(vec![
            pregnant(),
            lmp(70),
            bleed_today("vaginal bleeding"),
            record,
        ]);
        assert_eq!(rules(&e), vec![RuleId::R2]);
        assert_eq!(problems_of(&e, 0), [crate::DateProblem::InFuture]);
    }
}

#[test]
fn dating_records_that_put_the_pregnancy_in_the_future_are_named_and_not_used() {
    let future_lmp = obs(
        "lmp",
        LOINC,
        "8665-2",
        days_ago(1),
        Some(Value::DateTime(When::day(FAR_FUTURE))),
    );
    let future_edd = obs(
        "edd",
        LOINC,
        "11778-8",
        days_ago(1),
        Some(Value::DateTime(When::day(FAR_FUTURE))),
    );
    for dating in [future_lmp, future_edd] {
        let e = run(vec![pregnant(), dating, bleed_today("vaginal bleeding")]);
        assert_eq!(rules(&e), vec![RuleId::R13]);
        assert_eq!(problems_of(&e, 0), [crate::DateProblem::StartInFuture]);
    }
}

#[test]
fn a_gestational_age_no_pregnancy_can_have_is_named_and_not_used() {
    for weeks in [-5.0, 300.0, 1.0e12] {
        let ga = obs(
            "ga",
            LOINC,
            "11888-5",
            days_ago(1),
            Some(Value::Quantity {
                value: weeks,
                unit: Some("wk".into()),
                code: Some("wk".into()),
                comparator: None,
            }),
        );
        let e = run(vec![pregnant(), ga, bleed_today("vaginal bleeding")]);
        assert_eq!(rules(&e), vec![RuleId::R13], "{weeks}");
        assert_eq!(problems_of(&e, 0), [crate::DateProblem::ImpossibleGa]);
    }
}

#[test]
fn an_active_bleed_dated_before_this_pregnancy_gets_the_data_problem_note_only() {
    let old = cond(
        "old",
        SNOMED,
        "723665008",
        "vaginal bleeding",
        days_ago(70 + 730),
    );
    let e = run(vec![pregnant(), lmp(70), old]);
    assert_eq!(rules(&e), vec![RuleId::D1]);
    assert_eq!(e.findings[0].indicator, Indicator::Info);
    assert_eq!(e.findings[0].ga, None);
    assert_eq!(problems_of(&e, 0), [crate::DateProblem::BeforePregnancy]);
}

#[test]
fn a_bleed_just_before_the_pregnancy_start_is_g4_without_a_note() {
    // Within the 21-day margin: the LMP is uncertain by that much; G4 as before.
    let near = cond(
        "near",
        SNOMED,
        "723665008",
        "vaginal bleeding",
        days_ago(70 + 10),
    );
    let e = run(vec![pregnant(), lmp(70), near]);
    assert!(e.findings.is_empty(), "{:?}", rules(&e));
}

#[test]
fn refused_records_are_said_on_every_card_and_alone_give_the_note() {
    let mut facts = PatientFacts {
        records: vec![pregnant(), lmp(84), bleed_today("vaginal bleeding")],
        refused_records: 3,
        ..Default::default()
    };
    facts.records.push(obs(
        "rh",
        LOINC,
        "10331-7",
        days_ago(3),
        concept(LOINC, "LA6577-6"),
    ));
    let e = evaluate(&knowledge(), &facts, NOW);
    assert!(e.findings.len() >= 2, "{:?}", rules(&e));
    for f in &e.findings {
        assert!(f.has(&Modifier::RefusedRecords { count: 3 }), "{}", f.rule);
    }
    facts.records = vec![pregnant(), lmp(84)];
    let e = evaluate(&knowledge(), &facts, NOW);
    assert_eq!(rules(&e), vec![RuleId::D1]);
    // No pregnancy evidence: Gravida has nothing to say, refused records or not.
    facts.records = vec![lmp(84)];
    assert!(evaluate(&knowledge(), &facts, NOW).findings.is_empty());
}

mod impossible_dates {
    use proptest::prelude::*;

    use super::*;

    fn shifted(days: i64) -> Date {
        TODAY
            .checked_add(Duration::days(days))
            .unwrap_or(if days < 0 { Date::MIN } else { Date::MAX })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Whatever the dates of the bleed, the LMP and its charting, and a GA value, no finding
        /// carries a GA below 0w0d or above 45w0d.
        #[test]
        fn no_finding_has_a_gestational_age_outside_0_to_45_weeks(
            bleed in prop_oneof![-1_000i64..1_000, -4_000_000i64..3_000_000],
            lmp_at in prop_oneof![-400i64..400, -4_000_000i64..3_000_000],
            charted in -400i64..3_000_000,
            ga_weeks in prop_oneof![Just(f64::NAN), Just(f64::INFINITY), -1.0e9f64..1.0e9, 0.0f64..45.0],
        ) {
            let mut b = bleed_today("vaginal bleeding");
            b.effective = Some(When::day(shifted(bleed)));
            let dating = obs(
                "lmp",
                LOINC,
                "8665-2",
                shifted(charted),
                Some(Value::DateTime(When::day(shifted(lmp_at)))),
            );
            let ga = obs(
                "ga",
                LOINC,
                "11888-5",
                days_ago(1),
                Some(Value::Quantity { value: ga_weeks, unit: Some("wk".into()), code: None, comparator: None }),
            );
            for records in [vec![pregnant(), dating.clone(), b.clone()], vec![pregnant(), ga, b.clone()]] {
                let e = run(records);
                for f in &e.findings {
                    if let Some(g) = f.ga {
                        prop_assert!((0..=315).contains(&g.days()), "{} on {}", g, f.rule);
                    }
                }
            }
        }
    }
}
