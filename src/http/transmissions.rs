//! `GET /api/v1/transmissions`: the key's organisme's transmission journal: per UTC day, what was
//! received, accepted and rejected, and the refused items with their errors (kept 15 days at most).

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use chrono::{Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::caller::Caller;
use super::error::{ApiError, Refusals};
use crate::app::AppState;
use crate::auth::keys::{OrganismeRef, Role};
use crate::ingestion::journal::{self, Jour, Rejet};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Params {
    /// First day of the summary (default: 30 days before `au`).
    du: Option<NaiveDate>,
    /// Last day of the summary (default: today, UTC).
    au: Option<NaiveDate>,
    /// Only the refused items of this day.
    date: Option<NaiveDate>,
    /// Page of refused items (default 100, at most 1000).
    limit: Option<i64>,
    offset: Option<i64>,
    /// For administrators: the organisme `UAI:SIRET` to look at.
    organisme: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Journal {
    organisme: String,
    du: NaiveDate,
    au: NaiveDate,
    jours: Vec<Jour>,
    rejets: Vec<Rejet>,
}

/// The journal of the key's organisme: per day, what was received, accepted, refused.
///
/// The refused items hold what the ERP sent (names, e-mails): each read is recorded in the access
/// journal.
#[utoipa::path(
    get,
    path = "/api/v1/transmissions",
    tag = "journal",
    params(Params),
    responses(
        (status = 200, description = "Le journal", body = Journal),
        Refusals
    ),
    security(("cle_api" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    params: Result<Query<Params>, QueryRejection>,
) -> Result<Json<Journal>, ApiError> {
    caller.require(&[Role::OrganismeFormation, Role::Administrateur], "lire un journal de transmissions")?;
    let Query(params) =
        params.map_err(|e| ApiError::bad_request(format!("paramètres : {}", e.body_text())))?;
    let organisme: OrganismeRef = match (&caller.0.organisme, &params.organisme) {
        (Some(own), None) => own.clone(),
        (Some(own), Some(asked)) if asked.parse::<OrganismeRef>().as_ref() == Ok(own) => own.clone(),
        (Some(_), Some(_)) => {
            return Err(ApiError::Forbidden("une clé d'organisme ne lit que son propre journal".into()));
        }
        (None, Some(asked)) => {
            asked.parse().map_err(|e| ApiError::bad_request(format!("organisme : {e}")))?
        }
        (None, None) => return Err(ApiError::bad_request("organisme : paramètre UAI:SIRET requis")),
    };
    let au = params.au.unwrap_or_else(|| Utc::now().date_naive());
    let du = params.du.unwrap_or(au - Duration::days(30));
    if du > au {
        return Err(ApiError::bad_request("du : la date de début doit précéder la date de fin (au)"));
    }
    let limit = params.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request("limit : entre 1 et 1000"));
    }
    let offset = params.offset.unwrap_or(0);
    if offset < 0 {
        return Err(ApiError::bad_request("offset : positif ou nul"));
    }
    let jours = journal::days(&state.pool, &organisme, du, au).await?;
    let rejets = journal::rejets(&state.pool, &organisme, params.date, limit, offset).await?;
    // The refused items hold what the ERP sent (names, e-mails): their read is recorded.
    let subject = organisme.to_string();
    let details = serde_json::json!({ "rejets": rejets.len(), "date": params.date, "offset": offset });
    state.journal.record(&caller.0, "transmissions", &subject, details).await?;
    Ok(Json(Journal { organisme: organisme.to_string(), du, au, jours, rejets }))
}
