//! `POST /api/v1/imports`: the file deposit (CSV or XLSX, v3 field names as columns). The body is
//! spooled to a temporary file as it arrives, then read row by row (see `ingestion::imports`), so a
//! large file costs disk, not memory. `GET /api/v1/transmissions/{id}/rejets.csv` is the row-level error
//! report of any transmission of the caller's organisme.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::IntoResponse;
use events::Channel;
use serde::Serialize;
use uuid::Uuid;

use super::caller::Caller;
use super::error::{ApiError, ErrorBody, Refusals};
use crate::app::AppState;
use crate::auth::keys::Role;
use crate::ingestion::imports::{self, DossiersImportError};
use crate::ingestion::journal::{self, Totals};

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ImportResponse {
    pub transmission_id: Uuid,
    #[serde(flatten)]
    pub totals: Totals,
    /// Where to download the refused rows and why (CSV), when some were refused.
    pub rapport_erreurs: Option<String>,
}

/// Deposit a CSV (`;` or `,`, UTF-8 or Windows-1252) or XLSX file whose columns are the v3 fields.
///
/// The file is checked whole before a row is written; past a limit it is refused with 413 naming it:
/// `TBA_IMPORT_LIMIT` bytes; XLSX: 1,024 columns, 1,048,576 rows, 32,767 characters per cell, a part
/// held in memory 64 MiB inflated, a worksheet 4 GiB, no part inflating more than 200 times, shared
/// strings taking 64 MiB once read; CSV: a record of 1 MiB, UTF-8 or Windows-1252 only (400 otherwise).
#[utoipa::path(
    post,
    path = "/api/v1/imports",
    tag = "ingestion",
    request_body(content = String, content_type = "text/csv", description = "Le fichier, tel quel (CSV ou XLSX)"),
    responses(
        (status = 200, description = "Les totaux, et le rapport des lignes refusées", body = ImportResponse),
        Refusals,
        (status = 413, description = "Fichier trop volumineux", body = ErrorBody)
    ),
    security(("cle_api" = []))
)]
pub async fn upload(
    State(state): State<AppState>,
    caller: Caller,
    body: Body,
) -> Result<Json<ImportResponse>, ApiError> {
    let (transmission, transmitter) = caller.transmitting(Channel::Import, "déposer de fichier")?;
    let spool = super::uploads::spool(body).await?;
    let totals = imports::run(&state.store, &transmitter, &transmission, spool.path(), |_| {})
        .await
        .map_err(|e| match e {
            DossiersImportError::File(message) => ApiError::bad_request(message),
            DossiersImportError::Limit(message) => ApiError::TooLarge(message),
            DossiersImportError::Ingest(e) => e.into(),
            DossiersImportError::Database(e) => e.into(),
        })?;
    totals.record_metrics(transmission.channel);
    let rapport_erreurs =
        (totals.rejected > 0).then(|| format!("/api/v1/transmissions/{}/rejets.csv", transmission.id));
    Ok(Json(ImportResponse { transmission_id: transmission.id, totals, rapport_erreurs }))
}

/// The refused items of a transmission and why, as CSV (`;`), kept 15 days.
///
/// They hold what the ERP sent (names, e-mails): each download is recorded in the access journal.
#[utoipa::path(
    get,
    path = "/api/v1/transmissions/{id}/rejets.csv",
    tag = "journal",
    params(("id" = Uuid, Path, description = "L'identifiant de la transmission")),
    responses(
        (status = 200, description = "ligne (ou index);id_erp_apprenant;champ;message", body = String, content_type = "text/csv"),
        (status = 404, description = "Aucune transmission de ce numéro pour l'organisme de la clé", body = ErrorBody),
        Refusals
    ),
    security(("cle_api" = []))
)]
pub async fn report(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<impl IntoResponse, ApiError> {
    caller.require(&[Role::OrganismeFormation, Role::Administrateur], "lire un rapport d'erreurs")?;
    let not_found = || ApiError::NotFound(format!("aucune transmission {id} pour cette clé"));
    let (organisme, channel) = journal::owner(&state.pool, id).await?.ok_or_else(not_found)?;
    let own = caller.0.organisme.as_ref().map(ToString::to_string);
    if own.is_some() && own != organisme {
        return Err(not_found());
    }
    let rejets = journal::rejets_of(&state.pool, id).await?;
    let details = serde_json::json!({ "rejets": rejets.len() });
    state.journal.record(&caller.0, "rejets", &id.to_string(), details).await?;
    let position = if channel == Channel::Import.as_str() { "ligne" } else { "index" };
    let disposition = format!("attachment; filename=\"rejets-{id}.csv\"");
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        imports::report_csv(&rejets, position),
    ))
}
