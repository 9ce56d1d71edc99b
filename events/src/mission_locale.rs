//! Missions Locales as the log records them: one stream per Mission Locale, whose events each carry its
//! full referential entry (identity, contacts, territory) as it became known, so that a replay places
//! young people by the territories of its time.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::domain::{Email, Siret, Telephone};

/// A Mission Locale stream's referential entry, complete, at that time.
pub const MISSION_LOCALE_ENREGISTREE: &str = "MissionLocaleEnregistree";
/// The Mission Locale started to use the service (domain.md §11).
pub const MISSION_LOCALE_ACTIVEE: &str = "MissionLocaleActivee";

/// A Mission Locale started to use the service on `le`: from then on it sees the ruptures of the 180
/// days before that day and later (and any entry it qualified or was sent); before, every one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MissionLocaleActivee {
    pub id: String,
    pub le: chrono::NaiveDate,
}

impl MissionLocaleActivee {
    pub fn stream_id(&self) -> String {
        format!("mission_locale-{}", self.id)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MissionLocale {
    pub id: String,
    pub nom: String,
    pub siret: Siret,
    pub email: Option<Email>,
    pub telephone: Option<Telephone>,
    /// The current communes (INSEE codes) of its territory.
    pub communes: BTreeSet<String>,
}

impl MissionLocale {
    pub fn stream_id(&self) -> String {
        format!("mission_locale-{}", self.id)
    }
}
