//! Channel 1: `POST /api/v3/dossiers-apprenants` through HTTP, on a real database: per-item results,
//! only differences become events, idempotent re-sends, concurrency, whole-request refusals, the
//! transmission journal and the per-key rate limit.

use crate::common;

use common::{CFA_LYON, CFA_PARIS, TestApp, TestDb, dossier_v3};
use serde_json::{Value, json};

const PUSH: &str = "/api/v3/dossiers-apprenants";

async fn push(app: &TestApp, key: &str, body: &Value) -> (u16, Value) {
    app.post(PUSH, key, body).await
}

async fn stream_types(db: &TestDb, stream: &str) -> Vec<String> {
    sqlx::query_scalar("SELECT event_type FROM events WHERE stream_id = $1 ORDER BY version")
        .bind(stream)
        .fetch_all(&db.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_push_records_its_facts_and_resending_it_appends_nothing() {
    let (db, app, key) = common::lyon_app().await;
    let body = json!([dossier_v3("A-1"), dossier_v3("A-2")]);

    let (status, first) = push(&app, &key, &body).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!((first["received"].as_i64(), first["accepted"].as_i64()), (Some(2), Some(2)));
    let result = &first["results"][0];
    assert_eq!(result["status"], "accepted");
    assert_eq!(result["id_erp_apprenant"], "A-1");
    assert_eq!(result["events"], json!(["InscriptionEnregistree", "ContratSigne"]));
    let stream = result["dossier_id"].as_str().unwrap().to_owned();
    assert!(stream.starts_with("dossier-"), "{stream}");
    assert_eq!(stream_types(&db, &stream).await, ["InscriptionEnregistree", "ContratSigne"]);
    let after_first = db.head().await;

    let (status, again) = push(&app, &key, &body).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["accepted"], 2);
    assert_eq!(again["events"], 0);
    assert_eq!(again["results"][0]["events"], json!([]));
    assert_eq!(again["results"][0]["dossier_id"], stream.as_str(), "the same dossier is the same stream");
    assert_eq!(db.head().await, after_first, "an unchanged re-send appends nothing");

    let metadata: Value =
        sqlx::query_scalar("SELECT metadata::jsonb FROM events WHERE stream_id = $1 LIMIT 1")
            .bind(&stream)
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(metadata["channel"], "api-v3");
    assert_eq!(metadata["actor"]["organisation"], format!("{}:{}", CFA_LYON.0, CFA_LYON.1));
    assert_eq!(metadata["correlation_id"], first["transmission_id"]);
}

#[tokio::test]
async fn a_rupture_sent_later_becomes_exactly_one_rupture_event() {
    let (db, app, key) = common::lyon_app().await;
    push(&app, &key, &json!([dossier_v3("R-1")])).await;

    let mut later = dossier_v3("R-1");
    later["contrat_date_rupture"] = json!("2026-01-10");
    later["cause_rupture_contrat"] = json!("démission");
    // An empty value erases nothing: the contact details stay as they were.
    later["email_contact"] = json!("");
    let (_, answer) = push(&app, &key, &json!([later])).await;
    assert_eq!(answer["results"][0]["events"], json!(["RuptureEnregistree"]), "{answer}");
    let (_, again) = push(&app, &key, &json!([later])).await;
    assert_eq!(again["results"][0]["events"], json!([]));

    let stream = answer["results"][0]["dossier_id"].as_str().unwrap();
    assert_eq!(
        stream_types(&db, stream).await,
        ["InscriptionEnregistree", "ContratSigne", "RuptureEnregistree"]
    );
    let rupture: Value = sqlx::query_scalar(
        "SELECT data::jsonb FROM events WHERE stream_id = $1 AND event_type = 'RuptureEnregistree'",
    )
    .bind(stream)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(
        rupture,
        json!({"date_debut_contrat": "2025-09-15", "date_rupture": "2026-01-10", "cause": "démission"})
    );
    let occurred: chrono::NaiveDate = sqlx::query_scalar(
        "SELECT occurred_at FROM events WHERE stream_id = $1 AND event_type = 'RuptureEnregistree'",
    )
    .bind(stream)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(occurred.to_string(), "2026-01-10", "the business date of a rupture is its date");
}

#[tokio::test]
async fn one_bad_item_never_blocks_the_others() {
    let (db, app, key) = common::lyon_app().await;
    let mut bad = dossier_v3("B-2");
    bad["date_de_naissance_apprenant"] = json!("14/03/2007");
    bad["ine_apprenant"] = json!("123");
    bad["nir_apprenant"] = json!("2070375123456");
    let mut unknown = dossier_v3("B-3");
    unknown["etablissement_responsable_uai"] = json!("0010001W");
    let body = json!([dossier_v3("B-1"), bad, unknown, 42]);

    let (status, answer) = push(&app, &key, &body).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!((answer["accepted"].as_i64(), answer["rejected"].as_i64()), (Some(1), Some(3)));
    let results = answer["results"].as_array().unwrap();
    assert_eq!(results[0]["status"], "accepted");
    assert_eq!(results[1]["status"], "rejected");
    assert_eq!(results[1]["id_erp_apprenant"], "B-2");
    let paths: Vec<&str> =
        results[1]["errors"].as_array().unwrap().iter().map(|e| e["path"].as_str().unwrap()).collect();
    assert_eq!(paths, ["date_de_naissance_apprenant", "ine_apprenant"]);
    assert_eq!(results[2]["errors"][0]["path"], "etablissement_responsable_uai");
    assert!(
        results[2]["errors"][0]["message"].as_str().unwrap().contains("inconnu du référentiel"),
        "{answer}"
    );
    assert_eq!(results[3]["errors"][0]["message"], "chaque dossier doit être un objet JSON");

    let dossiers: i64 =
        sqlx::query_scalar("SELECT count(DISTINCT stream_id) FROM events WHERE category = 'dossier'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(dossiers, 1, "only the valid item was written");

    // The journal shows why, and never keeps the NIR.
    let (_, journal) = app.get("/api/v1/transmissions", &key).await;
    let today = chrono::Utc::now().date_naive().to_string();
    assert_eq!(journal["organisme"], format!("{}:{}", CFA_LYON.0, CFA_LYON.1));
    assert_eq!(journal["jours"][0]["date"], today.as_str(), "{journal}");
    assert_eq!(journal["jours"][0]["received"], 4);
    assert_eq!(journal["jours"][0]["accepted"], 1);
    assert_eq!(journal["jours"][0]["rejected"], 3);
    let rejets = journal["rejets"].as_array().unwrap();
    assert_eq!(rejets.len(), 3);
    let b2 = rejets.iter().find(|r| r["id_erp_apprenant"] == "B-2").unwrap();
    assert_eq!(b2["errors"][0]["path"], "date_de_naissance_apprenant");
    assert_eq!(b2["item"]["nom_apprenant"], "Martin");
    assert!(b2["item"].get("nir_apprenant").is_none(), "the NIR is never kept: {b2}");
    let stored: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM transmission_rejets WHERE item::text LIKE '%2070375123456%'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(stored, 0);
}

#[tokio::test]
async fn an_organisme_cannot_push_the_dossiers_of_another() {
    let (db, app, _) = common::lyon_app().await;
    let paris = db.organisme_key(CFA_PARIS).await;
    let (status, answer) = push(&app, &paris, &json!([dossier_v3("X-1")])).await;
    assert_eq!(status, 200);
    assert_eq!(answer["results"][0]["status"], "rejected");
    assert!(
        answer["results"][0]["errors"][0]["message"].as_str().unwrap().contains("ne peut transmettre que")
    );
    let mut own = dossier_v3("X-2");
    for (field, value) in [
        ("etablissement_formateur_uai", CFA_PARIS.0),
        ("etablissement_formateur_siret", CFA_PARIS.1),
        ("etablissement_responsable_uai", CFA_PARIS.0),
        ("etablissement_responsable_siret", CFA_PARIS.1),
    ] {
        own[field] = json!(value);
    }
    let (_, answer) = push(&app, &paris, &json!([own])).await;
    assert_eq!(answer["results"][0]["status"], "accepted", "{answer}");
}

#[tokio::test]
async fn the_same_dossier_pushed_concurrently_is_recorded_once() {
    let (db, app, key) = common::lyon_app().await;
    let mut with_rupture = dossier_v3("C-1");
    with_rupture["contrat_date_rupture"] = json!("2026-01-10");
    let body = json!([with_rupture, dossier_v3("C-2")]);
    let mut pushes = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (url, key, body) = (app.url(PUSH), key.clone(), body.clone());
        pushes.spawn(async move {
            let response =
                reqwest::Client::new().post(url).bearer_auth(key).json(&body).send().await.unwrap();
            (response.status().as_u16(), response.json::<Value>().await.unwrap())
        });
    }
    for (status, answer) in pushes.join_all().await {
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["accepted"], 2, "{answer}");
    }
    let stream = events::dossier::DossierKey::new(
        events::domain::Uai::parse(CFA_LYON.0).unwrap(),
        events::domain::AnneeScolaire::parse("2025-2026").unwrap(),
        "C-1",
    )
    .unwrap()
    .stream_id();
    assert_eq!(
        stream_types(&db, &stream).await,
        ["InscriptionEnregistree", "ContratSigne", "RuptureEnregistree"]
    );
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM events WHERE category = 'dossier'")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(total, 5);
}

#[tokio::test]
async fn whole_request_problems_are_clear_4xx_and_write_nothing() {
    let (db, app, key) = common::lyon_app().await;
    let before = db.head().await;
    let client = reqwest::Client::new();
    let send = |body: &'static str, auth: Option<&str>| {
        let mut request = client.post(app.url(PUSH)).header("content-type", "application/json").body(body);
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        request.send()
    };
    let bearer = format!("Bearer {key}");
    let cases: [(&str, Option<&str>, u16, &str, &str); 6] = [
        ("[]", None, 401, "UNAUTHENTICATED", "Authorization"),
        ("[]", Some("Bearer tba_0000"), 401, "UNAUTHENTICATED", "inconnue ou révoquée"),
        ("[]", Some("Basic abc"), 401, "UNAUTHENTICATED", "Bearer"),
        ("[{\"nom_apprenant\": ", Some(&bearer), 400, "BAD_USER_INPUT", "pas du JSON valide"),
        ("{\"nom_apprenant\": \"X\"}", Some(&bearer), 400, "BAD_USER_INPUT", "tableau JSON"),
        ("\"x\"", Some(&bearer), 400, "BAD_USER_INPUT", "tableau JSON"),
    ];
    for (body, auth, status, code, message) in cases {
        let response = send(body, auth).await.unwrap();
        assert_eq!(response.status().as_u16(), status, "{body} {auth:?}");
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer["code"], code, "{answer}");
        assert!(answer["message"].as_str().unwrap().contains(message), "{answer}");
    }

    let too_many = Value::Array((0..2001).map(|i| dossier_v3(&format!("T-{i}"))).collect());
    let (status, answer) = push(&app, &key, &too_many).await;
    assert_eq!(status, 413, "{answer}");
    assert!(answer["message"].as_str().unwrap().contains("2000 au plus"), "{answer}");

    let huge = format!("[\"{}\"]", "x".repeat(33 * 1024 * 1024));
    let response = client.post(app.url(PUSH)).bearer_auth(&key).body(huge).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 413);

    tba::auth::keys::revoke(&db.pool, &key[..12]).await.unwrap();
    assert!(app.refused_soon(&key).await, "revoked as by another process");
    let (status, answer) = push(&app, &key, &json!([dossier_v3("R-1")])).await;
    assert_eq!(status, 401, "{answer}");

    assert_eq!(db.head().await, before, "nothing was written");
    let journal: i64 =
        sqlx::query_scalar("SELECT count(*) FROM transmissions").fetch_one(&db.pool).await.unwrap();
    assert_eq!(journal, 0);
}

#[tokio::test]
async fn a_key_beyond_its_rate_is_told_when_to_come_back() {
    let db = TestDb::new().await;
    db.with_organismes().await;
    let key = db.organisme_key(CFA_LYON).await;
    let app = TestApp::spawn_with(&db, tba::http::HttpLimits { rate_limit: 1, ..Default::default() }).await;
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for _ in 0..4 {
        let response = reqwest::Client::new()
            .post(app.url(PUSH))
            .bearer_auth(&key)
            .json(&json!([]))
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
        if response.status() == 429 {
            retry_after = response.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
        }
    }
    assert_eq!(statuses, [200, 200, 429, 429], "a burst of two, then refused");
    assert!(retry_after.is_some_and(|s| s.parse::<u64>().unwrap() >= 1));
    // Another key is not affected.
    let other = db.organisme_key(CFA_LYON).await;
    let response =
        reqwest::Client::new().post(app.url(PUSH)).bearer_auth(&other).json(&json!([])).send().await.unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn an_unchanged_resend_is_decided_again_once_the_dossier_moved_in_the_log() {
    let (db, app, key) = common::lyon_app().await;
    let (_, first) = push(&app, &key, &json!([dossier_v3("M-1")])).await;
    let stream = first["results"][0]["dossier_id"].as_str().unwrap().to_owned();
    let contrat: uuid::Uuid = sqlx::query_scalar(
        "SELECT event_id FROM events WHERE stream_id = $1 AND event_type = 'ContratSigne'",
    )
    .bind(&stream)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    // Another channel voids the contract: the same snapshot sent again must record it again.
    let correction =
        events::dossier::DossierEvent::CorrectionEnregistree(events::dossier::event::Correction {
            corrige: contrat,
            raison: "saisie sur le mauvais dossier".into(),
        });
    let today = chrono::Utc::now().date_naive();
    app.store
        .append(
            &stream,
            events::ExpectedVersion::Exact(2),
            vec![correction.to_new_event(today, Default::default())],
        )
        .await
        .unwrap();
    let (_, again) = push(&app, &key, &json!([dossier_v3("M-1")])).await;
    assert_eq!(again["results"][0]["events"], json!(["ContratSigne"]), "{again}");
    let (_, third) = push(&app, &key, &json!([dossier_v3("M-1")])).await;
    assert_eq!(third["results"][0]["events"], json!([]), "{third}");
}

#[tokio::test]
async fn refused_items_are_kept_fifteen_days_at_most() {
    let (db, app, key) = common::lyon_app().await;
    let mut bad = dossier_v3("P-1");
    bad["annee_scolaire"] = json!("2025-2030");
    push(&app, &key, &json!([bad.clone(), bad])).await;
    sqlx::query(
        "UPDATE transmission_rejets SET received_at = now() - interval '16 days' WHERE item_index = 0",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    let (_, journal) = app.get("/api/v1/transmissions", &key).await;
    assert_eq!(journal["rejets"].as_array().unwrap().len(), 1, "an older item is never shown: {journal}");
    assert_eq!(tba::ingestion::journal::purge(&db.pool).await.unwrap(), 1);
    let kept: i64 =
        sqlx::query_scalar("SELECT count(*) FROM transmission_rejets").fetch_one(&db.pool).await.unwrap();
    assert_eq!(kept, 1);
    assert_eq!(journal["jours"][0]["rejected"], 2, "the counts stay");
}

#[tokio::test]
async fn the_journal_refuses_bad_parameters_and_other_roles_by_name() {
    let (db, app, key) = common::lyon_app().await;
    push(&app, &key, &json!([dossier_v3("J-1")])).await;
    for (query, field) in
        [("?du=2026-02-01&au=2026-01-01", "du"), ("?limit=5000", "limit"), ("?au=hier", "paramètres")]
    {
        let (status, answer) = app.get(&format!("/api/v1/transmissions{query}"), &key).await;
        assert_eq!(status, 400, "{query}: {answer}");
        assert!(answer["message"].as_str().unwrap().starts_with(field), "{query}: {answer}");
    }
    let other = format!("?organisme={}:{}", CFA_PARIS.0, CFA_PARIS.1);
    let (status, _) = app.get(&format!("/api/v1/transmissions{other}"), &key).await;
    assert_eq!(status, 403, "an organisme reads only its own journal");

    let spec = |role| tba::auth::keys::KeySpec { role, organisme: None, scope: None, label: None };
    let (_, admin) =
        tba::auth::keys::create(&db.pool, &spec(tba::auth::keys::Role::Administrateur)).await.unwrap();
    let (status, answer) = app.get("/api/v1/transmissions", &admin).await;
    assert_eq!(
        (status, answer["message"].as_str().unwrap()),
        (400, "organisme : paramètre UAI:SIRET requis")
    );
    let lyon = format!("/api/v1/transmissions?organisme={}:{}", CFA_LYON.0, CFA_LYON.1);
    let (status, answer) = app.get(&lyon, &admin).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["jours"][0]["accepted"], 1);

    let (_, analyst) =
        tba::auth::keys::create(&db.pool, &spec(tba::auth::keys::Role::Analyst)).await.unwrap();
    for path in ["/api/v3/dossiers-apprenants", "/api/v1/events", "/api/v1/imports"] {
        let (status, answer) = app.post(path, &analyst, &json!([])).await;
        assert_eq!((status, answer["code"].as_str()), (403, Some("FORBIDDEN")), "{path}: {answer}");
    }
}
