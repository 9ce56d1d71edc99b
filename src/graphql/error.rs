//! GraphQL errors, in one place: every refusal carries `extensions.code` (interfaces.md:
//! `UNAUTHENTICATED`, `FORBIDDEN`, `BAD_USER_INPUT`, `CONFLICT`, `NOT_FOUND`, `INTERNAL`), and
//! `extensions.field` when an argument is the problem. Internal failures are logged here and reach the
//! caller as a bare `INTERNAL`, never with their detail.

use async_graphql::{Error, ErrorExtensions, Response, ServerError};

/// The `extensions.code` of an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    Unauthenticated,
    Forbidden,
    BadUserInput,
    Conflict,
    NotFound,
    RateLimited,
    Internal,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Unauthenticated => "UNAUTHENTICATED",
            Code::Forbidden => "FORBIDDEN",
            Code::BadUserInput => "BAD_USER_INPUT",
            Code::Conflict => "CONFLICT",
            Code::NotFound => "NOT_FOUND",
            Code::RateLimited => "RATE_LIMITED",
            Code::Internal => "INTERNAL",
        }
    }
}

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
    error(Code::Internal, "erreur interne ; réessayez plus tard")
}

/// `?` for anything that fails on our side: `query.await.or_internal()?`.
pub trait OrInternal<T> {
    fn or_internal(self) -> Result<T, Error>;
}

impl<T, E: std::fmt::Display> OrInternal<T> for Result<T, E> {
    fn or_internal(self) -> Result<T, Error> {
        self.map_err(internal)
    }
}

/// Give a code to the errors async-graphql raises itself before or while resolving (syntax,
/// validation, limits, arguments that do not parse): they are the request's fault.
pub fn with_codes(mut response: Response) -> Response {
    for error in &mut response.errors {
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
