//! Writing vœux: each candidate's events appended and the import's index (`voeux`) updated, a chunk
//! in one transaction.

use std::collections::BTreeMap;

use events::personal::Vault;
use events::store::append_in_transaction;
use events::voeu::{self, Source, VoeuEvent, VoeuFormule, VoeuRetire};
use events::{AppendRequest, ExpectedVersion, NewEvent};
use sqlx::PgPool;

use super::VoeuxImportError;

/// A vœu of the file's campaigns, as the index knows it.
pub(super) struct Connu {
    pub(super) candidat: String,
    pub(super) academie: String,
    pub(super) rentree: i32,
    pub(super) digest: String,
}

/// One vœu's event and its index row.
pub(super) struct Ecrit {
    pub(super) index: IndexRow,
    pub(super) event: NewEvent,
}

/// A row of the import's index (`voeux`); `digest` none for a withdrawal.
pub(super) struct IndexRow {
    pub(super) candidat: String,
    pub(super) voeu: String,
    pub(super) source: Source,
    pub(super) rentree: i32,
    pub(super) academie: String,
    pub(super) digest: Option<String>,
}

impl Ecrit {
    pub(super) fn formule(
        v: VoeuFormule,
        candidat: String,
        digest: String,
        event: &impl Fn(VoeuEvent) -> NewEvent,
    ) -> Ecrit {
        let (voeu, source, rentree, academie) = (v.voeu.clone(), v.source, v.rentree, v.academie.clone());
        // Sealed under the person key when there is one, so that erasing the person erases the vœu.
        let personne = v.candidat.personne().map_or_else(|| candidat.clone(), |p| p.identite);
        let mut event = event(VoeuEvent::Formule(Box::new(v)));
        event.personne = Some(personne);
        let index = IndexRow { candidat, voeu, source, rentree, academie, digest: Some(digest) };
        Ecrit { index, event }
    }

    pub(super) fn retrait(r: VoeuRetire, candidat: String, event: &impl Fn(VoeuEvent) -> NewEvent) -> Ecrit {
        let (voeu, source, rentree, academie) = (r.voeu.clone(), r.source, r.rentree, r.academie.clone());
        let event = event(VoeuEvent::Retire(r));
        Ecrit { index: IndexRow { candidat, voeu, source, rentree, academie, digest: None }, event }
    }
}

/// A chunk of vœux ready to be written: one append request per candidate, its personal data already
/// sealed, and the index rows of each request's events.
pub(super) struct Sealed {
    requests: Vec<AppendRequest>,
    rows: Vec<Vec<IndexRow>>,
}

/// Group the rows by candidate and seal their personal data (the persons' keys are read, and created
/// for new persons, in statements of their own: a key created for a chunk that is never written is
/// a key without data). None when there is nothing to write.
pub(super) async fn seal(
    pool: &PgPool,
    vault: Option<&Vault>,
    rows: Vec<Ecrit>,
) -> Result<Option<Sealed>, VoeuxImportError> {
    if rows.is_empty() {
        return Ok(None);
    }
    let mut by_candidat: BTreeMap<String, (Vec<IndexRow>, Vec<NewEvent>)> = BTreeMap::new();
    for Ecrit { index, event } in rows {
        let (indexes, events) = by_candidat.entry(index.candidat.clone()).or_default();
        indexes.push(index);
        events.push(event);
    }
    let (mut requests, rows): (Vec<AppendRequest>, Vec<Vec<IndexRow>>) = by_candidat
        .into_iter()
        .map(|(candidat, (indexes, events))| {
            (AppendRequest::new(voeu::stream_id(&candidat), ExpectedVersion::Any, events), indexes)
        })
        .unzip();
    if let Some(vault) = vault {
        // A request whose data could not be sealed is never written in clear: the import stops on it.
        for refused in vault.seal(&mut *pool.acquire().await?, &mut requests).await? {
            refused?;
        }
    }
    Ok(Some(Sealed { requests, rows }))
}

/// Append a sealed chunk's events and record them in the index, in one transaction.
pub(super) async fn write(pool: &PgPool, sealed: Sealed) -> Result<(), VoeuxImportError> {
    let Sealed { requests, rows } = sealed;
    let mut tx = pool.begin().await?;
    // Sealed already: the store has nothing left to seal.
    let outcomes = append_in_transaction(&mut tx, None, requests).await?;
    let mut index: Vec<(&IndexRow, i64)> = Vec::new();
    for (rows, outcome) in rows.iter().zip(outcomes) {
        let outcome = outcome?;
        index.extend(rows.iter().zip(outcome.positions));
    }
    let col = |f: &dyn Fn(&IndexRow) -> String| index.iter().map(|(r, _)| f(r)).collect::<Vec<_>>();
    sqlx::query!(
        "INSERT INTO voeux (voeu, source, rentree, academie, candidat, digest, retire, position)
         SELECT voeu, source, rentree, academie, candidat, coalesce(digest, ''), digest IS NULL, position
         FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::text[], $6::text[], $7::bigint[])
           AS r (voeu, source, rentree, academie, candidat, digest, position)
         ON CONFLICT (voeu) DO UPDATE SET academie = excluded.academie, candidat = excluded.candidat,
             digest = CASE WHEN excluded.retire THEN voeux.digest ELSE excluded.digest END,
             retire = excluded.retire, position = excluded.position",
        &col(&|r| r.voeu.clone()),
        &col(&|r| r.source.as_str().to_owned()),
        &index.iter().map(|(r, _)| r.rentree).collect::<Vec<_>>(),
        &col(&|r| r.academie.clone()),
        &col(&|r| r.candidat.clone()),
        &index.iter().map(|(r, _)| r.digest.clone()).collect::<Vec<_>>() as &[Option<String>],
        &index.iter().map(|(_, p)| *p).collect::<Vec<_>>(),
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Chunks written in order, each sealed while the one before it is written (that chunk's transaction
/// holds the head of the log meanwhile): the sealing's CPU and key statements run beside the write.
pub(super) struct Pipeline<'a> {
    pool: &'a PgPool,
    vault: Option<&'a Vault>,
    /// The chunk sealed last, not written yet.
    sealed: Option<Sealed>,
}

impl<'a> Pipeline<'a> {
    pub(super) fn new(pool: &'a PgPool, vault: Option<&'a Vault>) -> Self {
        Pipeline { pool, vault, sealed: None }
    }

    /// Write the chunk sealed last while sealing `rows`.
    pub(super) async fn push(&mut self, rows: Vec<Ecrit>) -> Result<(), VoeuxImportError> {
        let previous = self.sealed.take();
        let (written, sealed) = tokio::join!(
            async {
                match previous {
                    Some(previous) => write(self.pool, previous).await,
                    None => Ok(()),
                }
            },
            seal(self.pool, self.vault, rows)
        );
        written?;
        self.sealed = sealed?;
        Ok(())
    }

    /// Write the chunk sealed last.
    pub(super) async fn finish(mut self) -> Result<(), VoeuxImportError> {
        match self.sealed.take() {
            Some(sealed) => write(self.pool, sealed).await,
            None => Ok(()),
        }
    }
}
