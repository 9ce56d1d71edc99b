//! Backups: `tba backup` makes a consistent copy with a manifest (the log's head, every file's SHA-256),
//! `tba restore` brings it into a fresh private cluster, verifies the whole chain up to the manifest's
//! head, and the read models come back with the checksums they had, which a rebuild from the restored
//! log gives again. A copy altered in storage is refused before anything is restored.

use crate::common;

use std::time::Duration;

use common::{dossier_v3, stdout};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_restores_into_a_fresh_cluster_with_its_chain_and_read_models() {
    let (db, app, key) = common::lyon_app().await;
    let projections = tba::read_models::Projections::start(&app.store);
    let items: Vec<_> = (0..20).map(|i| dossier_v3(&format!("S-{i}"))).collect();
    let (status, answer) = app.post("/api/v3/dossiers-apprenants", &key, &json!(items)).await;
    assert_eq!(status, 200, "{answer}");
    assert!(db.projection_caught_up(Duration::from_secs(20)).await);
    projections.stop().await;
    let checksum = |output: std::process::Output| stdout(&output).trim().to_owned();
    let live = checksum(db.tba(&["projections", "checksum", "dossiers"]));
    let head = stdout(&db.tba(&["head"]));

    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path().join("sauvegarde");
    let backup = db.tba(&["backup", dir.to_str().unwrap()]);
    assert!(backup.status.success(), "{backup:?}");
    assert!(stdout(&backup).contains(head.trim().trim_start_matches("position ").split(' ').next().unwrap()));
    let refused = db.tba(&["backup", dir.to_str().unwrap()]);
    assert!(!refused.status.success(), "a backup never overwrites another");

    // A fresh private cluster: restored, verified, the same head and read models.
    let home = scratch.path().join("home");
    let restored = common::tba_at(&home, &["restore", dir.to_str().unwrap()]);
    let cleanup = common::StopCluster(home.clone());
    assert!(restored.status.success(), "{restored:?}");
    assert!(stdout(&restored).contains("restored position"), "{restored:?}");
    assert_eq!(stdout(&common::tba_at(&home, &["head"])), head);
    assert!(common::tba_at(&home, &["verify"]).status.success());
    assert_eq!(checksum(common::tba_at(&home, &["projections", "checksum", "dossiers"])), live);
    let rebuilt = common::tba_at(&home, &["projections", "rebuild", "dossiers"]);
    assert!(stdout(&rebuilt).contains(&format!("checksum {live}")), "{rebuilt:?}");
    let again = common::tba_at(&home, &["restore", dir.to_str().unwrap()]);
    assert!(!again.status.success(), "never into a database that is not empty");

    // A copy altered in storage is refused, naming the file.
    let file = std::fs::read_dir(dir.join("dump"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "gz" || e == "dat"))
        .unwrap();
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[0] ^= 1;
    std::fs::write(&file, bytes).unwrap();
    let other = scratch.path().join("other");
    let damaged = common::tba_at(&other, &["restore", dir.to_str().unwrap()]);
    assert!(!damaged.status.success());
    assert!(String::from_utf8_lossy(&damaged.stderr).contains("altered"), "{damaged:?}");
    drop(cleanup);
    common::tba_at(&other, &["db", "stop"]);
}
