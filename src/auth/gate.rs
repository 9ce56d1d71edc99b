//! The gate every request passes: the principal behind its `Authorization: Bearer <key>`, and the
//! rate limits, per key and, for requests without one, per client address. Each refusal says why in
//! words a caller can act on; the adapters give it their status or code.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, NotUntil, Quota, RateLimiter};
use sqlx::PgPool;
use uuid::Uuid;

use super::key_cache::{self, KeyCache};
use super::keys::{self, Principal};

/// Why a request is not let through.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("{0}")]
    Unauthenticated(String),
    #[error("trop de requêtes pour cette clé : réessayez dans {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("{0}")]
    Internal(String),
}

/// The rate limiters, shared by every request of the service.
#[derive(Clone)]
pub struct Gate {
    per_key: Arc<DefaultKeyedRateLimiter<Uuid>>,
    per_address: Arc<DefaultKeyedRateLimiter<IpAddr>>,
    /// The keys already checked (serving once `watch_keys` listens).
    keys: KeyCache,
}

impl Gate {
    /// `per_key` requests per second for each key, `per_address` for each client address without a
    /// key (public indicators, `logHead`, introspection); bursts of twice as many.
    pub fn new(per_key: u32, per_address: u32) -> Self {
        Gate {
            per_key: Arc::new(RateLimiter::keyed(quota(per_key))),
            per_address: Arc::new(RateLimiter::keyed(quota(per_address))),
            keys: key_cache::new(),
        }
    }

    /// Keep checked keys in memory from now on, forgotten at every change to a key in `pool`'s
    /// database (see `key_cache`).
    pub fn watch_keys(&self, pool: &PgPool) {
        self.keys.listen(pool);
    }

    /// Revoke the key named by its id or prefix (`keys::revoke`): refused by this process once this
    /// returns, by the other processes on the same database as soon as the change is notified to
    /// them (milliseconds).
    pub async fn revoke(&self, pool: &PgPool, name: &str) -> Result<(), keys::KeyError> {
        let revoked = keys::revoke(pool, name).await;
        self.keys.forget(&events::store::notified::Change::All);
        revoked
    }

    /// Whether a request without a key from `address` may go on.
    pub fn check_anonymous(&self, address: IpAddr) -> Result<(), AuthError> {
        self.per_address.check_key(&address).map_err(rate_limited)
    }

    /// The principal behind `headers`' `Authorization: Bearer <key>`, within its rate limit.
    pub async fn authenticate(&self, pool: &PgPool, headers: &HeaderMap) -> Result<Principal, AuthError> {
        let header = headers.get(AUTHORIZATION).ok_or_else(|| {
            AuthError::Unauthenticated("en-tête « Authorization: Bearer <clé d'API> » manquant".into())
        })?;
        let secret = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")))
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                AuthError::Unauthenticated("l'en-tête Authorization doit être « Bearer <clé d'API> »".into())
            })?;
        let digest = keys::digest(secret);
        let principal = match self.keys.get(&digest) {
            Some(principal) => principal,
            None => {
                let generation = self.keys.generation();
                let principal = keys::authenticate_digest(pool, &digest)
                    .await
                    .map_err(|e| match e {
                        keys::KeyError::Database(e) => AuthError::Database(e),
                        other => AuthError::Internal(other.to_string()),
                    })?
                    .ok_or_else(|| AuthError::Unauthenticated("clé d'API inconnue ou révoquée".into()))?;
                if let Some(generation) = generation {
                    self.keys.keep([(digest, principal.clone())], generation);
                }
                principal
            }
        };
        self.per_key.check_key(&principal.key_id).map_err(rate_limited)?;
        Ok(principal)
    }
}

fn quota(per_second: u32) -> Quota {
    let rate = NonZeroU32::new(per_second.max(1)).expect("at least one");
    let burst = NonZeroU32::new(per_second.max(1).saturating_mul(2)).expect("at least two");
    Quota::per_second(rate).allow_burst(burst)
}

fn rate_limited(not_until: NotUntil<<DefaultClock as Clock>::Instant>) -> AuthError {
    let wait = not_until.wait_time_from(DefaultClock::default().now());
    AuthError::RateLimited { retry_after_secs: wait.as_secs() + 1 }
}
