//! Gestational age: a whole number of days, shown as `12w0d` everywhere (cards, logs, tests).
//!
//! GA counts from the first day of the last menstrual period (or its equivalent, "pregnancy
//! start"), so GA on a date is simply `date - start`. Every dating source is reduced to a start
//! date, which makes "GA on a later date = GA + days elapsed" true by construction.

use std::fmt;
use std::str::FromStr;

use time::{Date, Duration};

/// Days in a full-term pregnancy by the 280-day (Naegele) convention: EDD = start + 280 days.
pub const TERM_DAYS: i64 = 280;

/// A gestational age in days. Displays as `{weeks}w{days}d`, e.g. `12w0d` for 84 days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GestationalAge {
    days: i64,
}

impl GestationalAge {
    /// A GA of `days` days.
    pub const fn from_days(days: i64) -> Self {
        GestationalAge { days }
    }

    /// A GA of `weeks` weeks and `days` days (`from_weeks_days(12, 0)` is `12w0d`).
    pub const fn from_weeks_days(weeks: i64, days: i64) -> Self {
        GestationalAge {
            days: weeks * 7 + days,
        }
    }

    /// Converts a GA recorded in (possibly fractional) weeks to days: round(weeks × 7).
    pub fn from_fractional_weeks(weeks: f64) -> Option<Self> {
        let days = (weeks * 7.0).round();
        if days.is_finite() && days.abs() < 1.0e6 {
            Some(GestationalAge { days: days as i64 })
        } else {
            None
        }
    }

    /// GA on `date` for a pregnancy that started (GA 0) on `start`.
    pub fn on(start: Date, date: Date) -> Self {
        GestationalAge {
            days: (date - start).whole_days(),
        }
    }

    /// GA on `date` from an estimated due date: 280 − (EDD − date).
    pub fn from_edd(edd: Date, date: Date) -> Self {
        GestationalAge {
            days: TERM_DAYS - (edd - date).whole_days(),
        }
    }

    /// The start date (GA 0) of a pregnancy that has this GA on `date`.
    pub fn start_when_on(self, date: Date) -> Option<Date> {
        date.checked_sub(Duration::days(self.days))
    }

    pub const fn days(self) -> i64 {
        self.days
    }

    /// Completed weeks (floor, also for negative values).
    pub const fn weeks(self) -> i64 {
        self.days.div_euclid(7)
    }
}

impl fmt::Display for GestationalAge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.days < 0 {
            let abs = -self.days;
            write!(f, "-{}w{}d", abs / 7, abs % 7)
        } else {
            write!(f, "{}w{}d", self.days / 7, self.days % 7)
        }
    }
}

/// Why a string is not a GA in `12w0d` form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a gestational age in the form 12w0d: {0:?}")]
pub struct ParseGaError(String);

impl FromStr for GestationalAge {
    type Err = ParseGaError;

    /// Parses `12w0d` (days 0–6) and `-0w3d`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || ParseGaError(s.to_string());
        let (negative, rest) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        let (weeks, days) = rest.split_once('w').ok_or_else(bad)?;
        let days = days.strip_suffix('d').ok_or_else(bad)?;
        let all_digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
        if !all_digits(weeks) || !all_digits(days) || weeks.len() > 6 {
            return Err(bad());
        }
        let weeks: i64 = weeks.parse().map_err(|_| bad())?;
        let days: i64 = days.parse().map_err(|_| bad())?;
        if days > 6 {
            return Err(bad());
        }
        let total = weeks * 7 + days;
        Ok(GestationalAge {
            days: if negative { -total } else { total },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::date;

    #[test]
    fn eighty_four_days_displays_as_twelve_weeks_zero_days() {
        assert_eq!(GestationalAge::from_days(84).to_string(), "12w0d");
        assert_eq!(GestationalAge::from_days(34).to_string(), "4w6d");
    }

    #[test]
    fn ga_from_lmp_counts_days_since_the_lmp() {
        let ga = GestationalAge::on(date!(2025 - 01 - 21), date!(2025 - 04 - 01));
        assert_eq!(ga.to_string(), "10w0d");
    }

    #[test]
    fn ga_from_edd_uses_the_280_day_convention() {
        let ga = GestationalAge::from_edd(date!(2025 - 06 - 10), date!(2025 - 04 - 01));
        assert_eq!(ga.to_string(), "30w0d");
    }

    #[test]
    fn fractional_weeks_round_to_the_nearest_day() {
        assert_eq!(
            GestationalAge::from_fractional_weeks(8.5).map(|g| g.days()),
            Some(60)
        );
        assert_eq!(GestationalAge::from_fractional_weeks(f64::NAN), None);
    }

    #[test]
    fn malformed_ga_strings_are_rejected() {
        for s in ["12w", "w3d", "12w7d", "12x0d", "", "1 2w0d", "12w0"] {
            assert!(s.parse::<GestationalAge>().is_err(), "{s} should not parse");
        }
    }

    proptest! {
        #[test]
        fn display_and_parse_round_trip(days in -400i64..2000) {
            let ga = GestationalAge::from_days(days);
            prop_assert_eq!(ga.to_string().parse::<GestationalAge>(), Ok(ga));
        }

        #[test]
        fn ga_from_lmp_and_from_the_matching_edd_agree(lmp_offset in 0i64..20000, elapsed in 0i64..320) {
            let lmp = date!(1990 - 01 - 01) + Duration::days(lmp_offset);
            let edd = lmp + Duration::days(TERM_DAYS);
            let on = lmp + Duration::days(elapsed);
            prop_assert_eq!(GestationalAge::on(lmp, on), GestationalAge::from_edd(edd, on));
        }

        #[test]
        fn ga_advances_one_day_per_day(start_offset in 0i64..20000, elapsed in 0i64..320, later in 0i64..100) {
            let start = date!(1990 - 01 - 01) + Duration::days(start_offset);
            let d1 = start + Duration::days(elapsed);
            let d2 = d1 + Duration::days(later);
            prop_assert_eq!(GestationalAge::on(start, d2).days() - GestationalAge::on(start, d1).days(), later);
        }

        #[test]
        fn start_date_recovers_the_ga(days in 0i64..320, offset in 0i64..20000) {
            let on = date!(1990 - 01 - 01) + Duration::days(offset);
            let ga = GestationalAge::from_days(days);
            let start = ga.start_when_on(on);
            prop_assert_eq!(start.map(|s| GestationalAge::on(s, on)), Some(ga));
        }
    }
}
