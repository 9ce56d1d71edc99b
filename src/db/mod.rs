//! The database: `DATABASE_URL` when it is set, else the private cluster under `TBA_HOME`, and the
//! migrations that bring either up to date.

pub mod cluster;

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, PgPool};

use crate::config::DbConfig;
use cluster::Cluster;

/// The database the service uses in the private cluster.
pub const DATABASE: &str = "tba";

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error(transparent)]
    Cluster(#[from] cluster::ClusterError),
    #[error("DATABASE_URL is not a valid PostgreSQL URL: {0}")]
    BadUrl(sqlx::Error),
    #[error("cannot reach PostgreSQL: {0}")]
    Connect(sqlx::Error),
    #[error("migrations failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// Connection options for the configured database, starting the private cluster (and creating its
/// database) when no URL is given.
pub async fn connect_options(config: &DbConfig) -> Result<PgConnectOptions, DbError> {
    let options = match &config.url {
        Some(url) => PgConnectOptions::from_str(url).map_err(DbError::BadUrl)?,
        None => {
            let cluster = start_cluster(config).await?;
            ensure_database(&cluster.connect_options("postgres"), DATABASE).await?;
            cluster.connect_options(DATABASE)
        }
    };
    Ok(options.log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_secs(2)))
}

/// Locate and start the private cluster (idempotent).
pub async fn start_cluster(config: &DbConfig) -> Result<Cluster, DbError> {
    let home = config.home.clone();
    let cluster = tokio::task::spawn_blocking(move || {
        let cluster = Cluster::locate(&home)?;
        cluster.start()?;
        Ok::<_, cluster::ClusterError>(cluster)
    })
    .await
    .expect("the cluster start task does not panic")?;
    Ok(cluster)
}

/// A pool on the configured database.
///
/// A connection keeps the buffers its largest statement needed (a 2,000-dossier append, a batch of
/// cube changes: megabytes each); back in the pool it gives back what exceeds the default, so that
/// the pool's memory does not grow to its largest statement times its connections.
pub async fn pool(config: &DbConfig, max_connections: u32) -> Result<PgPool, DbError> {
    let options = connect_options(config).await?;
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(10))
        .after_release(|conn, _| {
            Box::pin(async move {
                sqlx::Connection::shrink_buffers(conn);
                Ok(true)
            })
        })
        .connect_with(options)
        .await
        .map_err(DbError::Connect)
}

/// Bring the schema up to date. Idempotent; concurrent runs are serialised by sqlx's migration lock.
pub async fn migrate(pool: &PgPool) -> Result<(), DbError> {
    events::MIGRATOR.run(pool).await?;
    Ok(())
}

/// Whether every embedded migration has been applied.
pub async fn migrations_applied(pool: &PgPool) -> Result<bool, sqlx::Error> {
    let latest = events::MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0);
    let applied: Option<i64> =
        sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations WHERE success").fetch_one(pool).await?;
    Ok(applied.unwrap_or(0) >= latest)
}

/// Create `name` on the server if it does not exist yet (concurrent creators are harmless).
pub async fn ensure_database(admin: &PgConnectOptions, name: &str) -> Result<(), DbError> {
    let mut conn = admin.connect().await.map_err(DbError::Connect)?;
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
        .bind(name)
        .fetch_one(&mut conn)
        .await
        .map_err(DbError::Connect)?;
    if !exists {
        let sql = format!("CREATE DATABASE {}", quote_ident(name));
        match sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await {
            Ok(_) => {}
            // 42P04: created meanwhile by another process.
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P04") => {}
            Err(e) => return Err(DbError::Connect(e)),
        }
    }
    Ok(())
}

/// Quote an SQL identifier.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
