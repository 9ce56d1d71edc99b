//! Crashes: `tba serve` killed with SIGKILL in the middle of concurrent pushes loses nothing it
//! acknowledged, and once restarted, a re-send of everything converges to exactly the log of a clean
//! run: the same events in every stream, a chain that verifies, read models equal to a rebuild's. A push
//! whose events were committed has its row in the transmission journal, answered or not.

use crate::common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{MASTER_KEY, TestDb, dossier_v3, stdout};
use serde_json::{Value, json};

/// `tba serve` on `db`, ready: the child and its base URL.
async fn serve(db: &TestDb) -> (tokio::process::Child, String) {
    serve_with(&[("DATABASE_URL", db.url())]).await
}

/// `tba serve` with these variables, ready.
async fn serve_with(vars: &[(&str, String)]) -> (tokio::process::Child, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_tba"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env_remove("DATABASE_URL")
        .envs(vars.iter().map(|(k, v)| (*k, v.as_str())))
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

/// The same batches pushed once, without a crash, into a fresh database: what a crashed run must equal.
async fn clean_run(batches: &[Value]) -> TestDb {
    let clean = TestDb::new().await;
    clean.with_organismes().await;
    let key = clean.organisme_key(common::CFA_LYON).await;
    let (mut child, base) = serve(&clean).await;
    assert!(push_all(&base, &key, batches).await.iter().all(|s| *s == 200));
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    clean
}

/// Every stream's events, as their types and data (what a clean run would record the same way).
async fn streams(db: &TestDb) -> BTreeMap<String, Vec<(String, Value)>> {
    streams_of(&db.pool).await
}

async fn streams_of(pool: &sqlx::PgPool) -> BTreeMap<String, Vec<(String, Value)>> {
    let store = events::EventStore::start(pool.clone(), common::store_config()).await.unwrap();
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

    let clean = clean_run(&batches).await;

    let (after_crash, after_clean) = (streams(&crashed).await, streams(&clean).await);
    assert_eq!(after_crash.len(), 400, "every dossier is in the log once");
    assert!(after_crash == after_clean, "the same events in every stream as a clean run");
    assert!(
        crashed.head().await >= head_at_crash,
        "nothing was lost ({acknowledged} of 8 batches acknowledged before the kill)"
    );
    let verified = crashed.tba(&["verify"]);
    assert!(verified.status.success(), "{}", stdout(&verified));
    for projection in ["dossiers", "ruptures", "voeux", "france_travail"] {
        crashed.assert_rebuild_of(projection);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgresql_killed_under_load_and_restarted_loses_nothing_acknowledged() {
    let batches = batches();
    let scratch = tempfile::tempdir().unwrap();
    let home = scratch.path().join("home");
    let started = common::tba_at(&home, &["db", "start"]);
    assert!(started.status.success(), "{started:?}");
    let _stop = common::StopCluster(home.clone());
    let url = stdout(&started).trim().trim_start_matches("running: ").to_owned();
    let referential = scratch.path().join("organismes.csv");
    std::fs::write(
        &referential,
        format!(
            "uai,siret,nom,code_commune_insee,code_postal,departement,nature\n\
             {},{},CFA des Métiers,69383,69003,69,formateur\n{},{},Chambre de Métiers,,,69,responsable\n",
            common::CFA_LYON.0,
            common::CFA_LYON.1,
            common::CMA_LYON.0,
            common::CMA_LYON.1
        ),
    )
    .unwrap();
    assert!(common::tba_at(&home, &["organismes", "import", referential.to_str().unwrap()]).status.success());
    let organisme = format!("{}:{}", common::CFA_LYON.0, common::CFA_LYON.1);
    let created = common::tba_at(&home, &["keys", "create", "--organisme", &organisme]);
    let key = stdout(&created).lines().last().unwrap().to_owned();
    let pool = sqlx::postgres::PgPoolOptions::new().max_connections(1).connect_lazy(&url).unwrap();
    let head = |pool: sqlx::PgPool| async move {
        sqlx::query_scalar::<_, i64>("SELECT position FROM log_head").fetch_one(&pool).await.unwrap_or(-1)
    };

    let (mut child, base) = serve_with(&[("TBA_HOME", home.to_string_lossy().into_owned())]).await;
    let pushing = {
        let (base, key, batches) = (base.clone(), key.clone(), batches.clone());
        tokio::spawn(async move { push_all(&base, &key, &batches).await })
    };
    let before = head(pool.clone()).await;
    while head(pool.clone()).await < before + 150 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // The postmaster killed outright, as a crash of the database server.
    let status = stdout(&common::tba_at(&home, &["db", "status"]));
    let data = status.lines().find_map(|l| l.strip_prefix("data: ")).unwrap().to_owned();
    let postmaster = std::fs::read_to_string(std::path::Path::new(&data).join("postmaster.pid")).unwrap();
    let pid: i32 = postmaster.lines().next().unwrap().trim().parse().unwrap();
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL).unwrap();
    let first = pushing.await.unwrap();
    assert!(
        first.iter().all(|s| [0, 200, 503].contains(s)),
        "only answers that say what happened: {first:?}"
    );
    pool.close().await;

    // Restarted, the server recovers; the service reconnects by itself and takes the re-send.
    assert!(common::tba_at(&home, &["db", "start"]).status.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let statuses = push_all(&base, &key, &batches).await;
        if statuses.iter().all(|s| *s == 200) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the service came back: {statuses:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let crashed = sqlx::postgres::PgPoolOptions::new().max_connections(2).connect(&url).await.unwrap();
    assert!(common::caught_up_on(&crashed, Duration::from_secs(60)).await, "the projections caught up");
    child.start_kill().unwrap();
    child.wait().await.unwrap();

    let clean = clean_run(&batches).await;
    assert!(
        streams_of(&crashed).await == streams(&clean).await,
        "the same events in every stream as a clean run"
    );
    assert!(common::tba_at(&home, &["verify"]).status.success());
    let live = stdout(&common::tba_at(&home, &["projections", "checksum", "dossiers"])).trim().to_owned();
    let rebuilt = stdout(&common::tba_at(&home, &["projections", "rebuild", "dossiers"]));
    assert!(rebuilt.contains(&format!("checksum {live}")), "{rebuilt} vs {live}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_console_page_does_not_hold_back_a_graceful_stop() {
    let db = TestDb::new().await;
    let (mut child, base) = serve(&db).await;
    let session = crate::console::signed_in(
        &db,
        &base,
        "cfa@example.org",
        &["--organisme", &format!("{}:{}", common::CFA_LYON.0, common::CFA_LYON.1)],
    )
    .await;
    // The queue's live stream, open.
    let live = reqwest::Client::new()
        .get(format!("{base}/console/ruptures/flux"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(live.status(), 200);
    assert_eq!(live.headers()["content-type"], "text/event-stream");
    let pid = child.id().unwrap() as i32;
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGTERM).unwrap();
    let stopped = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
    let status = stopped.expect("the service stops though a live page is open").unwrap();
    assert!(status.success(), "{status:?}");
    drop(live);
}
