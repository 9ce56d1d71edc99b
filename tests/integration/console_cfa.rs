//! The CFA staff's pages: their effectifs with status and parcours, their transmissions day by day
//! with the refused items and why (the REST journal's figures); only their own organisme's.

use crate::common;

use std::time::Duration;

use common::{CFA_LYON, dossier_v3, this_year};
use serde_json::json;

use crate::console::signed_in;
use crate::ruptures::{LYON, push, rupture, setup};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cfa_reads_its_effectifs_and_its_transmissions_with_the_refused_items() {
    let (db, app, lyon, projections) = setup().await;
    let mut bad = this_year(dossier_v3("BAD-1"));
    bad["date_de_naissance_apprenant"] = json!("31/02/2006");
    push(&app, &lyon, json!([rupture("R-1", "Rompu", 19, 20, LYON), this_year(dossier_v3("A-1"))])).await;
    let (_, answer) = app.post("/api/v3/dossiers-apprenants", &lyon, &json!([bad])).await;
    assert_eq!(answer["rejected"], 1, "{answer}");
    assert!(db.projection_caught_up(Duration::from_secs(30)).await);
    let organisme = format!("{}:{}", CFA_LYON.0, CFA_LYON.1);
    let cfa = signed_in(&db, &app.address, "scolarite@cfa.fr", &["--organisme", &organisme]).await;
    let client = reqwest::Client::new();
    let get = |path: &str| {
        let request = client.get(app.url(path)).header("cookie", &cfa);
        async move {
            let response = request.send().await.unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        }
    };

    let (status, effectifs) = get("/console/effectifs").await;
    assert_eq!(status, 200);
    assert!(effectifs.contains("ROMPU Léa") && effectifs.contains("MARTIN Léa"), "{effectifs}");
    assert!(effectifs.contains("Rupturant") && effectifs.contains("Apprenti"), "{effectifs}");
    let read: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM access_log WHERE action = 'dossiers' AND subject LIKE '%(console)'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(read, 1, "the effectifs' page is a journaled read");

    let (status, transmissions) = get("/console/transmissions").await;
    assert_eq!(status, 200);
    let (_, journal) = app.get("/api/v1/transmissions", &lyon).await;
    let today = &journal["jours"][0];
    let row = format!(
        "<td>{}</td><td>{}</td><td>{}</td><td>{}</td>",
        today["transmissions"], today["received"], today["accepted"], today["rejected"]
    );
    assert!(transmissions.contains(&row), "the REST journal's figures {row}: {transmissions}");
    assert!(
        transmissions.contains("BAD-1") && transmissions.contains("date_de_naissance_apprenant"),
        "{transmissions}"
    );

    // In a browser: both pages pass axe-core.
    let browser = common::browser::Browser::start().await;
    browser.sign_in(&app.address, "scolarite@cfa.fr", "un mot de passe sûr").await;
    browser.click("a[href='/console/effectifs']").await;
    browser.check("effectifs").await;
    browser.goto(&app.url("/console/transmissions")).await;
    browser.check("transmissions").await;
    drop(browser);

    // A file deposit: without the session's token it is refused; with it, the REST deposit's answer,
    // its report served by the console.
    let file = crate::imports::csv(&[this_year(dossier_v3("F-1")), bad_row()], ';');
    let refused = client
        .post(app.url("/console/depot"))
        .header("cookie", &cfa)
        .body(file.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    let home = get("/console").await.1;
    let token = home.split("name=\"csrf\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
    let deposit = client
        .post(app.url("/console/depot"))
        .header("cookie", &cfa)
        .header("x-csrf", &token)
        .body(file)
        .send()
        .await
        .unwrap();
    assert_eq!(deposit.status(), 200);
    let answer: serde_json::Value = deposit.json().await.unwrap();
    assert_eq!((answer["accepted"].as_i64(), answer["rejected"].as_i64()), (Some(1), Some(1)), "{answer}");
    let report = answer["rapport_erreurs"].as_str().unwrap().to_owned();
    assert!(report.starts_with("/console/transmissions/"), "{report}");
    let (status, csv) = get(&report).await;
    assert_eq!(status, 200);
    assert!(csv.contains("date_de_naissance_apprenant"), "{csv}");

    // In a browser: the file chosen, its upload's progress, what was accepted and refused.
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("depot-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("effectifs.csv");
    std::fs::write(&path, crate::imports::csv(&[this_year(dossier_v3("F-2")), bad_row()], ';')).unwrap();
    let browser = common::browser::Browser::start().await;
    browser.sign_in(&app.address, "scolarite@cfa.fr", "un mot de passe sûr").await;
    browser.click("a[href='/console/depot']").await;
    browser.check("depot").await;
    browser.type_into("#fichier", path.to_str().unwrap()).await;
    browser.click("#depot button[type=submit]").await;
    browser.wait_text("#bilan", "1 acceptée(s), 1 refusée(s)").await;
    assert_eq!(browser.run("return document.getElementById('progression').value;").await, json!(100));
    browser.check("depot-fait").await;
    drop(browser);

    // Its API keys: one created (its secret shown once) pushes; revoked, it pushes no more; another
    // organisme's key is not its to revoke.
    let created = client
        .post(app.url("/console/cles"))
        .header("cookie", &cfa)
        .form(&[("csrf", token.as_str()), ("label", "Notre ERP")])
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let created = created.text().await.unwrap();
    let secret = created.split("<code id=\"secret\">").nth(1).unwrap().split('<').next().unwrap().to_owned();
    let (status, _) =
        app.post("/api/v3/dossiers-apprenants", &secret, &json!([this_year(dossier_v3("K-1"))])).await;
    assert_eq!(status, 200, "the new key pushes");
    let id: uuid::Uuid = sqlx::query_scalar("SELECT id FROM api_keys WHERE label = 'Notre ERP'")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    let paris = db.organisme_key(common::CFA_PARIS).await;
    let other: uuid::Uuid = sqlx::query_scalar("SELECT id FROM api_keys WHERE organisme_uai = $1")
        .bind(common::CFA_PARIS.0)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    let not_ours = client
        .post(app.url("/console/cles/revoquer"))
        .header("cookie", &cfa)
        .form(&[("csrf", token.as_str()), ("id", other.to_string().as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(not_ours.status(), 404);
    assert_eq!(app.post("/api/v3/dossiers-apprenants", &paris, &json!([])).await.0, 200, "still live");
    let revoked = client
        .post(app.url("/console/cles/revoquer"))
        .header("cookie", &cfa)
        .form(&[("csrf", token.as_str()), ("id", id.to_string().as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    let (status, _) = app.post("/api/v3/dossiers-apprenants", &secret, &json!([])).await;
    assert_eq!(status, 401, "a revoked key pushes no more");

    // Someone without an organisme has no such page.
    let analyste = signed_in(&db, &app.address, "analyste@example.org", &["--role", "ANALYST"]).await;
    let refused = client.get(app.url("/console/effectifs")).header("cookie", &analyste).send().await.unwrap();
    assert_eq!(refused.status(), 403);
    projections.stop().await;
}

/// A row whose birth date does not exist.
fn bad_row() -> serde_json::Value {
    let mut bad = this_year(dossier_v3("F-BAD"));
    bad["date_de_naissance_apprenant"] = json!("31/02/2006");
    bad
}
