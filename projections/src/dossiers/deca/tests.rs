//! A contract's dossiers: one per année scolaire it spans, none once its organisme transmits or once
//! withdrawn.

use events::RecordedEvent;
use serde_json::json;

use super::{Transmissions, stream_of};
use crate::dossiers::DossiersProjection;
use crate::status::Statut;

const STREAM: &str = "deca-C-1";

fn recorded(position: i64, event_type: &str, data: serde_json::Value) -> RecordedEvent {
    crate::test_support::recorded(STREAM, position, event_type, data)
}

fn enregistre(position: i64, fin_prevue: &str, rupture: Option<&str>) -> RecordedEvent {
    let mut contrat = json!({
        "numero": "C-1",
        "siret_employeur": "55210055400013",
        "organisme": { "uai": "0693456K", "siret": "12345678901234" },
        "cfd": "50022137",
        "apprenti": { "nom": "Martin", "prenom": "Léa", "date_de_naissance": "2006-03-14" },
        "date_debut": "2025-09-01",
        "date_fin_prevue": fin_prevue,
    });
    if let Some(rupture) = rupture {
        contrat["date_rupture"] = json!(rupture);
    }
    recorded(
        position,
        "ContratDecaEnregistre",
        json!({ "contrat": contrat, "personne": "p-1", "empreinte": format!("e{position}") }),
    )
}

fn day(text: &str) -> chrono::NaiveDate {
    text.parse().expect("a date")
}

#[test]
fn a_contract_counts_once_per_annee_scolaire_it_spans_as_an_apprentice_of_the_deca_source() {
    let events = [enregistre(3, "2027-06-30", None)];
    let events: Vec<&RecordedEvent> = events.iter().collect();
    let dossiers = DossiersProjection::default()
        .deca_steps(STREAM, &events, (0, 0), &Transmissions::new())
        .expect("folds");
    let ids: Vec<&str> = dossiers.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids, ["deca-C-1:2025-2026", "deca-C-1:2026-2027"]);
    for (id, steps) in &dossiers {
        assert_eq!(stream_of(id), Some(STREAM));
        let [(3, Some(row))] = steps.as_slice() else { panic!("one step at the event: {id}") };
        assert_eq!(&*row.comptage.dims.source, "DECA");
        assert_eq!(row.comptage.dims.niveau, 3);
        let (counted, not) = if id.ends_with("2025-2026") {
            ("2026-01-10", "2026-10-10")
        } else {
            ("2026-10-10", "2026-01-10")
        };
        assert_eq!(row.comptage.statut_compte(day(counted)), Some(Statut::Apprenti), "{id}");
        assert_eq!(row.comptage.statut_compte(day(not)), None, "{id}");
    }
    assert_eq!(stream_of("dossier-abc"), None);
}

#[test]
fn a_rupture_ends_the_years_counted_and_the_first_transmission_takes_the_contract_out() {
    let events = [enregistre(3, "2027-06-30", None), enregistre(9, "2027-06-30", Some("2026-02-01"))];
    let events: Vec<&RecordedEvent> = events.iter().collect();
    let transmissions: Transmissions = [(("0693456K".to_owned(), "12345678901234".to_owned()), 12)].into();
    let dossiers =
        DossiersProjection::default().deca_steps(STREAM, &events, (0, 0), &transmissions).expect("folds");
    let steps = |annee: &str| {
        dossiers
            .iter()
            .find(|(id, _)| id.ends_with(annee))
            .map(|(_, steps)| steps.iter().map(|(p, row)| (*p, row.is_some())).collect::<Vec<_>>())
    };
    assert_eq!(steps("2025-2026"), Some(vec![(3, true), (9, true), (12, false)]));
    assert_eq!(steps("2026-2027"), Some(vec![(3, true), (9, false), (12, false)]), "the rupture ends it");
    let rupture = &dossiers[0].1[1].1.as_ref().expect("counted").comptage;
    assert_eq!(rupture.statut_compte(day("2026-02-10")), Some(Statut::Rupturant));
    // Live, the batch of the transmission refolds the contract: one step, at the switch.
    let live =
        DossiersProjection::default().deca_steps(STREAM, &events, (12, 12), &transmissions).expect("folds");
    assert!(live.iter().all(|(_, steps)| steps.len() == 1 && steps[0].0 == 12 && steps[0].1.is_none()));
}

#[test]
fn a_withdrawn_contract_counts_for_nothing_and_an_organisme_that_transmitted_before_never_counts_it() {
    let retire = recorded(5, "ContratDecaRetire", json!({ "numero": "C-1" }));
    let events = [enregistre(3, "2026-06-30", None), retire];
    let events: Vec<&RecordedEvent> = events.iter().collect();
    let dossiers = DossiersProjection::default()
        .deca_steps(STREAM, &events, (0, 0), &Transmissions::new())
        .expect("folds");
    let [(_, steps)] = dossiers.as_slice() else { panic!("one année") };
    assert!(steps[0].1.is_some() && steps[1].1.is_none());
    let transmissions: Transmissions = [(("0693456K".to_owned(), "12345678901234".to_owned()), 1)].into();
    let dossiers =
        DossiersProjection::default().deca_steps(STREAM, &events, (0, 0), &transmissions).expect("folds");
    assert!(dossiers.iter().all(|(_, steps)| steps.iter().all(|(_, row)| row.is_none())));
}
