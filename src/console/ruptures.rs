//! The Mission Locale advisor's queue (domain.md §14, §7): the counts per list and rupture month first,
//! then a list (à traiter, à recontacter, traités; prioritaires first, then the newest ruptures),
//! narrowed by the residence's postal code; a person's sheet; qualifying a situation. Read through the
//! same query functions and access rules as the GraphQL `ruptures`, `rupture` and `renseignerSituation`;
//! every page that shows a young person is recorded in the access journal like their GraphQL reads.

use std::collections::HashMap;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::Utc;
use events::RecordedEvent;
use events::rupture::{Connaissance, Situation};
use projections::ruptures::query::{self, Demande, Liste};
use serde::Deserialize;

use super::pages::{Fiche, File, Identite, LigneFile, Message, Refus, internal, render};
use super::web::{redirect, refuse_csrf, session_of};
use crate::app::AppState;
use crate::app::CommandError;
use crate::app::ruptures::{RenseignerSituation, renseigner_situation};
use crate::auth::access_log;
use crate::auth::comptes::Session;
use crate::auth::viewer::{AccessError, Viewer};

/// How long a form's answer waits for the queue to hold what it recorded.
const RATTRAPAGE: std::time::Duration = std::time::Duration::from_secs(5);

/// A page of a list holds this many entries.
const PAGE: i64 = 100;

/// The identity in a dossier's or a DECA contract's events (personal data already opened).
fn identite(events: &[RecordedEvent]) -> Option<Identite> {
    if events.first().is_some_and(|e| e.stream_id.starts_with("deca-")) {
        let contrat = events::deca::contrat_de(events)?;
        let a = contrat.contrat.apprenti;
        return Some(Identite {
            nom: a.nom.to_uppercase(),
            prenom: a.prenom,
            telephone: a.telephone.map(|t| t.to_string()),
            email: a.email.map(|e| e.to_string()),
        });
    }
    let p = events::dossier::Dossier::from_log(events.iter()).inscription?.personnel;
    Some(Identite {
        nom: p.nom,
        prenom: p.prenom,
        telephone: p.coordonnees.telephone.map(|t| t.to_string()),
        email: p.coordonnees.email.map(|e| e.to_string()),
    })
}

/// The identities of these entries' dossiers, by dossier id, read in one query.
pub(super) async fn identites(
    state: &AppState,
    dossiers: &[&str],
) -> Result<HashMap<String, Identite>, String> {
    let streams: Vec<String> = dossiers.iter().map(|d| stream_of(d).to_owned()).collect();
    let read = state.store.read_streams(&streams).await.map_err(|e| e.to_string())?;
    Ok(dossiers.iter().filter_map(|d| Some(((*d).to_owned(), identite(read.get(stream_of(d))?)?))).collect())
}

/// The stream of an entry's dossier (a DECA contract's dossier id names its année).
fn stream_of(dossier_id: &str) -> &str {
    match dossier_id.split_once(':') {
        Some((stream, _)) if dossier_id.starts_with("deca-") => stream,
        _ => dossier_id,
    }
}

/// The signed-in person and what they may read of the queue; else the page to answer with.
pub(super) async fn lecteur(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<(Session, Viewer, query::Qui), Response> {
    let session = match session_of(state, headers).await {
        Ok(Some(session)) => session,
        Ok(None) => return Err(redirect("/console/connexion", Vec::new())),
        Err(error) => return Err(internal(error)),
    };
    let viewer = Viewer::Key(session.principal.clone());
    match viewer.ruptures(None) {
        Ok(qui) => Ok((session, viewer, qui)),
        Err(AccessError::Database(error)) => Err(internal(error)),
        Err(_) => Err(render(
            StatusCode::FORBIDDEN,
            &Refus::new("Votre rôle ne donne pas accès à une file de ruptures."),
        )),
    }
}

/// A postal code as a filter: five letters or digits, else none.
pub(super) fn code_postal(cp: Option<String>) -> Option<String> {
    cp.map(|c| c.trim().to_owned()).filter(|c| c.len() == 5 && c.bytes().all(|b| b.is_ascii_alphanumeric()))
}

#[derive(Deserialize)]
pub(super) struct Filtre {
    liste: Option<String>,
    cp: Option<String>,
}

pub(super) async fn file(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(filtre): Query<Filtre>,
) -> Response {
    let (session, _, qui) = match lecteur(&state, &headers).await {
        Ok(reader) => reader,
        Err(page) => return page,
    };
    let liste = filtre.liste.as_deref().and_then(Liste::parse).unwrap_or(Liste::ATraiter);
    let cp = code_postal(filtre.cp);
    let jour = Utc::now().date_naive();
    let mut conn = match state.pool.acquire().await {
        Ok(conn) => conn,
        Err(error) => return internal(error),
    };
    let comptes = match query::comptes(&mut conn, &qui, jour, cp.as_deref()).await {
        Ok(comptes) => comptes,
        Err(error) => return internal(error),
    };
    let demande = Demande {
        qui: qui.clone(),
        jour,
        liste: Some(liste),
        code_postal: cp.clone(),
        mois: None,
        anciennete: None,
        apres: None,
        premiers: PAGE,
    };
    let lignes = match query::liste(&mut conn, &demande).await {
        Ok(lignes) => lignes,
        Err(error) => return internal(error),
    };
    drop(conn);
    let dossiers: Vec<&str> = lignes.iter().map(|l| l.dossier_id.as_str()).collect();
    let noms = match identites(&state, &dossiers).await {
        Ok(noms) => noms,
        Err(error) => return internal(error),
    };
    // That a queue was looked at is itself a read, an empty page too.
    let ids: Vec<&str> = lignes.iter().map(|l| l.entree.as_str()).collect();
    let subject = format!("{qui:?} {} au {jour} (console)", liste.as_str());
    let details = serde_json::json!({ "entrees": ids });
    if let Err(error) =
        access_log::record(&state.pool, &session.principal, "ruptures", &subject, details).await
    {
        return internal(error);
    }
    let lignes = lignes
        .iter()
        .map(|l| LigneFile::of(l, noms.get(&l.dossier_id).cloned().unwrap_or_default(), jour))
        .collect();
    render(StatusCode::OK, &File::new(&session, comptes, liste, cp, lignes))
}

#[derive(Deserialize)]
pub(super) struct Retour {
    ok: Option<String>,
}

pub(super) async fn fiche(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(entree): Path<String>,
    Query(retour): Query<Retour>,
) -> Response {
    let message = retour.ok.map(|_| Message::Succes("Situation enregistrée.".into()));
    afficher(&state, &headers, &entree, StatusCode::OK, message).await
}

/// The sheet of an entry, with a message (the outcome of a form) if any.
async fn afficher(
    state: &AppState,
    headers: &HeaderMap,
    entree: &str,
    status: StatusCode,
    message: Option<Message>,
) -> Response {
    let (session, _, qui) = match lecteur(state, headers).await {
        Ok(reader) => reader,
        Err(page) => return page,
    };
    let jour = Utc::now().date_naive();
    let ligne = match state.pool.acquire().await {
        Ok(mut conn) => query::une(&mut conn, entree, jour).await,
        Err(error) => return internal(error),
    };
    let ligne = match ligne {
        Ok(ligne) => ligne.filter(|l| Viewer::may_read_entree(&qui, l)),
        Err(error) => return internal(error),
    };
    let Some(ligne) = ligne else {
        return render(
            StatusCode::NOT_FOUND,
            &Refus::new("Aucune entrée de votre file ne porte cet identifiant."),
        );
    };
    let identite = match identites(state, &[ligne.dossier_id.as_str()]).await {
        Ok(mut noms) => noms.remove(&ligne.dossier_id).unwrap_or_default(),
        Err(error) => return internal(error),
    };
    let details = serde_json::json!({ "entrees": [&ligne.entree] });
    if let Err(error) =
        access_log::record(&state.pool, &session.principal, "rupture", &ligne.entree, details).await
    {
        return internal(error);
    }
    let actions = match state.pool.acquire().await {
        Ok(mut conn) => query::historiques(&mut conn, std::slice::from_ref(&ligne.entree)).await,
        Err(error) => return internal(error),
    };
    let mut page = Fiche::new(&session, &ligne, identite, jour, message);
    page.historique = match actions {
        Ok(actions) => actions.iter().map(action).collect(),
        Err(error) => return internal(error),
    };
    render(status, &page)
}

/// An action as the sheet lists it: when, who, what, the situation, the comment.
fn action(a: &query::Action) -> (String, String, String, String, String) {
    let quoi = match a.event_type.as_str() {
        "SituationRenseignee" => "Situation renseignée",
        "SuiviConjointDemande" => "Suivi conjoint demandé par le CFA",
        "PartageRefuse" => "Partage refusé par le CFA",
        other => other,
    };
    let texte = |field: &str| a.data[field].as_str().unwrap_or_default().to_owned();
    (
        a.recorded_at.format("%d/%m/%Y %H:%M").to_string(),
        a.organisation.clone(),
        quoi.to_owned(),
        a.data["situation"].as_str().map_or(String::new(), |s| super::pages::situation_libelle(s).to_owned()),
        texte("commentaire"),
    )
}

#[derive(Deserialize)]
pub(super) struct Qualification {
    csrf: String,
    situation: String,
    #[serde(default)]
    situation_autre: String,
    #[serde(default)]
    commentaire: String,
    #[serde(default)]
    connaissance: String,
    #[serde(default)]
    probleme_type: String,
    #[serde(default)]
    probleme_detail: String,
    #[serde(default)]
    souhaite_rdv: Option<String>,
}

pub(super) async fn qualifier(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(entree): Path<String>,
    Form(form): Form<Qualification>,
) -> Response {
    let (session, viewer, _) = match lecteur(&state, &headers).await {
        Ok(reader) => reader,
        Err(page) => return page,
    };
    if session.csrf != form.csrf {
        return refuse_csrf();
    }
    let texte = |t: String| Some(t.trim().to_owned()).filter(|t| !t.is_empty());
    let Some(situation) = Situation::parse(&form.situation) else {
        let message = format!("Situation : {:?} n'est pas une situation connue.", form.situation);
        return afficher(&state, &headers, &entree, StatusCode::BAD_REQUEST, Some(Message::Erreur(message)))
            .await;
    };
    let command = RenseignerSituation {
        entree: entree.clone(),
        situation,
        situation_autre: texte(form.situation_autre),
        commentaire: texte(form.commentaire),
        connaissance: Connaissance::parse(&form.connaissance),
        probleme_type: events::rupture::ProblemeType::parse(&form.probleme_type),
        probleme_detail: texte(form.probleme_detail),
        souhaite_rdv: form.souhaite_rdv.is_some(),
    };
    match renseigner_situation(&state.pool, &state.store, &viewer, events::Channel::Console, command).await {
        Ok(recorded) => {
            // The sheet shown next reads the queue: it waits (a while) for the queue to hold the action.
            let checkpoint = crate::read_models::checkpoint(crate::read_models::ReadModel::Ruptures);
            if !state.store.wait_checkpoint(&checkpoint, recorded.position, RATTRAPAGE).await {
                tracing::warn!(
                    position = recorded.position,
                    "the queue did not include the situation in time"
                );
            }
            redirect(&format!("/console/ruptures/{entree}?ok=1"), Vec::new())
        }
        Err(CommandError::Invalid { field, message }) => {
            let message = format!("{field} : {message}");
            afficher(&state, &headers, &entree, StatusCode::BAD_REQUEST, Some(Message::Erreur(message))).await
        }
        Err(CommandError::Forbidden(message)) => {
            afficher(&state, &headers, &entree, StatusCode::FORBIDDEN, Some(Message::Erreur(message))).await
        }
        Err(CommandError::NotFound(message)) => {
            afficher(&state, &headers, &entree, StatusCode::NOT_FOUND, Some(Message::Erreur(message))).await
        }
        Err(CommandError::Conflict(message)) => {
            afficher(&state, &headers, &entree, StatusCode::CONFLICT, Some(Message::Erreur(message))).await
        }
        Err(error) => internal(format!("{error:?}")),
    }
}

/// The queue as a spreadsheet (`format=xlsx`, default, or `csv`; `liste=` one list): a Mission Locale's
/// or a CFA's, exactly as the REST exports give it (a journaled read).
pub(super) async fn export(
    State(state): State<AppState>,
    headers: HeaderMap,
    params: Result<Query<crate::http::missions_locales::Params>, axum::extract::rejection::QueryRejection>,
) -> Response {
    use axum::response::IntoResponse;
    let (session, _, _) = match lecteur(&state, &headers).await {
        Ok(reader) => reader,
        Err(page) => return page,
    };
    let principal = session.principal.clone();
    let caller = crate::http::caller::Caller(principal.clone());
    let answer = match (&principal.organisme, &principal.scope) {
        (Some(organisme), _) => {
            crate::http::missions_locales::export_organisme(
                State(state),
                caller,
                Path(organisme.to_string()),
                params,
            )
            .await
        }
        (None, Some(scope)) if scope.kind == "MISSION_LOCALE" => {
            crate::http::missions_locales::export(State(state), caller, Path(scope.value.clone()), params)
                .await
        }
        _ => {
            return render(
                StatusCode::FORBIDDEN,
                &Refus::new("L'export est celui d'une Mission Locale ou d'un CFA."),
            );
        }
    };
    answer.into_response()
}
