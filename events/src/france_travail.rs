//! France Travail's follow-up of the adults enrolled without a contract (domain.md §12), as the log
//! records it: one stream per person (`france_travail-<person key>`), whose events are the situations
//! FT advisors set, one per sector, each with who (the envelope's actor) and when (its knowledge time).
//! The comment is personal data (sealed, erasable).

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

pub const SITUATION_FRANCE_TRAVAIL_RENSEIGNEE: &str = "SituationFranceTravailRenseignee";

/// The stream of a person's France Travail follow-up.
pub fn stream_id(personne: &str) -> String {
    format!("france_travail-{personne}")
}

/// The person a follow-up stream is about.
pub fn personne_of(stream_id: &str) -> Option<&str> {
    stream_id.strip_prefix("france_travail-")
}

/// What an FT advisor found out, for one sector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SituationFt {
    Reorientation,
    Entreprise,
    PasDeRecontact,
    Evenement,
    MissionLocale,
    Error,
    FtServices,
}

impl SituationFt {
    pub const ALL: [SituationFt; 7] = [
        SituationFt::Reorientation,
        SituationFt::Entreprise,
        SituationFt::PasDeRecontact,
        SituationFt::Evenement,
        SituationFt::MissionLocale,
        SituationFt::Error,
        SituationFt::FtServices,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SituationFt::Reorientation => "REORIENTATION",
            SituationFt::Entreprise => "ENTREPRISE",
            SituationFt::PasDeRecontact => "PAS_DE_RECONTACT",
            SituationFt::Evenement => "EVENEMENT",
            SituationFt::MissionLocale => "MISSION_LOCALE",
            SituationFt::Error => "ERROR",
            SituationFt::FtServices => "FT_SERVICES",
        }
    }

    pub fn parse(text: &str) -> Option<SituationFt> {
        SituationFt::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// An FT advisor set the situation of the person for one sector.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SituationFranceTravailRenseignee {
    /// The sector (A–N) the advisor works for.
    pub secteur: String,
    pub situation: SituationFt,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commentaire: Option<String>,
    /// The first INSCRIT day of the enrolment the advisor looked at: the situation is about it.
    pub date_inscription: NaiveDate,
}
