//! Organismes de formation as the log records them: one stream per (UAI, SIRET), whose events each
//! carry the organisme's full referential entry as it became known.

use serde::{Deserialize, Serialize};

use crate::domain::{CodeInsee, CodePostal, Siret, Uai};

/// The only event type of an organisme stream: the referential entry, complete, at that time.
pub const ORGANISME_ENREGISTRE: &str = "OrganismeEnregistre";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Nature {
    Responsable,
    Formateur,
    ResponsableFormateur,
    Inconnue,
}

impl Nature {
    pub fn parse(raw: &str) -> Option<Nature> {
        match raw.trim().to_lowercase().as_str() {
            "responsable" => Some(Nature::Responsable),
            "formateur" => Some(Nature::Formateur),
            "responsable_formateur" => Some(Nature::ResponsableFormateur),
            "inconnue" | "" => Some(Nature::Inconnue),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Nature::Responsable => "responsable",
            Nature::Formateur => "formateur",
            Nature::ResponsableFormateur => "responsable_formateur",
            Nature::Inconnue => "inconnue",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Organisme {
    pub uai: Uai,
    pub siret: Siret,
    pub nom: String,
    pub code_commune_insee: Option<CodeInsee>,
    pub code_postal: Option<CodePostal>,
    pub departement: String,
    pub region: String,
    pub academie: String,
    pub nature: Nature,
}

impl Organisme {
    pub fn stream_id(&self) -> String {
        format!("organisme-{}-{}", self.uai, self.siret)
    }
}
