//! `tba demo`: a running service with data in it. `tba demo generate` writes a synthetic data set,
//! `tba demo load` pushes one through the ERP API of a running service.

use std::path::PathBuf;
use std::process::ExitCode;

use chrono::Utc;
use clap::Subcommand;

use super::serve::ServeArgs;
use crate::auth::keys::{self, KeySpec, OrganismeRef, Role};
use crate::config::{DEFAULT_LISTEN, DbConfig};
use crate::demo::{self, load};
use crate::progress::Progress;

#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct DemoArgs {
    #[command(subcommand)]
    pub command: Option<DemoCommand>,
    /// Dossiers to generate and load when the log has none yet.
    #[arg(long, default_value_t = 20_000)]
    pub dossiers: usize,
    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
pub enum DemoCommand {
    /// Write a synthetic data set: organismes.csv, missions_locales.csv, formations.csv, deca.csv, dossiers.jsonl (v3 items) and the
    /// vœux files voeux_affelnet.csv and voeux_parcoursup.csv.
    Generate {
        #[arg(long, default_value_t = 20_000)]
        dossiers: usize,
        /// Directory to write (default: TBA_HOME/demo).
        #[arg(long)]
        out: Option<PathBuf>,
        /// The same seed gives the same data.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Push a data set through `POST /api/v3/dossiers-apprenants` of a running service (the organismes
    /// and one API key per organisme are written to the service's database first).
    Load {
        /// Directory of the data set (default: TBA_HOME/demo).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Base URL of the service.
        #[arg(long, default_value_t = format!("http://{DEFAULT_LISTEN}"))]
        url: String,
        /// Requests in flight.
        #[arg(long, default_value_t = 4)]
        concurrency: usize,
    },
}

pub async fn run(db: &DbConfig, args: DemoArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        Some(DemoCommand::Generate { dossiers, out, seed }) => {
            let dir = out.unwrap_or_else(|| db.home.join("demo"));
            let data = demo::generate(dossiers, seed, Utc::now().date_naive());
            demo::write(&data, &dir)?;
            println!(
                "{} dossiers of {} organismes written to {}",
                dossiers,
                data.organismes.len(),
                dir.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Some(DemoCommand::Load { dir, url, concurrency }) => {
            let dir = dir.unwrap_or_else(|| db.home.join("demo"));
            let (organismes, items) = demo::read(&dir)?;
            let pool = crate::db::pool(db, 4).await?;
            crate::db::migrate(&pool).await?;
            // A data set written before Missions Locales were part of it gets the default ones.
            let missions = std::fs::read_to_string(dir.join(demo::MISSIONS_LOCALES_FILE))
                .unwrap_or_else(|_| demo::generate::missions_locales_csv());
            load::missions_locales(&pool, &missions).await?;
            let formations = std::fs::read_to_string(dir.join(demo::FORMATIONS_FILE))
                .unwrap_or_else(|_| demo::generate::formations_csv());
            load::formations(&pool, &formations).await?;
            if let Ok(extract) = std::fs::read_to_string(dir.join(demo::DECA_FILE)) {
                load::deca(&pool, &db.vault()?, &extract).await?;
            }
            push(&pool, &url, &organismes, &items, concurrency).await?;
            load::voeux(&pool, &db.vault()?, &dir).await?;
            Ok(ExitCode::SUCCESS)
        }
        None => serve_with_data(db, args.dossiers, args.serve).await,
    }
}

async fn push(
    pool: &sqlx::PgPool,
    url: &str,
    organismes: &str,
    items: &[serde_json::Value],
    concurrency: usize,
) -> anyhow::Result<()> {
    let batches = load::prepare(pool, organismes, items).await?;
    let progress = Progress::new("loading", "dossiers", items.len() as u64);
    let report = load::push_all(url, &batches, concurrency, &progress).await?;
    progress.finish();
    let t = &report.totals;
    println!(
        "{} dossiers pushed in {:.1} s ({:.0}/s): {} accepted, {} rejected, {} events",
        t.received,
        report.elapsed.as_secs_f64(),
        t.received as f64 / report.elapsed.as_secs_f64().max(1e-9),
        t.accepted,
        t.rejected,
        t.events
    );
    Ok(())
}

/// Serve, and on an empty log generate and push a data set through the service's own API first.
async fn serve_with_data(db: &DbConfig, dossiers: usize, args: ServeArgs) -> anyhow::Result<ExitCode> {
    let running = super::serve::start(db, &args).await?;
    let (pool, address) = (running.pool.clone(), running.address);
    let has_dossiers: bool =
        sqlx::query_scalar!(r#"SELECT EXISTS (SELECT 1 FROM events WHERE category = 'dossier') AS "e!""#)
            .fetch_one(&pool)
            .await?;
    if has_dossiers {
        println!("the log already holds dossiers: serving them as they are");
    } else {
        println!("generating {dossiers} synthetic dossiers and pushing them through the ERP API…");
        let data = demo::generate(dossiers, 1, Utc::now().date_naive());
        let items: Vec<serde_json::Value> = data.dossiers.iter().map(|(_, item)| item.clone()).collect();
        load::missions_locales(&pool, &demo::generate::missions_locales_csv()).await?;
        load::formations(&pool, &demo::generate::formations_csv()).await?;
        load::deca(&pool, &db.vault()?, &data.deca_csv()).await?;
        push(&pool, &format!("http://{address}"), &data.organismes_csv(), &items, 4).await?;
        let dir = tempfile::tempdir()?;
        demo::write(&data, dir.path())?;
        load::voeux(&pool, &db.vault()?, dir.path()).await?;
    }
    let spec =
        KeySpec { role: Role::Administrateur, organisme: None, scope: None, label: Some("tba demo".into()) };
    let (_, secret) = keys::create(&pool, &spec).await?;
    println!("serving on http://{address} (Ctrl-C to stop); an administrator key for this demo:");
    println!("{secret}");
    println!("the console: http://{address}/console, with these demo sign-ins (e-mail, password):");
    for (email, role, password) in demo_accounts(&pool).await? {
        println!("  {email:<32} {password}  ({role})");
    }
    running.wait().await?;
    Ok(ExitCode::SUCCESS)
}

/// One console account per kind of user (domain.md §14), with a password new at each start: created
/// on the first start, their password reset on the next ones.
async fn demo_accounts(pool: &sqlx::PgPool) -> anyhow::Result<Vec<(String, &'static str, String)>> {
    use crate::auth::comptes;
    use crate::auth::keys::Scope;
    let ml: Option<String> = sqlx::query_scalar("SELECT id FROM missions_locales ORDER BY id LIMIT 1")
        .fetch_optional(pool)
        .await?;
    let organisme: Option<(String, String, String)> = sqlx::query_as(
        "SELECT o.uai, o.siret, o.departement FROM organismes o ORDER BY o.uai, o.siret LIMIT 1",
    )
    .fetch_optional(pool)
    .await?;
    let region = organisme
        .as_ref()
        .and_then(|(_, _, d)| events::domain::territoire::departement(d))
        .map(|d| d.region.clone());
    let scope = |kind: &str, value: Option<String>| value.map(|value| Scope { kind: kind.into(), value });
    let kinds: Vec<(&str, Role, Option<OrganismeRef>, Option<Scope>)> = vec![
        ("administrateur@demo.tba.fr", Role::Administrateur, None, None),
        ("analyste@demo.tba.fr", Role::Analyst, None, None),
        ("dreets@demo.tba.fr", Role::Dreets, None, scope("REGION", region.clone())),
        ("conseiller-ml@demo.tba.fr", Role::MissionLocale, None, scope("MISSION_LOCALE", ml)),
        ("france-travail@demo.tba.fr", Role::FranceTravail, None, scope("REGION", region)),
        (
            "cfa@demo.tba.fr",
            Role::OrganismeFormation,
            organisme.as_ref().and_then(|(u, s, _)| format!("{u}:{s}").parse().ok()),
            None,
        ),
        ("auditeur@demo.tba.fr", Role::Auditor, None, None),
    ];
    let mut accounts = Vec::new();
    for (email, role, organisme, scope) in kinds {
        let spec = KeySpec { role, organisme, scope, label: None };
        let token = match comptes::create(pool, email, &spec).await {
            Ok((_, token)) => token,
            // Created on an earlier start (or not creatable here: no Mission Locale, no organisme).
            Err(comptes::CompteError::Invalid(why)) => match comptes::reinitialiser(pool, email).await {
                Ok(token) => token,
                Err(comptes::CompteError::NotFound(_)) => {
                    eprintln!("no demo account {email}: {why}");
                    continue;
                }
                Err(error) => return Err(error.into()),
            },
            Err(error) => return Err(error.into()),
        };
        let mut bytes = [0u8; 9];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
        let password = format!("demo-{}", hex::encode(bytes));
        comptes::definir_mot_de_passe(pool, &token, &password).await?;
        accounts.push((email.to_owned(), role.as_str(), password));
    }
    Ok(accounts)
}
