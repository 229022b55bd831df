//! Tests of the code sets, the class index and the thresholds' tables.

use super::*;

#[test]
fn icd10cm_codes_match_with_or_without_the_dot() {
    let mut set = CodeSet::new();
    set.insert(ICD10CM, "O20.0");
    set.insert_prefix(ICD10CM, "O44");
    assert!(set.contains(&Code::new(ICD10CM, "O200")));
    assert!(set.contains(&Code::new(ICD10CM, "o20.0")));
    assert!(set.contains(&Code::new(ICD10CM, "O44.12")));
    assert!(!set.contains(&Code::new(ICD10CM, "O45.0")));
    assert!(!set.contains(&Code::new(SNOMED, "O20.0")));
}

#[test]
fn systems_are_compared_exactly() {
    let set = CodeSet::of(&[(LOINC, "2106-3")]);
    assert!(set.contains(&Code::new(LOINC, "2106-3")));
    assert!(!set.contains(&Code::new("urn:oid:2.16.840.1.113883.6.238", "2106-3")));
}

#[test]
fn classify_agrees_with_the_value_sets() {
    let kb = crate::testkit::knowledge();
    let bits = kb.classify(&[Code::new(ICD10CM, "O20.0")]);
    assert_ne!(bits & class::BLEEDING, 0);
    assert_ne!(bits & class::PREGNANCY_CONDITION, 0);
    assert_eq!(bits & class::ENDED, 0);
    let codes = [
        Code::new(LOINC, "8665-2"),
        Code::new(SNOMED, "65727000"),
        Code::new(LOINC, "11927-1"),
    ];
    for code in &codes {
        let bits = kb.classify(std::slice::from_ref(code));
        assert_eq!(kb.value_sets().iup.contains(code), bits & class::IUP != 0);
        assert_eq!(
            kb.value_sets().lmp_date.contains(code),
            bits & class::LMP_DATE != 0
        );
        assert_eq!(
            kb.value_sets().dating_ultrasound.contains(code),
            bits & class::DATING_ULTRASOUND != 0
        );
    }
    assert_eq!(kb.classify(&[Code::new(LOINC, "11927-1")]), 0);
}

#[test]
fn every_code_of_every_indexed_value_set_classifies_with_its_bit() {
    let kb = crate::testkit::knowledge();
    let mut checked = 0;
    for (set, bit) in indexed_sets(kb.value_sets()) {
        for (system, code) in set.entries() {
            let bits = kb.classify(&[Code::new(system.to_owned(), code)]);
            assert_ne!(bits & bit, 0, "{system}|{code} lacks bit {bit:#x}");
            checked += 1;
        }
    }
    assert!(checked > 50, "only {checked} codes checked");
}

#[test]
fn co700_thresholds_follow_the_table() {
    let t = Thresholds::default();
    assert_eq!(t.redating_threshold(62), 5); // 8w6d
    assert_eq!(t.redating_threshold(63), 7); // 9w0d
    assert_eq!(t.redating_threshold(111), 7); // 15w6d
    assert_eq!(t.redating_threshold(112), 10); // 16w0d
    assert_eq!(t.redating_threshold(153), 10); // 21w6d
    assert_eq!(t.redating_threshold(154), 14); // 22w0d
    assert_eq!(t.redating_threshold(196), 21); // 28w0d
}

#[test]
fn barnhart_minimum_rise_depends_on_the_first_value() {
    let t = Thresholds::default();
    assert_eq!(t.min_rise_for(1499.0), 0.49);
    assert_eq!(t.min_rise_for(1500.0), 0.40);
    assert_eq!(t.min_rise_for(3000.0), 0.40);
    assert_eq!(t.min_rise_for(3001.0), 0.33);
}
