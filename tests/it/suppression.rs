//! Cards never repeated and never asking for what is done (issue 17 item 3), over HTTP: a card
//! shown at patient-view is not shown again at order-sign in the same encounter or window; a
//! card dismissed as "already addressed" stays hidden until its evidence changes; critical
//! cards are never hidden; feedback about an unknown card hides nothing; and a deployment
//! with no store shows every card, as before. The rules run on SQLite always, and on
//! PostgreSQL too when `GRAVIDA_TEST_POSTGRES_URL` is set.

use serde_json::{Value, json};
use time::{Duration as TimeDuration, OffsetDateTime};

use gravida_auth::testing::{self, TestKey};
use gravida_store::testing::fresh_postgres_url;

use crate::helpers::{TestApp, fixture_path, get_text};
use crate::scenarios_http::{Scenario, load, prefetch_for, request, rules_of};
use crate::store::postgres_admin_url;

/// A draft order that is not about anything the cards advise: order-sign needs one.
fn draft_orders(patient: &str) -> Value {
    json!({
        "resourceType": "Bundle", "type": "collection",
        "entry": [{"resource": {
            "resourceType": "ServiceRequest", "id": "draft-urinalysis", "status": "draft",
            "intent": "order",
            "code": {"text": "Urinalysis", "coding": [{"system": "http://loinc.org", "code": "24356-8"}]},
            "subject": {"reference": format!("Patient/{patient}")}
        }}]
    })
}

/// Scenario pub01 ("implantation bleeding" at 10w0d, no ultrasound: a warning card).
fn pub01() -> Scenario {
    load(&fixture_path("scenarios/pub01.json"))
}

/// Calls `hook` for `scenario`'s patient with everything prefetched, in `encounter` (if any),
/// and returns the cards. Order hooks get [`draft_orders`].
async fn call(
    app: &TestApp,
    hook: &str,
    scenario: &Scenario,
    encounter: Option<&str>,
) -> Vec<Value> {
    call_as(app, app, None, hook, scenario, encounter).await
}

/// [`call`], sent by `sender` (with its signed token) or unauthenticated; the prefetch
/// templates come from the discovery document of `open` (which needs no token).
async fn call_as(
    app: &TestApp,
    open: &TestApp,
    sender: Option<Sender>,
    hook: &str,
    scenario: &Scenario,
    encounter: Option<&str>,
) -> Vec<Value> {
    let service = format!("gravida-{hook}");
    let patient = scenario.context["patientId"].as_str().unwrap().to_owned();
    let mut context = scenario.context.clone();
    if let Some(encounter) = encounter {
        context["encounterId"] = json!(encounter);
    }
    if hook == "order-sign" && context.get("draftOrders").is_none() {
        context["draftOrders"] = draft_orders(&patient);
    }
    let scenario = Scenario {
        name: scenario.name.clone(),
        hook: hook.to_owned(),
        context,
        resources: scenario.resources.clone(),
        expect: scenario.expect.clone(),
    };
    let prefetch = prefetch_for(open, &service, &scenario).await;
    let body = request(&scenario, Some(prefetch), None);
    let (status, body) = post_as(app, sender, &format!("/cds-services/{service}"), &body).await;
    assert_eq!(status, 200, "{body}");
    body["cards"].as_array().cloned().unwrap_or_default()
}

/// An authenticated EHR: its key, `iss` and `tenant`.
#[derive(Debug, Clone, Copy)]
struct Sender {
    key: TestKey,
    iss: &'static str,
    tenant: Option<&'static str>,
}

/// The public base URL of [`two_issuers`], which tokens' audiences name.
const BASE: &str = "https://cds.example.org";

/// Settings trusting issuer A (tenants `org-a` and `org-a2`) and issuer B, from their JWKS
/// files, with `extra` TOML after them.
fn two_issuers(extra: &str) -> String {
    format!(
        r#"
public_base_url = "{BASE}"

[[auth.issuers]]
iss = "{iss_a}"
jwks_file = "{{fixtures}}/keys/jwks-issuer-a.json"
tenants = ["{tenant_a}", "org-a2"]

[[auth.issuers]]
iss = "{iss_b}"
jwks_file = "{{fixtures}}/keys/jwks-issuer-b.json"

{extra}
"#,
        iss_a = testing::ISSUER_A,
        tenant_a = testing::TENANT_A,
        iss_b = testing::ISSUER_B,
    )
}

/// POSTs `body` to `path`, with a fresh token of `sender` when there is one.
async fn post_as(app: &TestApp, sender: Option<Sender>, path: &str, body: &Value) -> (u16, Value) {
    let mut post = app
        .client
        .post(app.url(path))
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(sender) = sender {
        let mut claims = testing::claims(
            sender.iss,
            &format!("{BASE}{path}"),
            std::time::SystemTime::now(),
        );
        if let Some(tenant) = sender.tenant {
            claims = testing::with(claims, json!({ "tenant": tenant }));
        }
        let token = testing::mint(sender.key, json!({}), claims);
        post = post.header("authorization", format!("Bearer {token}"));
    }
    let response = post.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// The rules of the cards that are not critical (the ones a suppression may hide).
fn hideable(cards: &[Value]) -> Vec<String> {
    let mut rules: Vec<String> = cards
        .iter()
        .filter(|c| c["indicator"] != "critical")
        .map(|c| c["source"]["topic"]["code"].as_str().unwrap().to_owned())
        .collect();
    rules.sort();
    rules
}

fn rules(cards: &[Value]) -> Vec<String> {
    let mut rules: Vec<String> = cards
        .iter()
        .map(|c| c["source"]["topic"]["code"].as_str().unwrap().to_owned())
        .collect();
    rules.sort();
    rules
}

/// HL7's non-adherence reason codes (CDS Hooks 3.0.0), which the cards offer.
const NON_ADHERENCE: &str = "http://terminology.hl7.org/CodeSystem/non-adherence-reason-codes";

/// The system of the override reasons offered before the standard ones.
const LEGACY: &str = "urn:gravida:override-reason";

/// Overrides `card` at `service` with the given non-adherence reason code; expects 200.
async fn dismiss(app: &TestApp, service: &str, card: &Value, code: &str) {
    let uuid = card["uuid"].as_str().unwrap();
    dismiss_uuid(app, service, uuid, NON_ADHERENCE, code).await;
}

async fn dismiss_uuid(app: &TestApp, service: &str, uuid: &str, system: &str, code: &str) {
    let now = OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let (status, body) = app
        .post_raw(
            &format!("/cds-services/{service}/feedback"),
            json!({"feedback": [{
                "card": uuid, "outcome": "overridden", "outcomeTimestamp": now,
                "overrideReason": {"reason": {"system": system, "code": code}}
            }]})
            .to_string()
            .into_bytes(),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

/// The value of a counter line of `/metrics` with all of `labels`, or 0.
pub(crate) async fn counter(app: &TestApp, name: &str, labels: &[&str]) -> f64 {
    let text = get_text(&app.client, &app.url("/metrics")).await;
    text.lines()
        .filter(|l| l.starts_with(name) && labels.iter().all(|label| l.contains(label)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// pub01 with its bleed moved `days` earlier (a day before today, say).
fn with_bleed_days_ago(scenario: &Scenario, days: i64) -> Scenario {
    let date = (OffsetDateTime::now_utc().date() - TimeDuration::days(days)).to_string();
    let mut resources = scenario.resources.clone();
    for r in &mut resources {
        if r["id"] == "pub01-cond-3" {
            r["onsetDateTime"] = json!(date);
            r["recordedDate"] = json!(date);
        }
    }
    Scenario {
        name: scenario.name.clone(),
        hook: scenario.hook.clone(),
        context: scenario.context.clone(),
        resources,
        expect: scenario.expect.clone(),
    }
}

#[tokio::test]
async fn the_bleeding_card_shown_at_patient_view_is_not_repeated_at_order_sign_in_the_same_encounter()
 {
    let app = TestApp::spawn().await;
    let scenario = pub01();
    let before = counter(
        &app,
        "gravida_cards_suppressed_total",
        &["reason=\"repeat\""],
    )
    .await;
    let at_view = call(&app, "patient-view", &scenario, Some("enc-1")).await;
    let shown = hideable(&at_view);
    assert!(!shown.is_empty(), "pub01 gives a warning card");

    let at_sign = call(&app, "order-sign", &scenario, Some("enc-1")).await;
    let repeated: Vec<String> = hideable(&at_sign)
        .into_iter()
        .filter(|r| shown.contains(r))
        .collect();
    assert!(repeated.is_empty(), "repeated at order-sign: {repeated:?}");
    let after = counter(
        &app,
        "gravida_cards_suppressed_total",
        &["reason=\"repeat\""],
    )
    .await;
    assert!(after >= before + shown.len() as f64, "{before} -> {after}");

    // Patient-view itself is not an order hook: opening the chart again shows the card again.
    let again = call(&app, "patient-view", &scenario, Some("enc-1")).await;
    assert_eq!(hideable(&again), shown);
}

#[tokio::test]
async fn a_different_encounter_beyond_the_window_shows_the_card_again_and_within_it_does_not() {
    // A window of 0 hours: only the encounter decides.
    let app = TestApp::spawn_with(&[("GRAVIDA_CARDS__REPEAT_WINDOW_HOURS", "0")]).await;
    let scenario = pub01();
    let shown = hideable(&call(&app, "patient-view", &scenario, Some("enc-1")).await);
    assert!(!shown.is_empty());
    let other_encounter = call(&app, "order-sign", &scenario, Some("enc-2")).await;
    assert_eq!(hideable(&other_encounter), shown, "beyond the window");
    // ...while the same encounter still hides it.
    let same_encounter = call(&app, "order-sign", &scenario, Some("enc-1")).await;
    assert!(hideable(&same_encounter).is_empty(), "{same_encounter:?}");

    // With the default window (12 h), another encounter a moment later is within it.
    let app = TestApp::spawn().await;
    let shown = hideable(&call(&app, "patient-view", &scenario, Some("enc-1")).await);
    assert!(!shown.is_empty());
    let within = call(&app, "order-sign", &scenario, Some("enc-2")).await;
    assert!(hideable(&within).is_empty(), "{within:?}");
}

#[tokio::test]
async fn the_critical_methotrexate_card_is_never_suppressed_not_even_when_dismissed() {
    let app = TestApp::spawn().await;
    let scenario = load(&fixture_path("scenarios/pub05.json"));
    let first = call(&app, "order-select", &scenario, Some("enc-1")).await;
    let critical: Vec<&Value> = first
        .iter()
        .filter(|c| c["indicator"] == "critical")
        .collect();
    assert!(!critical.is_empty(), "pub05 gives the methotrexate card");
    for card in &critical {
        dismiss(&app, "gravida-order-select", card, "action-completed").await;
    }
    let again = call(&app, "order-select", &scenario, Some("enc-1")).await;
    let critical_rules = |cards: &[Value]| {
        let mut rules: Vec<String> = cards
            .iter()
            .filter(|c| c["indicator"] == "critical")
            .map(|c| c["source"]["topic"]["code"].to_string())
            .collect();
        rules.sort();
        rules
    };
    assert_eq!(critical_rules(&again), critical_rules(&first));
    assert!(
        critical_rules(&again).contains(&"\"R6\"".to_owned()),
        "{:?}",
        rules_of(&again)
    );
}

#[tokio::test]
async fn a_card_dismissed_as_already_addressed_is_not_shown_again_for_the_same_evidence() {
    let app = TestApp::spawn().await;
    let scenario = pub01();
    let cards = call(&app, "patient-view", &scenario, None).await;
    let card = cards
        .iter()
        .find(|c| c["indicator"] == "warning")
        .expect("a warning card");
    let rule = card["source"]["topic"]["code"].as_str().unwrap().to_owned();
    // The card offers the dismissing reasons (`overrideReasons`), HL7's standard codes with the
    // code system's displays.
    let offered = card["overrideReasons"].as_array().unwrap();
    for (code, display) in [
        (
            "action-completed",
            "Recommended action was already completed",
        ),
        (
            "indication-order-exists",
            "Patient has indication/order for intended action",
        ),
    ] {
        assert!(
            offered.iter().any(|r| r["system"] == NON_ADHERENCE
                && r["code"] == code
                && r["display"] == display),
            "{offered:?}"
        );
    }
    assert!(
        offered.iter().all(|r| r["system"] == NON_ADHERENCE),
        "{offered:?}"
    );
    let before = counter(
        &app,
        "gravida_cards_suppressed_total",
        &["reason=\"already-addressed\""],
    )
    .await;
    dismiss(&app, "gravida-patient-view", card, "action-completed").await;

    // At the service it was dismissed at, in any encounter; at order-sign, within the repeat
    // window, it is hidden as a repeat (a dismissal is scoped to its service).
    for (hook, encounter) in [
        ("patient-view", None),
        ("patient-view", Some("enc-9")),
        ("order-sign", Some("enc-9")),
    ] {
        let cards = call(&app, hook, &scenario, encounter).await;
        assert!(
            !rules(&cards).contains(&rule),
            "{hook}: {rule} shown again: {:?}",
            rules_of(&cards)
        );
    }
    let after = counter(
        &app,
        "gravida_cards_suppressed_total",
        &["reason=\"already-addressed\""],
    )
    .await;
    assert!(after >= before + 2.0, "{before} -> {after}");
}

#[tokio::test]
async fn an_order_that_exists_and_the_earlier_already_addressed_code_dismiss_a_card_too() {
    for (system, code) in [
        (NON_ADHERENCE, "indication-order-exists"),
        (LEGACY, "already-addressed"),
    ] {
        let app = TestApp::spawn().await;
        let scenario = pub01();
        let cards = call(&app, "patient-view", &scenario, None).await;
        let card = cards.iter().find(|c| c["indicator"] == "warning").unwrap();
        let rule = card["source"]["topic"]["code"].as_str().unwrap().to_owned();
        let uuid = card["uuid"].as_str().unwrap();
        dismiss_uuid(&app, "gravida-patient-view", uuid, system, code).await;
        let again = call(&app, "patient-view", &scenario, None).await;
        assert!(
            !rules(&again).contains(&rule),
            "{code}: {rule} shown again: {:?}",
            rules_of(&again)
        );
    }
}

#[tokio::test]
async fn another_override_reason_hides_nothing() {
    let app = TestApp::spawn().await;
    let scenario = pub01();
    let cards = call(&app, "patient-view", &scenario, None).await;
    let card = cards.iter().find(|c| c["indicator"] == "warning").unwrap();
    dismiss(&app, "gravida-patient-view", card, "cds-not-applicable").await;
    let again = call(&app, "patient-view", &scenario, None).await;
    assert_eq!(rules(&again), rules(&cards));
}

#[tokio::test]
async fn a_new_bleed_after_a_dismissal_shows_the_card_again() {
    let app = TestApp::spawn().await;
    // The first bleed was yesterday; the card about it is dismissed.
    let earlier = with_bleed_days_ago(&pub01(), 1);
    let cards = call(&app, "patient-view", &earlier, None).await;
    let card = cards.iter().find(|c| c["indicator"] == "warning").unwrap();
    let rule = card["source"]["topic"]["code"].as_str().unwrap().to_owned();
    dismiss(&app, "gravida-patient-view", card, "action-completed").await;
    assert!(!rules(&call(&app, "patient-view", &earlier, None).await).contains(&rule));

    // Today the patient bleeds again: new evidence, so the card is shown.
    let mut with_new_bleed = with_bleed_days_ago(&pub01(), 1);
    let mut new_bleed = with_new_bleed
        .resources
        .iter()
        .find(|r| r["id"] == "pub01-cond-3")
        .unwrap()
        .clone();
    let today = OffsetDateTime::now_utc().date().to_string();
    new_bleed["id"] = json!("pub01-cond-new-bleed");
    new_bleed["code"]["text"] = json!("vaginal bleeding");
    new_bleed["onsetDateTime"] = json!(today);
    new_bleed["recordedDate"] = json!(today);
    with_new_bleed.resources.push(new_bleed);
    let after = call(&app, "patient-view", &with_new_bleed, None).await;
    assert!(
        rules(&after).contains(&rule),
        "{rule} not shown after a new bleed: {:?}",
        rules_of(&after)
    );
}

#[tokio::test]
async fn feedback_about_an_unknown_card_suppresses_nothing() {
    let app = TestApp::spawn().await;
    let scenario = pub01();
    let cards = call(&app, "patient-view", &scenario, None).await;
    assert!(!cards.is_empty());
    dismiss_uuid(
        &app,
        "gravida-patient-view",
        "7d1f0b8e-0000-4000-8000-000000000000",
        NON_ADHERENCE,
        "action-completed",
    )
    .await;
    let again = call(&app, "patient-view", &scenario, None).await;
    assert_eq!(rules(&again), rules(&cards));
    let at_sign = call(&app, "order-sign", &scenario, Some("enc-new")).await;
    // Within the window the order-sign card is a repeat, which proves the store is on; but the
    // unknown dismissal hid nothing at patient-view above.
    assert!(hideable(&at_sign).is_empty(), "{at_sign:?}");
}

#[tokio::test]
async fn a_deployment_without_a_store_shows_every_card_as_before() {
    let app = TestApp::spawn_with(&[("GRAVIDA_STORE__ENABLED", "false")]).await;
    let scenario = pub01();
    let at_view = call(&app, "patient-view", &scenario, Some("enc-1")).await;
    let shown = hideable(&at_view);
    assert!(!shown.is_empty());
    let at_sign = call(&app, "order-sign", &scenario, Some("enc-1")).await;
    assert_eq!(hideable(&at_sign), shown, "repeated without a store");
    let card = at_view
        .iter()
        .find(|c| c["indicator"] == "warning")
        .unwrap();
    dismiss(&app, "gravida-patient-view", card, "action-completed").await;
    let again = call(&app, "patient-view", &scenario, Some("enc-1")).await;
    assert_eq!(hideable(&again), shown, "dismissed without a store");
}

#[tokio::test]
async fn repeats_and_dismissals_are_decided_the_same_on_postgresql_and_between_its_replicas() {
    let Some(admin) = postgres_admin_url("suppression") else {
        return;
    };
    let url = fresh_postgres_url(&admin).await;
    // Two replicas of one database, with the same patient key (as the README requires): what
    // one shows or hears about, the other knows.
    let env = [
        ("GRAVIDA_STORE__URL", url.as_str()),
        (
            "GRAVIDA_STORE__PATIENT_KEY",
            "suppression-test-key-0123456789",
        ),
    ];
    let first = TestApp::spawn_with(&env).await;
    let second = TestApp::spawn_with(&env).await;
    let scenario = pub01();
    let at_view = call(&first, "patient-view", &scenario, Some("enc-pg")).await;
    let shown = hideable(&at_view);
    assert!(!shown.is_empty());

    // The card record is written behind the answer: the other replica sees it soon after.
    let mut repeated = shown.clone();
    for _ in 0..40 {
        repeated = hideable(&call(&second, "order-sign", &scenario, Some("enc-pg")).await);
        if repeated.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        repeated.is_empty(),
        "repeated at the other replica: {repeated:?}"
    );

    let card = at_view
        .iter()
        .find(|c| c["indicator"] == "warning")
        .unwrap();
    let rule = card["source"]["topic"]["code"].as_str().unwrap().to_owned();
    dismiss(&first, "gravida-patient-view", card, "action-completed").await;
    let again = call(&second, "patient-view", &scenario, None).await;
    assert!(!rules(&again).contains(&rule), "{:?}", rules_of(&again));

    // The long form too is served by the other replica.
    let link = crate::helpers::long_form_url(card);
    let path = &link[first.address.len()..];
    let (status, _) = second.get(path).await;
    assert_eq!(status, 200);
}

/// Overrides `card` as already addressed, sent by `sender` to `service`; the answer's status.
async fn dismiss_as(app: &TestApp, sender: Sender, service: &str, card: &Value) -> u16 {
    let now = OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let body = json!({"feedback": [{
        "card": card["uuid"], "outcome": "overridden", "outcomeTimestamp": now,
        "overrideReason": {"reason": {"system": "urn:gravida:override-reason",
                                      "code": "already-addressed"}}
    }]});
    let path = format!("/cds-services/{service}/feedback");
    post_as(app, Some(sender), &path, &body).await.0
}

#[tokio::test]
async fn another_issuers_another_tenants_or_another_services_dismissal_does_not_hide_a_card() {
    const A1: Sender = Sender {
        key: TestKey::AEs384,
        iss: testing::ISSUER_A,
        tenant: Some(testing::TENANT_A),
    };
    const A2: Sender = Sender {
        tenant: Some("org-a2"),
        ..A1
    };
    const B: Sender = Sender {
        key: TestKey::BEs384,
        iss: testing::ISSUER_B,
        tenant: None,
    };
    let mut stores = vec![String::new()];
    if let Some(admin) = postgres_admin_url("feedback scope over HTTP") {
        let url = fresh_postgres_url(&admin).await;
        stores.push(format!("[store]\nurl = \"{url}\"\n"));
    }
    let open = TestApp::spawn().await;
    for store in stores {
        // No repeat window: at order-sign, in a new encounter, only a dismissal could hide it.
        let app = TestApp::spawn_with_config(&two_issuers(&format!(
            "{store}\n[cards]\nrepeat_window_hours = 0\n"
        )))
        .await;
        let scenario = pub01();
        let cards = call_as(&app, &open, Some(A1), "patient-view", &scenario, None).await;
        let card = cards
            .iter()
            .find(|c| c["indicator"] == "warning")
            .expect("a warning card");
        let rule = card["source"]["topic"]["code"].as_str().unwrap().to_owned();
        let unknown_before = counter(&app, "gravida_feedback_unknown_card_total", &[]).await;

        // B, A's other tenant, and A itself at the order-select service: each answered 200,
        // none stored, and A still sees its card.
        for (who, sender, service) in [
            ("issuer B", B, "gravida-patient-view"),
            ("tenant org-a2", A2, "gravida-patient-view"),
            ("the order-select service", A1, "gravida-order-select"),
        ] {
            assert_eq!(dismiss_as(&app, sender, service, card).await, 200, "{who}");
            let again = call_as(&app, &open, Some(A1), "patient-view", &scenario, None).await;
            assert!(
                rules(&again).contains(&rule),
                "{who}'s dismissal hid A's card: {:?}",
                rules_of(&again)
            );
        }
        let unknown_after = counter(&app, "gravida_feedback_unknown_card_total", &[]).await;
        // At least: the recorder is the process's, shared with tests running beside this one.
        assert!(
            unknown_after - unknown_before >= 3.0,
            "{unknown_before} -> {unknown_after} ({store})"
        );

        // A's own dismissal at patient-view hides it there, for A only, and not at order-sign.
        assert_eq!(
            dismiss_as(&app, A1, "gravida-patient-view", card).await,
            200
        );
        let again = call_as(&app, &open, Some(A1), "patient-view", &scenario, None).await;
        assert!(!rules(&again).contains(&rule), "{:?}", rules_of(&again));
        let at_sign = call_as(
            &app,
            &open,
            Some(A1),
            "order-sign",
            &scenario,
            Some("enc-new"),
        )
        .await;
        assert!(rules(&at_sign).contains(&rule), "{:?}", rules_of(&at_sign));
        let for_b = call_as(&app, &open, Some(B), "patient-view", &scenario, None).await;
        assert!(rules(&for_b).contains(&rule), "{:?}", rules_of(&for_b));
    }
}

#[tokio::test]
async fn feedback_naming_a_card_id_of_7_000_000_characters_or_51_items_gets_400() {
    let app = TestApp::spawn().await;
    let huge = json!({"feedback": [{
        "card": "x".repeat(7_000_000), "outcome": "overridden",
        "outcomeTimestamp": "2026-01-01T10:00:00Z"
    }]});
    let (status, body) = app
        .post_raw(
            "/cds-services/gravida-patient-view/feedback",
            huge.to_string().into_bytes(),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body.to_string().contains("feedback[0].card") && body.to_string().contains("uuid"),
        "{body}"
    );
    let item = json!({ "card": "7d1f0b8e-0000-4000-8000-000000000000", "outcome": "overridden",
                       "outcomeTimestamp": "2026-01-01T10:00:00Z" });
    let (status, body) = app
        .post_raw(
            "/cds-services/gravida-patient-view/feedback",
            json!({ "feedback": vec![item; 51] })
                .to_string()
                .into_bytes(),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.to_string().contains("at most 50"), "{body}");
}
