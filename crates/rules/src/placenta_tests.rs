//! Unit tests of the late-pregnancy classes of knowledge.md §3.6: vasa previa as its own
//! concept (item 20) and a bloody show in labour at term (item 17).

use time::macros::{date, datetime};
use time::{Date, Duration, OffsetDateTime};

use crate::facts::{Code, PatientFacts, Record, RecordKind, Value, When};
use crate::knowledge::{LOINC, SNOMED};
use crate::testkit::knowledge;
use crate::{Evaluation, Indicator, Modifier, Role, RuleId, evaluate};

pub(crate) const NOW: OffsetDateTime = datetime!(2025-04-01 12:00 UTC);
pub(crate) const TODAY: Date = date!(2025 - 04 - 01);

pub(crate) fn days_ago(days: i64) -> Date {
    TODAY - Duration::days(days)
}

pub(crate) fn obs(id: &str, system: &str, code: &str, on: Date, value: Option<Value>) -> Record {
    let mut r = Record::new(RecordKind::Observation, id);
    r.codes = vec![Code::new(system.to_owned(), code)];
    r.status = Some("final".into());
    r.effective = Some(When::day(on));
    r.value = value;
    r
}

pub(crate) fn cond(id: &str, system: &str, code: &str, text: &str, on: Option<Date>) -> Record {
    let mut r = Record::new(RecordKind::Condition, id);
    if !code.is_empty() {
        r.codes = vec![Code::new(system.to_owned(), code)];
    }
    r.text = vec![text.to_string()];
    r.clinical_status = Some("active".into());
    r.verification_status = Some("confirmed".into());
    r.effective = on.map(When::day);
    r
}

pub(crate) fn pregnant() -> Record {
    obs(
        "status",
        LOINC,
        "82810-3",
        days_ago(10),
        Some(Value::Concept {
            codes: vec![Code::new(SNOMED, "77386006")],
            text: None,
        }),
    )
}

/// An LMP putting today at `ga_days`.
pub(crate) fn lmp(ga_days: i64) -> Record {
    obs(
        "lmp",
        LOINC,
        "8665-2",
        days_ago(1),
        Some(Value::DateTime(When::day(days_ago(ga_days)))),
    )
}

fn bleed(text: &str) -> Record {
    cond("bleed", SNOMED, "34842007", text, Some(TODAY))
}

pub(crate) fn run(records: Vec<Record>) -> Evaluation {
    evaluate(
        &knowledge(),
        &PatientFacts {
            records,
            ..Default::default()
        },
        NOW,
    )
}

pub(crate) fn highest(e: &Evaluation) -> Option<Indicator> {
    e.findings.iter().map(|f| f.indicator).max()
}

// ----- Item 20: vasa previa --------------------------------------------------------------------

fn vasa_coded() -> Record {
    cond(
        "vasa",
        SNOMED,
        "79668009",
        "Vasa praevia (velamentous insertion)",
        Some(days_ago(60)),
    )
}

#[test]
fn a_bleed_with_vasa_previa_coded_at_32_weeks_is_critical_and_names_the_vasa_previa_not_a_placenta_previa()
 {
    let e = run(vec![
        pregnant(),
        lmp(224),
        vasa_coded(),
        bleed("painless PV bleeding"),
    ]);
    let r14 = e
        .findings
        .iter()
        .find(|f| f.rule == RuleId::R14)
        .expect("R14");
    assert_eq!(r14.indicator, Indicator::Critical);
    assert!(r14.has(&Modifier::VasaPrevia));
    assert!(!r14.has(&Modifier::PreviaDocumented));
    assert!(
        r14.evidence
            .iter()
            .any(|ev| ev.role == Role::VasaPrevia && ev.id == "vasa")
    );
    assert!(!r14.evidence.iter().any(|ev| ev.role == Role::Previa));
}

#[test]
fn vasa_previa_named_only_in_words_on_an_ultrasound_report_counts_as_documented() {
    let mut report = Record::new(RecordKind::DiagnosticReport, "us");
    report.codes = vec![Code::new(LOINC, "11525-3")];
    report.status = Some("final".into());
    report.effective = Some(When::day(days_ago(70)));
    report.text = vec!["Anterior placenta. Vasa previa: vessel crossing the internal os.".into()];
    // 16w0d: R9's window, before R14's.
    let e = run(vec![pregnant(), lmp(112), report, bleed("spotting")]);
    let r9 = e
        .findings
        .iter()
        .find(|f| f.rule == RuleId::R9)
        .expect("R9");
    assert_eq!(r9.indicator, Indicator::Critical);
    assert!(r9.has(&Modifier::VasaPrevia));
}

#[test]
fn a_negated_or_resolved_vasa_previa_leaves_the_usual_warning() {
    let mut negated = Record::new(RecordKind::DiagnosticReport, "us");
    negated.status = Some("final".into());
    negated.effective = Some(When::day(days_ago(70)));
    negated.text = vec!["Cord insertion central; no vasa previa seen.".into()];
    let mut resolved = vasa_coded();
    resolved.clinical_status = Some("resolved".into());
    for record in [negated, resolved] {
        let e = run(vec![pregnant(), lmp(224), record, bleed("bleeding")]);
        assert_eq!(highest(&e), Some(Indicator::Warning), "{:?}", e.findings);
        assert!(!e.findings.iter().any(|f| f.has(&Modifier::VasaPrevia)));
    }
}

#[test]
fn vasa_previa_documented_in_an_earlier_pregnancy_does_not_make_this_bleed_critical() {
    let mut old = vasa_coded();
    old.effective = Some(When::day(days_ago(700)));
    let e = run(vec![pregnant(), lmp(224), old, bleed("bleeding")]);
    assert_eq!(highest(&e), Some(Indicator::Warning));
}

// ----- Item 17: a bloody show in labour at term ------------------------------------------------

/// A show charted as an Observation, as a labour ward's flowsheet writes it.
fn show(text: &str) -> Record {
    let mut r = obs("show", "urn:local", "vb", TODAY, None);
    r.text = vec!["Vaginal bleeding".into(), text.into()];
    r.value = Some(Value::String(text.into()));
    r
}

fn labour_condition() -> Record {
    cond(
        "labour",
        SNOMED,
        "",
        "Spontaneous labour at term, active phase",
        Some(TODAY),
    )
}

fn dilation() -> Record {
    let mut r = obs("cx", "urn:local", "cx", TODAY, None);
    r.text = vec!["Cervical dilation".into()];
    r
}

fn r14(e: &Evaluation) -> bool {
    e.findings.iter().any(|f| f.rule == RuleId::R14)
}

#[test]
fn a_bloody_show_in_labour_at_39_weeks_gets_no_abruption_and_previa_card() {
    for labour in [labour_condition(), dilation()] {
        let e = run(vec![
            pregnant(),
            lmp(275),
            labour,
            show("Bloody show, scant mucus"),
        ]);
        assert!(!r14(&e), "{:?}", e.findings);
    }
}

#[test]
fn the_same_show_before_37_weeks_or_with_no_sign_of_labour_keeps_the_triage_card() {
    let e = run(vec![
        pregnant(),
        lmp(258),
        labour_condition(),
        show("Bloody show"),
    ]);
    assert!(r14(&e), "36w6d is not term");
    let e = run(vec![pregnant(), lmp(275), show("Bloody show")]);
    assert!(r14(&e), "no labour on record");
    let mut old_labour = labour_condition();
    old_labour.effective = Some(When::day(days_ago(10)));
    let e = run(vec![pregnant(), lmp(275), old_labour, show("Bloody show")]);
    assert!(r14(&e), "a labour ten days ago is not this one");
}

#[test]
fn heavy_bleeding_or_abruption_wording_in_labour_is_never_taken_for_a_show() {
    let e = run(vec![
        pregnant(),
        lmp(275),
        labour_condition(),
        show("Bloody show, heavy with clots"),
    ]);
    assert!(!e.findings.is_empty(), "a heavy bleed keeps its card");
    for wording in [
        "Constant pain between contractions",
        "Tender uterus",
        "?abruption",
    ] {
        let pain = cond("pain", SNOMED, "", wording, Some(TODAY));
        let e = run(vec![
            pregnant(),
            lmp(275),
            labour_condition(),
            pain,
            show("Bloody show"),
        ]);
        assert!(r14(&e), "{wording}");
    }
}

#[test]
fn a_bleed_that_is_not_named_a_show_in_labour_keeps_the_triage_card() {
    let e = run(vec![
        pregnant(),
        lmp(275),
        labour_condition(),
        show("Bright red bleeding, ultrasound shows anterior placenta"),
    ]);
    assert!(r14(&e));
}

#[test]
fn a_show_in_labour_with_a_documented_vasa_previa_stays_critical() {
    let e = run(vec![
        pregnant(),
        lmp(275),
        labour_condition(),
        vasa_coded(),
        show("Bloody show"),
    ]);
    assert_eq!(highest(&e), Some(Indicator::Critical));
}
