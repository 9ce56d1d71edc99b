//! The envelope: what every event carries besides its domain data, before and after it is recorded.
//!
//! A `NewEvent` is what a producer hands to the store; a `RecordedEvent` is what the log holds, with its
//! position, stream version, knowledge time (`recorded_at`) and chain hash.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Who produced a fact: the organisation and the principal (API key, user, system component) acting for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Actor {
    pub organisation: String,
    pub principal: String,
}

/// How facts reach the log: what `Metadata::channel` says (kept there as text, so that a log written
/// by any version reads back).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    /// `POST /api/v3/dossiers-apprenants`, the ERPs' format.
    ApiV3,
    /// A file of dossiers (`POST /api/v1/imports`, `tba import`).
    Import,
    /// Typed events from their producers (`POST /api/v1/events`).
    Events,
    /// A GraphQL mutation.
    Graphql,
    /// An operator's command (`tba …`).
    Cli,
    /// An Affelnet or Parcoursup file.
    VoeuxImport,
    /// The daily erasure of persons past the retention period.
    Retention,
    /// The collaboration's recaps, produced and sent by the service.
    Recapitulatifs,
    /// A form of the people's console.
    Console,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::ApiV3 => "api-v3",
            Channel::Import => "import",
            Channel::Events => "events",
            Channel::Graphql => "graphql",
            Channel::Cli => "cli",
            Channel::VoeuxImport => "voeux-import",
            Channel::Retention => "retention",
            Channel::Recapitulatifs => "recapitulatifs",
            Channel::Console => "console",
        }
    }
}

impl From<Channel> for String {
    fn from(channel: Channel) -> String {
        channel.as_str().to_owned()
    }
}

/// Everything about an event that is not the fact itself. Covered by the hash chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Metadata {
    pub actor: Actor,
    /// How the fact reached the log: `api-v3`, `events`, `import`, `cli`, ...
    pub channel: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub causation_id: Option<Uuid>,
}

/// An event to append.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// Client-supplied id, for idempotent retries; generated when absent.
    pub id: Option<Uuid>,
    pub event_type: String,
    pub schema_version: i32,
    pub data: serde_json::Value,
    /// The business date of the fact (a UTC calendar day).
    pub occurred_at: NaiveDate,
    pub metadata: Metadata,
    /// The person whose personal data the event carries (a person key's `identite`), when the store
    /// cannot tell it from the event itself (see `personal::Vault::seal`). Not stored as such.
    pub personne: Option<String>,
}

impl NewEvent {
    /// A version-1 event with no client id, occurring today, and default metadata.
    pub fn new(event_type: impl Into<String>, data: serde_json::Value) -> Self {
        NewEvent {
            id: None,
            event_type: event_type.into(),
            schema_version: 1,
            data,
            occurred_at: Utc::now().date_naive(),
            metadata: Metadata::default(),
            personne: None,
        }
    }

    /// The person whose personal data this event carries.
    pub fn about(mut self, personne: impl Into<String>) -> Self {
        self.personne = Some(personne.into());
        self
    }

    pub fn with_id(mut self, id: Uuid) -> Self {
        self.id = Some(id);
        self
    }

    pub fn with_metadata(mut self, metadata: Metadata) -> Self {
        self.metadata = metadata;
        self
    }

    pub fn occurred_at(mut self, date: NaiveDate) -> Self {
        self.occurred_at = date;
        self
    }
}

/// What the writer expects the stream's version to be before its events are appended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExpectedVersion {
    /// No check.
    Any,
    /// The stream must not exist yet.
    NoStream,
    /// The stream's last event must have exactly this version (versions start at 1).
    Exact(i64),
}

impl ExpectedVersion {
    pub(crate) fn admits(self, current: i64) -> bool {
        match self {
            ExpectedVersion::Any => true,
            ExpectedVersion::NoStream => current == 0,
            ExpectedVersion::Exact(v) => current == v,
        }
    }
}

impl std::fmt::Display for ExpectedVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExpectedVersion::Any => f.write_str("any version"),
            ExpectedVersion::NoStream => f.write_str("no stream"),
            ExpectedVersion::Exact(v) => write!(f, "version {v}"),
        }
    }
}

/// One atomic append to one stream.
#[derive(Debug, Clone)]
pub struct AppendRequest {
    pub stream_id: String,
    pub expected: ExpectedVersion,
    pub events: Vec<NewEvent>,
}

impl AppendRequest {
    pub fn new(stream_id: impl Into<String>, expected: ExpectedVersion, events: Vec<NewEvent>) -> Self {
        AppendRequest { stream_id: stream_id.into(), expected, events }
    }
}

/// The result of a successful append.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppendOutcome {
    pub stream_id: String,
    /// The global position of each event, in request order.
    pub positions: Vec<i64>,
    /// The stream's version after the append (its last event's version; 0 for an empty stream).
    pub version: i64,
    /// The event ids, in request order (the generated ones included).
    pub event_ids: Vec<Uuid>,
    /// True when every event had already been appended with the same content: nothing was written.
    pub replayed: bool,
}

/// An event as the log holds it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordedEvent {
    pub position: i64,
    pub stream_id: String,
    pub version: i64,
    pub event_id: Uuid,
    pub event_type: String,
    pub schema_version: i32,
    pub occurred_at: NaiveDate,
    pub data: serde_json::Value,
    pub metadata: Metadata,
    /// The knowledge time: when the log learned the fact.
    pub recorded_at: DateTime<Utc>,
    #[serde(with = "hex_bytes")]
    pub hash: [u8; 32],
}

/// The head of the log: its last position and the chain hash there. An auditor who notes it down can
/// later prove that the prefix up to that position is unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LogHead {
    pub position: i64,
    #[serde(with = "hex_bytes")]
    pub hash: [u8; 32],
}

impl LogHead {
    pub fn hash_hex(&self) -> String {
        hex::encode(self.hash)
    }
}

/// The category of a stream: the part of its id before the first `-` (`dossier-…` → `dossier`).
pub fn category_of(stream_id: &str) -> &str {
    stream_id.split_once('-').map_or(stream_id, |(category, _)| category)
}

mod hex_bytes {
    pub fn serialize<S: serde::Serializer>(bytes: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn category_is_the_prefix_before_the_first_dash() {
        assert_eq!(category_of("dossier-0a1b-2c"), "dossier");
        assert_eq!(category_of("organisme"), "organisme");
    }

    #[test]
    fn expectations_admit_exactly_the_versions_they_name() {
        assert!(ExpectedVersion::Any.admits(7));
        assert!(ExpectedVersion::NoStream.admits(0));
        assert!(!ExpectedVersion::NoStream.admits(1));
        assert!(ExpectedVersion::Exact(3).admits(3));
        assert!(!ExpectedVersion::Exact(3).admits(4));
    }
}
