//! Reading the log: one stream (or a batch of streams) by version, the whole log or one category by position, and the head.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use futures_util::{Stream, StreamExt};
use sqlx::PgPool;
use uuid::Uuid;

use super::EventStore;
use crate::envelope::{LogHead, RecordedEvent};
use crate::error::StoreError;
use crate::signed_checkpoint::RecordedFields;

/// An `events` row as stored, with `data` and `metadata` as their exact JSON text.
#[derive(Debug)]
pub(crate) struct EventRow {
    pub position: i64,
    pub stream_id: String,
    pub version: i64,
    pub event_id: Uuid,
    pub event_type: String,
    pub schema_version: i32,
    pub occurred_at: NaiveDate,
    pub data: String,
    pub metadata: String,
    pub recorded_at: DateTime<Utc>,
    pub hash: Vec<u8>,
}

impl EventRow {
    pub(crate) fn stored_hash(&self) -> Result<[u8; 32], StoreError> {
        self.hash.as_slice().try_into().map_err(|_| self.corrupt("hash is not 32 bytes"))
    }

    fn corrupt(&self, message: impl Into<String>) -> StoreError {
        StoreError::Corrupt { position: self.position, message: message.into() }
    }

    /// The fields its chain hash covers, and its stored hash.
    pub(crate) fn into_fields(self) -> Result<(RecordedFields, [u8; 32]), StoreError> {
        let hash = self.stored_hash()?;
        let fields = RecordedFields {
            position: self.position,
            stream_id: self.stream_id,
            version: self.version,
            event_id: self.event_id,
            event_type: self.event_type,
            schema_version: self.schema_version,
            occurred_at: self.occurred_at,
            data: self.data,
            metadata: self.metadata,
            recorded_at: self.recorded_at,
        };
        Ok((fields, hash))
    }

    pub(crate) fn into_event(self) -> Result<RecordedEvent, StoreError> {
        let (f, hash) = self.into_fields()?;
        let corrupt = |message: String| StoreError::Corrupt { position: f.position, message };
        let data = serde_json::from_str(&f.data).map_err(|e| corrupt(format!("data: {e}")))?;
        let metadata = serde_json::from_str(&f.metadata).map_err(|e| corrupt(format!("metadata: {e}")))?;
        Ok(RecordedEvent {
            position: f.position,
            stream_id: f.stream_id,
            version: f.version,
            event_id: f.event_id,
            event_type: f.event_type,
            schema_version: f.schema_version,
            occurred_at: f.occurred_at,
            data,
            metadata,
            recorded_at: f.recorded_at,
            hash,
        })
    }
}

fn into_events(rows: Vec<EventRow>) -> Result<Vec<RecordedEvent>, StoreError> {
    rows.into_iter().map(EventRow::into_event).collect()
}

/// Rows of the whole log with `position > after`, in position order.
pub(crate) async fn rows_after(pool: &PgPool, after: i64, limit: i64) -> Result<Vec<EventRow>, StoreError> {
    Ok(sqlx::query_as!(
        EventRow,
        r#"SELECT position, stream_id, version, event_id, event_type, schema_version, occurred_at,
                  data::text AS "data!", metadata::text AS "metadata!", recorded_at, hash
           FROM events WHERE position > $1 ORDER BY position LIMIT $2"#,
        after,
        limit
    )
    .fetch_all(pool)
    .await?)
}

/// Every event of `category` with `position <= until` (the log as it was known at that position),
/// ordered by stream then version, read as it comes: a read model built from nothing folds each stream
/// whole, one after the other, without holding the log in memory. Personal data stays sealed: the
/// caller opens it a chunk at a time (`EventStore::open`).
pub fn category_by_stream<'a>(
    pool: &'a PgPool,
    category: &'a str,
    until: i64,
) -> impl Stream<Item = Result<RecordedEvent, StoreError>> + Send + 'a {
    sqlx::query_as!(
        EventRow,
        r#"SELECT position, stream_id, version, event_id, event_type, schema_version, occurred_at,
                  data::text AS "data!", metadata::text AS "metadata!", recorded_at, hash
           FROM events WHERE category = $1 AND position <= $2 ORDER BY stream_id, version"#,
        category,
        until
    )
    .fetch(pool)
    .map(|row| row.map_err(StoreError::from).and_then(EventRow::into_event))
}

/// Events of several streams with `position <= until` (the log as it was known at that position),
/// each stream's in version order, read on the caller's connection (a projector's transaction).
pub async fn streams_until(
    conn: &mut sqlx::PgConnection,
    vault: Option<&crate::personal::Vault>,
    stream_ids: &[String],
    until: i64,
) -> Result<HashMap<String, Vec<RecordedEvent>>, StoreError> {
    let rows = sqlx::query_as!(
        EventRow,
        r#"SELECT position, stream_id, version, event_id, event_type, schema_version, occurred_at,
                  data::text AS "data!", metadata::text AS "metadata!", recorded_at, hash
           FROM events WHERE stream_id = ANY($1) AND position <= $2 ORDER BY stream_id, version"#,
        stream_ids,
        until
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut events = into_events(rows)?;
    crate::personal::open_with(vault, conn, &mut events).await?;
    Ok(by_stream(events))
}

fn by_stream(events: Vec<RecordedEvent>) -> HashMap<String, Vec<RecordedEvent>> {
    let mut streams: HashMap<String, Vec<RecordedEvent>> = HashMap::new();
    for event in events {
        streams.entry(event.stream_id.clone()).or_default().push(event);
    }
    streams
}

/// The head of the log as committed now, without starting a store (for auditors' tools).
pub async fn head<'c>(executor: impl sqlx::PgExecutor<'c>) -> Result<LogHead, StoreError> {
    let row = sqlx::query!("SELECT position, hash FROM log_head").fetch_one(executor).await?;
    let hash = row.hash.as_slice().try_into().map_err(|_| StoreError::Corrupt {
        position: row.position,
        message: "log head hash is not 32 bytes".into(),
    })?;
    Ok(LogHead { position: row.position, hash })
}

impl EventStore {
    /// The head of the log as committed now.
    pub async fn head(&self) -> Result<LogHead, StoreError> {
        head(&self.pool).await
    }

    /// Events of the whole log with `position > after`, at most `limit`, in position order.
    pub async fn read_all(&self, after: i64, limit: i64) -> Result<Vec<RecordedEvent>, StoreError> {
        self.opened(rows_after(&self.pool, after, limit).await?).await
    }

    /// Rows as events, their personal data opened.
    async fn opened(&self, rows: Vec<EventRow>) -> Result<Vec<RecordedEvent>, StoreError> {
        let mut events = into_events(rows)?;
        self.open(&mut events).await?;
        Ok(events)
    }

    /// Events of one stream with `version >= from_version`, at most `limit`, in version order.
    pub async fn read_stream(
        &self,
        stream_id: &str,
        from_version: i64,
        limit: i64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let rows = sqlx::query_as!(
            EventRow,
            r#"SELECT position, stream_id, version, event_id, event_type, schema_version, occurred_at,
                      data::text AS "data!", metadata::text AS "metadata!", recorded_at, hash
               FROM events WHERE stream_id = $1 AND version >= $2 ORDER BY version LIMIT $3"#,
            stream_id,
            from_version,
            limit
        )
        .fetch_all(&self.pool)
        .await?;
        self.opened(rows).await
    }

    /// Events of one category (`dossier`, `organisme`, ...) with `position > after`, in position order.
    pub async fn read_category(
        &self,
        category: &str,
        after: i64,
        limit: i64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let rows = sqlx::query_as!(
            EventRow,
            r#"SELECT position, stream_id, version, event_id, event_type, schema_version, occurred_at,
                      data::text AS "data!", metadata::text AS "metadata!", recorded_at, hash
               FROM events WHERE category = $1 AND position > $2 ORDER BY position LIMIT $3"#,
            category,
            after,
            limit
        )
        .fetch_all(&self.pool)
        .await?;
        self.opened(rows).await
    }

    /// Events of several streams at once, each stream's in version order: one round trip for a batch
    /// of dossiers. Streams without events are absent from the result.
    pub async fn read_streams(
        &self,
        stream_ids: &[String],
    ) -> Result<HashMap<String, Vec<RecordedEvent>>, StoreError> {
        let rows = sqlx::query_as!(
            EventRow,
            r#"SELECT position, stream_id, version, event_id, event_type, schema_version, occurred_at,
                      data::text AS "data!", metadata::text AS "metadata!", recorded_at, hash
               FROM events WHERE stream_id = ANY($1) ORDER BY stream_id, version"#,
            stream_ids
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(by_stream(self.opened(rows).await?))
    }

    /// The current version of a stream (0 when it has no event).
    pub async fn stream_version(&self, stream_id: &str) -> Result<i64, StoreError> {
        let version = sqlx::query_scalar!("SELECT max(version) FROM events WHERE stream_id = $1", stream_id)
            .fetch_one(&self.pool)
            .await?;
        Ok(version.unwrap_or(0))
    }
}
