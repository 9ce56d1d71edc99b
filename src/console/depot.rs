//! A CFA's file deposit from the console (domain.md §14): the page sends the chosen file as the body
//! of one request (its script shows the upload's progress), with the session's CSRF token in a
//! header; the deposit is `POST /api/v1/imports`'s, for the signed-in person's organisme (channel
//! `import`: its dossiers count as FICHIER). The error report is the REST one, downloaded the same way.

use askama::Template;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use uuid::Uuid;

use super::pages::{internal, render};
use super::web::refuse_csrf;
use crate::app::AppState;
use crate::auth::comptes::Session;
use crate::http::caller::Caller;

/// The header a deposit carries the session's CSRF token in.
const CSRF_HEADER: &str = "x-csrf";

#[derive(Template)]
#[template(path = "console/depot.html")]
struct Depot {
    nav: super::pages::Nav,
    csrf: String,
}

async fn du_cfa(state: &AppState, headers: &HeaderMap) -> Result<Session, Response> {
    super::web::du_cfa(state, headers).await.map(|(session, _)| session)
}

pub async fn page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match du_cfa(&state, &headers).await {
        Ok(session) => render(
            StatusCode::OK,
            &Depot { nav: super::pages::Nav::of(&session), csrf: session.csrf.clone() },
        ),
        Err(page) => page,
    }
}

/// The deposit itself (routed with the other deposits: their body limit and timeout).
pub async fn deposer(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let session = match du_cfa(&state, &headers).await {
        Ok(session) => session,
        Err(page) => return page,
    };
    if headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()) != Some(session.csrf.as_str()) {
        return refuse_csrf();
    }
    let answer = crate::http::imports::upload(State(state), Caller(session.principal), body).await;
    let mut response = answer.into_response();
    // The report's address, as the console serves it.
    if response.status().is_success() {
        let bytes = match axum::body::to_bytes(std::mem::take(response.body_mut()), 1 << 20).await {
            Ok(bytes) => bytes,
            Err(error) => return internal(error),
        };
        let mut json: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        if let Some(id) = json["transmission_id"].as_str().map(str::to_owned)
            && json["rapport_erreurs"].is_string()
        {
            json["rapport_erreurs"] = serde_json::json!(format!("/console/transmissions/{id}/rejets.csv"));
        }
        return axum::Json(json).into_response();
    }
    response
}

/// A deposit's error report (CSV), as `GET /api/v1/transmissions/{id}/rejets.csv` gives it.
pub async fn rapport(State(state): State<AppState>, headers: HeaderMap, Path(id): Path<Uuid>) -> Response {
    let session = match du_cfa(&state, &headers).await {
        Ok(session) => session,
        Err(page) => return page,
    };
    crate::http::imports::report(State(state), Caller(session.principal), Path(id)).await.into_response()
}
