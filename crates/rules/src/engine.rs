//! The decision table: gates G1–G5, rules R1–R15, read with knowledge.md §3.4 and §3.5 (binding)
//! and §8.
//!
//! The engine works in three steps:
//! 1. classify the records once (valid or not, what each one is) using the value sets;
//! 2. derive the inputs: pregnancy evidence, dating, the bleed, IUP status, Rh, hCG trend;
//! 3. apply the gates, then the rules, and sort the findings (highest indicator first).
//!
//! Everything is a function of `(knowledge, facts, now)`: no clock, no I/O.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};

use time::{Date, OffsetDateTime};

use crate::facts::{Field, PatientFacts, Record, RecordKind, Value};
use crate::finding::{
    DateProblem, Dating, Diagnostic, Evaluation, Evidence, Finding, Indicator, IupStatus, Label,
    Modifier, RiskFactor, Role, RuleId,
};
use crate::ga::GestationalAge;
use crate::knowledge::{RulesKnowledge, class};
use crate::text;

mod bleed;
mod coded_bleed;
mod dating;
mod episode;
mod escalation;
mod hcg;
mod iup;
mod methotrexate;
mod not_interpreted;
mod pregnancy;
mod read;
mod rh;
mod risks;
mod vitals;

use bleed::Bleed;
pub(crate) use hcg::hcg_unit_ok;
use hcg::unreadable_hcg;
use read::{Rec, is_active, is_confirmed, is_valid, procedure_done, record_date};
use risks::add_risk_factors;
/// The shock-index pairing, reached by the scaling tests.
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

/// Percentages are compared with this slack so that a 21.0 % fall counts as 21 %.
const ROUNDING: f64 = 1e-9;
