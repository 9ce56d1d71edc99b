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
    /// Ruptures less than 45 days old (a CFA's first list).
    pub moins_de_45_jours: i64,
    /// Ruptures 45 days old or more (a CFA's second list).
    pub depuis_45_jours: i64,
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
    /// Reached: a situation other than contacté sans retour, coordonnées incorrectes, injoignable.
    pub joints: i64,
    /// An appointment taken.
    pub rdv_pris: i64,
    /// Appointments taken with persons the Mission Locale did not know ("découverts").
    pub decouverts: i64,
    /// Entries whose CFA asked for a joint follow-up.
    pub demandes: i64,
    /// Of those, answered (a situation) within 7 days of the request.
    pub demandes_repondues_7_jours: i64,
    /// Engaged: a treatment rate of 70 % or more.
    pub engagee: bool,
}

impl From<query::Stats> for StatsMissionLocale {
    fn from(s: query::Stats) -> Self {
        let taux_traitement = s.taux_traitement();
        let (engagee, _) = s.engagement();
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
            joints: s.joints,
            rdv_pris: s.rdv_pris,
            decouverts: s.decouverts,
            demandes: s.demandes,
            demandes_repondues_7_jours: s.demandes_repondues_7_jours,
            engagee,
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
    /// Reached (see `StatsMissionLocale.joints`).
    pub joints: i64,
    /// Appointments taken.
    pub rdv_pris: i64,
    /// Appointments taken with persons their Mission Locale did not know.
    pub decouverts: i64,
    /// Requests for a joint follow-up.
    pub demandes: i64,
    /// Of those, answered within 7 days.
    pub demandes_repondues_7_jours: i64,
    /// Missions Locales with a treatment rate of 70 % or more.
    pub missions_locales_engagees: i64,
    /// Missions Locales with entries and not one situation.
    pub missions_locales_inactives: i64,
}

impl StatsRegion {
    /// The statistics of these Missions Locales summed, as `region` (`libelle` its name).
    pub fn somme<'a>(
        region: String,
        libelle: Option<String>,
        date: Date,
        stats: impl IntoIterator<Item = &'a query::Stats>,
    ) -> Self {
        let mut r = StatsRegion {
            region,
            libelle,
            date,
            missions_locales: 0,
            total: 0,
            a_traiter: 0,
            a_recontacter: 0,
            traites: 0,
            taux_traitement: None,
            joints: 0,
            rdv_pris: 0,
            decouverts: 0,
            demandes: 0,
            demandes_repondues_7_jours: 0,
            missions_locales_engagees: 0,
            missions_locales_inactives: 0,
        };
        for s in stats {
            let (engagee, inactive) = s.engagement();
            r.missions_locales += 1;
            r.total += s.total;
            r.a_traiter += s.a_traiter;
            r.a_recontacter += s.a_recontacter;
            r.traites += s.traites;
            r.joints += s.joints;
            r.rdv_pris += s.rdv_pris;
            r.decouverts += s.decouverts;
            r.demandes += s.demandes;
            r.demandes_repondues_7_jours += s.demandes_repondues_7_jours;
            r.missions_locales_engagees += i64::from(engagee);
            r.missions_locales_inactives += i64::from(inactive);
        }
        r.taux_traitement = (r.total > 0).then(|| (r.total - r.a_traiter) as f64 / r.total as f64);
        r
    }
}
