//! The store's errors: what can go wrong for one append request, and for the store as a whole.

use uuid::Uuid;

use crate::envelope::ExpectedVersion;

/// Why one append request was refused. Nothing of that request was written; the other requests
/// gathered in the same group commit are not affected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AppendError {
    #[error("stream {stream}: expected {expected}, but its version is {actual}")]
    Conflict { stream: String, expected: ExpectedVersion, actual: i64 },

    #[error("event {id} was already appended with different content (at position {position})")]
    IdReused { id: Uuid, position: i64 },

    #[error(
        "events {already:?} were already appended but others of the request were not: \
         a request is either an exact retry or entirely new events"
    )]
    PartialReplay { already: Vec<Uuid> },

    #[error("invalid {field}: {message}")]
    Invalid { field: String, message: String },

    /// The batch this request was written in failed in the database; nothing of it was written.
    #[error("the event store is unavailable: {0}")]
    Unavailable(String),
}

impl AppendError {
    pub(crate) fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        AppendError::Invalid { field: field.into(), message: message.into() }
    }
}

/// A failure of the store itself (database unreachable, a query failed, the writer stopped).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),

    #[error("stored data is not readable at position {position}: {message}")]
    Corrupt { position: i64, message: String },

    #[error("the append writer has stopped")]
    WriterStopped,

    /// A person's key could not be made, wrapped or opened.
    #[error("personal data keys: {0}")]
    Vault(String),
}
