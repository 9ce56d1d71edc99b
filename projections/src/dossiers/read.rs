//! What a build reads: the dossier and DECA contract streams of the log, whole and opened, and the organismes'
//! territories as the read model knows them.

use events::EventStore;
use events::RecordedEvent;
use events::store::category_by_stream;
use futures_util::TryStreamExt;
use sqlx::PgConnection;

use crate::runtime::ProjectionError;

use super::row::Territoires;

/// Send the streams of `category` (dossiers, DECA contracts) of the log up to `until`, whole, in chunks.
pub(super) async fn read_streams(
    store: EventStore,
    category: &'static str,
    until: i64,
    sender: tokio::sync::mpsc::Sender<Vec<Vec<RecordedEvent>>>,
) -> Result<(), ProjectionError> {
    let pool = store.pool().clone();
    let mut events = category_by_stream(&pool, category, until);
    let mut chunk: Vec<Vec<RecordedEvent>> = Vec::with_capacity(READ_CHUNK);
    let mut stream: Vec<RecordedEvent> = Vec::new();
    while let Some(event) = events.try_next().await? {
        if stream.first().is_some_and(|first| first.stream_id != event.stream_id) {
            chunk.push(std::mem::take(&mut stream));
            if chunk.len() == READ_CHUNK
                && sender.send(opened(&store, std::mem::take(&mut chunk)).await?).await.is_err()
            {
                return Ok(()); // the build stopped
            }
        }
        stream.push(event);
    }
    chunk.push(stream);
    chunk.retain(|s| !s.is_empty());
    let _ = sender.send(opened(&store, chunk).await?).await;
    Ok(())
}

/// A chunk of streams with their personal data opened, in one query for the chunk's keys.
pub(super) async fn opened(
    store: &EventStore,
    chunk: Vec<Vec<RecordedEvent>>,
) -> Result<Vec<Vec<RecordedEvent>>, ProjectionError> {
    let lengths: Vec<usize> = chunk.iter().map(Vec::len).collect();
    let mut events: Vec<RecordedEvent> = chunk.into_iter().flatten().collect();
    store.open(&mut events).await?;
    let mut events = events.into_iter();
    Ok(lengths.into_iter().map(|n| events.by_ref().take(n).collect()).collect())
}

/// Streams sent at a time from the reader to the folder while building.
pub(super) const READ_CHUNK: usize = 500;

/// An organisme's territory as `rm_organismes` stores it.
pub(super) struct TerritoireRow {
    uai: String,
    siret: String,
    departement: String,
    region: String,
    academie: String,
}

/// The territory of each organisme of `keys` the read model knows; of every organisme it knows when
/// `keys` is `None`.
pub(super) async fn territoires(
    tx: &mut PgConnection,
    keys: Option<Vec<(String, String)>>,
) -> Result<Territoires, sqlx::Error> {
    let rows = match keys {
        None => {
            sqlx::query_as!(
                TerritoireRow,
                "SELECT uai, siret, departement, region, academie FROM rm_organismes"
            )
            .fetch_all(tx)
            .await?
        }
        Some(keys) => {
            let (uais, sirets): (Vec<String>, Vec<String>) = keys.into_iter().unzip();
            sqlx::query_as!(
                TerritoireRow,
                r#"SELECT o.uai, o.siret, o.departement, o.region, o.academie
                   FROM rm_organismes o JOIN unnest($1::text[], $2::text[]) AS k(uai, siret) USING (uai, siret)"#,
                &uais,
                &sirets,
            )
            .fetch_all(tx)
            .await?
        }
    };
    Ok(rows
        .into_iter()
        .map(|r| ((r.uai, r.siret), (r.departement.into(), r.region.into(), r.academie.into())))
        .collect())
}
