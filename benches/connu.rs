//! The indicators "as known at" over a large log (issue 8): `indicateurs(groupBy: REGION, date,
//! connuAu)` answered from the nearest instantané of the département cube's history plus the history
//! since, side by side with the live query and with the full replay it replaces.
//!
//! `cargo bench --bench connu` (private cluster, or the server of `DATABASE_URL`). It takes the large
//! log of `read_models` (BENCH_DOSSIERS, default 1,000,000 dossiers; kept with BENCH_REUSE=1), then:
//! 1. brings the `dossiers` projection up to the head by the rebuild `tba projections rebuild` runs
//!    (history included): that is also what one full `tba replay` costs;
//! 2. takes BENCH_SNAPSHOTS (default 10) instantanés of the history at evenly spaced positions, each
//!    from the previous one, as `tba serve` would have taken them along the way;
//! 3. asks BENCH_QUERIES (default 300) questions by région at random dates of the last three school
//!    years and random knowledge times over the whole log, and as many of the live query, printing
//!    p50/p99 of each;
//! 4. beyond the territories, from the dossiers' versions: BENCH_QUERIES_FINES (default 40) questions
//!    by organisme at random dates and knowledge times, beside the live query; then, for knowledge
//!    times 1 %, 10 %, 25 %, 50 % and 100 % of the log back, 3 questions each way the versions answer
//!    (the live read model corrected by the versions since, or the versions valid then alone), printing
//!    the median of each.

mod support;

use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use events::{EventStore, StoreConfig};
use projections::dossiers::DossiersProjection;
use projections::indicateurs::versions::{self, Chemin};
use projections::indicateurs::{self, Dimension, Filtre, connu};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use support::{env_usize, percentile};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().with_writer(std::io::stderr).init();
    let dossiers = env_usize("BENCH_DOSSIERS", 1_000_000);
    let queries = env_usize("BENCH_QUERIES", 300);
    let instantanes = env_usize("BENCH_SNAPSHOTS", 10).max(1) as i64;
    let reuse = std::env::var("BENCH_REUSE").is_ok_and(|v| v == "1");
    let today = Utc::now().date_naive();
    let pool = support::large_log(dossiers, reuse, today).await?;
    let store = EventStore::start(pool.clone(), StoreConfig::default()).await?;
    let head = store.head().await?.position;
    println!("log: {head} events ({dossiers} dossiers)");

    let rebuild = support::built(&store, &DossiersProjection::default()).await?;
    let (rows, size): (i64, String) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM rm_indicateurs_historique),
                pg_size_pretty(pg_total_relation_size('rm_indicateurs_historique'))",
    )
    .fetch_one(&pool)
    .await?;
    println!(
        "rebuild (= one full replay): {:.1} s; history: {rows} rows, {size} ({:.1} rows per event)",
        rebuild.as_secs_f64(),
        rows as f64 / head as f64
    );

    let mut took = Vec::new();
    for k in 1..=instantanes {
        let position = head * k / instantanes;
        let started = Instant::now();
        connu::prendre(&pool, position).await?;
        took.push(started.elapsed().as_secs_f64());
    }
    let (cube_rows, cube_size): (i64, String) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT count(*), pg_size_pretty(pg_total_relation_size('connu_{head}.rm_indicateurs_departement'))
         FROM connu_{head}.rm_indicateurs_departement"
    )))
    .fetch_one(&pool)
    .await?;
    println!(
        "{instantanes} instantanés, one every {} events: {:.1} s each on average ({cube_rows} rows, {cube_size} each)",
        head / instantanes,
        took.iter().sum::<f64>() / took.len() as f64
    );

    let (first, last): (DateTime<Utc>, DateTime<Utc>) =
        sqlx::query_as("SELECT min(recorded_at), max(recorded_at) FROM events").fetch_one(&pool).await?;
    let span = (last - first).num_microseconds().unwrap_or(1).max(1);
    let (start, days) = support::last_three_school_years(today);
    let mut rng = StdRng::seed_from_u64(8);
    let filtre = Filtre::default();
    let mut questions = Questions { pool: &pool, first, span, start, days, rng: &mut rng };
    questions.side_by_side(Dimension::Region, queries).await?;

    // Beyond the territories: by organisme, from the dossiers' versions.
    let (rows, size): (i64, String) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM rm_dossiers_versions),
                pg_size_pretty(pg_total_relation_size('rm_dossiers_versions'))",
    )
    .fetch_one(&pool)
    .await?;
    println!("dossiers' versions: {rows} rows, {size} ({:.2} per event)", rows as f64 / head as f64);
    questions.side_by_side(Dimension::Organisme, env_usize("BENCH_QUERIES_FINES", 40)).await?;
    for back in [0.01, 0.1, 0.25, 0.5, 1.0] {
        let position = head - (head as f64 * back) as i64;
        let mut tx = pool.begin().await?;
        let chosen = versions::chemin(&mut tx, position).await?;
        tx.rollback().await?;
        let mut line =
            format!("by organisme, known {:>3} % of the log back (chosen: {chosen:?}):", back * 100.0);
        for chemin in [Chemin::Correction, Chemin::Versions] {
            let mut samples = Vec::new();
            for _ in 0..3 {
                let date = start + Duration::days(questions.rng.random_range(0..=days));
                let mut tx = pool.begin().await?;
                let started = Instant::now();
                let groupes =
                    versions::par(&mut tx, chemin, position, date, Dimension::Organisme, &filtre).await?;
                samples.push(started.elapsed().as_secs_f64() * 1000.0);
                std::hint::black_box(groupes);
                tx.rollback().await?;
            }
            samples.sort_by(f64::total_cmp);
            line.push_str(&format!(" {chemin:?} {:.0} ms", percentile(&samples, 50.0)));
        }
        println!("{line}");
    }
    Ok(())
}

/// Questions at random dates of the last three school years and random knowledge times over the log.
struct Questions<'a> {
    pool: &'a sqlx::PgPool,
    first: DateTime<Utc>,
    span: i64,
    start: chrono::NaiveDate,
    days: i64,
    rng: &'a mut StdRng,
}

impl Questions<'_> {
    /// `n` questions grouped by `dimension`, each as known at a random instant and live, with the p50
    /// and p99 of each.
    async fn side_by_side(&mut self, dimension: Dimension, n: usize) -> anyhow::Result<()> {
        let filtre = Filtre::default();
        let (mut known, mut live) = (Vec::with_capacity(n), Vec::with_capacity(n));
        let mut conn = self.pool.acquire().await?;
        for _ in 0..n {
            let date = self.start + Duration::days(self.rng.random_range(0..=self.days));
            let instant = self.first + Duration::microseconds(self.rng.random_range(0..=self.span));
            let started = Instant::now();
            let (_, groupes) = connu::indicateurs(self.pool, instant, date, dimension, &filtre).await?;
            known.push(started.elapsed().as_secs_f64() * 1000.0);
            std::hint::black_box(groupes);
            let started = Instant::now();
            let groupes = indicateurs::indicateurs(&mut conn, date, dimension, &filtre).await?;
            live.push(started.elapsed().as_secs_f64() * 1000.0);
            std::hint::black_box(groupes);
        }
        for (name, samples) in [("as known at (connuAu)", &mut known), ("live (no connuAu)", &mut live)] {
            samples.sort_by(f64::total_cmp);
            println!(
                "by {}, {name}: p50 {:.1} ms, p99 {:.1} ms ({n} questions)",
                dimension.as_str(),
                percentile(samples, 50.0),
                percentile(samples, 99.0)
            );
        }
        Ok(())
    }
}
