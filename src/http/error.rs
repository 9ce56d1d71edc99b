//! The REST error: every refusal of a whole request, mapped to its HTTP status and a JSON body
//! `{"code", "message", "errors"?}` in one place. The codes are those of the GraphQL errors.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::ingestion::FieldError;
use crate::ingestion::snapshots::IngestError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{message}")]
    BadRequest { message: String, errors: Vec<FieldError> },
    #[error("{0}")]
    TooLarge(String),
    #[error("trop de requêtes pour cette clé : réessayez dans {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    #[error("{message}")]
    Conflict { message: String, conflicts: serde_json::Value },
    #[error("{0}")]
    NotFound(String),
    /// A passing failure (database, contention): the request can be sent again as it is.
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Internal(String),
}

/// The body of every refused request.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// UNAUTHENTICATED, FORBIDDEN, BAD_USER_INPUT, RATE_LIMITED, CONFLICT, NOT_FOUND, UNAVAILABLE, INTERNAL
    code: &'static str,
    message: String,
    /// The refused fields, when the request's content is the problem.
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<Vec<FieldError>>,
    /// The dossiers that were not at the expected version.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<crate::ingestion::native::Conflict>>)]
    conflicts: Option<serde_json::Value>,
}

/// The refusals every authenticated endpoint may answer, for the OpenAPI description.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)] // only described, never built
pub enum Refusals {
    #[response(status = 400, description = "Requête invalide")]
    BadRequest(ErrorBody),
    #[response(status = 401, description = "Clé absente, inconnue ou révoquée")]
    Unauthenticated(ErrorBody),
    #[response(status = 403, description = "Rôle de la clé non autorisé")]
    Forbidden(ErrorBody),
    #[response(status = 429, description = "Trop de requêtes pour cette clé (voir Retry-After)")]
    RateLimited(ErrorBody),
    #[response(status = 503, description = "Indisponible : renvoyer la requête telle quelle")]
    Unavailable(ErrorBody),
}

impl ApiError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::BadRequest { message: message.into(), errors: Vec::new() }
    }

    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::Unauthenticated(_) => (StatusCode::UNAUTHORIZED, "UNAUTHENTICATED"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "FORBIDDEN"),
            ApiError::BadRequest { .. } => (StatusCode::BAD_REQUEST, "BAD_USER_INPUT"),
            ApiError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "BAD_USER_INPUT"),
            ApiError::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED"),
            ApiError::Conflict { .. } => (StatusCode::CONFLICT, "CONFLICT"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "NOT_FOUND"),
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
        }
        let errors = match &self {
            ApiError::BadRequest { errors, .. } if !errors.is_empty() => Some(errors.clone()),
            _ => None,
        };
        let conflicts = match &self {
            ApiError::Conflict { conflicts, .. } => Some(conflicts.clone()),
            _ => None,
        };
        let body = ErrorBody { code, message: self.to_string(), errors, conflicts };
        let mut response = (status, Json(&body)).into_response();
        match &self {
            ApiError::RateLimited { retry_after_secs } => {
                response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
            }
            ApiError::Unauthenticated(_) => {
                response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            _ => {}
        }
        response
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        ApiError::Unavailable(format!("base de données indisponible, réessayez : {error}"))
    }
}

impl From<IngestError> for ApiError {
    fn from(error: IngestError) -> Self {
        match error {
            IngestError::Append { error: events::AppendError::Invalid { .. }, .. } => {
                ApiError::Internal(error.to_string())
            }
            _ => ApiError::Unavailable(format!(
                "la transmission n'a pas pu être enregistrée entièrement ({error}) ; renvoyez-la telle quelle : \
                 ce qui a déjà été enregistré ne le sera pas deux fois"
            )),
        }
    }
}
