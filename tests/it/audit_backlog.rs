//! A store that cannot keep up: a hook call whose cards the audit trail cannot take is refused
//! (503), never answered with cards the trail would not hold, and every card sent is stored.

use std::time::Duration;

use gravida_store::testing::{WriteLock, card_modes};
use gravida_store::{Store, sqlite_url_in};

use crate::helpers::{TestApp, fixture_path};
use crate::scenarios_http::{load, prefetch_for, request};

/// The sum of a counter's series on `/metrics`.
async fn counter(app: &TestApp, name: &str) -> f64 {
    let text = crate::helpers::get_text(&app.client, &app.url("/metrics")).await;
    text.lines()
        .filter(|line| line.starts_with(name))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test]
async fn a_call_whose_cards_the_stalled_store_cannot_take_is_refused_and_every_card_sent_is_stored()
{
    // A one-job queue and a 50 ms wait for room: the store's writer stalls behind a write lock
    // another connection holds, as behind a disk that has stopped.
    let app = TestApp::spawn_with(&[
        ("GRAVIDA_STORE__QUEUE_CAPACITY", "1"),
        ("GRAVIDA_STORE__ENQUEUE_WAIT_MS", "50"),
    ])
    .await;
    let scenario = load(&fixture_path("scenarios/pub01.json"));
    let prefetch = prefetch_for(&app, "gravida-patient-view", &scenario).await;
    let body = request(&scenario, Some(prefetch), None);
    let store = Store::connect(&sqlite_url_in(&app.data_dir)).await.unwrap();
    let lock = WriteLock::hold(&store).await;

    let (mut sent, mut refused) = (0, 0);
    for _ in 0..4 {
        let (status, answer) = app.call("gravida-patient-view", &body).await;
        match status {
            200 => sent += answer["cards"].as_array().map_or(0, Vec::len),
            503 => {
                assert!(answer.to_string().contains("audit-backlog"), "{answer}");
                refused += 1;
            }
            other => panic!("{other}: {answer}"),
        }
    }
    assert!(
        sent >= 1,
        "the calls the queue took were answered with their cards"
    );
    assert!(refused >= 1, "the calls it could not take were refused");
    let (status, ready) = app.get("/readyz").await;
    assert_eq!(status, 503, "{ready}");
    assert!(
        ready["reason"].as_str().unwrap().contains("queue is full"),
        "{ready}"
    );

    lock.release().await;
    // The writer catches up: every card that was sent is stored, and none was counted lost.
    let mut stored = 0;
    for _ in 0..100 {
        stored = card_modes(&store).await.len();
        if stored >= sent {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(stored, sent, "{refused} refused");
    // The metrics are the test process's, shared by every test app: this one's refusals are
    // among them.
    assert!(counter(&app, "gravida_audit_backlog_refusals_total").await >= refused as f64);
    let (status, ready) = app.get("/readyz").await;
    assert_eq!(status, 200, "ready again once the queue drained: {ready}");
}
