//! The administrator's page in the console (domain.md §14): where each projection stands, the
//! referentials imported from a CSV file (a file with a refused value imports nothing and says which),
//! the organisations, and API keys revoked; nobody else opens it.

use crate::common;

use std::time::Duration;

use common::{CFA_LYON, TestApp, TestDb};
use reqwest::StatusCode;

use crate::console::{Reponse, csrf_of, get, post, signed_in};

/// A multipart form with the CSRF token and a file, as a browser sends it.
async fn upload(base: &str, path: &str, cookies: &str, csrf: &str, file: &str) -> Reponse {
    let boundary = "----tba-test-boundary";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"fichier\"; filename=\"f.csv\"\r\n\
         Content-Type: text/csv\r\n\r\n{file}\r\n--{boundary}--\r\n"
    );
    let response = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(format!("{base}{path}"))
        .header("cookie", cookies)
        .header("content-type", format!("multipart/form-data; boundary={boundary}"))
        .body(body)
        .send()
        .await
        .unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    Reponse { status, headers, body: response.text().await.unwrap() }
}

async fn organismes(db: &TestDb) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM organismes").fetch_one(&db.pool).await.unwrap()
}

#[tokio::test]
async fn an_administrator_sees_the_projections_imports_referentials_and_revokes_a_key() {
    let db = TestDb::new().await;
    db.with_organismes().await;
    let app = TestApp::spawn(&db).await;
    let projections = tba::read_models::Projections::start(&app.store);
    assert!(db.projection_caught_up(Duration::from_secs(30)).await);
    let base = app.address.clone();
    let admin = signed_in(&db, &base, "admin@tba.example", &["--role", "ADMINISTRATEUR"]).await;
    let organisme = format!("{}:{}", CFA_LYON.0, CFA_LYON.1);
    let cfa = signed_in(&db, &base, "cfa@example.org", &["--organisme", &organisme]).await;
    assert_eq!(get(&base, "/console/administration", &cfa).await.status, StatusCode::FORBIDDEN);

    let page = get(&base, "/console/administration", &admin).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("<th scope=\"row\">dossiers</th>"), "{}", page.body);
    assert!(page.body.contains("3 organisme(s)"), "{}", page.body);
    let csrf = csrf_of(&page.body);

    // A file with a refused value imports nothing and says which; a forged form nothing either.
    let header = "uai,siret,nom,code_commune_insee,code_postal,departement,nature\n";
    let bad = format!(
        "{header}0751234J,12345678900099,CFA Nouveau,75056,75001,75,formateur\nXX,1,Mauvais,,,75,formateur\n"
    );
    let refused = upload(&base, "/console/administration/referentiels/organismes", &admin, &csrf, &bad).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(
        refused.body.contains("Rien n&#39;a été importé") || refused.body.contains("Rien n'a été importé")
    );
    assert!(refused.body.contains("uai"), "names the field: {}", refused.body);
    let good = format!("{header}0751234J,12345678900099,CFA Nouveau,75056,75001,75,formateur\n");
    let forged =
        upload(&base, "/console/administration/referentiels/organismes", &admin, "forged", &good).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert_eq!(organismes(&db).await, 3);
    let imported =
        upload(&base, "/console/administration/referentiels/organismes", &admin, &csrf, &good).await;
    assert_eq!(imported.status, StatusCode::OK, "{}", imported.body);
    assert!(imported.body.contains("1 organismes lus : 1 créés"), "{}", imported.body);
    assert_eq!(organismes(&db).await, 4);
    // A national referential is larger than the console's forms: it is taken whole.
    let demo = tba::demo::generate(100_000, 7, chrono::Utc::now().date_naive()).organismes_csv();
    // Names as long as the referential allows them, so that the file outgrows the console's forms.
    let long = " — centre de formation d'apprentis".repeat(8);
    let demo: String = demo
        .lines()
        .enumerate()
        .map(|(i, line)| {
            let mut cells: Vec<String> = line.split(',').map(str::to_owned).collect();
            if i > 0 && cells.len() == 7 {
                cells[2].push_str(&long);
            }
            cells.join(",") + "\n"
        })
        .collect();
    assert!(demo.len() > 64 * 1024, "{} bytes", demo.len());
    let national =
        upload(&base, "/console/administration/referentiels/organismes", &admin, &csrf, &demo).await;
    assert_eq!(national.status, StatusCode::OK, "{}", &national.body[..national.body.len().min(2000)]);
    assert!(organismes(&db).await >= demo.lines().count() as i64 - 1);
    let found = get(&base, "/console/administration?q=nouveau", &admin).await;
    assert!(found.body.contains("0751234J:12345678900099"), "{}", found.body);

    // A key created from the page (its secret shown once) opens the API; a role that is none is refused.
    let refused =
        post(&base, "/console/administration/cles", &admin, &[("csrf", &csrf), ("role", "NOPE")]).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(refused.body.contains("rôle"), "{}", refused.body);
    let form = [
        ("csrf", csrf.as_str()),
        ("role", "ORGANISME_FORMATION"),
        ("organisme", organisme.as_str()),
        ("label", "ERP"),
    ];
    let created = post(&base, "/console/administration/cles", &admin, &form).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let secret =
        created.body.split("<code id=\"secret\">").nth(1).unwrap().split('<').next().unwrap().to_owned();
    let (_, answer) =
        common::gql::graphql(&app, Some(&secret), "{ dossiers { edges { node { id } } } }").await;
    assert!(answer.get("errors").is_none(), "{answer}");

    // A key revoked from the page no longer opens the API.
    let key = db.organisme_key(CFA_LYON).await;
    let id: uuid::Uuid = sqlx::query_scalar(
        "SELECT id FROM api_keys WHERE revoked_at IS NULL ORDER BY created_at DESC LIMIT 1",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    let page = get(&base, "/console/administration", &admin).await;
    assert!(page.body.contains(&format!("/console/administration/cles/{id}/revoquer")));
    let revoked =
        post(&base, &format!("/console/administration/cles/{id}/revoquer"), &admin, &[("csrf", &csrf)]).await;
    assert_eq!(revoked.status, StatusCode::SEE_OTHER);
    let (status, _) = common::gql::graphql(&app, Some(&key), "{ logHead { position } }").await;
    assert_eq!(status, 401, "the revoked key is refused");
    assert!(get(&base, "/console/administration?ok=cle", &admin).await.body.contains("révoquée le"));

    // In a browser, checked with axe-core.
    let browser = common::browser::Browser::start().await;
    browser.sign_in(&app.url(""), "admin@tba.example", "un mot de passe sûr").await;
    browser.click("a[href='/console/administration']").await;
    browser.check("administration").await;
    drop(browser);
    projections.stop().await;
}
