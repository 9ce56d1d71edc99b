//! The facts a dossier records, in the domain's words and the past tense. Each is stored as its
//! variant name (`event_type`) and its data, at `SCHEMA_VERSION`; `decode` reads any version ever
//! written (the upcasting path). Personal data (names, birth date, contacts, address, INE) only ever
//! travels in `Personnel` and `Coordonnees`, so that it can be encrypted or erased without changing
//! the shape of the events.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::PersonKey;
pub use crate::domain::OrganismeRef;
use crate::domain::{AnneeScolaire, Cfd, CodeInsee, CodePostal, Email, Ine, Rncp, Siret, Telephone};
use crate::envelope::{Metadata, NewEvent, RecordedEvent};

/// The schema version every dossier event is written at today.
pub const SCHEMA_VERSION: i32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum DossierEvent {
    InscriptionEnregistree(Box<Inscription>),
    DatesSessionModifiees(Session),
    FormationModifiee(Formation),
    ContratSigne(Contrat),
    /// The contract starting on `date_debut` has a new planned end or employer.
    ContratModifie(Contrat),
    RuptureEnregistree(Rupture),
    AbandonEnregistre(Abandon),
    DiplomeObtenu(Diplome),
    /// Only the fields that changed are present.
    CoordonneesModifiees(Coordonnees),
    /// The learner's identity (names, birth date, INE, sexe, RQTH) as now known, whole: the values the
    /// ERP corrected, the others as before. When the person key changes, the dossier is the new
    /// person's from this event on (domain.md §3, "a new non-empty value wins").
    IdentiteModifiee(Box<Identite>),
    DossierRetire(Retrait),
    /// The named event is void from now on, for the reason given; what replaces it, if anything,
    /// follows as ordinary events.
    CorrectionEnregistree(Correction),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Inscription {
    pub formateur: OrganismeRef,
    pub responsable: OrganismeRef,
    pub annee_scolaire: AnneeScolaire,
    pub id_erp_apprenant: String,
    pub personne: PersonKey,
    pub formation: Formation,
    pub session: Session,
    pub apprenant: Apprenant,
    pub personnel: Personnel,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub date_inscription: NaiveDate,
    pub date_entree: NaiveDate,
    pub date_fin: NaiveDate,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Formation {
    pub cfd: Option<Cfd>,
    pub rncp: Option<Rncp>,
    pub libelle_court: Option<String>,
    pub annee_formation: Option<i64>,
    pub duree_theorique_mois: Option<i64>,
    pub presentielle: Option<bool>,
}

/// What is known of the learner that is not personal data.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Apprenant {
    pub sexe: Option<String>,
    pub rqth: Option<bool>,
    pub date_rqth: Option<NaiveDate>,
    /// Whether the ERP sent a NIR; the NIR itself is never stored.
    pub has_nir: bool,
}

/// The learner's personal data: sealed in the log with the person's key (`personal`). Once the person
/// is erased it reads empty, `efface`, born on the first day of the birth month (kept in clear for the
/// indicators' age bands).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Personnel {
    pub nom: String,
    pub prenom: String,
    pub date_de_naissance: NaiveDate,
    pub ine: Option<Ine>,
    pub coordonnees: Coordonnees,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub efface: bool,
}

/// The identity of a dossier's learner, as an `IdentiteModifiee` records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Identite {
    /// The key of the person, derived from the identity below.
    pub personne: PersonKey,
    pub personnel: IdentitePersonnelle,
    pub apprenant: Apprenant,
}

/// A learner's identity without their contacts: personal data, sealed with the person's key like
/// `Personnel`, and read back `efface` (born on the first day of the birth month) once erased.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdentitePersonnelle {
    pub nom: String,
    pub prenom: String,
    pub date_de_naissance: NaiveDate,
    pub ine: Option<Ine>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub efface: bool,
}

impl Personnel {
    /// The identity part of the personal data.
    pub fn identite(&self) -> IdentitePersonnelle {
        IdentitePersonnelle {
            nom: self.nom.clone(),
            prenom: self.prenom.clone(),
            date_de_naissance: self.date_de_naissance,
            ine: self.ine.clone(),
            efface: self.efface,
        }
    }
}

/// Contact details and residence: personal data, erasable.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Coordonnees {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<Email>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub telephone: Option<Telephone>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adresse: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_postal: Option<CodePostal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_commune_insee: Option<CodeInsee>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub responsables_mails: Vec<Email>,
}

/// A contract is identified by its start day (two contracts starting the same day are one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contrat {
    pub date_debut: NaiveDate,
    pub date_fin: Option<NaiveDate>,
    pub siret_employeur: Option<Siret>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rupture {
    pub date_debut_contrat: NaiveDate,
    pub date_rupture: NaiveDate,
    pub cause: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Abandon {
    pub date_exclusion: NaiveDate,
    pub cause: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diplome {
    pub date_obtention: Option<NaiveDate>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MotifRetrait {
    Doublon,
    MauvaiseManip,
    RetourScolaire,
    ChangementCfa,
    RefusCandidature,
    Autre,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retrait {
    pub motif: MotifRetrait,
    pub commentaire: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Correction {
    /// The id of the event that is void.
    pub corrige: Uuid,
    pub raison: String,
}

impl Correction {
    /// The correction a recorded event is, if it is one.
    pub fn of(event: &RecordedEvent) -> Option<Correction> {
        (event.event_type == "CorrectionEnregistree")
            .then(|| serde_json::from_value(event.data.clone()).ok())
            .flatten()
    }
}

/// Why a stored event could not be read as a dossier event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("{event_type} v{schema_version}: no reader for this schema version")]
    UnknownVersion { event_type: String, schema_version: i32 },
    #[error("{event_type}: {message}")]
    Malformed { event_type: String, message: String },
}

impl DossierEvent {
    /// The variant name, stored as the event type.
    pub fn event_type(&self) -> &'static str {
        match self {
            DossierEvent::InscriptionEnregistree(_) => "InscriptionEnregistree",
            DossierEvent::DatesSessionModifiees(_) => "DatesSessionModifiees",
            DossierEvent::FormationModifiee(_) => "FormationModifiee",
            DossierEvent::ContratSigne(_) => "ContratSigne",
            DossierEvent::ContratModifie(_) => "ContratModifie",
            DossierEvent::RuptureEnregistree(_) => "RuptureEnregistree",
            DossierEvent::AbandonEnregistre(_) => "AbandonEnregistre",
            DossierEvent::DiplomeObtenu(_) => "DiplomeObtenu",
            DossierEvent::CoordonneesModifiees(_) => "CoordonneesModifiees",
            DossierEvent::IdentiteModifiee(_) => "IdentiteModifiee",
            DossierEvent::DossierRetire(_) => "DossierRetire",
            DossierEvent::CorrectionEnregistree(_) => "CorrectionEnregistree",
        }
    }

    /// The business date of the fact (the envelope's `occurred_at`): the day it happened in the
    /// learner's life where the event carries one, else `today`, the day it became known.
    pub fn occurred_on(&self, today: NaiveDate) -> NaiveDate {
        match self {
            DossierEvent::InscriptionEnregistree(i) => i.session.date_inscription,
            DossierEvent::ContratSigne(c) => c.date_debut,
            DossierEvent::RuptureEnregistree(r) => r.date_rupture,
            DossierEvent::AbandonEnregistre(a) => a.date_exclusion,
            DossierEvent::DiplomeObtenu(d) => d.date_obtention.unwrap_or(today),
            DossierEvent::DatesSessionModifiees(_)
            | DossierEvent::FormationModifiee(_)
            | DossierEvent::ContratModifie(_)
            | DossierEvent::CoordonneesModifiees(_)
            | DossierEvent::IdentiteModifiee(_)
            | DossierEvent::DossierRetire(_)
            | DossierEvent::CorrectionEnregistree(_) => today,
        }
    }

    /// The event as the store takes it.
    pub fn to_new_event(&self, occurred_at: NaiveDate, metadata: Metadata) -> NewEvent {
        let mut tagged = serde_json::to_value(self).expect("dossier events serialise to JSON");
        let data = tagged.get_mut("data").map(serde_json::Value::take).unwrap_or_default();
        NewEvent {
            id: None,
            event_type: self.event_type().to_owned(),
            schema_version: SCHEMA_VERSION,
            data,
            occurred_at,
            metadata,
            personne: None,
        }
    }

    /// Read a stored event at whatever schema version it was written.
    pub fn decode(
        event_type: &str,
        schema_version: i32,
        data: &serde_json::Value,
    ) -> Result<Self, DecodeError> {
        let data = upcast(event_type, schema_version, data)?;
        let malformed =
            |message: String| DecodeError::Malformed { event_type: event_type.to_owned(), message };
        Self::read(event_type, data.as_ref())
            .map_err(|e| malformed(e.to_string()))?
            .ok_or_else(|| malformed("unknown event type".into()))
    }

    /// Read the data of an event of `event_type` at the current schema version from any deserializer
    /// (read per type, without buffering: paths of errors stay exact); `None` for an unknown type.
    pub fn read<'de, D: serde::Deserializer<'de>>(
        event_type: &str,
        data: D,
    ) -> Result<Option<Self>, D::Error> {
        use DossierEvent as E;
        Ok(Some(match event_type {
            "InscriptionEnregistree" => E::InscriptionEnregistree(Box::new(Deserialize::deserialize(data)?)),
            "DatesSessionModifiees" => E::DatesSessionModifiees(Deserialize::deserialize(data)?),
            "FormationModifiee" => E::FormationModifiee(Deserialize::deserialize(data)?),
            "ContratSigne" => E::ContratSigne(Deserialize::deserialize(data)?),
            "ContratModifie" => E::ContratModifie(Deserialize::deserialize(data)?),
            "RuptureEnregistree" => E::RuptureEnregistree(Deserialize::deserialize(data)?),
            "AbandonEnregistre" => E::AbandonEnregistre(Deserialize::deserialize(data)?),
            "DiplomeObtenu" => E::DiplomeObtenu(Deserialize::deserialize(data)?),
            "CoordonneesModifiees" => E::CoordonneesModifiees(Deserialize::deserialize(data)?),
            "IdentiteModifiee" => E::IdentiteModifiee(Box::new(Deserialize::deserialize(data)?)),
            "DossierRetire" => E::DossierRetire(Deserialize::deserialize(data)?),
            "CorrectionEnregistree" => E::CorrectionEnregistree(Deserialize::deserialize(data)?),
            _ => return Ok(None),
        }))
    }

    pub fn from_recorded(event: &RecordedEvent) -> Result<Self, DecodeError> {
        Self::decode(&event.event_type, event.schema_version, &event.data)
    }
}

/// Bring the data of an older schema version to the current one. A new version of an event adds an
/// arm here that rewrites the older data; an event type, once shipped, is never changed in place.
fn upcast<'a>(
    event_type: &str,
    schema_version: i32,
    data: &'a serde_json::Value,
) -> Result<std::borrow::Cow<'a, serde_json::Value>, DecodeError> {
    match schema_version {
        SCHEMA_VERSION => Ok(std::borrow::Cow::Borrowed(data)),
        _ => Err(DecodeError::UnknownVersion { event_type: event_type.to_owned(), schema_version }),
    }
}
