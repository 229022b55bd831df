//! Two readings of knowledge.md §3.6 over HTTP, from the second set of blind charts, by prefetch
//! and by fetch: a provisional "R/O ectopic" diagnosis (item 2) is no G5 and the bleeding card
//! says ectopic pregnancy is suspected, with the day the rule-out diagnosis was recorded (c06);
//! a pregnancy of unknown location followed by hCG to "<5" and a negative urine test (item 7)
//! gets R2R's info note that it resolved, where it used to get silence (c20).

use crate::abortifacient_http::{blind_app, blind2, by_fetch, by_prefetch};
use crate::expect;
use serde_json::Value;

/// The rule of each card, in order.
fn topics(cards: &[Value]) -> Vec<&str> {
    cards
        .iter()
        .map(|c| c["source"]["topic"]["code"].as_str().unwrap_or_default())
        .collect()
}

#[tokio::test]
async fn a_provisional_rule_out_ectopic_is_named_on_the_bleeding_card_as_suspected() {
    let scenario = blind2("c06");
    let prefetched = by_prefetch(&blind_app().await, &scenario).await;
    let (fetched, asked) = by_fetch(&blind_app().await, &scenario).await;
    assert!(asked.iter().any(|u| u.contains("Condition")), "{asked:?}");
    for cards in [&prefetched, &fetched] {
        let failures = expect::failures(&scenario.expect, cards);
        assert!(failures.is_empty(), "{failures:?}");
        assert_eq!(topics(cards), ["R2"], "{cards:#?}");
        let detail = cards[0]["detail"].as_str().unwrap_or_default();
        assert!(
            detail.contains("Ectopic pregnancy suspected (rule-out diagnosis recorded 5 Dec)."),
            "{detail}"
        );
    }
}

#[tokio::test]
async fn a_pul_followed_to_an_hcg_below_5_gets_the_resolved_note_instead_of_silence() {
    let scenario = blind2("c20");
    let prefetched = by_prefetch(&blind_app().await, &scenario).await;
    let (fetched, asked) = by_fetch(&blind_app().await, &scenario).await;
    assert!(asked.iter().any(|u| u.contains("Observation")), "{asked:?}");
    for cards in [&prefetched, &fetched] {
        let failures = expect::failures(&scenario.expect, cards);
        assert!(failures.is_empty(), "{failures:?}");
        assert_eq!(topics(cards), ["R2R"], "{cards:#?}");
        assert_eq!(cards[0]["indicator"], "info");
        assert_eq!(
            cards[0]["summary"],
            "hCG below 5 IU/L on 7 Dec: pregnancy of unknown location resolved"
        );
        let detail = cards[0]["detail"].as_str().unwrap_or_default();
        assert!(detail.contains("hCG \\<5 mIU\\/mL on 7 Dec"), "{detail}");
        assert!(
            detail.contains("No further hCG follow-up is needed"),
            "{detail}"
        );
    }
}
