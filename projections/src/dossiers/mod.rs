//! The `dossiers` projection: one row per dossier with the dimensions analysts group and filter by and
//! its parcours under the current rule set (`rm_dossiers`), the organismes as the log knows them
//! (`rm_organismes`, for the territory of each organisme formateur), and the indicator cubes
//! (`rm_indicateurs_*`, see `indicateurs`).
//!
//! A batch refolds each dossier it touches from the dossier's events up to the batch's last position
//! (corrections void earlier events, so a dossier is always folded whole: from the batch itself when it
//! holds the dossier's first event, else from the log), and writes all rows in one statement per table.
//! The cubes move by each refolded dossier's new contribution minus its old one, read back from its
//! previous row (written as pending changes, folded in by `settle` beside the batches); when an
//! organisme moves to another département, its dossiers move with it. `query` reads the rows.

use std::collections::HashMap;

use events::EventStore;
use events::RecordedEvent;
use events::organisme::{ORGANISME_ENREGISTRE, Organisme};
use events::personal::Vault;
use events::personne::PersonneEffacee;
use events::store::category_by_stream;
use futures_util::TryStreamExt;
use sqlx::PgConnection;

use crate::admission;
use crate::fold::Touched;
use crate::indicateurs::historique::Historique;
use crate::indicateurs::versions::Versions;
use crate::indicateurs::{Comptage, Deltas};
use crate::runtime::{ProjectionError, Projector};
use crate::status::RuleSet;

pub mod couverture;
pub(crate) mod deca;
pub mod identite;
pub mod query;
mod read;
mod row;
mod write;

use read::{read_streams, territoires};
use row::{Row, Steps};
use write::{
    Counted, copy_dossiers, counted, delete_dossiers, insert_libelles, named, relocate, write_dossiers,
    write_libelles, write_organismes,
};

pub struct DossiersProjection {
    pub rules: RuleSet,
    /// Opens the personal data of the events it reads from the log itself.
    pub vault: Option<Vault>,
}

impl Default for DossiersProjection {
    fn default() -> Self {
        DossiersProjection { rules: RuleSet::CURRENT, vault: None }
    }
}

impl DossiersProjection {
    pub fn with_vault(mut self, vault: Option<Vault>) -> Self {
        self.vault = vault;
        self
    }

    /// The identity of each row, sealed under its person's key (see `identite`).
    async fn sealed(
        &self,
        tx: &mut PgConnection,
        rows: &[Row],
    ) -> Result<Vec<Option<Vec<u8>>>, ProjectionError> {
        let identites: Vec<(&str, &str, Option<&identite::Identite>)> =
            rows.iter().map(|r| (r.dossier_id.as_str(), r.personne.as_str(), r.identite.as_ref())).collect();
        Ok(identite::sceller(tx, self.vault.as_ref(), &identites).await?)
    }

    /// Load rows into an empty `rm_dossiers` (a build), their identities sealed.
    async fn copy(&self, tx: &mut PgConnection, rows: &[Row]) -> Result<(), ProjectionError> {
        let sealed = self.sealed(tx, rows).await?;
        copy_dossiers(tx, rows, &sealed, self.rules.version()).await
    }
}

/// The European niveau (3 to 7) of a formation, from the first digit of its CFD (5 = CAP … 1 = master).
pub fn niveau(cfd: &str) -> Option<i16> {
    match cfd.as_bytes().first()? {
        digit @ b'1'..=b'5' => Some(8 - i16::from(digit - b'0')),
        _ => None,
    }
}

/// The version of the `dossiers` projection (its checkpoint's name): 3 keeps an année de formation 0
/// apart from none sent; 4 keeps the formations' names (`rm_dossiers_libelles`); 5 counts the DECA
/// contracts of organismes that never transmitted, and each dossier's source; 6 stores the organisme
/// and formation cubes' sums weekly (`cubes::Ancrage`); 7 keeps each learner's identity sealed in
/// their row (`identite`).
pub const VERSION: i32 = 7;

/// Dossier rows written per statement while building.
const BUILD_ROWS: usize = 5000;

impl Projector for DossiersProjection {
    fn name(&self) -> &'static str {
        "dossiers"
    }

    fn version(&self) -> i32 {
        VERSION
    }

    fn tables(&self) -> &'static [&'static str] {
        &[
            "rm_organismes",
            "rm_dossiers",
            "rm_indicateurs_departement",
            "rm_indicateurs_territoire",
            "rm_indicateurs_organisme",
            "rm_indicateurs_formation",
            "rm_indicateurs_source",
            "rm_indicateurs_departement_pending",
            "rm_indicateurs_territoire_pending",
            "rm_indicateurs_organisme_pending",
            "rm_indicateurs_formation_pending",
            "rm_indicateurs_source_pending",
            "rm_indicateurs_historique",
            "rm_dossiers_versions",
            "rm_organismes_versions",
            "rm_dossiers_quarantaine",
            "rm_dossiers_libelles",
            "rm_formations_libelles",
            "rm_organismes_transmissions",
        ]
    }

    fn reads(&self, category: &str) -> bool {
        matches!(category, "dossier" | "organisme" | "personne" | "deca")
    }

    fn quarantaine(&self) -> &'static str {
        "rm_dossiers_quarantaine"
    }

    /// The history is checked by what it sums to per cell and day: a rebuild writes each dossier's
    /// changes as its events give them read now (an erased person's from their first event on), the
    /// live batches as they were known then.
    fn checksum_rows(&self, table: &str, qualified: &str) -> String {
        if table == "rm_indicateurs_historique" {
            format!(
                "SELECT (annee_scolaire, jour, statut, departement, region, academie, sum(n))::text FROM {qualified}
                 GROUP BY annee_scolaire, jour, statut, departement, region, academie HAVING sum(n) <> 0 ORDER BY 1"
            )
        } else {
            format!("SELECT t::text FROM {qualified} t ORDER BY 1")
        }
    }

    /// The instantanés of "as known at" summed the replaced history (and their views named its table).
    async fn swapped(&self, tx: &mut PgConnection) -> Result<(), ProjectionError> {
        crate::indicateurs::connu::oublier(tx).await?;
        Ok(())
    }

    async fn settle(&self, tx: &mut PgConnection) -> Result<(), ProjectionError> {
        crate::indicateurs::cubes::settle(tx).await?;
        Ok(())
    }

    async fn apply(&self, tx: &mut PgConnection, events: &[RecordedEvent]) -> Result<(), ProjectionError> {
        if events.is_empty() {
            return Ok(());
        }
        let organismes: Vec<(Organisme, i64)> = events
            .iter()
            .filter(|e| e.event_type == ORGANISME_ENREGISTRE)
            .map(|e| {
                serde_json::from_value(e.data.clone())
                    .map(|o| (o, e.position))
                    .map_err(|err| ProjectionError::Event { position: e.position, message: err.to_string() })
            })
            .collect::<Result<_, _>>()?;
        let moved = write_organismes(tx, &organismes).await?;
        // An erased person's dossiers are folded again: their personal data now reads erased.
        let erased = PersonneEffacee::persons_in(events);
        let also: Vec<String> = if erased.is_empty() {
            Vec::new()
        } else {
            sqlx::query_scalar!("SELECT dossier_id FROM rm_dossiers WHERE personne = ANY($1)", &erased)
                .fetch_all(&mut *tx)
                .await?
        };
        let (also_deca, also): (Vec<String>, Vec<String>) =
            also.into_iter().partition(|id| deca::stream_of(id).is_some());
        let touched = Touched::of(tx, self.vault.as_ref(), events, "dossier", &also).await?;
        let (first, last) = (events[0].position, events[events.len() - 1].position);
        // Each dossier after each of its events in the batch (the knowledge-time history), the last
        // being its row now.
        let mut steps: Vec<(String, Steps)> = Vec::new();
        let mut found = deca::Transmissions::new();
        for (stream, events) in touched.streams() {
            let dossier = self.steps(stream, &events, first, last)?;
            deca::noter(&mut found, &dossier);
            steps.push((stream.to_owned(), dossier));
        }
        // An organisme's first transmission takes its DECA contracts out; a contract's dossiers are
        // evaluated at its events and at those switches.
        let switched = deca::nouvelles(tx, &found).await?;
        let mut contrats: Vec<String> = deca::streams_of(tx, &switched).await?;
        contrats.extend(also_deca.iter().filter_map(|id| deca::stream_of(id)).map(str::to_owned));
        contrats.sort();
        contrats.dedup();
        let touched = Touched::of(tx, self.vault.as_ref(), events, "deca", &contrats).await?;
        let streams: Vec<(&str, Vec<&RecordedEvent>)> = touched.streams().collect();
        let transmissions = deca::connues(tx, &deca::organismes_of(&streams)).await?;
        for (stream, events) in &streams {
            steps.extend(self.deca_steps(stream, events, (first, last), &transmissions)?);
        }
        let formateurs = steps
            .iter()
            .flat_map(|(_, s)| s.iter().filter_map(|(_, row)| row.as_ref()))
            .map(|r| (r.comptage.dims.uai.to_string(), r.comptage.dims.siret.to_string()));
        let territoires = territoires(tx, Some(formateurs.collect())).await?;
        steps
            .iter_mut()
            .flat_map(|(_, s)| s.iter_mut())
            .filter_map(|(_, r)| r.as_mut())
            .for_each(|row| row.locate(&territoires));
        // Counts move by what each dossier contributes now minus what it contributed before.
        let mut deltas = Deltas::default();
        let mut historique = Historique::default();
        let mut versions = Versions::default();
        let efface: std::collections::HashSet<&str> =
            also.iter().chain(&also_deca).map(String::as_str).collect();
        let ids: Vec<String> = steps.iter().map(|(id, _)| id.clone()).collect();
        let old: HashMap<String, Comptage> =
            counted(tx, Counted::Dossiers(&ids)).await?.into_iter().collect();
        let mut rows = Vec::new();
        let mut gone = Vec::new();
        for (id, steps) in steps {
            let before = old.get(&id);
            let counts = || steps.iter().map(|(p, r)| (*p, r.as_ref().map(|r| &r.comptage)));
            historique.add_steps(before, counts());
            versions.add_steps(&id, before, counts(), efface.contains(id.as_str()));
            if let Some(before) = before {
                deltas.add(before, -1);
            }
            match steps.into_iter().next_back() {
                Some((_, Some(row))) => {
                    deltas.add(&row.comptage, 1);
                    rows.push(row);
                }
                _ if before.is_some() => gone.push(id),
                _ => {}
            }
        }
        relocate(tx, &moved, &ids.iter().map(String::as_str).collect(), &mut deltas, (&mut historique, last))
            .await?;
        let sealed = self.sealed(tx, &rows).await?;
        write_dossiers(tx, &rows, &sealed, self.rules.version() as i32).await?;
        delete_dossiers(tx, &gone).await?;
        write_libelles(tx, &ids, &rows).await?;
        deltas.write(tx).await?;
        historique.write(tx).await?;
        versions.write(tx).await?;
        Ok(())
    }

    /// In one pass: the organismes, then every dossier folded once from its whole stream (the log read
    /// in stream order), then every DECA contract (its organisme's first transmission known by then),
    /// their rows written in batches and their counts added up in memory, the cubes written at the end.
    async fn build(
        &self,
        store: &EventStore,
        tx: &mut PgConnection,
        until: i64,
        progress: &(dyn Fn(i64, i64) + Send + Sync),
    ) -> Result<(), ProjectionError> {
        let started = std::time::Instant::now();
        let mut organismes: Vec<RecordedEvent> =
            category_by_stream(store.pool(), "organisme", until).try_collect().await?;
        organismes.sort_by_key(|e| e.position);
        crate::build::add_indexes(tx, &["rm_organismes", "rm_dossiers_quarantaine"]).await?;
        crate::runtime::apply_admitted(self, tx, &organismes).await?;
        let territoires = territoires(tx, None).await?;
        let mut deltas = Deltas::default();
        let mut historique = Historique::default();
        let mut versions = Versions::default();
        let mut versions_written = std::time::Duration::ZERO;
        let mut rows: Vec<Row> = Vec::with_capacity(BUILD_ROWS);
        let mut set_aside = Vec::new();
        let mut done = 0;
        let mut found = deca::Transmissions::new();
        // Each dossier's row after each of its events: its history and versions, and its row now.
        let mut take = |id: &str,
                        mut steps: Steps,
                        rows: &mut Vec<Row>,
                        (historique, versions): (&mut Historique, &mut Versions)| {
            steps.iter_mut().filter_map(|(_, r)| r.as_mut()).for_each(|row| row.locate(&territoires));
            let counts = || steps.iter().map(|(p, r)| (*p, r.as_ref().map(|r| &r.comptage)));
            historique.add_steps(None, counts());
            versions.add_steps(id, None, counts(), false);
            if let Some((_, Some(row))) = steps.pop() {
                deltas.add(&row.comptage, 1);
                rows.push(row);
            }
        };
        // The dossiers first (their organismes' first transmissions), then the DECA contracts.
        for category in ["dossier", "deca"] {
            if category == "deca" {
                let mut first: Vec<((String, String), i64)> =
                    found.iter().map(|(k, p)| (k.clone(), *p)).collect();
                first.sort();
                deca::write_transmissions(tx, &first).await?;
            }
            // Reading and decoding the log runs beside the folding: two cores, two halves of the work.
            let (sender, mut streams) = tokio::sync::mpsc::channel::<Vec<Vec<RecordedEvent>>>(4);
            let reader = tokio::spawn(read_streams(store.clone(), category, until, sender));
            while let Some(chunk) = streams.recv().await {
                for stream in &chunk {
                    done += stream.len() as i64;
                    let events = admission::sort_out(stream, &mut set_aside);
                    let Some(id) = events.first().map(|e| e.stream_id.clone()) else { continue };
                    if category == "dossier" {
                        let steps = self.steps(&id, &events, 0, 0)?;
                        deca::noter(&mut found, &steps);
                        take(&id, steps, &mut rows, (&mut historique, &mut versions));
                    } else {
                        for (id, steps) in self.deca_steps(&id, &events, (0, 0), &found)? {
                            take(&id, steps, &mut rows, (&mut historique, &mut versions));
                        }
                    }
                }
                if rows.len() >= BUILD_ROWS {
                    self.copy(tx, &rows).await?;
                    insert_libelles(tx, &named(&rows)).await?;
                    historique.write(tx).await?;
                    let writing = std::time::Instant::now();
                    versions.write(tx).await?;
                    versions_written += writing.elapsed();
                    rows.clear();
                    progress(done, until);
                }
            }
            reader
                .await
                .map_err(|e| ProjectionError::Event { position: until, message: e.to_string() })??;
        }
        self.copy(tx, &rows).await?;
        insert_libelles(tx, &named(&rows)).await?;
        sqlx::query(
            "INSERT INTO rm_formations_libelles (formation, libelle, n)
             SELECT formation, libelle, count(*) FROM rm_dossiers_libelles GROUP BY formation, libelle",
        )
        .execute(&mut *tx)
        .await?;
        admission::record(tx, self.quarantaine(), &set_aside).await?;
        historique.write(tx).await?;
        let writing = std::time::Instant::now();
        versions.write(tx).await?;
        versions_written += writing.elapsed();
        tracing::info!(
            events = done,
            seconds = started.elapsed().as_secs_f64(),
            versions_seconds = versions_written.as_secs_f64(),
            "dossiers folded and written"
        );
        // The history was written dossier after dossier; questions read it by position range.
        let started = std::time::Instant::now();
        crate::build::add_indexes(tx, &["rm_indicateurs_historique"]).await?;
        sqlx::raw_sql("CLUSTER rm_indicateurs_historique USING rm_indicateurs_historique_position")
            .execute(&mut *tx)
            .await?;
        tracing::info!(seconds = started.elapsed().as_secs_f64(), "history ordered by position");
        let started = std::time::Instant::now();
        crate::build::add_indexes(tx, &["rm_dossiers_versions"]).await?;
        tracing::info!(seconds = started.elapsed().as_secs_f64(), "versions indexed");
        let started = std::time::Instant::now();
        deltas.copy(tx).await?;
        tracing::info!(seconds = started.elapsed().as_secs_f64(), "indicator cubes written");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_niveau_follows_the_first_digit_of_the_cfd() {
        for (cfd, niveau) in [
            ("50022137", Some(3)),
            ("40025214", Some(4)),
            ("32031213", Some(5)),
            ("26X31015", Some(6)),
            ("16X31001", Some(7)),
            ("46T32601", Some(4)),
            ("99999999", None),
        ] {
            assert_eq!(super::niveau(cfd), niveau, "{cfd}");
        }
    }
}
