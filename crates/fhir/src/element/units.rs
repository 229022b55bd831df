//! Units with UCUM semantics (knowledge.md §3.6 item 3), for the quantities the engine compares.
//!
//! A quantity is compared in one canonical unit per kind of quantity: hCG in `m[IU]/mL` (= IU/L;
//! IU/mL is ×1,000), a gestational age in days (`wk` ×7), blood pressure in `mm[Hg]` (kPa
//! ×7.5006), heart rate in `/min`, and lengths (CRL, MSD) in `mm` (cm ×10). The table is small
//! and explicit: these are the only conversions a decision reads, and a general UCUM parser would
//! cost more to build than the whole reading layer. Units of other kinds that charts commonly send
//! (mass, volume, mass concentrations, …) are known and kept as written: a mass concentration is
//! never an hCG value, and the engine, which knows which record is hCG, says so. A unit in neither
//! list cannot be compared at all: the reader records a problem, so the card names the record
//! rather than dropping its value silently.
//!
//! Units are matched case-insensitively: EHRs write `mIU/mL`, `MIU/ML` and `m[IU]/mL` for the
//! same unit, and no two units the engine reads differ only in case.

/// A quantity's unit, as read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Unit {
    /// A unit of a kind the engine compares: the factor to its canonical unit, and that unit.
    Convertible {
        factor: f64,
        canonical: &'static str,
    },
    /// A unit of another kind, kept as written.
    Known,
    /// Not a unit this table knows: the value cannot be compared.
    Unknown,
}

/// Arbitrary (international) units per volume: hCG.
const ARBITRARY: &str = "m[IU]/mL";
/// Time: a gestational age.
const DAYS: &str = "d";
/// Pressure: blood pressure.
const PRESSURE: &str = "mm[Hg]";
/// A rate per minute: heart rate.
const PER_MINUTE: &str = "/min";
/// Length: crown–rump length, mean sac diameter.
const LENGTH: &str = "mm";

/// UCUM: 1 mm[Hg] = 133.3220 Pa.
const KPA_IN_MM_HG: f64 = 1000.0 / 133.322;

/// Every unit of the kinds the engine compares, lower case, with its factor to the canonical unit.
const CONVERTIBLE: &[(&str, f64, &str)] = &[
    // hCG: 1 IU/L = 1 mIU/mL. Labs write "U" for the international unit of hCG.
    ("m[iu]/ml", 1.0, ARBITRARY),
    ("miu/ml", 1.0, ARBITRARY),
    ("mu/ml", 1.0, ARBITRARY),
    ("[iu]/l", 1.0, ARBITRARY),
    ("iu/l", 1.0, ARBITRARY),
    ("u/l", 1.0, ARBITRARY),
    ("[iu]/ml", 1000.0, ARBITRARY),
    ("iu/ml", 1000.0, ARBITRARY),
    ("u/ml", 1000.0, ARBITRARY),
    ("k[iu]/l", 1000.0, ARBITRARY),
    ("kiu/l", 1000.0, ARBITRARY),
    ("[iu]/dl", 10.0, ARBITRARY),
    ("iu/dl", 10.0, ARBITRARY),
    ("m[iu]/l", 0.001, ARBITRARY),
    ("miu/l", 0.001, ARBITRARY),
    // A gestational age: UCUM `wk` and `d`, and the words EHRs put in `unit`.
    ("d", 1.0, DAYS),
    ("day", 1.0, DAYS),
    ("days", 1.0, DAYS),
    ("wk", 7.0, DAYS),
    ("w", 7.0, DAYS),
    ("wks", 7.0, DAYS),
    ("week", 7.0, DAYS),
    ("weeks", 7.0, DAYS),
    // Blood pressure.
    ("mm[hg]", 1.0, PRESSURE),
    ("mmhg", 1.0, PRESSURE),
    ("mm hg", 1.0, PRESSURE),
    ("kpa", KPA_IN_MM_HG, PRESSURE),
    // Heart rate.
    ("/min", 1.0, PER_MINUTE),
    ("1/min", 1.0, PER_MINUTE),
    ("{beats}/min", 1.0, PER_MINUTE),
    ("{beat}/min", 1.0, PER_MINUTE),
    ("beats/min", 1.0, PER_MINUTE),
    ("bpm", 1.0, PER_MINUTE),
    ("/s", 60.0, PER_MINUTE),
    ("/h", 1.0 / 60.0, PER_MINUTE),
    // Lengths measured on ultrasound.
    ("mm", 1.0, LENGTH),
    ("cm", 10.0, LENGTH),
    ("m", 1000.0, LENGTH),
    ("um", 0.001, LENGTH),
];

/// Units of kinds no decision compares, that charts commonly send: kept as written.
const KNOWN: &[&str] = &[
    "1",
    "%",
    "{score}",
    "{ratio}",
    "{titer}",
    "{count}",
    "{#}",
    "g",
    "kg",
    "mg",
    "ug",
    "ng",
    "[lb_av]",
    "[oz_av]",
    "l",
    "dl",
    "ml",
    "ul",
    "g/dl",
    "g/l",
    "mg/dl",
    "mg/l",
    "ug/l",
    "ug/ml",
    "ng/ml",
    "ng/dl",
    "ng/l",
    "pg/ml",
    "mol/l",
    "mmol/l",
    "umol/l",
    "nmol/l",
    "pmol/l",
    "meq/l",
    "cel",
    "[degf]",
    "kg/m2",
    "10*3/ul",
    "10*6/ul",
    "10*9/l",
    "10*12/l",
    "fl",
    "pg",
    "/[hpf]",
    "/hpf",
    "[in_i]",
    "[ft_i]",
    "cm[h2o]",
    "mm/h",
    "ml/min",
    "ml/h",
    "/min/{1.73_m2}",
];

/// Reads a unit (a UCUM code, or the human-readable `unit` when there is no code).
pub(crate) fn read(unit: &str) -> Unit {
    let unit = unit.trim();
    if let Some((_, factor, canonical)) = CONVERTIBLE
        .iter()
        .find(|(name, _, _)| name.eq_ignore_ascii_case(unit))
    {
        return Unit::Convertible {
            factor: *factor,
            canonical,
        };
    }
    if KNOWN.iter().any(|name| name.eq_ignore_ascii_case(unit)) {
        Unit::Known
    } else {
        Unit::Unknown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn to_canonical(value: f64, unit: &str) -> Option<(f64, &'static str)> {
        match read(unit) {
            Unit::Convertible { factor, canonical } => Some((value * factor, canonical)),
            _ => None,
        }
    }

    #[test]
    fn hcg_units_are_one_unit_and_iu_per_ml_is_a_thousand_times_more() {
        for unit in ["IU/L", "mIU/mL", "m[IU]/mL", "[IU]/L", "MIU/ML", " mIU/mL "] {
            assert_eq!(
                to_canonical(1500.0, unit),
                Some((1500.0, ARBITRARY)),
                "{unit}"
            );
        }
        assert_eq!(to_canonical(1.62, "IU/mL"), Some((1620.0, ARBITRARY)));
        assert_eq!(to_canonical(1.62, "[IU]/mL"), Some((1620.0, ARBITRARY)));
        assert_eq!(to_canonical(5000.0, "mIU/L"), Some((5.0, ARBITRARY)));
    }

    #[test]
    fn ng_per_ml_is_not_an_hcg_unit_but_a_known_mass_concentration() {
        assert_eq!(read("ng/mL"), Unit::Known);
        assert_eq!(to_canonical(3.0, "ng/mL"), None);
    }

    #[test]
    fn a_gestational_age_is_counted_in_days() {
        assert_eq!(to_canonical(10.0, "wk"), Some((70.0, DAYS)));
        assert_eq!(to_canonical(72.0, "d"), Some((72.0, DAYS)));
        assert_eq!(to_canonical(9.0, "weeks"), Some((63.0, DAYS)));
        // Months and years are not a gestational age's units (knowledge.md §3.6 item 5).
        assert_eq!(read("mo"), Unit::Unknown);
        assert_eq!(read("a"), Unit::Unknown);
    }

    #[test]
    fn vital_signs_and_lengths_have_one_unit_each() {
        let (mm_hg, unit) = to_canonical(12.0, "kPa").unwrap();
        assert_eq!(unit, PRESSURE);
        assert!((mm_hg - 90.0).abs() < 0.01, "{mm_hg}");
        assert_eq!(to_canonical(88.0, "mmHg"), Some((88.0, PRESSURE)));
        assert_eq!(to_canonical(2.0, "/s"), Some((120.0, PER_MINUTE)));
        assert_eq!(
            to_canonical(130.0, "{beats}/min"),
            Some((130.0, PER_MINUTE))
        );
        assert_eq!(to_canonical(2.3, "cm"), Some((23.0, LENGTH)));
    }

    #[test]
    fn a_unit_in_neither_list_is_unknown() {
        for unit in ["[unit?]", "mIU", "IU", "furlongs", ""] {
            assert_eq!(read(unit), Unit::Unknown, "{unit}");
        }
    }
}
