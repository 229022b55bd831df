//! The gestational trophoblastic disease picture (knowledge.md §3.6 item 15) over HTTP: the blind
//! chart of a bleed at 9w6d with an hCG of 186,000 IU/L and a "snowstorm" scan today, by prefetch
//! and by fetch. The bleeding card adds the molar-pregnancy work-up and does not lead with "TVUS
//! to locate" (a TVUS was done today).

use crate::abortifacient_http::{blind, blind_app, by_fetch, by_prefetch};
use crate::expect;

#[tokio::test]
async fn a_bleed_with_a_very_high_hcg_and_a_snowstorm_scan_gets_the_molar_work_up_on_its_card() {
    let scenario = blind("b31");
    let prefetched = by_prefetch(&blind_app().await, &scenario).await;
    let (fetched, asked) = by_fetch(&blind_app().await, &scenario).await;
    assert!(
        asked.iter().any(|u| u.contains("DiagnosticReport")),
        "{asked:?}"
    );
    for cards in [&prefetched, &fetched] {
        let failures = expect::failures(&scenario.expect, cards);
        assert!(failures.is_empty(), "{failures:?}");
        let detail = cards[0]["detail"].as_str().unwrap_or_default();
        assert!(
            detail.contains(
                "raises the possibility of gestational trophoblastic disease (molar pregnancy)"
            ),
            "{detail}"
        );
        assert!(
            detail.contains("Histology of any products of conception; hCG follow-up."),
            "{detail}"
        );
        assert!(detail.contains("hCG 186000"), "{detail}");
    }
}
