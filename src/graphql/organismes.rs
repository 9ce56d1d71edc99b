//! `organismes(recherche)` and `organisme(uai, siret)`: the organismes of the referential (public
//! information: UAI, SIRET, name, location), each with its indicators within the caller's perimeter
//! and the state of its transmissions. A page of organismes costs one query per field whatever its
//! size: the indicators and transmissions of the page are loaded together (`DataLoader`).

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::connection::{Connection, Edge};
use async_graphql::dataloader::{DataLoader, Loader};
use async_graphql::{ComplexObject, Context, Error, Object, SimpleObject};
use chrono::{NaiveDate, Utc};
use events::domain::{Siret, Uai};
use projections::indicateurs::{self, Dimension as Dim, Filtre, connu};
use sqlx::PgPool;

use super::error::{OrInternal, bad_input};
use super::indicateurs::IndicateursGroupe;
use super::loaders::Loaders;
use super::types::{Date, DateTime};
use crate::auth::viewer::{Perimetre, Viewer};

/// The largest page of organismes.
const MAX_PAGE: i32 = 100;
/// How far back `transmission` counts.
const TRANSMISSION_DAYS: i32 = 30;

/// An organisme de formation, as the referential describes it.
#[derive(Debug, Clone, SimpleObject, sqlx::FromRow)]
#[graphql(complex)]
pub struct Organisme {
    /// UAI (7 digits and a letter).
    pub uai: String,
    /// SIRET (14 digits).
    pub siret: String,
    /// Its name.
    pub nom: String,
    /// `responsable`, `formateur`, `responsable_formateur` or `inconnue`.
    pub nature: String,
    /// Département code.
    pub departement: String,
    /// Région code.
    pub region: String,
    /// Académie code.
    pub academie: String,
    /// Its commune (INSEE code).
    pub code_commune_insee: Option<String>,
    /// Its postal code.
    pub code_postal: Option<String>,
}

/// What an organisme transmitted lately.
#[derive(Debug, Clone, Default, SimpleObject)]
pub struct EtatTransmission {
    /// Its last transmission, whenever it was (null if it never transmitted).
    pub derniere: Option<DateTime>,
    /// Transmissions (pushes, file deposits) in the last 30 days.
    pub transmissions: i64,
    /// Dossiers received in the last 30 days.
    pub recus: i64,
    /// Of which accepted.
    pub acceptes: i64,
    /// Of which refused.
    pub rejetes: i64,
    /// Events the accepted dossiers added to the log.
    pub evenements: i64,
}

#[ComplexObject]
impl Organisme {
    /// Its dossiers' indicators (as organisme formateur) on `date` (today by default), within the
    /// caller's perimeter: null outside it, or when it has no dossier counted that day. With
    /// `connuAu`, as the log knew them at that instant.
    async fn indicateurs(
        &self,
        ctx: &Context<'_>,
        date: Option<Date>,
        connu_au: Option<DateTime>,
    ) -> Result<Option<IndicateursGroupe>, Error> {
        let date = date.map_or_else(|| Utc::now().date_naive(), |d| d.0);
        let loader = ctx.data::<DataLoader<Loaders>>()?;
        let counted = Counted(date, connu_au.map(|c| c.0), self.key());
        let groupe = loader.load_one(counted).await.map_err(|e| (*e).clone())?;
        Ok(groupe.map(Into::into))
    }

    /// The state of its transmissions.
    async fn transmission(&self, ctx: &Context<'_>) -> Result<EtatTransmission, Error> {
        let loader = ctx.data::<DataLoader<Loaders>>()?;
        let etat = loader.load_one(Transmitted(self.key())).await.map_err(|e| (*e).clone())?;
        Ok(etat.unwrap_or_default())
    }
}

impl Organisme {
    fn key(&self) -> String {
        format!("{}:{}", self.uai, self.siret)
    }
}

/// An organisme's indicators on a day (`UAI:SIRET`), as known now or at an instant.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Counted(NaiveDate, Option<chrono::DateTime<Utc>>, String);

/// An organisme's transmissions (`UAI:SIRET`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Transmitted(String);

impl Loader<Counted> for Loaders {
    type Value = indicateurs::Groupe;
    type Error = Arc<Error>;

    async fn load(&self, keys: &[Counted]) -> Result<HashMap<Counted, Self::Value>, Self::Error> {
        let perimetre = self
            .perimetre
            .get_or_try_init(|| self.viewer.perimetre(&self.pool))
            .await
            .map_err(|e| Arc::new(Error::from(e)))?;
        let mut by_date: HashMap<(NaiveDate, Option<chrono::DateTime<Utc>>), Vec<String>> = HashMap::new();
        for Counted(date, instant, organisme) in keys {
            // An organisme outside an organisme's perimeter is not asked for at all.
            if let Perimetre::Organismes(allowed) = perimetre
                && !allowed.contains(organisme)
            {
                continue;
            }
            by_date.entry((*date, *instant)).or_default().push(organisme.clone());
        }
        let mut found = HashMap::new();
        let mut conn = self.pool.acquire().await.or_internal().map_err(Arc::new)?;
        for ((date, instant), organismes) in by_date {
            let filtre = Filtre { organismes, ..Filtre::default() };
            let filtre = perimetre.restrict(filtre, false).map_err(|e| Arc::new(Error::from(e)))?;
            let groupes = match instant {
                None => indicateurs::indicateurs(&mut conn, date, Dim::Organisme, &filtre).await,
                Some(instant) => connu::indicateurs(&self.pool, instant, date, Dim::Organisme, &filtre)
                    .await
                    .map(|(_, g)| g),
            }
            .or_internal()
            .map_err(Arc::new)?;
            found.extend(groupes.into_iter().map(|g| (Counted(date, instant, g.cle.clone()), g)));
        }
        Ok(found)
    }
}

/// A row of the transmissions summary.
#[derive(sqlx::FromRow)]
struct TransmissionRow {
    organisme: String,
    derniere: Option<chrono::DateTime<Utc>>,
    transmissions: i64,
    recus: i64,
    acceptes: i64,
    rejetes: i64,
    evenements: i64,
}

impl Loader<Transmitted> for Loaders {
    type Value = EtatTransmission;
    type Error = Arc<Error>;

    async fn load(&self, keys: &[Transmitted]) -> Result<HashMap<Transmitted, Self::Value>, Self::Error> {
        let (uais, sirets): (Vec<&str>, Vec<&str>) =
            keys.iter().filter_map(|Transmitted(k)| k.split_once(':')).unzip();
        let rows: Vec<TransmissionRow> = sqlx::query_as(
            "SELECT t.organisme_uai || ':' || t.organisme_siret AS organisme, max(t.received_at) AS derniere,
                    count(*) FILTER (WHERE recent) AS transmissions,
                    coalesce(sum(t.received) FILTER (WHERE recent), 0) AS recus,
                    coalesce(sum(t.accepted) FILTER (WHERE recent), 0) AS acceptes,
                    coalesce(sum(t.rejected) FILTER (WHERE recent), 0) AS rejetes,
                    coalesce(sum(t.events) FILTER (WHERE recent), 0) AS evenements
             FROM transmissions t
             JOIN unnest($1::text[], $2::text[]) AS k(uai, siret)
               ON (t.organisme_uai, t.organisme_siret) = (k.uai, k.siret),
             LATERAL (SELECT t.received_at > now() - make_interval(days => $3)) AS r(recent)
             GROUP BY 1",
        )
        .bind(uais)
        .bind(sirets)
        .bind(TRANSMISSION_DAYS)
        .fetch_all(&self.pool)
        .await
        .or_internal()
        .map_err(Arc::new)?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let etat = EtatTransmission {
                    derniere: r.derniere.map(DateTime),
                    transmissions: r.transmissions,
                    recus: r.recus,
                    acceptes: r.acceptes,
                    rejetes: r.rejetes,
                    evenements: r.evenements,
                };
                (Transmitted(r.organisme), etat)
            })
            .collect())
    }
}

const COLUMNS: &str =
    "uai, siret, nom, nature, departement, region, academie, code_commune_insee, code_postal";

#[derive(Default)]
pub struct OrganismesQuery;

#[Object]
impl OrganismesQuery {
    /// The organismes whose UAI or SIRET starts with `recherche`, or whose name contains it (any
    /// case), in a département or région when given; by name, at most `first` (≤ 100) after cursor
    /// `after`. Any key may search the referential.
    async fn organismes(
        &self,
        ctx: &Context<'_>,
        recherche: Option<String>,
        departement: Option<String>,
        region: Option<String>,
        #[graphql(default = 20)] first: i32,
        after: Option<String>,
    ) -> Result<Connection<String, Organisme>, Error> {
        ctx.data::<Viewer>()?.principal()?;
        if !(1..=MAX_PAGE).contains(&first) {
            return Err(bad_input("first", format!("entre 1 et {MAX_PAGE}")));
        }
        let offset: i64 = match after {
            Some(cursor) => {
                cursor.parse().map_err(|_| bad_input("after", "un curseur reçu d'une page précédente"))?
            }
            None => 0,
        };
        let recherche = recherche.map(|r| r.trim().to_owned()).filter(|r| !r.is_empty());
        let pattern = recherche.as_ref().map(|r| format!("%{}%", r.replace(['%', '_', '\\'], "")));
        let sql = format!(
            "SELECT {COLUMNS} FROM organismes
             WHERE ($1::text IS NULL OR uai LIKE upper($1) || '%' OR siret LIKE replace($1, ' ', '') || '%'
                    OR nom ILIKE $2)
               AND ($3::text IS NULL OR departement = $3) AND ($4::text IS NULL OR region = $4)
             ORDER BY nom, uai, siret OFFSET $5 LIMIT $6"
        );
        let mut page: Vec<Organisme> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(&recherche)
            .bind(&pattern)
            .bind(&departement)
            .bind(&region)
            .bind(offset)
            .bind(i64::from(first) + 1)
            .fetch_all(ctx.data::<PgPool>()?)
            .await
            .or_internal()?;
        let has_next = page.len() > first as usize;
        page.truncate(first as usize);
        let mut connection = Connection::new(offset > 0, has_next);
        connection.edges.extend(
            page.into_iter().enumerate().map(|(i, o)| Edge::new((offset + i as i64 + 1).to_string(), o)),
        );
        Ok(connection)
    }

    /// One organisme of the referential, by UAI and SIRET; null if unknown.
    async fn organisme(
        &self,
        ctx: &Context<'_>,
        uai: String,
        siret: String,
    ) -> Result<Option<Organisme>, Error> {
        ctx.data::<Viewer>()?.principal()?;
        let uai = Uai::parse(&uai).map_err(|e| bad_input("uai", e))?;
        let siret = Siret::parse(&siret).map_err(|e| bad_input("siret", e))?;
        let sql = format!("SELECT {COLUMNS} FROM organismes WHERE uai = $1 AND siret = $2");
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(uai.as_str())
            .bind(siret.as_str())
            .fetch_optional(ctx.data::<PgPool>()?)
            .await
            .or_internal()
    }
}
