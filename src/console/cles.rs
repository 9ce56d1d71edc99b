//! A CFA's API keys (domain.md §14): those its ERP pushes with, created (the secret shown once) and
//! revoked by its staff, for its own organisme only.

use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use uuid::Uuid;

use super::pages::{Message, internal, render};
use super::web::{du_cfa, refuse_csrf};
use crate::app::AppState;
use crate::auth::comptes::Session;
use crate::auth::keys::{self, KeySpec, OrganismeRef, Role};

/// A key as listed.
#[derive(sqlx::FromRow)]
struct Cle {
    id: Uuid,
    prefix: String,
    label: Option<String>,
    created_at: DateTime<Utc>,
    last_used_at: Option<DateTime<Utc>>,
}

struct CleLigne {
    id: String,
    prefix: String,
    label: String,
    creee: String,
    utilisee: String,
}

#[derive(Template)]
#[template(path = "console/cles.html")]
struct Cles {
    nav: super::pages::Nav,
    csrf: String,
    organisme: String,
    cles: Vec<CleLigne>,
    secret: Option<String>,
    message: Option<Message>,
}

/// The organisme's live keys, newest first.
async fn cles_de(state: &AppState, organisme: &OrganismeRef) -> Result<Vec<Cle>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, prefix, label, created_at, last_used_at FROM api_keys
         WHERE organisme_uai = $1 AND organisme_siret = $2 AND revoked_at IS NULL ORDER BY created_at DESC",
    )
    .bind(organisme.uai.as_str())
    .bind(organisme.siret.as_str())
    .fetch_all(&state.pool)
    .await
}

async fn page(
    state: &AppState,
    session: &Session,
    organisme: &OrganismeRef,
    status: StatusCode,
    (secret, message): (Option<String>, Option<Message>),
) -> Response {
    let cles = match cles_de(state, organisme).await {
        Ok(cles) => cles,
        Err(error) => return internal(error),
    };
    let cles = cles
        .into_iter()
        .map(|c| CleLigne {
            id: c.id.to_string(),
            prefix: c.prefix,
            label: c.label.unwrap_or_default(),
            creee: c.created_at.format("%d/%m/%Y").to_string(),
            utilisee: c.last_used_at.map_or("jamais".into(), |t| t.format("%d/%m/%Y %H:%M").to_string()),
        })
        .collect();
    let page = Cles {
        nav: super::pages::Nav::of(session),
        csrf: session.csrf.clone(),
        organisme: organisme.to_string(),
        cles,
        secret,
        message,
    };
    render(status, &page)
}

pub(super) async fn liste(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match du_cfa(&state, &headers).await {
        Ok((session, organisme)) => page(&state, &session, &organisme, StatusCode::OK, (None, None)).await,
        Err(page) => page,
    }
}

#[derive(Deserialize)]
pub(super) struct Creation {
    csrf: String,
    #[serde(default)]
    label: String,
}

pub(super) async fn creer(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<Creation>,
) -> Response {
    let (session, organisme) = match du_cfa(&state, &headers).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    if session.csrf != form.csrf {
        return refuse_csrf();
    }
    let label = Some(form.label.trim().chars().take(200).collect::<String>()).filter(|l| !l.is_empty());
    let spec =
        KeySpec { role: Role::OrganismeFormation, organisme: Some(organisme.clone()), scope: None, label };
    match keys::create(&state.pool, &spec).await {
        Ok((_, secret)) => {
            page(&state, &session, &organisme, StatusCode::CREATED, (Some(secret), None)).await
        }
        Err(error) => internal(error),
    }
}

#[derive(Deserialize)]
pub(super) struct Revocation {
    csrf: String,
    id: Uuid,
}

pub(super) async fn revoquer(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<Revocation>,
) -> Response {
    let (session, organisme) = match du_cfa(&state, &headers).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    if session.csrf != form.csrf {
        return refuse_csrf();
    }
    // Only the organisme's own keys.
    let own = match cles_de(&state, &organisme).await {
        Ok(cles) => cles.iter().any(|c| c.id == form.id),
        Err(error) => return internal(error),
    };
    if !own {
        let message = Message::Erreur("Aucune clé de votre organisme ne porte cet identifiant.".into());
        return page(&state, &session, &organisme, StatusCode::NOT_FOUND, (None, Some(message))).await;
    }
    match state.gate.revoke(&state.pool, &form.id.to_string()).await {
        Ok(()) => {
            let message = Message::Succes("La clé est révoquée : elle ne transmet plus.".into());
            page(&state, &session, &organisme, StatusCode::OK, (None, Some(message))).await
        }
        Err(error) => internal(error),
    }
}
