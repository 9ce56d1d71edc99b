//! Subscriptions: read the log from a position in batches (catch-up), then wait for the head to move
//! (live). Because positions are gapless and in commit order, `position > last seen` never skips.

use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::watch;

use super::read::rows_after;
use crate::envelope::RecordedEvent;
use crate::error::StoreError;
use crate::personal::Vault;

const BATCH: i64 = 1000;
/// A safety net, not a poll: if a wake-up were ever missed, the log is read again after this long.
const RECHECK: Duration = Duration::from_secs(30);

pub struct Subscription {
    pool: PgPool,
    head: watch::Receiver<i64>,
    after: i64,
    batch: i64,
    vault: Option<Vault>,
}

impl Subscription {
    pub(super) fn new(pool: PgPool, head: watch::Receiver<i64>, after: i64, vault: Option<Vault>) -> Self {
        Subscription { pool, head, after, batch: BATCH, vault }
    }

    /// At most this many events per batch.
    pub fn with_batch_size(mut self, batch: i64) -> Self {
        self.batch = batch.max(1);
        self
    }

    /// The position of the last event handed out.
    pub fn position(&self) -> i64 {
        self.after
    }

    /// The next events after the last one handed out, waiting for them if there are none yet.
    pub async fn next_batch(&mut self) -> Result<Vec<RecordedEvent>, StoreError> {
        loop {
            let rows = rows_after(&self.pool, self.after, self.batch).await?;
            if let Some(last) = rows.last() {
                let after = last.position;
                let mut events =
                    rows.into_iter().map(super::read::EventRow::into_event).collect::<Result<Vec<_>, _>>()?;
                let mut conn = self.pool.acquire().await?;
                crate::personal::open_with(self.vault.as_ref(), &mut conn, &mut events).await?;
                self.after = after;
                return Ok(events);
            }
            let after = self.after;
            match tokio::time::timeout(RECHECK, self.head.wait_for(|head| *head > after)).await {
                Ok(Ok(_)) | Err(_) => {}
                Ok(Err(_)) => return Err(StoreError::WriterStopped),
            }
        }
    }
}
