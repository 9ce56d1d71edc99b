//! The thread between the CFA and the Mission Locale on an entry (domain.md §11): each side writes,
//! reads, and counts what it has not read; the text is erased with the person; a rebuild agrees.

use crate::common;

use std::time::Duration;

use common::gql::{code, graphql, key};
use common::{CFA_PARIS, TestDb};
use serde_json::{Value, json};
use tba::auth::keys::Role;

use super::{LYON, erase, push, rupture, setup};

async fn count(db: &TestDb, event_type: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = $1")
        .bind(event_type)
        .fetch_one(&db.pool)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cfa_and_the_mission_locale_write_read_and_count_what_they_have_not_read() {
    let (db, app, lyon, projections) = setup().await;
    push(&app, &lyon, json!([rupture("F-1", "Fil", 19, 20, LYON)])).await;
    assert!(db.projection_caught_up(Duration::from_secs(30)).await);
    let ml = key(&db, Role::MissionLocale, Some("MISSION_LOCALE:ML-LYON")).await;
    let entree: String =
        sqlx::query_scalar("SELECT entree FROM rm_ruptures LIMIT 1").fetch_one(&db.pool).await.unwrap();
    let send = |texte: &str| {
        format!("mutation {{ envoyerMessage(entree: {entree:?}, texte: {texte:?}) {{ position nonLus }} }}")
    };
    let read = format!("mutation {{ marquerLu(entree: {entree:?}) {{ nonLus }} }}");
    let thread = format!("{{ rupture(id: {entree:?}) {{ nonLus messages {{ cote organisation texte }} }} }}");
    let unread = "{ messagesNonLus }";
    let position = |answer: &Value| answer["data"]["envoyerMessage"]["position"].as_i64().unwrap_or_default();

    let (_, before) =
        graphql(&app, Some(&ml), &format!("{{ rupture(id: {entree:?}) {{ position }} }}")).await;
    let (_, sent) = graphql(&app, Some(&lyon), &send("  Il a déménagé à Villeurbanne. ")).await;
    assert_eq!(sent["data"]["envoyerMessage"]["nonLus"], 0, "{sent}");
    assert!(
        position(&sent) > before["data"]["rupture"]["position"].as_i64().unwrap(),
        "the entry moves: {sent}"
    );
    let (_, seen) = graphql(&app, Some(&ml), &thread).await;
    assert_eq!(
        seen["data"]["rupture"],
        json!({ "nonLus": 1, "messages": [{ "cote": "ORGANISME", "organisation": "0693456K:12345678901234",
                                           "texte": "Il a déménagé à Villeurbanne." }] }),
        "{seen}"
    );
    assert_eq!(graphql(&app, Some(&ml), unread).await.1["data"]["messagesNonLus"], 1);
    assert_eq!(graphql(&app, Some(&lyon), unread).await.1["data"]["messagesNonLus"], 0);
    let page = graphql(&app, Some(&ml), "{ ruptures { edges { node { nonLus } } } }").await.1;
    assert_eq!(
        page["data"]["ruptures"]["edges"],
        json!([{ "node": { "nonLus": 1 } }]),
        "a page's counts: {page}"
    );

    graphql(&app, Some(&ml), &send("Rendez-vous pris jeudi.")).await;
    assert_eq!(graphql(&app, Some(&lyon), unread).await.1["data"]["messagesNonLus"], 1);
    let (_, marked) = graphql(&app, Some(&ml), &read).await;
    assert_eq!(marked["data"]["marquerLu"]["nonLus"], 0, "{marked}");
    assert_eq!(graphql(&app, Some(&ml), unread).await.1["data"]["messagesNonLus"], 0);
    graphql(&app, Some(&ml), &read).await;
    assert_eq!(count(&db, "MessagesLus").await, 1, "nothing unread: nothing recorded");
    assert_eq!(graphql(&app, Some(&lyon), unread).await.1["data"]["messagesNonLus"], 1, "each side its own");

    // Only the two sides, and only on entries they follow.
    let paris = db.organisme_key(CFA_PARIS).await;
    let refused = graphql(&app, Some(&paris), &send("x")).await.1;
    assert_eq!(refused["errors"][0]["extensions"]["field"], "entree", "{refused}");
    let admin = key(&db, Role::Administrateur, None).await;
    assert_eq!(code(&graphql(&app, Some(&admin), &send("x")).await.1), "FORBIDDEN");
    let empty = graphql(&app, Some(&lyon), &send("   ")).await.1;
    assert_eq!(empty["errors"][0]["extensions"]["field"], "texte", "{empty}");
    let (_, admin_reads) = graphql(&app, Some(&admin), &thread).await;
    assert_eq!(admin_reads["data"]["rupture"]["nonLus"], Value::Null, "{admin_reads}");
    assert_eq!(admin_reads["data"]["rupture"]["messages"].as_array().map(Vec::len), Some(2));

    projections.stop().await;
    db.assert_rebuild_of("ruptures");

    // Erased, the person's messages no longer open; that they were written stays.
    let projections = tba::read_models::Projections::start(&app.store);
    erase(&db, &app, &admin, &entree).await;
    let (_, erased) = graphql(&app, Some(&admin), &thread).await;
    assert_eq!(
        erased["data"]["rupture"]["messages"],
        json!([
            { "cote": "ORGANISME", "organisation": "0693456K:12345678901234", "texte": null },
            { "cote": "MISSION_LOCALE", "organisation": "MISSION_LOCALE:ML-LYON", "texte": null }
        ]),
        "{erased}"
    );
    projections.stop().await;
}
