//! `tba personnes effacer` (erase one person), `tba personnes rotation` (re-wrap every data key under
//! the current master key) and `tba retention run` (erase everyone past the retention period).

use std::process::ExitCode;

use anyhow::Context;
use chrono::NaiveDate;
use events::personne::BaseLegale;

use super::referential::operator;
use crate::app::personnes::{EffacementError, Effacer, RETENTION_ANS, effacer, retention};
use crate::config::DbConfig;

#[derive(Debug, clap::Subcommand)]
pub enum PersonnesCommand {
    /// Erase a person's personal data: destroy their keys, record who, why and on which legal basis.
    Effacer {
        /// The person key (`p-…`, as `dossier { personne }` gives it; `i-…` for a vœux candidate).
        personne: String,
        /// Why (recorded in the log).
        #[arg(long)]
        motif: String,
        /// DROIT_A_L_EFFACEMENT, DUREE_DE_CONSERVATION or OBLIGATION_LEGALE.
        #[arg(long, value_parser = parse_base_legale)]
        base_legale: BaseLegale,
    },
    /// Re-wrap every person's data key under the current master key (`TBA_MASTER_KEY`), the previous
    /// ones given in `TBA_MASTER_KEY_PREVIOUS`; afterwards the previous keys are no longer needed.
    Rotation,
}

#[derive(Debug, clap::Subcommand)]
pub enum RetentionCommand {
    /// Erase the personal data of every person whose last formation ended more than `--ans` years ago.
    Run {
        #[arg(long, env = "TBA_RETENTION_ANS", default_value_t = RETENTION_ANS,
              value_parser = clap::value_parser!(u32).range(1..))]
        ans: u32,
        /// The day to count from (default today).
        #[arg(long)]
        date: Option<NaiveDate>,
        /// List who would be erased, and erase nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

fn parse_base_legale(text: &str) -> Result<BaseLegale, String> {
    BaseLegale::parse(text).ok_or_else(|| {
        let known: Vec<&str> = BaseLegale::ALL.iter().map(|b| b.as_str()).collect();
        format!("one of {}", known.join(", "))
    })
}

pub async fn run(db: &DbConfig, command: PersonnesCommand) -> anyhow::Result<ExitCode> {
    let pool = super::verify::connect(db).await?;
    let vault = db.vault()?;
    match command {
        PersonnesCommand::Effacer { personne, motif, base_legale } => {
            match effacer(&pool, &vault, Effacer { personne, motif, base_legale }, operator()).await {
                Ok(e) => {
                    crate::auth::access_log::record_system(
                        &pool,
                        "cli",
                        "effacement",
                        &e.personne,
                        serde_json::json!({ "base_legale": base_legale, "position": e.position }),
                    )
                    .await?;
                    match e.position {
                        Some(position) => println!(
                            "{} erased at position {position} ({} vœux candidate(s), {} refused item(s) deleted)",
                            e.personne,
                            e.candidats.len(),
                            e.rejets
                        ),
                        None => println!("{} was already erased", e.personne),
                    }
                    Ok(ExitCode::SUCCESS)
                }
                Err(e @ (EffacementError::Invalid { .. } | EffacementError::Inconnue(_))) => {
                    eprintln!("error: {e}");
                    Ok(ExitCode::from(2))
                }
                Err(e) => Err(e.into()),
            }
        }
        PersonnesCommand::Rotation => {
            let rewrapped = vault.rotate(&pool).await.context("rotation stopped; run it again to resume")?;
            println!("{rewrapped} data key(s) re-wrapped under master key {}", vault.current().id());
            Ok(ExitCode::SUCCESS)
        }
    }
}

pub async fn retention_run(db: &DbConfig, command: RetentionCommand) -> anyhow::Result<ExitCode> {
    let RetentionCommand::Run { ans, date, dry_run } = command;
    let pool = super::verify::connect(db).await?;
    let today = date.unwrap_or_else(|| chrono::Utc::now().date_naive());
    if dry_run {
        for personne in crate::app::personnes::expirees(&pool, today, ans).await? {
            println!("{personne}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let report = retention(&pool, &db.vault()?, today, ans, operator()).await?;
    println!("{} person(s) erased ({} years after the end of their formation)", report.effacees.len(), ans);
    Ok(ExitCode::SUCCESS)
}
