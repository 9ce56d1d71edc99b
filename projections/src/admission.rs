//! Admission: whether the read models can hold an event of the log. The edge refuses what is out of
//! bounds (`events::limits`), but the log already holds what older versions accepted and future rule
//! sets will bound things otherwise, so a projection never stops on one event: one it cannot hold is
//! left out of every fold, as if it were not in the log, and set aside in the projection's quarantine
//! table (position, stream, type, why). `tba projections status`, `/metrics` and `/readyz` show them;
//! `tba projections retry NAME` rebuilds the projection once a fix admits them.
//!
//! The decision is a pure function of the event (fixed bounds, never "today"): the live batches, a
//! rebuild and a replay leave out the same events, so the quarantine table is part of the read model
//! and of its checksum.

use events::RecordedEvent;
use events::dossier::DossierEvent;
use events::envelope::category_of;
use events::limits;
use events::mission_locale::{MISSION_LOCALE_ENREGISTREE, MissionLocale};
use events::organisme::{ORGANISME_ENREGISTRE, Organisme};
use events::rupture::RuptureEvent;
use events::voeu::VoeuEvent;
use sqlx::PgConnection;

/// Why the read models cannot hold `event`; `Ok` when they can.
pub fn check(event: &RecordedEvent) -> Result<(), String> {
    let decoded = match (category_of(&event.stream_id), event.event_type.as_str()) {
        ("dossier", _) => return DossierEvent::admissible(event).map(drop),
        ("organisme", ORGANISME_ENREGISTRE) => {
            serde_json::from_value::<Organisme>(event.data.clone()).map(drop).map_err(|e| e.to_string())
        }
        ("mission_locale", MISSION_LOCALE_ENREGISTREE) => {
            serde_json::from_value::<MissionLocale>(event.data.clone()).map(drop).map_err(|e| e.to_string())
        }
        ("rupture", kind) => RuptureEvent::decode(kind, &event.data).map(drop).map_err(|e| e.to_string()),
        ("candidat", kind) => VoeuEvent::decode(kind, &event.data).map(drop).map_err(|e| e.to_string()),
        ("deca", kind) => events::deca::DecaEvent::decode(kind, &event.data).map(drop),
        _ => Ok(()),
    };
    decoded.map_err(|e| format!("{}: {e}", event.event_type))?;
    limits::json(&event.data).map_err(|e| e.to_string())
}

/// The events of `events` the read models can hold, in order.
pub fn admitted<'a>(
    events: impl IntoIterator<Item = &'a RecordedEvent>,
) -> impl Iterator<Item = &'a RecordedEvent> {
    events.into_iter().filter(|e| check(e).is_ok())
}

/// An event set aside, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Quarantined {
    pub position: i64,
    pub stream_id: String,
    pub event_type: String,
    pub error: String,
}

/// The events of `events` the read models can hold, in order; the others are added to `set_aside`.
pub fn sort_out<'a>(events: &'a [RecordedEvent], set_aside: &mut Vec<Quarantined>) -> Vec<&'a RecordedEvent> {
    let mut kept = Vec::with_capacity(events.len());
    for event in events {
        match check(event) {
            Ok(()) => kept.push(event),
            Err(error) => set_aside.push(Quarantined {
                position: event.position,
                stream_id: event.stream_id.clone(),
                event_type: event.event_type.clone(),
                error,
            }),
        }
    }
    kept
}

/// Record events set aside in `table` (the projection's quarantine table, unqualified: the search path
/// names the schema), in `tx` with the batch that left them out.
pub async fn record(
    tx: &mut PgConnection,
    table: &str,
    set_aside: &[Quarantined],
) -> Result<(), sqlx::Error> {
    if set_aside.is_empty() {
        return Ok(());
    }
    for q in set_aside {
        tracing::warn!(position = q.position, stream = %q.stream_id, error = %q.error, table, "event set aside");
    }
    let sql = format!(
        "INSERT INTO {table} (position, stream_id, event_type, erreur)
         SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[]) ON CONFLICT (position) DO NOTHING"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(set_aside.iter().map(|q| q.position).collect::<Vec<_>>())
        .bind(set_aside.iter().map(|q| q.stream_id.clone()).collect::<Vec<_>>())
        .bind(set_aside.iter().map(|q| q.event_type.clone()).collect::<Vec<_>>())
        .bind(set_aside.iter().map(|q| q.error.clone()).collect::<Vec<_>>())
        .execute(tx)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorded(stream: &str, event_type: &str, data: serde_json::Value) -> RecordedEvent {
        crate::test_support::recorded(stream, 7, event_type, data)
    }

    #[test]
    fn a_dossier_event_of_the_wrong_shape_or_out_of_bounds_is_set_aside() {
        let wrong = recorded("dossier-x", "ContratSigne", serde_json::json!({ "date_debut": true }));
        assert!(check(&wrong).is_err());
        let year0 = recorded("dossier-x", "ContratSigne", serde_json::json!({ "date_debut": "0000-01-01" }));
        assert!(check(&year0).expect_err("year 0").contains("date_debut"));
        let fine = recorded("dossier-x", "ContratSigne", serde_json::json!({ "date_debut": "2025-09-01" }));
        assert_eq!(check(&fine), Ok(()));
        let mut aside = Vec::new();
        let batch = [fine, year0];
        let kept = sort_out(&batch, &mut aside);
        assert_eq!((kept.len(), aside.len(), aside[0].position), (1, 1, 7));
    }

    #[test]
    fn other_categories_are_bounded_by_their_texts_and_days() {
        let long = recorded("reseau-x", "ReseauEnregistre", serde_json::json!({ "nom": "x".repeat(6000) }));
        assert!(check(&long).is_err());
        let ok = recorded("reseau-x", "ReseauEnregistre", serde_json::json!({ "nom": "x" }));
        assert_eq!(check(&ok), Ok(()));
    }
}
