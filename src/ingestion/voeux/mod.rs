//! `tba voeux import --source affelnet|parcoursup FILE` and `POST /api/v1/voeux/imports`: a file of
//! vœux (CSV, `;`, UTF-8 or Windows-1252, one row per vœu; columns in `columns`) into the log.
//!
//! The file is read twice from disk, never whole in memory: first every row is checked (a refused value
//! refuses the file, and nothing is written; the report names each line and column), then it is read
//! again and written CHUNK rows at a time, each chunk in one transaction with the import's own index
//! (`voeux`; a chunk's personal data is sealed while the chunk before it is written): a new vœu, or one
//! whose content changed, becomes a `VoeuFormule` event on its candidate's stream; an unchanged one
//! writes nothing. Last, every vœu of the file's campaigns (source, académie,
//! rentrée) that the file no longer holds is withdrawn by a `VoeuRetire` event; vœux of other académies,
//! rentrées or sources are never touched. Imports run one at a time. An import cut short (crash,
//! SIGTERM) has written whole chunks only; importing the same file again completes it.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use chrono::Utc;
use events::personal::Vault;
use events::voeu::{Source, VoeuEvent, VoeuRetire};
use events::{Metadata, NewEvent};
use sqlx::PgPool;
use tokio::sync::mpsc;

use super::referential::RowError;

mod check;
mod columns;
mod write;

use check::{check, read_file};
pub use columns::{Columns, OPTIONAL, columns};
use write::{Connu, Ecrit, Pipeline};

/// Rows written per transaction.
const CHUNK: usize = 5000;
/// Refusals kept for the report (the count says how many there were).
pub(super) const KEPT_ERRORS: usize = 1000;

#[derive(Debug, thiserror::Error)]
pub enum VoeuxImportError {
    /// Refused values (at most `KEPT_ERRORS` of them) and how many there were in all.
    #[error("{1} refused value(s)")]
    Invalid(Vec<RowError>, usize),
    /// The file as a whole cannot be read.
    #[error("{0}")]
    File(String),
    /// Another import of vœux is running.
    #[error("un import de vœux est déjà en cours ; réessayez quand il sera terminé")]
    Busy,
    #[error("the log refused a vœu: {0}")]
    Append(#[from] events::AppendError),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("{0}")]
    Store(#[from] events::StoreError),
}

impl From<super::imports::DossiersImportError> for VoeuxImportError {
    fn from(error: super::imports::DossiersImportError) -> Self {
        VoeuxImportError::File(error.to_string())
    }
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Report {
    pub import_id: i64,
    /// Rows read.
    pub lignes: u64,
    /// New vœux (or vœux formulated again after a withdrawal).
    pub formules: u64,
    pub modifies: u64,
    pub inchanges: u64,
    /// Vœux of the file's campaigns it no longer holds.
    pub retires: u64,
    /// The campaigns the file holds (académie, rentrée); only their vœux can be withdrawn.
    pub campagnes: Vec<CampagneFichier>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, utoipa::ToSchema)]
pub struct CampagneFichier {
    pub academie: String,
    pub rentree: i32,
}

/// The phases of an import, for its progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Verification,
    Ecriture,
}

/// Import the file at `path` (named `nom` in the journal); `progress` is told the phase and how many
/// rows are done.
pub async fn import(
    pool: &PgPool,
    vault: Option<&Vault>,
    source: Source,
    path: &Path,
    nom: &str,
    metadata: Metadata,
    progress: impl Fn(Phase, u64) + Send + Sync + 'static,
) -> Result<Report, VoeuxImportError> {
    let progress = Arc::new(progress);
    let started = std::time::Instant::now();
    let checked = {
        let (path, progress) = (path.to_owned(), progress.clone());
        tokio::task::spawn_blocking(move || check(source, &path, &|n| progress(Phase::Verification, n)))
            .await
            .map_err(|e| VoeuxImportError::File(format!("la lecture du fichier a échoué : {e}")))??
    };
    if checked.error_count > 0 {
        return Err(VoeuxImportError::Invalid(checked.errors, checked.error_count));
    }
    tracing::info!(rows = checked.lignes, seconds = started.elapsed().as_secs_f64(), "vœux file checked");
    let mut lock = lock(pool).await?;
    let campagnes: Vec<CampagneFichier> = checked.campagnes.iter().cloned().collect();
    let import_id = sqlx::query_scalar!(
        "INSERT INTO voeux_imports (source, fichier, nom, principal, debut, campagnes)
         VALUES ($1, $2, $3, $4, now(), $5) RETURNING id",
        source.as_str(),
        checked.sha256,
        nom,
        format!("{}/{}", metadata.actor.organisation, metadata.actor.principal),
        serde_json::to_value(&campagnes).expect("campaigns serialise to JSON"),
    )
    .fetch_one(pool)
    .await?;
    let mut report = Report { import_id, lignes: checked.lignes, campagnes, ..Report::default() };
    let today = Utc::now().date_naive();
    let event = move |e: VoeuEvent| {
        NewEvent::new(e.event_type(), e.data()).occurred_at(today).with_metadata(metadata.clone())
    };
    let mut known = known(pool, source, &report.campagnes).await?;
    let written = Writing { pool, vault, source, event: &event };
    written.rows(path, &mut known, &mut report, &|n| progress(Phase::Ecriture, n)).await?;
    tracing::info!(rows = report.lignes, seconds = started.elapsed().as_secs_f64(), "vœux written");
    written.withdraw(known, &checked.sha256, &mut report).await?;
    sqlx::query!(
        "UPDATE voeux_imports SET termine = now(), lignes = $2, formules = $3, modifies = $4, inchanges = $5,
                                  retires = $6
         WHERE id = $1",
        import_id,
        report.lignes as i64,
        report.formules as i64,
        report.modifies as i64,
        report.inchanges as i64,
        report.retires as i64,
    )
    .execute(pool)
    .await?;
    tracing::info!(withdrawn = report.retires, seconds = started.elapsed().as_secs_f64(), "vœux import done");
    sqlx::query_scalar!(r#"SELECT pg_advisory_unlock(hashtext('tba:voeux-import')) AS "u!""#)
        .fetch_one(&mut lock)
        .await?;
    Ok(report)
}

/// One import at a time: the lock is held by a connection of its own, released when it closes.
async fn lock(pool: &PgPool) -> Result<sqlx::PgConnection, VoeuxImportError> {
    let mut lock = pool.acquire().await?.detach();
    let locked: bool =
        sqlx::query_scalar!(r#"SELECT pg_try_advisory_lock(hashtext('tba:voeux-import')) AS "l!""#)
            .fetch_one(&mut lock)
            .await?;
    if locked { Ok(lock) } else { Err(VoeuxImportError::Busy) }
}

/// What the index holds of the file's campaigns: each vœu the file holds is taken out of it as it is
/// read, and what is left is withdrawn.
async fn known(
    pool: &PgPool,
    source: Source,
    campagnes: &[CampagneFichier],
) -> Result<HashMap<String, Connu>, VoeuxImportError> {
    let academies: Vec<String> = campagnes.iter().map(|c| c.academie.clone()).collect();
    let rentrees: Vec<i32> = campagnes.iter().map(|c| c.rentree).collect();
    Ok(sqlx::query!(
        "SELECT voeu, candidat, academie, rentree, digest FROM voeux
         WHERE source = $1 AND NOT retire
           AND (academie, rentree) IN (SELECT * FROM unnest($2::text[], $3::int[]))",
        source.as_str(),
        &academies,
        &rentrees,
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|r| {
        (r.voeu, Connu { candidat: r.candidat, academie: r.academie, rentree: r.rentree, digest: r.digest })
    })
    .collect())
}

/// The second reading and the withdrawals of one import.
struct Writing<'a, F> {
    pool: &'a PgPool,
    vault: Option<&'a Vault>,
    source: Source,
    /// A vœu's event, with the import's metadata and day.
    event: &'a F,
}

impl<F: Fn(VoeuEvent) -> NewEvent + Clone + Send + 'static> Writing<'_, F> {
    /// The rows, CHUNK at a time, from a blocking reader that also makes their events (so that this
    /// happens while the previous chunk is written); the new and changed ones written, each taken
    /// out of `known`.
    async fn rows(
        &self,
        path: &Path,
        known: &mut HashMap<String, Connu>,
        report: &mut Report,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<(), VoeuxImportError> {
        let (sender, mut receiver) = mpsc::channel::<Vec<Ecrit>>(2);
        let reader = {
            let (path, event, source) = (path.to_owned(), self.event.clone(), self.source);
            tokio::task::spawn_blocking(move || {
                let mut chunk = Vec::with_capacity(CHUNK);
                let result = read_file(source, &path, |_, row| {
                    if let Ok((v, candidat)) = row {
                        let digest = v.digest();
                        chunk.push(Ecrit::formule(v, candidat, digest, &event));
                    }
                    if chunk.len() == CHUNK {
                        return sender.blocking_send(std::mem::take(&mut chunk)).is_ok();
                    }
                    true
                });
                if !chunk.is_empty() {
                    let _ = sender.blocking_send(chunk);
                }
                result
            })
        };
        let mut done = 0;
        let mut pipeline = Pipeline::new(self.pool, self.vault);
        while let Some(chunk) = receiver.recv().await {
            done += chunk.len() as u64;
            let mut changed = Vec::with_capacity(chunk.len());
            for e in chunk {
                match known.remove(&e.index.voeu) {
                    Some(k) if Some(&k.digest) == e.index.digest.as_ref() => report.inchanges += 1,
                    Some(_) => {
                        report.modifies += 1;
                        changed.push(e);
                    }
                    None => {
                        report.formules += 1;
                        changed.push(e);
                    }
                }
            }
            pipeline.push(changed).await?;
            progress(done);
        }
        pipeline.finish().await?;
        reader
            .await
            .map_err(|e| VoeuxImportError::File(format!("la lecture du fichier a échoué : {e}")))??;
        Ok(())
    }

    /// Withdraw the vœux of the file's campaigns it no longer holds: those left of what was known.
    async fn withdraw(
        &self,
        known: HashMap<String, Connu>,
        fichier: &str,
        report: &mut Report,
    ) -> Result<(), VoeuxImportError> {
        let mut absent: Vec<(String, Connu)> = known.into_iter().collect();
        absent.sort_by(|a, b| a.0.cmp(&b.0));
        report.retires = absent.len() as u64;
        let mut pipeline = Pipeline::new(self.pool, self.vault);
        for part in absent.chunks(CHUNK) {
            let withdrawals = part
                .iter()
                .map(|(voeu, k)| {
                    let retire = VoeuRetire {
                        voeu: voeu.clone(),
                        source: self.source,
                        rentree: k.rentree,
                        academie: k.academie.clone(),
                        fichier: fichier.to_owned(),
                    };
                    Ecrit::retrait(retire, k.candidat.clone(), self.event)
                })
                .collect();
            pipeline.push(withdrawals).await?;
        }
        pipeline.finish().await
    }
}
