//! The console in a real browser (headless Chromium through WebDriver): a Mission Locale advisor
//! accepts their invitation, signs in, reads the queue, qualifies an entry and sees it move list; a
//! wrong password shows its error; each page passes axe-core (no serious or critical violation) and is
//! saved as a screenshot under `target/screenshots/`.

use crate::common;

use std::time::Duration;

use common::browser::Browser;
use serde_json::json;

use crate::ruptures::{LYON, push, rupture, setup};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_advisor_works_the_queue_in_a_browser() {
    let (db, app, lyon, projections) = setup().await;
    push(
        &app,
        &lyon,
        json!([rupture("R-1", "Adulte", 19, 20, LYON), rupture("R-2", "Mineur", 17, 40, LYON)]),
    )
    .await;
    assert!(db.projection_caught_up(Duration::from_secs(30)).await);
    let created = db.tba(&[
        "comptes",
        "create",
        "--email",
        "conseil@ml-lyon.fr",
        "--role",
        "MISSION_LOCALE",
        "--scope",
        "MISSION_LOCALE:ML-LYON",
        "--url",
        &app.url(""),
    ]);
    assert!(created.status.success(), "{created:?}");
    let invitation = common::stdout(&created).lines().last().unwrap().trim().to_owned();
    let browser = Browser::start().await;

    // The invitation: choose a password.
    browser.goto(&invitation).await;
    browser.check("mot-de-passe").await;
    browser.type_into("#mot_de_passe", "un mot de passe sûr").await;
    browser.type_into("#confirmation", "un mot de passe sûr").await;
    browser.click("button[type=submit]").await;
    browser.wait_url("/console/connexion?ok=mot-de-passe").await;
    browser.check("connexion").await;

    // A wrong password, then the right one.
    browser.type_into("#email", "conseil@ml-lyon.fr").await;
    browser.type_into("#mot_de_passe", "pas le bon").await;
    browser.click("button[type=submit]").await;
    browser.wait_text("[role=alert]", "incorrect").await;
    browser.check("connexion-refusee").await;
    browser.type_into("#email", "conseil@ml-lyon.fr").await;
    browser.type_into("#mot_de_passe", "un mot de passe sûr").await;
    browser.click("button[type=submit]").await;
    browser.wait_url("/console").await;
    browser.check("accueil").await;

    // The queue: the minor first; their sheet; a situation in two clicks.
    browser.click("a[href='/console/ruptures']").await;
    browser.check("file").await;
    assert!(browser.wait_text("#liste tbody tr", "MINEUR").await.starts_with("MINEUR"));
    browser.click("#liste tbody tr a").await;
    browser.check("fiche").await;
    assert!(browser.source().await.contains("0612345678"));
    browser.click("label[for=situation-RDV_PRIS]").await;
    browser.click("label[for=connaissance-NON_CONNU]").await;
    browser.click("form[action$='/situation'] button[type=submit]").await;
    browser.wait_text("[role=status]", "Situation enregistrée").await;
    assert_eq!(browser.wait_text("#situation", "Rendez-vous pris").await, "Rendez-vous pris");
    browser.check("fiche-qualifiee").await;
    assert!(db.projection_caught_up(Duration::from_secs(30)).await);
    browser.goto(&app.url("/console/ruptures")).await;
    assert!(
        browser.text("#liste tbody tr").await.starts_with("ADULTE"),
        "the minor left the list to deal with"
    );
    browser.click("a[href^='/console/ruptures?liste=TRAITES']").await;
    assert!(
        browser.wait_text("#liste tbody tr", "MINEUR").await.starts_with("MINEUR"),
        "and is among those dealt with"
    );
    browser.check("file-traites").await;

    // The open queue follows the log: a rupture pushed by an ERP appears without a reload.
    browser.click("a[href^='/console/ruptures?liste=A_TRAITER']").await;
    browser.run("window.sansRechargement = true; return true;").await;
    push(&app, &lyon, json!([rupture("R-3", "Nouveau", 20, 2, LYON)])).await;
    let mut shown = false;
    for _ in 0..100 {
        let liste = browser
            .run("const l = document.querySelector('#liste tbody'); return l ? l.innerText : '';")
            .await;
        if liste.as_str().unwrap_or_default().contains("NOUVEAU") {
            shown = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(shown, "the new rupture appears: {}", browser.text("#liste").await);
    assert_eq!(browser.run("return window.sansRechargement === true;").await, json!(true), "no reload");

    // Signing out of every device ends this session too: the queue asks to sign in again.
    browser.goto(&app.url("/console")).await;
    browser.click("form[action='/console/deconnexion-partout'] button").await;
    browser.wait_url_with("/console/connexion").await;
    browser.goto(&app.url("/console/ruptures")).await;
    browser.wait_url_with("/console/connexion").await;
    // Failed sign-ins are throttled: after five, the right password is refused too, for a while.
    let alerte = |attendu: &'static str| {
        let browser = &browser;
        async move {
            let script = "const a = document.querySelector('[role=alert]'); return a ? a.textContent : '';";
            for _ in 0..100 {
                let texte = browser.run(script).await.as_str().unwrap_or_default().to_owned();
                if texte.contains(attendu) {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            panic!("no alert saying {attendu:?}");
        }
    };
    for _ in 0..5 {
        browser.type_into("#email", "conseil@ml-lyon.fr").await;
        browser.type_into("#mot_de_passe", "pas le bon").await;
        browser.click("button[type=submit]").await;
        alerte("incorrect").await;
        browser.run("document.querySelector('[role=alert]').remove(); return true;").await;
    }
    browser.type_into("#email", "conseil@ml-lyon.fr").await;
    browser.type_into("#mot_de_passe", "un mot de passe sûr").await;
    browser.click("button[type=submit]").await;
    alerte("tentatives").await;
    browser.check("connexion-bloquee").await;
    drop(browser);
    projections.stop().await;
}
