//! Signed checkpoints and inclusion proofs: what an operator hands to an auditor so that the auditor
//! can later prove, without trusting the database, that the log up to a position is unchanged and that
//! one event was part of it.
//!
//! A checkpoint states (position, chain hash there, Merkle root of the chain hashes up to there, when
//! it was signed) and is signed with the operator's Ed25519 key over a fixed, length-free byte layout
//! (`message`). It travels as JSON with every binary value in hex. An inclusion proof carries one event
//! as recorded, the chain hash before it and its Merkle audit path: the auditor recomputes the event's
//! chain hash from its content, then the root, and compares it with the signed one.

use chrono::{DateTime, NaiveDate, Utc};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::hash::{self, Hashed};
use crate::merkle;

/// What a checkpoint states and its signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedCheckpoint {
    /// The last position covered (the number of events: positions are gapless from 1).
    pub position: i64,
    /// The chain hash at `position`.
    #[serde(with = "hex::serde")]
    pub hash: [u8; 32],
    /// The Merkle root over the chain hashes of positions 1 to `position`.
    #[serde(with = "hex::serde")]
    pub merkle_root: [u8; 32],
    pub signed_at: DateTime<Utc>,
    /// The operator's Ed25519 public key.
    #[serde(with = "hex::serde")]
    pub public_key: [u8; 32],
    #[serde(with = "hex::serde")]
    pub signature: [u8; 64],
}

/// Why a checkpoint or a proof does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("the checkpoint's public key is not a valid Ed25519 key")]
    BadKey,
    #[error("the checkpoint's signature does not match its content and public key")]
    BadSignature,
    #[error("the checkpoint is signed by {found}, not by the trusted key {trusted}")]
    UntrustedKey { found: String, trusted: String },
    #[error("event {position} is not covered by a checkpoint at position {checkpoint}")]
    NotCovered { position: i64, checkpoint: i64 },
    #[error("the event's content and previous hash give chain hash {computed}, not {claimed}")]
    EventHashMismatch { computed: String, claimed: String },
    #[error("the audit path does not lead from the event to the checkpoint's Merkle root")]
    PathMismatch,
}

fn message(position: i64, hash: &[u8; 32], merkle_root: &[u8; 32], signed_at: DateTime<Utc>) -> Vec<u8> {
    let mut m = Vec::with_capacity(17 + 8 + 32 + 32 + 8);
    m.extend_from_slice(b"tba-checkpoint-v1");
    m.extend_from_slice(&position.to_be_bytes());
    m.extend_from_slice(hash);
    m.extend_from_slice(merkle_root);
    m.extend_from_slice(&signed_at.timestamp_micros().to_be_bytes());
    m
}

impl SignedCheckpoint {
    /// Sign (position, hash, root) now. The time is truncated to microseconds, as PostgreSQL keeps it.
    pub fn sign(key: &SigningKey, position: i64, hash: [u8; 32], merkle_root: [u8; 32]) -> Self {
        let now = Utc::now();
        let signed_at = DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now);
        let signature = key.sign(&message(position, &hash, &merkle_root, signed_at)).to_bytes();
        SignedCheckpoint {
            position,
            hash,
            merkle_root,
            signed_at,
            public_key: key.verifying_key().to_bytes(),
            signature,
        }
    }

    /// Check the signature against the key the checkpoint names and, when given, that this key is the
    /// one the auditor trusts. Without a trusted key, the check proves only that whoever holds the
    /// named key signed it.
    pub fn check_signature(&self, trusted: Option<&[u8; 32]>) -> Result<(), ProofError> {
        if let Some(trusted) = trusted
            && trusted != &self.public_key
        {
            return Err(ProofError::UntrustedKey {
                found: hex::encode(self.public_key),
                trusted: hex::encode(trusted),
            });
        }
        let key = VerifyingKey::from_bytes(&self.public_key).map_err(|_| ProofError::BadKey)?;
        let signature = Signature::from_bytes(&self.signature);
        key.verify(&message(self.position, &self.hash, &self.merkle_root, self.signed_at), &signature)
            .map_err(|_| ProofError::BadSignature)
    }
}

/// One event exactly as recorded: every field its chain hash covers, `data` and `metadata` as their
/// stored JSON text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct RecordedFields {
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
}

impl RecordedFields {
    /// The chain hash this event has after `previous`.
    pub fn chain_hash(&self, previous: &[u8; 32]) -> [u8; 32] {
        hash::chain(
            previous,
            &Hashed {
                position: self.position,
                stream_id: &self.stream_id,
                version: self.version,
                event_id: self.event_id,
                event_type: &self.event_type,
                schema_version: self.schema_version,
                occurred_at: self.occurred_at,
                data: &self.data,
                metadata: &self.metadata,
                recorded_at: self.recorded_at,
            },
        )
    }
}

/// The hashes needed to check one event against a signed checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InclusionProof {
    pub checkpoint: SignedCheckpoint,
    pub event: RecordedFields,
    /// The chain hash at the position before the event's.
    #[serde(with = "hex::serde")]
    pub previous_hash: [u8; 32],
    /// The event's chain hash as the log holds it.
    #[serde(with = "hex::serde")]
    pub event_hash: [u8; 32],
    /// Sibling hashes from the event's leaf up to the root, in hex.
    pub path: Vec<String>,
}

impl InclusionProof {
    /// Check everything: the checkpoint's signature, the event's chain hash from its content, and the
    /// path from that hash to the signed root.
    pub fn check(&self, trusted: Option<&[u8; 32]>) -> Result<(), ProofError> {
        self.checkpoint.check_signature(trusted)?;
        let position = self.event.position;
        if position < 1 || position > self.checkpoint.position {
            return Err(ProofError::NotCovered { position, checkpoint: self.checkpoint.position });
        }
        let computed = self.event.chain_hash(&self.previous_hash);
        if computed != self.event_hash {
            return Err(ProofError::EventHashMismatch {
                computed: hex::encode(computed),
                claimed: hex::encode(self.event_hash),
            });
        }
        let path = self
            .path
            .iter()
            .map(|h| hex::decode(h).ok().and_then(|b| <[u8; 32]>::try_from(b).ok()))
            .collect::<Option<Vec<_>>>()
            .ok_or(ProofError::PathMismatch)?;
        let holds = merkle::verify_inclusion(
            (position - 1) as u64,
            self.checkpoint.position as u64,
            &self.event_hash,
            &path,
            &self.checkpoint.merkle_root,
        );
        if holds { Ok(()) } else { Err(ProofError::PathMismatch) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    #[test]
    fn a_signed_checkpoint_checks_and_survives_json() {
        let c = SignedCheckpoint::sign(&key(7), 42, [1; 32], [2; 32]);
        let back: SignedCheckpoint =
            serde_json::from_str(&serde_json::to_string(&c).expect("serialises")).expect("parses");
        assert_eq!(back, c);
        assert_eq!(back.check_signature(None), Ok(()));
        assert_eq!(back.check_signature(Some(&key(7).verifying_key().to_bytes())), Ok(()));
    }

    #[test]
    fn any_change_or_another_key_breaks_the_checkpoint() {
        let c = SignedCheckpoint::sign(&key(7), 42, [1; 32], [2; 32]);
        let moved = SignedCheckpoint { position: 41, ..c.clone() };
        assert_eq!(moved.check_signature(None), Err(ProofError::BadSignature));
        let rehashed = SignedCheckpoint { hash: [3; 32], ..c.clone() };
        assert_eq!(rehashed.check_signature(None), Err(ProofError::BadSignature));
        let other = key(8).verifying_key().to_bytes();
        assert!(matches!(c.check_signature(Some(&other)), Err(ProofError::UntrustedKey { .. })));
    }

    #[test]
    fn an_event_is_proved_against_the_root_and_its_content_is_bound() {
        let events: Vec<RecordedFields> = (1..=5)
            .map(|p| RecordedFields {
                position: p,
                stream_id: format!("dossier-{p}"),
                version: 1,
                event_id: Uuid::from_u128(p as u128),
                event_type: "InscriptionEnregistree".into(),
                schema_version: 1,
                occurred_at: NaiveDate::from_ymd_opt(2026, 9, 1).expect("valid date"),
                data: format!("{{\"n\":{p}}}"),
                metadata: "{}".into(),
                recorded_at: DateTime::from_timestamp_micros(1_800_000_000_000_000).expect("valid"),
            })
            .collect();
        let mut chain = vec![hash::GENESIS];
        for e in &events {
            let next = e.chain_hash(chain.last().expect("starts with genesis"));
            chain.push(next);
        }
        let mut root = merkle::RootBuilder::default();
        chain[1..].iter().for_each(|h| root.push(h));
        let checkpoint = SignedCheckpoint::sign(&key(1), 5, chain[5], root.root());
        let proof = InclusionProof {
            checkpoint,
            event: events[2].clone(),
            previous_hash: chain[2],
            event_hash: chain[3],
            path: merkle::audit_path(&chain[1..], 2).iter().map(hex::encode).collect(),
        };
        assert_eq!(proof.check(None), Ok(()));

        let mut altered = proof.clone();
        altered.event.data = "{\"n\":4}".into();
        assert!(matches!(altered.check(None), Err(ProofError::EventHashMismatch { .. })));
        let mut swapped = proof.clone();
        swapped.path.reverse();
        assert_eq!(swapped.check(None), Err(ProofError::PathMismatch));
    }
}
