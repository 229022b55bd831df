//! The long form's unit tests: the cache, the ids and sealing, the packing, the page.

use std::time::Duration;

use gravida_knowledge::KnowledgeBase;

use super::html::{markdown_to_html, other_profile_page};
use super::pack::{Unpacked, pack, unpack};
use super::seal::{decode_id, derive, encode_id, new_id, new_secret, open, open_legacy, seal_page};
use super::sheet::{Sheet, role_name_of};
use super::*;

#[test]
fn markdown_from_the_chart_cannot_become_html_or_a_link() {
    let html = markdown_to_html(
        "**Why**: \"<script>x</script>\" \\[Re-enter your password\\](https://evil.example)\n\n- one *two*",
    );
    assert!(!html.contains("<script"), "{html}");
    assert!(!html.contains("<a "), "{html}");
    assert!(html.contains("<strong>Why</strong>"), "{html}");
    assert!(html.contains("<li>one <em>two</em></li>"), "{html}");
}

fn sheet(summary: &str) -> Sheet {
    Sheet {
        indicator: "warning".into(),
        summary: summary.into(),
        detail: Some("**Why**: bleeding at 12w0d".into()),
        reasoning: None,
        records: vec![(
            "bleed".into(),
            "Condition".into(),
            Some("2026-12-01".into()),
        )],
        more_records: 0,
        dating: None,
        sources: vec![(
            "ACOG <PB 200>".into(),
            Some("https://www.acog.org/x".into()),
        )],
        suggestions: vec!["Order TVUS".into()],
        rule: "R2".into(),
        profile_version: "default@abc".into(),
        issued: "2026-12-03T10:00:00Z".into(),
        expires: "2026-12-03T10:30:00Z".into(),
    }
}

#[test]
fn a_sheet_sealed_as_json_renders_the_same_page_as_the_sheet_kept_in_memory() {
    let kept = sheet("Bleeding <at> 12w0d");
    let json = serde_json::to_string(&kept).unwrap();
    let opened: Sheet = serde_json::from_str(&json).unwrap();
    assert_eq!(opened.render(), kept.render());
    let page = kept.render();
    assert!(
        page.contains("<h1>Bleeding &lt;at&gt; 12w0d</h1>"),
        "{page}"
    );
    assert!(page.contains("ACOG &lt;PB 200&gt;"), "{page}");
    assert!(
        page.contains("<li>bleed: diagnosis, 2026-12-01</li>"),
        "{page}"
    );
}

#[test]
fn a_page_with_reasoning_names_each_record_once_says_the_disclaimer_once_and_writes_0w0d() {
    let mut with = sheet("Bleeding at 12w0d");
    with.reasoning = Some(
        "**Why.** Bleeding.\n\nRecords used: diagnosis 'vaginal bleeding' (2026-12-01).\n\n\
         *Advice for the clinician, not a diagnosis.*"
            .into(),
    );
    with.dating = Some(("LMP".into(), Some("2026-11-09".into()), "2026-09-14".into()));
    let page = with.render();
    assert_eq!(page.matches("vaginal bleeding").count(), 1, "{page}");
    assert!(!page.contains("Condition"), "{page}");
    assert_eq!(page.matches("not a diagnosis").count(), 1, "{page}");
    assert!(page.contains("0w0d on 2026-09-14"), "{page}");
    assert!(!page.contains("gestational age 0"), "{page}");
}

#[test]
fn an_indicator_that_is_not_ours_cannot_inject_a_class_or_markup() {
    let mut odd = sheet("x");
    odd.indicator = "\"><script>".into();
    let page = odd.render();
    assert!(!page.contains("<script>"), "{page}");
    assert!(page.contains("indicator info"), "{page}");
}

#[test]
fn ids_are_long_random_and_url_safe() {
    let a = new_id().unwrap();
    let b = new_id().unwrap();
    assert_ne!(a, b);
    assert!(is_well_formed(&a), "{a}");
    assert!(!is_well_formed("../etc/passwd"));
}

/// The embedded profile, and the same profile with one comment changed: another version.
fn profiles() -> (KnowledgeBase, KnowledgeBase) {
    let files = |edit: bool| {
        gravida_knowledge::embedded::FILES
            .iter()
            .map(|(path, text)| {
                let mut bytes = text.as_bytes().to_vec();
                if edit && *path == "cards.toml" {
                    bytes.extend_from_slice(b"\n# edited\n");
                }
                (path.to_string(), bytes)
            })
            .collect()
    };
    (
        KnowledgeBase::from_files(files(false)).unwrap(),
        KnowledgeBase::from_files(files(true)).unwrap(),
    )
}

#[test]
fn a_sheet_packed_against_the_profile_words_keeps_little_more_than_its_facts_and_opens_as_the_same_page()
 {
    let (kb, other) = profiles();
    // A reasoning in the profile's own words (R2's), around a fact or two.
    let words = String::from_utf8(kb.long_form_words(&["R2"])).unwrap();
    let profile_text: String = words
        .lines()
        .rev()
        .take(12)
        .collect::<Vec<_>>()
        .join("\n\n");
    let mut kept = sheet("Bleeding at 12w0d");
    kept.rule = "R2".into();
    kept.reasoning = Some(format!(
        "Bleeding record: \"spotting since Tuesday\" (2026-12-01).\n\n{profile_text}"
    ));
    let json = serde_json::to_vec(&kept).unwrap();
    let packed = pack(&kept, &kb, &["R2"]).unwrap();
    let alone = lz4_flex::block::compress(&json);
    assert!(
        packed.len() * 2 < alone.len() && packed.len() * 3 < json.len(),
        "{} with the words, {} without, of {}",
        packed.len(),
        alone.len(),
        json.len()
    );
    assert_eq!(unpack(&packed, &kb), Some(Unpacked::Page(kept.render())));
    // Another version of the profile has other words: said, never read with them.
    assert_eq!(
        unpack(&packed, &other),
        Some(Unpacked::OtherProfile(kb.version().to_owned()))
    );
    // The same version, but words a release built otherwise (its checksum differs): refused.
    let at = 1 + 2 + kb.version().len() + 2 + "R2".len();
    let mut other_words = packed.clone();
    other_words[at] ^= 1;
    assert_eq!(
        unpack(&other_words, &kb),
        Some(Unpacked::OtherProfile(kb.version().to_owned()))
    );
    let page = other_profile_page(kb.version());
    assert!(
        page.contains(kb.version()) && page.contains("cannot be shown"),
        "{page}"
    );
}

#[test]
fn what_earlier_releases_sealed_still_opens() {
    let (kb, _) = profiles();
    let kept = sheet("Bleeding at 12w0d");
    let json = serde_json::to_vec(&kept).unwrap();
    let page = Some(Unpacked::Page(kept.render()));
    // The release before: the JSON LZ4-compressed alone.
    let mut lz4 = vec![b'L'];
    lz4.extend(u32::try_from(json.len()).unwrap().to_le_bytes());
    lz4.extend(lz4_flex::block::compress(&json));
    assert_eq!(unpack(&lz4, &kb), page);
    // Earlier: the sheet's JSON as it is, or the page.
    assert_eq!(unpack(&json, &kb), page);
    assert_eq!(
        unpack(b"<html>page</html>", &kb),
        Some(Unpacked::Page("<html>page</html>".into()))
    );
    assert_eq!(unpack(b"L\x05\0\0\0not lz4", &kb), None);
    assert_eq!(
        unpack(b"L\xff\xff\xff\xff", &kb),
        None,
        "too large to unpack"
    );
    assert_eq!(unpack(b"W\xff\xff", &kb), None, "cut short");
}

#[test]
fn a_sealed_page_opens_only_with_its_own_id_and_one_the_release_before_sealed_still_opens() {
    let secret = new_secret().unwrap();
    let mine = derive(&secret);
    let sealed = seal_page(&mine.key, &mine.lookup, b"Bleeding at 10w0d").unwrap();
    assert!(!sealed.windows(8).any(|w| w == b"Bleeding"));
    assert_eq!(
        open(&mine.key, &mine.lookup, &sealed).as_deref(),
        Some(&b"Bleeding at 10w0d"[..])
    );
    let other = derive(&new_secret().unwrap());
    assert_eq!(open(&other.key, &mine.lookup, &sealed), None);
    assert_eq!(open(&mine.key, &other.lookup, &sealed), None);
    assert_ne!(mine.lookup, other.lookup);
    assert_eq!(mine.legacy_lookup.len(), 64);
    assert!(
        mine.legacy_lookup.starts_with(
            &mine
                .lookup
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        )
    );
    assert_eq!(decode_id(&encode_id(&secret)), Some(secret));
    // The release before: base64, bound to the hex lookup.
    let legacy = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        seal_page(&mine.key, mine.legacy_lookup.as_bytes(), b"page").unwrap(),
    );
    assert_eq!(open_legacy(&mine, &legacy).as_deref(), Some(&b"page"[..]));
    assert_eq!(open_legacy(&other, &legacy), None);
}

#[test]
fn the_oldest_page_goes_first_when_the_map_is_full() {
    let forms = LongForms::new(Duration::from_secs(60), 2, usize::MAX);
    let first = forms.keep(sheet("one")).unwrap();
    let second = forms.keep(sheet("two")).unwrap();
    let third = forms.keep(sheet("three")).unwrap();
    assert!(forms.get_local(&first).is_none());
    assert_eq!(forms.get_local(&second).unwrap().summary, "two");
    assert_eq!(forms.get_local(&third).unwrap().summary, "three");
}

#[test]
fn the_oldest_pages_go_first_when_the_kept_bytes_would_pass_the_bound() {
    let page = |summary: &str| {
        let mut s = sheet(summary);
        s.reasoning = Some("x".repeat(10_000));
        s
    };
    let one = page("one").bytes();
    // Room for two pages and a half.
    let forms = LongForms::new(Duration::from_secs(60), 1_000, one * 5 / 2);
    let ids: Vec<String> = ["a", "b", "c", "d"]
        .iter()
        .map(|s| forms.keep(page(s)).unwrap())
        .collect();
    let (pages, bytes) = forms.kept();
    assert_eq!(pages, 2);
    assert!(bytes <= one * 5 / 2, "{bytes} bytes kept");
    assert!(forms.get_local(&ids[0]).is_none() && forms.get_local(&ids[1]).is_none());
    assert_eq!(forms.get_local(&ids[3]).unwrap().summary, "d");
    // A page larger than the whole bound is not kept at all, and evicts nothing.
    let mut huge = page("huge");
    huge.reasoning = Some("x".repeat(one * 3));
    let huge = forms.keep(huge).unwrap();
    assert!(forms.get_local(&huge).is_none());
    assert_eq!(forms.kept().0, 2);
}

#[test]
fn role_names_are_read_aloud() {
    assert_eq!(role_name_of("PregnancyEvidence"), "pregnancy evidence");
    assert_eq!(role_name_of("Bleed"), "bleed");
    assert_eq!(role_name_of("Lmp"), "LMP");
    assert_eq!(role_name_of("ChartedEdd"), "charted EDD");
    assert_eq!(role_name_of("RhType"), "Rh type");
    assert_eq!(role_name_of("GaObservation"), "gestational-age observation");
}
