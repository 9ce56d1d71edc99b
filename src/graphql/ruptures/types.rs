//! The rupture queue's enums, its Missions Locales and the messages of its threads, as GraphQL shows
//! them.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::Loader;
use async_graphql::{Enum, Error, SimpleObject};
use projections::ruptures::{fil, query};

use crate::graphql::error::OrInternal;
use crate::graphql::loaders::Loaders;
use crate::graphql::types::DateTime;

/// How old a rupture is: a CFA's ruptures list is split at 45 days (domain.md §11).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(remote = "projections::ruptures::query::Anciennete")]
pub enum AncienneteRupture {
    /// Less than 45 days since the rupture.
    MoinsDe45Jours,
    /// 45 days or more (sent automatically to the Mission Locale when the CFA opted in).
    Depuis45Jours,
}

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

/// What keeps the Mission Locale from reaching the young person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(remote = "events::rupture::ProblemeType")]
pub enum ProblemeType {
    /// The contact data are wrong.
    CoordonneesIncorrectes,
    /// The young person does not answer.
    JeuneInjoignable,
    /// Another problem, said in `problemeDetail`.
    Autre,
}

/// Where the collaboration between the CFA and the Mission Locale stands on an entry (domain.md §11):
/// derived from the log as of the day asked, the same for both sides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(remote = "projections::ruptures::collaboration::Collaboration")]
pub enum Collaboration {
    /// Nothing asked yet, and the Mission Locale has not reached the person.
    DemarrerCollab,
    /// The CFA asked; the Mission Locale has done nothing beyond "contacté sans retour".
    CollabDemandee,
    /// The Mission Locale reached the person without being asked (a situation other than contacté
    /// sans retour, coordonnées incorrectes, injoignable après relances).
    ContacteParMlHorsCollab,
    /// The CFA asked and the Mission Locale acted on it.
    TraiteParMl,
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

/// An entry's thread (one query for a page).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Fil(pub String);

impl Loader<Fil> for Loaders {
    type Value = Vec<fil::Message>;
    type Error = Arc<Error>;

    async fn load(&self, keys: &[Fil]) -> Result<HashMap<Fil, Self::Value>, Self::Error> {
        let entrees: Vec<String> = keys.iter().map(|k| k.0.clone()).collect();
        let mut conn = self.pool.acquire().await.or_internal().map_err(Arc::new)?;
        let messages = fil::messages(&mut conn, &entrees).await.or_internal().map_err(Arc::new)?;
        let mut out: HashMap<Fil, Vec<fil::Message>> = keys.iter().map(|k| (k.clone(), Vec::new())).collect();
        for message in messages {
            out.entry(Fil(message.entree.clone())).or_default().push(message);
        }
        Ok(out)
    }
}

/// How many messages of the other side a side has not read, by entry (one query for a page).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NonLus(pub String, pub events::fil::Cote);

impl Loader<NonLus> for Loaders {
    type Value = i64;
    type Error = Arc<Error>;

    async fn load(&self, keys: &[NonLus]) -> Result<HashMap<NonLus, Self::Value>, Self::Error> {
        let mut conn = self.pool.acquire().await.or_internal().map_err(Arc::new)?;
        let mut out: HashMap<NonLus, i64> = keys.iter().map(|k| (k.clone(), 0)).collect();
        for cote in [events::fil::Cote::Organisme, events::fil::Cote::MissionLocale] {
            let entrees: Vec<String> = keys.iter().filter(|k| k.1 == cote).map(|k| k.0.clone()).collect();
            if entrees.is_empty() {
                continue;
            }
            let counts = fil::non_lus(&mut conn, &entrees, cote).await.or_internal().map_err(Arc::new)?;
            for (entree, n) in counts {
                out.insert(NonLus(entree, cote), n);
            }
        }
        Ok(out)
    }
}

/// A side of the thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(remote = "events::fil::Cote")]
pub enum CoteFil {
    /// The organisme de formation.
    Organisme,
    /// The Mission Locale of the entry.
    MissionLocale,
}

/// A message of the thread.
#[derive(Debug, SimpleObject)]
pub struct Message {
    /// Its log position.
    pub position: i64,
    /// When it was recorded.
    pub envoye_le: DateTime,
    /// The side that wrote it.
    pub cote: CoteFil,
    /// The organisation that wrote it (`MISSION_LOCALE:<id>` or `UAI:SIRET`).
    pub organisation: String,
    /// The key that wrote it.
    pub principal: String,
    /// Null once the person is erased.
    pub texte: Option<String>,
}

impl From<fil::Message> for Message {
    fn from(m: fil::Message) -> Self {
        Message {
            position: m.position,
            envoye_le: DateTime(m.recorded_at),
            cote: events::fil::Cote::parse(&m.cote).unwrap_or(events::fil::Cote::Organisme).into(),
            organisation: m.organisation,
            principal: m.principal,
            texte: m.texte,
        }
    }
}

/// A comment about one motif of a request for a joint follow-up.
#[derive(Debug, SimpleObject)]
pub struct CommentaireMotif {
    /// The motif.
    pub motif: MotifSuivi,
    /// What the CFA says of it.
    pub commentaire: String,
}

/// The CFA's referent for a request: the Mission Locale's contact there.
#[derive(Debug, SimpleObject)]
pub struct ReferentCfa {
    /// Family name.
    pub nom: String,
    /// First name.
    pub prenom: String,
    /// E-mail.
    pub email: Option<String>,
    /// Phone number.
    pub telephone: Option<String>,
}

impl From<&events::rupture::Referent> for ReferentCfa {
    fn from(r: &events::rupture::Referent) -> Self {
        ReferentCfa {
            nom: r.nom.clone(),
            prenom: r.prenom.clone(),
            email: r.email.as_ref().map(ToString::to_string),
            telephone: r.telephone.as_ref().map(ToString::to_string),
        }
    }
}

/// The young person's contacts as their CFA last verified them (domain.md §11): the Mission Locale
/// uses them instead of the ERP's.
#[derive(Debug, SimpleObject)]
pub struct ContactsVerifies {
    /// Phone number.
    pub telephone: Option<String>,
    /// E-mail.
    pub email: Option<String>,
    /// Postal address.
    pub adresse: Option<String>,
    /// When the CFA verified them.
    pub verifies_le: DateTime,
}
