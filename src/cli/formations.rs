//! `tba formations import FILE.csv`: load the formations referential (domain.md §12).

use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;

use super::referential::{operator, refused};
use crate::config::DbConfig;
use crate::ingestion::formations::{import, parse_csv};

#[derive(Debug, Subcommand)]
pub enum FormationsCommand {
    /// Import a CSV with the columns cfd,rncp,libelle,niveau,codes_rome (ROME codes separated by spaces,
    /// `|` or `;`). Nothing is written unless every row is valid; an unchanged formation writes nothing.
    Import { file: std::path::PathBuf },
}

pub async fn run(db: &DbConfig, command: FormationsCommand) -> anyhow::Result<ExitCode> {
    let FormationsCommand::Import { file } = command;
    let input = std::fs::File::open(&file).with_context(|| format!("cannot open {}", file.display()))?;
    let formations = match parse_csv(input) {
        Ok(formations) => formations,
        Err(errors) => return Ok(refused(&file, &errors)),
    };
    let pool = crate::db::pool(db, 2).await?;
    crate::db::migrate(&pool).await?;
    let report = import(&pool, formations, operator()).await?;
    println!(
        "{} formations read: {} created, {} changed, {} unchanged",
        report.read, report.created, report.changed, report.unchanged
    );
    Ok(ExitCode::SUCCESS)
}
