//! The GraphQL API through HTTP: clear errors with `extensions.code`, appended events, subscriptions,
//! organismes, GraphiQL served by the binary itself. What each role may see is in `roles`.

use crate::common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::gql::{code, graphql, key, receive, send, subscribed, websocket};
use common::{CFA_LYON, CFA_PARIS, CMA_LYON, TestApp, TestDb, dossier_v3, this_year};
use serde_json::{Value, json};
use tba::auth::keys::Role;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_a_code_and_name_their_field() {
    let db = TestDb::new().await;
    db.with_organismes().await;
    let app = TestApp::spawn(&db).await;
    let admin = key(&db, Role::Administrateur, None).await;
    let dreets = key(&db, Role::Dreets, Some("REGION:84")).await;
    let admin = Some(admin.as_str());
    for (key, query, code_expected, mentions) in [
        (
            admin,
            r#"{ indicateurs(filtre: { regions: ["99"] }) { cle } }"#,
            "BAD_USER_INPUT",
            "filtre.regions",
        ),
        (
            admin,
            r#"{ indicateurs(filtre: { organismes: ["0693456K"] }) { cle } }"#,
            "BAD_USER_INPUT",
            "filtre.organismes",
        ),
        (admin, r#"{ indicateurs(filtre: { niveaux: [12] }) { cle } }"#, "BAD_USER_INPUT", "filtre.niveaux"),
        (admin, r#"{ indicateurs(date: "2026-02-30") { cle } }"#, "BAD_USER_INPUT", "2026-02-30"),
        (admin, r#"{ indicateurs(groupBy: COMMUNE) { cle } }"#, "BAD_USER_INPUT", "COMMUNE"),
        (
            Some(dreets.as_str()),
            r#"{ indicateurs(filtre: { regions: ["11"] }) { cle } }"#,
            "BAD_USER_INPUT",
            "hors de votre périmètre",
        ),
        (admin, "{ events(first: 1000) { edges { cursor } } }", "BAD_USER_INPUT", "first"),
        (admin, r#"{ dossier(uai: "0693456K") { id } }"#, "BAD_USER_INPUT", "idErpApprenant"),
        (
            admin,
            r#"{ dossier(uai: "069", anneeScolaire: "2025-2026", idErpApprenant: "X") { id } }"#,
            "BAD_USER_INPUT",
            "uai",
        ),
        (
            admin,
            r#"{ dossier(uai: "0693456K", anneeScolaire: "2025-2030", idErpApprenant: "X") { id } }"#,
            "BAD_USER_INPUT",
            "anneeScolaire",
        ),
        (admin, "{ logHead { position ", "BAD_USER_INPUT", ""),
        (admin, "{ nope }", "BAD_USER_INPUT", "nope"),
        (None, r#"{ indicateurs(groupBy: REGION) { cle } }"#, "UNAUTHENTICATED", "indicateurs nationaux"),
    ] {
        let (_, answer) = graphql(&app, key, query).await;
        assert_eq!(code(&answer), code_expected, "{query}: {answer}");
        let message = answer["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains(mentions), "{query}: {message}");
    }
    // A query too deep for the limits is refused before it runs.
    let deep = format!(
        "{{ __schema {{ types {{ fields {{ type {{ {} name {} }} }} }} }} }}",
        "ofType { ".repeat(20),
        "} ".repeat(20)
    );
    let (_, answer) = graphql(&app, admin, &deep).await;
    assert_eq!(code(&answer), "BAD_USER_INPUT", "{answer}");
    // GraphiQL's introspection (type references nine levels deep) is within the limits.
    let type_ref = format!("kind name {}", "ofType { kind name ".repeat(9) + &"} ".repeat(9));
    let introspection = format!(
        "{{ __schema {{ queryType {{ name }} types {{ kind name description \
           fields(includeDeprecated: true) {{ name args {{ name type {{ {type_ref} }} }} type {{ {type_ref} }} }} \
           inputFields {{ name type {{ {type_ref} }} }} enumValues {{ name }} }} }} }}"
    );
    let (_, answer) = graphql(&app, None, &introspection).await;
    assert_eq!(code(&answer), "OK", "{answer}");

    // A dossier that does not exist is null, not an error.
    let (_, answer) = graphql(&app, admin, r#"{ dossier(id: "dossier-nope") { id } }"#).await;
    assert_eq!(answer, json!({ "data": { "dossier": null } }));
    // A bad key refuses the whole request.
    let (status, answer) = graphql(&app, Some("tba_not_a_key"), "{ logHead { position } }").await;
    assert_eq!((status, code(&answer)), (401, "UNAUTHENTICATED"), "{answer}");
}

#[tokio::test]
async fn graphiql_is_served_with_its_assets() {
    let db = TestDb::new().await;
    let app = TestApp::spawn(&db).await;
    let page = reqwest::get(app.url("/graphql")).await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    for asset in
        ["graphiql.min.js", "graphiql.min.css", "react.production.min.js", "react-dom.production.min.js"]
    {
        assert!(html.contains(&format!("/graphql/assets/{asset}")), "{asset}");
        let response = reqwest::get(app.url(&format!("/graphql/assets/{asset}"))).await.unwrap();
        assert_eq!(response.status(), 200, "{asset}");
        assert!(response.bytes().await.unwrap().len() > 10_000, "{asset}");
    }
    assert_eq!(reqwest::get(app.url("/graphql/assets/nothing.js")).await.unwrap().status(), 404);
}

const APPEND: &str = "mutation($events: [EventInput!]!, $expected: [ExpectedVersionInput!]) {
    appendEvents(events: $events, expectedVersions: $expected) {
        correlationId results { dossierId version positions replayed }
    }
}";

async fn append(app: &TestApp, key: &str, events: Value, expected: Value) -> Value {
    let body = json!({ "query": APPEND, "variables": { "events": events, "expected": expected } });
    let response = reqwest::Client::new().post(app.url("/graphql")).bearer_auth(key).json(&body).send();
    response.await.unwrap().json().await.unwrap()
}

fn natural_key(id_erp: &str) -> Value {
    json!({ "uaiFormateur": CFA_LYON.0, "anneeScolaire": "2025-2026", "idErpApprenant": id_erp })
}

fn inscription(id_erp: &str, id: uuid::Uuid) -> Value {
    json!({
        "dossier": natural_key(id_erp),
        "type": "InscriptionEnregistree",
        "id": id,
        "data": common::inscription_data(id_erp)
    })
}

#[tokio::test]
async fn append_events_records_a_batch_whole_or_names_what_is_wrong() {
    let (db, app, lyon) = common::lyon_app().await;
    let (inscription_id, contrat_id) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
    let events = json!([
        inscription("G-1", inscription_id),
        { "dossier": natural_key("G-1"), "type": "ContratSigne", "id": contrat_id,
          "data": { "date_debut": "2025-09-15", "date_fin": "2027-06-30", "siret_employeur": "55210055400013" } },
    ]);
    let answer = append(&app, &lyon, events.clone(), Value::Null).await;
    let result = &answer["data"]["appendEvents"]["results"][0];
    assert_eq!(
        (result["version"].as_i64(), result["replayed"].as_bool()),
        (Some(2), Some(false)),
        "{answer}"
    );
    let dossier_id = result["dossierId"].as_str().unwrap().to_owned();
    let channel: String =
        sqlx::query_scalar("SELECT metadata::jsonb ->> 'channel' FROM events WHERE stream_id = $1 LIMIT 1")
            .bind(&dossier_id)
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(channel, "graphql");

    // An exact retry writes nothing.
    let head = db.head().await;
    let answer = append(&app, &lyon, events, Value::Null).await;
    assert_eq!(answer["data"]["appendEvents"]["results"][0]["replayed"], true, "{answer}");
    assert_eq!(db.head().await, head);

    // A refused field is named, in GraphQL's names, and nothing of the batch is written.
    let bad = json!([
        { "dossierId": dossier_id, "type": "RuptureEnregistree",
          "data": { "date_debut_contrat": "2025-09-15", "date_rupture": "2031-01-01" } },
        { "dossierId": "dossier-x", "type": "DiplomeObtenu", "data": {} },
    ]);
    let answer = append(&app, &lyon, bad, Value::Null).await;
    assert_eq!(code(&answer), "BAD_USER_INPUT", "{answer}");
    let fields: Vec<&str> = answer["errors"][0]["extensions"]["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert!(fields.contains(&"events[1].dossierId"), "{answer}");
    assert!(fields.iter().any(|f| f.starts_with("events[0].data")), "{answer}");
    assert_eq!(db.head().await, head);

    // A stale expected version is a conflict naming the dossier.
    let rupture = json!([{ "dossierId": dossier_id, "type": "RuptureEnregistree",
        "data": { "date_debut_contrat": "2025-09-15", "date_rupture": "2026-01-10" } }]);
    let answer =
        append(&app, &lyon, rupture.clone(), json!([{ "dossierId": dossier_id, "version": 1 }])).await;
    assert_eq!(code(&answer), "CONFLICT", "{answer}");
    assert_eq!(answer["errors"][0]["extensions"]["conflicts"][0]["actual"], 2, "{answer}");
    let answer = append(&app, &lyon, rupture, json!([{ "dossierId": dossier_id, "version": 2 }])).await;
    assert_eq!(answer["data"]["appendEvents"]["results"][0]["version"], 3, "{answer}");

    let analyst = key(&db, Role::Analyst, None).await;
    let answer = append(&app, &analyst, json!([]), Value::Null).await;
    assert_eq!(code(&answer), "FORBIDDEN", "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_catch_up_then_follow_the_log_live_on_both_protocols() {
    let (db, app, lyon) = common::lyon_app().await;
    let admin = key(&db, Role::Administrateur, None).await;
    assert_eq!(app.post("/api/v3/dossiers-apprenants", &lyon, &json!([dossier_v3("W-1")])).await.0, 200);
    let before = db.head().await;

    let mut socket =
        subscribed(&app, &admin, "subscription { eventsAppended(after: 0) { position type } }").await;
    let mut positions = Vec::new();
    while positions.len() < before as usize {
        let message = receive(&mut socket).await;
        assert_eq!(message["type"], "next", "{message}");
        positions.push(message["payload"]["data"]["eventsAppended"]["position"].as_i64().unwrap());
    }
    // Live: what is appended now arrives next, with no gap.
    assert_eq!(app.post("/api/v3/dossiers-apprenants", &lyon, &json!([dossier_v3("W-2")])).await.0, 200);
    let after = db.head().await;
    while positions.len() < after as usize {
        positions.push(
            receive(&mut socket).await["payload"]["data"]["eventsAppended"]["position"].as_i64().unwrap(),
        );
    }
    assert_eq!(positions, (1..=after).collect::<Vec<_>>());

    // Without a key, the log is not for you.
    let mut anonymous = websocket(&app, "graphql-transport-ws").await;
    send(&mut anonymous, json!({ "type": "connection_init", "payload": {} })).await;
    assert_eq!(receive(&mut anonymous).await["type"], "connection_ack");
    send(
        &mut anonymous,
        json!({ "id": "1", "type": "subscribe",
        "payload": { "query": "subscription { eventsAppended { position } }" } }),
    )
    .await;
    let refused = receive(&mut anonymous).await;
    assert_eq!(refused["payload"]["errors"][0]["extensions"]["code"], "UNAUTHENTICATED", "{refused}");
    // A subscription that does not validate is refused with a code too.
    send(
        &mut anonymous,
        json!({ "id": "2", "type": "subscribe",
        "payload": { "query": "subscription { nope }" } }),
    )
    .await;
    let mut invalid = receive(&mut anonymous).await;
    while invalid["id"] != "2" {
        invalid = receive(&mut anonymous).await;
    }
    assert_eq!(invalid["payload"]["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{invalid}");

    // The legacy protocol, and the indicators pushed again when the read model moves.
    let projections = tba::read_models::Projections::start(&app.store);
    assert!(db.projection_caught_up(Duration::from_secs(30)).await);
    let mut legacy = websocket(&app, "graphql-ws").await;
    send(
        &mut legacy,
        json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {admin}") } }),
    )
    .await;
    assert_eq!(receive(&mut legacy).await["type"], "connection_ack");
    send(
        &mut legacy,
        json!({ "id": "i", "type": "start", "payload": {
        "query": "subscription { indicateursChanged(date: \"2026-03-01\") { cle apprenants } }" } }),
    )
    .await;
    let first = receive(&mut legacy).await;
    assert_eq!(first["type"], "data", "{first}");
    assert_eq!(first["payload"]["data"]["indicateursChanged"][0]["apprenants"], 2, "{first}");
    assert_eq!(app.post("/api/v3/dossiers-apprenants", &lyon, &json!([dossier_v3("W-3")])).await.0, 200);
    let next = receive(&mut legacy).await;
    assert_eq!(next["payload"]["data"]["indicateursChanged"][0]["apprenants"], 3, "{next}");
    projections.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn organismes_are_searched_and_show_their_indicators_within_the_perimeter() {
    let (db, app, lyon) = common::lyon_app().await;
    let items = json!([this_year(dossier_v3("O-1")), this_year(dossier_v3("O-2"))]);
    assert_eq!(app.post("/api/v3/dossiers-apprenants", &lyon, &items).await.0, 200);
    let projections = tba::read_models::Projections::start(&app.store);
    assert!(db.projection_caught_up(Duration::from_secs(30)).await);
    let dreets = key(&db, Role::Dreets, Some("REGION:84")).await;
    let admin = key(&db, Role::Administrateur, None).await;

    let page = "{ organismes(recherche: \"cfa\", first: 5) {
        edges { cursor node { uai nom region indicateurs { apprentis } transmission { transmissions recus acceptes derniere } } }
        pageInfo { hasNextPage endCursor } } }";
    let (_, answer) = graphql(&app, Some(&dreets), page).await;
    let nodes: Vec<&Value> =
        answer["data"]["organismes"]["edges"].as_array().unwrap().iter().map(|e| &e["node"]).collect();
    let names: Vec<&str> = nodes.iter().map(|n| n["nom"].as_str().unwrap()).collect();
    assert_eq!(names, ["CFA de Paris", "CFA des Métiers"], "{answer}");
    assert_eq!(nodes[0]["indicateurs"], Value::Null, "Paris is outside the DREETS 84: {answer}");
    assert_eq!(nodes[1]["indicateurs"]["apprentis"], 2, "{answer}");
    assert_eq!(nodes[1]["transmission"]["transmissions"], 1, "{answer}");
    assert_eq!(nodes[1]["transmission"]["acceptes"], 2, "{answer}");
    assert!(nodes[1]["transmission"]["derniere"].is_string(), "{answer}");
    assert_eq!(nodes[0]["transmission"]["transmissions"], 0, "{answer}");

    // By UAI prefix, a page at a time.
    let (_, answer) =
        graphql(&app, Some(&admin), "{ organismes(recherche: \"0693\", first: 1) { edges { node { uai } } pageInfo { hasNextPage endCursor } } }").await;
    assert_eq!(answer["data"]["organismes"]["pageInfo"]["hasNextPage"], true, "{answer}");
    let cursor = answer["data"]["organismes"]["pageInfo"]["endCursor"].as_str().unwrap().to_owned();
    let next = format!(
        "{{ organismes(recherche: \"0693\", first: 5, after: \"{cursor}\") {{ edges {{ node {{ uai }} }} pageInfo {{ hasNextPage }} }} }}"
    );
    let (_, rest) = graphql(&app, Some(&admin), &next).await;
    let uais: BTreeSet<&str> = [&answer, &rest]
        .iter()
        .flat_map(|a| {
            a["data"]["organismes"]["edges"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["node"]["uai"].as_str().unwrap())
        })
        .collect();
    assert_eq!(uais, [CFA_LYON.0, CMA_LYON.0].into_iter().collect(), "{rest}");
    assert_eq!(rest["data"]["organismes"]["pageInfo"]["hasNextPage"], false);

    let one = format!(
        "{{ organisme(uai: \"{}\", siret: \"{}\") {{ nom nature departement }} }}",
        CFA_PARIS.0, CFA_PARIS.1
    );
    let (_, answer) = graphql(&app, Some(&lyon), &one).await;
    assert_eq!(
        answer["data"]["organisme"],
        json!({ "nom": "CFA de Paris", "nature": "responsable_formateur", "departement": "75" })
    );
    let (_, answer) = graphql(&app, Some(&lyon), "{ organisme(uai: \"12\", siret: \"1\") { nom } }").await;
    assert_eq!(answer["errors"][0]["extensions"]["field"], "uai", "{answer}");
    let (_, answer) = graphql(&app, None, "{ organismes { edges { cursor } } }").await;
    assert_eq!(code(&answer), "UNAUTHENTICATED");
    projections.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_go_away_mid_request_leave_the_service_sound() {
    let db = TestDb::new().await;
    db.with_organismes().await;
    let lyon = db.organisme_key(CFA_LYON).await;
    let limits = tba::http::HttpLimits { rate_limit: 100_000, ..tba::http::HttpLimits::default() };
    let app = TestApp::spawn_with(&db, limits).await;
    assert_eq!(
        app.post("/api/v3/dossiers-apprenants", &lyon, &json!([this_year(dossier_v3("C-1"))])).await.0,
        200
    );
    let analyst = key(&db, Role::Analyst, None).await;
    // Requests dropped by their clients at every stage, from before the first byte to the answer.
    for wave in 0..100u64 {
        let mut dropped = tokio::task::JoinSet::new();
        for i in 0..20u64 {
            let (url, key) = (app.url("/graphql"), analyst.clone());
            let after = Duration::from_micros(200 + 7 * (wave * 20 + i));
            dropped.spawn(async move {
                let query = format!(
                    "{{ indicateurs(date: \"2026-0{}-1{}\", groupBy: REGION) {{ cle }} }}",
                    1 + i % 9,
                    wave % 10
                );
                let client = reqwest::Client::builder().timeout(after).build().unwrap();
                let _ = client.post(url).bearer_auth(key).json(&json!({ "query": query })).send().await;
            });
        }
        while dropped.join_next().await.is_some() {}
    }
    // Then every connection of the pool still answers, outside any stale transaction: asked many at
    // a time, so that the pool hands out all of them.
    for _ in 0..5 {
        let mut asked = tokio::task::JoinSet::new();
        for i in 0..16 {
            let (app, key) = (app.url("/graphql"), analyst.clone());
            asked.spawn(async move {
                let query = format!("{{ indicateurs(date: \"2026-03-{:02}\") {{ cle }} }}", 1 + i % 28);
                let response =
                    reqwest::Client::new().post(app).bearer_auth(key).json(&json!({ "query": query }));
                let answer: Value = response.send().await.unwrap().json().await.unwrap();
                assert_eq!(code(&answer), "OK", "{answer}");
            });
        }
        while let Some(outcome) = asked.join_next().await {
            outcome.unwrap();
        }
    }
}

#[tokio::test]
async fn auditors_read_a_dossier_by_its_natural_key_its_stream_and_who_read_what() {
    let (db, app, lyon) = common::lyon_app().await;
    assert_eq!(app.post("/api/v3/dossiers-apprenants", &lyon, &json!([dossier_v3("A-1")])).await.0, 200);
    let projections = tba::read_models::Projections::start(&app.store);
    assert!(db.projection_caught_up(Duration::from_secs(30)).await);
    let auditor = key(&db, Role::Auditor, None).await;
    let by_key = format!(
        "{{ dossier(uai: \"{}\", anneeScolaire: \"2025/2026\", idErpApprenant: \" A-1 \") {{ id evenements {{ type version }} }} }}",
        CFA_LYON.0
    );
    let (_, answer) = graphql(&app, Some(&auditor), &by_key).await;
    let id = answer["data"]["dossier"]["id"].as_str().unwrap().to_owned();
    let evenements = answer["data"]["dossier"]["evenements"].as_array().unwrap();
    assert_eq!(evenements[0], json!({ "type": "InscriptionEnregistree", "version": 1 }), "{answer}");

    let stream = format!("{{ stream(id: \"{id}\") {{ position version hash }} }}");
    let (_, answer) = graphql(&app, Some(&auditor), &stream).await;
    assert_eq!(answer["data"]["stream"].as_array().unwrap().len(), evenements.len(), "{answer}");
    let (_, answer) = graphql(&app, Some(&lyon), &stream).await;
    assert_eq!(code(&answer), "FORBIDDEN", "an organisme does not read the log: {answer}");

    // The access log, for one key: its reads only.
    let key_id: String =
        sqlx::query_scalar("SELECT key_id::text FROM access_log LIMIT 1").fetch_one(&db.pool).await.unwrap();
    let (_, answer) = graphql(
        &app,
        Some(&auditor),
        &format!("{{ journalDesAcces(cle: \"{key_id}\") {{ edges {{ node {{ action sujet cle }} }} }} }}"),
    )
    .await;
    let actions: Vec<&str> = answer["data"]["journalDesAcces"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["dossier", "stream"], "{answer}");
    let (_, answer) =
        graphql(&app, Some(&auditor), "{ journalDesAcces(cle: \"pas-une-cle\") { edges { cursor } } }").await;
    assert_eq!(answer["errors"][0]["extensions"]["field"], "cle", "{answer}");
    projections.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn annee_de_formation_0_is_a_year_and_not_sent_stays_apart() {
    let db = TestDb::new().await;
    db.with_organismes().await;
    let app = TestApp::spawn(&db).await;
    let lyon = db.organisme_key(CFA_LYON).await;
    let mut zero = this_year(dossier_v3("AF-ZERO"));
    zero["annee_formation"] = json!(0);
    let mut first = this_year(dossier_v3("AF-UN"));
    first["annee_formation"] = json!(1);
    let unsent = this_year(dossier_v3("AF-RIEN"));
    let (status, _) = app.post("/api/v3/dossiers-apprenants", &lyon, &json!([zero, first, unsent])).await;
    assert_eq!(status, 200);
    let projections = tba::read_models::Projections::start(&app.store);
    assert!(db.projection_caught_up(Duration::from_secs(30)).await);
    let admin = key(&db, Role::Administrateur, None).await;
    let admin = Some(admin.as_str());
    for (id_erp, expected) in [("AF-ZERO", json!(0)), ("AF-UN", json!(1)), ("AF-RIEN", Value::Null)] {
        let id = db.dossier_id(id_erp).await;
        let (_, answer) = graphql(
            &app,
            admin,
            &format!(r#"{{ dossier(id: "{id}") {{ formation {{ anneeFormation }} }} }}"#),
        )
        .await;
        assert_eq!(answer["data"]["dossier"]["formation"]["anneeFormation"], expected, "{id_erp}: {answer}");
    }
    // The same filter through the cubes (no other filter) and through the dossiers (with a niveau,
    // which the cube holding the année de formation does not hold), and in the nominative list.
    for (annees, expected) in [("[0]", 1), ("[1]", 1), ("[-1]", 1), ("[0, -1]", 2), ("[2]", 0)] {
        for other in ["", ", niveaux: [3]"] {
            let query = format!(
                r#"{{ indicateurs(filtre: {{ anneesFormation: {annees}{other} }}) {{ apprenants }} }}"#
            );
            let (_, answer) = graphql(&app, admin, &query).await;
            let counted: i64 = answer["data"]["indicateurs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|g| g["apprenants"].as_i64().unwrap())
                .sum();
            assert_eq!(counted, expected, "{query}: {answer}");
        }
        let query = format!(
            r#"{{ dossiers(filtre: {{ anneesFormation: {annees} }}) {{ edges {{ node {{ id }} }} }} }}"#
        );
        let (_, answer) = graphql(&app, admin, &query).await;
        assert_eq!(
            answer["data"]["dossiers"]["edges"].as_array().map(Vec::len),
            Some(expected as usize),
            "{query}: {answer}"
        );
    }
    db.assert_rebuild_gives_the_live_checksum();
    projections.stop().await;
}
