//! The application as every adapter reaches it (HTTP, GraphQL, the CLI, the console): the
//! database, the log, the metrics and the gate requests pass, built once by `tba serve` (or a test) and
//! cloned into each request; and the commands, each decided in one place by a pure function of what
//! it read (given/when/then tests, no database), then appended here: native events (`native`), the
//! follow-up of ruptures (`ruptures`) and its thread (`fil`), erasure (`personnes`). Adapters map
//! `CommandError` once.

pub mod collaboration;
pub mod dossiers;
pub mod fil;
pub mod france_travail;
pub mod indicateurs;
pub mod native;
pub mod personnes;
pub mod recapitulatifs;
pub mod ruptures;
pub mod voeux;

use events::{Actor, Channel, EventStore, Metadata};
use metrics_exporter_prometheus::PrometheusHandle;
use sqlx::PgPool;
use uuid::Uuid;

use crate::auth::Gate;
use crate::auth::viewer::AccessError;

#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub store: EventStore,
    pub metrics: PrometheusHandle,
    pub gate: Gate,
    /// Turns true when the service begins to stop: the streams that never end on their own (the
    /// console's live pages) end then, so that the graceful shutdown does not wait for them.
    pub arret: std::sync::Arc<tokio::sync::watch::Sender<bool>>,
    /// The SMTP server the console's invitations are e-mailed through, if one is configured.
    pub smtp: Option<crate::notifier::Smtp>,
    /// The counts à date already answered, for GraphQL and the console alike.
    pub indicateurs: std::sync::Arc<indicateurs::IndicateursCache>,
    /// The access log's writer, batching the records of concurrent reads.
    pub journal: crate::auth::access_log::Journal,
}

impl AppState {
    pub fn new(pool: PgPool, store: EventStore, gate: Gate) -> Self {
        let arret = std::sync::Arc::new(tokio::sync::watch::channel(false).0);
        gate.watch_keys(&pool);
        AppState {
            journal: crate::auth::access_log::Journal::start(pool.clone()),
            pool,
            store,
            metrics: crate::telemetry::metrics(),
            gate,
            arret,
            smtp: None,
            indicateurs: Default::default(),
        }
    }

    /// E-mail the console's invitations through this server.
    pub fn with_smtp(mut self, smtp: Option<crate::notifier::Smtp>) -> Self {
        self.smtp = smtp;
        self
    }
}

/// Why a command is not carried out; each adapter gives it its status or code. (It is not `Display`
/// on purpose, as `AccessError`: async-graphql would take anything `Display` as an error without a
/// code.)
#[derive(Debug)]
pub enum CommandError {
    /// A value of the command is refused; `field` names it as the command does.
    Invalid {
        field: String,
        message: String,
    },
    Unauthenticated(String),
    Forbidden(String),
    NotFound(String),
    /// What the command was decided on changed before it was written: read again, decide again.
    Conflict(String),
    /// Ours: logged with its detail, answered without.
    Failed(String),
    Database(sqlx::Error),
}

impl CommandError {
    pub fn invalid(field: &str, message: impl std::fmt::Display) -> Self {
        CommandError::Invalid { field: field.to_owned(), message: message.to_string() }
    }
}

impl From<AccessError> for CommandError {
    fn from(refusal: AccessError) -> Self {
        match refusal {
            AccessError::Unauthenticated(message) => CommandError::Unauthenticated(message),
            AccessError::Forbidden(message) => CommandError::Forbidden(message),
            AccessError::BadInput { field, message } => CommandError::Invalid { field, message },
            AccessError::Database(error) => CommandError::Database(error),
        }
    }
}

impl From<sqlx::Error> for CommandError {
    fn from(error: sqlx::Error) -> Self {
        CommandError::Database(error)
    }
}

impl From<events::StoreError> for CommandError {
    fn from(error: events::StoreError) -> Self {
        match error {
            events::StoreError::Database(error) => CommandError::Database(error),
            other => CommandError::Failed(other.to_string()),
        }
    }
}

/// What every event of a command carries: who, through which channel, under a correlation of its own.
pub fn metadata(actor: Actor, channel: Channel) -> Metadata {
    Metadata { actor, channel: channel.into(), correlation_id: Some(Uuid::now_v7()), causation_id: None }
}
