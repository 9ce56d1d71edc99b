//! Lag from append commit to visible read model, under a steady load.
//!
//! `cargo bench --bench projection_lag` (private cluster, or the server of `DATABASE_URL`). It creates a
//! scratch database `tba_bench_lag`, runs the `dossiers` projection as `tba serve` does, and appends
//! realistic dossier events (inscription and contract of synthetic dossiers, decided by the ingestion
//! diff, their organismes in the referential) at BENCH_RATE events/s (default 1,000) for BENCH_SECONDS (default 30), in small appends every
//! 10 ms. A watcher reads the projection's checkpoint every millisecond on a connection of its own; the
//! lag of an append is the time from its commit (the append call returning) to the first reading of a
//! checkpoint at or beyond its position, i.e. its events are in the read model. Two phases: appends by
//! the projection's own process (its writer wakes the projection directly), then by another store (as
//! another `tba serve` would: the projection is woken by LISTEN/NOTIFY). It prints percentiles of each,
//! and the largest backlog of indicator changes waiting to be folded into the cubes.

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use events::{AppendRequest, EventStore, Metadata, StoreConfig};
use support::{env_usize, percentile, scratch};

const BENCH_DB: &str = "tba_bench_lag";
const TICK: Duration = Duration::from_millis(10);

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let rate = env_usize("BENCH_RATE", 1000);
    let seconds = env_usize("BENCH_SECONDS", 30);
    let (pool, _) = scratch(BENCH_DB, 8).await?;
    let store = EventStore::start(pool.clone(), StoreConfig::default()).await?;

    // Two events per dossier on average: enough dossiers for the whole run.
    let today = chrono::Utc::now().date_naive();
    let demo = tba::demo::generate(rate * seconds + 200, 5, today);
    // Dossiers are counted in their organisme's territory, as ingestion requires it to be known.
    let referential = tba::ingestion::organismes::parse_csv(demo.organismes_csv().as_bytes())
        .map_err(|errors| anyhow::anyhow!("demo organismes refused: {}", errors[0]))?;
    tba::ingestion::organismes::import(&pool, referential, Metadata::default()).await?;
    let mut requests: Vec<AppendRequest> =
        demo.dossiers.iter().filter_map(|(_, item)| support::demo_request(item, today)).collect();
    requests.reverse();

    let projections = tba::read_models::Projections::start(&store);
    let checkpoint = support::dossiers_checkpoint();
    let readings: Arc<Mutex<Vec<(Instant, i64)>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let (pool, readings, stop, checkpoint) =
            (pool.clone(), readings.clone(), stop.clone(), checkpoint.clone());
        tokio::spawn(async move {
            let mut conn = pool.acquire().await?;
            let mut last = -1;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let position: Option<i64> =
                    sqlx::query_scalar("SELECT position FROM checkpoints WHERE name = $1")
                        .bind(&checkpoint)
                        .fetch_optional(&mut *conn)
                        .await?;
                let position = position.unwrap_or(0);
                if position != last {
                    readings.lock().expect("not poisoned").push((Instant::now(), position));
                    last = position;
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            anyhow::Ok(())
        })
    };

    // How many indicator changes wait to be folded into the cubes (the projection settles them beside
    // its batches): sampled every 100 ms, the largest backlog seen.
    let backlog = {
        let (pool, stop) = (pool.clone(), stop.clone());
        tokio::spawn(async move {
            let mut largest = 0i64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let pending: i64 = sqlx::query_scalar(
                    "SELECT (SELECT count(*) FROM rm_indicateurs_departement_pending)
                          + (SELECT count(*) FROM rm_indicateurs_territoire_pending)
                          + (SELECT count(*) FROM rm_indicateurs_organisme_pending)
                          + (SELECT count(*) FROM rm_indicateurs_formation_pending)",
                )
                .fetch_one(&pool)
                .await?;
                largest = largest.max(pending);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            anyhow::Ok(largest)
        })
    };

    let other_pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(4)
        .connect_with(pool.connect_options().as_ref().clone())
        .await?;
    let other = EventStore::start(other_pool, StoreConfig::default()).await?;
    let mut phases = Vec::new();
    for (phase, appender) in [("same process", &store), ("another process", &other)] {
        let (commits, events, elapsed) = steady_appends(appender, &mut requests, rate, seconds).await?;
        phases.push((phase, commits, events, elapsed));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    watcher.await??;
    let largest_backlog = backlog.await??;
    projections.stop().await;

    let readings = readings.lock().expect("not poisoned");
    for (phase, commits, events, elapsed) in phases {
        let mut lags: Vec<f64> = commits
            .iter()
            .filter_map(|(at, position)| {
                let seen = readings.iter().find(|(_, reached)| reached >= position)?;
                Some(seen.0.saturating_duration_since(*at).as_secs_f64() * 1000.0)
            })
            .collect();
        anyhow::ensure!(
            lags.len() == commits.len(),
            "{} appends never became visible",
            commits.len() - lags.len()
        );
        lags.sort_by(f64::total_cmp);
        println!(
            "{phase:>16}: {events} events in {} appends over {elapsed:.1} s ({:.0} events/s); commit → read model \
             lag: p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            commits.len(),
            events as f64 / elapsed,
            percentile(&lags, 50.0),
            percentile(&lags, 90.0),
            percentile(&lags, 99.0),
            lags.last().copied().unwrap_or(f64::NAN),
        );
    }
    println!("pending indicator changes (settled about every second): at most {largest_backlog} rows");
    Ok(())
}

/// Append `rate` events/s for `seconds`, every `TICK`; the commit time and last position of each append.
async fn steady_appends(
    store: &EventStore,
    requests: &mut Vec<AppendRequest>,
    rate: usize,
    seconds: usize,
) -> anyhow::Result<(Vec<(Instant, i64)>, usize, f64)> {
    let per_tick = (rate as f64 * TICK.as_secs_f64()).max(1.0);
    let mut commits: Vec<(Instant, i64)> = Vec::new();
    let mut events = 0usize;
    let started = Instant::now();
    let mut ticker = tokio::time::interval(TICK);
    let mut owed = 0.0;
    while started.elapsed() < Duration::from_secs(seconds as u64) {
        ticker.tick().await;
        owed += per_tick;
        let mut batch = Vec::new();
        while owed >= 1.0 {
            let Some(request) = requests.pop() else { break };
            owed -= request.events.len() as f64;
            events += request.events.len();
            batch.push(request);
        }
        if batch.is_empty() {
            continue;
        }
        for outcome in store.append_many(batch).await {
            let outcome = outcome?;
            commits.push((Instant::now(), *outcome.positions.last().expect("events were appended")));
        }
    }
    Ok((commits, events, started.elapsed().as_secs_f64()))
}
