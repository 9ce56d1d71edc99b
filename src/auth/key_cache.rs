//! The keys a process has checked, kept in memory so that a request with a known key costs no round
//! trip, while a revocation still takes effect at once: every change to what a key may do (revocation,
//! role, organisme, scope) is notified on `tba_api_keys` (migration `…37_api_keys_notify`) and
//! empties the cache of every listening process; a revocation by this process empties its own at once.
//!
//! The cache serves only while its LISTEN connection is up: when it drops, the cache is emptied and
//! every key is checked in the database until the connection is back (a notification sent meanwhile
//! would be lost). A check that raced with a change is not kept: each check notes the cache's
//! generation before it reads, and what it read is kept only if no change was told since. An entry
//! also expires after `TTL`, so that a connection that died unnoticed cannot keep a key alive long,
//! and so that a busy key's last use (kept to the hour) and dormancy are still read from the database.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use sqlx::PgPool;
use sqlx::postgres::PgListener;

use super::keys::Principal;

/// The channel `api_keys`' trigger notifies.
const CHANNEL: &str = "tba_api_keys";
/// How long a checked key is trusted without reading it again.
const TTL: Duration = Duration::from_secs(60);

/// A secret's SHA-256, as `api_keys` stores it.
pub type Digest = [u8; 32];

#[derive(Clone, Default)]
pub struct KeyCache {
    state: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    /// Whether a listener is connected: nothing is served from the cache otherwise.
    listening: bool,
    /// Whether a listener task was started.
    started: bool,
    /// Moves at every change told and every (re)connection.
    generation: u64,
    keys: HashMap<Digest, (Principal, Instant)>,
}

impl State {
    fn forget(&mut self) {
        self.keys.clear();
        self.generation += 1;
    }
}

/// Forget every key of `cache`, serving from now on or not.
fn reset(cache: &Mutex<State>, listening: bool) {
    let mut state = cache.lock().unwrap_or_else(PoisonError::into_inner);
    state.forget();
    state.listening = listening;
}

/// `reset` through the listener's weak reference; false when the cache is gone.
fn reset_weak(cache: &Weak<Mutex<State>>, listening: bool) -> bool {
    cache.upgrade().map(|state| reset(&state, listening)).is_some()
}

impl KeyCache {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The principal of a key checked less than `TTL` ago, if the cache serves.
    pub fn get(&self, digest: &Digest) -> Option<Principal> {
        let state = self.state();
        if !state.listening {
            return None;
        }
        state.keys.get(digest).filter(|(_, at)| at.elapsed() < TTL).map(|(p, _)| p.clone())
    }

    /// The generation to give `keep` after reading a key from the database; `None` when the cache does
    /// not serve.
    pub fn generation(&self) -> Option<u64> {
        let state = self.state();
        state.listening.then_some(state.generation)
    }

    /// Keep `principal`, read when the cache was at `generation`, unless a change was told since.
    pub fn keep(&self, digest: Digest, principal: Principal, generation: u64) {
        let mut state = self.state();
        if state.listening && state.generation == generation {
            state.keys.insert(digest, (principal, Instant::now()));
        }
    }

    /// Forget every key (a key was changed by this process).
    pub fn forget(&self) {
        self.state().forget();
    }

    /// Start listening for changes to the keys on a connection of `pool`'s (once per cache; needs a
    /// Tokio runtime, without one the cache never serves). The task ends with the pool or the cache.
    pub fn listen(&self, pool: &PgPool) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        {
            let mut state = self.state();
            if state.started {
                return;
            }
            state.started = true;
        }
        let (cache, pool) = (Arc::downgrade(&self.state), pool.clone());
        runtime.spawn(async move {
            let lost = "key change notifications lost, checking keys in the database";
            events::store::reconnecting(&pool, lost, || async {
                let outcome = listen_once(&cache, &pool).await;
                // Nothing is served from memory until the next connection listens.
                if !reset_weak(&cache, false) {
                    return Ok(false);
                }
                outcome.map(|()| true)
            })
            .await;
        });
    }
}

/// Listen until the connection drops (`Ok`), cannot be made (`Err`) or the cache is gone.
async fn listen_once(cache: &Weak<Mutex<State>>, pool: &PgPool) -> Result<(), sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(CHANNEL).await?;
    // Whatever changed before LISTEN took effect is in the database: start from nothing.
    if !reset_weak(cache, true) {
        return Ok(());
    }
    while listener.try_recv().await?.is_some() {
        if !reset_weak(cache, true) {
            return Ok(());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Role;

    fn principal() -> Principal {
        Principal {
            key_id: uuid::Uuid::nil(),
            prefix: "tba_x".into(),
            role: Role::Analyst,
            organisme: None,
            scope: None,
        }
    }

    #[test]
    fn serves_only_while_listening_and_forgets_a_check_that_raced_with_a_change() {
        let cache = KeyCache::default();
        assert_eq!(cache.generation(), None, "not listening: every key is read from the database");
        cache.keep([1; 32], principal(), 0);
        assert_eq!(cache.get(&[1; 32]), None);

        reset(&cache.state, true);
        let generation = cache.generation().expect("listening");
        cache.keep([1; 32], principal(), generation);
        assert_eq!(cache.get(&[1; 32]), Some(principal()));

        // A check read before a change is told, kept after it: not kept.
        let before = cache.generation().expect("listening");
        reset(&cache.state, true);
        assert_eq!(cache.get(&[1; 32]), None, "a change empties the cache");
        cache.keep([2; 32], principal(), before);
        assert_eq!(cache.get(&[2; 32]), None);

        reset(&cache.state, false);
        assert_eq!(cache.get(&[2; 32]), None);
    }
}
