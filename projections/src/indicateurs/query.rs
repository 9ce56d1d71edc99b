//! Answering "how many apprentis, inscrits, rupturants, abandons and apprenants at date D, grouped by X,
//! among dossiers matching F" (domain.md §6).
//!
//! The first cube holding every dimension the query names answers it by reading one row per cell plus
//! at most a month (or ten days) of daily changes, and the changes still pending. A query no cube holds (organisme or formation together with an age
//! band or année de formation, or organisme with formation) is answered from `rm_dossiers`, narrowed
//! first by the organisme or formation it names (indexed); both paths count with the same segments, and
//! a test holds them equal.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;
use events::domain::AnneeScolaire;
use events::domain::territoire::{academie_nom, departement_nom, region_nom};
use sqlx::PgConnection;
use sqlx::types::Json;

use super::cubes::{Axe, CUBES, Cube};
use super::segments::{self, Tranche, candidates};
use crate::status::{ChangePoint, Statut};

/// What indicators are grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dimension {
    National,
    Region,
    Departement,
    Academie,
    Organisme,
    Formation,
    Niveau,
    /// Where the figures come from (`Source`).
    Source,
}

/// Where a dossier's figures come from (domain.md §13).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Source {
    /// An ERP, through the API (`api-v3`) or typed events.
    Erp,
    /// A file of dossiers (`tba import`, `POST /api/v1/imports`).
    Fichier,
    /// The national contracts base, for an organisme that never transmitted.
    Deca,
}

impl Source {
    pub const ALL: [Source; 3] = [Source::Erp, Source::Fichier, Source::Deca];

    /// As the read models store it: `ERP`, `FICHIER`, `DECA`.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Erp => "ERP",
            Source::Fichier => "FICHIER",
            Source::Deca => "DECA",
        }
    }

    pub fn parse(stored: &str) -> Option<Source> {
        Source::ALL.into_iter().find(|s| s.as_str() == stored)
    }

    /// The source a dossier event's channel (`Metadata::channel`) transmits, if it is a transmission
    /// (a correction or a withdrawal through GraphQL or the CLI is not).
    pub fn of_channel(channel: &str) -> Option<Source> {
        match channel {
            "api-v3" | "events" => Some(Source::Erp),
            "import" => Some(Source::Fichier),
            _ => None,
        }
    }

    fn libelle(self) -> &'static str {
        match self {
            Source::Erp => "ERP",
            Source::Fichier => "Fichier",
            Source::Deca => "DECA",
        }
    }
}

impl Dimension {
    pub const ALL: [Dimension; 8] = [
        Dimension::National,
        Dimension::Region,
        Dimension::Departement,
        Dimension::Academie,
        Dimension::Organisme,
        Dimension::Formation,
        Dimension::Niveau,
        Dimension::Source,
    ];

    /// The name in lower case: `national`, `region`, `departement`…
    pub fn as_str(self) -> &'static str {
        match self {
            Dimension::National => "national",
            Dimension::Region => "region",
            Dimension::Departement => "departement",
            Dimension::Academie => "academie",
            Dimension::Organisme => "organisme",
            Dimension::Formation => "formation",
            Dimension::Niveau => "niveau",
            Dimension::Source => "source",
        }
    }

    fn axe(self) -> Option<Axe> {
        match self {
            Dimension::National => None,
            Dimension::Region | Dimension::Departement | Dimension::Academie => Some(Axe::Territoire),
            Dimension::Organisme => Some(Axe::Organisme),
            Dimension::Formation => Some(Axe::Formation),
            Dimension::Niveau => Some(Axe::Niveau),
            Dimension::Source => Some(Axe::Source),
        }
    }

    /// The SQL of a group's key, given those of the organisme key and of the niveau (NULL if unknown).
    fn key_sql(self, organisme: &str, niveau: &str) -> String {
        match self {
            Dimension::National => "''".into(),
            Dimension::Region => "region".into(),
            Dimension::Departement => "departement".into(),
            Dimension::Academie => "academie".into(),
            Dimension::Organisme => organisme.into(),
            Dimension::Formation => "formation".into(),
            Dimension::Niveau => format!("coalesce({niveau}::text, '')"),
            Dimension::Source => "source".into(),
        }
    }

    /// The stored columns its key is made of, each followed by `, ` (none for NATIONAL).
    fn columns_sql(self) -> &'static str {
        match self {
            Dimension::National => "",
            Dimension::Region => "region, ",
            Dimension::Departement => "departement, ",
            Dimension::Academie => "academie, ",
            Dimension::Organisme => "uai, siret, ",
            Dimension::Formation => "formation, ",
            Dimension::Niveau => "niveau, ",
            Dimension::Source => "source, ",
        }
    }
}

/// Which dossiers count: every non-empty list must match (an empty list does not filter).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Filtre {
    pub regions: Vec<String>,
    pub departements: Vec<String>,
    pub academies: Vec<String>,
    /// Organismes formateurs, as `UAI:SIRET`.
    pub organismes: Vec<String>,
    /// CFD, or RNCP code for a formation without CFD.
    pub formations: Vec<String>,
    pub niveaux: Vec<i16>,
    pub tranches: Vec<Tranche>,
    pub annees_formation: Vec<i16>,
    pub sources: Vec<Source>,
}

impl Filtre {
    fn axes(&self) -> Vec<Axe> {
        let mut axes = Vec::new();
        let mut need = |present: bool, axe: Axe| {
            if present {
                axes.push(axe);
            }
        };
        need(
            !(self.regions.is_empty() && self.departements.is_empty() && self.academies.is_empty()),
            Axe::Territoire,
        );
        need(!self.organismes.is_empty(), Axe::Organisme);
        need(!self.formations.is_empty(), Axe::Formation);
        need(!self.niveaux.is_empty(), Axe::Niveau);
        need(!self.tranches.is_empty(), Axe::Tranche);
        need(!self.annees_formation.is_empty(), Axe::AnneeFormation);
        need(!self.sources.is_empty(), Axe::Source);
        axes
    }
}

/// The counts of one group.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Groupe {
    /// The group's code: région, département or académie code, `UAI:SIRET`, formation code, niveau;
    /// "" for the national group and for an unknown value.
    pub cle: String,
    pub libelle: Option<String>,
    pub apprentis: i64,
    pub inscrits: i64,
    pub rupturants: i64,
    pub abandons: i64,
    pub apprenants: i64,
}

impl Groupe {
    fn count(&mut self, statut: Statut, n: i64) {
        match statut {
            Statut::Apprenti | Statut::FinDeFormation => self.apprentis += n,
            Statut::Inscrit => self.inscrits += n,
            Statut::Rupturant => self.rupturants += n,
            Statut::Abandon => self.abandons += n,
        }
        if statut != Statut::Abandon {
            self.apprenants += n;
        }
    }

    fn is_empty(&self) -> bool {
        self.apprenants == 0 && self.abandons == 0
    }
}

/// Which path answers a query: the name of the cube table, or `rm_dossiers`.
pub fn plan(dimension: Dimension, filtre: &Filtre) -> &'static str {
    cube_for(dimension, filtre).map_or("rm_dossiers", |cube| cube.table)
}

fn cube_for(dimension: Dimension, filtre: &Filtre) -> Option<&'static Cube> {
    let mut axes = filtre.axes();
    axes.extend(dimension.axe());
    CUBES.iter().find(|cube| axes.iter().all(|&axe| cube.holds(axe)))
}

/// The indicators at `date`, one group per value of `dimension` that has dossiers (the national group
/// always), in the order of their keys. Reads the unqualified read-model tables: the live ones, or a
/// replay's when its schema is first on the connection's search path.
pub async fn indicateurs(
    conn: &mut PgConnection,
    date: NaiveDate,
    dimension: Dimension,
    filtre: &Filtre,
) -> Result<Vec<Groupe>, sqlx::Error> {
    let counts = counts(conn, date, dimension, filtre).await?;
    groupes(conn, dimension, counts).await
}

/// The counts `indicateurs` groups: per group key and status, from the first cube holding the query,
/// else from the dossiers.
pub(super) async fn counts(
    conn: &mut PgConnection,
    date: NaiveDate,
    dimension: Dimension,
    filtre: &Filtre,
) -> Result<Vec<(String, Statut, i64)>, sqlx::Error> {
    match cube_for(dimension, filtre) {
        Some(cube) => from_cube(conn, cube, date, dimension, filtre).await,
        None => from_dossiers(conn, "rm_dossiers", date, dimension, filtre).await,
    }
}

/// The same answer as `indicateurs`, counting the candidate dossiers one by one: the path of the
/// queries no cube holds, and the reference the cubes are tested against.
pub async fn counting_dossiers(
    conn: &mut PgConnection,
    date: NaiveDate,
    dimension: Dimension,
    filtre: &Filtre,
) -> Result<Vec<Groupe>, sqlx::Error> {
    let counts = from_dossiers(conn, "rm_dossiers", date, dimension, filtre).await?;
    groupes(conn, dimension, counts).await
}

pub(super) async fn groupes(
    conn: &mut PgConnection,
    dimension: Dimension,
    counts: Vec<(String, Statut, i64)>,
) -> Result<Vec<Groupe>, sqlx::Error> {
    let mut groupes: BTreeMap<String, Groupe> = BTreeMap::new();
    for (cle, statut, n) in counts {
        groupes.entry(cle.clone()).or_insert_with(|| Groupe { cle, ..Groupe::default() }).count(statut, n);
    }
    groupes.retain(|_, g| !g.is_empty());
    if dimension == Dimension::National && groupes.is_empty() {
        groupes.insert(String::new(), Groupe::default());
    }
    let mut groupes: Vec<Groupe> = groupes.into_values().collect();
    libelles(conn, dimension, &mut groupes).await?;
    Ok(groupes)
}

/// A parameterised SQL condition list, its parameters numbered from `first` in push order.
struct Conditions {
    first: usize,
    sql: Vec<String>,
    binds: Vec<Bind>,
}

enum Bind {
    Texts(Vec<String>),
    Numbers(Vec<i16>),
}

impl Conditions {
    /// `columns` names the SQL for (région, département, académie, organisme key, formation, niveau,
    /// année de formation, tranche, source): `None` where the table has no such column.
    fn of(filtre: &Filtre, columns: [Option<&str>; 9], first: usize) -> Conditions {
        let mut conditions = Conditions { first, sql: Vec::new(), binds: Vec::new() };
        let texts = [
            &filtre.regions,
            &filtre.departements,
            &filtre.academies,
            &filtre.organismes,
            &filtre.formations,
        ];
        for (column, values) in columns.iter().zip(texts) {
            if let (Some(column), false) = (column, values.is_empty()) {
                conditions.push(column, Bind::Texts(values.clone()));
            }
        }
        let tranches: Vec<i16> = filtre.tranches.iter().map(|t| t.code()).collect();
        let numbers = [&filtre.niveaux, &filtre.annees_formation, &tranches];
        for (column, values) in columns[5..].iter().zip(numbers) {
            if let (Some(column), false) = (column, values.is_empty()) {
                conditions.push(column, Bind::Numbers(values.clone()));
            }
        }
        if let (Some(column), false) = (columns[8], filtre.sources.is_empty()) {
            let sources = filtre.sources.iter().map(|s| s.as_str().to_owned()).collect();
            conditions.push(column, Bind::Texts(sources));
        }
        conditions
    }

    fn push(&mut self, column: &str, values: Bind) {
        self.sql.push(format!("{column} = ANY(${})", self.first + self.binds.len()));
        self.binds.push(values);
    }

    fn and(&self) -> String {
        self.sql.iter().map(|c| format!(" AND {c}")).collect()
    }

    fn bind<'q, O>(
        self,
        mut query: sqlx::query::QueryAs<'q, sqlx::Postgres, O, sqlx::postgres::PgArguments>,
    ) -> sqlx::query::QueryAs<'q, sqlx::Postgres, O, sqlx::postgres::PgArguments> {
        for values in self.binds {
            query = match values {
                Bind::Texts(values) => query.bind(values),
                Bind::Numbers(values) => query.bind(values),
            };
        }
        query
    }
}

async fn from_cube(
    conn: &mut PgConnection,
    cube: &Cube,
    date: NaiveDate,
    dimension: Dimension,
    filtre: &Filtre,
) -> Result<Vec<(String, Statut, i64)>, sqlx::Error> {
    let cle = dimension.key_sql("uai || ':' || siret", "nullif(niveau, 0)");
    // Rows are grouped by the cube's columns as stored, and a group's key made once per group.
    let colonnes = dimension.columns_sql();
    let held = |axe: Axe, column: &'static str| cube.holds(axe).then_some(column);
    let conditions = Conditions::of(
        filtre,
        [
            held(Axe::Territoire, "region"),
            held(Axe::Territoire, "departement"),
            held(Axe::Territoire, "academie"),
            held(Axe::Organisme, "uai || ':' || siret"),
            held(Axe::Formation, "formation"),
            held(Axe::Niveau, "niveau"),
            held(Axe::AnneeFormation, "annee_formation"),
            held(Axe::Tranche, "tranche"),
            held(Axe::Source, "source"),
        ],
        4,
    );
    // The sums stored on the last day of sums at or before `date` (its month's first day, or its
    // week's), plus the changes from that day to `date`, plus the pending changes up to `date` (not in
    // any sum yet).
    let sql = format!(
        "SELECT {cle} AS cle, statut, sum(n)::bigint FROM (
             SELECT {colonnes}statut, n FROM {table}
             WHERE annee_scolaire = ANY($1) AND jour BETWEEN $2 AND $3 AND (NOT cumul OR jour = $2){conditions}
             UNION ALL
             SELECT {colonnes}statut, n FROM {pending}
             WHERE annee_scolaire = ANY($1) AND jour <= $3{conditions}
         ) AS rows GROUP BY {colonnes}statut",
        table = cube.table,
        pending = cube.pending,
        conditions = conditions.and(),
    );
    let debut = cube.ancrage.ancre(date);
    let annees: Vec<String> = candidates(date).iter().map(ToString::to_string).collect();
    let query = sqlx::query_as::<_, (String, String, i64)>(sqlx::AssertSqlSafe(sql))
        .bind(annees)
        .bind(debut)
        .bind(date);
    let rows = conditions.bind(query).fetch_all(conn).await?;
    rows.into_iter()
        .map(|(cle, statut, n)| {
            let statut = Statut::parse(&statut).ok_or_else(|| {
                sqlx::Error::Decode(format!("unknown statut in {}: {statut}", cube.table).into())
            })?;
            Ok((cle, statut, n))
        })
        .collect()
}

#[derive(sqlx::FromRow)]
struct DossierRow {
    annee_scolaire: String,
    date_de_naissance: NaiveDate,
    parcours: Json<Vec<ChangePoint>>,
    cle: String,
}

/// Count the dossiers of `source` (`rm_dossiers`, or a subquery in its shape) one by one.
pub(super) async fn from_dossiers(
    conn: &mut PgConnection,
    source: &str,
    date: NaiveDate,
    dimension: Dimension,
    filtre: &Filtre,
) -> Result<Vec<(String, Statut, i64)>, sqlx::Error> {
    let cle = dimension.key_sql("uai_formateur || ':' || siret_formateur", "niveau");
    let mut conditions = Conditions::of(
        filtre,
        [
            Some("region"),
            Some("departement"),
            Some("academie"),
            Some("uai_formateur || ':' || siret_formateur"),
            Some("formation"),
            Some("coalesce(niveau, 0)"),
            // Not sent (NULL) is -1, as in the cubes: a filter on 0 keeps the dossiers that sent 0.
            Some("coalesce(annee_formation, -1)"),
            None,
            Some("source"),
        ],
        2,
    );
    if !filtre.organismes.is_empty() {
        // The same condition again, on the indexed column alone.
        let uais =
            filtre.organismes.iter().map(|o| o.split(':').next().unwrap_or_default().to_owned()).collect();
        conditions.push("uai_formateur", Bind::Texts(uais));
    }
    let sql = format!(
        "SELECT annee_scolaire, date_de_naissance, parcours, {cle} AS cle FROM {source}
         WHERE annee_scolaire = ANY($1) AND parcours <> '[]'{conditions}",
        conditions = conditions.and(),
    );
    let annees: Vec<String> = candidates(date).iter().map(ToString::to_string).collect();
    let query = sqlx::query_as::<_, DossierRow>(sqlx::AssertSqlSafe(sql)).bind(annees);
    let rows = conditions.bind(query).fetch_all(conn).await?;
    let mut counts: HashMap<(String, Statut), i64> = HashMap::new();
    for row in rows {
        let annee = AnneeScolaire::parse(&row.annee_scolaire)
            .map_err(|e| sqlx::Error::Decode(format!("rm_dossiers.annee_scolaire: {e}").into()))?;
        let segments = segments::segments(&annee, row.date_de_naissance, &row.parcours.0);
        let Some(segment) = segments::at(&segments, date) else { continue };
        if filtre.tranches.is_empty() || filtre.tranches.contains(&segment.tranche) {
            *counts.entry((row.cle, segment.statut)).or_default() += 1;
        }
    }
    Ok(counts.into_iter().map(|((cle, statut), n)| (cle, statut, n)).collect())
}

/// Names for the groups' keys: territories from the reference tables, organismes from the read model,
/// formations by the name most of their dossiers carry (`libelle_court_formation`; ties: the first in
/// alphabetical order).
async fn libelles(
    conn: &mut PgConnection,
    dimension: Dimension,
    groupes: &mut [Groupe],
) -> Result<(), sqlx::Error> {
    let from_table = match dimension {
        Dimension::Region => region_nom,
        Dimension::Academie => academie_nom,
        Dimension::Departement => departement_nom,
        Dimension::Niveau => {
            groupes
                .iter_mut()
                .for_each(|g| g.libelle = (!g.cle.is_empty()).then(|| format!("Niveau {}", g.cle)));
            return Ok(());
        }
        Dimension::Organisme | Dimension::Formation => {
            let sql = if dimension == Dimension::Organisme {
                "SELECT k.cle, o.nom FROM rm_organismes o JOIN unnest($1::text[]) AS k(cle)
                 ON k.cle = o.uai || ':' || o.siret"
            } else {
                "SELECT DISTINCT ON (formation) formation, libelle FROM rm_formations_libelles
                 WHERE formation = ANY($1) ORDER BY formation, n DESC, libelle"
            };
            let keys: Vec<&str> = groupes.iter().map(|g| g.cle.as_str()).collect();
            let names: HashMap<String, String> = sqlx::query_as::<_, (String, String)>(sql)
                .bind(keys)
                .fetch_all(conn)
                .await?
                .into_iter()
                .collect();
            groupes.iter_mut().for_each(|g| g.libelle = names.get(&g.cle).cloned());
            return Ok(());
        }
        Dimension::Source => {
            groupes
                .iter_mut()
                .for_each(|g| g.libelle = Source::parse(&g.cle).map(|s| s.libelle().to_owned()));
            return Ok(());
        }
        Dimension::National => return Ok(()),
    };
    groupes.iter_mut().for_each(|g| g.libelle = from_table(&g.cle).map(str::to_owned));
    Ok(())
}
