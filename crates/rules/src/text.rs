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

/// True when some non-negated word in `texts` starts with one of `terms`.
pub fn mentions(texts: &[String], terms: &[String], kb: &BleedingText) -> bool {
    texts.iter().any(|text| {
        // Terms are lower case; non-ASCII terms fall through to the full scan.
        if terms
            .iter()
            .all(|t| t.is_ascii() && !contains_ignoring_case(text, t))
        {
            return false;
        }
        let lower = text.to_lowercase();
        lower
            .split(ends_clause)
            .flat_map(|clause| clause.split(" but "))
            .any(|clause| {
                let words: Vec<&str> = clause
                    .split(|c| !in_word(c))
                    .filter(|w| !w.is_empty())
                    .collect();
                words.iter().enumerate().any(|(i, word)| {
                    terms.iter().any(|t| word.starts_with(t.as_str()))
                        && !kb
                            .negation_cues
                            .iter()
                            .any(|cue| cue_before(&words, i, cue, kb.negation_window_words))
                })
            })
    })
}

/// Reads bleeding and the implantation label from a record's text.
pub fn scan(texts: &[String], kb: &BleedingText) -> TextFindings {
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
