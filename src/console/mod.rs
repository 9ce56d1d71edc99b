//! The people's console (domain.md §14): server-rendered pages in French, served by `tba` itself under
//! `/console`, for the people who cannot use GraphQL. A person signs in with their account
//! (`auth::comptes`); a signed-in person is a `Principal` like an API key, so the pages read through
//! the same query functions and access rules as the GraphQL resolvers.
//!
//! Sessions live in PostgreSQL; the cookie (`tba_session`) is `HttpOnly`, `SameSite=Lax`, `Secure`
//! when the request came over TLS (`X-Forwarded-Proto: https` from the proxy in front). Every form
//! carries a CSRF token: the session's once signed in, before it a random one also set as a cookie
//! (`tba_csrf`, double submit). Pages may only load what this server serves (Content-Security-Policy
//! `'self'`), and are never cached.

mod pages;

use axum::extract::{Path, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;

use crate::app::AppState;
use crate::auth::comptes::{self, CompteError, Session};
use pages::{Accueil, Connexion, MotDePasse, internal, render};

const SESSION: &str = "tba_session";
const CSRF: &str = "tba_csrf";
const CSS: &str = include_str!("static/console.css");

pub fn routes(state: AppState) -> Router {
    Router::new()
        .route("/console", get(accueil))
        .route("/console/connexion", get(connexion_page).post(connexion))
        .route("/console/deconnexion", post(deconnexion))
        .route("/console/deconnexion-partout", post(deconnexion_partout))
        .route("/console/mot-de-passe/{jeton}", get(mot_de_passe_page).post(mot_de_passe))
        .route("/console/static/console.css", get(css))
        .with_state(state)
        .layer(axum::middleware::map_response(securise))
}

/// What every console response carries: nothing loaded from elsewhere, never framed, never cached
/// (assets excepted).
async fn securise(mut response: Response) -> Response {
    let headers = response.headers_mut();
    let fixed = [
        (
            "content-security-policy",
            "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        ),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "same-origin"),
        ("x-frame-options", "DENY"),
    ];
    for (name, value) in fixed {
        headers.insert(HeaderName::from_static(name), HeaderValue::from_static(value));
    }
    if !headers.contains_key(CACHE_CONTROL) {
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

async fn css() -> Response {
    let headers = [(CONTENT_TYPE, "text/css; charset=utf-8"), (CACHE_CONTROL, "public, max-age=86400")];
    (headers, CSS).into_response()
}

/// The value of a request cookie.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value.to_owned())
        .filter(|v| !v.is_empty())
}

/// A `Set-Cookie` value for the console's paths (`max_age` 0 removes it).
fn set_cookie(headers: &HeaderMap, name: &str, value: &str, max_age: i64) -> String {
    let tls = headers.get("x-forwarded-proto").is_some_and(|p| p.as_bytes().eq_ignore_ascii_case(b"https"));
    let secure = if tls { "; Secure" } else { "" };
    format!("{name}={value}; Path=/console; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}")
}

fn redirect(to: &str, cookies: Vec<String>) -> Response {
    let mut response = (StatusCode::SEE_OTHER, [(LOCATION, to.to_owned())]).into_response();
    for c in cookies {
        if let Ok(value) = HeaderValue::from_str(&c) {
            response.headers_mut().append(SET_COOKIE, value);
        }
    }
    response
}

/// The live session of the request's cookie, if any.
async fn session_of(state: &AppState, headers: &HeaderMap) -> Result<Option<Session>, CompteError> {
    match cookie(headers, SESSION) {
        Some(token) => comptes::session(&state.pool, &token).await,
        None => Ok(None),
    }
}

/// The pre-session CSRF token of the request, or a new one (with the cookie that sets it).
fn csrf_avant(headers: &HeaderMap) -> (String, Option<String>) {
    match cookie(headers, CSRF) {
        Some(token) => (token, None),
        None => {
            let mut bytes = [0u8; 24];
            rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
            let token = hex::encode(bytes);
            let set = set_cookie(headers, CSRF, &token, 86_400);
            (token, Some(set))
        }
    }
}

fn with_cookie(mut response: Response, set: Option<String>) -> Response {
    if let Some(value) = set.and_then(|c| HeaderValue::from_str(&c).ok()) {
        response.headers_mut().append(SET_COOKIE, value);
    }
    response
}

fn refuse_csrf() -> Response {
    let page = "<!doctype html><html lang=\"fr\"><title>Formulaire expiré</title>\
                <p>Ce formulaire a expiré : rechargez la page et recommencez.</p></html>";
    (StatusCode::FORBIDDEN, Html(page)).into_response()
}

async fn accueil(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match session_of(&state, &headers).await {
        Ok(Some(session)) => render(StatusCode::OK, &Accueil::of(&session)),
        Ok(None) => redirect("/console/connexion", Vec::new()),
        Err(error) => internal(error),
    }
}

#[derive(Deserialize)]
struct Retour {
    ok: Option<String>,
}

async fn connexion_page(
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
struct ConnexionForm {
    email: String,
    mot_de_passe: String,
    csrf: String,
}

async fn connexion(
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
struct CsrfForm {
    csrf: String,
}

/// Sign out of this session, or of every session of the account.
async fn sortir(state: &AppState, headers: &HeaderMap, csrf: &str, partout: bool) -> Response {
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

async fn deconnexion(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    sortir(&state, &headers, &form.csrf, false).await
}

async fn deconnexion_partout(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    sortir(&state, &headers, &form.csrf, true).await
}

async fn mot_de_passe_page(
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
struct MotDePasseForm {
    mot_de_passe: String,
    confirmation: String,
    csrf: String,
}

async fn mot_de_passe(
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
