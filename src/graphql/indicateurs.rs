//! `indicateurs(date, groupBy, filtre)`: the counts "à date" of domain.md §6, answered by the read
//! model's cubes (`projections::indicateurs`), within the caller's perimeter (AND-ed into the filter).
//!
//! Answers come through the application's `IndicateursCache` (shared with the console): the same
//! question asked again, by anyone, while the read model has not moved costs one indexed read.

use std::sync::Arc;

use async_graphql::{Context, Error, InputObject, Object, SimpleObject};
use chrono::{NaiveDate, Utc};
use events::domain::territoire::{academie_nom, departement, departement_nom, region_nom};
use events::domain::{Cfd, Rncp};
use projections::dossiers::couverture::{self, Couverture};
use projections::indicateurs::{Dimension as Dim, Filtre, Groupe, connu};
use sqlx::PgPool;

use super::error::{OrInternal, bad_input};
use super::types::{Date, DateTime, Dimension, Source, TrancheAge};
use crate::app::indicateurs::IndicateursCache;
use crate::auth::keys::OrganismeRef;
use crate::auth::viewer::Viewer;

/// Which dossiers count. Each list given holds alternatives (any value matches); the lists given must
/// all match. The caller's perimeter is added to it.
#[derive(Debug, Default, InputObject)]
pub struct IndicateursFiltre {
    /// Régions of the organisme formateur (code, e.g. "84").
    pub regions: Option<Vec<String>>,
    /// Départements of the organisme formateur (code, e.g. "69", "2A", "974").
    pub departements: Option<Vec<String>>,
    /// Académies of the organisme formateur (code).
    pub academies: Option<Vec<String>>,
    /// Organismes formateurs, as "UAI:SIRET".
    pub organismes: Option<Vec<String>>,
    /// Formations: CFD, or RNCP code for a formation without CFD.
    pub formations: Option<Vec<String>>,
    /// European niveaux (3 to 7; 0 for unknown).
    pub niveaux: Option<Vec<i32>>,
    /// Age bands on the date counted.
    pub tranches_age: Option<Vec<TrancheAge>>,
    /// Années de formation (0 to 5, as the ERPs sent them; -1 for the dossiers whose ERP sent none).
    pub annees_formation: Option<Vec<i32>>,
    /// Where the figures come from: ERP, FICHIER, DECA.
    pub sources: Option<Vec<Source>>,
}

impl IndicateursFiltre {
    /// The domain filter, every value checked (a refusal names its field).
    pub fn parse(self) -> Result<Filtre, Error> {
        let check = |values: Option<Vec<String>>, field: &str, known: &dyn Fn(&str) -> Option<String>| {
            values
                .unwrap_or_default()
                .into_iter()
                .map(|value| known(&value).ok_or_else(|| bad_input(field, format!("{value:?} est inconnu"))))
                .collect::<Result<Vec<String>, Error>>()
        };
        let numbers = |values: Option<Vec<i32>>, field: &str, range: std::ops::RangeInclusive<i32>| {
            values
                .unwrap_or_default()
                .into_iter()
                .map(|n| {
                    if range.contains(&n) {
                        Ok(n as i16)
                    } else {
                        Err(bad_input(
                            field,
                            format!("{n} n'est pas entre {} et {}", range.start(), range.end()),
                        ))
                    }
                })
                .collect::<Result<Vec<i16>, Error>>()
        };
        let organismes = self
            .organismes
            .unwrap_or_default()
            .into_iter()
            .map(|o| {
                let parsed: OrganismeRef = o.parse().map_err(|e| bad_input("filtre.organismes", e))?;
                Ok(parsed.to_string())
            })
            .collect::<Result<Vec<String>, Error>>()?;
        let formation = |code: &str| {
            Cfd::parse(code).map(|c| c.to_string()).or_else(|_| Rncp::parse(code).map(|r| r.to_string())).ok()
        };
        Ok(Filtre {
            regions: check(self.regions, "filtre.regions", &|c| region_nom(c).map(|_| c.trim().to_owned()))?,
            departements: check(self.departements, "filtre.departements", &|c| {
                departement(c).map(|d| d.code.clone())
            })?,
            academies: check(self.academies, "filtre.academies", &|c| {
                academie_nom(c).map(|_| c.trim().to_owned())
            })?,
            organismes,
            formations: check(self.formations, "filtre.formations", &formation)?,
            niveaux: numbers(self.niveaux, "filtre.niveaux", 0..=8)?,
            tranches: self.tranches_age.unwrap_or_default().into_iter().map(Into::into).collect(),
            annees_formation: numbers(self.annees_formation, "filtre.anneesFormation", -1..=5)?,
            sources: self.sources.unwrap_or_default().into_iter().map(Into::into).collect(),
        })
    }
}

/// The counts of one group on the date asked.
#[derive(Debug, SimpleObject)]
pub struct IndicateursGroupe {
    /// The group's code: région, département or académie code, "UAI:SIRET", formation code, niveau;
    /// "" for the national group and for an unknown value.
    pub cle: String,
    /// The group's name, where one is known: a territory's from the reference tables, an organisme's
    /// from the referential, "Niveau N", a formation's as most of its dossiers name it
    /// (`libelle_court_formation`).
    pub libelle: Option<String>,
    /// Under contract (APPRENTI) or at the end of their formation (FIN_DE_FORMATION).
    pub apprentis: i64,
    /// Inscrits sans contrat.
    pub inscrits: i64,
    /// Whose contract was broken, without a new one yet.
    pub rupturants: i64,
    /// Gone from their formation.
    pub abandons: i64,
    /// Everyone but the abandons.
    pub apprenants: i64,
}

impl From<Groupe> for IndicateursGroupe {
    fn from(g: Groupe) -> Self {
        IndicateursGroupe {
            cle: g.cle,
            libelle: g.libelle,
            apprentis: g.apprentis,
            inscrits: g.inscrits,
            rupturants: g.rupturants,
            abandons: g.abandons,
            apprenants: g.apprenants,
        }
    }
}

/// The indicators as known at `instant`, with the log position they are as of.
pub async fn connus(
    pool: &PgPool,
    instant: chrono::DateTime<Utc>,
    date: NaiveDate,
    dimension: Dim,
    filtre: &Filtre,
) -> Result<(i64, Vec<Groupe>), Error> {
    connu::indicateurs(pool, instant, date, dimension, filtre).await.or_internal()
}

/// A département's organismes formateurs by where their figures come from (domain.md §13).
#[derive(Debug, SimpleObject)]
pub struct CouvertureDepartement {
    /// The département's code ("" for organismes the referential does not place).
    pub departement: String,
    /// Its name, from the reference tables.
    pub libelle: Option<String>,
    /// Its région's code.
    pub region: String,
    /// Organismes that transmitted their dossiers through an ERP or a file.
    pub transmettent: i64,
    /// Organismes that never transmitted, whose learners are counted from DECA's contracts.
    pub deca_seulement: i64,
    /// Organismes of the referential counted from neither.
    pub aucune: i64,
    /// The DECA dossiers counted (one per contract and année scolaire it spans).
    pub dossiers_deca: i64,
}

impl From<Couverture> for CouvertureDepartement {
    fn from(c: Couverture) -> Self {
        CouvertureDepartement {
            libelle: departement_nom(&c.departement).map(str::to_owned),
            departement: c.departement,
            region: c.region,
            transmettent: c.transmettent,
            deca_seulement: c.deca_seulement,
            aucune: c.aucune,
            dossiers_deca: c.dossiers_deca,
        }
    }
}

#[derive(Default)]
pub struct IndicateursQuery;

#[Object]
impl IndicateursQuery {
    /// The indicators on `date` (today by default, UTC), one group per value of `groupBy` that has
    /// dossiers (the national group always), in the order of their keys. Without a key, only the
    /// national figures, ungrouped and unfiltered, are public. With `connuAu`, as the log knew them at
    /// that instant (only the events recorded by then count): the figures published on a day D are
    /// `indicateurs(date: D, connuAu: the end of D)`, for any grouping and filter.
    async fn indicateurs(
        &self,
        ctx: &Context<'_>,
        date: Option<Date>,
        #[graphql(default_with = "Some(Dimension::National)")] group_by: Option<Dimension>,
        filtre: Option<IndicateursFiltre>,
        connu_au: Option<DateTime>,
    ) -> Result<Vec<IndicateursGroupe>, Error> {
        let pool = ctx.data::<PgPool>()?;
        let viewer = ctx.data::<Viewer>()?;
        let dimension = group_by.unwrap_or(Dimension::National);
        let filtre = filtre.unwrap_or_default().parse()?;
        let filtre = viewer.perimetre(pool).await?.restrict(filtre, dimension == Dimension::National)?;
        let date = date.map_or_else(|| Utc::now().date_naive(), |d| d.0);
        if let Some(instant) = connu_au {
            let (_, groupes) = connus(pool, instant.0, date, dimension.domain(), &filtre).await?;
            return Ok(groupes.into_iter().map(Into::into).collect());
        }
        let cache = ctx.data::<Arc<IndicateursCache>>()?;
        let groupes = cache.indicateurs(pool, date, dimension.domain(), &filtre).await.or_internal()?;
        Ok(groupes.iter().cloned().map(Into::into).collect())
    }

    /// The coverage of the sources, per département of the organismes formateurs: how many transmit
    /// (ERP or file), how many are counted from DECA only, how many from neither. The filter's
    /// territories and organismes apply (its other lists do not); the caller's perimeter is added to
    /// it. Needs a key.
    async fn couverture(
        &self,
        ctx: &Context<'_>,
        filtre: Option<IndicateursFiltre>,
    ) -> Result<Vec<CouvertureDepartement>, Error> {
        let pool = ctx.data::<PgPool>()?;
        let viewer = ctx.data::<Viewer>()?;
        let filtre = viewer.perimetre(pool).await?.restrict(filtre.unwrap_or_default().parse()?, false)?;
        let rows = couverture::couverture(pool, &filtre).await.or_internal()?;
        Ok(rows.into_iter().map(Into::into).collect())
    }
}
