//! The access log (domain.md §9): every read of nominative data is recorded, who, what and when,
//! before the data is returned (a read that cannot be recorded is not served). Auditors and
//! administrators read it back.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use super::keys::Principal;

/// One read, as recorded.
#[derive(Debug, Clone, PartialEq, serde::Serialize, sqlx::FromRow)]
pub struct Access {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub key_id: Uuid,
    pub role: String,
    pub organisation: String,
    /// What was read: `dossier`, `evenements`, `stream`…
    pub action: String,
    /// Which: a dossier id, a stream id, a range of positions.
    pub subject: String,
    pub details: serde_json::Value,
}

/// The organisation a principal acts for, as the access log names it.
pub fn organisation(principal: &Principal) -> String {
    match (&principal.organisme, &principal.scope) {
        (Some(o), _) => o.to_string(),
        (None, Some(scope)) => format!("{}:{}", scope.kind, scope.value),
        (None, None) => principal.role.as_str().to_owned(),
    }
}

/// Record what the service did by itself or for an operator at a terminal (no API key): the key id is
/// nil and the role `SYSTEME`.
pub async fn record_system(
    pool: &PgPool,
    who: &str,
    action: &str,
    subject: &str,
    details: serde_json::Value,
) -> Result<(), sqlx::Error> {
    insert(pool, (Uuid::nil(), "SYSTEME", who.to_owned()), action, subject, details).await
}

/// The access log's writer: the records of concurrent reads are written together, in one statement
/// and one commit (as the event store's writer batches appends), and each read is answered only once
/// its record is committed. One task writes; what reaches it while a write is in flight goes in the
/// next one, so a batch grows with the load and a lone read waits for its own insert only.
#[derive(Clone)]
pub struct Journal {
    demandes: mpsc::Sender<Demande>,
}

/// The records of one caller's reads, and where to say they are committed.
struct Demande {
    who: (Uuid, &'static str, String),
    /// Action, subject, details.
    reads: Vec<(String, String, serde_json::Value)>,
    done: oneshot::Sender<Result<(), String>>,
}

/// Rows one write takes at most.
const BATCH_ROWS: usize = 5_000;

impl Journal {
    /// Start the writer on `pool` (needs a Tokio runtime); it ends when every `Journal` is dropped.
    pub fn start(pool: PgPool) -> Journal {
        let (demandes, mut queue) = mpsc::channel::<Demande>(1024);
        tokio::spawn(async move {
            while let Some(first) = queue.recv().await {
                let mut batch = vec![first];
                let mut rows = batch[0].reads.len();
                while rows < BATCH_ROWS {
                    let Ok(next) = queue.try_recv() else { break };
                    rows += next.reads.len();
                    batch.push(next);
                }
                let outcome = write(&pool, &batch).await.map_err(|e| e.to_string());
                if let Err(error) = &outcome {
                    tracing::error!(%error, rows, "the access log could not be written: those reads are refused");
                }
                for demande in batch {
                    // A caller gone meanwhile (its request cancelled) needs no answer.
                    let _ = demande.done.send(outcome.clone());
                }
            }
        });
        Journal { demandes }
    }

    /// Record that `principal` read each of `reads` (action, subject), committed with whatever other
    /// reads are being recorded at the same time. The reads of one GraphQL request's page come together.
    pub async fn record_many(
        &self,
        principal: &Principal,
        reads: Vec<(String, String)>,
    ) -> Result<(), sqlx::Error> {
        let reads = reads.into_iter().map(|(a, s)| (a, s, serde_json::json!({}))).collect();
        self.send(principal, reads).await
    }

    /// Record that `principal` read `subject` through `action`, batched with other reads.
    pub async fn record(
        &self,
        principal: &Principal,
        action: &str,
        subject: &str,
        details: serde_json::Value,
    ) -> Result<(), sqlx::Error> {
        self.send(principal, vec![(action.to_owned(), subject.to_owned(), details)]).await
    }

    async fn send(
        &self,
        principal: &Principal,
        reads: Vec<(String, String, serde_json::Value)>,
    ) -> Result<(), sqlx::Error> {
        if reads.is_empty() {
            return Ok(());
        }
        let (done, committed) = oneshot::channel();
        let who = (principal.key_id, principal.role.as_str(), organisation(principal));
        let demande = Demande { who, reads, done };
        let gone = || sqlx::Error::Protocol("the access log's writer has stopped".into());
        self.demandes.send(demande).await.map_err(|_| gone())?;
        committed.await.map_err(|_| gone())?.map_err(|e| sqlx::Error::Protocol(format!("access log: {e}")))
    }
}

/// Write the records of `batch` in one statement.
async fn write(pool: &PgPool, batch: &[Demande]) -> Result<(), sqlx::Error> {
    let rows = batch.iter().flat_map(|d| d.reads.iter().map(move |read| (&d.who, read)));
    let (mut keys, mut roles, mut organisations, mut actions, mut subjects, mut details) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for ((key, role, organisation), (action, subject, detail)) in rows {
        keys.push(*key);
        roles.push(*role);
        organisations.push(organisation.as_str());
        actions.push(action.as_str());
        subjects.push(subject.as_str());
        details.push(detail);
    }
    sqlx::query(
        "INSERT INTO access_log (key_id, role, organisation, action, subject, details)
         SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::jsonb[])",
    )
    .bind(&keys)
    .bind(&roles)
    .bind(&organisations)
    .bind(&actions)
    .bind(&subjects)
    .bind(&details)
    .execute(pool)
    .await?;
    Ok(())
}

async fn insert(
    pool: &PgPool,
    (key_id, role, organisation): (Uuid, &str, String),
    action: &str,
    subject: &str,
    details: serde_json::Value,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "INSERT INTO access_log (key_id, role, organisation, action, subject, details)
         VALUES ($1, $2, $3, $4, $5, $6)",
        key_id,
        role,
        organisation,
        action,
        subject,
        details,
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// The reads recorded after `after` (an id), oldest first, at most `limit`; those of one key when
/// `key_id` is given.
pub async fn list(
    pool: &PgPool,
    after: i64,
    limit: i64,
    key_id: Option<Uuid>,
) -> Result<Vec<Access>, sqlx::Error> {
    sqlx::query_as!(
        Access,
        "SELECT id, at, key_id, role, organisation, action, subject, details FROM access_log
         WHERE id > $1 AND ($3::uuid IS NULL OR key_id = $3) ORDER BY id LIMIT $2",
        after,
        limit,
        key_id,
    )
    .fetch_all(pool)
    .await
}

/// The latest reads, newest first, at most `limit`; of one action and of one organisation when given.
pub async fn recent(
    pool: &PgPool,
    action: Option<&str>,
    organisation: Option<&str>,
    limit: i64,
) -> Result<Vec<Access>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, at, key_id, role, organisation, action, subject, details FROM access_log
         WHERE ($1::text IS NULL OR action = $1) AND ($2::text IS NULL OR organisation = $2)
         ORDER BY id DESC LIMIT $3",
    )
    .bind(action)
    .bind(organisation)
    .bind(limit)
    .fetch_all(pool)
    .await
}
