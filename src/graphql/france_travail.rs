//! France Travail's queue (domain.md §12): the adults enrolled at a CFA without a contract, for the FT
//! advisors of their région of residence, by sector; the situations advisors set per sector
//! (`renseignerSituationFranceTravail`, decided by `app::france_travail`); the counts and statistics per
//! région and sector. Every read of an entry is recorded in the access log.

use async_graphql::connection::{Connection, Edge};
use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, Loader};
use async_graphql::{Context, Enum, Error, ID, Object, SimpleObject};
use chrono::{NaiveDate, Utc};
use events::france_travail::SituationFt;
use events::{Channel, EventStore};
use projections::france_travail::query::{self, Curseur, Demande, Ligne, ListeFt};
use projections::ruptures::entree::age;
use sqlx::PgPool;

use super::dossier::{Dossier, DossierRowId};
use super::error::{OrInternal, bad_input};
use super::loaders::{Loaders, lecture};
use super::ruptures::log_read;
use super::types::{Date, DateTime};
use crate::app::france_travail::{RenseignerSituationFt, may_read, renseigner};
use crate::auth::viewer::Viewer;

const MAX_PAGE: i32 = 100;

/// What an FT advisor found out, for one sector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(remote = "events::france_travail::SituationFt")]
pub enum SituationFranceTravail {
    /// The person is changing path.
    Reorientation,
    /// Put in touch with a company.
    Entreprise,
    /// Not to be contacted again.
    PasDeRecontact,
    /// Invited to a recruitment event.
    Evenement,
    /// Sent to the Mission Locale.
    MissionLocale,
    /// The entry is an error (not enrolled, wrong person).
    Error,
    /// Offered France Travail's services.
    FtServices,
}

/// A list of a sector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(remote = "projections::france_travail::query::ListeFt")]
pub enum ListeFranceTravail {
    /// No situation for the sector yet.
    ATraiter,
    /// A situation for the sector.
    Traites,
}

/// A sector's latest situation.
#[derive(Debug, SimpleObject)]
pub struct SituationSecteur {
    /// The sector (A–N).
    pub secteur: String,
    /// The situation.
    pub situation: Option<SituationFranceTravail>,
    /// The advisor's comment (personal data).
    pub commentaire: Option<String>,
    /// Who: the organisation and the key.
    pub organisation: String,
    /// The key that recorded it.
    pub principal: String,
    /// When.
    pub le: DateTime,
}

/// A formation of the referential.
#[derive(Debug, Clone, SimpleObject, sqlx::FromRow)]
pub struct FormationFt {
    /// Its CFD.
    pub cfd: String,
    /// Its RNCP code.
    pub rncp: Option<String>,
    /// Its name.
    pub libelle: String,
    /// Its niveau (3 to 8).
    pub niveau: Option<i16>,
    /// Its ROME codes.
    pub codes_rome: Vec<String>,
}

/// The formation of an entry, as its dossier names it: loaded for a whole page at once.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FormationCle {
    cfd: Option<String>,
    rncp: Option<String>,
}

impl Loader<FormationCle> for Loaders {
    type Value = FormationFt;
    type Error = Arc<Error>;

    async fn load(&self, keys: &[FormationCle]) -> Result<HashMap<FormationCle, FormationFt>, Self::Error> {
        let cfds: Vec<&str> = keys.iter().filter_map(|k| k.cfd.as_deref()).collect();
        let rncps: Vec<&str> =
            keys.iter().filter(|k| k.cfd.is_none()).filter_map(|k| k.rncp.as_deref()).collect();
        let rows: Vec<FormationFt> = sqlx::query_as(
            "SELECT cfd, rncp, libelle, niveau, codes_rome FROM rm_ft_formations
             WHERE cfd = ANY($1) OR rncp = ANY($2) ORDER BY cfd",
        )
        .bind(&cfds)
        .bind(&rncps)
        .fetch_all(&self.pool)
        .await
        .or_internal()
        .map_err(Arc::new)?;
        let mut out = HashMap::new();
        for key in keys {
            let found = match (&key.cfd, &key.rncp) {
                (Some(cfd), _) => rows.iter().find(|f| &f.cfd == cfd),
                (None, Some(rncp)) => rows.iter().find(|f| f.rncp.as_ref() == Some(rncp)),
                (None, None) => None,
            };
            if let Some(f) = found {
                out.insert(key.clone(), f.clone());
            }
        }
        Ok(out)
    }
}

/// The situations recorded about a person: loaded for a whole page at once.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HistoriqueFt(String);

impl Loader<HistoriqueFt> for Loaders {
    type Value = Vec<query::Action>;
    type Error = Arc<Error>;

    async fn load(&self, keys: &[HistoriqueFt]) -> Result<HashMap<HistoriqueFt, Self::Value>, Self::Error> {
        let entrees: Vec<String> = keys.iter().map(|k| k.0.clone()).collect();
        let mut conn = self.pool.acquire().await.or_internal().map_err(Arc::new)?;
        let actions = query::historiques(&mut conn, &entrees).await.or_internal().map_err(Arc::new)?;
        let mut out: HashMap<HistoriqueFt, Self::Value> = HashMap::new();
        for action in actions {
            out.entry(HistoriqueFt(action.entree.clone())).or_default().push(action);
        }
        Ok(out)
    }
}

/// An adult enrolled without a contract, in the queue of France Travail's advisors of their région of
/// residence: one entry per person nationwide, as seen on a day.
pub struct EntreeFranceTravail {
    pub(crate) ligne: Ligne,
    pub(crate) jour: NaiveDate,
}

/// An adult enrolled without a contract, in the queue of France Travail's advisors of their région of
/// residence: one entry per person nationwide, as seen on a day.
#[Object]
impl EntreeFranceTravail {
    /// The entry's id (the person's pseudonymous key).
    async fn id(&self) -> ID {
        ID(self.ligne.entree.clone())
    }

    /// The first day of the enrolment without a contract.
    async fn date_inscription(&self) -> Date {
        Date(self.ligne.debut)
    }

    /// Days since then, on the day asked.
    async fn jours_depuis_inscription(&self) -> i32 {
        self.ligne.jours
    }

    /// Enrolled without a contract for 90 days or more.
    async fn alerte(&self) -> bool {
        self.ligne.alerte()
    }

    /// In the queue on the day asked (18 or older, still enrolled without a contract).
    async fn visible(&self) -> bool {
        self.ligne.visible
    }

    /// Why the enrolment ended, if it did by the day asked: APPRENTI, ABANDON or FIN_DE_FORMATION.
    async fn sortie(&self) -> Option<&str> {
        self.ligne.fin.filter(|fin| *fin <= self.jour).and(self.ligne.fin_motif.as_deref())
    }

    /// Age on the day asked.
    async fn age(&self) -> i32 {
        age(self.ligne.date_de_naissance, self.jour)
    }

    /// The région of residence.
    async fn region(&self) -> Option<&str> {
        self.ligne.region.as_deref()
    }

    /// The département of residence.
    async fn departement(&self) -> Option<&str> {
        self.ligne.departement.as_deref()
    }

    /// The postal code of residence.
    async fn code_postal(&self) -> Option<&str> {
        self.ligne.code_postal.as_deref()
    }

    /// The sectors of the formation (first letters of its ROME codes); empty when the formation is not
    /// in the referential.
    async fn secteurs(&self) -> &[String] {
        &self.ligne.secteurs
    }

    /// The formation, as the referential knows it (by its CFD, else its RNCP code).
    async fn formation(&self, ctx: &Context<'_>) -> Result<Option<FormationFt>, Error> {
        let cle = FormationCle { cfd: self.ligne.cfd.clone(), rncp: self.ligne.rncp.clone() };
        ctx.data::<DataLoader<Loaders>>()?.load_one(cle).await.map_err(|e| (*e).clone())
    }

    /// The organisme formateur, `UAI:SIRET`.
    async fn organisme(&self) -> String {
        format!("{}:{}", self.ligne.uai_formateur, self.ligne.siret_formateur)
    }

    /// The dossier of the enrolment: identity, contacts, formation, organisme.
    async fn dossier(&self, ctx: &Context<'_>) -> Result<Option<Dossier>, Error> {
        let loader = ctx.data::<DataLoader<Loaders>>()?;
        loader.load_one(DossierRowId(self.ligne.dossier_id.clone())).await.map_err(|e| (*e).clone())
    }

    /// Per sector, the latest situation recorded by the end of the day asked (personal data: its read is
    /// recorded in the access journal).
    async fn situations(&self, ctx: &Context<'_>) -> Result<Vec<SituationSecteur>, Error> {
        lecture(ctx, "franceTravailEntree", &self.ligne.entree).await?;
        Ok(self
            .ligne
            .situations
            .0
            .iter()
            .map(|s| SituationSecteur {
                secteur: s.secteur.clone(),
                situation: SituationFt::parse(&s.situation).map(Into::into),
                commentaire: s.commentaire.clone(),
                organisation: s.organisation.clone(),
                principal: s.principal.clone(),
                le: DateTime(s.recorded_at),
            })
            .collect())
    }

    /// Every situation recorded about this person, oldest first (personal data: its read is recorded in
    /// the access journal).
    async fn historique(&self, ctx: &Context<'_>) -> Result<Vec<SituationSecteur>, Error> {
        lecture(ctx, "franceTravailEntree", &self.ligne.entree).await?;
        let loader = ctx.data::<DataLoader<Loaders>>()?;
        let actions =
            loader.load_one(HistoriqueFt(self.ligne.entree.clone())).await.map_err(|e| (*e).clone())?;
        Ok(actions
            .unwrap_or_default()
            .into_iter()
            .map(|a| SituationSecteur {
                secteur: a.secteur,
                situation: SituationFt::parse(&a.situation).map(Into::into),
                commentaire: a.commentaire,
                organisation: a.organisation,
                principal: a.principal,
                le: DateTime(a.recorded_at),
            })
            .collect())
    }

    /// The log position of the last event about the person.
    async fn position(&self) -> i64 {
        self.ligne.position
    }
}

/// The figures of one région and sector.
#[derive(Debug, SimpleObject)]
pub struct StatsFranceTravail {
    /// The région of residence.
    pub region: Option<String>,
    /// The sector (null: formations with no known sector).
    pub secteur: Option<String>,
    /// Entries in the queue (an entry counts in each of its sectors).
    pub total: i64,
    /// Without a situation for the sector.
    pub a_traiter: i64,
    /// With one.
    pub traites: i64,
    /// Enrolled without a contract for 90 days or more.
    pub alertes: i64,
    /// Per situation.
    pub par_situation: Vec<SituationFtCompte>,
}

/// How many entries had a situation.
#[derive(Debug, SimpleObject)]
pub struct SituationFtCompte {
    /// The situation.
    pub situation: SituationFranceTravail,
    /// Entries with it.
    pub total: i64,
}

fn jour(date: Option<Date>) -> NaiveDate {
    date.map_or_else(|| Utc::now().date_naive(), |d| d.0)
}

fn secteur(field: &str, text: Option<String>) -> Result<Option<String>, Error> {
    let text = text.unwrap_or_default();
    events::formation::parse_secteur(&text).map_err(|why| bad_input(field, why))
}

/// A département of residence, checked against the reference table.
fn departement(text: Option<String>) -> Result<Option<String>, Error> {
    let Some(text) = text.map(|d| d.trim().to_uppercase()).filter(|d| !d.is_empty()) else { return Ok(None) };
    match events::domain::territoire::departement(&text) {
        Some(d) => Ok(Some(d.code.clone())),
        None => Err(bad_input(
            "departement",
            format!("{:?} n'est pas un département", text.chars().take(20).collect::<String>()),
        )),
    }
}

#[derive(Default)]
pub struct FranceTravailQuery;

#[Object]
impl FranceTravailQuery {
    /// A page of France Travail's queue on `date` (today by default): the persons 18 or older enrolled
    /// without a contract, of the caller's région (a FRANCE_TRAVAIL key; ADMINISTRATEUR and AUDITOR name
    /// one or read all), the oldest enrolments first; `secteur` (A–N) narrows to a sector's entries,
    /// and `liste` (with `secteur`) to those with or without its situation; `departement` to a
    /// département of residence. At most `first` (≤ 100) after cursor `after`. Every page is recorded in
    /// the access log.
    #[allow(clippy::too_many_arguments)]
    async fn france_travail(
        &self,
        ctx: &Context<'_>,
        region: Option<String>,
        departement: Option<String>,
        secteur: Option<String>,
        liste: Option<ListeFranceTravail>,
        date: Option<Date>,
        #[graphql(default = 50)] first: i32,
        after: Option<String>,
    ) -> Result<Connection<String, EntreeFranceTravail>, Error> {
        let perimetre = ctx.data::<Viewer>()?.france_travail(region.as_deref())?;
        if !(1..=MAX_PAGE).contains(&first) {
            return Err(bad_input("first", format!("entre 1 et {MAX_PAGE}")));
        }
        let secteur = self::secteur("secteur", secteur)?;
        if liste.is_some() && secteur.is_none() {
            return Err(bad_input("liste", "une liste est celle d'un secteur : donnez `secteur`"));
        }
        let apres = after
            .as_deref()
            .map(|a| Curseur::decode(a).ok_or_else(|| bad_input("after", "curseur inconnu")))
            .transpose()?;
        let jour = jour(date);
        let demande = Demande {
            perimetre,
            jour,
            secteur,
            liste: liste.map(Into::into),
            departement: self::departement(departement)?,
            apres,
            premiers: i64::from(first) + 1,
        };
        let mut conn = ctx.data::<PgPool>()?.acquire().await.or_internal()?;
        let mut lignes = query::liste(&mut conn, &demande).await.or_internal()?;
        let has_next = lignes.len() > first as usize;
        lignes.truncate(first as usize);
        let ids: Vec<&str> = lignes.iter().map(|l| l.entree.as_str()).collect();
        let liste = demande.liste.map_or("toutes", |l| match l {
            ListeFt::ATraiter => "A_TRAITER",
            ListeFt::Traites => "TRAITES",
        });
        let subject = format!("{:?} {:?} {liste} au {jour}", demande.perimetre, demande.secteur);
        log_read(ctx, "franceTravail", &subject, &ids).await?;
        let mut connection = Connection::new(after.is_some(), has_next);
        connection.edges.extend(
            lignes
                .into_iter()
                .map(|ligne| Edge::new(ligne.curseur().encode(), EntreeFranceTravail { ligne, jour })),
        );
        Ok(connection)
    }

    /// One entry of France Travail's queue as seen on `date`; null when there is none the caller may
    /// read. The read is recorded in the access log.
    async fn france_travail_entree(
        &self,
        ctx: &Context<'_>,
        id: ID,
        date: Option<Date>,
    ) -> Result<Option<EntreeFranceTravail>, Error> {
        let perimetre = ctx.data::<Viewer>()?.france_travail(None)?;
        let jour = jour(date);
        let mut conn = ctx.data::<PgPool>()?.acquire().await.or_internal()?;
        let ligne = query::une(&mut conn, &id, jour).await.or_internal()?;
        let Some(ligne) = ligne.filter(|l| l.active && may_read(&perimetre, l)) else { return Ok(None) };
        log_read(ctx, "franceTravailEntree", &ligne.entree, &[&ligne.entree]).await?;
        Ok(Some(EntreeFranceTravail { ligne, jour }))
    }

    /// The figures of France Travail's queue on `date` per région and sector (an entry counts in each of
    /// its sectors): total, à traiter, traités, 90 days or more, per situation. A FRANCE_TRAVAIL key its
    /// région's; ADMINISTRATEUR and AUDITOR one région or all.
    async fn stats_france_travail(
        &self,
        ctx: &Context<'_>,
        region: Option<String>,
        date: Option<Date>,
    ) -> Result<Vec<StatsFranceTravail>, Error> {
        let perimetre = ctx.data::<Viewer>()?.france_travail(region.as_deref())?;
        let mut conn = ctx.data::<PgPool>()?.acquire().await.or_internal()?;
        let stats = query::stats(&mut conn, &perimetre, jour(date)).await.or_internal()?;
        Ok(stats
            .into_iter()
            .map(|s| StatsFranceTravail {
                region: s.region,
                secteur: s.secteur,
                total: s.total,
                a_traiter: s.a_traiter,
                traites: s.traites,
                alertes: s.alertes,
                par_situation: s
                    .par_situation
                    .0
                    .into_iter()
                    .filter_map(|(situation, total)| {
                        SituationFt::parse(&situation)
                            .map(|s| SituationFtCompte { situation: s.into(), total })
                    })
                    .collect(),
            })
            .collect())
    }
}

#[derive(Default)]
pub struct FranceTravailMutation;

#[Object]
impl FranceTravailMutation {
    /// An FT advisor (a FRANCE_TRAVAIL key of the entry's région, or an administrator) sets the
    /// situation of an entry for one of its sectors, with a comment (personal data, sealed and erasable).
    async fn renseigner_situation_france_travail(
        &self,
        ctx: &Context<'_>,
        entree: ID,
        secteur: String,
        situation: SituationFranceTravail,
        commentaire: Option<String>,
    ) -> Result<EntreeFranceTravail, Error> {
        let command =
            RenseignerSituationFt { entree: entree.0, secteur, situation: situation.into(), commentaire };
        let (pool, store, viewer) = (ctx.data::<PgPool>()?, ctx.data::<EventStore>()?, ctx.data::<Viewer>()?);
        let recorded = renseigner(pool, store, viewer, Channel::Graphql, command).await?;
        // The answer shows the entry once the projection has read the situation.
        let checkpoint = crate::read_models::checkpoint(crate::read_models::ReadModel::FranceTravail);
        if !store.wait_checkpoint(&checkpoint, recorded.position, std::time::Duration::from_secs(5)).await {
            tracing::warn!(
                position = recorded.position,
                "France Travail's queue did not include the situation in time"
            );
        }
        let jour = Utc::now().date_naive();
        let ligne = query::une(&mut *pool.acquire().await.or_internal()?, &recorded.entree, jour)
            .await
            .or_internal()?
            .ok_or_else(|| bad_input("entree", "l'entrée n'est plus dans la file"))?;
        Ok(EntreeFranceTravail { ligne, jour })
    }
}
