//! What the unit tests of the projections share.

use events::RecordedEvent;

/// An event as the log would hand it, at `position` of `stream` (its version the same).
pub fn recorded(stream: &str, position: i64, event_type: &str, data: serde_json::Value) -> RecordedEvent {
    RecordedEvent {
        position,
        stream_id: stream.to_owned(),
        version: position,
        event_id: Default::default(),
        event_type: event_type.to_owned(),
        schema_version: 1,
        occurred_at: chrono::NaiveDate::MIN,
        data,
        metadata: events::Metadata::default(),
        recorded_at: chrono::DateTime::UNIX_EPOCH,
        hash: [0; 32],
    }
}
