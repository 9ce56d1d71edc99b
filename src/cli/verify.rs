//! `tba verify` and `tba head`: what an auditor runs.

use std::process::ExitCode;

use anyhow::Context;
use events::store::verify::{VerifyOptions, verify};
use sqlx::PgPool;

use crate::config::DbConfig;
use crate::progress::Progress;

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// Verify only the prefix of the log up to this position.
    #[arg(long)]
    pub until: Option<i64>,
    /// The hash noted at `--until` (or at the head): the log must still give exactly this hash there.
    #[arg(long, value_name = "HEX")]
    pub expect_hash: Option<String>,
}

async fn connect(db: &DbConfig) -> anyhow::Result<PgPool> {
    let pool = crate::db::pool(db, 2).await?;
    anyhow::ensure!(
        crate::db::migrations_applied(&pool).await.unwrap_or(false),
        "the database has no event log yet: run `tba migrate` (or `tba serve`) first"
    );
    Ok(pool)
}

pub async fn run(db: &DbConfig, args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let expect_hash = args
        .expect_hash
        .as_deref()
        .map(|h| -> anyhow::Result<[u8; 32]> {
            let bytes = hex::decode(h).context("--expect-hash is not hexadecimal")?;
            bytes.try_into().map_err(|_| anyhow::anyhow!("--expect-hash must be 32 bytes (64 hex digits)"))
        })
        .transpose()?;
    let pool = connect(db).await?;
    let progress = Progress::new("verifying", "events", 0);
    let options = VerifyOptions { until: args.until, expect_hash };
    let report = verify(&pool, &options, |checked, total| {
        progress.set_length(total as u64);
        progress.set_position(checked as u64);
    })
    .await?;
    progress.finish();
    match report.broken {
        None => {
            println!(
                "ok: {} events verified; position {} hash {}",
                report.checked,
                report.verified.position,
                report.verified.hash_hex()
            );
            Ok(ExitCode::SUCCESS)
        }
        Some(broken) => {
            println!("BROKEN at position {}: {broken}", broken.position());
            Ok(ExitCode::from(1))
        }
    }
}

pub async fn head(db: &DbConfig) -> anyhow::Result<ExitCode> {
    let pool = connect(db).await?;
    let head = events::store::log_head(&pool).await?;
    println!("position {} hash {}", head.position, head.hash_hex());
    Ok(ExitCode::SUCCESS)
}
