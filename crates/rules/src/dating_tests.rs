//! Unit tests of the dating classes of knowledge.md §3.6: partial dates as intervals (item 4)
//! and ART dating by conception date or embryo transfer (item 9), in every record kind they can
//! be charted in.

use time::{Date, Duration};

use crate::facts::{Code, Precision, Record, RecordKind, Value, When};
use crate::finding::{DatingSource, Finding};
use crate::ga::GestationalAge;
use crate::knowledge::{LOINC, SNOMED};
use crate::placenta_tests::{TODAY, cond, days_ago, lmp, obs, pregnant, run};
use crate::{Evaluation, Indicator, Modifier, RiskFactor, RuleId};

const CPT: &str = "http://www.ama-assn.org/go/cpt";

fn month_of(date: Date) -> When {
    let first = date.replace_day(1).unwrap();
    When {
        at: first.midnight().assume_utc(),
        precision: Precision::Month,
    }
}

/// An LMP written with month precision: the month of `date`.
fn lmp_month(date: Date) -> Record {
    obs(
        "lmp",
        LOINC,
        "8665-2",
        days_ago(1),
        Some(Value::DateTime(month_of(date))),
    )
}

fn rh_negative() -> Record {
    obs(
        "rh",
        LOINC,
        "10331-7",
        days_ago(20),
        Some(Value::Concept {
            codes: vec![Code::new(LOINC, "LA6577-6")],
            text: None,
        }),
    )
}

fn iup() -> Record {
    cond(
        "iup",
        SNOMED,
        "65727000",
        "Intrauterine pregnancy",
        Some(days_ago(20)),
    )
}

fn bleed(text: &str) -> Record {
    cond("bleed", SNOMED, "34842007", text, Some(TODAY))
}

fn find(e: &Evaluation, rule: RuleId) -> &Finding {
    e.findings
        .iter()
        .find(|f| f.rule == rule)
        .unwrap_or_else(|| panic!("no {rule:?}: {:?}", e.rules()))
}

fn range_of(f: &Finding) -> Option<(GestationalAge, GestationalAge)> {
    f.modifiers.iter().find_map(|m| match m {
        Modifier::GaRange { low, high, .. } => Some((*low, *high)),
        _ => None,
    })
}

fn ga(weeks: i64, days: i64) -> GestationalAge {
    GestationalAge::from_weeks_days(weeks, days)
}

// ----- §3.6 item 4: partial dates are intervals -------------------------------------------------

#[test]
fn an_lmp_recorded_as_a_month_whose_range_crosses_12w0d_follows_the_anti_d_warning_and_states_the_range()
 {
    // TODAY is 1 April 2025: an LMP in January 2025 gives GA 8w4d (31 Jan) to 12w6d (1 Jan).
    let e = run(vec![
        pregnant(),
        lmp_month(TODAY - Duration::days(80)),
        iup(),
        rh_negative(),
        bleed("Spotting"),
    ]);
    let r7 = find(&e, RuleId::R7);
    assert_eq!(r7.indicator, Indicator::Warning);
    assert_eq!(range_of(r7), Some((ga(8, 4), ga(12, 6))));
    assert!(e.findings.iter().all(|f| range_of(f).is_some()));
    let partial = r7.dating.as_ref().and_then(|d| d.partial).unwrap();
    assert_eq!(partial.precision, Precision::Month);
    // The same LMP written as a day gives no range.
    let e = run(vec![
        pregnant(),
        lmp(90),
        iup(),
        rh_negative(),
        bleed("Spotting"),
    ]);
    assert!(e.findings.iter().all(|f| range_of(f).is_none()));
}

#[test]
fn a_month_lmp_whose_early_end_is_implantation_follows_the_ectopic_warning_at_its_late_end() {
    // February 2025: GA 4w4d (28 Feb: R1, no card at all) to 8w3d (1 Feb: R2).
    let e = run(vec![
        pregnant(),
        lmp_month(TODAY - Duration::days(45)),
        bleed("Implantation bleeding"),
    ]);
    let r2 = find(&e, RuleId::R2);
    assert_eq!(r2.indicator, Indicator::Warning);
    assert_eq!(range_of(r2), Some((ga(4, 4), ga(8, 3))));
    // Dated to the day at 4w4d, the same bleed is implantation: no card.
    let e = run(vec![pregnant(), lmp(32), bleed("Implantation bleeding")]);
    assert!(e.findings.is_empty(), "{:?}", e.rules());
}

#[test]
fn a_gestational_age_measured_on_a_month_is_a_range_too() {
    // 10 weeks "in February 2025": GA today between 14w4d and 18w3d.
    let mut us = obs(
        "us",
        LOINC,
        "11888-5",
        TODAY,
        Some(Value::Quantity {
            value: 10.0,
            unit: Some("wk".into()),
            code: Some("wk".into()),
            comparator: None,
        }),
    );
    us.effective = Some(month_of(TODAY - Duration::days(45)));
    let e = run(vec![pregnant(), us, iup(), bleed("Spotting")]);
    let f = &e.findings[0];
    assert_eq!(range_of(f), Some((ga(14, 4), ga(18, 3))), "{:?}", e.rules());
}

// ----- §3.6 item 9: ART dating by conception date or embryo transfer ---------------------------

fn art_dated(e: &Evaluation) -> bool {
    e.findings.iter().any(|f| {
        f.dating
            .as_ref()
            .is_some_and(|d| d.source == DatingSource::Art)
    })
}

fn marked_art(f: &Finding) -> bool {
    f.has(&Modifier::RiskFactor(RiskFactor::ArtConception))
}

#[test]
fn a_conception_date_dates_the_pregnancy_two_weeks_before_it_and_outranks_the_lmp() {
    let conception = obs(
        "conception",
        LOINC,
        "33067-0",
        days_ago(14),
        Some(Value::DateTime(When::day(days_ago(35)))),
    );
    // The patient's LMP would give 4w2d, where "implantation" would be R1 and no card.
    let e = run(vec![
        pregnant(),
        conception,
        lmp(30),
        bleed("Implantation spotting"),
    ]);
    let r2 = find(&e, RuleId::R2);
    assert_eq!(r2.ga, Some(ga(7, 0)));
    assert!(art_dated(&e));
    assert!(marked_art(r2), "{:?}", r2.modifiers);
    assert!(r2.has(&Modifier::LabelImplausible), "{:?}", r2.modifiers);
}

fn transfer(kind: RecordKind, text: &str, value: Option<Value>) -> Record {
    let mut r = Record::new(kind, "et");
    r.codes = vec![Code::new(CPT, "58974")];
    r.text = vec![text.to_string()];
    r.status = Some(match kind {
        RecordKind::Procedure => "completed".into(),
        _ => "final".into(),
    });
    if kind == RecordKind::Condition {
        r.status = None;
        r.clinical_status = Some("active".into());
    }
    r.effective = Some(When::day(days_ago(28)));
    r.value = value;
    r
}

#[test]
fn an_embryo_transfer_with_the_embryos_age_dates_the_pregnancy_in_every_record_kind() {
    // 28 days after a day-5 transfer: 2w5d + 4w0d = 6w5d; after a day-3 one, 6w3d.
    for (record, expected) in [
        (
            transfer(
                RecordKind::Procedure,
                "Frozen embryo transfer (FET), single day 5 blastocyst",
                None,
            ),
            ga(6, 5),
        ),
        (
            transfer(
                RecordKind::Observation,
                "Embryo transfer",
                Some(Value::Integer(3)),
            ),
            ga(6, 3),
        ),
        (
            transfer(
                RecordKind::Observation,
                "Embryo transfer, day-5",
                Some(Value::DateTime(When::day(days_ago(28)))),
            ),
            ga(6, 5),
        ),
        (
            transfer(RecordKind::Condition, "Day 3 embryo transfer", None),
            ga(6, 3),
        ),
    ] {
        let kind = record.kind;
        let e = run(vec![pregnant(), record, bleed("Vaginal bleeding")]);
        let r2 = find(&e, RuleId::R2);
        assert_eq!(r2.ga, Some(expected), "{kind:?}");
        assert!(art_dated(&e), "{kind:?}");
        assert!(marked_art(r2), "{kind:?}: {:?}", r2.modifiers);
    }
}

#[test]
fn an_embryo_transfer_without_the_embryos_age_dates_nothing_but_is_an_art_conception() {
    let e = run(vec![
        pregnant(),
        transfer(RecordKind::Procedure, "Embryo transfer, intrauterine", None),
        lmp(40),
        bleed("Vaginal bleeding"),
    ]);
    let r2 = find(&e, RuleId::R2);
    // Dated by the LMP, not by the transfer.
    assert_eq!(r2.ga, Some(ga(5, 5)));
    assert!(!art_dated(&e));
    assert!(marked_art(r2), "{:?}", r2.modifiers);
    assert!(
        e.diagnostics
            .iter()
            .any(|d| d.id == "et" && d.message.contains("embryo's age")),
        "{:?}",
        e.diagnostics
    );
    // A transfer not done dates nothing.
    let mut planned = transfer(RecordKind::Procedure, "Day 5 embryo transfer", None);
    planned.status = Some("preparation".into());
    let e = run(vec![
        pregnant(),
        planned,
        lmp(40),
        bleed("Vaginal bleeding"),
    ]);
    assert!(!art_dated(&e));
}

#[test]
fn an_ultrasound_dates_the_pregnancy_over_an_lmp_recorded_as_a_month() {
    let us = obs(
        "us",
        LOINC,
        "11888-5",
        days_ago(30),
        Some(Value::Quantity {
            value: 8.0,
            unit: Some("wk".into()),
            code: Some("wk".into()),
            comparator: None,
        }),
    );
    let e = run(vec![
        pregnant(),
        lmp_month(TODAY - Duration::days(80)),
        us,
        iup(),
        bleed("Spotting"),
    ]);
    let f = &e.findings[0];
    assert_eq!(f.ga, Some(ga(12, 2)), "{:?}", e.rules());
    assert!(range_of(f).is_none());
    assert_eq!(
        f.dating.as_ref().map(|d| d.source),
        Some(DatingSource::Ultrasound)
    );
}
