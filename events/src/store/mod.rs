//! The event store: appends go through one group-commit writer per process; reads, subscriptions and
//! verification go straight to PostgreSQL.
//!
//! Several processes may share one database: the serialisation point is the `log_head` row in
//! PostgreSQL (see `batch`), not anything in this process.

mod batch;
pub mod checkpoint;
mod listener;
pub mod notified;
mod read;
pub mod signed;
mod subscribe;
pub mod verify;
mod writer;

use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot, watch};

pub use batch::append_in_transaction;
pub use listener::reconnecting;
pub use read::{category_by_stream, head as log_head, streams_until};
pub use subscribe::Subscription;

use crate::envelope::{AppendOutcome, AppendRequest, ExpectedVersion, NewEvent, RecordedEvent};
use crate::error::{AppendError, StoreError};
use crate::personal::{self, Vault};

/// The NOTIFY channel woken when a consumer's checkpoint moves; its payload is `NAME POSITION`.
pub const CHECKPOINT_CHANNEL: &str = "tba_checkpoints";

/// The NOTIFY channel woken on every commit to the log; its payload is the new head position.
pub const NOTIFY_CHANNEL: &str = "tba_events";

/// Tuning of the group-commit writer.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// At most this many events are gathered into one transaction (a single request is never split).
    pub max_batch_events: usize,
    /// Requests waiting for the writer before callers are made to wait for room (back-pressure).
    pub queue_capacity: usize,
    /// Longest the writer waits for callers it has just answered to come back before it commits
    /// (only while fewer came back than were answered; zero turns it off).
    pub linger: std::time::Duration,
    /// The master keys that seal and open personal data. Without one, personal data is written in
    /// clear and sealed data is refused on read (tests and benchmarks of the store alone).
    pub vault: Option<Vault>,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            max_batch_events: 20_000,
            queue_capacity: 4096,
            linger: std::time::Duration::from_micros(500),
            vault: None,
        }
    }
}

/// A handle on the event log. Cheap to clone; all clones share one writer.
#[derive(Clone)]
pub struct EventStore {
    pool: PgPool,
    jobs: mpsc::Sender<writer::Job>,
    head: watch::Receiver<i64>,
    /// Every consumer's checkpoint, as the commits of any process move them.
    checkpoints: watch::Receiver<std::collections::HashMap<String, i64>>,
    vault: Option<Vault>,
}

impl EventStore {
    /// Start the store's writer and its LISTEN task on a migrated database.
    pub async fn start(pool: PgPool, config: StoreConfig) -> Result<Self, StoreError> {
        let current = read::head(&pool).await?.position;
        let (head_tx, head) = watch::channel(current);
        let vault = config.vault.clone();
        let jobs = writer::spawn(pool.clone(), config, head_tx.clone());
        let (checkpoints_tx, checkpoints) = watch::channel(checkpoint::all(&pool).await?);
        listener::spawn(pool.clone(), head_tx, checkpoints_tx, vault.clone());
        Ok(EventStore { pool, jobs, head, checkpoints, vault })
    }

    /// Wait until the consumer `name` has processed the log up to `position`, at most `within`;
    /// whether it has. Woken by the commits that move its checkpoint, in any process, without holding
    /// a connection.
    pub async fn wait_checkpoint(&self, name: &str, position: i64, within: std::time::Duration) -> bool {
        let mut checkpoints = self.checkpoints.clone();
        let reached = checkpoints.wait_for(|known| known.get(name).is_some_and(|p| *p >= position));
        matches!(tokio::time::timeout(within, reached).await, Ok(Ok(_)))
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The master keys of this process, if it has any.
    pub fn vault(&self) -> Option<&Vault> {
        self.vault.as_ref()
    }

    /// Open the sealed personal data of events read outside the store's own methods.
    pub async fn open(&self, events: &mut [RecordedEvent]) -> Result<(), StoreError> {
        if events.is_empty() {
            return Ok(());
        }
        let mut conn = self.pool.acquire().await?;
        personal::open_with(self.vault.as_ref(), &mut conn, events).await
    }

    /// Append events to one stream, atomically, if the stream is at the expected version.
    pub async fn append(
        &self,
        stream_id: impl Into<String>,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendOutcome, AppendError> {
        let request = AppendRequest::new(stream_id, expected, events);
        self.append_many(vec![request]).await.pop().expect("one result per request")
    }

    /// Append several requests; each is atomic on its own and gets its own result.
    pub async fn append_many(
        &self,
        mut requests: Vec<AppendRequest>,
    ) -> Vec<Result<AppendOutcome, AppendError>> {
        let count = requests.len();
        let sealed = match seal(self.vault.as_ref(), &self.pool, &mut requests).await {
            Ok(sealed) => sealed,
            Err(error) => {
                return (0..count).map(|_| Err(AppendError::Unavailable(error.to_string()))).collect();
            }
        };
        // Validation and serialisation happen here, on the caller's task, not in the writer.
        let requests = requests
            .into_iter()
            .zip(sealed)
            .map(|(r, sealed)| batch::Prepared::new(r).refused_if(sealed))
            .collect();

        let (reply, answer) = oneshot::channel();
        let job = writer::Job::Append { requests, reply, enqueued: std::time::Instant::now() };
        if self.jobs.send(job).await.is_err() {
            return stopped(count);
        }
        answer.await.unwrap_or_else(|_| stopped(count))
    }

    /// Wait until every append handed to the writer before this call is committed or refused.
    pub async fn flush(&self) -> Result<(), StoreError> {
        let (reply, done) = oneshot::channel();
        self.jobs.send(writer::Job::Flush(reply)).await.map_err(|_| StoreError::WriterStopped)?;
        done.await.map_err(|_| StoreError::WriterStopped)
    }

    /// The last position this process knows to be committed (kept current by LISTEN/NOTIFY).
    pub fn known_head(&self) -> i64 {
        *self.head.borrow()
    }

    /// Read events from `after` on, then wait for new ones: catch-up, then live.
    pub fn subscribe(&self, after: i64) -> Subscription {
        Subscription::new(self.pool.clone(), self.head.clone(), after, self.vault.clone())
    }
}

/// Seal the personal data of requests with the vault, if there is one.
async fn seal(
    vault: Option<&Vault>,
    pool: &PgPool,
    requests: &mut [AppendRequest],
) -> Result<Vec<Result<(), AppendError>>, StoreError> {
    let needed =
        requests.iter().flat_map(|r| &r.events).any(|e| personal::seal::has_personal_data(&e.event_type));
    match vault {
        Some(vault) if needed => vault.seal(&mut *pool.acquire().await?, requests).await,
        _ => Ok(requests.iter().map(|_| Ok(())).collect()),
    }
}

fn stopped(count: usize) -> Vec<Result<AppendOutcome, AppendError>> {
    (0..count).map(|_| Err(AppendError::Unavailable("the append writer has stopped".into()))).collect()
}
