//! The REST error: every refusal of a whole request, mapped to its HTTP status and a JSON body
//! `{"code", "message", "errors"?}` in one place. The codes are those of the GraphQL errors
//! (`crate::error_code`). What fails on our side is logged with its detail (and the request's id, from
//! the request's span) and answered without it.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::auth::AuthError;
use crate::auth::viewer::AccessError;
use crate::error_code::Code;
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

    fn status_and_code(&self) -> (StatusCode, Code) {
        match self {
            ApiError::Unauthenticated(_) => (StatusCode::UNAUTHORIZED, Code::Unauthenticated),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, Code::Forbidden),
            ApiError::BadRequest { .. } => (StatusCode::BAD_REQUEST, Code::BadUserInput),
            ApiError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, Code::BadUserInput),
            ApiError::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, Code::RateLimited),
            ApiError::Conflict { .. } => (StatusCode::CONFLICT, Code::Conflict),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, Code::NotFound),
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, Code::Unavailable),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, Code::Internal),
        }
    }

    /// What the client reads: our own words, never an internal failure's detail.
    fn message(&self) -> String {
        match self {
            ApiError::Internal(_) => {
                "erreur interne : l'incident est consigné avec l'identifiant de la requête (x-request-id)"
                    .into()
            }
            other => other.to_string(),
        }
    }
}

/// A request whose body exceeds the limit, in the documented shape: the body-limit layer and the
/// extractors answer a bare 413 of their own.
pub async fn too_large_as_json(response: Response) -> Response {
    let json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|t| t.as_bytes().starts_with(b"application/json"));
    if response.status() == StatusCode::PAYLOAD_TOO_LARGE && !json {
        return ApiError::TooLarge(
            "corps de la requête trop volumineux : voyez les limites de l'API (TBA_BODY_LIMIT, TBA_IMPORT_LIMIT)"
                .into(),
        )
        .into_response();
    }
    response
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
        }
        let code = code.as_str();
        let errors = match &self {
            ApiError::BadRequest { errors, .. } if !errors.is_empty() => Some(errors.clone()),
            _ => None,
        };
        let conflicts = match &self {
            ApiError::Conflict { conflicts, .. } => Some(conflicts.clone()),
            _ => None,
        };
        let body = ErrorBody { code, message: self.message(), errors, conflicts };
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
        if crate::error_code::passing(&error) {
            tracing::warn!(%error, "database unavailable");
            ApiError::Unavailable("base de données momentanément indisponible : renvoyez la requête".into())
        } else {
            ApiError::Internal(error.to_string())
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(error: AuthError) -> Self {
        match error {
            AuthError::Unauthenticated(message) => ApiError::Unauthenticated(message),
            AuthError::RateLimited { retry_after_secs } => ApiError::RateLimited { retry_after_secs },
            AuthError::Database(error) => ApiError::from(error),
            AuthError::Internal(detail) => ApiError::Internal(detail),
        }
    }
}

impl From<AccessError> for ApiError {
    fn from(refusal: AccessError) -> Self {
        match refusal {
            AccessError::Unauthenticated(message) => ApiError::Unauthenticated(message),
            AccessError::Forbidden(message) => ApiError::Forbidden(message),
            AccessError::BadInput { field, message } => ApiError::BadRequest {
                message: format!("{field} : {message}"),
                errors: vec![FieldError::new(field, message)],
            },
            AccessError::Database(error) => ApiError::from(error),
        }
    }
}

impl From<IngestError> for ApiError {
    fn from(error: IngestError) -> Self {
        let passing = match &error {
            IngestError::Append { error: events::AppendError::Invalid { .. }, .. } => false,
            IngestError::Database(e) | IngestError::Store(events::StoreError::Database(e)) => {
                crate::error_code::passing(e)
            }
            IngestError::Contended { .. } => true,
            _ => false,
        };
        if !passing {
            return ApiError::Internal(error.to_string());
        }
        tracing::warn!(%error, "a transmission could not be recorded whole");
        ApiError::Unavailable(
            "la transmission n'a pas pu être enregistrée entièrement ; renvoyez-la telle quelle : ce qui a \
             déjà été enregistré ne le sera pas deux fois"
                .into(),
        )
    }
}
