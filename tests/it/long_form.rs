//! The long form of a card (issue 17 item 4), over HTTP: every card links to a page Gravida
//! serves with the card's full text, the records used and the profile version; the link names
//! no patient and is unguessable; the page is not cached, allows no script, and is gone after
//! its time to live; an unknown id gets 404; another replica of the same store serves it, and
//! the store holds it sealed.

use gravida_store::sqlite_url_in;
use serde_json::{Value, json};

use crate::helpers::{TestApp, fixture_path};
use crate::scenarios_http::{load, prefetch_for, request};

const SERVICE: &str = "gravida-patient-view";
const LABEL: &str = "Why this card (full reasoning)";

/// Scenario pub01's cards at patient-view.
async fn cards(app: &TestApp) -> Vec<Value> {
    let scenario = load(&fixture_path("scenarios/pub01.json"));
    let prefetch = prefetch_for(app, SERVICE, &scenario).await;
    let mut body = request(&scenario, Some(prefetch), None);
    body["hookInstance"] = json!("long-form-hook-instance-1");
    let (status, response) = app.call(SERVICE, &body).await;
    assert_eq!(status, 200, "{response}");
    let cards = response["cards"].as_array().cloned().unwrap_or_default();
    assert!(!cards.is_empty(), "pub01 gives a card");
    cards
}

/// The card's long-form link.
fn long_form_url(card: &Value) -> String {
    let links = card["links"].as_array().expect("the card has links");
    let link = links
        .iter()
        .find(|l| l["label"] == LABEL)
        .unwrap_or_else(|| panic!("no long-form link in {links:?}"));
    assert_eq!(link["type"], "absolute");
    link["url"].as_str().unwrap().to_owned()
}

/// What a reader sees: the page without its tags, entities decoded, spaces collapsed.
fn visible_text(html: &str) -> String {
    let body = html.split("</style>").nth(1).unwrap_or(html);
    let mut text = String::new();
    let mut in_tag = false;
    for c in body.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                text.push(' ');
            }
            _ if !in_tag => text.push(c),
            _ => {}
        }
    }
    let text = text
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&");
    collapse(&text)
}

fn collapse(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The card's Markdown as plain text: no emphasis markers, no backslash escapes.
fn plain(markdown: &str) -> Vec<String> {
    markdown
        .lines()
        .map(|l| l.trim().trim_start_matches("- "))
        .map(|l| {
            let mut out = String::new();
            let mut chars = l.chars().peekable();
            while let Some(c) = chars.next() {
                match c {
                    '\\' if chars.peek().is_some_and(|n| n.is_ascii_punctuation()) => {
                        out.extend(chars.next());
                    }
                    '*' => {}
                    _ => out.push(c),
                }
            }
            collapse(&out)
        })
        .filter(|l| !l.is_empty())
        .collect()
}

#[tokio::test]
async fn every_card_links_to_a_page_with_its_full_text_and_no_patient_id_in_the_url() {
    let app = TestApp::spawn().await;
    let (_, ready) = app.get("/readyz").await;
    let profile = ready["profile"].as_str().unwrap().to_owned();
    for card in cards(&app).await {
        let url = long_form_url(&card);
        let prefix = app.url("/cards/");
        assert!(url.starts_with(&prefix), "{url}");
        let id = &url[prefix.len()..];
        // At least 128 bits: 22 base64url characters carry 132.
        assert!(id.len() >= 22, "{id}");
        assert!(
            id.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "{id}"
        );
        for private in [
            "pub01",
            "long-form-hook-instance-1",
            card["uuid"].as_str().unwrap(),
        ] {
            assert!(!url.contains(private), "{url} contains {private}");
        }

        let response = app.client.get(&url).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 200);
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        assert!(header("content-type").starts_with("text/html"));
        assert_eq!(header("cache-control"), "no-store");
        let csp = header("content-security-policy");
        assert!(csp.contains("default-src 'none'"), "{csp}");
        assert!(
            !csp.contains("unsafe-inline") && !csp.contains("script-src"),
            "{csp}"
        );
        assert_eq!(header("referrer-policy"), "no-referrer");
        let html = response.text().await.unwrap();
        assert!(!html.contains("<script"), "no script on the page");

        let text = visible_text(&html);
        assert!(
            text.contains(&collapse(card["summary"].as_str().unwrap())),
            "summary missing from {text}"
        );
        // The card's steps are on the page; its **Why** and its disclaimer are not repeated
        // there, the reasoning saying them in full (each record and disclaimer once).
        let detail = card["detail"].as_str().unwrap_or_default();
        let steps = detail.split("**Why.**").next().unwrap_or_default();
        assert!(!steps.trim().is_empty(), "{detail}");
        for line in plain(steps) {
            assert!(
                text.contains(&line),
                "detail line {line:?} missing from {text}"
            );
        }
        assert!(text.contains("The records the card rests on"), "{text}");
        assert!(
            text.contains(&profile),
            "profile version missing from {text}"
        );
    }
}

#[tokio::test]
async fn an_unknown_or_malformed_long_form_id_gets_404() {
    let app = TestApp::spawn().await;
    // A real one exists, so the map is not empty.
    let _ = cards(&app).await;
    for path in [
        "/cards/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "/cards/not-an-id",
        "/cards/..%2F..%2Fetc%2Fpasswd",
    ] {
        let (status, body) = app.get(path).await;
        assert_eq!(status, 404, "{path}");
        assert_eq!(
            crate::cds3::error_name(&body),
            "long-form-not-found",
            "{path}"
        );
    }
}

#[tokio::test]
async fn a_long_form_expires_after_its_time_to_live() {
    let app = TestApp::spawn_with(&[("GRAVIDA_CARDS__LONG_FORM_TTL_S", "1")]).await;
    let url = long_form_url(&cards(&app).await[0]);
    let open = app.client.get(&url).send().await.unwrap();
    assert_eq!(open.status().as_u16(), 200);
    tokio::time::sleep(std::time::Duration::from_millis(1300)).await;
    let expired = app.client.get(&url).send().await.unwrap();
    assert_eq!(expired.status().as_u16(), 404);
}

#[tokio::test]
async fn a_deployment_without_a_store_serves_long_forms_from_memory() {
    let app = TestApp::spawn_with(&[("GRAVIDA_STORE__ENABLED", "false")]).await;
    let url = long_form_url(&cards(&app).await[0]);
    let response = app.client.get(&url).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
}

#[tokio::test]
async fn another_replica_of_the_same_store_serves_the_long_form_and_the_store_cannot_read_it() {
    let first = TestApp::spawn().await;
    let store_url = sqlite_url_in(&first.data_dir);
    let second = TestApp::spawn_with(&[("GRAVIDA_STORE__URL", &store_url)]).await;
    let card = cards(&first).await.remove(0);
    let url = long_form_url(&card);
    let path = &url[first.address.len()..];

    // The sealed page is written behind the answer: give the writer a moment.
    let mut page = None;
    for _ in 0..60 {
        let response = second.client.get(second.url(path)).send().await.unwrap();
        if response.status().as_u16() == 200 {
            page = Some(response.text().await.unwrap());
            break;
        }
        assert_eq!(response.status().as_u16(), 404);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let page = page.expect("the other replica serves the long form");
    let summary = collapse(card["summary"].as_str().unwrap());
    assert!(visible_text(&page).contains(&summary));

    // What is on disk holds neither the card's text nor the link's id.
    let id = &path["/cards/".len()..];
    for file in ["gravida.db", "gravida.db-wal"] {
        let Ok(bytes) = std::fs::read(first.data_dir.join(file)) else {
            continue;
        };
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains(&summary), "{file} holds the summary");
        assert!(!text.contains(id), "{file} holds the link's id");
    }
}

/// Scenario `name`'s cards at its hook, everything prefetched, with the visible text of each
/// card's long form.
async fn long_forms(app: &TestApp, name: &str) -> Vec<(Value, String)> {
    let scenario = load(&fixture_path(&format!("scenarios/{name}.json")));
    let service = format!("gravida-{}", scenario.hook);
    let prefetch = prefetch_for(app, &service, &scenario).await;
    let (status, response) = app
        .call(&service, &request(&scenario, Some(prefetch), None))
        .await;
    assert_eq!(status, 200, "{response}");
    let mut pages = Vec::new();
    for card in response["cards"].as_array().cloned().unwrap_or_default() {
        let html = app
            .client
            .get(long_form_url(&card))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        pages.push((card, visible_text(&html)));
    }
    pages
}

#[tokio::test]
async fn the_long_form_of_every_public_scenario_states_each_disclaimer_and_the_bleed_once_and_writes_ga_as_weeks_and_days()
 {
    let ga = regex::Regex::new(r"(?i)\b(GA|gestational age) \d+\b(?:[^w]|$)").unwrap();
    let mut checked = 0;
    for n in 1..=13 {
        let name = format!("pub{n:02}");
        // Each scenario its own service, so that no card is held back as shown already.
        for (card, text) in long_forms(&TestApp::spawn().await, &name).await {
            let rule = card["source"]["topic"]["code"].as_str().unwrap_or_default();
            let lower = text.to_lowercase();
            assert!(
                lower.matches("not a diagnosis").count() <= 1,
                "{name} {rule}: a disclaimer twice: {text}"
            );
            assert!(
                lower
                    .matches("does not mean the pregnancy is failing")
                    .count()
                    <= 1,
                "{name} {rule}: a disclaimer twice: {text}"
            );
            // The bleed is named once in the reasoning (and in the records used), not again
            // from the card's own **Why**.
            assert!(
                text.matches("Bleeding record:").count() <= 1,
                "{name} {rule}: the bleed twice: {text}"
            );
            assert!(
                !ga.is_match(&text),
                "{name} {rule}: a GA not in weeks and days: {text}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 10, "{checked} long forms");
}

/// The page at `path` on `app`, once the writer has stored it (it writes behind the answer).
async fn page_from(app: &TestApp, path: &str) -> String {
    for _ in 0..100 {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        if response.status().as_u16() == 200 {
            return response.text().await.unwrap();
        }
        assert_eq!(response.status().as_u16(), 404);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("{path} never appeared on {}", app.address);
}

#[tokio::test]
async fn every_public_scenario_long_form_read_back_from_the_store_is_the_page_its_replica_renders()
{
    let mut compared = 0;
    for n in 1..=13 {
        let name = format!("pub{n:02}");
        let scenario = load(&fixture_path(&format!("scenarios/{name}.json")));
        let first = TestApp::spawn().await;
        let store_url = sqlite_url_in(&first.data_dir);
        let second = TestApp::spawn_with(&[("GRAVIDA_STORE__URL", &store_url)]).await;
        let service = format!("gravida-{}", scenario.hook);
        let prefetch = prefetch_for(&first, &service, &scenario).await;
        let (status, response) = first
            .call(&service, &request(&scenario, Some(prefetch), None))
            .await;
        assert_eq!(status, 200, "{name}: {response}");
        for card in response["cards"].as_array().cloned().unwrap_or_default() {
            let url = long_form_url(&card);
            let path = &url[first.address.len()..];
            // The first replica renders the sheet it kept; the second only has the store's
            // row: packed against the profile's words and sealed.
            let kept = page_from(&first, path).await;
            let stored = page_from(&second, path).await;
            assert_eq!(stored, kept, "{name}: the page from the store differs");
            compared += 1;
        }
    }
    assert!(compared >= 10, "{compared} pages compared");
}

#[tokio::test]
async fn a_replica_with_another_profile_version_says_it_cannot_show_the_long_form() {
    let first = TestApp::spawn().await;
    let store_url = sqlite_url_in(&first.data_dir);
    // The same profile with one comment more: another version, other words.
    let profile = first.data_dir.join("edited-profile");
    let default = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/default");
    crate::prefetch_windows::copy_tree(&default, &profile);
    let cards_toml = profile.join("cards.toml");
    let mut text = std::fs::read_to_string(&cards_toml).unwrap();
    text.push_str("\n# edited\n");
    std::fs::write(&cards_toml, text).unwrap();
    let second = TestApp::spawn_with(&[
        ("GRAVIDA_STORE__URL", &store_url),
        ("GRAVIDA_PROFILES", &profile.display().to_string()),
    ])
    .await;
    let card = cards(&first).await.remove(0);
    let url = long_form_url(&card);
    let page = page_from(&second, &url[first.address.len()..]).await;
    let version = card["extension"]["org.gravida.profile"].as_str().unwrap();
    let text = visible_text(&page);
    assert!(text.contains("cannot be shown"), "{text}");
    assert!(text.contains(version), "{text}");
    let summary = collapse(card["summary"].as_str().unwrap());
    assert!(!text.contains(&summary), "{text}");
}
