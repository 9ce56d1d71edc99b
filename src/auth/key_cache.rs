//! The keys a process has checked, kept in memory so that a request with a known key costs no round
//! trip, while a revocation still takes effect at once: every change to what a key may do (revocation,
//! role, organisme, scope) is notified on `tba_api_keys` (migration `…37_api_keys_notify`) and
//! empties the cache of every listening process; a revocation by this process empties its own at once.
//! The cache serves only while its LISTEN connection is up, keeps no check that raced with a change,
//! and trusts an entry for `TTL` at most (`events::store::notified`), so that a connection that died
//! unnoticed cannot keep a key alive long, and so that a busy key's last use (kept to the hour) and
//! dormancy are still read from the database.

use std::time::Duration;

use events::store::notified::{Change, Notified, Settings};

use super::keys::Principal;

/// A secret's SHA-256, as `api_keys` stores it.
pub type Digest = [u8; 32];

/// The checked keys, by their secret's digest.
pub type KeyCache = Notified<Digest, Principal>;

/// How `Gate` keeps its keys.
pub fn new() -> KeyCache {
    Notified::new(Settings {
        channel: "tba_api_keys",
        ttl: Duration::from_secs(60),
        capacity: 100_000,
        lost: "key change notifications lost, checking keys in the database",
        // The trigger tells the operation, not the key: every change empties the cache.
        change: |_| Change::All,
    })
}
