//! The per-request loaders: what a page of results needs from the database is loaded for the whole
//! page at once (`DataLoader` gathers the keys its fields ask for, then calls `load` once), so that a
//! list of 100 dossiers or organismes costs one query per field, not 100. The `Loader` impls live with
//! the types they load (`dossier`, `organismes`).

use async_graphql::dataloader::DataLoader;
use events::EventStore;
use sqlx::PgPool;
use tokio::sync::OnceCell;

use super::viewer::{Perimetre, Viewer};

/// What the loaders of one request reach, and its caller (whose perimeter is computed once, when
/// first needed).
pub struct Loaders {
    pub(super) pool: PgPool,
    pub(super) store: EventStore,
    pub(super) viewer: Viewer,
    pub(super) perimetre: OnceCell<Perimetre>,
}

impl Loaders {
    pub fn new(pool: PgPool, store: EventStore, viewer: Viewer) -> DataLoader<Loaders> {
        DataLoader::new(Loaders { pool, store, viewer, perimetre: OnceCell::new() }, tokio::spawn)
    }
}
