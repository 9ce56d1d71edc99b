//! `tba verify` and `tba head`: what an auditor runs.
//!
//! `verify --from-checkpoint FILE` is the strong form: the checkpoint's Ed25519 signature is checked
//! (against `--public-key` when the auditor has the operator's key from elsewhere, which is the point),
//! then the chain is recomputed up to its position and must end with its hash and its Merkle root.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use events::signed_checkpoint::SignedCheckpoint;
use events::store::verify::{VerifyOptions, verify};
use sqlx::PgPool;

use crate::config::DbConfig;
use crate::progress::Progress;

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// Verify only the prefix of the log up to this position.
    #[arg(long, conflicts_with = "from_checkpoint")]
    pub until: Option<i64>,
    /// The hash noted at `--until` (or at the head): the log must still give exactly this hash there.
    #[arg(long, value_name = "HEX", conflicts_with = "from_checkpoint")]
    pub expect_hash: Option<String>,
    /// A signed checkpoint (`tba checkpoint sign`): the log up to its position must give its hash and
    /// Merkle root, and its signature must hold.
    #[arg(long, value_name = "FILE")]
    pub from_checkpoint: Option<PathBuf>,
    /// The operator's Ed25519 public key the checkpoint must be signed with (hex).
    #[arg(long, value_name = "HEX", env = "TBA_OPERATOR_PUBLIC_KEY", requires = "from_checkpoint")]
    pub public_key: Option<String>,
}

pub(super) async fn connect(db: &DbConfig) -> anyhow::Result<PgPool> {
    let pool = crate::db::pool(db, 2).await?;
    anyhow::ensure!(
        crate::db::migrations_applied(&pool).await.unwrap_or(false),
        "the database has no event log yet: run `tba migrate` (or `tba serve`) first"
    );
    Ok(pool)
}

/// 32 bytes given in hex on the command line.
pub(super) fn hex32(flag: &str, value: &str) -> anyhow::Result<[u8; 32]> {
    let bytes = hex::decode(value.trim()).with_context(|| format!("{flag} is not hexadecimal"))?;
    bytes.try_into().map_err(|_| anyhow::anyhow!("{flag} must be 32 bytes (64 hex digits)"))
}

/// A signed checkpoint file, as `tba checkpoint sign` writes it.
pub(super) fn read_checkpoint(path: &std::path::Path) -> anyhow::Result<SignedCheckpoint> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not a signed checkpoint", path.display()))
}

pub async fn run(db: &DbConfig, args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let mut options = VerifyOptions {
        until: args.until,
        expect_hash: args.expect_hash.as_deref().map(|h| hex32("--expect-hash", h)).transpose()?,
        merkle: false,
    };
    let checkpoint = args.from_checkpoint.as_deref().map(read_checkpoint).transpose()?;
    if let Some(checkpoint) = &checkpoint {
        let trusted = args.public_key.as_deref().map(|k| hex32("--public-key", k)).transpose()?;
        if let Err(error) = checkpoint.check_signature(trusted.as_ref()) {
            println!("BROKEN checkpoint: {error}");
            return Ok(ExitCode::from(1));
        }
        if trusted.is_none() {
            eprintln!(
                "warning: the signature was checked against the key the checkpoint names ({}); \
                 give --public-key to check it against the operator's key",
                hex::encode(checkpoint.public_key)
            );
        }
        options = VerifyOptions {
            until: Some(checkpoint.position),
            expect_hash: Some(checkpoint.hash),
            merkle: true,
        };
    }
    let pool = connect(db).await?;
    let progress = Progress::new("verifying", "events", 0);
    let report = verify(&pool, &options, |checked, total| {
        progress.set_length(total as u64);
        progress.set_position(checked as u64);
    })
    .await?;
    progress.finish();
    if let Some(broken) = report.broken {
        println!("BROKEN at position {}: {broken}", broken.position());
        return Ok(ExitCode::from(1));
    }
    if let Some(checkpoint) = &checkpoint {
        if report.verified.position != checkpoint.position {
            println!(
                "BROKEN: the checkpoint covers position {} but the log ends at {}",
                checkpoint.position, report.verified.position
            );
            return Ok(ExitCode::from(1));
        }
        if report.merkle_root != Some(checkpoint.merkle_root) {
            println!("BROKEN: the log's Merkle root up to {} is not the signed one", checkpoint.position);
            return Ok(ExitCode::from(1));
        }
    }
    println!(
        "ok: {} events verified; position {} hash {}{}",
        report.checked,
        report.verified.position,
        report.verified.hash_hex(),
        if checkpoint.is_some() { "; signature and Merkle root match the checkpoint" } else { "" }
    );
    Ok(ExitCode::SUCCESS)
}

pub async fn head(db: &DbConfig) -> anyhow::Result<ExitCode> {
    let pool = connect(db).await?;
    let head = events::store::log_head(&pool).await?;
    println!("position {} hash {}", head.position, head.hash_hex());
    Ok(ExitCode::SUCCESS)
}
