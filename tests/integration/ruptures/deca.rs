//! DECA ruptures in the Missions Locales' queue (domain.md §13): a contract of an organisme that never
//! transmitted enters the queue of its apprentice's residence when a Mission Locale can act on it; when
//! an organisme sends a dossier of the same person, that dossier's entry replaces it and the advisor's
//! work stays with the person.

use crate::common;

use std::time::Duration;

use common::gql::{graphql, key};
use common::{CFA_PARIS, TestDb};
use serde_json::json;
use tba::auth::keys::Role;

use super::{LYON, PAGE, days_ago, noms, push, rupture, setup, today};

const HEADER: &str = "numero_contrat;siret_employeur;opco;uai_organisme;siret_organisme;cfd;rncp;nom;prenom;\
                      date_de_naissance;ine;email;telephone;adresse;code_postal;code_commune_insee;date_debut;\
                      date_fin_prevue;date_rupture;cause_rupture";

/// A contract of the Paris CFA, for a person born on `naissance`, living in Lyon, broken `rupture` days
/// ago, planned to end in `fin` days.
fn contrat(numero: &str, nom: &str, naissance: chrono::NaiveDate, rupture: i64, fin: i64) -> String {
    let (debut, fin, rupture) = (days_ago(200), today() + chrono::Duration::days(fin), days_ago(rupture));
    format!(
        "{numero};55210055400013;OPCO EP;{};{};50022137;;{nom};Léa;{};;;0611223344;;{};{};{debut};{fin};{rupture};démission",
        CFA_PARIS.0,
        CFA_PARIS.1,
        naissance.format("%d/%m/%Y"),
        LYON.0,
        LYON.1
    )
}

fn import(db: &TestDb, rows: &[String]) {
    let dir =
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("deca-queue-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("extract.csv");
    std::fs::write(&path, format!("{HEADER}\n{}\n", rows.join("\n"))).unwrap();
    let output = db.tba(&["deca", "import", path.to_str().unwrap()]);
    assert!(output.status.success(), "{output:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deca_rupture_enters_the_queue_until_an_organisme_sends_a_dossier_of_the_same_person() {
    let (db, app, lyon, projections) = setup().await;
    let ml = key(&db, Role::MissionLocale, Some("MISSION_LOCALE:ML-LYON")).await;
    // The person of the ERP dossier `rupture("R-1", "Martin", 19, …)` below, born the same day.
    let mut erp = rupture("R-1", "Martin", 19, 3, LYON);
    let naissance: chrono::NaiveDate =
        serde_json::from_value(erp["date_de_naissance_apprenant"].clone()).unwrap();
    import(
        &db,
        &[
            contrat("D-1", "Bernard", naissance, 10, 400),
            contrat("D-2", "Martin", naissance, 30, 400),
            // 60 days of formation left: too late for a Mission Locale.
            contrat("D-3", "Petit", naissance, 5, 60),
        ],
    );
    assert!(db.projection_caught_up(Duration::from_secs(30)).await);
    let query = format!("{{ ruptures {{ {PAGE} }} }}");
    let (_, answer) = graphql(&app, Some(&ml), &query).await;
    assert_eq!(noms(&answer), ["BERNARD", "MARTIN"], "{answer}");
    let martin = &answer["data"]["ruptures"]["edges"][1]["node"];
    assert_eq!(martin["dateRupture"], json!(days_ago(30)));
    assert_eq!(martin["dossier"]["apprenant"]["telephone"], "0611223344", "{answer}");
    let entree = martin["id"].as_str().unwrap().to_owned();
    let (_, done) = graphql(
        &app,
        Some(&ml),
        &format!(
            r#"mutation {{ renseignerSituation(entree: {entree:?}, situation: RDV_PRIS) {{ situation }} }}"#
        ),
    )
    .await;
    assert_eq!(done["data"]["renseignerSituation"]["situation"], "RDV_PRIS", "{done}");

    // The Lyon CFA sends Martin's dossier: its rupture is the entry, the advisor's work stays.
    erp["prenom_apprenant"] = json!("Léa");
    push(&app, &lyon, json!([erp])).await;
    assert!(db.projection_caught_up(Duration::from_secs(30)).await);
    let (_, answer) = graphql(&app, Some(&ml), &query).await;
    assert_eq!(noms(&answer), ["MARTIN", "BERNARD"], "{answer}");
    let martin = &answer["data"]["ruptures"]["edges"][0]["node"];
    assert_eq!(martin["id"], entree.as_str(), "one person, one entry");
    assert_eq!(martin["dateRupture"], json!(days_ago(3)), "the ERP's rupture");
    assert_eq!(martin["dossier"]["id"], db.dossier_id("R-1").await);
    let (_, historique) = graphql(
        &app,
        Some(&ml),
        &format!(r#"{{ rupture(id: {entree:?}) {{ historique {{ type situation }} }} }}"#),
    )
    .await;
    assert_eq!(historique["data"]["rupture"]["historique"][0]["situation"], "RDV_PRIS", "{historique}");
    projections.stop().await;
    db.assert_rebuild_of("ruptures");
}
