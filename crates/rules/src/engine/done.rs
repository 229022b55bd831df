//! What was already done today (knowledge.md §3.6 item 16): a recommendation done within its
//! window is not advised again.
//!
//! A card that offers "Order TVUS" an hour after the scan, or "hCG now" when the blood was drawn
//! this morning, teaches the clinician to stop reading cards. So the engine says, on each
//! bleeding card, which of the tests it would advise is on record today: an ultrasound of this
//! pregnancy (a finding, a report, or a Procedure charted as done), and an hCG (a result, or a
//! test charted as a Procedure). The profile's orderables say which of them each button would
//! repeat (`orderables.toml` `done_today`), and the card drops that order; a timed repeat (hCG
//! in 48 h) is another order and stays.

use super::read::record_date;
use super::{Engine, Rec};
use crate::facts::RecordKind;
use crate::finding::{Done, Modifier};
use crate::knowledge::class;

impl<'a> Engine<'a> {
    /// The tests on record today, one modifier each, naming the record.
    pub(super) fn done_today(&self, valid: &[Rec<'a>]) -> Vec<Modifier> {
        let today = |r: &Rec<'a>| record_date(r) == Some(self.today);
        let scan = valid
            .iter()
            .find(|r| r.kind != RecordKind::Condition && r.is(class::ULTRASOUND) && today(r))
            .or_else(|| {
                self.procedures(valid, class::PROCEDURE_ULTRASOUND)
                    .find(|r| today(r))
            });
        let hcg = valid
            .iter()
            .find(|r| r.is(class::HCG) && r.value.is_some() && today(r))
            .or_else(|| {
                self.procedures(valid, class::PROCEDURE_HCG)
                    .find(|r| today(r))
            });
        [(Done::Ultrasound, scan), (Done::Hcg, hcg)]
            .into_iter()
            .filter_map(|(what, record)| {
                record.map(|r| Modifier::DoneToday {
                    what,
                    id: r.id.clone(),
                })
            })
            .collect()
    }
}
