//! `tba serve`: migrate, start the store, serve HTTP until SIGTERM/SIGINT.

use std::net::SocketAddr;
use std::process::ExitCode;

use events::{EventStore, StoreConfig};

use crate::config::{DEFAULT_LISTEN, DbConfig};
use crate::http::{self, AppState, HttpLimits};

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// HTTP listen address.
    #[arg(long, env = "TBA_LISTEN", default_value = DEFAULT_LISTEN)]
    pub listen: SocketAddr,
    /// Connections in the database pool.
    #[arg(long, env = "TBA_DB_CONNECTIONS", default_value_t = 16)]
    pub db_connections: u32,
    #[command(flatten)]
    pub limits: HttpLimits,
}

pub async fn run(db: &DbConfig, args: ServeArgs) -> anyhow::Result<ExitCode> {
    let pool = crate::db::pool(db, args.db_connections).await?;
    crate::db::migrate(&pool).await?;
    let store = EventStore::start(pool.clone(), StoreConfig::default()).await?;
    let state = AppState::new(pool.clone(), store, &args.limits);
    tokio::spawn(crate::ingestion::journal::purge_every_hour(pool.clone()));
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    tracing::info!(address = %listener.local_addr()?, "listening");
    http::serve(listener, state, &args.limits, http::shutdown_signal()).await?;
    pool.close().await;
    Ok(ExitCode::SUCCESS)
}
