//! `tba projections status`: where each projection stands against the head of the log.

use std::process::ExitCode;

use clap::Subcommand;

use crate::config::DbConfig;

#[derive(Debug, Subcommand)]
pub enum ProjectionsCommand {
    /// Checkpoint, log head and lag (events and seconds) of each projection.
    Status,
}

pub async fn run(db: &DbConfig, command: ProjectionsCommand) -> anyhow::Result<ExitCode> {
    let ProjectionsCommand::Status = command;
    let pool = crate::db::pool(db, 2).await?;
    crate::db::migrate(&pool).await?;
    println!(
        "{:<12} {:>7} {:>12} {:>12} {:>12} {:>10}",
        "projection", "version", "position", "head", "lag events", "lag s"
    );
    for s in crate::projections::status(&pool).await? {
        println!(
            "{:<12} {:>7} {:>12} {:>12} {:>12} {:>10.1}",
            s.name, s.version, s.position, s.head, s.lag_events, s.lag_seconds
        );
    }
    Ok(ExitCode::SUCCESS)
}
