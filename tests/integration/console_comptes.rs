//! The administrator's accounts page: an invitation with a role and scope checked like a key's, its
//! one-time link shown once and e-mailed when SMTP is configured; a reset link; a disabled account; an
//! organisation's own administrator, who manages the accounts of its organisation only.

use crate::common;

use common::smtp::SmtpServer;
use common::{TestApp, TestDb};

use crate::console::signed_in;
use reqwest::StatusCode;

async fn post(app: &TestApp, path: &str, session: &str, form: &[(&str, &str)]) -> (u16, String) {
    let response = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(app.url(path))
        .header("cookie", session)
        .form(form)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

async fn get(app: &TestApp, path: &str, session: &str) -> (u16, String) {
    let response = reqwest::Client::new().get(app.url(path)).header("cookie", session).send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

fn csrf(page: &str) -> String {
    let start = page.find("name=\"csrf\" value=\"").expect("a CSRF field") + "name=\"csrf\" value=\"".len();
    page[start..].split('"').next().unwrap().to_owned()
}

/// The link shown on the page.
fn lien(page: &str) -> String {
    let start = page.find("<code id=\"lien\">").unwrap_or_else(|| panic!("a link: {page}"))
        + "<code id=\"lien\">".len();
    page[start..].split('<').next().unwrap().to_owned()
}

#[tokio::test]
async fn an_administrator_invites_people_and_the_link_is_shown_and_mailed() {
    let db = TestDb::new().await;
    let smtp = SmtpServer::start().await;
    let app = TestApp::spawn_with_smtp(&db, &smtp.url).await;
    let admin = signed_in(&db, &app.address, "admin@example.org", &["--role", "ADMINISTRATEUR"]).await;
    let (status, page) = get(&app, "/console/comptes", &admin).await;
    assert_eq!(status, 200);
    assert!(page.contains("admin@example.org"), "{page}");
    let token = csrf(&page);

    // A role and scope checked as a key's: refused naming what is wrong.
    let (status, refused) = post(
        &app,
        "/console/comptes",
        &admin,
        &[("csrf", &token), ("email", "cfa@example.org"), ("role", "ORGANISME_FORMATION")],
    )
    .await;
    assert_eq!(status, 400);
    assert!(refused.contains("--organisme"), "{refused}");
    let invite = [
        ("csrf", token.as_str()),
        ("email", "cfa@example.org"),
        ("role", "ORGANISME_FORMATION"),
        ("organisme", "0693456K:12345678901234"),
    ];
    let (status, invited) = post(&app, "/console/comptes", &admin, &invite).await;
    assert_eq!(status, 201, "{invited}");
    let link = lien(&invited);
    assert!(invited.contains("Le lien a été envoyé à cfa@example.org"), "{invited}");
    let mails = smtp.recus();
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].destinataires, ["cfa@example.org"]);
    assert!(mails[0].donnees.contains("/console/mot-de-passe/"), "{}", mails[0].donnees);
    assert!(link.starts_with(&app.address), "{link}");

    // The invited person sets a password through the link and signs in.
    let path = link.trim_start_matches(&app.address).to_owned();
    let page = reqwest::Client::new().get(app.url(&path)).send().await.unwrap();
    let cookie = page.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let pre = cookie.split_once('=').unwrap().1.to_owned();
    let form = [
        ("mot_de_passe", "un mot de passe sûr"),
        ("confirmation", "un mot de passe sûr"),
        ("csrf", pre.as_str()),
    ];
    assert_eq!(post(&app, &path, &cookie, &form).await.0, 303);
    let listed = get(&app, "/console/comptes", &admin).await.1;
    assert!(listed.contains("cfa@example.org") && listed.contains("actif"), "{listed}");

    // A reset link; a disabled account.
    let (status, reset) =
        post(&app, "/console/comptes/lien", &admin, &[("csrf", &token), ("email", "cfa@example.org")]).await;
    assert_eq!(status, 200);
    assert_ne!(lien(&reset), link);
    assert_eq!(smtp.recus().len(), 2);
    assert_eq!(
        post(&app, "/console/comptes/desactiver", &admin, &[("csrf", &token), ("email", "cfa@example.org")])
            .await
            .0,
        303
    );
    assert!(get(&app, "/console/comptes", &admin).await.1.contains("désactivé"));

    // In a browser: the page passes axe-core; a reset link issued there sets a new password; a form
    // whose token was tampered with is refused.
    signed_in(&db, &app.address, "oubli@example.org", &["--role", "ANALYST"]).await;
    let browser = common::browser::Browser::start().await;
    browser.sign_in(&app.address, "admin@example.org", "un mot de passe sûr").await;
    browser.click("a[href='/console/comptes']").await;
    browser.check("comptes").await;
    browser.click("form[action='/console/comptes/lien']:has(input[value='oubli@example.org']) button").await;
    let reset = browser.wait_text("#lien", "/console/mot-de-passe/").await;
    browser.run("document.querySelector(\"form[action='/console/comptes'] input[name=csrf]\").value = 'x'; return true;").await;
    browser.type_into("#invite-email", "forge@example.org").await;
    browser.click("form[action='/console/comptes'] button[type=submit]").await;
    browser.wait_text("body", "Ce formulaire a expiré").await;
    drop(browser);
    let browser = common::browser::Browser::start().await;
    browser.goto(&reset).await;
    browser.type_into("#mot_de_passe", "un tout nouveau mot de passe").await;
    browser.type_into("#confirmation", "un tout nouveau mot de passe").await;
    browser.click("button[type=submit]").await;
    browser.wait_url("/console/connexion?ok=mot-de-passe").await;
    browser.sign_in(&app.address, "oubli@example.org", "un tout nouveau mot de passe").await;
    drop(browser);

    // Only an administrator manages accounts.
    let cfa =
        signed_in(&db, &app.address, "autre@example.org", &["--organisme", "0693456K:12345678901234"]).await;
    assert_eq!(get(&app, "/console/comptes", &cfa).await.0, 403);
    let token = csrf(&get(&app, "/console", &cfa).await.1);
    let invite = [("csrf", token.as_str()), ("email", "x@example.org"), ("role", "ADMINISTRATEUR")];
    assert_eq!(post(&app, "/console/comptes", &cfa, &invite).await.0, 403);
}

#[tokio::test]
async fn an_organisations_own_administrator_manages_its_accounts_only() {
    let (db, app, _, projections) = crate::ruptures::setup().await;
    let base = app.address.clone();
    let lyon = ["--role", "MISSION_LOCALE", "--scope", "MISSION_LOCALE:ML-LYON"];
    let chef =
        crate::console::signed_in(&db, &base, "chef@ml-lyon.fr", &[&lyon[..], &["--gestionnaire"]].concat())
            .await;
    let conseil = crate::console::signed_in(&db, &base, "conseil@ml-lyon.fr", &lyon).await;
    let paris = ["--role", "MISSION_LOCALE", "--scope", "MISSION_LOCALE:ML-PARIS"];
    assert!(
        db.tba(&[&["comptes", "create", "--email", "conseil@ml-paris.fr"][..], &paris].concat())
            .status
            .success()
    );

    // Only its organisation's accounts; an advisor without the right sees no accounts page.
    let page = crate::console::get(&base, "/console/comptes", &chef).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("conseil@ml-lyon.fr") && !page.body.contains("conseil@ml-paris.fr"));
    assert!(!page.body.contains("id=\"role\""), "no role to choose");
    assert_eq!(crate::console::get(&base, "/console/comptes", &conseil).await.status, StatusCode::FORBIDDEN);
    assert!(crate::console::get(&base, "/console", &chef).await.body.contains("href=\"/console/comptes\""));
    assert!(
        !crate::console::get(&base, "/console", &conseil).await.body.contains("href=\"/console/comptes\"")
    );
    let csrf = crate::console::csrf_of(&page.body);

    // An invitation is into its organisation, whatever the form says.
    let invited = crate::console::post(
        &base,
        "/console/comptes",
        &chef,
        &[("csrf", &csrf), ("email", "nouveau@ml-lyon.fr"), ("role", "ADMINISTRATEUR"), ("scope", "")],
    )
    .await;
    assert_eq!(invited.status, StatusCode::CREATED, "{}", invited.body);
    let (role, scope): (String, Option<String>) =
        sqlx::query_as("SELECT role, scope_value FROM comptes WHERE email = 'nouveau@ml-lyon.fr'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!((role.as_str(), scope.as_deref()), ("MISSION_LOCALE", Some("ML-LYON")));

    // Another organisation's account is out of its reach; its own is not.
    let ailleurs = crate::console::post(
        &base,
        "/console/comptes/desactiver",
        &chef,
        &[("csrf", &csrf), ("email", "conseil@ml-paris.fr")],
    )
    .await;
    assert_eq!(ailleurs.status, StatusCode::NOT_FOUND);
    assert!(ailleurs.body.contains("pas un compte de votre organisation"), "{}", ailleurs.body);
    let disabled = |email: &'static str| {
        let pool = db.pool.clone();
        async move {
            sqlx::query_scalar::<_, bool>("SELECT disabled_at IS NOT NULL FROM comptes WHERE email = $1")
                .bind(email)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    assert!(!disabled("conseil@ml-paris.fr").await);
    let own = crate::console::post(
        &base,
        "/console/comptes/desactiver",
        &chef,
        &[("csrf", &csrf), ("email", "conseil@ml-lyon.fr")],
    )
    .await;
    assert_eq!(own.status, StatusCode::SEE_OTHER);
    assert!(disabled("conseil@ml-lyon.fr").await);
    let browser = common::browser::Browser::start().await;
    browser.sign_in(&app.url(""), "chef@ml-lyon.fr", "un mot de passe sûr").await;
    browser.click("a[href='/console/comptes']").await;
    browser.check("comptes-organisation").await;
    drop(browser);
    projections.stop().await;
}
