//! The log as auditors and consumers read it: `logHead` (public: a position and a hash, nothing
//! personal), `events(after, first)` with cursors, and `stream(id)` (AUDITOR and ADMINISTRATEUR; the
//! events carry personal data, so every read is recorded in the access log).

use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, Error, ID, Json, Object, SimpleObject};
use events::signed_checkpoint::SignedCheckpoint;
use events::store::signed;
use events::{EventStore, RecordedEvent};
use sqlx::PgPool;

use super::error::{OrInternal, bad_input};
use super::types::{Date, DateTime};
use crate::auth::Role;
use crate::auth::access_log;
use crate::auth::viewer::Viewer;

/// The largest page of events.
pub const MAX_EVENTS: i32 = 500;
/// The largest number of events of one stream returned at once.
pub const MAX_STREAM: i64 = 10_000;

/// The head of the log: its last position and the chain hash there. Noted down, it lets anyone
/// later prove the log up to that position unchanged (`tba verify --until P --expect-hash H`).
#[derive(Debug, SimpleObject)]
pub struct LogHead {
    /// The last position (0 for an empty log).
    pub position: i64,
    /// SHA-256 chain hash at `position`, in hex.
    pub hash: String,
}

/// An event as the log holds it.
#[derive(Debug, SimpleObject)]
pub struct Evenement {
    /// Its global position (gapless, in commit order).
    pub position: i64,
    /// The stream (`dossier-…`, `organisme-…`) it belongs to.
    pub stream_id: String,
    /// Its version within the stream (1, 2, …).
    pub version: i64,
    /// Its unique id (given by the sender, else generated).
    pub event_id: ID,
    /// Its type (`InscriptionEnregistree`, `ContratSigne`, …).
    #[graphql(name = "type")]
    pub event_type: String,
    /// The version of its type's schema.
    pub schema_version: i32,
    /// The business day it is about.
    pub occurred_at: Date,
    /// When the log learned it (knowledge time, UTC).
    pub recorded_at: DateTime,
    /// Its content, as recorded.
    pub data: Json<serde_json::Value>,
    /// Who sent it, through which channel, with which correlation.
    pub metadata: Json<serde_json::Value>,
    /// The chain hash at its position, in hex.
    pub hash: String,
    /// For a correction (`CorrectionEnregistree`): the id of the event it voids, and why in
    /// `data.raison`.
    pub corrige: Option<ID>,
    /// The id of the correction that voids this event, when one does (read with its stream: a
    /// dossier's `evenements`, `stream`); the events after that correction say what replaces it.
    pub corrige_par: Option<ID>,
}

/// The events of one stream, in order, each void one linked to the correction that voids it.
pub fn linked(events: impl IntoIterator<Item = RecordedEvent>) -> Vec<Evenement> {
    let mut evenements: Vec<Evenement> = events.into_iter().map(Evenement::from).collect();
    let voided: std::collections::HashMap<String, ID> =
        evenements.iter().filter_map(|e| Some((e.corrige.clone()?.0, e.event_id.clone()))).collect();
    for e in &mut evenements {
        e.corrige_par = voided.get(e.event_id.as_str()).cloned();
    }
    evenements
}

impl From<RecordedEvent> for Evenement {
    fn from(e: RecordedEvent) -> Self {
        let corrige = events::dossier::event::Correction::of(&e).map(|c| ID(c.corrige.to_string()));
        Evenement {
            corrige,
            corrige_par: None,
            position: e.position,
            stream_id: e.stream_id,
            version: e.version,
            event_id: ID(e.event_id.to_string()),
            event_type: e.event_type,
            schema_version: e.schema_version,
            occurred_at: Date(e.occurred_at),
            recorded_at: DateTime(e.recorded_at),
            data: Json(e.data),
            metadata: Json(serde_json::to_value(&e.metadata).unwrap_or_default()),
            hash: hex::encode(e.hash),
        }
    }
}

/// A checkpoint of the log signed by the operator's Ed25519 key (`tba checkpoint sign`).
#[derive(Debug, SimpleObject)]
pub struct CheckpointSigne {
    /// The last position it covers.
    pub position: i64,
    /// The chain hash at `position`, in hex.
    pub hash: String,
    /// The Merkle root (RFC 6962) over the chain hashes of positions 1 to `position`, in hex.
    pub racine_merkle: String,
    /// When it was signed.
    pub signe_le: DateTime,
    /// The operator's Ed25519 public key, in hex.
    pub cle_publique: String,
    /// The Ed25519 signature over (position, hash, racine, time), in hex.
    pub signature: String,
    /// The checkpoint in the file format of `tba verify --from-checkpoint`.
    pub json: Json<serde_json::Value>,
}

impl From<SignedCheckpoint> for CheckpointSigne {
    fn from(c: SignedCheckpoint) -> Self {
        CheckpointSigne {
            position: c.position,
            hash: hex::encode(c.hash),
            racine_merkle: hex::encode(c.merkle_root),
            signe_le: DateTime(c.signed_at),
            cle_publique: hex::encode(c.public_key),
            signature: hex::encode(c.signature),
            json: Json(serde_json::to_value(&c).unwrap_or_default()),
        }
    }
}

/// The hashes that prove one event part of a signed checkpoint.
#[derive(Debug, SimpleObject)]
pub struct PreuveInclusion {
    /// The event's position (its leaf is `position - 1`).
    pub position: i64,
    /// The checkpoint it is proved against.
    pub checkpoint: CheckpointSigne,
    /// The chain hash before the event, in hex: with the event's content it gives the event's hash.
    pub hash_precedent: String,
    /// The event's chain hash, in hex.
    pub hash_evenement: String,
    /// The sibling hashes from the event's leaf up to the Merkle root, in hex.
    pub chemin: Vec<String>,
    /// The event's recorded data, as the exact JSON text that was hashed.
    pub donnees: String,
    /// The whole proof in the file format of `tba checkpoint check-proof`.
    pub json: Json<serde_json::Value>,
}

#[derive(Default)]
pub struct LogQuery;

#[Object]
impl LogQuery {
    /// The head of the log now.
    async fn log_head(&self, ctx: &Context<'_>) -> Result<LogHead, Error> {
        let head = ctx.data::<EventStore>()?.head().await.or_internal()?;
        Ok(LogHead { position: head.position, hash: head.hash_hex() })
    }

    /// The events after position `after` (0: from the start), at most `first` (≤ 500), in position
    /// order. Each edge's cursor is its event's position; continue with `after: pageInfo.endCursor`.
    /// AUDITOR and ADMINISTRATEUR only; every read is recorded in the access log.
    async fn events(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 0)] after: i64,
        #[graphql(default = 100)] first: i32,
    ) -> Result<Connection<String, Evenement>, Error> {
        let principal =
            ctx.data::<Viewer>()?.require(&[Role::Auditor, Role::Administrateur], "lire le journal")?;
        if after < 0 {
            return Err(bad_input("after", "une position est positive ou nulle"));
        }
        if !(1..=MAX_EVENTS).contains(&first) {
            return Err(bad_input("first", format!("entre 1 et {MAX_EVENTS}")));
        }
        let store = ctx.data::<EventStore>()?;
        // One more than asked tells whether a next page exists.
        let mut events = store.read_all(after, i64::from(first) + 1).await.or_internal()?;
        let has_next = events.len() > first as usize;
        events.truncate(first as usize);
        // Every page is recorded, an empty one too.
        let subject = match (events.first(), events.last()) {
            (Some(first_event), Some(last_event)) => {
                format!("{}..{}", first_event.position, last_event.position)
            }
            _ => format!("{after}.."),
        };
        ctx.data::<access_log::Journal>()?
            .record(principal, "evenements", &subject, serde_json::json!({}))
            .await
            .or_internal()?;
        let mut connection = Connection::new(after > 0, has_next);
        connection
            .edges
            .extend(events.into_iter().map(|e| Edge::new(e.position.to_string(), Evenement::from(e))));
        Ok(connection)
    }

    /// The signed checkpoints recorded, newest position first (at most `first`, ≤ 500). AUDITOR and
    /// ADMINISTRATEUR.
    async fn checkpoints_signes(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20)] first: i32,
    ) -> Result<Vec<CheckpointSigne>, Error> {
        ctx.data::<Viewer>()?
            .require(&[Role::Auditor, Role::Administrateur], "lire les checkpoints signés")?;
        if !(1..=MAX_EVENTS).contains(&first) {
            return Err(bad_input("first", format!("entre 1 et {MAX_EVENTS}")));
        }
        let checkpoints = signed::list(ctx.data::<PgPool>()?, i64::from(first)).await.or_internal()?;
        Ok(checkpoints.into_iter().map(Into::into).collect())
    }

    /// The inclusion proof of the event at `position` against the signed checkpoint at position
    /// `checkpoint` (default: the smallest signed checkpoint that covers the event). AUDITOR and
    /// ADMINISTRATEUR; the event carries personal data, so the read is recorded in the access log.
    async fn preuve_inclusion(
        &self,
        ctx: &Context<'_>,
        position: i64,
        checkpoint: Option<i64>,
    ) -> Result<PreuveInclusion, Error> {
        let principal = ctx
            .data::<Viewer>()?
            .require(&[Role::Auditor, Role::Administrateur], "prouver l'inclusion d'un événement")?;
        let pool = ctx.data::<PgPool>()?;
        let head = ctx.data::<EventStore>()?.head().await.or_internal()?;
        if !(1..=head.position).contains(&position) {
            return Err(bad_input(
                "position",
                format!("aucun événement à cette position (le journal va de 1 à {})", head.position),
            ));
        }
        let signed_at = match checkpoint {
            Some(at) => signed::covering(pool, at, true).await.or_internal()?.ok_or_else(|| {
                bad_input("checkpoint", format!("aucun checkpoint signé à la position {at}"))
            })?,
            None => signed::covering(pool, position, false).await.or_internal()?.ok_or_else(|| {
                bad_input(
                    "position",
                    "aucun checkpoint signé ne couvre encore cette position (tba checkpoint sign)",
                )
            })?,
        };
        let proof =
            signed::inclusion_proof(pool, position, &signed_at).await.or_internal()?.ok_or_else(|| {
                bad_input(
                    "checkpoint",
                    format!("le checkpoint à {} ne couvre pas la position {position}", signed_at.position),
                )
            })?;
        ctx.data::<access_log::Journal>()?
            .record(
                principal,
                "preuve_inclusion",
                &position.to_string(),
                serde_json::json!({ "checkpoint": signed_at.position }),
            )
            .await
            .or_internal()?;
        Ok(PreuveInclusion {
            position,
            hash_precedent: hex::encode(proof.previous_hash),
            hash_evenement: hex::encode(proof.event_hash),
            chemin: proof.path.clone(),
            donnees: proof.event.data.clone(),
            json: Json(serde_json::to_value(&proof).or_internal()?),
            checkpoint: proof.checkpoint.into(),
        })
    }

    /// Every event of one stream, in version order (at most 10,000). AUDITOR and ADMINISTRATEUR only;
    /// recorded in the access log.
    async fn stream(&self, ctx: &Context<'_>, id: String) -> Result<Vec<Evenement>, Error> {
        let principal = ctx
            .data::<Viewer>()?
            .require(&[Role::Auditor, Role::Administrateur], "lire un flux du journal")?;
        let events = ctx.data::<EventStore>()?.read_stream(&id, 1, MAX_STREAM).await.or_internal()?;
        if !events.is_empty() {
            ctx.data::<access_log::Journal>()?
                .record(principal, "stream", &id, serde_json::json!({}))
                .await
                .or_internal()?;
        }
        Ok(linked(events))
    }
}
