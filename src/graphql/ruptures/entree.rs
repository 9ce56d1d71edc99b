//! An entry of the queue, and the actions recorded on it.

use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, Error, ID, Object};
use chrono::NaiveDate;
use events::rupture::{RuptureEvent, SituationRenseignee, SuiviConjointDemande};
use projections::ruptures::collaboration;
use projections::ruptures::entree::age;
use projections::ruptures::query::{self, Ligne, Liste};

use crate::auth::viewer::Viewer;
use crate::graphql::dossier::{Dossier, DossierRowId};
use crate::graphql::loaders::{Loaders, lecture};
use crate::graphql::types::{Date, DateTime};

use super::types::{
    Collaboration, CommentaireMotif, ConnaissanceMl, ContactsVerifies, Fil, Historique, ListeRupture,
    Message, MissionLocale, MissionLocaleId, MotifSuivi, NonLus, ProblemeType, ReferentCfa, Situation,
};

/// A young person in rupture, in the queue of the Mission Locale of their residence: one entry per
/// person nationwide, about their latest rupture, as seen on a day.
pub struct RuptureEntree {
    pub(crate) ligne: Ligne,
    pub(crate) jour: NaiveDate,
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

    /// In its CFA's ruptures list on the day asked (domain.md §11): a rupture less than 180 days old,
    /// the person not yet back under contract nor at the end of the formation, unless the CFA declared
    /// the rupture or the Mission Locale qualified it.
    async fn visible_cfa(&self) -> bool {
        self.ligne.visible_cfa
    }

    /// Days from the rupture to the day asked (a CFA's lists split at 45).
    async fn jours_depuis_rupture(&self) -> i32 {
        self.ligne.jours_depuis_rupture
    }

    /// The CFA declared the rupture itself (`declarerRupture`), not its software.
    async fn declaree(&self) -> bool {
        self.ligne.declaree
    }

    /// The list it is in.
    async fn liste(&self) -> ListeRupture {
        Liste::parse(&self.ligne.liste).unwrap_or(Liste::ATraiter).into()
    }

    /// The young person wishes an appointment; or the CFA asked for a joint follow-up, or the person is
    /// a minor or RQTH, and the rupture is less than 180 days old.
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

    /// What keeps the Mission Locale from reaching the person, as its latest situation says.
    async fn probleme_type(&self) -> Option<ProblemeType> {
        self.ligne.probleme_type.as_deref().and_then(events::rupture::ProblemeType::parse).map(Into::into)
    }

    /// The problem in words, when AUTRE (personal data: its read is recorded in the access journal).
    async fn probleme_detail(&self, ctx: &Context<'_>) -> Result<Option<&str>, Error> {
        lecture(ctx, "rupture", &self.ligne.entree).await?;
        Ok(self.ligne.probleme_detail.as_deref())
    }

    /// The young person wishes an appointment (the entry is prioritaire), as the latest situation says.
    async fn souhaite_rdv(&self) -> bool {
        self.ligne.souhaite_rdv
    }

    /// When the situation was recorded.
    async fn qualifiee_le(&self) -> Option<DateTime> {
        self.ligne.qualifiee_le.map(DateTime)
    }

    /// The CFA asked the Mission Locale for a joint follow-up of this rupture.
    async fn suivi_conjoint(&self) -> bool {
        self.ligne.suivi_conjoint
    }

    /// Seen by its Mission Locale on the day asked (domain.md §11): once the CFA sent it (a request, or
    /// automatically at 45 days), the Mission Locale qualified it, or the young person wishes an
    /// appointment; otherwise only if the CFA has not activated the collaboration and the rupture is no
    /// older than 180 days before the Mission Locale's activation (any, before it activates).
    async fn partagee(&self) -> bool {
        self.ligne.partagee
    }

    /// The CFA refused to share the entry with the Mission Locale (it is sent only by a request).
    async fn partage_refuse(&self) -> bool {
        self.ligne.partage_refuse
    }

    /// Where the collaboration between the CFA and the Mission Locale stands on the entry, on the day
    /// asked: from the CFA's request and the Mission Locale's latest situation (domain.md §11).
    async fn collaboration(&self) -> Collaboration {
        let situation = self.ligne.situation.as_deref().and_then(events::rupture::Situation::parse);
        collaboration::collaboration(self.ligne.suivi_conjoint, situation).into()
    }

    /// The thread between the CFA and the Mission Locale on this entry, oldest message first (personal
    /// data: its read is recorded in the access journal).
    async fn messages(&self, ctx: &Context<'_>) -> Result<Vec<Message>, Error> {
        lecture(ctx, "rupture", &self.ligne.entree).await?;
        let loader = ctx.data::<DataLoader<Loaders>>()?;
        let messages = loader.load_one(Fil(self.ligne.entree.clone())).await.map_err(|e| (*e).clone())?;
        Ok(messages.unwrap_or_default().into_iter().map(Into::into).collect())
    }

    /// How many messages of the other side the caller's side has not read (null for a caller that is
    /// neither the organisme nor the Mission Locale).
    async fn non_lus(&self, ctx: &Context<'_>) -> Result<Option<i64>, Error> {
        let Ok(cote) = crate::app::fil::cote(ctx.data::<Viewer>()?.principal()?) else { return Ok(None) };
        let loader = ctx.data::<DataLoader<Loaders>>()?;
        let count =
            loader.load_one(NonLus(self.ligne.entree.clone(), cote)).await.map_err(|e| (*e).clone())?;
        Ok(Some(count.unwrap_or(0)))
    }

    /// The dossier of the rupture: identity, contacts, formation, contracts, organisme. For a DECA
    /// contract (`source: DECA`), its dossier of the année scolaire of the rupture, while its
    /// organisme counts from DECA (null once the organisme transmits).
    async fn dossier(&self, ctx: &Context<'_>) -> Result<Option<Dossier>, Error> {
        let loader = ctx.data::<DataLoader<Loaders>>()?;
        let id = projections::ruptures::deca::dossier_compte(&self.ligne.dossier_id, self.ligne.date_rupture);
        loader.load_one(DossierRowId(id)).await.map_err(|e| (*e).clone())
    }

    /// Everything the Mission Locale and the CFA did about this person, oldest first, with who and when
    /// (earlier ruptures included; personal data: its read is recorded in the access journal).
    async fn historique(&self, ctx: &Context<'_>) -> Result<Vec<RuptureAction>, Error> {
        lecture(ctx, "rupture", &self.ligne.entree).await?;
        let loader = ctx.data::<DataLoader<Loaders>>()?;
        let actions =
            loader.load_one(Historique(self.ligne.entree.clone())).await.map_err(|e| (*e).clone())?;
        Ok(actions.unwrap_or_default().into_iter().map(RuptureAction::from).collect())
    }

    /// The young person's contacts as their CFA last verified them in a request, which the Mission
    /// Locale uses instead of the ERP's; null when none was (personal data: its read is recorded in the
    /// access journal).
    async fn contacts_verifies(&self, ctx: &Context<'_>) -> Result<Option<ContactsVerifies>, Error> {
        lecture(ctx, "rupture", &self.ligne.entree).await?;
        let loader = ctx.data::<DataLoader<Loaders>>()?;
        let actions =
            loader.load_one(Historique(self.ligne.entree.clone())).await.map_err(|e| (*e).clone())?;
        Ok(query::contacts_verifies(&actions.unwrap_or_default()).map(|(verifies_le, s)| ContactsVerifies {
            telephone: s.telephone_verifie.as_ref().map(ToString::to_string),
            email: s.email_verifie.as_ref().map(ToString::to_string),
            adresse: s.adresse_verifiee.clone(),
            verifies_le: DateTime(verifies_le),
        }))
    }

    /// The log position of the last event that changed the entry.
    async fn position(&self) -> i64 {
        self.ligne.position
    }
}

/// One action on an entry: an advisor's situation, or a CFA's request for a joint follow-up, read
/// through its event's type.
pub struct RuptureAction {
    action: query::Action,
    event: Option<RuptureEvent>,
}

impl From<query::Action> for RuptureAction {
    fn from(action: query::Action) -> Self {
        RuptureAction { event: action.event(), action }
    }
}

/// One action on an entry: an advisor's situation, or a CFA's request for a joint follow-up, with who
/// and when.
#[Object]
impl RuptureAction {
    /// `SituationRenseignee`, `SuiviConjointDemande` or `PartageRefuse`.
    #[graphql(name = "type")]
    async fn event_type(&self) -> &str {
        &self.action.event_type
    }

    /// When it was recorded.
    async fn recorded_at(&self) -> DateTime {
        DateTime(self.action.recorded_at)
    }

    /// The organisation that acted (`MISSION_LOCALE`, `UAI:SIRET` of an organisme…).
    async fn organisation(&self) -> &str {
        &self.action.organisation
    }

    /// The key or person that acted.
    async fn principal(&self) -> &str {
        &self.action.principal
    }

    /// The rupture it was about.
    async fn date_rupture(&self) -> Date {
        Date(self.action.date_rupture)
    }

    /// The situation recorded (SituationRenseignee).
    async fn situation(&self) -> Option<Situation> {
        self.situation_renseignee().map(|s| s.situation.into())
    }

    /// The situation in words, when AUTRE.
    async fn situation_autre(&self) -> Option<&str> {
        self.situation_renseignee().and_then(|s| s.situation_autre.as_deref())
    }

    /// The comment.
    async fn commentaire(&self) -> Option<&str> {
        match &self.event {
            Some(RuptureEvent::Situation(s)) => s.commentaire.as_deref(),
            Some(RuptureEvent::SuiviConjoint(s)) => s.commentaire.as_deref(),
            Some(RuptureEvent::PartageRefuse(_)) | None => None,
        }
    }

    /// Whether the Mission Locale knew the person (SituationRenseignee).
    async fn connaissance(&self) -> Option<ConnaissanceMl> {
        self.situation_renseignee().and_then(|s| s.connaissance).map(Into::into)
    }

    /// What keeps the Mission Locale from reaching the person (SituationRenseignee).
    async fn probleme_type(&self) -> Option<ProblemeType> {
        self.situation_renseignee().and_then(|s| s.probleme_type).map(Into::into)
    }

    /// The problem in words, when AUTRE.
    async fn probleme_detail(&self) -> Option<&str> {
        self.situation_renseignee().and_then(|s| s.probleme_detail.as_deref())
    }

    /// The young person wished an appointment (SituationRenseignee).
    async fn souhaite_rdv(&self) -> bool {
        self.situation_renseignee().is_some_and(|s| s.souhaite_rdv)
    }

    /// The reasons of the joint follow-up (SuiviConjointDemande).
    async fn motifs(&self) -> Vec<MotifSuivi> {
        self.suivi_conjoint().map(|s| s.motifs.iter().copied().map(Into::into).collect()).unwrap_or_default()
    }

    /// Why the CFA refused to share the entry (PartageRefuse).
    async fn motif_refus(&self) -> Option<&str> {
        match &self.event {
            Some(RuptureEvent::PartageRefuse(r)) => r.motif.as_deref(),
            _ => None,
        }
    }

    /// A comment per motif (SuiviConjointDemande).
    async fn commentaires_motifs(&self) -> Vec<CommentaireMotif> {
        self.suivi_conjoint()
            .map(|s| {
                s.commentaires_motifs
                    .iter()
                    .map(|(motif, commentaire)| CommentaireMotif {
                        motif: (*motif).into(),
                        commentaire: commentaire.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Whether the young person is still at the CFA (SuiviConjointDemande).
    async fn encore_au_cfa(&self) -> Option<bool> {
        self.suivi_conjoint().and_then(|s| s.encore_au_cfa)
    }

    /// The rupture's cause as the CFA knows it (SuiviConjointDemande).
    async fn cause_rupture(&self) -> Option<&str> {
        self.suivi_conjoint().and_then(|s| s.cause_rupture.as_deref())
    }

    /// The CFA's referent (SuiviConjointDemande).
    async fn referent(&self) -> Option<ReferentCfa> {
        self.suivi_conjoint().and_then(|s| s.referent.as_ref()).map(Into::into)
    }

    /// The e-mail the CFA verified (SuiviConjointDemande).
    async fn email_verifie(&self) -> Option<String> {
        self.suivi_conjoint().and_then(|s| s.email_verifie.as_ref()).map(ToString::to_string)
    }

    /// The address the CFA verified (SuiviConjointDemande).
    async fn adresse_verifiee(&self) -> Option<&str> {
        self.suivi_conjoint().and_then(|s| s.adresse_verifiee.as_deref())
    }

    /// The phone number the CFA verified (SuiviConjointDemande).
    async fn telephone_verifie(&self) -> Option<&str> {
        self.suivi_conjoint().and_then(|s| s.telephone_verifie.as_ref()).map(|t| t.as_str())
    }
}

impl RuptureAction {
    fn situation_renseignee(&self) -> Option<&SituationRenseignee> {
        match &self.event {
            Some(RuptureEvent::Situation(s)) => Some(s),
            _ => None,
        }
    }

    fn suivi_conjoint(&self) -> Option<&SuiviConjointDemande> {
        match &self.event {
            Some(RuptureEvent::SuiviConjoint(s)) => Some(s),
            _ => None,
        }
    }
}
