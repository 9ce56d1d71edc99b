//! The `tba` command line: one subcommand per operation, each in its own file.

mod backup;
mod checkpoint;
mod comptes;
mod db;
mod deca;
mod demo;
mod formations;
mod import;
mod indicateurs;
mod keys;
mod missions_locales;
mod organismes;
mod personnes;
mod read_models;
mod recapitulatifs;
mod referential;
mod reseaux;
mod serve;
mod verify;
mod voeux;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{DbConfig, GlobalArgs};

#[derive(Debug, Parser)]
#[command(
    name = "tba",
    version,
    about = "The apprenticeship event log: ingestion, projections, GraphQL, audit"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP service (migrates the database first).
    Serve(serve::ServeArgs),
    /// Apply the database migrations (idempotent).
    Migrate,
    /// Manage the private PostgreSQL cluster.
    #[command(subcommand)]
    Db(db::DbCommand),
    /// Recompute the hash chain of the log and name the first broken position.
    Verify(verify::VerifyArgs),
    /// A consistent copy of the database (pg_dump on one snapshot) and a manifest with the log's head
    /// and the SHA-256 of every file, in a new directory.
    Backup { dir: std::path::PathBuf },
    /// Restore a backup into an empty database (the private cluster of a new TBA_HOME, or an empty
    /// DATABASE_URL), then verify the whole chain up to the manifest's head; exit 1 if it does not hold.
    Restore { dir: std::path::PathBuf },
    /// Signed checkpoints of the log and inclusion proofs of single events.
    #[command(subcommand)]
    Checkpoint(checkpoint::CheckpointCommand),
    /// Create and revoke API keys.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// People's accounts for the console.
    #[command(subcommand)]
    Comptes(comptes::ComptesCommand),
    /// The organismes referential.
    #[command(subcommand)]
    Organismes(organismes::OrganismesCommand),
    /// The Missions Locales and their territories.
    #[command(subcommand)]
    MissionsLocales(missions_locales::MissionsLocalesCommand),
    /// The réseaux of organismes (perimeters of TETE_DE_RESEAU keys).
    #[command(subcommand)]
    Reseaux(reseaux::ReseauxCommand),
    /// Affelnet and Parcoursup vœux.
    #[command(subcommand)]
    Voeux(voeux::VoeuxCommand),
    /// Import a CSV or XLSX file of dossiers (v3 field names as columns) for an organisme.
    Import(import::ImportArgs),
    /// A running service with synthetic data in it; `generate` and `load` make and push a data set.
    Demo(demo::DemoArgs),
    /// The projections (read models) built from the log.
    #[command(subcommand)]
    Projections(read_models::ProjectionsCommand),
    /// Rebuild a projection from the log as it was known at a position or time, into its own schema.
    Replay(read_models::ReplayArgs),
    /// The indicators "à date" (apprentis, inscrits, rupturants, abandons, apprenants), grouped and
    /// filtered.
    Indicateurs(indicateurs::IndicateursArgs),
    /// Print the head of the log (position and hash), to note down for a later `verify --until`.
    Head,
    /// Personal data: erase a person, rotate the master key.
    #[command(subcommand)]
    Personnes(personnes::PersonnesCommand),
    /// Erase the personal data past the retention period.
    #[command(subcommand)]
    Retention(personnes::RetentionCommand),
    /// Extracts of DECA, the national base of apprenticeship contracts.
    #[command(subcommand)]
    Deca(deca::DecaCommand),
    /// The formations referential (CFD, RNCP, libellé, niveau, ROME codes).
    #[command(subcommand)]
    Formations(formations::FormationsCommand),
    /// The collaboration's recaps: produce those due, e-mail them.
    #[command(subcommand)]
    Recapitulatifs(recapitulatifs::RecapitulatifsCommand),
}

/// Parse the command line and run it.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    crate::telemetry::init_tracing(cli.global.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let db = DbConfig::from(&cli.global);
    match cli.command {
        Command::Serve(args) => serve::run(&db, args).await,
        Command::Migrate => {
            let pool = crate::db::pool(&db, 2).await?;
            crate::db::migrate(&pool).await?;
            println!("migrations applied");
            Ok(ExitCode::SUCCESS)
        }
        Command::Db(command) => db::run(&db, command).await,
        Command::Verify(args) => verify::run(&db, args).await,
        Command::Backup { dir } => backup::backup(&db, dir).await,
        Command::Restore { dir } => backup::restore(&db, dir).await,
        Command::Head => verify::head(&db).await,
        Command::Checkpoint(command) => checkpoint::run(&db, command).await,
        Command::Personnes(command) => personnes::run(&db, command).await,
        Command::Retention(command) => personnes::retention_run(&db, command).await,
        Command::Recapitulatifs(command) => recapitulatifs::run(&db, command).await,
        Command::Formations(command) => formations::run(&db, command).await,
        Command::Deca(command) => deca::run(&db, command).await,
        Command::Demo(args) => demo::run(&db, args).await,
        Command::Import(args) => import::run(&db, args).await,
        Command::Projections(command) => read_models::run(&db, command).await,
        Command::Replay(args) => read_models::replay(&db, args).await,
        Command::Indicateurs(args) => indicateurs::run(&db, args).await,
        Command::Keys(command) => keys::run(&db, command).await,
        Command::Comptes(command) => comptes::run(&db, command).await,
        Command::Organismes(command) => organismes::run(&db, command).await,
        Command::Reseaux(command) => reseaux::run(&db, command).await,
        Command::MissionsLocales(command) => missions_locales::run(&db, command).await,
        Command::Voeux(command) => voeux::run(&db, command).await,
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        super::Cli::command().debug_assert();
    }
}
