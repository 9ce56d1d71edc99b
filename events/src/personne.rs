//! The erasure of a person (`tba personnes effacer`, the `effacerPersonne` mutation), as the log records
//! it: one `PersonneEffacee` on the person's stream (`personne-<person key>`), appended in the same
//! transaction that destroys the person's data keys (`personal::Vault::erase`). Who erased is the
//! event's actor; why and on which legal basis are its data. The event carries no personal data: only
//! pseudonyms, so that projections can find what they keep about the person and show it erased.

use serde::{Deserialize, Serialize};

pub const PERSONNE_EFFACEE: &str = "PersonneEffacee";

/// The stream of a person's erasure.
pub fn stream_id(personne: &str) -> String {
    format!("personne-{personne}")
}

/// Why personal data may be erased (RGPD).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum BaseLegale {
    /// The person exercised their right to erasure (art. 17).
    DroitALEffacement,
    /// The retention period is over (art. 5-1-e): `tba retention run`.
    DureeDeConservation,
    /// A court decision or another legal obligation.
    ObligationLegale,
}

impl BaseLegale {
    pub const ALL: [BaseLegale; 3] =
        [BaseLegale::DroitALEffacement, BaseLegale::DureeDeConservation, BaseLegale::ObligationLegale];

    pub fn as_str(self) -> &'static str {
        match self {
            BaseLegale::DroitALEffacement => "DROIT_A_L_EFFACEMENT",
            BaseLegale::DureeDeConservation => "DUREE_DE_CONSERVATION",
            BaseLegale::ObligationLegale => "OBLIGATION_LEGALE",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        BaseLegale::ALL.into_iter().find(|b| b.as_str().eq_ignore_ascii_case(text.trim()))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonneEffacee {
    /// The person key (`p-…`).
    pub personne: String,
    pub motif: String,
    pub base_legale: BaseLegale,
    /// The candidate ids (vœux streams) that were the same person: their keys are destroyed too, and
    /// the vœux stay matched to the person's dossiers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub candidats: Vec<String>,
    /// The keys the person's dossiers had before an identity correction moved them to this person:
    /// what was sealed under them is the person's too, and their keys are destroyed as well.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub anciennes: Vec<String>,
}

impl PersonneEffacee {
    pub fn decode(event: &crate::RecordedEvent) -> Option<Self> {
        (event.event_type == PERSONNE_EFFACEE)
            .then(|| serde_json::from_value(event.data.clone()).ok())
            .flatten()
    }

    /// The erasures among `events`.
    pub fn all_in(events: &[crate::RecordedEvent]) -> Vec<Self> {
        events.iter().filter_map(Self::decode).collect()
    }

    /// The person's keys: their own, then those their dossiers had before.
    pub fn cles(&self) -> impl Iterator<Item = &String> {
        std::iter::once(&self.personne).chain(&self.anciennes)
    }

    /// The person keys erased by `events` (each person's former keys too), each with the position of
    /// its erasure.
    pub fn keys_in(events: &[crate::RecordedEvent]) -> Vec<(String, i64)> {
        events
            .iter()
            .filter_map(|e| Self::decode(e).map(|p| (p, e.position)))
            .flat_map(|(p, position)| p.cles().map(|k| (k.clone(), position)).collect::<Vec<_>>())
            .collect()
    }

    /// The person keys erased by `events` (each person's former keys too).
    pub fn persons_in(events: &[crate::RecordedEvent]) -> Vec<String> {
        Self::all_in(events).iter().flat_map(|e| e.cles().cloned()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legal_bases_read_back_as_written() {
        for b in BaseLegale::ALL {
            assert_eq!(BaseLegale::parse(b.as_str()), Some(b));
            assert_eq!(serde_json::to_value(b).expect("serialises"), serde_json::json!(b.as_str()));
        }
        assert_eq!(BaseLegale::parse("autre"), None);
    }
}
