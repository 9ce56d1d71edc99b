//! Configuration shared by every command: where the database is. Each variable is also a flag
//! (clap's `env` support); defaults live here and nowhere else.

use std::path::PathBuf;

use crate::master_key::KeyArgs;
use crate::telemetry::LogFormat;

pub const DEFAULT_HOME: &str = ".tba";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

#[derive(Debug, Clone, clap::Args)]
pub struct GlobalArgs {
    /// PostgreSQL to use; when unset, a private cluster is started under TBA_HOME.
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    pub database_url: Option<String>,

    /// Directory of the private PostgreSQL cluster and local state.
    #[arg(long, env = "TBA_HOME", global = true, default_value = DEFAULT_HOME)]
    pub home: PathBuf,

    /// Log line format (filter with RUST_LOG).
    #[arg(long, env = "TBA_LOG_FORMAT", global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    #[command(flatten)]
    pub keys: KeyArgs,
}

/// Where the database is.
#[derive(Debug, Clone)]
pub struct DbConfig {
    pub url: Option<String>,
    pub home: PathBuf,
    /// Where the master key of personal data comes from.
    pub keys: KeyArgs,
}

impl From<&GlobalArgs> for DbConfig {
    fn from(args: &GlobalArgs) -> Self {
        DbConfig {
            url: args.database_url.clone().filter(|u| !u.is_empty()),
            home: args.home.clone(),
            keys: args.keys.clone(),
        }
    }
}

impl DbConfig {
    /// The master keys of this process.
    pub fn vault(&self) -> anyhow::Result<events::personal::Vault> {
        crate::master_key::vault(&self.keys, &self.home)
    }

    /// The store's settings, with this process's master keys.
    pub fn store_config(&self) -> anyhow::Result<events::StoreConfig> {
        Ok(events::StoreConfig { vault: Some(self.vault()?), ..events::StoreConfig::default() })
    }
}
