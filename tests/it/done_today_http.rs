//! A test done today is not advised again (knowledge.md §3.6 item 16): a bleed with an hCG drawn
//! this morning and no scan yet, by prefetch and by fetch. Its bleeding card offers TVUS but not
//! "hCG now"; the repeat in 48 h is another order and stays. The same hCG drawn yesterday is
//! offered now. (A TVUS done today already changes the card itself: after a scan with no
//! intrauterine pregnancy it leads with the hCG repeat and offers no TVUS, §3.6 W6.)

use serde_json::Value;

use crate::abortifacient_http::{blind, blind_app, by_fetch, by_prefetch};
use crate::fhir_sim::shift_dates;

/// Every action a card's suggestions would create: (its codes, whether it is timed).
fn orders(card: &Value) -> Vec<(Vec<String>, bool)> {
    card["suggestions"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|s| s["actions"].as_array().cloned().unwrap_or_default())
        .filter(|a| a["type"] == "create")
        .map(|a| {
            let resource = &a["resource"];
            let codes = resource["code"]["coding"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| c["code"].as_str().map(str::to_owned))
                .collect();
            (codes, resource.get("occurrenceDateTime").is_some())
        })
        .collect()
}

fn offers(card: &Value, code: &str, timed: bool) -> bool {
    orders(card)
        .iter()
        .any(|(codes, t)| *t == timed && codes.iter().any(|c| c == code))
}

/// The blind chart of a bleed at 9w6d with an hCG drawn this morning, without its scan: the
/// card is the first-visit one, which offers TVUS and hCG "now and in 48 h".
fn hcg_drawn_today() -> crate::scenarios_http::Scenario {
    let mut scenario = blind("b31");
    scenario.resources.retain(|r| r["id"] != "b31-dia-7");
    scenario
}

#[tokio::test]
async fn an_hcg_drawn_today_is_not_offered_again_but_its_48_hour_repeat_is() {
    let scenario = hcg_drawn_today();
    let prefetched = by_prefetch(&blind_app().await, &scenario).await;
    let (fetched, _) = by_fetch(&blind_app().await, &scenario).await;
    for cards in [&prefetched, &fetched] {
        let card = &cards[0];
        assert_eq!(card["source"]["topic"]["code"], "R2", "{card:#}");
        assert!(offers(card, "76817", false), "TVUS not offered: {card:#}");
        assert!(
            !offers(card, "84702", false),
            "hCG now offered again: {card:#}"
        );
        assert!(offers(card, "84702", true), "no 48-hour repeat: {card:#}");
    }
}

#[tokio::test]
async fn the_same_hcg_drawn_yesterday_is_offered_now() {
    let mut scenario = hcg_drawn_today();
    for resource in &mut scenario.resources {
        if resource["id"] == "b31-obs-6" {
            shift_dates(resource, -1);
        }
    }
    let cards = by_prefetch(&blind_app().await, &scenario).await;
    assert!(offers(&cards[0], "84702", false), "{:#}", cards[0]);
    assert!(offers(&cards[0], "84702", true), "{:#}", cards[0]);
}
