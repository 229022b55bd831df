//! Sources a clinician can open (issue 31 item 4): every `source_url` and link a card carries
//! is https and on a host the profile allows: a publisher's page, a DOI (`https://doi.org/…`)
//! or the PubMed record of the article (`https://pubmed.ncbi.nlm.nih.gov/<PMID>/`). Never a
//! search page, a university research page, a document-sharing site or http.
//!
//! The allow-list is data (`cards.toml` `allowed_source_hosts`), reviewed with the rest of the
//! profile; this module only holds each URL to it, naming the URL when it fails, so that
//! `gravida check-profiles` says exactly which link to fix.

use crate::error::Problems;
use crate::templates::CardsToml;

/// The host of an https URL (`www.nice.org.uk`), lower case, or `None` when the URL is not
/// https or names no host.
fn https_host(url: &str) -> Option<String> {
    let rest = url.strip_prefix("https://")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    // No user info, no port: a link a clinician opens is a plain host.
    if authority.is_empty() || authority.contains(['@', ':']) {
        return None;
    }
    Some(authority.to_ascii_lowercase())
}

/// The problem with one URL of the profile, if any.
fn problem(url: &str, allowed: &[String]) -> Option<String> {
    let Some(host) = https_host(url) else {
        return Some(format!("{url} is not an https URL with a plain host"));
    };
    if !allowed.iter().any(|a| a.eq_ignore_ascii_case(&host)) {
        return Some(format!(
            "{url}: host {host} is not in allowed_source_hosts (a publisher's page, doi.org or the PubMed record)"
        ));
    }
    // A query string is a search, not the article (`pubmed.ncbi.nlm.nih.gov/?term=…`).
    if url.contains('?') {
        return Some(format!("{url} is a search page, not the source itself"));
    }
    None
}

/// Holds every `source_url` and link of `cards` to its allow-list.
pub(crate) fn check(cards: &CardsToml, problems: &mut Problems) {
    let file = "cards.toml";
    if cards.allowed_source_hosts.is_empty() {
        problems.add(
            file,
            "allowed_source_hosts is empty: no source URL can be checked",
        );
    }
    for host in &cards.allowed_source_hosts {
        if host.is_empty() || host.contains(['/', ':', '?', '#', '@', ' ']) {
            problems.add(
                file,
                format!("allowed_source_hosts entry {host:?} is not a bare host name"),
            );
        }
    }
    for (rule, card) in &cards.rules {
        let urls = std::iter::once(("source_url", card.source_url.as_str()))
            .chain(card.links.iter().map(|l| ("link", l.url.as_str())));
        for (what, url) in urls {
            if let Some(p) = problem(url, &cards.allowed_source_hosts) {
                problems.add(file, format!("{rule} {what} {p}"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::problem;

    fn allowed() -> Vec<String> {
        vec!["doi.org".into(), "pubmed.ncbi.nlm.nih.gov".into()]
    }

    #[test]
    fn a_doi_and_a_pubmed_record_on_the_list_pass() {
        assert_eq!(
            problem("https://doi.org/10.1093/humrep/deg379", &allowed()),
            None
        );
        assert_eq!(
            problem("https://pubmed.ncbi.nlm.nih.gov/17477103/", &allowed()),
            None
        );
    }

    #[test]
    fn http_a_host_off_the_list_a_search_and_a_hidden_host_are_each_refused_by_url() {
        for (url, says) in [
            ("http://doi.org/10.1/x", "not an https URL"),
            (
                "https://fdocuments.in/document/x.html",
                "host fdocuments.in is not",
            ),
            (
                "https://pubmed.ncbi.nlm.nih.gov/?term=Christodoulou",
                "search page",
            ),
            ("https://doi.org@evil.example/x", "not an https URL"),
            ("https://doi.org:8443/x", "not an https URL"),
        ] {
            let p = problem(url, &allowed()).unwrap_or_default();
            assert!(p.contains(url) && p.contains(says), "{url}: {p}");
        }
    }
}
