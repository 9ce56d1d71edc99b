//! `tba missions-locales import FILE.csv`: load the Missions Locales and their territories.

use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;

use super::referential::{operator, refused};
use crate::config::DbConfig;
use crate::ingestion::missions_locales::{MissionsLocalesImportError, import, parse_csv};

#[derive(Debug, Subcommand)]
pub enum MissionsLocalesCommand {
    /// Import a CSV with the columns ml_id,nom,siret,email,telephone,communes (communes: space-separated
    /// INSEE codes of current communes, each in one territory only). Nothing is written unless every row
    /// is valid; an unchanged Mission Locale writes nothing.
    Import { file: std::path::PathBuf },
}

pub async fn run(db: &DbConfig, command: MissionsLocalesCommand) -> anyhow::Result<ExitCode> {
    let MissionsLocalesCommand::Import { file } = command;
    let input = std::fs::File::open(&file).with_context(|| format!("cannot open {}", file.display()))?;
    let missions = match parse_csv(input) {
        Ok(missions) => missions,
        Err(errors) => return Ok(refused(&file, &errors)),
    };
    let pool = crate::db::pool(db, 2).await?;
    crate::db::migrate(&pool).await?;
    match import(&pool, missions, operator()).await {
        Ok(report) => {
            println!(
                "{} missions locales read: {} created, {} changed, {} unchanged",
                report.read, report.created, report.changed, report.unchanged
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(MissionsLocalesImportError::Invalid(errors)) => Ok(refused(&file, &errors)),
        Err(error) => Err(error.into()),
    }
}
