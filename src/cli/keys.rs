//! `tba keys create|revoke`: API keys for ERPs and for every other role.

use std::process::ExitCode;

use clap::Subcommand;

use crate::auth::keys::{self, KeySpec, OrganismeRef, Role, Scope};
use crate::config::DbConfig;

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a key; its secret is printed once, alone on the last line.
    Create {
        /// The organisme an ERP key transmits for (role ORGANISME_FORMATION).
        #[arg(long, value_name = "UAI:SIRET")]
        organisme: Option<OrganismeRef>,
        /// The role of the key (default ORGANISME_FORMATION with --organisme).
        #[arg(long, value_enum)]
        role: Option<Role>,
        /// The territory or entity the key is limited to, e.g. REGION:84, ACADEMIE:10.
        #[arg(long, value_name = "KIND:VALUE")]
        scope: Option<Scope>,
        /// A free label (who holds the key).
        #[arg(long)]
        label: Option<String>,
    },
    /// Revoke a key, named by its id or its prefix.
    Revoke { key: String },
}

pub async fn run(db: &DbConfig, command: KeysCommand) -> anyhow::Result<ExitCode> {
    let pool = crate::db::pool(db, 2).await?;
    crate::db::migrate(&pool).await?;
    match command {
        KeysCommand::Create { organisme, role, scope, label } => {
            let role =
                role.unwrap_or(if organisme.is_some() { Role::OrganismeFormation } else { Role::Analyst });
            let (principal, secret) = keys::create(&pool, &KeySpec { role, organisme, scope, label }).await?;
            println!("key {} ({}) role {}", principal.key_id, principal.prefix, role.as_str());
            println!("{secret}");
        }
        KeysCommand::Revoke { key } => {
            keys::revoke(&pool, &key).await?;
            println!("revoked {key}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
