//! France Travail's queue end to end: adults enrolled without a contract, by région of residence and
//! sector; the advisors' situations per sector; counts, export, the live subscription; erasure and a
//! rebuild agree.

use crate::common;

use std::time::Duration;

use chrono::{Datelike, NaiveDate, Utc};
use common::gql::{code, graphql, key, receive, subscribed};
use common::{CFA_LYON, TestApp, TestDb, dossier_v3, this_year};
use serde_json::{Value, json};
use tba::auth::keys::Role;

fn days_ago(n: i64) -> NaiveDate {
    Utc::now().date_naive() - chrono::Duration::days(n)
}

/// A dossier of this school year, enrolled `days` ago without a contract, of a person `age` years old
/// living in `(postal code, INSEE code)`.
pub(crate) fn inscrit(id_erp: &str, nom: &str, age: i32, days: i64, residence: (&str, &str)) -> Value {
    let mut item = this_year(dossier_v3(id_erp));
    for field in ["contrat_date_debut", "contrat_date_fin", "siret_employeur"] {
        item.as_object_mut().unwrap().remove(field);
    }
    let today = Utc::now().date_naive();
    item["statut_apprenant"] = json!(2);
    item["nom_apprenant"] = json!(nom);
    item["date_de_naissance_apprenant"] =
        json!(today.with_year(today.year() - age).unwrap() - chrono::Duration::days(10));
    item["date_inscription_formation"] = json!(days_ago(days));
    item["date_entree_formation"] = json!(days_ago(days));
    item["code_postal_apprenant"] = json!(residence.0);
    item["code_commune_insee_apprenant"] = json!(residence.1);
    item
}

pub(crate) const LYON: (&str, &str) = ("69003", "69383");
pub(crate) const PARIS: (&str, &str) = ("75001", "75056");

pub(crate) async fn setup() -> (TestDb, TestApp, String, tba::read_models::Projections) {
    let db = TestDb::new().await;
    db.with_organismes().await;
    let csv = "cfd,rncp,libelle,niveau,codes_rome\n50022137,RNCP37870,CAP CUISINE,3,G1602 D1106\n";
    let formations = tba::ingestion::formations::parse_csv(csv.as_bytes()).unwrap();
    tba::ingestion::formations::import(&db.pool, formations, events::Metadata::default()).await.unwrap();
    let app = TestApp::spawn(&db).await;
    let lyon = db.organisme_key(CFA_LYON).await;
    let projections = tba::read_models::Projections::start(&app.store);
    (db, app, lyon, projections)
}

pub(crate) async fn push(app: &TestApp, key: &str, items: Value) {
    let (status, answer) = app.post("/api/v3/dossiers-apprenants", key, &items).await;
    assert_eq!(status, 200, "{answer}");
}

fn noms(answer: &Value) -> Vec<String> {
    answer["data"]["franceTravail"]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("a page: {answer}"))
        .iter()
        .map(|e| e["node"]["dossier"]["apprenant"]["nom"].as_str().unwrap_or("?").to_owned())
        .collect()
}

fn page(args: &str) -> String {
    format!(
        "{{ franceTravail{args} {{ edges {{ node {{ id dateInscription joursDepuisInscription alerte age region departement
           secteurs formation {{ cfd libelle codesRome }} situations {{ secteur situation commentaire }}
           dossier {{ apprenant {{ nom }} }} }} }} }} }}"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adults_enrolled_without_a_contract_reach_their_regions_advisors_by_sector() {
    let (db, app, lyon, projections) = setup().await;
    let mut sous_contrat = inscrit("T-CONTRAT", "Contrat", 20, 30, LYON);
    sous_contrat["contrat_date_debut"] = json!(days_ago(20));
    sous_contrat["contrat_date_fin"] = json!(days_ago(-300));
    sous_contrat["siret_employeur"] = json!("55210055400013");
    push(
        &app,
        &lyon,
        json!([
            inscrit("T-ADULTE", "Adulte", 20, 30, LYON),
            inscrit("T-MINEUR", "Mineur", 17, 30, LYON),
            inscrit("T-PARIS", "Parisien", 22, 10, PARIS),
            sous_contrat,
        ]),
    )
    .await;
    assert!(db.projection_caught_up(Duration::from_secs(30)).await);
    let ft = key(&db, Role::FranceTravail, Some("REGION:84")).await;
    let (_, answer) = graphql(&app, Some(&ft), &page("")).await;
    assert_eq!(noms(&answer), ["ADULTE"], "{answer}");
    let node = &answer["data"]["franceTravail"]["edges"][0]["node"];
    assert_eq!(
        (
            &node["joursDepuisInscription"],
            &node["alerte"],
            &node["region"],
            &node["departement"],
            &node["secteurs"]
        ),
        (&json!(30), &json!(false), &json!("84"), &json!("69"), &json!(["D", "G"])),
        "{node}"
    );
    assert_eq!(
        node["formation"],
        json!({ "cfd": "50022137", "libelle": "CAP CUISINE", "codesRome": ["D1106", "G1602"] })
    );
    let entree = node["id"].as_str().unwrap().to_owned();
    let reads = |action: &'static str| {
        let pool = db.pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>("SELECT count(*) FROM access_log WHERE action = $1")
                .bind(action)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    assert_eq!(reads("franceTravail").await, 1, "the page is recorded");
    assert!(reads("franceTravailEntree").await >= 1, "its situations' read is recorded");
    let before = reads("franceTravailEntree").await;
    let one = format!("{{ franceTravailEntree(id: {entree:?}) {{ historique {{ secteur }} }} }}");
    let (_, history) = graphql(&app, Some(&ft), &one).await;
    assert_eq!(history["data"]["franceTravailEntree"]["historique"], json!([]), "{history}");
    assert!(reads("franceTravailEntree").await > before, "an entry and its history are recorded");

    // Per sector: a situation takes the entry from that sector's "à traiter" to its "traités".
    let renseigner = |secteur: &str| {
        format!(
            "mutation {{ renseignerSituationFranceTravail(entree: {entree:?}, secteur: {secteur:?}, situation: ENTREPRISE,
               commentaire: \"Entretien chez un traiteur\") {{ situations {{ secteur situation commentaire }} }} }}"
        )
    };
    let (_, wrong) = graphql(&app, Some(&ft), &renseigner("M")).await;
    assert_eq!(wrong["errors"][0]["extensions"]["field"], "secteur", "{wrong}");
    let (_, done) = graphql(&app, Some(&ft), &renseigner("G")).await;
    assert_eq!(
        done["data"]["renseignerSituationFranceTravail"]["situations"],
        json!([{ "secteur": "G", "situation": "ENTREPRISE", "commentaire": "Entretien chez un traiteur" }]),
        "{done}"
    );
    let (_, history) = graphql(&app, Some(&ft), &one).await;
    assert_eq!(
        history["data"]["franceTravailEntree"]["historique"],
        json!([{ "secteur": "G" }]),
        "the refused one is not in it: {history}"
    );
    let liste = |secteur: &str, liste: &str| page(&format!("(secteur: {secteur:?}, liste: {liste})"));
    assert_eq!(noms(&graphql(&app, Some(&ft), &liste("G", "A_TRAITER")).await.1), Vec::<String>::new());
    assert_eq!(noms(&graphql(&app, Some(&ft), &liste("G", "TRAITES")).await.1), ["ADULTE"]);
    assert_eq!(noms(&graphql(&app, Some(&ft), &liste("D", "A_TRAITER")).await.1), ["ADULTE"]);
    let (_, no_sector) = graphql(&app, Some(&ft), &page("(liste: A_TRAITER)")).await;
    assert_eq!(no_sector["errors"][0]["extensions"]["field"], "liste", "{no_sector}");
    let (_, stats) = graphql(&app, Some(&ft), "{ statsFranceTravail { region secteur total aTraiter traites alertes parSituation { situation total } } }").await;
    assert_eq!(
        stats["data"]["statsFranceTravail"],
        json!([
            { "region": "84", "secteur": "D", "total": 1, "aTraiter": 1, "traites": 0, "alertes": 0, "parSituation": [] },
            { "region": "84", "secteur": "G", "total": 1, "aTraiter": 0, "traites": 1, "alertes": 0,
              "parSituation": [{ "situation": "ENTREPRISE", "total": 1 }] },
        ]),
        "{stats}"
    );

    // Who reads what: another région's advisors, a Mission Locale, an organisme do not.
    let idf = key(&db, Role::FranceTravail, Some("REGION:11")).await;
    assert_eq!(noms(&graphql(&app, Some(&idf), &page("")).await.1), ["PARISIEN"]);
    assert_eq!(code(&graphql(&app, Some(&idf), &page("(region: \"84\")")).await.1), "FORBIDDEN");
    let outside = format!("{{ franceTravailEntree(id: {entree:?}) {{ id }} }}");
    assert_eq!(graphql(&app, Some(&idf), &outside).await.1["data"]["franceTravailEntree"], Value::Null);
    let ml = key(&db, Role::MissionLocale, Some("MISSION_LOCALE:ML-LYON")).await;
    assert_eq!(code(&graphql(&app, Some(&ml), &page("")).await.1), "FORBIDDEN");
    assert_eq!(code(&graphql(&app, Some(&lyon), &page("")).await.1), "FORBIDDEN");
    let admin = key(&db, Role::Administrateur, None).await;
    // Values that name nothing are refused, by name.
    for (args, field) in [
        ("(region: \"99\")", "region"),
        ("(departement: \"ZZ\")", "departement"),
        ("(secteur: \"GG\")", "secteur"),
    ] {
        let (_, refused) = graphql(&app, Some(&admin), &page(args)).await;
        assert_eq!(refused["errors"][0]["extensions"]["field"], field, "{refused}");
    }
    assert_eq!(noms(&graphql(&app, Some(&ft), &page("(departement: \"69\")")).await.1), ["ADULTE"]);
    let mut all = noms(&graphql(&app, Some(&admin), &page("")).await.1);
    all.sort();
    assert_eq!(all, ["ADULTE", "PARISIEN"]);

    // The export, recorded; its cells are the queue's.
    let response = reqwest::Client::new()
        .get(app.url("/api/v1/france-travail/export?format=csv&secteur=G"))
        .bearer_auth(&ft)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let csv = response.text().await.unwrap();
    assert!(csv.contains("TRAITES;") && csv.contains("G:ENTREPRISE") && csv.contains("ADULTE"), "{csv}");
    let forbidden = reqwest::Client::new()
        .get(app.url("/api/v1/france-travail/export?region=11"))
        .bearer_auth(&ft)
        .send()
        .await
        .unwrap();
    assert_eq!(forbidden.status(), 403);
    let exports: i64 = sqlx::query_scalar("SELECT count(*) FROM access_log WHERE action = 'export'")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(exports, 1);

    // Erased: the comment goes; so does the residence, and with it the entry's région.
    let erase = format!(
        r#"mutation {{ effacerPersonne(personne: {entree:?}, motif: "demande", baseLegale: DROIT_A_L_EFFACEMENT) {{ position }} }}"#
    );
    let (_, erased) = graphql(&app, Some(&admin), &erase).await;
    assert!(erased["data"]["effacerPersonne"]["position"].is_i64(), "{erased}");
    assert!(db.projection_caught_up(Duration::from_secs(30)).await);
    let one = format!(
        "{{ franceTravailEntree(id: {entree:?}) {{ region situations {{ secteur situation commentaire }} }} }}"
    );
    let (_, after) = graphql(&app, Some(&admin), &one).await;
    assert_eq!(
        after["data"]["franceTravailEntree"],
        json!({ "region": null, "situations": [{ "secteur": "G", "situation": "ENTREPRISE", "commentaire": null }] }),
        "{after}"
    );
    assert_eq!(noms(&graphql(&app, Some(&ft), &page("")).await.1), Vec::<String>::new());
    projections.stop().await;
    db.assert_rebuild_of("france_travail");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_advisor_sees_enrolments_come_and_go_live() {
    let (db, app, lyon, projections) = setup().await;
    assert!(db.projection_caught_up(Duration::from_secs(30)).await);
    let ft = key(&db, Role::FranceTravail, Some("REGION:84")).await;
    let mut socket = subscribed(
        &app,
        &ft,
        "subscription { franceTravailQueue { visible sortie secteurs dossier { idErpApprenant } } }",
    )
    .await;
    db.wait_for(
        Duration::from_secs(10),
        "SELECT count(*) = 1 FROM access_log WHERE action = 'franceTravailQueue'",
    )
    .await;
    push(
        &app,
        &lyon,
        json!([inscrit("L-1", "Ailleurs", 19, 5, PARIS), inscrit("L-2", "Direct", 19, 5, LYON)]),
    )
    .await;
    let message = receive(&mut socket).await;
    assert_eq!(
        message["payload"]["data"]["franceTravailQueue"],
        json!({ "visible": true, "sortie": null, "secteurs": ["D", "G"], "dossier": { "idErpApprenant": "L-2" } }),
        "only its région: {message}"
    );
    // A contract: the entry leaves.
    let mut signed = inscrit("L-2", "Direct", 19, 5, LYON);
    signed["statut_apprenant"] = json!(3);
    signed["contrat_date_debut"] = json!(days_ago(1));
    signed["contrat_date_fin"] = json!(days_ago(-300));
    signed["siret_employeur"] = json!("55210055400013");
    push(&app, &lyon, json!([signed])).await;
    let message = receive(&mut socket).await;
    assert_eq!(message["payload"]["data"]["franceTravailQueue"]["visible"], false, "{message}");
    assert_eq!(message["payload"]["data"]["franceTravailQueue"]["sortie"], "APPRENTI");
    projections.stop().await;
}
