//! The path every v3 snapshot takes into the log, whatever the channel (ERP push, file deposit): each
//! item of a batch is validated, its organismes are checked against the referential and against the
//! transmitter's own organisme, the dossiers of the batch are read from the log in one round trip,
//! only the differences are decided, and each dossier's events are appended at the version they were
//! decided against. A dossier that moved meanwhile (the same dossier pushed concurrently) is read
//! again and decided again, so its events are recorded once.

use std::collections::{HashMap, HashSet};

use chrono::Utc;
use events::dossier::{Dossier, DossierEvent};
use events::store::append_in_transaction;
use events::{Actor, AppendError, AppendRequest, Channel, EventStore, ExpectedVersion, Metadata, StoreError};
use serde_json::Value;
use uuid::Uuid;

use super::FieldError;
use super::diff::decide;
use super::digests::{self, SnapshotDigest};
use super::journal::{ItemOutcome, ItemResult, Transmission};
use super::v3::{self, DossierV3};
use events::domain::OrganismeRef;

/// How many times a dossier that changed under us is read and decided again before giving up.
const CONFLICT_RETRIES: usize = 8;

/// Who is transmitting, and through which channel.
#[derive(Debug, Clone)]
pub struct Transmitter {
    /// The organisme the key belongs to; `None` for an administrator, who may transmit for any.
    pub organisme: Option<OrganismeRef>,
    pub actor: Actor,
    /// `api-v3`, `import`, ...
    pub channel: Channel,
}

impl Transmitter {
    /// The metadata of the events of one transmission.
    pub fn metadata(&self, correlation: Uuid) -> Metadata {
        Metadata {
            actor: self.actor.clone(),
            channel: self.channel.into(),
            correlation_id: Some(correlation),
            causation_id: None,
        }
    }
}

/// A failure of the whole batch. Whatever was appended before it is safe: re-sending the batch decides
/// nothing twice.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("the log refused the events of dossier {stream}: {error}")]
    Append { stream: String, error: AppendError },
    #[error("dossier {stream} kept changing while its events were decided; send it again")]
    Contended { stream: String },
}

/// Where a batch's outcomes go in the transmission journal, in the transaction of its events: a
/// push records its transmission whole; a file deposit opens its transmission with its first chunk and
/// adds each chunk's rows (numbered by their lines in the file).
pub struct Journal<'a> {
    pub transmission: &'a Transmission,
    pub open: bool,
    /// Each item's line in the file; none for a push (the items are numbered from 0).
    pub lines: Option<&'a [i32]>,
}

/// Validate, diff and append a batch of v3 items, and write its journal. `correlation` ties the events
/// to the transmission. The events of the whole batch and its journal are written in one transaction:
/// a batch whose events are committed has its journal, whether or not its answer reached the sender.
pub async fn ingest(
    store: &EventStore,
    transmitter: &Transmitter,
    correlation: Uuid,
    items: &[Value],
    journal: Journal<'_>,
) -> Result<Vec<ItemOutcome>, IngestError> {
    let parsed: Vec<Result<DossierV3, Vec<FieldError>>> = items.iter().map(v3::parse).collect();
    let known = known_organismes(store, &parsed).await?;
    let mut outcomes: Vec<ItemOutcome> = items
        .iter()
        .enumerate()
        .map(|(index, item)| ItemOutcome {
            index,
            id_erp_apprenant: raw_id_erp(item),
            result: ItemResult::Rejected { errors: Vec::new() },
            warnings: Vec::new(),
        })
        .collect();
    // The accepted snapshots of each dossier, in the order they were sent.
    let mut by_stream: HashMap<String, Vec<(usize, DossierV3)>> = HashMap::new();
    for (index, parsed) in parsed.into_iter().enumerate() {
        let checked = parsed.and_then(|snapshot| {
            let errors = organisme_errors(&snapshot, transmitter, &known);
            if errors.is_empty() { Ok(snapshot) } else { Err(errors) }
        });
        match checked {
            Ok(snapshot) => by_stream.entry(snapshot.key.stream_id()).or_default().push((index, snapshot)),
            Err(errors) => outcomes[index].result = ItemResult::Rejected { errors },
        }
    }
    skip_unchanged(store, &mut by_stream, &mut outcomes).await?;
    let metadata = transmitter.metadata(correlation);
    // Every attempt decides the whole batch again from the log and writes all of it, or nothing (a
    // dossier changed meanwhile by another sender: read again, decide again).
    for _ in 0..CONFLICT_RETRIES {
        let mut attempt = outcomes.clone();
        let mut tx = store.pool().begin().await?;
        let Some(verified) = decide_and_append(store, &mut tx, &metadata, &by_stream, &mut attempt).await?
        else {
            tx.rollback().await?;
            continue;
        };
        for outcome in attempt.iter_mut().filter(|o| o.is_accepted()) {
            outcome.warnings = v3::warnings(&items[outcome.index]);
        }
        if journal.open {
            super::journal::open(&mut tx, journal.transmission).await?;
        }
        let numbered: Vec<i32>;
        let lines = match journal.lines {
            Some(lines) => lines,
            None => {
                numbered = (0..items.len() as i32).collect();
                &numbered
            }
        };
        super::journal::add(&mut tx, journal.transmission.id, items, lines, &attempt).await?;
        tx.commit().await?;
        // Only a speed-up for the next re-send: failing to remember loses nothing.
        if let Err(error) = digests::remember(store.pool(), &verified).await {
            tracing::warn!(%error, "could not remember the snapshot digests");
        }
        return Ok(attempt);
    }
    let stream = by_stream.into_keys().next().unwrap_or_default();
    Err(IngestError::Contended { stream })
}

/// Accept, without reading their events, the dossiers re-sent exactly as last time while their stream
/// has not moved since (deciding them again was verified then to record nothing).
async fn skip_unchanged(
    store: &EventStore,
    by_stream: &mut HashMap<String, Vec<(usize, DossierV3)>>,
    outcomes: &mut [ItemOutcome],
) -> Result<(), IngestError> {
    let streams: Vec<String> = by_stream.keys().cloned().collect();
    let remembered = digests::valid(store.pool(), &streams).await?;
    by_stream.retain(|stream, snapshots| {
        let unchanged = remembered
            .get(stream)
            .is_some_and(|known| snapshots.iter().all(|(_, snapshot)| digests::digest(snapshot) == *known));
        if unchanged {
            for (index, _) in snapshots.iter() {
                outcomes[*index].result =
                    ItemResult::Accepted { dossier_id: stream.clone(), events: Vec::new() };
            }
        }
        !unchanged
    });
    Ok(())
}

/// One attempt: read the dossiers, decide, append in `tx`. The dossiers whose last snapshot was checked
/// to decide nothing more at their new version; none when a dossier changed under us (the caller rolls
/// back and tries again).
async fn decide_and_append(
    store: &EventStore,
    tx: &mut sqlx::PgConnection,
    metadata: &Metadata,
    pending: &HashMap<String, Vec<(usize, DossierV3)>>,
    outcomes: &mut [ItemOutcome],
) -> Result<Option<Vec<(String, i64, SnapshotDigest)>>, IngestError> {
    let mut verified = Vec::new();
    if pending.is_empty() {
        return Ok(Some(verified));
    }
    let stream_ids: Vec<String> = pending.keys().cloned().collect();
    let mut logged = store.read_streams(&stream_ids).await?;
    let today = Utc::now().date_naive();
    let origine = match metadata.correlation_id {
        Some(transmission) => format!("{}, transmission {transmission}", metadata.channel),
        None => metadata.channel.clone(),
    };
    let mut requests = Vec::new();
    let mut decided = Vec::new();
    for (stream, snapshots) in pending {
        let past = logged.remove(stream).unwrap_or_default();
        let version = past.last().map_or(0, |e| e.version);
        let mut dossier = Dossier::from_log(&past);
        // Each event gets its id now, so that a later snapshot of the batch may correct it.
        let mut new_events: Vec<(Uuid, DossierEvent)> = Vec::new();
        let mut per_item = Vec::with_capacity(snapshots.len());
        for (index, snapshot) in snapshots {
            let events = decide(&dossier, snapshot, &origine);
            per_item.push((*index, events.iter().map(DossierEvent::event_type).collect::<Vec<_>>()));
            for event in events {
                let id = Uuid::now_v7();
                dossier.record(id, &event);
                new_events.push((id, event));
            }
        }
        let last = &snapshots.last().expect("a dossier has at least one snapshot").1;
        let idempotent = decide(&dossier, last, &origine).is_empty().then(|| digests::digest(last));
        if !new_events.is_empty() {
            let expected =
                if version == 0 { ExpectedVersion::NoStream } else { ExpectedVersion::Exact(version) };
            let events = new_events
                .iter()
                .map(|(id, e)| e.to_new_event(e.occurred_on(today), metadata.clone()).with_id(*id))
                .collect();
            requests.push(AppendRequest::new(stream.clone(), expected, events));
        }
        decided.push((stream, per_item, version, new_events.len() as i64, idempotent));
    }
    let mut results = append_in_transaction(tx, store.vault(), requests).await?.into_iter();
    for (stream, per_item, version, appended, idempotent) in decided {
        if appended > 0 {
            match results.next().expect("one result per request") {
                Ok(_) => {}
                Err(AppendError::Conflict { .. }) => return Ok(None),
                Err(error) => return Err(IngestError::Append { stream: stream.clone(), error }),
            }
        }
        for (index, events) in per_item {
            outcomes[index].result = ItemResult::Accepted { dossier_id: stream.clone(), events };
        }
        if let Some(digest) = idempotent {
            verified.push((stream.clone(), version + appended, digest));
        }
    }
    Ok(Some(verified))
}

/// The organismes of the batch that the referential knows, in one query.
async fn known_organismes(
    store: &EventStore,
    parsed: &[Result<DossierV3, Vec<FieldError>>],
) -> Result<HashSet<(String, String)>, IngestError> {
    let pairs: HashSet<(String, String)> = parsed
        .iter()
        .flatten()
        .flat_map(|d| [&d.formateur, &d.responsable])
        .map(|o| (o.uai.to_string(), o.siret.to_string()))
        .collect();
    let (uais, sirets): (Vec<String>, Vec<String>) = pairs.into_iter().unzip();
    Ok(super::organismes::known(store.pool(), &uais, &sirets).await?)
}

fn organisme_errors(
    snapshot: &DossierV3,
    transmitter: &Transmitter,
    known: &HashSet<(String, String)>,
) -> Vec<FieldError> {
    let mut errors = Vec::new();
    for (prefix, role, organisme) in [
        ("etablissement_formateur", "formateur", &snapshot.formateur),
        ("etablissement_responsable", "responsable", &snapshot.responsable),
    ] {
        if !known.contains(&(organisme.uai.to_string(), organisme.siret.to_string())) {
            errors.push(FieldError::new(
                format!("{prefix}_uai"),
                format!(
                    "organisme {role} inconnu du référentiel des organismes (UAI {}, SIRET {}) : \
                     vérifiez le couple UAI/SIRET",
                    organisme.uai, organisme.siret
                ),
            ));
        }
    }
    if let Some(own) = &transmitter.organisme {
        let is_own = |o: &OrganismeRef| o.uai == own.uai && o.siret == own.siret;
        if !is_own(&snapshot.formateur) && !is_own(&snapshot.responsable) {
            errors.push(FieldError::new(
                "etablissement_formateur_uai",
                format!(
                    "la clé d'API de l'organisme {}:{} ne peut transmettre que les dossiers dont il est \
                     l'organisme formateur ou responsable",
                    own.uai, own.siret
                ),
            ));
        }
    }
    errors
}

/// The item's ERP id as sent, to name it in the result even when it is refused.
fn raw_id_erp(item: &Value) -> Option<String> {
    match item.get("id_erp_apprenant")? {
        Value::String(s) => Some(s.trim().to_owned()).filter(|s| !s.is_empty()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}
