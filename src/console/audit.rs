//! The auditor's page (domain.md §14): the head of the log, the signed checkpoints, an event's
//! inclusion proof to download, and the access journal with filters. The figures "as known at" an
//! instant are the dashboard's (`/console/indicateurs?connu=…`). AUDITOR and ADMINISTRATEUR; the proof
//! carries the event's data, so its download is a journaled read, as GraphQL's `preuveInclusion`.

use axum::extract::{Query, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use events::store::signed;
use serde::Deserialize;

use askama::Template;

use super::pages::{Refus, internal, render};
use super::web::connecte;
use crate::app::AppState;
use crate::auth::access_log;
use crate::auth::comptes::Session;
use crate::auth::keys::Role;

/// Journal entries shown at most.
const ACCES: i64 = 200;

async fn auditeur(state: &AppState, headers: &HeaderMap) -> Result<Session, Response> {
    let admis = |p: &crate::auth::keys::Principal| matches!(p.role, Role::Auditor | Role::Administrateur);
    connecte(state, headers, admis, "Cette page est celle des auditeurs.").await
}

#[derive(Deserialize)]
pub(super) struct Filtres {
    action: Option<String>,
    organisation: Option<String>,
}

pub(super) async fn audit(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(filtres): Query<Filtres>,
) -> Response {
    let session = match auditeur(&state, &headers).await {
        Ok(session) => session,
        Err(page) => return page,
    };
    let head = match state.store.head().await {
        Ok(head) => head,
        Err(error) => return internal(error),
    };
    let checkpoints = match signed::list(&state.pool, 20).await {
        Ok(list) => list,
        Err(error) => return internal(error),
    };
    let action = filtres.action.filter(|a| !a.trim().is_empty());
    let organisation = filtres.organisation.filter(|o| !o.trim().is_empty());
    let acces = match access_log::recent(&state.pool, action.as_deref(), organisation.as_deref(), ACCES).await
    {
        Ok(acces) => acces,
        Err(error) => return internal(error),
    };
    render(StatusCode::OK, &Audit::new(&session, &head, checkpoints, acces, action, organisation))
}

#[derive(Deserialize)]
pub(super) struct Preuve {
    position: i64,
}

pub(super) async fn preuve(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(demande): Query<Preuve>,
) -> Response {
    let session = match auditeur(&state, &headers).await {
        Ok(session) => session,
        Err(page) => return page,
    };
    let refus = |message: String| render(StatusCode::BAD_REQUEST, &Refus::libre(message));
    let signed_at = match signed::covering(&state.pool, demande.position, false).await {
        Ok(Some(checkpoint)) => checkpoint,
        Ok(None) => {
            return refus(format!(
                "position : aucun checkpoint signé ne couvre encore la position {} (tba checkpoint sign)",
                demande.position
            ));
        }
        Err(error) => return internal(error),
    };
    let proof = match signed::inclusion_proof(&state.pool, demande.position, &signed_at).await {
        Ok(Some(proof)) => proof,
        Ok(None) => return refus(format!("position : aucun événement à la position {}", demande.position)),
        Err(error) => return internal(error),
    };
    let details = serde_json::json!({ "checkpoint": signed_at.position });
    let subject = demande.position.to_string();
    if let Err(error) = state.journal.record(&session.principal, "preuve_inclusion", &subject, details).await
    {
        return internal(error);
    }
    let body = match serde_json::to_vec_pretty(&proof) {
        Ok(body) => body,
        Err(error) => return internal(error),
    };
    let disposition = format!("attachment; filename=\"preuve-{}.json\"", demande.position);
    ([(CONTENT_TYPE, "application/json".to_owned()), (CONTENT_DISPOSITION, disposition)], body)
        .into_response()
}

/// An entry of the access journal, as shown.
pub(super) struct AccesLigne {
    pub at: String,
    pub role: String,
    pub organisation: String,
    pub action: String,
    pub subject: String,
}

/// The auditor's page.
#[derive(Template)]
#[template(path = "console/audit.html")]
pub(super) struct Audit {
    nav: super::pages::Nav,
    position: i64,
    hash: String,
    checkpoints: Vec<(i64, String, String, String)>,
    acces: Vec<AccesLigne>,
    action: String,
    organisation: String,
}

impl Audit {
    pub fn new(
        session: &Session,
        head: &events::LogHead,
        checkpoints: Vec<events::signed_checkpoint::SignedCheckpoint>,
        acces: Vec<crate::auth::access_log::Access>,
        action: Option<String>,
        organisation: Option<String>,
    ) -> Self {
        Audit {
            nav: super::pages::Nav::of(session),
            position: head.position,
            hash: head.hash_hex(),
            checkpoints: checkpoints
                .into_iter()
                .map(|c| {
                    let at = c.signed_at.format("%d/%m/%Y %H:%M UTC").to_string();
                    (c.position, hex::encode(c.hash), hex::encode(c.merkle_root), at)
                })
                .collect(),
            acces: acces
                .into_iter()
                .map(|a| AccesLigne {
                    at: a.at.format("%d/%m/%Y %H:%M:%S").to_string(),
                    role: a.role,
                    organisation: a.organisation,
                    action: a.action,
                    subject: a.subject,
                })
                .collect(),
            action: action.unwrap_or_default(),
            organisation: organisation.unwrap_or_default(),
        }
    }
}
