//! The queue follows the log; actions are events; the subscription is live.

use crate::common;

use std::time::Duration;

use chrono::NaiveDate;
use common::gql::{code, graphql, key, receive, send, subscribed};
use common::{CFA_LYON, CFA_PARIS, dossier_v3, this_year};
use serde_json::{Value, json};
use tba::auth::keys::Role;

use super::{LYON, PAGE, PARIS, days_ago, noms, push, rupture, setup, today};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_queue_follows_the_log_and_each_role_sees_exactly_what_it_may() {
    let (db, app, lyon, projections) = setup().await;
    push(
        &app,
        &lyon,
        json!([
            rupture("R-ADULTE", "Adulte", 19, 20, LYON),
            rupture("R-MINEUR", "Mineur", 17, 40, LYON),
            rupture("R-TROP-AGE", "Agee", 30, 10, LYON),
            rupture("R-PARIS", "Parisien", 20, 5, PARIS),
            this_year(dossier_v3("APPRENTI")),
        ]),
    )
    .await;
    assert!(db.projection_caught_up(Duration::from_secs(30)).await);

    let ml_lyon = key(&db, Role::MissionLocale, Some("MISSION_LOCALE:ML-LYON")).await;
    let ml_paris = key(&db, Role::MissionLocale, Some("MISSION_LOCALE:ML-PARIS")).await;
    let paris = db.organisme_key(CFA_PARIS).await;
    let admin = key(&db, Role::Administrateur, None).await;
    let query = format!("{{ ruptures {{ {PAGE} }} }}");

    // The Mission Locale: its own queue, prioritaires (the minor) first, then the newest ruptures.
    let (_, answer) = graphql(&app, Some(&ml_lyon), &query).await;
    assert_eq!(noms(&answer), ["MINEUR", "ADULTE"], "{answer}");
    let first = &answer["data"]["ruptures"]["edges"][0]["node"];
    assert_eq!(first["prioritaire"], true);
    assert_eq!(first["liste"], "A_TRAITER");
    assert_eq!(first["missionLocale"]["id"], "ML-LYON");
    assert_eq!(first["age"], 17);
    assert_eq!(first["dossier"]["apprenant"]["telephone"], "0612345678");
    assert_eq!(first["dossier"]["contrats"][0]["dateRupture"], json!(days_ago(40)));
    assert_eq!(noms(&graphql(&app, Some(&ml_paris), &query).await.1), ["PARISIEN"]);
    // Pages follow the order.
    let (_, page) = graphql(&app, Some(&ml_lyon), &format!("{{ ruptures(first: 1) {{ {PAGE} }} }}")).await;
    assert_eq!(noms(&page), ["MINEUR"]);
    assert_eq!(page["data"]["ruptures"]["pageInfo"]["hasNextPage"], true);
    let cursor = page["data"]["ruptures"]["pageInfo"]["endCursor"].as_str().unwrap();
    let next = format!("{{ ruptures(first: 1, after: {cursor:?}) {{ {PAGE} }} }}");
    assert_eq!(noms(&graphql(&app, Some(&ml_lyon), &next).await.1), ["ADULTE"]);
    // Filters: postal code of the residence, rupture month.
    let other_cp = format!("{{ ruptures(codePostal: \"69007\") {{ {PAGE} }} }}");
    assert_eq!(noms(&graphql(&app, Some(&ml_lyon), &other_cp).await.1), Vec::<String>::new());
    let month = days_ago(40).format("%Y-%m").to_string();
    let (_, counts) =
        graphql(&app, Some(&ml_lyon), "{ rupturesComptes { mois total aTraiter traites prioritaires } }")
            .await;
    assert_eq!(
        counts["data"]["rupturesComptes"][0],
        json!({ "mois": null, "total": 2, "aTraiter": 2, "traites": 0, "prioritaires": 1 })
    );
    assert!(counts["data"]["rupturesComptes"].as_array().unwrap().iter().any(|c| c["mois"] == json!(month)));
    let bad = graphql(&app, Some(&ml_lyon), "{ ruptures(mois: \"2026-13\") { edges { cursor } } }").await.1;
    assert_eq!(code(&bad), "BAD_USER_INPUT");
    assert!(bad["errors"][0]["message"].as_str().unwrap().contains("mois"), "{bad}");
    for (arguments, field) in [
        ("mois: \"2026-13\"", "mois"),
        ("first: 0", "first"),
        ("after: \"pas-un-curseur\"", "after"),
        ("codePostal: \"690\"", "codePostal"),
    ] {
        let query = format!("{{ ruptures({arguments}) {{ edges {{ cursor }} }} }}");
        let bad = graphql(&app, Some(&ml_lyon), &query).await.1;
        assert_eq!(bad["errors"][0]["extensions"]["field"], field, "{bad}");
    }
    let (_, missions) =
        graphql(&app, Some(&ml_lyon), "{ missionsLocales(region: \"84\") { id nom email region } }").await;
    assert_eq!(
        missions["data"]["missionsLocales"],
        json!([{ "id": "ML-LYON", "nom": "Mission Locale de Lyon", "email": "contact@ml-lyon.fr", "region": "84" }])
    );

    // Another Mission Locale's queue, or its entries, are not for it.
    let other =
        graphql(&app, Some(&ml_lyon), "{ ruptures(missionLocale: \"ML-PARIS\") { edges { cursor } } }")
            .await
            .1;
    assert_eq!(code(&other), "FORBIDDEN", "{other}");
    let paris_entry =
        graphql(&app, Some(&ml_paris), &query).await.1["data"]["ruptures"]["edges"][0]["node"]["id"].clone();
    let read = format!("{{ rupture(id: {paris_entry}) {{ id }} }}");
    assert_eq!(graphql(&app, Some(&ml_lyon), &read).await.1["data"]["rupture"], Value::Null);
    assert_eq!(graphql(&app, Some(&ml_paris), &read).await.1["data"]["rupture"]["id"], paris_entry);

    // The CFA: the entries of its dossiers, whichever Mission Locale; another CFA: none.
    let mut cfa = noms(&graphql(&app, Some(&lyon), &query).await.1);
    cfa.sort();
    assert_eq!(cfa, ["ADULTE", "MINEUR", "PARISIEN"]);
    assert_eq!(noms(&graphql(&app, Some(&paris), &query).await.1), Vec::<String>::new());
    // An administrator: any queue, all of them by default.
    assert_eq!(noms(&graphql(&app, Some(&admin), &query).await.1).len(), 3);

    // Nobody else reads the lists; statistics go to ARML and DREETS of the région, and analysts.
    let stats = "{ statsMissionsLocales { missionLocale { id region } total aTraiter tauxTraitement } }";
    for (who, role, scope, stats_of) in [
        ("ARML 84", Role::Arml, Some("REGION:84"), Ok(vec!["ML-LYON"])),
        ("DREETS 11", Role::Dreets, Some("REGION:11"), Ok(vec!["ML-PARIS"])),
        ("ANALYST", Role::Analyst, None, Ok(vec!["ML-LYON", "ML-PARIS"])),
        ("DDETS 69", Role::Ddets, Some("DEPARTEMENT:69"), Err("FORBIDDEN")),
        ("TETE_DE_RESEAU", Role::TeteDeReseau, Some("RESEAU:X"), Err("FORBIDDEN")),
    ] {
        let k = key(&db, role, scope).await;
        let lists = graphql(&app, Some(&k), &query).await.1;
        assert_eq!(code(&lists), "FORBIDDEN", "{who}: {lists}");
        let answer = graphql(&app, Some(&k), stats).await.1;
        match stats_of {
            Ok(ids) => {
                let got: Vec<&str> = answer["data"]["statsMissionsLocales"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|s| s["missionLocale"]["id"].as_str().unwrap())
                    .collect();
                assert_eq!(got, ids, "{who}: {answer}");
            }
            Err(expected) => assert_eq!(code(&answer), expected, "{who}: {answer}"),
        }
    }
    let arml = key(&db, Role::Arml, Some("REGION:84")).await;
    let (_, answer) = graphql(&app, Some(&arml), stats).await;
    assert_eq!(answer["data"]["statsMissionsLocales"][0]["total"], 2);
    assert_eq!(answer["data"]["statsMissionsLocales"][0]["tauxTraitement"], 0.0);
    let (_, regions) =
        graphql(&app, Some(&arml), "{ statsRegions { region libelle missionsLocales total aTraiter } }")
            .await;
    assert_eq!(
        regions["data"]["statsRegions"],
        json!([{ "region": "84", "libelle": "Auvergne-Rhône-Alpes", "missionsLocales": 1, "total": 2, "aTraiter": 2 }]),
        "{regions}"
    );
    let ml_lyon_regions = graphql(&app, Some(&ml_lyon), "{ statsRegions { total } }").await.1;
    assert_eq!(code(&ml_lyon_regions), "FORBIDDEN");
    let outside = graphql(&app, Some(&arml), "{ statsMissionsLocales(regions: [\"11\"]) { total } }").await.1;
    assert_eq!(code(&outside), "BAD_USER_INPUT");
    assert_eq!(code(&graphql(&app, None, &query).await.1), "UNAUTHENTICATED");

    // Every read of entries is in the access log, with the entries read.
    let logged: i64 =
        sqlx::query_scalar("SELECT count(*) FROM access_log WHERE action IN ('ruptures', 'rupture')")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert!(logged >= 8, "{logged}");
    projections.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actions_are_events_with_their_history_and_the_queue_moves_with_the_log() {
    let (db, app, lyon, projections) = setup().await;
    push(&app, &lyon, json!([rupture("R-1", "Durand", 19, 20, LYON), rupture("R-2", "Petit", 17, 30, LYON)]))
        .await;
    let mut apprenti = this_year(dossier_v3("A-1"));
    apprenti["nom_apprenant"] = json!("Leroy");
    push(&app, &lyon, json!([apprenti.clone()])).await;
    assert!(db.projection_caught_up(Duration::from_secs(30)).await);
    let ml = key(&db, Role::MissionLocale, Some("MISSION_LOCALE:ML-LYON")).await;
    let entree_of = |nom: &'static str| {
        let pool = db.pool.clone();
        async move {
            sqlx::query_scalar::<_, String>(
                "SELECT r.entree FROM rm_ruptures r JOIN rm_dossiers d USING (dossier_id)
                 WHERE d.id_erp_apprenant = $1",
            )
            .bind(nom)
            .fetch_one(&pool)
            .await
            .unwrap()
        }
    };
    let (r1, r2) = (entree_of("R-1").await, entree_of("R-2").await);

    // An advisor's situation: checked field by field, then recorded with who and when.
    let situation = |entree: &str, rest: &str| {
        format!(
            "mutation {{ renseignerSituation(entree: {entree:?}, {rest}) {{ liste situation situationAutre collaboration historique {{ type organisation situation }} }} }}"
        )
    };
    let refused = graphql(&app, Some(&ml), &situation(&r1, "situation: AUTRE")).await.1;
    assert_eq!(code(&refused), "BAD_USER_INPUT", "{refused}");
    assert_eq!(refused["errors"][0]["extensions"]["field"], "situationAutre", "{refused}");
    let refused =
        graphql(&app, Some(&ml), &situation(&r1, "situation: RDV_PRIS, situationAutre: \"x\"")).await.1;
    assert_eq!(refused["errors"][0]["extensions"]["field"], "situationAutre", "{refused}");
    let refused = graphql(&app, Some(&ml), &situation("p-inconnu", "situation: RDV_PRIS")).await.1;
    assert_eq!(refused["errors"][0]["extensions"]["field"], "entree", "{refused}");
    let cfa_cannot = graphql(&app, Some(&lyon), &situation(&r1, "situation: RDV_PRIS")).await.1;
    assert_eq!(code(&cfa_cannot), "FORBIDDEN");
    let (_, done) = graphql(
        &app,
        Some(&ml),
        &situation(
            &r1,
            "situation: CONTACTE_SANS_RETOUR, commentaire: \"messagerie\", connaissance: NON_CONNU",
        ),
    )
    .await;
    let entree = &done["data"]["renseignerSituation"];
    assert_eq!(entree["liste"], "A_RECONTACTER", "{done}");
    assert_eq!(entree["collaboration"], "DEMARRER_COLLAB", "tried without reaching: {done}");
    assert_eq!(entree["historique"][0]["organisation"], "MISSION_LOCALE:ML-LYON");
    let stream: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE stream_id = $1 AND event_type = 'SituationRenseignee'",
    )
    .bind(format!("rupture-{r1}"))
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(stream, 1, "the action is an event of the person's follow-up stream");
    let a_traiter = "{ ruptures(liste: A_TRAITER) { edges { node { id } } } }";
    let ids: Vec<Value> = graphql(&app, Some(&ml), a_traiter).await.1["data"]["ruptures"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["id"].clone())
        .collect();
    assert_eq!(ids, [json!(r2)]);

    // The CFA asks for a joint follow-up of its dossier: checked, then the entry is prioritaire and the
    // Mission Locale sees the request; the CFA sees what the Mission Locale did.
    let r1_dossier = db.dossier_id("R-1").await;
    let suivi = |tel: &str, motifs: &str| {
        format!(
            "mutation {{ demanderSuiviConjoint(dossier: {r1_dossier:?}, motifs: [{motifs}], telephoneVerifie: {tel:?}) {{ prioritaire suiviConjoint situation collaboration }} }}"
        )
    };
    let refused = graphql(&app, Some(&lyon), &suivi("0612", "LOGEMENT")).await.1;
    assert_eq!(refused["errors"][0]["extensions"]["field"], "telephoneVerifie", "{refused}");
    let refused = graphql(&app, Some(&lyon), &suivi("0612345678", "")).await.1;
    assert_eq!(refused["errors"][0]["extensions"]["field"], "motifs", "{refused}");
    let (_, asked) = graphql(&app, Some(&lyon), &suivi("06 98 76 54 32", "LOGEMENT, MOBILITE")).await;
    assert_eq!(
        asked["data"]["demanderSuiviConjoint"],
        json!({
            "prioritaire": true,
            "suiviConjoint": true,
            "situation": "CONTACTE_SANS_RETOUR",
            "collaboration": "COLLAB_DEMANDEE"
        }),
        "{asked}"
    );
    let history = format!(
        "{{ rupture(id: {r1:?}) {{ historique {{ type organisation motifs telephoneVerifie commentaire }} }} }}"
    );
    let (_, read) = graphql(&app, Some(&ml), &history).await;
    let actions = read["data"]["rupture"]["historique"].as_array().unwrap();
    assert_eq!(actions.len(), 2, "{read}");
    assert_eq!(actions[1]["type"], "SuiviConjointDemande");
    assert_eq!(actions[1]["organisation"], format!("{}:{}", CFA_LYON.0, CFA_LYON.1));
    assert_eq!(actions[1]["motifs"], json!(["MOBILITE", "LOGEMENT"]));
    assert_eq!(actions[1]["telephoneVerifie"], "0698765432");
    assert_eq!(
        graphql(&app, Some(&lyon), &history).await.1["data"]["rupture"]["historique"][0]["commentaire"],
        "messagerie"
    );
    // Back under contract: an entry not yet qualified leaves the queue; a qualified one stays, flagged.
    let mut again = rupture("R-2", "Petit", 17, 30, LYON);
    again["contrat_date_debut"] = json!(days_ago(3));
    again["contrat_date_fin"] = json!(today() + chrono::Duration::days(300));
    again["contrat_date_rupture"] = Value::Null;
    let mut r1_again = rupture("R-1", "Durand", 19, 20, LYON);
    r1_again["contrat_date_debut"] = json!(days_ago(2));
    r1_again["contrat_date_fin"] = json!(today() + chrono::Duration::days(300));
    r1_again["contrat_date_rupture"] = Value::Null;
    push(&app, &lyon, json!([again, r1_again])).await;
    assert!(db.projection_caught_up(Duration::from_secs(30)).await);
    let (_, queue) =
        graphql(&app, Some(&ml), "{ ruptures { edges { node { id nouveauContrat liste } } } }").await;
    assert_eq!(
        queue["data"]["ruptures"]["edges"],
        json!([{ "node": { "id": r1, "nouveauContrat": true, "liste": "A_RECONTACTER" } }]),
        "{queue}"
    );

    // The CFA declares a rupture itself: not in the future, at most a year old, of an ongoing contract.
    let a1 = db.dossier_id("A-1").await;
    let declare = |date: NaiveDate| {
        format!(
            "mutation {{ declarerRupture(dossier: {a1:?}, dateRupture: \"{date}\", cause: \"démission\") {{ position entree {{ id liste dateRupture missionLocale {{ id }} }} }} }}"
        )
    };
    for date in [today() + chrono::Duration::days(1), days_ago(400)] {
        let refused = graphql(&app, Some(&lyon), &declare(date)).await.1;
        assert_eq!(refused["errors"][0]["extensions"]["field"], "dateRupture", "{refused}");
    }
    let other_cfa = db.organisme_key(CFA_PARIS).await;
    let refused = graphql(&app, Some(&other_cfa), &declare(days_ago(2))).await.1;
    assert_eq!(refused["errors"][0]["extensions"]["field"], "dossier", "{refused}");
    let (_, declared) = graphql(&app, Some(&lyon), &declare(days_ago(2))).await;
    let entree = &declared["data"]["declarerRupture"]["entree"];
    assert_eq!(entree["dateRupture"], json!(days_ago(2)), "{declared}");
    assert_eq!(entree["missionLocale"]["id"], "ML-LYON");
    // Declared twice: the contract is broken already.
    let refused = graphql(&app, Some(&lyon), &declare(days_ago(1))).await.1;
    assert_eq!(refused["errors"][0]["extensions"]["field"], "dateRupture", "{refused}");

    // Statistics of the day and a daily series.
    let (_, stats) = graphql(
        &app,
        Some(&ml),
        "{ statsMissionsLocales { total aTraiter aRecontacter traites parSituation { situation total } tauxTraitement } }",
    )
    .await;
    assert_eq!(
        stats["data"]["statsMissionsLocales"][0],
        json!({ "total": 2, "aTraiter": 1, "aRecontacter": 1, "traites": 0,
                "parSituation": [{ "situation": "CONTACTE_SANS_RETOUR", "total": 1 }], "tauxTraitement": 0.5 }),
        "{stats}"
    );
    let series =
        format!("{{ statsMissionLocale(id: \"ML-LYON\", du: \"{}\") {{ date total }} }}", days_ago(6));
    let (_, series) = graphql(&app, Some(&ml), &series).await;
    assert_eq!(series["data"]["statsMissionLocale"].as_array().unwrap().len(), 7, "{series}");
    let reversed = format!(
        "{{ statsMissionLocale(id: \"ML-LYON\", du: \"{}\", au: \"{}\") {{ total }} }}",
        today(),
        days_ago(1)
    );
    assert_eq!(graphql(&app, Some(&ml), &reversed).await.1["errors"][0]["extensions"]["field"], "du");

    // Exports: the Mission Locale's own queue, in CSV and XLSX, each recorded in the access log.
    let export = |path: &'static str| {
        let request = reqwest::Client::new().get(app.url(path)).bearer_auth(&ml);
        async move { request.send().await.unwrap() }
    };
    let csv = export("/api/v1/missions-locales/ML-LYON/export?format=csv").await;
    assert_eq!(csv.status(), 200);
    let text = csv.text().await.unwrap();
    let lines: Vec<&str> = text.trim_start_matches('\u{feff}').lines().collect();
    assert!(lines[0].starts_with("liste;prioritaire;nouveau_contrat;date_rupture"), "{}", lines[0]);
    assert_eq!(lines.len(), 3, "{text}");
    assert!(text.contains("DURAND") && text.contains("LEROY"), "{text}");
    let xlsx = export("/api/v1/missions-locales/ML-LYON/export").await;
    assert_eq!(xlsx.status(), 200);
    assert!(xlsx.bytes().await.unwrap().starts_with(b"PK"));
    assert_eq!(export("/api/v1/missions-locales/ML-PARIS/export").await.status(), 403);
    assert_eq!(export("/api/v1/missions-locales/ML-LYON/export?format=pdf").await.status(), 400);
    let bad = export("/api/v1/missions-locales/ML-LYON/export?liste=TOUTES").await;
    assert_eq!(bad.status(), 400);
    assert!(bad.text().await.unwrap().contains("liste"));
    let exports: i64 =
        sqlx::query_scalar("SELECT count(*) FROM access_log WHERE action = 'export' AND subject = 'ML-LYON'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(exports, 2);

    // The Mission Locale acts on the request: both sides read the collaboration as treated.
    let (_, treated) = graphql(&app, Some(&ml), &situation(&r1, "situation: RDV_PRIS")).await;
    assert_eq!(treated["data"]["renseignerSituation"]["collaboration"], "TRAITE_PAR_ML", "{treated}");
    let seen = format!("{{ rupture(id: {r1:?}) {{ collaboration }} }}");
    assert_eq!(
        graphql(&app, Some(&lyon), &seen).await.1["data"]["rupture"]["collaboration"],
        "TRAITE_PAR_ML"
    );

    // The read model is the log's: a rebuild gives the live checksum.
    projections.stop().await;
    db.assert_rebuild_of("ruptures");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_subscription_pushes_new_and_changed_entries_live() {
    let (db, app, lyon, projections) = setup().await;
    assert!(db.projection_caught_up(Duration::from_secs(30)).await);
    let ml = key(&db, Role::MissionLocale, Some("MISSION_LOCALE:ML-LYON")).await;
    let mut socket = subscribed(&app, &ml, "subscription { ruptureQueue(missionLocale: \"ML-LYON\") { id visible liste dossier { apprenant { nom } } } }").await;
    // The subscription has started once its read is in the access log.
    db.wait_for(Duration::from_secs(10), "SELECT count(*) = 1 FROM access_log WHERE action = 'ruptureQueue'")
        .await;
    push(
        &app,
        &lyon,
        json!([rupture("S-1", "Direct", 19, 3, LYON), rupture("S-2", "Ailleurs", 19, 3, PARIS)]),
    )
    .await;
    let message = receive(&mut socket).await;
    assert_eq!(message["type"], "next", "{message}");
    let entree = &message["payload"]["data"]["ruptureQueue"];
    assert_eq!(entree["dossier"]["apprenant"]["nom"], "DIRECT", "only its own queue: {message}");
    assert_eq!(entree["visible"], true);
    // Another Mission Locale's queue cannot be followed.
    send(
        &mut socket,
        json!({ "id": "2", "type": "subscribe",
                "payload": { "query": "subscription { ruptureQueue(missionLocale: \"ML-PARIS\") { id } }" } }),
    )
    .await;
    let refused = receive(&mut socket).await;
    assert_eq!(refused["payload"]["errors"][0]["extensions"]["code"], "FORBIDDEN", "{refused}");
    projections.stop().await;
}
