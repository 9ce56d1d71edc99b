//! The projector runtime. A projection reads the log in batches from its checkpoint and writes its read
//! models and its new checkpoint in one transaction (exactly-once effect), then waits for the head to
//! move (LISTEN/NOTIFY is only the wake-up; the log is the truth).
//!
//! Several processes may run against one database: each projection is run by one of them at a time,
//! the holder of a PostgreSQL advisory lock taken on a connection of its own (the lease). If that
//! process dies, its connection closes, the lock is released, and another process takes over within
//! `LEASE_RETRY`. As a second guard, the checkpoint only moves from the position the batch was read
//! at: two runners that ever overlapped could not both apply the same batch.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use events::envelope::category_of;
use events::store::checkpoint;
use events::{EventStore, RecordedEvent, StoreError};
use sqlx::{Connection, PgConnection};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::admission;

/// How often a process that does not hold a lease tries to take it.
pub const LEASE_RETRY: Duration = Duration::from_secs(1);
/// How often the holder checks that its lease connection is alive.
const LEASE_CHECK: Duration = Duration::from_secs(2);
/// How often `tba serve` settles each read model it projects (see `Projector::settle`).
pub const SETTLE_EVERY: Duration = Duration::from_secs(1);
/// Events read and applied per transaction.
const BATCH: i64 = 2000;

#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("event at position {position} cannot be projected: {message}")]
    Event { position: i64, message: String },
    #[error("{table} holds a row that cannot be read back: {message}")]
    ReadModel { table: &'static str, message: String },
}

/// A projection: a pure fold of the log into read models, written with the transaction it is given.
/// It must do no other I/O, so that replaying it is safe.
pub trait Projector: Send + Sync + 'static {
    /// Unique, stable name (`dossiers`); with `version`, it names the checkpoint.
    fn name(&self) -> &'static str;
    /// Changed when the read model's shape or meaning changes: a new version is rebuilt from the log.
    fn version(&self) -> i32;
    /// The read-model tables it writes (in `public` when live), all rebuilt together.
    fn tables(&self) -> &'static [&'static str];
    /// Whether it reads the streams of `category` (`dossier`, `organisme`…): it sets aside the events
    /// of those its read models cannot hold (see `admission`).
    fn reads(&self, category: &str) -> bool;
    /// Its quarantine table, one of `tables`: the events it set aside.
    fn quarantaine(&self) -> &'static str;
    /// Apply a batch of events, in log order, in `tx`. The batch holds only events the read models
    /// can hold (`apply_admitted`); what it folds again from the log, it reads through `admission`.
    fn apply(
        &self,
        tx: &mut PgConnection,
        events: &[RecordedEvent],
    ) -> impl Future<Output = Result<(), ProjectionError>> + Send;

    /// Bring the read model to the form a build from the log gives it, in `tx` (whose search path
    /// names the tables): work a projection keeps off its batches so that they stay fast (folding
    /// pending changes in). The runner calls it beside the batches, about every `SETTLE_EVERY`; builds
    /// and checksums call it first. It must be safe to run concurrently with `apply` and with itself.
    fn settle(&self, tx: &mut PgConnection) -> impl Future<Output = Result<(), ProjectionError>> + Send {
        let _ = tx;
        async { Ok(()) }
    }

    /// Work to do in the transaction that swaps a rebuilt read model in (`build::swap`), after the
    /// tables are moved: what depends on the replaced tables goes with them.
    fn swapped(&self, tx: &mut PgConnection) -> impl Future<Output = Result<(), ProjectionError>> + Send {
        let _ = tx;
        async { Ok(()) }
    }

    /// What the checksum reads of one of its tables (`t` the table, already qualified), one text per
    /// row, in a stable order. By default every row as it is; a table that records how the model got
    /// where it is (a history) may give what it sums to instead, which any path to the same log gives.
    fn checksum_rows(&self, table: &str, qualified: &str) -> String {
        let _ = table;
        format!("SELECT t::text FROM {qualified} t ORDER BY 1")
    }

    /// Build the read model from empty tables up to position `until`, in `tx` (whose search path
    /// names the tables to fill), calling `progress(done, until)` as it goes. By default, batch after
    /// batch as when live; a projection may do it in one pass.
    fn build(
        &self,
        store: &EventStore,
        tx: &mut PgConnection,
        until: i64,
        progress: &(dyn Fn(i64, i64) + Send + Sync),
    ) -> impl Future<Output = Result<(), ProjectionError>> + Send
    where
        Self: Sized,
    {
        crate::build::in_batches(store, self, tx, until, progress)
    }
}

/// The checkpoint name of a projection version.
pub fn checkpoint_name(name: &str, version: i32) -> String {
    format!("projection:{name}:v{version}")
}

/// The advisory-lock key of a projection's lease (stable across processes).
fn lease_key(name: &str) -> i64 {
    // FNV-1a: stable, and enough to spread a handful of names.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in format!("tba-projection:{name}").bytes() {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    hash as i64
}

/// Run `projector` until `stop` turns true: take the lease, catch up, follow the log, settle the read
/// model every `settle_every` (never when `None`) beside the batches; retake the lease if it is lost;
/// keep going through passing database errors.
pub async fn run<P: Projector>(
    store: EventStore,
    projector: P,
    settle_every: Option<Duration>,
    mut stop: watch::Receiver<bool>,
) {
    let name = projector.name();
    let projector = Arc::new(projector);
    loop {
        let outcome = tokio::select! {
            result = hold_and_project(&store, &projector, settle_every) => result,
            _ = stop.wait_for(|stop| *stop) => return,
        };
        if let Err(error) = outcome {
            tracing::warn!(projection = name, %error, "projection interrupted, resuming");
        }
        tokio::select! {
            () = tokio::time::sleep(LEASE_RETRY) => {}
            _ = stop.wait_for(|stop| *stop) => return,
        }
    }
}

/// Wait for the lease, then project for as long as it is held.
async fn hold_and_project<P: Projector>(
    store: &EventStore,
    projector: &Arc<P>,
    settle_every: Option<Duration>,
) -> Result<(), ProjectionError> {
    let options = store.pool().connect_options();
    let mut lease = PgConnection::connect_with(&options).await?;
    let key = lease_key(projector.name());
    loop {
        let held: bool = sqlx::query_scalar!(r#"SELECT pg_try_advisory_lock($1) AS "held!""#, key)
            .fetch_one(&mut lease)
            .await?;
        if held {
            break;
        }
        tokio::time::sleep(LEASE_RETRY).await;
    }
    tracing::info!(projection = projector.name(), "lease taken");
    let name = checkpoint_name(projector.name(), projector.version());
    let mut position = checkpoint::load(&mut *store.pool().acquire().await?, &name).await?;
    let mut subscription = store.subscribe(position).with_batch_size(BATCH);
    let mut check = tokio::time::interval(LEASE_CHECK);
    // Without settling, a timer that never fires in practice (its branch is disabled anyway).
    let mut settle = tokio::time::interval(settle_every.unwrap_or(Duration::from_secs(86_400 * 365)));
    settle.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The settling task runs beside the batches, one at a time. It is never aborted (a transaction cut
    // in flight could leave its pooled connection inside it): it finishes even if the lease is lost.
    let mut settling: Option<JoinHandle<()>> = None;
    loop {
        let events = tokio::select! {
            events = subscription.next_batch() => events?,
            // The lease connection is checked now and then: losing it means losing the lease.
            _ = check.tick() => {
                lease.ping().await?;
                continue;
            }
            _ = settle.tick(), if settle_every.is_some() && settling.as_ref().is_none_or(|t| t.is_finished()) => {
                settling = Some(tokio::spawn(settle_now(store.clone(), projector.clone())));
                continue;
            }
        };
        let last = events.last().map_or(position, |e| e.position);
        // Each batch in a span of its own, so that a slow one can be followed to its statements.
        let span = tracing::info_span!(
            "projection_batch",
            projection = projector.name(),
            from = position + 1,
            to = last,
            events = events.len()
        );
        let started = std::time::Instant::now();
        async {
            let mut tx = store.pool().begin().await?;
            apply_admitted(projector.as_ref(), &mut tx, &events).await?;
            if !checkpoint::advance(&mut tx, &name, position, last).await? {
                tx.rollback().await?;
                return Err(ProjectionError::Event {
                    position: last,
                    message: "another runner moved the checkpoint: the lease was lost".into(),
                });
            }
            tx.commit().await?;
            tracing::debug!(seconds = started.elapsed().as_secs_f64(), "batch applied");
            Ok(())
        }
        .instrument(span)
        .await?;
        position = last;
        record_lag(projector.name(), store, &events);
    }
}

/// Apply the events of a batch the read models can hold, and set the others aside in the projection's
/// quarantine table, in `tx`: every path that applies a batch (live, rebuild, swap) goes through here.
pub async fn apply_admitted<P: Projector>(
    projector: &P,
    tx: &mut PgConnection,
    events: &[RecordedEvent],
) -> Result<(), ProjectionError> {
    let mut set_aside = Vec::new();
    let kept = admission::sort_out(events, &mut set_aside);
    let kept: std::borrow::Cow<'_, [RecordedEvent]> = if set_aside.is_empty() {
        std::borrow::Cow::Borrowed(events)
    } else {
        std::borrow::Cow::Owned(kept.into_iter().cloned().collect())
    };
    // Defence in depth: an event admitted that the read model still refuses (a value the database
    // rejects, a rule of a newer version) is found by applying the batch again event by event, and set
    // aside with the database's word for it; the others are applied.
    savepoint(tx, "SAVEPOINT tba_batch").await?;
    match projector.apply(tx, &kept).await {
        Ok(()) => savepoint(tx, "RELEASE SAVEPOINT tba_batch").await?,
        Err(error) if refuses_events(&error) => {
            savepoint(tx, "ROLLBACK TO SAVEPOINT tba_batch").await?;
            tracing::warn!(projection = projector.name(), %error, "a batch was refused: applying it event by event");
            for event in kept.iter() {
                savepoint(tx, "SAVEPOINT tba_event").await?;
                match projector.apply(tx, std::slice::from_ref(event)).await {
                    Ok(()) => savepoint(tx, "RELEASE SAVEPOINT tba_event").await?,
                    Err(error) if refuses_events(&error) => {
                        savepoint(tx, "ROLLBACK TO SAVEPOINT tba_event").await?;
                        set_aside.push(admission::Quarantined {
                            position: event.position,
                            stream_id: event.stream_id.clone(),
                            event_type: event.event_type.clone(),
                            error: format!("{}: {}", event.event_type, refusal_text(&error)),
                        });
                    }
                    Err(error) => return Err(error),
                }
            }
        }
        Err(error) => return Err(error),
    }
    let concerned: Vec<_> =
        set_aside.into_iter().filter(|q| projector.reads(category_of(&q.stream_id))).collect();
    admission::record(tx, projector.quarantaine(), &concerned).await?;
    if !concerned.is_empty() {
        metrics::counter!("tba_projection_events_set_aside_total", "projection" => projector.name())
            .increment(concerned.len() as u64);
    }
    Ok(())
}

async fn savepoint(tx: &mut PgConnection, sql: &'static str) -> Result<(), sqlx::Error> {
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(tx).await.map(drop)
}

/// Whether an apply failed on the events themselves (a value the read model or the database refuses),
/// not on the database being out of reach: only then is it worth applying them one by one.
pub(crate) fn refuses_events(error: &ProjectionError) -> bool {
    match error {
        ProjectionError::Event { .. } | ProjectionError::ReadModel { .. } => true,
        ProjectionError::Database(sqlx::Error::Database(db)) => db.code().is_some_and(|code| {
            // Data exceptions, integrity violations, program limits (an index entry too large).
            code.starts_with("22") || code.starts_with("23") || code.starts_with("54")
        }),
        _ => false,
    }
}

/// What an event's refusal says, without the positions of the batch it came in.
fn refusal_text(error: &ProjectionError) -> String {
    match error {
        ProjectionError::Database(sqlx::Error::Database(db)) => db.message().to_owned(),
        ProjectionError::Event { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

/// Settle the live read model in a transaction of its own (errors are logged: the next tick retries).
async fn settle_now<P: Projector>(store: EventStore, projector: Arc<P>) {
    let outcome = async {
        let mut tx = store.pool().begin().await?;
        projector.settle(&mut tx).await?;
        tx.commit().await?;
        Ok::<_, ProjectionError>(())
    };
    if let Err(error) = outcome.await {
        tracing::warn!(projection = projector.name(), %error, "settling the read model failed, will retry");
    }
}

fn record_lag(name: &'static str, store: &EventStore, events: &[RecordedEvent]) {
    if let Some(last) = events.last() {
        let behind = (store.known_head() - last.position).max(0);
        metrics::gauge!("tba_projection_lag_events", "projection" => name).set(behind as f64);
        // How long ago the last applied event was committed: the lag while catching up, the delay
        // from commit to read model once caught up.
        let age = (chrono::Utc::now() - last.recorded_at).num_milliseconds().max(0) as f64 / 1000.0;
        metrics::gauge!("tba_projection_lag_seconds", "projection" => name).set(age);
        metrics::gauge!("tba_projection_position", "projection" => name).set(last.position as f64);
    }
}
