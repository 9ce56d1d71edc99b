//! What the console's handlers share: cookies, redirects, the session of a request, CSRF tokens.

use axum::http::header::{COOKIE, LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};

use crate::app::AppState;
use crate::auth::comptes::{self, CompteError, Session};
use crate::auth::viewer::{AccessError, Viewer};

pub(super) const SESSION: &str = "tba_session";
pub(super) const CSRF: &str = "tba_csrf";

pub(super) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
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
pub(super) fn set_cookie(headers: &HeaderMap, name: &str, value: &str, max_age: i64) -> String {
    let tls = headers.get("x-forwarded-proto").is_some_and(|p| p.as_bytes().eq_ignore_ascii_case(b"https"));
    let secure = if tls { "; Secure" } else { "" };
    format!("{name}={value}; Path=/console; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}")
}

pub(super) fn redirect(to: &str, cookies: Vec<String>) -> Response {
    let mut response = (StatusCode::SEE_OTHER, [(LOCATION, to.to_owned())]).into_response();
    for c in cookies {
        if let Ok(value) = HeaderValue::from_str(&c) {
            response.headers_mut().append(SET_COOKIE, value);
        }
    }
    response
}

/// The live session of the request's cookie, if any.
pub(super) async fn session_of(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<Session>, CompteError> {
    match cookie(headers, SESSION) {
        Some(token) => comptes::session(&state.pool, &token).await,
        None => Ok(None),
    }
}

/// The pre-session CSRF token of the request, or a new one (with the cookie that sets it).
pub(super) fn csrf_avant(headers: &HeaderMap) -> (String, Option<String>) {
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

pub(super) fn with_cookie(mut response: Response, set: Option<String>) -> Response {
    if let Some(value) = set.and_then(|c| HeaderValue::from_str(&c).ok()) {
        response.headers_mut().append(SET_COOKIE, value);
    }
    response
}

pub(super) fn refuse_csrf() -> Response {
    let page = "<!doctype html><html lang=\"fr\"><title>Formulaire expiré</title>\
                <p>Ce formulaire a expiré : rechargez la page et recommencez.</p></html>";
    (StatusCode::FORBIDDEN, Html(page)).into_response()
}

/// The signed-in person if `admis` lets them in; else the page to answer with (the sign-in page, or
/// the refusal `refus` for those `admis` turns away).
pub(super) async fn connecte(
    state: &AppState,
    headers: &HeaderMap,
    admis: impl Fn(&crate::auth::keys::Principal) -> bool,
    refus: &'static str,
) -> Result<Session, Response> {
    use super::pages::{Refus, internal, render};
    match session_of(state, headers).await {
        Ok(Some(session)) if admis(&session.principal) => Ok(session),
        Ok(Some(_)) => Err(render(StatusCode::FORBIDDEN, &Refus::new(refus))),
        Ok(None) => Err(redirect("/console/connexion", Vec::new())),
        Err(error) => Err(internal(error)),
    }
}

/// The signed-in person, as a viewer, with what `acces` grants them; else the page to answer with
/// (the sign-in page, or the refusal `refus` for those `acces` turns away).
pub(super) async fn autorise<T>(
    state: &AppState,
    headers: &HeaderMap,
    acces: impl FnOnce(&Viewer) -> Result<T, AccessError>,
    refus: &'static str,
) -> Result<(Session, Viewer, T), Response> {
    use super::pages::{Refus, internal, render};
    let session = connecte(state, headers, |_| true, refus).await?;
    let viewer = Viewer::Key(session.principal.clone());
    match acces(&viewer) {
        Ok(granted) => Ok((session, viewer, granted)),
        Err(AccessError::Database(error)) => Err(internal(error)),
        Err(_) => Err(render(StatusCode::FORBIDDEN, &Refus::new(refus))),
    }
}

/// The signed-in person of an organisme, with it; else the page to answer with.
pub(super) async fn du_cfa(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<(Session, crate::auth::keys::OrganismeRef), Response> {
    let session = connecte(state, headers, |p| p.organisme.is_some(), DU_CFA).await?;
    let organisme = session.principal.organisme.clone().expect("admitted with an organisme");
    Ok((session, organisme))
}

const DU_CFA: &str = "Cette page est celle d'un organisme de formation.";
