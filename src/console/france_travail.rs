//! The France Travail advisor's queue (domain.md §14, §12): the adults of their région enrolled without
//! a contract, the oldest enrolments first (flagged from 90 days), by sector; a person's sheet; one
//! situation per sector with a comment. Read and recorded through the same functions and access rules
//! as GraphQL's `franceTravail`, `franceTravailEntree` and `renseignerSituationFranceTravail`; every
//! page showing a person is a journaled read.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::{NaiveDate, Utc};
use events::france_travail::SituationFt;
use projections::france_travail::query::{self, Demande, Ligne, ListeFt, Perimetre};
use projections::ruptures::entree::age;
use serde::Deserialize;

use super::fiche::identites;
use super::pages::{Identite, Message, Refus, internal, render};
use super::web::{autorise, redirect, refuse_csrf};
use crate::app::france_travail::{RenseignerSituationFt, renseigner};
use crate::app::{AppState, CommandError};
use crate::auth::comptes::Session;
use crate::auth::viewer::Viewer;

/// Entries shown per page.
const PAGE: i64 = 100;
/// How long a form's answer waits for the queue to hold what it recorded.
const RATTRAPAGE: std::time::Duration = std::time::Duration::from_secs(5);

async fn conseiller(state: &AppState, headers: &HeaderMap) -> Result<(Session, Viewer, Perimetre), Response> {
    autorise(
        state,
        headers,
        |viewer| viewer.france_travail(None),
        "Cette file est celle des conseillers France Travail.",
    )
    .await
}

/// A situation as the console names it.
fn situation_libelle(situation: &str) -> &'static str {
    match situation {
        "REORIENTATION" => "Réorientation",
        "ENTREPRISE" => "Entreprise trouvée",
        "PAS_DE_RECONTACT" => "Pas de recontact",
        "EVENEMENT" => "Invité à un événement",
        "MISSION_LOCALE" => "Orienté vers la Mission Locale",
        "ERROR" => "Erreur de données",
        "FT_SERVICES" => "Services France Travail",
        _ => "—",
    }
}

/// An entry of the list.
pub(super) struct LigneFt {
    entree: String,
    nom: String,
    age: i32,
    jours: i32,
    alerte: bool,
    departement: String,
    secteurs: String,
    situations: String,
}

#[derive(Template)]
#[template(path = "console/france_travail.html")]
pub(super) struct FileFt {
    nav: super::pages::Nav,
    secteur: String,
    liste: &'static str,
    lignes: Vec<LigneFt>,
}

#[derive(Deserialize)]
pub(super) struct Filtre {
    secteur: Option<String>,
    liste: Option<String>,
}

fn secteur(text: Option<String>) -> Option<String> {
    events::formation::parse_secteur(text.as_deref().unwrap_or_default()).ok().flatten()
}

fn resume(ligne: &Ligne) -> String {
    ligne
        .situations
        .0
        .iter()
        .map(|s| format!("{} : {}", s.secteur, situation_libelle(&s.situation)))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) async fn file(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(filtre): Query<Filtre>,
) -> Response {
    let (session, _, perimetre) = match conseiller(&state, &headers).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let secteur = secteur(filtre.secteur);
    let liste = match (filtre.liste.as_deref(), &secteur) {
        (Some("TRAITES"), Some(_)) => Some(ListeFt::Traites),
        (_, Some(_)) => Some(ListeFt::ATraiter),
        _ => None,
    };
    let jour = Utc::now().date_naive();
    let demande = Demande {
        perimetre,
        jour,
        secteur: secteur.clone(),
        liste,
        departement: None,
        apres: None,
        premiers: PAGE,
    };
    let lignes = match state.pool.acquire().await {
        Ok(mut conn) => query::liste(&mut conn, &demande).await,
        Err(error) => return internal(error),
    };
    let lignes = match lignes {
        Ok(lignes) => lignes,
        Err(error) => return internal(error),
    };
    let dossiers: Vec<&str> = lignes.iter().map(|l| l.dossier_id.as_str()).collect();
    let noms = match identites(&state, &dossiers).await {
        Ok(noms) => noms,
        Err(error) => return internal(error),
    };
    let ids: Vec<&str> = lignes.iter().map(|l| l.entree.as_str()).collect();
    let subject = format!("{:?} {:?} au {jour} (console)", demande.perimetre, demande.secteur);
    let details = serde_json::json!({ "entrees": ids });
    if let Err(error) = state.journal.record(&session.principal, "franceTravail", &subject, details).await {
        return internal(error);
    }
    let lignes = lignes
        .iter()
        .map(|l| LigneFt {
            entree: l.entree.clone(),
            nom: noms.get(&l.dossier_id).map(|i| format!("{} {}", i.nom, i.prenom)).unwrap_or_default(),
            age: age(l.date_de_naissance, jour),
            jours: l.jours,
            alerte: l.alerte(),
            departement: l.departement.clone().unwrap_or_default(),
            secteurs: l.secteurs.join(", "),
            situations: resume(l),
        })
        .collect();
    let liste = match liste {
        Some(ListeFt::Traites) => "Traités",
        Some(ListeFt::ATraiter) => "À traiter",
        None => "Toute la file",
    };
    render(
        StatusCode::OK,
        &FileFt { nav: super::pages::Nav::of(&session), secteur: secteur.unwrap_or_default(), liste, lignes },
    )
}

#[derive(Template)]
#[template(path = "console/france_travail_fiche.html")]
pub(super) struct FicheFt {
    nav: super::pages::Nav,
    csrf: String,
    entree: String,
    identite: Identite,
    age: i32,
    debut: String,
    jours: i32,
    alerte: bool,
    formation: String,
    departement: String,
    secteurs: Vec<String>,
    situations: String,
    choix: Vec<(&'static str, &'static str)>,
    message: Option<Message>,
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

async fn afficher(
    state: &AppState,
    headers: &HeaderMap,
    entree: &str,
    status: StatusCode,
    message: Option<Message>,
) -> Response {
    let (session, _, perimetre) = match conseiller(state, headers).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let jour: NaiveDate = Utc::now().date_naive();
    let ligne = match state.pool.acquire().await {
        Ok(mut conn) => query::une(&mut conn, entree, jour).await,
        Err(error) => return internal(error),
    };
    let ligne = match ligne {
        Ok(ligne) => ligne.filter(|l| l.visible && crate::app::france_travail::may_read(&perimetre, l)),
        Err(error) => return internal(error),
    };
    let Some(l) = ligne else {
        return render(
            StatusCode::NOT_FOUND,
            &Refus::new("Aucune entrée de votre file ne porte cet identifiant."),
        );
    };
    let identite = match identites(state, &[l.dossier_id.as_str()]).await {
        Ok(mut noms) => noms.remove(&l.dossier_id).unwrap_or_default(),
        Err(error) => return internal(error),
    };
    let details = serde_json::json!({ "entrees": [&l.entree] });
    if let Err(error) =
        state.journal.record(&session.principal, "franceTravailEntree", &l.entree, details).await
    {
        return internal(error);
    }
    let page = FicheFt {
        nav: super::pages::Nav::of(&session),
        csrf: session.csrf.clone(),
        entree: l.entree.clone(),
        identite,
        age: age(l.date_de_naissance, jour),
        debut: l.debut.format("%d/%m/%Y").to_string(),
        jours: l.jours,
        alerte: l.alerte(),
        formation: l.cfd.clone().or_else(|| l.rncp.clone()).unwrap_or_default(),
        departement: l.departement.clone().unwrap_or_default(),
        secteurs: l.secteurs.clone(),
        situations: resume(&l),
        choix: SituationFt::ALL.iter().map(|s| (s.as_str(), situation_libelle(s.as_str()))).collect(),
        message,
    };
    render(status, &page)
}

#[derive(Deserialize)]
pub(super) struct Qualification {
    csrf: String,
    secteur: String,
    situation: String,
    #[serde(default)]
    commentaire: String,
}

pub(super) async fn qualifier(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(entree): Path<String>,
    Form(form): Form<Qualification>,
) -> Response {
    let (session, viewer, _) = match conseiller(&state, &headers).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    if session.csrf != form.csrf {
        return refuse_csrf();
    }
    let erreur = |message: String| Some(Message::Erreur(message));
    let Some(situation) = SituationFt::parse(&form.situation) else {
        let message = format!("situation : {:?} n'est pas une situation connue", form.situation);
        return afficher(&state, &headers, &entree, StatusCode::BAD_REQUEST, erreur(message)).await;
    };
    let commentaire = Some(form.commentaire.trim().to_owned()).filter(|c| !c.is_empty());
    let command =
        RenseignerSituationFt { entree: entree.clone(), secteur: form.secteur, situation, commentaire };
    match renseigner(&state.pool, &state.store, &viewer, events::Channel::Console, command).await {
        Ok(recorded) => {
            let checkpoint = crate::read_models::checkpoint(crate::read_models::ReadModel::FranceTravail);
            if !state.store.wait_checkpoint(&checkpoint, recorded.position, RATTRAPAGE).await {
                tracing::warn!(
                    position = recorded.position,
                    "the queue did not include the situation in time"
                );
            }
            redirect(&format!("/console/france-travail/{entree}?ok=1"), Vec::new())
        }
        Err(CommandError::Invalid { field, message }) => {
            afficher(
                &state,
                &headers,
                &entree,
                StatusCode::BAD_REQUEST,
                erreur(format!("{field} : {message}")),
            )
            .await
        }
        Err(CommandError::NotFound(message) | CommandError::Forbidden(message)) => {
            afficher(&state, &headers, &entree, StatusCode::NOT_FOUND, erreur(message)).await
        }
        Err(error) => internal(format!("{error:?}")),
    }
}
