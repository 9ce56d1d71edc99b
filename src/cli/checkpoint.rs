//! `tba checkpoint`: the operator signs the log's head with an Ed25519 key; auditors ask for inclusion
//! proofs and check them offline.
//!
//! Signing first recomputes the whole chain: a checkpoint vouches for the log, so it is never signed
//! over a prefix that does not verify. The key file holds the 32-byte secret seed in hex and is created
//! readable by its owner only; the public key is what the operator hands to auditors.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use ed25519_dalek::SigningKey;
use events::signed_checkpoint::{InclusionProof, SignedCheckpoint};
use events::store::signed;
use events::store::verify::{VerifyOptions, verify};

use super::verify::{connect, hex32, read_checkpoint};
use crate::config::DbConfig;
use crate::progress::Progress;

#[derive(Debug, clap::Subcommand)]
pub enum CheckpointCommand {
    /// Create an operator signing key (refuses to overwrite a file) and print its public key.
    Keygen {
        /// Where to write the secret key (hex, mode 0600).
        file: PathBuf,
    },
    /// Verify the log up to its head, then sign (position, hash, Merkle root, time) and record it.
    Sign {
        /// The operator's secret key file (`tba checkpoint keygen`).
        #[arg(long, env = "TBA_OPERATOR_KEY_FILE", value_name = "FILE")]
        key: PathBuf,
        /// Also write the signed checkpoint (JSON) to this file.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Print the signed checkpoints recorded, newest first.
    List {
        #[arg(long, default_value_t = 20)]
        limit: i64,
    },
    /// Print the inclusion proof (JSON) of the event at a position against a signed checkpoint.
    Prove {
        /// The event's position.
        position: i64,
        /// The checkpoint file to prove against (default: the smallest recorded one that covers it).
        #[arg(long, value_name = "FILE")]
        checkpoint: Option<PathBuf>,
    },
    /// Check an inclusion proof file offline: signature, the event's hash from its content, the path.
    CheckProof {
        file: PathBuf,
        /// The operator's Ed25519 public key the checkpoint must be signed with (hex).
        #[arg(long, value_name = "HEX", env = "TBA_OPERATOR_PUBLIC_KEY")]
        public_key: Option<String>,
    },
}

pub async fn run(db: &DbConfig, command: CheckpointCommand) -> anyhow::Result<ExitCode> {
    match command {
        CheckpointCommand::Keygen { file } => keygen(&file),
        CheckpointCommand::Sign { key, out } => sign(db, &key, out.as_deref()).await,
        CheckpointCommand::List { limit } => {
            let pool = connect(db).await?;
            for c in signed::list(&pool, limit).await? {
                println!("{}", serde_json::to_string(&c)?);
            }
            Ok(ExitCode::SUCCESS)
        }
        CheckpointCommand::Prove { position, checkpoint } => prove(db, position, checkpoint.as_deref()).await,
        CheckpointCommand::CheckProof { file, public_key } => {
            let text =
                std::fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let proof: InclusionProof = serde_json::from_str(&text)
                .with_context(|| format!("{} is not an inclusion proof", file.display()))?;
            let trusted = public_key.as_deref().map(|k| hex32("--public-key", k)).transpose()?;
            match proof.check(trusted.as_ref()) {
                Ok(()) => {
                    println!(
                        "ok: event {} ({}) is in the log signed at position {} by {}",
                        proof.event.position,
                        proof.event.event_id,
                        proof.checkpoint.position,
                        hex::encode(proof.checkpoint.public_key)
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(error) => {
                    println!("BROKEN proof: {error}");
                    Ok(ExitCode::from(1))
                }
            }
        }
    }
}

fn keygen(file: &Path) -> anyhow::Result<ExitCode> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("no randomness from the system: {e}"))?;
    let key = SigningKey::from_bytes(&seed);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut out = options.open(file).with_context(|| format!("cannot create {}", file.display()))?;
    writeln!(out, "{}", hex::encode(seed))?;
    println!("{}", hex::encode(key.verifying_key().to_bytes()));
    Ok(ExitCode::SUCCESS)
}

fn signing_key(file: &Path) -> anyhow::Result<SigningKey> {
    let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    Ok(SigningKey::from_bytes(&hex32("the key file", &text)?))
}

async fn sign(db: &DbConfig, key: &Path, out: Option<&Path>) -> anyhow::Result<ExitCode> {
    let key = signing_key(key)?;
    let pool = connect(db).await?;
    let head = events::store::log_head(&pool).await?;
    let progress = Progress::new("verifying", "events", head.position as u64);
    let options = VerifyOptions { until: Some(head.position), expect_hash: None, merkle: true };
    let report = verify(&pool, &options, |checked, _| progress.set_position(checked as u64)).await?;
    progress.finish();
    if let Some(broken) = report.broken {
        println!("NOT SIGNED: the log is broken at position {}: {broken}", broken.position());
        return Ok(ExitCode::from(1));
    }
    let root = report.merkle_root.expect("asked for the Merkle root");
    let checkpoint = SignedCheckpoint::sign(&key, report.verified.position, report.verified.hash, root);
    signed::record(&pool, &checkpoint).await?;
    let json = serde_json::to_string_pretty(&checkpoint)?;
    if let Some(out) = out {
        std::fs::write(out, format!("{json}\n"))
            .with_context(|| format!("cannot write {}", out.display()))?;
    }
    println!("{json}");
    Ok(ExitCode::SUCCESS)
}

async fn prove(db: &DbConfig, position: i64, file: Option<&Path>) -> anyhow::Result<ExitCode> {
    let pool = connect(db).await?;
    let checkpoint = match file {
        Some(file) => read_checkpoint(file)?,
        None => signed::covering(&pool, position, false).await?.with_context(|| {
            format!("no signed checkpoint covers position {position}: run `tba checkpoint sign`")
        })?,
    };
    let proof = signed::inclusion_proof(&pool, position, &checkpoint).await?.with_context(|| {
        format!("position {position} is not an event covered by the checkpoint at {}", checkpoint.position)
    })?;
    println!("{}", serde_json::to_string_pretty(&proof)?);
    Ok(ExitCode::SUCCESS)
}
