//! The thread between a CFA and a Mission Locale on an entry of the rupture queue (domain.md §11):
//! `envoyerMessage` and `marquerLu` (decided and recorded by `app::fil`), the entry's `messages` and
//! `nonLus`, and `messagesNonLus`, the caller's side's unread count over every entry it follows.

use async_graphql::{Context, Error, ID, Object};
use events::{Channel, EventStore};
use projections::ruptures::fil;
use sqlx::PgPool;

use super::error::{OrInternal, internal};
use super::ruptures::RuptureEntree;
use super::ruptures_actions::answer;
use crate::app::fil::{EnvoyerMessage, cote, envoyer_message, marquer_lu};
use crate::auth::viewer::Viewer;

#[derive(Default)]
pub struct FilQuery;

#[Object]
impl FilQuery {
    /// How many messages of the other side the caller's side has not read, over every entry it follows
    /// (a MISSION_LOCALE key: its queue; an organisme: its dossiers' entries).
    async fn messages_non_lus(&self, ctx: &Context<'_>) -> Result<i64, Error> {
        let viewer = ctx.data::<Viewer>()?;
        let cote = cote(viewer.principal()?)?;
        let qui = viewer.ruptures(None)?;
        let mut conn = ctx.data::<PgPool>()?.acquire().await.or_internal()?;
        fil::non_lus_total(&mut conn, &qui, cote).await.or_internal()
    }
}

#[derive(Default)]
pub struct FilMutation;

#[Object]
impl FilMutation {
    /// Write to the other side on an entry the caller follows (the organisme's key or the Mission
    /// Locale's): at most 5,000 characters, line breaks kept, other control characters refused.
    async fn envoyer_message(
        &self,
        ctx: &Context<'_>,
        entree: ID,
        texte: String,
    ) -> Result<RuptureEntree, Error> {
        let (pool, store, viewer) = (ctx.data::<PgPool>()?, ctx.data::<EventStore>()?, ctx.data::<Viewer>()?);
        let command = EnvoyerMessage { entree: entree.0, texte };
        let recorded = envoyer_message(pool, store, viewer, Channel::Graphql, command).await?;
        answer(ctx, &recorded.entree, recorded.position).await?.ok_or_else(|| internal("entry vanished"))
    }

    /// Mark the entry's thread read by the caller's side, up to the other side's latest message
    /// (nothing is recorded when there was nothing unread).
    async fn marquer_lu(&self, ctx: &Context<'_>, entree: ID) -> Result<RuptureEntree, Error> {
        let (pool, store, viewer) = (ctx.data::<PgPool>()?, ctx.data::<EventStore>()?, ctx.data::<Viewer>()?);
        let recorded = marquer_lu(pool, store, viewer, Channel::Graphql, &entree).await?;
        let position = recorded.map_or(0, |r| r.position);
        answer(ctx, &entree, position).await?.ok_or_else(|| internal("entry vanished"))
    }
}
