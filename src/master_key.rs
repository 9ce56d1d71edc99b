//! Where the master key comes from (`personal` seals personal data with keys it wraps): the
//! environment (`TBA_MASTER_KEY`, 64 hex digits) or a file (`TBA_MASTER_KEY_FILE`), never the
//! database. Without either, a key is generated once under `TBA_HOME` (`master.key`, mode 0600) so
//! that a development machine works out of the box; losing that file loses every person's data, so a
//! real deployment gives its own. Previous master keys (`TBA_MASTER_KEY_PREVIOUS`, comma-separated hex)
//! are still accepted for reading until `tba personnes rotation` has re-wrapped every data key.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;
use events::personal::{MasterKey, Vault};

#[derive(Debug, Clone, Default, clap::Args)]
pub struct KeyArgs {
    /// The master key that wraps the persons' data keys (64 hex digits).
    #[arg(
        long,
        env = "TBA_MASTER_KEY",
        global = true,
        hide_env_values = true,
        conflicts_with = "master_key_file"
    )]
    pub master_key: Option<String>,
    /// A file holding the master key (64 hex digits); default `TBA_HOME/master.key`, created if absent.
    #[arg(long, env = "TBA_MASTER_KEY_FILE", global = true)]
    pub master_key_file: Option<PathBuf>,
    /// Former master keys still accepted for reading (comma-separated hex), during a rotation.
    #[arg(
        long,
        env = "TBA_MASTER_KEY_PREVIOUS",
        global = true,
        hide_env_values = true,
        value_delimiter = ','
    )]
    pub master_key_previous: Vec<String>,
}

/// The master keys of this process.
pub fn vault(args: &KeyArgs, home: &Path) -> anyhow::Result<Vault> {
    let current = match (&args.master_key, &args.master_key_file) {
        (Some(hex), _) => MasterKey::parse_hex(hex).map_err(|e| anyhow::anyhow!("TBA_MASTER_KEY: {e}"))?,
        (None, Some(file)) => read(file)?,
        (None, None) => read_or_create(&home.join("master.key"))?,
    };
    let previous = args
        .master_key_previous
        .iter()
        .filter(|k| !k.trim().is_empty())
        .map(|k| MasterKey::parse_hex(k).map_err(|e| anyhow::anyhow!("TBA_MASTER_KEY_PREVIOUS: {e}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(Vault::new(current, previous))
}

fn read(file: &Path) -> anyhow::Result<MasterKey> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("cannot read the master key {}", file.display()))?;
    MasterKey::parse_hex(&text).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))
}

fn read_or_create(file: &Path) -> anyhow::Result<MasterKey> {
    if file.exists() {
        return read(file);
    }
    let key = MasterKey::generate().map_err(|e| anyhow::anyhow!(e))?;
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(file) {
        Ok(mut out) => {
            writeln!(out, "{}", key.to_hex())?;
            tracing::warn!(
                file = %file.display(),
                "generated a master key for personal data: back it up, or give TBA_MASTER_KEY / TBA_MASTER_KEY_FILE"
            );
            Ok(key)
        }
        // Another process created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => read(file),
        Err(e) => Err(e).with_context(|| format!("cannot create the master key {}", file.display())),
    }
}
