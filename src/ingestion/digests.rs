//! Unchanged re-sends, cheaply: ERPs send every dossier every night, and most have not changed. Each
//! dossier's last snapshot is remembered as a digest with the stream version at which deciding it
//! again was verified (by running the decision) to record nothing. A re-send with the same digest,
//! while the stream is still at that version, is accepted without reading the dossier's events.

use std::collections::HashMap;

use sha2::{Digest, Sha256};
use sqlx::PgPool;

use super::v3::DossierV3;

pub type SnapshotDigest = [u8; 32];

/// The rules of `diff::decide`, in the digests: a new version makes every remembered digest stale, so
/// that a re-send is decided again under the new rules (version 2: identities and corrections).
const DECISION_RULES: &[u8] = b"decide-v2\x1f";

/// The digest of a normalised snapshot (so that formatting differences of the ERP do not matter).
pub fn digest(snapshot: &DossierV3) -> SnapshotDigest {
    let bytes = serde_json::to_vec(snapshot).expect("snapshots serialise to JSON");
    Sha256::new().chain_update(DECISION_RULES).chain_update(&bytes).finalize().into()
}

/// Of these streams, those whose remembered digest is still valid (the stream has not moved since).
pub async fn valid(
    pool: &PgPool,
    streams: &[String],
) -> Result<HashMap<String, SnapshotDigest>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"SELECT d.stream_id, d.digest
           FROM dossier_snapshot_digests d
           WHERE d.stream_id = ANY($1)
             AND d.version = (SELECT max(e.version) FROM events e WHERE e.stream_id = d.stream_id)"#,
        streams
    )
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().filter_map(|r| Some((r.stream_id, r.digest.try_into().ok()?))).collect())
}

/// Remember, for each stream, the version at which its snapshot was verified to decide nothing.
/// A later version already remembered (by a concurrent push) is kept.
pub async fn remember(pool: &PgPool, entries: &[(String, i64, SnapshotDigest)]) -> Result<(), sqlx::Error> {
    if entries.is_empty() {
        return Ok(());
    }
    let streams: Vec<&str> = entries.iter().map(|(s, _, _)| s.as_str()).collect();
    let versions: Vec<i64> = entries.iter().map(|(_, v, _)| *v).collect();
    let digests: Vec<&[u8]> = entries.iter().map(|(_, _, d)| d.as_slice()).collect();
    sqlx::query!(
        r#"INSERT INTO dossier_snapshot_digests (stream_id, version, digest)
           SELECT * FROM unnest($1::text[], $2::bigint[], $3::bytea[])
           ON CONFLICT (stream_id) DO UPDATE SET version = excluded.version, digest = excluded.digest
           WHERE dossier_snapshot_digests.version <= excluded.version"#,
        &streams as &[&str],
        &versions,
        &digests as &[&[u8]],
    )
    .execute(pool)
    .await?;
    Ok(())
}
