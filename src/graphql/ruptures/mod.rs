//! The rupture queue of the Missions Locales (domain.md §7): the lists of a queue on a day (à traiter,
//! à recontacter, traités; prioritaires first, then the newest ruptures; by rupture month and
//! residence postal code), one entry with its full history, the counts, the statistics per Mission
//! Locale and day, and the Missions Locales themselves. A MISSION_LOCALE key reads its own queue, an
//! organisme the entries of its dossiers (and what the Mission Locale did about them); every read of
//! an entry is recorded in the access log.

use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, Error, ID, Object};
use chrono::{NaiveDate, Utc};
use projections::ruptures::query::{self, Curseur, Demande, Liste};
use sqlx::PgPool;

use crate::auth::access_log;
use crate::auth::viewer::{StatsScope, Viewer};
use crate::graphql::error::{OrInternal, bad_input, forbidden};
use crate::graphql::types::Date;

mod entree;
mod stats;
mod types;

pub use entree::{RuptureAction, RuptureEntree};
pub use stats::{RupturesCompte, SituationCompte, StatsMissionLocale, StatsRegion};
pub use types::{
    AncienneteRupture, Collaboration, ConnaissanceMl, ListeRupture, MissionLocale, MotifSuivi, ProblemeType,
    Situation,
};

/// The largest page of a list.
const MAX_PAGE: i32 = 100;
/// The longest daily series of statistics.
const MAX_JOURS: i64 = 92;

/// `YYYY-MM`, checked.
fn mois(field: &str, text: &str) -> Result<String, Error> {
    NaiveDate::parse_from_str(&format!("{text}-01"), "%Y-%m-%d")
        .map(|d| d.format("%Y-%m").to_string())
        .map_err(|_| bad_input(field, format!("{text:?} n'est pas un mois AAAA-MM")))
}

fn jour(date: Option<Date>) -> NaiveDate {
    date.map_or_else(|| Utc::now().date_naive(), |d| d.0)
}

/// Record a read of entries in the access log.
pub(super) async fn log_read(
    ctx: &Context<'_>,
    action: &str,
    subject: &str,
    entrees: &[&str],
) -> Result<(), Error> {
    let principal = ctx.data::<Viewer>()?.principal()?;
    let details = serde_json::json!({ "entrees": entrees });
    ctx.data::<access_log::Journal>()?.record(principal, action, subject, details).await.or_internal()
}

#[derive(Default)]
pub struct RupturesQuery;

#[Object]
impl RupturesQuery {
    /// A page of the visible rupture queue on `date` (today by default; a past day as it was at its
    /// end: with the situations recorded by then, as its counts and statistics): a Mission Locale's own (a
    /// MISSION_LOCALE key: what the CFAs share with it; ADMINISTRATEUR and AUDITOR name one or read
    /// all), or an organisme's ruptures list (its key: its dossiers' ruptures less than 180 days old, see
    /// `visibleCfa`). Prioritaires first, then the newest ruptures; `liste`, `codePostal` (of the
    /// residence), `mois` (`YYYY-MM` of the rupture) and `anciennete` (under 45 days, or 45 and more)
    /// narrow it; at most `first` (≤ 100) after cursor `after`. Every page is recorded in the access log.
    #[allow(clippy::too_many_arguments)]
    async fn ruptures(
        &self,
        ctx: &Context<'_>,
        mission_locale: Option<ID>,
        liste: Option<ListeRupture>,
        code_postal: Option<String>,
        mois: Option<String>,
        anciennete: Option<AncienneteRupture>,
        date: Option<Date>,
        #[graphql(default = 50)] first: i32,
        after: Option<String>,
    ) -> Result<Connection<String, RuptureEntree>, Error> {
        let qui = ctx.data::<Viewer>()?.ruptures(mission_locale.as_ref().map(|m| m.as_str()))?;
        if !(1..=MAX_PAGE).contains(&first) {
            return Err(bad_input("first", format!("entre 1 et {MAX_PAGE}")));
        }
        let apres = after
            .as_deref()
            .map(|a| Curseur::decode(a).ok_or_else(|| bad_input("after", "curseur inconnu")))
            .transpose()?;
        let code_postal = code_postal.map(|c| c.trim().to_owned()).filter(|c| !c.is_empty());
        if let Some(cp) = &code_postal
            && (cp.len() != 5 || !cp.bytes().all(|b| b.is_ascii_alphanumeric()))
        {
            return Err(bad_input("codePostal", format!("{cp:?} n'est pas un code postal à 5 caractères")));
        }
        let mois = mois.map(|m| self::mois("mois", &m)).transpose()?;
        let jour = jour(date);
        let demande = Demande {
            qui,
            jour,
            liste: liste.map(Into::into),
            code_postal,
            mois,
            anciennete: anciennete.map(Into::into),
            apres,
            premiers: i64::from(first) + 1,
        };
        let pool = ctx.data::<PgPool>()?;
        let mut lignes =
            query::liste(&mut *pool.acquire().await.or_internal()?, &demande).await.or_internal()?;
        let has_next = lignes.len() > first as usize;
        lignes.truncate(first as usize);
        // Every page is recorded, an empty one too: that a queue was looked at is itself a read.
        let ids: Vec<&str> = lignes.iter().map(|l| l.entree.as_str()).collect();
        let subject =
            format!("{:?} {} au {jour}", demande.qui, liste.map_or("toutes", |l| Liste::from(l).as_str()));
        log_read(ctx, "ruptures", &subject, &ids).await?;
        let mut connection = Connection::new(after.is_some(), has_next);
        connection.edges.extend(
            lignes
                .into_iter()
                .map(|ligne| Edge::new(ligne.curseur().encode(), RuptureEntree { ligne, jour })),
        );
        Ok(connection)
    }

    /// The counts of the same visible queue on `date`: the whole queue first (`mois` null), then each
    /// rupture month, newest first.
    async fn ruptures_comptes(
        &self,
        ctx: &Context<'_>,
        mission_locale: Option<ID>,
        code_postal: Option<String>,
        date: Option<Date>,
    ) -> Result<Vec<RupturesCompte>, Error> {
        let qui = ctx.data::<Viewer>()?.ruptures(mission_locale.as_ref().map(|m| m.as_str()))?;
        let pool = ctx.data::<PgPool>()?;
        let comptes = query::comptes(
            &mut *pool.acquire().await.or_internal()?,
            &qui,
            jour(date),
            code_postal.as_deref().map(str::trim).filter(|c| !c.is_empty()),
        )
        .await
        .or_internal()?;
        Ok(comptes
            .into_iter()
            .map(|c| RupturesCompte {
                mois: c.mois,
                total: c.total,
                a_traiter: c.a_traiter,
                a_recontacter: c.a_recontacter,
                traites: c.traites,
                prioritaires: c.prioritaires,
                moins_de_45_jours: c.moins_de_45_jours,
                depuis_45_jours: c.depuis_45_jours,
            })
            .collect())
    }

    /// One entry, as seen on `date` (today by default), with its history; null when there is none the
    /// caller may read. The read is recorded in the access log.
    async fn rupture(
        &self,
        ctx: &Context<'_>,
        id: ID,
        date: Option<Date>,
    ) -> Result<Option<RuptureEntree>, Error> {
        let qui = ctx.data::<Viewer>()?.ruptures(None)?;
        let jour = jour(date);
        let pool = ctx.data::<PgPool>()?;
        let ligne = query::une(&mut *pool.acquire().await.or_internal()?, &id, jour).await.or_internal()?;
        let Some(ligne) = ligne.filter(|l| Viewer::may_read_entree(&qui, l)) else { return Ok(None) };
        log_read(ctx, "rupture", &ligne.entree, &[&ligne.entree]).await?;
        Ok(Some(RuptureEntree { ligne, jour }))
    }

    /// The Missions Locales of `region` (all by default), by id.
    async fn missions_locales(
        &self,
        ctx: &Context<'_>,
        region: Option<String>,
    ) -> Result<Vec<MissionLocale>, Error> {
        ctx.data::<Viewer>()?.principal()?;
        let pool = ctx.data::<PgPool>()?;
        sqlx::query_as(
            "SELECT id, nom, siret, email, telephone, region FROM rm_missions_locales
             WHERE $1::text IS NULL OR region = $1 ORDER BY id",
        )
        .bind(region)
        .fetch_all(pool)
        .await
        .or_internal()
    }

    /// The statistics of the Missions Locales on `date` (today by default; a past day with the situations
    /// recorded by its end, as its lists): ARML and DREETS those of
    /// their région, a Mission Locale its own, ADMINISTRATEUR, AUDITOR and ANALYST any (`regions`, or a
    /// single `missionLocale`, narrows).
    async fn stats_missions_locales(
        &self,
        ctx: &Context<'_>,
        date: Option<Date>,
        regions: Option<Vec<String>>,
        mission_locale: Option<ID>,
    ) -> Result<Vec<StatsMissionLocale>, Error> {
        let ids = stats_ids(ctx, regions.unwrap_or_default(), mission_locale).await?;
        let pool = ctx.data::<PgPool>()?;
        let stats =
            query::stats(&mut *pool.acquire().await.or_internal()?, &ids, jour(date)).await.or_internal()?;
        Ok(stats.into_iter().map(Into::into).collect())
    }

    /// The same statistics summed per région (the Missions Locales each région holds), for ARML and
    /// DREETS their own, for ADMINISTRATEUR, AUDITOR and ANALYST any (`regions` narrows).
    async fn stats_regions(
        &self,
        ctx: &Context<'_>,
        date: Option<Date>,
        regions: Option<Vec<String>>,
    ) -> Result<Vec<StatsRegion>, Error> {
        if ctx.data::<Viewer>()?.principal()?.role == crate::auth::Role::MissionLocale {
            return Err(forbidden("une clé MISSION_LOCALE lit les statistiques de sa seule Mission Locale"));
        }
        let ids = stats_ids(ctx, regions.unwrap_or_default(), None).await?;
        let pool = ctx.data::<PgPool>()?;
        let day = jour(date);
        let stats = query::stats(&mut *pool.acquire().await.or_internal()?, &ids, day).await.or_internal()?;
        let mut regions: std::collections::BTreeMap<String, Vec<&query::Stats>> =
            std::collections::BTreeMap::new();
        for s in &stats {
            regions.entry(s.region.clone()).or_default().push(s);
        }
        Ok(regions
            .into_iter()
            .map(|(region, stats)| {
                let libelle = events::domain::territoire::region_nom(&region).map(str::to_owned);
                StatsRegion::somme(region, libelle, Date(day), stats)
            })
            .collect())
    }

    /// The same statistics summed over every Mission Locale the caller reads (ADMINISTRATEUR, AUDITOR
    /// and ANALYST: all of them, nationally; ARML and DREETS: their région's), as one `StatsRegion`
    /// whose `region` is empty.
    async fn stats_national(&self, ctx: &Context<'_>, date: Option<Date>) -> Result<StatsRegion, Error> {
        if ctx.data::<Viewer>()?.principal()?.role == crate::auth::Role::MissionLocale {
            return Err(forbidden("une clé MISSION_LOCALE lit les statistiques de sa seule Mission Locale"));
        }
        let ids = stats_ids(ctx, Vec::new(), None).await?;
        let pool = ctx.data::<PgPool>()?;
        let day = jour(date);
        let stats = query::stats(&mut *pool.acquire().await.or_internal()?, &ids, day).await.or_internal()?;
        Ok(StatsRegion::somme(String::new(), Some("France".into()), Date(day), &stats))
    }

    /// One Mission Locale's statistics for each day from `du` to `au` (at most 92 days; `au` today by
    /// default, `du` 30 days before it).
    async fn stats_mission_locale(
        &self,
        ctx: &Context<'_>,
        id: ID,
        du: Option<Date>,
        au: Option<Date>,
    ) -> Result<Vec<StatsMissionLocale>, Error> {
        let ids = stats_ids(ctx, Vec::new(), Some(id.clone())).await?;
        let au = jour(au);
        let du = du.map_or(au - chrono::Duration::days(29), |d| d.0);
        if du > au {
            return Err(bad_input("du", format!("{du} est après {au}")));
        }
        if (au - du).num_days() >= MAX_JOURS {
            return Err(bad_input("du", format!("au plus {MAX_JOURS} jours")));
        }
        let pool = ctx.data::<PgPool>()?;
        let mut conn = pool.acquire().await.or_internal()?;
        let mut out = Vec::new();
        for day in du.iter_days().take_while(|d| *d <= au) {
            out.extend(query::stats(&mut conn, &ids, day).await.or_internal()?.into_iter().map(Into::into));
        }
        Ok(out)
    }
}

/// The Missions Locales whose statistics are asked, within the caller's scope.
async fn stats_ids(
    ctx: &Context<'_>,
    regions: Vec<String>,
    mission_locale: Option<ID>,
) -> Result<Vec<String>, Error> {
    let scope = ctx.data::<Viewer>()?.stats_missions_locales(&regions)?;
    let pool = ctx.data::<PgPool>()?;
    let mut conn = pool.acquire().await.or_internal()?;
    let ids = match scope {
        StatsScope::MissionLocale(own) => vec![own],
        StatsScope::Regions(regions) => query::missions_locales(&mut conn, &regions).await.or_internal()?,
    };
    match mission_locale {
        None => Ok(ids),
        Some(ml) if ids.contains(&ml.0) => Ok(vec![ml.0]),
        Some(ml) => Err(forbidden(format!("missionLocale : {} est hors de votre périmètre", ml.0))),
    }
}
