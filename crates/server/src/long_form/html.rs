//! The page's HTML pieces: the stylesheet, escaping, the cards' Markdown as HTML, and the
//! response headers that make the page safe to open from an EHR.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use sha2::{Digest, Sha256};

/// The page's one stylesheet, inline and allowed by its hash in the CSP.
pub(super) const STYLE: &str = "body{font:16px/1.45 system-ui,sans-serif;max-width:44rem;margin:2rem auto;\
padding:0 1rem;color:#1b1b1b}h1{font-size:1.3rem}h2{font-size:1.05rem;margin-top:1.6rem}\
.indicator{display:inline-block;padding:.1rem .5rem;border-radius:.3rem;background:#eee;\
font-size:.85rem;text-transform:uppercase}.critical{background:#f8d7da}.warning{background:#fff3cd}\
.info{background:#d1ecf1}.meta{color:#555;font-size:.85rem}li{margin:.2rem 0}";

/// The page as a response, with the headers that make it safe to open from an EHR.
pub fn response(page: String) -> Response {
    let mut response = page.into_response();
    let headers = response.headers_mut();
    // No site may show the page in a frame (`frame-ancestors`, and X-Frame-Options for
    // browsers that predate it): a page of chart text must not be overlaid or clickjacked.
    let csp = format!(
        "default-src 'none'; style-src 'sha256-{}'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        base64::engine::general_purpose::STANDARD.encode(Sha256::digest(STYLE.as_bytes()))
    );
    for (name, value) in [
        (header::CONTENT_TYPE, "text/html; charset=utf-8".to_owned()),
        (header::CACHE_CONTROL, "no-store".to_owned()),
        (header::CONTENT_SECURITY_POLICY, csp),
        (header::REFERRER_POLICY, "no-referrer".to_owned()),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
        (header::X_FRAME_OPTIONS, "DENY".to_owned()),
        (
            header::HeaderName::from_static("x-robots-tag"),
            "noindex".to_owned(),
        ),
    ] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    response
}

/// Escapes text for HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        push_escaped(&mut out, c);
    }
    out
}

pub(super) fn push_escaped(out: &mut String, c: char) {
    match c {
        '&' => out.push_str("&amp;"),
        '<' => out.push_str("&lt;"),
        '>' => out.push_str("&gt;"),
        '"' => out.push_str("&quot;"),
        '\'' => out.push_str("&#39;"),
        _ => out.push(c),
    }
}

/// The card detail's Markdown, as far as cards use it: paragraphs, `- ` list items, `**bold**`,
/// `*emphasis*` and backslash escapes. Everything else is text, escaped; no link, image or HTML
/// from the detail becomes live (chart text in it is escaped for CommonMark already).
pub(super) fn markdown_to_html(markdown: &str) -> String {
    let mut html = String::new();
    let mut in_list = false;
    for block in markdown.split("\n\n") {
        for line in block.lines() {
            let line = line.trim_end();
            if let Some(item) = line.strip_prefix("- ").or_else(|| line.strip_prefix("* ")) {
                if !in_list {
                    html.push_str("<ul>");
                    in_list = true;
                }
                html.push_str(&format!("<li>{}</li>", inline(item)));
            } else {
                if in_list {
                    html.push_str("</ul>");
                    in_list = false;
                }
                if !line.trim().is_empty() {
                    html.push_str(&format!("<p>{}</p>", inline(line)));
                }
            }
        }
        if in_list {
            html.push_str("</ul>");
            in_list = false;
        }
    }
    html
}

/// One line of Markdown: backslash escapes, `**`, `*`; every tag opened is closed.
pub(super) fn inline(line: &str) -> String {
    let mut out = String::new();
    let (mut strong, mut em) = (false, false);
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek().is_some_and(|n| n.is_ascii_punctuation()) => {
                if let Some(n) = chars.next() {
                    push_escaped(&mut out, n);
                }
            }
            '*' if chars.peek() == Some(&'*') => {
                chars.next();
                out.push_str(if strong { "</strong>" } else { "<strong>" });
                strong = !strong;
            }
            '*' => {
                out.push_str(if em { "</em>" } else { "<em>" });
                em = !em;
            }
            _ => push_escaped(&mut out, c),
        }
    }
    if em {
        out.push_str("</em>");
    }
    if strong {
        out.push_str("</strong>");
    }
    out
}

/// The page of a long form packed under a knowledge profile this replica does not have loaded
/// (the profile, or Gravida, changed since the card was issued): said plainly, rather than
/// rendered with other words. The card itself, as the EHR showed it, stands.
pub(super) fn other_profile_page(version: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <meta name=\"referrer\" content=\"no-referrer\">\
         <title>Gravida: why this card</title><style>{STYLE}</style></head><body>\
         <h1>This card's full reasoning cannot be shown here</h1>\
         <p>It was written by knowledge profile {}, which this server does not have loaded as it \
         was: the knowledge profile, or Gravida, has been updated since the card was issued. The \
         reasoning is kept as that profile's words, so it is not shown with other words.</p>\
         <p>The card as it was shown in the record still stands. Open the hook again for a \
         card, and its reasoning, from the profile in use now.</p>\
         <p class=\"meta\">This page is not cached.</p></body></html>",
        escape(version)
    )
}
