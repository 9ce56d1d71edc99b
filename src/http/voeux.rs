//! `POST /api/v1/voeux/imports?source=affelnet|parcoursup`: an ADMINISTRATEUR deposits a file of vœux
//! (the same file and rules as `tba voeux import`). The body is spooled to disk as it arrives, then
//! checked and imported by `ingestion::voeux`; a refused file writes nothing and its refusals name
//! their line and column.

use axum::Json;
use axum::body::Body;
use axum::extract::{Query, State};
use events::voeu::Source;
use events::{Channel, Metadata};
use serde::Deserialize;
use uuid::Uuid;

use super::caller::Caller;
use super::error::{ApiError, ErrorBody, Refusals};
use crate::app::AppState;
use crate::auth::keys::Role;
use crate::ingestion::FieldError;
use crate::ingestion::voeux::{Report, VoeuxImportError, import};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ImportParams {
    /// `affelnet` or `parcoursup`.
    pub source: String,
    /// The file's name, for the imports journal.
    pub nom: Option<String>,
}

/// Import a file of Affelnet or Parcoursup vœux (CSV, `;`, UTF-8 or Windows-1252; columns in the README).
#[utoipa::path(
    post,
    path = "/api/v1/voeux/imports",
    tag = "voeux",
    params(ImportParams),
    request_body(content = String, content_type = "text/csv", description = "Le fichier de vœux, tel quel"),
    responses(
        (status = 200, description = "Ce que l'import a écrit", body = Report),
        Refusals,
        (status = 413, description = "Fichier trop volumineux", body = ErrorBody)
    ),
    security(("cle_api" = []))
)]
pub async fn upload(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<ImportParams>,
    body: Body,
) -> Result<Json<Report>, ApiError> {
    caller.require(&[Role::Administrateur], "importer de vœux")?;
    let source = Source::parse(&params.source).ok_or_else(|| ApiError::BadRequest {
        message: format!("source : {:?} n'est ni affelnet ni parcoursup", params.source),
        errors: vec![FieldError::new("source", "affelnet ou parcoursup")],
    })?;
    let spool = super::uploads::spool(body).await?;
    let metadata = Metadata {
        actor: caller.0.actor(),
        channel: Channel::VoeuxImport.into(),
        correlation_id: Some(Uuid::now_v7()),
        causation_id: None,
    };
    let nom = params.nom.unwrap_or_else(|| format!("{} (dépôt)", source.as_str().to_lowercase()));
    let report = import(&state.pool, state.store.vault(), source, spool.path(), &nom, metadata, |_, _| {})
        .await
        .map_err(|e| match e {
            VoeuxImportError::Invalid(errors, count) => ApiError::BadRequest {
                message: format!("fichier refusé, rien n'a été importé : {count} valeur(s) refusée(s)"),
                errors: errors
                    .into_iter()
                    .map(|e| FieldError::new(format!("ligne {}.{}", e.line, e.field), e.message))
                    .collect(),
            },
            VoeuxImportError::File(message) => ApiError::bad_request(message),
            VoeuxImportError::Busy => ApiError::Unavailable(VoeuxImportError::Busy.to_string()),
            VoeuxImportError::Append(e) => ApiError::Internal(e.to_string()),
            VoeuxImportError::Store(e) => ApiError::Internal(e.to_string()),
            VoeuxImportError::Database(e) => e.into(),
        })?;
    Ok(Json(report))
}
