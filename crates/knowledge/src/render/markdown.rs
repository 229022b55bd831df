//! Making chart text safe to show on a card: CommonMark escaping, clean-up and a length cap.
//!
//! A card's `detail` is (GitHub Flavored) Markdown that the EHR renders next to the clinician's
//! order entry. The profile's templates are trusted text; everything taken from the chart is not.
//! Condition and Observation text, notes, resource ids, draft-order types: all of it can be typed
//! by anyone with write access to the record, copied in from a patient portal, or imported from
//! another system. Put into Markdown unchanged, such text is *markup*: a note saying
//!
//! ```text
//! implantation bleeding [Re-enter your EHR password here](https://evil.example/login)
//! ```
//!
//! would become a real link on a card that carries Gravida's name and a clinical warning, and
//! `![x](https://evil.example/pixel)` would make the EHR fetch a tracking image; raw HTML,
//! headings, block quotes, list markers, tables or code fences would let the record text rewrite
//! the card's layout, so that the advice seems to say something the profile never said.
//!
//! The defence is in one place, [`escape_inline`], used for every chart-derived value that goes
//! into a `detail` template (see `render.rs`). It:
//!
//! 1. turns line breaks, tabs and every other control character (Unicode `Cc`, and the line and
//!    paragraph separators U+2028/U+2029) into a space, drops the bidirectional-override
//!    characters (which can make text display in a different order than it reads), collapses
//!    runs of white space into one space and trims the ends. With no line break left, the value
//!    cannot start a block (heading, quote, list item, fence, table row, indented code) and
//!    cannot end the template's paragraph;
//! 2. caps the length at [`MAX_CHARS`] characters, ending a cut value with "…", so that one
//!    record cannot bury the advice under its text;
//! 3. puts a backslash before every ASCII punctuation character. CommonMark §2.4 says "Any ASCII
//!    punctuation character may be backslash-escaped" and that an escaped character is shown as
//!    itself with no markup meaning; this is exactly the set of characters that start or end
//!    Markdown syntax (brackets, parentheses, `!`, `<`, `>`, `*`, `_`, `#`, backticks, `~`, `|`,
//!    `-`, `+`, `.`, `\`, `&` and the rest), so escaping all of them rather than a hand-picked
//!    list leaves nothing to forget. Letters, digits and non-ASCII text are kept as they are. `&` is escaped too, so `&lt;` cannot become an entity, and `\` is
//!    escaped so that an existing backslash cannot un-escape the next character. `{` and `}` are
//!    escaped as well, though the profile's `fill` never reads its values a second time.
//!
//! A clinician sees the text as charted (the backslashes are not displayed); only its power to
//! be markup is gone. One limit: a Markdown renderer with "linkify" (bare-URL detection after
//! parsing) may still turn a bare `https://…` into a link; the link then shows its own address,
//! so it cannot disguise where it leads.
//!
//! The `summary` and suggestion labels are plain text in CDS Hooks, not Markdown: there a
//! backslash would be shown to the clinician. Chart text bound for plain text goes through
//! [`plain_inline`] instead, which does steps 1 and 2 and keeps punctuation.

/// The most characters of one chart value shown on a card (before escaping), "…" included.
pub const MAX_CHARS: usize = 120;

/// Chart text made safe for a CommonMark/GFM `detail`: one line, at most [`MAX_CHARS`]
/// characters, every ASCII punctuation character backslash-escaped. See the module docs.
pub fn escape_inline(s: &str) -> String {
    let plain = plain_inline(s);
    let mut out = String::with_capacity(plain.len() * 2);
    for c in plain.chars() {
        if c.is_ascii_punctuation() {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Chart text made safe for a plain-text field (`summary`, a label): one line, control
/// characters replaced, at most [`MAX_CHARS`] characters; punctuation kept.
pub fn plain_inline(s: &str) -> String {
    let mut line = String::with_capacity(s.len().min(MAX_CHARS * 4));
    let mut space = false;
    for c in s.chars() {
        if is_bidi_control(c) {
            continue;
        }
        if c.is_whitespace() || c.is_control() {
            space = true;
            continue;
        }
        if space && !line.is_empty() {
            line.push(' ');
        }
        space = false;
        line.push(c);
    }
    cap(line)
}

/// Characters that reorder how text is displayed (Trojan-Source style spoofing).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

fn cap(line: String) -> String {
    if line.chars().count() <= MAX_CHARS {
        return line;
    }
    let mut short: String = line.chars().take(MAX_CHARS - 1).collect();
    short.truncate(short.trim_end().len());
    short.push('…');
    short
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Every ASCII punctuation character is preceded by a backslash that is not itself escaped.
    pub(crate) fn fully_escaped(s: &str) -> bool {
        let mut chars = s.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                match chars.next() {
                    Some(n) if n.is_ascii_punctuation() => {}
                    _ => return false,
                }
            } else if c.is_ascii_punctuation() {
                return false;
            }
        }
        true
    }

    #[test]
    fn a_phishing_link_in_a_note_is_shown_as_text_not_a_link() {
        let s =
            "implantation bleeding [Re-enter your EHR password here](https://evil.example/login)";
        let e = escape_inline(s);
        assert_eq!(
            e,
            r"implantation bleeding \[Re\-enter your EHR password here\]\(https\:\/\/evil\.example\/login\)"
        );
        assert!(!e.contains("]("));
        assert!(fully_escaped(&e));
    }

    #[test]
    fn an_image_cannot_make_the_ehr_fetch_a_url() {
        let e = escape_inline("![x](https://evil.example/pixel.png)");
        assert!(e.starts_with(r"\!\[x\]\("), "{e}");
        assert!(!e.contains("!["));
    }

    #[test]
    fn an_autolink_is_not_a_link() {
        let e = escape_inline("<https://evil.example>");
        assert_eq!(e, r"\<https\:\/\/evil\.example\>");
    }

    #[test]
    fn raw_html_is_shown_as_text() {
        let e = escape_inline("<b>urgent</b> <img src=x onerror=alert(1)>");
        assert!(!e.contains('<') || e.matches('<').count() == e.matches(r"\<").count());
        assert_eq!(escape_inline("<b>"), r"\<b\>");
    }

    #[test]
    fn an_entity_cannot_smuggle_a_character() {
        assert_eq!(escape_inline("&lt;b&gt;"), r"\&lt\;b\&gt\;");
    }

    #[test]
    fn a_heading_on_a_new_line_stays_on_the_same_line() {
        let e = escape_inline("bleeding\n# URGENT: stop all orders");
        assert_eq!(e, r"bleeding \# URGENT\: stop all orders");
    }

    #[test]
    fn a_code_fence_cannot_open_a_code_block() {
        let e = escape_inline("```\ncode\n```");
        assert_eq!(e, r"\`\`\` code \`\`\`");
        assert!(!e.contains('\n'));
    }

    #[test]
    fn a_template_placeholder_in_chart_text_is_not_a_placeholder() {
        assert_eq!(escape_inline("{{summary}}"), r"\{\{summary\}\}");
        assert_eq!(escape_inline("{ga}"), r"\{ga\}");
    }

    #[test]
    fn emphasis_quotes_lists_and_tables_are_neutralised() {
        assert_eq!(escape_inline("*a* _b_"), r"\*a\* \_b\_");
        assert_eq!(escape_inline("> quote"), r"\> quote");
        assert_eq!(escape_inline("- item"), r"\- item");
        assert_eq!(escape_inline("1. item"), r"1\. item");
        assert_eq!(escape_inline("| a | b |"), r"\| a \| b \|");
        assert_eq!(escape_inline("~~gone~~"), r"\~\~gone\~\~");
    }

    #[test]
    fn a_backslash_cannot_undo_the_escape_of_the_next_character() {
        assert_eq!(escape_inline(r"\[x](y)"), r"\\\[x\]\(y\)");
        assert!(fully_escaped(&escape_inline(r"\\\*")));
    }

    #[test]
    fn line_breaks_tabs_and_control_characters_become_one_space() {
        assert_eq!(
            escape_inline("  a\r\n\tb\u{0}c\u{7f}d\u{85}e\u{2028}f  "),
            "a b c d e f"
        );
    }

    #[test]
    fn bidirectional_overrides_are_dropped() {
        assert_eq!(plain_inline("abc\u{202E}fed\u{2066}"), "abcfed");
    }

    #[test]
    fn long_text_is_cut_to_120_characters_with_an_ellipsis() {
        let long = "é".repeat(500);
        let e = escape_inline(&long);
        assert_eq!(e.chars().count(), MAX_CHARS);
        assert!(e.ends_with('…'));
        assert_eq!(escape_inline(&"x".repeat(MAX_CHARS)), "x".repeat(MAX_CHARS));
    }

    #[test]
    fn the_cap_counts_characters_before_escaping_so_an_escape_is_never_split() {
        let e = escape_inline(&"[".repeat(300));
        assert!(fully_escaped(&e));
        assert!(e.ends_with('…'));
        assert_eq!(e.matches('[').count(), MAX_CHARS - 1);
    }

    #[test]
    fn plain_text_keeps_its_punctuation() {
        assert_eq!(
            plain_inline("Rh(D)-negative,\n 12+0 wk"),
            "Rh(D)-negative, 12+0 wk"
        );
    }

    #[test]
    fn letters_digits_and_non_ascii_text_are_kept() {
        assert_eq!(
            escape_inline("Saignement 12 sem. – métrorragie"),
            r"Saignement 12 sem\. – métrorragie"
        );
    }
}
