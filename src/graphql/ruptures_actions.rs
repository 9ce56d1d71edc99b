//! What Missions Locales and CFAs do about a rupture, each an event of the log with who and when
//! (domain.md §7): an advisor records a situation (`renseignerSituation`, on the person's follow-up
//! stream), a CFA asks for a joint follow-up (`demanderSuiviConjoint`, same stream) or declares a
//! rupture itself (`declarerRupture`, a `RuptureEnregistree` on the dossier's stream, at the version it
//! read). Every input is checked first, naming the field refused; then one append. The answer is the
//! entry once the queue has caught up with it.

use std::time::Duration;

use async_graphql::{Context, Error, ID, Object, SimpleObject};
use chrono::Utc;
use events::domain::Telephone;
use events::dossier::DossierEvent;
use events::dossier::event::Rupture;
use events::rupture::{self as suivi, RuptureEvent, SituationRenseignee, SuiviConjointDemande};
use events::{Actor, AppendError, Channel, EventStore, ExpectedVersion, Metadata, NewEvent};
use projections::ruptures::query::{self, Ligne, Qui};
use sqlx::PgPool;
use uuid::Uuid;

use events::limits::Texte;

use super::error::{Code, OrInternal, bad_input, error, internal};
use super::ruptures::{ConnaissanceMl, MotifSuivi, RuptureEntree, Situation};
use super::types::Date;
use crate::auth::Role;
use crate::auth::viewer::Viewer;

/// Longest free text accepted.
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

#[derive(Default)]
pub struct RupturesMutation;

#[Object]
impl RupturesMutation {
    /// Record an advisor's situation for an entry of the Mission Locale's queue (its MISSION_LOCALE key,
    /// or ADMINISTRATEUR): `situationAutre` says what AUTRE is (and only then); a comment, and whether
    /// the Mission Locale already knew the person, may go with it. `situationAutre` holds 500
    /// characters at most, `commentaire` 5,000 (line breaks kept, other control characters refused).
    async fn renseigner_situation(
        &self,
        ctx: &Context<'_>,
        entree: ID,
        situation: Situation,
        situation_autre: Option<String>,
        commentaire: Option<String>,
        connaissance: Option<ConnaissanceMl>,
    ) -> Result<RuptureEntree, Error> {
        let viewer = ctx.data::<Viewer>()?;
        let principal =
            viewer.require(&[Role::MissionLocale, Role::Administrateur], "qualifier une entrée")?;
        let qui = viewer.ruptures(None)?;
        let situation: suivi::Situation = situation.into();
        let situation_autre = texte("situationAutre", situation_autre, Texte::Libelle)?;
        match (situation, &situation_autre) {
            (suivi::Situation::Autre, None) => {
                return Err(bad_input("situationAutre", "dites quelle est la situation AUTRE"));
            }
            (s, Some(_)) if s != suivi::Situation::Autre => {
                return Err(bad_input("situationAutre", "seulement avec la situation AUTRE"));
            }
            _ => {}
        }
        let commentaire = texte("commentaire", commentaire, Texte::Commentaire)?;
        let ligne = visible_entry(ctx, &qui, &entree).await?;
        let Some(ml) = ligne.ml_id.clone() else { return Err(bad_input("entree", "sans Mission Locale")) };
        let event = RuptureEvent::Situation(SituationRenseignee {
            mission_locale: ml.clone(),
            date_rupture: ligne.date_rupture,
            situation,
            situation_autre,
            commentaire,
            connaissance: connaissance.map(Into::into),
        });
        let organisation = match principal.role {
            Role::MissionLocale => format!("MISSION_LOCALE:{ml}"),
            _ => principal.actor().organisation,
        };
        let position = append_action(ctx, &ligne.entree, &event, organisation).await?;
        answer(ctx, &ligne.entree, position).await?.ok_or_else(|| internal("entry vanished"))
    }

    /// Ask the Mission Locale for a joint follow-up of the rupture of one of the organisme's dossiers
    /// (its key, or ADMINISTRATEUR): at least one motif (a comment with AUTRE), and the young person's
    /// phone number as the CFA just verified it with them. `commentaire` holds 5,000 characters at
    /// most (line breaks kept, other control characters refused).
    async fn demander_suivi_conjoint(
        &self,
        ctx: &Context<'_>,
        dossier: ID,
        motifs: Vec<MotifSuivi>,
        commentaire: Option<String>,
        telephone_verifie: String,
    ) -> Result<RuptureEntree, Error> {
        let viewer = ctx.data::<Viewer>()?;
        let principal = viewer
            .require(&[Role::OrganismeFormation, Role::Administrateur], "demander un suivi conjoint")?;
        let motifs: std::collections::BTreeSet<suivi::MotifSuivi> =
            motifs.into_iter().map(Into::into).collect();
        if motifs.is_empty() {
            return Err(bad_input("motifs", "au moins un motif"));
        }
        let commentaire = texte("commentaire", commentaire, Texte::Commentaire)?;
        if motifs.contains(&suivi::MotifSuivi::Autre) && commentaire.is_none() {
            return Err(bad_input("commentaire", "dites en commentaire quel est le motif AUTRE"));
        }
        let telephone = Telephone::parse(&telephone_verifie).map_err(|e| bad_input("telephoneVerifie", e))?;
        let pool = ctx.data::<PgPool>()?;
        let personne: Option<String> =
            sqlx::query_scalar("SELECT personne FROM rm_rupture_dossiers WHERE dossier_id = $1")
                .bind(dossier.as_str())
                .fetch_optional(pool)
                .await
                .or_internal()?;
        let qui = viewer.ruptures(None)?;
        let ligne = match personne {
            Some(p) => query::une(&mut *pool.acquire().await.or_internal()?, &p, Utc::now().date_naive())
                .await
                .or_internal()?,
            None => None,
        };
        let Some(ligne) = ligne.filter(|l| Viewer::may_read_entree(&qui, l) && l.dossier_id == dossier.0)
        else {
            return Err(bad_input(
                "dossier",
                format!("{} n'a pas de rupture dans la file d'une Mission Locale", dossier.0),
            ));
        };
        let event = RuptureEvent::SuiviConjoint(SuiviConjointDemande {
            dossier_id: dossier.0.clone(),
            date_rupture: ligne.date_rupture,
            motifs,
            commentaire,
            telephone_verifie: Some(telephone),
        });
        let organisation = principal.actor().organisation;
        let position = append_action(ctx, &ligne.entree, &event, organisation).await?;
        answer(ctx, &ligne.entree, position).await?.ok_or_else(|| internal("entry vanished"))
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
        let viewer = ctx.data::<Viewer>()?;
        let principal =
            viewer.require(&[Role::OrganismeFormation, Role::Administrateur], "déclarer une rupture")?;
        let today = Utc::now().date_naive();
        let date = date_rupture.0;
        if date > today {
            return Err(bad_input("dateRupture", format!("{date} est dans le futur")));
        }
        if date < today - chrono::Duration::days(365) {
            return Err(bad_input("dateRupture", format!("{date} a plus d'un an")));
        }
        let cause = texte("cause", cause, Texte::Libelle)?;
        let store = ctx.data::<EventStore>()?;
        let recorded = store.read_stream(dossier.as_str(), 1, i64::MAX).await.or_internal()?;
        let folded = events::dossier::Dossier::from_log(recorded.iter());
        let not_found =
            || bad_input("dossier", format!("{} : aucun dossier que vous puissiez modifier", dossier.0));
        let Some(inscription) = &folded.inscription else { return Err(not_found()) };
        if let Some(own) = &principal.organisme {
            let own = (own.uai.as_str(), own.siret.as_str());
            let formateur = (inscription.formateur.uai.as_str(), inscription.formateur.siret.as_str());
            let responsable = (inscription.responsable.uai.as_str(), inscription.responsable.siret.as_str());
            if own != formateur && own != responsable {
                return Err(not_found());
            }
        }
        let contrat = folded
            .contrats
            .values()
            .rfind(|c| {
                c.rupture.is_none()
                    && c.contrat.date_debut < date
                    && c.contrat.date_fin.is_none_or(|fin| date <= fin)
            })
            .ok_or_else(|| {
                bad_input(
                    "dateRupture",
                    format!("aucun contrat du dossier n'était en cours le {date} sans rupture"),
                )
            })?;
        let event = DossierEvent::RuptureEnregistree(Rupture {
            date_debut_contrat: contrat.contrat.date_debut,
            date_rupture: date,
            cause,
        });
        let metadata = metadata(principal.actor());

        let version = recorded.last().map_or(0, |e| e.version);
        let outcome = store
            .append(
                dossier.0.clone(),
                ExpectedVersion::Exact(version),
                vec![event.to_new_event(date, metadata)],
            )
            .await
            .map_err(|e| match e {
                AppendError::Conflict { .. } => error(
                    Code::Conflict,
                    format!("{} a changé pendant la déclaration : relisez-le", dossier.0),
                ),
                other => internal(other),
            })?;
        let position = outcome.positions[0];
        let personne = inscription.personne.identite.clone();
        let entree = answer(ctx, &personne, position).await?;
        Ok(RuptureDeclaree { dossier_id: dossier, position, entree })
    }
}

/// What every event of these mutations carries: who, through GraphQL, under a correlation of its own.
pub(super) fn metadata(actor: Actor) -> Metadata {
    Metadata {
        actor,
        channel: Channel::Graphql.into(),
        correlation_id: Some(Uuid::now_v7()),
        causation_id: None,
    }
}

/// Free text of a family (`events::limits::Texte`): trimmed, empty is none, within its length and
/// without control characters but line breaks.
fn texte(field: &str, value: Option<String>, famille: Texte) -> Result<Option<String>, Error> {
    let value = value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    if let Some(v) = &value {
        famille.check(v).map_err(|e| bad_input(field, e))?;
    }
    Ok(value)
}

/// The entry, visible today in a queue the caller reads; else a refusal naming `entree`.
async fn visible_entry(ctx: &Context<'_>, qui: &Qui, entree: &str) -> Result<Ligne, Error> {
    let pool = ctx.data::<PgPool>()?;
    let ligne = query::une(&mut *pool.acquire().await.or_internal()?, entree, Utc::now().date_naive())
        .await
        .or_internal()?;
    match ligne {
        Some(l) if Viewer::may_read_entree(qui, &l) && l.visible => Ok(l),
        Some(l) if Viewer::may_read_entree(qui, &l) => Err(bad_input(
            "entree",
            format!("{entree} n'est plus dans la file (nouveau contrat ou fin de formation)"),
        )),
        _ => Err(bad_input("entree", format!("{entree} : aucune entrée de votre file"))),
    }
}

/// Append a follow-up event on the person's stream; its position.
async fn append_action(
    ctx: &Context<'_>,
    entree: &str,
    event: &RuptureEvent,
    organisation: String,
) -> Result<i64, Error> {
    let viewer = ctx.data::<Viewer>()?;
    let principal = viewer.principal()?;
    // Who acted: the key, for the organisation it acts for.
    let actor = Actor { organisation, ..principal.actor() };
    // The entry is the person key: the comment and the verified phone are sealed under it.
    let new = NewEvent::new(event.event_type(), event.data())
        .about(entree)
        .occurred_at(Utc::now().date_naive())
        .with_metadata(metadata(actor));
    let store = ctx.data::<EventStore>()?;
    let outcome =
        store.append(suivi::stream_id(entree), ExpectedVersion::Any, vec![new]).await.map_err(internal)?;
    Ok(outcome.positions[0])
}

/// The entry once the queue includes `position` (or as it stands after `CATCH_UP`), waiting on the
/// projection's checkpoint without holding a connection.
async fn answer(ctx: &Context<'_>, entree: &str, position: i64) -> Result<Option<RuptureEntree>, Error> {
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

#[cfg(test)]
mod tests {
    use events::limits::Texte;

    #[test]
    fn free_text_is_trimmed_and_bounded() {
        assert_eq!(super::texte("commentaire", Some("  ".into()), Texte::Commentaire).unwrap(), None);
        assert_eq!(
            super::texte("commentaire", Some(" rappeler ".into()), Texte::Commentaire).unwrap().as_deref(),
            Some("rappeler")
        );
        let long = "x".repeat(Texte::Commentaire.max() + 1);
        let refused = super::texte("commentaire", Some(long), Texte::Commentaire).unwrap_err();
        assert!(refused.message.contains("commentaire") && refused.message.contains("5000"), "{refused:?}");
        let control = super::texte("situationAutre", Some("a\u{1b}b".into()), Texte::Libelle).unwrap_err();
        assert!(control.message.contains("contrôle"), "{control:?}");
    }
}
