//! The decision table: gates G1–G5, rules R1–R15, read with knowledge.md §3.4 and §3.5 (binding)
//! and §8. This file holds the engine's state and the gate order, in one place (`Engine::run`);
//! the modules under `engine/` hold the rest.
//!
//! The engine works in three steps:
//! 1. classify the records once (valid or not, what each one is) using the value sets: the chart
//!    reading, `read.rs`; an earlier pregnancy episode's records set aside, `episode.rs`;
//! 2. derive the inputs, one module each: pregnancy evidence and the pregnancy's end
//!    (`pregnancy.rs`), dating (`dating.rs`), the bleed (`bleed.rs`), IUP status (`iup.rs`), Rh
//!    (`rh.rs`), the hCG trend (`hcg.rs`), vital signs (`vitals.rs`), risk factors (`risks.rs`);
//! 3. apply the gates (`run`, here), then the rules: R6 (`methotrexate.rs`), the decision table
//!    for a bleed, one function per rule family (`table.rs`) over the inputs derived before it
//!    (`inputs.rs`), then what is added to its cards (`escalation.rs`: R2 risk factors, R5N,
//!    R2E); and sort the findings (highest indicator first).
//!
//! Everything is a function of `(knowledge, facts, now)`: no clock, no I/O.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};

use time::{Date, OffsetDateTime};

use crate::facts::{PatientFacts, Record, RecordKind};
use crate::finding::{
    DateProblem, Diagnostic, Evaluation, Evidence, Finding, Indicator, IupStatus, Label, Modifier,
    RiskFactor, Role, RuleId,
};
use crate::knowledge::{RulesKnowledge, class};

mod abortifacient;
mod art;
mod bleed;
mod coded_bleed;
mod dating;
mod done;
mod episode;
mod escalation;
mod gtd;
mod hcg;
mod inputs;
mod iup;
mod methotrexate;
mod not_interpreted;
mod pregnancy;
mod read;
mod resolved;
mod rh;
mod risks;
mod table;
mod vitals;

pub(crate) use crate::pregnancy_test::hcg_unit_ok;
use read::{Rec, is_confirmed, is_valid, procedure_done, record_date};
use risks::add_risk_factors;
// The shock-index pairing and its readings, reached by the scaling tests.
#[cfg(test)]
pub(crate) use vitals::{Pairing, Reading};

/// Evaluates one patient's facts at `now`.
pub fn evaluate(kb: &RulesKnowledge, facts: &PatientFacts, now: OffsetDateTime) -> Evaluation {
    let never = AtomicBool::new(false);
    evaluate_unless(kb, facts, now, &never)
        .expect("the engine stops only when asked to, and nothing asks it to")
}

/// Like [`evaluate`], but gives up (`None`) once `stop` is raised: the caller's deadline passed,
/// or it no longer waits for the answer. The engine reads no clock; whoever holds the deadline
/// raises the flag, and the engine looks at it between its steps and every
/// [`STOP_CHECK_EVERY`] records of a step that reads them all, so that abandoned work ends soon.
pub fn evaluate_unless(
    kb: &RulesKnowledge,
    facts: &PatientFacts,
    now: OffsetDateTime,
    stop: &AtomicBool,
) -> Option<Evaluation> {
    // Today in the offset `now` was given in: the server passes the site's time zone
    // (knowledge.md §3.5 item 3), so this is the ward's calendar day, not UTC's.
    let today = now.date();
    let mut engine = Engine {
        kb,
        facts,
        now,
        today,
        diagnostics: Vec::new(),
        date_problems: Vec::new(),
        date_problem_keys: HashSet::new(),
        bleed_set_aside: false,
        stop,
    };
    engine.run()
}

/// How many records the engine reads between two looks at its stop flag.
pub const STOP_CHECK_EVERY: usize = 1024;

/// What makes a [`Modifier::ImpossibleDate`] the same as another: the record, the date, the
/// problem.
type DateProblemKey<'a> = (RecordKind, &'a str, Option<Date>, DateProblem);

/// The key of a modifier that names a date problem, borrowed from the modifier.
fn date_problem_key(m: &Modifier) -> Option<(RecordKind, &str, Option<Date>, DateProblem)> {
    match m {
        Modifier::ImpossibleDate {
            kind,
            id,
            date,
            problem,
        } => Some((*kind, id.as_str(), *date, *problem)),
        _ => None,
    }
}

struct Engine<'a> {
    kb: &'a RulesKnowledge,
    facts: &'a PatientFacts,
    /// The instant of the call: vital signs count within a window of hours before it (R2E).
    now: OffsetDateTime,
    /// `now` as a UTC calendar date: recency and lookbacks count whole days.
    today: Date,
    diagnostics: Vec<Diagnostic>,
    /// Records, or dates, set aside because no record of this pregnancy can have that date
    /// ([`Modifier::ImpossibleDate`]); every card names them.
    date_problems: Vec<Modifier>,
    /// The keys of `date_problems`, so that a record set aside twice is named once, in one hash
    /// lookup rather than a scan of every problem so far.
    date_problem_keys: HashSet<DateProblemKey<'a>>,
    /// A bleeding record was among them: the answer must then say so even if no rule fires.
    bleed_set_aside: bool,
    /// Raised by the caller to abandon the evaluation (see [`evaluate_unless`]).
    stop: &'a AtomicBool,
}

impl<'a> Engine<'a> {
    /// Whether the caller has asked the engine to give up.
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// The gate order, in one place: G3 (only valid records are read), the pregnancy episode
    /// (§3.6 item 8), G1 (pregnancy evidence), G5 (a diagnosis of this pregnancy: R6 alone),
    /// R6, then the bleed (G4 in `bleed`) unless the pregnancy ended before it (G2): the decision
    /// table, what is added to its cards, vasa previa, labour, anticoagulants; D1 when nothing
    /// fired but something was set aside or could not be read.
    fn run(&mut self) -> Option<Evaluation> {
        self.report_problems();
        // A record the engine reads that is dated in the future is not used: its date would give
        // an absurd gestational age, or an intrauterine pregnancy "documented" on a day that has
        // not come. A bleeding record stays, to be evaluated as undated (see `bleed`): dropping
        // it would pass the patient silently.
        let mut valid: Vec<Rec<'a>> = Vec::new();
        let mut future: Vec<Rec<'a>> = Vec::new();
        for (n, record) in self.facts.records.iter().enumerate() {
            if n.is_multiple_of(STOP_CHECK_EVERY) && self.stopped() {
                return None;
            }
            if !is_valid(record) {
                continue;
            }
            let rec = self.read(record);
            let in_future = record_date(record).is_some_and(|d| self.is_future(d));
            // (Ended pregnancies and diagnoses are gates, never bleeds: those are set aside.)
            let set_aside = in_future
                && rec.class != 0
                && (rec.is(class::ENDED | class::DIAGNOSED) || !self.is_bleeding(&rec));
            if set_aside {
                future.push(rec);
            } else {
                valid.push(rec);
            }
        }

        // Records of an earlier pregnancy episode never date, confirm or gate this one (§3.6 item 8).
        let valid = self.current_episode(valid);

        // G1: no current pregnancy evidence → nothing to say.
        if let Err(negative_test) = self.pregnancy_evidence(&valid, &future) {
            // A negative test that ends a pregnancy of unknown location being followed gives
            // R2R's note (§3.6 item 7); anything else, nothing.
            let note = negative_test.and_then(|test| self.pul_resolved(&valid, test));
            return Some(self.finish(note.into_iter().collect()));
        }
        if self.stopped() {
            return None;
        }
        for rec in &future {
            self.date_problem(rec.record, record_date(rec), DateProblem::InFuture);
        }
        let dating = self.dating(&valid);
        let start = dating.as_ref().map(|d| d.start);

        // Risk factors of ectopic and heterotopic pregnancy go on the card (§3.5 item 9).
        let risks = self.risk_factors(&valid, start, dating.as_ref());

        // G5: ectopic / molar / EPL already diagnosed in this pregnancy → the managing team owns
        // it; no card at all, except R6 when an IUP coexists or the pregnancy is an ART
        // conception: methotrexate is then absolutely contraindicated (§3.5 items 9 and 14).
        let (diagnoses, suspected) = self.diagnoses_in_pregnancy(&valid, start);
        if !diagnoses.is_empty() {
            let (iup_status, iup_evidence) = self.iup_status(&valid, start);
            let art = risks.iter().any(|(r, _)| *r == RiskFactor::ArtConception);
            let mut findings = Vec::new();
            if (matches!(iup_status, IupStatus::Documented(_)) || art)
                && !self.pregnancy_ended(&valid, start, None)
                && let Some(mut finding) = self.methotrexate(iup_status, &iup_evidence)
            {
                finding.modifiers.push(Modifier::DiagnosedInThisPregnancy);
                for r in &diagnoses {
                    finding.evidence.push(Evidence::record(
                        Role::Diagnosis,
                        r.kind,
                        &r.id,
                        record_date(r),
                    ));
                }
                add_risk_factors(&mut finding, &risks);
                findings.push(finding);
            }
            return Some(self.finish(findings));
        }
        if self.stopped() {
            return None;
        }

        let iup = self.iup_status(&valid, start);
        let iup_status = iup.0;
        let mut findings = Vec::new();
        // R6 needs a current pregnancy: not one that ended (delivery, postpartum, termination).
        if !self.pregnancy_ended(&valid, start, None)
            && let Some(mut finding) = self.methotrexate(iup.0, &iup.1)
        {
            add_risk_factors(&mut finding, &risks);
            findings.push(finding);
        }
        // R16: misoprostol or mifepristone before a loss is established (§3.6 item 14).
        if !self.facts.draft_orders.is_empty() && !self.pregnancy_ended(&valid, start, None) {
            let pregnancy = self.abortifacient_pregnancy(&valid, start, (iup.0, &iup.1));
            findings.extend(crate::abortifacient::guard(
                self.kb,
                &self.facts.draft_orders,
                &pregnancy,
            ));
        }
        if self.stopped() {
            return None;
        }
        if let Some(bleed) = self.bleed(&valid, start)
            && !self.pregnancy_ended(&valid, start, bleed.date)
        {
            let mut cards =
                self.bleed_findings(&valid, &bleed, dating.clone(), iup, suspected.is_some());
            self.refine(&valid, &bleed, start, iup_status, &risks, &mut cards);
            let vasa: Vec<(&Record, Option<Date>)> = valid
                .iter()
                .filter(|r| self.in_pregnancy(record_date(r), start))
                .filter(|r| crate::vasa::documents(r, self.kb))
                .map(|r| (r.record, record_date(r)))
                .collect();
            crate::vasa::apply(&vasa, &mut cards);
            let labour = crate::labour::Labour {
                bleed: bleed.record,
                records: valid.iter().map(|r| (r.record, record_date(r))).collect(),
                today: self.today,
            };
            crate::labour::apply(&labour, self.kb, &mut cards);
            let anticoagulants =
                crate::anticoag::current_anticoagulants(&self.facts.medications, &self.kb.text);
            crate::anticoag::apply(&anticoagulants, &mut cards);
            // A hedged ectopic, molar or loss diagnosis is said on every bleeding card (§3.6
            // item 2).
            if let Some(suspected) = &suspected {
                for card in &mut cards {
                    card.modifiers.push(suspected.clone());
                }
            }
            if let Some(gtd) = self.gtd_picture(&valid, start, iup_status) {
                for card in &mut cards {
                    card.modifiers.push(gtd.clone());
                }
            }
            // A test done today is not advised again (§3.6 item 16).
            let done = self.done_today(&valid);
            for card in &mut cards {
                card.modifiers.extend(done.iter().cloned());
            }
            findings.extend(cards);
        }
        // A record that could not be interpreted is named on every card (§3.6 item 13).
        let not_interpreted = self.not_interpreted();
        for finding in &mut findings {
            finding.modifiers.extend(not_interpreted.iter().cloned());
        }
        // Nothing fired, but a bleeding record was set aside for its date, or records were
        // refused or not interpreted: say so (D1) rather than answer with an unexplained silence.
        if findings.is_empty()
            && (self.bleed_set_aside
                || self.facts.refused_records > 0
                || !not_interpreted.is_empty())
        {
            findings.push(Finding {
                rule: RuleId::D1,
                indicator: Indicator::Info,
                ga: None,
                bleed_date: None,
                bleed_text: None,
                label: Label::Unspecified,
                iup: iup_status,
                dating,
                evidence: Vec::new(),
                modifiers: not_interpreted,
                draft_order: None,
            });
        }
        if self.stopped() {
            return None;
        }
        Some(self.finish(findings))
    }

    fn finish(&mut self, mut findings: Vec<Finding>) -> Evaluation {
        findings.sort_by(|a, b| b.indicator.cmp(&a.indicator).then(a.rule.cmp(&b.rule)));
        findings.dedup_by(|a, b| a.rule == b.rule);
        // What was set aside is said on every card: each card may be read alone.
        let mut set_aside = self.date_problems.clone();
        if self.facts.refused_records > 0 {
            set_aside.push(Modifier::RefusedRecords {
                count: self.facts.refused_records,
            });
        }
        // A finding may name some of them already: those are looked up in a set of its own
        // date problems, so attaching n problems costs n, not n².
        for finding in &mut findings {
            let named: HashSet<_> = finding
                .modifiers
                .iter()
                .filter_map(date_problem_key)
                .collect();
            let missing: Vec<Modifier> = set_aside
                .iter()
                .filter(|m| match date_problem_key(m) {
                    Some(key) => !named.contains(&key),
                    None => !finding.has(m),
                })
                .cloned()
                .collect();
            finding.modifiers.extend(missing);
        }
        Evaluation {
            findings,
            diagnostics: std::mem::take(&mut self.diagnostics),
        }
    }
}

/// Percentages are compared with this slack so that a 21.0 % fall counts as 21 %.
const ROUNDING: f64 = 1e-9;
