//! `text.toml`: the word lists the engine reads free text by (bleeding, negation, hedges, drug
//! names, …), each required to be non-empty and lower-cased into the engine's [`BleedingText`].

use gravida_rules::BleedingText;
use serde::Deserialize;

use crate::error::Problems;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TextToml {
    bleeding_terms: Vec<String>,
    implantation_terms: Vec<String>,
    negation_cues: Vec<String>,
    negation_window_words: usize,
    hedge_terms: Vec<String>,
    methotrexate_terms: Vec<String>,
    methotrexate_other_indication_terms: Vec<String>,
    heavy_bleeding_terms: Vec<String>,
    moderate_bleeding_terms: Vec<String>,
    absent_answers: Vec<String>,
    history_prefixes: Vec<String>,
    postpartum_terms: Vec<String>,
    postpartum_exclusions: Vec<String>,
    other_site_words: Vec<String>,
    vaginal_context_terms: Vec<String>,
    rh_negative_words: Vec<String>,
    rh_positive_words: Vec<String>,
    vasa_previa_words: Vec<String>,
    labour_words: Vec<String>,
    dilation_words: Vec<String>,
    show_words: Vec<String>,
    abruption_words: Vec<String>,
    anticoagulant_names: Vec<String>,
    rh_variant_names: Vec<String>,
    abortifacient_terms: Vec<String>,
    molar_words: Vec<String>,
    pregnancy_loss_reason_terms: Vec<String>,
    induced_abortion_reason_terms: Vec<String>,
    anti_d_names: Vec<String>,
}

pub(super) fn text(t: TextToml, problems: &mut Problems) -> BleedingText {
    let file = "text.toml";
    let lower = |list: Vec<String>, name: &str, problems: &mut Problems| {
        if list.is_empty() {
            problems.add(file, format!("{name} is empty"));
        }
        list.into_iter()
            .map(|w| w.trim().to_lowercase())
            .filter(|w| !w.is_empty())
            .collect::<Vec<_>>()
    };
    BleedingText {
        bleeding_terms: lower(t.bleeding_terms, "bleeding_terms", problems),
        implantation_terms: lower(t.implantation_terms, "implantation_terms", problems),
        negation_cues: lower(t.negation_cues, "negation_cues", problems),
        negation_window_words: t.negation_window_words,
        hedge_terms: lower(t.hedge_terms, "hedge_terms", problems),
        methotrexate_terms: lower(t.methotrexate_terms, "methotrexate_terms", problems),
        methotrexate_other_indication_terms: lower(
            t.methotrexate_other_indication_terms,
            "methotrexate_other_indication_terms",
            problems,
        ),
        heavy_bleeding_terms: lower(t.heavy_bleeding_terms, "heavy_bleeding_terms", problems),
        moderate_bleeding_terms: lower(
            t.moderate_bleeding_terms,
            "moderate_bleeding_terms",
            problems,
        ),
        absent_answers: lower(t.absent_answers, "absent_answers", problems),
        history_prefixes: lower(t.history_prefixes, "history_prefixes", problems),
        postpartum_terms: lower(t.postpartum_terms, "postpartum_terms", problems),
        postpartum_exclusions: lower(t.postpartum_exclusions, "postpartum_exclusions", problems),
        other_site_words: lower(t.other_site_words, "other_site_words", problems),
        vaginal_context_terms: lower(t.vaginal_context_terms, "vaginal_context_terms", problems),
        rh_negative_words: lower(t.rh_negative_words, "rh_negative_words", problems),
        rh_positive_words: lower(t.rh_positive_words, "rh_positive_words", problems),
        vasa_previa_words: lower(t.vasa_previa_words, "vasa_previa_words", problems),
        labour_words: lower(t.labour_words, "labour_words", problems),
        dilation_words: lower(t.dilation_words, "dilation_words", problems),
        show_words: lower(t.show_words, "show_words", problems),
        abruption_words: lower(t.abruption_words, "abruption_words", problems),
        anticoagulant_names: lower(t.anticoagulant_names, "anticoagulant_names", problems),
        rh_variant_names: lower(t.rh_variant_names, "rh_variant_names", problems),
        abortifacient_terms: lower(t.abortifacient_terms, "abortifacient_terms", problems),
        molar_words: lower(t.molar_words, "molar_words", problems),
        pregnancy_loss_reason_terms: lower(
            t.pregnancy_loss_reason_terms,
            "pregnancy_loss_reason_terms",
            problems,
        ),
        induced_abortion_reason_terms: lower(
            t.induced_abortion_reason_terms,
            "induced_abortion_reason_terms",
            problems,
        ),
        anti_d_names: lower(t.anti_d_names, "anti_d_names", problems),
    }
}
