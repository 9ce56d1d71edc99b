//! The read side over a large log: rebuilding the `dossiers` projection, and querying the indicators.
//!
//! `cargo bench --bench read_models` (private cluster, or the server of `DATABASE_URL`). It fills a
//! scratch database `tba_bench_read_models` with the log of BENCH_DOSSIERS (default 1,000,000)
//! synthetic dossiers from `tba demo`'s generator, decided by the ingestion diff and appended through
//! the store in two passes as ERPs would send them (first every dossier's inscription, then its
//! contracts and what followed), so that a dossier's events are spread over the log. With
//! BENCH_REUSE=1 a log a previous run left for the same number of dossiers is kept (the load takes
//! minutes).
//!
//! Then, in the same run:
//! 1. a set-based SQL pass over the same events inside PostgreSQL (every event's data read, one row
//!    written per stream): the practical limit of reading the log;
//! 2. the build of `tba projections rebuild dossiers`: every dossier folded, its parcours computed, its
//!    row and the indicator cubes written, into a schema of its own, then swapped in;
//!
//! printing events/s of each and their ratio; then
//! 3. BENCH_QUERIES (default 300) indicator queries per shape at random dates of the last three school
//!    years, in-process on one connection: by région (the goal); by région for an age band; by
//!    organisme; by département and by formation nationally (each group named); by formation for one
//!    organisme; by organisme for one formation and an age band (the
//!    shape no cube holds, counted from the dossiers), printing p50/p99 latency of each.

mod support;

use std::time::Instant;

use chrono::{Duration, NaiveDate};
use events::{EventStore, StoreConfig};
use projections::build;
use projections::dossiers::DossiersProjection;
use projections::indicateurs::{self, Dimension, Filtre, Tranche};
use projections::runtime::Projector;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sqlx::PgPool;
use support::{env_usize, percentile};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().with_writer(std::io::stderr).init();
    let dossiers = env_usize("BENCH_DOSSIERS", 1_000_000);
    let queries = env_usize("BENCH_QUERIES", 300);
    let reuse = std::env::var("BENCH_REUSE").is_ok_and(|v| v == "1");
    let today = chrono::Utc::now().date_naive();
    let pool = support::large_log(dossiers, reuse, today).await?;
    let store = EventStore::start(pool.clone(), StoreConfig::default()).await?;
    let head = store.head().await?.position;
    let streams: i64 =
        sqlx::query_scalar("SELECT count(DISTINCT stream_id) FROM events").fetch_one(&pool).await?;
    println!("log: {head} events in {streams} streams ({dossiers} dossiers)");

    let started = Instant::now();
    sqlx::raw_sql(
        "DROP TABLE IF EXISTS bench_sql_pass;
         CREATE TABLE bench_sql_pass AS
         SELECT stream_id, count(*) AS events, max(position) AS position, sum(length(data::text)) AS bytes
         FROM events GROUP BY stream_id",
    )
    .execute(&pool)
    .await?;
    let sql = started.elapsed().as_secs_f64();
    sqlx::raw_sql("DROP TABLE bench_sql_pass").execute(&pool).await?;

    let projector = DossiersProjection::default();
    let schema = "rebuild_dossiers";
    build::create_schema(&pool, &projector, schema).await?;
    let started = Instant::now();
    let built = build::project_until(&store, &projector, schema, None, |_, _| {}).await?;
    let rebuild = started.elapsed().as_secs_f64();
    build::swap(&store, &projector, schema, built).await?;
    let rate = |seconds: f64| head as f64 / seconds;
    println!("set-based SQL pass: {sql:.1} s, {:.0} events/s", rate(sql));
    println!(
        "rebuild (fold, parcours, rows, cubes): {rebuild:.1} s, {:.0} events/s, {:.2} of the SQL pass's rate",
        rate(rebuild),
        sql / rebuild
    );
    for table in projector.tables() {
        let rows: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
            .fetch_one(&pool)
            .await?;
        println!("  {table}: {rows} rows");
    }

    query_latencies(&pool, queries, today).await
}

async fn query_latencies(pool: &PgPool, queries: usize, today: NaiveDate) -> anyhow::Result<()> {
    let mut conn = pool.acquire().await?;
    let (organisme, formation): (String, String) = sqlx::query_as(
        "SELECT uai_formateur || ':' || siret_formateur, formation FROM rm_dossiers ORDER BY dossier_id LIMIT 1",
    )
    .fetch_one(&mut *conn)
    .await?;
    let shapes: Vec<(&str, Dimension, Filtre)> = vec![
        ("by région", Dimension::Region, Filtre::default()),
        (
            "by région, 18-20",
            Dimension::Region,
            Filtre { tranches: vec![Tranche::De18a20], ..Filtre::default() },
        ),
        ("by organisme", Dimension::Organisme, Filtre::default()),
        ("by département, named", Dimension::Departement, Filtre::default()),
        ("by formation, national, named", Dimension::Formation, Filtre::default()),
        (
            "by formation, one organisme",
            Dimension::Formation,
            Filtre { organismes: vec![organisme.clone()], ..Filtre::default() },
        ),
        (
            "by organisme, one formation, -18",
            Dimension::Organisme,
            Filtre { formations: vec![formation], tranches: vec![Tranche::Moins18], ..Filtre::default() },
        ),
    ];
    let mut rng = StdRng::seed_from_u64(42);
    let (first, days) = support::last_three_school_years(today);
    println!("indicator queries, {queries} per shape, random dates from {first} to {today}:");
    for (name, dimension, filtre) in shapes {
        let mut latencies = Vec::with_capacity(queries);
        let mut groups = 0;
        for _ in 0..queries {
            let date = first + Duration::days(rng.random_range(0..=days));
            let started = Instant::now();
            groups += indicateurs::indicateurs(&mut conn, date, dimension, &filtre).await?.len();
            latencies.push(started.elapsed().as_secs_f64() * 1000.0);
        }
        latencies.sort_by(f64::total_cmp);
        println!(
            "  {name:<34} from {:<28} p50 {:>7.2} ms  p99 {:>7.2} ms  ({:.0} groups per answer)",
            indicateurs::plan(dimension, &filtre),
            percentile(&latencies, 50.0),
            percentile(&latencies, 99.0),
            groups as f64 / queries as f64
        );
    }
    Ok(())
}
