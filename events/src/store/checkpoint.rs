//! Consumer checkpoints: how far a named consumer has read the log.
//!
//! A consumer saves its checkpoint with `save` inside the transaction that writes its own results, so
//! that its effect is exactly-once: either both are committed or neither is.

use std::collections::HashMap;

use sqlx::{PgConnection, PgPool};

use super::CHECKPOINT_CHANNEL;

/// Every consumer's checkpoint.
pub async fn all(pool: &PgPool) -> Result<HashMap<String, i64>, sqlx::Error> {
    let rows: Vec<(String, i64)> =
        sqlx::query_as("SELECT name, position FROM checkpoints").fetch_all(pool).await?;
    Ok(rows.into_iter().collect())
}

/// Tell the processes sharing the database, once the caller's transaction commits, that the consumer
/// has reached `position` (see `EventStore::wait_checkpoint`).
async fn notify(tx: &mut PgConnection, name: &str, position: i64) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(CHECKPOINT_CHANNEL)
        .bind(format!("{name} {position}"))
        .execute(tx)
        .await
        .map(drop)
}

/// The last position the consumer has processed (0 when it has never run).
pub async fn load(conn: &mut PgConnection, name: &str) -> Result<i64, sqlx::Error> {
    let position = sqlx::query_scalar!("SELECT position FROM checkpoints WHERE name = $1", name)
        .fetch_optional(conn)
        .await?;
    Ok(position.unwrap_or(0))
}

/// Record that the consumer has processed the log up to `position`, in the caller's transaction.
pub async fn save(tx: &mut PgConnection, name: &str, position: i64) -> Result<(), sqlx::Error> {
    sqlx::query!(
        r#"INSERT INTO checkpoints (name, position) VALUES ($1, $2)
           ON CONFLICT (name) DO UPDATE SET position = excluded.position, updated_at = now()"#,
        name,
        position
    )
    .execute(&mut *tx)
    .await?;
    notify(tx, name, position).await
}

/// Move the consumer's checkpoint from `from` to `to` in the caller's transaction, only if it is still
/// at `from`: `false` means another runner moved it meanwhile, and the caller must roll back. This keeps
/// the effect exactly-once even if two runners of one consumer ever overlap.
pub async fn advance(tx: &mut PgConnection, name: &str, from: i64, to: i64) -> Result<bool, sqlx::Error> {
    let moved = sqlx::query!(
        r#"INSERT INTO checkpoints (name, position) VALUES ($1, $3)
           ON CONFLICT (name) DO UPDATE SET position = excluded.position, updated_at = now()
           WHERE checkpoints.position = $2"#,
        name,
        from,
        to
    )
    .execute(&mut *tx)
    .await?;
    if moved.rows_affected() != 1 {
        return Ok(false);
    }
    notify(tx, name, to).await?;
    Ok(true)
}
