//! What sealing personal data costs the log (issue 8): the same dossiers' events appended and read back
//! by a store without a master key (personal data in clear) and by one with it (sealed on append,
//! opened on read), side by side in the same run.
//!
//! `cargo bench --bench scellement` (private cluster, or the server of `DATABASE_URL`). It makes
//! BENCH_DOSSIERS (default 100,000) synthetic dossiers of `tba demo`'s generator and appends each
//! dossier's events (inscription, contracts…) in requests of 500 dossiers, as ERP pushes arrive,
//! alternating chunk by chunk between two scratch databases (`tba_bench_clair`, `tba_bench_scelle`).
//! Then it reads every dossier back, 500 streams at a time, from each: the sealed database twice, by a
//! store started afresh (each read unwraps its persons' keys) and by the store that appended (their
//! keys still in its memory). Autovacuum is off for the log in both, which are analysed once, between
//! the appends and the reads. It prints events/s of each and their ratios to the clear ones.

mod support;

use std::time::{Duration, Instant};

use events::personal::{MasterKey, Vault};
use events::{AppendRequest, EventStore, Metadata, StoreConfig};
use support::env_usize;
use tba::ingestion::organismes;

const CHUNK: usize = 500;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().with_writer(std::io::stderr).init();
    let dossiers = env_usize("BENCH_DOSSIERS", 100_000);
    let today = chrono::Utc::now().date_naive();
    let demo = tba::demo::generate(dossiers, 11, today);
    let referential = organismes::parse_csv(demo.organismes_csv().as_bytes())
        .map_err(|errors| anyhow::anyhow!("demo organismes refused: {}", errors[0]))?;
    let key = MasterKey::generate().map_err(|e| anyhow::anyhow!(e))?;
    let mut stores = Vec::new();
    for (name, vault) in
        [("tba_bench_clair", None), ("tba_bench_scelle", Some(Vault::new(key.clone(), Vec::new())))]
    {
        let (pool, _) = support::scratch(name, 4).await?;
        organismes::import(&pool, referential.clone(), Metadata::default()).await?;
        // The planner's statistics are gathered at the same point in both databases (after the
        // appends), not whenever autovacuum reaches one of them: a read planned without them may launch
        // parallel workers and JIT for 1,000 rows, in one database and not the other.
        for table in ["events", "personnes_cles"] {
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("ALTER TABLE {table} SET (autovacuum_enabled = off)")))
                .execute(&pool)
                .await?;
        }
        stores.push(EventStore::start(pool, StoreConfig { vault, ..StoreConfig::default() }).await?);
    }
    let requests: Vec<Vec<AppendRequest>> = demo
        .dossiers
        .chunks(CHUNK)
        .map(|chunk| chunk.iter().filter_map(|(_, item)| support::demo_request(item, today)).collect())
        .collect();
    let events: usize = requests.iter().flatten().map(|r| r.events.len()).sum();

    let mut append = [Duration::ZERO; 2];
    for chunk in &requests {
        for (i, store) in stores.iter().enumerate() {
            let started = Instant::now();
            for outcome in store.append_many(chunk.clone()).await {
                outcome?;
            }
            append[i] += started.elapsed();
        }
    }
    for store in &stores {
        for sql in ["VACUUM ANALYZE events", "VACUUM ANALYZE personnes_cles"] {
            sqlx::raw_sql(sql).execute(store.pool()).await?;
        }
    }
    // The sealed log read again by a store whose vault has kept no key yet (a process that starts, or
    // persons it has not read lately): each read unwraps its persons' keys once.
    let vault = Some(Vault::new(key, Vec::new()));
    let cold =
        EventStore::start(stores[1].pool().clone(), StoreConfig { vault, ..StoreConfig::default() }).await?;
    stores.insert(1, cold);
    let streams: Vec<Vec<String>> =
        requests.iter().map(|chunk| chunk.iter().map(|r| r.stream_id.clone()).collect()).collect();
    let mut read = [Duration::ZERO; 3];
    for chunk in &streams {
        for (i, store) in stores.iter().enumerate() {
            let started = Instant::now();
            let found = store.read_streams(chunk).await?;
            read[i] += started.elapsed();
            anyhow::ensure!(found.len() == chunk.len(), "every dossier reads back");
        }
    }
    let sealed: i64 = sqlx::query_scalar("SELECT count(*) FROM events WHERE data::text LIKE '%\"scelle\"%'")
        .fetch_one(stores[1].pool())
        .await?;
    println!("{dossiers} dossiers, {events} events ({sealed} sealed) in requests of {CHUNK} dossiers");
    let rate = |d: Duration| events as f64 / d.as_secs_f64();
    let [clair, scelle] = append;
    println!(
        "append: in clear {:.1} s ({:.0} events/s), sealed {:.1} s ({:.0} events/s): ratio {:.2}",
        clair.as_secs_f64(),
        rate(clair),
        scelle.as_secs_f64(),
        rate(scelle),
        scelle.as_secs_f64() / clair.as_secs_f64()
    );
    let [clair, froid, chaud] = read;
    println!(
        "read: in clear {:.1} s ({:.0} events/s), sealed with the keys read {:.1} s ({:.0} events/s): \
         ratio {:.2}, sealed with the keys in memory {:.1} s ({:.0} events/s): ratio {:.2}",
        clair.as_secs_f64(),
        rate(clair),
        froid.as_secs_f64(),
        rate(froid),
        froid.as_secs_f64() / clair.as_secs_f64(),
        chaud.as_secs_f64(),
        rate(chaud),
        chaud.as_secs_f64() / clair.as_secs_f64()
    );
    Ok(())
}
