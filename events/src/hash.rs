//! The hash chain: `hash(n) = SHA-256(hash(n-1) ‖ canonical bytes of event n)`, with 32 zero bytes
//! before the first event.
//!
//! The canonical bytes are a length-prefixed concatenation of every recorded field, so that no two
//! different events can produce the same bytes. `data` and `metadata` enter as the exact JSON text
//! stored in the log (a `json` column keeps it verbatim), so verification needs no JSON re-encoding.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// The hash before the first event.
pub const GENESIS: [u8; 32] = [0; 32];

/// The recorded fields of one event, as they are hashed.
#[derive(Debug, Clone, Copy)]
pub struct Hashed<'a> {
    pub position: i64,
    pub stream_id: &'a str,
    pub version: i64,
    pub event_id: Uuid,
    pub event_type: &'a str,
    pub schema_version: i32,
    pub occurred_at: NaiveDate,
    pub data: &'a str,
    pub metadata: &'a str,
    pub recorded_at: DateTime<Utc>,
}

/// Chain one event onto the previous hash.
pub fn chain(previous: &[u8; 32], event: &Hashed<'_>) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(previous);
    h.update(b"tba-event-v1");
    h.update(event.position.to_be_bytes());
    put_str(&mut h, event.stream_id);
    h.update(event.version.to_be_bytes());
    h.update(event.event_id.as_bytes());
    put_str(&mut h, event.event_type);
    h.update(event.schema_version.to_be_bytes());
    h.update(event.occurred_at.num_days_from_ce().to_be_bytes());
    put_str(&mut h, event.data);
    put_str(&mut h, event.metadata);
    h.update(event.recorded_at.timestamp_micros().to_be_bytes());
    h.finalize().into()
}

fn put_str(h: &mut Sha256, s: &str) {
    // Lengths are bounded by PostgreSQL's 1 GB field limit, so u64 never truncates.
    h.update((s.len() as u64).to_be_bytes());
    h.update(s.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn event<'a>(data: &'a str, metadata: &'a str) -> Hashed<'a> {
        Hashed {
            position: 1,
            stream_id: "dossier-1",
            version: 1,
            event_id: Uuid::nil(),
            event_type: "InscriptionEnregistree",
            schema_version: 1,
            occurred_at: NaiveDate::from_ymd_opt(2025, 9, 1).expect("valid date"),
            data,
            metadata,
            recorded_at: DateTime::from_timestamp_micros(1_700_000_000_000_000).expect("valid time"),
        }
    }

    #[test]
    fn the_chain_is_deterministic_and_depends_on_the_previous_hash() {
        let e = event("{}", "{}");
        assert_eq!(chain(&GENESIS, &e), chain(&GENESIS, &e));
        assert_ne!(chain(&GENESIS, &e), chain(&[1; 32], &e));
    }

    #[test]
    fn moving_bytes_between_fields_changes_the_hash() {
        // Without length prefixes these two would hash the same bytes.
        assert_ne!(chain(&GENESIS, &event("{}x", "{}")), chain(&GENESIS, &event("{}", "x{}")));
    }

    proptest! {
        #[test]
        fn any_change_of_data_changes_the_hash(a in ".{0,40}", b in ".{0,40}") {
            prop_assume!(a != b);
            prop_assert_ne!(chain(&GENESIS, &event(&a, "{}")), chain(&GENESIS, &event(&b, "{}")));
        }

        #[test]
        fn any_change_of_position_or_time_changes_the_hash(p in 1i64..1_000_000, micros in 0i64..1_000_000) {
            let base = event("{}", "{}");
            let moved = Hashed { position: base.position + p, ..base };
            prop_assert_ne!(chain(&GENESIS, &base), chain(&GENESIS, &moved));
            let later = Hashed {
                recorded_at: base.recorded_at + chrono::Duration::microseconds(micros + 1),
                ..base
            };
            prop_assert_ne!(chain(&GENESIS, &base), chain(&GENESIS, &later));
        }
    }
}
