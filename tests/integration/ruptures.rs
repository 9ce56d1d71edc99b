//! The Missions Locales' rupture queue end to end (domain.md §7, §9): dossiers pushed by an ERP become
//! entries in the queue of the residence's Mission Locale, live; advisors and CFAs act through GraphQL,
//! each action an event with its history; each role sees exactly what it may; statistics, exports and
//! the live subscription; a rebuild gives the live read model.

use crate::common;

use std::time::Duration;

use chrono::{Datelike, NaiveDate, Utc};
use common::gql::{code, graphql, key, receive, send, subscribed};
use common::{CFA_LYON, CFA_PARIS, TestApp, TestDb, dossier_v3, this_year};
use serde_json::{Value, json};
use tba::auth::keys::Role;

fn today() -> NaiveDate {
    Utc::now().date_naive()
}

fn days_ago(n: i64) -> NaiveDate {
    today() - chrono::Duration::days(n)
}

/// A dossier of this school year whose contract broke `rupture` days ago, for a person born `age`
/// years ago, living in `(postal code, INSEE code)`.
fn rupture(id_erp: &str, nom: &str, age: i32, days: i64, residence: (&str, &str)) -> Value {
    let mut item = this_year(dossier_v3(id_erp));
    let born = today().with_year(today().year() - age).unwrap() - chrono::Duration::days(10);
    item["nom_apprenant"] = json!(nom);
    item["date_de_naissance_apprenant"] = json!(born);
    item["contrat_date_rupture"] = json!(days_ago(days));
    item["code_postal_apprenant"] = json!(residence.0);
    item["code_commune_insee_apprenant"] = json!(residence.1);
    item
}

const LYON: (&str, &str) = ("69003", "69383");
const PARIS: (&str, &str) = ("75001", "75056");

/// The test referential, two Missions Locales, and the service with its projections running.
async fn setup() -> (TestDb, TestApp, String, tba::read_models::Projections) {
    let db = TestDb::new().await;
    db.with_organismes().await;
    let csv = "ml_id,nom,siret,email,telephone,communes\n\
               ML-LYON,Mission Locale de Lyon,12345678901234,contact@ml-lyon.fr,04 72 00 00 00,69123\n\
               ML-PARIS,Mission Locale de Paris,12345678900012,,,75056\n";
    let missions = tba::ingestion::missions_locales::parse_csv(csv.as_bytes()).unwrap();
    tba::ingestion::missions_locales::import(&db.pool, missions, events::Metadata::default()).await.unwrap();
    let app = TestApp::spawn(&db).await;
    let lyon = db.organisme_key(CFA_LYON).await;
    let projections = tba::read_models::Projections::start(&app.store);
    (db, app, lyon, projections)
}

async fn push(app: &TestApp, key: &str, items: Value) {
    let (status, answer) = app.post("/api/v3/dossiers-apprenants", key, &items).await;
    assert_eq!(status, 200, "{answer}");
}

/// The `nom` of each entry of a `ruptures` page, in order (via the dossier's apprenant).
fn noms(answer: &Value) -> Vec<String> {
    answer["data"]["ruptures"]["edges"]
        .as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .map(|e| e["node"]["dossier"]["apprenant"]["nom"].as_str().unwrap_or("?").to_owned())
        .collect()
}

const PAGE: &str =
    "edges { cursor node { id liste prioritaire nouveauContrat dateRupture age situation suiviConjoint
    missionLocale { id nom } dossier { id apprenant { nom telephone } contrats { dateDebut dateRupture } } } }
    pageInfo { hasNextPage endCursor }";

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
            "mutation {{ renseignerSituation(entree: {entree:?}, {rest}) {{ liste situation situationAutre historique {{ type organisation situation }} }} }}"
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
            "mutation {{ demanderSuiviConjoint(dossier: {r1_dossier:?}, motifs: [{motifs}], telephoneVerifie: {tel:?}) {{ prioritaire suiviConjoint situation }} }}"
        )
    };
    let refused = graphql(&app, Some(&lyon), &suivi("0612", "LOGEMENT")).await.1;
    assert_eq!(refused["errors"][0]["extensions"]["field"], "telephoneVerifie", "{refused}");
    let refused = graphql(&app, Some(&lyon), &suivi("0612345678", "")).await.1;
    assert_eq!(refused["errors"][0]["extensions"]["field"], "motifs", "{refused}");
    let (_, asked) = graphql(&app, Some(&lyon), &suivi("06 98 76 54 32", "LOGEMENT, MOBILITE")).await;
    assert_eq!(
        asked["data"]["demanderSuiviConjoint"],
        json!({ "prioritaire": true, "suiviConjoint": true, "situation": "CONTACTE_SANS_RETOUR" }),
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
    // Let the subscription start before the rupture is appended.
    tokio::time::sleep(Duration::from_millis(500)).await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn formula_looking_names_and_comments_reach_the_export_as_text() {
    let (db, app, lyon, projections) = setup().await;
    let mut item = rupture("F-1", "=HYPERLINK(\"http://x\";\"y\")", 19, 3, LYON);
    item["prenom_apprenant"] = json!("+Léa");
    push(&app, &lyon, json!([item])).await;
    assert!(db.projection_caught_up(Duration::from_secs(30)).await);
    let ml = key(&db, Role::MissionLocale, Some("MISSION_LOCALE:ML-LYON")).await;
    let entree: String =
        sqlx::query_scalar("SELECT entree FROM rm_ruptures LIMIT 1").fetch_one(&db.pool).await.unwrap();
    let mutation = format!(
        "mutation {{ renseignerSituation(entree: {entree:?}, situation: RDV_PRIS, commentaire: \"@SUM(A1)\") {{ liste }} }}"
    );
    let (_, done) = graphql(&app, Some(&ml), &mutation).await;
    assert_eq!(done["data"]["renseignerSituation"]["liste"], "TRAITES", "{done}");
    assert!(db.projection_caught_up(Duration::from_secs(30)).await);

    let csv = reqwest::Client::new()
        .get(app.url("/api/v1/missions-locales/ML-LYON/export?format=csv&liste=TRAITES"))
        .bearer_auth(&ml)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut reader =
        csv::ReaderBuilder::new().delimiter(b';').from_reader(csv.trim_start_matches('\u{feff}').as_bytes());
    let headers = reader.headers().unwrap().clone();
    let row = reader.records().next().unwrap().unwrap();
    let cell = |name: &str| row.get(headers.iter().position(|h| h == name).unwrap()).unwrap().to_owned();
    assert_eq!(cell("nom"), "'=HYPERLINK(\"HTTP://X\";\"Y\")");
    assert_eq!(cell("prenom"), "'+Léa");
    assert_eq!(cell("commentaire"), "'@SUM(A1)");
    projections.stop().await;
}

/// The fields and root fields the schema says record their read in the access journal, as
/// `Type.field`: every field that returns personal data says so in its description.
fn journaled_fields() -> std::collections::BTreeSet<String> {
    let schema = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql")).unwrap();
    let (mut fields, mut kind, mut description, mut inside) =
        (std::collections::BTreeSet::new(), String::new(), String::new(), false);
    for line in schema.lines() {
        let trimmed = line.trim();
        if let Some(rest) = ["type ", "input "].iter().find_map(|k| line.strip_prefix(k)) {
            kind = rest.split_whitespace().next().unwrap().to_owned();
        }
        if trimmed == "\"\"\"" {
            inside = !inside;
            if inside {
                description.clear();
            }
            continue;
        }
        if inside {
            description.push(' ');
            description.push_str(trimmed);
        } else if line.starts_with('\t') && !trimmed.is_empty() {
            let words: Vec<&str> = description.split_whitespace().collect();
            if words.join(" ").contains("recorded in the access journal")
                || words.join(" ").contains("recorded in the access log")
            {
                let name: String = trimmed.chars().take_while(|c| c.is_alphanumeric()).collect();
                fields.insert(format!("{kind}.{name}"));
            }
            description.clear();
        }
    }
    fields
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_field_and_endpoint_that_returns_personal_data_records_its_read() {
    // Each field the schema marks, with how this test reaches it (or the test that does), and the
    // action it records.
    let covered: [(&str, &str); 14] = [
        ("Dossier.apprenant", "here, in a mutation's answer"),
        ("Query.dossier", "here"),
        ("Query.dossiers", "here"),
        ("Query.events", "here, an empty page"),
        ("Query.stream", "here"),
        ("Query.ruptures", "here, an empty page"),
        ("Query.rupture", "here"),
        ("RuptureEntree.commentaire", "here, in a mutation's answer"),
        ("RuptureEntree.situationAutre", "here"),
        ("RuptureEntree.historique", "here"),
        ("Subscription.ruptureQueue", "here"),
        ("Subscription.eventsAppended", "here"),
        ("Query.preuveInclusion", "tests/integrity.rs"),
        ("Query.voeuxNonConcretises", "tests/voeux.rs"),
    ];
    let marked = journaled_fields();
    let listed: std::collections::BTreeSet<String> = covered.iter().map(|(f, _)| (*f).to_owned()).collect();
    assert_eq!(marked, listed, "every field marked in schema.graphql is checked, and only those");

    let (db, app, lyon, projections) = setup().await;
    push(&app, &lyon, json!([rupture("J-1", "Journal", 19, 20, LYON)])).await;
    assert!(db.projection_caught_up(Duration::from_secs(30)).await);
    let ml = key(&db, Role::MissionLocale, Some("MISSION_LOCALE:ML-LYON")).await;
    let auditor = key(&db, Role::Auditor, None).await;
    let admin = key(&db, Role::Administrateur, None).await;
    let entree: String =
        sqlx::query_scalar("SELECT entree FROM rm_ruptures LIMIT 1").fetch_one(&db.pool).await.unwrap();
    let dossier = db.dossier_id("J-1").await;
    let count = |action: &'static str| {
        let pool = db.pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>("SELECT count(*) FROM access_log WHERE action = $1")
                .bind(action)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    let reads: Vec<(&str, &str, String, &str)> = vec![
        (
            "the answer of a mutation",
            ml.as_str(),
            format!(
                "mutation {{ renseignerSituation(entree: {entree:?}, situation: RDV_PRIS, commentaire: \"rappel\") {{ commentaire dossier {{ apprenant {{ nom }} }} }} }}"
            ),
            "apprenant",
        ),
        (
            "a mutation's answer holding the comment",
            ml.as_str(),
            format!(
                "mutation {{ renseignerSituation(entree: {entree:?}, situation: AUTRE, situationAutre: \"déménage\") {{ situationAutre }} }}"
            ),
            "rupture",
        ),
        (
            "an entry's history",
            ml.as_str(),
            format!("{{ rupture(id: {entree:?}) {{ historique {{ commentaire }} }} }}"),
            "rupture",
        ),
        (
            "an empty page of a queue",
            ml.as_str(),
            "{ ruptures(liste: A_RECONTACTER) { edges { cursor } } }".into(),
            "ruptures",
        ),
        ("a dossier", admin.as_str(), format!("{{ dossier(id: {dossier:?}) {{ id }} }}"), "dossier"),
        (
            "a page of dossiers",
            admin.as_str(),
            "{ dossiers(statuts: [RUPTURANT]) { edges { cursor } } }".into(),
            "dossiers",
        ),
        (
            "an empty page of the log",
            auditor.as_str(),
            "{ events(after: 1000000) { edges { cursor } } }".into(),
            "evenements",
        ),
        ("a stream", auditor.as_str(), format!("{{ stream(id: {dossier:?}) {{ position }} }}"), "stream"),
    ];
    for (what, key, query, action) in reads {
        let before = count(action).await;
        let (_, answer) = graphql(&app, Some(key), &query).await;
        assert!(answer.get("errors").is_none(), "{what}: {answer}");
        assert!(count(action).await > before, "{what} is recorded as {action}");
    }
    for (key, query, action) in [
        (ml.as_str(), "subscription { ruptureQueue(missionLocale: \"ML-LYON\") { id } }", "ruptureQueue"),
        (auditor.as_str(), "subscription { eventsAppended(after: 0) { position } }", "eventsAppended"),
    ] {
        let before = sqlx::query_scalar::<_, i64>("SELECT count(*) FROM access_log")
            .fetch_one(&db.pool)
            .await
            .unwrap();
        let _socket = subscribed(&app, key, query).await;
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            let now = sqlx::query_scalar::<_, i64>("SELECT count(*) FROM access_log")
                .fetch_one(&db.pool)
                .await
                .unwrap();
            if now > before {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "{query} ({action}) is recorded");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    // REST: every endpoint the OpenAPI description marks as returning personal data.
    let openapi: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json")).unwrap(),
    )
    .unwrap();
    let mut marked: Vec<String> = Vec::new();
    for (path, methods) in openapi["paths"].as_object().unwrap() {
        for (_, operation) in methods.as_object().unwrap() {
            let text = format!(
                "{} {}",
                operation["summary"].as_str().unwrap_or(""),
                operation["description"].as_str().unwrap_or("")
            );
            if text.split_whitespace().collect::<Vec<_>>().join(" ").contains("access journal") {
                marked.push(path.clone());
            }
        }
    }
    marked.sort();
    assert_eq!(
        marked,
        [
            "/api/v1/missions-locales/{id}/export",
            "/api/v1/transmissions",
            "/api/v1/transmissions/{id}/rejets.csv"
        ],
        "every endpoint marked in openapi.json is checked, and only those"
    );
    let mut bad = rupture("J-2", "Refusé", 19, 20, LYON);
    bad["date_de_naissance_apprenant"] = json!("31/12/2006");
    let (_, answer) = app.post("/api/v3/dossiers-apprenants", &lyon, &json!([bad])).await;
    let transmission = answer["transmission_id"].as_str().unwrap().to_owned();
    for (key, path, action) in [
        (&ml, "/api/v1/missions-locales/ML-LYON/export?format=csv".to_owned(), "export"),
        (&lyon, "/api/v1/transmissions".to_owned(), "transmissions"),
        (&lyon, format!("/api/v1/transmissions/{transmission}/rejets.csv"), "rejets"),
    ] {
        let before = count(action).await;
        let response = reqwest::Client::new().get(app.url(&path)).bearer_auth(key).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        assert!(count(action).await > before, "{path} is recorded as {action}");
    }
    projections.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_past_day_has_one_answer_the_situations_recorded_by_its_end() {
    let (db, app, lyon, projections) = setup().await;
    push(&app, &lyon, json!([rupture("R-1", "Durand", 19, 20, LYON), rupture("R-2", "Petit", 20, 30, LYON)]))
        .await;
    assert!(db.projection_caught_up(Duration::from_secs(30)).await);
    let ml = key(&db, Role::MissionLocale, Some("MISSION_LOCALE:ML-LYON")).await;
    let entree: String = sqlx::query_scalar(
        "SELECT r.entree FROM rm_ruptures r JOIN rm_dossiers d USING (dossier_id) WHERE d.id_erp_apprenant = 'R-1'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    // Today an advisor qualifies an entry whose rupture is 20 days old.
    let (_, done) = graphql(
        &app,
        Some(&ml),
        &format!("mutation {{ renseignerSituation(entree: {entree:?}, situation: RDV_PRIS, commentaire: \"vu\") {{ liste }} }}"),
    )
    .await;
    assert_eq!(done["data"]["renseignerSituation"]["liste"], "TRAITES", "{done}");
    assert!(db.projection_caught_up(Duration::from_secs(30)).await);

    // Each question of a day: the counts, the statistics, the list and the entry.
    let asked = |date: NaiveDate| {
        let (app, ml, entree) = (&app, &ml, &entree);
        async move {
            let query = format!(
                r#"{{ rupturesComptes(date: "{date}") {{ mois total aTraiter traites }}
                     statsMissionsLocales(date: "{date}") {{ total aTraiter traites }}
                     ruptures(date: "{date}") {{ edges {{ node {{ id liste situation commentaire }} }} }}
                     rupture(id: {entree:?}, date: "{date}") {{ liste situation }} }}"#
            );
            let (_, answer) = graphql(app, Some(ml), &query).await;
            let data = &answer["data"];
            let listed = data["ruptures"]["edges"]
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["node"]["id"] == json!(entree))
                .map(|e| e["node"].clone());
            (
                [&data["rupturesComptes"][0]["aTraiter"], &data["rupturesComptes"][0]["traites"]]
                    .map(Value::clone),
                [&data["statsMissionsLocales"][0]["aTraiter"], &data["statsMissionsLocales"][0]["traites"]]
                    .map(Value::clone),
                listed,
                data["rupture"].clone(),
            )
        }
    };
    let (comptes, stats, listed, une) = asked(days_ago(1)).await;
    assert_eq!(comptes, [json!(2), json!(0)], "yesterday, nothing was recorded yet");
    assert_eq!(stats, comptes, "the statistics of yesterday say the same");
    assert_eq!(
        listed,
        Some(json!({ "id": entree, "liste": "A_TRAITER", "situation": null, "commentaire": null }))
    );
    assert_eq!(une, json!({ "liste": "A_TRAITER", "situation": null }));
    let (comptes, stats, listed, une) = asked(today()).await;
    assert_eq!(comptes, [json!(1), json!(1)], "today the situation counts");
    assert_eq!(stats, comptes);
    assert_eq!(
        listed,
        Some(json!({ "id": entree, "liste": "TRAITES", "situation": "RDV_PRIS", "commentaire": "vu" }))
    );
    assert_eq!(une, json!({ "liste": "TRAITES", "situation": "RDV_PRIS" }));
    projections.stop().await;
}

/// An ERP corrects a learner's birth date: the dossier is the corrected person's from then on. Their
/// entry in the queue moves to the new person key with what the advisors recorded under the old one,
/// a past day's question still reads those actions, the age and the eligibility (16–25) follow, and
/// erasing the person erases what was sealed under the old key too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_identity_correction_moves_the_entry_and_its_follow_up_to_the_corrected_person() {
    let (db, app, lyon, projections) = setup().await;
    let wrong = rupture("R-ID", "Moreau", 19, 20, LYON);
    push(&app, &lyon, json!([wrong.clone()])).await;
    assert!(db.projection_caught_up(Duration::from_secs(30)).await);
    let ml = key(&db, Role::MissionLocale, Some("MISSION_LOCALE:ML-LYON")).await;
    let entree_now = || {
        let pool = db.pool.clone();
        async move {
            sqlx::query_scalar::<_, String>(
                "SELECT r.entree FROM rm_ruptures r JOIN rm_dossiers d USING (dossier_id)
                 WHERE d.id_erp_apprenant = 'R-ID' AND r.active",
            )
            .fetch_optional(&pool)
            .await
            .unwrap()
        }
    };
    let old = entree_now().await.unwrap();
    let (_, done) = graphql(
        &app,
        Some(&ml),
        &format!(
            "mutation {{ renseignerSituation(entree: {old:?}, situation: CONTACTE_SANS_RETOUR, commentaire: \"messagerie\") {{ liste }} }}"
        ),
    )
    .await;
    assert_eq!(done["data"]["renseignerSituation"]["liste"], "A_RECONTACTER", "{done}");

    // The ERP corrects the birth date: one year older, still eligible.
    let mut corrected = wrong.clone();
    let born: NaiveDate = wrong["date_de_naissance_apprenant"].as_str().unwrap().parse().unwrap();
    corrected["date_de_naissance_apprenant"] = json!(born.with_year(born.year() - 1).unwrap());
    let (status, answer) = app.post("/api/v3/dossiers-apprenants", &lyon, &json!([corrected])).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["results"][0]["events"], json!(["IdentiteModifiee"]), "{answer}");
    assert!(db.projection_caught_up(Duration::from_secs(30)).await);
    let new = entree_now().await.unwrap();
    assert_ne!(new, old, "the entry is the corrected person's");
    let (_, queue) =
        graphql(&app, Some(&ml), "{ ruptures { edges { node { id age liste situation commentaire } } } }")
            .await;
    assert_eq!(
        queue["data"]["ruptures"]["edges"],
        json!([{ "node": { "id": new, "age": 20, "liste": "A_RECONTACTER", "situation": "CONTACTE_SANS_RETOUR", "commentaire": "messagerie" } }]),
        "one entry, the new person's, with the situation recorded under the old key: {queue}"
    );
    let history = |entree: &str, date: NaiveDate| {
        format!(
            r#"{{ rupture(id: {entree:?}, date: "{date}") {{ liste situation historique {{ type commentaire }} }} }}"#
        )
    };
    let (_, read) = graphql(&app, Some(&ml), &history(&new, today())).await;
    assert_eq!(
        read["data"]["rupture"],
        json!({ "liste": "A_RECONTACTER", "situation": "CONTACTE_SANS_RETOUR",
                "historique": [{ "type": "SituationRenseignee", "commentaire": "messagerie" }] }),
        "{read}"
    );
    // A past day's question reads the actions recorded under the old key too (here, tomorrow's
    // question of today is asked as a past day's by the counts of today).
    let (_, comptes) = graphql(
        &app,
        Some(&ml),
        &format!(r#"{{ rupturesComptes(date: "{}") {{ aTraiter aRecontacter }} }}"#, today()),
    )
    .await;
    assert_eq!(comptes["data"]["rupturesComptes"][0]["aRecontacter"], 1, "{comptes}");

    // An advisor acting on the new entry adds to the same history.
    let (_, done) = graphql(
        &app,
        Some(&ml),
        &format!("mutation {{ renseignerSituation(entree: {new:?}, situation: RDV_PRIS) {{ liste historique {{ situation }} }} }}"),
    )
    .await;
    assert_eq!(
        done["data"]["renseignerSituation"],
        json!({ "liste": "TRAITES", "historique": [{ "situation": "CONTACTE_SANS_RETOUR" }, { "situation": "RDV_PRIS" }] }),
        "{done}"
    );
    db.assert_rebuild_of("ruptures");

    // Corrected again, to 30 years old: no longer eligible, the entry leaves the queue.
    let mut older = wrong.clone();
    older["date_de_naissance_apprenant"] = json!(born.with_year(born.year() - 11).unwrap());
    push(&app, &lyon, json!([older])).await;
    assert!(db.projection_caught_up(Duration::from_secs(30)).await);
    let (_, queue) = graphql(&app, Some(&ml), "{ ruptures { edges { node { id } } } }").await;
    assert_eq!(queue["data"]["ruptures"]["edges"], json!([]), "{queue}");

    // Erasing the person erases what was sealed under the keys the dossier had before.
    let personne: String =
        sqlx::query_scalar("SELECT personne FROM rm_dossiers WHERE id_erp_apprenant = 'R-ID'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    let admin = key(&db, Role::Administrateur, None).await;
    let (_, erased) = graphql(
        &app,
        Some(&admin),
        &format!(
            r#"mutation {{ effacerPersonne(personne: {personne:?}, motif: "demande", baseLegale: DROIT_A_L_EFFACEMENT) {{ position }} }}"#
        ),
    )
    .await;
    assert!(erased["data"]["effacerPersonne"]["position"].is_i64(), "{erased}");
    let anciennes: Value = sqlx::query_scalar(
        "SELECT data::jsonb -> 'anciennes' FROM events WHERE event_type = 'PersonneEffacee'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    let mut expected = vec![old.clone(), new.clone()];
    expected.sort();
    assert_eq!(anciennes, json!(expected), "the keys of the dossier before");
    let destroyed: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM personnes_cles WHERE personne = ANY($1) AND cle IS NULL AND efface_le IS NOT NULL",
    )
    .bind([old.clone(), new.clone(), personne.clone()])
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(destroyed, 3, "every key the person's data was sealed under is destroyed");
    assert!(db.projection_caught_up(Duration::from_secs(30)).await);
    let commentaires: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM rm_rupture_actions WHERE entree = ANY($1) AND data::jsonb ? 'commentaire'",
    )
    .bind([old, new])
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(commentaires, 0, "what the advisors wrote of the person is gone from the read model");
    db.assert_rebuild_gives_the_live_checksum();
    projections.stop().await;
}
