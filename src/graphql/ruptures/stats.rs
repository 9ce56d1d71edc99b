//! The counts of a queue and the statistics of the Missions Locales.

use async_graphql::SimpleObject;
use projections::ruptures::query;

use crate::graphql::types::Date;

use super::types::{MissionLocale, Situation};

/// The counts of a queue's visible entries, for all months (`mois` null) or one rupture month.
#[derive(Debug, SimpleObject)]
pub struct RupturesCompte {
    /// `YYYY-MM`; null for the whole queue.
    pub mois: Option<String>,
    /// Entries in the visible queue.
    pub total: i64,
    /// Without a situation.
    pub a_traiter: i64,
    /// Contacted without answer.
    pub a_recontacter: i64,
    /// With any other situation.
    pub traites: i64,
    /// Prioritaires among them.
    pub prioritaires: i64,
}

/// How many entries had a situation.
#[derive(Debug, SimpleObject)]
pub struct SituationCompte {
    /// The situation.
    pub situation: Situation,
    /// Entries with it.
    pub total: i64,
}

/// A Mission Locale's queue on a day.
#[derive(Debug, SimpleObject)]
pub struct StatsMissionLocale {
    /// The Mission Locale (its id, name and région).
    pub mission_locale: MissionLocale,
    /// The day counted.
    pub date: Date,
    /// Entries in the visible queue.
    pub total: i64,
    /// Without a situation.
    pub a_traiter: i64,
    /// Contacted without answer.
    pub a_recontacter: i64,
    /// With any other situation.
    pub traites: i64,
    /// Per situation recorded.
    pub par_situation: Vec<SituationCompte>,
    /// Share of the queue with a situation ((total − à traiter) / total); null for an empty queue.
    pub taux_traitement: Option<f64>,
}

impl From<query::Stats> for StatsMissionLocale {
    fn from(s: query::Stats) -> Self {
        let taux_traitement = s.taux_traitement();
        StatsMissionLocale {
            mission_locale: MissionLocale {
                id: s.ml_id,
                nom: s.nom,
                siret: s.siret,
                email: s.email,
                telephone: s.telephone,
                region: s.region,
            },
            date: Date(s.jour),
            total: s.total,
            a_traiter: s.a_traiter,
            a_recontacter: s.a_recontacter,
            traites: s.traites,
            par_situation: s
                .par_situation
                .0
                .into_iter()
                .filter_map(|(name, total)| {
                    events::rupture::Situation::parse(&name)
                        .map(|s| SituationCompte { situation: s.into(), total })
                })
                .collect(),
            taux_traitement,
        }
    }
}

/// The queues of a région's Missions Locales on a day, summed.
#[derive(Debug, SimpleObject)]
pub struct StatsRegion {
    /// The région's code.
    pub region: String,
    /// Its name.
    pub libelle: Option<String>,
    /// The day counted.
    pub date: Date,
    /// Missions Locales counted.
    pub missions_locales: i64,
    /// Entries in the visible queues.
    pub total: i64,
    /// Without a situation.
    pub a_traiter: i64,
    /// Contacted without answer.
    pub a_recontacter: i64,
    /// With any other situation.
    pub traites: i64,
    /// Share of the queues with a situation; null when they are empty.
    pub taux_traitement: Option<f64>,
}
