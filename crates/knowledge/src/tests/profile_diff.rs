//! `profile diff` on two real profile versions: the shipped profile and its next version in
//! `tests/fixtures/profile-1.2.0` (R15 silent, a threshold, a value-set code, a card text line
//! and a source URL changed).
//!
//! The fixture is a copy of `profiles/default` with exactly those five changes (its
//! `change_note` names them). When `profiles/default` changes, refresh it: copy the folder again
//! over the fixture, keep the fixture's `profile.toml` (version, note, `[rules.R15]`), and make
//! the other four edits again (`future_tolerance_days` 2, N93.9 out of `bleeding.json`, R4's
//! summary, R2's `source_url`).

use std::path::Path;

use crate::diff::ProfileDiff;

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn next() -> ProfileDiff {
    ProfileDiff::between(
        &root().join("profiles/default"),
        &root().join("tests/fixtures/profile-1.2.0"),
    )
    .expect("both folders read")
}

fn section<'a>(diff: &'a ProfileDiff, title: &str) -> &'a [String] {
    diff.sections
        .iter()
        .find(|s| s.title.starts_with(title))
        .map_or(&[], |s| &s.lines)
}

#[test]
fn the_next_version_lists_each_change_in_its_section() {
    let diff = next();
    assert_eq!(diff.old, "default 1.1.0");
    assert_eq!(diff.new, "default 1.2.0");
    assert!(diff.change_note.starts_with("R15 runs silently"));
    assert_eq!(section(&diff, "Rule modes"), ["R15: active -> silent"]);
    assert_eq!(
        section(&diff, "Thresholds"),
        ["future_tolerance_days: 1 -> 2"]
    );
    let value_sets = section(&diff, "Value sets");
    assert_eq!(value_sets.len(), 1, "{value_sets:?}");
    assert!(
        value_sets[0].starts_with("bleeding: - http://hl7.org/fhir/sid/icd-10-cm|N93.9"),
        "{value_sets:?}"
    );
    let cards = section(&diff, "Card text").join("\n");
    assert!(
        cards.contains(
            "-summary = \"Vaginal bleeding at {ga} in a documented intrauterine pregnancy (documented {iup_day})\"\n\
             +summary = \"Vaginal bleeding at {ga} in an intrauterine pregnancy documented {iup_day}\""
        ),
        "{cards}"
    );
    assert!(cards.contains("@@ -238,"), "a hunk header: {cards}");
    assert_eq!(
        section(&diff, "Source URLs"),
        [
            "- https://acsearch.acr.org/list",
            "+ https://acsearch.acr.org/docs/69457/Narrative/"
        ]
    );
    assert!(section(&diff, "Order codes").is_empty());
    assert!(section(&diff, "Other files").is_empty(), "{diff}");
    assert!(diff.needs_sign_off());
    let text = diff.to_string();
    assert!(
        text.contains("Rule modes [needs clinical sign-off]"),
        "{text}"
    );
    assert!(text.contains("\nCard text (cards.toml)\n"), "{text}");
}

#[test]
fn a_profile_against_itself_has_no_change_and_needs_no_sign_off() {
    let dir = root().join("profiles/default");
    let diff = ProfileDiff::between(&dir, &dir).unwrap();
    assert!(diff.sections.is_empty(), "{diff}");
    assert!(!diff.needs_sign_off());
    assert!(diff.to_string().contains("no change"));
}

#[test]
fn card_text_order_codes_and_urls_alone_need_no_sign_off_and_a_value_set_code_does() {
    let old = super::default_files();
    let mut new = old.clone();
    let swap = |files: &mut crate::diff::Files, path: &str, from: &str, to: &str| {
        let text = String::from_utf8(files[path].clone()).unwrap();
        assert!(text.contains(from), "{path}: {from}");
        files.insert(path.into(), text.replacen(from, to, 1).into_bytes());
    };
    swap(
        &mut new,
        "cards.toml",
        "ectopic pregnancy not excluded",
        "ectopic not excluded",
    );
    swap(&mut new, "orderables.toml", "\"24677-7\"", "\"24677-8\"");
    let diff = ProfileDiff::of_files(&old, &new).unwrap();
    assert!(!diff.needs_sign_off(), "{diff}");
    assert_eq!(
        section(&diff, "Order codes").len(),
        1,
        "{:?}",
        section(&diff, "Order codes")
    );
    swap(&mut new, "valuesets/iud.json", "\"Z97.5\"", "\"Z97.6\"");
    let diff = ProfileDiff::of_files(&old, &new).unwrap();
    assert!(diff.needs_sign_off(), "{diff}");
    assert_eq!(section(&diff, "Value sets").len(), 2, "{diff}");
}

#[test]
fn a_file_that_is_not_toml_is_an_error_naming_it() {
    let old = super::default_files();
    let mut new = old.clone();
    new.insert("thresholds.toml".into(), b"[unclosed".to_vec());
    let error = ProfileDiff::of_files(&old, &new).unwrap_err();
    assert!(error.to_string().contains("thresholds.toml"), "{error}");
}
