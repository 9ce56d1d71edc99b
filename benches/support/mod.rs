//! What the benchmarks share: a fresh scratch database on the private cluster (or `DATABASE_URL`'s
//! server), and percentiles.

#![allow(dead_code)]

use sqlx::ConnectOptions;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tba::config::DbConfig;

pub fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Connection options on the benchmark server (the private cluster, or `DATABASE_URL`'s), and the
/// URL of database `name` there for another process.
async fn server(name: &str) -> anyhow::Result<(PgConnectOptions, String)> {
    let url = std::env::var("DATABASE_URL").ok().filter(|u| !u.is_empty());
    let config = DbConfig { url: url.clone(), home: ".tba".into() };
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

/// The checkpoint name of the `dossiers` projection's current version.
pub fn dossiers_checkpoint() -> String {
    use projections::runtime::{Projector, checkpoint_name};
    let projection = projections::dossiers::DossiersProjection::default();
    checkpoint_name(projection.name(), projection.version())
}
