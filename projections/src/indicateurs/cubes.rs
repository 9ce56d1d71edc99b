//! The indicator cubes: per année scolaire, status and a few dimensions, the number of dossiers counted
//! on each day, stored as monthly prefix sums plus daily changes (see migration `…08_indicateurs`).
//!
//! A change to a dossier takes its old contribution back and adds its new one (`Deltas::add` with
//! −1 then +1); what reaches the tables is only the net change per cell and day, and the month sums it
//! moves. Each cube answers the queries whose dimensions it holds; a query none holds is answered from
//! the dossiers themselves (`query`).

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{Datelike, Months, NaiveDate};
use events::domain::AnneeScolaire;
use sqlx::PgConnection;

use super::segments::{fenetre, segments};
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
        }
    }
}

pub struct Cube {
    pub table: &'static str,
    pub axes: &'static [Axe],
}

/// Smallest first: a query is answered by the first cube holding all its dimensions.
pub const CUBES: [Cube; 4] = [
    Cube { table: "rm_indicateurs_departement", axes: &[Axe::Territoire] },
    Cube {
        table: "rm_indicateurs_territoire",
        axes: &[Axe::Territoire, Axe::Niveau, Axe::AnneeFormation, Axe::Tranche],
    },
    Cube { table: "rm_indicateurs_organisme", axes: &[Axe::Territoire, Axe::Organisme, Axe::Niveau] },
    Cube { table: "rm_indicateurs_formation", axes: &[Axe::Territoire, Axe::Formation, Axe::Niveau] },
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
        }
    }
}

/// The dimensions a dossier is counted under ('' or 0 when unknown).
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
}

/// Everything a dossier's counts depend on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comptage {
    pub annee_scolaire: AnneeScolaire,
    pub naissance: NaiveDate,
    pub parcours: Vec<ChangePoint>,
    pub dims: Dimensions,
}

/// A cube's cell: what a row counts.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Cellule {
    annee_scolaire: Arc<str>,
    statut: Statut,
    dims: Dimensions,
    /// 0 when the cube holds no tranche.
    tranche: i16,
}

/// Net changes per cube, cell and day, accumulated over a batch.
#[derive(Default)]
pub struct Deltas {
    changes: HashMap<(usize, Cellule, NaiveDate), i32>,
    annees: HashMap<AnneeScolaire, Arc<str>>,
}

impl Deltas {
    /// Add (`sign` = 1) or take back (`sign` = −1) what `comptage` contributes to every cube.
    pub fn add(&mut self, comptage: &Comptage, sign: i32) {
        let segments = segments(&comptage.annee_scolaire, comptage.naissance, &comptage.parcours);
        if segments.is_empty() {
            return;
        }
        let last = fenetre(&comptage.annee_scolaire).1;
        let annee = self
            .annees
            .entry(comptage.annee_scolaire.clone())
            .or_insert_with(|| Arc::from(comptage.annee_scolaire.as_str()))
            .clone();
        for (index, cube) in CUBES.iter().enumerate() {
            let dims = cube.project(&comptage.dims);
            let with_tranche = cube.holds(Axe::Tranche);
            for segment in &segments {
                let cellule = Cellule {
                    annee_scolaire: annee.clone(),
                    statut: segment.statut,
                    dims: dims.clone(),
                    tranche: if with_tranche { segment.tranche.code() } else { 0 },
                };
                if segment.fin <= last {
                    *self.changes.entry((index, cellule.clone(), segment.fin)).or_default() -= sign;
                }
                *self.changes.entry((index, cellule, segment.debut)).or_default() += sign;
            }
        }
    }

    /// The rows to add to each cube's table: daily changes, and the month sums each change moves
    /// (those of every later month of the window).
    fn rows(self) -> Vec<Vec<Row>> {
        let mut ends: HashMap<Arc<str>, NaiveDate> = HashMap::new();
        let mut sums: HashMap<(usize, Cellule, NaiveDate, bool), i32> = HashMap::new();
        for ((cube, cellule, jour), n) in self.changes {
            if n == 0 {
                continue;
            }
            let end = *ends.entry(cellule.annee_scolaire.clone()).or_insert_with(|| {
                let annee =
                    AnneeScolaire::parse(&cellule.annee_scolaire).expect("stored from a parsed année");
                fenetre(&annee).1
            });
            let mut month = first_of_next_month(jour);
            while month <= end {
                *sums.entry((cube, cellule.clone(), month, true)).or_default() += n;
                month = first_of_next_month(month);
            }
            *sums.entry((cube, cellule, jour, false)).or_default() += n;
        }
        let mut rows: Vec<Vec<Row>> = CUBES.iter().map(|_| Vec::new()).collect();
        for ((cube, cellule, jour, cumul), n) in sums {
            if n != 0 {
                rows[cube].push(Row { cellule, jour, cumul, n });
            }
        }
        for cube in &mut rows {
            cube.sort_unstable_by(|a, b| (&a.cellule, a.jour, a.cumul).cmp(&(&b.cellule, b.jour, b.cumul)));
        }
        rows
    }

    /// Write the accumulated changes into the cubes (unqualified tables: the live ones, or those of the
    /// schema first on the search path).
    pub async fn write(self, tx: &mut PgConnection) -> Result<(), sqlx::Error> {
        for (cube, rows) in CUBES.iter().zip(self.rows()) {
            if !rows.is_empty() {
                write_cube(tx, cube, &rows).await?;
            }
        }
        Ok(())
    }
}

fn first_of_next_month(day: NaiveDate) -> NaiveDate {
    let first = day.with_day(1).expect("every month has a first day");
    first.checked_add_months(Months::new(1)).expect("far from the calendar's end")
}

struct Row {
    cellule: Cellule,
    jour: NaiveDate,
    cumul: bool,
    n: i32,
}

async fn write_cube(tx: &mut PgConnection, cube: &Cube, rows: &[Row]) -> Result<(), sqlx::Error> {
    let columns: Vec<(&str, &str)> = cube.columns().collect();
    let names: Vec<&str> = columns.iter().map(|(name, _)| *name).collect();
    let key = format!("annee_scolaire, jour, cumul, statut, {}", names.join(", "));
    let arrays: Vec<String> =
        columns.iter().enumerate().map(|(i, (_, kind))| format!("${}::{kind}[]", i + 5)).collect();
    let sql = format!(
        "INSERT INTO {table} ({key}, n)
         SELECT * FROM unnest($1::text[], $2::date[], $3::boolean[], $4::text[], {arrays}, ${n}::integer[])
         ON CONFLICT ({key}) DO UPDATE SET n = {table}.n + excluded.n",
        table = cube.table,
        arrays = arrays.join(", "),
        n = columns.len() + 5,
    );
    let text =
        |f: fn(&Cellule) -> &Arc<str>| rows.iter().map(|r| f(&r.cellule).as_ref()).collect::<Vec<&str>>();
    let number = |f: fn(&Cellule) -> i16| rows.iter().map(|r| f(&r.cellule)).collect::<Vec<i16>>();
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(text(|c| &c.annee_scolaire))
        .bind(rows.iter().map(|r| r.jour).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.cumul).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.cellule.statut.as_str()).collect::<Vec<_>>());
    for axe in cube.axes {
        query = match axe {
            Axe::Territoire => query
                .bind(text(|c| &c.dims.departement))
                .bind(text(|c| &c.dims.region))
                .bind(text(|c| &c.dims.academie)),
            Axe::Organisme => query.bind(text(|c| &c.dims.uai)).bind(text(|c| &c.dims.siret)),
            Axe::Formation => query.bind(text(|c| &c.dims.formation)),
            Axe::Niveau => query.bind(number(|c| c.dims.niveau)),
            Axe::AnneeFormation => query.bind(number(|c| c.dims.annee_formation)),
            Axe::Tranche => query.bind(number(|c| c.tranche)),
        };
    }
    query.bind(rows.iter().map(|r| r.n).collect::<Vec<_>>()).execute(&mut *tx).await?;
    // A cell back to zero is no cell: a rebuild would not have it.
    let sql = format!("DELETE FROM {} WHERE n = 0", cube.table);
    sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut *tx).await?;
    Ok(())
}
