//! The follow-up of a young person in rupture (domain.md §7), as the log records it: one stream per
//! person (`rupture-<person key>`), whose events are what the Mission Locale's advisors and the CFA did
//! about the rupture, each with who (the envelope's actor) and when (its knowledge time). The rupture
//! itself is a fact of the dossier (`RuptureEnregistree`), whoever declared it.
//!
//! Free text (comments, the AUTRE situation and problem) and the verified phone number are personal data:
//! they only travel in `SituationRenseignee` and `SuiviConjointDemande` (and the thread's messages, in
//! `fil`).

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::domain::{Email, Telephone};

pub const SITUATION_RENSEIGNEE: &str = "SituationRenseignee";
pub const SUIVI_CONJOINT_DEMANDE: &str = "SuiviConjointDemande";
pub const PARTAGE_REFUSE: &str = "PartageRefuse";

/// The stream of a person's follow-up.
pub fn stream_id(personne: &str) -> String {
    format!("rupture-{personne}")
}

/// The person a follow-up stream is about.
pub fn personne_of(stream_id: &str) -> Option<&str> {
    stream_id.strip_prefix("rupture-")
}

macro_rules! names {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
        pub enum $name { $($variant,)* }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text,)* }
            }

            pub fn parse(text: &str) -> Option<$name> {
                $name::ALL.iter().copied().find(|v| v.as_str() == text)
            }
        }
    };
}

names!(
    /// What an advisor found out about the young person.
    Situation {
        RdvPris => "RDV_PRIS",
        NouveauProjet => "NOUVEAU_PROJET",
        DejaAccompagne => "DEJA_ACCOMPAGNE",
        ContacteSansRetour => "CONTACTE_SANS_RETOUR",
        CoordonneesIncorrect => "COORDONNEES_INCORRECT",
        InjoignableApresRelances => "INJOIGNABLE_APRES_RELANCES",
        NouveauContrat => "NOUVEAU_CONTRAT",
        NeSouhaitePasEtreRecontacte => "NE_SOUHAITE_PAS_ETRE_RECONTACTE",
        Autre => "AUTRE",
        ChercheContrat => "CHERCHE_CONTRAT",
        Reorientation => "REORIENTATION",
        NeVeutPasAccompagnement => "NE_VEUT_PAS_ACCOMPAGNEMENT",
    }
);

names!(
    /// Whether the Mission Locale already knew the young person.
    Connaissance {
        DejaAccompagneActivement => "DEJA_ACCOMPAGNE_ACTIVEMENT",
        ConnuNonAccompagne => "CONNU_NON_ACCOMPAGNE",
        NonConnu => "NON_CONNU",
    }
);

names!(
    /// Why a CFA asks the Mission Locale for a joint follow-up.
    MotifSuivi {
        Mobilite => "MOBILITE",
        Logement => "LOGEMENT",
        Sante => "SANTE",
        Finance => "FINANCE",
        Administratif => "ADMINISTRATIF",
        SocialFamilial => "SOCIAL_FAMILIAL",
        Reorientation => "REORIENTATION",
        RechercheEmploi => "RECHERCHE_EMPLOI",
        Autre => "AUTRE",
    }
);

names!(
    /// What keeps the Mission Locale from reaching the young person (domain.md §11).
    ProblemeType {
        CoordonneesIncorrectes => "COORDONNEES_INCORRECTES",
        JeuneInjoignable => "JEUNE_INJOIGNABLE",
        Autre => "AUTRE",
    }
);

/// An advisor of the Mission Locale qualified the entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SituationRenseignee {
    pub mission_locale: String,
    /// The rupture the advisor was looking at (the entry's, when they acted).
    pub date_rupture: NaiveDate,
    pub situation: Situation,
    /// What the situation is, in words, when it is AUTRE (and only then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub situation_autre: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commentaire: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connaissance: Option<Connaissance>,
    /// What keeps the Mission Locale from reaching the person, if anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probleme_type: Option<ProblemeType>,
    /// The problem in words, when it is AUTRE (and only then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probleme_detail: Option<String>,
    /// The young person wishes an appointment: the entry is prioritaire.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub souhaite_rdv: bool,
}

/// The CFA asked the Mission Locale to follow the young person with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SuiviConjointDemande {
    /// The dossier, at the asking organisme, whose rupture it is about.
    pub dossier_id: String,
    pub date_rupture: NaiveDate,
    pub motifs: BTreeSet<MotifSuivi>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commentaire: Option<String>,
    /// The young person's phone number, as the CFA just verified it with them.
    /// Absent once the person is erased.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub telephone_verifie: Option<Telephone>,
    /// A comment per motif (domain.md §11).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub commentaires_motifs: BTreeMap<MotifSuivi, String>,
    /// Whether the young person is still at the CFA.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encore_au_cfa: Option<bool>,
    /// The rupture's cause, as the CFA knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause_rupture: Option<String>,
    /// The person at the CFA the Mission Locale can reach about the young person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referent: Option<Referent>,
    /// The young person's e-mail and address, as the CFA just verified them (the Mission Locale uses
    /// them instead of the ERP's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_verifie: Option<Email>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adresse_verifiee: Option<String>,
}

/// The CFA refused to share the entry with the Mission Locale (domain.md §11): not sent at 45 days, nor
/// shown by default; a later request for a joint follow-up sends it all the same.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartageRefuse {
    /// The dossier, at the refusing organisme, whose rupture it is about.
    pub dossier_id: String,
    pub date_rupture: NaiveDate,
    /// Why. Absent once the person is erased.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub motif: Option<String>,
}

/// A referent at the CFA.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Referent {
    pub nom: String,
    pub prenom: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<Email>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub telephone: Option<Telephone>,
}

/// A follow-up event, read from the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuptureEvent {
    Situation(SituationRenseignee),
    SuiviConjoint(SuiviConjointDemande),
    PartageRefuse(PartageRefuse),
}

impl RuptureEvent {
    pub fn event_type(&self) -> &'static str {
        match self {
            RuptureEvent::Situation(_) => SITUATION_RENSEIGNEE,
            RuptureEvent::SuiviConjoint(_) => SUIVI_CONJOINT_DEMANDE,
            RuptureEvent::PartageRefuse(_) => PARTAGE_REFUSE,
        }
    }

    pub fn data(&self) -> serde_json::Value {
        match self {
            RuptureEvent::Situation(s) => serde_json::to_value(s),
            RuptureEvent::SuiviConjoint(s) => serde_json::to_value(s),
            RuptureEvent::PartageRefuse(r) => serde_json::to_value(r),
        }
        .expect("follow-up events serialise to JSON")
    }

    /// Read a stored follow-up event; `Ok(None)` for a type this stream does not know.
    pub fn decode(event_type: &str, data: &serde_json::Value) -> Result<Option<Self>, serde_json::Error> {
        Ok(match event_type {
            SITUATION_RENSEIGNEE => Some(RuptureEvent::Situation(SituationRenseignee::deserialize(data)?)),
            SUIVI_CONJOINT_DEMANDE => {
                Some(RuptureEvent::SuiviConjoint(SuiviConjointDemande::deserialize(data)?))
            }
            PARTAGE_REFUSE => Some(RuptureEvent::PartageRefuse(PartageRefuse::deserialize(data)?)),
            _ => None,
        })
    }

    pub fn date_rupture(&self) -> NaiveDate {
        match self {
            RuptureEvent::Situation(s) => s.date_rupture,
            RuptureEvent::SuiviConjoint(s) => s.date_rupture,
            RuptureEvent::PartageRefuse(r) => r.date_rupture,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_read_back_as_written() {
        for s in Situation::ALL {
            assert_eq!(Situation::parse(s.as_str()), Some(*s));
            assert_eq!(serde_json::to_value(s).unwrap(), serde_json::json!(s.as_str()));
        }
        assert_eq!(Situation::ALL.len(), 12);
        assert_eq!(MotifSuivi::ALL.len(), 9);
        assert_eq!(Connaissance::parse("NON_CONNU"), Some(Connaissance::NonConnu));
        assert_eq!(Connaissance::parse("non_connu"), None);
    }

    #[test]
    fn a_follow_up_event_decodes_from_what_it_encodes() {
        let event = RuptureEvent::SuiviConjoint(SuiviConjointDemande {
            dossier_id: "dossier-1".into(),
            date_rupture: NaiveDate::from_ymd_opt(2026, 11, 2).unwrap(),
            motifs: [MotifSuivi::Logement, MotifSuivi::Mobilite].into(),
            commentaire: None,
            telephone_verifie: Telephone::parse("06 12 34 56 78").ok(),
            commentaires_motifs: [(MotifSuivi::Logement, "hébergé chez un ami".to_owned())].into(),
            encore_au_cfa: Some(true),
            cause_rupture: None,
            referent: Some(Referent {
                nom: "Durand".into(),
                prenom: "Anne".into(),
                email: None,
                telephone: None,
            }),
            email_verifie: Email::parse("jeune@example.fr").ok(),
            adresse_verifiee: None,
        });
        let data = event.data();
        assert_eq!(data["motifs"], serde_json::json!(["MOBILITE", "LOGEMENT"]));
        assert_eq!(data["commentaires_motifs"], serde_json::json!({ "LOGEMENT": "hébergé chez un ami" }));
        assert_eq!(RuptureEvent::decode(event.event_type(), &data).unwrap(), Some(event));
        assert_eq!(RuptureEvent::decode("Autre", &data).unwrap(), None);
    }
}
