//! ART dating by embryo transfer (knowledge.md §3.6 item 9): a transfer with the embryo's age
//! gives GA at transfer = 14 days + embryo age (day-5 transfer: 2w5d; day-3: 2w3d; ACOG CO 700).
//!
//! A transfer may be charted as a Procedure (`performed[x]`), an Observation (its
//! `valueDateTime`, else `effective[x]`) or a Condition (`onset[x]`), in any precision; the
//! embryo's age as a value or component in days, or in the record's text ("day 5 blastocyst",
//! "day-3", "D5"). A transfer whose embryo age is not on record dates nothing (said in the
//! diagnostics), but it still marks an ART conception (`risks.rs`). A conception date dates in
//! `dating.rs`, beside the other dates that are values.

use time::Duration;

use super::Engine;
use super::dating::{DatingCandidate, GaQuantity, ga_from_quantity, starts_from};
use super::read::{Rec, record_date};
use crate::facts::{Field, RecordKind, Value};
use crate::finding::DatingSource;

/// The oldest embryo a transfer can carry, in days after fertilisation (a day-7 blastocyst).
const MAX_EMBRYO_DAYS: i64 = 7;

/// An embryo age written in text: "day 5", "day-5", "day5", "D5", "d3" (case-insensitive), as
/// whole words; the first one written.
fn embryo_day_in(text: &str) -> Option<i64> {
    let lower = text.to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    let day = |w: &str| {
        w.parse::<i64>()
            .ok()
            .filter(|d| (1..=MAX_EMBRYO_DAYS).contains(d))
    };
    words.iter().enumerate().find_map(|(n, w)| {
        let glued = w.strip_prefix("day").or_else(|| w.strip_prefix('d'));
        match glued {
            Some("") if *w == "day" => words.get(n + 1).and_then(|next| day(next)),
            Some(number) if !number.is_empty() => day(number),
            _ => None,
        }
    })
}

/// An embryo age given as a value: an integer, or a quantity in days.
fn embryo_days_of(value: &Value) -> Option<i64> {
    let days = match value {
        Value::Integer(n) => *n,
        Value::Quantity {
            value,
            unit,
            code,
            comparator: None,
        } => match ga_from_quantity(*value, code.as_deref().or(unit.as_deref())) {
            GaQuantity::Ga(ga) => ga.days(),
            GaQuantity::BadUnit | GaQuantity::Impossible => return None,
        },
        _ => return None,
    };
    (1..=MAX_EMBRYO_DAYS).contains(&days).then_some(days)
}

impl<'a> Engine<'a> {
    /// The embryo's age at a transfer: the record's value or a component in days, else its text.
    fn embryo_age(&self, rec: &Rec<'a>) -> Option<i64> {
        rec.value
            .as_ref()
            .and_then(embryo_days_of)
            .or_else(|| {
                rec.components
                    .iter()
                    .find_map(|c| c.value.as_ref().and_then(embryo_days_of))
            })
            .or_else(|| rec.text.iter().find_map(|t| embryo_day_in(t)))
    }

    /// An embryo transfer reduced to the start it implies: transfer date − (14 days + embryo
    /// age). ART dating (§3.4 item 3's first rank).
    pub(super) fn transfer_candidate(&mut self, rec: Rec<'a>) -> Option<DatingCandidate<'a>> {
        let record = rec.record;
        // The transfer's day: an Observation's valueDateTime says it, else the record's own date.
        let on = match (&record.value, record.kind) {
            (Some(Value::DateTime(w)), RecordKind::Observation) => Some(*w),
            _ => record.effective,
        };
        let Some(on) = on else {
            self.diagnose(
                record,
                Some(Field::Effective),
                "embryo transfer has no date: not used for dating",
            );
            return None;
        };
        let Some(embryo) = self.embryo_age(&rec) else {
            self.diagnose(
                record,
                None,
                "embryo transfer without the embryo's age (day 3, day 5): not used for dating",
            );
            return None;
        };
        let at_transfer = self.kb.thresholds.ga_at_conception_days + embryo;
        let (start, partial) = starts_from(on, |d| d.checked_sub(Duration::days(at_transfer)))?;
        self.candidate(
            DatingSource::Art,
            record,
            start,
            record_date(record),
            partial,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::embryo_day_in;

    #[test]
    fn an_embryo_age_is_read_from_day_written_in_any_of_its_forms() {
        for (text, day) in [
            (
                "Frozen embryo transfer (FET), single day 5 blastocyst",
                Some(5),
            ),
            ("Single euploid day-5 blastocyst (4AA) transferred", Some(5)),
            ("Day3 embryo transfer", Some(3)),
            ("FET D5", Some(5)),
            ("ET of 2 embryos, d3", Some(3)),
            ("Embryo transfer, intrauterine", None),
            ("Transfer on day 12 of the cycle", None),
            ("Dudley clinic, 5 embryos frozen", None),
        ] {
            assert_eq!(embryo_day_in(text), day, "{text}");
        }
    }
}
