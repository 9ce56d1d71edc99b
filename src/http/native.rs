//! `POST /api/v1/events`: native dossier events from systems that emit facts. The whole batch is
//! validated, then written in one transaction; a dossier not at its expected version is a 409 that
//! names every conflicting dossier, and nothing is written.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use events::Channel;
use serde::Serialize;
use uuid::Uuid;

use super::caller::Caller;
use super::error::{ApiError, ErrorBody, Refusals};
use crate::app::AppState;
use crate::app::native::Appended;
use crate::auth::keys::Role;
use crate::ingestion::native::{Batch, NativeError, StreamResult};

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AppendResponse {
    pub correlation_id: Uuid,
    pub results: Vec<StreamResult>,
}

/// Append typed dossier events; the whole batch or nothing.
#[utoipa::path(
    post,
    path = "/api/v1/events",
    tag = "ingestion",
    request_body = Batch,
    responses(
        (status = 200, description = "Les événements enregistrés, par dossier", body = AppendResponse),
        Refusals,
        (status = 409, description = "Des dossiers ne sont pas à la version attendue ; rien n'est enregistré", body = ErrorBody)
    ),
    security(("cle_api" = []))
)]
pub async fn append(
    State(state): State<AppState>,
    caller: Caller,
    body: Bytes,
) -> Result<Json<AppendResponse>, ApiError> {
    caller.require(&[Role::OrganismeFormation, Role::Administrateur], "enregistrer d'événements")?;
    let batch: Batch = serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_slice(&body))
        .map_err(|e| {
            let path = e.path().to_string();
            ApiError::BadRequest {
                message: "le corps doit être {\"events\": [...], \"expected_versions\": {...}}".into(),
                errors: vec![crate::ingestion::FieldError::new(path, e.into_inner().to_string())],
            }
        })?;
    match crate::app::native::append_events(&state.store, &caller.0, Channel::Events, batch).await {
        Ok(Appended { correlation_id, results }) => Ok(Json(AppendResponse { correlation_id, results })),
        Err(error) => Err(match (error.to_string(), error) {
            (message, NativeError::Invalid(errors)) => ApiError::BadRequest { message, errors },
            (message, NativeError::Conflicts(conflicts)) => ApiError::Conflict {
                message,
                conflicts: serde_json::to_value(&conflicts).expect("conflicts serialise"),
            },
            (_, other) => {
                ApiError::Unavailable(format!("le lot n'a pas pu être enregistré ({other}) ; renvoyez-le"))
            }
        }),
    }
}
