//! Consumer checkpoints: how far a named consumer has read the log.
//!
//! A consumer saves its checkpoint with `save` inside the transaction that writes its own results, so
//! that its effect is exactly-once: either both are committed or neither is.

use sqlx::PgConnection;

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
    .execute(tx)
    .await?;
    Ok(())
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
    .execute(tx)
    .await?;
    Ok(moved.rows_affected() == 1)
}
