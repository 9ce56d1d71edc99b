//! `tba deca import FILE.csv`: record an extract of DECA, the national base of apprenticeship contracts
//! (domain.md §13; the format is defined in `ingestion::deca`).

use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;

use super::referential::{operator, refused};
use crate::config::DbConfig;
use crate::ingestion::deca::{import, parse_csv};

#[derive(Debug, Subcommand)]
pub enum DecaCommand {
    /// Import a whole extract (the columns are in the README). Nothing is written unless every row is
    /// valid; an unchanged contract writes nothing; a contract the previous extract held and this one
    /// does not is withdrawn.
    Import { file: std::path::PathBuf },
}

pub async fn run(db: &DbConfig, command: DecaCommand) -> anyhow::Result<ExitCode> {
    let DecaCommand::Import { file } = command;
    let input = std::fs::File::open(&file).with_context(|| format!("cannot open {}", file.display()))?;
    let lignes = match parse_csv(input) {
        Ok(lignes) => lignes,
        Err(errors) => return Ok(refused(&file, &errors)),
    };
    let pool = crate::db::pool(db, 2).await?;
    crate::db::migrate(&pool).await?;
    let vault = db.vault()?;
    let report = import(&pool, Some(&vault), lignes, operator()).await?;
    println!(
        "{} contracts read: {} created, {} changed, {} unchanged, {} withdrawn",
        report.read, report.created, report.changed, report.unchanged, report.withdrawn
    );
    Ok(ExitCode::SUCCESS)
}
