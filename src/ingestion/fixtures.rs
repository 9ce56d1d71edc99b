//! A dossier for tests without a database: the v3 snapshot an ERP sends of Léa Martin, at the Lyon
//! CFA (formateur `0693456K`, responsable `0693455J`), with a contract from 2025-10-01 to 2026-06-30.

use events::dossier::{Dossier, DossierEvent};
use serde_json::{Value, json};

use super::v3::{self, DossierV3};

/// The snapshot, with `changes` applied to its fields.
pub fn snapshot(changes: Value) -> DossierV3 {
    let mut item = json!({
        "nom_apprenant": "Martin",
        "prenom_apprenant": "Léa",
        "date_de_naissance_apprenant": "2007-03-14",
        "annee_scolaire": "2025-2026",
        "id_erp_apprenant": "ERP-1",
        "date_inscription_formation": "2025-08-28",
        "date_entree_formation": "2025-09-01",
        "date_fin_formation": "2026-06-30",
        "etablissement_responsable_uai": "0693455J",
        "etablissement_responsable_siret": "12345678900012",
        "etablissement_formateur_uai": "0693456K",
        "etablissement_formateur_siret": "12345678901234",
        "email_contact": "lea@example.fr",
        "contrat_date_debut": "2025-10-01",
        "contrat_date_fin": "2026-06-30",
    });
    for (field, value) in changes.as_object().expect("object") {
        item[field] = value.clone();
    }
    v3::parse(&item).expect("a valid snapshot")
}

/// The events its first push makes: the inscription, then the contract.
pub fn first_push() -> Vec<DossierEvent> {
    super::diff::decide(&Dossier::default(), &snapshot(json!({})), "test")
}
