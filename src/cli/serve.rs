//! `tba serve`: migrate, start the store, serve HTTP until SIGTERM/SIGINT.

use std::net::SocketAddr;
use std::process::ExitCode;

use events::EventStore;
use sqlx::PgPool;
use tokio::task::JoinHandle;

use crate::app::AppState;
use crate::config::{DEFAULT_LISTEN, DbConfig};
use crate::http::{self, HttpLimits};

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// HTTP listen address.
    #[arg(long, env = "TBA_LISTEN", default_value = DEFAULT_LISTEN)]
    pub listen: SocketAddr,
    /// Connections in the database pool.
    #[arg(long, env = "TBA_DB_CONNECTIONS", default_value_t = 16)]
    pub db_connections: u32,
    /// Years personal data is kept after the end of a person's last formation (erased daily after).
    #[arg(long, env = "TBA_RETENTION_ANS", default_value_t = crate::app::personnes::RETENTION_ANS,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub retention_ans: u32,
    /// Events after which an instantané of the indicators' history is taken ("as known at" queries add
    /// to the nearest instantané the history since); one is also taken daily.
    #[arg(long, env = "TBA_INSTANTANE_EVENEMENTS", default_value_t = 100_000)]
    pub instantane_evenements: i64,
    #[command(flatten)]
    pub limits: HttpLimits,
    #[command(flatten)]
    pub recaps: super::recapitulatifs::RecapsArgs,
}

/// The service, serving in the background until SIGTERM/SIGINT, with its projections.
pub struct Running {
    pub pool: PgPool,
    pub address: SocketAddr,
    server: JoinHandle<std::io::Result<()>>,
    projections: crate::read_models::Projections,
}

impl Running {
    /// Wait until the service has stopped (in-flight requests and appends finished, then the
    /// projections at the end of their current batch).
    pub async fn wait(self) -> anyhow::Result<()> {
        let served = self.server.await;
        self.projections.stop().await;
        served??;
        self.pool.close().await;
        Ok(())
    }
}

pub async fn start(db: &DbConfig, args: &ServeArgs) -> anyhow::Result<Running> {
    let smtp = args.recaps.smtp()?;
    let pool = crate::db::pool(db, args.db_connections).await?;
    crate::db::migrate(&pool).await?;
    let vault = db.vault()?;
    let config = events::StoreConfig { vault: Some(vault.clone()), ..events::StoreConfig::default() };
    let store = EventStore::start(pool.clone(), config).await?;
    let projections = crate::read_models::Projections::start(&store);
    tokio::spawn(crate::app::recapitulatifs::every_ten_minutes(
        pool.clone(),
        store.clone(),
        smtp.clone(),
        args.recaps.recaps_heure,
    ));
    let state = AppState::new(pool.clone(), store, args.limits.gate()).with_smtp(smtp);
    tokio::spawn(crate::ingestion::journal::purge_every_hour(pool.clone()));
    tokio::spawn(crate::app::personnes::retention_every_day(pool.clone(), vault, args.retention_ans));
    tokio::spawn(instantanes_every_ten_minutes(pool.clone(), args.instantane_evenements));
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    let address = listener.local_addr()?;
    tracing::info!(%address, "listening");
    let limits = args.limits.clone();
    let server =
        tokio::spawn(async move { http::serve(listener, state, &limits, http::shutdown_signal()).await });
    Ok(Running { pool, address, server, projections })
}

pub async fn run(db: &DbConfig, args: ServeArgs) -> anyhow::Result<ExitCode> {
    start(db, &args).await?.wait().await?;
    Ok(ExitCode::SUCCESS)
}

/// Take an instantané of the indicators' history when enough has happened since the last one.
async fn instantanes_every_ten_minutes(pool: PgPool, every: i64) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(600));
    loop {
        tick.tick().await;
        if pool.is_closed() {
            return;
        }
        if let Err(error) = projections::indicateurs::connu::prendre_si_du(&pool, every.max(1)).await {
            tracing::warn!(%error, "could not take an instantané of the indicators' history");
        }
    }
}
