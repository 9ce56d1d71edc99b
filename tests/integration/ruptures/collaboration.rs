//! A CFA's collaboration settings and what its Mission Locale sees (domain.md §11): everything before
//! activation; once activated, only the entries it sent (a request, or automatically at 45 days);
//! each day read with the settings of its time; a rebuild agrees.

use crate::common;

use std::time::Duration;

use common::gql::{graphql, key};
use serde_json::{Value, json};
use tba::auth::keys::Role;

use super::{LYON, days_ago, entree_of, erase, last_year, push, rupture, setup};

fn ids(answer: &Value) -> Vec<String> {
    let mut ids: Vec<String> = answer["data"]["ruptures"]["edges"]
        .as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .map(|e| e["node"]["dossier"]["idErpApprenant"].as_str().unwrap_or("?").to_owned())
        .collect();
    ids.sort();
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_activated_cfa_shows_its_mission_locale_only_what_it_sent() {
    let (db, app, lyon, projections) = setup().await;
    push(
        &app,
        &lyon,
        json!([rupture("C-1", "Recent", 19, 20, LYON), rupture("C-2", "Ancien", 19, 48, LYON)]),
    )
    .await;
    assert!(db.projection_caught_up(Duration::from_secs(30)).await);
    let ml = key(&db, Role::MissionLocale, Some("MISSION_LOCALE:ML-LYON")).await;
    let queue = |date: Option<chrono::NaiveDate>| {
        let date = date.map(|d| format!("(date: \"{d}\")")).unwrap_or_default();
        format!("{{ ruptures{date} {{ edges {{ node {{ partagee dossier {{ idErpApprenant }} }} }} }} }}")
    };
    let regler = |active: bool, auto: bool| {
        format!(
            "mutation {{ reglerCollaboration(active: {active}, envoiAuto45Jours: {auto}) {{ active envoiAuto45Jours position }} }}"
        )
    };
    assert_eq!(
        ids(&graphql(&app, Some(&ml), &queue(None)).await.1),
        ["C-1", "C-2"],
        "not activated: everything"
    );

    let (_, set) = graphql(&app, Some(&lyon), &regler(true, false)).await;
    assert!(set["data"]["reglerCollaboration"]["position"].is_i64(), "{set}");
    let (_, again) = graphql(&app, Some(&lyon), &regler(true, false)).await;
    assert_eq!(again["data"]["reglerCollaboration"]["position"], Value::Null, "unchanged: nothing recorded");
    assert!(db.projection_caught_up(Duration::from_secs(30)).await);
    assert_eq!(
        ids(&graphql(&app, Some(&ml), &queue(None)).await.1),
        Vec::<String>::new(),
        "activated: nothing sent"
    );
    let comptes = graphql(&app, Some(&ml), "{ rupturesComptes { total } }").await.1;
    assert_eq!(comptes["data"]["rupturesComptes"][0]["total"], 0, "{comptes}");
    let entree = entree_of(&db, "C-1").await;
    let (_, hidden) = graphql(&app, Some(&ml), &format!("{{ rupture(id: {entree:?}) {{ id }} }}")).await;
    assert_eq!(hidden["data"]["rupture"], Value::Null, "{hidden}");
    let cfa_sees = graphql(&app, Some(&lyon), &queue(None)).await.1;
    assert_eq!(ids(&cfa_sees), ["C-1", "C-2"], "the CFA sees all its entries: {cfa_sees}");
    assert_eq!(cfa_sees["data"]["ruptures"]["edges"][0]["node"]["partagee"], false);

    // A request sends the entry; the automatic send, the ruptures of 45 days or more.
    let c1 = db.dossier_id("C-1").await;
    let asked = graphql(
        &app,
        Some(&lyon),
        &format!("mutation {{ demanderSuiviConjoint(dossier: {c1:?}, motifs: [LOGEMENT], telephoneVerifie: \"0612345678\") {{ partagee }} }}"),
    )
    .await
    .1;
    assert_eq!(asked["data"]["demanderSuiviConjoint"]["partagee"], true, "{asked}");
    assert_eq!(ids(&graphql(&app, Some(&ml), &queue(None)).await.1), ["C-1"]);
    let stats = graphql(&app, Some(&ml), "{ statsMissionsLocales { total } }").await.1;
    assert_eq!(stats["data"]["statsMissionsLocales"][0]["total"], 1, "{stats}");
    graphql(&app, Some(&lyon), &regler(true, true)).await;
    assert!(db.projection_caught_up(Duration::from_secs(30)).await);
    assert_eq!(ids(&graphql(&app, Some(&ml), &queue(None)).await.1), ["C-1", "C-2"]);
    let (_, settings) =
        graphql(&app, Some(&lyon), "{ reglageCollaboration { active envoiAuto45Jours } }").await;
    assert_eq!(settings["data"]["reglageCollaboration"], json!({ "active": true, "envoiAuto45Jours": true }));
    // A refusal holds back what the automatic send would show.
    let c2 = db.dossier_id("C-2").await;
    let refus = format!(
        "mutation {{ refuserPartage(dossier: {c2:?}, motif: \"suivi par notre référente\") {{ partagee partageRefuse historique {{ type motifRefus }} }} }}"
    );
    let (_, refused) = graphql(&app, Some(&lyon), &refus).await;
    assert_eq!(
        refused["data"]["refuserPartage"],
        json!({ "partagee": false, "partageRefuse": true,
                "historique": [{ "type": "PartageRefuse", "motifRefus": "suivi par notre référente" }] }),
        "{refused}"
    );
    assert_eq!(ids(&graphql(&app, Some(&ml), &queue(None)).await.1), ["C-1"]);

    // Yesterday, nothing was set: yesterday's queue showed everything.
    graphql(&app, Some(&lyon), &regler(true, false)).await;
    assert!(db.projection_caught_up(Duration::from_secs(30)).await);
    assert_eq!(ids(&graphql(&app, Some(&ml), &queue(Some(days_ago(1)))).await.1), ["C-1", "C-2"]);
    assert_eq!(ids(&graphql(&app, Some(&ml), &queue(None)).await.1), ["C-1"]);
    projections.stop().await;
    db.assert_rebuild_of("ruptures");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_activated_mission_locale_sees_the_ruptures_from_180_days_before_its_activation() {
    let (db, app, lyon, projections) = setup().await;
    let old = last_year("A-OLD", "Ancien");
    push(&app, &lyon, json!([old, rupture("A-NEW", "Recent", 19, 20, LYON)])).await;
    assert!(db.projection_caught_up(Duration::from_secs(30)).await);
    let ml = key(&db, Role::MissionLocale, Some("MISSION_LOCALE:ML-LYON")).await;
    let queue = |date: Option<chrono::NaiveDate>| {
        let date = date.map(|d| format!("(date: \"{d}\")")).unwrap_or_default();
        format!("{{ ruptures{date} {{ edges {{ node {{ dossier {{ idErpApprenant }} }} }} }} }}")
    };
    assert_eq!(
        ids(&graphql(&app, Some(&ml), &queue(None)).await.1),
        ["A-NEW", "A-OLD"],
        "not activated: all"
    );
    let activate = "mutation { activerMissionLocale { activeLe position } }";
    let (_, activated) = graphql(&app, Some(&ml), activate).await;
    assert_eq!(activated["data"]["activerMissionLocale"]["activeLe"], json!(days_ago(0)), "{activated}");
    assert!(activated["data"]["activerMissionLocale"]["position"].is_i64(), "{activated}");
    let (_, again) = graphql(&app, Some(&ml), activate).await;
    assert_eq!(again["data"]["activerMissionLocale"]["position"], Value::Null, "once: {again}");
    let cfa = graphql(&app, Some(&lyon), activate).await.1;
    assert_eq!(cfa["errors"][0]["extensions"]["code"], "FORBIDDEN", "{cfa}");
    assert!(db.projection_caught_up(Duration::from_secs(30)).await);
    assert_eq!(ids(&graphql(&app, Some(&ml), &queue(None)).await.1), ["A-NEW"], "older than 180 days before");
    assert_eq!(ids(&graphql(&app, Some(&ml), &queue(Some(days_ago(1)))).await.1), ["A-NEW", "A-OLD"]);
    // Sent by its CFA, an older rupture is the Mission Locale's again.
    let a_old = db.dossier_id("A-OLD").await;
    let asked = graphql(
        &app,
        Some(&lyon),
        &format!("mutation {{ demanderSuiviConjoint(dossier: {a_old:?}, motifs: [SANTE], telephoneVerifie: \"0612345678\") {{ partagee }} }}"),
    )
    .await
    .1;
    assert_eq!(asked["data"]["demanderSuiviConjoint"]["partagee"], true, "{asked}");
    assert_eq!(ids(&graphql(&app, Some(&ml), &queue(None)).await.1), ["A-NEW", "A-OLD"]);
    projections.stop().await;
    db.assert_rebuild_of("ruptures");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_carries_its_details_and_the_mission_locale_reads_the_verified_contacts() {
    let (db, app, lyon, projections) = setup().await;
    push(&app, &lyon, json!([rupture("D-1", "Detail", 19, 20, LYON)])).await;
    assert!(db.projection_caught_up(Duration::from_secs(30)).await);
    let ml = key(&db, Role::MissionLocale, Some("MISSION_LOCALE:ML-LYON")).await;
    let d1 = db.dossier_id("D-1").await;
    let request = |referent: &str| {
        format!(
            r#"mutation {{ demanderSuiviConjoint(dossier: {d1:?}, motifs: [LOGEMENT, SANTE], telephoneVerifie: "06 98 76 54 32",
                 commentairesMotifs: [{{ motif: LOGEMENT, commentaire: "hébergé chez un ami" }}], encoreAuCfa: false,
                 causeRupture: "fermeture de l'entreprise", referent: {referent},
                 emailVerifie: "jeune@example.fr", adresseVerifiee: "3 rue des Lilas, 69003 Lyon") {{ id }} }}"#
        )
    };
    let refused =
        graphql(&app, Some(&lyon), &request(r#"{ nom: "Durand", prenom: "Anne", telephone: "12" }"#)).await.1;
    assert_eq!(refused["errors"][0]["extensions"]["field"], "referent.telephone", "{refused}");
    let (_, asked) = graphql(
        &app,
        Some(&lyon),
        &request(r#"{ nom: "Durand", prenom: "Anne", email: "a.durand@cfa.fr" }"#),
    )
    .await;
    let entree = asked["data"]["demanderSuiviConjoint"]["id"].as_str().expect("an entry").to_owned();
    let read = format!(
        "{{ rupture(id: {entree:?}) {{ contactsVerifies {{ telephone email adresse }}
             historique {{ commentairesMotifs {{ motif commentaire }} encoreAuCfa causeRupture
                          referent {{ nom prenom email }} emailVerifie adresseVerifiee }} }} }}"
    );
    let (_, seen) = graphql(&app, Some(&ml), &read).await;
    assert_eq!(
        seen["data"]["rupture"],
        json!({
            "contactsVerifies": { "telephone": "0698765432", "email": "jeune@example.fr", "adresse": "3 rue des Lilas, 69003 Lyon" },
            "historique": [{
                "commentairesMotifs": [{ "motif": "LOGEMENT", "commentaire": "hébergé chez un ami" }],
                "encoreAuCfa": false,
                "causeRupture": "fermeture de l'entreprise",
                "referent": { "nom": "Durand", "prenom": "Anne", "email": "a.durand@cfa.fr" },
                "emailVerifie": "jeune@example.fr",
                "adresseVerifiee": "3 rue des Lilas, 69003 Lyon"
            }]
        }),
        "{seen}"
    );
    projections.stop().await;
    db.assert_rebuild_of("ruptures");

    // Erased, what the CFA verified and wrote no longer opens.
    let projections = tba::read_models::Projections::start(&app.store);
    let admin = key(&db, Role::Administrateur, None).await;
    erase(&db, &app, &admin, &entree).await;
    let (_, erased) = graphql(&app, Some(&admin), &read).await;
    assert_eq!(erased["data"]["rupture"]["contactsVerifies"], Value::Null, "{erased}");
    let action = &erased["data"]["rupture"]["historique"][0];
    assert_eq!(
        (
            &action["referent"],
            &action["emailVerifie"],
            &action["causeRupture"],
            &action["commentairesMotifs"]
        ),
        (&Value::Null, &Value::Null, &Value::Null, &json!([])),
        "{erased}"
    );
    assert_eq!(action["encoreAuCfa"], false, "not personal: it stays");
    projections.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_statistics_count_contacts_appointments_discoveries_requests_and_engaged_missions_locales() {
    let (db, app, lyon, projections) = setup().await;
    push(&app, &lyon, json!([rupture("S-1", "Stat", 19, 20, LYON), rupture("S-2", "Autre", 19, 20, LYON)]))
        .await;
    assert!(db.projection_caught_up(Duration::from_secs(30)).await);
    let ml = key(&db, Role::MissionLocale, Some("MISSION_LOCALE:ML-LYON")).await;
    let admin = key(&db, Role::Administrateur, None).await;
    let s1 = db.dossier_id("S-1").await;
    let asked = graphql(
        &app,
        Some(&lyon),
        &format!("mutation {{ demanderSuiviConjoint(dossier: {s1:?}, motifs: [SANTE], telephoneVerifie: \"0612345678\") {{ id }} }}"),
    )
    .await
    .1;
    let entree = asked["data"]["demanderSuiviConjoint"]["id"].as_str().expect("an entry").to_owned();
    let qualify = |entree: &str, rest: &str| {
        format!("mutation {{ renseignerSituation(entree: {entree:?}, {rest}) {{ id }} }}")
    };
    graphql(&app, Some(&ml), &qualify(&entree, "situation: RDV_PRIS, connaissance: NON_CONNU")).await;
    let figures = "joints rdvPris decouverts demandes demandesRepondues7Jours tauxTraitement";
    let (_, stats) =
        graphql(&app, Some(&ml), &format!("{{ statsMissionsLocales {{ {figures} engagee }} }}")).await;
    assert_eq!(
        stats["data"]["statsMissionsLocales"][0],
        json!({ "joints": 1, "rdvPris": 1, "decouverts": 1, "demandes": 1, "demandesRepondues7Jours": 1,
                "tauxTraitement": 0.5, "engagee": false }),
        "{stats}"
    );
    let national =
        format!("{{ statsNational {{ region libelle missionsLocales missionsLocalesEngagees {figures} }} }}");
    let (_, before) = graphql(&app, Some(&admin), &national).await;
    assert_eq!(before["data"]["statsNational"]["missionsLocalesEngagees"], 0, "{before}");
    assert_eq!(before["data"]["statsNational"]["missionsLocales"], 2, "{before}");
    let other: String = sqlx::query_scalar("SELECT entree FROM rm_ruptures WHERE entree <> $1")
        .bind(&entree)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    graphql(&app, Some(&ml), &qualify(&other, "situation: CONTACTE_SANS_RETOUR")).await;
    let (_, after) = graphql(&app, Some(&admin), &national).await;
    assert_eq!(
        after["data"]["statsNational"],
        json!({ "region": "", "libelle": "France", "missionsLocales": 2, "missionsLocalesEngagees": 1,
                "joints": 1, "rdvPris": 1, "decouverts": 1, "demandes": 1, "demandesRepondues7Jours": 1,
                "tauxTraitement": 1.0 }),
        "{after}"
    );
    let refused = graphql(&app, Some(&ml), &national).await.1;
    assert_eq!(refused["errors"][0]["extensions"]["code"], "FORBIDDEN", "{refused}");
    projections.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cfa_exports_the_ruptures_of_its_dossiers_with_the_collaborations_state() {
    let (db, app, lyon, projections) = setup().await;
    push(&app, &lyon, json!([rupture("X-1", "Export", 19, 20, LYON)])).await;
    assert!(db.projection_caught_up(Duration::from_secs(30)).await);
    let x1 = db.dossier_id("X-1").await;
    graphql(
        &app,
        Some(&lyon),
        &format!("mutation {{ demanderSuiviConjoint(dossier: {x1:?}, motifs: [SANTE], telephoneVerifie: \"0612345678\") {{ id }} }}"),
    )
    .await;
    let get = |key: &str, path: &str| {
        let request = reqwest::Client::new().get(app.url(path)).bearer_auth(key);
        async move { request.send().await.unwrap() }
    };
    let own = format!(
        "/api/v1/organismes/{}:{}/ruptures/export?format=csv",
        common::CFA_LYON.0,
        common::CFA_LYON.1
    );
    let csv = get(&lyon, &own).await;
    assert_eq!(csv.status(), 200);
    let text = csv.text().await.unwrap();
    let lines: Vec<&str> = text.trim_start_matches('\u{feff}').lines().collect();
    assert!(lines[0].ends_with(";suivi_conjoint;collaboration;partagee;entree"), "{}", lines[0]);
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[1].contains("EXPORT") && lines[1].contains(";oui;COLLAB_DEMANDEE;oui;"), "{}", lines[1]);
    let paris = db.organisme_key(common::CFA_PARIS).await;
    assert_eq!(get(&paris, &own).await.status(), 403);
    let bad = get(&lyon, "/api/v1/organismes/lyon/ruptures/export").await;
    assert_eq!(bad.status(), 400);
    assert!(bad.text().await.unwrap().contains("organisme"));
    let exports: i64 =
        sqlx::query_scalar("SELECT count(*) FROM access_log WHERE action = 'export' AND subject = $1")
            .bind(format!("{}:{}", common::CFA_LYON.0, common::CFA_LYON.1))
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(exports, 1);
    projections.stop().await;
}
