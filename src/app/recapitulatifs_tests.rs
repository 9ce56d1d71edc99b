//! Given the time and the figures, when recaps are produced, then these periods and these messages.

use super::*;

fn at(text: &str) -> DateTime<Utc> {
    text.parse().expect("an instant")
}

fn compte(total: i64) -> Compte {
    Compte {
        mois: None,
        total,
        a_traiter: total,
        a_recontacter: 0,
        traites: 0,
        prioritaires: 0,
        moins_de_45_jours: total,
        depuis_45_jours: 0,
    }
}

#[test]
fn periods_end_at_the_days_hour_and_at_mondays() {
    // Tuesday 8 December 2026, before 06:00: yesterday's daily period, this Monday's weekly one.
    let tuesday = echeances(at("2026-12-08T05:00:00Z"), 6);
    assert_eq!(
        tuesday,
        [
            (Genre::DemandesEnAttente, at("2026-12-07T06:00:00Z")),
            (Genre::HebdomadaireMissionLocale, at("2026-12-07T06:00:00Z")),
            (Genre::ActionsMissionsLocales, at("2026-12-07T06:00:00Z")),
        ]
    );
    // Monday before the hour: the weekly period is last week's.
    let monday = echeances(at("2026-12-07T05:59:59Z"), 6);
    assert_eq!(monday[0].1, at("2026-12-06T06:00:00Z"));
    assert_eq!(monday[1].1, at("2026-11-30T06:00:00Z"));
    // From the hour on, today's.
    assert_eq!(echeances(at("2026-12-07T06:00:00Z"), 6)[0].1, at("2026-12-07T06:00:00Z"));
    assert_eq!(du(Genre::HebdomadaireMissionLocale, at("2026-12-07T06:00:00Z")), at("2026-11-30T06:00:00Z"));
    assert_eq!(du(Genre::ActionsMissionsLocales, at("2026-12-07T06:00:00Z")), at("2026-12-06T06:00:00Z"));
}

#[test]
fn a_recap_with_nothing_to_say_is_not_produced() {
    let ml = "Mission Locale de Lyon".to_owned();
    assert!(!Contenu::DemandesEnAttente { ml: ml.clone(), demandes: vec![] }.a_dire());
    let calme = Contenu::Hebdomadaire { ml: ml.clone(), file: compte(0), semaine: Periode::default() };
    assert!(!calme.a_dire());
    assert!(Contenu::Hebdomadaire { ml, file: compte(3), semaine: Periode::default() }.a_dire());
    let rien = ActionsMissionsLocales { uai: "0693456K".into(), siret: "1".into(), ..Default::default() };
    assert!(!Contenu::Actions { cfa: "CFA".into(), actions: rien }.a_dire());
}

#[test]
fn messages_give_figures_and_organisations_only() {
    let au = at("2026-12-07T06:00:00Z");
    let demandes = vec![
        ParOrganisme { uai: "0693456K".into(), siret: "1".into(), nom: "CFA de Lyon".into(), nombre: 2 },
        ParOrganisme { uai: "0694444X".into(), siret: "2".into(), nom: "CFA du Rhône".into(), nombre: 1 },
    ];
    let recap = recapitulatif(
        Destinataire::mission_locale("ML-LYON"),
        &Contenu::DemandesEnAttente { ml: "Mission Locale de Lyon".into(), demandes },
        au,
        Some("contact@ml-lyon.fr".into()),
    );
    assert_eq!((recap.genre, recap.du, recap.au), (Genre::DemandesEnAttente, at("2026-12-06T06:00:00Z"), au));
    assert!(recap.sujet.contains("3 demande(s)"), "{}", recap.sujet);
    assert!(recap.texte.contains("- CFA de Lyon (0693456K) : 2"), "{}", recap.texte);
    assert_eq!(recap.chiffres["demandes"], 3);

    let actions = ActionsMissionsLocales {
        uai: "0693456K".into(),
        siret: "1".into(),
        situations: vec![("CONTACTE_SANS_RETOUR".into(), 1), ("RDV_PRIS".into(), 2)],
        messages: 4,
    };
    let recap = recapitulatif(
        Destinataire::organisme("0693456K", "1"),
        &Contenu::Actions { cfa: "CFA de Lyon".into(), actions },
        au,
        None,
    );
    assert!(recap.sujet.contains("3 situation(s)"), "{}", recap.sujet);
    assert!(
        recap.texte.contains("- RDV_PRIS : 2") && recap.texte.contains("4 message(s)"),
        "{}",
        recap.texte
    );
    assert_eq!(
        recap.chiffres["par_situation"],
        serde_json::json!([["CONTACTE_SANS_RETOUR", 1], ["RDV_PRIS", 2]])
    );

    let semaine = Periode { demandes_recues: 2, messages_recus: 5, situations: 7 };
    let recap = recapitulatif(
        Destinataire::mission_locale("ML-LYON"),
        &Contenu::Hebdomadaire { ml: "Mission Locale de Lyon".into(), file: compte(9), semaine },
        au,
        None,
    );
    assert_eq!(recap.du, at("2026-11-30T06:00:00Z"));
    assert!(recap.texte.contains("9 jeune(s), dont 9 à traiter"), "{}", recap.texte);
    assert!(recap.texte.contains("2 demande(s) de suivi conjoint reçue(s)"), "{}", recap.texte);
}
