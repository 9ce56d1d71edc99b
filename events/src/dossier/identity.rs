//! Who and what a dossier is about: its natural key (and the stream id derived from it), and the key of
//! the person, so that projections can recognise one person across dossiers, organismes and years.

use chrono::NaiveDate;
use sha2::{Digest, Sha256};
use unicode_normalization::UnicodeNormalization;
use uuid::Uuid;

use crate::domain::{AnneeScolaire, Ine, Invalid, Uai};

/// Namespace of the dossier ids (UUIDv5): fixed forever, or every stream id would change.
const DOSSIER_NAMESPACE: Uuid = Uuid::from_u128(0x6a1c_4f52_9d3e_4b8a_a0c1_7e25_d94b_3f10);

/// The identity of a dossier today: (organisme formateur, année scolaire, id_erp_apprenant). A learner
/// continuing next year is a new dossier.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DossierKey {
    pub uai_formateur: Uai,
    pub annee_scolaire: AnneeScolaire,
    pub id_erp_apprenant: String,
}

impl DossierKey {
    pub fn new(
        uai_formateur: Uai,
        annee_scolaire: AnneeScolaire,
        id_erp_apprenant: &str,
    ) -> Result<Self, Invalid> {
        let id = id_erp_apprenant.trim();
        if id.is_empty() {
            return Err(Invalid::new("l'identifiant de l'apprenant dans l'ERP ne doit pas être vide"));
        }
        crate::limits::Texte::Identifiant.check(id)?;
        Ok(DossierKey { uai_formateur, annee_scolaire, id_erp_apprenant: id.to_owned() })
    }

    /// The dossier's id: deterministic, so the same dossier sent twice, by any channel, is one stream.
    pub fn dossier_id(&self) -> Uuid {
        let name =
            format!("{}\u{1f}{}\u{1f}{}", self.uai_formateur, self.annee_scolaire, self.id_erp_apprenant);
        Uuid::new_v5(&DOSSIER_NAMESPACE, name.as_bytes())
    }

    pub fn stream_id(&self) -> String {
        format!("dossier-{}", self.dossier_id())
    }
}

/// The key of a person: a pseudonym derived from the normalised NOM, first Prénom and birth date (the
/// identity the Missions Locales and the vœux matching use), plus the INE when a valid one is known.
/// The pseudonym carries no name in clear, so it can stay in the log when personal data is erased.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct PersonKey {
    pub identite: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ine: Option<Ine>,
}

impl PersonKey {
    pub fn new(nom: &str, prenom: &str, naissance: NaiveDate, ine: Option<Ine>) -> Self {
        let canonical = format!("v1|{}|{}|{naissance}", normalise_nom(nom), normalise_prenom(prenom));
        let digest = Sha256::digest(canonical.as_bytes());
        PersonKey { identite: format!("p-{}", hex::encode(&digest[..16])), ine }
    }
}

/// Upper case, accents removed, and nothing but letters and digits: `Le Goff-Hélias` → `LEGOFFHELIAS`,
/// so that spelling variants of separators and accents across ERPs and files name one person.
pub fn normalise_nom(raw: &str) -> String {
    raw.nfd().filter(|c| c.is_alphanumeric()).flat_map(char::to_uppercase).collect()
}

/// The first prénom (before a comma), normalised like a nom: `Jean-Pierre, Marie` → `JEANPIERRE`.
pub fn normalise_prenom(raw: &str) -> String {
    normalise_nom(raw.split(',').next().unwrap_or(raw))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(uai: &str, annee: &str, id: &str) -> DossierKey {
        DossierKey::new(Uai::parse(uai).expect("uai"), AnneeScolaire::parse(annee).expect("annee"), id)
            .expect("key")
    }

    #[test]
    fn the_same_natural_key_always_gives_the_same_stream() {
        let a = key("0751234A", "2025-2026", "ERP-1");
        assert_eq!(a.stream_id(), key("0751234a", "2025/2026", " ERP-1 ").stream_id());
        assert_ne!(a.stream_id(), key("0751234A", "2026-2027", "ERP-1").stream_id());
        assert_ne!(a.stream_id(), key("0751234B", "2025-2026", "ERP-1").stream_id());
        assert!(a.stream_id().starts_with("dossier-"));
    }

    #[test]
    fn an_empty_erp_id_is_refused() {
        let uai = Uai::parse("0751234A").expect("uai");
        let annee = AnneeScolaire::parse("2025-2026").expect("annee");
        assert!(DossierKey::new(uai, annee, "  ").is_err());
    }

    #[test]
    fn names_are_normalised_across_accents_case_and_separators() {
        assert_eq!(normalise_nom("Le Goff-Hélias"), "LEGOFFHELIAS");
        assert_eq!(normalise_nom("N'DIAYE"), normalise_nom("Ndiaye"));
        assert_eq!(normalise_nom("  Çelik  "), "CELIK");
        assert_eq!(normalise_prenom("Jean-Pierre, Marie"), "JEANPIERRE");
        assert_eq!(normalise_prenom("jean pierre"), "JEANPIERRE");
        assert_eq!(normalise_prenom("Léa"), "LEA");
    }

    #[test]
    fn one_person_one_key_and_birth_dates_tell_namesakes_apart() {
        let day = |d| NaiveDate::from_ymd_opt(2007, 3, d).expect("valid date");
        let a = PersonKey::new("Martin", "Léa", day(14), None);
        assert_eq!(a, PersonKey::new("MARTIN", "LEA, Marie", day(14), None));
        assert_ne!(a.identite, PersonKey::new("Martin", "Léa", day(15), None).identite);
        assert!(!a.identite.contains("MARTIN"), "the key is a pseudonym");
    }
}
