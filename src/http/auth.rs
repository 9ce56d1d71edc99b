//! Authentication and the per-key rate limit: `Caller` is the principal behind the request's
//! `Authorization: Bearer <key>`, extracted before any handler runs, refused with a clear 401/429.

use std::num::NonZeroU32;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use uuid::Uuid;

use super::AppState;
use super::error::ApiError;
use crate::auth::keys::{self, Principal, Role};
use crate::ingestion::journal::Transmission;
use crate::ingestion::snapshots::Transmitter;
use events::{Actor, Channel};

/// Requests per second each key may make, with bursts of twice as many.
pub type KeyLimiter = Arc<DefaultKeyedRateLimiter<Uuid>>;

pub fn limiter(per_second: u32) -> KeyLimiter {
    Arc::new(RateLimiter::keyed(quota(per_second)))
}

/// Requests per second each client address may make without a key (public indicators, `logHead`,
/// introspection), with bursts of twice as many.
pub type AddressLimiter = Arc<DefaultKeyedRateLimiter<std::net::IpAddr>>;

pub fn address_limiter(per_second: u32) -> AddressLimiter {
    Arc::new(RateLimiter::keyed(quota(per_second)))
}

fn quota(per_second: u32) -> Quota {
    let rate = NonZeroU32::new(per_second.max(1)).expect("at least one");
    let burst = NonZeroU32::new(per_second.max(1).saturating_mul(2)).expect("at least two");
    Quota::per_second(rate).allow_burst(burst)
}

/// Whether a request without a key from `address` may go on; else the 429 to answer.
pub fn check_anonymous(state: &AppState, address: std::net::IpAddr) -> Result<(), ApiError> {
    state.anonymous.check_key(&address).map_err(|not_until| {
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        ApiError::RateLimited { retry_after_secs: wait.as_secs() + 1 }
    })
}

/// The authenticated principal of a request.
#[derive(Debug, Clone)]
pub struct Caller(pub Principal);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        authenticate(state, &parts.headers).await.map(Caller)
    }
}

/// The principal behind the request's `Authorization: Bearer <key>`, within its rate limit.
pub async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<Principal, ApiError> {
    let header = headers.get(AUTHORIZATION).ok_or_else(|| {
        ApiError::Unauthenticated("en-tête « Authorization: Bearer <clé d'API> » manquant".into())
    })?;
    let secret = header
        .to_str()
        .ok()
        .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            ApiError::Unauthenticated("l'en-tête Authorization doit être « Bearer <clé d'API> »".into())
        })?;
    let principal = keys::authenticate(&state.pool, secret)
        .await
        .map_err(|e| match e {
            keys::KeyError::Database(e) => ApiError::from(e),
            other => ApiError::Internal(other.to_string()),
        })?
        .ok_or_else(|| ApiError::Unauthenticated("clé d'API inconnue ou révoquée".into()))?;
    if let Err(not_until) = state.limiter.check_key(&principal.key_id) {
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        return Err(ApiError::RateLimited { retry_after_secs: wait.as_secs() + 1 });
    }
    Ok(principal)
}

impl Caller {
    /// Who the log records as the author of the events this caller sends.
    pub fn actor(&self) -> Actor {
        let organisation = match &self.0.organisme {
            Some(o) => o.to_string(),
            None => self.0.role.as_str().to_owned(),
        };
        Actor { organisation, principal: format!("api-key:{}", self.0.prefix) }
    }

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
        Ok((transmission, Transmitter { organisme, actor: self.actor(), channel }))
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
