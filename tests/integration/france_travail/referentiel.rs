//! `tba formations import`: the formations referential becomes events, all or nothing, once.

use crate::common;

use common::TestDb;

const HEADER: &str = "cfd,rncp,libelle,niveau,codes_rome";

fn file(name: &str, rows: &[&str]) -> std::path::PathBuf {
    let dir =
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("formations-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, format!("{HEADER}\n{}\n", rows.join("\n"))).unwrap();
    path
}

#[tokio::test]
async fn formations_are_recorded_once_and_a_bad_file_writes_nothing() {
    let db = TestDb::new().await;
    let rows = ["50022137,RNCP37870,CAP CUISINE,3,G1602", "32031213,RNCP38362,BTS MCO,5,D1401 D1502"];
    let first = db.tba(&["formations", "import", file("a.csv", &rows).to_str().unwrap()]);
    assert!(first.status.success(), "{first:?}");
    assert!(
        String::from_utf8_lossy(&first.stdout).contains("2 created, 0 changed, 0 unchanged"),
        "{first:?}"
    );
    let again = db.tba(&["formations", "import", file("a.csv", &rows).to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&again.stdout).contains("0 created, 0 changed, 2 unchanged"));
    assert_eq!(db.head().await, 2, "re-importing the same file writes nothing");
    let changed = ["50022137,RNCP37870,CAP CUISINE,3,G1602 G1603"];
    let out = db.tba(&["formations", "import", file("b.csv", &changed).to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("0 created, 1 changed, 0 unchanged"));
    let (stream, event_type): (String, String) =
        sqlx::query_as("SELECT stream_id, event_type FROM events WHERE position = 3")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!((stream.as_str(), event_type.as_str()), ("formation-50022137", "FormationEnregistree"));

    let bad = ["50022140,RNCP37859,CAP BOULANGER,3,D1102", "5002214,,CAP,3,Z1102"];
    let refused = db.tba(&["formations", "import", file("c.csv", &bad).to_str().unwrap()]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("line 3: cfd") && stderr.contains("line 3: codes_rome"), "{stderr}");
    assert_eq!(db.head().await, 3, "nothing of a refused file is written");
}
