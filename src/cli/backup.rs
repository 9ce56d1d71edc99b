//! `tba backup DIR` and `tba restore DIR`: a consistent copy of the database, and its restoration into a
//! fresh one, proven before it is trusted.
//!
//! The copy is PostgreSQL's own: `pg_dump` in directory format, run on a snapshot exported by a
//! REPEATABLE READ transaction that also reads the head of the log, so that the manifest's position and
//! hash are exactly those of the copy. The manifest also holds the SHA-256 of every file, so that a copy
//! damaged in storage is refused before anything is restored. A restore goes into an empty database
//! only (the private cluster of a new `TBA_HOME`, or an empty `DATABASE_URL`), then recomputes the whole
//! hash chain, which must end at the manifest's head.
//!
//! The master key of personal data is not in the copy (it never enters the database): keep it apart;
//! without it, the restored log verifies but its personal data stays sealed.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail, ensure};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::Connection;

use crate::config::DbConfig;
use crate::db::cluster::client_program;

const FORMAT: &str = "tba-backup-1";
const MANIFEST: &str = "manifest.json";
const DUMP: &str = "dump";

#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    format: String,
    created_at: DateTime<Utc>,
    /// The head of the log in the copy.
    position: i64,
    hash: String,
    tba_version: String,
    pg_dump: String,
    /// The SHA-256 of each file of the dump, by its path under `dump/`.
    files: BTreeMap<String, String>,
}

/// The URL of the configured database, as PostgreSQL's programs take it (the private cluster started).
async fn url(db: &DbConfig) -> anyhow::Result<String> {
    match &db.url {
        Some(url) => Ok(url.clone()),
        None => {
            let cluster = crate::db::start_cluster(db).await?;
            crate::db::ensure_database(&cluster.connect_options("postgres"), crate::db::DATABASE).await?;
            Ok(cluster.url(crate::db::DATABASE))
        }
    }
}

/// Run a PostgreSQL client program on `url` (the `--dbname` it is given, without its password: that
/// goes in `PGPASSWORD`, never on a command line every user of the machine can list).
fn run_on(program: &str, url: &str, args: &[&str]) -> anyhow::Result<String> {
    let (url, password) = without_password(url);
    run(program, &[args, &["--dbname", &url]].concat(), password.as_deref())
}

fn run(program: &str, args: &[&str], password: Option<&str>) -> anyhow::Result<String> {
    let path = client_program(program)?;
    let mut command = std::process::Command::new(&path);
    if let Some(password) = password {
        command.env("PGPASSWORD", password);
    }
    let output = command
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .with_context(|| format!("cannot run {}", path.display()))?;
    ensure!(
        output.status.success(),
        "{program} failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr).trim()
    );
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// The URL without the password of its user information, and that password decoded.
fn without_password(url: &str) -> (String, Option<String>) {
    let Some(start) = url.find("://").map(|i| i + 3) else { return (url.to_owned(), None) };
    let end = url[start..].find(['/', '?']).map_or(url.len(), |i| start + i);
    let Some(at) = url[start..end].rfind('@').map(|i| start + i) else { return (url.to_owned(), None) };
    let Some(colon) = url[start..at].find(':').map(|i| start + i) else { return (url.to_owned(), None) };
    let encoded = &url[colon + 1..at];
    let mut bytes = Vec::with_capacity(encoded.len());
    let mut raw = encoded.bytes();
    while let Some(b) = raw.next() {
        let hex = if b == b'%' { raw.next().zip(raw.next()) } else { None };
        match hex.and_then(|(h, l)| u8::from_str_radix(&format!("{}{}", h as char, l as char), 16).ok()) {
            Some(decoded) => bytes.push(decoded),
            None => bytes.push(b),
        }
    }
    (format!("{}{}", &url[..colon], &url[at..]), Some(String::from_utf8_lossy(&bytes).into_owned()))
}

fn sha256(path: &Path) -> anyhow::Result<String> {
    let mut file = std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut digest = Sha256::new();
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            return Ok(hex::encode(digest.finalize()));
        }
        digest.update(&buffer[..read]);
    }
}

/// The files under `dir`, by their path relative to it.
fn files(dir: &Path) -> anyhow::Result<BTreeMap<String, String>> {
    let mut found = BTreeMap::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        found.insert(name, sha256(&path)?);
    }
    Ok(found)
}

pub async fn backup(db: &DbConfig, dir: PathBuf) -> anyhow::Result<ExitCode> {
    if dir.exists() && std::fs::read_dir(&dir)?.next().is_some() {
        bail!("{} is not empty: a backup goes into a new directory", dir.display());
    }
    std::fs::create_dir_all(&dir)?;
    let url = url(db).await?;
    let mut conn = sqlx::PgConnection::connect_with(&crate::db::connect_options(db).await?).await?;
    // The snapshot the dump reads, and the head in that same snapshot; held until the dump is done.
    let mut tx = conn.begin().await?;
    sqlx::raw_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY").execute(&mut *tx).await?;
    let snapshot: String = sqlx::query_scalar("SELECT pg_export_snapshot()").fetch_one(&mut *tx).await?;
    let head = events::store::log_head(&mut *tx).await?;
    let dump = dir.join(DUMP);
    let target = dump.to_string_lossy().into_owned();
    let dumped = tokio::task::spawn_blocking(move || {
        run_on(
            "pg_dump",
            &url,
            &["--format=directory", "--no-owner", "--snapshot", &snapshot, "--file", &target],
        )
    })
    .await?;
    tx.rollback().await?;
    dumped?;
    let manifest = Manifest {
        format: FORMAT.into(),
        created_at: Utc::now(),
        position: head.position,
        hash: head.hash_hex(),
        tba_version: env!("CARGO_PKG_VERSION").into(),
        pg_dump: run("pg_dump", &["--version"], None)?,
        files: files(&dump)?,
    };
    std::fs::write(dir.join(MANIFEST), serde_json::to_string_pretty(&manifest)?)?;
    println!(
        "backup of position {} hash {} in {} ({} files); keep the master key apart",
        manifest.position,
        manifest.hash,
        dir.display(),
        manifest.files.len()
    );
    Ok(ExitCode::SUCCESS)
}

pub async fn restore(db: &DbConfig, dir: PathBuf) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(dir.join(MANIFEST))
        .with_context(|| format!("{} holds no {MANIFEST}: not a tba backup", dir.display()))?;
    let manifest: Manifest = serde_json::from_str(&text).context("the manifest cannot be read")?;
    ensure!(manifest.format == FORMAT, "unknown backup format {:?}", manifest.format);
    let dump = dir.join(DUMP);
    let found = files(&dump)?;
    for (name, expected) in &manifest.files {
        match found.get(name) {
            Some(actual) if actual == expected => {}
            Some(_) => bail!("{name} was altered since the backup (its SHA-256 differs): nothing restored"),
            None => bail!("{name} is missing from the backup: nothing restored"),
        }
    }
    let url = url(db).await?;
    let options = crate::db::connect_options(db).await?;
    let mut conn = sqlx::PgConnection::connect_with(&options).await?;
    let occupied: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = 'public')")
            .fetch_one(&mut conn)
            .await?;
    ensure!(
        !occupied,
        "the database is not empty: restore into a fresh one (a new TBA_HOME, or an empty DATABASE_URL)"
    );
    let source = dump.to_string_lossy().into_owned();
    tokio::task::spawn_blocking(move || {
        run_on("pg_restore", &url, &["--no-owner", "--exit-on-error", "--single-transaction", &source])
    })
    .await??;
    let pool = crate::db::pool(db, 2).await?;
    crate::db::migrate(&pool).await?;
    let options = events::store::verify::VerifyOptions {
        until: Some(manifest.position),
        expect_hash: Some(super::verify::hex32("the manifest's hash", &manifest.hash)?),
        merkle: false,
    };
    let report = events::store::verify::verify(&pool, &options, |_, _| {}).await?;
    if let Some(broken) = report.broken {
        println!("BROKEN after the restore at position {}: {broken}", broken.position());
        return Ok(ExitCode::from(1));
    }
    let head = events::store::log_head(&pool).await?;
    if head.position != manifest.position || head.hash_hex() != manifest.hash {
        println!(
            "BROKEN: the restored head is {} {}, the manifest says {} {}",
            head.position,
            head.hash_hex(),
            manifest.position,
            manifest.hash
        );
        return Ok(ExitCode::from(1));
    }
    println!(
        "restored position {} hash {} ({} events verified); projections resume from their checkpoints",
        head.position,
        head.hash_hex(),
        report.checked
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_password_leaves_the_command_line() {
        assert_eq!(
            super::without_password("postgres://tba:s%40cr%3At@db.example:5432/tba?sslmode=require"),
            ("postgres://tba@db.example:5432/tba?sslmode=require".into(), Some("s@cr:t".into()))
        );
        let socket = "postgres://postgres@localhost/tba?host=/var/tmp/pg";
        assert_eq!(super::without_password(socket), (socket.into(), None));
    }
}
