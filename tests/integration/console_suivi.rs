//! The collaboration of a CFA and a Mission Locale in the console (domain.md §11, §14): on a person's
//! sheet the CFA asks for a joint follow-up with verified contacts and a referent, both sides write in
//! the thread and mark it read, the CFA refuses to share another entry; each refusal names its field
//! and records nothing; another Mission Locale reads and writes nothing. Over HTTP, then the CFA's
//! request through Chromium (axe-core on both sides' sheets).

use crate::common;

use std::time::Duration;

use common::browser::Browser;
use common::{CFA_LYON, TestDb};
use reqwest::StatusCode;
use serde_json::json;

use crate::console::{csrf_of, get, post, signed_in};
use crate::ruptures::{LYON, entree_of, push, rupture, setup};

/// The follow-up events recorded about `entree`.
async fn recorded(db: &TestDb, entree: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM events WHERE stream_id = $1")
        .bind(format!("suivi-{entree}"))
        .fetch_one(&db.pool)
        .await
        .unwrap()
}

async fn caught_up(db: &TestDb) {
    assert!(db.projection_caught_up(Duration::from_secs(30)).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cfa_and_a_mission_locale_work_together_on_a_sheet() {
    let (db, app, lyon, projections) = setup().await;
    push(
        &app,
        &lyon,
        json!([rupture("R-1", "Adulte", 19, 20, LYON), rupture("R-2", "Discret", 20, 30, LYON)]),
    )
    .await;
    caught_up(&db).await;
    let (entree, autre) = (entree_of(&db, "R-1").await, entree_of(&db, "R-2").await);
    let base = app.address.clone();
    let organisme = format!("{}:{}", CFA_LYON.0, CFA_LYON.1);
    let cfa = signed_in(&db, &base, "referente@cfa-lyon.fr", &["--organisme", &organisme]).await;
    let ml = signed_in(
        &db,
        &base,
        "conseil@ml-lyon.fr",
        &["--role", "MISSION_LOCALE", "--scope", "MISSION_LOCALE:ML-LYON"],
    )
    .await;
    let paris = signed_in(
        &db,
        &base,
        "conseil@ml-paris.fr",
        &["--role", "MISSION_LOCALE", "--scope", "MISSION_LOCALE:ML-PARIS"],
    )
    .await;
    let fiche = format!("/console/ruptures/{entree}");

    // The CFA's sheet: its forms, not the Mission Locale's.
    let page = get(&base, &fiche, &cfa).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("/suivi-conjoint") && page.body.contains("/refus"));
    assert!(!page.body.contains("/situation\""), "the CFA does not qualify");
    assert!(page.body.contains("Pas encore de demande du CFA"));
    let csrf = csrf_of(&page.body);

    // A request without a verified phone, or without the token, records nothing.
    let before = recorded(&db, &entree).await;
    let refused =
        post(&base, &format!("{fiche}/suivi-conjoint"), &cfa, &[("csrf", &csrf), ("motif", "LOGEMENT")])
            .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(refused.body.contains("telephoneVerifie"), "{}", refused.body);
    let forged = post(
        &base,
        &format!("{fiche}/suivi-conjoint"),
        &cfa,
        &[("csrf", "forged"), ("motif", "LOGEMENT"), ("telephone", "0611223344")],
    )
    .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert_eq!(recorded(&db, &entree).await, before);

    // The request, then a message.
    let demande = [
        ("csrf", csrf.as_str()),
        ("motif", "LOGEMENT"),
        ("motif", "MOBILITE"),
        ("commentaire_LOGEMENT", "Hébergé chez un ami"),
        ("telephone", "0611223344"),
        ("email", "jeune@example.org"),
        ("encore_au_cfa", "non"),
        ("referent_nom", "Martin"),
        ("referent_prenom", "Claire"),
        ("referent_telephone", "0472000001"),
    ];
    let sent = post(&base, &format!("{fiche}/suivi-conjoint"), &cfa, &demande).await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.body);
    let message = [("csrf", csrf.as_str()), ("texte", "Pouvez-vous l'appeler cette semaine ?")];
    assert_eq!(post(&base, &format!("{fiche}/message"), &cfa, &message).await.status, StatusCode::SEE_OTHER);
    caught_up(&db).await;

    // The Mission Locale's sheet: where the collaboration stands, the verified contacts, the referent,
    // the message not read yet.
    let page = get(&base, &fiche, &ml).await;
    assert_eq!(page.status, StatusCode::OK);
    for shown in [
        "Suivi conjoint demandé par le CFA",
        "0611223344",
        "jeune@example.org",
        "Claire Martin",
        "Pouvez-vous l&#39;appeler cette semaine ?",
        "1 non lu",
    ] {
        assert!(page.body.contains(shown), "{shown} on the sheet: {}", page.body);
    }
    assert!(page.body.contains("/situation\"") && !page.body.contains("/suivi-conjoint"));
    let csrf_ml = csrf_of(&page.body);
    let lu = post(&base, &format!("{fiche}/lu"), &ml, &[("csrf", &csrf_ml)]).await;
    assert_eq!(lu.status, StatusCode::SEE_OTHER);
    let reponse = [("csrf", csrf_ml.as_str()), ("texte", "Rendez-vous fixé jeudi.")];
    assert_eq!(post(&base, &format!("{fiche}/message"), &ml, &reponse).await.status, StatusCode::SEE_OTHER);
    caught_up(&db).await;
    let page = get(&base, &fiche, &ml).await;
    assert!(!page.body.contains("non lu"), "the Mission Locale read the thread");
    let empty = post(&base, &format!("{fiche}/message"), &ml, &[("csrf", &csrf_ml), ("texte", "  ")]).await;
    assert_eq!(empty.status, StatusCode::BAD_REQUEST);
    assert!(empty.body.contains("texte"), "{}", empty.body);

    // The CFA sees the answer, not read yet; GraphQL says the same.
    let page = get(&base, &fiche, &cfa).await;
    assert!(page.body.contains("Rendez-vous fixé jeudi.") && page.body.contains("1 non lu"), "{}", page.body);
    let query = format!(
        "{{ rupture(id: \"{entree}\") {{ collaboration nonLus contactsVerifies {{ telephone }} }} }}"
    );
    let (_, answer) = common::gql::graphql(&app, Some(&lyon), &query).await;
    assert_eq!(
        answer["data"]["rupture"],
        json!({ "collaboration": "COLLAB_DEMANDEE", "nonLus": 1, "contactsVerifies": { "telephone": "0611223344" } }),
        "{answer}"
    );

    // Another Mission Locale neither reads nor writes.
    assert_eq!(get(&base, &fiche, &paris).await.status, StatusCode::NOT_FOUND);
    let page = get(&base, "/console", &paris).await;
    let intrus = [("csrf", csrf_of(&page.body)), ("texte", "Bonjour".to_owned())];
    let intrus: Vec<(&str, &str)> = intrus.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let before = recorded(&db, &entree).await;
    assert!(post(&base, &format!("{fiche}/message"), &paris, &intrus).await.status.is_client_error());
    assert_eq!(recorded(&db, &entree).await, before);

    // The CFA refuses to share the other entry: a reason is needed; then its Mission Locale sees it no more.
    let autre_fiche = format!("/console/ruptures/{autre}");
    assert_eq!(get(&base, &autre_fiche, &ml).await.status, StatusCode::OK);
    let sans_motif =
        post(&base, &format!("{autre_fiche}/refus"), &cfa, &[("csrf", &csrf), ("motif", "")]).await;
    assert_eq!(sans_motif.status, StatusCode::BAD_REQUEST);
    assert!(sans_motif.body.contains("motif"), "{}", sans_motif.body);
    let refus = [("csrf", csrf.as_str()), ("motif", "Suivi par notre assistante sociale")];
    assert_eq!(
        post(&base, &format!("{autre_fiche}/refus"), &cfa, &refus).await.status,
        StatusCode::SEE_OTHER
    );
    caught_up(&db).await;
    let page = get(&base, &autre_fiche, &cfa).await;
    assert!(page.body.contains("partage refusé par le CFA"), "{}", page.body);
    assert!(page.body.contains("Suivi par notre assistante sociale"), "in the history");
    assert_eq!(get(&base, &autre_fiche, &ml).await.status, StatusCode::NOT_FOUND);
    projections.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cfa_asks_for_a_joint_follow_up_in_a_browser() {
    let (db, app, lyon, projections) = setup().await;
    push(&app, &lyon, json!([rupture("R-1", "Adulte", 19, 20, LYON)])).await;
    caught_up(&db).await;
    let entree = entree_of(&db, "R-1").await;
    let organisme = format!("{}:{}", CFA_LYON.0, CFA_LYON.1);
    signed_in(&db, &app.address, "referente@cfa-lyon.fr", &["--organisme", &organisme]).await;
    signed_in(
        &db,
        &app.address,
        "conseil@ml-lyon.fr",
        &["--role", "MISSION_LOCALE", "--scope", "MISSION_LOCALE:ML-LYON"],
    )
    .await;
    let browser = Browser::start().await;
    browser.sign_in(&app.url(""), "referente@cfa-lyon.fr", "un mot de passe sûr").await;
    browser.goto(&app.url(&format!("/console/ruptures/{entree}"))).await;
    browser.check("fiche-cfa").await;
    browser.click("label[for=motif-SANTE]").await;
    browser.type_into("#telephone", "06 11 22 33 44").await;
    browser.type_into("#referent_nom", "Martin").await;
    browser.type_into("#referent_prenom", "Claire").await;
    browser.click("#demande button[type=submit]").await;
    browser.wait_text("[role=status]", "Demande de suivi conjoint envoyée").await;
    assert_eq!(
        browser.wait_text("#collaboration", "Suivi conjoint demandé par le CFA").await,
        "Suivi conjoint demandé par le CFA"
    );
    browser.type_into("#texte", "Il attend votre appel.").await;
    browser.click("form[action$='/message'] button[type=submit]").await;
    browser.wait_text("#fil", "Il attend votre appel.").await;
    browser.check("fiche-cfa-demande").await;
    drop(browser);

    let browser = Browser::start().await;
    browser.sign_in(&app.url(""), "conseil@ml-lyon.fr", "un mot de passe sûr").await;
    browser.goto(&app.url(&format!("/console/ruptures/{entree}"))).await;
    browser.wait_text("#referent", "Claire Martin").await;
    assert!(browser.text("#non-lus").await.to_lowercase().contains("1 non lu"));
    browser.check("fiche-ml-demande").await;
    drop(browser);
    projections.stop().await;
}
