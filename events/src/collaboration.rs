//! A CFA's settings of its collaboration with the Missions Locales (domain.md §11), one stream per
//! organisme: whether it has activated the collaboration (then its Missions Locales see only the
//! entries it sent, those they already qualified, and those where the young person wishes an
//! appointment) and whether it sends every rupture automatically once 45 days old. Each event holds
//! the settings whole, as they became; a replay gives each day's.

use serde::{Deserialize, Serialize};

use crate::domain::OrganismeRef;

pub const COLLABORATION_REGLEE: &str = "CollaborationReglee";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CollaborationReglee {
    pub organisme: OrganismeRef,
    pub active: bool,
    pub envoi_auto_45_jours: bool,
    /// Where the CFA's recaps are sent (the organisation's address, not a young person's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_recapitulatifs: Option<String>,
}

impl CollaborationReglee {
    pub fn stream_id(organisme: &OrganismeRef) -> String {
        Self::stream_of(organisme.uai.as_str(), organisme.siret.as_str())
    }

    /// The stream of the organisme `uai`, `siret`, as a read model names it.
    pub fn stream_of(uai: &str, siret: &str) -> String {
        format!("collaboration-{uai}-{siret}")
    }
}
