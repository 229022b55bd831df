//! Tests of profile loading, validation, versioning, prefetch and card rendering.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use gravida_cds_hooks::ActionType;
use gravida_rules::facts::{
    Code, DraftOrder, Input, PatientFacts, Record, RecordKind, Value, When,
};
use gravida_rules::knowledge::{LOINC, RXNORM, SNOMED};
use time::macros::{date, datetime};

use super::*;

fn profiles_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../profiles")
}

fn default_files() -> BTreeMap<String, Vec<u8>> {
    embedded::FILES
        .iter()
        .map(|(p, t)| (p.to_string(), t.as_bytes().to_vec()))
        .collect()
}

fn problems_of(files: BTreeMap<String, Vec<u8>>) -> Vec<ProfileProblem> {
    match KnowledgeBase::from_files(files) {
        Ok(_) => Vec::new(),
        Err(e) => e.problems().to_vec(),
    }
}

#[test]
fn a_knowledge_base_can_be_shared_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<KnowledgeBase>();
}

#[test]
fn every_shipped_profile_loads() {
    let mut count = 0;
    for entry in std::fs::read_dir(profiles_dir()).expect("profiles dir") {
        let dir = entry.expect("entry").path();
        if dir.is_dir() {
            let kb = KnowledgeBase::load_dir(&dir);
            assert!(kb.is_ok(), "{}: {:?}", dir.display(), kb.err());
            count += 1;
        }
    }
    assert!(count >= 1);
}

#[test]
fn the_embedded_profile_is_exactly_profiles_default() {
    let from_disk = KnowledgeBase::load_dir(&profiles_dir().join("default")).expect("loads");
    let embedded = KnowledgeBase::embedded().expect("loads");
    assert_eq!(from_disk.version(), embedded.version());
    assert!(embedded.version().starts_with("default@"));
    assert_eq!(embedded.version().len(), "default@".len() + 12);
}

#[test]
fn a_broken_profile_reports_several_problems_at_once() {
    let dir = std::env::temp_dir().join(format!("gravida-broken-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for (path, text) in embedded::FILES {
        let target = dir.join(path);
        std::fs::create_dir_all(target.parent().expect("parent")).expect("mkdir");
        std::fs::write(&target, text).expect("write");
    }
    // 1. unknown code system; 2. empty value set; 3. summary too long; 4. threshold missing;
    // 5. a rule without a card template (R13 removed); 6. unknown key.
    let bleeding = std::fs::read_to_string(dir.join("valuesets/bleeding.json")).expect("read");
    std::fs::write(
        dir.join("valuesets/bleeding.json"),
        bleeding.replace("http://snomed.info/sct", "http://example.org/not-a-system"),
    )
    .expect("write");
    std::fs::write(
        dir.join("valuesets/iup.json"),
        r#"{"resourceType":"ValueSet","compose":{"include":[]}}"#,
    )
    .expect("write");
    let cards = std::fs::read_to_string(dir.join("cards.toml")).expect("read");
    let cards = cards
        .replace(
            "summary = \"Subchorionic hematoma with bleeding at {ga}\"",
            &format!("summary = \"{}\"", "x".repeat(150)),
        )
        .replace("[rules.R13]", "[rules.R13_removed]");
    std::fs::write(dir.join("cards.toml"), cards).expect("write");
    let thresholds = std::fs::read_to_string(dir.join("thresholds.toml")).expect("read");
    std::fs::write(
        dir.join("thresholds.toml"),
        thresholds.replace(
            "[recency_days]\nvalue = 14\n",
            "[recency_days_typo]\nvalue = 14\n",
        ),
    )
    .expect("write");

    let err = KnowledgeBase::load_dir(&dir).expect_err("broken profile must not load");
    let problems = err.problems();
    let text = err.to_string();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(problems.len() >= 4, "{text}");
    assert!(
        problems
            .iter()
            .any(|p| p.file == "valuesets/bleeding.json"
                && p.message.contains("unknown code system")),
        "{text}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.file == "valuesets/iup.json" && p.message.contains("empty")),
        "{text}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.file == "cards.toml" && p.message.contains("140")),
        "{text}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.file == "cards.toml" && p.message.contains("R13")),
        "{text}"
    );
    assert!(
        problems.iter().any(|p| p.file == "thresholds.toml"),
        "{text}"
    );
}

#[test]
fn a_source_url_that_is_http_or_off_the_allow_list_is_refused_at_load_naming_the_url() {
    let mut files = default_files();
    let cards = String::from_utf8(files["cards.toml"].clone()).expect("utf-8");
    let cards = cards
        .replace(
            "https://doi.org/10.1093/humrep/deg379",
            "http://www.researchgate.net/publication/10610308",
        )
        .replace(
            "https://pubmed.ncbi.nlm.nih.gov/17477103/",
            "https://fdocuments.in/document/late-pregnancy-bleeding.html",
        );
    files.insert("cards.toml".into(), cards.into_bytes());
    let messages: Vec<String> = problems_of(files).into_iter().map(|p| p.message).collect();
    for url in [
        "http://www.researchgate.net/publication/10610308",
        "https://fdocuments.in/document/late-pregnancy-bleeding.html",
    ] {
        assert!(
            messages.iter().any(|m| m.contains(url)),
            "{url}: {messages:?}"
        );
    }
}

#[test]
fn every_source_url_of_the_shipped_profile_is_https_on_the_allow_list() {
    let kb = KnowledgeBase::embedded().expect("loads");
    let cards = &kb.profile.cards;
    assert!(!cards.allowed_source_hosts.is_empty());
    for (rule, card) in &cards.rules {
        for url in std::iter::once(&card.source_url).chain(card.links.iter().map(|l| &l.url)) {
            let host = url
                .strip_prefix("https://")
                .and_then(|rest| rest.split('/').next())
                .unwrap_or_default();
            assert!(
                cards.allowed_source_hosts.iter().any(|h| h == host),
                "{rule}: {url}"
            );
            assert!(!url.contains('?'), "{rule}: a search page {url}");
        }
    }
}

#[test]
fn a_missing_threshold_and_a_missing_value_set_are_both_reported() {
    let mut files = default_files();
    files.remove("valuesets/methotrexate.json");
    let t = String::from_utf8(files["thresholds.toml"].clone()).expect("utf8");
    let t = t.replace(
        "[hcg_min_decline]\nvalue = 0.21\n",
        "[other]\nvalue = 0.21\n",
    );
    files.insert("thresholds.toml".into(), t.into_bytes());
    let problems = problems_of(files);
    assert!(
        problems
            .iter()
            .any(|p| p.file == "valuesets/methotrexate.json"),
        "{problems:?}"
    );
    assert!(
        problems.iter().any(|p| p.file == "thresholds.toml"),
        "{problems:?}"
    );
}

/// The late-pregnancy rules' clinical content is profile data, not Rust constants: a profile
/// that lacks any of it does not load, and the problem names what is missing.
#[test]
fn a_profile_missing_the_vasa_previa_set_the_term_threshold_or_the_anticoagulant_names_is_refused()
{
    let without_vasa_set = {
        let mut files = default_files();
        files.remove("valuesets/vasa-previa.json");
        problems_of(files)
    };
    assert!(
        without_vasa_set
            .iter()
            .any(|p| p.file == "valuesets/vasa-previa.json"),
        "{without_vasa_set:?}"
    );

    let without_term = {
        let mut files = default_files();
        let t = String::from_utf8(files["thresholds.toml"].clone()).expect("utf8");
        // The whole table goes: its header, value and source, up to the blank line after it.
        let start = t
            .find("[term_from]")
            .expect("the default profile has term_from");
        let end = start + t[start..].find("\n\n").expect("a blank line follows it");
        let t = format!("{}{}", &t[..start], &t[end + 2..]);
        files.insert("thresholds.toml".into(), t.into_bytes());
        problems_of(files)
    };
    assert!(
        without_term
            .iter()
            .any(|p| p.message == "threshold term_from is missing"),
        "{without_term:?}"
    );

    let without_names = {
        let mut files = default_files();
        let t = String::from_utf8(files["text.toml"].clone()).expect("utf8");
        let t: String = t
            .lines()
            .filter(|line| !line.starts_with("anticoagulant_names"))
            .map(|line| format!("{line}\n"))
            .collect();
        files.insert("text.toml".into(), t.into_bytes());
        problems_of(files)
    };
    assert!(
        without_names
            .iter()
            .any(|p| p.file == "text.toml" && p.message.contains("anticoagulant_names")),
        "{without_names:?}"
    );
}

#[test]
fn an_out_of_range_threshold_is_refused() {
    let mut files = default_files();
    let t = String::from_utf8(files["thresholds.toml"].clone()).expect("utf8");
    files.insert(
        "thresholds.toml".into(),
        t.replace("value = 0.21", "value = 7.5").into_bytes(),
    );
    let problems = problems_of(files);
    assert!(
        problems
            .iter()
            .any(|p| p.message.contains("hcg_min_decline")),
        "{problems:?}"
    );
}

#[test]
fn duplicate_codes_in_a_value_set_are_refused() {
    let mut files = default_files();
    files.insert(
        "valuesets/iup.json".into(),
        br#"{"resourceType":"ValueSet","compose":{"include":[{"system":"http://snomed.info/sct","concept":[{"code":"65727000"},{"code":"65727000"}]}]}}"#.to_vec(),
    );
    let problems = problems_of(files);
    assert!(
        problems.iter().any(|p| p.message.contains("duplicate")),
        "{problems:?}"
    );
}

#[test]
fn the_version_changes_when_a_file_changes() {
    let a = KnowledgeBase::from_files(default_files()).expect("loads");
    let mut files = default_files();
    let mut readme = files["README.md"].clone();
    readme.extend_from_slice(b"\nA reviewer's note.\n");
    files.insert("README.md".into(), readme);
    let b = KnowledgeBase::from_files(files).expect("loads");
    assert_ne!(a.version(), b.version());
}

#[test]
fn prefetch_queries_are_by_patient_and_code_and_short_enough() {
    let kb = KnowledgeBase::embedded().expect("loads");
    let keys: Vec<&str> = kb.prefetch().iter().map(|q| q.key.as_str()).collect();
    for key in [
        "patient",
        "conditions",
        "pregnancy",
        "bleeding",
        "hcg",
        "rh",
        "ultrasound",
    ] {
        assert!(keys.contains(&key), "missing {key}");
    }
    for q in kb.prefetch() {
        assert!(
            q.template.len() < 2000,
            "{} is {} chars",
            q.key,
            q.template.len()
        );
        if q.template.starts_with("Observation") || q.template.starts_with("DiagnosticReport") {
            assert!(
                q.template.contains("patient={{context.patientId}}&code="),
                "{}",
                q.template
            );
        }
    }
    let hcg = kb.prefetch().iter().find(|q| q.key == "hcg").expect("hcg");
    assert!(hcg.template.contains("http://loinc.org|21198-7"));
    assert_eq!(hcg.need, Need::Optional(Input::Hcg));
    let conditions = kb
        .prefetch()
        .iter()
        .find(|q| q.key == "conditions")
        .expect("c");
    assert_eq!(
        conditions.template,
        "Condition?patient={{context.patientId}}&_count=500"
    );
}

// ----- Rendering -------------------------------------------------------------------------------

/// What the clinician can read of a card: its detail, then its long form's full reasoning
/// (which the server moves from the card's extension to `GET /cards/{id}`).
/// The cards of an evaluation alone, as the EHR gets them.
pub(crate) fn cards_of(assessment: Assessment) -> Vec<gravida_cds_hooks::Card> {
    assessment.cards.into_iter().map(|r| r.card).collect()
}

pub(crate) fn full_text(card: &gravida_cds_hooks::Card) -> String {
    let reasoning = card
        .extension
        .as_ref()
        .and_then(|e| e.get(render::REASONING_EXTENSION))
        .and_then(|r| r.as_str())
        .unwrap_or_default();
    format!(
        "{}\n\n{reasoning}",
        card.detail.as_deref().unwrap_or_default()
    )
}

const NOW: time::OffsetDateTime = datetime!(2025-04-01 12:00 UTC);

fn motivating_case() -> PatientFacts {
    let mut status = Record::new(RecordKind::Observation, "status");
    status.codes = vec![Code::new(LOINC, "82810-3")];
    status.effective = Some(When::day(date!(2025 - 03 - 02)));
    status.value = Some(Value::Concept {
        codes: vec![Code::new(SNOMED, "77386006")],
        text: None,
    });
    let mut lmp = Record::new(RecordKind::Observation, "lmp");
    lmp.codes = vec![Code::new(LOINC, "8665-2")];
    lmp.effective = Some(When::day(date!(2025 - 02 - 25)));
    lmp.value = Some(Value::DateTime(When::day(date!(2025 - 01 - 07))));
    let mut bleed = Record::new(RecordKind::Condition, "bleed");
    bleed.codes = vec![Code::new(SNOMED, "723665008")];
    bleed.text = vec!["implantation bleeding".into()];
    bleed.clinical_status = Some("active".into());
    bleed.effective = Some(When::day(date!(2025 - 04 - 01)));
    PatientFacts {
        records: vec![status, lmp, bleed],
        ..Default::default()
    }
}

#[test]
fn the_motivating_case_reads_like_the_sandbox_card() {
    let kb = KnowledgeBase::embedded().expect("loads");
    let a = kb.evaluate(&motivating_case(), "p1", NOW);
    assert_eq!(a.cards.len(), 1);
    let card = &a.cards[0].card;
    assert!(card.summary.contains("12w0d"), "{}", card.summary);
    assert!(card.summary.contains("ectopic pregnancy not excluded"));
    assert!(card.summary.chars().count() < 140);
    let detail = card.detail.as_deref().unwrap_or_default();
    // What to do comes first: the first three lines are the steps.
    let first: Vec<&str> = detail.lines().take(3).collect();
    assert!(first.iter().all(|l| l.starts_with("- ")), "{detail}");
    assert!(first[0].contains("TVUS"), "{detail}");
    assert!(first[1].contains("hCG now and in 48 h"), "{detail}");
    assert!(detail.contains("- ABO/Rh type.\n"), "{detail}");
    // Then why, with the record named as a clinician knows it and its day.
    assert!(
        detail.contains("**Why.** Diagnosis 'implantation bleeding', 1 Apr."),
        "{detail}"
    );
    assert!(detail.contains("GA 12w0d by LMP 7 Jan"), "{detail}");
    assert!(detail.contains("implausible at 12w0d"), "{detail}");
    // The safety line that belongs with it, on the card itself.
    assert!(
        detail.contains("no methotrexate until a normal IUP is excluded"),
        "{detail}"
    );
    assert!(detail.contains("Not a diagnosis"), "{detail}");
    assert!(
        detail.chars().count() <= 450,
        "{} characters: {detail}",
        detail.chars().count()
    );
    // The reasoning that does not fit is the long form's, not lost.
    let full = full_text(card);
    for wanted in [
        "**What to do.**",
        "What this card does not mean",
        "LMP 2025-01-07",
        "chronologically implausible",
        "Rh type not on record",
        "do not base treatment on a single hCG value",
        "No methotrexate before a normal intrauterine pregnancy",
    ] {
        assert!(full.contains(wanted), "{wanted}: {full}");
    }
    // Records are named as a clinician knows them, not by their resource ids.
    let used = full.split("Records used: ").nth(1).unwrap_or_default();
    assert!(used.contains("'"), "records named by what they say: {used}");
    assert!(
        !full.contains("Condition/") && !full.contains("Observation/"),
        "{full}"
    );
    // The profile version is the audit's and the extension's, not the physician's to read.
    assert!(
        !card.source.label.contains(kb.version()),
        "{}",
        card.source.label
    );
    assert_eq!(
        card.extension
            .as_ref()
            .and_then(|extension| extension.get("org.gravida.profile"))
            .and_then(|version| version.as_str()),
        Some(kb.version())
    );
    assert_eq!(
        card.source.topic.as_ref().map(|t| t.code.as_str()),
        Some("R2")
    );
    // Three buttons, the most useful first: TVUS, the serial hCG pair, then CBC with the
    // unknown Rh type's ABO/Rh typing, which share a button rather than the cap dropping one.
    let labels: Vec<&str> = card.suggestions.iter().map(|s| s.label.as_str()).collect();
    assert_eq!(
        labels,
        [
            "Order transvaginal ultrasound (TVUS)",
            "Order quantitative serum hCG now and in 48 h",
            "Order CBC and ABO/Rh type"
        ]
    );
    for s in &card.suggestions {
        assert!(s.uuid.is_some());
        let resource = s.actions[0].resource.as_ref().expect("resource");
        assert_eq!(resource["status"], "draft");
        assert_eq!(resource["subject"]["reference"], "Patient/p1");
    }
    // The hCG button creates both orders: one now, one 48 h later.
    let hcg = &card.suggestions[1];
    assert_eq!(hcg.actions.len(), 2);
    let now = hcg.actions[0].resource.clone().expect("hCG now");
    assert!(now.get("occurrenceDateTime").is_none(), "{now}");
    let repeat = hcg.actions[1].resource.clone().expect("repeat hCG");
    assert_eq!(repeat["occurrenceDateTime"], "2025-04-03T12:00:00Z");
    assert!(card.override_reasons.iter().all(|r| r.display.is_some()));
    assert!(card.validate().is_ok());
}

#[test]
fn methotrexate_card_suggests_deleting_the_draft_order() {
    let kb = KnowledgeBase::embedded().expect("loads");
    let mut facts = motivating_case();
    facts.records.pop();
    facts.draft_orders.push(DraftOrder {
        resource_type: "MedicationRequest".into(),
        id: "mtx-1".into(),
        codes: vec![Code::new(RXNORM, "6851")],
        text: vec![],
        status: Some("draft".into()),
        reasons: Vec::new(),
        ..Default::default()
    });
    let a = kb.evaluate(&facts, "p1", NOW);
    assert_eq!(a.cards.len(), 1);
    let card = &a.cards[0].card;
    assert_eq!(card.indicator, gravida_cds_hooks::Indicator::Critical);
    let delete = card.suggestions[0].actions[0].clone();
    assert_eq!(delete.action_type, ActionType::Delete);
    assert_eq!(
        delete.resource_id.as_deref(),
        Some("MedicationRequest/mtx-1")
    );
}

#[test]
fn an_unavailable_input_is_said_in_the_card() {
    let kb = KnowledgeBase::embedded().expect("loads");
    let mut facts = motivating_case();
    facts.unavailable.insert(Input::Hcg);
    let a = kb.evaluate(&facts, "p1", NOW);
    let detail = a.cards[0].card.detail.clone().unwrap_or_default();
    assert!(
        detail.contains("hCG results could not be retrieved"),
        "{detail}"
    );
}

#[test]
fn every_card_rule_renders_a_summary_under_140_characters_with_long_values() {
    let kb = KnowledgeBase::embedded().expect("loads");
    for (rule, card) in &kb.profile.cards.rules {
        for summary in std::iter::once(&card.summary).chain(card.variants.values()) {
            let mut v = crate::templates::Values::default();
            v.insert("ga", "40w6d".to_string());
            v.insert("bleed_day", "31 Dec 2025".to_string());
            v.insert("iup_day", "(date unknown)".to_string());
            v.insert("drug", "Misoprostol or mifepristone".to_string());
            v.insert("resolved_day", "31 Dec 2025".to_string());
            let filled = templates::fill(summary, &v);
            assert!(filled.chars().count() < 140, "{rule}: {filled}");
            assert!(!filled.contains('{'), "{rule}: {filled}");
        }
    }
}

// ----- Chart text on cards (issue 18) ----------------------------------------------------------

const PHISHING: &str =
    "implantation bleeding [Re-enter your EHR password here](https://evil.example/login)";

fn with_bleed_text_and_id(text: &str, id: &str) -> PatientFacts {
    let mut facts = motivating_case();
    let bleed = facts.records.last_mut().expect("bleed");
    bleed.id = id.to_string();
    bleed.text = vec![text.to_string()];
    facts
}

fn with_draft_order_id(id: &str) -> PatientFacts {
    let mut facts = motivating_case();
    facts.records.pop();
    facts.draft_orders.push(DraftOrder {
        resource_type: "MedicationRequest".into(),
        id: id.into(),
        codes: vec![Code::new(RXNORM, "6851")],
        text: vec![],
        status: Some("draft".into()),
        reasons: Vec::new(),
        ..Default::default()
    });
    facts
}

fn rendered(kb: &KnowledgeBase, facts: &PatientFacts) -> gravida_cds_hooks::Card {
    let a = kb.evaluate(facts, "p1", NOW);
    assert_eq!(a.cards.len(), 1, "{:?}", a.findings);
    a.cards[0].card.clone()
}

/// A Procedure charted as done, as the reader will fill it (knowledge.md §3.5 item 20).
fn procedure(id: &str, system: &str, code: &str, text: &str) -> Record {
    let mut r = Record::new(RecordKind::Procedure, id);
    r.codes = vec![Code::new(system.to_owned(), code)];
    r.text = vec![text.into()];
    r.status = Some("completed".into());
    r.effective = Some(When::day(date!(2025 - 03 - 30)));
    r
}

#[test]
fn procedures_and_bounds_are_named_on_the_card_by_what_they_say_and_their_date() {
    let kb = KnowledgeBase::embedded().expect("loads");
    let mut facts = motivating_case();
    facts
        .records
        .push(procedure("p-rh", SNOMED, "44608003", "Rh typing"));
    facts
        .records
        .push(procedure("p-hcg", load::CPT, "84702", "hCG quantitative"));
    let mut bound = Record::new(RecordKind::Observation, "hcg-bound");
    bound.codes = vec![Code::new(LOINC, "21198-7")];
    bound.text = vec!["hCG".into()];
    bound.effective = Some(When::day(date!(2025 - 03 - 29)));
    bound.value = Some(Value::Quantity {
        value: 5.0,
        unit: Some("m[IU]/mL".into()),
        code: Some("m[IU]/mL".into()),
        comparator: Some("<".into()),
    });
    facts.records.push(bound);
    let card = rendered(&kb, &facts);
    // The card and its long form, where the full sentences go (the card has the short words).
    let detail = &full_text(&card);
    assert!(
        detail.contains("Rh typing was done (procedure 'Rh typing', 2025-03-30)"),
        "{detail}"
    );
    assert!(!detail.contains("Rh type not on record"), "{detail}");
    assert!(
        detail.contains("An hCG test was done (procedure 'hCG quantitative', 2025-03-30)"),
        "{detail}"
    );
    // The lab's bound as written, its unit escaped like any chart text.
    assert!(
        detail.contains("\\<5 m\\[IU\\]\\/mL (2025-03-29)"),
        "{detail}"
    );
    assert!(!detail.contains('{'), "every placeholder filled: {detail}");
    let labels: Vec<&str> = card.suggestions.iter().map(|s| s.label.as_str()).collect();
    assert!(
        !labels.iter().any(|l| l.contains("ABO/Rh")),
        "typing was done: the result is asked for, not another type: {labels:?}"
    );
}

#[test]
fn anti_d_given_is_named_on_the_card_that_remains() {
    let kb = KnowledgeBase::embedded().expect("loads");
    let mut facts = motivating_case();
    let mut rh = Record::new(RecordKind::Observation, "rh");
    rh.codes = vec![Code::new(LOINC, "10331-7")];
    rh.effective = Some(When::day(date!(2025 - 03 - 20)));
    rh.value = Some(Value::String("Rh Negative".into()));
    facts.records.push(rh);
    facts
        .records
        .push(procedure("rhig", load::LOCAL, "anti-d-given", "RhIG given"));
    let a = kb.evaluate(&facts, "p1", NOW);
    let rules: Vec<&str> = a.findings.iter().map(|f| f.rule.as_str()).collect();
    assert_eq!(rules, ["R2"], "no 'consider anti-D' within the window");
    let detail = &full_text(&a.cards[0].card);
    assert!(
        detail.contains("Anti-D immune globulin is recorded as given on 2025-03-30 (procedure 'RhIG given'), within the 12-week protective window"),
        "{detail}"
    );
    assert!(
        detail.contains("Rh type on record: RhD negative"),
        "{detail}"
    );
}

#[test]
fn a_phishing_link_in_the_bleeding_record_is_not_a_link_on_the_card() {
    let kb = KnowledgeBase::embedded().expect("loads");
    let card = rendered(&kb, &with_bleed_text_and_id(PHISHING, "bleed"));
    let detail = card.detail.as_deref().unwrap_or_default();
    assert!(
        detail.contains(r"implantation bleeding \[Re\-enter your EHR password here\]\(https\:"),
        "{detail}"
    );
    assert!(!detail.contains("]("), "{detail}");
    assert!(!card.summary.contains("evil"), "{}", card.summary);
}

#[test]
fn record_ids_are_never_shown_but_reach_the_delete_action_unchanged() {
    let kb = KnowledgeBase::embedded().expect("loads");
    let card = rendered(&kb, &with_draft_order_id("mtx-1](https://evil.example)"));
    // An order with no text is named by its type, never by its id, whatever the id holds.
    let detail = full_text(&card);
    assert!(
        detail.contains(
            "Delete the draft order unless the indication has been reviewed: order (no text)."
        ),
        "{detail}"
    );
    assert!(!detail.contains("mtx"), "{detail}");
    assert!(!detail.contains("]("), "{detail}");
    let delete = &card.suggestions[0].actions[0];
    assert_eq!(
        delete.resource_id.as_deref(),
        Some("MedicationRequest/mtx-1](https://evil.example)")
    );
}

#[test]
fn a_placeholder_in_chart_text_is_not_filled_a_second_time() {
    let kb = KnowledgeBase::embedded().expect("loads");
    let card = rendered(
        &kb,
        &with_bleed_text_and_id("bleeding {ga} {{summary}}", "bleed"),
    );
    let detail = card.detail.as_deref().unwrap_or_default();
    assert!(
        detail.contains(r"bleeding \{ga\} \{\{summary\}\}"),
        "{detail}"
    );
    assert!(!detail.contains("{{"), "{detail}");

    let mut v = crate::templates::Values::default();
    v.insert("ga", "{summary}".to_string());
    v.insert("summary", "expanded".to_string());
    assert_eq!(
        templates::fill(&templates::Template::from("at {ga}"), &v),
        "at {summary}"
    );
}

#[test]
fn every_card_comes_with_the_finding_it_renders() {
    let kb = KnowledgeBase::embedded().expect("loads");
    let rh_negative_bleed =
        escalation::bleeding_at(63, "bleeding", vec![escalation::rh_negative()]);
    for facts in [motivating_case(), rh_negative_bleed] {
        let a = kb.evaluate(&facts, "p1", NOW);
        assert!(!a.cards.is_empty());
        for rendered in &a.cards {
            let topic = rendered.card.source.topic.as_ref().map(|t| t.code.as_str());
            assert_eq!(topic, Some(rendered.finding.rule.as_str()));
            assert_eq!(
                serde_json::to_value(rendered.card.indicator).expect("serialises"),
                rendered.finding.indicator.as_str()
            );
            assert!(a.findings.contains(&rendered.finding));
        }
    }
}

#[test]
fn a_template_is_compiled_into_text_and_slots_and_filled_as_written() {
    use templates::{Template, fill};
    let mut v = crate::templates::Values::default();
    v.insert("ga", "6w5d".to_string());
    v.insert("a{b", "odd".to_string());
    let cases = [
        ("", ""),
        ("no slots", "no slots"),
        ("{ga}", "6w5d"),
        ("at {ga}{ga}.", "at 6w5d6w5d."),
        ("{unknown} stays", "{unknown} stays"),
        // A slot name runs to the first `}`.
        ("{a{b} x", "odd x"),
        // An unclosed brace is text (and refused at load).
        ("at {ga} {open", "at 6w5d {open"),
    ];
    for (text, filled) in cases {
        let template = Template::from(text);
        assert_eq!(template.as_str(), text);
        assert_eq!(fill(&template, &v), filled, "{text:?}");
    }
    assert!(Template::from("at {ga} {open").unclosed().is_some());
    assert!(Template::from("{a{b} x").unclosed().is_none());
    assert_eq!(
        Template::from("{ga} and {lmp}").slots().collect::<Vec<_>>(),
        ["ga", "lmp"]
    );
}

#[test]
fn a_long_record_text_is_cut_on_the_card() {
    let kb = KnowledgeBase::embedded().expect("loads");
    let long = format!("vaginal bleeding {}", "very ".repeat(200));
    let card = rendered(&kb, &with_bleed_text_and_id(&long, "bleed"));
    let detail = card.detail.as_deref().unwrap_or_default();
    let quoted = detail.split('\'').nth(1).expect("the bleed text is quoted");
    assert_eq!(
        quoted.chars().count(),
        render::markdown::MAX_CHARS,
        "{detail}"
    );
    assert!(quoted.ends_with('…'), "{detail}");
    assert!(!detail.contains(&"very ".repeat(30)), "{detail}");
}

#[test]
fn a_percentage_that_is_not_a_number_is_named_unreadable() {
    assert_eq!(render::percent(0.214), "21 %");
    assert_eq!(render::percent(-0.5), "50 %");
    for x in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        assert_eq!(render::percent(x), render::UNREADABLE_NUMBER);
    }
    assert_eq!(render::percent(f64::MAX), render::UNREADABLE_NUMBER);
}

mod chart_text {
    use proptest::prelude::*;

    use super::*;
    use crate::render::markdown::{self, tests::fully_escaped};

    /// Markdown and template syntax, control characters and ordinary words, in any order.
    fn hostile() -> impl Strategy<Value = String> {
        let pieces = prop::sample::select(vec![
            "[",
            "]",
            "(",
            ")",
            "](",
            "![",
            "<",
            ">",
            "<b>",
            "</b>",
            "<http://evil.example>",
            "https://evil.example",
            "{{",
            "}}",
            "{summary}",
            "{ga}",
            "*",
            "**",
            "_",
            "`",
            "```",
            "~~",
            "#",
            "# ",
            "\n",
            "\r\n",
            "\r",
            "\t",
            "|",
            "\\",
            "\\[",
            "-",
            "+",
            "1.",
            "&amp;",
            "&#60;",
            "=",
            "!",
            " ",
            "    ",
            "x",
            "implantation",
            "bleeding",
            "é",
            "\u{0}",
            "\u{7f}",
            "\u{85}",
            "\u{2028}",
            "\u{202e}",
        ]);
        prop_oneof![
            any::<String>(),
            proptest::collection::vec(pieces, 0..60).prop_map(|v| v.concat()),
        ]
    }

    fn kb() -> &'static KnowledgeBase {
        static KB: std::sync::OnceLock<KnowledgeBase> = std::sync::OnceLock::new();
        KB.get_or_init(|| KnowledgeBase::embedded().expect("loads"))
    }

    /// The text with each backslash escape (`\\` and an ASCII punctuation character) replaced by
    /// `·`: what is left is what a CommonMark parser could read as markup.
    fn unescaped(s: &str) -> String {
        let mut out = String::with_capacity(s.len());
        let mut chars = s.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '\\' && chars.peek().is_some_and(char::is_ascii_punctuation) {
                chars.next();
                out.push('·');
            } else {
                out.push(c);
            }
        }
        out
    }

    /// The markup the template itself produces must be all there is.
    fn no_new_markup(hostile: &str, harmless: &str) -> Result<(), TestCaseError> {
        let (hostile, harmless) = (unescaped(hostile), unescaped(harmless));
        for marker in ["](", "<", "![", "{{", "{", "}", "`", "["] {
            prop_assert!(
                hostile.matches(marker).count() <= harmless.matches(marker).count(),
                "{marker:?} added:\n{hostile}\n---\n{harmless}"
            );
        }
        Ok(())
    }

    /// Numbers as a FHIR record may hold them, and as arithmetic may make them: ordinary, huge,
    /// tiny, negative, zero, infinite and not a number.
    fn number() -> impl Strategy<Value = f64> {
        prop_oneof![
            0.1f64..200_000.0,
            -1.0e6f64..1.0e6,
            Just(0.0),
            Just(f64::MIN_POSITIVE),
            Just(f64::MAX),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
            Just(f64::NAN),
            any::<f64>(),
        ]
    }

    /// The motivating case with `text` everywhere chart text can be (bleed text, ids, a coding
    /// display), two hCG values `hours` apart, and a GA observation of `ga_weeks`.
    fn hostile_chart(text: &str, hcg: (f64, f64), hours: i64, ga_weeks: f64) -> PatientFacts {
        let mut facts = with_bleed_text_and_id(text, text);
        let bleed = facts.records.last_mut().expect("bleed");
        bleed.codes[0].display = Some(text.to_string());
        let first = datetime!(2025-03-28 08:00 UTC);
        for (id, value, at) in [
            ("hcg-1", hcg.0, first),
            ("hcg-2", hcg.1, first + time::Duration::hours(hours)),
        ] {
            let mut r = Record::new(RecordKind::Observation, format!("{id}{text}"));
            r.codes = vec![Code::new(LOINC, "21198-7")];
            r.effective = Some(When {
                at,
                precision: gravida_rules::facts::Precision::Time,
            });
            r.value = Some(Value::Quantity {
                value,
                unit: Some(text.to_string()),
                code: Some("m[IU]/mL".into()),
                comparator: None,
            });
            facts.records.push(r);
        }
        let mut ga = Record::new(RecordKind::Observation, format!("ga{text}"));
        ga.codes = vec![Code::new(LOINC, "11884-4")];
        ga.effective = Some(When::day(date!(2025 - 03 - 31)));
        ga.value = Some(Value::Quantity {
            value: ga_weeks,
            unit: Some("wk".into()),
            code: None,
            comparator: None,
        });
        facts.records.push(ga);
        facts
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Over arbitrary chart strings and numbers, a card's summary and detail hold no `{{`,
        /// `}}`, `NaN` or `inf` that the templates did not put there (they put none).
        #[test]
        fn chart_strings_and_numbers_never_put_template_syntax_or_nan_on_a_card(
            s in hostile().prop_filter("chart text naming NaN or inf itself", |s| {
                let lower = s.to_lowercase();
                // ("w" too: the check below reads `12w0d` as a GA.)
                !lower.contains("nan") && !lower.contains("inf") && !lower.contains('w')
            }),
            hcg in (number(), number()),
            hours in 20i64..100,
            ga_weeks in number(),
        ) {
            let a = kb().evaluate(&hostile_chart(&s, hcg, hours, ga_weeks), "p1", NOW);
            prop_assert!(!a.cards.is_empty());
            for card in cards_of(a) {
                let detail = card.detail.as_deref().unwrap_or_default();
                for text in [card.summary.as_str(), detail] {
                    for marker in ["{{", "}}", "NaN", "inf", "Inf"] {
                        prop_assert!(!text.contains(marker), "{marker:?} on a card:\n{text}");
                    }
                    // Every GA shown is a possible one.
                    for (i, _) in text.match_indices('w') {
                        let weeks: String = text[..i].chars().rev().take_while(char::is_ascii_digit).collect();
                        if !weeks.is_empty() && text[i + 1..].starts_with(|c: char| c.is_ascii_digit()) {
                            let weeks: i64 = weeks.chars().rev().collect::<String>().parse().unwrap_or(i64::MAX);
                            prop_assert!(weeks <= 45, "{text}");
                        }
                    }
                }
            }
        }

        #[test]
        fn escaped_text_is_one_line_with_every_punctuation_character_escaped(s in hostile()) {
            let e = markdown::escape_inline(&s);
            prop_assert!(fully_escaped(&e), "{e:?}");
            prop_assert!(!e.contains(['\n', '\r']), "{e:?}");
            prop_assert!(!e.chars().any(char::is_control), "{e:?}");
            prop_assert!(markdown::plain_inline(&s).chars().count() <= markdown::MAX_CHARS);
        }

        #[test]
        fn chart_text_adds_no_markup_to_a_rendered_card(s in hostile()) {
            let harmless = rendered(kb(), &with_bleed_text_and_id("bleeding", "bleed"));
            let card = rendered(kb(), &with_bleed_text_and_id(&s, &s));
            let detail = card.detail.as_deref().unwrap_or_default();
            no_new_markup(detail, harmless.detail.as_deref().unwrap_or_default())?;
            // Modifiers (from the text) may add sentences and list items, never a blank line.
            prop_assert!(
                detail.matches("\n\n").count()
                    == harmless.detail.as_deref().unwrap_or_default().matches("\n\n").count(),
                "{detail}"
            );
            prop_assert!(!card.summary.contains(['\n', '\r']));

            let harmless = rendered(kb(), &with_draft_order_id("mtx-1"));
            let card = rendered(kb(), &with_draft_order_id(&s));
            let detail = card.detail.as_deref().unwrap_or_default();
            no_new_markup(detail, harmless.detail.as_deref().unwrap_or_default())?;
            prop_assert!(
                detail.lines().count() == harmless.detail.as_deref().unwrap_or_default().lines().count(),
                "{detail}"
            );
        }
    }
}

// Escalation and the rules of knowledge.md §3.5 items 9 and 12–16, rendered.
mod alloimmunisation;
mod escalation;
mod hedged_pul;
mod human_form;
mod late_pregnancy;
mod medications;
mod modes;
mod profile_diff;
mod short_cards;
mod wording;

#[test]
fn an_action_selection_behavior_on_a_button_of_one_order_is_a_profile_problem() {
    let mut files = default_files();
    let orderables = String::from_utf8(files["orderables.toml"].clone()).expect("utf8");
    let broken = orderables.replacen("[cbc]\n", "[cbc]\naction_selection_behavior = \"any\"\n", 1);
    assert_ne!(
        broken, orderables,
        "the cbc orderable is in the default profile"
    );
    files.insert("orderables.toml".into(), broken.into_bytes());
    let problems = problems_of(files);
    assert!(
        problems
            .iter()
            .any(|p| p.file == "orderables.toml"
                && p.message.contains("cbc: action_selection_behavior")),
        "{problems:?}"
    );
}

#[test]
fn a_button_shared_with_an_unknown_orderable_is_a_profile_problem() {
    let mut files = default_files();
    let orderables = String::from_utf8(files["orderables.toml"].clone()).expect("utf8");
    let broken = orderables.replacen("orderable = \"abo_rh\"", "orderable = \"abo_rhesus\"", 1);
    assert_ne!(broken, orderables, "cbc shares a button with abo_rh");
    files.insert("orderables.toml".into(), broken.into_bytes());
    let problems = problems_of(files);
    assert!(
        problems.iter().any(|p| p.file == "orderables.toml"
            && p.message
                .contains("cbc is to share a button with unknown orderable abo_rhesus")),
        "{problems:?}"
    );
}
