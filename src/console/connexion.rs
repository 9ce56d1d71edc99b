//! Signing in and out, and setting a password through a one-time link.

use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;

use super::pages::{Accueil, Connexion, MotDePasse, internal, render};
use super::web::{
    CSRF, SESSION, cookie, csrf_avant, redirect, refuse_csrf, session_of, set_cookie, with_cookie,
};
use crate::app::AppState;
use crate::auth::comptes::{self, CompteError};

pub(super) async fn accueil(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match session_of(&state, &headers).await {
        Ok(Some(session)) => render(StatusCode::OK, &Accueil::of(&session)),
        Ok(None) => redirect("/console/connexion", Vec::new()),
        Err(error) => internal(error),
    }
}

#[derive(Deserialize)]
pub(super) struct Retour {
    ok: Option<String>,
}

pub(super) async fn connexion_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    axum::extract::Query(retour): axum::extract::Query<Retour>,
) -> Response {
    if let Ok(Some(_)) = session_of(&state, &headers).await {
        return redirect("/console", Vec::new());
    }
    let (csrf, set) = csrf_avant(&headers);
    let message =
        retour.ok.as_deref().map(|_| "Votre mot de passe est enregistré : connectez-vous.".to_owned());
    let page = Connexion { csrf, email: String::new(), erreur: None, message };
    with_cookie(render(StatusCode::OK, &page), set)
}

#[derive(Deserialize)]
pub(super) struct ConnexionForm {
    email: String,
    mot_de_passe: String,
    csrf: String,
}

pub(super) async fn connexion(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<ConnexionForm>,
) -> Response {
    if cookie(&headers, CSRF).as_deref() != Some(form.csrf.as_str()) {
        return refuse_csrf();
    }
    let erreur = |status: StatusCode, error: CompteError| {
        let page = Connexion {
            csrf: form.csrf.clone(),
            email: form.email.clone(),
            erreur: Some(error.to_string()),
            message: None,
        };
        render(status, &page)
    };
    match comptes::connecter(&state.pool, &form.email, &form.mot_de_passe).await {
        Ok(ouverte) => {
            let cookie = set_cookie(&headers, SESSION, &ouverte.token, comptes::DUREE.num_seconds());
            redirect("/console", vec![cookie])
        }
        Err(error @ CompteError::Identifiants) => erreur(StatusCode::UNAUTHORIZED, error),
        Err(error @ CompteError::Bloque) => erreur(StatusCode::TOO_MANY_REQUESTS, error),
        Err(error) => internal(error),
    }
}

#[derive(Deserialize)]
pub(super) struct CsrfForm {
    csrf: String,
}

/// Sign out of this session, or of every session of the account.
pub(super) async fn sortir(state: &AppState, headers: &HeaderMap, csrf: &str, partout: bool) -> Response {
    let session = match session_of(state, headers).await {
        Ok(Some(session)) => session,
        Ok(None) => return redirect("/console/connexion", vec![set_cookie(headers, SESSION, "", 0)]),
        Err(error) => return internal(error),
    };
    if session.csrf != csrf {
        return refuse_csrf();
    }
    let ended = if partout {
        comptes::deconnecter_partout(&state.pool, session.compte).await.map(drop)
    } else {
        comptes::deconnecter(&state.pool, &cookie(headers, SESSION).unwrap_or_default()).await
    };
    match ended {
        Ok(()) => redirect("/console/connexion", vec![set_cookie(headers, SESSION, "", 0)]),
        Err(error) => internal(error),
    }
}

pub(super) async fn deconnexion(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    sortir(&state, &headers, &form.csrf, false).await
}

pub(super) async fn deconnexion_partout(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    sortir(&state, &headers, &form.csrf, true).await
}

pub(super) async fn mot_de_passe_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(jeton): Path<String>,
) -> Response {
    let email = match comptes::lien(&state.pool, &jeton).await {
        Ok(email) => email,
        Err(error) => return internal(error),
    };
    let (csrf, set) = csrf_avant(&headers);
    let status = if email.is_some() { StatusCode::OK } else { StatusCode::GONE };
    let erreur = email.is_none().then(|| CompteError::LienInvalide.to_string());
    with_cookie(render(status, &MotDePasse::new(jeton, email, csrf, erreur)), set)
}

#[derive(Deserialize)]
pub(super) struct MotDePasseForm {
    mot_de_passe: String,
    confirmation: String,
    csrf: String,
}

pub(super) async fn mot_de_passe(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(jeton): Path<String>,
    Form(form): Form<MotDePasseForm>,
) -> Response {
    if cookie(&headers, CSRF).as_deref() != Some(form.csrf.as_str()) {
        return refuse_csrf();
    }
    let email = match comptes::lien(&state.pool, &jeton).await {
        Ok(email) => email,
        Err(error) => return internal(error),
    };
    let page = |status, erreur: String, email: Option<String>| {
        render(status, &MotDePasse::new(jeton.clone(), email, form.csrf.clone(), Some(erreur)))
    };
    if form.mot_de_passe != form.confirmation {
        return page(StatusCode::BAD_REQUEST, "Les deux mots de passe diffèrent.".into(), email);
    }
    match comptes::definir_mot_de_passe(&state.pool, &jeton, &form.mot_de_passe).await {
        Ok(()) => redirect("/console/connexion?ok=mot-de-passe", Vec::new()),
        Err(error @ CompteError::LienInvalide) => page(StatusCode::GONE, error.to_string(), None),
        Err(error @ CompteError::Invalid(_)) => page(StatusCode::BAD_REQUEST, error.to_string(), email),
        Err(error) => internal(error),
    }
}
