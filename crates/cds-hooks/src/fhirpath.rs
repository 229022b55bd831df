//! The small part of FHIRPath that CDS Hooks 3.0.0 prefetch tokens use for relative dates, parsed
//! once into typed parts and evaluated without a FHIRPath engine.
//!
//! CDS Hooks 3.0.0 (index.md, "Prefetch tokens containing Simpler FHIRPath" › "Simple FHIRPath
//! for Relative Dates", STU) says a CDS Client SHOULD support "the FHIRPath `today()` function"
//! and "addition and subtraction of quantity unit `days`", e.g.
//! `Observation?patient={{context.patientId}}&date=gt{{today() - 90 days}}`, which on
//! 2024-09-13 asks for `date=gt2024-06-15`. What this module accepts, and nothing more:
//!
//! ```text
//! expression := context | date
//! context    := "context." field                 (a root-level context field, as in 2.0)
//! date       := "today()" { ("+" | "-") integer unit }
//! unit       := "day" | "days" | "week" | "weeks" | "month" | "months" | "year" | "years"
//! ```
//!
//! with spaces allowed between the parts. The units are FHIRPath's calendar duration keywords
//! (FHIRPath N1 §6.6.1 and "Date/Time Arithmetic"): a week is seven days; a month or a year
//! moves the calendar field, and when that day does not exist in the target month the result is
//! the month's last day (2024-03-31 − 1 month = 2024-02-29). UCUM units (`'d'`, `'mo'`) and
//! decimals are refused: they mean fixed lengths of time, not calendar steps, and nothing here
//! needs them. `%key` variables, `resolve()`, `ofType()` and paths into resources are refused
//! too, with an error that names the expression, so that a template using them fails at start-up
//! rather than on a call.

use thiserror::Error;
use time::{Date, Duration, Month};

/// Why a token's expression is not one this module evaluates.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ExpressionError {
    /// Something other than the grammar in the module documentation.
    #[error("`{expression}` is not a supported prefetch expression: {reason}")]
    Unsupported {
        expression: String,
        reason: &'static str,
    },
}

/// A calendar duration unit (FHIRPath's keywords; the singular and plural mean the same).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CalendarUnit {
    Days,
    Weeks,
    Months,
    Years,
}

impl CalendarUnit {
    fn from_keyword(word: &str) -> Option<CalendarUnit> {
        Some(match word {
            "day" | "days" => CalendarUnit::Days,
            "week" | "weeks" => CalendarUnit::Weeks,
            "month" | "months" => CalendarUnit::Months,
            "year" | "years" => CalendarUnit::Years,
            _ => return None,
        })
    }
}

/// One `+ 3 days` or `- 1 year` step: a signed amount of a unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    pub amount: i64,
    pub unit: CalendarUnit,
}

impl Step {
    /// The date moved by this step, or `None` past the calendar's range.
    pub fn apply(self, date: Date) -> Option<Date> {
        match self.unit {
            CalendarUnit::Days => date.checked_add(Duration::days(self.amount)),
            CalendarUnit::Weeks => date.checked_add(Duration::weeks(self.amount)),
            CalendarUnit::Months => add_months(date, self.amount),
            CalendarUnit::Years => add_months(date, self.amount.checked_mul(12)?),
        }
    }
}

/// `date` moved by `months` calendar months, the day kept or, where the target month is
/// shorter, made its last day.
fn add_months(date: Date, months: i64) -> Option<Date> {
    let index = i64::from(date.year()) * 12 + i64::from(u8::from(date.month())) - 1 + months;
    let year = i32::try_from(index.div_euclid(12)).ok()?;
    let month = Month::try_from(u8::try_from(index.rem_euclid(12) + 1).ok()?).ok()?;
    let day = date.day().min(time::util::days_in_month(month, year));
    Date::from_calendar_date(year, month, day).ok()
}

/// A parsed token expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expression {
    /// `context.<field>`: the field's value, as a 2.0 token.
    Context(String),
    /// `today()` and its steps, evaluated left to right: a FHIR `date` (`YYYY-MM-DD`).
    Today(Vec<Step>),
}

impl Expression {
    /// The date this expression stands for on the day `today`, if it is a date expression.
    /// `None` for a context expression, or a date past the calendar's range.
    pub fn date_on(&self, today: Date) -> Option<Date> {
        match self {
            Expression::Context(_) => None,
            Expression::Today(steps) => steps.iter().try_fold(today, |date, step| step.apply(date)),
        }
    }
}

/// Parses one token's text (what is between `{{` and `}}`).
pub fn parse(expression: &str) -> Result<Expression, ExpressionError> {
    let refuse = |reason| ExpressionError::Unsupported {
        expression: expression.trim().to_owned(),
        reason,
    };
    let text = expression.trim();
    if let Some(field) = text.strip_prefix("context.") {
        let simple =
            !field.is_empty() && field.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        return if simple {
            Ok(Expression::Context(field.to_owned()))
        } else {
            Err(refuse(
                "only a root-level context field may follow `context.`",
            ))
        };
    }
    let Some(rest) = text.strip_prefix("today") else {
        return Err(refuse(
            "expected `context.<field>` or `today()`, optionally `+`/`-` a number of days, weeks, months or years",
        ));
    };
    let rest = rest.trim_start();
    let Some(mut rest) = rest.strip_prefix('(').map(str::trim_start) else {
        return Err(refuse("`today` must be called: `today()`"));
    };
    rest = rest
        .strip_prefix(')')
        .ok_or_else(|| refuse("`today()` takes no argument"))?;
    let mut steps = Vec::new();
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            return Ok(Expression::Today(steps));
        }
        let sign = match rest.as_bytes()[0] {
            b'+' => 1,
            b'-' => -1,
            _ => return Err(refuse("expected `+` or `-` after `today()`")),
        };
        rest = rest[1..].trim_start();
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(refuse("expected a whole number after `+` or `-`"));
        }
        let amount: i64 = rest[..digits]
            .parse()
            .ok()
            .filter(|n| *n <= 100_000)
            .ok_or_else(|| refuse("the number is too large"))?;
        rest = &rest[digits..];
        if rest.starts_with('.') {
            return Err(refuse(
                "a calendar step is a whole number of days, weeks, months or years",
            ));
        }
        rest = rest.trim_start();
        let word_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit = CalendarUnit::from_keyword(&rest[..word_len]).ok_or_else(|| {
            refuse("the unit must be days, weeks, months or years (FHIRPath calendar keywords)")
        })?;
        rest = &rest[word_len..];
        steps.push(Step {
            amount: sign * amount,
            unit,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn on(expression: &str, today: Date) -> Date {
        parse(expression)
            .unwrap_or_else(|e| panic!("{e}"))
            .date_on(today)
            .expect("a date")
    }

    #[test]
    fn the_specs_example_ninety_days_before_2024_09_13_is_2024_06_15() {
        assert_eq!(
            on("today() - 90 days", date!(2024 - 09 - 13)),
            date!(2024 - 06 - 15)
        );
        assert_eq!(
            on("today() + 365 days", date!(2024 - 09 - 13)),
            date!(2025 - 09 - 13)
        );
    }

    #[test]
    fn today_alone_is_today_and_whitespace_is_free() {
        assert_eq!(on("today()", date!(2026 - 12 - 07)), date!(2026 - 12 - 07));
        assert_eq!(
            on("  today ( )-3 days ", date!(2026 - 12 - 07)),
            date!(2026 - 12 - 04)
        );
        assert_eq!(
            on("today()-1 day+1 week", date!(2026 - 12 - 07)),
            date!(2026 - 12 - 13)
        );
    }

    #[test]
    fn months_and_years_move_the_calendar_and_clamp_to_the_months_last_day() {
        assert_eq!(
            on("today() - 1 month", date!(2024 - 03 - 31)),
            date!(2024 - 02 - 29)
        );
        assert_eq!(
            on("today() - 1 year", date!(2024 - 02 - 29)),
            date!(2023 - 02 - 28)
        );
        assert_eq!(
            on("today() - 14 months", date!(2026 - 01 - 15)),
            date!(2024 - 11 - 15)
        );
        assert_eq!(
            on("today() + 2 weeks", date!(2026 - 12 - 25)),
            date!(2027 - 01 - 08)
        );
    }

    #[test]
    fn context_fields_parse_as_in_2_0() {
        assert_eq!(
            parse(" context.patientId "),
            Ok(Expression::Context("patientId".into()))
        );
        assert_eq!(
            parse("context.patientId")
                .unwrap()
                .date_on(date!(2026 - 01 - 01)),
            None
        );
    }

    #[test]
    fn anything_outside_the_subset_is_refused_with_the_expression_named() {
        for expression in [
            "now()",
            "today",
            "today(1)",
            "today() - 90",
            "today() - 90 'd'",
            "today() - 1.5 days",
            "today() * 2 days",
            "today() - days",
            "today() - 3 fortnights",
            "today() - 99999999999999999999 days",
            "%encounter.id",
            "context.draftOrders.entry.resource.ofType(MedicationRequest).id",
            "context.",
            "",
        ] {
            let error = parse(expression).expect_err(expression);
            assert!(
                error.to_string().contains(expression.trim()),
                "{expression}: {error}"
            );
        }
    }
}
