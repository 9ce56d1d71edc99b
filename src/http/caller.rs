//! `Caller`: the principal behind a request's `Authorization: Bearer <key>`, extracted (through the
//! application's gate) before any handler runs, refused with a clear 401/429.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use events::Channel;
use uuid::Uuid;

use super::error::ApiError;
use crate::app::AppState;
use crate::auth::keys::{Principal, Role};
use crate::ingestion::journal::Transmission;
use crate::ingestion::snapshots::Transmitter;

/// The authenticated principal of a request.
#[derive(Debug, Clone)]
pub struct Caller(pub Principal);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(Caller(state.gate.authenticate(&state.pool, &parts.headers).await?))
    }
}

impl Caller {
    /// A transmission of dossiers by this caller (an organisme, or an administrator for any), through
    /// `channel`; refused for other roles.
    pub fn transmitting(
        &self,
        channel: Channel,
        what: &str,
    ) -> Result<(Transmission, Transmitter), ApiError> {
        self.require(&[Role::OrganismeFormation, Role::Administrateur], what)?;
        let organisme = self.0.organisme.clone();
        let transmission = Transmission {
            id: Uuid::now_v7(),
            organisme: organisme.clone(),
            key_id: Some(self.0.key_id),
            channel,
        };
        Ok((transmission, Transmitter { organisme, actor: self.0.actor(), channel }))
    }

    /// Refuse callers whose role is not among `roles`.
    pub fn require(&self, roles: &[Role], what: &str) -> Result<(), ApiError> {
        if roles.contains(&self.0.role) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!("une clé {} ne peut pas {what}", self.0.role.as_str())))
        }
    }
}
