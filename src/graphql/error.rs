//! GraphQL errors, in one place: every refusal carries `extensions.code` (`crate::error_code`, the
//! codes of REST too), and `extensions.field` when an argument is the problem. Failures on our side are
//! logged here and reach the caller as a bare `UNAVAILABLE` (passing: retry) or `INTERNAL`, never with
//! their detail; no message longer than `MAX_MESSAGE` is sent back (a parse error would echo the query).

use async_graphql::{Error, ErrorExtensions, Response, ServerError};

pub use crate::error_code::Code;

/// An error with its code.
pub fn error(code: Code, message: impl Into<String>) -> Error {
    Error::new(message).extend_with(|_, e| e.set("code", code.as_str()))
}

/// A refused argument: the message names the field (`filtre.regions`), and so does `extensions.field`.
pub fn bad_input(field: &str, message: impl std::fmt::Display) -> Error {
    let field = field.to_owned();
    Error::new(format!("{field} : {message}")).extend_with(move |_, e| {
        e.set("code", Code::BadUserInput.as_str());
        e.set("field", field.as_str());
    })
}

pub fn forbidden(message: impl Into<String>) -> Error {
    error(Code::Forbidden, message)
}

pub fn unauthenticated(message: impl Into<String>) -> Error {
    error(Code::Unauthenticated, message)
}

/// A failure of ours (database, broken invariant): logged with its detail, answered without it.
pub fn internal(detail: impl std::fmt::Display) -> Error {
    tracing::error!(error = %detail, "GraphQL request failed");
    error(Code::Internal, "erreur interne : l'incident est consigné")
}

/// A passing failure of ours (the database unreachable): logged, answered `UNAVAILABLE`.
pub fn unavailable(detail: impl std::fmt::Display) -> Error {
    tracing::warn!(error = %detail, "GraphQL request failed for now");
    error(Code::Unavailable, "service momentanément indisponible : renvoyez la requête")
}

/// `?` for anything that fails on our side: `query.await.or_internal()?`. A database error that
/// passes (the server unreachable…) is `UNAVAILABLE`, anything else `INTERNAL`.
pub trait OrInternal<T> {
    fn or_internal(self) -> Result<T, Error>;
}

impl<T, E: std::fmt::Display + 'static> OrInternal<T> for Result<T, E> {
    fn or_internal(self) -> Result<T, Error> {
        self.map_err(|error| {
            let any: &dyn std::any::Any = &error;
            let database = any
                .downcast_ref::<sqlx::Error>()
                .or_else(|| match any.downcast_ref::<events::StoreError>() {
                    Some(events::StoreError::Database(e)) => Some(e),
                    _ => None,
                })
                .or_else(|| match any.downcast_ref::<projections::runtime::ProjectionError>() {
                    Some(projections::runtime::ProjectionError::Database(e)) => Some(e),
                    _ => None,
                });
            if database.is_some_and(crate::error_code::passing) {
                unavailable(error)
            } else {
                internal(error)
            }
        })
    }
}

/// The longest message sent back; past it, the message is cut (a parse error quotes the query).
const MAX_MESSAGE: usize = 500;

/// Give a code to the errors async-graphql raises itself before or while resolving (syntax,
/// validation, limits, arguments that do not parse): they are the request's fault.
pub fn with_codes(mut response: Response) -> Response {
    for error in &mut response.errors {
        if error.message.chars().count() > MAX_MESSAGE {
            error.message = error.message.chars().take(MAX_MESSAGE).chain("…".chars()).collect();
        }
        let coded = error.extensions.as_ref().is_some_and(|e| e.get("code").is_some());
        if !coded {
            error.extensions.get_or_insert_with(Default::default).set("code", Code::BadUserInput.as_str());
        }
    }
    response
}

/// A whole-request refusal (no key, bad key, rate limit) as a GraphQL response.
pub fn refusal(code: Code, message: impl Into<String>) -> Response {
    let mut error = ServerError::new(message, None);
    error.extensions.get_or_insert_with(Default::default).set("code", code.as_str());
    Response::from_errors(vec![error])
}

/// An access refusal, with its code: the field named for a value outside the caller's perimeter.
impl From<crate::auth::viewer::AccessError> for Error {
    fn from(refusal: crate::auth::viewer::AccessError) -> Self {
        use crate::auth::viewer::AccessError;
        match refusal {
            AccessError::Unauthenticated(message) => unauthenticated(message),
            AccessError::Forbidden(message) => forbidden(message),
            AccessError::BadInput { field, message } => bad_input(&field, message),
            AccessError::Database(error) => match Err::<(), _>(error).or_internal() {
                Err(error) => error,
                Ok(()) => unreachable!("an error stays an error"),
            },
        }
    }
}

/// A command's refusal, with its code (the field named for a refused value).
impl From<crate::app::CommandError> for Error {
    fn from(refusal: crate::app::CommandError) -> Self {
        use crate::app::CommandError;
        match refusal {
            CommandError::Invalid { field, message } => bad_input(&field, message),
            CommandError::Unauthenticated(message) => unauthenticated(message),
            CommandError::Forbidden(message) => forbidden(message),
            CommandError::NotFound(message) => error(Code::NotFound, message),
            CommandError::Conflict(message) => error(Code::Conflict, message),
            CommandError::Failed(detail) => internal(detail),
            CommandError::Database(error) => match Err::<(), _>(error).or_internal() {
                Err(error) => error,
                Ok(()) => unreachable!("an error stays an error"),
            },
        }
    }
}
