//! The France Travail advisor's queue in the console: the adults of their région enrolled without a
//! contract, their sheet, a situation per sector; GraphQL's answers to the same questions.

use crate::common;

use std::time::Duration;

use common::gql::{graphql, key};
use serde_json::json;
use tba::auth::keys::Role;

use crate::console::signed_in;
use crate::france_travail::file::{LYON, PARIS, inscrit, push, setup};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_advisor_reads_the_regions_queue_and_sets_a_sectors_situation() {
    let (db, app, lyon, projections) = setup().await;
    push(
        &app,
        &lyon,
        json!([inscrit("I-1", "Adulte", 20, 10, LYON), inscrit("I-2", "Parisien", 22, 5, PARIS)]),
    )
    .await;
    assert!(db.projection_caught_up(Duration::from_secs(30)).await);
    let ft = signed_in(
        &db,
        &app.address,
        "conseil@francetravail.fr",
        &["--role", "FRANCE_TRAVAIL", "--scope", "REGION:84"],
    )
    .await;
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let get = |path: String| {
        let request = client.get(app.url(&path)).header("cookie", &ft);
        async move {
            let response = request.send().await.unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        }
    };
    let (status, page) = get("/console/france-travail".into()).await;
    assert_eq!(status, 200);
    assert!(page.contains("ADULTE Léa") && !page.contains("PARISIEN"), "their région only: {page}");
    let entree =
        page.split("href=\"/console/france-travail/").nth(1).unwrap().split('"').next().unwrap().to_owned();
    let (status, sheet) = get(format!("/console/france-travail/{entree}")).await;
    assert_eq!(status, 200);
    assert!(sheet.contains("0612345678") && sheet.contains("value=\"G\""), "{sheet}");
    let csrf = sheet.split("name=\"csrf\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
    let action = app.url(&format!("/console/france-travail/{entree}/situation"));
    let form =
        [("csrf", csrf.as_str()), ("secteur", "G"), ("situation", "ENTREPRISE"), ("commentaire", "Rappelé")];
    let done = client.post(&action).header("cookie", &ft).form(&form).send().await.unwrap();
    assert_eq!(done.status(), 303);
    let (_, back) = get(done.headers()["location"].to_str().unwrap().to_owned()).await;
    assert!(back.contains("Situation enregistrée") && back.contains("G : Entreprise trouvée"), "{back}");
    let (_, traites) = get("/console/france-travail?secteur=G&liste=TRAITES".into()).await;
    assert!(traites.contains("ADULTE Léa"), "{traites}");
    let (_, a_traiter) = get("/console/france-travail?secteur=G&liste=A_TRAITER".into()).await;
    assert!(!a_traiter.contains("ADULTE Léa"), "{a_traiter}");
    let api = key(&db, Role::FranceTravail, Some("REGION:84")).await;
    let (_, answer) = graphql(
        &app,
        Some(&api),
        r#"{ franceTravail(secteur: "G", liste: TRAITES) { edges { node { id } } } }"#,
    )
    .await;
    assert_eq!(answer["data"]["franceTravail"]["edges"][0]["node"]["id"], entree.as_str(), "{answer}");

    // In a browser: both pages pass axe-core.
    let browser = common::browser::Browser::start().await;
    browser.sign_in(&app.address, "conseil@francetravail.fr", "un mot de passe sûr").await;
    browser.click("a[href='/console/france-travail']").await;
    browser.check("france-travail").await;
    browser.click("#liste-ft tbody tr a").await;
    browser.check("france-travail-fiche").await;
    drop(browser);

    // Another role has no such queue.
    let analyste = signed_in(&db, &app.address, "analyste@example.org", &["--role", "ANALYST"]).await;
    let refused =
        client.get(app.url("/console/france-travail")).header("cookie", &analyste).send().await.unwrap();
    assert_eq!(refused.status(), 403);
    projections.stop().await;
}
