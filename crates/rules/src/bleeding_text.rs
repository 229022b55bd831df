//! The word lists the engine reads free text by (what names bleeding, what negates or hedges it,
//! and the rest of `BleedingText`), as the profile gives them.
//!
//! Plain data, below both the knowledge that holds it (`knowledge.rs`, `RulesKnowledge::text`)
//! and the reading that compiles it (`text.rs`, `TextFilters`), so neither names the other back.

/// Words that make free text a bleeding record, and the cues that negate them (§3.4 item 10).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BleedingText {
    /// Word stems that name bleeding, lower case (e.g. "bleed", "spotting", "hemorrhag").
    pub bleeding_terms: Vec<String>,
    /// Word stems that carry the "implantation" label, lower case.
    pub implantation_terms: Vec<String>,
    /// Negation cues, lower case, matched as whole words before the term (e.g. "no", "denies").
    pub negation_cues: Vec<String>,
    /// How many words before a term a negation cue still applies to.
    pub negation_window_words: usize,
    /// Word stems that make a documented IUP only "probable" (it then does not count).
    pub hedge_terms: Vec<String>,
    /// Words that name methotrexate in a draft order's text (fallback when it is not coded).
    pub methotrexate_terms: Vec<String>,
    /// Stems in a methotrexate order's reason or schedule that name a non-obstetric indication
    /// or a weekly low-dose course ("rheumatoid", "psoriasis", "weekly"): R6 then says
    /// methotrexate is contraindicated in pregnancy, not the ectopic wording (§3.6 W10).
    pub methotrexate_other_indication_terms: Vec<String>,
    /// Word stems that make a bleeding record heavy ("heavy", "soaking", "clots", "shock"):
    /// R2E escalates the card (knowledge.md §3.5 item 12).
    pub heavy_bleeding_terms: Vec<String>,
    /// Word stems that describe a bleed as more than light without making it heavy
    /// ("moderate"): R4 then does not say most pregnancies with light bleeding continue
    /// (knowledge.md §3.6 W7).
    pub moderate_bleeding_terms: Vec<String>,
    /// Answers, lower case, that say a finding is absent when they open a value or follow a
    /// label's colon ("None", "No", "Denies", "Absent", "Negative"; §3.5 items 1 and 10).
    pub absent_answers: Vec<String>,
    /// Openings, lower case, that make a record a history rather than a current finding
    /// ("history of", "h/o", "previous", "prior", "past"; §3.5 item 2).
    pub history_prefixes: Vec<String>,
    /// Terms (word stems, or phrases whose last word is a stem) that name delivery or the
    /// postpartum state (§3.5 item 11).
    pub postpartum_terms: Vec<String>,
    /// Phrases removed before `postpartum_terms` are looked for, because they name the puerperium
    /// without saying the patient is in it ("pregnancy, childbirth and the puerperium").
    pub postpartum_exclusions: Vec<String>,
    /// Whole words that name a bleeding site other than the genital tract, or another cause
    /// ("rectal", "nose", "gum", "haematuria"; §3.5 item 18).
    pub other_site_words: Vec<String>,
    /// Word stems that place bleeding in the genital tract or an obstetric context ("vagin",
    /// "uter", "antepartum"): with one of them, another site named does not rule the bleed out.
    pub vaginal_context_terms: Vec<String>,
    /// Whole words of an Rh or ABO/Rh result written as text that mean RhD negative ("negative",
    /// "neg", "o-"; §3.5 item 6).
    pub rh_negative_words: Vec<String>,
    /// Whole words of such a result that mean RhD positive ("positive", "pos", "o+").
    pub rh_positive_words: Vec<String>,
    /// Words that name vasa previa in a record's text ("vasa previa", "vasa praevia"; §3.6
    /// item 20).
    pub vasa_previa_words: Vec<String>,
    /// Words that name misoprostol or mifepristone in a draft order's text, the fallback when it
    /// is not coded (R16, §3.6 item 14).
    pub abortifacient_terms: Vec<String>,
    /// Words of an ultrasound record or a hedged diagnosis that raise the possibility of
    /// gestational trophoblastic disease ("molar", "hydatidiform", "snowstorm"; §3.6 item 15).
    pub molar_words: Vec<String>,
    /// Stems in an abortifacient order's reason, or a current encounter's reason, that name early
    /// pregnancy loss ("miscarriage", "failed pregnancy"): R16 is then critical (§3.6 item 14).
    pub pregnancy_loss_reason_terms: Vec<String>,
    /// Stems in an abortifacient order's reason that name an induced abortion or another
    /// obstetric use the guard does not question ("induced abortion", "termination", "cervical
    /// ripening"): no R16 card (§3.6 item 14).
    pub induced_abortion_reason_terms: Vec<String>,
    /// Words that make a Condition or Encounter a labour ("labour", "labor"; §3.6 item 17).
    pub labour_words: Vec<String>,
    /// Words of a cervical dilation Observation ("dilation", "dilatation"; §3.6 item 17).
    pub dilation_words: Vec<String>,
    /// Whole words that name a show on a bleed ("show"; §3.6 item 17). Whole words, not stems:
    /// "ultrasound shows" is not a show.
    pub show_words: Vec<String>,
    /// Abruption wording that keeps R14 on a bleed in labour ("abruption", "constant pain",
    /// "tender uterus"; §3.6 item 17).
    pub abruption_words: Vec<String>,
    /// Anticoagulants by generic and brand name, whole words, lower case ("enoxaparin",
    /// "heparin", "apixaban", "warfarin"; §3.6 item 21).
    pub anticoagulant_names: Vec<String>,
    /// Names of an RhD variant, lower case, each matched as whole words in a row ("weak d",
    /// "partial d", "du", "d variant"): such a result is RhD negative for prophylaxis (§3.6
    /// item 11).
    pub rh_variant_names: Vec<String>,
    /// Names of anti-D immune globulin, lower case, each matched as whole words in a row
    /// ("anti d", "rhig", "rhogam", "rho d immune globulin"): a medication record whose text
    /// names one is anti-D given when its status says given (§3.6 item 10).
    pub anti_d_names: Vec<String>,
}
