//! The indicator cubes: per année scolaire, status and a few dimensions, the number of dossiers counted
//! on each day, stored as prefix sums (monthly or weekly, `Ancrage`) plus daily changes (see migration
//! `…08_indicateurs`).
//!
//! A change to a dossier takes its old contribution back and adds its new one (`Deltas::add` with
//! −1 then +1). A projection batch writes only the net change per cell and day, into the cube's
//! `_pending` table (`Deltas::write`: plain inserts, so that the batch stays fast); `settle` folds the
//! pending changes into the cube beside the batches, with the sums they move. Each cube answers
//! the queries whose dimensions it holds (its rows plus its pending changes); a query none holds is
//! answered from the dossiers themselves (`query`).

use std::collections::HashMap;
use std::sync::Arc;

use chrono::NaiveDate;
use events::domain::AnneeScolaire;
use futures_util::TryStreamExt as _;
use rustc_hash::FxHashMap;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row as _};

pub use super::ancrage::Ancrage;
use super::segments::{fenetre, segments};
use crate::copy::CopyRows;
use crate::status::{ChangePoint, Statut};

/// A dimension a cube can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Axe {
    /// Département, with its région and académie (they follow from it).
    Territoire,
    /// Organisme formateur (UAI and SIRET).
    Organisme,
    /// Formation (CFD, else RNCP).
    Formation,
    Niveau,
    AnneeFormation,
    Tranche,
    /// Where the dossier's figures come from: `ERP`, `FICHIER` or `DECA`.
    Source,
}

impl Axe {
    /// The cube table's columns for this dimension, with their SQL types.
    pub(super) fn columns(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Axe::Territoire => &[("departement", "text"), ("region", "text"), ("academie", "text")],
            Axe::Organisme => &[("uai", "text"), ("siret", "text")],
            Axe::Formation => &[("formation", "text")],
            Axe::Niveau => &[("niveau", "smallint")],
            Axe::AnneeFormation => &[("annee_formation", "smallint")],
            Axe::Tranche => &[("tranche", "smallint")],
            Axe::Source => &[("source", "text")],
        }
    }
}

pub struct Cube {
    pub table: &'static str,
    /// The changes written by projection batches and not yet folded into `table`.
    pub pending: &'static str,
    pub axes: &'static [Axe],
    /// The days the cube stores its cells' sums on.
    pub ancrage: Ancrage,
}

/// Smallest first: a query is answered by the first cube holding all its dimensions.
pub const CUBES: [Cube; 5] = [
    Cube {
        table: "rm_indicateurs_departement",
        pending: "rm_indicateurs_departement_pending",
        axes: &[Axe::Territoire],
        ancrage: Ancrage::Mois,
    },
    Cube {
        table: "rm_indicateurs_source",
        pending: "rm_indicateurs_source_pending",
        axes: &[Axe::Territoire, Axe::Source],
        ancrage: Ancrage::Mois,
    },
    Cube {
        table: "rm_indicateurs_territoire",
        pending: "rm_indicateurs_territoire_pending",
        axes: &[Axe::Territoire, Axe::Niveau, Axe::AnneeFormation, Axe::Tranche],
        ancrage: Ancrage::Mois,
    },
    Cube {
        table: "rm_indicateurs_organisme",
        pending: "rm_indicateurs_organisme_pending",
        axes: &[Axe::Territoire, Axe::Organisme, Axe::Niveau],
        ancrage: Ancrage::Semaine,
    },
    Cube {
        table: "rm_indicateurs_formation",
        pending: "rm_indicateurs_formation_pending",
        axes: &[Axe::Territoire, Axe::Formation, Axe::Niveau],
        ancrage: Ancrage::Semaine,
    },
];

impl Cube {
    pub fn holds(&self, axe: Axe) -> bool {
        self.axes.contains(&axe)
    }

    /// The dimension columns, in table order.
    pub(super) fn columns(&self) -> impl Iterator<Item = (&'static str, &'static str)> + '_ {
        self.axes.iter().flat_map(|axe| axe.columns().iter().copied())
    }

    /// `dims` with the dimensions this cube does not hold emptied.
    fn project(&self, dims: &Dimensions) -> Dimensions {
        let (territoire, organisme) = (self.holds(Axe::Territoire), self.holds(Axe::Organisme));
        let keep = |held: bool, value: &Arc<str>| if held { value.clone() } else { Arc::default() };
        Dimensions {
            departement: keep(territoire, &dims.departement),
            region: keep(territoire, &dims.region),
            academie: keep(territoire, &dims.academie),
            uai: keep(organisme, &dims.uai),
            siret: keep(organisme, &dims.siret),
            formation: keep(self.holds(Axe::Formation), &dims.formation),
            niveau: if self.holds(Axe::Niveau) { dims.niveau } else { 0 },
            annee_formation: if self.holds(Axe::AnneeFormation) { dims.annee_formation } else { 0 },
            source: keep(self.holds(Axe::Source), &dims.source),
        }
    }
}

/// The dimensions a dossier is counted under ('' when unknown; `niveau` 0 and `annee_formation`
/// `ANNEE_FORMATION_INCONNUE` when unknown: 0 is a year of a cursus).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Dimensions {
    pub departement: Arc<str>,
    pub region: Arc<str>,
    pub academie: Arc<str>,
    pub uai: Arc<str>,
    pub siret: Arc<str>,
    pub formation: Arc<str>,
    pub niveau: i16,
    pub annee_formation: i16,
    /// `ERP`, `FICHIER` or `DECA` (see `Source`).
    pub source: Arc<str>,
}

/// The `annee_formation` of a dossier whose ERP did not send it.
pub const ANNEE_FORMATION_INCONNUE: i16 = -1;

impl Dimensions {
    /// The niveau, if known (as the read models store it).
    pub fn niveau_connu(&self) -> Option<i16> {
        (self.niveau != 0).then_some(self.niveau)
    }

    /// The année de formation, if sent (as the read models store it: 0 is kept).
    pub fn annee_formation_connue(&self) -> Option<i16> {
        (self.annee_formation != ANNEE_FORMATION_INCONNUE).then_some(self.annee_formation)
    }

    /// `annee_formation` from what the read models store.
    pub fn annee_formation_de(stored: Option<i16>) -> i16 {
        stored.unwrap_or(ANNEE_FORMATION_INCONNUE)
    }
}

/// Everything a dossier's counts depend on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comptage {
    pub annee_scolaire: AnneeScolaire,
    pub naissance: NaiveDate,
    pub parcours: Vec<ChangePoint>,
    pub dims: Dimensions,
}

/// A cube's cell, interned: the cube's dimensions (`Deltas::dims`), the année scolaire
/// (`Deltas::annees`), the status and the tranche (0 when the cube holds none), packed in a `u64` that
/// sorts by cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Cellule(u64);

impl Cellule {
    fn new(dims: u32, annee: u16, statut: Statut, tranche: i16) -> Cellule {
        let tranche = u8::try_from(tranche).expect("tranches are 0 to 3");
        Cellule(u64::from(dims) << 32 | u64::from(annee) << 16 | (statut as u64) << 8 | u64::from(tranche))
    }

    fn dims(self) -> usize {
        (self.0 >> 32) as usize
    }

    fn annee(self) -> usize {
        (self.0 >> 16 & 0xffff) as usize
    }

    fn statut(self) -> Statut {
        Statut::ALL[(self.0 >> 8 & 0xff) as usize]
    }

    fn tranche(self) -> i16 {
        (self.0 & 0xff) as i16
    }
}

/// An année scolaire as the cubes store it, with the last day of its window.
struct Annee {
    name: Arc<str>,
    last: NaiveDate,
}

/// Net changes per cube, cell and day, accumulated over a batch (or a whole build).
#[derive(Default)]
pub struct Deltas {
    /// The dimensions of each cube's cells, interned: index = the cell's `dims`.
    dims: Vec<(usize, Dimensions)>,
    dims_index: HashMap<(usize, Dimensions), u32>,
    annees: Vec<Annee>,
    annees_index: HashMap<AnneeScolaire, u16>,
    changes: FxHashMap<(Cellule, NaiveDate), i32>,
}

impl Comptage {
    /// The status the dossier is counted under on `date`, if it counts then (its année scolaire's
    /// window holds the day and it has a status).
    pub fn statut_compte(&self, date: NaiveDate) -> Option<Statut> {
        segments(&self.annee_scolaire, self.naissance, &self.parcours)
            .iter()
            .find(|s| s.covers(date))
            .map(|s| s.statut)
    }
}

impl Deltas {
    /// Add (`sign` = 1) or take back (`sign` = −1) what `comptage` contributes to every cube.
    pub fn add(&mut self, comptage: &Comptage, sign: i32) {
        let segments = segments(&comptage.annee_scolaire, comptage.naissance, &comptage.parcours);
        if segments.is_empty() {
            return;
        }
        let annee = self.annee(&comptage.annee_scolaire);
        let last = self.annees[usize::from(annee)].last;
        for (index, cube) in CUBES.iter().enumerate() {
            let dims = self.intern(index, cube.project(&comptage.dims));
            let with_tranche = cube.holds(Axe::Tranche);
            for segment in &segments {
                let tranche = if with_tranche { segment.tranche.code() } else { 0 };
                let cellule = Cellule::new(dims, annee, segment.statut, tranche);
                if segment.fin <= last {
                    *self.changes.entry((cellule, segment.fin)).or_default() -= sign;
                }
                *self.changes.entry((cellule, segment.debut)).or_default() += sign;
            }
        }
    }

    fn annee(&mut self, annee: &AnneeScolaire) -> u16 {
        if let Some(&index) = self.annees_index.get(annee) {
            return index;
        }
        let index = u16::try_from(self.annees.len()).expect("fewer than 65536 années scolaires");
        self.annees.push(Annee { name: annee.as_str().into(), last: fenetre(annee).1 });
        self.annees_index.insert(annee.clone(), index);
        index
    }

    fn intern(&mut self, cube: usize, dims: Dimensions) -> u32 {
        let next = u32::try_from(self.dims.len()).expect("fewer than 4 billion cells");
        match self.dims_index.entry((cube, dims)) {
            std::collections::hash_map::Entry::Occupied(entry) => *entry.get(),
            std::collections::hash_map::Entry::Vacant(entry) => {
                self.dims.push(entry.key().clone());
                entry.insert(next);
                next
            }
        }
    }

    /// The rows to add to each cube's table: daily changes, and for each day of sums (`Ancrage`) of the
    /// window after a cell's first change, the sum of the changes before that day.
    fn rows(&mut self) -> Vec<Vec<Row>> {
        let mut changes: Vec<(Cellule, NaiveDate, i32)> =
            self.changes.drain().filter(|&(_, n)| n != 0).map(|((c, d), n)| (c, d, n)).collect();
        changes.sort_unstable();
        let mut rows: Vec<Vec<Row>> = CUBES.iter().map(|_| Vec::new()).collect();
        for cell in changes.chunk_by(|a, b| a.0 == b.0) {
            let cellule = cell[0].0;
            let index = self.dims[cellule.dims()].0;
            let (cube, ancrage) = (&mut rows[index], CUBES[index].ancrage);
            let last = self.annees[cellule.annee()].last;
            let (mut sum, mut next) = (0, cell.iter());
            let mut change = next.next();
            let mut debut = ancrage.suivante(cell[0].1);
            while debut <= last || change.is_some() {
                match change {
                    Some(&(_, jour, n)) if jour < debut || debut > last => {
                        cube.push(Row { cellule, jour, cumul: false, n });
                        sum += n;
                        change = next.next();
                    }
                    _ => {
                        if sum != 0 {
                            cube.push(Row { cellule, jour: debut, cumul: true, n: sum });
                        }
                        debut = ancrage.suivante(debut);
                    }
                }
            }
        }
        rows
    }

    /// Write the accumulated net changes per cell and day into the cubes' pending tables (unqualified:
    /// the live ones, or those of the schema first on the search path), for `settle` to fold in.
    pub async fn write(mut self, tx: &mut PgConnection) -> Result<(), sqlx::Error> {
        let mut rows: Vec<Vec<Row>> = CUBES.iter().map(|_| Vec::new()).collect();
        for ((cellule, jour), n) in self.changes.drain().filter(|&(_, n)| n != 0) {
            rows[self.dims[cellule.dims()].0].push(Row { cellule, jour, cumul: false, n });
        }
        for (cube, rows) in CUBES.iter().zip(rows) {
            if !rows.is_empty() {
                write_rows(tx, cube, Target::Pending, &rows, &self).await?;
            }
        }
        Ok(())
    }

    /// Add the accumulated changes to the cubes themselves: daily changes and sums.
    pub(super) async fn merge(mut self, tx: &mut PgConnection) -> Result<(), sqlx::Error> {
        for (cube, rows) in CUBES.iter().zip(self.rows()) {
            if !rows.is_empty() {
                write_rows(tx, cube, Target::Cube, &rows, &self).await?;
            }
        }
        Ok(())
    }

    /// Add a pending change read back from `cube` (the `index`-th): its columns as `settle` selects
    /// them (année scolaire, jour, statut, the cube's dimensions, n).
    pub(super) fn pending(&mut self, index: usize, cube: &Cube, row: &PgRow) -> Result<(), sqlx::Error> {
        let decode = |what: String| sqlx::Error::Decode(format!("{}: {what}", cube.pending).into());
        let annee: &str = row.try_get(0)?;
        let annee = AnneeScolaire::parse(annee).map_err(|e| decode(e.to_string()))?;
        let jour: NaiveDate = row.try_get(1)?;
        let statut: &str = row.try_get(2)?;
        let statut = Statut::parse(statut).ok_or_else(|| decode(format!("unknown statut {statut}")))?;
        let mut column = 3;
        let mut next = || {
            column += 1;
            column - 1
        };
        let mut dims = Dimensions::default();
        let mut tranche = 0;
        for axe in cube.axes {
            match axe {
                Axe::Territoire => {
                    dims.departement = row.try_get::<&str, _>(next())?.into();
                    dims.region = row.try_get::<&str, _>(next())?.into();
                    dims.academie = row.try_get::<&str, _>(next())?.into();
                }
                Axe::Organisme => {
                    dims.uai = row.try_get::<&str, _>(next())?.into();
                    dims.siret = row.try_get::<&str, _>(next())?.into();
                }
                Axe::Formation => dims.formation = row.try_get::<&str, _>(next())?.into(),
                Axe::Niveau => dims.niveau = row.try_get(next())?,
                Axe::AnneeFormation => dims.annee_formation = row.try_get(next())?,
                Axe::Tranche => tranche = row.try_get(next())?,
                Axe::Source => dims.source = row.try_get::<&str, _>(next())?.into(),
            }
        }
        let n: i32 = row.try_get(next())?;
        let (annee, dims) = (self.annee(&annee), self.intern(index, dims));
        *self.changes.entry((Cellule::new(dims, annee, statut, tranche), jour)).or_default() += n;
        Ok(())
    }

    fn cell_dims(&self, cellule: Cellule) -> &Dimensions {
        &self.dims[cellule.dims()].1
    }

    fn cell_annee(&self, cellule: Cellule) -> &str {
        &self.annees[cellule.annee()].name
    }
}

impl Deltas {
    /// Load the accumulated counts into empty cubes, with COPY (a build from nothing), in the order
    /// queries read them: by day, a day's sums first, so that a question reads a few contiguous pages
    /// rather than one page per row.
    pub async fn copy(mut self, tx: &mut PgConnection) -> Result<(), sqlx::Error> {
        for (cube, mut rows) in CUBES.iter().zip(self.rows()) {
            rows.sort_unstable_by_key(|row| (row.jour, !row.cumul, row.cellule));
            let mut copy = CopyRows::default();
            for row in &rows {
                let (c, dims) = (row.cellule, self.cell_dims(row.cellule));
                copy.text(self.cell_annee(c)).plain(row.jour).plain(row.cumul).text(c.statut().as_str());
                for axe in cube.axes {
                    match axe {
                        Axe::Territoire => {
                            copy.text(&dims.departement).text(&dims.region).text(&dims.academie)
                        }
                        Axe::Organisme => copy.text(&dims.uai).text(&dims.siret),
                        Axe::Formation => copy.text(&dims.formation),
                        Axe::Niveau => copy.plain(dims.niveau),
                        Axe::AnneeFormation => copy.plain(dims.annee_formation),
                        Axe::Tranche => copy.plain(c.tranche()),
                        Axe::Source => copy.text(&dims.source),
                    };
                }
                copy.plain(row.n).end_row();
            }
            let mut columns = vec!["annee_scolaire", "jour", "cumul", "statut"];
            columns.extend(cube.columns().map(|(name, _)| name));
            columns.push("n");
            copy.send(tx, cube.table, &columns).await?;
        }
        Ok(())
    }
}

struct Row {
    cellule: Cellule,
    jour: NaiveDate,
    cumul: bool,
    n: i32,
}

/// Pending changes claimed and folded at once: a settle's memory is bounded whatever the backlog (a
/// catch-up leaves millions of them).
const SETTLE_CHUNK: usize = 50_000;
/// Rows one statement writes: the arrays bound to it, and the connection's buffers that hold them,
/// stay small however many rows a batch or a settle has.
const WRITE_CHUNK: usize = 10_000;

/// Fold every pending change into its cube (the tables first on the search path), in `tx`: each is
/// claimed by deleting it (a concurrent fold skips what this one took, and a query sees a change once:
/// pending before the commit, in the cube after), then the cubes get their daily changes and
/// sums, `SETTLE_CHUNK` changes at a time (folding is additive: chunk by chunk gives the same cube).
/// Returns the number of pending rows folded.
pub async fn settle(tx: &mut PgConnection) -> Result<usize, sqlx::Error> {
    let mut folded = 0;
    for (index, cube) in CUBES.iter().enumerate() {
        let names: Vec<&str> = cube.columns().map(|(name, _)| name).collect();
        let sql = format!(
            "DELETE FROM {pending} WHERE ctid = ANY(ARRAY(SELECT ctid FROM {pending} LIMIT {SETTLE_CHUNK}))
             RETURNING annee_scolaire, jour, statut, {}, n",
            names.join(", "),
            pending = cube.pending,
        );
        loop {
            let mut deltas = Deltas::default();
            let mut claimed = 0;
            let mut rows = sqlx::query(sqlx::AssertSqlSafe(sql.clone())).fetch(&mut *tx);
            while let Some(row) = rows.try_next().await? {
                deltas.pending(index, cube, &row)?;
                claimed += 1;
            }
            drop(rows);
            folded += claimed;
            deltas.merge(tx).await?;
            if claimed < SETTLE_CHUNK {
                break;
            }
        }
    }
    Ok(folded)
}

/// Where rows are written: appended to a cube's pending changes, or added into the cube.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Pending,
    Cube,
}

async fn write_rows(
    tx: &mut PgConnection,
    cube: &Cube,
    target: Target,
    rows: &[Row],
    deltas: &Deltas,
) -> Result<(), sqlx::Error> {
    for rows in rows.chunks(WRITE_CHUNK) {
        write_chunk(tx, cube, target, rows, deltas).await?;
    }
    Ok(())
}

async fn write_chunk(
    tx: &mut PgConnection,
    cube: &Cube,
    target: Target,
    rows: &[Row],
    deltas: &Deltas,
) -> Result<(), sqlx::Error> {
    let mut columns: Vec<(&str, &str)> = vec![("annee_scolaire", "text"), ("jour", "date")];
    if target == Target::Cube {
        columns.push(("cumul", "boolean"));
    }
    columns.push(("statut", "text"));
    columns.extend(cube.columns());
    let key: Vec<&str> = columns.iter().map(|(name, _)| *name).collect();
    let key = key.join(", ");
    columns.push(("n", "integer"));
    let arrays: Vec<String> =
        columns.iter().enumerate().map(|(i, (_, kind))| format!("${}::{kind}[]", i + 1)).collect();
    let table = if target == Target::Cube { cube.table } else { cube.pending };
    let mut sql = format!("INSERT INTO {table} ({key}, n) SELECT * FROM unnest({})", arrays.join(", "));
    if target == Target::Cube {
        sql.push_str(&format!(
            " ON CONFLICT ({key}) DO UPDATE SET n = {table}.n + excluded.n RETURNING ctid::text, n"
        ));
    }
    let text = |f: fn(&Dimensions) -> &Arc<str>| {
        rows.iter().map(|r| f(deltas.cell_dims(r.cellule)).as_ref()).collect::<Vec<&str>>()
    };
    let number =
        |f: fn(&Dimensions) -> i16| rows.iter().map(|r| f(deltas.cell_dims(r.cellule))).collect::<Vec<i16>>();
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(rows.iter().map(|r| deltas.cell_annee(r.cellule)).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.jour).collect::<Vec<_>>());
    if target == Target::Cube {
        query = query.bind(rows.iter().map(|r| r.cumul).collect::<Vec<_>>());
    }
    query = query.bind(rows.iter().map(|r| r.cellule.statut().as_str()).collect::<Vec<_>>());
    for axe in cube.axes {
        query = match axe {
            Axe::Territoire => {
                query.bind(text(|d| &d.departement)).bind(text(|d| &d.region)).bind(text(|d| &d.academie))
            }
            Axe::Organisme => query.bind(text(|d| &d.uai)).bind(text(|d| &d.siret)),
            Axe::Formation => query.bind(text(|d| &d.formation)),
            Axe::Niveau => query.bind(number(|d| d.niveau)),
            Axe::AnneeFormation => query.bind(number(|d| d.annee_formation)),
            Axe::Tranche => query.bind(rows.iter().map(|r| r.cellule.tranche()).collect::<Vec<i16>>()),
            Axe::Source => query.bind(text(|d| &d.source)),
        };
    }
    let query = query.bind(rows.iter().map(|r| r.n).collect::<Vec<_>>());
    if target == Target::Pending {
        query.execute(&mut *tx).await?;
        return Ok(());
    }
    let written: Vec<(String, i32)> = query
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(|row| (row.get::<String, _>(0), row.get::<i32, _>(1)))
        .collect();
    // A cell back to zero is no cell: a rebuild would not have it.
    let zeros: Vec<String> = written.into_iter().filter(|(_, n)| *n == 0).map(|(ctid, _)| ctid).collect();
    if !zeros.is_empty() {
        let sql = format!("DELETE FROM {} WHERE ctid = ANY($1::text[]::tid[])", cube.table);
        sqlx::query(sqlx::AssertSqlSafe(sql)).bind(zeros).execute(&mut *tx).await?;
    }
    Ok(())
}
