//! DECA: an extract's import, the `dossiers` projection reading its contracts, and an organisme's first
//! transmission (the switch that takes its DECA dossiers out), side by side with an ordinary dossier.
//!
//! `cargo bench --bench deca` (private cluster, or the server of `DATABASE_URL`). In a scratch database
//! `tba_bench_deca` holding the demo's referential, with the projections running as `tba serve` runs
//! them (personal data sealed), it:
//! 1. imports an extract of the contracts of BENCH_DOSSIERS demo learners (default 100,000; every
//!    organisme silent), and measures the import and the projection's catch-up on its events;
//! 2. imports the same extract again (nothing to write);
//! 3. for BENCH_SWITCHES organismes (default 50), appends one ERP dossier of the organisme (its first
//!    transmission: its DECA dossiers leave the indicators), then a second one (an ordinary dossier,
//!    the baseline), each time measuring from the append's commit to the projection's checkpoint at or
//!    beyond it (the read model answers with it);
//! 4. counts the indicators by source, from the cube and from the dossiers.

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use events::personal::{MasterKey, Vault};
use events::{EventStore, Metadata, StoreConfig};
use projections::indicateurs::{self, Dimension, Filtre};
use support::{env_usize, percentiles, scratch};

const BENCH_DB: &str = "tba_bench_deca";

/// From the append's commit to the `dossiers` checkpoint at or beyond `position`.
async fn visible(
    pool: &sqlx::PgPool,
    checkpoint: &str,
    position: i64,
    since: Instant,
) -> anyhow::Result<f64> {
    loop {
        let at: Option<i64> = sqlx::query_scalar("SELECT position FROM checkpoints WHERE name = $1")
            .bind(checkpoint)
            .fetch_optional(pool)
            .await?;
        if at.unwrap_or(0) >= position {
            return Ok(since.elapsed().as_secs_f64() * 1000.0);
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // The server's slow statements, if any, on stderr.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let dossiers = env_usize("BENCH_DOSSIERS", 100_000);
    let switches = env_usize("BENCH_SWITCHES", 50);
    let today = chrono::Utc::now().date_naive();
    let (pool, _) = scratch(BENCH_DB, 8).await?;
    let mut demo = tba::demo::generate(dossiers, 17, today);
    let referential = tba::ingestion::organismes::parse_csv(demo.organismes_csv().as_bytes())
        .map_err(|errors| anyhow::anyhow!("demo organismes refused: {}", errors[0]))?;
    tba::ingestion::organismes::import(&pool, referential, Metadata::default()).await?;
    let vault = Vault::new(MasterKey::generate().map_err(|e| anyhow::anyhow!(e))?, Vec::new());
    let store =
        EventStore::start(pool.clone(), StoreConfig { vault: Some(vault.clone()), ..StoreConfig::default() })
            .await?;
    let projections = tba::read_models::Projections::start(&store);
    let checkpoint = support::dossiers_checkpoint();
    support::projection_caught_up(&pool).await?;

    // 1. Every learner under contract as a DECA contract (each organisme silent so far).
    demo.deca = demo.dossiers.iter().map(|(_, item)| item.clone()).collect();
    let csv = demo.deca_csv();
    let started = Instant::now();
    let lignes = tba::ingestion::deca::parse_csv(csv.as_bytes())
        .map_err(|errors| anyhow::anyhow!("the extract is refused: {}", errors[0]))?;
    let contrats = lignes.len();
    let parsed = started.elapsed();
    let report = tba::ingestion::deca::import(&pool, Some(&vault), lignes, Metadata::default()).await?;
    let imported = started.elapsed();
    let caught_up = support::projection_caught_up(&pool).await?;
    let rows: i64 =
        sqlx::query_scalar("SELECT count(*) FROM rm_dossiers WHERE source = 'DECA'").fetch_one(&pool).await?;
    println!(
        "import of {contrats} contracts: parsed in {:.2} s, recorded in {:.2} s ({:.0} contracts/s; {} created); \
         projected {:.2} s later ({rows} DECA dossiers, {:.0} contracts/s)",
        parsed.as_secs_f64(),
        imported.as_secs_f64(),
        contrats as f64 / imported.as_secs_f64(),
        report.created,
        caught_up.as_secs_f64(),
        contrats as f64 / caught_up.as_secs_f64().max(1e-3),
    );

    // 2. The same extract again.
    let started = Instant::now();
    let lignes = tba::ingestion::deca::parse_csv(csv.as_bytes())
        .map_err(|errors| anyhow::anyhow!("the extract is refused: {}", errors[0]))?;
    let report = tba::ingestion::deca::import(&pool, Some(&vault), lignes, Metadata::default()).await?;
    println!(
        "the same extract again: {:.2} s ({} unchanged, {} written)",
        started.elapsed().as_secs_f64(),
        report.unchanged,
        report.created + report.changed + report.withdrawn
    );

    // The import's indicator changes folded into the cubes (the projection settles them beside its
    // batches), so that what follows is measured on a settled read model.
    let started = Instant::now();
    loop {
        let pending: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT {}",
            projections::indicateurs::cubes::CUBES
                .iter()
                .map(|c| format!("(SELECT count(*) FROM {})", c.pending))
                .collect::<Vec<_>>()
                .join(" + ")
        )))
        .fetch_one(&pool)
        .await?;
        if pending == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "the import's indicator changes settled into the cubes {:.1} s later",
        started.elapsed().as_secs_f64()
    );

    // 3. First transmissions, and ordinary dossiers of the same organismes.
    let mut by_organisme: BTreeMap<String, Vec<&serde_json::Value>> = BTreeMap::new();
    for (_, item) in &demo.dossiers {
        let uai = item["etablissement_formateur_uai"].as_str().unwrap_or_default().to_owned();
        by_organisme.entry(uai).or_default().push(item);
    }
    let mut organismes: Vec<(&String, &Vec<&serde_json::Value>)> =
        by_organisme.iter().filter(|(_, items)| items.len() >= 2).collect();
    organismes.sort_by_key(|(_, items)| std::cmp::Reverse(items.len()));
    let (mut first, mut ordinary, mut taken_out) = (Vec::new(), Vec::new(), Vec::new());
    for (uai, items) in organismes.into_iter().take(switches) {
        let before: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM rm_dossiers WHERE source = 'DECA' AND uai_formateur = $1",
        )
        .bind(uai)
        .fetch_one(&pool)
        .await?;
        for (k, item) in items.iter().take(2).enumerate() {
            let Some(request) = support::demo_request(item, today) else { continue };
            let started = Instant::now();
            let outcome = store.append_many(vec![request]).await.pop().expect("one outcome")?;
            let position = outcome.positions.last().copied().unwrap_or_default();
            let lag = visible(&pool, &checkpoint, position, started).await?;
            if k == 0 { first.push(lag) } else { ordinary.push(lag) }
        }
        taken_out.push(before as f64);
    }
    first.sort_by(f64::total_cmp);
    ordinary.sort_by(f64::total_cmp);
    taken_out.sort_by(f64::total_cmp);
    println!(
        "first transmission → its DECA dossiers out ({} organismes, {:.0} to {:.0} DECA dossiers each): {}",
        first.len(),
        taken_out.first().copied().unwrap_or_default(),
        taken_out.last().copied().unwrap_or_default(),
        percentiles(&first)
    );
    println!(
        "baseline, an ordinary dossier of the same organisme ({}): {}",
        ordinary.len(),
        percentiles(&ordinary)
    );

    // 4. The indicators by source: from the cube, and counted from the dossiers.
    let mut conn = pool.acquire().await?;
    for (label, filtre) in [("by source (cube)", Filtre::default())] {
        let started = Instant::now();
        let groupes = indicateurs::indicateurs(&mut conn, today, Dimension::Source, &filtre).await?;
        let cube = started.elapsed();
        let started = Instant::now();
        let counted =
            indicateurs::query::counting_dossiers(&mut conn, today, Dimension::Source, &filtre).await?;
        let dossiers = started.elapsed();
        assert_eq!(groupes, counted, "the cube and the dossiers agree");
        let figures: Vec<String> = groupes.iter().map(|g| format!("{} {}", g.cle, g.apprenants)).collect();
        println!(
            "indicators {label}: {:.1} ms; counted from the dossiers: {:.1} ms ({})",
            cube.as_secs_f64() * 1000.0,
            dossiers.as_secs_f64() * 1000.0,
            figures.join(", ")
        );
    }
    drop(conn);
    projections.stop().await;
    Ok(())
}
