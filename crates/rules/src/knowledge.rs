//! What the engine needs to know, as plain data: value sets as code sets, bleeding words, thresholds.
//!
//! `gravida-knowledge` builds a [`RulesKnowledge`] from a reviewed profile on disk. The engine never
//! reads files itself; unit tests build one in code with [`RulesKnowledge::from_parts`].

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

pub use crate::bleeding_text::BleedingText;
use crate::facts::Code;

mod thresholds;

pub use thresholds::{HcgLead, Thresholds};

/// SNOMED CT.
pub const SNOMED: &str = "http://snomed.info/sct";
/// LOINC (note: CDC race codes look like LOINC codes; systems are always compared exactly).
pub const LOINC: &str = "http://loinc.org";
/// ICD-10-CM.
pub const ICD10CM: &str = "http://hl7.org/fhir/sid/icd-10-cm";
/// RxNorm.
pub const RXNORM: &str = "http://www.nlm.nih.gov/research/umls/rxnorm";

/// A set of codes: exact `(system, code)` pairs plus code prefixes (for ICD-10-CM ranges like `O20`).
///
/// ICD-10-CM codes are compared without their dot and in upper case, so `O20.0`, `O200` and `o20.0`
/// are the same code. Other systems compare codes exactly. Lookups do not allocate (except for an
/// ICD-10-CM code that needs normalising): the engine makes many of them per record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CodeSet {
    /// (system, codes): a handful of systems, so a short list beats a map.
    exact: Vec<(String, CodeHashSet)>,
    /// (system, prefix).
    prefixes: Vec<(String, String)>,
}

/// The FxHash function (as in rustc): codes are short, trusted-profile strings, so a fast
/// non-cryptographic hash is enough, and it keeps `evaluate` well under a microsecond per record.
#[derive(Debug, Default, Clone, Copy)]
pub struct FxHasher {
    hash: u64,
}

const FX_SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.hash = (self.hash.rotate_left(5) ^ u64::from_le_bytes(word)).wrapping_mul(FX_SEED);
        }
    }

    fn write_u8(&mut self, byte: u8) {
        self.hash = (self.hash.rotate_left(5) ^ u64::from(byte)).wrapping_mul(FX_SEED);
    }

    fn finish(&self) -> u64 {
        self.hash
    }
}

type CodeHashSet = HashSet<String, BuildHasherDefault<FxHasher>>;

/// Code → the value-set bits that hold it.
type CodeBits = HashMap<String, u64, BuildHasherDefault<FxHasher>>;

/// Normalises a code for comparison: ICD-10-CM loses its dot and is upper-cased.
fn normalise(system: &str, code: &str) -> String {
    if system == ICD10CM {
        code.trim()
            .chars()
            .filter(|c| *c != '.')
            .map(|c| c.to_ascii_uppercase())
            .collect()
    } else {
        code.trim().to_string()
    }
}

impl CodeSet {
    pub fn new() -> Self {
        CodeSet::default()
    }

    /// A set of exact codes.
    pub fn of(codes: &[(&str, &str)]) -> Self {
        let mut set = CodeSet::new();
        for (system, code) in codes {
            set.insert(system, code);
        }
        set
    }

    /// Adds one exact code.
    pub fn insert(&mut self, system: &str, code: &str) {
        let code = normalise(system, code);
        match self.exact.iter_mut().find(|(s, _)| s == system) {
            Some((_, codes)) => {
                codes.insert(code);
            }
            None => {
                let mut codes = CodeHashSet::default();
                codes.insert(code);
                self.exact.push((system.to_string(), codes));
            }
        }
    }

    /// Adds every code of `system` that starts with `prefix` (e.g. ICD-10-CM `O20` matches `O20.0`).
    pub fn insert_prefix(&mut self, system: &str, prefix: &str) {
        self.prefixes
            .push((system.to_string(), normalise(system, prefix)));
    }

    /// Whether `code` is in the set.
    pub fn contains(&self, code: &Code) -> bool {
        self.contains_parts(&code.system, &code.code)
    }

    /// Whether the code `code` of `system` is in the set (as [`CodeSet::contains`], without a
    /// [`Code`] to hold them).
    pub fn contains_parts(&self, system: &str, code: &str) -> bool {
        let needs_normalising = system == ICD10CM
            && code
                .bytes()
                .any(|b| b == b'.' || b.is_ascii_lowercase() || b.is_ascii_whitespace());
        let owned;
        let normal: &str = if needs_normalising {
            owned = normalise(system, code);
            &owned
        } else {
            code
        };
        if normal.is_empty() {
            return false;
        }
        if self
            .exact
            .iter()
            .any(|(known, codes)| known == system && codes.contains(normal))
        {
            return true;
        }
        self.prefixes
            .iter()
            .any(|(known, prefix)| known == system && normal.starts_with(prefix.as_str()))
    }

    /// Whether any of `codes` is in the set.
    pub fn contains_any(&self, codes: &[Code]) -> bool {
        codes.iter().any(|c| self.contains(c))
    }

    /// Every exact `(system, normalised code)`.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &str)> {
        self.exact
            .iter()
            .flat_map(|(system, codes)| codes.iter().map(move |c| (system.as_str(), c.as_str())))
    }

    /// Every `(system, prefix)`.
    pub fn prefix_entries(&self) -> impl Iterator<Item = (&str, &str)> {
        self.prefixes.iter().map(|(s, p)| (s.as_str(), p.as_str()))
    }

    pub fn is_empty(&self) -> bool {
        self.exact.iter().all(|(_, c)| c.is_empty()) && self.prefixes.is_empty()
    }

    pub fn len(&self) -> usize {
        self.exact.iter().map(|(_, c)| c.len()).sum::<usize>() + self.prefixes.len()
    }
}

/// Every value set the engine reads. Each field is one `ValueSet` file of the profile.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ValueSets {
    /// Bleeding Conditions/Observations (§3.1 "Bleeding record").
    pub bleeding: CodeSet,
    /// Pregnancy status Observation codes (82810-3).
    pub pregnancy_status: CodeSet,
    /// Answers meaning "pregnant" (77386006, LA15173-0).
    pub pregnant_answer: CodeSet,
    /// Answers meaning "not pregnant" (60001007, LA26683-5).
    pub not_pregnant_answer: CodeSet,
    /// Conditions that are pregnancy evidence when active (§3.4 item 2), incl. ICD-10-CM O00–O9A.
    pub pregnancy_condition: CodeSet,
    /// ART dating: 53692-0 (EDD), 53693-8 (GA).
    pub dating_art: CodeSet,
    /// The charted EDD without a stated method (11778-8).
    pub dating_edd: CodeSet,
    /// Ultrasound dating (11909-9, 11888-5, 11781-2 …); never 11927-1 (mean sac diameter).
    pub dating_ultrasound: CodeSet,
    /// LMP dating (8665-2, 11885-1, 11779-6).
    pub dating_lmp: CodeSet,
    /// Codes whose value is the LMP start date itself (8665-2, 21840007), not an EDD.
    pub lmp_date: CodeSet,
    /// Codes whose value is the conception date itself (33067-0), not an EDD: the start is that
    /// date less `ga_at_conception_days` (§3.6 item 9).
    pub conception_date: CodeSet,
    /// An embryo transfer (CPT 58974), in any record kind: with the embryo's age it dates the
    /// pregnancy (§3.6 item 9).
    pub embryo_transfer: CodeSet,
    /// GA Observations with no stated method (11884-4, 18185-9, 49051-6, 49052-4, 53695-3 …).
    pub dating_other: CodeSet,
    /// Quantitative serum hCG.
    pub hcg_quantitative: CodeSet,
    /// Qualitative hCG, urine or serum: a pregnancy test read positive or negative (§3.6 item 7).
    pub hcg_qualitative: CodeSet,
    /// Uterine evacuation and termination procedures: a recorded end of an episode (§3.6 item 8).
    pub procedure_pregnancy_ended: CodeSet,
    /// Rh type Observations (10331-7, 88027-8).
    pub rh_type: CodeSet,
    /// Rh-negative answers (LA6577-6, 165746003).
    pub rh_negative: CodeSet,
    /// Rh-positive answers (LA6576-8, 165747007).
    pub rh_positive: CodeSet,
    /// Already sensitised (O36.01-, 44795003, 307333004).
    pub rh_sensitised: CodeSet,
    /// Intrauterine pregnancy (65727000).
    pub iup: CodeSet,
    /// Fetal heart activity on US (11615-2): documents an IUP with a present value.
    pub fetal_heart_activity: CodeSet,
    /// Answers meaning "present" for fetal heart activity.
    pub present_answer: CodeSet,
    /// Fetal CRL on US (11957-8): documents an IUP with a value. Never used for dating.
    pub crown_rump_length: CodeSet,
    /// TVUS / OB US performed (42451-5, 24677-7, 11525-3).
    pub ultrasound_performed: CodeSet,
    /// Placenta previa (36813001 and children, O44.*).
    pub placenta_previa: CodeSet,
    /// Vasa previa (79668009): its own concept, never placenta previa (§3.6 item 20).
    pub vasa_previa: CodeSet,
    /// The red cell antibody screen (LOINC 890-4; §2.1, §3.6 item 12).
    pub rh_antibody_screen: CodeSet,
    /// The red cell antibody identification (LOINC 888-8; §3.6 C1, item 12).
    pub rh_antibody_identified: CodeSet,
    /// Findings that document the placental location (site codes; none are standard).
    pub placental_location: CodeSet,
    /// Subchorionic hematoma (609204004).
    pub subchorionic_hematoma: CodeSet,
    /// Pregnancy ended: delivery, postpartum, postpartum haemorrhage, induced abortion (G2).
    pub pregnancy_ended: CodeSet,
    /// Already diagnosed: ectopic, molar, EPL/miscarriage (G5).
    pub already_diagnosed: CodeSet,
    /// Methotrexate medications (RxNorm).
    pub methotrexate: CodeSet,
    /// Misoprostol and mifepristone medications (RxNorm): R16, the abortifacient guard
    /// (knowledge.md §3.6 item 14).
    pub abortifacient: CodeSet,
    /// An induced abortion as an order's reason (ICD-10-CM Z33.2, O04; SNOMED 714812005): R16
    /// gives no card (§3.6 item 14).
    pub induced_abortion: CodeSet,
    /// Molar pregnancy (ICD-10-CM O01): hedged, it raises the GTD picture (§3.6 item 15).
    pub molar_pregnancy: CodeSet,
    /// Answers meaning "no" / "absent": a bleeding Observation with one of these is not a bleed.
    pub absent_answer: CodeSet,
    /// Systolic blood pressure (8480-6), alone or as a panel component (R2E).
    pub systolic_bp: CodeSet,
    /// Heart rate (8867-4) (R2E).
    pub heart_rate: CodeSet,
    /// Blood-pressure panels whose components carry the systolic pressure (85354-9, 55284-4).
    pub bp_panel: CodeSet,
    /// An obstetric/transvaginal ultrasound charted as a Procedure (§3.5 item 20).
    pub procedure_ultrasound: CodeSet,
    /// Rh typing charted as a Procedure (§3.5 item 20).
    pub procedure_rh_typing: CodeSet,
    /// Anti-D immune globulin given, charted as a Procedure (§3.5 item 20).
    pub procedure_anti_d: CodeSet,
    /// A quantitative hCG test charted as a Procedure (§3.5 item 20).
    pub procedure_hcg: CodeSet,
    /// Rho(D) immune globulin products (RxNorm) and their HCPCS codes: anti-D given when a
    /// MedicationAdministration, MedicationStatement, Immunization or Procedure names one
    /// (knowledge.md §3.6 item 10).
    pub medication_anti_d: CodeSet,
    /// Ectopic pregnancy (34801009, 79586000, O00.x): dated before this pregnancy, a risk factor
    /// on R2 and R6 (knowledge.md §3.5 item 9).
    pub ectopic_pregnancy: CodeSet,
    /// An intrauterine device in situ (268460000, Z97.5, O26.3-): a risk factor (§3.5 item 9).
    pub iud: CodeSet,
    /// A pregnancy conceived by assisted reproduction (IVF; O09.81-): a risk factor of ectopic and
    /// heterotopic pregnancy (§3.5 item 9), and R6 is evaluated across G5 (§3.5 item 14).
    pub art_conception: CodeSet,
    /// A miscarriage diagnosis (17369002, O03.x): dated before this pregnancy, a previous
    /// miscarriage for R15 (§3.5 item 15).
    pub previous_miscarriage: CodeSet,
    /// Recurrent pregnancy loss (O26.2-, 102878001): a previous miscarriage at any date (R15).
    pub recurrent_pregnancy_loss: CodeSet,
    /// The count of previous spontaneous abortions (LOINC 11614-5): ≥ 1 is a previous
    /// miscarriage (R15).
    pub miscarriage_count: CodeSet,
    /// Personal-history codes (ICD-10-CM Z86, Z87; SNOMED 392521001 "history of" situations): a
    /// record so coded is neither a current bleed nor pregnancy evidence (§3.5 item 2).
    pub personal_history: CodeSet,
    /// Bleeding from another site or of another cause (6072007 bleeding from anus, 278365007
    /// anticoagulant-induced bleeding, epistaxis, haematuria …): not a vaginal bleed (§3.5 item 18).
    pub bleeding_other_site: CodeSet,
    /// A delivery-date Observation (LOINC 93857-1): the pregnancy has ended (G2, §3.5 item 11).
    pub delivery_date: CodeSet,
}

/// One bit per value set a record's own codes are classified by (see [`RulesKnowledge::classify`]).
pub mod class {
    pub const BLEEDING: u64 = 1 << 0;
    pub const PREGNANCY_STATUS: u64 = 1 << 1;
    pub const PREGNANCY_CONDITION: u64 = 1 << 2;
    pub const DATING_ART: u64 = 1 << 3;
    pub const DATING_EDD: u64 = 1 << 4;
    pub const DATING_ULTRASOUND: u64 = 1 << 5;
    pub const DATING_LMP: u64 = 1 << 6;
    pub const LMP_DATE: u64 = 1 << 7;
    pub const DATING_OTHER: u64 = 1 << 8;
    pub const HCG: u64 = 1 << 9;
    pub const RH_TYPE: u64 = 1 << 10;
    pub const RH_NEGATIVE: u64 = 1 << 11;
    pub const RH_POSITIVE: u64 = 1 << 12;
    pub const RH_SENSITISED: u64 = 1 << 13;
    pub const IUP: u64 = 1 << 14;
    pub const FETAL_HEART: u64 = 1 << 15;
    pub const CRL: u64 = 1 << 16;
    pub const ULTRASOUND: u64 = 1 << 17;
    pub const PREVIA: u64 = 1 << 18;
    pub const PLACENTAL_LOCATION: u64 = 1 << 19;
    pub const SCH: u64 = 1 << 20;
    pub const ENDED: u64 = 1 << 21;
    pub const DIAGNOSED: u64 = 1 << 22;
    // Read whatever the record's kind (see the engine's `kind_classes`): personal histories,
    // other bleeding sites, vital signs, Procedures, risk factors.
    pub const PERSONAL_HISTORY: u64 = 1 << 23;
    pub const BLEEDING_OTHER_SITE: u64 = 1 << 24;
    pub const DELIVERY_DATE: u64 = 1 << 25;
    pub const SYSTOLIC_BP: u64 = 1 << 26;
    pub const HEART_RATE: u64 = 1 << 27;
    pub const BP_PANEL: u64 = 1 << 28;
    pub const PROCEDURE_ULTRASOUND: u64 = 1 << 29;
    pub const PROCEDURE_RH_TYPING: u64 = 1 << 30;
    pub const PROCEDURE_ANTI_D: u64 = 1 << 31;
    pub const PROCEDURE_HCG: u64 = 1 << 32;
    pub const ECTOPIC: u64 = 1 << 33;
    pub const IUD: u64 = 1 << 34;
    pub const ART_CONCEPTION: u64 = 1 << 35;
    pub const MISCARRIAGE_COUNT: u64 = 1 << 36;
    pub const PREVIOUS_MISCARRIAGE: u64 = 1 << 37;
    pub const RECURRENT_LOSS: u64 = 1 << 38;
    pub const HCG_QUALITATIVE: u64 = 1 << 39;
    pub const PROCEDURE_ENDED: u64 = 1 << 40;
    pub const MEDICATION_ANTI_D: u64 = 1 << 41;
    pub const CONCEPTION_DATE: u64 = 1 << 42;
    pub const EMBRYO_TRANSFER: u64 = 1 << 43;
    /// The bits above, which no record kind masks.
    pub const ANY_KIND: u64 = !((1 << 23) - 1);
    /// Any dating source.
    pub const DATING: u64 = DATING_ART | DATING_EDD | DATING_ULTRASOUND | DATING_LMP | DATING_OTHER;
}

/// All value sets merged into one lookup: a code maps to the bits of every set that holds it, so
/// classifying a record costs one hash lookup per code instead of one per value set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct ClassIndex {
    exact: Vec<(String, CodeBits)>,
    prefixes: Vec<(String, String, u64)>,
}

impl ClassIndex {
    fn build(vs: &ValueSets) -> Self {
        let mut index = ClassIndex::default();
        for (set, bit) in indexed_sets(vs) {
            for (system, code) in set.entries() {
                let position = match index.exact.iter().position(|(s, _)| s == system) {
                    Some(p) => p,
                    None => {
                        index.exact.push((system.to_string(), HashMap::default()));
                        index.exact.len() - 1
                    }
                };
                *index.exact[position].1.entry(code.to_string()).or_default() |= bit;
            }
            for (system, prefix) in set.prefix_entries() {
                index
                    .prefixes
                    .push((system.to_string(), prefix.to_string(), bit));
            }
        }
        index
    }

    fn classify(&self, codes: &[Code]) -> u64 {
        let mut bits = 0;
        for code in codes {
            let owned;
            let normal: &str = if code.system == ICD10CM {
                owned = normalise(&code.system, &code.code);
                &owned
            } else {
                code.code.trim()
            };
            if normal.is_empty() {
                continue;
            }
            if let Some((_, map)) = self.exact.iter().find(|(s, _)| *s == code.system)
                && let Some(b) = map.get(normal)
            {
                bits |= b;
            }
            for (system, prefix, bit) in &self.prefixes {
                if *system == code.system && normal.starts_with(prefix.as_str()) {
                    bits |= bit;
                }
            }
        }
        bits
    }
}

/// Every value set the index holds, with its [`class`] bit.
fn indexed_sets(vs: &ValueSets) -> [(&CodeSet, u64); 44] {
    use class::*;
    [
        (&vs.bleeding, BLEEDING),
        (&vs.pregnancy_status, PREGNANCY_STATUS),
        (&vs.pregnancy_condition, PREGNANCY_CONDITION),
        (&vs.dating_art, DATING_ART),
        (&vs.dating_edd, DATING_EDD),
        (&vs.dating_ultrasound, DATING_ULTRASOUND),
        (&vs.dating_lmp, DATING_LMP),
        (&vs.lmp_date, LMP_DATE),
        (&vs.dating_other, DATING_OTHER),
        (&vs.hcg_quantitative, HCG),
        (&vs.rh_type, RH_TYPE),
        (&vs.rh_negative, RH_NEGATIVE),
        (&vs.rh_positive, RH_POSITIVE),
        (&vs.rh_sensitised, RH_SENSITISED),
        (&vs.iup, IUP),
        (&vs.fetal_heart_activity, FETAL_HEART),
        (&vs.crown_rump_length, CRL),
        (&vs.ultrasound_performed, ULTRASOUND),
        (&vs.placenta_previa, PREVIA),
        (&vs.placental_location, PLACENTAL_LOCATION),
        (&vs.subchorionic_hematoma, SCH),
        (&vs.pregnancy_ended, ENDED),
        (&vs.already_diagnosed, DIAGNOSED),
        (&vs.personal_history, PERSONAL_HISTORY),
        (&vs.bleeding_other_site, BLEEDING_OTHER_SITE),
        (&vs.delivery_date, DELIVERY_DATE),
        (&vs.systolic_bp, SYSTOLIC_BP),
        (&vs.heart_rate, HEART_RATE),
        (&vs.bp_panel, BP_PANEL),
        (&vs.procedure_ultrasound, PROCEDURE_ULTRASOUND),
        (&vs.procedure_rh_typing, PROCEDURE_RH_TYPING),
        (&vs.procedure_anti_d, PROCEDURE_ANTI_D),
        (&vs.procedure_hcg, PROCEDURE_HCG),
        (&vs.ectopic_pregnancy, ECTOPIC),
        (&vs.iud, IUD),
        (&vs.art_conception, ART_CONCEPTION),
        (&vs.miscarriage_count, MISCARRIAGE_COUNT),
        (&vs.previous_miscarriage, PREVIOUS_MISCARRIAGE),
        (&vs.recurrent_pregnancy_loss, RECURRENT_LOSS),
        (&vs.hcg_qualitative, HCG_QUALITATIVE),
        (&vs.procedure_pregnancy_ended, PROCEDURE_ENDED),
        (&vs.medication_anti_d, MEDICATION_ANTI_D),
        (&vs.conception_date, CONCEPTION_DATE),
        (&vs.embryo_transfer, EMBRYO_TRANSFER),
    ]
}

/// Everything the engine knows: value sets, bleeding words and thresholds.
#[derive(Debug, Clone, PartialEq)]
pub struct RulesKnowledge {
    /// Private so that it cannot drift from `index`: build with [`RulesKnowledge::from_parts`].
    pub(crate) value_sets: ValueSets,
    pub text: BleedingText,
    pub thresholds: Thresholds,
    index: ClassIndex,
    /// The first look at each record's text, compiled from `text` (see [`crate::text::Filter`]).
    pub(crate) text_filters: crate::text::TextFilters,
}

impl RulesKnowledge {
    /// Assembles knowledge from its parts (used by `gravida-knowledge` and by tests).
    pub fn from_parts(value_sets: ValueSets, text: BleedingText, thresholds: Thresholds) -> Self {
        let index = ClassIndex::build(&value_sets);
        let text_filters = crate::text::TextFilters::new(&text);
        RulesKnowledge {
            value_sets,
            text,
            thresholds,
            index,
            text_filters,
        }
    }

    /// The value sets.
    pub fn value_sets(&self) -> &ValueSets {
        &self.value_sets
    }

    /// The [`class`] bits of every value set that holds one of `codes`.
    pub fn classify(&self, codes: &[Code]) -> u64 {
        self.index.classify(codes)
    }
}

#[cfg(test)]
mod tests;
