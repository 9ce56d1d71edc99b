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
//! organisme moves to another département, its dossiers move with it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use events::EventStore;
use events::RecordedEvent;
use events::domain::AnneeScolaire;
use events::dossier::{Dossier, DossierEvent};
use events::organisme::{ORGANISME_ENREGISTRE, Organisme};
use events::personal::Vault;
use events::personne::PersonneEffacee;
use events::store::category_by_stream;
use futures_util::TryStreamExt;
use sqlx::PgConnection;

use crate::admission::{self, Quarantined};
use crate::copy::CopyRows;
use crate::fold::Touched;
use crate::indicateurs::historique::Historique;
use crate::indicateurs::versions::{self, Placement, Versions};
use crate::indicateurs::{Comptage, Deltas, Dimensions};
use crate::runtime::{ProjectionError, Projector};
use crate::status::{ChangePoint, Faits, RuleSet};

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
}

/// The European niveau (3 to 7) of a formation, from the first digit of its CFD (5 = CAP … 1 = master).
pub fn niveau(cfd: &str) -> Option<i16> {
    match cfd.as_bytes().first()? {
        digit @ b'1'..=b'5' => Some(8 - i16::from(digit - b'0')),
        _ => None,
    }
}

/// The version of the `dossiers` projection (its checkpoint's name): 3 keeps an année de formation 0
/// apart from none sent; 4 keeps the formations' names (`rm_dossiers_libelles`).
pub const VERSION: i32 = 4;

/// A row of `rm_dossiers`.
struct Row {
    dossier_id: String,
    id_erp_apprenant: String,
    uai_responsable: String,
    siret_responsable: String,
    cfd: Option<String>,
    rncp: Option<String>,
    code_commune_insee: Option<String>,
    personne: String,
    rqth: bool,
    retire: bool,
    /// The formation's name as the dossier carries it (`libelle_court_formation`).
    libelle_formation: Option<String>,
    /// Its counts: its dimensions (organisme formateur, territory, formation key, niveau…), birth date
    /// and parcours.
    comptage: Comptage,
    position: i64,
}

/// A dossier's row after each of its events (none before its inscription), by event position.
type Steps = Vec<(i64, Option<Row>)>;

/// Where each organisme formateur is, as the read model knows it.
type Territoires = HashMap<(String, String), (Arc<str>, Arc<str>, Arc<str>)>;

impl Row {
    /// Fill in the territory of the dossier's organisme formateur.
    fn locate(&mut self, territoires: &Territoires) {
        let dims = &mut self.comptage.dims;
        if let Some((departement, region, academie)) =
            territoires.get(&(dims.uai.to_string(), dims.siret.to_string())).cloned()
        {
            (dims.departement, dims.region, dims.academie) = (departement, region, academie);
        }
    }
}

impl DossiersProjection {
    /// The dossier's row after each of its events from position `first` on (a stream folded again
    /// without events of its own in the batch, its person erased, makes one step at `last`).
    fn steps(
        &self,
        stream: &str,
        events: &[&RecordedEvent],
        first: i64,
        last: i64,
    ) -> Result<Steps, ProjectionError> {
        // Each event is decoded once; the dossier after each is folded from the decoded prefix.
        let decoded = decode(events)?;
        let mut steps = Vec::new();
        for (i, event) in events.iter().enumerate() {
            if event.position >= first {
                steps.push((event.position, self.row(stream, &decoded[..=i], event.position)));
            }
        }
        if steps.is_empty() {
            steps.push((last, self.row(stream, &decoded, events.last().map_or(0, |e| e.position))));
        }
        Ok(steps)
    }

    /// What a dossier folded from these events counts for (its territory not filled in); none before
    /// its inscription.
    pub fn comptage(
        &self,
        stream: &str,
        events: &[&RecordedEvent],
    ) -> Result<Option<Comptage>, ProjectionError> {
        let last = events.last().map_or(0, |e| e.position);
        Ok(self.row(stream, &decode(events)?, last).map(|row| row.comptage))
    }

    /// The row of a dossier folded from its decoded events up to position `last`, its territory not
    /// yet filled in.
    fn row(&self, stream: &str, decoded: &[(uuid::Uuid, DossierEvent)], last: i64) -> Option<Row> {
        let dossier = Dossier::from_events(decoded);
        let i = dossier.inscription.as_ref()?;
        let parcours = Faits::of(&dossier).map(|faits| self.rules.parcours(&faits)).unwrap_or_default();
        let cfd = i.formation.cfd.as_ref().map(ToString::to_string);
        let rncp = i.formation.rncp.as_ref().map(ToString::to_string);
        let dims = Dimensions {
            uai: i.formateur.uai.as_str().into(),
            siret: i.formateur.siret.as_str().into(),
            formation: cfd.as_deref().or(rncp.as_deref()).unwrap_or_default().into(),
            niveau: cfd.as_deref().and_then(niveau).unwrap_or(0),
            annee_formation: Dimensions::annee_formation_de(
                i.formation.annee_formation.and_then(|a| i16::try_from(a).ok()),
            ),
            ..Dimensions::default()
        };
        Some(Row {
            dossier_id: stream.to_owned(),
            id_erp_apprenant: i.id_erp_apprenant.clone(),
            uai_responsable: i.responsable.uai.to_string(),
            siret_responsable: i.responsable.siret.to_string(),
            cfd,
            rncp,
            code_commune_insee: i.personnel.coordonnees.code_commune_insee.as_ref().map(ToString::to_string),
            personne: i.personne.identite.clone(),
            rqth: i.apprenant.rqth.unwrap_or(false),
            retire: dossier.retrait.is_some(),
            libelle_formation: i
                .formation
                .libelle_court
                .as_deref()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned),
            comptage: Comptage {
                annee_scolaire: i.annee_scolaire.clone(),
                naissance: i.personnel.date_de_naissance,
                parcours,
                dims,
            },
            position: last,
        })
    }
}

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
            "rm_indicateurs_departement_pending",
            "rm_indicateurs_territoire_pending",
            "rm_indicateurs_organisme_pending",
            "rm_indicateurs_formation_pending",
            "rm_indicateurs_historique",
            "rm_dossiers_versions",
            "rm_organismes_versions",
            "rm_dossiers_quarantaine",
            "rm_dossiers_libelles",
            "rm_formations_libelles",
        ]
    }

    fn reads(&self, category: &str) -> bool {
        matches!(category, "dossier" | "organisme" | "personne")
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
        let touched = Touched::of(tx, self.vault.as_ref(), events, "dossier", &also).await?;
        let (first, last) = (events[0].position, events[events.len() - 1].position);
        // Each dossier after each of its events in the batch (the knowledge-time history), the last
        // being its row now.
        let mut steps: Vec<(String, Steps)> = Vec::new();
        for (stream, events) in touched.streams() {
            steps.push((stream.to_owned(), self.steps(stream, &events, first, last)?));
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
        let efface: std::collections::HashSet<&str> = also.iter().map(String::as_str).collect();
        let ids: Vec<String> = steps.iter().map(|(id, _)| id.clone()).collect();
        let old: HashMap<String, Comptage> =
            counted(tx, Counted::Dossiers(&ids)).await?.into_iter().collect();
        let mut rows = Vec::new();
        for (id, steps) in steps {
            let before = old.get(&id);
            let counts = || steps.iter().map(|(p, r)| (*p, r.as_ref().map(|r| &r.comptage)));
            historique.add_steps(before, counts());
            versions.add_steps(&id, before, counts(), efface.contains(id.as_str()));
            if let Some(before) = before {
                deltas.add(before, -1);
            }
            if let Some((_, Some(row))) = steps.into_iter().next_back() {
                deltas.add(&row.comptage, 1);
                rows.push(row);
            }
        }
        relocate(tx, &moved, &ids.iter().map(String::as_str).collect(), &mut deltas, (&mut historique, last))
            .await?;
        write_dossiers(tx, &rows, self.rules.version() as i32).await?;
        write_libelles(tx, &ids, &rows).await?;
        deltas.write(tx).await?;
        historique.write(tx).await?;
        versions.write(tx).await?;
        Ok(())
    }

    /// In one pass: the organismes, then every dossier folded once from its whole stream (the log read
    /// in stream order), its row written in batches and its counts added up in memory, the cubes
    /// written at the end.
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
        let mut fold = |stream: &[RecordedEvent],
                        rows: &mut Vec<Row>,
                        (historique, versions): (&mut Historique, &mut Versions),
                        set_aside: &mut Vec<Quarantined>|
         -> Result<(), ProjectionError> {
            let events = admission::sort_out(stream, set_aside);
            if events.is_empty() {
                return Ok(());
            }
            // The history needs the dossier after each of its events, as the live batches write it.
            let mut steps = self.steps(&stream[0].stream_id, &events, 0, 0)?;
            steps.iter_mut().filter_map(|(_, r)| r.as_mut()).for_each(|row| row.locate(&territoires));
            let counts = || steps.iter().map(|(p, r)| (*p, r.as_ref().map(|r| &r.comptage)));
            historique.add_steps(None, counts());
            versions.add_steps(&stream[0].stream_id, None, counts(), false);
            if let Some((_, Some(row))) = steps.pop() {
                deltas.add(&row.comptage, 1);
                rows.push(row);
            }
            Ok(())
        };
        // Reading and decoding the log runs beside the folding: two cores, two halves of the work.
        let (sender, mut streams) = tokio::sync::mpsc::channel::<Vec<Vec<RecordedEvent>>>(4);
        let reader = tokio::spawn(read_streams(store.clone(), until, sender));
        while let Some(chunk) = streams.recv().await {
            for stream in &chunk {
                fold(stream, &mut rows, (&mut historique, &mut versions), &mut set_aside)?;
                done += stream.len() as i64;
            }
            if rows.len() >= BUILD_ROWS {
                copy_dossiers(tx, &rows, self.rules.version()).await?;
                insert_libelles(tx, &named(&rows)).await?;
                historique.write(tx).await?;
                let writing = std::time::Instant::now();
                versions.write(tx).await?;
                versions_written += writing.elapsed();
                rows.clear();
                progress(done, until);
            }
        }
        reader.await.map_err(|e| ProjectionError::Event { position: until, message: e.to_string() })??;
        copy_dossiers(tx, &rows, self.rules.version()).await?;
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

/// The events of one dossier stream, decoded (the projection reads only admitted ones).
fn decode(events: &[&RecordedEvent]) -> Result<Vec<(uuid::Uuid, DossierEvent)>, ProjectionError> {
    events
        .iter()
        .map(|e| {
            DossierEvent::from_recorded(e)
                .map(|decoded| (e.event_id, decoded))
                .map_err(|error| ProjectionError::Event { position: e.position, message: error.to_string() })
        })
        .collect()
}

/// Send the dossier streams of the log up to `until`, whole, in chunks.
async fn read_streams(
    store: EventStore,
    until: i64,
    sender: tokio::sync::mpsc::Sender<Vec<Vec<RecordedEvent>>>,
) -> Result<(), ProjectionError> {
    let pool = store.pool().clone();
    let mut events = category_by_stream(&pool, "dossier", until);
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
async fn opened(
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
const READ_CHUNK: usize = 500;

/// Dossier rows written per statement while building.
const BUILD_ROWS: usize = 5000;

/// An organisme's territory as `rm_organismes` stores it.
struct TerritoireRow {
    uai: String,
    siret: String,
    departement: String,
    region: String,
    academie: String,
}

/// The territory of each organisme of `keys` the read model knows; of every organisme it knows when
/// `keys` is `None`.
async fn territoires(
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

/// A dossier's counts as its row stores them.
struct CountedRow {
    dossier_id: String,
    annee_scolaire: String,
    date_de_naissance: chrono::NaiveDate,
    parcours: serde_json::Value,
    departement: String,
    region: String,
    academie: String,
    uai_formateur: String,
    siret_formateur: String,
    formation: String,
    niveau: Option<i16>,
    annee_formation: Option<i16>,
}

/// The formations' names the dossiers carry: of the dossiers `refolded`, those whose formation or
/// name changed (or that have none now) are taken back and their `rows`' added, and each formation's
/// count per name moved by the difference. A dossier whose name did not change is not written.
async fn write_libelles(
    tx: &mut PgConnection,
    refolded: &[String],
    rows: &[Row],
) -> Result<(), ProjectionError> {
    let old: HashMap<String, (String, String)> = sqlx::query_as::<_, (String, String, String)>(
        "SELECT dossier_id, formation, libelle FROM rm_dossiers_libelles WHERE dossier_id = ANY($1)",
    )
    .bind(refolded)
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .map(|(id, formation, libelle)| (id, (formation, libelle)))
    .collect();
    let now = named(rows);
    let same = |id: &str, f: &str, l: &str| old.get(id).is_some_and(|(of, ol)| of == f && ol == l);
    let added: Vec<(&str, &str, &str)> = now.iter().copied().filter(|(id, f, l)| !same(id, f, l)).collect();
    let kept: std::collections::HashSet<&str> =
        now.iter().filter(|(id, f, l)| same(id, f, l)).map(|(id, _, _)| *id).collect();
    let taken_back: Vec<&String> = old.keys().filter(|id| !kept.contains(id.as_str())).collect();
    let mut counts: HashMap<(String, String), i64> = HashMap::new();
    if !taken_back.is_empty() {
        sqlx::query("DELETE FROM rm_dossiers_libelles WHERE dossier_id = ANY($1)")
            .bind(&taken_back)
            .execute(&mut *tx)
            .await?;
        for id in taken_back {
            *counts.entry(old[id].clone()).or_default() -= 1;
        }
    }
    insert_libelles(tx, &added).await?;
    for (_, formation, libelle) in added {
        *counts.entry((formation.to_owned(), libelle.to_owned())).or_default() += 1;
    }
    counts.retain(|_, n| *n != 0);
    if counts.is_empty() {
        return Ok(());
    }
    let mut counts: Vec<((String, String), i64)> = counts.into_iter().collect();
    counts.sort();
    let formations: Vec<&str> = counts.iter().map(|((f, _), _)| f.as_str()).collect();
    sqlx::query(
        "INSERT INTO rm_formations_libelles (formation, libelle, n)
         SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[])
         ON CONFLICT (formation, libelle) DO UPDATE SET n = rm_formations_libelles.n + excluded.n",
    )
    .bind(&formations)
    .bind(counts.iter().map(|((_, l), _)| l.as_str()).collect::<Vec<_>>())
    .bind(counts.iter().map(|(_, n)| *n).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM rm_formations_libelles WHERE formation = ANY($1) AND n = 0")
        .bind(&formations)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// `(dossier, formation, name)` of each row that has both a formation and its name.
fn named(rows: &[Row]) -> Vec<(&str, &str, &str)> {
    rows.iter()
        .filter(|r| !r.comptage.dims.formation.is_empty())
        .filter_map(|r| {
            Some((r.dossier_id.as_str(), &*r.comptage.dims.formation, r.libelle_formation.as_deref()?))
        })
        .collect()
}

/// Record these `(dossier, formation, name)`.
async fn insert_libelles(tx: &mut PgConnection, named: &[(&str, &str, &str)]) -> Result<(), ProjectionError> {
    if !named.is_empty() {
        sqlx::query(
            "INSERT INTO rm_dossiers_libelles (dossier_id, formation, libelle)
             SELECT * FROM unnest($1::text[], $2::text[], $3::text[])",
        )
        .bind(named.iter().map(|n| n.0).collect::<Vec<_>>())
        .bind(named.iter().map(|n| n.1).collect::<Vec<_>>())
        .bind(named.iter().map(|n| n.2).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

/// Whose counts to read back.
enum Counted<'a> {
    Dossiers(&'a [String]),
    OfOrganismes(&'a [(String, String)]),
}

/// What some dossiers count for now (each query on its own index).
async fn counted(
    tx: &mut PgConnection,
    which: Counted<'_>,
) -> Result<Vec<(String, Comptage)>, ProjectionError> {
    let rows = match which {
        Counted::Dossiers(ids) => sqlx::query_as!(
            CountedRow,
            r#"SELECT dossier_id, annee_scolaire, date_de_naissance, parcours, departement, region, academie,
                          uai_formateur, siret_formateur, formation, niveau, annee_formation
                   FROM rm_dossiers WHERE dossier_id = ANY($1)"#,
            ids,
        )
        .fetch_all(tx)
        .await?,
        Counted::OfOrganismes(organismes) => {
            let (uais, sirets): (Vec<String>, Vec<String>) = organismes.iter().cloned().unzip();
            sqlx::query_as!(
                CountedRow,
                r#"SELECT dossier_id, annee_scolaire, date_de_naissance, parcours, departement, region, academie,
                          uai_formateur, siret_formateur, formation, niveau, annee_formation
                   FROM rm_dossiers d JOIN unnest($1::text[], $2::text[]) AS o(uai, siret)
                        ON (d.uai_formateur, d.siret_formateur) = (o.uai, o.siret)"#,
                &uais,
                &sirets,
            )
            .fetch_all(tx)
            .await?
        }
    };
    rows.into_iter()
        .map(|r| {
            let invalid = |message: String| ProjectionError::ReadModel { table: "rm_dossiers", message };
            let annee_scolaire =
                AnneeScolaire::parse(&r.annee_scolaire).map_err(|e| invalid(e.to_string()))?;
            let parcours: Vec<ChangePoint> =
                serde_json::from_value(r.parcours).map_err(|e| invalid(e.to_string()))?;
            let dims = Dimensions {
                departement: r.departement.into(),
                region: r.region.into(),
                academie: r.academie.into(),
                uai: r.uai_formateur.into(),
                siret: r.siret_formateur.into(),
                formation: r.formation.into(),
                niveau: r.niveau.unwrap_or(0),
                annee_formation: Dimensions::annee_formation_de(r.annee_formation),
            };
            Ok((r.dossier_id, Comptage { annee_scolaire, naissance: r.date_de_naissance, parcours, dims }))
        })
        .collect()
}

/// The dossiers of organismes that `moved` to another territory, and that the batch did not refold
/// anyway (`refolded`), are counted again under the new territory.
async fn relocate(
    tx: &mut PgConnection,
    moved: &Territoires,
    refolded: &std::collections::HashSet<&str>,
    deltas: &mut Deltas,
    (historique, position): (&mut Historique, i64),
) -> Result<(), ProjectionError> {
    if moved.is_empty() {
        return Ok(());
    }
    let organismes: Vec<(String, String)> = moved.keys().cloned().collect();
    let mut ids = Vec::new();
    for (id, old) in counted(tx, Counted::OfOrganismes(&organismes)).await? {
        if refolded.contains(id.as_str()) {
            continue;
        }
        let key = (old.dims.uai.to_string(), old.dims.siret.to_string());
        let (departement, region, academie) = moved[&key].clone();
        let new = Comptage {
            dims: Dimensions { departement, region, academie, ..old.dims.clone() },
            ..old.clone()
        };
        deltas.add(&old, -1);
        deltas.add(&new, 1);
        historique.add(position, &old, -1);
        historique.add(position, &new, 1);
        ids.push(id);
    }
    sqlx::query!(
        r#"UPDATE rm_dossiers d SET departement = o.departement, region = o.region, academie = o.academie
           FROM rm_organismes o
           WHERE d.dossier_id = ANY($1) AND o.uai = d.uai_formateur AND o.siret = d.siret_formateur"#,
        &ids,
    )
    .execute(tx)
    .await?;
    Ok(())
}

/// Upsert the batch's organismes; returns those that were known elsewhere, with their new territory.
async fn write_organismes(
    tx: &mut PgConnection,
    organismes: &[(Organisme, i64)],
) -> Result<Territoires, ProjectionError> {
    if organismes.is_empty() {
        return Ok(Territoires::new());
    }
    // The last event of an organisme in the batch wins.
    let mut latest: BTreeMap<(String, String), &(Organisme, i64)> = BTreeMap::new();
    for entry in organismes {
        latest.insert((entry.0.uai.to_string(), entry.0.siret.to_string()), entry);
    }
    let placements: Vec<Placement> = organismes
        .iter()
        .map(|(o, position)| Placement {
            uai: o.uai.to_string(),
            siret: o.siret.to_string(),
            position: *position,
            territoire: (o.departement.as_str().into(), o.region.as_str().into(), o.academie.as_str().into()),
        })
        .collect();
    versions::placer(tx, &placements).await?;
    let before = territoires(tx, Some(latest.keys().cloned().collect())).await?;
    let column = |f: fn(&(Organisme, i64)) -> String| latest.values().map(|e| f(e)).collect::<Vec<_>>();
    sqlx::query!(
        r#"INSERT INTO rm_organismes (uai, siret, nom, departement, region, academie, position)
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[])
           ON CONFLICT (uai, siret) DO UPDATE SET nom = excluded.nom, departement = excluded.departement,
               region = excluded.region, academie = excluded.academie, position = excluded.position"#,
        &column(|e| e.0.uai.to_string()),
        &column(|e| e.0.siret.to_string()),
        &column(|e| e.0.nom.clone()),
        &column(|e| e.0.departement.clone()),
        &column(|e| e.0.region.clone()),
        &column(|e| e.0.academie.clone()),
        &latest.values().map(|e| e.1).collect::<Vec<_>>(),
    )
    .execute(&mut *tx)
    .await?;
    Ok(latest
        .into_iter()
        .filter_map(|(key, (o, _))| {
            let now: (Arc<str>, Arc<str>, Arc<str>) =
                (o.departement.as_str().into(), o.region.as_str().into(), o.academie.as_str().into());
            before.get(&key).is_some_and(|then| *then != now).then_some((key, now))
        })
        .collect())
}

async fn write_dossiers(
    tx: &mut PgConnection,
    rows: &[Row],
    rules_version: i32,
) -> Result<(), ProjectionError> {
    if rows.is_empty() {
        return Ok(());
    }
    let text = |f: fn(&Row) -> &str| rows.iter().map(|r| f(r).to_owned()).collect::<Vec<String>>();
    let optional = |f: fn(&Row) -> Option<&String>| rows.iter().map(|r| f(r).cloned()).collect::<Vec<_>>();
    sqlx::query!(
        r#"INSERT INTO rm_dossiers (dossier_id, annee_scolaire, id_erp_apprenant, uai_formateur, siret_formateur,
                                   uai_responsable, siret_responsable, cfd, rncp, niveau, annee_formation,
                                   date_de_naissance, code_commune_insee, personne, rqth, retire, rules_version,
                                   parcours, position, departement, region, academie, formation)
           SELECT d, a, e, uf, sf, ur, sr, c, r, n, af, dn, ci, p, q, rt, $17, pc, po, de, re, ac, fo
           FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                       $8::text[], $9::text[], $10::smallint[], $11::smallint[], $12::date[], $13::text[],
                       $14::text[], $15::boolean[], $16::boolean[], $18::jsonb[], $19::bigint[],
                       $20::text[], $21::text[], $22::text[], $23::text[])
                AS t(d, a, e, uf, sf, ur, sr, c, r, n, af, dn, ci, p, q, rt, pc, po, de, re, ac, fo)
           ON CONFLICT (dossier_id) DO UPDATE SET
               annee_scolaire = excluded.annee_scolaire, id_erp_apprenant = excluded.id_erp_apprenant,
               uai_formateur = excluded.uai_formateur, siret_formateur = excluded.siret_formateur,
               uai_responsable = excluded.uai_responsable, siret_responsable = excluded.siret_responsable,
               cfd = excluded.cfd, rncp = excluded.rncp, niveau = excluded.niveau,
               annee_formation = excluded.annee_formation, date_de_naissance = excluded.date_de_naissance,
               code_commune_insee = excluded.code_commune_insee, personne = excluded.personne,
               rqth = excluded.rqth, retire = excluded.retire, rules_version = excluded.rules_version,
               parcours = excluded.parcours, position = excluded.position, departement = excluded.departement,
               region = excluded.region, academie = excluded.academie, formation = excluded.formation"#,
        &text(|r| &r.dossier_id),
        &text(|r| r.comptage.annee_scolaire.as_str()),
        &text(|r| &r.id_erp_apprenant),
        &text(|r| &r.comptage.dims.uai),
        &text(|r| &r.comptage.dims.siret),
        &text(|r| &r.uai_responsable),
        &text(|r| &r.siret_responsable),
        &optional(|r| r.cfd.as_ref()) as &[Option<String>],
        &optional(|r| r.rncp.as_ref()) as &[Option<String>],
        &rows.iter().map(|r| r.comptage.dims.niveau_connu()).collect::<Vec<_>>() as &[Option<i16>],
        &rows.iter().map(|r| r.comptage.dims.annee_formation_connue()).collect::<Vec<_>>() as &[Option<i16>],
        &rows.iter().map(|r| r.comptage.naissance).collect::<Vec<_>>(),
        &optional(|r| r.code_commune_insee.as_ref()) as &[Option<String>],
        &text(|r| &r.personne),
        &rows.iter().map(|r| r.rqth).collect::<Vec<_>>(),
        &rows.iter().map(|r| r.retire).collect::<Vec<_>>(),
        rules_version,
        &rows
            .iter()
            .map(|r| serde_json::to_value(&r.comptage.parcours).expect("change points serialise"))
            .collect::<Vec<_>>(),
        &rows.iter().map(|r| r.position).collect::<Vec<_>>(),
        &text(|r| &r.comptage.dims.departement),
        &text(|r| &r.comptage.dims.region),
        &text(|r| &r.comptage.dims.academie),
        &text(|r| &r.comptage.dims.formation),
    )
    .execute(tx)
    .await?;
    Ok(())
}

/// Load rows into an empty `rm_dossiers`, with COPY (a build from nothing).
async fn copy_dossiers(
    tx: &mut PgConnection,
    rows: &[Row],
    rules_version: u32,
) -> Result<(), ProjectionError> {
    let mut copy = CopyRows::default();
    for r in rows {
        let dims = &r.comptage.dims;
        let parcours = serde_json::to_string(&r.comptage.parcours).expect("change points serialise");
        copy.text(&r.dossier_id)
            .text(r.comptage.annee_scolaire.as_str())
            .text(&r.id_erp_apprenant)
            .text(&dims.uai)
            .text(&dims.siret)
            .text(&r.uai_responsable)
            .text(&r.siret_responsable)
            .optional_text(r.cfd.as_deref())
            .optional_text(r.rncp.as_deref())
            .optional(dims.niveau_connu())
            .optional(dims.annee_formation_connue())
            .plain(r.comptage.naissance)
            .optional_text(r.code_commune_insee.as_deref())
            .text(&r.personne)
            .plain(r.rqth)
            .plain(r.retire)
            .plain(rules_version)
            .text(&parcours)
            .plain(r.position)
            .text(&dims.departement)
            .text(&dims.region)
            .text(&dims.academie)
            .text(&dims.formation)
            .end_row();
    }
    let columns = [
        "dossier_id",
        "annee_scolaire",
        "id_erp_apprenant",
        "uai_formateur",
        "siret_formateur",
        "uai_responsable",
        "siret_responsable",
        "cfd",
        "rncp",
        "niveau",
        "annee_formation",
        "date_de_naissance",
        "code_commune_insee",
        "personne",
        "rqth",
        "retire",
        "rules_version",
        "parcours",
        "position",
        "departement",
        "region",
        "academie",
        "formation",
    ];
    copy.send(tx, "rm_dossiers", &columns).await?;
    Ok(())
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
