//! `tba comptes create|lien|list|desactiver`: people's accounts for the console (domain.md §14).

use std::process::ExitCode;

use clap::Subcommand;

use crate::auth::comptes::{self, lien_url};
use crate::auth::keys::{KeySpec, OrganismeRef, Role, Scope};
use crate::config::DbConfig;

#[derive(Debug, Subcommand)]
pub enum ComptesCommand {
    /// Create a person's account, with a role and scope like a key's; prints the one-time link through
    /// which they set their password (valid 7 days), alone on the last line.
    Create {
        #[arg(long)]
        email: String,
        /// The role (default ORGANISME_FORMATION with --organisme).
        #[arg(long, value_enum)]
        role: Option<Role>,
        /// The organisme of a CFA's staff (role ORGANISME_FORMATION).
        #[arg(long, value_name = "UAI:SIRET")]
        organisme: Option<OrganismeRef>,
        /// The territory or entity the account is limited to, e.g. MISSION_LOCALE:ML-1, REGION:84.
        #[arg(long, value_name = "KIND:VALUE")]
        scope: Option<Scope>,
        /// The person administers their organisation's accounts (same role, organisme and scope):
        /// invites, resets and disables them in the console.
        #[arg(long)]
        gestionnaire: bool,
        /// The console's address, that the link starts with.
        #[arg(long, env = "TBA_CONSOLE_URL", default_value = "http://127.0.0.1:8080")]
        url: String,
    },
    /// A new one-time link to set the password of an account (a reset); the earlier links no longer
    /// serve.
    Lien {
        email: String,
        #[arg(long, env = "TBA_CONSOLE_URL", default_value = "http://127.0.0.1:8080")]
        url: String,
    },
    /// The accounts.
    List,
    /// Disable an account: it signs in no more, its sessions end.
    Desactiver { email: String },
}

pub async fn run(db: &DbConfig, command: ComptesCommand) -> anyhow::Result<ExitCode> {
    let pool = crate::db::pool(db, 2).await?;
    crate::db::migrate(&pool).await?;
    match command {
        ComptesCommand::Create { email, role, organisme, scope, gestionnaire, url } => {
            let role =
                role.unwrap_or(if organisme.is_some() { Role::OrganismeFormation } else { Role::Analyst });
            let spec = KeySpec { role, organisme, scope, label: None };
            let (id, token) = comptes::create_as(&pool, &email, &spec, gestionnaire).await?;
            println!("account {id} ({}) role {}; its password is set through:", email.trim(), role.as_str());
            println!("{}", lien_url(&url, &token));
        }
        ComptesCommand::Lien { email, url } => {
            let token = comptes::reinitialiser(&pool, &email).await?;
            println!("{}", lien_url(&url, &token));
        }
        ComptesCommand::List => {
            for c in comptes::list(&pool).await? {
                let perimetre = c.organisme.or(c.scope).unwrap_or_default();
                let etat = match (c.actif, c.mot_de_passe) {
                    (false, _) => "disabled",
                    (true, false) => "invited",
                    (true, true) => "active",
                };
                println!("{}\t{}\t{perimetre}\t{etat}\t{}", c.email, c.role, c.created_at.format("%Y-%m-%d"));
            }
        }
        ComptesCommand::Desactiver { email } => {
            comptes::desactiver(&pool, &email).await?;
            println!("disabled {email}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
