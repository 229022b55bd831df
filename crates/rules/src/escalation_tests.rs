//! Unit tests of escalation and the rules of knowledge.md §3.5 items 9 and 12–16: risk factors
//! and G5 within this pregnancy, R2E, R14, R6 across G5, R15 and R5N, with their boundaries.

use time::macros::{date, datetime};
use time::{Date, Duration, OffsetDateTime};

use crate::facts::{
    Code, Component, DraftOrder, PatientFacts, Precision, Record, RecordKind, Value, When,
};
use crate::knowledge::{HcgLead, ICD10CM, LOINC, RXNORM, RulesKnowledge, SNOMED};
use crate::testkit::knowledge;
use crate::{
    Evaluation, HcgTrend, Indicator, IupStatus, Modifier, NiceReading, RiskFactor, Role, RuleId,
    VitalSign, evaluate,
};

const NOW: OffsetDateTime = datetime!(2025-04-01 12:00 UTC);
const TODAY: Date = date!(2025 - 04 - 01);

fn days_ago(days: i64) -> Date {
    TODAY - Duration::days(days)
}

fn at(instant: OffsetDateTime) -> When {
    When {
        at: instant,
        precision: Precision::Time,
    }
}

fn obs(id: &str, system: &str, code: &str, on: Date, value: Option<Value>) -> Record {
    let mut r = Record::new(RecordKind::Observation, id);
    r.codes = vec![Code::new(system.to_owned(), code)];
    r.status = Some("final".into());
    r.effective = Some(When::day(on));
    r.value = value;
    r
}

fn cond(id: &str, system: &str, code: &str, text: &str, on: Option<Date>) -> Record {
    let mut r = Record::new(RecordKind::Condition, id);
    r.codes = vec![Code::new(system.to_owned(), code)];
    r.text = vec![text.to_string()];
    r.clinical_status = Some("active".into());
    r.verification_status = Some("confirmed".into());
    r.effective = on.map(When::day);
    r
}

fn concept(system: &str, code: &str) -> Option<Value> {
    Some(Value::Concept {
        codes: vec![Code::new(system.to_owned(), code)],
        text: None,
    })
}

fn quantity(value: f64, unit: &str) -> Option<Value> {
    Some(Value::Quantity {
        value,
        unit: Some(unit.into()),
        code: Some(unit.into()),
        comparator: None,
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

/// An LMP putting today at `ga_days`.
fn lmp(ga_days: i64) -> Record {
    obs(
        "lmp",
        LOINC,
        "8665-2",
        days_ago(1),
        Some(Value::DateTime(When::day(days_ago(ga_days)))),
    )
}

fn bleed(text: &str) -> Record {
    cond("bleed", SNOMED, "723665008", text, Some(TODAY))
}

fn iup() -> Record {
    cond(
        "iup",
        SNOMED,
        "65727000",
        "Intrauterine pregnancy",
        Some(days_ago(1)),
    )
}

/// A transvaginal ultrasound without an IUP: with no IUP documented, a PUL.
fn tvus() -> Record {
    obs("tvus", LOINC, "42451-5", days_ago(2), None)
}

fn rh_negative() -> Record {
    obs(
        "rh",
        LOINC,
        "10331-7",
        days_ago(20),
        concept(LOINC, "LA6577-6"),
    )
}

fn systolic(id: &str, mmhg: f64, taken: OffsetDateTime) -> Record {
    let mut r = obs(id, LOINC, "8480-6", taken.date(), quantity(mmhg, "mm[Hg]"));
    r.effective = Some(at(taken));
    r
}

fn heart_rate(id: &str, per_min: f64, taken: OffsetDateTime) -> Record {
    let mut r = obs(id, LOINC, "8867-4", taken.date(), quantity(per_min, "/min"));
    r.effective = Some(at(taken));
    r
}

/// A blood-pressure panel (85354-9) carrying its pressures as components.
fn bp_panel(id: &str, systolic: f64, diastolic: f64, taken: OffsetDateTime) -> Record {
    let mut r = obs(id, LOINC, "85354-9", taken.date(), None);
    r.effective = Some(at(taken));
    r.components = vec![
        Component {
            codes: vec![Code::new(LOINC, "8480-6")],
            text: vec!["Systolic blood pressure".into()],
            value: quantity(systolic, "mm[Hg]"),
        },
        Component {
            codes: vec![Code::new(LOINC, "8462-4")],
            text: vec!["Diastolic blood pressure".into()],
            value: quantity(diastolic, "mm[Hg]"),
        },
    ];
    r
}

fn hcg(id: &str, value: f64, taken: OffsetDateTime) -> Record {
    let mut r = obs(
        id,
        LOINC,
        "21198-7",
        taken.date(),
        quantity(value, "m[IU]/mL"),
    );
    r.effective = Some(at(taken));
    r
}

fn methotrexate() -> DraftOrder {
    DraftOrder {
        resource_type: "MedicationRequest".into(),
        id: "mtx".into(),
        codes: vec![Code::new(RXNORM, "6851")],
        text: vec!["methotrexate".into()],
        status: Some("draft".into()),
        reasons: Vec::new(),
        ..Default::default()
    }
}

fn run_with(kb: &RulesKnowledge, records: Vec<Record>, orders: Vec<DraftOrder>) -> Evaluation {
    evaluate(
        kb,
        &PatientFacts {
            records,
            draft_orders: orders,
            ..Default::default()
        },
        NOW,
    )
}

fn run(records: Vec<Record>) -> Evaluation {
    run_with(&knowledge(), records, Vec::new())
}

fn finding(e: &Evaluation, rule: RuleId) -> &crate::Finding {
    e.findings
        .iter()
        .find(|f| f.rule == rule)
        .unwrap_or_else(|| panic!("no {rule} among {:?}", e.rules()))
}

fn vital_signs(f: &crate::Finding) -> Vec<VitalSign> {
    f.modifiers
        .iter()
        .filter_map(|m| match m {
            Modifier::Vital { sign, .. } => Some(*sign),
            _ => None,
        })
        .collect()
}

// ----- Item 9: risk factors, and G5 only within this pregnancy ----------------------------------

/// A tubal ectopic of 2021, resolved, entered on the problem list at booking (this pregnancy).
fn ectopic_2021() -> Record {
    let mut r = cond(
        "ectopic-2021",
        ICD10CM,
        "O00.10",
        "Tubal ectopic pregnancy",
        Some(date!(2021 - 03 - 10)),
    );
    r.clinical_status = Some("resolved".into());
    r.abatement = Some(When::day(date!(2021 - 04 - 01)));
    r.recorded = Some(When::day(days_ago(20)));
    r
}

#[test]
fn a_resolved_ectopic_from_2021_no_longer_silences_the_card_and_is_named_as_a_risk_factor() {
    let e = run(vec![pregnant(), lmp(45), ectopic_2021(), bleed("bleeding")]);
    let r2 = finding(&e, RuleId::R2);
    assert!(r2.has(&Modifier::RiskFactor(RiskFactor::PriorEctopic)));
    assert!(
        r2.evidence
            .iter()
            .any(|ev| ev.role == Role::RiskFactor && ev.id == "ectopic-2021")
    );
}

#[test]
fn an_ectopic_diagnosed_in_this_pregnancy_still_silences_every_card() {
    let ectopic = cond(
        "ectopic",
        ICD10CM,
        "O00.10",
        "Tubal ectopic pregnancy",
        Some(days_ago(3)),
    );
    let e = run(vec![pregnant(), lmp(45), ectopic, bleed("bleeding")]);
    assert!(e.findings.is_empty(), "{:?}", e.rules());
}

#[test]
fn an_ectopic_recorded_in_this_pregnancy_without_an_onset_is_this_pregnancys_diagnosis() {
    // G5 reads the onset, else the recorded date: recorded after the start, no onset → G5.
    let mut ectopic = cond("ectopic", SNOMED, "34801009", "Ectopic pregnancy", None);
    ectopic.recorded = Some(When::day(days_ago(2)));
    let e = run(vec![pregnant(), lmp(45), ectopic, bleed("bleeding")]);
    assert!(e.findings.is_empty(), "{:?}", e.rules());
}

#[test]
fn an_undated_ectopic_never_silences_the_card_and_is_a_risk_factor() {
    let ectopic = cond("ectopic", SNOMED, "34801009", "Ectopic pregnancy", None);
    let e = run(vec![pregnant(), lmp(45), ectopic, bleed("bleeding")]);
    assert!(finding(&e, RuleId::R2).has(&Modifier::RiskFactor(RiskFactor::PriorEctopic)));
}

#[test]
fn an_iud_in_situ_and_an_art_conception_are_named_on_r2_and_r6() {
    let iud = cond(
        "iud",
        ICD10CM,
        "Z97.5",
        "IUD in place",
        Some(date!(2023 - 01 - 05)),
    );
    let ivf = cond(
        "ivf",
        ICD10CM,
        "O09.811",
        "Pregnancy resulting from IVF, first trimester",
        Some(days_ago(20)),
    );
    let e = run_with(
        &knowledge(),
        vec![pregnant(), lmp(45), iud, ivf, bleed("bleeding")],
        vec![methotrexate()],
    );
    for rule in [RuleId::R2, RuleId::R6] {
        let f = finding(&e, rule);
        assert!(f.has(&Modifier::RiskFactor(RiskFactor::Iud)), "{rule}");
        assert!(
            f.has(&Modifier::RiskFactor(RiskFactor::ArtConception)),
            "{rule}"
        );
    }
}

#[test]
fn a_removed_iud_is_not_a_risk_factor() {
    let mut iud = cond("iud", ICD10CM, "Z97.5", "IUD", Some(date!(2023 - 01 - 05)));
    iud.clinical_status = Some("resolved".into());
    let e = run(vec![pregnant(), lmp(45), iud, bleed("bleeding")]);
    assert!(!finding(&e, RuleId::R2).has(&Modifier::RiskFactor(RiskFactor::Iud)));
}

#[test]
fn an_ivf_pregnancy_of_two_years_ago_is_not_this_pregnancys_art_conception() {
    let earlier = cond(
        "ivf-2023",
        ICD10CM,
        "O09.811",
        "IVF pregnancy",
        Some(date!(2023 - 02 - 01)),
    );
    let e = run(vec![pregnant(), lmp(45), earlier, bleed("bleeding")]);
    assert!(!finding(&e, RuleId::R2).has(&Modifier::RiskFactor(RiskFactor::ArtConception)));
}

#[test]
fn art_dating_makes_the_pregnancy_an_art_conception() {
    let art = obs(
        "art",
        LOINC,
        "53692-0",
        days_ago(30),
        Some(Value::DateTime(When::day(
            days_ago(45) + Duration::days(280),
        ))),
    );
    let e = run(vec![pregnant(), art, bleed("bleeding")]);
    assert!(finding(&e, RuleId::R2).has(&Modifier::RiskFactor(RiskFactor::ArtConception)));
}

// ----- Item 14: R6 across G5 ---------------------------------------------------------------------

fn ectopic_now() -> Record {
    cond(
        "ectopic",
        ICD10CM,
        "O00.10",
        "Left tubal ectopic pregnancy",
        Some(days_ago(2)),
    )
}

#[test]
fn methotrexate_beside_a_diagnosed_ectopic_and_a_documented_iup_is_critical() {
    let e = run_with(
        &knowledge(),
        vec![pregnant(), lmp(49), iup(), ectopic_now(), bleed("bleeding")],
        vec![methotrexate()],
    );
    assert_eq!(e.rules(), vec![RuleId::R6], "only R6 crosses G5");
    let r6 = &e.findings[0];
    assert_eq!(r6.indicator, Indicator::Critical);
    assert!(matches!(r6.iup, IupStatus::Documented(_)));
    assert!(r6.has(&Modifier::DiagnosedInThisPregnancy));
    assert!(
        r6.evidence
            .iter()
            .any(|ev| ev.role == Role::Diagnosis && ev.id == "ectopic")
    );
}

#[test]
fn methotrexate_beside_a_diagnosed_ectopic_in_an_ivf_pregnancy_is_critical() {
    let ivf = cond(
        "ivf",
        ICD10CM,
        "O09.811",
        "IVF pregnancy",
        Some(days_ago(30)),
    );
    let e = run_with(
        &knowledge(),
        vec![pregnant(), lmp(49), ivf, ectopic_now()],
        vec![methotrexate()],
    );
    let r6 = finding(&e, RuleId::R6);
    assert_eq!(r6.indicator, Indicator::Critical);
    assert!(r6.has(&Modifier::RiskFactor(RiskFactor::ArtConception)));
}

#[test]
fn methotrexate_for_a_diagnosed_ectopic_alone_is_left_to_the_managing_team() {
    let e = run_with(
        &knowledge(),
        vec![pregnant(), lmp(49), ectopic_now(), bleed("bleeding")],
        vec![methotrexate()],
    );
    assert!(e.findings.is_empty(), "{:?}", e.rules());
}

// ----- Item 13: R14 from 20w0d ---------------------------------------------------------------------

#[test]
fn bleeding_at_19w6d_gets_r9_and_at_20w0d_r14_with_r9_folded_in() {
    let e = run(vec![pregnant(), lmp(139), bleed("bleeding")]);
    assert_eq!(e.rules(), vec![RuleId::R9]);
    let e = run(vec![pregnant(), lmp(140), bleed("bleeding")]);
    assert_eq!(e.rules(), vec![RuleId::R14]);
    let r14 = &e.findings[0];
    assert_eq!(r14.indicator, Indicator::Warning);
    assert!(r14.has(&Modifier::PlacentaNotLocated));
    assert!(!r14.has(&Modifier::KleihauerBetke));
}

#[test]
fn r14_fires_even_when_the_placenta_is_located_and_asks_for_kleihauer_betke_if_rh_negative() {
    let location = obs(
        "placenta",
        "urn:gravida:local",
        "placenta-not-previa",
        days_ago(30),
        None,
    );
    let e = run(vec![
        pregnant(),
        lmp(217),
        location,
        rh_negative(),
        bleed("bleeding"),
    ]);
    let r14 = finding(&e, RuleId::R14);
    assert!(!r14.has(&Modifier::PlacentaNotLocated));
    assert!(r14.has(&Modifier::KleihauerBetke));
    assert!(!e.rules().contains(&RuleId::R9));
}

#[test]
fn r14_with_a_documented_previa_says_so() {
    let previa = cond(
        "previa",
        SNOMED,
        "36813001",
        "Placenta previa",
        Some(days_ago(14)),
    );
    let e = run(vec![pregnant(), lmp(160), previa, bleed("bleeding")]);
    let r14 = finding(&e, RuleId::R14);
    assert!(r14.has(&Modifier::PreviaDocumented));
    assert!(r14.evidence.iter().any(|ev| ev.role == Role::Previa));
}

// ----- Item 12: R2E ----------------------------------------------------------------------------------

fn early_bleed_with(vitals: Vec<Record>) -> Evaluation {
    let mut records = vec![pregnant(), lmp(47), bleed("vaginal bleeding")];
    records.extend(vitals);
    run(records)
}

fn minutes_ago(minutes: i64) -> OffsetDateTime {
    NOW - Duration::minutes(minutes)
}

#[test]
fn the_6w5d_bleed_with_heart_rate_128_and_pressure_84_48_is_critical() {
    let e = early_bleed_with(vec![
        heart_rate("hr", 128.0, minutes_ago(30)),
        bp_panel("bp", 84.0, 48.0, minutes_ago(30)),
    ]);
    assert_eq!(e.max_indicator(), Some(Indicator::Critical));
    let card = &e.findings[0];
    assert_eq!(card.rule, RuleId::R2E);
    assert!(
        !e.rules().contains(&RuleId::R2),
        "R2 is escalated, not repeated"
    );
    assert!(card.has(&Modifier::EscalatedFrom(RuleId::R2)));
    assert!(card.has(&Modifier::RupturedEctopicPossible));
    assert_eq!(
        vital_signs(card),
        vec![
            VitalSign::SystolicBp,
            VitalSign::HeartRate,
            VitalSign::ShockIndex
        ]
    );
    let named: Vec<&str> = card
        .evidence
        .iter()
        .filter(|ev| ev.role == Role::VitalSign)
        .map(|ev| ev.id.as_str())
        .collect();
    assert_eq!(named, vec!["bp", "hr"]);
    let when = card.modifiers.iter().find_map(|m| match m {
        Modifier::Vital {
            sign: VitalSign::HeartRate,
            at,
            value,
            ..
        } => Some((*at, *value)),
        _ => None,
    });
    assert_eq!(when, Some((minutes_ago(30), 128.0)));
}

#[test]
fn systolic_pressure_89_escalates_and_90_does_not() {
    let e = early_bleed_with(vec![systolic("sbp", 89.0, minutes_ago(10))]);
    assert_eq!(
        vital_signs(finding(&e, RuleId::R2E)),
        vec![VitalSign::SystolicBp]
    );
    let e = early_bleed_with(vec![systolic("sbp", 90.0, minutes_ago(10))]);
    assert_eq!(e.rules(), vec![RuleId::R2]);
}

#[test]
fn heart_rate_121_escalates_and_120_does_not() {
    let e = early_bleed_with(vec![heart_rate("hr", 121.0, minutes_ago(10))]);
    assert_eq!(
        vital_signs(finding(&e, RuleId::R2E)),
        vec![VitalSign::HeartRate]
    );
    let e = early_bleed_with(vec![heart_rate("hr", 120.0, minutes_ago(10))]);
    assert_eq!(e.rules(), vec![RuleId::R2]);
}

#[test]
fn a_shock_index_of_0_9_escalates_and_0_89_does_not() {
    let e = early_bleed_with(vec![
        heart_rate("hr", 90.0, minutes_ago(10)),
        systolic("sbp", 100.0, minutes_ago(12)),
    ]);
    assert_eq!(
        vital_signs(finding(&e, RuleId::R2E)),
        vec![VitalSign::ShockIndex]
    );
    let e = early_bleed_with(vec![
        heart_rate("hr", 89.0, minutes_ago(10)),
        systolic("sbp", 100.0, minutes_ago(12)),
    ]);
    assert_eq!(e.rules(), vec![RuleId::R2]);
}

#[test]
fn a_heart_rate_and_a_pressure_taken_hours_apart_make_no_shock_index() {
    let e = early_bleed_with(vec![
        heart_rate("hr", 110.0, minutes_ago(10)),
        systolic("sbp", 100.0, minutes_ago(180)),
    ]);
    assert_eq!(e.rules(), vec![RuleId::R2]);
}

#[test]
fn only_vital_signs_of_the_last_24_hours_count() {
    let e = early_bleed_with(vec![heart_rate("hr", 140.0, minutes_ago(23 * 60 + 59))]);
    assert_eq!(e.findings[0].rule, RuleId::R2E);
    let e = early_bleed_with(vec![heart_rate("hr", 140.0, minutes_ago(24 * 60 + 1))]);
    assert_eq!(e.rules(), vec![RuleId::R2]);
}

#[test]
fn bleeding_worded_heavy_escalates_and_no_clots_does_not() {
    let e = run(vec![
        pregnant(),
        lmp(47),
        bleed("Heavy vaginal bleeding, soaking pads"),
    ]);
    let card = finding(&e, RuleId::R2E);
    assert!(card.has(&Modifier::HeavyBleeding));
    assert!(vital_signs(card).is_empty());
    let e = run(vec![
        pregnant(),
        lmp(47),
        bleed("light vaginal bleeding, no clots"),
    ]);
    assert_eq!(e.rules(), vec![RuleId::R2]);
}

#[test]
fn an_unreadable_vital_sign_is_named_and_neither_raises_nor_silences_a_card() {
    let mut unreadable = heart_rate("hr-text", 0.0, minutes_ago(10));
    unreadable.value = Some(Value::String("tachycardic".into()));
    let mut bound = systolic("sbp-bound", 80.0, minutes_ago(10));
    bound.value = Some(Value::Quantity {
        value: 80.0,
        unit: Some("mm[Hg]".into()),
        code: Some("mm[Hg]".into()),
        comparator: Some("<".into()),
    });
    let e = early_bleed_with(vec![unreadable.clone(), bound.clone()]);
    assert_eq!(e.rules(), vec![RuleId::R2], "a bound is not a measurement");
    for id in ["hr-text", "sbp-bound"] {
        assert!(
            e.findings[0].has(&Modifier::UnreadableVitalSign { id: id.into() }),
            "{id}"
        );
    }
    // Without a bleed, the same vital signs give no card at all.
    let e = run(vec![pregnant(), lmp(47), unreadable, bound]);
    assert!(e.findings.is_empty());
}

#[test]
fn an_escalated_r14_keeps_its_advice_and_does_not_say_ruptured_ectopic() {
    let e = run(vec![
        pregnant(),
        lmp(217),
        bleed("bleeding"),
        heart_rate("hr", 130.0, minutes_ago(5)),
    ]);
    let card = finding(&e, RuleId::R2E);
    assert!(card.has(&Modifier::EscalatedFrom(RuleId::R14)));
    assert!(card.has(&Modifier::PlacentaNotLocated));
    assert!(!card.has(&Modifier::RupturedEctopicPossible));
    assert!(!e.rules().contains(&RuleId::R14));
}

#[test]
fn escalation_keeps_the_other_cards_beside_it() {
    let e = run(vec![
        pregnant(),
        lmp(84),
        iup(),
        rh_negative(),
        bleed("bleeding"),
        systolic("sbp", 80.0, minutes_ago(5)),
    ]);
    assert_eq!(e.rules(), vec![RuleId::R2E, RuleId::R7]);
    assert!(finding(&e, RuleId::R2E).has(&Modifier::EscalatedFrom(RuleId::R4)));
}

#[test]
fn unstable_vital_signs_without_a_bleeding_card_give_no_card() {
    let e = run(vec![
        pregnant(),
        lmp(47),
        heart_rate("hr", 140.0, minutes_ago(5)),
    ]);
    assert!(e.findings.is_empty());
}

// ----- Item 15: R15 ----------------------------------------------------------------------------------

fn previous_miscarriages(count: i64) -> Record {
    obs(
        "g-p",
        LOINC,
        "11614-5",
        days_ago(40),
        Some(Value::Integer(count)),
    )
}

#[test]
fn r15_fires_at_15w6d_and_not_from_16w0d() {
    let e = run(vec![
        pregnant(),
        lmp(111),
        iup(),
        previous_miscarriages(1),
        bleed("bleeding"),
    ]);
    let r15 = finding(&e, RuleId::R15);
    assert_eq!(r15.indicator, Indicator::Info);
    assert!(
        r15.evidence
            .iter()
            .any(|ev| ev.role == Role::PreviousMiscarriage)
    );
    assert!(!r15.has(&Modifier::ProgesteroneOrder), "off by default");
    let e = run(vec![
        pregnant(),
        lmp(112),
        iup(),
        previous_miscarriages(1),
        bleed("bleeding"),
    ]);
    assert!(!e.rules().contains(&RuleId::R15));
}

#[test]
fn r15_needs_a_previous_miscarriage() {
    let e = run(vec![
        pregnant(),
        lmp(60),
        iup(),
        previous_miscarriages(0),
        bleed("bleeding"),
    ]);
    assert_eq!(e.rules(), vec![RuleId::R4]);
}

#[test]
fn r15_never_fires_without_a_documented_iup() {
    let e = run(vec![
        pregnant(),
        lmp(60),
        tvus(),
        previous_miscarriages(2),
        bleed("bleeding"),
    ]);
    assert_eq!(e.rules(), vec![RuleId::R2]);
}

#[test]
fn a_miscarriage_before_this_pregnancy_or_recurrent_loss_is_a_previous_miscarriage() {
    let earlier = cond(
        "mc",
        SNOMED,
        "17369002",
        "Miscarriage",
        Some(date!(2024 - 02 - 01)),
    );
    let recurrent = cond(
        "rpl",
        ICD10CM,
        "O26.21",
        "Pregnancy care for patient with recurrent pregnancy loss",
        Some(days_ago(20)),
    );
    for record in [earlier, recurrent] {
        let id = record.id.clone();
        let e = run(vec![pregnant(), lmp(60), iup(), record, bleed("bleeding")]);
        assert!(e.rules().contains(&RuleId::R15), "{id}");
    }
}

#[test]
fn the_progesterone_order_is_suggested_only_when_the_site_enables_it() {
    let mut kb = knowledge();
    kb.thresholds.r15_order_enabled = true;
    let e = run_with(
        &kb,
        vec![
            pregnant(),
            lmp(60),
            iup(),
            previous_miscarriages(3),
            bleed("bleeding"),
        ],
        Vec::new(),
    );
    assert!(finding(&e, RuleId::R15).has(&Modifier::ProgesteroneOrder));
}

// ----- Item 16: R5N ----------------------------------------------------------------------------------

/// A PUL at 6w3d with two hCG values `hours` apart, the second `second` for a first of 1,000.
fn pul_with_hcg(kb: &RulesKnowledge, second: f64, hours: i64) -> Evaluation {
    let later = NOW - Duration::hours(2);
    run_with(
        kb,
        vec![
            pregnant(),
            lmp(45),
            tvus(),
            bleed("spotting"),
            hcg("h1", 1000.0, later - Duration::hours(hours)),
            hcg("h2", second, later),
        ],
        Vec::new(),
    )
}

fn hcg_modifiers(e: &Evaluation) -> Vec<Modifier> {
    finding(e, RuleId::R2)
        .modifiers
        .iter()
        .filter(|m| {
            matches!(
                m,
                Modifier::HcgTrend(_) | Modifier::HcgNice(_) | Modifier::HcgReadingsDiffer
            )
        })
        .cloned()
        .collect()
}

fn nice_lead() -> RulesKnowledge {
    let mut kb = knowledge();
    kb.thresholds.hcg_trend_lead = HcgLead::Nice;
    kb
}

#[test]
fn a_rise_of_64_percent_is_read_alike_and_with_barnhart_leading_needs_no_text() {
    assert!(hcg_modifiers(&pul_with_hcg(&knowledge(), 1640.0, 48)).is_empty());
    let nice = hcg_modifiers(&pul_with_hcg(&nice_lead(), 1640.0, 48));
    assert_eq!(nice.len(), 1);
    assert!(matches!(
        nice[0],
        Modifier::HcgNice(NiceReading::Rise { .. })
    ));
}

#[test]
fn a_rise_of_63_percent_is_between_for_nice_and_adequate_for_barnhart_so_both_are_stated() {
    let m = hcg_modifiers(&pul_with_hcg(&knowledge(), 1630.0, 48));
    assert!(
        matches!(
            m.as_slice(),
            [
                Modifier::HcgTrend(HcgTrend::AdequateRise { .. }),
                Modifier::HcgReadingsDiffer,
                Modifier::HcgNice(NiceReading::Between { .. }),
            ]
        ),
        "{m:?}"
    );
    // NICE leading: the same two readings, NICE first.
    let m = hcg_modifiers(&pul_with_hcg(&nice_lead(), 1630.0, 48));
    assert!(
        matches!(
            m.as_slice(),
            [
                Modifier::HcgNice(NiceReading::Between { .. }),
                Modifier::HcgReadingsDiffer,
                Modifier::HcgTrend(HcgTrend::AdequateRise { .. }),
            ]
        ),
        "{m:?}"
    );
}

#[test]
fn a_fall_of_51_percent_is_read_alike_and_a_fall_of_50_percent_differs() {
    let m = hcg_modifiers(&pul_with_hcg(&knowledge(), 490.0, 48));
    assert!(
        matches!(m.as_slice(), [Modifier::HcgTrend(HcgTrend::Fall { .. })]),
        "{m:?}"
    );
    let m = hcg_modifiers(&pul_with_hcg(&nice_lead(), 490.0, 48));
    assert!(
        matches!(m.as_slice(), [Modifier::HcgNice(NiceReading::Fall { .. })]),
        "{m:?}"
    );
    let m = hcg_modifiers(&pul_with_hcg(&knowledge(), 500.0, 48));
    assert!(
        matches!(
            m.as_slice(),
            [
                Modifier::HcgTrend(HcgTrend::Fall { .. }),
                Modifier::HcgReadingsDiffer,
                Modifier::HcgNice(NiceReading::Between { .. }),
            ]
        ),
        "{m:?}"
    );
}

#[test]
fn a_slow_rise_is_read_alike_by_both() {
    let m = hcg_modifiers(&pul_with_hcg(&nice_lead(), 1200.0, 48));
    assert!(
        matches!(
            m.as_slice(),
            [Modifier::HcgNice(NiceReading::Between { .. })]
        ),
        "{m:?}"
    );
}

#[test]
fn nice_reads_only_pairs_up_to_72_hours_apart_and_only_in_a_pul() {
    // 80 h apart: Barnhart (24–96 h) still reads it, NICE does not.
    let m = hcg_modifiers(&pul_with_hcg(&nice_lead(), 2500.0, 80));
    assert!(
        m.iter().all(|m| !matches!(m, Modifier::HcgNice(_))),
        "{m:?}"
    );
    // No ultrasound: not a PUL, so no NICE reading.
    let later = NOW - Duration::hours(2);
    let e = run_with(
        &nice_lead(),
        vec![
            pregnant(),
            lmp(45),
            bleed("spotting"),
            hcg("h1", 1000.0, later - Duration::hours(48)),
            hcg("h2", 1630.0, later),
        ],
        Vec::new(),
    );
    assert!(hcg_modifiers(&e).is_empty());
}
