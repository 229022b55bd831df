//! The decision table: gates G1–G5, rules R1–R15, read with knowledge.md §3.4 and §3.5 (binding)
//! and §8.
//!
//! The engine works in three steps:
//! 1. classify the records once (valid or not, what each one is) using the value sets;
//! 2. derive the inputs: pregnancy evidence, dating, the bleed, IUP status, Rh, hCG trend;
//! 3. apply the gates, then the rules, and sort the findings (highest indicator first).
//!
//! Everything is a function of `(knowledge, facts, now)`: no clock, no I/O.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};

use time::{Date, Duration, OffsetDateTime};

use crate::facts::{DraftOrder, Field, PatientFacts, Presence, Record, RecordKind, Value, When};
use crate::finding::{
    DateProblem, Dating, DatingSource, Diagnostic, Evaluation, Evidence, Finding, HcgTrend,
    Indicator, IupStatus, Label, Modifier, NiceReading, RiskFactor, Role, RuleId, VitalSign,
    kind_name,
};
use crate::ga::{GestationalAge, TERM_DAYS};
use crate::knowledge::{HcgLead, RulesKnowledge, class};
use crate::pregnancy_test::{self, TestResult};
use crate::text;

mod coded_bleed;
mod episode;
mod not_interpreted;

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

/// A record counts unless it was refuted, entered in error or cancelled (G3).
fn is_valid(record: &Record) -> bool {
    if record.not_interpreted {
        return false;
    }
    let status_ok = !matches!(
        record.status.as_deref(),
        Some("entered-in-error" | "cancelled")
    );
    let verification_ok = !matches!(
        record.verification_status.as_deref(),
        Some("refuted" | "entered-in-error")
    );
    status_ok && verification_ok
}

/// A Condition whose clinical status is active, recurrence or relapse (or not stated).
fn is_active(record: &Record) -> bool {
    record.kind != RecordKind::Condition
        || matches!(
            record.clinical_status.as_deref(),
            None | Some("active" | "recurrence" | "relapse")
        )
}

/// A Condition whose diagnosis is confirmed (or not qualified).
fn is_confirmed(record: &Record) -> bool {
    !matches!(
        record.verification_status.as_deref(),
        Some("unconfirmed" | "provisional" | "differential")
    )
}

/// The record's clinical date: onset/effective, else recorded/issued.
fn record_date(record: &Record) -> Option<Date> {
    record.effective.or(record.recorded).map(|w| w.date())
}

/// The value sets a record of this kind may be classified by. An Encounter's codes are its
/// reasons (a suspected "intrauterine pregnancy" or "ectopic" reason documents nothing; a bleeding
/// or postpartum reason does: knowledge.md §3.5 items 8, 11). A Procedure's codes are read against
/// the `procedure-*` value sets only (§3.5 item 20).
fn kind_classes(kind: RecordKind) -> u64 {
    class::ANY_KIND
        | match kind {
            RecordKind::Encounter => class::BLEEDING | class::ENDED,
            RecordKind::Procedure => 0,
            // A medication record names a drug, never a finding (§3.6 item 10).
            RecordKind::MedicationAdministration
            | RecordKind::MedicationStatement
            | RecordKind::MedicationRequest
            | RecordKind::Immunization => 0,
            RecordKind::Condition | RecordKind::Observation | RecordKind::DiagnosticReport => {
                u64::MAX
            }
        }
}

/// The Conditions and Observations an Encounter's `reasonReference` may point at, by resource
/// type and id (the first record of that type and id, as a scan in record order would find).
type ReasonTargets<'a, 'v> = HashMap<(&'static str, &'v str), Rec<'a>>;

/// [`ReasonTargets`] of `valid`, built once per evaluation step that reads reasons.
fn reason_targets<'a, 'v>(valid: &'v [Rec<'a>]) -> ReasonTargets<'a, 'v> {
    let mut targets = HashMap::new();
    for r in valid
        .iter()
        .filter(|r| matches!(r.kind, RecordKind::Condition | RecordKind::Observation))
    {
        targets
            .entry((r.kind.resource_type(), r.record.id.as_str()))
            .or_insert(*r);
    }
    targets
}

/// `Condition/abc` from a reference as written (`Condition/abc`, an absolute URL, or one with
/// `/_history/2`): the resource type and id it points at.
fn reference_target(reference: &str) -> Option<(&str, &str)> {
    let path = reference.split(['?', '#']).next().unwrap_or(reference);
    let path = match path.find("/_history/") {
        Some(at) => &path[..at],
        None => path,
    };
    let mut segments = path.rsplit('/');
    let id = segments.next().filter(|s| !s.is_empty())?;
    let kind = segments.next().filter(|s| !s.is_empty())?;
    Some((kind, id))
}

/// How a quantity with a comparator is written on a card: `<5 m[IU]/mL` (§3.5 item 5).
fn written_bound(value: f64, comparator: &str, unit: Option<&str>) -> String {
    let number = if value.is_finite() && value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{value:.0}")
    } else {
        value.to_string()
    };
    match unit.map(str::trim).filter(|u| !u.is_empty()) {
        Some(unit) => format!("{comparator}{number} {unit}"),
        None => format!("{comparator}{number}"),
    }
}

/// A Procedure charted as done: completed, or in progress. `not-done`, `preparation`, `stopped`,
/// `on-hold` and `unknown` say nothing was done (knowledge.md §3.5 item 20).
fn procedure_done(record: &Record) -> bool {
    matches!(record.status.as_deref(), Some("completed" | "in-progress"))
}

/// An Encounter that is happening now (knowledge.md §3.5 item 8: "the current … Encounter").
fn encounter_current(record: &Record) -> bool {
    matches!(
        record.status.as_deref(),
        Some("in-progress" | "arrived" | "triaged" | "onleave")
    )
}

/// What the Rh records say (knowledge.md §3.4 item 9, §3.5 items 4, 6, 20).
#[derive(Debug, Clone, Copy, Default)]
struct RhStatus<'a> {
    /// `Some(true)` RhD negative, `Some(false)` positive, `None` unknown.
    negative: Option<bool>,
    /// The record the type was read from.
    record: Option<&'a Record>,
    /// The latest Rh result of this pregnancy whose value could not be read ("Rh not readable").
    unreadable: Option<&'a Record>,
    /// Rh typing done (a Procedure, or a result with no value yet): the result is still needed.
    tested: Option<&'a Record>,
    /// The latest readable Rh result dated before this pregnancy's start: not used, but named,
    /// so that "not on record" is never said of a chart that holds one.
    earlier: Option<&'a Record>,
}

/// A valid record with the value sets its codes belong to (see [`RulesKnowledge::classify`]).
#[derive(Debug, Clone, Copy)]
struct Rec<'a> {
    record: &'a Record,
    class: u64,
    /// Named or coded as a personal history ("History of postpartum hemorrhage (2022)", Z87.x):
    /// neither a current bleed, nor pregnancy evidence, nor the end of this pregnancy (§3.5 item 2).
    history: bool,
    /// A current vaginal bleeding record by code or text (see [`Engine::reads_as_bleeding`]): read
    /// once, since several steps ask and the text scan is the engine's dearest per-record work.
    bleeding: bool,
    /// Names delivery or the postpartum state in its text, and is dated within the postpartum
    /// window (§3.5 item 11): read once, as `bleeding` is, for the gates that ask it again.
    postpartum_text: bool,
}

impl Rec<'_> {
    /// Whether the record's codes are in the value set(s) of `bits`.
    fn is(&self, bits: u64) -> bool {
        self.class & bits != 0
    }
}

impl std::ops::Deref for Rec<'_> {
    type Target = Record;
    fn deref(&self) -> &Record {
        self.record
    }
}

/// A dating Observation reduced to the pregnancy start it implies.
#[derive(Debug, Clone)]
struct DatingCandidate<'a> {
    source: DatingSource,
    record: &'a Record,
    start: Date,
    /// The Observation's own date (when the scan or the charting happened).
    date: Option<Date>,
}

/// The bleed being evaluated.
#[derive(Debug, Clone)]
struct Bleed<'a> {
    record: &'a Record,
    date: Option<Date>,
    from_recorded: bool,
    label: Label,
    /// The record's own date was impossible (named by a [`Modifier::ImpossibleDate`]).
    date_set_aside: bool,
}

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
        if !self.has_pregnancy_evidence(&valid, &future) {
            return Some(self.finish(Vec::new()));
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
        let diagnoses = self.diagnoses_in_pregnancy(&valid, start);
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
        if self.stopped() {
            return None;
        }
        if let Some(bleed) = self.bleed(&valid, start)
            && !self.pregnancy_ended(&valid, start, bleed.date)
        {
            let mut cards = self.bleed_findings(&valid, &bleed, dating.clone(), iup);
            self.refine(&valid, &bleed, start, iup_status, &risks, &mut cards);
            let vasa: Vec<(&Record, Option<Date>)> = valid
                .iter()
                .filter(|r| crate::vasa::documents(r, self.kb))
                .filter(|r| self.in_pregnancy(record_date(r), start))
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

    fn diagnose(&mut self, record: &Record, field: Option<Field>, message: &str) {
        self.diagnostics.push(Diagnostic {
            resource_type: kind_name(record.kind).to_string(),
            id: record.id.clone(),
            field,
            message: message.to_string(),
        });
    }

    /// Later than today by more than the tolerance: no record of this pregnancy can be dated so.
    fn is_future(&self, date: Date) -> bool {
        (date - self.today).whole_days() > self.kb.thresholds.future_tolerance_days
    }

    // ----- Reading one record (knowledge.md §3.5 "Reading the record") ------------------------

    /// Classifies a valid record: its value sets (as far as its kind allows) and whether it is a
    /// history rather than a current finding.
    fn read(&self, record: &'a Record) -> Rec<'a> {
        let displays = record.codes.iter().filter_map(|c| c.display.as_deref());
        let names = record
            .text
            .first()
            .map(String::as_str)
            .into_iter()
            .chain(displays);
        let class = self.kb.classify(&record.codes) & kind_classes(record.kind);
        let mut rec = Rec {
            record,
            class,
            history: class & class::PERSONAL_HISTORY != 0
                || text::names_history(names, &self.kb.text),
            bleeding: false,
            postpartum_text: false,
        };
        rec.bleeding = self.reads_as_bleeding(&rec);
        // Text alone says "postpartum" for 12 weeks, not for ever: the date is checked first,
        // so that a long chart's old records are never scanned for it.
        rec.postpartum_text = record.kind != RecordKind::Procedure
            && !record.kind.is_medication()
            && record_date(record).is_some_and(|d| {
                (self.today - d).whole_days() <= self.kb.thresholds.postpartum_window_days
            })
            && text::names_postpartum(&record.text, &self.kb.text_filters, &self.kb.text);
        rec
    }

    /// A current vaginal bleeding record by code, or by (non-negated) text (§3.4 item 10). Not a
    /// history (§3.5 item 2), and not bleeding from another site or of another cause (item 18):
    /// a bleeding code wins; another site's code rules the record out; text that names another
    /// site counts only with a genital-tract or obstetric context.
    fn reads_as_bleeding(&self, rec: &Rec) -> bool {
        if rec.history || rec.kind == RecordKind::Procedure || rec.kind.is_medication() {
            return false;
        }
        if rec.is(class::BLEEDING) {
            return true;
        }
        if rec.is(class::BLEEDING_OTHER_SITE) || self.coded_as_another_bleed(rec) {
            return false;
        }
        text::scan(&rec.text, &self.kb.text_filters, &self.kb.text).bleeding
            && !text::names_other_site(&rec.text, &self.kb.text)
    }

    /// A current vaginal bleeding record (read once, by [`Engine::read`]).
    fn is_bleeding(&self, rec: &Rec) -> bool {
        rec.bleeding
    }

    /// The record answers its own question "absent": `valueBoolean` false, an absent answer
    /// coded (None, No, Absent, Negative) or written ("none", "denies"), or a name written as a
    /// label answered absent ("Vaginal bleeding: None") (§3.5 items 1 and 10).
    fn answered_absent(&self, record: &Record) -> bool {
        let t = &self.kb.text;
        let value_absent = match &record.value {
            Some(Value::Boolean(false)) => true,
            Some(Value::Concept { codes, text }) => {
                self.kb.value_sets.absent_answer.contains_any(codes)
                    || text.as_deref().is_some_and(|x| text::says_absent(x, t))
                    || codes
                        .iter()
                        .filter_map(|c| c.display.as_deref())
                        .any(|d| text::says_absent(d, t))
            }
            Some(Value::String(s)) => text::says_absent(s, t),
            _ => false,
        };
        value_absent
            || record.presence == Some(Presence::Absent)
            || record
                .text
                .first()
                .is_some_and(|name| text::labelled_absent(name, t))
    }

    /// An Encounter whose reason is a bleeding record among the facts (`reasonReference`, §3.5
    /// item 8): that record.
    ///
    /// `targets` is [`reason_targets`] of the same records: one hash lookup per reference, so
    /// that a chart of many Encounters costs their references, not references × records.
    fn bleeding_reason(
        &self,
        encounter: &Record,
        targets: &ReasonTargets<'a, '_>,
    ) -> Option<Rec<'a>> {
        if encounter.kind != RecordKind::Encounter {
            return None;
        }
        encounter.references.iter().find_map(|reference| {
            let target = reference_target(reference)?;
            targets
                .get(&target)
                .filter(|r| self.is_bleeding(r) && !self.answered_absent(r))
                .copied()
        })
    }

    /// A Procedure coded in `set`, charted as done, on a date that has come (§3.5 item 20).
    fn procedures<'s>(
        &'s self,
        valid: &'s [Rec<'a>],
        set: u64,
    ) -> impl Iterator<Item = &'s Rec<'a>> + 's {
        valid.iter().filter(move |r| {
            r.kind == RecordKind::Procedure
                && r.is(set)
                && procedure_done(r)
                && record_date(r).is_none_or(|d| !self.is_future(d))
        })
    }

    /// A result (hCG, ultrasound, Rh) counts only when dated on or after the current pregnancy's
    /// start (knowledge.md §3.5 item 4): an earlier pregnancy's results are not this one's.
    fn result_of_this_pregnancy(&self, record: &Record, start: Option<Date>) -> bool {
        match (record_date(record), start) {
            (Some(d), Some(s)) => d >= s,
            _ => true,
        }
    }

    /// Pregnancy evidence dated `date` counts for a bleed on `reference` only when dated within
    /// `pregnancy_evidence_max_age_days` before it (§3.5 item 4). Undated evidence counts.
    fn fresh_evidence(&self, date: Option<Date>, reference: Date) -> bool {
        date.is_none_or(|d| {
            (reference - d).whole_days() <= self.kb.thresholds.pregnancy_evidence_max_age_days
        })
    }

    /// The date pregnancy evidence is measured back from: the latest current bleeding record's
    /// date (the bleed the card would be about), else today.
    fn evidence_reference(&self, valid: &[Rec<'a>]) -> Date {
        valid
            .iter()
            .filter(|r| self.is_bleeding(r) && !self.answered_absent(r))
            .filter_map(|r| record_date(r))
            .filter(|d| !self.is_future(*d))
            .max()
            .map_or(self.today, |d| d.min(self.today))
    }

    /// Sets a record (or its date) aside, to be named on every card and in the diagnostics.
    fn date_problem(&mut self, record: &'a Record, date: Option<Date>, problem: DateProblem) {
        if !self
            .date_problem_keys
            .insert((record.kind, record.id.as_str(), date, problem))
        {
            return;
        }
        let modifier = Modifier::ImpossibleDate {
            kind: record.kind,
            id: record.id.clone(),
            date,
            problem,
        };
        let message = match problem {
            DateProblem::InFuture => "dated in the future; the date was not used",
            DateProblem::StartInFuture => "puts the pregnancy's start in the future; not used",
            DateProblem::BeforePregnancy => "bleed dated before this pregnancy; not used",
            DateProblem::ImpossibleGa => "gestational age no pregnancy can have; not used",
        };
        let field = match problem {
            DateProblem::StartInFuture | DateProblem::ImpossibleGa => Field::Value,
            DateProblem::InFuture | DateProblem::BeforePregnancy => Field::Effective,
        };
        self.diagnose(record, Some(field), message);
        self.date_problems.push(modifier);
    }

    /// Every problem the mapper recorded becomes a diagnostic: nothing is dropped silently.
    fn report_problems(&mut self) {
        for record in &self.facts.records {
            for problem in &record.problems {
                self.diagnose(record, Some(problem.field), &problem.message);
            }
        }
    }

    /// Within the GA lookback (42 weeks) of today, or undated.
    fn within_lookback(&self, date: Option<Date>) -> bool {
        match date {
            Some(d) => (self.today - d).whole_days() <= self.kb.thresholds.ga_lookback_days,
            None => true,
        }
    }

    /// In the current pregnancy: on or after its start, or (undated pregnancy) within the lookback.
    fn in_pregnancy(&self, date: Option<Date>, start: Option<Date>) -> bool {
        match (date, start) {
            (Some(d), Some(s)) => d >= s,
            _ => self.within_lookback(date),
        }
    }

    fn is_dating_code(&self, record: &Rec) -> bool {
        record.is(class::DATING)
    }

    // ----- G1 -----------------------------------------------------------------------------

    /// §3.4 item 2. The latest positive evidence must not be older than the latest "not pregnant".
    ///
    /// `future` holds the records set aside as dated in the future: positive evidence among them
    /// still counts, undated (being evaluated is the cautious side); a "not pregnant" does not.
    fn has_pregnancy_evidence(&self, valid: &[Rec<'a>], future: &[Rec<'a>]) -> bool {
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
                        if !record.is(class::LMP_DATE)
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
        latest_negative = latest_negative.max(negative_test);
        match latest_negative {
            // Only evidence dated after the "not pregnant" status overrides it.
            Some(negative) => positive.iter().any(|p| p.is_some_and(|d| d > negative)),
            None => !positive.is_empty(),
        }
    }

    // ----- Dating (§3.4 item 3) -----------------------------------------------------------

    fn dating_candidate(&mut self, rec: Rec<'a>) -> Option<DatingCandidate<'a>> {
        let record = rec.record;
        let source = if rec.is(class::DATING_ART) {
            DatingSource::Art
        } else if rec.is(class::DATING_EDD) {
            DatingSource::ChartedEdd
        } else if rec.is(class::DATING_ULTRASOUND) {
            DatingSource::Ultrasound
        } else if rec.is(class::DATING_LMP) {
            DatingSource::Lmp
        } else if rec.is(class::DATING_OTHER) {
            DatingSource::GaObservation
        } else {
            return None;
        };
        let date = record.effective.map(|w| w.date());
        let start = match &record.value {
            Some(Value::DateTime(w)) if rec.is(class::LMP_DATE) => w.date(),
            Some(Value::DateTime(w)) => w.date().checked_sub(Duration::days(TERM_DAYS))?,
            Some(Value::Quantity {
                value, unit, code, ..
            }) => {
                let ga = match ga_from_quantity(*value, code.as_deref().or(unit.as_deref())) {
                    GaQuantity::Ga(ga)
                        if (0..=self.kb.thresholds.max_gestational_age_days)
                            .contains(&ga.days()) =>
                    {
                        ga
                    }
                    GaQuantity::Ga(_) | GaQuantity::Impossible => {
                        self.date_problem(record, None, DateProblem::ImpossibleGa);
                        return None;
                    }
                    GaQuantity::BadUnit => {
                        self.diagnose(
                            record,
                            Some(Field::Value),
                            "gestational age unit is not weeks or days",
                        );
                        return None;
                    }
                };
                let Some(on) = date else {
                    self.diagnose(
                        record,
                        Some(Field::Effective),
                        "gestational age has no effective date to count from",
                    );
                    return None;
                };
                ga.start_when_on(on)?
            }
            Some(_) => {
                self.diagnose(
                    record,
                    Some(Field::Value),
                    "dating value is neither a date nor a quantity",
                );
                return None;
            }
            None => return None,
        };
        // A start after today is no pregnancy at all: a data problem, named on the card.
        if start > self.today {
            self.date_problem(record, Some(start), DateProblem::StartInFuture);
            return None;
        }
        // Not the current pregnancy: beyond term plus the EDD tolerance.
        let ga_today = (self.today - start).whole_days();
        if ga_today < 0 || ga_today > TERM_DAYS + self.kb.thresholds.edd_passed_tolerance_days {
            return None;
        }
        Some(DatingCandidate {
            source,
            record,
            start,
            date,
        })
    }

    fn dating(&mut self, valid: &[Rec<'a>]) -> Option<Dating> {
        let mut candidates = Vec::new();
        for record in valid {
            if record.kind != RecordKind::Observation || !self.is_dating_code(record) {
                continue;
            }
            if !self.within_lookback(record_date(record)) {
                continue;
            }
            if let Some(c) = self.dating_candidate(*record) {
                candidates.push(c);
            }
        }
        // Latest charted of a source, except ultrasound where the first scan dates the pregnancy.
        let latest = |source: DatingSource| {
            candidates
                .iter()
                .filter(|c| c.source == source)
                .max_by_key(|c| c.date)
                .cloned()
        };
        let first_us = candidates
            .iter()
            .filter(|c| c.source == DatingSource::Ultrasound)
            .min_by_key(|c| c.date.unwrap_or(Date::MAX))
            .cloned();
        let to_dating = |c: &DatingCandidate, redated: Option<i64>| Dating {
            source: c.source,
            start: c.start,
            record_id: c.record.id.clone(),
            record_date: c.date,
            redated_from_lmp_days: redated,
        };

        if let Some(c) = latest(DatingSource::Art) {
            return Some(to_dating(&c, None));
        }
        if let Some(c) = latest(DatingSource::ChartedEdd) {
            return Some(to_dating(&c, None));
        }
        let lmp = latest(DatingSource::Lmp);
        if let Some(us) = first_us {
            let Some(lmp) = &lmp else {
                return Some(to_dating(&us, None));
            };
            // CO 700: re-date when LMP and US differ by more than the threshold for the GA at the scan.
            let scan_date = us.date.unwrap_or(self.today);
            let ga_at_scan = (scan_date - us.start).whole_days();
            let difference = (lmp.start - us.start).whole_days().abs();
            if difference > self.kb.thresholds.redating_threshold(ga_at_scan) {
                return Some(to_dating(&us, Some(difference)));
            }
            return Some(to_dating(lmp, None));
        }
        if let Some(c) = lmp {
            return Some(to_dating(&c, None));
        }
        latest(DatingSource::GaObservation).map(|c| to_dating(&c, None))
    }

    // ----- G5, G2 ----------------------------------------------------------------------------

    /// G5: the confirmed ectopic, molar or EPL diagnoses of *this* pregnancy (§3.4 item 6, §3.5
    /// item 9). A diagnosis counts only when its onset (else its recorded date) is on or after
    /// the pregnancy's start and it did not resolve before it: a resolved ectopic from 2021 is a
    /// risk factor, not a reason for silence. An undated diagnosis never silences the cards.
    fn diagnoses_in_pregnancy(&self, valid: &[Rec<'a>], start: Option<Date>) -> Vec<&'a Record> {
        valid
            .iter()
            .filter(|r| {
                r.is(class::DIAGNOSED)
                    && !r.history
                    && is_confirmed(r)
                    && self.diagnosed_in_pregnancy(r, start)
            })
            .map(|r| r.record)
            .collect()
    }

    /// Whether a diagnosis is dated within the current pregnancy (see `diagnoses_in_pregnancy`).
    fn diagnosed_in_pregnancy(&self, record: &Record, start: Option<Date>) -> bool {
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
    fn pregnancy_ended(&self, valid: &[Rec<'a>], start: Option<Date>, bleed: Option<Date>) -> bool {
        valid.iter().any(|r| {
            if r.history {
                return false;
            }
            let coded = (r.is(class::ENDED) && is_confirmed(r))
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

    // ----- The bleed (§3.4 items 1, 10) ------------------------------------------------------

    fn bleed(&mut self, valid: &[Rec<'a>], start: Option<Date>) -> Option<Bleed<'a>> {
        let targets = reason_targets(valid);
        let mut dated: Vec<Bleed<'a>> = Vec::new();
        let mut undated: Vec<Bleed<'a>> = Vec::new();
        for record in valid {
            if matches!(
                record.kind,
                RecordKind::DiagnosticReport | RecordKind::Procedure
            ) {
                continue;
            }
            // Ended pregnancies and established diagnoses are gates, not bleeds.
            if record.is(class::ENDED) || record.is(class::DIAGNOSED) {
                continue;
            }
            // An Encounter is a bleeding record when its reason names bleeding, or points at a
            // bleeding Condition or Observation; it is dated by its start, and counts while it is
            // happening or within the recency window (§3.5 item 8). A planned one has not happened.
            let reason = self.bleeding_reason(record, &targets);
            if record.kind == RecordKind::Encounter && record.status.as_deref() == Some("planned") {
                continue;
            }
            if !(self.is_bleeding(record) || reason.is_some()) {
                continue;
            }
            // An Observation answering "no" / "absent" to a bleeding question is not a bleed.
            if self.answered_absent(record) {
                continue;
            }
            let mut words = text::scan(&record.text, &self.kb.text_filters, &self.kb.text);
            if let Some(reason) = reason {
                words.implantation |=
                    text::scan(&reason.text, &self.kb.text_filters, &self.kb.text).implantation;
            }
            // A date in the future is never used: the recorded date if that one is possible,
            // else the bleed is undated (its GA is today's), and the card names the record.
            let effective = record.effective.map(|w| w.date());
            let recorded = record.recorded.map(|w| w.date());
            let possible = |d: &Date| !self.is_future(*d);
            let (date, from_recorded) = match (effective, recorded) {
                (Some(e), _) if possible(&e) => (Some(e), false),
                (_, Some(r)) if possible(&r) => (Some(r), true),
                _ => (None, false),
            };
            let impossible = effective.or(recorded).filter(|d| !possible(d));
            if let Some(d) = impossible {
                self.date_problem(record.record, Some(d), DateProblem::InFuture);
                self.bleed_set_aside = true;
            }
            let label = if words.implantation {
                Label::Implantation
            } else {
                Label::Unspecified
            };
            let bleed = Bleed {
                record: record.record,
                date,
                from_recorded,
                label,
                date_set_aside: impossible.is_some(),
            };
            match date {
                Some(d) => {
                    let recent = (self.today - d).whole_days() <= self.kb.thresholds.recency_days;
                    let active = (record.kind == RecordKind::Condition
                        && record.clinical_status.is_some()
                        && is_active(record))
                        || (record.kind == RecordKind::Encounter && encounter_current(record));
                    // G4: before this pregnancy, or resolved before it started.
                    if let Some(s) = start {
                        let abated_before = record.abatement.is_some_and(|a| a.date() < s);
                        if d < s || abated_before {
                            // Still bleeding, says the chart, since well before this pregnancy
                            // began: a wrong date or a stale status. Not this pregnancy's bleed
                            // (G4), but named, so the chart can be corrected.
                            let margin = self.kb.thresholds.before_pregnancy_margin_days;
                            if active && !abated_before && (s - d).whole_days() > margin {
                                self.date_problem(
                                    record.record,
                                    Some(d),
                                    DateProblem::BeforePregnancy,
                                );
                                self.bleed_set_aside = true;
                            }
                            continue;
                        }
                    }
                    if recent || active {
                        dated.push(bleed);
                    }
                }
                None => undated.push(bleed),
            }
        }
        // The most recent bleed; on the same day, the labelled one (the card questions the label).
        dated
            .into_iter()
            .max_by_key(|b| {
                (
                    b.date,
                    b.record.effective.map(|w: When| w.at),
                    b.label == Label::Implantation,
                )
            })
            .or_else(|| undated.into_iter().next())
    }

    // ----- IUP / ultrasound (§3.4 item 4, §8) ------------------------------------------------

    fn iup_status(&self, valid: &[Rec<'a>], start: Option<Date>) -> (IupStatus, Vec<Evidence>) {
        let vs = &self.kb.value_sets;
        let mut iup_evidence = Vec::new();
        let mut us_evidence = Vec::new();
        let mut iup_date: Option<Option<Date>> = None;
        for record in valid {
            let date = record_date(record);
            if !self.in_pregnancy(date, start) {
                continue;
            }
            // A coded finding answered absent ("Intrauterine pregnancy: Absent") documents no IUP
            // (§3.5 item 10).
            let coded_iup = (record.is(class::IUP)
                || matches!(&record.value, Some(Value::Concept { codes, .. }) if vs.iup.contains_any(codes)))
                && !self.answered_absent(record);
            // Only a coded IUP can be hedged ("probable IUP"); read its text only then.
            let documents_iup = (coded_iup
                && is_confirmed(record)
                && !text::mentions(&record.text, &self.kb.text.hedge_terms, &self.kb.text))
                || (record.is(class::FETAL_HEART)
                    && (self.is_present(&record.value)
                        || record.presence == Some(Presence::Present)))
                || (record.is(class::CRL)
                    && matches!(record.value, Some(Value::Quantity { value, .. }) if value > 0.0));
            if documents_iup {
                iup_evidence.push(Evidence::record(
                    Role::IntrauterinePregnancy,
                    record.kind,
                    &record.id,
                    date,
                ));
                iup_date = Some(match (iup_date.flatten(), date) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    (a, b) => a.or(b),
                });
            }
            if record.kind != RecordKind::Condition && record.is(class::ULTRASOUND) {
                us_evidence.push(Evidence::record(
                    Role::Ultrasound,
                    record.kind,
                    &record.id,
                    date,
                ));
            }
        }
        // An ultrasound charted only as a Procedure is a TVUS performed on its date (§3.5 item 20).
        for record in self.procedures(valid, class::PROCEDURE_ULTRASOUND) {
            let date = record_date(record);
            if self.in_pregnancy(date, start) {
                us_evidence.push(Evidence::record(
                    Role::Ultrasound,
                    record.kind,
                    &record.id,
                    date,
                ));
            }
        }
        match iup_date {
            Some(d) => (IupStatus::Documented(d), iup_evidence),
            None if !us_evidence.is_empty() => (IupStatus::Pul, us_evidence),
            None => (IupStatus::NoUltrasound, Vec::new()),
        }
    }

    fn is_present(&self, value: &Option<Value>) -> bool {
        match value {
            Some(Value::Boolean(b)) => *b,
            Some(Value::Concept { codes, .. }) => {
                self.kb.value_sets.present_answer.contains_any(codes)
            }
            Some(Value::Quantity { value, .. }) => *value > 0.0,
            Some(Value::Integer(i)) => *i > 0,
            _ => false,
        }
    }

    // ----- R6 (§3.4 item 8) ------------------------------------------------------------------

    fn is_methotrexate(&self, order: &DraftOrder) -> bool {
        let coded = self.kb.value_sets.methotrexate.contains_any(&order.codes);
        let named = order.text.iter().any(|t| {
            let lower = t.to_lowercase();
            self.kb
                .text
                .methotrexate_terms
                .iter()
                .any(|term| lower.contains(term.as_str()))
        });
        let live = !matches!(
            order.status.as_deref(),
            Some("cancelled" | "entered-in-error" | "revoked" | "completed" | "stopped")
        );
        (coded || named) && live
    }

    fn methotrexate(&self, iup: IupStatus, iup_evidence: &[Evidence]) -> Option<Finding> {
        let order = self
            .facts
            .draft_orders
            .iter()
            .find(|o| self.is_methotrexate(o))?;
        let mut evidence = vec![Evidence {
            role: Role::DraftOrder,
            resource_type: order.resource_type.clone(),
            id: order.id.clone(),
            date: None,
        }];
        evidence.extend(iup_evidence.iter().cloned());
        let mut modifiers = Vec::new();
        // Methotrexate for rheumatoid arthritis is not a treatment of ectopic pregnancy: its card
        // speaks of teratogenicity (§3.6 W10). Which card fires does not change.
        let other_indication = order.reasons.iter().any(|reason| {
            let lower = reason.to_lowercase();
            self.kb
                .text
                .methotrexate_other_indication_terms
                .iter()
                .any(|term| lower.contains(term.as_str()))
        });
        if other_indication {
            modifiers.push(Modifier::OtherIndication);
        }
        if self
            .facts
            .unavailable
            .contains(&crate::facts::Input::Ultrasound)
        {
            modifiers.push(Modifier::Unavailable(crate::facts::Input::Ultrasound));
        }
        Some(Finding {
            rule: RuleId::R6,
            indicator: Indicator::Critical,
            ga: None,
            bleed_date: None,
            bleed_text: None,
            label: Label::Unspecified,
            iup,
            dating: None,
            evidence,
            modifiers,
            draft_order: Some((order.resource_type.clone(), order.id.clone())),
        })
    }

    // ----- Rh, hCG ---------------------------------------------------------------------------

    /// An Rh result's value read: `Some(Some(true))` negative, `Some(Some(false))` positive,
    /// `Some(None)` present but not readable, `None` no value yet (§3.5 item 6).
    fn rh_value(&self, record: &Record) -> Option<Option<bool>> {
        let vs = &self.kb.value_sets;
        let t = &self.kb.text;
        // Weak D, partial D: RhD negative for prophylaxis until genotyped (§3.6 item 11).
        if crate::rh_variant::names_variant(&record.value, t) {
            return Some(Some(true));
        }
        Some(match &record.value {
            Some(Value::Concept { codes, .. }) if vs.rh_negative.contains_any(codes) => Some(true),
            Some(Value::Concept { codes, .. }) if vs.rh_positive.contains_any(codes) => Some(false),
            // Uncoded, or coded locally: the concept's text, else its displays ("O Rh(D) neg").
            Some(Value::Concept { codes, text }) => text
                .as_deref()
                .and_then(|x| text::rh_from_text(x, t))
                .or_else(|| {
                    codes
                        .iter()
                        .filter_map(|c| c.display.as_deref())
                        .find_map(|d| text::rh_from_text(d, t))
                }),
            // An HL7v2-style string result: "Rh Negative", "O NEG", "D neg".
            Some(Value::String(x)) => text::rh_from_text(x, t),
            Some(_) => None,
            // A value that was there but could not be read is unreadable; no value is no result.
            None if record.problems.iter().any(|p| p.field == Field::Value) => None,
            None => return None,
        })
    }

    /// The Rh type, from the latest readable Rh result of this pregnancy, or a coded Rh finding
    /// (165746003, Z67.x1 negative; 165747007, Z67.x0 positive). Results before the pregnancy's
    /// start are an earlier pregnancy's (§3.5 item 4); a diagnosis of the blood type is not a
    /// result and counts whenever it was made.
    fn rh(&self, valid: &[Rec<'a>], start: Option<Date>) -> RhStatus<'a> {
        let mut status = RhStatus::default();
        let mut latest: Option<(Option<OffsetDateTime>, bool, &'a Record)> = None;
        let mut unreadable_at: Option<Option<OffsetDateTime>> = None;
        for record in valid {
            let result = record.kind != RecordKind::Condition;
            if result && !self.result_of_this_pregnancy(record, start) {
                let readable = (record.is(class::RH_TYPE)
                    && matches!(self.rh_value(record), Some(Some(_))))
                    || record.is(class::RH_NEGATIVE | class::RH_POSITIVE);
                let later = status
                    .earlier
                    .is_none_or(|e| record_date(e) <= record_date(record));
                if readable && later {
                    status.earlier = Some(record.record);
                }
                continue;
            }
            let at = record.effective.or(record.recorded).map(|w| w.at);
            let answer = if record.is(class::RH_TYPE) && result {
                match self.rh_value(record) {
                    Some(Some(negative)) => Some(negative),
                    Some(None) => {
                        if unreadable_at.is_none_or(|latest_at| at >= latest_at) {
                            unreadable_at = Some(at);
                            status.unreadable = Some(record.record);
                        }
                        None
                    }
                    None => {
                        status.tested = Some(record.record);
                        None
                    }
                }
            } else if record.is(class::RH_NEGATIVE) {
                Some(true)
            } else if record.is(class::RH_POSITIVE) {
                Some(false)
            } else {
                None
            };
            if let Some(negative) = answer
                && latest.is_none_or(|(latest_at, _, _)| at >= latest_at)
            {
                latest = Some((at, negative, record.record));
            }
        }
        // Rh typing charted only as a Procedure: tested, the result is still needed (item 20).
        for record in self.procedures(valid, class::PROCEDURE_RH_TYPING) {
            if self.result_of_this_pregnancy(record, start) {
                status.tested = Some(record.record);
            }
        }
        if let Some((_, negative, record)) = latest {
            status.negative = Some(negative);
            status.record = Some(record);
        }
        status
    }

    /// R5: the last two quantitative hCG values 24–96 h apart, normalised to 48 h.
    fn hcg_trend(&mut self, valid: &[Rec<'a>]) -> Option<(HcgTrend, Vec<Evidence>)> {
        let t = &self.kb.thresholds;
        let mut values: Vec<(OffsetDateTime, f64, &'a Record)> = Vec::new();
        for record in valid {
            if !record.is(class::HCG) {
                continue;
            }
            let Some(at) = record.effective.map(|w| w.at) else {
                continue;
            };
            match &record.value {
                // "<5" is a bound, never a number in a trend (§3.5 item 5): see `hcg_notes`.
                Some(Value::Quantity {
                    comparator: Some(_),
                    ..
                }) => {}
                Some(Value::Quantity {
                    value, unit, code, ..
                }) if hcg_unit_ok(code.as_deref().or(unit.as_deref())) && *value > 0.0 => {
                    values.push((at, *value, record.record));
                }
                Some(Value::Quantity { .. }) => {
                    self.diagnose(record, Some(Field::Value), "hCG unit is not mIU/mL or IU/L");
                }
                _ => {}
            }
        }
        values.sort_by_key(|(at, _, _)| *at);
        let (at2, v2, r2) = *values.last()?;
        let (at1, v1, r1) = values.iter().rev().skip(1).copied().find(|(at1, _, _)| {
            let hours = (at2 - *at1).as_seconds_f64() / 3600.0;
            hours >= t.hcg_pair_min_hours && hours <= t.hcg_pair_max_hours
        })?;
        let hours = (at2 - at1).as_seconds_f64() / 3600.0;
        let change = (v2 / v1).powf(48.0 / hours) - 1.0;
        let trend = if change < 0.0 {
            if -change >= t.hcg_min_decline - ROUNDING {
                HcgTrend::Fall { change }
            } else {
                HcgTrend::SlowFall { change }
            }
        } else {
            let minimum = t.min_rise_for(v1);
            if change < minimum - ROUNDING {
                HcgTrend::SlowRise { change, minimum }
            } else {
                return None;
            }
        };
        let evidence = vec![
            Evidence::record(Role::Hcg, r1.kind, &r1.id, Some(at1.date())),
            Evidence::record(Role::Hcg, r2.kind, &r2.id, Some(at2.date())),
        ];
        Some((trend, evidence))
    }

    /// What the card says about hCG results that are not numbers in a trend: the latest bound
    /// of this pregnancy ("<5 m[IU]/mL", shown as written; §3.5 item 5), and an hCG test charted
    /// as a Procedure with no result on record since (item 20).
    fn hcg_notes(&self, results: &[Rec<'a>]) -> Vec<Modifier> {
        let mut notes = Vec::new();
        let bound = results
            .iter()
            .filter(|r| r.is(class::HCG))
            .filter_map(|r| match &r.value {
                Some(Value::Quantity {
                    value,
                    unit,
                    code,
                    comparator: Some(comparator),
                }) => Some((
                    r.effective.or(r.recorded).map(|w| w.at),
                    r,
                    written_bound(*value, comparator, unit.as_deref().or(code.as_deref())),
                )),
                _ => None,
            })
            .max_by_key(|(at, _, _)| *at);
        // The latest hCG measured in this pregnancy, quoted as the lab wrote it: after a scan
        // with no intrauterine pregnancy the card leads with it and the repeat it calls for
        // (§3.6 W6).
        let last = results
            .iter()
            .filter(|r| r.is(class::HCG))
            .filter_map(|r| match &r.value {
                Some(Value::Quantity {
                    value,
                    unit,
                    code,
                    comparator: None,
                }) if value.is_finite() && *value > 0.0 => Some((
                    r.effective.or(r.recorded).map(|w| w.at),
                    r,
                    written_bound(*value, "", unit.as_deref().or(code.as_deref())),
                )),
                _ => None,
            })
            .max_by_key(|(at, _, _)| *at);
        if let Some((_, r, written)) = last {
            notes.push(Modifier::HcgLast {
                id: r.id.clone(),
                date: record_date(r),
                written,
            });
        }
        if let Some((_, r, written)) = bound {
            notes.push(Modifier::HcgBound {
                id: r.id.clone(),
                date: record_date(r),
                written,
            });
        }
        let latest_result = results
            .iter()
            .filter(|r| r.is(class::HCG) && r.value.is_some())
            .filter_map(|r| record_date(r))
            .max();
        let test = self
            .procedures(results, class::PROCEDURE_HCG)
            .filter_map(|r| record_date(r).map(|d| (d, r)))
            .max_by_key(|(d, _)| *d);
        if let Some((done, r)) = test
            && latest_result.is_none_or(|result| result < done)
        {
            notes.push(Modifier::HcgResultPending {
                id: r.id.clone(),
                date: Some(done),
            });
        }
        notes
    }

    /// Anti-D charted as given (a Procedure) within R7's protective window before `on`, or
    /// after it (§3.5 item 20, §3.4 item 9): the latest such record.
    fn anti_d_given(&self, valid: &[Rec<'a>], on: Date) -> Option<(&'a Record, Date)> {
        let window = self.kb.thresholds.rhig_window_weeks * 7;
        // A Procedure coded as anti-D (or with an anti-D product code), or a medication record
        // of anti-D given (§3.6 item 10: `crate::anti_d`), on a date that has come.
        let medications = valid.iter().filter(|r| {
            crate::anti_d::given_medication(r, r.class, &self.kb.text)
                && record_date(r).is_none_or(|d| !self.is_future(d))
        });
        self.procedures(valid, class::PROCEDURE_ANTI_D | class::MEDICATION_ANTI_D)
            .chain(medications)
            .filter_map(|r| record_date(r).map(|d| (r.record, d)))
            .filter(|(_, d)| (on - *d).whole_days() <= window)
            .max_by_key(|(_, d)| *d)
    }

    /// A vital sign (systolic pressure, heart rate, or a blood-pressure panel) from the recency
    /// window whose value cannot be read: it is named on the card, and never raises one
    /// ("Bad input", issue 16). The field that could not be read.
    fn unreadable_vital(&self, record: &Rec<'a>) -> Option<Field> {
        let vs = &self.kb.value_sets;
        let recent = record_date(record)
            .is_some_and(|d| (self.today - d).whole_days() <= self.kb.thresholds.recency_days);
        if record.kind != RecordKind::Observation || !recent {
            return None;
        }
        let number = |v: &Option<Value>| matches!(v, Some(Value::Quantity { value, comparator: None, .. }) if value.is_finite());
        if record.is(class::BP_PANEL) {
            let systolic = record
                .components
                .iter()
                .find(|c| vs.systolic_bp.contains_any(&c.codes));
            return match systolic {
                Some(c) if number(&c.value) => None,
                _ => Some(Field::Component),
            };
        }
        let vital = record.is(class::SYSTOLIC_BP | class::HEART_RATE);
        (vital && !number(&record.value)).then_some(Field::Value)
    }

    // ----- The rules -------------------------------------------------------------------------

    fn bleed_findings(
        &mut self,
        valid: &[Rec<'a>],
        bleed: &Bleed<'a>,
        dating: Option<Dating>,
        (iup, iup_evidence): (IupStatus, Vec<Evidence>),
    ) -> Vec<Finding> {
        let kb = self.kb;
        let t = &kb.thresholds;
        let start = dating.as_ref().map(|d| d.start);
        // Results of an earlier pregnancy are not this one's (§3.5 item 4).
        let results: Vec<Rec<'a>> = valid
            .iter()
            .filter(|r| self.result_of_this_pregnancy(r, start))
            .copied()
            .collect();
        // Computed first: it may add diagnostics (unreadable units), which needs `&mut self`.
        let hcg_trend = self.hcg_trend(&results);
        let hcg_notes = self.hcg_notes(&results);
        let in_pregnancy = |r: &&Rec<'a>| self.in_pregnancy(record_date(r), start);

        // The words the card quotes for the bleed: the record's first text that mentions
        // bleeding, else its first text (see `Finding::bleed_text`).
        let bleed_text = bleed
            .record
            .text
            .iter()
            .find(|t| text::mentions(std::slice::from_ref(*t), &kb.text.bleeding_terms, &kb.text))
            .or(bleed.record.text.first())
            .cloned();
        let mut evidence = vec![Evidence::record(
            Role::Bleed,
            bleed.record.kind,
            &bleed.record.id,
            bleed.date,
        )];
        if let Some(d) = &dating {
            evidence.push(Evidence {
                role: Role::Dating,
                resource_type: "Observation".to_string(),
                id: d.record_id.clone(),
                date: d.record_date,
            });
        }
        evidence.extend(iup_evidence.iter().cloned());

        let mut common = Vec::new();
        if bleed.date.is_none() {
            common.push(Modifier::BleedDateUnknown);
        } else if bleed.from_recorded && !bleed.date_set_aside {
            common.push(Modifier::BleedDateFromRecorded);
        }
        let rh = self.rh(valid, start);
        let (rh_negative, rh_record) = (rh.negative, rh.record);
        // Sensitised by a diagnosis, or by this pregnancy's antibody screen and identification
        // (§3.6 item 12).
        let sensitised = valid
            .iter()
            .any(|r| r.is(class::RH_SENSITISED) && is_active(r))
            || crate::alloimmune::by_laboratory(
                valid
                    .iter()
                    .filter(|r| r.kind == RecordKind::Observation)
                    .filter(|r| self.result_of_this_pregnancy(r, start))
                    .map(|r| r.record),
                self.kb.value_sets(),
            );
        if sensitised {
            common.push(Modifier::Alloimmunised);
        }
        let anti_d = self.anti_d_given(valid, bleed.date.unwrap_or(self.today));
        if let Some(r) = rh_record {
            evidence.push(Evidence::record(
                Role::RhType,
                r.kind,
                &r.id,
                record_date(r),
            ));
        }
        // Rh unknown asks for a type; a type on file is said instead, never asked for again
        // (issue 17 item 3); an unreadable one is named as such, never "not on record" (§3.5
        // item 6); typing done without a result asks for the result (item 20).
        match (rh_negative, rh.unreadable, rh.tested) {
            // A variant is said as such, never as a plain "RhD negative" (§3.6 item 11).
            (Some(true), _, _)
                if rh_record
                    .is_some_and(|r| crate::rh_variant::names_variant(&r.value, &self.kb.text)) =>
            {
                common.push(Modifier::RhVariant)
            }
            (Some(negative), _, _) => common.push(Modifier::RhOnRecord { negative }),
            _ if sensitised => {}
            (None, Some(r), _) => common.push(Modifier::RhUnreadable {
                id: r.id.clone(),
                date: record_date(r),
            }),
            (None, None, Some(r)) => common.push(Modifier::RhResultPending {
                id: r.id.clone(),
                date: record_date(r),
            }),
            (None, None, None) => match rh.earlier {
                Some(r) => common.push(Modifier::RhEarlierPregnancy {
                    id: r.id.clone(),
                    date: record_date(r),
                }),
                None => common.push(Modifier::RhUnknown),
            },
        }
        if rh_negative == Some(true)
            && let Some((r, date)) = anti_d
        {
            common.push(Modifier::AntiDGiven {
                id: r.id.clone(),
                date: Some(date),
            });
        }
        for input in &self.facts.unavailable {
            common.push(Modifier::Unavailable(*input));
        }
        // A record that could not be fully read is named in the card when it is one the decision
        // reads (or may be: a record whose code could not be read).
        for record in valid {
            // A bound ("<5") is not unreadable: it is shown as written (`hcg_notes`). An Rh value
            // that cannot be read is named by `RhUnreadable`.
            let bound = matches!(
                record.value,
                Some(Value::Quantity {
                    comparator: Some(_),
                    ..
                })
            );
            let named_elsewhere = rh
                .unreadable
                .is_some_and(|r| std::ptr::eq(r, record.record));
            let problem = record
                .problems
                .iter()
                .find(|p| !(bound && p.field == Field::Value))
                .map(|p| p.field)
                .or_else(|| self.unreadable_vital(record))
                .or_else(|| unreadable_hcg(record));
            let Some(field) = problem else {
                continue;
            };
            let procedure = record.kind == RecordKind::Procedure
                && record.is(class::PROCEDURE_ULTRASOUND
                    | class::PROCEDURE_RH_TYPING
                    | class::PROCEDURE_ANTI_D
                    | class::PROCEDURE_HCG);
            let vital = record.is(class::SYSTOLIC_BP | class::HEART_RATE | class::BP_PANEL);
            let relevant = record.codes.is_empty()
                || record.problems.iter().any(|p| p.field == Field::Code)
                || record.is(class::DATING
                    | class::BLEEDING
                    | class::HCG
                    | class::RH_TYPE
                    | class::PREGNANCY_STATUS)
                || self.is_bleeding(record)
                || procedure
                || vital;
            if relevant && !named_elsewhere {
                common.push(Modifier::UnreadableRecord {
                    id: record.id.clone(),
                    field,
                });
            }
        }

        let base = |rule: RuleId, indicator: Indicator, ga: Option<GestationalAge>| Finding {
            rule,
            indicator,
            ga,
            bleed_date: bleed.date,
            bleed_text: bleed_text.clone(),
            label: bleed.label,
            iup,
            dating: dating.clone(),
            evidence: evidence.clone(),
            modifiers: common.clone(),
            draft_order: None,
        };

        // R13: no usable dating.
        let Some(dating_ref) = &dating else {
            let mut f = base(RuleId::R13, Indicator::Warning, None);
            f.modifiers.extend(hcg_notes);
            return vec![f];
        };
        let on = bleed.date.unwrap_or(self.today);
        let ga = GestationalAge::on(dating_ref.start, on);
        let g = ga.days();
        let redated = dating_ref
            .redated_from_lmp_days
            .map(|days| Modifier::Redated { days });
        let label_modifier = match bleed.label {
            Label::Implantation if g > t.implantation_doubtful_max_days => {
                Some(Modifier::LabelImplausible)
            }
            Label::Implantation if g > t.implantation_plausible_max_days => {
                Some(Modifier::LabelDoubtful)
            }
            _ => None,
        };
        let with = |mut f: Finding, extra: &[Option<Modifier>]| {
            f.modifiers.extend(redated.iter().cloned());
            f.modifiers.extend(extra.iter().flatten().cloned());
            f
        };

        // R1 is terminal: implantation bleeding in the plausible window gets no card at all.
        if bleed.label == Label::Implantation && g <= t.implantation_plausible_max_days {
            return Vec::new();
        }

        let mut findings = Vec::new();
        let documented_iup = matches!(iup, IupStatus::Documented(_));
        let sch: Vec<&Rec<'a>> = valid
            .iter()
            .filter(|r| r.is(class::SCH))
            .filter(in_pregnancy)
            .collect();

        if g <= t.implantation_plausible_max_days {
            // R12 (policy switch): unlabelled bleeding before a sac is expected.
            if t.r12_enabled {
                let mut f = with(base(RuleId::R12, Indicator::Info, Some(ga)), &[]);
                f.modifiers.extend(hcg_notes.iter().cloned());
                findings.push(f);
            }
        } else if g <= t.early_window_max_days {
            if documented_iup {
                let sch_note = (!sch.is_empty()).then_some(Modifier::SubchorionicHematoma);
                if bleed.label == Label::Implantation {
                    findings.push(with(
                        base(RuleId::R3, Indicator::Info, Some(ga)),
                        &[label_modifier.clone(), sch_note],
                    ));
                } else {
                    findings.push(with(
                        base(RuleId::R4, Indicator::Info, Some(ga)),
                        &[sch_note],
                    ));
                }
            } else {
                let mut f = with(
                    base(RuleId::R2, Indicator::Warning, Some(ga)),
                    std::slice::from_ref(&label_modifier),
                );
                if let Some((trend, hcg_evidence)) = hcg_trend {
                    f.modifiers.push(Modifier::HcgTrend(trend));
                    f.evidence.extend(hcg_evidence);
                }
                f.modifiers.extend(hcg_notes.iter().cloned());
                findings.push(f);
            }
        }

        // R7 / R8: Rh negative, not sensitised.
        if rh_negative == Some(true) && !sensitised {
            if g >= t.anti_d_from_days {
                // Anti-D given within its protective window: nothing to consider (§3.5 item 20).
                if anti_d.is_none() {
                    findings.push(with(base(RuleId::R7, Indicator::Warning, Some(ga)), &[]));
                }
            } else if g > t.implantation_plausible_max_days || bleed.label != Label::Implantation {
                findings.push(with(base(RuleId::R8, Indicator::Info, Some(ga)), &[]));
            }
        }

        // R9: placenta previa not excluded from 14w0d. R14: from 20w0d, obstetric triage, into
        // which R9 folds (§3.5 item 13).
        if g >= t.previa_check_from_days {
            let previa: Vec<&Rec<'a>> = valid
                .iter()
                .filter(|r| r.is(class::PREVIA))
                .filter(in_pregnancy)
                .collect();
            let location: Vec<&Rec<'a>> = valid
                .iter()
                .filter(|r| r.is(class::PLACENTAL_LOCATION))
                .filter(in_pregnancy)
                .collect();
            if g >= t.obstetric_triage_from_days {
                let not_located = previa.is_empty() && location.is_empty();
                let mut f = with(
                    base(RuleId::R14, Indicator::Warning, Some(ga)),
                    &[
                        label_modifier.clone(),
                        (!previa.is_empty()).then_some(Modifier::PreviaDocumented),
                        not_located.then_some(Modifier::PlacentaNotLocated),
                        (rh_negative == Some(true)).then_some(Modifier::KleihauerBetke),
                    ],
                );
                for r in previa {
                    f.evidence.push(Evidence::record(
                        Role::Previa,
                        r.kind,
                        &r.id,
                        record_date(r),
                    ));
                }
                for r in location {
                    f.evidence.push(Evidence::record(
                        Role::PlacentalLocation,
                        r.kind,
                        &r.id,
                        record_date(r),
                    ));
                }
                findings.push(f);
            } else if !previa.is_empty() || location.is_empty() {
                let indicator = if g >= t.previa_warning_from_days {
                    Indicator::Warning
                } else {
                    Indicator::Info
                };
                let mut f = with(
                    base(RuleId::R9, indicator, Some(ga)),
                    &[
                        label_modifier.clone(),
                        (!previa.is_empty()).then_some(Modifier::PreviaDocumented),
                    ],
                );
                for r in previa {
                    f.evidence.push(Evidence::record(
                        Role::Previa,
                        r.kind,
                        &r.id,
                        record_date(r),
                    ));
                }
                findings.push(f);
            }
        }

        // R10: subchorionic hematoma with bleeding in a documented IUP.
        if documented_iup && !sch.is_empty() {
            let mut f = with(base(RuleId::R10, Indicator::Info, Some(ga)), &[]);
            for r in sch {
                f.evidence.push(Evidence::record(
                    Role::SubchorionicHematoma,
                    r.kind,
                    &r.id,
                    record_date(r),
                ));
            }
            findings.push(f);
        }

        // R15: bleeding before 16w0d in a documented IUP after a previous miscarriage: NICE
        // offers vaginal progesterone, ACOG does not routinely (§3.5 item 15). Never without a
        // documented IUP, so never for a PUL.
        if documented_iup
            && g < t.progesterone_before_days
            && let Some(previous) = self.previous_miscarriage(valid, start)
        {
            let mut f = with(
                base(RuleId::R15, Indicator::Info, Some(ga)),
                &[t.r15_order_enabled.then_some(Modifier::ProgesteroneOrder)],
            );
            f.evidence.push(Evidence::record(
                Role::PreviousMiscarriage,
                previous.kind,
                &previous.id,
                record_date(previous),
            ));
            findings.push(f);
        }
        findings
    }
}

// ----- Risk factors, escalation and the rules of §3.5 items 9 and 12–16 ------------------------

/// The bleeding cards an R2E card escalates, in order of preference: the card about the bleed
/// itself (R2–R4, R12, R13, R14, R9), not the Rh or hematoma notes beside it.
const ESCALATES: [RuleId; 7] = [
    RuleId::R2,
    RuleId::R3,
    RuleId::R4,
    RuleId::R13,
    RuleId::R14,
    RuleId::R9,
    RuleId::R12,
];

/// One systolic pressure or heart rate read from a record or a panel component.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Reading<'a> {
    pub(crate) at: OffsetDateTime,
    pub(crate) value: f64,
    pub(crate) record: &'a Record,
}

/// Adds the risk factors (and the records that show them) to a finding.
fn add_risk_factors(finding: &mut Finding, risks: &[(RiskFactor, Option<&Record>)]) {
    for (risk, record) in risks {
        let modifier = Modifier::RiskFactor(*risk);
        if !finding.has(&modifier) {
            finding.modifiers.push(modifier);
        }
        if let Some(r) = record
            && !finding.evidence.iter().any(|e| e.id == r.id)
        {
            finding.evidence.push(Evidence::record(
                Role::RiskFactor,
                r.kind,
                &r.id,
                record_date(r),
            ));
        }
    }
}

/// A quantity the engine may use as a number: no comparator (a bound is not a measurement,
/// §3.5 item 5), finite, positive and below `max`, with one of `units` (or none: the lab's
/// default).
fn measured(value: &Option<Value>, units: &[&str], max: f64) -> Option<f64> {
    let (v, unit) = match value {
        Some(Value::Quantity {
            value,
            unit,
            code,
            comparator: None,
        }) => (*value, code.as_deref().or(unit.as_deref())),
        Some(Value::Integer(i)) => (*i as f64, None),
        _ => return None,
    };
    let unit_ok = unit.is_none_or(|u| units.contains(&u.trim().to_ascii_lowercase().as_str()));
    (unit_ok && v.is_finite() && v > 0.0 && v < max).then_some(v)
}

/// No blood pressure or heart rate reaches this: a larger number is a charting error.
const VITAL_MAX: f64 = 400.0;

const PRESSURE_UNITS: &[&str] = &["mm[hg]", "mmhg", "mm hg"];
const RATE_UNITS: &[&str] = &[
    "/min",
    "1/min",
    "{beats}/min",
    "{beat}/min",
    "beats/min",
    "bpm",
];

/// Barnhart 2016 and NICE NG126 agree when both say "rising as an ongoing IUP would", both say
/// "falling", or both leave it open (a slow rise or slow fall, a change between NICE's limits).
fn same_reading(barnhart: HcgTrend, nice: NiceReading) -> bool {
    matches!(
        (barnhart, nice),
        (HcgTrend::AdequateRise { .. }, NiceReading::Rise { .. })
            | (HcgTrend::Fall { .. }, NiceReading::Fall { .. })
            | (
                HcgTrend::SlowRise { .. } | HcgTrend::SlowFall { .. },
                NiceReading::Between { .. }
            )
    )
}

impl<'a> Engine<'a> {
    /// §3.5 item 9: a prior ectopic (dated before this pregnancy, or undated), an IUD in situ, or
    /// an ART conception (coded, or the pregnancy dated by ART), each with the record that shows
    /// it (`None` for ART dating, which the card states already).
    fn risk_factors(
        &self,
        valid: &[Rec<'a>],
        start: Option<Date>,
        dating: Option<&Dating>,
    ) -> Vec<(RiskFactor, Option<&'a Record>)> {
        let margin = self.kb.thresholds.before_pregnancy_margin_days;
        let mut risks: Vec<(RiskFactor, Option<&'a Record>)> = Vec::new();
        let mut add = |risk: RiskFactor, record: Option<&'a Record>| {
            if !risks.iter().any(|(r, _)| *r == risk) {
                risks.push((risk, record));
            }
        };
        for r in valid {
            if r.is(class::ECTOPIC) && !self.diagnosed_in_pregnancy(r, start) {
                add(RiskFactor::PriorEctopic, Some(r.record));
            }
            if r.is(class::IUD) && is_active(r) && r.abatement.is_none() {
                add(RiskFactor::Iud, Some(r.record));
            }
            // Conception comes about two weeks after the pregnancy's start; ART records shortly
            // before it (stimulation, transfer) are this pregnancy's.
            let this_pregnancy = match (record_date(r), start) {
                (Some(d), Some(s)) => (s - d).whole_days() <= margin,
                (date, None) => self.within_lookback(date),
                (None, Some(_)) => true,
            };
            if r.is(class::ART_CONCEPTION) && this_pregnancy {
                add(RiskFactor::ArtConception, Some(r.record));
            }
        }
        if dating.is_some_and(|d| d.source == DatingSource::Art) {
            add(RiskFactor::ArtConception, None);
        }
        risks
    }

    /// R15's previous miscarriage: a count of previous spontaneous abortions ≥ 1, a miscarriage
    /// diagnosed before this pregnancy's start, or recurrent pregnancy loss (§3.5 item 15).
    fn previous_miscarriage(&self, valid: &[Rec<'a>], start: Option<Date>) -> Option<&'a Record> {
        valid
            .iter()
            .find(|r| {
                // A count is a count whatever its unit ({#}, none); a bound ("<1") is not one.
                let count = match &r.value {
                    Some(Value::Integer(n)) => Some(*n as f64),
                    Some(Value::Quantity {
                        value,
                        comparator: None,
                        ..
                    }) => Some(*value),
                    _ => None,
                };
                let counted = r.is(class::MISCARRIAGE_COUNT) && count.is_some_and(|n| n >= 1.0);
                let before = r.is(class::PREVIOUS_MISCARRIAGE)
                    && matches!((record_date(r), start), (Some(d), Some(s)) if d < s);
                counted || before || r.is(class::RECURRENT_LOSS)
            })
            .map(|r| r.record)
    }

    /// What §3.5 adds to the bleeding cards once they are made: risk factors on R2 (item 9), the
    /// NICE reading of the hCG pair in a PUL (R5N, item 16), then escalation (R2E, item 12).
    fn refine(
        &mut self,
        valid: &[Rec<'a>],
        bleed: &Bleed<'a>,
        start: Option<Date>,
        iup: IupStatus,
        risks: &[(RiskFactor, Option<&'a Record>)],
        findings: &mut Vec<Finding>,
    ) {
        if let Some(r2) = findings.iter_mut().find(|f| f.rule == RuleId::R2) {
            add_risk_factors(r2, risks);
            if iup == IupStatus::Pul {
                self.nice_hcg(valid, start, r2);
            }
        }
        self.escalate(valid, bleed, findings);
    }

    /// The last two quantitative hCG values of this pregnancy 24–96 h apart (as R5 reads them),
    /// measured values only: `(first, second, hours apart)`.
    fn hcg_pair(
        &self,
        valid: &[Rec<'a>],
        start: Option<Date>,
    ) -> Option<(Reading<'a>, Reading<'a>, f64)> {
        let t = &self.kb.thresholds;
        let mut values: Vec<Reading<'a>> = valid
            .iter()
            .filter(|r| r.is(class::HCG))
            .filter(|r| self.in_pregnancy(record_date(r), start))
            .filter_map(|r| {
                let at = r.effective?.at;
                let value = measured(
                    &r.value,
                    &["m[iu]/ml", "miu/ml", "[iu]/l", "iu/l", "mu/ml", "u/l"],
                    f64::MAX,
                )?;
                Some(Reading {
                    at,
                    value,
                    record: r.record,
                })
            })
            .collect();
        values.sort_by_key(|v| v.at);
        let second = *values.last()?;
        let hours = |first: &Reading| (second.at - first.at).as_seconds_f64() / 3600.0;
        let first = values
            .iter()
            .rev()
            .skip(1)
            .find(|v| (t.hcg_pair_min_hours..=t.hcg_pair_max_hours).contains(&hours(v)))?;
        Some((*first, second, hours(first)))
    }

    /// R5N: the NICE NG126 reading of a pair 24–72 h apart beside Barnhart's (R5). The profile's
    /// `hcg_trend_lead` says which reading the card gives first; when the two read the pair
    /// differently, the card states both.
    fn nice_hcg(&self, valid: &[Rec<'a>], start: Option<Date>, r2: &mut Finding) {
        let t = &self.kb.thresholds;
        let Some((first, second, hours)) = self.hcg_pair(valid, start) else {
            return;
        };
        if hours > t.nice_pair_max_hours {
            return;
        }
        let change = (second.value / first.value).powf(48.0 / hours) - 1.0;
        let nice = if change > t.nice_rise_above + ROUNDING {
            NiceReading::Rise { change }
        } else if -change > t.nice_fall_above + ROUNDING {
            NiceReading::Fall { change }
        } else {
            NiceReading::Between { change }
        };
        let minimum = t.min_rise_for(first.value);
        let barnhart = if change < 0.0 {
            if -change >= t.hcg_min_decline - ROUNDING {
                HcgTrend::Fall { change }
            } else {
                HcgTrend::SlowFall { change }
            }
        } else if change < minimum - ROUNDING {
            HcgTrend::SlowRise { change, minimum }
        } else {
            HcgTrend::AdequateRise { change, minimum }
        };
        let differ = !same_reading(barnhart, nice);
        let has_barnhart = r2
            .modifiers
            .iter()
            .any(|m| matches!(m, Modifier::HcgTrend(_)));
        match t.hcg_trend_lead {
            HcgLead::Barnhart => {
                if !differ {
                    return;
                }
                if !has_barnhart {
                    r2.modifiers.push(Modifier::HcgTrend(barnhart));
                }
                r2.modifiers.push(Modifier::HcgReadingsDiffer);
                r2.modifiers.push(Modifier::HcgNice(nice));
            }
            HcgLead::Nice => {
                r2.modifiers.retain(|m| !matches!(m, Modifier::HcgTrend(_)));
                r2.modifiers.push(Modifier::HcgNice(nice));
                if differ {
                    r2.modifiers.push(Modifier::HcgReadingsDiffer);
                    r2.modifiers.push(Modifier::HcgTrend(barnhart));
                }
            }
        }
        for reading in [first, second] {
            if !r2.evidence.iter().any(|e| e.id == reading.record.id) {
                r2.evidence.push(Evidence::record(
                    Role::Hcg,
                    reading.record.kind,
                    &reading.record.id,
                    Some(reading.at.date()),
                ));
            }
        }
    }

    /// R2E (§3.5 item 12): with any bleeding card, a vital sign of the last 24 h showing
    /// instability, or a bleeding record worded heavy, turns the card about the bleed into a
    /// critical one that leads with the emergency steps and keeps that card's advice after them.
    /// A vital sign that cannot be read is named on every card; alone it changes nothing.
    fn escalate(&self, valid: &[Rec<'a>], bleed: &Bleed<'a>, findings: &mut Vec<Finding>) {
        if findings.is_empty() {
            return;
        }
        let (signs, evidence, unreadable) = self.instability(valid);
        for finding in findings.iter_mut() {
            for id in &unreadable {
                finding
                    .modifiers
                    .push(Modifier::UnreadableVitalSign { id: id.clone() });
            }
        }
        let heavy = text::mentions(
            &bleed.record.text,
            &self.kb.text.heavy_bleeding_terms,
            &self.kb.text,
        );
        // "Most pregnancies with light bleeding continue" is said of light bleeding only
        // (§3.6 W7): R4 is told when the bleed is described otherwise.
        let moderate = text::mentions(
            &bleed.record.text,
            &self.kb.text.moderate_bleeding_terms,
            &self.kb.text,
        );
        if heavy || moderate {
            for finding in findings.iter_mut().filter(|f| f.rule == RuleId::R4) {
                finding.modifiers.push(Modifier::BleedNotLight);
            }
        }
        if signs.is_empty() && !heavy {
            return;
        }
        let primary = ESCALATES
            .iter()
            .find_map(|rule| findings.iter().position(|f| f.rule == *rule));
        let mut card = match primary {
            Some(i) => findings.remove(i),
            None => {
                let mut f = findings[0].clone();
                f.modifiers
                    .retain(|m| !matches!(m, Modifier::ProgesteroneOrder));
                f
            }
        };
        let mut lead = vec![Modifier::EscalatedFrom(card.rule)];
        if card
            .ga
            .is_none_or(|g| g.days() <= self.kb.thresholds.early_window_max_days)
        {
            lead.push(Modifier::RupturedEctopicPossible);
        }
        lead.extend(signs);
        if heavy {
            lead.push(Modifier::HeavyBleeding);
        }
        card.rule = RuleId::R2E;
        card.indicator = Indicator::Critical;
        card.modifiers.splice(0..0, lead);
        card.evidence.extend(evidence);
        findings.insert(0, card);
    }

    /// The vital signs of the last `vital_signs_window_hours` that show instability (the latest
    /// of each sign), their records as evidence, and the ids of vital signs that could not be
    /// read (no usable value, unit or date).
    fn instability(&self, valid: &[Rec<'a>]) -> (Vec<Modifier>, Vec<Evidence>, Vec<String>) {
        let vs = &self.kb.value_sets;
        let t = &self.kb.thresholds;
        let from = self.now - Duration::hours(t.vital_signs_window_hours);
        let until = self.now + Duration::days(t.future_tolerance_days);
        let mut pressures: Vec<Reading<'a>> = Vec::new();
        let mut rates: Vec<Reading<'a>> = Vec::new();
        let mut unreadable = Vec::new();
        for r in valid {
            let systolic = r.is(class::SYSTOLIC_BP);
            let rate = r.is(class::HEART_RATE);
            if !(systolic || rate || r.is(class::BP_PANEL)) {
                continue;
            }
            let Some(at) = r.effective.or(r.recorded).map(|w| w.at) else {
                unreadable.push(r.id.clone());
                continue;
            };
            if at < from {
                continue;
            }
            if at > until {
                unreadable.push(r.id.clone());
                continue;
            }
            let before = pressures.len() + rates.len();
            let mut read = |value: &Option<Value>, systolic: bool, rate: bool| {
                if systolic && let Some(value) = measured(value, PRESSURE_UNITS, VITAL_MAX) {
                    pressures.push(Reading {
                        at,
                        value,
                        record: r.record,
                    });
                }
                if rate && let Some(value) = measured(value, RATE_UNITS, VITAL_MAX) {
                    rates.push(Reading {
                        at,
                        value,
                        record: r.record,
                    });
                }
            };
            read(&r.value, systolic, rate);
            for c in &r.components {
                read(
                    &c.value,
                    vs.systolic_bp.contains_any(&c.codes),
                    vs.heart_rate.contains_any(&c.codes),
                );
            }
            if pressures.len() + rates.len() == before {
                unreadable.push(r.id.clone());
            }
        }
        // The latest reading (of two taken at once, the later given), in one pass.
        let latest =
            |readings: &mut Vec<Reading<'a>>| readings.iter().copied().max_by_key(|r| r.at);
        let mut low: Vec<Reading<'a>> = pressures
            .iter()
            .copied()
            .filter(|p| p.value < t.systolic_bp_below)
            .collect();
        let mut fast: Vec<Reading<'a>> = rates
            .iter()
            .copied()
            .filter(|r| r.value > t.heart_rate_above)
            .collect();
        // A shock index needs a heart rate and a systolic pressure taken together.
        let pairing = Duration::minutes(t.shock_index_pairing_minutes);
        let paired = Pairing::new(&pressures);
        let shock: Vec<(Reading<'a>, Reading<'a>)> = rates
            .iter()
            .filter_map(|rate| {
                let pressure = paired.nearest(rate.at, pairing)?;
                (rate.value / pressure.value >= t.shock_index_from - ROUNDING)
                    .then_some((*rate, pressure))
            })
            .collect();

        let mut signs = Vec::new();
        let mut evidence: Vec<Evidence> = Vec::new();
        let mut cite = |reading: &Reading<'a>| {
            if !evidence.iter().any(|e| e.id == reading.record.id) {
                evidence.push(Evidence::record(
                    Role::VitalSign,
                    reading.record.kind,
                    &reading.record.id,
                    Some(reading.at.date()),
                ));
            }
        };
        if let Some(p) = latest(&mut low) {
            cite(&p);
            signs.push(Modifier::Vital {
                sign: VitalSign::SystolicBp,
                value: p.value,
                at: p.at,
                id: p.record.id.clone(),
            });
        }
        if let Some(r) = latest(&mut fast) {
            cite(&r);
            signs.push(Modifier::Vital {
                sign: VitalSign::HeartRate,
                value: r.value,
                at: r.at,
                id: r.record.id.clone(),
            });
        }
        if let Some((rate, pressure)) = shock.iter().max_by_key(|(rate, _)| rate.at) {
            cite(rate);
            cite(pressure);
            signs.push(Modifier::Vital {
                sign: VitalSign::ShockIndex,
                value: rate.value / pressure.value,
                at: rate.at,
                id: rate.record.id.clone(),
            });
        }
        (signs, evidence, unreadable)
    }
}

/// The systolic pressures in time order, to find the one taken nearest a heart rate in
/// O(log n) (a shock index pairs the two: R2E, §3.5 item 12) instead of scanning them all for
/// every rate.
pub(crate) struct Pairing<'r, 'a> {
    /// `(taken at, position in the readings as given)`, sorted: among pressures taken at the
    /// same instant, the first given comes first.
    order: Vec<(OffsetDateTime, usize)>,
    readings: &'r [Reading<'a>],
}

impl<'r, 'a> Pairing<'r, 'a> {
    pub(crate) fn new(readings: &'r [Reading<'a>]) -> Self {
        let mut order: Vec<(OffsetDateTime, usize)> = readings
            .iter()
            .enumerate()
            .map(|(i, r)| (r.at, i))
            .collect();
        order.sort_unstable();
        Pairing { order, readings }
    }

    /// The pressure taken nearest `at`, within `window`; of two equally near, the one given
    /// first (what a scan in the order given, keeping the first minimum, would choose).
    pub(crate) fn nearest(&self, at: OffsetDateTime, window: Duration) -> Option<Reading<'a>> {
        // The first pressure taken at or after `at`, and the first of those taken at the
        // latest instant before it.
        let after = self.order.partition_point(|(t, _)| *t < at);
        let before = after.checked_sub(1).map(|last| {
            let t = self.order[last].0;
            self.order.partition_point(|(u, _)| *u < t)
        });
        [before, Some(after)]
            .into_iter()
            .flatten()
            .filter_map(|i| self.order.get(i))
            .map(|&(t, i)| ((t - at).abs(), i))
            .filter(|(distance, _)| *distance <= window)
            .min()
            .map(|(_, i)| self.readings[i])
    }
}

/// Percentages are compared with this slack so that a 21.0 % fall counts as 21 %.
const ROUNDING: f64 = 1e-9;

/// A GA quantity read: a GA, a unit that is not weeks or days, or a number no GA can be.
enum GaQuantity {
    Ga(GestationalAge),
    BadUnit,
    /// Not finite, or a million days or more.
    Impossible,
}

/// A GA quantity in days, from a UCUM code or unit text (`wk`, `d`, `week(s)`, `day(s)`).
fn ga_from_quantity(value: f64, unit: Option<&str>) -> GaQuantity {
    let Some(unit) = unit else {
        return GaQuantity::BadUnit;
    };
    let ga = match unit.trim().to_ascii_lowercase().as_str() {
        "wk" | "w" | "week" | "weeks" | "/wk" => GestationalAge::from_fractional_weeks(value),
        "d" | "day" | "days" => {
            let days = value.round();
            (days.is_finite() && days.abs() < 1.0e6).then(|| GestationalAge::from_days(days as i64))
        }
        _ => return GaQuantity::BadUnit,
    };
    ga.map_or(GaQuantity::Impossible, GaQuantity::Ga)
}

/// An hCG result whose unit is no hCG unit (ng/mL): named on the card, never silently dropped
/// (knowledge.md §3.6 item 3).
fn unreadable_hcg(record: &Rec) -> Option<Field> {
    let unit = match &record.value {
        Some(Value::Quantity {
            unit,
            code,
            comparator: None,
            ..
        }) => code.as_deref().or(unit.as_deref()),
        _ => return None,
    };
    (record.is(class::HCG) && !hcg_unit_ok(unit)).then_some(Field::Value)
}

/// hCG in mIU/mL or the numerically equal IU/L (a missing unit is accepted as the lab's default).
pub(crate) fn hcg_unit_ok(unit: Option<&str>) -> bool {
    match unit {
        None => true,
        Some(u) => matches!(
            u.trim().to_ascii_lowercase().as_str(),
            "m[iu]/ml" | "miu/ml" | "[iu]/l" | "iu/l" | "mu/ml" | "u/l"
        ),
    }
}
