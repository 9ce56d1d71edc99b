//! Given the events already in the log, when an ERP sends this snapshot, then these events.

use serde_json::json;
use uuid::Uuid;

use super::*;
use crate::ingestion::fixtures::snapshot;

/// The dossier after these snapshots were pushed in turn, and the events the last one decided. Every
/// push is checked to be idempotent: sending the same snapshot right after decides nothing.
fn pushed(snapshots: &[DossierV3]) -> (Dossier, Vec<DossierEvent>) {
    let mut log: Vec<(Uuid, DossierEvent)> = Vec::new();
    let mut last = Vec::new();
    for s in snapshots {
        last = decide(&Dossier::from_events(&log), s, ORIGINE);
        log.extend(last.iter().cloned().map(|e| (Uuid::new_v4(), e)));
        let again = decide(&Dossier::from_events(&log), s, ORIGINE);
        assert!(again.is_empty(), "re-sending {s:?} decided {again:?}");
    }
    (Dossier::from_events(&log), last)
}

const ORIGINE: &str = "api-v3, transmission 0193a1b2-0000-7000-8000-000000000001";

/// The events of the log after these snapshots were pushed in turn, each with its id.
fn logged(snapshots: &[DossierV3]) -> Vec<(Uuid, DossierEvent)> {
    let mut log: Vec<(Uuid, DossierEvent)> = Vec::new();
    for s in snapshots {
        let decided = decide(&Dossier::from_events(&log), s, ORIGINE);
        log.extend(decided.into_iter().map(|e| (Uuid::new_v4(), e)));
    }
    log
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

#[test]
fn a_corrected_birth_date_moves_the_dossier_to_the_person_it_names() {
    let before = snapshot(json!({ "date_de_naissance_apprenant": "1996-01-01" }));
    let after = snapshot(json!({ "date_de_naissance_apprenant": "2010-01-01" }));
    let (dossier, events) = pushed(&[before, after]);
    assert_eq!(types(&events), ["IdentiteModifiee"]);
    let DossierEvent::IdentiteModifiee(identite) = &events[0] else { unreachable!() };
    let naissance = "2010-01-01".parse().expect("date");
    assert_eq!(identite.personnel.date_de_naissance, naissance);
    assert_eq!(identite.personne, PersonKey::new("MARTIN", "Léa", naissance, None));
    let i = dossier.inscription.as_ref().expect("inscribed");
    assert_eq!(i.personnel.date_de_naissance, naissance);
    assert_eq!(i.personne, identite.personne);
    let first = PersonKey::new("MARTIN", "Léa", "1996-01-01".parse().expect("date"), None);
    assert_eq!(dossier.personnes_anterieures, [first.identite]);
    assert_eq!(
        i.personnel.coordonnees.email.as_ref().map(|e| e.as_str()),
        Some("lea@example.fr"),
        "the contacts stay"
    );
}

#[test]
fn identity_fields_follow_the_rule_a_new_value_wins_an_absent_one_erases_nothing() {
    let first = snapshot(json!({ "sexe_apprenant": "F", "ine_apprenant": "1234567890A" }));
    // Nothing sent of the INE and the sexe: nothing changes.
    let (_, events) = pushed(&[first.clone(), snapshot(json!({}))]);
    assert!(events.is_empty(), "{events:?}");
    // A corrected prénom, an RQTH, a NIR: one event with the whole identity as now known.
    let (dossier, events) = pushed(&[
        first,
        snapshot(
            json!({ "prenom_apprenant": "Léane", "rqth_apprenant": true, "nir_apprenant": "2070375123456" }),
        ),
    ]);
    assert_eq!(types(&events), ["IdentiteModifiee"]);
    let i = dossier.inscription.expect("inscribed");
    assert_eq!(i.personnel.prenom, "Léane");
    assert_eq!(i.personnel.ine.as_ref().map(|ine| ine.as_str()), Some("1234567890A"));
    assert_eq!(i.personne.ine.as_ref().map(|ine| ine.as_str()), Some("1234567890A"));
    assert_eq!(i.apprenant.sexe.as_deref(), Some("F"));
    assert_eq!(i.apprenant.rqth, Some(true));
    assert!(i.apprenant.has_nir);
}

#[test]
fn an_erased_persons_identity_is_never_recorded_again() {
    let mut log = logged(&[snapshot(json!({}))]);
    let DossierEvent::InscriptionEnregistree(inscription) = &mut log[0].1 else { unreachable!() };
    inscription.personnel.nom = String::new();
    inscription.personnel.prenom = String::new();
    inscription.personnel.efface = true;
    let events = decide(&Dossier::from_events(&log), &snapshot(json!({})), ORIGINE);
    assert!(events.is_empty(), "{events:?}");
}

#[test]
fn a_rupture_sent_with_another_date_corrects_the_one_recorded() {
    let first = snapshot(json!({ "contrat_date_rupture": "2026-01-10" }));
    let log = logged(&[snapshot(json!({})), first]);
    let recorded = log.iter().find(|(_, e)| e.event_type() == "RuptureEnregistree").expect("rupture").0;
    let later =
        snapshot(json!({ "contrat_date_rupture": "2026-02-03", "cause_rupture_contrat": "démission" }));
    let events = decide(&Dossier::from_events(&log), &later, ORIGINE);
    assert_eq!(types(&events), ["CorrectionEnregistree", "RuptureEnregistree"]);
    let DossierEvent::CorrectionEnregistree(correction) = &events[0] else { unreachable!() };
    assert_eq!(correction.corrige, recorded);
    assert!(correction.raison.contains("2026-01-10"), "{}", correction.raison);
    assert!(correction.raison.contains("2026-02-03"), "{}", correction.raison);
    assert!(correction.raison.contains(ORIGINE), "the channel and the transmission: {}", correction.raison);
    // The figures are those of the latest rupture, and sending it again decides nothing.
    let (dossier, _) =
        pushed(&[snapshot(json!({})), snapshot(json!({ "contrat_date_rupture": "2026-01-10" })), later]);
    let rupture = dossier.contrats.values().find_map(|c| c.rupture.clone()).expect("a rupture");
    assert_eq!(rupture.date_rupture.to_string(), "2026-02-03");
    assert_eq!(rupture.cause.as_deref(), Some("démission"));
}

#[test]
fn an_exclusion_sent_with_another_date_corrects_the_one_recorded() {
    let log = logged(&[snapshot(json!({ "date_exclusion_formation": "2026-03-02" }))]);
    let recorded = log.iter().find(|(_, e)| e.event_type() == "AbandonEnregistre").expect("exclusion").0;
    let events = decide(
        &Dossier::from_events(&log),
        &snapshot(json!({ "date_exclusion_formation": "2026-03-09" })),
        ORIGINE,
    );
    assert_eq!(types(&events), ["CorrectionEnregistree", "AbandonEnregistre"]);
    let DossierEvent::CorrectionEnregistree(correction) = &events[0] else { unreachable!() };
    assert_eq!(correction.corrige, recorded);
    let mut log = log;
    log.extend(events.into_iter().map(|e| (Uuid::new_v4(), e)));
    let dossier = Dossier::from_events(&log);
    assert_eq!(dossier.abandon.map(|a| a.date_exclusion.to_string()).as_deref(), Some("2026-03-09"));
}

#[test]
fn two_snapshots_of_one_batch_correct_each_other_by_the_ids_given_as_they_are_decided() {
    // As the ingestion does: each decided event gets its id before the next snapshot is decided.
    let mut dossier = Dossier::default();
    let mut ids = Vec::new();
    for date in ["2026-01-10", "2026-01-17"] {
        for event in decide(&dossier, &snapshot(json!({ "contrat_date_rupture": date })), ORIGINE) {
            let id = Uuid::new_v4();
            if let DossierEvent::CorrectionEnregistree(c) = &event {
                assert_eq!(Some(&c.corrige), ids.last(), "the correction names the rupture decided before");
            }
            if event.event_type() == "RuptureEnregistree" {
                ids.push(id);
            }
            dossier.record(id, &event);
        }
    }
    assert_eq!(ids.len(), 2);
}
