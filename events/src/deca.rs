//! Contracts from DECA, the State's base of registered apprenticeship contracts (domain.md §13), as the
//! log records them: one stream per contract (`deca-<contract number>`), whose events carry the
//! contract whole as the latest extract gave it (`ContratDecaEnregistre`), or say that a later extract
//! no longer holds it (`ContratDecaRetire`). The apprentice's identity and contacts are personal data,
//! sealed under their person key; an extract row's fingerprint (`empreinte`, not personal) tells an
//! unchanged row without opening them.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::domain::{Cfd, Email, Ine, OrganismeRef, Rncp, Siret, Telephone};

pub const CONTRAT_DECA_ENREGISTRE: &str = "ContratDecaEnregistre";
pub const CONTRAT_DECA_RETIRE: &str = "ContratDecaRetire";

/// The stream of a contract.
pub fn stream_id(numero: &str) -> String {
    format!("deca-{numero}")
}

/// The apprentice as the contract names them, with their contacts and residence (personal data).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprentiDeca {
    pub nom: String,
    pub prenom: String,
    pub date_de_naissance: NaiveDate,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ine: Option<Ine>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<Email>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub telephone: Option<Telephone>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adresse: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_postal: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_commune_insee: Option<String>,
    /// Erased: every field above is empty.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub efface: bool,
}

/// A contract as DECA holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContratDeca {
    pub numero: String,
    pub siret_employeur: Siret,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opco: Option<String>,
    pub organisme: OrganismeRef,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cfd: Option<Cfd>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rncp: Option<Rncp>,
    pub apprenti: ApprentiDeca,
    pub date_debut: NaiveDate,
    pub date_fin_prevue: NaiveDate,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_rupture: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause_rupture: Option<String>,
}

/// A contract as an extract gave it, with the person it is about and the fingerprint of its row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContratDecaEnregistre {
    pub contrat: ContratDeca,
    /// The apprentice's person key (as the dossiers' inscriptions compute it).
    pub personne: String,
    /// SHA-256 of the extract's row as read (normalised): equal for an unchanged row.
    pub empreinte: String,
}

/// A later extract no longer holds the contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContratDecaRetire {
    pub numero: String,
}

/// An event of a contract's stream, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecaEvent {
    Enregistre(Box<ContratDecaEnregistre>),
    Retire(ContratDecaRetire),
}

impl DecaEvent {
    /// Decode an event of a `deca-` stream by its type.
    pub fn decode(event_type: &str, data: &serde_json::Value) -> Result<DecaEvent, String> {
        let decoded = match event_type {
            CONTRAT_DECA_ENREGISTRE => {
                serde_json::from_value(data.clone()).map(|e| DecaEvent::Enregistre(Box::new(e)))
            }
            CONTRAT_DECA_RETIRE => serde_json::from_value(data.clone()).map(DecaEvent::Retire),
            other => return Err(format!("not an event of a DECA contract: {other}")),
        };
        decoded.map_err(|e| e.to_string())
    }
}

/// The contract as its stream's events last recorded it: `None` before its first record and once
/// withdrawn (events of other types are passed over).
pub fn contrat_de<'a>(
    events: impl IntoIterator<Item = &'a crate::RecordedEvent>,
) -> Option<ContratDecaEnregistre> {
    events.into_iter().fold(None, |state, e| match DecaEvent::decode(&e.event_type, &e.data) {
        Ok(DecaEvent::Enregistre(contrat)) => Some(*contrat),
        Ok(DecaEvent::Retire(_)) => None,
        Err(_) => state,
    })
}
