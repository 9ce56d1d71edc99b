//! `tba recapitulatifs envoyer`: produce the collaboration's recaps due (domain.md §11) and e-mail them
//! when SMTP is configured, once; `tba serve` does the same every ten minutes.

use std::process::ExitCode;

use chrono::{DateTime, Utc};
use events::EventStore;
use events::recapitulatif::Genre;

use crate::app::recapitulatifs::{HEURE, echeances, envoyer, produire};
use crate::config::DbConfig;
use crate::notifier::{DEFAULT_FROM, Smtp};

/// Where recaps go, and when they are due.
#[derive(Debug, Clone, clap::Args)]
pub struct RecapsArgs {
    /// SMTP server the recaps are e-mailed through (`smtp://host:25`, `smtps://user:pass@host:465`,
    /// `smtp://host:587?tls=required`); without it, recaps are only readable through GraphQL.
    #[arg(long, env = "TBA_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,
    /// The sender of the e-mails.
    #[arg(long, env = "TBA_SMTP_FROM", default_value = DEFAULT_FROM)]
    pub smtp_from: String,
    /// The hour (UTC) daily recaps are produced at, and weekly ones on Mondays.
    #[arg(long, env = "TBA_RECAPS_HEURE", default_value_t = HEURE, value_parser = clap::value_parser!(u32).range(0..24))]
    pub recaps_heure: u32,
}

impl RecapsArgs {
    /// The SMTP server, if one is configured (checked now, so a wrong URL stops the start).
    pub fn smtp(&self) -> anyhow::Result<Option<Smtp>> {
        self.smtp_url.as_deref().filter(|u| !u.is_empty()).map(|u| Smtp::new(u, &self.smtp_from)).transpose()
    }
}

#[derive(Debug, clap::Subcommand)]
pub enum RecapitulatifsCommand {
    /// Produce the recaps due now and not produced yet, then e-mail those not sent yet.
    Envoyer {
        #[command(flatten)]
        recaps: RecapsArgs,
        /// Produce every genre for the periods ending at this instant (RFC 3339, not in the future)
        /// instead of the latest periods begun by now.
        #[arg(long)]
        au: Option<DateTime<Utc>>,
    },
}

pub async fn run(db: &DbConfig, command: RecapitulatifsCommand) -> anyhow::Result<ExitCode> {
    let RecapitulatifsCommand::Envoyer { recaps, au } = command;
    let smtp = recaps.smtp()?;
    let now = Utc::now();
    let echeances = match au {
        Some(au) if au > now => anyhow::bail!("--au {au} est dans le futur"),
        Some(au) => Genre::ALL.into_iter().map(|g| (g, au)).collect(),
        None => echeances(now, recaps.recaps_heure),
    };
    let pool = crate::db::pool(db, 4).await?;
    crate::db::migrate(&pool).await?;
    let store = EventStore::start(pool.clone(), db.store_config()?).await?;
    let produits = produire(&pool, &store, &echeances).await?;
    println!("{produits} recap(s) produced");
    if let Some(smtp) = smtp {
        let (sent, refused) = envoyer(&pool, &store, &smtp).await?;
        println!("{sent} recap(s) e-mailed, {refused} refused by the SMTP server");
        if refused > 0 {
            return Ok(ExitCode::FAILURE);
        }
    }
    Ok(ExitCode::SUCCESS)
}
