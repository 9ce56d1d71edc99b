//! Limits on what one caller may consume: requests without a key per client address, and
//! subscriptions held open per key.

use crate::common;

use common::gql::{code, graphql, key, receive, send, subscribed};
use common::{TestApp, TestDb};
use events::{ExpectedVersion, NewEvent};
use serde_json::json;
use tba::auth::keys::Role;

#[tokio::test]
async fn requests_without_a_key_are_limited_per_client_address() {
    let db = TestDb::new().await;
    let limits = tba::http::HttpLimits { anonymous_rate_limit: 2, ..Default::default() };
    let app = TestApp::spawn_with(&db, limits).await;
    let analyst = key(&db, Role::Analyst, None).await;
    let mut refused = 0;
    for _ in 0..12 {
        let (status, answer) = graphql(&app, None, "{ logHead { position } }").await;
        if status == 429 {
            assert_eq!(code(&answer), "RATE_LIMITED", "{answer}");
            refused += 1;
        }
    }
    assert!(refused >= 6, "{refused} of 12 refused at 2 per second, bursts of 4");
    let (status, answer) = graphql(&app, Some(&analyst), "{ logHead { position } }").await;
    assert_eq!((status, code(&answer)), (200, "OK"), "a key has its own limit: {answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_holds_a_bounded_number_of_subscriptions() {
    let db = TestDb::new().await;
    let limits = tba::http::HttpLimits { subscriptions_per_key: 3, ..Default::default() };
    let app = TestApp::spawn_with(&db, limits).await;
    app.store.append("dossier-x", ExpectedVersion::Any, vec![NewEvent::new("T", json!({}))]).await.unwrap();
    let auditor = key(&db, Role::Auditor, None).await;
    let query = "subscription { eventsAppended(after: 0) { position } }";
    let mut socket = subscribed(&app, &auditor, query).await;
    for id in ["2", "3", "4"] {
        send(&mut socket, json!({ "id": id, "type": "subscribe", "payload": { "query": query } })).await;
    }
    // Three deliver the event; the fourth is refused.
    let (mut delivered, mut refused) = (Vec::new(), Vec::new());
    while delivered.len() + refused.len() < 4 {
        let message = receive(&mut socket).await;
        match message["type"].as_str().unwrap() {
            "next" if message["payload"].get("errors").is_some() => refused.push(message),
            "next" => delivered.push(message["id"].as_str().unwrap().to_owned()),
            "error" => refused.push(message),
            _ => {}
        }
    }
    assert_eq!(delivered.len(), 3, "{delivered:?} {refused:?}");
    let refusal = refused[0].to_string();
    assert!(refusal.contains("RATE_LIMITED") && refusal.contains("3 abonnements au plus"), "{refusal}");

    // One ends: its place is free again.
    send(&mut socket, json!({ "id": delivered[0], "type": "complete" })).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    send(&mut socket, json!({ "id": "5", "type": "subscribe", "payload": { "query": query } })).await;
    loop {
        let message = receive(&mut socket).await;
        if message["id"] == "5" {
            assert_eq!(message["type"], "next", "{message}");
            assert!(message["payload"].get("errors").is_none(), "{message}");
            break;
        }
    }
}
