//! `tba organismes import FILE.csv`: load the organismes referential.

use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;

use super::referential::{operator, refused};
use crate::config::DbConfig;
use crate::ingestion::organismes::{import, parse_csv};

#[derive(Debug, Subcommand)]
pub enum OrganismesCommand {
    /// Import a CSV with the columns uai,siret,nom,code_commune_insee,code_postal,departement,nature.
    /// Nothing is written unless every row is valid; an unchanged organisme writes nothing.
    Import { file: std::path::PathBuf },
}

pub async fn run(db: &DbConfig, command: OrganismesCommand) -> anyhow::Result<ExitCode> {
    let OrganismesCommand::Import { file } = command;
    let input = std::fs::File::open(&file).with_context(|| format!("cannot open {}", file.display()))?;
    let organismes = match parse_csv(input) {
        Ok(organismes) => organismes,
        Err(errors) => return Ok(refused(&file, &errors)),
    };
    let pool = crate::db::pool(db, 2).await?;
    crate::db::migrate(&pool).await?;
    let report = import(&pool, organismes, operator()).await?;
    println!(
        "{} organismes read: {} created, {} changed, {} unchanged",
        report.read, report.created, report.changed, report.unchanged
    );
    Ok(ExitCode::SUCCESS)
}
