//! The one vocabulary of refusals, for REST (`code` of the JSON body) and GraphQL (`extensions.code`)
//! alike (interfaces.md): a client reads the same code for the same failure whichever way it came.

/// What went wrong, as a client acts on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// No key, or a key that is unknown, revoked or refused.
    Unauthenticated,
    /// The key's role or scope does not allow it.
    Forbidden,
    /// The request's content is at fault: sending it again as it is can never succeed.
    BadUserInput,
    /// The state moved under the request (a version): read again, then decide.
    Conflict,
    NotFound,
    /// Too many requests: wait as `Retry-After` says.
    RateLimited,
    /// A passing failure on our side (the database unreachable, a timeout): send it again as it is.
    Unavailable,
    /// A failure on our side that a retry will not mend; logged with the request's id.
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
            Code::Unavailable => "UNAVAILABLE",
            Code::Internal => "INTERNAL",
        }
    }
}

/// Whether a database error is a passing one (the server unreachable, restarting, out of connections):
/// the same request can succeed later.
pub fn passing(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Tls(_) => {
            true
        }
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            // Connection exceptions, insufficient resources, operator intervention (shutdown, "cannot
            // connect now"), serialization failures and deadlocks.
            code.starts_with("08")
                || code.starts_with("53")
                || code.starts_with("57P")
                || code == "40001"
                || code == "40P01"
        }),
        _ => false,
    }
}
