//! The chart reading (knowledge.md §3.5 "Reading the record"; §3.4 item 10, §3.5 items 2, 4, 8,
//! 10, 18, 20): which records count (G3), what each valid record is (its value sets, read once
//! into a [`Rec`]), and the record predicates every derived input shares. Also what could not be
//! used: the mapper's problems and impossible dates, named on every card.

use std::collections::HashMap;

use time::Date;

use super::Engine;
use crate::facts::{Field, Precision, Presence, Record, RecordKind, Value, When};
use crate::finding::{DateProblem, Diagnostic, Modifier, kind_name};
use crate::knowledge::class;
use crate::text;

/// A record counts unless it was refuted, entered in error or cancelled (G3).
pub(super) fn is_valid(record: &Record) -> bool {
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
pub(super) fn is_active(record: &Record) -> bool {
    record.kind != RecordKind::Condition
        || matches!(
            record.clinical_status.as_deref(),
            None | Some("active" | "recurrence" | "relapse")
        )
}

/// A Condition whose diagnosis is confirmed (or not qualified).
pub(super) fn is_confirmed(record: &Record) -> bool {
    !matches!(
        record.verification_status.as_deref(),
        Some("unconfirmed" | "provisional" | "differential")
    )
}

/// The days a FHIR date names, first and last (§3.6 item 4): one day, or the whole month or year
/// of a partial date ("2026-09" is 1–30 September).
pub(super) fn days_named(when: When) -> (Date, Date) {
    let first = when.date();
    let last = match when.precision {
        Precision::Day | Precision::Time => first,
        Precision::Month => {
            let days = first.month().length(first.year());
            first.replace_day(days).unwrap_or(first)
        }
        Precision::Year => {
            Date::from_calendar_date(first.year(), time::Month::December, 31).unwrap_or(first)
        }
    };
    (first, last)
}

/// The record's clinical date: onset/effective, else recorded/issued.
pub(super) fn record_date(record: &Record) -> Option<Date> {
    record.effective.or(record.recorded).map(|w| w.date())
}

/// The value sets a record of this kind may be classified by. An Encounter's codes are its
/// reasons (a suspected "intrauterine pregnancy" or "ectopic" reason documents nothing; a bleeding
/// or postpartum reason does: knowledge.md §3.5 items 8, 11). A Procedure's codes are read against
/// the `procedure-*` value sets only (§3.5 item 20).
pub(super) fn kind_classes(kind: RecordKind) -> u64 {
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
pub(super) type ReasonTargets<'a, 'v> = HashMap<(&'static str, &'v str), Rec<'a>>;

/// [`ReasonTargets`] of `valid`, built once per evaluation step that reads reasons.
pub(super) fn reason_targets<'a, 'v>(valid: &'v [Rec<'a>]) -> ReasonTargets<'a, 'v> {
    // Most charts have no Encounter that names its reason by reference: then there is nothing
    // to look up, and building the map for every record would cost more than the rest of the
    // bleed search.
    let referenced = valid
        .iter()
        .any(|r| r.kind == RecordKind::Encounter && !r.references.is_empty());
    if !referenced {
        return HashMap::new();
    }
    let mut targets = HashMap::with_capacity(valid.len());
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
pub(super) fn reference_target(reference: &str) -> Option<(&str, &str)> {
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

/// A Procedure charted as done: completed, or in progress. `not-done`, `preparation`, `stopped`,
/// `on-hold` and `unknown` say nothing was done (knowledge.md §3.5 item 20).
pub(super) fn procedure_done(record: &Record) -> bool {
    matches!(record.status.as_deref(), Some("completed" | "in-progress"))
}

/// An Encounter that is happening now (knowledge.md §3.5 item 8: "the current … Encounter").
pub(super) fn encounter_current(record: &Record) -> bool {
    matches!(
        record.status.as_deref(),
        Some("in-progress" | "arrived" | "triaged" | "onleave")
    )
}

/// A valid record with the value sets its codes belong to (see [`RulesKnowledge::classify`]).
#[derive(Debug, Clone, Copy)]
pub(super) struct Rec<'a> {
    pub(super) record: &'a Record,
    pub(super) class: u64,
    /// Named or coded as a personal history ("History of postpartum hemorrhage (2022)", Z87.x):
    /// neither a current bleed, nor pregnancy evidence, nor the end of this pregnancy (§3.5 item 2).
    pub(super) history: bool,
    /// A current vaginal bleeding record by code or text (see [`Engine::reads_as_bleeding`]): read
    /// once, since several steps ask and the text scan is the engine's dearest per-record work.
    pub(super) bleeding: bool,
    /// Names delivery or the postpartum state in its text, and is dated within the postpartum
    /// window (§3.5 item 11): read once, as `bleeding` is, for the gates that ask it again.
    pub(super) postpartum_text: bool,
    /// Names an ectopic, molar or loss diagnosis (or an ended pregnancy) by code and hedges it:
    /// a provisional, differential or unconfirmed status, or hedge words (§3.6 item 2). Never
    /// G5, G2 or an episode's end; named on the bleeding card as suspected. Read for every kind
    /// that can carry a diagnosis: a Condition, an Observation of a problem, a report's
    /// conclusion, an Encounter's reason (whose codes are otherwise read for bleeding and ends
    /// only, see [`kind_classes`]).
    pub(super) hedged: bool,
}

impl Rec<'_> {
    /// Whether the record's codes are in the value set(s) of `bits`.
    pub(super) fn is(&self, bits: u64) -> bool {
        self.class & bits != 0
    }
}

impl std::ops::Deref for Rec<'_> {
    type Target = Record;
    fn deref(&self) -> &Record {
        self.record
    }
}

impl<'a> Engine<'a> {
    pub(super) fn diagnose(&mut self, record: &Record, field: Option<Field>, message: &str) {
        self.diagnostics.push(Diagnostic {
            resource_type: kind_name(record.kind).to_string(),
            id: record.id.clone(),
            field,
            message: message.to_string(),
        });
    }

    /// Later than today by more than the tolerance: no record of this pregnancy can be dated so.
    pub(super) fn is_future(&self, date: Date) -> bool {
        (date - self.today).whole_days() > self.kb.thresholds.future_tolerance_days
    }

    /// Classifies a valid record: its value sets (as far as its kind allows) and whether it is a
    /// history rather than a current finding.
    pub(super) fn read(&self, record: &'a Record) -> Rec<'a> {
        let displays = record.codes.iter().filter_map(|c| c.display.as_deref());
        let names = record
            .text
            .first()
            .map(String::as_str)
            .into_iter()
            .chain(displays);
        let all = self.kb.classify(&record.codes);
        let class = all & kind_classes(record.kind);
        // Only a record coded as a diagnosis is asked whether it is hedged: the one text scan
        // this adds is paid by those few records, not by the chart.
        let diagnosis = all & (class::DIAGNOSED | class::ENDED) != 0
            && matches!(
                record.kind,
                RecordKind::Condition
                    | RecordKind::Observation
                    | RecordKind::DiagnosticReport
                    | RecordKind::Encounter
            );
        let mut rec = Rec {
            record,
            class,
            history: class & class::PERSONAL_HISTORY != 0
                || text::names_history(names, &self.kb.text),
            bleeding: false,
            postpartum_text: false,
            hedged: diagnosis
                && (!is_confirmed(record) || text::hedged(&record.text, &self.kb.text)),
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
    pub(super) fn reads_as_bleeding(&self, rec: &Rec) -> bool {
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
    pub(super) fn is_bleeding(&self, rec: &Rec) -> bool {
        rec.bleeding
    }

    /// The record answers its own question "absent": `valueBoolean` false, an absent answer
    /// coded (None, No, Absent, Negative) or written ("none", "denies"), or a name written as a
    /// label answered absent ("Vaginal bleeding: None") (§3.5 items 1 and 10).
    pub(super) fn answered_absent(&self, record: &Record) -> bool {
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
    pub(super) fn bleeding_reason(
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
    pub(super) fn procedures<'s>(
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
    pub(super) fn result_of_this_pregnancy(&self, record: &Record, start: Option<Date>) -> bool {
        match (record_date(record), start) {
            (Some(d), Some(s)) => d >= s,
            _ => true,
        }
    }

    /// Sets a record (or its date) aside, to be named on every card and in the diagnostics.
    pub(super) fn date_problem(
        &mut self,
        record: &'a Record,
        date: Option<Date>,
        problem: DateProblem,
    ) {
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
    pub(super) fn report_problems(&mut self) {
        for record in &self.facts.records {
            for problem in &record.problems {
                self.diagnose(record, Some(problem.field), &problem.message);
            }
        }
    }

    /// Within the GA lookback (42 weeks) of today, or undated.
    pub(super) fn within_lookback(&self, date: Option<Date>) -> bool {
        match date {
            Some(d) => (self.today - d).whole_days() <= self.kb.thresholds.ga_lookback_days,
            None => true,
        }
    }

    /// In the current pregnancy: on or after its start, or (undated pregnancy) within the lookback.
    pub(super) fn in_pregnancy(&self, date: Option<Date>, start: Option<Date>) -> bool {
        match (date, start) {
            (Some(d), Some(s)) => d >= s,
            _ => self.within_lookback(date),
        }
    }
}
