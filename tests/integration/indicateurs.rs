//! The indicators "à date": the cubes the `dossiers` projection maintains as the log grows (new
//! dossiers, changed dossiers, an organisme moving to another département) give, for every date,
//! grouping and filter, the same counts as counting the dossiers one by one, with their changes still
//! pending and once these are folded in; and a rebuild from the log gives the same cubes.

use crate::common;

use std::time::Duration;

use chrono::{Datelike, NaiveDate, Utc};
use common::TestDb;
use common::changes::{amend_half, exemple, filtres, moved};
use projections::indicateurs::{self, Dimension, Filtre};
use serde_json::Value;

async fn caught_up(db: &TestDb) {
    assert!(db.projection_caught_up(Duration::from_secs(60)).await, "the projection caught up");
}

/// Every grouping and filter at each date, from the cubes and by counting the dossiers: equal. Returns
/// how many queries the cubes answered and how many dossiers were counted in all.
async fn compare_every_query(
    conn: &mut sqlx::PgConnection,
    dates: &[NaiveDate],
    filtres: &[Filtre],
) -> (usize, i64) {
    let (mut from_cubes, mut counted) = (0, 0);
    for &date in dates {
        for dimension in Dimension::ALL {
            for filtre in filtres {
                let fast = indicateurs::indicateurs(conn, date, dimension, filtre).await.unwrap();
                let exact =
                    indicateurs::query::counting_dossiers(conn, date, dimension, filtre).await.unwrap();
                let plan = indicateurs::plan(dimension, filtre);
                assert_eq!(fast, exact, "{date} {dimension:?} {filtre:?} ({plan})");
                if plan != "rm_dossiers" {
                    from_cubes += 1;
                }
                counted += exact.iter().map(|g| g.apprenants + g.abandons).sum::<i64>();
            }
        }
    }
    (from_cubes, counted)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cubes_count_what_the_dossiers_say_on_every_date_and_a_rebuild_gives_the_same_cubes() {
    let db = TestDb::new().await;
    let app = common::TestApp::spawn(&db).await;
    let today = Utc::now().date_naive();
    let demo = tba::demo::generate(600, 11, today);
    let mut items: Vec<Value> = demo.dossiers.iter().map(|(_, item)| item.clone()).collect();
    let csv = demo.organismes_csv();
    // Not settling: the changes stay pending until this test folds them in.
    let projections = tba::read_models::Projections::start_settling(&app.store, None);
    let progress = tba::progress::Progress::new("loading", "dossiers", 0);
    let batches = tba::demo::load::prepare(&db.pool, &csv, &items).await.unwrap();
    tba::demo::load::push_all(&app.address, &batches, 2, &progress).await.unwrap();
    caught_up(&db).await;

    // Later: a third of the dossiers change, and an organisme formateur moves.
    let uai = items[0]["etablissement_formateur_uai"].as_str().unwrap().to_owned();
    let changed = amend_half(&mut items, today);
    let batches = tba::demo::load::prepare(&db.pool, &moved(&csv, &uai), &changed).await.unwrap();
    tba::demo::load::push_all(&app.address, &batches, 2, &progress).await.unwrap();
    caught_up(&db).await;

    let departement: String = sqlx::query_scalar("SELECT departement FROM rm_organismes WHERE uai = $1")
        .bind(&uai)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    let stale: i64 =
        sqlx::query_scalar("SELECT count(*) FROM rm_dossiers WHERE uai_formateur = $1 AND departement <> $2")
            .bind(&uai)
            .bind(&departement)
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(stale, 0, "the moved organisme's dossiers are counted in its new département");

    let (organisme, formation, region) = exemple(&db.pool, &uai).await;
    let pending = |db: &TestDb| {
        let pool = db.pool.clone();
        async move {
            let n: i64 = sqlx::query_scalar("SELECT count(*) FROM rm_indicateurs_territoire_pending")
                .fetch_one(&pool)
                .await
                .unwrap();
            n
        }
    };
    let mut conn = db.pool.acquire().await.unwrap();
    assert!(pending(&db).await > 0, "the projection left its changes pending");
    let first = NaiveDate::from_ymd_opt(today.year() - 3, 7, 20).unwrap();
    let dates: Vec<NaiveDate> = (0..)
        .map(|i| first + chrono::Duration::days(i * 29))
        .take_while(|d| *d < today + chrono::Duration::days(300))
        .collect();
    let filtres = filtres(&organisme, &formation, &region);
    let (from_cubes, counted) = compare_every_query(&mut conn, &dates, &filtres).await;
    assert!(from_cubes > 1000, "most queries are answered by cubes: {from_cubes}");
    assert!(counted > 10_000, "the dates chosen see dossiers: {counted}");

    let mut tx = db.pool.begin().await.unwrap();
    assert!(indicateurs::cubes::settle(&mut tx).await.unwrap() > 0);
    tx.commit().await.unwrap();
    assert_eq!(pending(&db).await, 0, "settling folds every pending change in");
    let some_dates: Vec<NaiveDate> = dates.iter().copied().step_by(3).collect();
    compare_every_query(&mut conn, &some_dates, &filtres).await;

    let national =
        indicateurs::indicateurs(&mut conn, today, Dimension::National, &Filtre::default()).await.unwrap();
    assert_eq!(national.len(), 1);
    assert!(national[0].apprentis > 0 && national[0].apprenants >= national[0].apprentis, "{national:?}");
    let regions =
        indicateurs::indicateurs(&mut conn, today, Dimension::Region, &Filtre::default()).await.unwrap();
    assert!(regions.iter().all(|g| g.libelle.is_some()), "régions are named: {regions:?}");
    assert_eq!(regions.iter().map(|g| g.apprenants).sum::<i64>(), national[0].apprenants);
    // Every group of every grouping has its name: territories, organismes, niveaux, formations (the
    // name most of the formation's dossiers carry, counted as the dossiers change).
    for dimension in Dimension::ALL.into_iter().filter(|d| *d != Dimension::National) {
        let groups = indicateurs::indicateurs(&mut conn, today, dimension, &Filtre::default()).await.unwrap();
        assert!(!groups.is_empty(), "{dimension:?}");
        let unnamed: Vec<_> = groups.iter().filter(|g| !g.cle.is_empty() && g.libelle.is_none()).collect();
        assert!(unnamed.is_empty(), "{dimension:?} groups without a name: {unnamed:?}");
    }
    let recounted: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT formation, libelle, count(*) FROM rm_dossiers_libelles GROUP BY 1, 2 ORDER BY 1, 2",
    )
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    let kept: Vec<(String, String, i64)> =
        sqlx::query_as("SELECT formation, libelle, n FROM rm_formations_libelles ORDER BY 1, 2")
            .fetch_all(&mut *conn)
            .await
            .unwrap();
    assert_eq!(kept, recounted, "the names' counts follow the dossiers");
    assert!(kept.iter().any(|(_, l, _)| l.ends_with("(nouveau libellé)")), "renamed formations are counted");
    drop(conn);

    // The same figures from a terminal, live and in an auditor's replay of the log up to now.
    let cli = db.tba(&["indicateurs", "--par", "region", "--date", &today.to_string()]);
    assert!(cli.status.success(), "{cli:?}");
    let stdout = String::from_utf8_lossy(&cli.stdout).into_owned();
    for groupe in &regions {
        let line = stdout.lines().find(|l| l.split_whitespace().next() == Some(&groupe.cle)).unwrap();
        assert!(line.ends_with(&format!(" {}", groupe.apprenants)), "{line} vs {groupe:?}");
    }
    let head = db.head().await.to_string();
    assert!(db.tba(&["replay", "--until", &head]).status.success());
    let replayed = db.tba(&[
        "indicateurs",
        "--par",
        "region",
        "--date",
        &today.to_string(),
        "--schema",
        &format!("replay_dossiers_{head}"),
    ]);
    assert_eq!(String::from_utf8_lossy(&replayed.stdout), stdout, "the replay counts the same");
    for (args, expected) in [
        (&["indicateurs", "--tranche", "17-19"][..], "age band"),
        (&["indicateurs", "--date", "2026-02-30"], "--date"),
        (&["indicateurs", "--par", "commune"], "--par"),
        (&["indicateurs", "--schema", "nowhere"], "holds no read model"),
        (&["indicateurs", "--organisme", "0693456K"], "--organisme"),
        (&["indicateurs", "--niveau", "12"], "--niveau"),
    ] {
        let refused = db.tba(args);
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert!(!refused.status.success() && stderr.contains(expected), "{args:?}: {stderr}");
    }
    let filtered = db.tba(&["indicateurs", "--tranche=-18", "--tranche", "26+", "--niveau", "3"]);
    assert!(filtered.status.success(), "{filtered:?}");

    db.assert_rebuild_gives_the_live_checksum();
    projections.stop().await;
}
