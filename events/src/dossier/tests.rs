//! Dossier events: their stored form, their versions, and the fold (given these events, this dossier).

use chrono::NaiveDate;
use serde_json::json;
use uuid::Uuid;

use super::event::*;
use super::{Dossier, DossierEvent, PersonKey};
use crate::domain::{AnneeScolaire, Email, Siret, Telephone, Uai};
use crate::envelope::Metadata;

fn day(s: &str) -> NaiveDate {
    s.parse().expect("a valid date")
}

fn inscription() -> Inscription {
    let naissance = day("2007-03-14");
    Inscription {
        formateur: OrganismeRef {
            uai: Uai::parse("0693456K").expect("uai"),
            siret: Siret::parse("12345678901234").expect("siret"),
        },
        responsable: OrganismeRef {
            uai: Uai::parse("0693455J").expect("uai"),
            siret: Siret::parse("12345678900012").expect("siret"),
        },
        annee_scolaire: AnneeScolaire::parse("2025-2026").expect("annee"),
        id_erp_apprenant: "ERP-1".into(),
        personne: PersonKey::new("MARTIN", "Léa", naissance, None),
        formation: Formation::default(),
        session: Session {
            date_inscription: day("2025-08-28"),
            date_entree: day("2025-09-01"),
            date_fin: day("2026-06-30"),
        },
        apprenant: Apprenant::default(),
        personnel: Personnel {
            nom: "MARTIN".into(),
            prenom: "Léa".into(),
            date_de_naissance: naissance,
            ine: None,
            coordonnees: Coordonnees {
                email: Some(Email::parse("lea@example.fr").expect("email")),
                ..Coordonnees::default()
            },
            efface: false,
        },
    }
}

/// The data of a stored inscription, as the sealing tests take it.
pub(crate) fn inscription_data() -> serde_json::Value {
    DossierEvent::InscriptionEnregistree(Box::new(inscription()))
        .to_new_event(day("2025-08-28"), Metadata::default())
        .data
}

fn identite(naissance: &str) -> DossierEvent {
    let naissance = day(naissance);
    DossierEvent::IdentiteModifiee(Box::new(Identite {
        personne: PersonKey::new("MARTIN", "Léa", naissance, None),
        personnel: IdentitePersonnelle {
            nom: "MARTIN".into(),
            prenom: "Léa".into(),
            date_de_naissance: naissance,
            ine: None,
            efface: false,
        },
        apprenant: Apprenant { sexe: Some("F".into()), ..Apprenant::default() },
    }))
}

fn contrat(debut: &str) -> Contrat {
    Contrat { date_debut: day(debut), date_fin: Some(day("2026-06-30")), siret_employeur: None }
}

fn rupture(debut: &str, date: &str) -> DossierEvent {
    DossierEvent::RuptureEnregistree(Rupture {
        date_debut_contrat: day(debut),
        date_rupture: day(date),
        cause: None,
    })
}

fn with_ids(events: Vec<DossierEvent>) -> Vec<(Uuid, DossierEvent)> {
    events.into_iter().map(|e| (Uuid::new_v4(), e)).collect()
}

#[test]
fn an_event_is_stored_as_its_name_and_data_and_read_back() {
    let event = DossierEvent::RuptureEnregistree(Rupture {
        date_debut_contrat: day("2025-10-01"),
        date_rupture: day("2026-01-10"),
        cause: Some("démission".into()),
    });
    let stored = event.to_new_event(day("2026-01-10"), Metadata::default());
    assert_eq!(stored.event_type, "RuptureEnregistree");
    assert_eq!(stored.schema_version, SCHEMA_VERSION);
    assert_eq!(
        stored.data,
        json!({ "date_debut_contrat": "2025-10-01", "date_rupture": "2026-01-10", "cause": "démission" })
    );
    assert_eq!(DossierEvent::decode(&stored.event_type, stored.schema_version, &stored.data), Ok(event));
}

#[test]
fn an_unknown_schema_version_or_malformed_data_is_a_clear_error() {
    let data = json!({ "date_obtention": null });
    assert!(matches!(
        DossierEvent::decode("DiplomeObtenu", 9, &data),
        Err(DecodeError::UnknownVersion { schema_version: 9, .. })
    ));
    assert!(matches!(
        DossierEvent::decode("DiplomeObtenu", 1, &json!({ "date_obtention": "hier" })),
        Err(DecodeError::Malformed { .. })
    ));
    assert!(DossierEvent::decode("Inconnu", 1, &data).is_err());
}

#[test]
fn personal_data_travels_only_in_the_personnel_part() {
    let stored = DossierEvent::InscriptionEnregistree(Box::new(inscription()))
        .to_new_event(day("2025-08-28"), Metadata::default());
    let mut outside = stored.data.clone();
    outside.as_object_mut().expect("object").remove("personnel");
    let text = outside.to_string();
    for personal in ["MARTIN", "Léa", "2007-03-14", "lea@example.fr"] {
        assert!(!text.contains(personal), "{personal} outside personnel: {text}");
    }
    assert_eq!(stored.data["personnel"]["nom"], "MARTIN");
}

#[test]
fn the_fold_follows_contracts_ruptures_and_exclusions() {
    let dossier = Dossier::from_events(&with_ids(vec![
        DossierEvent::InscriptionEnregistree(Box::new(inscription())),
        DossierEvent::ContratSigne(contrat("2025-10-01")),
        rupture("2025-10-01", "2026-01-10"),
        DossierEvent::ContratSigne(contrat("2026-02-01")),
        DossierEvent::ContratModifie(Contrat { date_fin: Some(day("2026-05-31")), ..contrat("2026-02-01") }),
        DossierEvent::DatesSessionModifiees(Session {
            date_inscription: day("2025-08-28"),
            date_entree: day("2025-09-08"),
            date_fin: day("2026-06-30"),
        }),
        DossierEvent::AbandonEnregistre(Abandon { date_exclusion: day("2026-03-02"), cause: None }),
    ]));
    assert_eq!(dossier.contrats.len(), 2);
    assert_eq!(
        dossier.contrats[&day("2025-10-01")].rupture.as_ref().map(|r| r.date_rupture),
        Some(day("2026-01-10"))
    );
    assert_eq!(dossier.contrats[&day("2026-02-01")].contrat.date_fin, Some(day("2026-05-31")));
    assert_eq!(dossier.inscription.as_ref().map(|i| i.session.date_entree), Some(day("2025-09-08")));
    assert_eq!(dossier.abandon.map(|a| a.date_exclusion), Some(day("2026-03-02")));
}

#[test]
fn a_correction_voids_the_event_it_names() {
    let mut events = with_ids(vec![
        DossierEvent::InscriptionEnregistree(Box::new(inscription())),
        DossierEvent::ContratSigne(contrat("2025-10-01")),
        rupture("2025-10-01", "2026-01-10"),
    ]);
    let wrong_rupture = events[2].0;
    events.push((
        Uuid::new_v4(),
        DossierEvent::CorrectionEnregistree(Correction {
            corrige: wrong_rupture,
            raison: "saisie sur le mauvais dossier".into(),
        }),
    ));
    let dossier = Dossier::from_events(&events);
    assert_eq!(dossier.contrats[&day("2025-10-01")].rupture, None);
}

#[test]
fn contact_changes_merge_and_an_absent_value_erases_nothing() {
    let phone = Telephone::parse("0612345678").expect("phone");
    let dossier = Dossier::from_events(&with_ids(vec![
        DossierEvent::InscriptionEnregistree(Box::new(inscription())),
        DossierEvent::CoordonneesModifiees(Coordonnees {
            telephone: Some(phone.clone()),
            ..Coordonnees::default()
        }),
    ]));
    let coordonnees = &dossier.inscription.expect("inscribed").personnel.coordonnees;
    assert_eq!(coordonnees.telephone, Some(phone));
    assert_eq!(coordonnees.email.as_ref().map(Email::as_str), Some("lea@example.fr"));
}

#[test]
fn a_withdrawal_keeps_its_motif() {
    let dossier = Dossier::from_events(&with_ids(vec![
        DossierEvent::InscriptionEnregistree(Box::new(inscription())),
        DossierEvent::DossierRetire(Retrait { motif: MotifRetrait::Doublon, commentaire: None }),
    ]));
    assert_eq!(dossier.retrait.map(|r| r.motif), Some(MotifRetrait::Doublon));
    let stored =
        DossierEvent::DossierRetire(Retrait { motif: MotifRetrait::MauvaiseManip, commentaire: None })
            .to_new_event(day("2026-01-01"), Metadata::default());
    assert_eq!(stored.data["motif"], "MAUVAISE_MANIP");
}

#[test]
fn an_identity_correction_moves_the_dossier_to_the_new_person_and_keeps_the_contacts() {
    let first = PersonKey::new("MARTIN", "Léa", day("2007-03-14"), None).identite;
    let dossier = Dossier::from_events(&with_ids(vec![
        DossierEvent::InscriptionEnregistree(Box::new(inscription())),
        identite("2010-01-01"),
    ]));
    let i = dossier.inscription.as_ref().expect("inscribed");
    assert_eq!(i.personnel.date_de_naissance, day("2010-01-01"));
    assert_eq!(i.personne, PersonKey::new("MARTIN", "Léa", day("2010-01-01"), None));
    assert_eq!(i.apprenant.sexe.as_deref(), Some("F"));
    assert_eq!(i.personnel.coordonnees.email.as_ref().map(Email::as_str), Some("lea@example.fr"));
    assert_eq!(dossier.personnes_anterieures, std::slice::from_ref(&first));

    // Back to the first identity: the dossier is the first person's again, and was the second's.
    let back = Dossier::from_events(&with_ids(vec![
        DossierEvent::InscriptionEnregistree(Box::new(inscription())),
        identite("2010-01-01"),
        identite("2007-03-14"),
    ]));
    assert_eq!(back.inscription.expect("inscribed").personne.identite, first);
    assert_eq!(
        back.personnes_anterieures,
        [PersonKey::new("MARTIN", "Léa", day("2010-01-01"), None).identite]
    );
}

#[test]
fn the_fold_knows_which_event_recorded_a_rupture_and_an_exclusion() {
    let events = with_ids(vec![
        DossierEvent::InscriptionEnregistree(Box::new(inscription())),
        DossierEvent::ContratSigne(contrat("2025-10-01")),
        rupture("2025-10-01", "2026-01-10"),
        DossierEvent::AbandonEnregistre(Abandon { date_exclusion: day("2026-03-02"), cause: None }),
    ]);
    let dossier = Dossier::from_events(&events);
    assert_eq!(dossier.contrats[&day("2025-10-01")].rupture_event, Some(events[2].0));
    assert_eq!(dossier.abandon_event, Some(events[3].0));
}
