//! The collaboration's recaps (domain.md §11) end to end: produced from the log by `tba recapitulatifs
//! envoyer`, readable through GraphQL without SMTP, e-mailed through an SMTP server once there is one
//! (a small one this test starts), each recap once.

use crate::common;

use std::time::Duration;

use common::gql::{code, graphql, key};
use common::smtp::SmtpServer;
use serde_json::{Value, json};
use tba::auth::keys::Role;

use super::{LYON, entree_of, push, rupture, setup};

const RECAPS: &str = "{ recapitulatifs { genre destinataire sujet texte chiffres adresse envoyeLe } }";

fn genres(answer: &Value) -> Vec<String> {
    let mut genres: Vec<String> = answer["data"]["recapitulatifs"]
        .as_array()
        .unwrap_or_else(|| panic!("recaps: {answer}"))
        .iter()
        .map(|r| r["genre"].as_str().unwrap_or("?").to_owned())
        .collect();
    genres.sort();
    genres
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recaps_are_produced_from_the_log_read_through_graphql_and_e_mailed_once() {
    let (db, app, lyon, projections) = setup().await;
    push(
        &app,
        &lyon,
        json!([rupture("M-1", "Demande", 19, 20, LYON), rupture("M-2", "Suivi", 19, 30, LYON)]),
    )
    .await;
    assert!(db.projection_caught_up(Duration::from_secs(30)).await);
    let ml = key(&db, Role::MissionLocale, Some("MISSION_LOCALE:ML-LYON")).await;
    let regler = "mutation { reglerCollaboration(active: false, envoiAuto45Jours: false,
                  emailRecapitulatifs: \"referente@cfa-lyon.fr\") { emailRecapitulatifs } }";
    let (_, set) = graphql(&app, Some(&lyon), regler).await;
    assert_eq!(set["data"]["reglerCollaboration"]["emailRecapitulatifs"], "referente@cfa-lyon.fr", "{set}");
    let (_, wrong) = graphql(
        &app,
        Some(&lyon),
        "mutation { reglerCollaboration(active: false, envoiAuto45Jours: false, emailRecapitulatifs: \"cfa\") { active } }",
    )
    .await;
    assert_eq!(wrong["errors"][0]["extensions"]["field"], "emailRecapitulatifs", "{wrong}");

    // The CFA asks for a joint follow-up of M-1; the Mission Locale qualifies M-2 and writes on it.
    let m1 = db.dossier_id("M-1").await;
    let (_, asked) = graphql(
        &app,
        Some(&lyon),
        &format!("mutation {{ demanderSuiviConjoint(dossier: {m1:?}, motifs: [LOGEMENT], telephoneVerifie: \"0612345678\") {{ id }} }}"),
    )
    .await;
    assert!(asked["data"]["demanderSuiviConjoint"]["id"].is_string(), "{asked}");
    let m2 = entree_of(&db, "M-2").await;
    let (_, done) = graphql(
        &app,
        Some(&ml),
        &format!("mutation {{ renseignerSituation(entree: {m2:?}, situation: RDV_PRIS) {{ situation }} }}"),
    )
    .await;
    assert_eq!(done["data"]["renseignerSituation"]["situation"], "RDV_PRIS", "{done}");
    let (_, sent) = graphql(
        &app,
        Some(&ml),
        &format!(
            "mutation {{ envoyerMessage(entree: {m2:?}, texte: \"Rendez-vous pris lundi.\") {{ position }} }}"
        ),
    )
    .await;
    assert!(sent["data"]["envoyerMessage"]["position"].is_i64(), "{sent}");
    assert!(db.projection_caught_up(Duration::from_secs(30)).await);
    // The request is two days old as the queue knows it (knowledge time cannot be set back through the
    // API): 24 h later, still unanswered.
    sqlx::query(
        "UPDATE rm_rupture_actions SET recorded_at = recorded_at - interval '2 days'
         WHERE event_type = 'SuiviConjointDemande'",
    )
    .execute(&db.pool)
    .await
    .unwrap();

    // Without SMTP: produced, readable, not sent. (Periods end on whole seconds: a second later, what
    // was done is before the end.)
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let au = chrono::Utc::now().to_rfc3339();
    let run = |env: Vec<(&'static str, String)>| {
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let output = db.tba_with(&["recapitulatifs", "envoyer", "--au", au.as_str()], &env);
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let first = tokio::task::block_in_place(|| run(Vec::new()));
    assert!(first.contains("3 recap(s) produced"), "{first}");
    let (_, recaps) = graphql(&app, Some(&ml), RECAPS).await;
    assert_eq!(genres(&recaps), ["DEMANDES_EN_ATTENTE", "HEBDOMADAIRE_MISSION_LOCALE"], "{recaps}");
    let attente = recaps["data"]["recapitulatifs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["genre"] == "DEMANDES_EN_ATTENTE")
        .unwrap()
        .clone();
    assert_eq!(attente["destinataire"], "MISSION_LOCALE:ML-LYON");
    assert_eq!(attente["chiffres"]["demandes"], 1, "{attente}");
    assert_eq!((&attente["adresse"], &attente["envoyeLe"]), (&json!("contact@ml-lyon.fr"), &Value::Null));
    assert!(!attente["texte"].as_str().unwrap().contains("DEMANDE"), "no young person's name: {attente}");
    let (_, cfa) = graphql(&app, Some(&lyon), RECAPS).await;
    assert_eq!(genres(&cfa), ["ACTIONS_MISSIONS_LOCALES"], "{cfa}");
    let actions = &cfa["data"]["recapitulatifs"][0];
    assert_eq!(
        actions["chiffres"],
        json!({ "situations": 1, "par_situation": [["RDV_PRIS", 1]], "messages": 1 })
    );
    assert_eq!(actions["adresse"], "referente@cfa-lyon.fr");

    // With SMTP: nothing produced again, the three sent, once.
    let smtp = SmtpServer::start().await;
    let second = tokio::task::block_in_place(|| run(vec![("TBA_SMTP_URL", smtp.url.clone())]));
    assert!(second.contains("0 recap(s) produced") && second.contains("3 recap(s) e-mailed"), "{second}");
    let mut to: Vec<String> = smtp.recus().into_iter().flat_map(|r| r.destinataires).collect();
    to.sort();
    assert_eq!(to, ["contact@ml-lyon.fr", "contact@ml-lyon.fr", "referente@cfa-lyon.fr"]);
    let mail = smtp.recus().into_iter().find(|r| r.destinataires == ["referente@cfa-lyon.fr"]).unwrap();
    assert!(mail.donnees.contains("Subject: tba : les Missions Locales ont"), "{}", mail.donnees);
    let third = tokio::task::block_in_place(|| run(vec![("TBA_SMTP_URL", smtp.url.clone())]));
    assert!(third.contains("0 recap(s) e-mailed"), "{third}");
    assert_eq!(smtp.recus().len(), 3);
    let (_, recaps) = graphql(&app, Some(&ml), RECAPS).await;
    assert!(recaps["data"]["recapitulatifs"].as_array().unwrap().iter().all(|r| r["envoyeLe"].is_string()));

    // Who reads which: an administrator names the recipient; an analyst has none.
    let admin = key(&db, Role::Administrateur, None).await;
    let (_, unnamed) = graphql(&app, Some(&admin), RECAPS).await;
    assert_eq!(unnamed["errors"][0]["extensions"]["field"], "destinataire", "{unnamed}");
    let named = "{ recapitulatifs(destinataire: \"ORGANISME:0693456K:12345678901234\") { genre } }";
    assert_eq!(genres(&graphql(&app, Some(&admin), named).await.1), ["ACTIONS_MISSIONS_LOCALES"]);
    assert_eq!(code(&graphql(&app, Some(&ml), named).await.1), "FORBIDDEN");
    let analyst = key(&db, Role::Analyst, None).await;
    assert_eq!(code(&graphql(&app, Some(&analyst), RECAPS).await.1), "FORBIDDEN");
    projections.stop().await;
}
