//! The per-request loaders: what a page of results needs from the database is loaded for the whole
//! page at once (`DataLoader` gathers the keys its fields ask for, then calls `load` once), so that a
//! list of 100 dossiers or organismes costs one query per field, not 100. The `Loader` impls live with
//! the types they load (`dossier`, `organismes`).
//!
//! The access journal is one of them: a field that returns personal data records its read itself
//! (`lecture`), wherever it is reached from (a query, a mutation's answer, a subscription), and the
//! reads of a page are written in one statement before any of its data is returned.

use async_graphql::dataloader::DataLoader;
use events::EventStore;
use sqlx::PgPool;
use tokio::sync::OnceCell;

use crate::app::AppState;
use crate::auth::access_log::Journal;
use crate::auth::viewer::{Perimetre, Viewer};

/// What the loaders of one request reach, and its caller (whose perimeter is computed once, when
/// first needed).
pub struct Loaders {
    pub(super) pool: PgPool,
    pub(super) store: EventStore,
    pub(super) viewer: Viewer,
    pub(super) perimetre: OnceCell<Perimetre>,
    journal: Journal,
}

impl Loaders {
    pub fn new(state: &AppState, viewer: Viewer) -> DataLoader<Loaders> {
        let loaders = Loaders {
            pool: state.pool.clone(),
            store: state.store.clone(),
            viewer,
            perimetre: OnceCell::new(),
            journal: state.journal.clone(),
        };
        DataLoader::new(loaders, tokio::spawn)
    }
}

/// A read of personal data: what was read (`apprenant`, `rupture`…) and whose.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Lecture {
    pub action: &'static str,
    pub subject: String,
}

impl async_graphql::dataloader::Loader<Lecture> for Loaders {
    type Value = ();
    type Error = std::sync::Arc<async_graphql::Error>;

    async fn load(&self, keys: &[Lecture]) -> Result<std::collections::HashMap<Lecture, ()>, Self::Error> {
        let principal = self.viewer.principal().map_err(|e| std::sync::Arc::new(e.into()))?;
        let reads: Vec<(String, String)> =
            keys.iter().map(|k| (k.action.to_owned(), k.subject.clone())).collect();
        self.journal
            .record_many(principal, reads)
            .await
            .map_err(|e| std::sync::Arc::new(super::error::internal(e)))?;
        Ok(keys.iter().map(|k| (k.clone(), ())).collect())
    }
}

/// Record, before returning it, that the caller reads `action` of `subject` (a read that cannot be
/// recorded is not served).
pub async fn lecture(
    ctx: &async_graphql::Context<'_>,
    action: &'static str,
    subject: &str,
) -> Result<(), async_graphql::Error> {
    let loader = ctx.data::<DataLoader<Loaders>>()?;
    loader.load_one(Lecture { action, subject: subject.to_owned() }).await.map(drop).map_err(|e| (*e).clone())
}
