//! What the benchmarks share: a fresh scratch database on the private cluster (or `DATABASE_URL`'s
//! server), the large log of the read-side benchmarks, and percentiles.

#![allow(dead_code)]

pub mod http;
pub mod ruptures;

use std::time::{Duration, Instant};

use chrono::NaiveDate;
use events::dossier::Dossier;
use events::{AppendRequest, EventStore, ExpectedVersion, Metadata, StoreConfig};
use sqlx::ConnectOptions;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tba::config::DbConfig;
use tba::ingestion::{diff, organismes, v3};

pub fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Connection options on the benchmark server (the private cluster, or `DATABASE_URL`'s), and the
/// URL of database `name` there for another process.
async fn server(name: &str) -> anyhow::Result<(PgConnectOptions, String)> {
    let url = std::env::var("DATABASE_URL").ok().filter(|u| !u.is_empty());
    let config = DbConfig { url: url.clone(), home: ".tba".into(), keys: Default::default() };
    let options: PgConnectOptions = tba::db::connect_options(&config).await?;
    let server_url = match url {
        Some(url) => {
            let base = url.split('?').next().unwrap_or(&url);
            let cut = base.rfind('/').filter(|&i| i > "postgres://".len()).unwrap_or(base.len());
            format!("{}/{name}", &base[..cut])
        }
        None => tba::db::start_cluster(&config).await?.url(name),
    };
    Ok((options, server_url))
}

/// A fresh, migrated database `name`: a pool on it, and its URL for another process.
pub async fn scratch(name: &str, connections: u32) -> anyhow::Result<(PgPool, String)> {
    let (options, server_url) = server(name).await?;
    let mut admin = options.clone().database("postgres").connect().await?;
    for sql in [format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"), format!("CREATE DATABASE {name}")] {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut admin).await?;
    }
    let pool = PgPoolOptions::new().max_connections(connections).connect_with(options.database(name)).await?;
    tba::db::migrate(&pool).await?;
    Ok((pool, server_url))
}

/// The database `name` a previous run left, migrated, if there is one.
pub async fn existing(name: &str, connections: u32) -> anyhow::Result<Option<PgPool>> {
    let (options, _) = server(name).await?;
    let mut admin = options.clone().database("postgres").connect().await?;
    let found: Option<i32> = sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
        .bind(name)
        .fetch_optional(&mut admin)
        .await?;
    if found.is_none() {
        return Ok(None);
    }
    let pool = PgPoolOptions::new().max_connections(connections).connect_with(options.database(name)).await?;
    tba::db::migrate(&pool).await?;
    Ok(Some(pool))
}

/// The `p`-th percentile (0–100) of sorted values.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// p50, p90, p99 and max of sorted latencies in milliseconds, as the benchmarks print them.
pub fn percentiles(sorted: &[f64]) -> String {
    format!(
        "p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        percentile(sorted, 50.0),
        percentile(sorted, 90.0),
        percentile(sorted, 99.0),
        sorted.last().copied().unwrap_or_default()
    )
}

/// Wait until every projection the server runs (`dossiers`, `ruptures`, `voeux`, `france_travail`) has
/// applied the whole log as it is now; how long each took, in that order.
pub async fn projections_caught_up(pool: &sqlx::PgPool) -> anyhow::Result<Vec<(&'static str, Duration)>> {
    use projections::runtime::{Projector, checkpoint_name};
    fn named<P: Projector>(p: P) -> (&'static str, String) {
        (p.name(), checkpoint_name(p.name(), p.version()))
    }
    let names = [
        named(projections::dossiers::DossiersProjection::default()),
        named(projections::ruptures::RupturesProjection::default()),
        named(projections::voeux::VoeuxProjection::default()),
        named(projections::france_travail::FranceTravailProjection::default()),
    ];
    let started = std::time::Instant::now();
    let head: i64 = sqlx::query_scalar("SELECT position FROM log_head").fetch_one(pool).await?;
    let mut done: Vec<Option<Duration>> = vec![None; names.len()];
    while done.iter().any(Option::is_none) {
        for ((_, checkpoint), done) in names.iter().zip(&mut done) {
            if done.is_none() && self::checkpoint(pool, checkpoint).await? >= head {
                *done = Some(started.elapsed());
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(names.iter().zip(done).map(|((name, _), d)| (*name, d.unwrap_or_default())).collect())
}

/// The projections' catch-up times, for a line of output: `dossiers 1.2 s, ruptures 3.4 s, …`.
pub fn caught_up_text(times: &[(&str, Duration)]) -> String {
    times.iter().map(|(name, d)| format!("{name} {:.1} s", d.as_secs_f64())).collect::<Vec<_>>().join(", ")
}

/// Wait until the server's `dossiers` projection has applied the whole log; how long that took.
pub async fn projection_caught_up(pool: &sqlx::PgPool) -> anyhow::Result<Duration> {
    let started = std::time::Instant::now();
    loop {
        let behind: i64 = sqlx::query_scalar(
            "SELECT h.position - coalesce((SELECT position FROM checkpoints WHERE name = $1), 0) FROM log_head h",
        )
        .bind(dossiers_checkpoint())
        .fetch_one(pool)
        .await?;
        if behind == 0 {
            return Ok(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The secret of a new administrator key, for a benchmark's own requests.
pub async fn admin_key(pool: &PgPool) -> anyhow::Result<String> {
    let spec = tba::auth::keys::KeySpec {
        role: tba::auth::keys::Role::Administrateur,
        organisme: None,
        scope: None,
        label: Some("bench".into()),
    };
    Ok(tba::auth::keys::create(pool, &spec).await?.1)
}

/// The checkpoint name of the `dossiers` projection's current version.
pub fn dossiers_checkpoint() -> String {
    use projections::runtime::{Projector, checkpoint_name};
    let projection = projections::dossiers::DossiersProjection::default();
    checkpoint_name(projection.name(), projection.version())
}

/// The database of the large log the read-side benchmarks share.
pub const LARGE_LOG_DB: &str = "tba_bench_read_models";
/// The URL of the large log's database, for another process.
pub async fn large_log_url() -> anyhow::Result<String> {
    Ok(server(LARGE_LOG_DB).await?.1)
}

/// The database of the large log with its personal data sealed, as a service writes it.
pub const SEALED_LOG_DB: &str = "tba_bench_sealed_log";
/// The URL of the sealed large log's database, for another process.
pub async fn sealed_log_url() -> anyhow::Result<String> {
    Ok(server(SEALED_LOG_DB).await?.1)
}

/// The master key of the sealed large log, given to the `tba serve` a benchmark starts.
pub const MASTER_KEY: &str = "6265e8c3a1f04d2b9e7a55c0d3f18b2e4a9c6d7e0f1b2c3d4e5f60718293a4b5";

/// The vault of the sealed large log.
pub fn vault() -> events::personal::Vault {
    let key = events::personal::MasterKey::parse_hex(MASTER_KEY).expect("the benchmarks' master key is hex");
    events::personal::Vault::new(key, Vec::new())
}

/// Dossiers decided and appended at a time while loading.
const CHUNK: usize = 20_000;

/// The log of `dossiers` demo dossiers: the one a previous run left when `reuse` and it has that many,
/// else a new one; personal data in clear.
pub async fn large_log(dossiers: usize, reuse: bool, today: NaiveDate) -> anyhow::Result<PgPool> {
    large_log_in(LARGE_LOG_DB, None, (dossiers, reuse, today)).await
}

/// The same log with its personal data sealed (`vault`), in a database of its own.
pub async fn sealed_large_log(dossiers: usize, reuse: bool, today: NaiveDate) -> anyhow::Result<PgPool> {
    large_log_in(SEALED_LOG_DB, Some(vault()), (dossiers, reuse, today)).await
}

async fn large_log_in(
    db: &str,
    vault: Option<events::personal::Vault>,
    (dossiers, reuse, today): (usize, bool, NaiveDate),
) -> anyhow::Result<PgPool> {
    if reuse && let Some(pool) = existing(db, 4).await? {
        // The dossiers this function loaded (their first event has no actor), not those a benchmark
        // added since under its own name.
        let found: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM events WHERE category = 'dossier' AND version = 1
               AND coalesce(metadata->'actor'->>'principal', '') = ''",
        )
        .fetch_one(&pool)
        .await?;
        if found == dossiers as i64 {
            return Ok(pool);
        }
    }
    let (pool, _) = scratch(db, 4).await?;
    let started = Instant::now();
    let demo = tba::demo::generate(dossiers, 7, today);
    let referential = organismes::parse_csv(demo.organismes_csv().as_bytes())
        .map_err(|errors| anyhow::anyhow!("demo organismes refused: {}", errors[0]))?;
    organismes::import(&pool, referential, Metadata::default()).await?;
    let store = EventStore::start(pool.clone(), StoreConfig { vault, ..StoreConfig::default() }).await?;
    // First every inscription, then the rest: what a dossier's events are split into.
    for first_pass in [true, false] {
        for chunk in demo.dossiers.chunks(CHUNK) {
            let requests: Vec<AppendRequest> = chunk
                .iter()
                .filter_map(|(_, item)| {
                    let (stream, mut events) = demo_events(item, today)?;
                    if first_pass {
                        events.truncate(1);
                        Some(AppendRequest::new(stream, ExpectedVersion::NoStream, events))
                    } else {
                        events.remove(0);
                        (!events.is_empty())
                            .then(|| AppendRequest::new(stream, ExpectedVersion::Exact(1), events))
                    }
                })
                .collect();
            for outcome in store.append_many(requests).await {
                outcome?;
            }
        }
    }
    store.flush().await?;
    println!("loaded {dossiers} dossiers in {:.0} s", started.elapsed().as_secs_f64());
    Ok(pool)
}

/// A demo dossier's events as the ingestion decides them for a new dossier, with its stream; `None`
/// when the generator's item does not parse.
pub fn demo_events(item: &serde_json::Value, today: NaiveDate) -> Option<(String, Vec<events::NewEvent>)> {
    let snapshot = v3::parse(item).ok()?;
    let events = diff::decide(&Dossier::default(), &snapshot, "bench")
        .iter()
        .map(|e| e.to_new_event(e.occurred_on(today), Metadata::default()))
        .collect();
    Some((snapshot.key.stream_id(), events))
}

/// The new dossier's whole stream, as one append.
pub fn demo_request(item: &serde_json::Value, today: NaiveDate) -> Option<AppendRequest> {
    let (stream, events) = demo_events(item, today)?;
    Some(AppendRequest::new(stream, ExpectedVersion::NoStream, events))
}

/// The days indicator benchmarks ask about: from 1 August two school years before today's to today.
pub fn last_three_school_years(today: NaiveDate) -> (NaiveDate, i64) {
    use chrono::Datelike;
    let school_year = if today.month() >= 8 { today.year() } else { today.year() - 1 };
    let first = NaiveDate::from_ymd_opt(school_year - 2, 8, 1).expect("1 August");
    (first, (today - first).num_days())
}

/// The position of the checkpoint `name` (0 when there is none).
async fn checkpoint(pool: &PgPool, name: &str) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar("SELECT coalesce(max(position), 0) FROM checkpoints WHERE name = $1")
        .bind(name)
        .fetch_one(pool)
        .await?)
}

/// Bring `projector`'s live read model up to the head of the log: run it as `tba serve` does from its
/// checkpoint when it has one (a few events appended by an earlier program cost seconds, not a
/// rebuild), else build it (`built`). How long the build took, when it built one.
pub async fn caught_up<P: projections::runtime::Projector>(
    store: &EventStore,
    projector: P,
) -> anyhow::Result<Option<std::time::Duration>> {
    use projections::runtime::checkpoint_name;
    let head = store.head().await?.position;
    let name = checkpoint_name(projector.name(), projector.version());
    let position = checkpoint(store.pool(), &name).await?;
    if position == 0 {
        return Ok(Some(built(store, &projector).await?));
    }
    if position >= head {
        return Ok(None);
    }
    println!("catching up {} ({position} of {head} events projected)", projector.name());
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let runner = tokio::spawn(projections::runtime::run(
        store.clone(),
        projector,
        Some(std::time::Duration::from_millis(500)),
        stopped,
    ));
    loop {
        let now = checkpoint(store.pool(), &name).await?;
        if now >= head {
            break;
        }
        anyhow::ensure!(!runner.is_finished(), "the {name} projection stopped at {now} of {head}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    stop.send(true)?;
    runner.await?;
    Ok(None)
}

/// Bring `projector`'s live read model up to the head of the log, by a rebuild when it is behind;
/// returns how long that took (zero when it was up to date).
pub async fn built<P: projections::runtime::Projector>(
    store: &EventStore,
    projector: &P,
) -> anyhow::Result<std::time::Duration> {
    use projections::runtime::checkpoint_name;
    let head = store.head().await?.position;
    let name = checkpoint_name(projector.name(), projector.version());
    let position = checkpoint(store.pool(), &name).await?;
    if position >= head {
        return Ok(std::time::Duration::ZERO);
    }
    println!("building {} ({position} of {head} events projected)", projector.name());
    let started = Instant::now();
    let schema = format!("rebuild_{}", projector.name());
    projections::build::create_schema(store.pool(), projector, &schema).await?;
    let built = projections::build::project_until(store, projector, &schema, None, |_, _| {}).await?;
    projections::build::swap(store, projector, &schema, built).await?;
    Ok(started.elapsed())
}
