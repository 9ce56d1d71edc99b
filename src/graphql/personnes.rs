//! `effacerPersonne`: an administrator erases a person's personal data (`app::personnes`).

use async_graphql::{Context, Enum, Error, Object, SimpleObject};
use events::EventStore;
use events::personne::BaseLegale as Base;
use sqlx::PgPool;

use super::error::{OrInternal, internal};
use crate::app::personnes::{Effacer, effacer};
use crate::auth::Role;
use crate::auth::access_log;
use crate::auth::viewer::Viewer;

/// Why personal data is erased (RGPD).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(remote = "events::personne::BaseLegale")]
pub enum BaseLegale {
    /// The person exercised their right to erasure (art. 17).
    #[graphql(name = "DROIT_A_L_EFFACEMENT")]
    DroitALEffacement,
    /// The retention period is over (art. 5-1-e).
    DureeDeConservation,
    /// A court decision or another legal obligation.
    ObligationLegale,
}

/// What an erasure did.
#[derive(Debug, SimpleObject)]
pub struct Effacement {
    /// The person key erased.
    pub personne: String,
    /// The log position of the `PersonneEffacee` event; null when the person was already erased.
    pub position: Option<i64>,
    /// The vœux candidates (their ids) erased with the person.
    pub candidats: Vec<String>,
    /// Refused items of the transmission journal deleted.
    pub rejets: i64,
}

#[derive(Default)]
pub struct PersonnesMutation;

#[Object]
impl PersonnesMutation {
    /// Erase a person's personal data (ADMINISTRATEUR): their keys are destroyed, so their names,
    /// birth date, contacts, address and INE no longer open anywhere in the log; the log records who,
    /// why (`motif`) and on which legal basis. Aggregates keep counting the person.
    async fn effacer_personne(
        &self,
        ctx: &Context<'_>,
        personne: String,
        motif: String,
        base_legale: BaseLegale,
    ) -> Result<Effacement, Error> {
        let principal = ctx.data::<Viewer>()?.require(&[Role::Administrateur], "effacer une personne")?;
        let store = ctx.data::<EventStore>()?;
        let vault = store.vault().ok_or_else(|| internal("no master key in this process"))?;
        let pool = ctx.data::<PgPool>()?;
        let metadata = crate::app::metadata(principal.actor(), events::Channel::Graphql);
        let base: Base = base_legale.into();
        let command = Effacer { personne, motif, base_legale: base };
        let done = effacer(pool, vault, command, metadata).await.map_err(crate::app::CommandError::from)?;
        ctx.data::<access_log::Journal>()?
            .record(
                principal,
                "effacement",
                &done.personne,
                serde_json::json!({ "base_legale": base.as_str(), "position": done.position }),
            )
            .await
            .or_internal()?;
        Ok(Effacement {
            personne: done.personne,
            position: done.position,
            candidats: done.candidats,
            rejets: done.rejets as i64,
        })
    }
}
