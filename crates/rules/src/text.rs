//! Free-text reading: does a record's text name bleeding, and is it labelled "implantation"?
//!
//! A tiny NegEx-style scan (§3.4 item 10): split text into clauses, split clauses into words, and
//! accept a term only when no negation cue appears in the few words before it in the same clause.
//! "no bleeding", "denies spotting" and "not implantation bleeding" are negated; "? implantation
//! bleeding" and "possible implantation spotting per patient" are not (the card questions them).

use crate::knowledge::BleedingText;

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
/// texts (lab names, notes) name none of the terms.
fn contains_ignoring_case(haystack: &str, needle: &str) -> bool {
    let (h, n) = (haystack.as_bytes(), needle.as_bytes());
    n.is_empty() || h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n))
}

/// The words of a term or text, split as clauses are: "s/p delivery" is `["s", "p", "delivery"]`.
fn words_of(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c| !in_word(c)).filter(|w| !w.is_empty())
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
    texts.iter().any(|text| {
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
        let lower = name.trim().to_lowercase();
        kb.history_prefixes.iter().any(|p| opens_with(&lower, p))
    })
}

/// True when some text names delivery or the postpartum state (not negated), once the phrases
/// that name the puerperium without placing the patient in it are taken out (§3.5 item 11).
pub fn names_postpartum(texts: &[String], kb: &BleedingText) -> bool {
    let cleaned: Vec<String> = texts
        .iter()
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
pub fn scan(texts: &[String], kb: &BleedingText) -> TextFindings {
    if texts.iter().any(|t| labelled_absent(t, kb)) {
        let present: Vec<String> = texts
            .iter()
            .filter(|t| !labelled_absent(t, kb))
            .cloned()
            .collect();
        return scan(&present, kb);
    }
    TextFindings {
        bleeding: mentions(texts, &kb.bleeding_terms, kb),
        implantation: mentions(texts, &kb.implantation_terms, kb),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kb() -> BleedingText {
        crate::testkit::knowledge().text
    }

    fn read(text: &str) -> TextFindings {
        scan(&[text.to_string()], &kb())
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
    fn unrelated_text_is_not_bleeding() {
        let f = read("Fetal heart activity US");
        assert!(!f.bleeding && !f.implantation);
    }
}
