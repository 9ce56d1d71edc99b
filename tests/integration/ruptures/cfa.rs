//! A CFA's own ruptures list (domain.md §11): its dossiers' ruptures less than 180 days old, split at
//! 45 days, kept after the person left only when the CFA declared the rupture or the Mission Locale
//! qualified it; entries without a Mission Locale too; counts, and the list followed live.

use crate::common;

use std::time::Duration;

use common::gql::{graphql, key, receive, subscribed};
use common::{CFA_PARIS, dossier_v3, this_year};
use serde_json::{Value, json};
use tba::auth::keys::Role;

use super::{LYON, days_ago, last_year, push, rupture, setup, today};

/// `(idErpApprenant, joursDepuisRupture)` of each entry of a `ruptures` page, sorted.
fn entrees(answer: &Value) -> Vec<(String, i64)> {
    let mut entrees: Vec<(String, i64)> = answer["data"]["ruptures"]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("a page: {answer}"))
        .iter()
        .map(|e| {
            let node = &e["node"];
            (
                node["dossier"]["idErpApprenant"].as_str().unwrap_or("?").to_owned(),
                node["joursDepuisRupture"].as_i64().unwrap_or(-1),
            )
        })
        .collect();
    entrees.sort();
    entrees
}

fn liste(anciennete: Option<&str>) -> String {
    let filtre = anciennete.map(|a| format!("(anciennete: {a})")).unwrap_or_default();
    format!(
        "{{ ruptures{filtre} {{ edges {{ node {{ joursDepuisRupture visibleCfa declaree collaboration
           missionLocale {{ id }} dossier {{ idErpApprenant }} }} }} }} }}"
    )
}

/// A dossier of the same person as `rupture(_, nom, age, …)`, under a contract begun `days` ago.
fn back_under_contract(id_erp: &str, nom: &str, age: i32, days: i64) -> Value {
    let mut item = rupture(id_erp, nom, age, 0, LYON);
    item["contrat_date_debut"] = json!(days_ago(days));
    item["contrat_date_fin"] = json!(today() + chrono::Duration::days(300));
    item["contrat_date_rupture"] = Value::Null;
    item
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cfa_lists_its_ruptures_under_and_over_45_days() {
    let (db, app, lyon, projections) = setup().await;
    // Older than 180 days: in its Mission Locale's queue, not in the CFA's list.
    let old = last_year("L-220", "Ancien");
    let mut declared = this_year(dossier_v3("L-DECL"));
    declared["nom_apprenant"] = json!("Declare");
    let born = rupture("x", "x", 19, 1, LYON)["date_de_naissance_apprenant"].clone();
    declared["date_de_naissance_apprenant"] = born;
    declared["code_postal_apprenant"] = json!(LYON.0);
    declared["code_commune_insee_apprenant"] = json!(LYON.1);
    push(
        &app,
        &lyon,
        json!([
            rupture("L-20", "Recent", 19, 20, LYON),
            rupture("L-47", "Quarante", 19, 47, LYON),
            rupture("L-SUD", "Marseille", 19, 10, ("13001", "13201")),
            rupture("L-BACK", "Retour", 19, 30, LYON),
            old,
            declared,
        ]),
    )
    .await;
    assert!(db.projection_caught_up(Duration::from_secs(30)).await);
    // The CFA declares a rupture itself; then both that person and another find a new contract.
    let decl = db.dossier_id("L-DECL").await;
    let (_, answer) = graphql(
        &app,
        Some(&lyon),
        &format!(
            "mutation {{ declarerRupture(dossier: {decl:?}, dateRupture: \"{}\", cause: \"démission\") {{ position }} }}",
            days_ago(12)
        ),
    )
    .await;
    assert!(answer["data"]["declarerRupture"]["position"].is_i64(), "{answer}");
    push(
        &app,
        &lyon,
        json!([
            back_under_contract("L-DECL-2", "Declare", 19, 3),
            back_under_contract("L-BACK-2", "Retour", 19, 5)
        ]),
    )
    .await;
    assert!(db.projection_caught_up(Duration::from_secs(30)).await);

    let all = graphql(&app, Some(&lyon), &liste(None)).await.1;
    let ids: Vec<String> = entrees(&all).into_iter().map(|(id, _)| id).collect();
    assert_eq!(ids, ["L-20", "L-47", "L-DECL", "L-SUD"], "{all}");
    let under = graphql(&app, Some(&lyon), &liste(Some("MOINS_DE_45_JOURS"))).await.1;
    assert_eq!(
        entrees(&under),
        [("L-20".into(), 20), ("L-DECL".into(), 12), ("L-SUD".into(), 10)],
        "{under}"
    );
    let over = graphql(&app, Some(&lyon), &liste(Some("DEPUIS_45_JOURS"))).await.1;
    assert_eq!(entrees(&over), [("L-47".into(), 47)], "{over}");
    let edges = all["data"]["ruptures"]["edges"].as_array().unwrap();
    let node = |id: &str| {
        edges.iter().map(|e| &e["node"]).find(|n| n["dossier"]["idErpApprenant"] == id).unwrap().clone()
    };
    assert_eq!(node("L-SUD")["missionLocale"], Value::Null, "no Mission Locale serves Marseille here");
    assert_eq!(node("L-DECL")["declaree"], true);
    assert_eq!(node("L-DECL")["collaboration"], "DEMARRER_COLLAB");
    assert_eq!(node("L-20")["declaree"], false);

    let (_, comptes) =
        graphql(&app, Some(&lyon), "{ rupturesComptes { mois total moinsDe45Jours depuis45Jours } }").await;
    assert_eq!(
        comptes["data"]["rupturesComptes"][0],
        json!({ "mois": null, "total": 4, "moinsDe45Jours": 3, "depuis45Jours": 1 }),
        "{comptes}"
    );

    // The Mission Locale's queue is another rule: no 180-day limit, and nobody back under contract.
    let ml = key(&db, Role::MissionLocale, Some("MISSION_LOCALE:ML-LYON")).await;
    let queue = graphql(&app, Some(&ml), &liste(None)).await.1;
    let ids: Vec<String> = entrees(&queue).into_iter().map(|(id, _)| id).collect();
    assert_eq!(ids, ["L-20", "L-220", "L-47"], "{queue}");
    // Another CFA lists nothing of these.
    let paris = db.organisme_key(CFA_PARIS).await;
    assert!(entrees(&graphql(&app, Some(&paris), &liste(None)).await.1).is_empty());
    projections.stop().await;
    db.assert_rebuild_of("ruptures");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cfa_follows_its_list_live() {
    let (db, app, lyon, projections) = setup().await;
    assert!(db.projection_caught_up(Duration::from_secs(30)).await);
    let mut socket = subscribed(
        &app,
        &lyon,
        "subscription { ruptureQueue { visibleCfa joursDepuisRupture dossier { idErpApprenant } } }",
    )
    .await;
    db.wait_for(Duration::from_secs(10), "SELECT count(*) = 1 FROM access_log WHERE action = 'ruptureQueue'")
        .await;
    push(&app, &lyon, json!([rupture("V-1", "Direct", 19, 3, LYON)])).await;
    let message = receive(&mut socket).await;
    assert_eq!(
        message["payload"]["data"]["ruptureQueue"],
        json!({ "visibleCfa": true, "joursDepuisRupture": 3, "dossier": { "idErpApprenant": "V-1" } }),
        "{message}"
    );
    projections.stop().await;
}
