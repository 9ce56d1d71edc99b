//! Crashes: `tba serve` killed with SIGKILL in the middle of concurrent pushes loses nothing it
//! acknowledged, and once restarted, a re-send of everything converges to exactly the log of a clean
//! run: the same events in every stream, a chain that verifies, read models equal to a rebuild's. A push
//! whose events were committed has its row in the transmission journal, answered or not.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{MASTER_KEY, TestDb, dossier_v3, stdout};
use serde_json::{Value, json};

/// `tba serve` on `db`, ready: the child and its base URL.
async fn serve(db: &TestDb) -> (tokio::process::Child, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_tba"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("DATABASE_URL", db.url())
        .env("TBA_MASTER_KEY", MASTER_KEY)
        .env("RUST_LOG", "warn")
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    for _ in 0..150 {
        if reqwest::get(format!("{base}/readyz")).await.is_ok_and(|r| r.status() == 200) {
            return (child, base);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("tba serve did not become ready");
}

/// 8 batches of 50 dossiers, with a rupture in every third.
fn batches() -> Vec<Value> {
    (0..8)
        .map(|b| {
            let items: Vec<Value> = (0..50)
                .map(|i| {
                    let mut item = dossier_v3(&format!("K-{b}-{i}"));
                    if i % 3 == 0 {
                        item["contrat_date_rupture"] = json!("2026-01-10");
                    }
                    item
                })
                .collect();
            json!(items)
        })
        .collect()
}

/// Push every batch, four at a time; the statuses (0: no answer).
async fn push_all(base: &str, key: &str, batches: &[Value]) -> Vec<u16> {
    let mut tasks = tokio::task::JoinSet::new();
    let mut statuses = vec![0; batches.len()];
    for (i, batch) in batches.iter().enumerate() {
        let (url, key, batch) = (format!("{base}/api/v3/dossiers-apprenants"), key.to_owned(), batch.clone());
        tasks.spawn(async move {
            let sent = reqwest::Client::new().post(url).bearer_auth(key).json(&batch).send().await;
            (i, sent.map_or(0, |r| r.status().as_u16()))
        });
        if tasks.len() == 4
            && let Some(Ok((i, status))) = tasks.join_next().await
        {
            statuses[i] = status;
        }
    }
    while let Some(Ok((i, status))) = tasks.join_next().await {
        statuses[i] = status;
    }
    statuses
}

/// Every stream's events, as their types and data (what a clean run would record the same way).
async fn streams(db: &TestDb) -> BTreeMap<String, Vec<(String, Value)>> {
    let store = events::EventStore::start(db.pool.clone(), common::store_config()).await.unwrap();
    let mut all: BTreeMap<String, Vec<(String, Value)>> = BTreeMap::new();
    let mut after = 0;
    loop {
        let events = store.read_all(after, 1000).await.unwrap();
        let Some(last) = events.last() else { break };
        after = last.position;
        for e in events {
            if e.stream_id.starts_with("dossier-") {
                all.entry(e.stream_id.clone()).or_default().push((e.event_type.clone(), e.data.clone()));
            }
        }
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_killed_mid_push_converges_on_resend_to_a_clean_run() {
    let batches = batches();
    let crashed = TestDb::new().await;
    crashed.with_organismes().await;
    let key = crashed.organisme_key(common::CFA_LYON).await;
    let (mut child, base) = serve(&crashed).await;
    let pushing = {
        let (base, key, batches) = (base.clone(), key.clone(), batches.clone());
        tokio::spawn(async move { push_all(&base, &key, &batches).await })
    };
    // Killed once the log has taken some of the pushes, in the middle of the others.
    let before = crashed.head().await;
    while crashed.head().await < before + 150 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child.start_kill().unwrap(); // SIGKILL
    child.wait().await.unwrap();
    let first = pushing.await.unwrap();
    let acknowledged = first.iter().filter(|s| **s == 200).count();
    let head_at_crash = crashed.head().await;
    // Whatever the kill cut, every push whose events are in the log has its journal.
    let unjournaled: i64 = sqlx::query_scalar(
        "SELECT count(DISTINCT e.metadata::jsonb ->> 'correlation_id') FROM events e
         WHERE e.metadata::jsonb ->> 'channel' = 'api-v3'
           AND NOT EXISTS (SELECT 1 FROM transmissions t WHERE t.id::text = e.metadata::jsonb ->> 'correlation_id')",
    )
    .fetch_one(&crashed.pool)
    .await
    .unwrap();
    assert_eq!(unjournaled, 0, "a push committed has its journal, answered or not");

    // Restarted, the ERP sends everything again, as ERPs do every night.
    let (mut child, base) = serve(&crashed).await;
    let again = push_all(&base, &key, &batches).await;
    assert!(again.iter().all(|s| *s == 200), "{again:?}");
    assert!(crashed.projection_caught_up(Duration::from_secs(60)).await);
    child.start_kill().unwrap();
    child.wait().await.unwrap();

    let clean = TestDb::new().await;
    clean.with_organismes().await;
    let clean_key = clean.organisme_key(common::CFA_LYON).await;
    let (mut child, base) = serve(&clean).await;
    assert!(push_all(&base, &clean_key, &batches).await.iter().all(|s| *s == 200));
    child.start_kill().unwrap();
    child.wait().await.unwrap();

    let (after_crash, after_clean) = (streams(&crashed).await, streams(&clean).await);
    assert_eq!(after_crash.len(), 400, "every dossier is in the log once");
    assert!(after_crash == after_clean, "the same events in every stream as a clean run");
    assert!(
        crashed.head().await >= head_at_crash,
        "nothing was lost ({acknowledged} of 8 batches acknowledged before the kill)"
    );
    let verified = crashed.tba(&["verify"]);
    assert!(verified.status.success(), "{}", stdout(&verified));
    for projection in ["dossiers", "ruptures", "voeux"] {
        crashed.assert_rebuild_of(projection);
    }
}
