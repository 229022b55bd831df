//! A small knowledge base built in code, for unit tests and benchmarks (no file I/O).
//!
//! It mirrors the codes of `profiles/default` that the tests use; the shipped profile is richer and
//! is what the server runs. Do not use this in production.

use crate::knowledge::{
    BleedingText, CodeSet, ICD10CM, LOINC, RXNORM, RulesKnowledge, SNOMED, Thresholds, ValueSets,
};

fn words(list: &[&str]) -> Vec<String> {
    list.iter().map(|w| w.to_string()).collect()
}

/// The test knowledge base (default thresholds, R12 off).
pub fn knowledge() -> RulesKnowledge {
    let mut pregnancy_condition = CodeSet::of(&[
        (SNOMED, "77386006"),
        (SNOMED, "72892002"),
        (SNOMED, "65727000"),
        (SNOMED, "723665008"),
        (SNOMED, "284075002"),
        (SNOMED, "47200007"),
        (SNOMED, "398254007"),
        (ICD10CM, "Z33.1"),
    ]);
    pregnancy_condition.insert_prefix(ICD10CM, "Z34");
    pregnancy_condition.insert_prefix(ICD10CM, "O");

    let mut bleeding = CodeSet::of(&[
        (SNOMED, "289530006"),
        (SNOMED, "723665008"),
        (SNOMED, "284075002"),
        (SNOMED, "54048003"),
        (SNOMED, "34842007"),
        (SNOMED, "198903000"),
        (ICD10CM, "N93.9"),
    ]);
    bleeding.insert_prefix(ICD10CM, "O20");
    bleeding.insert_prefix(ICD10CM, "O46");

    let mut previa = CodeSet::of(&[(SNOMED, "36813001"), (SNOMED, "198903000")]);
    previa.insert_prefix(ICD10CM, "O44");

    let mut pregnancy_ended = CodeSet::of(&[(SNOMED, "86569001"), (SNOMED, "47821001")]);
    pregnancy_ended.insert_prefix(ICD10CM, "O72");
    pregnancy_ended.insert_prefix(ICD10CM, "O04");

    let mut already_diagnosed = CodeSet::of(&[
        (SNOMED, "34801009"),
        (SNOMED, "79586000"),
        (SNOMED, "17369002"),
        (SNOMED, "85116003"),
        (SNOMED, "35999006"),
        (SNOMED, "156073000"),
        (ICD10CM, "O02.0"),
        (ICD10CM, "O02.1"),
    ]);
    for prefix in ["O00", "O01", "O03"] {
        already_diagnosed.insert_prefix(ICD10CM, prefix);
    }
    // Risk factors and previous miscarriage (knowledge.md §3.5 items 9 and 15).
    let mut ectopic_pregnancy = CodeSet::of(&[(SNOMED, "34801009"), (SNOMED, "79586000")]);
    ectopic_pregnancy.insert_prefix(ICD10CM, "O00");
    let mut iud = CodeSet::of(&[(SNOMED, "268460000"), (ICD10CM, "Z97.5")]);
    iud.insert_prefix(ICD10CM, "O26.3");
    let mut art_conception = CodeSet::of(&[(SNOMED, "10231000132102")]);
    art_conception.insert_prefix(ICD10CM, "O09.81");
    let mut previous_miscarriage = CodeSet::of(&[(SNOMED, "17369002")]);
    previous_miscarriage.insert_prefix(ICD10CM, "O03");
    let mut recurrent_pregnancy_loss = CodeSet::of(&[(SNOMED, "102878001")]);
    recurrent_pregnancy_loss.insert_prefix(ICD10CM, "O26.2");
    let mut rh_sensitised = CodeSet::of(&[(SNOMED, "44795003")]);
    rh_sensitised.insert_prefix(ICD10CM, "O36.01");
    let mut personal_history = CodeSet::of(&[(SNOMED, "392521001")]);
    personal_history.insert_prefix(ICD10CM, "Z86");
    personal_history.insert_prefix(ICD10CM, "Z87");
    let rh_negative = CodeSet::of(&[
        (LOINC, "LA6577-6"),
        (SNOMED, "165746003"),
        (ICD10CM, "Z67.11"),
        (ICD10CM, "Z67.21"),
        (ICD10CM, "Z67.31"),
        (ICD10CM, "Z67.41"),
        (ICD10CM, "Z67.91"),
    ]);
    let rh_positive = CodeSet::of(&[
        (LOINC, "LA6576-8"),
        (SNOMED, "165747007"),
        (ICD10CM, "Z67.10"),
        (ICD10CM, "Z67.20"),
        (ICD10CM, "Z67.30"),
        (ICD10CM, "Z67.40"),
        (ICD10CM, "Z67.90"),
    ]);

    let value_sets = ValueSets {
        bleeding,
        pregnancy_status: CodeSet::of(&[(LOINC, "82810-3")]),
        pregnant_answer: CodeSet::of(&[(SNOMED, "77386006"), (LOINC, "LA15173-0")]),
        not_pregnant_answer: CodeSet::of(&[(SNOMED, "60001007"), (LOINC, "LA26683-5")]),
        pregnancy_condition,
        dating_art: CodeSet::of(&[(LOINC, "53692-0"), (LOINC, "53693-8"), (LOINC, "33067-0")]),
        dating_edd: CodeSet::of(&[(LOINC, "11778-8")]),
        dating_ultrasound: CodeSet::of(&[
            (LOINC, "11909-9"),
            (LOINC, "11888-5"),
            (LOINC, "11781-2"),
        ]),
        dating_lmp: CodeSet::of(&[(LOINC, "8665-2"), (LOINC, "11885-1"), (LOINC, "11779-6")]),
        lmp_date: CodeSet::of(&[(LOINC, "8665-2"), (SNOMED, "21840007")]),
        conception_date: CodeSet::of(&[(LOINC, "33067-0")]),
        embryo_transfer: CodeSet::of(&[("http://www.ama-assn.org/go/cpt", "58974")]),
        dating_other: CodeSet::of(&[
            (LOINC, "11884-4"),
            (LOINC, "18185-9"),
            (LOINC, "49051-6"),
            (LOINC, "49052-4"),
            (LOINC, "53695-3"),
        ]),
        hcg_quantitative: CodeSet::of(&[
            (LOINC, "21198-7"),
            (LOINC, "19080-1"),
            (LOINC, "83086-9"),
            (LOINC, "45194-8"),
        ]),
        hcg_qualitative: CodeSet::of(&[(LOINC, "2106-3"), (LOINC, "2118-8")]),
        procedure_pregnancy_ended: CodeSet::of(&[
            ("http://www.ama-assn.org/go/cpt", "59812"),
            ("http://www.ama-assn.org/go/cpt", "59841"),
            (SNOMED, "714812005"),
        ]),
        rh_type: CodeSet::of(&[(LOINC, "10331-7"), (LOINC, "88027-8"), (LOINC, "882-1")]),
        rh_negative,
        rh_positive,
        rh_sensitised,
        iup: CodeSet::of(&[(SNOMED, "65727000")]),
        fetal_heart_activity: CodeSet::of(&[(LOINC, "11615-2")]),
        present_answer: CodeSet::of(&[(SNOMED, "52101004"), (LOINC, "LA9633-4")]),
        crown_rump_length: CodeSet::of(&[(LOINC, "11957-8")]),
        ultrasound_performed: CodeSet::of(&[
            (LOINC, "42451-5"),
            (LOINC, "24677-7"),
            (LOINC, "11525-3"),
        ]),
        placenta_previa: previa,
        vasa_previa: CodeSet::of(&[(SNOMED, "79668009")]),
        rh_antibody_screen: CodeSet::of(&[(LOINC, "890-4")]),
        rh_antibody_identified: CodeSet::of(&[(LOINC, "888-8")]),
        placental_location: CodeSet::of(&[("urn:gravida:local", "placenta-not-previa")]),
        subchorionic_hematoma: CodeSet::of(&[(SNOMED, "609204004")]),
        pregnancy_ended,
        already_diagnosed,
        methotrexate: CodeSet::of(&[(RXNORM, "6851"), (RXNORM, "105585")]),
        abortifacient: CodeSet::of(&[(RXNORM, "42331"), (RXNORM, "317128")]),
        induced_abortion: {
            let mut set = CodeSet::of(&[(ICD10CM, "Z332"), (SNOMED, "714812005")]);
            set.insert_prefix(ICD10CM, "O04");
            set
        },
        molar_pregnancy: {
            let mut set = CodeSet::default();
            set.insert_prefix(ICD10CM, "O01");
            set
        },
        absent_answer: CodeSet::of(&[
            (SNOMED, "260413007"),
            (SNOMED, "373067005"),
            (SNOMED, "2667000"),
            (SNOMED, "260385009"),
            (LOINC, "LA32-8"),
        ]),
        systolic_bp: CodeSet::of(&[(LOINC, "8480-6")]),
        heart_rate: CodeSet::of(&[(LOINC, "8867-4")]),
        bp_panel: CodeSet::of(&[(LOINC, "85354-9"), (LOINC, "55284-4")]),
        procedure_ultrasound: CodeSet::of(&[(SNOMED, "169230002")]),
        procedure_rh_typing: CodeSet::of(&[(SNOMED, "44608003")]),
        procedure_anti_d: CodeSet::of(&[("urn:gravida:local", "anti-d-given")]),
        procedure_hcg: CodeSet::of(&[("http://www.ama-assn.org/go/cpt", "84702")]),
        medication_anti_d: CodeSet::of(&[(
            "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets",
            "J2790",
        )]),
        ectopic_pregnancy,
        iud,
        art_conception,
        previous_miscarriage,
        recurrent_pregnancy_loss,
        miscarriage_count: CodeSet::of(&[(LOINC, "11614-5")]),
        personal_history,
        bleeding_other_site: CodeSet::of(&[
            (SNOMED, "6072007"),
            (SNOMED, "278365007"),
            (SNOMED, "249366005"),
            (SNOMED, "34436003"),
        ]),
        delivery_date: CodeSet::of(&[(LOINC, "93857-1")]),
    };
    let text = BleedingText {
        bleeding_terms: words(&["bleed", "spotting", "hemorrhag", "haemorrhag"]),
        implantation_terms: words(&["implantation"]),
        negation_cues: words(&[
            "no",
            "not",
            "denies",
            "denied",
            "without",
            "negative for",
            "free of",
        ]),
        negation_window_words: 4,
        hedge_terms: words(&["probable", "possible", "suspected", "r/o", "rule out"]),
        methotrexate_terms: words(&["methotrexate"]),
        methotrexate_other_indication_terms: words(&["rheumatoid", "psoriasis", "weekly"]),
        heavy_bleeding_terms: words(&["heavy", "heavily", "soak", "clot", "shock"]),
        moderate_bleeding_terms: words(&["moderate"]),
        absent_answers: words(&[
            "none",
            "no",
            "denies",
            "denied",
            "absent",
            "negative",
            "nil",
            "not present",
        ]),
        history_prefixes: words(&["history of", "h/o", "hx of", "previous", "prior", "past"]),
        postpartum_terms: words(&[
            "postpartum",
            "post-partum",
            "post partum",
            "puerper",
            "delivered",
            "s/p delivery",
            "pph",
        ]),
        postpartum_exclusions: words(&["and the puerperium", "or the puerperium", "delivered to"]),
        other_site_words: words(&[
            "rectal",
            "rectum",
            "anus",
            "anal",
            "gum",
            "gums",
            "nose",
            "nasal",
            "nosebleed",
            "epistaxis",
            "haematuria",
            "hematuria",
            "urine",
        ]),
        vaginal_context_terms: words(&[
            "vagin",
            "uter",
            "cervi",
            "genital",
            "placent",
            "antepartum",
            "obstetric",
            "implantation",
        ]),
        rh_negative_words: words(&["negative", "neg", "rh-", "d-", "o-", "a-", "b-", "ab-"]),
        rh_positive_words: words(&["positive", "pos", "rh+", "d+", "o+", "a+", "b+", "ab+"]),
        vasa_previa_words: words(&["vasa previa", "vasa praevia"]),
        abortifacient_terms: words(&["misoprostol", "mifepristone", "cytotec"]),
        molar_words: words(&["molar", "hydatidiform", "snowstorm", "vesicular"]),
        pregnancy_loss_reason_terms: words(&["miscarriage", "pregnancy loss", "failed pregnancy"]),
        induced_abortion_reason_terms: words(&[
            "induced abortion",
            "termination",
            "cervical ripening",
        ]),
        labour_words: words(&["labour", "labor"]),
        dilation_words: words(&["dilation", "dilatation"]),
        show_words: words(&["show"]),
        abruption_words: words(&[
            "abruption",
            "abruptio",
            "constant pain",
            "tender uterus",
            "rigid uterus",
        ]),
        rh_variant_names: words(&[
            "weak d",
            "partial d",
            "du",
            "d variant",
            "rhd variant",
            "rh variant",
        ]),
        anti_d_names: words(&[
            "anti d",
            "rhig",
            "rhogam",
            "rhophylac",
            "hyperrho",
            "winrho",
            "rho d immune globulin",
        ]),
        anticoagulant_names: words(&[
            "enoxaparin",
            "lovenox",
            "clexane",
            "dalteparin",
            "fragmin",
            "tinzaparin",
            "innohep",
            "nadroparin",
            "heparin",
            "lmwh",
            "fondaparinux",
            "arixtra",
            "apixaban",
            "eliquis",
            "rivaroxaban",
            "xarelto",
            "dabigatran",
            "pradaxa",
            "edoxaban",
            "lixiana",
            "savaysa",
            "warfarin",
            "coumadin",
            "jantoven",
            "acenocoumarol",
            "phenprocoumon",
        ]),
    };
    RulesKnowledge::from_parts(value_sets, text, Thresholds::default())
}
