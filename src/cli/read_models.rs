//! `tba projections status|rebuild|retry|checksum` and `tba replay`: the operators' and auditors' handles on
//! the read models built from the log.

use std::process::ExitCode;

use anyhow::bail;
use chrono::{DateTime, Utc};
use clap::Subcommand;
use events::EventStore;
use projections::build;
use projections::runtime::Projector;

use crate::config::DbConfig;
use crate::progress::Progress;
use crate::read_models::{ReadModel, with_read_model};

#[derive(Debug, Subcommand)]
pub enum ProjectionsCommand {
    /// Checkpoint, log head and lag (events and seconds) of each projection.
    Status,
    /// Rebuild a projection from the whole log beside the live one, then swap it in atomically.
    Rebuild { name: ReadModel },
    /// Apply again the events a projection set aside, once a new version of tba admits them: each is
    /// checked again, and if any now passes, the projection is rebuilt (the events it still cannot
    /// hold stay set aside). Exits 1 while some stay set aside.
    Retry { name: ReadModel },
    /// The deterministic checksum of a projection's read model (live, or in a replay's schema).
    Checksum {
        name: ReadModel,
        /// The schema holding the read model (default: the live one).
        #[arg(long, default_value = "public")]
        schema: String,
    },
}

#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// The log as known at this position, or at this time (RFC 3339, e.g. 2026-11-01T00:00:00Z).
    #[arg(long)]
    pub until: String,
    /// The projection to rebuild.
    #[arg(long, value_enum, default_value_t = ReadModel::Dossiers)]
    pub projection: ReadModel,
}

async fn store(db: &DbConfig) -> anyhow::Result<EventStore> {
    let pool = crate::db::pool(db, 4).await?;
    crate::db::migrate(&pool).await?;
    Ok(EventStore::start(pool, db.store_config()?).await?)
}

pub async fn run(db: &DbConfig, command: ProjectionsCommand) -> anyhow::Result<ExitCode> {
    let store = store(db).await?;
    match command {
        ProjectionsCommand::Status => {
            println!(
                "{:<12} {:>7} {:>12} {:>12} {:>12} {:>10} {:>10}",
                "projection", "version", "position", "head", "lag events", "lag s", "set aside"
            );
            let status = crate::read_models::status(store.pool()).await?;
            for s in &status {
                println!(
                    "{:<12} {:>7} {:>12} {:>12} {:>12} {:>10.1} {:>10}",
                    s.name, s.version, s.position, s.head, s.lag_events, s.lag_seconds, s.quarantined
                );
            }
            for which in
                status.iter().filter(|s| s.quarantined > 0).filter_map(|s| ReadModel::from_name(s.name))
            {
                with_read_model!(which, store.vault().cloned(), |p| print_set_aside(&store, &p).await?);
            }
        }
        ProjectionsCommand::Retry { name } => {
            return with_read_model!(name, store.vault().cloned(), |p| retry(&store, &p).await);
        }
        ProjectionsCommand::Rebuild { name } => {
            with_read_model!(name, store.vault().cloned(), |p| rebuild(&store, &p).await?)
        }
        ProjectionsCommand::Checksum { name, schema } => {
            with_read_model!(name, store.vault().cloned(), |p| {
                println!("{}", build::checksum(store.pool(), &p, &schema).await?)
            })
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// How many set-aside events `status` lists per projection.
const LISTED: i64 = 20;

async fn print_set_aside<P: Projector>(store: &EventStore, projector: &P) -> anyhow::Result<()> {
    let name = projector.name();
    println!("\n{name}: events set aside (its read models cannot hold them; `tba projections retry {name}`)");
    for q in crate::read_models::quarantined(store.pool(), projector, LISTED).await? {
        println!("  position {:>10}  {}  {}  {}", q.position, q.stream_id, q.event_type, q.erreur);
    }
    Ok(())
}

async fn retry<P: Projector>(store: &EventStore, projector: &P) -> anyhow::Result<ExitCode> {
    let name = projector.name();
    let set_aside = crate::read_models::quarantined(store.pool(), projector, i64::MAX).await?;
    if set_aside.is_empty() {
        println!("{name}: no event set aside");
        return Ok(ExitCode::SUCCESS);
    }
    let mut admitted = 0;
    for q in &set_aside {
        let event = store.read_all(q.position - 1, 1).await?;
        match event.first().map(projections::admission::check) {
            Some(Ok(())) => admitted += 1,
            Some(Err(error)) => println!("position {}: still set aside: {error}", q.position),
            None => println!("position {}: no longer in the log", q.position),
        }
    }
    if admitted == 0 {
        println!("{name}: none of the {} events set aside can be applied yet", set_aside.len());
        return Ok(ExitCode::from(1));
    }
    println!("{name}: {admitted} of {} events set aside can now be applied: rebuilding", set_aside.len());
    rebuild(store, projector).await?;
    let left = crate::read_models::quarantined(store.pool(), projector, i64::MAX).await?.len();
    println!("{name}: {left} events still set aside");
    Ok(if left == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

async fn rebuild<P: Projector>(store: &EventStore, projector: &P) -> anyhow::Result<()> {
    let name = projector.name();
    let schema = format!("rebuild_{name}");
    build::create_schema(store.pool(), projector, &schema).await?;
    let progress = Progress::new("rebuilding", "events", 0);
    let built = build::project_until(store, projector, &schema, None, |done, target| {
        progress.set_length(target as u64);
        progress.set_position(done as u64);
    })
    .await?;
    progress.finish();
    let position = build::swap(store, projector, &schema, built).await?;
    let checksum = build::checksum(store.pool(), projector, "public").await?;
    println!("{name} rebuilt up to position {position} and swapped in; checksum {checksum}");
    Ok(())
}

/// `tba replay`: the read model as it was known at a position or time, in a schema of its own.
pub async fn replay(db: &DbConfig, args: ReplayArgs) -> anyhow::Result<ExitCode> {
    let store = store(db).await?;
    with_read_model!(args.projection, store.vault().cloned(), |p| replay_until(&store, &p, &args.until)
        .await?);
    Ok(ExitCode::SUCCESS)
}

async fn replay_until<P: Projector>(store: &EventStore, projector: &P, until: &str) -> anyhow::Result<()> {
    let until = match until.parse::<i64>() {
        Ok(position) => position,
        Err(_) => {
            let time: DateTime<Utc> = until.parse().map_err(|_| {
                anyhow::anyhow!("--until is a log position or an RFC 3339 time, not {until:?}")
            })?;
            sqlx::query_scalar!(
                r#"SELECT coalesce(max(position), 0) AS "position!" FROM events WHERE recorded_at <= $1"#,
                time
            )
            .fetch_one(store.pool())
            .await?
        }
    };
    let head = store.head().await?.position;
    if until > head {
        bail!("--until {until} is beyond the head of the log ({head})");
    }
    let schema = format!("replay_{}_{until}", projector.name());
    build::create_schema(store.pool(), projector, &schema).await?;
    let progress = Progress::new("replaying", "events", until as u64);
    build::project_until(store, projector, &schema, Some(until), |done, _| {
        progress.set_position(done as u64)
    })
    .await?;
    progress.finish();
    let checksum = build::checksum(store.pool(), projector, &schema).await?;
    println!("{} as known at position {until}: schema {schema}, checksum {checksum}", projector.name());
    println!(
        "query it as {schema}.{}; drop it with DROP SCHEMA {schema} CASCADE",
        projector.tables().join(", ")
    );
    Ok(())
}
