//! The rules of dates: a dated choice element (`effective[x]`, `onset[x]`, …) as a date or a
//! problem, a Period by its start, and FHIR's dates, dateTimes and instants as the engine's
//! [`When`], partial dates keeping their precision.

use std::fmt;

use fhir_sdk::{Date as FhirDate, DateTime as FhirDateTime, Instant as FhirInstant};
use gravida_rules::facts::{Field, Precision, Problem, When};
use time::Month;

use super::codes::{problem, push_text};
use super::{Dated, Period};

/// How one dated choice element is read: its name (`onset` for `onsetDateTime`, …), the record
/// field it feeds, and whether a string's words are kept as searchable text.
#[derive(Debug, Clone, Copy)]
pub(super) struct Choice {
    pub(super) prefix: &'static str,
    pub(super) field: Field,
    pub(super) keeps_words: bool,
}

impl Choice {
    pub(super) fn new(prefix: &'static str, field: Field) -> Self {
        Choice {
            prefix,
            field,
            keeps_words: true,
        }
    }
}

/// A dated choice element as a date: a dateTime or instant as itself, a Period by its start
/// (else its end). A Timing, Age, Range or string is no date: each is a problem, so the engine
/// can say the record could not be placed in time. A string is valid FHIR and may name the
/// problem, so its words are kept unless the element says otherwise.
pub(super) fn read_dated(
    dated: Dated<'_>,
    choice: Choice,
    text: &mut Vec<String>,
    problems: &mut Vec<Problem>,
) -> Option<When> {
    let Choice {
        prefix,
        field,
        keeps_words,
    } = choice;
    let not_a_date = |problems: &mut Vec<Problem>, type_name: &str, what: &str| {
        problem(problems, field, &format!("{prefix}{type_name} is {what}"));
        None
    };
    match dated {
        Dated::DateTime(date_time) => {
            read_date_time(&date_time, Named(prefix, "DateTime"), field, problems)
        }
        Dated::Period(period) => read_period(&period, Named(prefix, "Period"), field, problems),
        Dated::Instant(instant) => Some(when_from_instant(&instant)),
        Dated::Timing => not_a_date(problems, "Timing", "a schedule, not a date"),
        Dated::Age => not_a_date(problems, "Age", "an age, not a date"),
        Dated::Range => not_a_date(problems, "Range", "an age range, not a date"),
        Dated::String(words) => {
            if keeps_words {
                push_text(text, Some(&words));
            }
            not_a_date(problems, "String", "free text, not a date")
        }
    }
}

/// A Period's start (or its end when it has no start).
pub(super) fn read_period(
    period: &Period,
    name: impl fmt::Display,
    field: Field,
    problems: &mut Vec<Problem>,
) -> Option<When> {
    let Some(date_time) = period.start.as_ref().or(period.end.as_ref()) else {
        problem(
            problems,
            field,
            &format!("{name} has neither start nor end"),
        );
        return None;
    };
    read_date_time(date_time, name, field, problems)
}

/// An element's name made of a choice prefix and a type (`onset` + `DateTime`), written only
/// when a problem needs it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Named<'a>(pub(super) &'a str, pub(super) &'static str);

impl fmt::Display for Named<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.0, self.1)
    }
}

/// A dateTime as a `When`, or a problem naming the element when it is out of range.
pub(crate) fn read_date_time(
    date_time: &FhirDateTime,
    name: impl fmt::Display,
    field: Field,
    problems: &mut Vec<Problem>,
) -> Option<When> {
    let when = when_from_date_time(date_time);
    if when.is_none() {
        problem(problems, field, &format!("{name} is out of range"));
    }
    when
}

/// A FHIR date or dateTime as a `When`: partial dates keep their precision; a time keeps the
/// offset it was written with (see [`when_from_instant`]).
pub(crate) fn when_from_date_time(date_time: &FhirDateTime) -> Option<When> {
    match date_time {
        FhirDateTime::Date(date) => when_from_date(date),
        FhirDateTime::DateTime(instant) => Some(when_from_instant(instant)),
    }
}

fn when_from_date(date: &FhirDate) -> Option<When> {
    let (day, precision) = match date {
        FhirDate::Year(year) => (
            time::Date::from_calendar_date(*year, Month::January, 1).ok()?,
            Precision::Year,
        ),
        FhirDate::YearMonth(year, month) => (
            time::Date::from_calendar_date(*year, *month, 1).ok()?,
            Precision::Month,
        ),
        FhirDate::Date(date) => (*date, Precision::Day),
    };
    Some(When {
        at: day.midnight().assume_utc(),
        precision,
    })
}

/// A time as a `When`, in the offset the record was written with. Gestational age is counted on
/// calendar dates as the record states them (knowledge.md §3.5 item 3): a bleed charted at
/// `2025-06-15T00:30:00+02:00` happened on 15 June, although it was still 14 June in UTC. The
/// instant is unchanged, so intervals between times (hCG 48 hours apart) are still exact.
pub(crate) fn when_from_instant(instant: &FhirInstant) -> When {
    When {
        at: instant.0,
        precision: Precision::Time,
    }
}
