//! The nominative list in the console (domain.md §9, §14): a DREETS reads its région's rupturants,
//! not its apprentis, and exports them; a national analyst reads no name; the CFA opens a learner's
//! dossier from its effectifs and declares the rupture of the ongoing contract, which then has its
//! sheet in the queue; a date in the future is refused, naming the field, recording nothing. The
//! list equals GraphQL's `dossiers` for the same caller.

use crate::common;

use std::time::Duration;

use chrono::Utc;
use common::{CFA_LYON, dossier_v3, this_year};
use reqwest::StatusCode;
use serde_json::json;

use crate::console::{csrf_of, get, post, signed_in};
use crate::ruptures::{LYON, push, rupture, setup};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dreets_lists_its_rupturants_and_a_cfa_declares_a_rupture() {
    let (db, app, lyon, projections) = setup().await;
    let mut apprentie = this_year(dossier_v3("A-1"));
    apprentie["nom_apprenant"] = json!("Apprentie");
    push(&app, &lyon, json!([rupture("R-1", "Rompu", 19, 20, LYON), apprentie])).await;
    assert!(db.projection_caught_up(Duration::from_secs(30)).await);
    let base = app.address.clone();
    let dreets =
        signed_in(&db, &base, "dreets@ara.gouv.fr", &["--role", "DREETS", "--scope", "REGION:84"]).await;
    let analyste = signed_in(&db, &base, "analyste@national.fr", &["--role", "ANALYST"]).await;
    let organisme = format!("{}:{}", CFA_LYON.0, CFA_LYON.1);
    let cfa = signed_in(&db, &base, "scolarite@cfa-lyon.fr", &["--organisme", &organisme]).await;

    // The DREETS: its région's rupturant, not the apprentie; the same as GraphQL's list.
    let page = get(&base, "/console/dossiers", &dreets).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("ROMPU") && !page.body.contains("APPRENTIE"), "{}", page.body);
    let key = common::gql::key(&db, tba::auth::keys::Role::Dreets, Some("REGION:84")).await;
    let (_, answer) = common::gql::graphql(&app, Some(&key), "{ dossiers { edges { node { id } } } }").await;
    let ids: Vec<String> = answer["data"]["dossiers"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 1, "{answer}");
    assert!(page.body.contains(&format!("/console/dossiers/{}", ids[0])));
    let refused = get(&base, "/console/dossiers?statut=APPRENTI", &dreets).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(refused.body.contains("statuts"), "{}", refused.body);
    let export = get(&base, "/console/dossiers/export?format=csv", &dreets).await;
    assert_eq!(export.status, StatusCode::OK);
    assert!(export.body.contains("ROMPU") && !export.body.contains("APPRENTIE"), "{}", export.body);
    let apprentie_id: String =
        sqlx::query_scalar("SELECT dossier_id FROM rm_dossiers WHERE id_erp_apprenant = 'A-1'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    let fiche = format!("/console/dossiers/{apprentie_id}");
    assert_eq!(
        get(&base, &fiche, &dreets).await.status,
        StatusCode::NOT_FOUND,
        "an apprentie is not its to read"
    );
    assert_eq!(get(&base, "/console/dossiers", &analyste).await.status, StatusCode::FORBIDDEN);

    // The CFA: from its effectifs to the dossier; a rupture in the future is refused.
    let effectifs = get(&base, "/console/effectifs", &cfa).await;
    assert!(effectifs.body.contains(&fiche), "{}", effectifs.body);
    let page = get(&base, &fiche, &cfa).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("APPRENTIE") && page.body.contains("Déclarer une rupture"));
    let csrf = csrf_of(&page.body);
    let events = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM events").fetch_one(&db.pool).await.unwrap()
    };
    let before = events().await;
    let demain = (Utc::now().date_naive() + chrono::Duration::days(1)).to_string();
    let future =
        post(&base, &format!("{fiche}/rupture"), &cfa, &[("csrf", &csrf), ("date_rupture", &demain)]).await;
    assert_eq!(future.status, StatusCode::BAD_REQUEST);
    assert!(future.body.contains("dateRupture"), "{}", future.body);
    assert_eq!(events().await, before);
    let hier = (Utc::now().date_naive() - chrono::Duration::days(1)).to_string();
    let declared = post(
        &base,
        &format!("{fiche}/rupture"),
        &cfa,
        &[("csrf", &csrf), ("date_rupture", &hier), ("cause", "Démission")],
    )
    .await;
    assert_eq!(declared.status, StatusCode::SEE_OTHER, "{}", declared.body);
    let location = declared.headers["location"].to_str().unwrap().to_owned();
    let page = get(&base, &location, &cfa).await;
    assert!(page.body.contains("Rupture enregistrée"), "{}", page.body);
    let entree = page.body.split("/console/ruptures/").nth(1).unwrap().split('"').next().unwrap().to_owned();
    let sheet = get(&base, &format!("/console/ruptures/{entree}"), &cfa).await;
    assert_eq!(sheet.status, StatusCode::OK);
    assert!(sheet.body.contains("APPRENTIE"), "the declared rupture has its sheet");
    assert!(db.projection_caught_up(Duration::from_secs(30)).await);
    assert!(get(&base, &fiche, &cfa).await.body.contains("Rupturant"));
    assert!(get(&base, "/console/dossiers", &dreets).await.body.contains("APPRENTIE"), "now a rupturant");

    // The same pages in a browser, each checked with axe-core.
    let browser = common::browser::Browser::start().await;
    browser.sign_in(&app.url(""), "dreets@ara.gouv.fr", "un mot de passe sûr").await;
    browser.click("a[href='/console/dossiers']").await;
    browser.check("dossiers").await;
    browser.click("#dossiers tbody a").await;
    browser.check("dossier").await;
    drop(browser);
    let browser = common::browser::Browser::start().await;
    browser.sign_in(&app.url(""), "scolarite@cfa-lyon.fr", "un mot de passe sûr").await;
    browser.goto(&app.url("/console/effectifs")).await;
    browser.check("effectifs").await;
    browser.goto(&app.url(&fiche)).await;
    browser.check("dossier-cfa").await;
    drop(browser);
    projections.stop().await;
}
