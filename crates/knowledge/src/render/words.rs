//! One human form for dates and things (issue 31 item 5): a record is named as a clinician
//! names it ("diagnosis", "order", "report"), never by its FHIR resource type; a date on the
//! card reads as the rest of the card does (`9 Nov`, `9 Nov 2025` beyond the current year);
//! the long form keeps the full date (`2026-11-09`) beside the record it dates.

use gravida_rules::facts::Precision;
use time::{Date, OffsetDateTime};

/// What a clinician calls a record of this FHIR resource type, in the middle of a sentence.
pub fn thing(resource_type: &str) -> &'static str {
    match resource_type {
        "Condition" => "diagnosis",
        "Observation" => "chart entry",
        "DiagnosticReport" => "report",
        "Procedure" => "procedure",
        "Encounter" => "visit",
        "MedicationAdministration" => "administration record",
        "MedicationStatement" => "medication record",
        "Immunization" => "immunization record",
        // MedicationRequest, ServiceRequest and every other request type of a draft order.
        _ if resource_type.ends_with("Request") || resource_type.ends_with("Order") => "order",
        _ => "record",
    }
}

/// `text` with its first letter in capitals, for the opening of a sentence.
pub(super) fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// How a text writes dates: the card as its body does, the long form in full.
#[derive(Debug, Clone, Copy)]
pub(super) enum DateForm {
    /// The card (summary and detail): `9 Nov`, `November 2026`, `9 Nov 2025`; `now` says the year.
    Card(OffsetDateTime),
    /// The long form: `2026-11-09`, `2026-11`, `2026`.
    Long,
}

impl DateForm {
    /// A record's date as the chart wrote it (a day, a month or a year).
    pub(super) fn date(self, date: Date, precision: Precision) -> String {
        match self {
            DateForm::Card(now) => day_as_written(date, precision, now),
            DateForm::Long => iso_as_written(date, precision),
        }
    }

    /// A moment (a vital sign's), in the record's own offset: `1 Apr 11:30 UTC` on the card.
    pub(super) fn instant(self, at: OffsetDateTime) -> String {
        match self {
            DateForm::Card(now) => format!("{} {}", day(at.date(), now), clock(at)),
            DateForm::Long => instant(at),
        }
    }
}

/// A day as clinicians write it on a ward: `22 Nov`, with the year when it is not this year's
/// (`22 Nov 2025`).
pub(super) fn day(date: Date, now: OffsetDateTime) -> String {
    let month = month_name(date.month());
    if date.year() == now.year() {
        format!("{} {month}", date.day())
    } else {
        format!("{} {month} {}", date.day(), date.year())
    }
}

/// A month as a ward writes it: `Nov`.
fn month_name(month: time::Month) -> &'static str {
    match month {
        time::Month::January => "Jan",
        time::Month::February => "Feb",
        time::Month::March => "Mar",
        time::Month::April => "Apr",
        time::Month::May => "May",
        time::Month::June => "Jun",
        time::Month::July => "Jul",
        time::Month::August => "Aug",
        time::Month::September => "Sep",
        time::Month::October => "Oct",
        time::Month::November => "Nov",
        time::Month::December => "Dec",
    }
}

/// A record's date on a card, as the chart wrote it: `22 Nov` (see [`day`]), but `November 2026`
/// for a month (the month in full, as knowledge.md §3.6 item 4 writes "LMP recorded as March
/// 2025") and `2026` for a year, never a precise day the chart did not give.
pub(super) fn day_as_written(date: Date, precision: Precision, now: OffsetDateTime) -> String {
    match precision {
        Precision::Year => date.year().to_string(),
        Precision::Month => format!("{} {}", date.month(), date.year()),
        Precision::Day | Precision::Time => day(date, now),
    }
}

/// A record's date in the long form's ISO form, as the chart wrote it: `2026-11-22`, `2026-11`
/// or `2026`.
pub(super) fn iso_as_written(date: Date, precision: Precision) -> String {
    match precision {
        Precision::Year => date.year().to_string(),
        Precision::Month => format!("{}-{:02}", date.year(), u8::from(date.month())),
        Precision::Day | Precision::Time => date.to_string(),
    }
}

/// When a vital sign was taken, in the record's own offset (`2025-06-15 10:20 +02:00`, or
/// `UTC`): the clinician compares it with the chart, which shows it so.
fn instant(at: OffsetDateTime) -> String {
    format!("{} {}", at.date(), clock(at))
}

/// The time of day of a moment and its offset: `11:30 UTC`, `10:20 +02:00`.
fn clock(at: OffsetDateTime) -> String {
    let offset = at.offset();
    let zone = if offset.is_utc() {
        "UTC".to_string()
    } else {
        let (hours, minutes, _) = offset.as_hms();
        let sign = if offset.is_negative() { '-' } else { '+' };
        format!("{sign}{:02}:{:02}", hours.abs(), minutes.abs())
    };
    format!("{:02}:{:02} {zone}", at.hour(), at.minute())
}

#[cfg(test)]
mod tests {
    use super::{DateForm, capitalised, thing};
    use gravida_rules::facts::Precision;
    use time::macros::{date, datetime};

    #[test]
    fn records_are_named_as_clinicians_name_them() {
        assert_eq!(thing("MedicationRequest"), "order");
        assert_eq!(thing("ServiceRequest"), "order");
        assert_eq!(thing("Condition"), "diagnosis");
        assert_eq!(thing("DiagnosticReport"), "report");
        assert_eq!(thing("Encounter"), "visit");
        assert_eq!(capitalised("diagnosis 'x'"), "Diagnosis 'x'");
    }

    #[test]
    fn the_card_writes_the_day_and_the_year_only_beyond_this_one() {
        let now = datetime!(2026-12-07 12:00 UTC);
        let card = DateForm::Card(now);
        assert_eq!(card.date(date!(2026 - 11 - 09), Precision::Day), "9 Nov");
        assert_eq!(
            card.date(date!(2025 - 11 - 09), Precision::Day),
            "9 Nov 2025"
        );
        assert_eq!(
            card.date(date!(2026 - 11 - 09), Precision::Month),
            "November 2026"
        );
        assert_eq!(
            card.instant(datetime!(2026-12-07 11:30 UTC)),
            "7 Dec 11:30 UTC"
        );
        assert_eq!(
            DateForm::Long.date(date!(2026 - 11 - 09), Precision::Day),
            "2026-11-09"
        );
    }
}
