//! The collaboration's settings (domain.md §11), decided and recorded by `app::collaboration`: a CFA's
//! (`reglageCollaboration`, `reglerCollaboration`; while activated, its Missions Locales see only the
//! entries it shared, `RuptureEntree.partagee`) and a Mission Locale's activation
//! (`activerMissionLocale`).

use async_graphql::{Context, Error, Object, SimpleObject};
use events::{Channel, EventStore};

use super::types::{Date, DateTime};
use crate::app::collaboration::{Reglage, ReglerCollaboration, activer_mission_locale, reglage, regler};
use crate::auth::viewer::Viewer;

/// A CFA's settings of its collaboration with the Missions Locales.
#[derive(Debug, SimpleObject)]
pub struct ReglageCollaboration {
    /// Activated: its Missions Locales see only the entries it sent (a request for a joint follow-up,
    /// or automatically at 45 days), those they already qualified, and those where the young person
    /// wishes an appointment. Not activated: they see every entry, as before.
    pub active: bool,
    /// Every rupture is sent automatically once 45 days old.
    pub envoi_auto_45_jours: bool,
    /// Where its recaps (`recapitulatifs`) are sent by e-mail, when the service has SMTP.
    pub email_recapitulatifs: Option<String>,
    /// When they were set (null: never).
    pub depuis: Option<DateTime>,
    /// The log position of the setting recorded by this request (null when nothing changed, or on a
    /// read).
    pub position: Option<i64>,
}

fn answer(r: Reglage, position: Option<i64>) -> ReglageCollaboration {
    ReglageCollaboration {
        active: r.active,
        envoi_auto_45_jours: r.envoi_auto_45_jours,
        email_recapitulatifs: r.email_recapitulatifs,
        depuis: r.depuis.map(DateTime),
        position,
    }
}

/// A Mission Locale's activation.
#[derive(Debug, SimpleObject)]
pub struct ActivationMissionLocale {
    /// The day it uses the service from: it sees the ruptures of the 180 days before and later.
    pub active_le: Date,
    /// The log position of the activation recorded by this request (null when it was already active).
    pub position: Option<i64>,
}

#[derive(Default)]
pub struct CollaborationQuery;

#[Object]
impl CollaborationQuery {
    /// The caller's organisme's settings of its collaboration with the Missions Locales.
    async fn reglage_collaboration(&self, ctx: &Context<'_>) -> Result<ReglageCollaboration, Error> {
        let settings = reglage(ctx.data::<EventStore>()?, ctx.data::<Viewer>()?).await?;
        Ok(answer(settings, None))
    }
}

#[derive(Default)]
pub struct CollaborationMutation;

#[Object]
impl CollaborationMutation {
    /// Set the caller's organisme's collaboration with the Missions Locales (an organisme's key): the
    /// settings whole (without `emailRecapitulatifs`, its recaps are no longer e-mailed), recorded when
    /// they change.
    async fn regler_collaboration(
        &self,
        ctx: &Context<'_>,
        active: bool,
        envoi_auto_45_jours: bool,
        email_recapitulatifs: Option<String>,
    ) -> Result<ReglageCollaboration, Error> {
        let command = ReglerCollaboration { active, envoi_auto_45_jours, email_recapitulatifs };
        let (store, viewer) = (ctx.data::<EventStore>()?, ctx.data::<Viewer>()?);
        let (settings, position) = regler(store, viewer, Channel::Graphql, command).await?;
        Ok(answer(settings, position))
    }

    /// Activate the caller's Mission Locale (its MISSION_LOCALE key) from today: from then on it sees
    /// the ruptures of the 180 days before and later, and any entry it qualified or was sent, of CFAs
    /// that have not activated the collaboration (before, every one). Activating again changes nothing.
    async fn activer_mission_locale(&self, ctx: &Context<'_>) -> Result<ActivationMissionLocale, Error> {
        let (store, viewer) = (ctx.data::<EventStore>()?, ctx.data::<Viewer>()?);
        let (le, position) = activer_mission_locale(store, viewer, Channel::Graphql).await?;
        Ok(ActivationMissionLocale { active_le: Date(le), position })
    }
}
