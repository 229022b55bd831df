//! A card that advises more orders than its three buttons hold (issue 31 item 5), over HTTP:
//! the motivating case (pub01: 10w0d, no ultrasound, Rh type unknown) advises TVUS, hCG now and
//! in 48 h, CBC and ABO/Rh type; CBC and ABO/Rh type share one button that creates both draft
//! orders, so none is dropped.

use crate::abortifacient_http::by_prefetch;
use crate::helpers::{TestApp, fixture_path};
use crate::scenarios_http::load;

#[tokio::test]
async fn cbc_and_abo_rh_type_share_one_button_that_creates_both_orders() {
    let scenario = load(&fixture_path("scenarios/pub01.json"));
    let cards = by_prefetch(&TestApp::spawn().await, &scenario).await;
    let card = cards
        .iter()
        .find(|c| c["source"]["topic"]["code"] == "R2")
        .expect("pub01 gives an R2 card");
    let buttons = card["suggestions"].as_array().expect("buttons");
    let labels: Vec<&str> = buttons.iter().filter_map(|s| s["label"].as_str()).collect();
    assert_eq!(
        labels,
        [
            "Order transvaginal ultrasound (TVUS)",
            "Order quantitative serum hCG now and in 48 h",
            "Order CBC and ABO/Rh type",
        ]
    );
    let codes: Vec<&str> = buttons[2]["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .map(|a| {
            assert_eq!(a["type"], "create");
            assert_eq!(a["resource"]["resourceType"], "ServiceRequest");
            a["resource"]["code"]["coding"][0]["code"]
                .as_str()
                .unwrap_or_default()
        })
        .collect();
    // CBC panel, then ABO group (the ABO/Rh order's first code).
    assert_eq!(codes, ["58410-2", "883-9"]);
}
