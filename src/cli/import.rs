//! `tba import FILE --organisme UAI:SIRET`: an operator deposits a CSV or XLSX file for an organisme,
//! through the same path as the ERP push, with a progress bar. Refused rows are written to an error
//! report (CSV) beside the file.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use events::{Actor, EventStore};
use uuid::Uuid;

use crate::auth::keys::OrganismeRef;
use crate::config::DbConfig;
use crate::ingestion::imports::{self, DossiersImportError};
use crate::ingestion::journal::{self, Transmission};
use crate::ingestion::snapshots::Transmitter;
use crate::progress::Progress;

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The file: CSV (`;` or `,`, UTF-8 or Windows-1252) or XLSX, with the v3 field names as columns.
    pub file: PathBuf,
    /// The organisme transmitting the file.
    #[arg(long, value_name = "UAI:SIRET")]
    pub organisme: OrganismeRef,
    /// Where to write the refused rows (default: FILE.erreurs.csv, only when rows are refused).
    #[arg(long)]
    pub errors: Option<PathBuf>,
}

pub async fn run(db: &DbConfig, args: ImportArgs) -> anyhow::Result<ExitCode> {
    let size =
        std::fs::metadata(&args.file).with_context(|| format!("cannot read {}", args.file.display()))?.len();
    let pool = crate::db::pool(db, 4).await?;
    crate::db::migrate(&pool).await?;
    let store = EventStore::start(pool.clone(), db.store_config()?).await?;
    let transmission = Transmission {
        id: Uuid::now_v7(),
        organisme: Some(args.organisme.clone()),
        key_id: None,
        channel: events::Channel::Import,
    };
    let transmitter = Transmitter {
        organisme: Some(args.organisme.clone()),
        actor: Actor { organisation: args.organisme.to_string(), principal: "cli:tba import".into() },
        channel: events::Channel::Import,
    };
    // The row count is unknown until the end: the bar's length is an estimate from the file size.
    let progress = Progress::new("importing", "rows", (size / 600).max(1));
    let result =
        imports::run(&store, &transmitter, &transmission, &args.file, |rows| progress.set_position(rows))
            .await;
    progress.finish();
    store.flush().await?;
    let totals = match result {
        Ok(totals) => totals,
        Err(DossiersImportError::File(message) | DossiersImportError::Limit(message)) => {
            eprintln!("{}: {message}", args.file.display());
            eprintln!("nothing imported");
            return Ok(ExitCode::FAILURE);
        }
        Err(other) => return Err(other.into()),
    };
    println!(
        "{} rows read: {} accepted, {} rejected, {} events (transmission {})",
        totals.received, totals.accepted, totals.rejected, totals.events, transmission.id
    );
    if totals.rejected > 0 {
        let path = args.errors.unwrap_or_else(|| {
            let mut name = args.file.clone().into_os_string();
            name.push(".erreurs.csv");
            name.into()
        });
        let rejets = journal::rejets_of(&pool, transmission.id).await?;
        std::fs::write(&path, imports::report_csv(&rejets, "ligne"))
            .with_context(|| format!("cannot write {}", path.display()))?;
        println!("refused rows and why: {}", path.display());
    }
    pool.close().await;
    Ok(ExitCode::SUCCESS)
}
