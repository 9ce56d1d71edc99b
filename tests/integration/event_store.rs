//! The event store against a real PostgreSQL: positions, expectations, idempotency, immutability,
//! reads, checkpoints, and the concurrency proof.

use crate::common;

use std::collections::HashSet;

use common::TestDb;
use events::store::{append_in_transaction, checkpoint, verify};
use events::{AppendError, AppendRequest, EventStore, ExpectedVersion, NewEvent, StoreConfig};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use uuid::Uuid;

async fn store(db: &TestDb) -> EventStore {
    EventStore::start(db.pool.clone(), StoreConfig::default()).await.expect("start the store")
}

fn event(n: i64) -> NewEvent {
    NewEvent::new("InscriptionEnregistree", json!({ "n": n, "nom": "DUPONT" }))
}

#[tokio::test]
async fn appends_get_gapless_positions_and_per_stream_versions() {
    let db = TestDb::new().await;
    let store = store(&db).await;
    let a = store.append("dossier-a", ExpectedVersion::NoStream, vec![event(1), event(2)]).await.unwrap();
    let b = store.append("dossier-b", ExpectedVersion::Any, vec![event(3)]).await.unwrap();
    let a2 = store.append("dossier-a", ExpectedVersion::Exact(2), vec![event(4)]).await.unwrap();
    assert_eq!((a.positions, a.version), (vec![1, 2], 2));
    assert_eq!((b.positions, b.version), (vec![3], 1));
    assert_eq!((a2.positions, a2.version), (vec![4], 3));
    let head = store.head().await.unwrap();
    assert_eq!(head.position, 4);
    let all = store.read_all(0, 100).await.unwrap();
    assert_eq!(all.iter().map(|e| e.position).collect::<Vec<_>>(), vec![1, 2, 3, 4]);
    assert_eq!(all.last().unwrap().hash, head.hash);
    assert!(all.windows(2).all(|w| w[0].recorded_at <= w[1].recorded_at));
}

#[tokio::test]
async fn a_violated_expectation_is_a_typed_conflict_and_writes_nothing() {
    let db = TestDb::new().await;
    let store = store(&db).await;
    store.append("dossier-a", ExpectedVersion::NoStream, vec![event(1)]).await.unwrap();
    let refused = store.append("dossier-a", ExpectedVersion::NoStream, vec![event(2)]).await;
    assert_eq!(
        refused,
        Err(AppendError::Conflict {
            stream: "dossier-a".into(),
            expected: ExpectedVersion::NoStream,
            actual: 1
        })
    );
    let stale = store.append("dossier-a", ExpectedVersion::Exact(5), vec![event(2)]).await;
    assert!(matches!(stale, Err(AppendError::Conflict { actual: 1, .. })));
    assert_eq!(store.head().await.unwrap().position, 1);
    assert_eq!(store.stream_version("dossier-a").await.unwrap(), 1);
}

#[tokio::test]
async fn one_refused_request_does_not_fail_the_others_of_its_group() {
    let db = TestDb::new().await;
    let store = store(&db).await;
    let results = store
        .append_many(vec![
            AppendRequest::new("dossier-a", ExpectedVersion::NoStream, vec![event(1)]),
            AppendRequest::new("dossier-a", ExpectedVersion::NoStream, vec![event(2)]),
            AppendRequest::new("", ExpectedVersion::Any, vec![event(3)]),
            AppendRequest::new("dossier-b", ExpectedVersion::Any, vec![event(4)]),
        ])
        .await;
    assert_eq!(results[0].as_ref().unwrap().positions, vec![1]);
    assert!(matches!(results[1], Err(AppendError::Conflict { .. })));
    assert!(matches!(&results[2], Err(AppendError::Invalid { field, .. }) if field == "stream_id"));
    assert_eq!(results[3].as_ref().unwrap().positions, vec![2]);
    assert_eq!(store.head().await.unwrap().position, 2);
}

#[tokio::test]
async fn reappending_the_same_event_ids_returns_the_original_positions_and_writes_nothing() {
    let db = TestDb::new().await;
    let store = store(&db).await;
    let ids = [Uuid::new_v4(), Uuid::new_v4()];
    let events = vec![event(1).with_id(ids[0]), event(2).with_id(ids[1])];
    store.append("dossier-x", ExpectedVersion::Any, vec![event(0)]).await.unwrap();
    let first = store.append("dossier-a", ExpectedVersion::NoStream, events.clone()).await.unwrap();
    // The retry carries a stale expectation: an exact retry still answers with the original outcome.
    let again = store.append("dossier-a", ExpectedVersion::NoStream, events.clone()).await.unwrap();
    assert_eq!(first.positions, vec![2, 3]);
    assert_eq!(again.positions, first.positions);
    assert_eq!(again.event_ids, ids.to_vec());
    assert!(again.replayed && !first.replayed);
    assert_eq!(store.head().await.unwrap().position, 3);

    // Two retries racing in the same group commit: written once.
    let id = Uuid::new_v4();
    let racing = AppendRequest::new("dossier-b", ExpectedVersion::Any, vec![event(9).with_id(id)]);
    let results = store.append_many(vec![racing.clone(), racing]).await;
    assert_eq!(results[0].as_ref().unwrap().positions, results[1].as_ref().unwrap().positions);
    assert_eq!(store.head().await.unwrap().position, 4);
}

#[tokio::test]
async fn the_same_event_id_with_other_content_is_refused() {
    let db = TestDb::new().await;
    let store = store(&db).await;
    let id = Uuid::new_v4();
    store.append("dossier-a", ExpectedVersion::Any, vec![event(1).with_id(id)]).await.unwrap();
    let changed = store.append("dossier-a", ExpectedVersion::Any, vec![event(2).with_id(id)]).await;
    assert_eq!(changed, Err(AppendError::IdReused { id, position: 1 }));
    let partial = store.append("dossier-a", ExpectedVersion::Any, vec![event(1).with_id(id), event(3)]).await;
    assert_eq!(partial, Err(AppendError::PartialReplay { already: vec![id] }));
    let twice = store
        .append("dossier-b", ExpectedVersion::Any, vec![event(1).with_id(id), event(1).with_id(id)])
        .await;
    assert!(matches!(twice, Err(AppendError::Invalid { field, .. }) if field == "events[1].id"));
    assert_eq!(store.head().await.unwrap().position, 1);
}

#[tokio::test]
async fn postgresql_itself_rejects_update_delete_and_truncate_of_events() {
    let db = TestDb::new().await;
    let store = store(&db).await;
    store.append("dossier-a", ExpectedVersion::Any, vec![event(1)]).await.unwrap();
    for sql in [
        "UPDATE events SET data = '{}' WHERE position = 1",
        "DELETE FROM events WHERE position = 1",
        "TRUNCATE events",
        "TRUNCATE events CASCADE",
    ] {
        let error = sqlx::raw_sql(sql).execute(&db.pool).await.expect_err(sql);
        assert!(error.to_string().contains("append-only"), "{sql}: {error}");
    }
    let event = &store.read_all(0, 10).await.unwrap()[0];
    assert_eq!(event.data, json!({ "n": 1, "nom": "DUPONT" }));
}

#[tokio::test]
async fn streams_and_categories_read_in_order() {
    let db = TestDb::new().await;
    let store = store(&db).await;
    store.append("dossier-a", ExpectedVersion::Any, vec![event(1), event(2)]).await.unwrap();
    store.append("organisme-1", ExpectedVersion::Any, vec![event(3)]).await.unwrap();
    store.append("dossier-a", ExpectedVersion::Any, vec![event(4)]).await.unwrap();
    let stream = store.read_stream("dossier-a", 2, 10).await.unwrap();
    assert_eq!(stream.iter().map(|e| (e.version, e.position)).collect::<Vec<_>>(), vec![(2, 2), (3, 4)]);
    let dossiers = store.read_category("dossier", 1, 10).await.unwrap();
    assert_eq!(dossiers.iter().map(|e| e.position).collect::<Vec<_>>(), vec![2, 4]);
    let page = store.read_all(1, 2).await.unwrap();
    assert_eq!(page.iter().map(|e| e.position).collect::<Vec<_>>(), vec![2, 3]);
}

#[tokio::test]
async fn a_checkpoint_is_saved_with_the_consumers_writes_or_not_at_all() {
    let db = TestDb::new().await;
    let mut tx = db.pool.begin().await.unwrap();
    checkpoint::save(&mut tx, "counter", 42).await.unwrap();
    tx.rollback().await.unwrap();
    let mut conn = db.pool.acquire().await.unwrap();
    assert_eq!(checkpoint::load(&mut conn, "counter").await.unwrap(), 0);
    let mut tx = db.pool.begin().await.unwrap();
    checkpoint::save(&mut tx, "counter", 42).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(checkpoint::load(&mut conn, "counter").await.unwrap(), 42);
}

#[tokio::test]
async fn a_subscription_catches_up_then_follows_live_appends() {
    let db = TestDb::new().await;
    let store = store(&db).await;
    store.append("dossier-a", ExpectedVersion::Any, vec![event(1), event(2)]).await.unwrap();
    let mut subscription = store.subscribe(0);
    let caught_up = subscription.next_batch().await.unwrap();
    assert_eq!(caught_up.len(), 2);
    let mut waiting = tokio::spawn(async move { subscription.next_batch().await });
    let early = tokio::time::timeout(std::time::Duration::from_millis(100), &mut waiting).await;
    assert!(early.is_err(), "a caught-up subscription waits");
    // Appended by another store (as another process would): woken by NOTIFY.
    let other = EventStore::start(db.pool.clone(), StoreConfig::default()).await.unwrap();
    other.append("dossier-b", ExpectedVersion::Any, vec![event(3)]).await.unwrap();
    let live =
        tokio::time::timeout(std::time::Duration::from_secs(5), waiting).await.unwrap().unwrap().unwrap();
    assert_eq!(live.iter().map(|e| e.position).collect::<Vec<_>>(), vec![3]);
}

/// 16 writers over two stores (two "processes"), overlapping streams, stale expectations, and
/// transactional appends rolled back on purpose, while a subscriber reads live.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_never_make_a_live_subscriber_skip_or_repeat_an_event() {
    let db = TestDb::new().await;
    let store_a = store(&db).await;
    let pool_b = sqlx::postgres::PgPoolOptions::new()
        .max_connections(10)
        .connect_with(db.options.clone())
        .await
        .unwrap();
    let store_b = EventStore::start(pool_b, StoreConfig::default()).await.unwrap();

    let (total_tx, mut total_rx) = tokio::sync::watch::channel(None::<usize>);
    let mut subscription = store_a.subscribe(0).with_batch_size(50);
    let subscriber = tokio::spawn(async move {
        let mut seen = Vec::new();
        loop {
            if total_rx.borrow_and_update().is_some_and(|total| seen.len() >= total) {
                return seen;
            }
            tokio::select! {
                batch = subscription.next_batch() => seen.extend(batch.unwrap().into_iter().map(|e| (e.position, e.event_id))),
                _ = total_rx.changed() => {}
            }
        }
    });

    let mut writers = Vec::new();
    for w in 0..16u64 {
        let store = if w % 2 == 0 { store_a.clone() } else { store_b.clone() };
        writers.push(tokio::spawn(async move {
            let mut rng = StdRng::seed_from_u64(w);
            let mut known = [0i64; 6];
            let (mut acknowledged, mut conflicts) = (Vec::new(), 0);
            for k in 0..120 {
                let s = rng.random_range(0..known.len());
                let expected = match rng.random_range(0..3) {
                    0 => ExpectedVersion::Any,
                    1 if known[s] == 0 => ExpectedVersion::NoStream,
                    _ => ExpectedVersion::Exact(known[s]),
                };
                let events = (0..rng.random_range(1..=3)).map(|i| event(k * 10 + i)).collect();
                match store.append(format!("dossier-{s}"), expected, events).await {
                    Ok(outcome) => {
                        known[s] = outcome.version;
                        acknowledged.extend(outcome.event_ids);
                    }
                    Err(AppendError::Conflict { actual, .. }) => {
                        known[s] = actual;
                        conflicts += 1;
                    }
                    Err(other) => panic!("unexpected refusal: {other}"),
                }
            }
            (acknowledged, Vec::new(), conflicts)
        }));
    }
    for w in 0..4u64 {
        let pool = db.pool.clone();
        writers.push(tokio::spawn(async move {
            let mut rng = StdRng::seed_from_u64(100 + w);
            let (mut acknowledged, mut rolled_back) = (Vec::new(), Vec::new());
            for k in 0..40 {
                let mut tx = pool.begin().await.unwrap();
                let request =
                    AppendRequest::new(format!("dossier-{}", k % 6), ExpectedVersion::Any, vec![event(k)]);
                let outcome = append_in_transaction(&mut tx, None, vec![request])
                    .await
                    .unwrap()
                    .pop()
                    .unwrap()
                    .unwrap();
                if rng.random_bool(0.5) {
                    tx.rollback().await.unwrap();
                    rolled_back.extend(outcome.event_ids);
                } else {
                    tx.commit().await.unwrap();
                    acknowledged.extend(outcome.event_ids);
                }
            }
            (acknowledged, rolled_back, 0)
        }));
    }
    let (mut acknowledged, mut rolled_back, mut conflicts) = (HashSet::new(), HashSet::new(), 0);
    for writer in writers {
        let (acked, rolled, c) = writer.await.unwrap();
        acknowledged.extend(acked);
        rolled_back.extend(rolled);
        conflicts += c;
    }
    total_tx.send(Some(acknowledged.len())).unwrap();
    let seen = tokio::time::timeout(std::time::Duration::from_secs(60), subscriber).await.unwrap().unwrap();

    assert!(conflicts > 0 && !rolled_back.is_empty(), "the test must exercise conflicts and rollbacks");
    let positions: Vec<i64> = seen.iter().map(|(p, _)| *p).collect();
    assert_eq!(positions, (1..=acknowledged.len() as i64).collect::<Vec<_>>(), "1..N, in order, no hole");
    let ids: HashSet<Uuid> = seen.iter().map(|(_, id)| *id).collect();
    assert_eq!(ids.len(), seen.len(), "each event exactly once");
    assert_eq!(ids, acknowledged, "exactly the acknowledged events");
    assert!(ids.is_disjoint(&rolled_back));
    assert_eq!(store_a.head().await.unwrap().position, acknowledged.len() as i64);

    let report = verify::verify(&db.pool, &verify::VerifyOptions::default(), |_, _| {}).await.unwrap();
    assert_eq!((report.broken, report.checked), (None, acknowledged.len() as i64));
    let cli = std::process::Command::new(env!("CARGO_BIN_EXE_tba"))
        .arg("verify")
        .env("DATABASE_URL", db.url())
        .output()
        .unwrap();
    assert!(cli.status.success(), "tba verify: {cli:?}");
}

/// A reader waits for a consumer's checkpoint without polling: woken by the commit that moves it, in
/// another process (another store here), and never by a transaction rolled back.
#[tokio::test]
async fn a_wait_on_a_checkpoint_is_woken_by_the_commit_that_reaches_it() {
    let db = TestDb::new().await;
    let store = store(&db).await;
    let short = std::time::Duration::from_millis(300);
    assert!(!store.wait_checkpoint("lecteur", 5, short).await, "no checkpoint yet");
    let other = EventStore::start(db.pool.clone(), StoreConfig::default()).await.unwrap();
    let mut tx = other.pool().begin().await.unwrap();
    assert!(checkpoint::advance(&mut tx, "lecteur", 0, 5).await.unwrap());
    tx.rollback().await.unwrap();
    assert!(!store.wait_checkpoint("lecteur", 5, short).await, "a rolled-back move wakes no one");
    let waiting = {
        let store = store.clone();
        tokio::spawn(
            async move { store.wait_checkpoint("lecteur", 5, std::time::Duration::from_secs(10)).await },
        )
    };
    let started = std::time::Instant::now();
    let mut tx = other.pool().begin().await.unwrap();
    assert!(checkpoint::advance(&mut tx, "lecteur", 0, 7).await.unwrap());
    tx.commit().await.unwrap();
    assert!(waiting.await.unwrap(), "woken by the commit");
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "{:?}", started.elapsed());
    assert!(store.wait_checkpoint("lecteur", 7, short).await, "already there: no wait");
}

fn coordonnees(stream: &str, personne: &str, telephone: &str) -> AppendRequest {
    let event = NewEvent::new("CoordonneesModifiees", json!({ "telephone": telephone })).about(personne);
    AppendRequest::new(stream, ExpectedVersion::Any, vec![event])
}

/// The telephone each stream's events read as, through a store started afresh (every key read from
/// the database).
async fn telephones(db: &TestDb) -> Vec<(String, String)> {
    let fresh = EventStore::start(db.pool.clone(), common::store_config()).await.unwrap();
    let mut read: Vec<(String, String)> = fresh
        .read_all(0, 10_000)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.stream_id, e.data["telephone"].as_str().expect("opened").to_owned()))
        .collect();
    read.sort();
    read
}

/// Two processes sealing for the same new persons at once both create a key; the first committed is
/// every person's key, and what the other sealed with its own never reaches the log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writers_creating_the_same_persons_keys_at_once_seal_with_the_one_kept() {
    let db = TestDb::new().await;
    let a = EventStore::start(db.pool.clone(), common::store_config()).await.unwrap();
    let b = EventStore::start(db.pool.clone(), common::store_config()).await.unwrap();
    let requests = |w: &str| -> Vec<AppendRequest> {
        (0..200)
            .map(|p| coordonnees(&format!("s-{w}-{p}"), &format!("p-{p}"), &format!("06{p:08}")))
            .collect()
    };
    let (ra, rb) = tokio::join!(a.append_many(requests("a")), b.append_many(requests("b")));
    assert!(ra.iter().chain(&rb).all(Result::is_ok), "{ra:?} {rb:?}");
    let keys: i64 =
        sqlx::query_scalar("SELECT count(*) FROM personnes_cles").fetch_one(&db.pool).await.unwrap();
    assert_eq!(keys, 200, "one key per person");
    let mut expected: Vec<(String, String)> = ["a", "b"]
        .iter()
        .flat_map(|w| (0..200).map(move |p| (format!("s-{w}-{p}"), format!("06{p:08}"))))
        .collect();
    expected.sort();
    assert_eq!(telephones(&db).await, expected);
}

/// A key created inside a transaction that rolls back is never used afterwards: the next append for
/// that person creates the key the log keeps.
#[tokio::test]
async fn a_key_created_in_a_rolled_back_transaction_seals_nothing_later() {
    let db = TestDb::new().await;
    let store = EventStore::start(db.pool.clone(), common::store_config()).await.unwrap();
    let mut tx = db.pool.begin().await.unwrap();
    let written =
        append_in_transaction(&mut tx, store.vault(), vec![coordonnees("s-1", "p-1", "0600000001")])
            .await
            .unwrap();
    assert!(written[0].is_ok(), "{written:?}");
    tx.rollback().await.unwrap();
    store.append_many(vec![coordonnees("s-2", "p-1", "0600000002")]).await.pop().unwrap().unwrap();
    assert_eq!(telephones(&db).await, vec![("s-2".to_owned(), "0600000002".to_owned())]);
}
