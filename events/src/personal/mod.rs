//! Personal data in the log (crypto-shredding): each person's personal values are sealed with a data
//! key of their own (`seal`), and erasing a person destroys that key. The log is never rewritten: its
//! hash chain covers the sealed text, so `tba verify` holds before and after any erasure.
//!
//! Data keys live in `personnes_cles`, each wrapped (ChaCha20-Poly1305) by a master key that never
//! enters the database: the database alone opens nothing. A wrapped key names the master key that
//! wraps it (`cle_maitre`, a fingerprint), so that the master key can be rotated: `rotate` re-wraps
//! every key under the current one while the previous ones are still given.
//!
//! Unwrapped keys are kept in memory by a process only while its event store's LISTEN connection is
//! told of their erasures (`store::notified`, channel `tba_personnes_cles`, migration
//! `…40_personnes_cles_notify`; the same connection as the log's, so that an erasure is told before
//! the events committed with it): an erasure
//! by this process is forgotten at once, one by another process as soon as it is told (milliseconds),
//! and a batch of events that holds an erasure forgets its persons before it is opened, so that a
//! projection never seals or opens with a key its log says is destroyed. Without the listener (a CLI
//! command, a test of the store alone) keys are read from the database on every call.

pub mod seal;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{ChaCha20Poly1305, KeyInit, Nonce};
use sha2::{Digest, Sha256};
use sqlx::PgConnection;

use crate::envelope::{AppendRequest, RecordedEvent};
use crate::error::{AppendError, StoreError};
use crate::store::notified::{Change, Notified, Settings};
pub use seal::DataKey;

/// A master key: 32 bytes, named by its fingerprint.
#[derive(Clone)]
pub struct MasterKey {
    id: String,
    key: [u8; 32],
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MasterKey({})", self.id)
    }
}

impl MasterKey {
    pub fn from_bytes(key: [u8; 32]) -> Self {
        let digest = Sha256::digest([b"tba-cle-maitre-v1".as_slice(), &key].concat());
        MasterKey { id: hex::encode(&digest[..8]), key }
    }

    /// 64 hex digits (surrounding whitespace ignored).
    pub fn parse_hex(text: &str) -> Result<Self, String> {
        let bytes = hex::decode(text.trim()).map_err(|_| "a master key is 64 hex digits".to_owned())?;
        let key: [u8; 32] =
            bytes.try_into().map_err(|_| "a master key is 32 bytes (64 hex digits)".to_owned())?;
        Ok(Self::from_bytes(key))
    }

    pub fn generate() -> Result<Self, String> {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).map_err(|e| format!("no randomness from the system: {e}"))?;
        Ok(Self::from_bytes(key))
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.key)
    }

    /// The fingerprint stored beside the keys it wraps.
    pub fn id(&self) -> &str {
        &self.id
    }

    fn wrap(&self, personne: &str, data_key: &DataKey) -> Result<Vec<u8>, StoreError> {
        let mut nonce = [0u8; 12];
        getrandom::fill(&mut nonce).map_err(|e| StoreError::Vault(format!("no randomness: {e}")))?;
        let aad = wrap_aad(personne);
        let sealed = ChaCha20Poly1305::new((&self.key).into())
            .encrypt(&Nonce::from(nonce), Payload { msg: data_key, aad: &aad })
            .map_err(|_| StoreError::Vault("cannot wrap a data key".into()))?;
        Ok([nonce.as_slice(), &sealed].concat())
    }

    fn unwrap_key(&self, personne: &str, wrapped: &[u8]) -> Result<DataKey, StoreError> {
        let fail = || {
            StoreError::Vault(format!("the data key of {personne} does not open with master key {}", self.id))
        };
        if wrapped.len() < 12 {
            return Err(fail());
        }
        let (nonce, sealed) = wrapped.split_at(12);
        let aad = wrap_aad(personne);
        let key = ChaCha20Poly1305::new((&self.key).into())
            .decrypt(
                &Nonce::from(<[u8; 12]>::try_from(nonce).expect("split at 12")),
                Payload { msg: sealed, aad: &aad },
            )
            .map_err(|_| fail())?;
        key.try_into().map_err(|_| fail())
    }
}

fn wrap_aad(personne: &str) -> Vec<u8> {
    format!("tba-cle-v1\u{1f}{personne}").into_bytes()
}

/// The master keys of a process: the current one (new keys, rotation target) and the previous ones
/// still accepted for reading.
#[derive(Clone, Debug)]
pub struct Vault {
    inner: Arc<Keys>,
}

#[derive(Debug)]
struct Keys {
    current: MasterKey,
    previous: Vec<MasterKey>,
    /// The data keys read lately (`None`: erased), while a listener is told of erasures.
    cache: Notified<String, Option<DataKey>>,
}

/// The channel `personnes_cles`' trigger notifies with the person whose key was destroyed.
const ERASURES: &str = "tba_personnes_cles";

/// What an erasure found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Erasure {
    /// The key existed and is destroyed now.
    Destroyed,
    /// The person was already erased.
    AlreadyErased,
    /// No personal data of this person was ever sealed; the person is marked erased so that none ever
    /// will be.
    NoKey,
}

struct KeyRow {
    personne: String,
    cle: Option<Vec<u8>>,
    cle_maitre: String,
}

impl Vault {
    pub fn new(current: MasterKey, previous: Vec<MasterKey>) -> Self {
        let cache = Notified::new(Settings {
            channel: ERASURES,
            ttl: std::time::Duration::from_secs(600),
            capacity: 200_000,
            lost: "erasure notifications lost, reading the data keys in the database",
            change: |p| if p.is_empty() { Change::All } else { Change::One(p.to_owned()) },
        });
        Vault { inner: Arc::new(Keys { current, previous, cache }) }
    }

    /// The data keys read lately, kept while the store's LISTEN connection is told of erasures on
    /// their channel (see the module's documentation).
    pub(crate) fn cache(&self) -> &Notified<String, Option<DataKey>> {
        &self.inner.cache
    }

    pub fn current(&self) -> &MasterKey {
        &self.inner.current
    }

    fn master(&self, id: &str) -> Result<&MasterKey, StoreError> {
        std::iter::once(&self.inner.current).chain(&self.inner.previous).find(|k| k.id == id).ok_or_else(
            || StoreError::Vault(format!("master key {id} is not given (TBA_MASTER_KEY_PREVIOUS?)")),
        )
    }

    fn open_rows(&self, rows: Vec<KeyRow>) -> Result<HashMap<String, Option<DataKey>>, StoreError> {
        rows.into_iter()
            .map(|r| {
                let key = match &r.cle {
                    Some(wrapped) => Some(self.master(&r.cle_maitre)?.unwrap_key(&r.personne, wrapped)?),
                    None => None,
                };
                Ok((r.personne, key))
            })
            .collect()
    }

    /// The data keys of these persons (`None` for the erased; a person named twice is read once);
    /// persons without one are absent.
    pub async fn keys(
        &self,
        conn: &mut PgConnection,
        personnes: &[String],
    ) -> Result<HashMap<String, Option<DataKey>>, StoreError> {
        let (mut known, generation) = self.inner.cache.get_many(personnes);
        let missing: Vec<String> = personnes.iter().filter(|p| !known.contains_key(*p)).cloned().collect();
        if missing.is_empty() {
            return Ok(known);
        }
        let rows = sqlx::query_as!(
            KeyRow,
            "SELECT personne, cle, cle_maitre FROM personnes_cles WHERE personne = ANY($1)",
            &missing
        )
        .fetch_all(&mut *conn)
        .await?;
        let read = self.open_rows(rows)?;
        if let Some(generation) = generation {
            self.inner.cache.keep(read.iter().map(|(p, k)| (p.clone(), *k)), generation);
        }
        known.extend(read);
        Ok(known)
    }

    /// The data keys of these persons, created for those who have none yet (two writers creating one
    /// person's key at once agree on the first committed). The keys this call creates are used as made,
    /// without reading them back, and kept in memory only when `conn` is not inside a transaction (their
    /// insert is committed): the caller's transaction may still roll back.
    async fn keys_creating(
        &self,
        conn: &mut PgConnection,
        personnes: &[String],
    ) -> Result<HashMap<String, Option<DataKey>>, StoreError> {
        let mut known = self.keys(conn, personnes).await?;
        let missing: Vec<String> = personnes
            .iter()
            .filter(|p| !known.contains_key(*p))
            .cloned()
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        if missing.is_empty() {
            return Ok(known);
        }
        let mut made = HashMap::with_capacity(missing.len());
        let mut wrapped = Vec::with_capacity(missing.len());
        for personne in &missing {
            let mut key = [0u8; 32];
            getrandom::fill(&mut key).map_err(|e| StoreError::Vault(format!("no randomness: {e}")))?;
            wrapped.push(self.inner.current.wrap(personne, &key)?);
            made.insert(personne.clone(), key);
        }
        let generation = self.inner.cache.generation();
        let created = sqlx::query_scalar!(
            "INSERT INTO personnes_cles (personne, cle, cle_maitre)
             SELECT * FROM unnest($1::text[], $2::bytea[], array_fill($3::text, ARRAY[cardinality($1)]))
             ON CONFLICT (personne) DO NOTHING RETURNING personne",
            &missing,
            &wrapped,
            self.inner.current.id
        )
        .fetch_all(&mut *conn)
        .await?;
        let created: Vec<(String, Option<DataKey>)> = created
            .into_iter()
            .map(|p| {
                let key = made.remove(&p);
                (p, key)
            })
            .collect();
        if let Some(generation) = generation
            && !sqlx::Connection::is_in_transaction(&*conn)
        {
            self.inner.cache.keep(created.iter().cloned(), generation);
        }
        known.extend(created);
        // Created by another writer meanwhile (or erased): theirs, committed, is the key.
        let theirs: Vec<String> = made.into_keys().collect();
        if !theirs.is_empty() {
            known.extend(self.keys(conn, &theirs).await?);
        }
        Ok(known)
    }

    /// Seal the personal parts of every event of these requests. Each event's person is the one it
    /// names (`NewEvent::personne`), else its own `personne.identite`, else that of an earlier event of
    /// its stream. A request with personal data of no known person is refused.
    pub async fn seal(
        &self,
        conn: &mut PgConnection,
        requests: &mut [AppendRequest],
    ) -> Result<Vec<Result<(), AppendError>>, StoreError> {
        let mut wanted: Vec<(usize, usize)> = Vec::new();
        let mut unknown_streams: HashSet<String> = HashSet::new();
        for (r, request) in requests.iter_mut().enumerate() {
            let mut stream_person: Option<String> = None;
            for (e, event) in request.events.iter_mut().enumerate() {
                let own = event.data.get("personne").and_then(|p| p.get("identite")).and_then(|i| i.as_str());
                if event.personne.is_none() {
                    event.personne = own.map(str::to_owned).or_else(|| stream_person.clone());
                }
                if event.personne.is_some() {
                    stream_person.clone_from(&event.personne);
                }
                if seal::has_personal_data(&event.event_type) {
                    if event.personne.is_none() {
                        unknown_streams.insert(request.stream_id.clone());
                    }
                    wanted.push((r, e));
                }
            }
        }
        if wanted.is_empty() {
            return Ok(requests.iter().map(|_| Ok(())).collect());
        }
        let of_streams = stream_persons(conn, &unknown_streams.into_iter().collect::<Vec<_>>()).await?;
        for &(r, e) in &wanted {
            let request = &mut requests[r];
            if request.events[e].personne.is_none() {
                request.events[e].personne = of_streams.get(&request.stream_id).cloned();
            }
        }
        let personnes: Vec<String> = wanted
            .iter()
            .filter_map(|&(r, e)| requests[r].events[e].personne.clone())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let keys = self.keys_creating(conn, &personnes).await?;
        let mut results: Vec<Result<(), AppendError>> = requests.iter().map(|_| Ok(())).collect();
        for (r, e) in wanted {
            let event = &mut requests[r].events[e];
            let Some(personne) = event.personne.clone() else {
                results[r] = Err(AppendError::Invalid {
                    field: "personne".into(),
                    message: format!(
                        "{} carries personal data, but no person is known for stream {}",
                        event.event_type, requests[r].stream_id
                    ),
                });
                continue;
            };
            let key = keys.get(&personne).copied().flatten();
            seal::seal(&event.event_type, &mut event.data, &personne, key.as_ref());
        }
        Ok(results)
    }

    /// Open the sealed parts of these events; those of erased persons read as placeholders.
    pub async fn open(
        &self,
        conn: &mut PgConnection,
        events: &mut [RecordedEvent],
    ) -> Result<(), StoreError> {
        // Erasures in the events read: their keys are destroyed in the database already, whatever
        // this process was told so far.
        for personne in crate::personne::PersonneEffacee::persons_in(events) {
            self.inner.cache.forget(&Change::One(personne));
        }
        let personnes: Vec<String> = events
            .iter()
            .flat_map(|e| seal::persons_in(&e.event_type, &e.data))
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        if personnes.is_empty() {
            return Ok(());
        }
        let keys = self.keys(conn, &personnes).await?;
        for event in events.iter_mut() {
            seal::unseal(&event.event_type, &mut event.data, |p| keys.get(p).copied().flatten()).map_err(
                |e| StoreError::Corrupt { position: event.position, message: format!("personal data: {e}") },
            )?;
        }
        Ok(())
    }

    /// Destroy a person's data key, inside the caller's transaction (which appends the erasure event).
    pub async fn erase(&self, conn: &mut PgConnection, personne: &str) -> Result<Erasure, StoreError> {
        self.inner.cache.forget(&Change::One(personne.to_owned()));
        let before = sqlx::query_scalar!(
            r#"SELECT cle IS NOT NULL AS "present!" FROM personnes_cles WHERE personne = $1 FOR UPDATE"#,
            personne
        )
        .fetch_optional(&mut *conn)
        .await?;
        sqlx::query!(
            "INSERT INTO personnes_cles (personne, cle, cle_maitre, efface_le) VALUES ($1, NULL, '', now())
             ON CONFLICT (personne) DO UPDATE SET cle = NULL, efface_le = coalesce(personnes_cles.efface_le, now())",
            personne
        )
        .execute(&mut *conn)
        .await?;
        Ok(match before {
            Some(true) => Erasure::Destroyed,
            Some(false) => Erasure::AlreadyErased,
            None => Erasure::NoKey,
        })
    }

    /// Re-wrap every data key not wrapped by the current master key; the number re-wrapped. Runs in
    /// transactions of 1,000 keys: stopped midway, it resumes where it stopped.
    pub async fn rotate(&self, pool: &sqlx::PgPool) -> Result<u64, StoreError> {
        let mut done = 0;
        loop {
            let mut tx = pool.begin().await?;
            let rows = sqlx::query_as!(
                KeyRow,
                "SELECT personne, cle, cle_maitre FROM personnes_cles
                 WHERE cle IS NOT NULL AND cle_maitre <> $1 LIMIT 1000 FOR UPDATE",
                self.inner.current.id
            )
            .fetch_all(&mut *tx)
            .await?;
            if rows.is_empty() {
                return Ok(done);
            }
            let count = rows.len() as u64;
            let mut names = Vec::with_capacity(rows.len());
            let mut wrapped = Vec::with_capacity(rows.len());
            for (personne, key) in self.open_rows(rows)? {
                let key = key.expect("only keys that exist are selected");
                wrapped.push(self.inner.current.wrap(&personne, &key)?);
                names.push(personne);
            }
            sqlx::query!(
                "UPDATE personnes_cles k SET cle = n.cle, cle_maitre = $3
                 FROM unnest($1::text[], $2::bytea[]) AS n(personne, cle) WHERE k.personne = n.personne",
                &names,
                &wrapped,
                self.inner.current.id
            )
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            done += count;
        }
    }
}

/// The person of each stream: the `personne.identite` of its latest event that names one (an
/// identity correction moves a dossier to another person).
async fn stream_persons(
    conn: &mut PgConnection,
    streams: &[String],
) -> Result<HashMap<String, String>, StoreError> {
    if streams.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT DISTINCT ON (stream_id) stream_id, data->'personne'->>'identite'
         FROM events WHERE stream_id = ANY($1) AND data->'personne'->>'identite' IS NOT NULL
         ORDER BY stream_id, version DESC",
    )
    .bind(streams)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows.into_iter().collect())
}

/// Open the sealed parts of events read without a vault: an error if there are any, since a process
/// without the master key must not pass sealed values on as if they were data.
pub fn refuse_sealed(events: &[RecordedEvent]) -> Result<(), StoreError> {
    match events.iter().find(|e| !seal::persons_in(&e.event_type, &e.data).is_empty()) {
        None => Ok(()),
        Some(e) => Err(StoreError::Corrupt {
            position: e.position,
            message: "sealed personal data, and this process has no master key (TBA_MASTER_KEY)".into(),
        }),
    }
}

/// Open with the vault when there is one, else refuse sealed events.
pub async fn open_with(
    vault: Option<&Vault>,
    conn: &mut PgConnection,
    events: &mut [RecordedEvent],
) -> Result<(), StoreError> {
    match vault {
        Some(vault) => vault.open(conn, events).await,
        None => refuse_sealed(events),
    }
}
