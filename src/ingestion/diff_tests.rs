//! Given the events already in the log, when an ERP sends this snapshot, then these events.

use serde_json::{Value, json};
use uuid::Uuid;

use super::*;

fn snapshot(changes: Value) -> DossierV3 {
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

/// The dossier after these snapshots were pushed in turn, and the events the last one decided. Every
/// push is checked to be idempotent: sending the same snapshot right after decides nothing.
fn pushed(snapshots: &[DossierV3]) -> (Dossier, Vec<DossierEvent>) {
    let mut log: Vec<(Uuid, DossierEvent)> = Vec::new();
    let mut last = Vec::new();
    for s in snapshots {
        last = decide(&Dossier::from_events(&log), s);
        log.extend(last.iter().cloned().map(|e| (Uuid::new_v4(), e)));
        let again = decide(&Dossier::from_events(&log), s);
        assert!(again.is_empty(), "re-sending {s:?} decided {again:?}");
    }
    (Dossier::from_events(&log), last)
}

fn types(events: &[DossierEvent]) -> Vec<&'static str> {
    events.iter().map(DossierEvent::event_type).collect()
}

#[test]
fn a_new_dossier_records_its_inscription_and_contracts() {
    let (dossier, events) = pushed(&[snapshot(json!({}))]);
    assert_eq!(types(&events), ["InscriptionEnregistree", "ContratSigne"]);
    assert_eq!(dossier.contrats.len(), 1);
}

#[test]
fn resending_the_same_dossier_decides_nothing() {
    let (_, events) = pushed(&[snapshot(json!({})), snapshot(json!({}))]);
    assert!(events.is_empty(), "{events:?}");
}

#[test]
fn a_rupture_added_in_a_later_push_is_exactly_one_rupture_event() {
    let later =
        snapshot(json!({ "contrat_date_rupture": "2026-01-10", "cause_rupture_contrat": "démission" }));
    let (dossier, events) = pushed(&[snapshot(json!({})), later.clone()]);
    assert_eq!(types(&events), ["RuptureEnregistree"]);
    assert!(dossier.contrats.values().all(|c| c.rupture.is_some()));
    let (_, again) = pushed(&[snapshot(json!({})), later.clone(), later]);
    assert!(again.is_empty(), "the same rupture sent again: {again:?}");
}

#[test]
fn an_empty_value_never_erases_and_a_new_value_wins() {
    let (_, events) =
        pushed(&[snapshot(json!({})), snapshot(json!({ "email_contact": "", "contrat_date_fin": null }))]);
    assert!(events.is_empty(), "{events:?}");

    let (dossier, events) = pushed(&[
        snapshot(json!({})),
        snapshot(json!({ "tel_apprenant": "06 12 34 56 78", "email_contact": "lea@example.fr" })),
    ]);
    assert_eq!(types(&events), ["CoordonneesModifiees"]);
    let DossierEvent::CoordonneesModifiees(changes) = &events[0] else { unreachable!() };
    assert!(changes.email.is_none(), "only what changed is recorded");
    let coordonnees = &dossier.inscription.expect("inscribed").personnel.coordonnees;
    assert_eq!(coordonnees.telephone.as_ref().map(|t| t.as_str()), Some("0612345678"));
}

#[test]
fn changed_dates_contracts_exclusions_and_diplomas_are_recorded() {
    let (_, events) = pushed(&[
        snapshot(json!({})),
        snapshot(json!({
            "date_fin_formation": "2026-07-03",
            "contrat_date_fin": "2026-05-31",
            "contrat_date_debut_2": "2026-06-01",
            "date_exclusion_formation": "2026-06-15",
            "obtention_diplome_formation": true,
            "formation_cfd": "50025219",
        })),
    ]);
    assert_eq!(
        types(&events),
        [
            "DatesSessionModifiees",
            "FormationModifiee",
            "ContratModifie",
            "ContratSigne",
            "AbandonEnregistre",
            "DiplomeObtenu"
        ]
    );
}
