//! Writing a batch of append requests in one transaction: the heart of the log.
//!
//! The transaction first takes the `log_head` row FOR UPDATE. Every writer of every process does the
//! same, so transactions that append are serialised on that row: the next one reads the head only
//! after the previous one committed (or rolled back). Positions are therefore gapless and commit in
//! position order, and a reader paging `position > checkpoint` can never skip an event that commits
//! late. Everything else (expectations, idempotency, hashes) is decided in memory under that lock and
//! written with one set-based statement.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::envelope::{AppendOutcome, AppendRequest, NewEvent, category_of};
use crate::error::{AppendError, StoreError};
use crate::hash::{self, Hashed};

/// Longest accepted stream id and event type, in bytes.
const MAX_NAME_LEN: usize = 256;
/// Most events accepted in one request.
pub const MAX_EVENTS_PER_REQUEST: usize = 10_000;

/// Append `requests` inside the caller's open transaction; each gets its own result. The caller
/// commits (its own writes and the events together) or rolls back (none of the events exist).
///
/// Holding this transaction open holds the head of the log: keep it short.
pub async fn append_in_transaction(
    tx: &mut PgConnection,
    vault: Option<&crate::personal::Vault>,
    mut requests: Vec<AppendRequest>,
) -> Result<Vec<Result<AppendOutcome, AppendError>>, StoreError> {
    let sealed = match vault {
        Some(vault) => vault.seal(&mut *tx, &mut requests).await?,
        None => requests.iter().map(|_| Ok(())).collect(),
    };
    let prepared: Vec<Prepared> = requests
        .into_iter()
        .zip(sealed)
        .map(|(request, sealed)| Prepared::new(request).refused_if(sealed))
        .collect();
    Ok(write_locked(tx, &prepared, true).await?.0)
}

/// A request validated and serialised before it reaches the head lock, so that the time spent holding
/// the lock is only what must be: deciding, hashing, writing.
pub(crate) struct Prepared {
    request: AppendRequest,
    /// `Ok((data, metadata))` JSON texts per event, or why the request is refused.
    texts: Result<Vec<(String, String)>, AppendError>,
}

impl Prepared {
    pub(crate) fn new(request: AppendRequest) -> Self {
        let texts = validate(&request).map(|()| {
            request
                .events
                .iter()
                .map(|e| {
                    let metadata = serde_json::to_string(&e.metadata).expect("metadata serialises to JSON");
                    (e.data.to_string(), metadata)
                })
                .collect()
        });
        Prepared { request, texts }
    }

    /// Refused for a reason found before validation (its personal data could not be sealed).
    pub(crate) fn refused_if(mut self, sealed: Result<(), AppendError>) -> Self {
        if let Err(refused) = sealed {
            self.texts = Err(refused);
        }
        self
    }

    pub(crate) fn event_count(&self) -> usize {
        self.request.events.len()
    }
}

type Results = Vec<Result<AppendOutcome, AppendError>>;

/// What a writer knows of the log right after its own commit: the head, and the version of every
/// stream it wrote. Valid exactly as long as the head has not moved since.
pub(crate) struct Known {
    position: i64,
    hash: [u8; 32],
    recorded_at: DateTime<Utc>,
    versions: HashMap<String, i64>,
}

/// Streams whose versions a writer remembers, at most.
const KNOWN_STREAMS: usize = 200_000;

impl Known {
    fn absorb(&mut self, plan: Plan) {
        if self.versions.len() + plan.versions.len() > KNOWN_STREAMS {
            self.versions.clear();
        }
        self.position = plan.position;
        self.hash = plan.hash;
        self.recorded_at = plan.recorded_at;
        self.versions.extend(plan.versions);
    }
}

/// The locked path: take the head lock, read what the requests need, decide, write. Used inside a
/// caller's transaction, and by the writer when it knows nothing or the log moved under it.
pub(crate) async fn write_locked(
    tx: &mut PgConnection,
    requests: &[Prepared],
    notify: bool,
) -> Result<(Results, Known), sqlx::Error> {
    let streams = streams_of(requests);
    // One round trip takes the lock and reads the streams' versions. If the statement had to wait for
    // the lock, its snapshot predates the commit it waited for ("seen" differs from the locked head):
    // the versions are then read again, in a statement of their own.
    let head = sqlx::query!(
        r#"SELECT h.position, h.hash, h.recorded_at, clock_timestamp() AS "now!",
                  (SELECT position FROM log_head) AS "seen!",
                  ARRAY(SELECT coalesce((SELECT max(e.version) FROM events e WHERE e.stream_id = s.id), 0)
                        FROM unnest($1::text[]) WITH ORDINALITY AS s(id, n) ORDER BY n) AS "versions!"
           FROM log_head h FOR UPDATE"#,
        &streams
    )
    .fetch_one(&mut *tx)
    .await?;
    let versions =
        if head.seen == head.position { head.versions } else { stream_versions(tx, &streams).await? };
    let mut plan = Plan {
        position: head.position,
        hash: head.hash.as_slice().try_into().expect("log_head.hash is 32 bytes (CHECK constraint)"),
        // Knowledge time never goes backwards along the log, even if a clock does.
        recorded_at: head.recorded_at.map_or(head.now, |last| last.max(head.now)),
        versions: streams.into_iter().zip(versions).collect(),
        existing: existing_events(tx, requests).await?,
        rows: Rows::default(),
    };
    let start = (plan.position, plan.hash);
    let results: Vec<_> = requests.iter().map(|p| plan.decide(p)).collect();
    if !plan.rows.positions.is_empty() && !plan.write(tx, start, notify).await? {
        return Err(sqlx::Error::Protocol("the log head moved while locked".into()));
    }
    let mut known =
        Known { position: 0, hash: hash::GENESIS, recorded_at: plan.recorded_at, versions: HashMap::new() };
    known.absorb(plan);
    Ok((results, known))
}

/// The optimistic path: decide against what the writer knows, and write in one autocommit statement
/// that moves the head only if it is still where the writer left it (the row lock it takes then
/// serialises it with every other writer). `None`: the log moved (another process appended), or
/// there is nothing to write; nothing was written and the locked path must decide instead.
pub(crate) async fn write_optimistic(
    conn: &mut PgConnection,
    known: &mut Known,
    requests: &[Prepared],
    notify: bool,
) -> Result<Option<Results>, sqlx::Error> {
    let streams = streams_of(requests);
    let unknown: Vec<String> = streams.iter().filter(|s| !known.versions.contains_key(*s)).cloned().collect();
    let mut versions: HashMap<String, i64> =
        streams.iter().filter_map(|s| Some((s.clone(), *known.versions.get(s)?))).collect();
    if !unknown.is_empty() {
        // Read outside any lock: if anything commits after this read, the head moves and the write below
        // does nothing.
        let read = stream_versions(conn, &unknown).await?;
        versions.extend(unknown.into_iter().zip(read));
    }
    let now = Utc::now();
    let now = DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now);
    let mut plan = Plan {
        position: known.position,
        hash: known.hash,
        recorded_at: known.recorded_at.max(now),
        versions,
        existing: existing_events(conn, requests).await?,
        rows: Rows::default(),
    };
    let start = (plan.position, plan.hash);
    let results: Vec<_> = requests.iter().map(|p| plan.decide(p)).collect();
    if plan.rows.positions.is_empty() || !plan.write(conn, start, notify).await? {
        return Ok(None);
    }
    known.absorb(plan);
    Ok(Some(results))
}

fn streams_of(requests: &[Prepared]) -> Vec<String> {
    let mut streams: Vec<String> = requests.iter().map(|p| p.request.stream_id.clone()).collect();
    streams.sort_unstable();
    streams.dedup();
    streams
}

/// An event already in the log (or earlier in this batch), as far as idempotency needs it.
#[derive(Debug, Clone)]
struct Existing {
    position: i64,
    stream_id: String,
    version: i64,
    event_type: String,
    occurred_at: NaiveDate,
    data: serde_json::Value,
}

impl Existing {
    fn same_content(&self, stream_id: &str, event: &NewEvent) -> bool {
        self.stream_id == stream_id
            && self.event_type == event.event_type
            && self.occurred_at == event.occurred_at
            && self.data == event.data
    }
}

/// The current version of each stream (0 for a stream with no event), in the order given.
async fn stream_versions(tx: &mut PgConnection, streams: &[String]) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT coalesce((SELECT max(e.version) FROM events e WHERE e.stream_id = s.id), 0) AS "version!"
           FROM unnest($1::text[]) WITH ORDINALITY AS s(id, n) ORDER BY n"#,
        streams
    )
    .fetch_all(&mut *tx)
    .await
}

/// The events already in the log among the client-supplied ids of the requests.
async fn existing_events(
    tx: &mut PgConnection,
    requests: &[Prepared],
) -> Result<HashMap<Uuid, Existing>, sqlx::Error> {
    let ids: Vec<Uuid> = requests.iter().flat_map(|p| p.request.events.iter().filter_map(|e| e.id)).collect();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = sqlx::query!(
        r#"SELECT event_id, position, stream_id, version, event_type, occurred_at, data::text AS "data!"
           FROM events WHERE event_id = ANY($1)"#,
        &ids
    )
    .fetch_all(&mut *tx)
    .await?;
    rows.into_iter()
        .map(|r| {
            let data = serde_json::from_str(&r.data).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
            let existing = Existing {
                position: r.position,
                stream_id: r.stream_id,
                version: r.version,
                event_type: r.event_type,
                occurred_at: r.occurred_at,
                data,
            };
            Ok((r.event_id, existing))
        })
        .collect()
}

/// The rows to insert, column by column (they are sent as arrays and UNNESTed).
#[derive(Default)]
struct Rows {
    positions: Vec<i64>,
    stream_ids: Vec<String>,
    versions: Vec<i64>,
    categories: Vec<String>,
    event_ids: Vec<Uuid>,
    event_types: Vec<String>,
    schema_versions: Vec<i32>,
    occurred_at: Vec<NaiveDate>,
    data: Vec<String>,
    metadata: Vec<String>,
    hashes: Vec<Vec<u8>>,
}

/// The state of the log as this batch advances it, under the head lock.
struct Plan {
    position: i64,
    hash: [u8; 32],
    recorded_at: DateTime<Utc>,
    versions: HashMap<String, i64>,
    existing: HashMap<Uuid, Existing>,
    rows: Rows,
}

impl Plan {
    /// Accept or refuse one request, in order, against the log as earlier requests left it.
    fn decide(&mut self, prepared: &Prepared) -> Result<AppendOutcome, AppendError> {
        let texts = prepared.texts.as_ref().map_err(Clone::clone)?;
        let request = &prepared.request;
        if let Some(replayed) = self.replay(request)? {
            return Ok(replayed);
        }
        let current = self.versions.get(&request.stream_id).copied().unwrap_or(0);
        if !request.expected.admits(current) {
            return Err(AppendError::Conflict {
                stream: request.stream_id.clone(),
                expected: request.expected,
                actual: current,
            });
        }
        let mut outcome = AppendOutcome {
            stream_id: request.stream_id.clone(),
            positions: Vec::with_capacity(request.events.len()),
            version: current,
            event_ids: Vec::with_capacity(request.events.len()),
            replayed: false,
        };
        for (event, (data, metadata)) in request.events.iter().zip(texts) {
            self.push(request, event, data, metadata, &mut outcome);
        }
        self.versions.insert(request.stream_id.clone(), outcome.version);
        Ok(outcome)
    }

    /// When every event of the request is already recorded with the same content, the original
    /// outcome; when none is, `None`; anything in between is refused.
    fn replay(&self, request: &AppendRequest) -> Result<Option<AppendOutcome>, AppendError> {
        let mut found = Vec::new();
        for event in &request.events {
            let Some(id) = event.id else { continue };
            if let Some(existing) = self.existing.get(&id) {
                if !existing.same_content(&request.stream_id, event) {
                    return Err(AppendError::IdReused { id, position: existing.position });
                }
                found.push((id, existing));
            }
        }
        if found.is_empty() {
            return Ok(None);
        }
        if found.len() < request.events.len() {
            return Err(AppendError::PartialReplay { already: found.iter().map(|(id, _)| *id).collect() });
        }
        Ok(Some(AppendOutcome {
            stream_id: request.stream_id.clone(),
            positions: found.iter().map(|(_, e)| e.position).collect(),
            version: found.iter().map(|(_, e)| e.version).max().unwrap_or(0),
            event_ids: found.iter().map(|(id, _)| *id).collect(),
            replayed: true,
        }))
    }

    fn push(
        &mut self,
        request: &AppendRequest,
        event: &NewEvent,
        data: &str,
        metadata: &str,
        outcome: &mut AppendOutcome,
    ) {
        self.position += 1;
        outcome.version += 1;
        let event_id = event.id.unwrap_or_else(Uuid::now_v7);
        self.hash = hash::chain(
            &self.hash,
            &Hashed {
                position: self.position,
                stream_id: &request.stream_id,
                version: outcome.version,
                event_id,
                event_type: &event.event_type,
                schema_version: event.schema_version,
                occurred_at: event.occurred_at,
                data,
                metadata,
                recorded_at: self.recorded_at,
            },
        );
        if event.id.is_some() {
            // A later request of the same batch retrying this one must see it as already appended.
            self.existing.insert(
                event_id,
                Existing {
                    position: self.position,
                    stream_id: request.stream_id.clone(),
                    version: outcome.version,
                    event_type: event.event_type.clone(),
                    occurred_at: event.occurred_at,
                    data: event.data.clone(),
                },
            );
        }
        outcome.positions.push(self.position);
        outcome.event_ids.push(event_id);
        let rows = &mut self.rows;
        rows.positions.push(self.position);
        rows.stream_ids.push(request.stream_id.clone());
        rows.versions.push(outcome.version);
        rows.categories.push(category_of(&request.stream_id).to_owned());
        rows.event_ids.push(event_id);
        rows.event_types.push(event.event_type.clone());
        rows.schema_versions.push(event.schema_version);
        rows.occurred_at.push(event.occurred_at);
        rows.data.push(data.to_owned());
        rows.metadata.push(metadata.to_owned());
        rows.hashes.push(self.hash.to_vec());
    }

    /// Insert the planned rows and move the head from `start` to the plan's, in one statement, with a
    /// NOTIFY if asked. False (and nothing written) when the head is no longer at `start`.
    async fn write(
        &self,
        conn: &mut PgConnection,
        start: (i64, [u8; 32]),
        notify: bool,
    ) -> Result<bool, sqlx::Error> {
        let r = &self.rows;
        // The UPDATE takes the head's row lock (waiting for any other writer) and re-checks the head
        // after the wait; the INSERT only runs if it moved the head. The notification is delivered at
        // commit, never before, so a woken reader finds the events.
        let written = sqlx::query!(
            r#"WITH head AS (
                   UPDATE log_head SET position = $13, hash = $14, recorded_at = $11
                   WHERE position = $15 AND hash = $16
                   RETURNING position
               ), inserted AS (
                   INSERT INTO events (position, stream_id, version, category, event_id, event_type,
                                       schema_version, occurred_at, data, metadata, recorded_at, hash)
                   SELECT p, s, v, c, i, t, sv, o, d::json, m::json, $11, h
                   FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::text[], $5::uuid[], $6::text[],
                               $7::int4[], $8::date[], $9::text[], $10::text[], $12::bytea[])
                        AS u(p, s, v, c, i, t, sv, o, d, m, h)
                   WHERE EXISTS (SELECT 1 FROM head)
                   RETURNING 1
               )
               SELECT (SELECT pg_notify('tba_events', position::text) WHERE $17) AS "notified",
                      (SELECT count(*) FROM inserted) AS "inserted!"
               FROM head"#,
            &r.positions,
            &r.stream_ids,
            &r.versions,
            &r.categories,
            &r.event_ids,
            &r.event_types,
            &r.schema_versions,
            &r.occurred_at,
            &r.data,
            &r.metadata,
            self.recorded_at,
            &r.hashes,
            self.position,
            &self.hash[..],
            start.0,
            &start.1[..],
            notify,
        )
        .fetch_optional(&mut *conn)
        .await?;
        Ok(written.is_some())
    }
}

fn validate(request: &AppendRequest) -> Result<(), AppendError> {
    check_name("stream_id", &request.stream_id)?;
    if request.events.len() > MAX_EVENTS_PER_REQUEST {
        return Err(AppendError::invalid(
            "events",
            format!("{} events in one request, at most {MAX_EVENTS_PER_REQUEST}", request.events.len()),
        ));
    }
    let mut ids = std::collections::HashSet::new();
    for (i, event) in request.events.iter().enumerate() {
        check_name(&format!("events[{i}].event_type"), &event.event_type)?;
        if event.schema_version < 1 {
            return Err(AppendError::invalid(format!("events[{i}].schema_version"), "must be at least 1"));
        }
        if let Some(id) = event.id
            && !ids.insert(id)
        {
            return Err(AppendError::invalid(format!("events[{i}].id"), format!("{id} appears twice")));
        }
    }
    Ok(())
}

fn check_name(field: &str, value: &str) -> Result<(), AppendError> {
    if value.is_empty() {
        return Err(AppendError::invalid(field, "must not be empty"));
    }
    if value.len() > MAX_NAME_LEN {
        return Err(AppendError::invalid(field, format!("longer than {MAX_NAME_LEN} bytes")));
    }
    if value.chars().any(char::is_control) {
        return Err(AppendError::invalid(field, "must not contain control characters"));
    }
    Ok(())
}
