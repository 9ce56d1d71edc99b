//! A process's memory of values it read from the database, kept only while a LISTEN connection tells
//! it what changes: a trigger notifies a channel at every change (its payload naming what changed, or
//! not), and every listening process forgets what the change touches. A change made by the process
//! itself is forgotten at once (`forget`), without waiting for its own notification.
//!
//! Nothing is served while the connection is down: when it drops, everything is forgotten and every
//! value is read from the database until the connection listens again (a notification sent meanwhile
//! would be lost). A read that raced with a change is not kept: each read notes the generation before
//! it reads, and what it read is kept only if no change was told since. An entry also expires after
//! `Settings::ttl`, so that a connection that died unnoticed cannot keep a value long; and the memory
//! is emptied when it holds `Settings::capacity` entries.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant};

use sqlx::PgPool;
use sqlx::postgres::PgListener;

/// What a cache listens to and how much it keeps.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// The channel its table's trigger notifies.
    pub channel: &'static str,
    /// How long a value read is trusted without reading it again.
    pub ttl: Duration,
    /// Entries kept at most (the memory is emptied when it is full).
    pub capacity: usize,
    /// What the log says when the connection is lost.
    pub lost: &'static str,
    /// What a notification's payload says changed.
    pub change: fn(&str) -> Change,
}

/// What a notification says changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Anything: forget everything.
    All,
    /// The entry of this key (its text form, as `Key::notified` gives it).
    One(String),
}

/// A key of a notified cache, named in notifications by its text form.
pub trait Key: Eq + Hash + Clone + Send + 'static {
    fn notified(text: &str) -> Option<Self>;
}

impl Key for String {
    fn notified(text: &str) -> Option<Self> {
        Some(text.to_owned())
    }
}

impl Key for [u8; 32] {
    fn notified(_: &str) -> Option<Self> {
        None
    }
}

pub struct Notified<K, V> {
    state: Arc<Mutex<State<K, V>>>,
    settings: Settings,
}

impl<K, V> Clone for Notified<K, V> {
    fn clone(&self) -> Self {
        Notified { state: self.state.clone(), settings: self.settings }
    }
}

impl<K, V> std::fmt::Debug for Notified<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Notified({})", self.settings.channel)
    }
}

struct State<K, V> {
    /// Whether a listener is connected: nothing is served otherwise.
    listening: bool,
    /// Whether a listener task was started.
    started: bool,
    /// Moves at every change told and every (re)connection.
    generation: u64,
    entries: HashMap<K, (V, Instant)>,
}

impl<K: Key, V: Clone + Send + 'static> State<K, V> {
    fn apply(&mut self, change: &Change) {
        match change {
            Change::All => self.entries.clear(),
            Change::One(text) => {
                // A key the cache cannot name from its text: forget everything.
                match K::notified(text) {
                    Some(key) => drop(self.entries.remove(&key)),
                    None => self.entries.clear(),
                }
            }
        }
        self.generation += 1;
    }

    /// A change told, and whether the connection that told it listens.
    fn heard(&mut self, change: &Change, listening: bool) {
        self.apply(change);
        self.listening = listening;
    }
}

/// Apply `change` to the cache behind `state`, serving from now on or not; false when it is gone.
fn tell<K: Key, V: Clone + Send + 'static>(
    state: &Weak<Mutex<State<K, V>>>,
    change: &Change,
    listening: bool,
) -> bool {
    let Some(state) = state.upgrade() else { return false };
    state.lock().unwrap_or_else(PoisonError::into_inner).heard(change, listening);
    true
}

impl<K: Key, V: Clone + Send + 'static> Notified<K, V> {
    pub fn new(settings: Settings) -> Self {
        let state = State { listening: false, started: false, generation: 0, entries: HashMap::new() };
        Notified { state: Arc::new(Mutex::new(state)), settings }
    }

    fn state(&self) -> MutexGuard<'_, State<K, V>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The value of `key` read less than the TTL ago, if the cache serves.
    pub fn get(&self, key: &K) -> Option<V> {
        let state = self.state();
        if !state.listening {
            return None;
        }
        let ttl = self.settings.ttl;
        state.entries.get(key).filter(|(_, at)| at.elapsed() < ttl).map(|(v, _)| v.clone())
    }

    /// The values of `keys` the cache holds, and the generation to give `keep` after reading the
    /// others from the database (`None`: the cache does not serve, read them all).
    pub fn get_many(&self, keys: &[K]) -> (HashMap<K, V>, Option<u64>) {
        let state = self.state();
        if !state.listening {
            return (HashMap::new(), None);
        }
        let ttl = self.settings.ttl;
        let found = keys
            .iter()
            .filter_map(|k| {
                let (v, at) = state.entries.get(k)?;
                (at.elapsed() < ttl).then(|| (k.clone(), v.clone()))
            })
            .collect();
        (found, Some(state.generation))
    }

    /// The generation to give `keep` after reading from the database; `None` when the cache does not
    /// serve.
    pub fn generation(&self) -> Option<u64> {
        let state = self.state();
        state.listening.then_some(state.generation)
    }

    /// Keep values read when the cache was at `generation`, unless a change was told since.
    pub fn keep(&self, values: impl IntoIterator<Item = (K, V)>, generation: u64) {
        let mut state = self.state();
        if !state.listening || state.generation != generation {
            return;
        }
        let now = Instant::now();
        for (key, value) in values {
            if state.entries.len() >= self.settings.capacity {
                state.entries.clear();
            }
            state.entries.insert(key, (value, now));
        }
    }

    /// Forget what this process just changed, at once.
    pub fn forget(&self, change: &Change) {
        self.state().apply(change);
    }

    /// For a cache whose channel another LISTEN connection of the process listens to (`listen` is
    /// then not called): that connection listens now, serve from nothing.
    pub fn connected(&self) {
        self.state().heard(&Change::All, true);
    }

    /// That connection dropped: forget everything, serve nothing until it listens again.
    pub fn disconnected(&self) {
        self.state().heard(&Change::All, false);
    }

    /// That connection was told `payload` on the cache's channel.
    pub fn told(&self, payload: &str) {
        self.state().heard(&(self.settings.change)(payload), true);
    }

    /// The channel it listens to.
    pub fn channel(&self) -> &'static str {
        self.settings.channel
    }

    /// Start listening for changes on a connection of `pool`'s (once per cache; needs a Tokio runtime,
    /// without one the cache never serves). The task ends with the pool or the cache.
    pub fn listen(&self, pool: &PgPool) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        {
            let mut state = self.state();
            if state.started {
                return;
            }
            state.started = true;
        }
        let (state, pool, settings) = (Arc::downgrade(&self.state), pool.clone(), self.settings);
        runtime.spawn(async move {
            super::reconnecting(&pool, settings.lost, || async {
                let outcome = listen_once(&state, &pool, settings).await;
                // Nothing is served from memory until the next connection listens.
                if !tell(&state, &Change::All, false) {
                    return Ok(false);
                }
                outcome.map(|()| true)
            })
            .await;
        });
    }
}

/// Listen until the connection drops (`Ok`), cannot be made (`Err`) or the cache is gone.
async fn listen_once<K: Key, V: Clone + Send + 'static>(
    state: &Weak<Mutex<State<K, V>>>,
    pool: &PgPool,
    settings: Settings,
) -> Result<(), sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(settings.channel).await?;
    // Whatever changed before LISTEN took effect is in the database: start from nothing.
    if !tell(state, &Change::All, true) {
        return Ok(());
    }
    while let Some(notification) = listener.try_recv().await? {
        if !tell(state, &(settings.change)(notification.payload()), true) {
            return Ok(());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache() -> Notified<String, u32> {
        Notified::new(Settings {
            channel: "test",
            ttl: Duration::from_secs(60),
            capacity: 3,
            lost: "lost",
            change: |p| Change::One(p.to_owned()),
        })
    }

    fn listening(cache: &Notified<String, u32>, listening: bool) {
        if listening { cache.connected() } else { cache.disconnected() }
    }

    #[test]
    fn serves_only_while_listening_and_forgets_a_read_that_raced_with_a_change() {
        let cache = cache();
        assert_eq!(cache.generation(), None, "not listening: every value is read from the database");
        cache.keep([("a".to_owned(), 1)], 0);
        assert_eq!(cache.get(&"a".to_owned()), None);

        listening(&cache, true);
        let generation = cache.generation().expect("listening");
        cache.keep([("a".to_owned(), 1), ("b".to_owned(), 2)], generation);
        assert_eq!(cache.get(&"a".to_owned()), Some(1));
        let (found, _) = cache.get_many(&["a".to_owned(), "c".to_owned()]);
        assert_eq!(found, HashMap::from([("a".to_owned(), 1)]));

        // A read before a change is told, kept after it: not kept. The change forgets only its key.
        let before = cache.generation().expect("listening");
        cache.forget(&Change::One("a".to_owned()));
        assert_eq!((cache.get(&"a".to_owned()), cache.get(&"b".to_owned())), (None, Some(2)));
        cache.keep([("c".to_owned(), 3)], before);
        assert_eq!(cache.get(&"c".to_owned()), None);

        // Full: emptied before keeping more.
        let now = cache.generation().expect("listening");
        cache.keep([("c".to_owned(), 3), ("d".to_owned(), 4), ("e".to_owned(), 5)], now);
        assert_eq!(cache.state().entries.len(), 1);

        listening(&cache, false);
        assert_eq!(cache.get(&"e".to_owned()), None);
    }
}
