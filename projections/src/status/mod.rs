//! The status engine: a pure function from a dossier's facts (session dates, contracts, exclusion) to its
//! parcours, the timeline of change points of domain.md §5. No I/O, no clock: the same facts always give
//! the same timeline, on UTC calendar days.
//!
//! The rules have been rewritten before and will be again, so they are versioned (`RuleSet`): every
//! version ever shipped stays runnable, and a projection names the version it was built with, so it can
//! be rebuilt under a new one without touching the log.

mod v1;

use chrono::NaiveDate;
use events::dossier::Dossier;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Statut {
    Inscrit,
    Apprenti,
    Rupturant,
    Abandon,
    FinDeFormation,
}

impl Statut {
    pub fn as_str(self) -> &'static str {
        match self {
            Statut::Inscrit => "INSCRIT",
            Statut::Apprenti => "APPRENTI",
            Statut::Rupturant => "RUPTURANT",
            Statut::Abandon => "ABANDON",
            Statut::FinDeFormation => "FIN_DE_FORMATION",
        }
    }

    /// Every status, in declaration order (`Statut::ALL[s as usize] == s`).
    pub const ALL: [Statut; 5] =
        [Statut::Inscrit, Statut::Apprenti, Statut::Rupturant, Statut::Abandon, Statut::FinDeFormation];

    pub fn parse(name: &str) -> Option<Statut> {
        Statut::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

/// From `date` on (until the next point), the dossier has `statut`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangePoint {
    pub date: NaiveDate,
    pub statut: Statut,
}

/// A contract as the status sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContratFaits {
    pub debut: NaiveDate,
    pub fin: Option<NaiveDate>,
    pub rupture: Option<NaiveDate>,
}

/// Everything the status depends on, and nothing else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Faits {
    pub entree: NaiveDate,
    pub fin: NaiveDate,
    pub contrats: Vec<ContratFaits>,
    pub exclusion: Option<NaiveDate>,
}

impl Faits {
    /// The facts of a dossier as its events make it; `None` for a dossier without inscription or
    /// withdrawn (it has no status).
    pub fn of(dossier: &Dossier) -> Option<Faits> {
        let inscription = dossier.inscription.as_ref()?;
        if dossier.retrait.is_some() {
            return None;
        }
        Some(Faits {
            entree: inscription.session.date_entree,
            fin: inscription.session.date_fin,
            contrats: dossier
                .contrats
                .values()
                .map(|etat| ContratFaits {
                    debut: etat.contrat.date_debut,
                    fin: etat.contrat.date_fin,
                    rupture: etat.rupture.as_ref().map(|r| r.date_rupture),
                })
                .collect(),
            exclusion: dossier.abandon.as_ref().map(|a| a.date_exclusion),
        })
    }
}

impl Faits {
    /// The facts of a DECA contract (domain.md §13): a learner who entered on the contract's first day
    /// for the contract's planned length.
    pub fn of_deca(contrat: &events::deca::ContratDeca) -> Faits {
        Faits {
            entree: contrat.date_debut,
            fin: contrat.date_fin_prevue,
            contrats: vec![ContratFaits {
                debut: contrat.date_debut,
                fin: Some(contrat.date_fin_prevue),
                rupture: contrat.date_rupture,
            }],
            exclusion: None,
        }
    }
}

/// The versions of the rules. A new version is a new variant and a new module; old ones stay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RuleSet {
    /// domain.md §5 as of 2026-11.
    V1,
}

impl RuleSet {
    /// The version new projections are built with.
    pub const CURRENT: RuleSet = RuleSet::V1;

    pub fn version(self) -> u32 {
        match self {
            RuleSet::V1 => 1,
        }
    }

    pub fn from_version(version: u32) -> Option<RuleSet> {
        match version {
            1 => Some(RuleSet::V1),
            _ => None,
        }
    }

    /// The parcours: change points in date order, no two consecutive equal. Empty when the session has
    /// no day (its end before its start).
    pub fn parcours(self, faits: &Faits) -> Vec<ChangePoint> {
        match self {
            RuleSet::V1 => v1::parcours(faits),
        }
    }
}

/// The status at `date`: that of the last change point on or before it; `None` before the first.
pub fn statut_at(parcours: &[ChangePoint], date: NaiveDate) -> Option<Statut> {
    let after = parcours.partition_point(|p| p.date <= date);
    after.checked_sub(1).map(|i| parcours[i].statut)
}

#[cfg(test)]
mod tests;
