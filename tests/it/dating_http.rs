//! Three reading classes of the chart model over HTTP (knowledge.md §3.6 item 4, item 9 and
//! C1), each with its blind chart by prefetch and by fetch (wiremock as the EHR): an LMP
//! recorded as a month is a GA range, and the card follows the more cautious rule and says so;
//! a conception date or an embryo transfer dates an IVF pregnancy; an Rh type from years before
//! this pregnancy, a weak D, still types it.

use serde_json::Value;

use crate::abortifacient_http::{blind, blind_app, by_fetch, by_prefetch};
use crate::expect;
use crate::scenarios_http::{Scenario, rules_of};

/// b17's one `expect` line that is not about dating: the GA written in weeks ("6 weeks", "6+5"),
/// where every card writes `6w5d` (b13 misses the same line); see `both_ways`.
const GA_IN_WEEKS: &str = "no card mentions /\\b6\\s*(w|wk|wks|weeks?)\\b|6\\+5/";

/// The rules of the cards, by their topic code.
fn topics(cards: &[Value]) -> Vec<&str> {
    cards
        .iter()
        .filter_map(|c| c["source"]["topic"]["code"].as_str())
        .collect()
}

/// Everything the clinician reads on the cards.
fn text(cards: &[Value]) -> String {
    cards
        .iter()
        .map(|c| {
            format!(
                "{}\n{}",
                c["summary"].as_str().unwrap_or_default(),
                c["detail"].as_str().unwrap_or_default()
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The chart's cards both ways, each meeting its `expect`, and the same rules both ways; the
/// fetch asks the EHR for what `asked_for` names.
async fn both_ways(chart: &str, asked_for: &str) -> [Vec<Value>; 2] {
    let app = blind_app().await;
    let scenario: Scenario = blind(chart);
    let prefetched = by_prefetch(&app, &scenario).await;
    let (fetched, asked) = by_fetch(&blind_app().await, &scenario).await;
    assert!(asked.iter().any(|u| u.contains(asked_for)), "{asked:?}");
    for cards in [&prefetched, &fetched] {
        let failures: Vec<String> = expect::failures(&scenario.expect, cards)
            .into_iter()
            .filter(|f| f != GA_IN_WEEKS)
            .collect();
        assert!(failures.is_empty(), "{chart}: {failures:?}\n{cards:#?}");
    }
    assert_eq!(rules_of(&prefetched), rules_of(&fetched));
    [prefetched, fetched]
}

#[tokio::test]
async fn an_lmp_recorded_as_a_month_gives_a_ga_range_and_the_more_cautious_anti_d_warning() {
    // b12: LMP "2026-09" on 7 Dec 2026 is GA 9w5d to 13w6d, across 12w0d.
    for cards in both_ways("b12", "Observation").await {
        assert!(topics(&cards).contains(&"R7"), "{cards:#?}");
        let text = text(&cards);
        assert!(
            text.contains("LMP recorded as September 2026: GA between 9w5d and 13w6d."),
            "{text}"
        );
        assert!(
            text.contains("Dating ultrasound (imprecise LMP)."),
            "{text}"
        );
        // Said as written, never as the month's first day.
        assert!(text.contains("by LMP September 2026"), "{text}");
    }
}

#[tokio::test]
async fn a_conception_date_dates_an_ivf_pregnancy_over_the_patients_lmp() {
    // b16: conception 2 Nov gives 7w0d; the LMP of 7 Nov would have given 4w2d (R1, no card).
    for cards in both_ways("b16", "33067-0").await {
        assert!(topics(&cards).contains(&"R2"), "{cards:#?}");
        let text = text(&cards);
        assert!(text.contains("at 7w0d"), "{text}");
        assert!(text.contains("by ART dating"), "{text}");
        assert!(text.contains("assisted reproduction (IVF)"), "{text}");
    }
}

#[tokio::test]
async fn a_day_5_embryo_transfer_charted_as_a_procedure_dates_the_pregnancy() {
    // b17: a day-5 transfer 28 days ago: 2w5d + 4w0d = 6w5d, never "undated".
    for cards in both_ways("b17", "Procedure").await {
        assert!(topics(&cards).contains(&"R2"), "{cards:#?}");
        let text = text(&cards);
        assert!(text.contains("at 6w5d"), "{text}");
        assert!(text.contains("by ART dating"), "{text}");
        assert!(text.contains("assisted reproduction (IVF)"), "{text}");
    }
}

#[tokio::test]
async fn a_weak_d_type_from_2019_types_this_pregnancy_and_gets_the_anti_d_warning() {
    // b18: the Rh type is the person's (C1); a weak D is RhD negative for prophylaxis.
    for cards in both_ways("b18", "10331-7").await {
        assert!(topics(&cards).contains(&"R7"), "{cards:#?}");
        let text = text(&cards);
        assert!(
            text.contains("Rh type on record names an RhD variant (14 Aug 2019)"),
            "{text}"
        );
    }
}
