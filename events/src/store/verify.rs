//! Verification: recompute the hash chain over the whole log (or a prefix of it) and name the first
//! position where it breaks.

use sqlx::PgPool;

use super::read::{self, rows_after};
use crate::envelope::LogHead;
use crate::error::StoreError;
use crate::hash::GENESIS;
use crate::merkle;

const BATCH: i64 = 5000;

/// Where and why the chain is broken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Break {
    /// The stored hash of this event is not the one its content and predecessor give.
    HashMismatch { position: i64 },
    /// An event is missing before this position.
    Gap { expected: i64, found: i64 },
    /// The recorded head does not match the last event.
    HeadMismatch { head: i64, last: i64 },
    /// The prefix an auditor noted down ends with another hash now.
    NotedHeadMismatch { position: i64, noted: String, computed: String },
}

impl Break {
    /// The first position that fails verification.
    pub fn position(&self) -> i64 {
        match self {
            Break::HashMismatch { position } | Break::NotedHeadMismatch { position, .. } => *position,
            Break::Gap { expected, .. } => *expected,
            Break::HeadMismatch { head, last } => (*head).min(*last + 1),
        }
    }
}

impl std::fmt::Display for Break {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Break::HashMismatch { position } => {
                write!(f, "position {position}: stored hash does not match the event's content and chain")
            }
            Break::Gap { expected, found } => {
                write!(f, "position {expected}: missing (next event is {found})")
            }
            Break::HeadMismatch { head, last } => {
                write!(f, "log head says position {head} but the last event is {last}")
            }
            Break::NotedHeadMismatch { position, noted, computed } => {
                write!(f, "position {position}: noted hash {noted}, but the log gives {computed}")
            }
        }
    }
}

/// What to verify.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// Stop at this position (default: the head of the log).
    pub until: Option<i64>,
    /// The hash an auditor noted at `until` (or at the head): the prefix must still end with it.
    pub expect_hash: Option<[u8; 32]>,
    /// Also build the Merkle root over the recomputed chain hashes (for signed checkpoints).
    pub merkle: bool,
}

#[derive(Debug, Clone)]
pub struct VerifyReport {
    /// Events whose hash was recomputed.
    pub checked: i64,
    /// The last verified position and its recomputed hash.
    pub verified: LogHead,
    pub broken: Option<Break>,
    /// The Merkle root over the verified prefix, when asked for.
    pub merkle_root: Option<[u8; 32]>,
}

/// Recompute the chain. `progress` is called after each batch with (events checked, events to check).
pub async fn verify(
    pool: &PgPool,
    options: &VerifyOptions,
    mut progress: impl FnMut(i64, i64),
) -> Result<VerifyReport, StoreError> {
    let head = read::head(pool).await?;
    let until = options.until.unwrap_or(head.position).min(head.position);
    let mut chain = GENESIS;
    let mut last = 0;
    let mut broken = None;
    let mut root = options.merkle.then(merkle::RootBuilder::default);
    'pages: while last < until {
        let rows = rows_after(pool, last, BATCH.min(until - last)).await?;
        if rows.is_empty() {
            break;
        }
        for row in rows {
            if row.position != last + 1 {
                broken = Some(Break::Gap { expected: last + 1, found: row.position });
                break 'pages;
            }
            let (fields, stored) = row.into_fields()?;
            chain = fields.chain_hash(&chain);
            if chain != stored {
                broken = Some(Break::HashMismatch { position: fields.position });
                break 'pages;
            }
            if let Some(root) = root.as_mut() {
                root.push(&chain);
            }
            last = fields.position;
        }
        progress(last, until);
    }
    if broken.is_none() && last < until {
        broken = Some(Break::HeadMismatch { head: head.position, last });
    }
    if broken.is_none() && last == head.position && chain != head.hash {
        broken = Some(Break::HeadMismatch { head: head.position, last });
    }
    if broken.is_none()
        && let Some(noted) = options.expect_hash
        && noted != chain
    {
        broken = Some(Break::NotedHeadMismatch {
            position: last,
            noted: hex::encode(noted),
            computed: hex::encode(chain),
        });
    }
    Ok(VerifyReport {
        checked: last,
        verified: LogHead { position: last, hash: chain },
        broken,
        merkle_root: root.map(|r| r.root()),
    })
}
