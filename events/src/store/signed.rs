//! Signed checkpoints in the database, and the inclusion proof of one event against one of them.
//!
//! The proof needs every chain hash up to the checkpoint (the audit path's subtrees are computed from
//! them): 32 bytes per event, read in one ordered scan of the primary key. This is an auditor's request,
//! not a hot path; a persisted tree would make it logarithmic if it ever needs to be.

use sqlx::PgPool;

use super::read;
use crate::error::StoreError;
use crate::merkle;
use crate::signed_checkpoint::{InclusionProof, SignedCheckpoint};

struct Row {
    position: i64,
    hash: Vec<u8>,
    merkle_root: Vec<u8>,
    signed_at: chrono::DateTime<chrono::Utc>,
    public_key: Vec<u8>,
    signature: Vec<u8>,
}

impl Row {
    fn into_checkpoint(self) -> Result<SignedCheckpoint, StoreError> {
        let corrupt = |field: &str| StoreError::Corrupt {
            position: self.position,
            message: format!("signed checkpoint: {field} has the wrong length"),
        };
        Ok(SignedCheckpoint {
            position: self.position,
            hash: self.hash.as_slice().try_into().map_err(|_| corrupt("hash"))?,
            merkle_root: self.merkle_root.as_slice().try_into().map_err(|_| corrupt("merkle_root"))?,
            signed_at: self.signed_at,
            public_key: self.public_key.as_slice().try_into().map_err(|_| corrupt("public_key"))?,
            signature: self.signature.as_slice().try_into().map_err(|_| corrupt("signature"))?,
        })
    }
}

/// Keep a signed checkpoint (signing the same thing twice keeps one row).
pub async fn record(pool: &PgPool, c: &SignedCheckpoint) -> Result<(), StoreError> {
    sqlx::query!(
        "INSERT INTO signed_checkpoints (position, hash, merkle_root, signed_at, public_key, signature)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        c.position,
        &c.hash[..],
        &c.merkle_root[..],
        c.signed_at,
        &c.public_key[..],
        &c.signature[..]
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// The latest signed checkpoints, newest position first.
pub async fn list(pool: &PgPool, limit: i64) -> Result<Vec<SignedCheckpoint>, StoreError> {
    sqlx::query_as!(
        Row,
        "SELECT position, hash, merkle_root, signed_at, public_key, signature FROM signed_checkpoints
         ORDER BY position DESC, signed_at DESC LIMIT $1",
        limit
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(Row::into_checkpoint)
    .collect()
}

/// The checkpoint signed at exactly `position` (the latest signature if several), or else the first one
/// after `position`: the smallest checkpoint that covers an event there.
pub async fn covering(
    pool: &PgPool,
    position: i64,
    exact: bool,
) -> Result<Option<SignedCheckpoint>, StoreError> {
    sqlx::query_as!(
        Row,
        "SELECT position, hash, merkle_root, signed_at, public_key, signature FROM signed_checkpoints
         WHERE position >= $1 AND (NOT $2 OR position = $1)
         ORDER BY position, signed_at DESC LIMIT 1",
        position,
        exact
    )
    .fetch_optional(pool)
    .await?
    .map(Row::into_checkpoint)
    .transpose()
}

/// The inclusion proof of the event at `position` against `checkpoint`, from the hashes the log holds.
/// `None` when the event is not covered by the checkpoint.
pub async fn inclusion_proof(
    pool: &PgPool,
    position: i64,
    checkpoint: &SignedCheckpoint,
) -> Result<Option<InclusionProof>, StoreError> {
    if position < 1 || position > checkpoint.position {
        return Ok(None);
    }
    let hashes: Vec<[u8; 32]> = sqlx::query_scalar!(
        "SELECT hash FROM events WHERE position <= $1 ORDER BY position",
        checkpoint.position
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .enumerate()
    .map(|(i, h)| {
        h.as_slice().try_into().map_err(|_| StoreError::Corrupt {
            position: i as i64 + 1,
            message: "hash is not 32 bytes".into(),
        })
    })
    .collect::<Result<_, _>>()?;
    if hashes.len() as i64 != checkpoint.position {
        return Err(StoreError::Corrupt {
            position: hashes.len() as i64 + 1,
            message: format!(
                "the log holds {} events up to the checkpoint at {}",
                hashes.len(),
                checkpoint.position
            ),
        });
    }
    let Some(row) = read::rows_after(pool, position - 1, 1).await?.pop() else { return Ok(None) };
    let (event, _) = row.into_fields()?;
    let index = (position - 1) as usize;
    let previous_hash = if index == 0 { crate::hash::GENESIS } else { hashes[index - 1] };
    Ok(Some(InclusionProof {
        checkpoint: checkpoint.clone(),
        event_hash: hashes[index],
        previous_hash,
        path: merkle::audit_path(&hashes, index).iter().map(hex::encode).collect(),
        event,
    }))
}
