//! `tba reseaux import FILE.csv`: load the réseaux of organismes (the perimeters of TETE_DE_RESEAU keys).

use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;

use super::referential::refused;
use crate::config::DbConfig;
use crate::ingestion::reseaux::{ReseauxImportError, import, parse_csv};

#[derive(Debug, Subcommand)]
pub enum ReseauxCommand {
    /// Import a CSV with the columns reseau,nom,organismes (organismes: space-separated UAI:SIRET, each in
    /// the organismes referential). Nothing is written unless every row is valid; each réseau named gets
    /// exactly the organismes listed.
    Import { file: std::path::PathBuf },
}

pub async fn run(db: &DbConfig, command: ReseauxCommand) -> anyhow::Result<ExitCode> {
    let ReseauxCommand::Import { file } = command;
    let input = std::fs::File::open(&file).with_context(|| format!("cannot open {}", file.display()))?;
    let reseaux = match parse_csv(input) {
        Ok(reseaux) => reseaux,
        Err(errors) => return Ok(refused(&file, &errors)),
    };
    let pool = crate::db::pool(db, 2).await?;
    crate::db::migrate(&pool).await?;
    match import(&pool, &reseaux).await {
        Ok(count) => {
            let members: usize = reseaux.iter().map(|r| r.organismes.len()).sum();
            println!("{count} réseaux imported, {members} organismes in all");
            Ok(ExitCode::SUCCESS)
        }
        Err(ReseauxImportError::Invalid(errors)) => Ok(refused(&file, &errors)),
        Err(error) => Err(error.into()),
    }
}
