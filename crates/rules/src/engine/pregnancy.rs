//! Pregnancy evidence and the pregnancy's end: the inputs of the gates G1 (a current pregnancy:
//! knowledge.md §3.4 item 2, §3.5 item 4, §3.6 item 7), G5 (ectopic, molar or EPL already
//! diagnosed in this pregnancy: §3.4 item 6, §3.5 item 9) and G2 (delivery, postpartum or an
//! induced abortion before the bleed: §3.5 items 2, 11, 20).

use time::{Date, Duration};

use super::Engine;
use super::read::{Rec, is_active, is_confirmed, procedure_done, record_date};
use crate::facts::{Record, RecordKind, Value};
use crate::finding::{Modifier, Suspected};
use crate::ga::TERM_DAYS;
use crate::knowledge::class;
use crate::pregnancy_test::{self, TestResult};

impl<'a> Engine<'a> {
    /// Pregnancy evidence dated `date` counts for a bleed on `reference` only when dated within
    /// `pregnancy_evidence_max_age_days` before it (§3.5 item 4). Undated evidence counts.
    pub(super) fn fresh_evidence(&self, date: Option<Date>, reference: Date) -> bool {
        date.is_none_or(|d| {
            (reference - d).whole_days() <= self.kb.thresholds.pregnancy_evidence_max_age_days
        })
    }

    /// The date pregnancy evidence is measured back from: the latest current bleeding record's
    /// date (the bleed the card would be about), else today.
    pub(super) fn evidence_reference(&self, valid: &[Rec<'a>]) -> Date {
        valid
            .iter()
            .filter(|r| self.is_bleeding(r) && !self.answered_absent(r))
            .filter_map(|r| record_date(r))
            .filter(|d| !self.is_future(*d))
            .max()
            .map_or(self.today, |d| d.min(self.today))
    }

    /// §3.4 item 2. The latest positive evidence must not be older than the latest "not pregnant".
    ///
    /// `future` holds the records set aside as dated in the future: positive evidence among them
    /// still counts, undated (being evaluated is the cautious side); a "not pregnant" does not.
    ///
    /// `Err` is G1; it holds the negative pregnancy test that decided it, when one did (dated
    /// after the bleed and after every positive evidence, and no older than a "not pregnant"
    /// status: §3.6 item 7), for R2R to read. On one day a quantitative result is preferred to a
    /// qualitative one: it is the one the note can quote.
    pub(super) fn pregnancy_evidence(
        &self,
        valid: &[Rec<'a>],
        future: &[Rec<'a>],
    ) -> Result<(), Option<Rec<'a>>> {
        let vs = &self.kb.value_sets;
        let t = &self.kb.thresholds;
        let reference = self.evidence_reference(valid);
        let mut latest_negative: Option<Date> = None;
        let mut latest_status: Option<(Date, bool)> = None;
        // Positive evidence dates; `None` means undated evidence.
        let mut positive: Vec<Option<Date>> = Vec::new();
        // A negative test gates only when dated after the bleed (§3.6 item 7): one taken the
        // same day may precede it.
        let mut negative_test: Option<Date> = None;
        let mut deciding_test: Option<Rec<'a>> = None;
        let bleed_on = (reference < self.today
            || valid
                .iter()
                .any(|r| self.is_bleeding(r) && !self.answered_absent(r)))
        .then_some(reference);

        for record in future.iter().filter(|r| !r.history) {
            let pregnant_status = record.is(class::PREGNANCY_STATUS)
                && matches!(&record.value, Some(Value::Concept { codes, .. }) if vs.pregnant_answer.contains_any(codes));
            let condition = record.kind == RecordKind::Condition
                && is_active(record)
                && record.is(class::PREGNANCY_CONDITION);
            if pregnant_status || condition {
                positive.push(None);
            }
        }
        for record in valid.iter().filter(|r| !r.history) {
            // A bleeding record dated in the future is kept, undated.
            let date = record_date(record).filter(|d| !self.is_future(*d));
            // Stale evidence is no evidence (§3.5 item 4); a stale "not pregnant" still stands.
            let fresh = self.fresh_evidence(date, reference);
            // A pregnancy test, qualitative or quantitative, is evidence both ways (§3.6 item 7).
            if let Some(result) = pregnancy_test::read(self.kb, record, record.class) {
                match (result, date) {
                    (TestResult::Positive, _) if fresh => positive.push(date),
                    (TestResult::Negative, Some(d)) if bleed_on.is_none_or(|b| d > b) => {
                        let quantitative = |r: &Rec| r.is(class::HCG) && r.presence.is_none();
                        let later = negative_test.is_none_or(|n| d > n);
                        let same_day_better = negative_test == Some(d)
                            && quantitative(record)
                            && !deciding_test.is_some_and(|t| quantitative(&t));
                        if later || same_day_better {
                            deciding_test = Some(*record);
                        }
                        negative_test = negative_test.max(Some(d));
                    }
                    _ => {}
                }
                continue;
            }
            if record.is(class::PREGNANCY_STATUS)
                && let Some(Value::Concept { codes, .. }) = &record.value
            {
                let pregnant = vs.pregnant_answer.contains_any(codes);
                let not_pregnant = vs.not_pregnant_answer.contains_any(codes);
                if (pregnant || not_pregnant)
                    && let Some(d) = date
                    && latest_status.is_none_or(|(latest, _)| d >= latest)
                {
                    latest_status = Some((d, pregnant));
                }
                continue;
            }
            if record.kind == RecordKind::Condition
                && is_active(record)
                && record.is(class::PREGNANCY_CONDITION)
            {
                if fresh {
                    positive.push(date);
                }
                continue;
            }
            if record.kind == RecordKind::Observation && self.is_dating_code(record) {
                match &record.value {
                    // An EDD that has not passed by more than the tolerance, and that does not
                    // put the pregnancy's start in the future.
                    Some(Value::DateTime(w))
                        if !record.is(class::LMP_DATE | class::CONCEPTION_DATE)
                            && (self.today - w.date()).whole_days()
                                <= t.edd_passed_tolerance_days
                            && w.date()
                                .checked_sub(Duration::days(TERM_DAYS))
                                .is_some_and(|start| start <= self.today)
                            && fresh =>
                    {
                        positive.push(date);
                    }
                    // A GA Observation from the last 42 weeks.
                    Some(Value::Quantity { .. })
                        if date.is_some() && self.within_lookback(date) && fresh =>
                    {
                        positive.push(date);
                    }
                    _ => {}
                }
            }
        }
        match latest_status {
            Some((d, true)) if self.fresh_evidence(Some(d), reference) => positive.push(Some(d)),
            Some((_, true)) | None => {}
            Some((d, false)) => latest_negative = Some(d),
        }
        // The test decides only when no "not pregnant" status is newer than it.
        let deciding_test =
            deciding_test.filter(|_| negative_test.is_some_and(|t| latest_negative <= Some(t)));
        latest_negative = latest_negative.max(negative_test);
        let pregnant = match latest_negative {
            // Only evidence dated after the "not pregnant" status overrides it.
            Some(negative) => positive.iter().any(|p| p.is_some_and(|d| d > negative)),
            None => !positive.is_empty(),
        };
        if pregnant { Ok(()) } else { Err(deciding_test) }
    }

    /// G5: the confirmed ectopic, molar or EPL diagnoses of *this* pregnancy (§3.4 item 6, §3.5
    /// item 9). A diagnosis counts only when its onset (else its recorded date) is on or after
    /// the pregnancy's start and it did not resolve before it: a resolved ectopic from 2021 is a
    /// risk factor, not a reason for silence. An undated diagnosis never silences the cards.
    ///
    /// In the same pass, the latest hedged ectopic, molar or loss diagnosis of this pregnancy
    /// ("R/O ectopic", a provisional status: §3.6 item 2), which is never G5 but is named on
    /// every bleeding card as suspected ([`Modifier::Suspected`]).
    pub(super) fn diagnoses_in_pregnancy(
        &self,
        valid: &[Rec<'a>],
        start: Option<Date>,
    ) -> (Vec<&'a Record>, Option<Modifier>) {
        let mut confirmed = Vec::new();
        let mut hedged: Option<(&Rec<'a>, Suspected)> = None;
        for r in valid.iter().filter(|r| !r.history) {
            if r.hedged {
                if let Some(what) = self.suspected(r)
                    && self.diagnosed_in_pregnancy(r, start)
                    && hedged.is_none_or(|(h, _)| record_date(h) < record_date(r))
                {
                    hedged = Some((r, what));
                }
            } else if r.is(class::DIAGNOSED)
                && is_confirmed(r)
                && self.diagnosed_in_pregnancy(r, start)
            {
                confirmed.push(r.record);
            }
        }
        let hedged = hedged.map(|(r, what)| Modifier::Suspected {
            what,
            id: r.id.clone(),
            date: record_date(r),
        });
        (confirmed, hedged)
    }

    /// What a hedged diagnosis suspects, by its codes: ectopic, molar, else a loss; `None` for a
    /// hedged end of another kind (a delivery). Its codes are classified again, unmasked: an
    /// Encounter's reason is not read against the `already-diagnosed` set otherwise.
    fn suspected(&self, r: &Rec<'a>) -> Option<Suspected> {
        let all = self.kb.classify(&r.codes);
        if all & class::ECTOPIC != 0 {
            Some(Suspected::Ectopic)
        } else if self.kb.value_sets.molar_pregnancy.contains_any(&r.codes) {
            Some(Suspected::Molar)
        } else if all & class::DIAGNOSED != 0 {
            Some(Suspected::Loss)
        } else {
            None
        }
    }

    /// Whether a diagnosis is dated within the current pregnancy (see `diagnoses_in_pregnancy`).
    pub(super) fn diagnosed_in_pregnancy(&self, record: &Record, start: Option<Date>) -> bool {
        let Some(date) = record_date(record) else {
            return false;
        };
        match start {
            Some(s) => date >= s && record.abatement.is_none_or(|a| a.date() >= s),
            // Undated pregnancy: only a diagnosis within the GA lookback can be this one's.
            None => self.within_lookback(Some(date)),
        }
    }

    /// G2: delivery, postpartum, postpartum haemorrhage or induced abortion on or before the bleed.
    ///
    /// Coded (the `pregnancy-ended` value set), as a delivery-date Observation (its value is the
    /// delivery date), or named in the text of a record dated within the postpartum window
    /// ("postpartum", "s/p delivery", "PPH": knowledge.md §3.5 item 11). A history ("History of
    /// postpartum hemorrhage (2022)") ends nothing (§3.5 item 2).
    pub(super) fn pregnancy_ended(
        &self,
        valid: &[Rec<'a>],
        start: Option<Date>,
        bleed: Option<Date>,
    ) -> bool {
        valid.iter().any(|r| {
            if r.history {
                return false;
            }
            let coded = (r.is(class::ENDED) && is_confirmed(r) && !r.hedged)
                || (r.kind == RecordKind::Procedure
                    && r.is(class::PROCEDURE_ENDED)
                    && procedure_done(r));
            let delivery_date = r.kind == RecordKind::Observation && r.is(class::DELIVERY_DATE);
            let named = !coded && !delivery_date && r.postpartum_text;
            if !(coded || delivery_date || named) {
                return false;
            }
            let date = match &r.value {
                Some(Value::DateTime(w)) if delivery_date => Some(w.date()),
                _ => record_date(r),
            };
            match date {
                Some(ended) => {
                    let before_bleed = bleed.is_none_or(|b| ended <= b);
                    // Undated pregnancy: only an end within the GA lookback can be this one's.
                    let this_pregnancy = match start {
                        Some(s) => ended >= s,
                        None => self.within_lookback(Some(ended)),
                    };
                    before_bleed && this_pregnancy && !self.is_future(ended)
                }
                None => coded && r.kind == RecordKind::Condition && is_active(r),
            }
        })
    }
}
