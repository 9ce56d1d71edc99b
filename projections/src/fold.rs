//! The streams a batch touches, each whole up to the batch's last event: a stream whose first event is
//! in the batch has its whole history there (its later events have later positions); the others are
//! read from the log. Projections that refold what a batch touches (corrections void earlier events, so
//! a dossier is always folded whole) share this.

use std::collections::{BTreeMap, HashMap};

use events::RecordedEvent;
use events::envelope::category_of;
use events::personal::Vault;
use events::store::streams_until;
use sqlx::PgConnection;

use crate::runtime::ProjectionError;

pub struct Touched<'a> {
    in_batch: BTreeMap<&'a str, Vec<&'a RecordedEvent>>,
    logged: HashMap<String, Vec<RecordedEvent>>,
    /// Streams refolded although the batch holds none of their events (their person was erased).
    others: Vec<String>,
}

impl<'a> Touched<'a> {
    /// The streams of `category` that `events` touch, plus `also` (refolded whole from the log).
    pub async fn of(
        tx: &mut PgConnection,
        vault: Option<&Vault>,
        events: &'a [RecordedEvent],
        category: &str,
        also: &[String],
    ) -> Result<Touched<'a>, ProjectionError> {
        let Some(until) = events.last().map(|e| e.position) else {
            return Ok(Touched { in_batch: BTreeMap::new(), logged: HashMap::new(), others: Vec::new() });
        };
        let mut in_batch: BTreeMap<&str, Vec<&RecordedEvent>> = BTreeMap::new();
        for event in events.iter().filter(|e| category_of(&e.stream_id) == category) {
            in_batch.entry(event.stream_id.as_str()).or_default().push(event);
        }
        let others: Vec<String> =
            also.iter().filter(|s| !in_batch.contains_key(s.as_str())).cloned().collect();
        let partial: Vec<String> = in_batch
            .iter()
            .filter(|(_, events)| events.first().is_some_and(|e| e.version > 1))
            .map(|(stream, _)| (*stream).to_owned())
            .chain(others.iter().cloned())
            .collect();
        let logged = if partial.is_empty() {
            HashMap::new()
        } else {
            let mut logged = streams_until(tx, vault, &partial, until).await?;
            // What the read models cannot hold is left out of every fold (see `admission`).
            for history in logged.values_mut() {
                history.retain(|e| crate::admission::check(e).is_ok());
            }
            logged
        };
        Ok(Touched { in_batch, logged, others })
    }

    pub fn is_empty(&self) -> bool {
        self.in_batch.is_empty() && self.others.is_empty()
    }

    /// Each touched stream, with its events from its first up to the batch's last.
    pub fn streams(&self) -> impl Iterator<Item = (&str, Vec<&RecordedEvent>)> {
        let batch = self.in_batch.iter().map(|(stream, batch)| {
            let whole = match self.logged.get(*stream) {
                Some(history) if batch.first().is_some_and(|e| e.version > 1) => history.iter().collect(),
                _ => batch.clone(),
            };
            (*stream, whole)
        });
        let others = self
            .others
            .iter()
            .filter_map(|s| self.logged.get(s).map(|history| (s.as_str(), history.iter().collect())));
        batch.chain(others)
    }
}

/// The persons whose dossiers (in `table`, a projection's own: `personne`, `anciennes`) were known under
/// these keys before an identity correction (their entries read what was recorded under them), each with
/// the position of the latest of those keys.
pub(crate) async fn heirs(
    tx: &mut PgConnection,
    table: &'static str,
    concerned: &BTreeMap<String, i64>,
) -> Result<BTreeMap<String, i64>, ProjectionError> {
    let keys: Vec<&String> = concerned.keys().collect();
    let sql = format!(
        "SELECT personne, anciennes FROM {table} WHERE anciennes <> '{{}}' AND anciennes && $1::text[]"
    );
    let rows: Vec<(String, Vec<String>)> =
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(&keys).fetch_all(&mut *tx).await?;
    let mut heirs = BTreeMap::new();
    for (personne, anciennes) in rows {
        let at = anciennes.iter().filter_map(|a| concerned.get(a)).copied().max().unwrap_or_default();
        let known: &mut i64 = heirs.entry(personne).or_default();
        *known = (*known).max(at);
    }
    Ok(heirs)
}
