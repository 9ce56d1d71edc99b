//! `tba db start|stop|status|url`: the private PostgreSQL cluster.

use std::process::ExitCode;

use clap::Subcommand;

use crate::config::DbConfig;
use crate::db::cluster::{Cluster, Status};

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Initialise (first time) and start the private cluster; harmless when it runs.
    Start,
    /// Stop the private cluster.
    Stop,
    /// Say whether the private cluster runs, and where it lives.
    Status,
    /// Print the URL of the database `tba` uses.
    Url,
}

pub async fn run(config: &DbConfig, command: DbCommand) -> anyhow::Result<ExitCode> {
    if let Some(url) = &config.url {
        if let DbCommand::Url = command {
            println!("{url}");
            return Ok(ExitCode::SUCCESS);
        }
        anyhow::bail!("DATABASE_URL is set: tba uses that server and manages no private cluster");
    }
    let home = config.home.clone();
    match command {
        DbCommand::Start => {
            let cluster = crate::db::start_cluster(config).await?;
            let admin = cluster.connect_options("postgres");
            crate::db::ensure_database(&admin, crate::db::DATABASE).await?;
            println!("running: {}", cluster.url(crate::db::DATABASE));
        }
        DbCommand::Stop => {
            tokio::task::spawn_blocking(move || Cluster::locate(&home)?.stop()).await??;
            println!("stopped");
        }
        DbCommand::Status => {
            let cluster = Cluster::locate(&home)?;
            let status = tokio::task::spawn_blocking({
                let cluster = cluster.clone();
                move || cluster.status()
            })
            .await??;
            let word = match status {
                Status::Running => "running",
                Status::Stopped => "stopped",
                Status::NotInitialised => "not initialised",
            };
            println!("{word}");
            println!("data: {}", cluster.data_dir().display());
            println!("log: {}", cluster.log_file().display());
            println!("url: {}", cluster.url(crate::db::DATABASE));
            if status != Status::Running {
                return Ok(ExitCode::from(3));
            }
        }
        DbCommand::Url => println!("{}", Cluster::locate(&home)?.url(crate::db::DATABASE)),
    }
    Ok(ExitCode::SUCCESS)
}
