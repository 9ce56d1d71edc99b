//! The read models of the service, in one registry: the projections a `tba serve` process runs (each
//! by one process at a time, see `projections::runtime`), where each stands (`tba projections
//! status`), and the names operators give them (`ReadModel`, a clap value). A new projection is added
//! here, in `ReadModel` and `with_read_model!`, and nowhere else.

use std::time::Duration;

use events::EventStore;
use projections::runtime::{self, Projector, checkpoint_name};
use sqlx::PgPool;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// A read model the service keeps, by the name operators give it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReadModel {
    /// The dossiers and the indicators (`rm_dossiers`, the cubes, their history).
    Dossiers,
    /// The Missions Locales' rupture queue.
    Ruptures,
    /// The vœux, their matching and the funnels.
    Voeux,
    /// France Travail's queue of adults enrolled without a contract.
    #[value(name = "france_travail")]
    FranceTravail,
}

impl ReadModel {
    pub const ALL: [ReadModel; 4] =
        [ReadModel::Dossiers, ReadModel::Ruptures, ReadModel::Voeux, ReadModel::FranceTravail];

    /// Its projector's name.
    pub fn name(self) -> &'static str {
        match self {
            ReadModel::Dossiers => "dossiers",
            ReadModel::Ruptures => "ruptures",
            ReadModel::Voeux => "voeux",
            ReadModel::FranceTravail => "france_travail",
        }
    }

    pub fn from_name(name: &str) -> Option<ReadModel> {
        ReadModel::ALL.into_iter().find(|r| r.name() == name)
    }
}

/// Run `$body` with `$p` bound to the projector of the read model `$which` (each its own type), opening
/// personal data with `$vault`.
macro_rules! with_read_model {
    ($which:expr, $vault:expr, |$p:ident| $body:expr) => {
        match $which {
            $crate::read_models::ReadModel::Dossiers => {
                let $p = ::projections::dossiers::DossiersProjection::default().with_vault($vault);
                $body
            }
            $crate::read_models::ReadModel::Ruptures => {
                let $p = ::projections::ruptures::RupturesProjection::default().with_vault($vault);
                $body
            }
            $crate::read_models::ReadModel::Voeux => {
                let $p = ::projections::voeux::VoeuxProjection::default().with_vault($vault);
                $body
            }
            $crate::read_models::ReadModel::FranceTravail => {
                let $p = ::projections::france_travail::FranceTravailProjection::default().with_vault($vault);
                $body
            }
        }
    };
}
pub(crate) use with_read_model;

/// The running projections of this process.
pub struct Projections {
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl Projections {
    pub fn start(store: &EventStore) -> Projections {
        Projections::start_settling(store, Some(runtime::SETTLE_EVERY))
    }

    /// Start them, settling their read models every `settle_every` (never when `None`: a test's way
    /// to see unsettled read models).
    pub fn start_settling(store: &EventStore, settle_every: Option<Duration>) -> Projections {
        let (stop, stopped) = watch::channel(false);
        let mut tasks = JoinSet::new();
        for which in ReadModel::ALL {
            with_read_model!(which, store.vault().cloned(), |p| {
                tasks.spawn(runtime::run(store.clone(), p, settle_every, stopped.clone()))
            });
        }
        Projections { stop, tasks }
    }

    /// Stop at the end of the current batches (what is committed stays committed).
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        while self.tasks.join_next().await.is_some() {}
    }
}

/// The name of a read model's checkpoint (its projection and version).
pub fn checkpoint(which: ReadModel) -> String {
    with_read_model!(which, None, |p| checkpoint_name(p.name(), p.version()))
}

/// The log position up to which a read model is projected.
pub async fn position(conn: &mut sqlx::PgConnection, which: ReadModel) -> Result<i64, sqlx::Error> {
    with_read_model!(which, None, |p| position_of(conn, &p).await)
}

async fn position_of<P: Projector>(
    conn: &mut sqlx::PgConnection,
    projection: &P,
) -> Result<i64, sqlx::Error> {
    let name = checkpoint_name(projection.name(), projection.version());
    events::store::checkpoint::load(conn, &name).await
}

/// Where one projection stands.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Status {
    pub name: &'static str,
    pub version: i32,
    pub position: i64,
    pub head: i64,
    pub lag_events: i64,
    /// How much older the oldest unapplied event is than the head (0 when caught up).
    pub lag_seconds: f64,
    /// Events it set aside: its read models could not hold them (see `projections::admission`).
    pub quarantined: i64,
}

/// An event a projection set aside, and why.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SetAside {
    pub position: i64,
    pub stream_id: String,
    pub event_type: String,
    pub erreur: String,
}

/// The events `projection` set aside, in log order (at most `limit`).
pub async fn quarantined<P: Projector>(
    pool: &PgPool,
    projection: &P,
    limit: i64,
) -> Result<Vec<SetAside>, sqlx::Error> {
    let sql = format!(
        "SELECT position, stream_id, event_type, erreur FROM {} ORDER BY position LIMIT $1",
        projection.quarantaine()
    );
    let rows: Vec<(i64, String, String, String)> =
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(limit).fetch_all(pool).await?;
    Ok(rows
        .into_iter()
        .map(|(position, stream_id, event_type, erreur)| SetAside { position, stream_id, event_type, erreur })
        .collect())
}

pub async fn status(pool: &PgPool) -> Result<Vec<Status>, sqlx::Error> {
    let mut all = Vec::new();
    for which in ReadModel::ALL {
        all.push(with_read_model!(which, None, |p| status_of(pool, &p).await?));
    }
    Ok(all)
}

async fn status_of<P: Projector>(pool: &PgPool, projection: &P) -> Result<Status, sqlx::Error> {
    let (name, version) = (projection.name(), projection.version());
    let row = sqlx::query!(
        r#"SELECT h.position AS head, coalesce(c.position, 0) AS "position!",
                  extract(epoch FROM h.recorded_at - n.recorded_at)::float8 AS lag_seconds
           FROM log_head h
           LEFT JOIN checkpoints c ON c.name = $1
           LEFT JOIN events n ON n.position = coalesce(c.position, 0) + 1"#,
        checkpoint_name(name, version)
    )
    .fetch_one(pool)
    .await?;
    let sql = format!("SELECT count(*) FROM {}", projection.quarantaine());
    let quarantined: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_one(pool).await?;
    Ok(Status {
        name,
        version,
        position: row.position,
        head: row.head,
        lag_events: row.head - row.position,
        lag_seconds: row.lag_seconds.unwrap_or(0.0).max(0.0),
        quarantined,
    })
}
