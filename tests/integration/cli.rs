//! The `tba` binary as an operator and an auditor use it: verify, head, migrate, db.

use crate::common;

use std::process::{Command, Output};

use common::{TestDb, stdout};

fn tba(db: &TestDb, args: &[&str]) -> Output {
    db.tba(args)
}

#[tokio::test]
async fn verify_passes_on_an_intact_log_and_names_the_first_tampered_position() {
    let db = TestDb::new().await;
    db.append_plain(10).await;
    let ok = tba(&db, &["verify"]);
    assert!(ok.status.success(), "{ok:?}");
    assert!(stdout(&ok).starts_with("ok: 10 events verified"), "{}", stdout(&ok));

    db.tamper(r#"UPDATE events SET data = '{"n": 999, "siret": "12345678901234"}' WHERE position = 4"#).await;
    db.tamper("UPDATE events SET metadata = '{}' WHERE position = 7").await;
    let broken = tba(&db, &["verify"]);
    assert_eq!(broken.status.code(), Some(1), "{broken:?}");
    assert!(stdout(&broken).contains("BROKEN at position 4"), "{}", stdout(&broken));
}

#[tokio::test]
async fn a_deleted_event_is_named_by_verify() {
    let db = TestDb::new().await;
    db.append_plain(6).await;
    db.tamper("DELETE FROM events WHERE position = 3").await;
    let broken = tba(&db, &["verify"]);
    assert_eq!(broken.status.code(), Some(1));
    assert!(stdout(&broken).contains("BROKEN at position 3"), "{}", stdout(&broken));
}

#[tokio::test]
async fn a_noted_head_proves_the_prefix_unchanged_later() {
    let db = TestDb::new().await;
    db.append_plain(5).await;
    let head = stdout(&tba(&db, &["head"]));
    let hash = head.split_whitespace().nth(3).unwrap().to_owned();
    assert!(head.starts_with("position 5 hash "), "{head}");
    db.append_plain(5).await;

    let proved = tba(&db, &["verify", "--until", "5", "--expect-hash", &hash]);
    assert!(proved.status.success(), "{proved:?}");
    assert!(stdout(&proved).contains(&format!("position 5 hash {hash}")));

    let other = "00".repeat(32);
    let refused = tba(&db, &["verify", "--until", "5", "--expect-hash", &other]);
    assert_eq!(refused.status.code(), Some(1));

    let garbage = tba(&db, &["verify", "--expect-hash", "zz"]);
    assert!(!garbage.status.success());
    assert!(String::from_utf8_lossy(&garbage.stderr).contains("--expect-hash"));
}

#[tokio::test]
async fn migrate_is_idempotent() {
    let db = TestDb::new().await;
    for _ in 0..2 {
        let output = tba(&db, &["migrate"]);
        assert!(output.status.success(), "{output:?}");
    }
}

/// With no DATABASE_URL, `tba db` manages a private cluster under TBA_HOME.
#[test]
fn db_commands_start_a_private_cluster_once_and_stop_it() {
    let home =
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("cli-home-{}", std::process::id()));
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_tba"))
            .args(args)
            .env_remove("DATABASE_URL")
            .env("TBA_HOME", &home)
            .env("RUST_LOG", "warn")
            .output()
            .expect("run tba")
    };
    let before = run(&["db", "status"]);
    assert_eq!(before.status.code(), Some(3));
    assert!(stdout(&before).starts_with("not initialised"));

    let started = run(&["db", "start"]);
    assert!(started.status.success(), "{started:?}");
    let again = run(&["db", "start"]);
    assert!(again.status.success(), "starting twice is harmless: {again:?}");
    assert!(stdout(&run(&["db", "status"])).starts_with("running"));
    let url = stdout(&run(&["db", "url"]));
    assert!(url.starts_with("postgres://postgres@localhost/tba?host=/"), "{url}");
    let migrated = run(&["migrate"]);
    assert!(migrated.status.success(), "{migrated:?}");
    assert!(stdout(&run(&["verify"])).starts_with("ok: 0 events verified"));

    assert!(run(&["db", "stop"]).status.success());
    let after = run(&["db", "status"]);
    assert_eq!(after.status.code(), Some(3));
    assert!(stdout(&after).starts_with("stopped"));
    std::fs::remove_dir_all(&home).ok();
}

#[test]
fn missing_server_binaries_are_a_clear_error() {
    let output = Command::new(env!("CARGO_BIN_EXE_tba"))
        .args(["db", "start"])
        .env_remove("DATABASE_URL")
        .env("TBA_PG_BINDIR", "/nonexistent/postgresql/bin")
        .env("TBA_HOME", std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("no-binaries"))
        .output()
        .expect("run tba");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("apt-get install postgresql") && stderr.contains("DATABASE_URL"), "{stderr}");
}
