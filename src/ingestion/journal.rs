//! The transmission journal: per organisme, what each push brought (received, accepted, rejected,
//! events) and, for 15 days at most, the refused items themselves with their errors, so a CFA can see
//! why an item was refused. The NIR is removed from a refused item before it is kept.

use chrono::{DateTime, NaiveDate, Utc};
use events::Channel;
use serde::Serialize;
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use super::FieldError;
use events::domain::OrganismeRef;

/// The result of one item, in the order the items were sent.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ItemOutcome {
    pub index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_erp_apprenant: Option<String>,
    #[serde(flatten)]
    pub result: ItemResult,
    /// What was taken but deserves a look (a NIR that is not one, a commune the referential does not
    /// know); only on accepted items.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<FieldError>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum ItemResult {
    /// The dossier's id and the types of the events the item produced (none when nothing changed).
    Accepted {
        dossier_id: String,
        #[schema(value_type = Vec<String>)]
        events: Vec<&'static str>,
    },
    Rejected {
        errors: Vec<FieldError>,
    },
}

impl ItemOutcome {
    pub fn is_accepted(&self) -> bool {
        matches!(self.result, ItemResult::Accepted { .. })
    }

    pub fn event_count(&self) -> usize {
        match &self.result {
            ItemResult::Accepted { events, .. } => events.len(),
            ItemResult::Rejected { .. } => 0,
        }
    }
}

/// How long refused raw items (personal data) are kept.
pub const REJETS_RETENTION_DAYS: i64 = 15;

/// One push, as the journal records it.
#[derive(Debug, Clone)]
pub struct Transmission {
    pub id: Uuid,
    pub organisme: Option<OrganismeRef>,
    /// The API key it came with; `None` for an operator's `tba import`.
    pub key_id: Option<Uuid>,
    pub channel: Channel,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Totals {
    pub received: i64,
    pub accepted: i64,
    pub rejected: i64,
    pub events: i64,
}

impl Totals {
    /// Count them in the service's metrics, under `channel`.
    pub fn record_metrics(&self, channel: Channel) {
        let channel = channel.as_str();
        metrics::counter!("tba_ingest_items_total", "channel" => channel, "result" => "accepted")
            .increment(self.accepted as u64);
        metrics::counter!("tba_ingest_items_total", "channel" => channel, "result" => "rejected")
            .increment(self.rejected as u64);
        metrics::counter!("tba_ingest_events_total", "channel" => channel).increment(self.events as u64);
    }

    pub fn of(outcomes: &[ItemOutcome]) -> Totals {
        let accepted = outcomes.iter().filter(|o| o.is_accepted()).count() as i64;
        Totals {
            received: outcomes.len() as i64,
            accepted,
            rejected: outcomes.len() as i64 - accepted,
            events: outcomes.iter().map(|o| o.event_count() as i64).sum(),
        }
    }
}

/// Start the record of a transmission, in the transaction of its first events (see
/// `snapshots::ingest`).
pub async fn open(conn: &mut sqlx::PgConnection, transmission: &Transmission) -> Result<(), sqlx::Error> {
    sqlx::query!(
        r#"INSERT INTO transmissions (id, organisme_uai, organisme_siret, key_id, channel,
                                      received, accepted, rejected, events)
           VALUES ($1, $2, $3, $4, $5, 0, 0, 0, 0)"#,
        transmission.id,
        transmission.organisme.as_ref().map(|o| o.uai.to_string()),
        transmission.organisme.as_ref().map(|o| o.siret.to_string()),
        transmission.key_id,
        transmission.channel.as_str(),
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Add a part of a transmission: its totals, and its refused items under `indexes` (the position of
/// each item in the request, or its line in a file).
pub async fn add(
    conn: &mut sqlx::PgConnection,
    transmission: Uuid,
    items: &[Value],
    indexes: &[i32],
    outcomes: &[ItemOutcome],
) -> Result<(), sqlx::Error> {
    let totals = Totals::of(outcomes);
    let received_at: DateTime<Utc> = sqlx::query_scalar!(
        r#"UPDATE transmissions SET received = received + $2, accepted = accepted + $3,
                                    rejected = rejected + $4, events = events + $5
           WHERE id = $1 RETURNING received_at"#,
        transmission,
        totals.received as i32,
        totals.accepted as i32,
        totals.rejected as i32,
        totals.events as i32,
    )
    .fetch_one(&mut *conn)
    .await?;
    let (mut positions, mut ids, mut errors, mut raw, mut personnes) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for outcome in outcomes {
        if let ItemResult::Rejected { errors: item_errors } = &outcome.result {
            positions.push(indexes[outcome.index]);
            ids.push(outcome.id_erp_apprenant.as_deref().map(|id| id.replace('\0', "\u{fffd}")));
            errors.push(storable(serde_json::to_value(item_errors).expect("field errors serialise to JSON")));
            raw.push(items.get(outcome.index).map(without_nir).map(storable));
            personnes.push(items.get(outcome.index).and_then(personne_of));
        }
    }
    if !positions.is_empty() {
        sqlx::query!(
            r#"INSERT INTO transmission_rejets (transmission_id, item_index, received_at, id_erp_apprenant,
                                                errors, item, personne)
               SELECT $1, i, $2, id, e, r, p
               FROM unnest($3::integer[], $4::text[], $5::jsonb[], $6::jsonb[], $7::text[]) AS t(i, id, e, r, p)"#,
            transmission,
            received_at,
            &positions,
            &ids as &[Option<String>],
            &errors,
            &raw as &[Option<Value>],
            &personnes as &[Option<String>],
        )
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// The person a refused item is about, when its names and birth date can be read: erasing the person
/// deletes it (an item too broken to tell whose it is goes with the 15 days' purge).
fn personne_of(item: &Value) -> Option<String> {
    let text = |field: &str| item.get(field)?.as_str().map(str::trim).filter(|s| !s.is_empty());
    let naissance = super::fields::parse_date(text("date_de_naissance_apprenant")?).ok()?;
    let key =
        events::dossier::PersonKey::new(text("nom_apprenant")?, text("prenom_apprenant")?, naissance, None);
    Some(key.identite)
}

/// The value with every NUL character (which PostgreSQL's text and jsonb cannot hold, and which a
/// hostile sender may well send) shown as U+FFFD: a refused item is always journaled.
fn storable(value: Value) -> Value {
    let clean = |text: String| if text.contains('\0') { text.replace('\0', "\u{fffd}") } else { text };
    match value {
        Value::String(text) => Value::String(clean(text)),
        Value::Array(items) => Value::Array(items.into_iter().map(storable).collect()),
        Value::Object(fields) => {
            Value::Object(fields.into_iter().map(|(k, v)| (clean(k), storable(v))).collect())
        }
        other => other,
    }
}

/// The item as sent, minus the NIR (never stored, even for 15 days).
fn without_nir(item: &Value) -> Value {
    let mut item = item.clone();
    if let Some(fields) = item.as_object_mut() {
        fields.remove("nir_apprenant");
    }
    item
}

/// Delete the refused items older than the retention; returns how many went.
pub async fn purge(pool: &PgPool) -> Result<u64, sqlx::Error> {
    let deleted = sqlx::query!(
        "DELETE FROM transmission_rejets WHERE received_at < now() - make_interval(days => $1)",
        REJETS_RETENTION_DAYS as i32
    )
    .execute(pool)
    .await?;
    Ok(deleted.rows_affected())
}

/// Purge now and every hour, until the pool is closed (run by the service).
pub async fn purge_every_hour(pool: PgPool) {
    let mut every_hour = tokio::time::interval(std::time::Duration::from_secs(3600));
    loop {
        every_hour.tick().await;
        if pool.is_closed() {
            return;
        }
        match purge(&pool).await {
            Ok(0) => {}
            Ok(deleted) => tracing::info!(deleted, "purged refused items older than the retention"),
            Err(error) => tracing::warn!(%error, "could not purge the refused items"),
        }
    }
}

/// One day of an organisme's transmissions (UTC days).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Jour {
    pub date: NaiveDate,
    pub transmissions: i64,
    #[serde(flatten)]
    pub totals: Totals,
}

/// A refused item, as kept.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Rejet {
    pub transmission_id: Uuid,
    pub received_at: DateTime<Utc>,
    /// The item's position in the request, or its line in a deposited file.
    pub index: i32,
    pub id_erp_apprenant: Option<String>,
    #[schema(value_type = Vec<super::FieldError>)]
    pub errors: Value,
    /// The item as sent, without its NIR.
    #[schema(value_type = Option<Object>)]
    pub item: Option<Value>,
}

/// The days of `organisme` between `from` and `to` (inclusive), newest first.
pub async fn days(
    pool: &PgPool,
    organisme: &OrganismeRef,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<Jour>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"SELECT (received_at AT TIME ZONE 'UTC')::date AS "date!", count(*) AS "transmissions!",
                  sum(received)::bigint AS "received!", sum(accepted)::bigint AS "accepted!",
                  sum(rejected)::bigint AS "rejected!", sum(events)::bigint AS "events!"
           FROM transmissions
           WHERE organisme_uai = $1 AND organisme_siret = $2
             AND received_at >= $3::date AT TIME ZONE 'UTC' AND received_at < ($4::date + 1) AT TIME ZONE 'UTC'
           GROUP BY 1 ORDER BY 1 DESC"#,
        organisme.uai.as_str(),
        organisme.siret.as_str(),
        from,
        to,
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Jour {
            date: r.date,
            transmissions: r.transmissions,
            totals: Totals {
                received: r.received,
                accepted: r.accepted,
                rejected: r.rejected,
                events: r.events,
            },
        })
        .collect())
}

/// The refused items of `organisme` still kept, newest first, optionally of one day only.
pub async fn rejets(
    pool: &PgPool,
    organisme: &OrganismeRef,
    day: Option<NaiveDate>,
    limit: i64,
    offset: i64,
) -> Result<Vec<Rejet>, sqlx::Error> {
    sqlx::query_as!(
        Rejet,
        r#"SELECT r.transmission_id, r.received_at, r.item_index AS index, r.id_erp_apprenant, r.errors,
                  r.item
           FROM transmission_rejets r JOIN transmissions t ON t.id = r.transmission_id
           WHERE t.organisme_uai = $1 AND t.organisme_siret = $2
             AND r.received_at >= now() - make_interval(days => $3)
             AND ($4::date IS NULL OR (r.received_at AT TIME ZONE 'UTC')::date = $4)
           ORDER BY r.received_at DESC, r.item_index
           LIMIT $5 OFFSET $6"#,
        organisme.uai.as_str(),
        organisme.siret.as_str(),
        REJETS_RETENTION_DAYS as i32,
        day,
        limit,
        offset,
    )
    .fetch_all(pool)
    .await
}

/// Who a transmission belongs to (`UAI:SIRET`, or `None` for an administrator's) and its channel.
pub async fn owner(
    pool: &PgPool,
    transmission: Uuid,
) -> Result<Option<(Option<String>, String)>, sqlx::Error> {
    let row = sqlx::query!(
        "SELECT organisme_uai, organisme_siret, channel FROM transmissions WHERE id = $1",
        transmission
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| {
        let organisme = r.organisme_uai.zip(r.organisme_siret).map(|(uai, siret)| format!("{uai}:{siret}"));
        (organisme, r.channel)
    }))
}

/// Every refused item of one transmission still kept, in item order.
pub async fn rejets_of(pool: &PgPool, transmission: Uuid) -> Result<Vec<Rejet>, sqlx::Error> {
    sqlx::query_as!(
        Rejet,
        r#"SELECT transmission_id, received_at, item_index AS index, id_erp_apprenant, errors, item
           FROM transmission_rejets
           WHERE transmission_id = $1 AND received_at >= now() - make_interval(days => $2)
           ORDER BY item_index"#,
        transmission,
        REJETS_RETENTION_DAYS as i32,
    )
    .fetch_all(pool)
    .await
}
