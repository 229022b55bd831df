//! Free-text reading: does a record's text name bleeding, and is it labelled "implantation"?
//!
//! A tiny NegEx-style scan (§3.4 item 10): split text into clauses, split clauses into words, and
//! accept a term only when no negation cue appears in the few words before it in the same clause.
//! "no bleeding", "denies spotting" and "not implantation bleeding" are negated; "? implantation
//! bleeding" and "possible implantation spotting per patient" are not (the card questions them).

use aho_corasick::AhoCorasick;

use crate::bleeding_text::BleedingText;

/// A quick first look for one list of terms: can a text name any of them at all?
///
/// Most texts a chart holds (lab names, problem names, notes) name none of the bleeding or
/// postpartum terms, and the full scan (lower-case the text, cut it into clauses and words, look
/// for a negation before each term) costs far more than looking. So each list is compiled once,
/// when the knowledge is assembled, into one Aho-Corasick automaton over a *key* per term: the
/// term itself when it is one word, else its longest word (every word of a phrase must appear in
/// a text that names it). One pass over a text's bytes, ASCII case ignored, tells whether any key
/// appears; only then is the text scanned. The filter can only say "maybe": a text it passes is
/// still read in full, so it changes what costs, never what is found.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// `None`: no automaton (a non-ASCII term, or none built): every text passes.
    automaton: Option<AhoCorasick>,
}

impl Filter {
    /// The filter for `terms` (lower case, as the profile gives them).
    pub fn new(terms: &[String]) -> Filter {
        // A non-ASCII term may match a text whose lower-casing changes its bytes: no filter.
        if terms.is_empty() || terms.iter().any(|t| !t.is_ascii()) {
            return Filter::default();
        }
        let keys: Vec<&str> = terms
            .iter()
            .filter_map(|t| words_of(t).max_by_key(|w| w.len()))
            .collect();
        if keys.len() != terms.len() {
            return Filter::default();
        }
        let automaton = AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .build(&keys)
            .ok();
        Filter { automaton }
    }

    /// False only when `text` cannot name any of the terms.
    pub fn may_match(&self, text: &str) -> bool {
        self.automaton.as_ref().is_none_or(|a| a.is_match(text))
    }
}

/// The filters of the lists read for every record ([`crate::RulesKnowledge`] builds them once).
#[derive(Debug, Clone, Default)]
pub struct TextFilters {
    pub bleeding: Filter,
    pub implantation: Filter,
    pub postpartum: Filter,
}

/// Filters are compiled from the lists they filter for, and knowledge is compared by its lists:
/// two filters built from equal lists behave alike, so they compare equal.
impl PartialEq for TextFilters {
    fn eq(&self, _: &TextFilters) -> bool {
        true
    }
}

impl TextFilters {
    pub fn new(kb: &BleedingText) -> TextFilters {
        TextFilters {
            bleeding: Filter::new(&kb.bleeding_terms),
            implantation: Filter::new(&kb.implantation_terms),
            postpartum: Filter::new(&kb.postpartum_terms),
        }
    }
}

/// What a record's text says.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TextFindings {
    /// Some text names bleeding (not negated).
    pub bleeding: bool,
    /// Some text says "implantation" (not negated).
    pub implantation: bool,
}

/// True for the characters that end a clause: a negation does not cross them.
fn ends_clause(c: char) -> bool {
    matches!(c, '.' | ';' | ',' | ':' | '\n' | '(' | ')')
}

/// True for the characters words are made of.
fn in_word(c: char) -> bool {
    c.is_alphanumeric() || c == '-' || c == '\''
}

/// True when the words just before position `i` of `words` end with the words of `cue`, within
/// `window` words.
fn cue_before(words: &[&str], i: usize, cue: &str, window: usize) -> bool {
    let cue_words: Vec<&str> = cue.split_whitespace().collect();
    let from = i.saturating_sub(window);
    (from..i).any(|start| {
        let end = start + cue_words.len();
        end <= i && words[start..end] == cue_words[..]
    })
}

/// ASCII case-insensitive substring test, without allocating: a cheap first filter, since most
/// texts (lab names, notes) name none of the terms. Only where the needle's first letter occurs
/// (either case, found by `memchr`, many bytes at a time) is the rest compared: most texts hold
/// few of those, so this reads a text about once instead of once per position.
fn contains_ignoring_case(haystack: &str, needle: &str) -> bool {
    let (h, n) = (haystack.as_bytes(), needle.as_bytes());
    let Some((&first, rest)) = n.split_first() else {
        return true;
    };
    let Some(last_start) = h.len().checked_sub(n.len()) else {
        return false;
    };
    memchr::memchr2_iter(
        first.to_ascii_lowercase(),
        first.to_ascii_uppercase(),
        &h[..=last_start],
    )
    .any(|at| h[at + 1..at + n.len()].eq_ignore_ascii_case(rest))
}

/// The words of a term or text, split as clauses are: "s/p delivery" is `["s", "p", "delivery"]`.
/// An apostrophe inside a word stays ("don't"); one that quotes it goes ("'snowstorm'" is
/// `snowstorm`: reports quote the appearance they describe).
fn words_of(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c| !in_word(c))
        .map(|w| w.trim_matches('\''))
        .filter(|w| !w.is_empty())
}

/// True when `term` is a single word (the common case, checked without splitting it).
fn is_one_word(term: &str) -> bool {
    term.chars().all(in_word)
}

/// True when `term` starts at `words[i]`: a one-word term is a stem (the word starts with it); in
/// a phrase every word but the last must be whole ("post partum", "s/p delivery").
fn term_at(words: &[&str], i: usize, term: &str) -> bool {
    if is_one_word(term) {
        return words[i].starts_with(term);
    }
    let mut parts = words_of(term).peekable();
    let mut at = i;
    while let Some(part) = parts.next() {
        let Some(word) = words.get(at) else {
            return false;
        };
        let last = parts.peek().is_none();
        if !(if last {
            word.starts_with(part)
        } else {
            *word == part
        }) {
            return false;
        }
        at += 1;
    }
    at > i
}

/// True when some non-negated term of `terms` appears in `texts` (a one-word term is a stem,
/// see [`term_at`]).
pub fn mentions(texts: &[String], terms: &[String], kb: &BleedingText) -> bool {
    mentions_passing(texts, terms, &Filter::default(), kb)
}

/// Whether a diagnosis is worded as hedged (knowledge.md §3.6 item 2): a hedge term ("r/o",
/// "rule out", "query", "possible", "likely", "vs", …), not negated, in any of its texts, or a
/// question mark in its name (the first text: "?ectopic", "Ectopic pregnancy?"). The question
/// mark is no word, so it is looked for as a character, and only in the name: a note's question
/// ("tolerating diet?") does not hedge the diagnosis it is written on.
pub fn hedged(texts: &[String], kb: &BleedingText) -> bool {
    texts.first().is_some_and(|name| name.contains('?')) || mentions(texts, &kb.hedge_terms, kb)
}

/// [`mentions`], looking only at the texts `filter` passes (the filter of `terms`).
fn mentions_passing(
    texts: &[String],
    terms: &[String],
    filter: &Filter,
    kb: &BleedingText,
) -> bool {
    texts.iter().filter(|t| filter.may_match(t)).any(|text| {
        // Terms are lower case; non-ASCII terms fall through to the full scan. A phrase passes
        // the filter when each of its words is in the text, so that "S/P  delivery" is not missed
        // for its spacing, and "s/p delivery" is not scanned for in every text with an "s".
        let absent = |t: &String| {
            if is_one_word(t) {
                !contains_ignoring_case(text, t)
            } else {
                !words_of(t).all(|part| contains_ignoring_case(text, part))
            }
        };
        if terms.iter().all(|t| t.is_ascii() && absent(t)) {
            return false;
        }
        let lower = text.to_lowercase();
        lower
            .split(ends_clause)
            .flat_map(|clause| clause.split(" but "))
            .any(|clause| {
                let words: Vec<&str> = words_of(clause).collect();
                (0..words.len()).any(|i| {
                    terms.iter().any(|t| term_at(&words, i, t))
                        && !kb
                            .negation_cues
                            .iter()
                            .any(|cue| cue_before(&words, i, cue, kb.negation_window_words))
                })
            })
    })
}

/// True when `text` (lower case) opens with `phrase` as whole words: "no" opens "no, none seen"
/// but not "normal".
fn opens_with(text: &str, phrase: &str) -> bool {
    text.strip_prefix(phrase)
        .is_some_and(|rest| rest.chars().next().is_none_or(|c| !c.is_alphanumeric()))
}

/// True when a value's text is an absent answer ("None", "No", "Denies", "Absent", "Negative",
/// "Not present"; knowledge.md §3.5 items 1 and 10). The whole value must be the answer: "No
/// clots" describes a bleed, it does not deny one.
pub fn says_absent(value: &str, kb: &BleedingText) -> bool {
    let lower = value
        .trim()
        .trim_matches(|c: char| c.is_ascii_punctuation() || c.is_whitespace())
        .to_lowercase();
    let words: Vec<&str> = lower.split_whitespace().collect();
    kb.absent_answers
        .iter()
        .any(|a| a.split_whitespace().eq(words.iter().copied()))
}

/// True when `text` is a label answered absent, as a review-of-systems row or a flowsheet
/// prints it: "Vaginal bleeding: None", "Intrauterine pregnancy - absent".
pub fn labelled_absent(text: &str, kb: &BleedingText) -> bool {
    // Most texts hold neither separator: two byte scans say so without a substring search.
    if !text.contains([':', '-']) {
        return false;
    }
    let answer = text
        .rsplit_once(':')
        .or_else(|| text.rsplit_once(" - "))
        .map(|(_, answer)| answer);
    answer.is_some_and(|a| says_absent(a, kb))
}

/// True when the record's name (its first text, or a coding display) opens as a history:
/// "History of postpartum hemorrhage (2022)", "h/o ectopic", "Previous miscarriage" (§3.5 item 2).
/// Only the name is read: a note such as "previous scan normal" on a current bleed is not one.
pub fn names_history<'t>(names: impl IntoIterator<Item = &'t str>, kb: &BleedingText) -> bool {
    names.into_iter().any(|name| {
        let name = name.trim_start();
        // Most names open with a letter no prefix opens with ("Asthma", "Hemoglobin"): an ASCII
        // first letter is compared with the prefixes' first letters before anything else. (A
        // name opening with any other character goes the whole way: its lower case may differ.)
        if let Some(first) = name.bytes().next().filter(u8::is_ascii) {
            let first = first.to_ascii_lowercase();
            if !kb
                .history_prefixes
                .iter()
                .any(|p| p.as_bytes().first() == Some(&first))
            {
                return false;
            }
        }
        if name.is_ascii() {
            // The common case, without lower-casing a copy: prefixes are lower case.
            let first = name.as_bytes().first().map(u8::to_ascii_lowercase);
            return kb.history_prefixes.iter().any(|p| {
                p.as_bytes().first().copied() == first
                    && name
                        .get(..p.len())
                        .is_some_and(|head| head.eq_ignore_ascii_case(p))
                    && name[p.len()..]
                        .chars()
                        .next()
                        .is_none_or(|c| !c.is_alphanumeric())
            });
        }
        let lower = name.to_lowercase();
        kb.history_prefixes.iter().any(|p| opens_with(&lower, p))
    })
}

/// True when some text names delivery or the postpartum state (not negated), once the phrases
/// that name the puerperium without placing the patient in it are taken out (§3.5 item 11).
pub fn names_postpartum(texts: &[String], filters: &TextFilters, kb: &BleedingText) -> bool {
    // Taking phrases out can only remove terms, never make one: a text the filter does not pass
    // names none after cleaning either.
    let cleaned: Vec<String> = texts
        .iter()
        .filter(|t| filters.postpartum.may_match(t))
        .map(|t| {
            let mut lower = t.to_lowercase();
            for phrase in &kb.postpartum_exclusions {
                lower = lower.replace(phrase.as_str(), ",");
            }
            lower
        })
        .collect();
    mentions(&cleaned, &kb.postpartum_terms, kb)
}

/// True when bleeding text names another site or cause ("rectal", "nose", "gum") and nothing
/// that places it in the genital tract or an obstetric context (§3.5 item 18).
pub fn names_other_site(texts: &[String], kb: &BleedingText) -> bool {
    let other = texts.iter().any(|t| {
        let lower = t.to_lowercase();
        words_of(&lower).any(|w| kb.other_site_words.iter().any(|o| o == w))
    });
    other && !mentions(texts, &kb.vaginal_context_terms, kb)
}

/// Reads an Rh or ABO/Rh result written as text ("Rh Negative", "O NEG", "D neg", "A POS",
/// "O-"): `Some(true)` RhD negative, `Some(false)` positive, `None` when it says neither, or
/// both (§3.5 item 6).
pub fn rh_from_text(value: &str, kb: &BleedingText) -> Option<bool> {
    let lower = value.to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | ':' | '(' | ')' | '/'))
        .filter(|w| !w.is_empty())
        .collect();
    let has = |list: &[String]| words.iter().any(|w| list.iter().any(|x| x == w));
    match (has(&kb.rh_negative_words), has(&kb.rh_positive_words)) {
        (true, false) => Some(true),
        (false, true) => Some(false),
        _ => None,
    }
}

/// Reads bleeding and the implantation label from a record's text. A text that is a label
/// answered absent ("Vaginal bleeding: None") names nothing.
pub fn scan(texts: &[String], filters: &TextFilters, kb: &BleedingText) -> TextFindings {
    // A text neither filter passes names no term, whatever its label says: most records' texts
    // end here, before the label is looked for. (Setting labelled texts aside can only take
    // mentions away, never add one.)
    if !texts
        .iter()
        .any(|t| filters.bleeding.may_match(t) || filters.implantation.may_match(t))
    {
        return TextFindings::default();
    }
    if texts.iter().any(|t| labelled_absent(t, kb)) {
        let present: Vec<String> = texts
            .iter()
            .filter(|t| !labelled_absent(t, kb))
            .cloned()
            .collect();
        return scan(&present, filters, kb);
    }
    TextFindings {
        bleeding: mentions_passing(texts, &kb.bleeding_terms, &filters.bleeding, kb),
        implantation: mentions_passing(texts, &kb.implantation_terms, &filters.implantation, kb),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kb() -> BleedingText {
        crate::testkit::knowledge().text
    }

    fn read(text: &str) -> TextFindings {
        scan(&[text.to_string()], &TextFilters::new(&kb()), &kb())
    }

    #[test]
    fn a_name_opens_as_a_history_in_any_case_and_after_spaces_and_no_other_name_does() {
        let kb = kb();
        let history = |name: &str| names_history([name], &kb);
        assert!(history("History of ectopic pregnancy (2022)"));
        assert!(history("  PRIOR miscarriage"));
        assert!(history("h/o ectopic"));
        assert!(history("Hx of PPH"));
        assert!(!history("Hemorrhage in early pregnancy"));
        assert!(!history("Asthma"));
        assert!(!history("Ühistory of ectopic"));
        assert!(!history(""));
    }

    #[test]
    fn plain_bleeding_words_are_found() {
        assert!(read("Vaginal bleeding since this morning").bleeding);
        assert!(read("spotting").bleeding);
        assert!(read("Haemorrhage in early pregnancy").bleeding);
        assert!(read("Hemorrhage").bleeding);
    }

    #[test]
    fn negated_mentions_are_ignored() {
        assert!(!read("no bleeding").bleeding);
        assert!(!read("Patient denies spotting").bleeding);
        assert!(!read("not implantation bleeding").implantation);
        assert!(!read("No vaginal bleeding or pain").bleeding);
    }

    #[test]
    fn negation_stops_at_the_clause_boundary() {
        assert!(read("no pain. bleeding since yesterday").bleeding);
        assert!(read("denies cramping, spotting today").bleeding);
    }

    #[test]
    fn hedged_implantation_keeps_the_label() {
        assert!(read("? implantation bleeding").implantation);
        assert!(read("possible implantation spotting per patient").implantation);
    }

    #[test]
    fn a_quoted_word_is_read_as_the_word() {
        assert!(read("'spotting' since this morning").bleeding);
        assert!(!read("patient doesn't report bleeding").implantation);
    }

    #[test]
    fn unrelated_text_is_not_bleeding() {
        let f = read("Fetal heart activity US");
        assert!(!f.bleeding && !f.implantation);
    }

    /// The filter only decides what is scanned: with it or without, every text reads the same.
    /// Texts are built from the profile's own words, in any case and order, with the negation
    /// cues, punctuation and words that are none of them, so that terms are really found.
    mod filter_changes_nothing {
        use super::*;
        use proptest::prelude::*;

        fn text_strategy() -> impl Strategy<Value = String> {
            let kb = kb();
            let mut words: Vec<String> = Vec::new();
            for list in [
                &kb.bleeding_terms,
                &kb.implantation_terms,
                &kb.postpartum_terms,
                &kb.negation_cues,
                &kb.postpartum_exclusions,
            ] {
                words.extend(list.iter().cloned());
            }
            words.extend(
                [
                    "BLEEDING",
                    "Post-Partum",
                    "s/p",
                    "delivery",
                    "pain",
                    "Hb",
                    "ü",
                    "İ",
                    "x",
                ]
                .map(String::from),
            );
            let piece = prop_oneof![
                proptest::sample::select(words),
                proptest::sample::select(vec![" ", ", ", ". ", " but ", "\n", "", "-", ":"])
                    .prop_map(String::from),
            ];
            proptest::collection::vec(piece, 0..12).prop_map(|pieces| pieces.concat())
        }

        proptest! {
            /// The memchr-led search finds exactly what comparing at every position finds.
            #[test]
            fn the_quick_substring_test_agrees_with_the_plain_one(
                haystack in "[aAbB íİ-]{0,12}",
                needle in "[aAbB í-]{0,4}",
            ) {
                let plain = needle.is_empty()
                    || haystack
                        .as_bytes()
                        .windows(needle.len())
                        .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()));
                prop_assert_eq!(contains_ignoring_case(&haystack, &needle), plain);
            }

            #[test]
            fn filtered_and_unfiltered_reads_agree(texts in proptest::collection::vec(text_strategy(), 0..3)) {
                let kb = kb();
                let filters = TextFilters::new(&kb);
                let unfiltered = TextFilters::default();
                prop_assert_eq!(scan(&texts, &filters, &kb), scan(&texts, &unfiltered, &kb));
                prop_assert_eq!(
                    names_postpartum(&texts, &filters, &kb),
                    names_postpartum(&texts, &unfiltered, &kb)
                );
            }
        }

        #[test]
        fn the_filter_passes_what_names_a_term_and_stops_what_names_none() {
            let filters = TextFilters::new(&kb());
            assert!(filters.bleeding.may_match("Vaginal BLEEDING since noon"));
            assert!(filters.postpartum.may_match("S/P  Delivery"));
            assert!(
                !filters
                    .bleeding
                    .may_match("Hemoglobin [Mass/volume] in Blood")
            );
            assert!(!filters.postpartum.may_match("Choriogonadotropin in Serum"));
        }
    }
}
