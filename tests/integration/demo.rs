//! `tba demo generate` and `tba demo load`: a synthetic data set pushed through the ERP API.

use crate::common;

use common::{TestApp, TestDb};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generated_data_set_loads_through_the_erp_api() {
    let db = TestDb::new().await;
    let app = TestApp::spawn(&db).await;
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("demo-{}", db.name));
    let generated = db.tba(&["demo", "generate", "--dossiers", "300", "--out", dir.to_str().unwrap()]);
    assert!(generated.status.success(), "{generated:?}");

    let loaded = db.tba(&["demo", "load", "--dir", dir.to_str().unwrap(), "--url", &app.address]);
    assert!(loaded.status.success(), "{loaded:?}");
    let stdout = String::from_utf8_lossy(&loaded.stdout);
    assert!(stdout.contains("300 accepted, 0 rejected"), "{stdout}");
    let dossiers: i64 =
        sqlx::query_scalar("SELECT count(DISTINCT stream_id) FROM events WHERE category = 'dossier'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(dossiers, 300);
    // Its Missions Locales, one per département, cover the communes of France.
    let (missions, communes): (i64, i64) =
        sqlx::query_as("SELECT (SELECT count(*) FROM missions_locales), (SELECT count(*) FROM ml_communes)")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert!(missions >= 101 && communes > 34_000, "{missions} missions locales, {communes} communes");
    // Its formations referential, and the DECA extract of the organismes that never push.
    let (formations, contrats): (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE category = 'formation'), count(*) FILTER (WHERE category = 'deca') FROM events",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert!(formations >= 20 && contrats >= 10, "{formations} formations, {contrats} DECA contracts");

    let again = db.tba(&["demo", "load", "--dir", dir.to_str().unwrap(), "--url", &app.address]);
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("300 accepted, 0 rejected, 0 events"),
        "{again:?}"
    );
    std::fs::remove_dir_all(dir).ok();
}
