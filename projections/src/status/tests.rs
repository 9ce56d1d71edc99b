//! The examples of domain.md §5, then properties that hold for any facts.

use chrono::{Duration, NaiveDate};
use proptest::prelude::*;

use super::*;

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("a test date")
}

fn contrat(debut: &str, fin: &str, rupture: Option<&str>) -> ContratFaits {
    ContratFaits { debut: d(debut), fin: Some(d(fin)), rupture: rupture.map(d) }
}

fn faits(session: (&str, &str), contrats: Vec<ContratFaits>, exclusion: Option<&str>) -> Faits {
    Faits { entree: d(session.0), fin: d(session.1), contrats, exclusion: exclusion.map(d) }
}

/// The parcours written as in domain.md: `2025-09-01 INSCRIT; 2025-09-15 APPRENTI; ...`.
fn written(parcours: &[ChangePoint]) -> String {
    parcours.iter().map(|p| format!("{} {}", p.date, p.statut.as_str())).collect::<Vec<_>>().join("; ")
}

#[test]
fn the_examples_of_the_domain_give_their_parcours_and_status() {
    let examples = [
        (
            faits(("2025-09-01", "2026-06-30"), vec![contrat("2025-09-15", "2026-06-30", None)], None),
            "2026-01-15",
            Statut::Apprenti,
            "2025-09-01 INSCRIT; 2025-09-15 APPRENTI; 2026-06-30 FIN_DE_FORMATION",
        ),
        (
            faits(
                ("2025-09-01", "2026-06-30"),
                vec![contrat("2025-10-01", "2026-06-30", Some("2026-01-10"))],
                None,
            ),
            "2026-02-01",
            Statut::Rupturant,
            "2025-09-01 INSCRIT; 2025-10-01 APPRENTI; 2026-01-10 RUPTURANT",
        ),
        (
            faits(("2025-09-01", "2026-08-31"), vec![], None),
            "2025-12-01",
            Statut::Abandon,
            "2025-09-01 INSCRIT; 2025-11-30 ABANDON",
        ),
        (
            faits(
                ("2025-09-01", "2026-06-30"),
                vec![contrat("2025-09-01", "2026-06-30", None)],
                Some("2026-03-02"),
            ),
            "2026-04-01",
            Statut::Abandon,
            "2025-09-01 APPRENTI; 2026-03-02 ABANDON",
        ),
        (
            faits(("2025-09-01", "2026-06-30"), vec![contrat("2025-09-01", "2026-05-31", None)], None),
            "2026-06-10",
            Statut::FinDeFormation,
            "2025-09-01 APPRENTI; 2026-06-01 FIN_DE_FORMATION",
        ),
        (
            faits(
                ("2025-09-01", "2027-06-30"),
                vec![
                    contrat("2025-09-01", "2026-06-30", Some("2025-12-01")),
                    contrat("2026-02-01", "2027-06-30", None),
                ],
                None,
            ),
            "2026-01-10",
            Statut::Rupturant,
            "2025-09-01 APPRENTI; 2025-12-01 RUPTURANT; 2026-02-01 APPRENTI; 2027-06-30 FIN_DE_FORMATION",
        ),
        (
            faits(
                ("2025-09-01", "2026-06-30"),
                vec![contrat("2025-11-01", "2026-06-30", Some("2025-11-20"))],
                None,
            ),
            "2026-06-01",
            Statut::Abandon,
            "2025-09-01 INSCRIT; 2025-11-01 APPRENTI; 2025-11-20 RUPTURANT; 2026-05-19 ABANDON",
        ),
    ];
    for (faits, date, statut, expected) in examples {
        let parcours = RuleSet::V1.parcours(&faits);
        assert_eq!(written(&parcours), expected, "{faits:?}");
        assert_eq!(statut_at(&parcours, d(date)), Some(statut), "{faits:?} at {date}");
    }
}

#[test]
fn before_the_first_change_point_there_is_no_status() {
    let parcours = RuleSet::V1.parcours(&faits(("2025-09-01", "2026-06-30"), vec![], None));
    assert_eq!(statut_at(&parcours, d("2025-08-31")), None);
    assert_eq!(statut_at(&parcours, d("2025-09-01")), Some(Statut::Inscrit));
    assert_eq!(statut_at(&parcours, d("2030-01-01")), Some(Statut::Abandon));
}

#[test]
fn edge_cases_follow_the_rules() {
    // A rupture on the contract's first day gives no APPRENTI day, and no contract "ever".
    let parcours = RuleSet::V1.parcours(&faits(
        ("2025-09-01", "2026-06-30"),
        vec![contrat("2025-09-10", "2026-06-30", Some("2025-09-10"))],
        None,
    ));
    assert_eq!(written(&parcours), "2025-09-01 INSCRIT; 2025-11-30 ABANDON");
    // A contract starting before the session starts the range; days after the session end are ignored.
    let parcours = RuleSet::V1.parcours(&faits(
        ("2025-09-01", "2026-06-30"),
        vec![contrat("2025-08-25", "2026-08-31", None)],
        None,
    ));
    assert_eq!(written(&parcours), "2025-08-25 APPRENTI; 2026-06-30 FIN_DE_FORMATION");
    // Two contracts with the same start are one: the later information wins.
    let parcours = RuleSet::V1.parcours(&faits(
        ("2025-09-01", "2026-06-30"),
        vec![
            contrat("2025-09-01", "2026-06-30", None),
            contrat("2025-09-01", "2026-06-30", Some("2026-01-10")),
        ],
        None,
    ));
    assert_eq!(written(&parcours), "2025-09-01 APPRENTI; 2026-01-10 RUPTURANT");
    // A session that ends before it starts has no day.
    assert!(RuleSet::V1.parcours(&faits(("2025-09-01", "2025-08-01"), vec![], None)).is_empty());
    // A natural end far from the session end: ruptures, then abandon, but the last day ends the formation.
    let parcours = RuleSet::V1.parcours(&faits(
        ("2025-09-01", "2026-12-31"),
        vec![contrat("2025-09-01", "2026-01-31", None)],
        None,
    ));
    assert_eq!(
        written(&parcours),
        "2025-09-01 APPRENTI; 2026-02-01 RUPTURANT; 2026-07-31 ABANDON; 2026-12-31 FIN_DE_FORMATION"
    );
}

fn day(offset: i64) -> NaiveDate {
    d("2024-09-01") + Duration::days(offset)
}

prop_compose! {
    fn any_contrat()(start in 0i64..900, len in 1i64..800, rupture in proptest::option::of(0i64..700), open in any::<bool>())
        -> ContratFaits {
        ContratFaits {
            debut: day(start),
            fin: (!open).then(|| day(start + len)),
            rupture: rupture.map(|r| day(start + r)),
        }
    }
}

prop_compose! {
    fn any_faits()(entree in 0i64..400, len in 0i64..1100, contrats in proptest::collection::vec(any_contrat(), 0..4),
                   exclusion in proptest::option::of(0i64..1500))
        -> Faits {
        Faits { entree: day(entree), fin: day(entree + len), contrats, exclusion: exclusion.map(day) }
    }
}

proptest! {
    #[test]
    fn the_parcours_is_a_pure_compressed_timeline(faits in any_faits()) {
        let parcours = RuleSet::V1.parcours(&faits);
        prop_assert_eq!(&parcours, &RuleSet::V1.parcours(&faits), "deterministic");
        prop_assert!(!parcours.is_empty());
        for pair in parcours.windows(2) {
            prop_assert!(pair[0].date < pair[1].date);
            prop_assert!(pair[0].statut != pair[1].statut, "no two consecutive equal points");
        }
        prop_assert!(parcours.last().is_some_and(|p| p.date <= faits.fin));
        prop_assert_ne!(statut_at(&parcours, faits.fin), Some(Statut::Inscrit), "the last session day is never INSCRIT");
    }

    #[test]
    fn a_contracts_inner_days_are_apprenti_unless_an_exclusion_covers_them(faits in any_faits()) {
        let parcours = RuleSet::V1.parcours(&faits);
        for (i, c) in faits.contrats.iter().enumerate() {
            // Two contracts starting the same day are one, the later one's information winning.
            if faits.contrats[i + 1..].iter().any(|later| later.debut == c.debut) {
                continue;
            }
            let last = match c.rupture { Some(r) => r - Duration::days(1), None => c.fin.unwrap_or(faits.fin) };
            let mut date = c.debut;
            // Inner days: not the session's last day (which may end the formation), not excluded.
            while date <= last && date < faits.fin {
                if faits.exclusion.is_none_or(|e| date < e) {
                    prop_assert_eq!(statut_at(&parcours, date), Some(Statut::Apprenti), "{} of {:?}", date, c);
                }
                date += Duration::days(1);
            }
        }
    }

    #[test]
    fn excluded_days_are_abandon_except_the_last_of_a_natural_end(faits in any_faits()) {
        let parcours = RuleSet::V1.parcours(&faits);
        if let Some(exclusion) = faits.exclusion {
            let mut date = exclusion.max(parcours[0].date);
            while date < faits.fin {
                prop_assert_eq!(statut_at(&parcours, date), Some(Statut::Abandon));
                date += Duration::days(1);
            }
        }
    }

    #[test]
    fn without_contract_the_status_is_inscrit_then_abandon(entree in 0i64..400, len in 0i64..1100) {
        let faits = Faits { entree: day(entree), fin: day(entree + len), contrats: vec![], exclusion: None };
        let parcours = RuleSet::V1.parcours(&faits);
        let statuts: Vec<Statut> = parcours.iter().map(|p| p.statut).collect();
        prop_assert!(
            statuts == [Statut::FinDeFormation]
                || statuts == [Statut::Inscrit, Statut::FinDeFormation]
                || statuts == [Statut::Inscrit, Statut::Abandon],
            "{:?}", statuts
        );
    }
}

#[test]
fn the_facts_of_a_dossier_come_from_its_events() {
    use events::dossier::event::{Abandon, Contrat, Rupture};
    use events::dossier::{ContratEtat, Dossier};
    let mut dossier = Dossier::default();
    assert_eq!(Faits::of(&dossier), None, "no inscription, no status");
    let debut = d("2025-10-01");
    dossier.contrats.insert(
        debut,
        ContratEtat {
            rupture_event: None,
            contrat: Contrat { date_debut: debut, date_fin: Some(d("2026-06-30")), siret_employeur: None },
            rupture: Some(Rupture { date_debut_contrat: debut, date_rupture: d("2026-01-10"), cause: None }),
        },
    );
    dossier.abandon = Some(Abandon { date_exclusion: d("2026-03-01"), cause: None });
    dossier.inscription = Some(test_inscription());
    let faits = Faits::of(&dossier).expect("an inscribed dossier");
    assert_eq!((faits.entree, faits.fin), (d("2025-09-01"), d("2026-06-30")));
    assert_eq!(faits.contrats, [contrat("2025-10-01", "2026-06-30", Some("2026-01-10"))]);
    assert_eq!(faits.exclusion, Some(d("2026-03-01")));
}

fn test_inscription() -> events::dossier::event::Inscription {
    serde_json::from_value(serde_json::json!({
        "formateur": { "uai": "0693456K", "siret": "12345678901234" },
        "responsable": { "uai": "0693455J", "siret": "12345678900012" },
        "annee_scolaire": "2025-2026",
        "id_erp_apprenant": "A-1",
        "personne": { "identite": "p-0" },
        "formation": {},
        "session": { "date_inscription": "2025-08-28", "date_entree": "2025-09-01", "date_fin": "2026-06-30" },
        "apprenant": { "has_nir": false },
        "personnel": { "nom": "MARTIN", "prenom": "Léa", "date_de_naissance": "2007-03-14", "ine": null,
                       "coordonnees": {} }
    }))
    .expect("a valid inscription")
}
