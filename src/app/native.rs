//! Appending native dossier events, the same whichever adapter receives them (`POST /api/v1/events`,
//! `appendEvents`, the coming console): the caller's transmitter and the batch's correlation id, the
//! append (validated whole, then one transaction: `ingestion::native`), and the metrics. Who may call
//! it is checked by the adapter before it reads the body; each adapter maps `NativeError` once, to its
//! status or code.

use events::{Channel, EventStore};
use uuid::Uuid;

use crate::auth::Principal;
use crate::ingestion::native::{self, Batch, NativeError, StreamResult};
use crate::ingestion::snapshots::Transmitter;

/// A batch recorded.
#[derive(Debug)]
pub struct Appended {
    /// The correlation id every event of the batch carries.
    pub correlation_id: Uuid,
    /// Per dossier of the batch.
    pub results: Vec<StreamResult>,
}

/// Append `batch` as `principal` (an organisme for its own dossiers, or an administrator), received
/// through `channel`: all of it, or nothing and why.
pub async fn append_events(
    store: &EventStore,
    principal: &Principal,
    channel: Channel,
    batch: Batch,
) -> Result<Appended, NativeError> {
    let transmitter =
        Transmitter { organisme: principal.organisme.clone(), actor: principal.actor(), channel };
    let correlation_id = Uuid::now_v7();
    let results = native::append(store, &transmitter, correlation_id, batch).await?;
    let appended: usize = results.iter().filter(|r| !r.replayed).map(|r| r.positions.len()).sum();
    metrics::counter!("tba_ingest_events_total", "channel" => channel.as_str()).increment(appended as u64);
    Ok(Appended { correlation_id, results })
}
