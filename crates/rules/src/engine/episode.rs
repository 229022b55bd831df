//! Pregnancy episodes (knowledge.md §3.6 item 8): records belong to the pregnancy they fall in.
//!
//! An episode ends at a recorded end: a delivery or postpartum record, a confirmed miscarriage,
//! early pregnancy loss, ectopic or molar diagnosis, an induced abortion, or a uterine evacuation
//! or termination procedure charted as done. A **new** episode begins after the latest end only
//! when there is new evidence after it:
//!
//! - a positive pregnancy test after a value below 5 IU/L (a positive test alone may be the tail
//!   of the ended pregnancy), or a rising quantitative hCG;
//! - a new LMP, or an EDD whose implied start (EDD − 280 days) is after the end.
//!
//! A scan after the end is not enough by itself: an intrauterine pregnancy seen after an ectopic
//! is diagnosed may be the same conception (heterotopic pregnancy, §3.5 item 14), so a scan
//! counts through the dating it gives (an ultrasound EDD), not through its finding.
//!
//! When one has begun, the records of the earlier episode (dated on or before the end, or dating
//! records whose start precedes it) never date, confirm or gate the current one: they are set
//! aside. The ones that are risk factors (a previous miscarriage or ectopic, a history) are kept as
//! histories, which no gate reads. When none has begun, the current pregnancy is the one that
//! ended, and a bleed after its end meets G2 as before.
//!
//! Rh type is a fact about the person, not the pregnancy (§3.6 C1): it is never set aside.

use time::{Date, Duration};

use super::{Engine, Rec, is_confirmed, procedure_done, record_date};
use crate::facts::{RecordKind, Value};
use crate::ga::TERM_DAYS;
use crate::knowledge::class;
use crate::pregnancy_test::{self, TestResult};

/// Records of an earlier episode kept, as histories, for the risk factors they are (§3.5 item 9).
const RISK_FACTORS: u64 = class::ECTOPIC
    | class::DIAGNOSED
    | class::PREVIOUS_MISCARRIAGE
    | class::MISCARRIAGE_COUNT
    | class::RECURRENT_LOSS
    | class::ART_CONCEPTION
    | class::IUD
    | class::PERSONAL_HISTORY;

/// About the person, whatever the pregnancy: never set aside.
/// Procedures that work a pregnancy up: a reason on one of them (a scan "for suspected ectopic")
/// is a question, never the end of the pregnancy.
const WORK_UP: u64 = class::PROCEDURE_ULTRASOUND
    | class::PROCEDURE_HCG
    | class::PROCEDURE_RH_TYPING
    | class::PROCEDURE_ANTI_D;

const PERSONAL: u64 = class::RH_TYPE | class::RH_NEGATIVE | class::RH_POSITIVE;

impl<'a> Engine<'a> {
    /// The records of the current episode: `valid` without the earlier episode's records.
    pub(super) fn current_episode(&self, valid: Vec<Rec<'a>>) -> Vec<Rec<'a>> {
        let Some(end) = self.latest_end(&valid) else {
            return valid;
        };
        if !self.new_episode_after(&valid, end) {
            return valid;
        }
        valid
            .into_iter()
            .filter_map(|mut rec| {
                if rec.is(PERSONAL) || !self.of_earlier_episode(&rec, end) {
                    return Some(rec);
                }
                if !rec.is(RISK_FACTORS) {
                    return None;
                }
                rec.history = true;
                rec.bleeding = false;
                rec.postpartum_text = false;
                Some(rec)
            })
            .collect()
    }

    /// The date of the latest recorded end of a pregnancy, if any.
    fn latest_end(&self, valid: &[Rec<'a>]) -> Option<Date> {
        valid
            .iter()
            .filter(|r| !r.history)
            .filter_map(|r| {
                let ends = match r.kind {
                    // Its reasonCode read like a Condition's code (§3.6 item 8): an evacuation
                    // for a miscarriage ends the episode as the miscarriage would; a work-up
                    // (a scan for a suspected ectopic) does not.
                    RecordKind::Procedure => {
                        let reason = self.kb.classify(&r.codes) & (class::ENDED | class::DIAGNOSED);
                        (r.is(class::PROCEDURE_ENDED) || (reason != 0 && !r.is(WORK_UP)))
                            && procedure_done(r)
                    }
                    // A hedged diagnosis ("R/O ectopic") ends nothing (§3.6 item 2).
                    RecordKind::Condition => {
                        r.is(class::ENDED | class::DIAGNOSED) && is_confirmed(r) && !r.hedged
                    }
                    _ => r.is(class::ENDED) && is_confirmed(r) && !r.hedged,
                };
                let delivery_date = r.kind == RecordKind::Observation && r.is(class::DELIVERY_DATE);
                match &r.value {
                    Some(Value::DateTime(w)) if delivery_date => Some(w.date()),
                    _ if ends => record_date(r),
                    _ => None,
                }
            })
            .filter(|d| !self.is_future(*d))
            .max()
    }

    /// Whether the chart holds new evidence of a pregnancy after `end` (see the module docs).
    fn new_episode_after(&self, valid: &[Rec<'a>], end: Date) -> bool {
        let mut below_5: Option<Date> = None;
        let mut quantities: Vec<(Date, f64)> = Vec::new();
        let mut positive_tests: Vec<Date> = Vec::new();
        for r in valid.iter().filter(|r| !r.history) {
            let Some(date) = record_date(r).filter(|d| *d > end) else {
                continue;
            };
            if self.starts_after(r, end) == Some(true) {
                return true;
            }
            match pregnancy_test::read(self.kb, r, r.class) {
                Some(TestResult::Negative) => below_5 = Some(below_5.map_or(date, |b| b.min(date))),
                Some(TestResult::Positive) => positive_tests.push(date),
                None => {}
            }
            if r.is(class::HCG)
                && let Some(Value::Quantity {
                    value,
                    comparator: None,
                    ..
                }) = &r.value
            {
                quantities.push((date, *value));
            }
        }
        // A positive test after a value below 5 IU/L.
        if below_5.is_some_and(|low| positive_tests.iter().any(|p| *p > low)) {
            return true;
        }
        // A rising hCG: a later value above an earlier one (a falling one is the tail of the
        // ended pregnancy).
        quantities.sort_by_key(|(d, _)| *d);
        quantities
            .windows(2)
            .any(|pair| pair[1].0 > pair[0].0 && pair[1].1 > pair[0].1)
    }

    /// Whether a dating record puts its pregnancy's start after `end` (`None`: not a dating
    /// record with a start).
    fn starts_after(&self, r: &Rec<'a>, end: Date) -> Option<bool> {
        let Some(Value::DateTime(w)) = &r.value else {
            return None;
        };
        let start = if r.is(class::LMP_DATE) {
            w.date()
        } else if r.is(class::CONCEPTION_DATE) {
            w.date()
                .checked_sub(Duration::days(self.kb.thresholds.ga_at_conception_days))?
        } else if r.is(class::DATING) {
            w.date().checked_sub(Duration::days(TERM_DAYS))?
        } else {
            return None;
        };
        Some(start > end)
    }

    /// Dated on or before the end, or a dating record whose pregnancy started before it.
    fn of_earlier_episode(&self, r: &Rec<'a>, end: Date) -> bool {
        record_date(r).is_some_and(|d| d <= end) || self.starts_after(r, end) == Some(false)
    }
}
