//! The event log of tba: the envelope every fact travels in, and the append-only store on PostgreSQL.
//!
//! This crate knows nothing of HTTP or GraphQL. It owns the database schema (`MIGRATOR`), because it is
//! the lowest crate that touches the database.

pub mod collaboration;
pub mod deca;
pub mod domain;
pub mod dossier;
pub mod envelope;
pub mod error;
pub mod fil;
pub mod formation;
pub mod france_travail;
pub mod hash;
pub mod limits;
pub mod merkle;
pub mod mission_locale;
pub mod organisme;
pub mod personal;
pub mod personne;
pub mod recapitulatif;
pub mod rupture;
pub mod signed_checkpoint;
pub mod store;
pub mod voeu;

pub use envelope::{
    Actor, AppendOutcome, AppendRequest, Channel, ExpectedVersion, LogHead, Metadata, NewEvent, RecordedEvent,
};
pub use error::{AppendError, StoreError};
pub use store::{EventStore, StoreConfig};

/// The schema migrations, embedded in every binary that uses the store.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");
