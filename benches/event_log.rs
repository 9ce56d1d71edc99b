//! Append throughput of the event log, side by side with its baselines in the same run.
//!
//! `cargo bench --bench event_log` (private cluster, or the server of `DATABASE_URL`). It creates a
//! scratch database `tba_bench`, and prints:
//! 1. batched appends (1,000 events of ~1 KiB per call) vs a plain UNNEST insert of the same rows into
//!    a bare table (no hash, no checks, no index);
//! 2. 16 concurrent clients appending one event per call through the group-commit writer vs one
//!    transaction per event under the same serialisation, and vs plain single-row INSERTs from 16
//!    connections into the bare table.
//!
//! Sizes can be changed with BENCH_BATCH_CALLS and BENCH_CONCURRENT_EVENTS.

use std::time::{Duration, Instant};

use chrono::NaiveDate;
use events::store::append_in_transaction;
use events::{Actor, AppendRequest, EventStore, ExpectedVersion, Metadata, NewEvent, StoreConfig};
use serde_json::json;
use sqlx::postgres::PgPoolOptions;
use sqlx::{ConnectOptions, PgPool};
use tba::config::DbConfig;

const BENCH_DB: &str = "tba_bench";
const CLIENTS: usize = 16;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// A realistic ~1 KiB dossier event.
fn dossier_event(i: usize) -> NewEvent {
    let data = json!({
        "dossier": { "id_erp_apprenant": format!("ERP-{i:08}"), "annee_scolaire": "2025-2026" },
        "apprenant": {
            "nom": "MARTIN-DELACROIX", "prenom": "Léa", "date_de_naissance": "2007-03-14",
            "ine": "1234567890A", "email": format!("lea.martin{i}@example.fr"), "telephone": "0612345678",
            "adresse": "12 rue des Lilas, Bâtiment B, Appartement 34", "code_postal": "69003",
            "code_commune_insee": "69383", "sexe": "F", "rqth": false,
            "responsables": ["parent1@example.fr", "parent2@example.fr"]
        },
        "formation": {
            "cfd": "50025219", "rncp": "RNCP37123", "libelle_court": "CAP CUISINE", "niveau": 3,
            "annee_formation": 1, "date_inscription": "2025-08-28", "date_entree": "2025-09-01",
            "date_fin": "2027-06-30", "duree_theorique_mois": 24
        },
        "organismes": {
            "formateur": { "uai": "0693456K", "siret": "12345678901234" },
            "responsable": { "uai": "0693455J", "siret": "12345678900012" },
            "lieu": { "uai": "0693456K", "adresse": "45 avenue Jean Jaurès, 69007 Lyon" }
        },
        "contrats": [{ "date_debut": "2025-09-15", "date_fin": "2027-06-30", "siret_employeur": "98765432100018" }],
        "custom_statut_apprenant": "Apprenti en entreprise (1re année)"
    });
    NewEvent {
        id: None,
        event_type: "InscriptionEnregistree".into(),
        schema_version: 1,
        data,
        occurred_at: NaiveDate::from_ymd_opt(2025, 9, 1).expect("valid date"),
        metadata: Metadata {
            actor: Actor { organisation: "0693456K:12345678901234".into(), principal: "key-bench".into() },
            channel: "api-v3".into(),
            correlation_id: Some(uuid::Uuid::now_v7()),
            causation_id: None,
        },
        personne: None,
    }
}

async fn scratch_pool(max: u32) -> anyhow::Result<PgPool> {
    let config = DbConfig {
        url: std::env::var("DATABASE_URL").ok().filter(|u| !u.is_empty()),
        home: ".tba".into(),
        keys: Default::default(),
    };
    let options = tba::db::connect_options(&config).await?;
    let mut admin = options.clone().database("postgres").connect().await?;
    for sql in
        [format!("DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)"), format!("CREATE DATABASE {BENCH_DB}")]
    {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut admin).await?;
    }
    let pool = PgPoolOptions::new().max_connections(max).connect_with(options.database(BENCH_DB)).await?;
    tba::db::migrate(&pool).await?;
    sqlx::raw_sql(
        "CREATE UNLOGGED TABLE IF NOT EXISTS scratch (x int);
         DROP TABLE scratch;
         CREATE TABLE bare_events (stream_id text, version bigint, event_type text, occurred_at date,
                                   data json, metadata json, recorded_at timestamptz)",
    )
    .execute(&pool)
    .await?;
    Ok(pool)
}

/// The same rows as the store writes, inserted plainly (one UNNEST statement per call).
async fn bare_insert(pool: &PgPool, streams: &[String], events: &[NewEvent]) -> anyhow::Result<()> {
    let data: Vec<String> = events.iter().map(|e| e.data.to_string()).collect();
    let metadata: Vec<String> =
        events.iter().map(|e| serde_json::to_string(&e.metadata)).collect::<Result<_, _>>()?;
    let versions: Vec<i64> = (1..=events.len() as i64).collect();
    let types: Vec<String> = events.iter().map(|e| e.event_type.clone()).collect();
    let dates: Vec<NaiveDate> = events.iter().map(|e| e.occurred_at).collect();
    sqlx::query(
        "INSERT INTO bare_events SELECT s, v, t, o, d::json, m::json, now()
         FROM unnest($1::text[], $2::bigint[], $3::text[], $4::date[], $5::text[], $6::text[]) AS u(s, v, t, o, d, m)",
    )
    .bind(streams)
    .bind(&versions)
    .bind(&types)
    .bind(&dates)
    .bind(&data)
    .bind(&metadata)
    .execute(pool)
    .await?;
    Ok(())
}

struct Latencies(Vec<Duration>);

impl Latencies {
    fn percentile(&mut self, p: f64) -> f64 {
        self.0.sort_unstable();
        let i = ((self.0.len() as f64 * p).ceil() as usize).clamp(1, self.0.len()) - 1;
        self.0[i].as_secs_f64() * 1000.0
    }
}

async fn batched(pool: &PgPool, store: &EventStore, calls: usize) -> anyhow::Result<()> {
    const PER_CALL: usize = 1000;
    const PER_STREAM: usize = 5;
    let (mut store_time, mut bare_time) = (Duration::ZERO, Duration::ZERO);
    for call in 0..calls {
        let events: Vec<NewEvent> = (0..PER_CALL).map(|i| dossier_event(call * PER_CALL + i)).collect();
        let streams: Vec<String> =
            (0..PER_CALL).map(|i| format!("dossier-{call}-{}", i / PER_STREAM)).collect();
        // Alternate which goes first, so neither always meets a warmer cache.
        for turn in 0..2 {
            if (call + turn) % 2 == 0 {
                let requests: Vec<AppendRequest> = events
                    .chunks(PER_STREAM)
                    .enumerate()
                    .map(|(s, chunk)| {
                        AppendRequest::new(
                            format!("dossier-{call}-{s}"),
                            ExpectedVersion::NoStream,
                            chunk.to_vec(),
                        )
                    })
                    .collect();
                let started = Instant::now();
                for result in store.append_many(requests).await {
                    result?;
                }
                store_time += started.elapsed();
            } else {
                let started = Instant::now();
                bare_insert(pool, &streams, &events).await?;
                bare_time += started.elapsed();
            }
        }
    }
    let total = (calls * PER_CALL) as f64;
    let (store_rate, bare_rate) = (total / store_time.as_secs_f64(), total / bare_time.as_secs_f64());
    println!(
        "## Batched appends: {calls} calls of {PER_CALL} events (~1 KiB each), {PER_STREAM} events per stream"
    );
    println!("| writer | events/s |");
    println!("|---|---|");
    println!("| event store (group commit, hash chain, checks) | {store_rate:.0} |");
    println!("| bare table, plain UNNEST insert | {bare_rate:.0} |");
    println!("ratio store / bare: {:.0} %\n", 100.0 * store_rate / bare_rate);
    Ok(())
}

/// One line of the concurrent table.
struct Measured {
    name: &'static str,
    events: usize,
    rate: f64,
    p50: f64,
    p99: f64,
}

/// Run `CLIENTS` tasks, each doing `per_client` calls of `call`, and time every call.
async fn concurrently<F, Fut>(name: &'static str, per_client: usize, call: F) -> anyhow::Result<Measured>
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send,
{
    let started = Instant::now();
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let call = call.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(per_client);
                for k in 0..per_client {
                    let t = Instant::now();
                    call(c * per_client + k).await?;
                    latencies.push(t.elapsed());
                }
                anyhow::Ok(latencies)
            })
        })
        .collect();
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await??);
    }
    let rate = all.len() as f64 / started.elapsed().as_secs_f64();
    let events = all.len();
    let mut latencies = Latencies(all);
    Ok(Measured { name, events, rate, p50: latencies.percentile(0.5), p99: latencies.percentile(0.99) })
}

async fn concurrent(pool: &PgPool, store: &EventStore, events: usize) -> anyhow::Result<()> {
    let per_client = events / CLIENTS;
    let naive_per_client = (per_client / 10).max(20);
    let mut rows = Vec::new();

    let s = store.clone();
    let measured = concurrently("event store, group commit", per_client, move |i| {
        let s = s.clone();
        async move {
            s.append(format!("client-{}", i % 500), ExpectedVersion::Any, vec![dossier_event(i)]).await?;
            Ok(())
        }
    })
    .await?;
    rows.push(measured);

    let p = pool.clone();
    let naive = "naive: one transaction per event, same serialisation";
    let measured = concurrently(naive, naive_per_client, move |i| {
        let p = p.clone();
        async move {
            let mut tx = p.begin().await?;
            let request = AppendRequest::new(
                format!("naive-{}", i % 500),
                ExpectedVersion::Any,
                vec![dossier_event(i)],
            );
            append_in_transaction(&mut tx, None, vec![request]).await?.pop().expect("one result")?;
            tx.commit().await?;
            Ok(())
        }
    })
    .await?;
    rows.push(measured);

    let p = pool.clone();
    let plain = "plain single-row INSERT into the bare table (no order, no hash)";
    let measured = concurrently(plain, per_client, move |i| {
        let p = p.clone();
        async move {
            let e = dossier_event(i);
            sqlx::query(
                "INSERT INTO bare_events VALUES ($1, 1, $2, $3, $4::text::json, $5::text::json, now())",
            )
            .bind(format!("bare-{i}"))
            .bind(&e.event_type)
            .bind(e.occurred_at)
            .bind(e.data.to_string())
            .bind(serde_json::to_string(&e.metadata)?)
            .execute(&p)
            .await?;
            Ok(())
        }
    })
    .await?;
    rows.push(measured);

    println!("## {CLIENTS} concurrent clients, one ~1 KiB event per call");
    println!("| writer | events | events/s | p50 ms | p99 ms |");
    println!("|---|---|---|---|---|");
    for Measured { name, events, rate, p50, p99 } in &rows {
        println!("| {name} | {events} | {rate:.0} | {p50:.2} | {p99:.2} |");
    }
    println!("ratio group commit / naive: {:.1}x\n", rows[0].rate / rows[1].rate);
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let calls = env_usize("BENCH_BATCH_CALLS", 100);
    let concurrent_events = env_usize("BENCH_CONCURRENT_EVENTS", 48_000);
    let pool = scratch_pool(CLIENTS as u32 + 4).await?;
    let store = EventStore::start(pool.clone(), StoreConfig::default()).await?;
    let version: String = sqlx::query_scalar("SHOW server_version").fetch_one(&pool).await?;
    println!("PostgreSQL {version}, {} cores\n", std::thread::available_parallelism().map_or(0, |n| n.get()));
    if calls > 0 {
        batched(&pool, &store, calls).await?;
    }
    if concurrent_events > 0 {
        concurrent(&pool, &store, concurrent_events).await?;
        let (batches, events): (i64, i64) = sqlx::query_as(
            "SELECT count(DISTINCT recorded_at), count(*) FROM events WHERE category = 'client'",
        )
        .fetch_one(&pool)
        .await?;
        println!(
            "group commit: {events} events in {batches} transactions ({:.1} per transaction)\n",
            events as f64 / batches.max(1) as f64
        );
    }
    let report = events::store::verify::verify(&pool, &Default::default(), |_, _| {}).await?;
    println!("log verified: {} events, broken: {:?}", report.checked, report.broken);
    Ok(())
}
