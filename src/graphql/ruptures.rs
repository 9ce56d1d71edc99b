//! The rupture queue of the Missions Locales (domain.md §7): the lists of a queue on a day (à traiter,
//! à recontacter, traités; prioritaires first, then the newest ruptures; by rupture month and
//! residence postal code), one entry with its full history, the counts, the statistics per Mission
//! Locale and day, and the Missions Locales themselves. A MISSION_LOCALE key reads its own queue, an
//! organisme the entries of its dossiers (and what the Mission Locale did about them); every read of
//! an entry is recorded in the access log.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::connection::{Connection, Edge};
use async_graphql::dataloader::{DataLoader, Loader};
use async_graphql::{Context, Enum, Error, ID, Object, SimpleObject};
use chrono::{NaiveDate, Utc};
use projections::ruptures::entree::age;
use projections::ruptures::query::{self, Curseur, Demande, Ligne, Liste};
use sqlx::PgPool;

use super::dossier::{Dossier, DossierRowId};
use super::error::{OrInternal, bad_input, forbidden};
use super::loaders::{Loaders, lecture};
use super::types::{Date, DateTime};
use crate::auth::access_log;
use crate::auth::viewer::{StatsScope, Viewer};

/// The largest page of a list.
const MAX_PAGE: i32 = 100;
/// The longest daily series of statistics.
const MAX_JOURS: i64 = 92;

/// A list of a queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(remote = "projections::ruptures::query::Liste")]
pub enum ListeRupture {
    /// No situation recorded yet.
    ATraiter,
    /// Contacted, no answer (CONTACTE_SANS_RETOUR).
    ARecontacter,
    /// Any other situation.
    Traites,
}

/// What an advisor found out about the young person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(remote = "events::rupture::Situation")]
pub enum Situation {
    /// An appointment was made.
    RdvPris,
    /// A new project.
    NouveauProjet,
    /// Already followed by the Mission Locale.
    DejaAccompagne,
    /// Contacted, no answer: to call again.
    ContacteSansRetour,
    /// The contact details are wrong.
    CoordonneesIncorrect,
    /// Unreachable after several attempts.
    InjoignableApresRelances,
    /// Found a new contract.
    NouveauContrat,
    /// Does not wish to be contacted again.
    NeSouhaitePasEtreRecontacte,
    /// Something else, said in `situationAutre`.
    Autre,
    /// Looking for a contract.
    ChercheContrat,
    /// Changing path.
    Reorientation,
    /// Does not want to be accompanied.
    NeVeutPasAccompagnement,
}

/// Whether the Mission Locale already knew the young person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(remote = "events::rupture::Connaissance")]
pub enum ConnaissanceMl {
    /// Already actively accompanied.
    DejaAccompagneActivement,
    /// Known, not accompanied.
    ConnuNonAccompagne,
    /// Not known.
    NonConnu,
}

/// Why a CFA asks for a joint follow-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(remote = "events::rupture::MotifSuivi")]
pub enum MotifSuivi {
    /// Mobility.
    Mobilite,
    /// Housing.
    Logement,
    /// Health.
    Sante,
    /// Money.
    Finance,
    /// Paperwork.
    Administratif,
    /// Social or family.
    SocialFamilial,
    /// Change of path.
    Reorientation,
    /// Job search.
    RechercheEmploi,
    /// Something else (said in the comment).
    Autre,
}

/// A Mission Locale and its contacts.
#[derive(Debug, Clone, SimpleObject, sqlx::FromRow)]
pub struct MissionLocale {
    /// Its id in the referential.
    pub id: String,
    /// Its name.
    pub nom: String,
    /// Its SIRET.
    pub siret: String,
    /// Its contact e-mail.
    pub email: Option<String>,
    /// Its contact phone number.
    pub telephone: Option<String>,
    /// The région most of its communes are in.
    pub region: String,
}

/// A Mission Locale, by id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MissionLocaleId(pub String);

impl Loader<MissionLocaleId> for Loaders {
    type Value = MissionLocale;
    type Error = Arc<Error>;

    async fn load(
        &self,
        keys: &[MissionLocaleId],
    ) -> Result<HashMap<MissionLocaleId, Self::Value>, Self::Error> {
        let ids: Vec<String> = keys.iter().map(|k| k.0.clone()).collect();
        let rows: Vec<MissionLocale> = sqlx::query_as(
            "SELECT id, nom, siret, email, telephone, region FROM rm_missions_locales WHERE id = ANY($1)",
        )
        .bind(&ids)
        .fetch_all(&self.pool)
        .await
        .or_internal()
        .map_err(Arc::new)?;
        Ok(rows.into_iter().map(|m| (MissionLocaleId(m.id.clone()), m)).collect())
    }
}

/// The history of an entry, by entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Historique(pub String);

impl Loader<Historique> for Loaders {
    type Value = Vec<query::Action>;
    type Error = Arc<Error>;

    async fn load(&self, keys: &[Historique]) -> Result<HashMap<Historique, Self::Value>, Self::Error> {
        let entrees: Vec<String> = keys.iter().map(|k| k.0.clone()).collect();
        let mut conn = self.pool.acquire().await.or_internal().map_err(Arc::new)?;
        let actions = query::historiques(&mut conn, &entrees).await.or_internal().map_err(Arc::new)?;
        // Every key answers, those without actions with an empty history.
        let mut out: HashMap<Historique, Vec<query::Action>> =
            keys.iter().map(|k| (k.clone(), Vec::new())).collect();
        for action in actions {
            out.entry(Historique(action.entree.clone())).or_default().push(action);
        }
        Ok(out)
    }
}

/// A young person in rupture, in the queue of the Mission Locale of their residence: one entry per
/// person nationwide, about their latest rupture, as seen on a day.
pub struct RuptureEntree {
    pub(super) ligne: Ligne,
    pub(super) jour: NaiveDate,
}

/// A young person in rupture, in the queue of the Mission Locale of their residence: one entry per
/// person nationwide, about their latest rupture begun by the day asked.
#[Object]
impl RuptureEntree {
    /// The entry's id (the person's pseudonymous key: stable across their dossiers).
    async fn id(&self) -> ID {
        ID(self.ligne.entree.clone())
    }

    /// The Mission Locale of the residence.
    async fn mission_locale(&self, ctx: &Context<'_>) -> Result<Option<MissionLocale>, Error> {
        let Some(ml) = &self.ligne.ml_id else { return Ok(None) };
        ctx.data::<DataLoader<Loaders>>()?
            .load_one(MissionLocaleId(ml.clone()))
            .await
            .map_err(|e| (*e).clone())
    }

    /// The first day of the rupture (the first RUPTURANT day).
    async fn date_rupture(&self) -> Date {
        Date(self.ligne.date_rupture)
    }

    /// The rupture's month, `YYYY-MM` (lists are grouped by it).
    async fn mois_rupture(&self) -> String {
        self.ligne.date_rupture.format("%Y-%m").to_string()
    }

    /// In its Mission Locale's visible queue on the day asked.
    async fn visible(&self) -> bool {
        self.ligne.visible
    }

    /// The list it is in.
    async fn liste(&self) -> ListeRupture {
        Liste::parse(&self.ligne.liste).unwrap_or(Liste::ATraiter).into()
    }

    /// The CFA asked for a joint follow-up, or the person is a minor or RQTH, and the rupture is less
    /// than 180 days old.
    async fn prioritaire(&self) -> bool {
        self.ligne.prioritaire
    }

    /// The person is back under contract (the entry stays only if an advisor qualified it).
    async fn nouveau_contrat(&self) -> bool {
        self.ligne.nouveau_contrat
    }

    /// The day the person left the queue (new contract, end of formation), if they did.
    async fn sortie(&self) -> Option<Date> {
        self.ligne.sortie.map(Date)
    }

    /// Age on the day asked.
    async fn age(&self) -> i32 {
        age(self.ligne.date_de_naissance, self.jour)
    }

    /// Recognised disability (RQTH).
    async fn rqth(&self) -> bool {
        self.ligne.rqth
    }

    /// The residence's postal code.
    async fn code_postal(&self) -> Option<&str> {
        self.ligne.code_postal.as_deref()
    }

    /// The residence's commune (INSEE code).
    async fn code_commune_insee(&self) -> Option<&str> {
        self.ligne.code_commune_insee.as_deref()
    }

    /// The advisor's latest situation for this rupture (null: à traiter).
    async fn situation(&self) -> Option<Situation> {
        self.ligne.situation.as_deref().and_then(events::rupture::Situation::parse).map(Into::into)
    }

    /// The situation in words, when AUTRE (personal data: its read is recorded in the access journal).
    async fn situation_autre(&self, ctx: &Context<'_>) -> Result<Option<&str>, Error> {
        lecture(ctx, "rupture", &self.ligne.entree).await?;
        Ok(self.ligne.situation_autre.as_deref())
    }

    /// The advisor's comment (personal data: its read is recorded in the access journal).
    async fn commentaire(&self, ctx: &Context<'_>) -> Result<Option<&str>, Error> {
        lecture(ctx, "rupture", &self.ligne.entree).await?;
        Ok(self.ligne.commentaire.as_deref())
    }

    /// Whether the Mission Locale already knew the person.
    async fn connaissance(&self) -> Option<ConnaissanceMl> {
        self.ligne.connaissance.as_deref().and_then(events::rupture::Connaissance::parse).map(Into::into)
    }

    /// When the situation was recorded.
    async fn qualifiee_le(&self) -> Option<DateTime> {
        self.ligne.qualifiee_le.map(DateTime)
    }

    /// The CFA asked the Mission Locale for a joint follow-up of this rupture.
    async fn suivi_conjoint(&self) -> bool {
        self.ligne.suivi_conjoint
    }

    /// The dossier of the rupture: identity, contacts, formation, contracts, organisme.
    async fn dossier(&self, ctx: &Context<'_>) -> Result<Option<Dossier>, Error> {
        let loader = ctx.data::<DataLoader<Loaders>>()?;
        loader.load_one(DossierRowId(self.ligne.dossier_id.clone())).await.map_err(|e| (*e).clone())
    }

    /// Everything the Mission Locale and the CFA did about this person, oldest first, with who and when
    /// (earlier ruptures included; personal data: its read is recorded in the access journal).
    async fn historique(&self, ctx: &Context<'_>) -> Result<Vec<RuptureAction>, Error> {
        lecture(ctx, "rupture", &self.ligne.entree).await?;
        let loader = ctx.data::<DataLoader<Loaders>>()?;
        let actions =
            loader.load_one(Historique(self.ligne.entree.clone())).await.map_err(|e| (*e).clone())?;
        Ok(actions.unwrap_or_default().into_iter().map(RuptureAction).collect())
    }

    /// The log position of the last event that changed the entry.
    async fn position(&self) -> i64 {
        self.ligne.position
    }
}

/// One action on an entry: an advisor's situation, or a CFA's request for a joint follow-up.
pub struct RuptureAction(query::Action);

/// One action on an entry: an advisor's situation, or a CFA's request for a joint follow-up, with who
/// and when.
#[Object]
impl RuptureAction {
    /// `SituationRenseignee` or `SuiviConjointDemande`.
    #[graphql(name = "type")]
    async fn event_type(&self) -> &str {
        &self.0.event_type
    }

    /// When it was recorded.
    async fn recorded_at(&self) -> DateTime {
        DateTime(self.0.recorded_at)
    }

    /// The organisation that acted (`MISSION_LOCALE`, `UAI:SIRET` of an organisme…).
    async fn organisation(&self) -> &str {
        &self.0.organisation
    }

    /// The key or person that acted.
    async fn principal(&self) -> &str {
        &self.0.principal
    }

    /// The rupture it was about.
    async fn date_rupture(&self) -> Date {
        Date(self.0.date_rupture)
    }

    /// The situation recorded (SituationRenseignee).
    async fn situation(&self) -> Option<Situation> {
        self.text("situation").and_then(events::rupture::Situation::parse).map(Into::into)
    }

    /// The situation in words, when AUTRE.
    async fn situation_autre(&self) -> Option<&str> {
        self.text("situation_autre")
    }

    /// The comment.
    async fn commentaire(&self) -> Option<&str> {
        self.text("commentaire")
    }

    /// Whether the Mission Locale knew the person (SituationRenseignee).
    async fn connaissance(&self) -> Option<ConnaissanceMl> {
        self.text("connaissance").and_then(events::rupture::Connaissance::parse).map(Into::into)
    }

    /// The reasons of the joint follow-up (SuiviConjointDemande).
    async fn motifs(&self) -> Vec<MotifSuivi> {
        let motifs = self.0.data.get("motifs").and_then(|m| m.as_array()).cloned().unwrap_or_default();
        motifs
            .iter()
            .filter_map(|m| m.as_str())
            .filter_map(events::rupture::MotifSuivi::parse)
            .map(Into::into)
            .collect()
    }

    /// The phone number the CFA verified (SuiviConjointDemande).
    async fn telephone_verifie(&self) -> Option<&str> {
        self.text("telephone_verifie")
    }
}

impl RuptureAction {
    fn text(&self, field: &str) -> Option<&str> {
        self.0.data.get(field).and_then(|v| v.as_str())
    }
}

/// The counts of a queue's visible entries, for all months (`mois` null) or one rupture month.
#[derive(Debug, SimpleObject)]
pub struct RupturesCompte {
    /// `YYYY-MM`; null for the whole queue.
    pub mois: Option<String>,
    /// Entries in the visible queue.
    pub total: i64,
    /// Without a situation.
    pub a_traiter: i64,
    /// Contacted without answer.
    pub a_recontacter: i64,
    /// With any other situation.
    pub traites: i64,
    /// Prioritaires among them.
    pub prioritaires: i64,
}

/// How many entries had a situation.
#[derive(Debug, SimpleObject)]
pub struct SituationCompte {
    /// The situation.
    pub situation: Situation,
    /// Entries with it.
    pub total: i64,
}

/// A Mission Locale's queue on a day.
#[derive(Debug, SimpleObject)]
pub struct StatsMissionLocale {
    /// The Mission Locale (its id, name and région).
    pub mission_locale: MissionLocale,
    /// The day counted.
    pub date: Date,
    /// Entries in the visible queue.
    pub total: i64,
    /// Without a situation.
    pub a_traiter: i64,
    /// Contacted without answer.
    pub a_recontacter: i64,
    /// With any other situation.
    pub traites: i64,
    /// Per situation recorded.
    pub par_situation: Vec<SituationCompte>,
    /// Share of the queue with a situation ((total − à traiter) / total); null for an empty queue.
    pub taux_traitement: Option<f64>,
}

impl From<query::Stats> for StatsMissionLocale {
    fn from(s: query::Stats) -> Self {
        let taux_traitement = s.taux_traitement();
        StatsMissionLocale {
            mission_locale: MissionLocale {
                id: s.ml_id,
                nom: s.nom,
                siret: s.siret,
                email: s.email,
                telephone: s.telephone,
                region: s.region,
            },
            date: Date(s.jour),
            total: s.total,
            a_traiter: s.a_traiter,
            a_recontacter: s.a_recontacter,
            traites: s.traites,
            par_situation: s
                .par_situation
                .0
                .into_iter()
                .filter_map(|(name, total)| {
                    events::rupture::Situation::parse(&name)
                        .map(|s| SituationCompte { situation: s.into(), total })
                })
                .collect(),
            taux_traitement,
        }
    }
}

/// The queues of a région's Missions Locales on a day, summed.
#[derive(Debug, SimpleObject)]
pub struct StatsRegion {
    /// The région's code.
    pub region: String,
    /// Its name.
    pub libelle: Option<String>,
    /// The day counted.
    pub date: Date,
    /// Missions Locales counted.
    pub missions_locales: i64,
    /// Entries in the visible queues.
    pub total: i64,
    /// Without a situation.
    pub a_traiter: i64,
    /// Contacted without answer.
    pub a_recontacter: i64,
    /// With any other situation.
    pub traites: i64,
    /// Share of the queues with a situation; null when they are empty.
    pub taux_traitement: Option<f64>,
}

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
    access_log::record(ctx.data::<PgPool>()?, principal, action, subject, details).await.or_internal()
}

#[derive(Default)]
pub struct RupturesQuery;

#[Object]
impl RupturesQuery {
    /// A page of the visible rupture queue on `date` (today by default; a past day as it was at its
    /// end: with the situations recorded by then, as its counts and statistics): a Mission Locale's own (a
    /// MISSION_LOCALE key; ADMINISTRATEUR and AUDITOR name one or read all), or the entries of an
    /// organisme's dossiers (its key). Prioritaires first, then the newest ruptures; `liste`,
    /// `codePostal` (of the residence) and `mois` (`YYYY-MM` of the rupture) narrow it; at most
    /// `first` (≤ 100) after cursor `after`. Every page is recorded in the access log.
    #[allow(clippy::too_many_arguments)]
    async fn ruptures(
        &self,
        ctx: &Context<'_>,
        mission_locale: Option<ID>,
        liste: Option<ListeRupture>,
        code_postal: Option<String>,
        mois: Option<String>,
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
        let stats =
            query::stats(&mut *pool.acquire().await.or_internal()?, &ids, jour(date)).await.or_internal()?;
        let mut regions: std::collections::BTreeMap<String, StatsRegion> = std::collections::BTreeMap::new();
        for s in stats {
            let r = regions.entry(s.region.clone()).or_insert_with(|| StatsRegion {
                region: s.region.clone(),
                libelle: events::domain::territoire::region_nom(&s.region).map(str::to_owned),
                date: Date(s.jour),
                missions_locales: 0,
                total: 0,
                a_traiter: 0,
                a_recontacter: 0,
                traites: 0,
                taux_traitement: None,
            });
            r.missions_locales += 1;
            r.total += s.total;
            r.a_traiter += s.a_traiter;
            r.a_recontacter += s.a_recontacter;
            r.traites += s.traites;
        }
        Ok(regions
            .into_values()
            .map(|mut r| {
                r.taux_traitement = (r.total > 0).then(|| (r.total - r.a_traiter) as f64 / r.total as f64);
                r
            })
            .collect())
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
