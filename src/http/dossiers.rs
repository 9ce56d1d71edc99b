//! `POST /api/v3/dossiers-apprenants`: the ERP push, in the format today's ERPs send (domain.md §3).
//! A whole-request problem (not JSON, not an array, more than 2000 items, bad key) is a 4xx; otherwise
//! every item gets its own result and the push is written to the transmission journal.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use events::Channel;
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use super::AppState;
use super::auth::Caller;
use super::error::{ApiError, ErrorBody, Refusals};
use crate::ingestion::journal::Totals;
use crate::ingestion::snapshots::{self, ItemOutcome};

/// At most this many dossiers per request, as today.
pub const MAX_ITEMS: usize = 2000;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PushResponse {
    pub transmission_id: Uuid,
    #[serde(flatten)]
    pub totals: Totals,
    pub results: Vec<ItemOutcome>,
}

/// Transmit up to 2000 dossiers; each gets its own result, only what changed becomes events.
///
/// Bounds (a refusal names the field and the limit): identifiers such as `id_erp_apprenant` 100
/// characters, names 150, labels and addresses 500, comments 5,000, no control characters (but line
/// breaks in addresses); free text must be a JSON string; every day of the dossier's life from
/// 1990-01-01 to ten years ahead; a learner 13 to 100 years old when the session starts; a contract
/// that does not end before it starts. A NIR that is not 13 or 15 digits, or a commune unknown to the
/// referential, is taken with a warning (`warnings`).
#[utoipa::path(
    post,
    path = "/api/v3/dossiers-apprenants",
    tag = "ingestion",
    request_body(content = Vec<super::openapi::DossierApprenantV3>, description = "Au plus 2000 dossiers"),
    responses(
        (status = 200, description = "Un résultat par dossier, dans l'ordre d'envoi", body = PushResponse),
        Refusals,
        (status = 413, description = "Plus de 2000 dossiers, ou corps trop volumineux", body = ErrorBody)
    ),
    security(("cle_api" = []))
)]
pub async fn push(
    State(state): State<AppState>,
    caller: Caller,
    body: Bytes,
) -> Result<Json<PushResponse>, ApiError> {
    let (transmission, transmitter) = caller.transmitting(Channel::ApiV3, "transmettre de dossiers")?;
    let items = items(&body)?;
    let journal = snapshots::Journal { transmission: &transmission, open: true, lines: None };
    let results = snapshots::ingest(&state.store, &transmitter, transmission.id, &items, journal).await?;
    let totals = Totals::of(&results);
    record_metrics(transmission.channel, &totals);
    Ok(Json(PushResponse { transmission_id: transmission.id, totals, results }))
}

/// The body as a JSON array of at most `MAX_ITEMS` items.
fn items(body: &[u8]) -> Result<Vec<Value>, ApiError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!("le corps de la requête n'est pas du JSON valide : {e}"))
    })?;
    let Value::Array(items) = value else {
        return Err(ApiError::bad_request(
            "le corps de la requête doit être un tableau JSON de dossiers apprenants",
        ));
    };
    if items.len() > MAX_ITEMS {
        return Err(ApiError::TooLarge(format!(
            "{} dossiers dans la requête : {MAX_ITEMS} au plus par requête, découpez l'envoi",
            items.len()
        )));
    }
    Ok(items)
}

pub(super) fn record_metrics(channel: Channel, totals: &Totals) {
    let channel = channel.as_str();
    metrics::counter!("tba_ingest_items_total", "channel" => channel, "result" => "accepted")
        .increment(totals.accepted as u64);
    metrics::counter!("tba_ingest_items_total", "channel" => channel, "result" => "rejected")
        .increment(totals.rejected as u64);
    metrics::counter!("tba_ingest_events_total", "channel" => channel).increment(totals.events as u64);
}
