//! The collaboration between a CFA and a Mission Locale in the console (domain.md §11): writing in an
//! entry's thread and marking it read (both sides), and the CFA's request for a joint follow-up or its
//! refusal to share. Each form goes through the same command as its GraphQL mutation
//! (`envoyerMessage`, `marquerLu`, `demanderSuiviConjoint`, `refuserPartage`) and comes back to the
//! sheet, with what was refused and why.

use axum::Form;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use events::Channel;
use events::rupture::MotifSuivi;
use projections::ruptures::query;

use super::fiche::{auteur, issue};
use crate::app::fil::{EnvoyerMessage, envoyer_message, marquer_lu};
use crate::app::ruptures::Recorded;
use crate::app::ruptures::{
    DemanderSuiviConjoint, ReferentDemande, RefuserPartage, demander_suivi_conjoint, refuser_partage,
};
use crate::app::{AppState, CommandError};
use crate::auth::viewer::Viewer;

/// A form's fields, in order (a motif may be given more than once).
type Champs = Vec<(String, String)>;

/// The first value of `name`, trimmed; empty when absent.
fn champ(champs: &Champs, name: &str) -> String {
    champs.iter().find(|(n, _)| n == name).map(|(_, v)| v.trim().to_owned()).unwrap_or_default()
}

/// `name`'s value, none when empty.
fn option(champs: &Champs, name: &str) -> Option<String> {
    Some(champ(champs, name)).filter(|v| !v.is_empty())
}

/// The dossier of an entry as the reader sees it (the CFA's commands name the dossier).
async fn dossier(state: &AppState, entree: &str) -> Result<String, CommandError> {
    let ligne =
        query::une(&mut *state.pool.acquire().await?, entree, chrono::Utc::now().date_naive()).await?;
    ligne.map(|l| l.dossier_id).ok_or_else(|| CommandError::NotFound(format!("{entree} : aucune entrée")))
}

/// The request as the form gives it: the motifs ticked, a comment per motif (`commentaire_<MOTIF>`),
/// the contacts verified with the young person, the referent (when named).
fn demande(dossier: String, champs: &Champs) -> Result<DemanderSuiviConjoint, CommandError> {
    let mut motifs = std::collections::BTreeSet::new();
    for (_, valeur) in champs.iter().filter(|(n, _)| n == "motif") {
        let motif = MotifSuivi::parse(valeur)
            .ok_or_else(|| CommandError::invalid("motifs", format!("{valeur:?} n'est pas un motif")))?;
        motifs.insert(motif);
    }
    let commentaires_motifs = motifs
        .iter()
        .filter_map(|m| option(champs, &format!("commentaire_{}", m.as_str())).map(|c| (*m, c)))
        .collect();
    let referent = [
        option(champs, "referent_nom"),
        option(champs, "referent_prenom"),
        option(champs, "referent_email"),
        option(champs, "referent_telephone"),
    ];
    let referent = referent.iter().any(Option::is_some).then(|| ReferentDemande {
        nom: champ(champs, "referent_nom"),
        prenom: champ(champs, "referent_prenom"),
        email: option(champs, "referent_email"),
        telephone: option(champs, "referent_telephone"),
    });
    Ok(DemanderSuiviConjoint {
        dossier,
        motifs,
        commentaire: option(champs, "commentaire"),
        telephone_verifie: champ(champs, "telephone"),
        commentaires_motifs,
        encore_au_cfa: match champ(champs, "encore_au_cfa").as_str() {
            "oui" => Some(true),
            "non" => Some(false),
            _ => None,
        },
        cause_rupture: option(champs, "cause"),
        referent,
        email_verifie: option(champs, "email"),
        adresse_verifiee: option(champs, "adresse"),
    })
}

/// A form of the sheet of `entree`: by its author (signed in, with the session's token), `commande`
/// carried out, then the sheet again, saying `succes` or what was refused.
async fn formulaire<F>(
    state: AppState,
    headers: HeaderMap,
    entree: String,
    champs: Champs,
    succes: &str,
    commande: impl FnOnce(AppState, Viewer, String, Champs) -> F,
) -> Response
where
    F: Future<Output = Result<Option<Recorded>, CommandError>>,
{
    let viewer = match auteur(&state, &headers, &champ(&champs, "csrf")).await {
        Ok(viewer) => viewer,
        Err(page) => return page,
    };
    let outcome = commande(state.clone(), viewer, entree.clone(), champs).await;
    issue(&state, &headers, &entree, outcome, succes).await
}

pub(super) async fn message(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(entree): Path<String>,
    Form(champs): Form<Champs>,
) -> Response {
    formulaire(state, headers, entree, champs, "message", |state, viewer, entree, champs| async move {
        let command = EnvoyerMessage { entree, texte: champ(&champs, "texte") };
        envoyer_message(&state.pool, &state.store, &viewer, Channel::Console, command).await.map(Some)
    })
    .await
}

pub(super) async fn lu(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(entree): Path<String>,
    Form(champs): Form<Champs>,
) -> Response {
    formulaire(state, headers, entree, champs, "lu", |state, viewer, entree, _| async move {
        marquer_lu(&state.pool, &state.store, &viewer, Channel::Console, &entree).await
    })
    .await
}

pub(super) async fn suivi_conjoint(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(entree): Path<String>,
    Form(champs): Form<Champs>,
) -> Response {
    formulaire(state, headers, entree, champs, "demande", |state, viewer, entree, champs| async move {
        let command = demande(dossier(&state, &entree).await?, &champs)?;
        demander_suivi_conjoint(&state.pool, &state.store, &viewer, Channel::Console, command).await.map(Some)
    })
    .await
}

pub(super) async fn refus(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(entree): Path<String>,
    Form(champs): Form<Champs>,
) -> Response {
    formulaire(state, headers, entree, champs, "refus", |state, viewer, entree, champs| async move {
        let command =
            RefuserPartage { dossier: dossier(&state, &entree).await?, motif: champ(&champs, "motif") };
        refuser_partage(&state.pool, &state.store, &viewer, Channel::Console, command).await.map(Some)
    })
    .await
}
