//! Affelnet and Parcoursup applications (vœux, domain.md §8), as the log records them: one stream per
//! candidate (`candidat-<id>`), whose events are each vœu as an import found it (`VoeuFormule`, the
//! whole vœu each time it is new or changed) and the vœux a newer file of the same académie and
//! rentrée no longer holds (`VoeuRetire`).
//!
//! Personal data (names, birth date, INE, contacts, address) only travels in `Candidat`, so that it can
//! be encrypted or erased without changing the shape of the events.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::domain::{Cfd, CodeInsee, CodePostal, Email, Ine, Rncp, Telephone, Uai};
use crate::dossier::PersonKey;

pub const VOEU_FORMULE: &str = "VoeuFormule";
pub const VOEU_RETIRE: &str = "VoeuRetire";

/// Where a vœu was formulated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Source {
    /// After the 3e, for CAP and Bac pro (one file per académie).
    Affelnet,
    /// Post-bac apprenticeship applications.
    Parcoursup,
}

impl Source {
    pub const ALL: [Source; 2] = [Source::Affelnet, Source::Parcoursup];

    pub fn as_str(self) -> &'static str {
        match self {
            Source::Affelnet => "AFFELNET",
            Source::Parcoursup => "PARCOURSUP",
        }
    }

    /// `affelnet`, `AFFELNET`, `Parcoursup`...
    pub fn parse(text: &str) -> Option<Source> {
        Source::ALL.into_iter().find(|s| s.as_str().eq_ignore_ascii_case(text.trim()))
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The candidate as the file names them: personal data, erasable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Candidat {
    pub nom: String,
    /// All prénoms, the first first, comma-separated.
    pub prenoms: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_de_naissance: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ine: Option<Ine>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<Email>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub telephone: Option<Telephone>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_responsable: Option<Email>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub telephone_responsable: Option<Telephone>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adresse: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_postal: Option<CodePostal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_commune_insee: Option<CodeInsee>,
    /// The candidate was erased: every field above reads empty.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub efface: bool,
}

impl Candidat {
    /// The first prénom.
    pub fn prenom(&self) -> &str {
        self.prenoms.split(',').next().unwrap_or("").trim()
    }

    /// The key the dossiers of the same person carry (NOM, first prénom, birth date); none without a
    /// birth date.
    pub fn personne(&self) -> Option<PersonKey> {
        let naissance = self.date_de_naissance?;
        Some(PersonKey::new(&self.nom, self.prenom(), naissance, self.ine.clone()))
    }

    /// The candidate's id, the same in every file: from the INE when there is one, else from the
    /// person key; none when the file gives neither (such a row cannot be told apart from a namesake).
    pub fn id(&self) -> Option<String> {
        match &self.ine {
            Some(ine) => {
                let digest = Sha256::digest(format!("ine|{ine}").as_bytes());
                Some(format!("i-{}", hex::encode(&digest[..16])))
            }
            None => self.personne().map(|p| p.identite),
        }
    }
}

/// The formation a vœu is for: the source's own key, and the CFD / RNCP code when the file gives them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FormationVisee {
    /// Affelnet's formation key, Parcoursup's formation code; else the CFD, else the RNCP code.
    pub cle: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cfd: Option<Cfd>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rncp: Option<Rncp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub libelle: Option<String>,
}

/// A vœu as a file holds it (new, or changed since the last file that held it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoeuFormule {
    /// The vœu's id (`voeu_id`): the same vœu in every file of its campaign.
    pub voeu: String,
    pub source: Source,
    /// The rentrée year (the school year `rentree-rentree+1`).
    pub rentree: i32,
    pub academie: String,
    /// The candidate's order of preference (Affelnet); none when the source has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rang: Option<i32>,
    pub formation: FormationVisee,
    /// The organisme (formateur) the vœu targets.
    pub uai_formateur: Uai,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uai_responsable: Option<Uai>,
    pub candidat: Candidat,
}

/// A vœu that a newer file of its académie and rentrée no longer holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoeuRetire {
    pub voeu: String,
    pub source: Source,
    pub rentree: i32,
    pub academie: String,
    /// The SHA-256 (hex) of the file that no longer held it.
    pub fichier: String,
}

/// The id of a vœu: the source, the rentrée, the candidate, the formation and the organisme targeted.
pub fn voeu_id(source: Source, rentree: i32, candidat: &str, formation: &str, uai: &Uai) -> String {
    let name = format!("{source}|{rentree}|{candidat}|{formation}|{uai}");
    let digest = Sha256::digest(name.as_bytes());
    format!("v-{}", hex::encode(&digest[..16]))
}

/// The stream of a candidate's vœux.
pub fn stream_id(candidat: &str) -> String {
    format!("candidat-{candidat}")
}

/// The candidate a stream is about.
pub fn candidat_of(stream_id: &str) -> Option<&str> {
    stream_id.strip_prefix("candidat-")
}

/// A vœu event, read from the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VoeuEvent {
    Formule(Box<VoeuFormule>),
    Retire(VoeuRetire),
}

impl VoeuEvent {
    pub fn event_type(&self) -> &'static str {
        match self {
            VoeuEvent::Formule(_) => VOEU_FORMULE,
            VoeuEvent::Retire(_) => VOEU_RETIRE,
        }
    }

    pub fn data(&self) -> serde_json::Value {
        match self {
            VoeuEvent::Formule(v) => serde_json::to_value(v),
            VoeuEvent::Retire(v) => serde_json::to_value(v),
        }
        .expect("vœu events serialise to JSON")
    }

    /// Read a stored vœu event; `Ok(None)` for a type this stream does not know.
    pub fn decode(event_type: &str, data: &serde_json::Value) -> Result<Option<Self>, serde_json::Error> {
        Ok(match event_type {
            VOEU_FORMULE => Some(VoeuEvent::Formule(Box::new(VoeuFormule::deserialize(data)?))),
            VOEU_RETIRE => Some(VoeuEvent::Retire(VoeuRetire::deserialize(data)?)),
            _ => None,
        })
    }

    pub fn voeu(&self) -> &str {
        match self {
            VoeuEvent::Formule(v) => &v.voeu,
            VoeuEvent::Retire(v) => &v.voeu,
        }
    }
}

impl VoeuFormule {
    /// A digest of everything the vœu says: an unchanged vœu in a newer file writes nothing.
    pub fn digest(&self) -> String {
        let text = serde_json::to_string(self).expect("vœux serialise to JSON");
        hex::encode(Sha256::digest(text.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidat(nom: &str, prenoms: &str, ine: Option<&str>) -> Candidat {
        Candidat {
            nom: nom.into(),
            prenoms: prenoms.into(),
            date_de_naissance: NaiveDate::from_ymd_opt(2011, 4, 2),
            ine: ine.map(|i| Ine::parse(i).expect("ine")),
            email: None,
            telephone: None,
            email_responsable: None,
            telephone_responsable: None,
            adresse: None,
            code_postal: None,
            code_commune_insee: None,
            efface: false,
        }
    }

    #[test]
    fn a_candidate_is_known_by_ine_else_by_name_and_birth_date() {
        let a = candidat("Le Goff", "Léa, Marie", None);
        assert_eq!(a.prenom(), "Léa");
        assert_eq!(a.id(), candidat("LE GOFF", "LEA", None).id());
        assert_eq!(a.personne().map(|p| p.identite), a.id());
        let with_ine = candidat("Le Goff", "Léa", Some("123456789AB"));
        assert!(with_ine.id().is_some_and(|id| id.starts_with("i-")));
        assert_ne!(with_ine.id(), a.id());
        let unknown = Candidat { date_de_naissance: None, ..a };
        assert_eq!(unknown.id(), None);
    }

    #[test]
    fn a_voeu_event_decodes_from_what_it_encodes() {
        let uai = Uai::parse("0693045K").expect("uai");
        let voeu = VoeuFormule {
            voeu: voeu_id(Source::Affelnet, 2026, "p-1", "CLE1", &uai),
            source: Source::Affelnet,
            rentree: 2026,
            academie: "10".into(),
            rang: Some(1),
            formation: FormationVisee { cle: "CLE1".into(), cfd: None, rncp: None, libelle: None },
            uai_formateur: uai,
            uai_responsable: None,
            candidat: candidat("Martin", "Léo", None),
        };
        let event = VoeuEvent::Formule(Box::new(voeu.clone()));
        assert_eq!(event.data()["source"], "AFFELNET");
        assert_eq!(VoeuEvent::decode(VOEU_FORMULE, &event.data()).expect("decodes"), Some(event));
        let changed = VoeuFormule { rang: Some(2), ..voeu.clone() };
        assert_ne!(changed.digest(), voeu.digest());
        assert_eq!(Source::parse("parcoursup"), Some(Source::Parcoursup));
    }
}
