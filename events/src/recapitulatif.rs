//! The recaps of the collaboration (domain.md §11), produced from the log as messages any notifier can
//! send: daily to a Mission Locale with requests still unanswered after 24 h, weekly to every Mission
//! Locale with a queue, daily to a CFA whose entries the Missions Locales acted on. One stream per
//! recipient; a recap is produced once (`RecapitulatifProduit`) and, when a notifier sent it,
//! `RecapitulatifEnvoye` says where and when. A recap holds figures and names of organisations, never
//! a young person's data: it can travel by e-mail.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub const RECAPITULATIF_PRODUIT: &str = "RecapitulatifProduit";
pub const RECAPITULATIF_ENVOYE: &str = "RecapitulatifEnvoye";

/// Which recap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Genre {
    /// To a Mission Locale, daily: the CFAs' requests still unanswered after 24 h.
    DemandesEnAttente,
    /// To a Mission Locale, weekly: its queue, the requests and messages of the week.
    HebdomadaireMissionLocale,
    /// To a CFA, daily: what the Missions Locales did on its entries since the last one.
    ActionsMissionsLocales,
}

impl Genre {
    pub const ALL: [Genre; 3] =
        [Genre::DemandesEnAttente, Genre::HebdomadaireMissionLocale, Genre::ActionsMissionsLocales];

    pub fn as_str(self) -> &'static str {
        match self {
            Genre::DemandesEnAttente => "DEMANDES_EN_ATTENTE",
            Genre::HebdomadaireMissionLocale => "HEBDOMADAIRE_MISSION_LOCALE",
            Genre::ActionsMissionsLocales => "ACTIONS_MISSIONS_LOCALES",
        }
    }

    pub fn parse(text: &str) -> Option<Genre> {
        Genre::ALL.into_iter().find(|g| g.as_str() == text)
    }

    /// Weekly, or daily.
    pub fn hebdomadaire(self) -> bool {
        self == Genre::HebdomadaireMissionLocale
    }
}

/// Who a recap is for: `MISSION_LOCALE:<id>` or `ORGANISME:<uai>:<siret>`, as the log names actors.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Destinataire(pub String);

impl Destinataire {
    pub fn mission_locale(id: &str) -> Self {
        Destinataire(format!("MISSION_LOCALE:{id}"))
    }

    pub fn organisme(uai: &str, siret: &str) -> Self {
        Destinataire(format!("ORGANISME:{uai}:{siret}"))
    }

    /// The recipient's stream.
    pub fn stream_id(&self) -> String {
        format!("recapitulatif-{}", self.0.replace(':', "-"))
    }
}

/// A recap as produced: its period (`du` to `au`, the knowledge times it looked at), its message, the
/// figures it was written from, and the address it is to be sent to, if the recipient has one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecapitulatifProduit {
    pub genre: Genre,
    pub destinataire: Destinataire,
    pub du: DateTime<Utc>,
    pub au: DateTime<Utc>,
    pub sujet: String,
    pub texte: String,
    pub chiffres: serde_json::Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adresse: Option<String>,
}

impl RecapitulatifProduit {
    /// The recap's event id: one per recipient, genre and period start, so that two producers of the
    /// same recap write it once.
    pub fn event_id(&self) -> Uuid {
        let name = format!("{}|{}|{}", self.destinataire.0, self.genre.as_str(), self.du.to_rfc3339());
        Uuid::new_v5(&Uuid::NAMESPACE_OID, name.as_bytes())
    }
}

/// A recap was handed to a notifier, which accepted it for `adresse`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecapitulatifEnvoye {
    /// The event id of the `RecapitulatifProduit`.
    pub recapitulatif: Uuid,
    pub adresse: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recipient_has_its_stream_and_a_recap_its_stable_id() {
        let ml = Destinataire::mission_locale("ML-LYON");
        assert_eq!(ml.stream_id(), "recapitulatif-MISSION_LOCALE-ML-LYON");
        assert_eq!(
            Destinataire::organisme("0693456K", "123").stream_id(),
            "recapitulatif-ORGANISME-0693456K-123"
        );
        let at = "2026-12-07T06:00:00Z".parse().unwrap();
        let recap = RecapitulatifProduit {
            genre: Genre::DemandesEnAttente,
            destinataire: ml,
            du: at,
            au: at,
            sujet: "s".into(),
            texte: "t".into(),
            chiffres: serde_json::json!({}),
            adresse: None,
        };
        let other = RecapitulatifProduit { texte: "changed".into(), ..recap.clone() };
        assert_eq!(recap.event_id(), other.event_id());
        let weekly = RecapitulatifProduit { genre: Genre::HebdomadaireMissionLocale, ..recap.clone() };
        assert_ne!(recap.event_id(), weekly.event_id());
        assert_eq!(Genre::parse("ACTIONS_MISSIONS_LOCALES"), Some(Genre::ActionsMissionsLocales));
    }
}
