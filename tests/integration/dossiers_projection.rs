//! The `dossiers` projection: the read model follows the log (catch-up, then live), one process at a
//! time runs it, and another takes over when that process is killed.

use crate::common;

use std::time::Duration;

use common::{CFA_LYON, TestDb, dossier_v3};
use serde_json::{Value, json};

async fn caught_up(db: &TestDb, within: Duration) -> bool {
    db.projection_caught_up(within).await
}

async fn parcours(db: &TestDb, id_erp: &str) -> Value {
    sqlx::query_scalar("SELECT parcours FROM rm_dossiers WHERE id_erp_apprenant = $1")
        .bind(id_erp)
        .fetch_one(&db.pool)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_read_model_catches_up_then_follows_the_log() {
    let (db, app, key) = common::lyon_app().await;
    app.post("/api/v3/dossiers-apprenants", &key, &json!([dossier_v3("P-1")])).await;
    let projections = tba::read_models::Projections::start(&app.store);
    assert!(caught_up(&db, Duration::from_secs(10)).await, "the projection caught up");
    assert_eq!(
        parcours(&db, "P-1").await,
        json!([
            { "date": "2025-09-01", "statut": "INSCRIT" },
            { "date": "2025-09-15", "statut": "APPRENTI" },
            { "date": "2027-06-30", "statut": "FIN_DE_FORMATION" },
        ])
    );
    let (niveau, region): (Option<i16>, String) = sqlx::query_as(
        "SELECT d.niveau, o.region FROM rm_dossiers d
         JOIN rm_organismes o ON (o.uai, o.siret) = (d.uai_formateur, d.siret_formateur)",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!((niveau, region.as_str()), (Some(3), "84"));

    // Live: a rupture sent later shows in the read model without restarting anything.
    let mut later = dossier_v3("P-1");
    later["contrat_date_rupture"] = json!("2026-01-10");
    app.post("/api/v3/dossiers-apprenants", &key, &json!([later])).await;
    assert!(caught_up(&db, Duration::from_secs(5)).await);
    assert_eq!(parcours(&db, "P-1").await[2], json!({ "date": "2026-01-10", "statut": "RUPTURANT" }));

    let status = db.tba(&["projections", "status"]);
    let stdout = String::from_utf8_lossy(&status.stdout);
    let line = stdout.lines().find(|l| l.starts_with("dossiers")).unwrap();
    let fields: Vec<&str> = line.split_whitespace().collect();
    let version = projections::dossiers::VERSION.to_string();
    assert_eq!((fields[1], fields[4]), (version.as_str(), "0"), "its version, no lag: {stdout}");

    // The indicator changes a batch leaves pending are folded into the cubes by the service itself.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (pending, cube): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM rm_indicateurs_departement_pending),
                    (SELECT count(*) FROM rm_indicateurs_departement)",
        )
        .fetch_one(&db.pool)
        .await
        .unwrap();
        if pending == 0 && cube > 0 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the pending changes are folded in: {pending}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    projections.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_process_takes_the_projection_over_when_its_runner_is_killed() {
    let db = TestDb::new().await;
    db.with_organismes().await;
    let key = db.organisme_key(CFA_LYON).await;
    let spawn = || {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_tba"))
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .env("DATABASE_URL", db.url())
            .env("RUST_LOG", "warn")
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        (child, format!("http://127.0.0.1:{port}"))
    };
    let push = |base: String, id: &'static str| {
        let key = key.clone();
        async move {
            for _ in 0..100 {
                let sent = reqwest::Client::new()
                    .post(format!("{base}/api/v3/dossiers-apprenants"))
                    .bearer_auth(&key)
                    .json(&json!([dossier_v3(id)]))
                    .send()
                    .await;
                if sent.is_ok_and(|r| r.status().is_success()) {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            panic!("{base} did not accept the push");
        }
    };
    // The first process is the only one running: it takes the lease.
    let (mut first, first_url) = spawn();
    push(first_url, "K-1").await;
    assert!(caught_up(&db, Duration::from_secs(10)).await);
    let (_second, second_url) = spawn();
    push(second_url.clone(), "K-2").await;
    assert!(caught_up(&db, Duration::from_secs(10)).await, "the lease holder follows the log");
    let holders: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted \
         AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    let projections = tba::read_models::ReadModel::ALL.len() as i64;
    assert_eq!(holders, projections, "one runner at a time for each projection");

    first.start_kill().unwrap();
    first.wait().await.unwrap();
    push(second_url, "K-3").await;
    assert!(caught_up(&db, Duration::from_secs(15)).await, "the second process took over");
    assert_eq!(parcours(&db, "K-3").await[1]["statut"], "APPRENTI");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebuild_reproduces_the_live_checksum_and_a_replay_shows_the_past() {
    let db = TestDb::new().await;
    db.with_organismes().await;
    let app = common::TestApp::spawn(&db).await;
    let demo = tba::demo::generate(400, 3, chrono::Utc::now().date_naive());
    let items: Vec<Value> = demo.dossiers.iter().map(|(_, item)| item.clone()).collect();
    let batches = tba::demo::load::prepare(&db.pool, &demo.organismes_csv(), &items).await.unwrap();
    let progress = tba::progress::Progress::new("loading", "dossiers", 0);
    let (early, late) = batches.split_at(batches.len() / 2);
    tba::demo::load::push_all(&app.address, early, 2, &progress).await.unwrap();
    let middle = db.head().await;
    let early_dossiers: i64 =
        sqlx::query_scalar("SELECT count(DISTINCT stream_id) FROM events WHERE category = 'dossier'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    tba::demo::load::push_all(&app.address, late, 2, &progress).await.unwrap();
    let projections = tba::read_models::Projections::start(&app.store);
    assert!(caught_up(&db, Duration::from_secs(30)).await);

    db.assert_rebuild_gives_the_live_checksum();

    // The live runner goes on after the swap, on the swapped-in tables.
    let key = db.organisme_key(CFA_LYON).await;
    app.post("/api/v3/dossiers-apprenants", &key, &json!([dossier_v3("S-1")])).await;
    assert!(caught_up(&db, Duration::from_secs(10)).await);
    assert_eq!(parcours(&db, "S-1").await[1]["statut"], "APPRENTI");

    let replay = db.tba(&["replay", "--until", &middle.to_string()]);
    assert!(replay.status.success(), "{replay:?}");
    let count: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM replay_dossiers_{middle}.rm_dossiers"
    )))
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(count, early_dossiers, "the replay holds the dossiers known at that position");
    for args in [
        &["replay", "--until", "99999999"][..],
        &["replay", "--until", "hier"],
        &["replay", "--until", "1", "--projection", "nothing"],
        &["projections", "rebuild", "nothing"],
    ] {
        let refused = db.tba(args);
        assert!(!refused.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert!(
            stderr.contains("beyond the head")
                || stderr.contains("--until")
                || stderr.contains("invalid value 'nothing'")
                    && stderr.contains("possible values: dossiers, ruptures, voeux"),
            "{args:?}: {stderr}"
        );
    }
    projections.stop().await;
}
