//! No input may stop a projection. The edge refuses what the read models cannot hold, naming the field;
//! an event already in the log that they cannot hold (written below today's validation, as an older
//! version of the service could have) is set aside in the projection's quarantine table, and the
//! projections go on. Operators see it (`tba projections status`, `/metrics`, `/readyz`), a rebuild
//! sets aside the same events and gives the live checksum, and `tba projections retry` says what stays.

use crate::common;

use std::time::Duration;

use common::{dossier_v3, inscription_data, stdout};
use events::{ExpectedVersion, NewEvent};
use serde_json::{Value, json};

const PUSH: &str = "/api/v3/dossiers-apprenants";

/// The errors of the first result of a push, as `path: message` lines.
fn refusals(answer: &Value) -> Vec<(String, String)> {
    answer["results"][0]["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| (e["path"].as_str().unwrap().to_owned(), e["message"].as_str().unwrap().to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn the_erp_push_refuses_what_the_read_models_cannot_hold_and_names_the_field() {
    let (db, app, key) = common::lyon_app().await;
    let head = db.head().await;
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            json!({ "date_de_naissance_apprenant": "0000-01-01" }),
            "date_de_naissance_apprenant",
            "hors de la plage",
        ),
        (
            json!({ "date_de_naissance_apprenant": "2020-01-01" }),
            "date_de_naissance_apprenant",
            "de 13 à 100 ans",
        ),
        (json!({ "id_erp_apprenant": "X".repeat(3000) }), "id_erp_apprenant", "100 au plus"),
        (json!({ "nom_apprenant": 12345 }), "nom_apprenant", "texte attendu"),
        (json!({ "prenom_apprenant": true }), "prenom_apprenant", "texte attendu"),
        (json!({ "nom_apprenant": "A".repeat(151) }), "nom_apprenant", "150 au plus"),
        (json!({ "adresse_apprenant": "r".repeat(501) }), "adresse_apprenant", "500 au plus"),
        (json!({ "contrat_date_fin": "2025-09-01" }), "contrat_date_fin", "ne peut précéder"),
        (json!({ "contrat_date_debut": "1989-09-15" }), "contrat_date_debut", "invraisemblable"),
        (json!({ "date_fin_formation": "2099-06-30" }), "date_fin_formation", "invraisemblable"),
        (json!({ "rqth_apprenant": "peut-être" }), "rqth_apprenant", "booléen"),
        (json!({ "prenom_apprenant": "Léa\u{0}" }), "prenom_apprenant", "U+0000"),
    ];
    for (change, field, says) in cases {
        let mut item = dossier_v3("H-1");
        for (name, value) in change.as_object().unwrap() {
            item[name] = value.clone();
        }
        let (status, answer) = app.post(PUSH, &key, &json!([item])).await;
        assert_eq!(status, 200, "{answer}");
        let refused = refusals(&answer);
        assert!(
            refused.iter().any(|(path, message)| path == field && message.contains(says)),
            "{field} refused saying {says:?}: {refused:?}"
        );
    }
    assert_eq!(db.head().await, head, "nothing refused was written");

    let mut item = dossier_v3("H-2");
    item["nir_apprenant"] = json!("123");
    let (_, answer) = app.post(PUSH, &key, &json!([item])).await;
    let result = &answer["results"][0];
    assert_eq!(result["status"], "accepted", "{answer}");
    assert_eq!(result["warnings"][0]["path"], "nir_apprenant", "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_no_read_model_can_hold_is_set_aside_and_the_projections_go_on() {
    let (db, app, key) = common::lyon_app().await;
    let projections = tba::read_models::Projections::start(&app.store);
    let (status, answer) = app.post(PUSH, &key, &json!([dossier_v3("P-1")])).await;
    assert_eq!(status, 200, "{answer}");
    let p1 = answer["results"][0]["dossier_id"].as_str().unwrap().to_owned();

    // Below the edge's validation, as an older version of the service could have written them: a
    // learner born in year 0, an id_erp_apprenant of 3,000 characters, a contract whose start is a
    // boolean in a dossier the projections already hold.
    let mut year_zero = inscription_data("OLD-1");
    year_zero["personnel"]["date_de_naissance"] = json!("0000-01-01");
    year_zero["personne"] = json!({ "identite": "p-old-1" });
    let mut huge = inscription_data(&"X".repeat(3000));
    huge["personne"] = json!({ "identite": "p-old-2" });
    let bad = [
        ("dossier-00000000-0000-4000-8000-000000000001", NewEvent::new("InscriptionEnregistree", year_zero)),
        ("dossier-00000000-0000-4000-8000-000000000002", NewEvent::new("InscriptionEnregistree", huge)),
        (p1.as_str(), NewEvent::new("ContratSigne", json!({ "date_debut": true }))),
    ];
    let mut positions = Vec::new();
    for (stream, event) in bad {
        let outcome = app.store.append(stream, ExpectedVersion::Any, vec![event]).await.unwrap();
        positions.push(outcome.positions[0]);
    }

    // The projections go on: a rupture of P-1 (whose history now holds the bad contract) and a new
    // dossier are projected.
    let mut rupture = dossier_v3("P-1");
    rupture["contrat_date_rupture"] = json!("2026-01-10");
    let (status, answer) = app.post(PUSH, &key, &json!([rupture, dossier_v3("P-2")])).await;
    assert_eq!((status, answer["accepted"].as_i64()), (200, Some(2)), "{answer}");
    assert!(db.projection_caught_up(Duration::from_secs(20)).await, "every projection reached the head");
    let rows: Vec<(String, Value)> =
        sqlx::query_as("SELECT id_erp_apprenant, parcours FROM rm_dossiers ORDER BY 1")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    assert_eq!(rows.iter().map(|r| r.0.as_str()).collect::<Vec<_>>(), ["P-1", "P-2"]);
    assert_eq!(rows[0].1[2], json!({ "date": "2026-01-10", "statut": "RUPTURANT" }));
    let entries: i64 =
        sqlx::query_scalar("SELECT count(*) FROM rm_ruptures").fetch_one(&db.pool).await.unwrap();
    assert_eq!(entries, 1, "the rupture reached the Missions Locales' queue");

    for table in ["rm_dossiers_quarantaine", "rm_ruptures_quarantaine", "rm_voeux_quarantaine"] {
        let set_aside: Vec<(i64, String)> =
            sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT position, erreur FROM {table} ORDER BY 1")))
                .fetch_all(&db.pool)
                .await
                .unwrap();
        assert_eq!(set_aside.iter().map(|q| q.0).collect::<Vec<_>>(), positions, "{table}");
        assert!(set_aside[0].1.contains("personnel.date_de_naissance"), "{set_aside:?}");
        assert!(set_aside[1].1.contains("id_erp_apprenant"), "{set_aside:?}");
        assert!(set_aside[2].1.contains("ContratSigne"), "{set_aside:?}");
    }

    let status = stdout(&db.tba(&["projections", "status"]));
    let line = status.lines().find(|l| l.starts_with("dossiers")).unwrap();
    assert_eq!(line.split_whitespace().last(), Some("3"), "{status}");
    assert!(status.contains(&format!("position {:>10}", positions[0])), "{status}");
    let metrics = reqwest::get(app.url("/metrics")).await.unwrap().text().await.unwrap();
    assert!(metrics.contains("tba_projection_quarantined_events{projection=\"dossiers\"} 3"), "{metrics}");
    let ready: Value = reqwest::get(app.url("/readyz")).await.unwrap().json().await.unwrap();
    assert_eq!(ready["projections"][0]["quarantined"], 3, "{ready}");

    projections.stop().await;
    for projection in ["dossiers", "ruptures", "voeux", "france_travail"] {
        db.assert_rebuild_of(projection);
    }
    let rebuilt: i64 =
        sqlx::query_scalar("SELECT count(*) FROM rm_dossiers_quarantaine").fetch_one(&db.pool).await.unwrap();
    assert_eq!(rebuilt, 3, "the rebuild set aside the same events");

    let retry = db.tba(&["projections", "retry", "dossiers"]);
    assert_eq!(retry.status.code(), Some(1), "{retry:?}");
    assert!(stdout(&retry).contains("still set aside"), "{retry:?}");
}

/// A projection whose database refuses some events (division by zero where the data says so): what a
/// future rule set or an unforeseen value does to a real one.
struct Refusing;

impl projections::runtime::Projector for Refusing {
    fn name(&self) -> &'static str {
        "refusing"
    }

    fn version(&self) -> i32 {
        1
    }

    fn tables(&self) -> &'static [&'static str] {
        &["rm_refusing", "rm_refusing_quarantaine"]
    }

    fn reads(&self, _category: &str) -> bool {
        true
    }

    fn quarantaine(&self) -> &'static str {
        "rm_refusing_quarantaine"
    }

    async fn apply(
        &self,
        tx: &mut sqlx::PgConnection,
        events: &[events::RecordedEvent],
    ) -> Result<(), projections::runtime::ProjectionError> {
        for event in events {
            let divisor = if event.data["refuse"] == json!(true) { 0 } else { 1 };
            sqlx::query("INSERT INTO rm_refusing (position) VALUES ($1 / $2)")
                .bind(event.position)
                .bind(divisor)
                .execute(&mut *tx)
                .await?;
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_the_database_refuses_is_found_set_aside_and_the_rebuild_agrees() {
    let db = common::TestDb::new().await;
    sqlx::raw_sql(
        "CREATE TABLE rm_refusing (position bigint PRIMARY KEY);
         CREATE TABLE rm_refusing_quarantaine (LIKE rm_dossiers_quarantaine INCLUDING ALL);",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    let store = events::EventStore::start(db.pool.clone(), common::store_config()).await.unwrap();
    let mut positions = Vec::new();
    for refuse in [false, true, false, true, false] {
        let event = NewEvent::new("Essai", json!({ "refuse": refuse }));
        positions
            .push(store.append("essai-1", ExpectedVersion::Any, vec![event]).await.unwrap().positions[0]);
    }
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let runner = tokio::spawn(projections::runtime::run(store.clone(), Refusing, None, stopped));
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let checkpoint = projections::runtime::checkpoint_name("refusing", 1);
    loop {
        let at: Option<i64> = sqlx::query_scalar("SELECT position FROM checkpoints WHERE name = $1")
            .bind(&checkpoint)
            .fetch_optional(&db.pool)
            .await
            .unwrap();
        if at == Some(positions[4]) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the projection went on past the refused events");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = stop.send(true);
    runner.await.unwrap();
    let applied: Vec<i64> =
        sqlx::query_scalar("SELECT position FROM rm_refusing ORDER BY 1").fetch_all(&db.pool).await.unwrap();
    assert_eq!(applied, [positions[0], positions[2], positions[4]]);
    let set_aside: Vec<(i64, String)> =
        sqlx::query_as("SELECT position, erreur FROM rm_refusing_quarantaine ORDER BY 1")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    assert_eq!(set_aside.iter().map(|q| q.0).collect::<Vec<_>>(), [positions[1], positions[3]]);
    assert!(set_aside[0].1.contains("division by zero"), "{set_aside:?}");

    let live = projections::build::checksum(&db.pool, &Refusing, "public").await.unwrap();
    projections::build::create_schema(&db.pool, &Refusing, "rebuild_refusing").await.unwrap();
    let built = projections::build::project_until(&store, &Refusing, "rebuild_refusing", None, |_, _| {})
        .await
        .unwrap();
    projections::build::swap(&store, &Refusing, "rebuild_refusing", built).await.unwrap();
    let rebuilt = projections::build::checksum(&db.pool, &Refusing, "public").await.unwrap();
    assert_eq!(rebuilt, live, "a rebuild sets aside the same events");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_applies_what_the_rules_now_admit_and_says_nothing_is_left() {
    let (db, app, key) = common::lyon_app().await;
    let items = json!([common::this_year(dossier_v3("R-1"))]);
    let (status, answer) = app.post("/api/v3/dossiers-apprenants", &key, &items).await;
    assert_eq!(status, 200, "{answer}");
    let projections = tba::read_models::Projections::start(&app.store);
    assert!(db.projection_caught_up(Duration::from_secs(30)).await);
    projections.stop().await;
    // As an older rule set would have left it: the dossier's first event set aside, which today's
    // rules admit.
    let stream = db.dossier_id("R-1").await;
    let (position, kind): (i64, String) = sqlx::query_as(
        "SELECT position, event_type FROM events WHERE stream_id = $1 ORDER BY position LIMIT 1",
    )
    .bind(&stream)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    sqlx::query("INSERT INTO rm_dossiers_quarantaine VALUES ($1, $2, $3, 'refusé par une règle antérieure')")
        .bind(position)
        .bind(&stream)
        .bind(&kind)
        .execute(&db.pool)
        .await
        .unwrap();
    assert!(stdout(&db.tba(&["projections", "status"])).contains(&format!("position {position:>10}")));

    let retry = db.tba(&["projections", "retry", "dossiers"]);
    assert_eq!(retry.status.code(), Some(0), "{retry:?}");
    let said = stdout(&retry);
    assert!(said.contains("1 of 1 events set aside can now be applied: rebuilding"), "{said}");
    assert!(said.contains("0 events still set aside"), "{said}");
    let count = |sql: &'static str| {
        let pool = db.pool.clone();
        async move { sqlx::query_scalar::<_, i64>(sql).fetch_one(&pool).await.unwrap() }
    };
    assert_eq!(count("SELECT count(*) FROM rm_dossiers_quarantaine").await, 0);
    assert_eq!(count("SELECT count(*) FROM rm_dossiers WHERE id_erp_apprenant = 'R-1'").await, 1);
    let again = db.tba(&["projections", "retry", "dossiers"]);
    assert_eq!(again.status.code(), Some(0), "{again:?}");
    assert!(stdout(&again).contains("no event set aside"), "{again:?}");
    db.assert_rebuild_gives_the_live_checksum();
}
