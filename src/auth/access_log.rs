//! The access log (domain.md §9): every read of nominative data is recorded, who, what and when,
//! before the data is returned (a read that cannot be recorded is not served). Auditors and
//! administrators read it back.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
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

/// Record that `principal` read `subject` through `action`.
pub async fn record(
    pool: &PgPool,
    principal: &Principal,
    action: &str,
    subject: &str,
    details: serde_json::Value,
) -> Result<(), sqlx::Error> {
    let who = (principal.key_id, principal.role.as_str(), organisation(principal));
    insert(pool, who, action, subject, details).await
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

/// Record that `principal` read each of `reads` (action, subject), in one statement: the reads of one
/// GraphQL request's page are recorded together.
pub async fn record_many(
    pool: &PgPool,
    principal: &Principal,
    reads: &[(String, String)],
) -> Result<(), sqlx::Error> {
    if reads.is_empty() {
        return Ok(());
    }
    let (actions, subjects): (Vec<String>, Vec<String>) = reads.iter().cloned().unzip();
    sqlx::query(
        "INSERT INTO access_log (key_id, role, organisation, action, subject, details)
         SELECT $1, $2, $3, a, s, '{}'::jsonb FROM unnest($4::text[], $5::text[]) AS r (a, s)",
    )
    .bind(principal.key_id)
    .bind(principal.role.as_str())
    .bind(organisation(principal))
    .bind(&actions)
    .bind(&subjects)
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
