//! The derived inputs of the decision table (knowledge.md §3.4; §3.5 items 4, 6, 20; §3.6 items
//! 11, 12): everything the bleeding rules read, computed from the records once, before any rule
//! is applied (see `table.rs`): the bleed as the card quotes it, the evidence and modifiers every
//! bleeding card carries (the Rh status, anti-D given, inputs that could not be had, records that
//! could not be read), the hCG trend and notes, the gestational age, and the records the rules
//! cite.

use time::Date;

use super::Engine;
use super::bleed::Bleed;
use super::hcg::unreadable_hcg;
use super::read::{Rec, is_active, record_date};
use crate::facts::{Field, Record, RecordKind, Value};
use crate::finding::{Dating, Evidence, HcgTrend, IupStatus, Label, Modifier, Role};
use crate::ga::GestationalAge;
use crate::knowledge::class;
use crate::text;

/// What the decision table reads about a bleed: derived from the records by
/// [`Engine::bleed_inputs`], never read back out of them by a rule.
pub(super) struct BleedInputs<'a> {
    /// The bleed's date (see [`Bleed`]), `None` when unknown.
    pub(super) bleed_date: Option<Date>,
    /// The words the card quotes for the bleed (see `Finding::bleed_text`).
    pub(super) bleed_text: Option<String>,
    /// The bleed's label (implantation, or none).
    pub(super) label: Label,
    pub(super) iup: IupStatus,
    /// The pregnancy's dating; `None`: no usable dating (R13).
    pub(super) dating: Option<Dating>,
    /// The gestational age on the day of the bleed (today, when the bleed is undated); `None`
    /// when the pregnancy is not dated. Dated by a partial date, the highest GA it allows.
    pub(super) ga: Option<GestationalAge>,
    /// Dated by a partial date (§3.6 item 4): the lowest GA it allows, the other end of the range.
    pub(super) ga_low: Option<GestationalAge>,
    /// The evidence every bleeding card cites: the bleed, the dating, the IUP (or ultrasound)
    /// records, the Rh type.
    pub(super) evidence: Vec<Evidence>,
    /// The modifiers every bleeding card carries.
    pub(super) common: Vec<Modifier>,
    /// R5: the hCG trend, with the pair of results it is read from.
    pub(super) hcg_trend: Option<(HcgTrend, Vec<Evidence>)>,
    /// What the card says of hCG results that are not numbers in a trend.
    pub(super) hcg_notes: Vec<Modifier>,
    /// `Some(true)` RhD negative (or a variant read as negative), `Some(false)` positive.
    pub(super) rh_negative: Option<bool>,
    /// Anti-D alloimmunisation on record: no anti-D card (§3.6 item 12).
    pub(super) sensitised: bool,
    /// Anti-D charted as given within its protective window (§3.5 item 20).
    pub(super) anti_d: Option<(&'a Record, Date)>,
    /// Anti-D among the draft orders of this call (§3.6 item 16): R7 is not shown.
    pub(super) anti_d_drafted: bool,
    /// Subchorionic hematoma records of this pregnancy (R3, R4, R10).
    pub(super) sch: Vec<&'a Record>,
    /// Placenta previa records of this pregnancy (R9, R14).
    pub(super) previa: Vec<&'a Record>,
    /// Placental location records of this pregnancy (R9, R14).
    pub(super) placental_location: Vec<&'a Record>,
    /// A previous miscarriage (R15).
    pub(super) previous_miscarriage: Option<&'a Record>,
    /// A hedged ectopic, molar or loss diagnosis of this pregnancy is on record (§3.6 item 2):
    /// R2 fires at the bleed's GA when no other rule does. Set by the caller, which found it in
    /// G5's pass.
    pub(super) suspected: bool,
}

impl<'a> Engine<'a> {
    /// The inputs of the decision table for `bleed`.
    pub(super) fn bleed_inputs(
        &mut self,
        valid: &[Rec<'a>],
        bleed: &Bleed<'a>,
        dating: Option<Dating>,
        (iup, iup_evidence): (IupStatus, Vec<Evidence>),
    ) -> BleedInputs<'a> {
        let kb = self.kb;
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
        let anti_d_order = crate::anti_d::drafted(&self.facts.draft_orders, self.kb);
        if rh_negative == Some(true)
            && let Some(order) = anti_d_order
        {
            common.push(Modifier::AntiDOrdered {
                resource_type: order.resource_type.clone(),
                id: order.id.clone(),
            });
        }
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
            (None, None, None) => common.push(Modifier::RhUnknown),
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

        // The gestational age the rules read, when the pregnancy is dated.
        let on = bleed.date.unwrap_or(self.today);
        let ga = dating.as_ref().map(|d| GestationalAge::on(d.start, on));
        let ga_low = dating
            .as_ref()
            .and_then(|d| d.partial)
            .map(|p| GestationalAge::on(p.latest_start, on));
        // The records the dated rules cite, of this pregnancy, in one pass: a subchorionic
        // hematoma (R3, R4, R10), placenta previa and the placenta's location (R9, R14).
        let mut sch: Vec<&'a Record> = Vec::new();
        let mut previa: Vec<&'a Record> = Vec::new();
        let mut placental_location: Vec<&'a Record> = Vec::new();
        if ga.is_some() {
            let cited = class::SCH | class::PREVIA | class::PLACENTAL_LOCATION;
            for r in valid.iter().filter(|r| r.is(cited)).filter(in_pregnancy) {
                if r.is(class::SCH) {
                    sch.push(r.record);
                }
                if r.is(class::PREVIA) {
                    previa.push(r.record);
                }
                if r.is(class::PLACENTAL_LOCATION) {
                    placental_location.push(r.record);
                }
            }
        }
        // Looked for only where R15, the one rule that reads it, can fire: a documented IUP
        // before `progesterone_before_days`.
        let previous_miscarriage = ga_low
            .or(ga)
            .filter(|ga| {
                matches!(iup, IupStatus::Documented(_))
                    && ga.days() < kb.thresholds.progesterone_before_days
            })
            .and_then(|_| self.previous_miscarriage(valid, start));
        BleedInputs {
            bleed_date: bleed.date,
            bleed_text,
            label: bleed.label,
            iup,
            dating,
            ga,
            ga_low,
            evidence,
            common,
            hcg_trend,
            hcg_notes,
            rh_negative,
            sensitised,
            anti_d,
            anti_d_drafted: anti_d_order.is_some(),
            sch,
            previa,
            placental_location,
            previous_miscarriage,
            suspected: false,
        }
    }
}
