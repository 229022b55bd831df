//! The site's clock: "now" in the site's time zone, which is what "today" means on a ward.
//!
//! Gestational age is counted in calendar days (knowledge.md §3.5 item 3). A record keeps the
//! offset it was written with (`2025-06-15T00:30:00+02:00` is 15 June), and "today" must be the
//! site's today too: at 00:30 in Berlin it is already the next day, although UTC still says
//! yesterday, and a bleed "today" at 13w6d by UTC is 14w0d on the ward, on the other side of
//! the 14-week boundary. The setting is an IANA zone name (`time_zone = "Europe/Berlin"`); the
//! zone database is compiled into the binary (jiff's bundled tzdb), so a container without
//! `/usr/share/zoneinfo` knows every zone, and daylight-saving changes are followed.

use std::fmt;

use serde::{Deserialize, Deserializer};
use time::{OffsetDateTime, UtcOffset};

/// An IANA time zone, checked when the settings are loaded. The default is UTC.
#[derive(Clone)]
pub struct SiteTimeZone {
    name: String,
    zone: jiff::tz::TimeZone,
}

impl SiteTimeZone {
    /// The zone of this IANA name (`"UTC"`, `"Europe/Berlin"`), or why not.
    pub fn named(name: &str) -> Result<SiteTimeZone, String> {
        let zone = jiff::tz::TimeZone::get(name).map_err(|_| {
            format!("{name:?} is not an IANA time zone name (e.g. \"Europe/Berlin\", \"UTC\")")
        })?;
        Ok(SiteTimeZone {
            name: name.to_owned(),
            zone,
        })
    }

    /// The IANA name, as configured.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The same instant, in the site's offset at that instant (daylight saving included).
    pub fn at(&self, instant: OffsetDateTime) -> OffsetDateTime {
        let seconds = jiff::Timestamp::from_second(instant.unix_timestamp())
            .map(|timestamp| self.zone.to_offset(timestamp).seconds())
            .unwrap_or(0);
        // jiff offsets are within ±25:59:59 and time's within ±25:59:59: this cannot fail, but
        // UTC is the safe answer if it ever did.
        let offset = UtcOffset::from_whole_seconds(seconds).unwrap_or(UtcOffset::UTC);
        instant.to_offset(offset)
    }

    /// Now, in the site's time zone.
    pub fn now(&self) -> OffsetDateTime {
        self.at(OffsetDateTime::now_utc())
    }
}

/// Where a hook call's "now" comes from: the system clock, or one instant pinned by whoever
/// built the app (a test of a chart written on a given day reads it on that day; `gravida
/// evaluate --now` does the same from the command line). Settings cannot pin it: a deployed
/// service always reads the system clock.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Clock {
    #[default]
    System,
    Pinned(OffsetDateTime),
}

impl Clock {
    /// Now in `zone`: the system's now, or the pinned instant, in the site's offset.
    pub fn now_in(self, zone: &SiteTimeZone) -> OffsetDateTime {
        match self {
            Clock::System => zone.now(),
            Clock::Pinned(instant) => zone.at(instant),
        }
    }
}

impl Default for SiteTimeZone {
    fn default() -> Self {
        SiteTimeZone {
            name: "UTC".to_owned(),
            zone: jiff::tz::TimeZone::UTC,
        }
    }
}

impl fmt::Debug for SiteTimeZone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

impl<'de> Deserialize<'de> for SiteTimeZone {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        SiteTimeZone::named(&name).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn half_past_midnight_in_berlin_is_the_next_day_while_utc_still_says_yesterday() {
        let berlin = SiteTimeZone::named("Europe/Berlin").unwrap();
        let local = berlin.at(datetime!(2025-06-14 22:30 UTC));
        assert_eq!(local.date(), time::macros::date!(2025 - 06 - 15));
        assert_eq!(local.offset(), UtcOffset::from_hms(2, 0, 0).unwrap());
    }

    #[test]
    fn daylight_saving_time_is_followed() {
        let berlin = SiteTimeZone::named("Europe/Berlin").unwrap();
        let winter = berlin.at(datetime!(2025-01-15 12:00 UTC));
        assert_eq!(winter.offset(), UtcOffset::from_hms(1, 0, 0).unwrap());
    }

    #[test]
    fn a_pinned_clock_gives_its_instant_in_the_sites_offset_and_the_default_reads_the_system() {
        let berlin = SiteTimeZone::named("Europe/Berlin").unwrap();
        let pinned = Clock::Pinned(datetime!(2026-12-07 23:30 UTC)).now_in(&berlin);
        assert_eq!(pinned.date(), time::macros::date!(2026 - 12 - 08));
        let before = OffsetDateTime::now_utc();
        let system = Clock::default().now_in(&berlin);
        assert!(system >= before && system <= OffsetDateTime::now_utc());
    }

    #[test]
    fn the_default_is_utc_and_an_unknown_zone_is_refused_with_its_name() {
        assert_eq!(
            SiteTimeZone::default()
                .at(datetime!(2025-06-14 22:30 UTC))
                .offset(),
            UtcOffset::UTC
        );
        let error = SiteTimeZone::named("Mars/Olympus_Mons").unwrap_err();
        assert!(error.contains("Mars/Olympus_Mons"), "{error}");
    }
}
