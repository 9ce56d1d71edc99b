//! What Missions Locales and CFAs do about a rupture, each an event of the log with who and when
//! (domain.md §7): an advisor records a situation (`renseignerSituation`), a CFA asks for a joint
//! follow-up (`demanderSuiviConjoint`) or declares a rupture itself (`declarerRupture`). The commands
//! are decided and recorded by `app::ruptures`; here their GraphQL names, and the answer: the entry
//! once the queue has caught up with it.

use std::time::Duration;

use async_graphql::{Context, Error, ID, InputObject, Object, SimpleObject};
use chrono::Utc;
use events::{Channel, EventStore};
use projections::ruptures::query;
use sqlx::PgPool;

use super::error::{OrInternal, internal};
use super::ruptures::{ConnaissanceMl, MotifSuivi, ProblemeType, RuptureEntree, Situation};
use super::types::Date;
use crate::app::ruptures::{
    self as commands, DeclarerRupture, DemanderSuiviConjoint, ReferentDemande, RefuserPartage,
    RenseignerSituation,
};
use crate::auth::viewer::Viewer;

/// How long an answer waits for the queue to include what was just recorded.
const CATCH_UP: Duration = Duration::from_secs(5);

/// A rupture declared by a CFA.
#[derive(SimpleObject)]
pub struct RuptureDeclaree {
    /// The dossier (`dossier-<uuid>`).
    pub dossier_id: ID,
    /// The log position of the `RuptureEnregistree` event.
    pub position: i64,
    /// The person's entry in the queue, once projected (null when they are not eligible: age,
    /// residence without Mission Locale…).
    pub entree: Option<RuptureEntree>,
}

/// A comment about one motif of a request for a joint follow-up.
#[derive(Debug, InputObject)]
pub struct CommentaireMotifInput {
    /// A motif of the request.
    pub motif: MotifSuivi,
    /// At most 5,000 characters.
    pub commentaire: String,
}

/// The CFA's referent for a request: the Mission Locale's contact there.
#[derive(Debug, InputObject)]
pub struct ReferentInput {
    /// Family name.
    pub nom: String,
    /// First name.
    pub prenom: String,
    /// E-mail, checked when given.
    pub email: Option<String>,
    /// Phone number, checked when given.
    pub telephone: Option<String>,
}

#[derive(Default)]
pub struct RupturesMutation;

#[Object]
impl RupturesMutation {
    /// Record an advisor's situation for an entry of the Mission Locale's queue (its MISSION_LOCALE key,
    /// or ADMINISTRATEUR): `situationAutre` says what AUTRE is (and only then); a comment, and whether
    /// the Mission Locale already knew the person, may go with it. `situationAutre` holds 500
    /// characters at most, `commentaire` 5,000 (line breaks kept, other control characters refused).
    /// `problemeType` says what keeps the Mission Locale from reaching the person (`problemeDetail`
    /// what AUTRE is, 500 characters at most); `souhaiteRdv` that the young person wishes an
    /// appointment, which makes the entry prioritaire.
    #[allow(clippy::too_many_arguments)]
    async fn renseigner_situation(
        &self,
        ctx: &Context<'_>,
        entree: ID,
        situation: Situation,
        situation_autre: Option<String>,
        commentaire: Option<String>,
        connaissance: Option<ConnaissanceMl>,
        probleme_type: Option<ProblemeType>,
        probleme_detail: Option<String>,
        #[graphql(default = false)] souhaite_rdv: bool,
    ) -> Result<RuptureEntree, Error> {
        let command = RenseignerSituation {
            entree: entree.0,
            situation: situation.into(),
            situation_autre,
            commentaire,
            connaissance: connaissance.map(Into::into),
            probleme_type: probleme_type.map(Into::into),
            probleme_detail,
            souhaite_rdv,
        };
        let (pool, store, viewer) = (ctx.data::<PgPool>()?, ctx.data::<EventStore>()?, ctx.data::<Viewer>()?);
        let recorded = commands::renseigner_situation(pool, store, viewer, Channel::Graphql, command).await?;
        answer(ctx, &recorded.entree, recorded.position).await?.ok_or_else(|| internal("entry vanished"))
    }

    /// Ask the Mission Locale for a joint follow-up of the rupture of one of the organisme's dossiers
    /// (its key, or ADMINISTRATEUR): at least one motif (a comment with AUTRE), and the young person's
    /// phone number as the CFA just verified it with them. `commentaire` holds 5,000 characters at
    /// most (line breaks kept, other control characters refused). With it, as domain.md §11 lists: a
    /// comment per motif of the request, whether the young person is still at the CFA, the rupture's
    /// cause, the CFA's referent (named, with valid contacts), and the young person's e-mail and
    /// address as the CFA verified them (the Mission Locale sees them instead of the ERP's).
    #[allow(clippy::too_many_arguments)]
    async fn demander_suivi_conjoint(
        &self,
        ctx: &Context<'_>,
        dossier: ID,
        motifs: Vec<MotifSuivi>,
        commentaire: Option<String>,
        telephone_verifie: String,
        commentaires_motifs: Option<Vec<CommentaireMotifInput>>,
        encore_au_cfa: Option<bool>,
        cause_rupture: Option<String>,
        referent: Option<ReferentInput>,
        email_verifie: Option<String>,
        adresse_verifiee: Option<String>,
    ) -> Result<RuptureEntree, Error> {
        let command = DemanderSuiviConjoint {
            dossier: dossier.0,
            motifs: motifs.into_iter().map(Into::into).collect(),
            commentaire,
            telephone_verifie,
            commentaires_motifs: commentaires_motifs
                .unwrap_or_default()
                .into_iter()
                .map(|c| (c.motif.into(), c.commentaire))
                .collect(),
            encore_au_cfa,
            cause_rupture,
            referent: referent.map(|r| ReferentDemande {
                nom: r.nom,
                prenom: r.prenom,
                email: r.email,
                telephone: r.telephone,
            }),
            email_verifie,
            adresse_verifiee,
        };
        let (pool, store, viewer) = (ctx.data::<PgPool>()?, ctx.data::<EventStore>()?, ctx.data::<Viewer>()?);
        let recorded =
            commands::demander_suivi_conjoint(pool, store, viewer, Channel::Graphql, command).await?;
        answer(ctx, &recorded.entree, recorded.position).await?.ok_or_else(|| internal("entry vanished"))
    }

    /// Refuse to share the rupture of one of the organisme's dossiers with its Mission Locale (its
    /// key), saying why (500 characters at most): the entry is no longer sent at 45 days nor shown by
    /// default; a later request for a joint follow-up sends it all the same.
    async fn refuser_partage(
        &self,
        ctx: &Context<'_>,
        dossier: ID,
        motif: String,
    ) -> Result<RuptureEntree, Error> {
        let command = RefuserPartage { dossier: dossier.0, motif };
        let (pool, store, viewer) = (ctx.data::<PgPool>()?, ctx.data::<EventStore>()?, ctx.data::<Viewer>()?);
        let recorded = commands::refuser_partage(pool, store, viewer, Channel::Graphql, command).await?;
        answer(ctx, &recorded.entree, recorded.position).await?.ok_or_else(|| internal("entry vanished"))
    }

    /// Declare the rupture of a dossier's ongoing contract (the organisme's key, formateur or
    /// responsable, or ADMINISTRATEUR): `dateRupture`, the first day without the contract, is not in the
    /// future and at most one year old; `cause` holds 500 characters at most. Recorded as the dossier's
    /// `RuptureEnregistree`.
    async fn declarer_rupture(
        &self,
        ctx: &Context<'_>,
        dossier: ID,
        date_rupture: Date,
        cause: Option<String>,
    ) -> Result<RuptureDeclaree, Error> {
        let command = DeclarerRupture { dossier: dossier.0.clone(), date_rupture: date_rupture.0, cause };
        let (store, viewer) = (ctx.data::<EventStore>()?, ctx.data::<Viewer>()?);
        let recorded = commands::declarer_rupture(store, viewer, Channel::Graphql, command).await?;
        let entree = answer(ctx, &recorded.entree, recorded.position).await?;
        Ok(RuptureDeclaree { dossier_id: dossier, position: recorded.position, entree })
    }
}

/// The entry once the queue includes `position` (or as it stands after `CATCH_UP`), waiting on the
/// projection's checkpoint without holding a connection.
pub(super) async fn answer(
    ctx: &Context<'_>,
    entree: &str,
    position: i64,
) -> Result<Option<RuptureEntree>, Error> {
    let store = ctx.data::<EventStore>()?;
    let checkpoint = crate::read_models::checkpoint(crate::read_models::ReadModel::Ruptures);
    if !store.wait_checkpoint(&checkpoint, position, CATCH_UP).await {
        tracing::warn!(
            position,
            "the rupture queue did not include the action in time: answered as it stands"
        );
    }
    let mut conn = ctx.data::<PgPool>()?.acquire().await.or_internal()?;
    let jour = Utc::now().date_naive();
    Ok(query::une(&mut conn, entree, jour).await.or_internal()?.map(|ligne| RuptureEntree { ligne, jour }))
}
