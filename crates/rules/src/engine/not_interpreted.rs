//! A record that cannot be read is never silent (knowledge.md §3.6 item 13, W9).
//!
//! A resource carrying a `modifierExtension` the service does not understand may mean the
//! opposite of what its other elements say ("this did not happen", "this is the patient's
//! mother's"), so FHIR forbids reading it as if the extension were absent: the reading layer
//! marks it [`Record::not_interpreted`](crate::facts::Record::not_interpreted) and the engine
//! never takes it as a fact. Dropping it quietly would be as wrong: a bleed that is refused must
//! not leave the chart with no card. So each one that would have mattered (a bleed, a dating
//! record, a pregnancy test or status, an ultrasound finding, an Rh type, a diagnosis or an end
//! of pregnancy) is named on every card, and alone gives the D1 note, in clinical words: it
//! could not be interpreted; review it in the chart.

use super::Engine;
use crate::finding::Modifier;
use crate::knowledge::class;

/// The value sets whose records decide a card: one of these, not interpreted, is named.
const DECIDING: u64 = class::DATING
    | class::PREGNANCY_STATUS
    | class::PREGNANCY_CONDITION
    | class::HCG
    | class::HCG_QUALITATIVE
    | class::IUP
    | class::FETAL_HEART
    | class::ULTRASOUND
    | class::RH_TYPE
    | class::ENDED
    | class::DIAGNOSED
    | class::PROCEDURE_ENDED
    | class::PROCEDURE_ANTI_D;

impl Engine<'_> {
    /// A [`Modifier::NotInterpreted`] for each record not interpreted that would have mattered.
    pub(super) fn not_interpreted(&self) -> Vec<Modifier> {
        self.facts
            .records
            .iter()
            .filter(|r| r.not_interpreted)
            .filter(|r| {
                let rec = self.read(r);
                rec.bleeding || rec.is(DECIDING)
            })
            .map(|r| Modifier::NotInterpreted {
                kind: r.kind,
                id: r.id.clone(),
            })
            .collect()
    }
}
