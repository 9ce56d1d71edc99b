//! The console's accounts and sessions over plain HTTP (domain.md §14): an invitation link sets the
//! password once; signing in opens a session whose cookie is `HttpOnly`, `SameSite`, `Secure` behind
//! TLS; every form needs its CSRF token; failed sign-ins are throttled; sign-out ends one session or
//! all; sessions expire; a disabled account signs in no more.

use crate::common;

use common::{TestApp, TestDb};
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};

fn client() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// The `Set-Cookie` of `name` in a response, whole.
fn set_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(str::to_owned)
}

/// A cookie's value, from its `Set-Cookie`.
fn value(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().split_once('=').unwrap().1.to_owned()
}

/// The value of the first hidden `csrf` input of a page.
pub(crate) fn csrf_of(page: &str) -> String {
    let start = page.find("name=\"csrf\" value=\"").expect("a CSRF field") + "name=\"csrf\" value=\"".len();
    page[start..].split('"').next().unwrap().to_owned()
}

pub(crate) struct Reponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

async fn send(request: reqwest::RequestBuilder) -> Reponse {
    let response = request.send().await.unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    Reponse { status, headers, body: response.text().await.unwrap() }
}

pub(crate) async fn get(base: &str, path: &str, cookies: &str) -> Reponse {
    send(client().get(format!("{base}{path}")).header("cookie", cookies)).await
}

pub(crate) async fn post(base: &str, path: &str, cookies: &str, form: &[(&str, &str)]) -> Reponse {
    send(client().post(format!("{base}{path}")).header("cookie", cookies).form(form)).await
}

/// Sign in; the session cookie's value.
async fn sign_in(base: &str, email: &str, password: &str) -> Reponse {
    let page = get(base, "/console/connexion", "").await;
    let csrf = value(&set_cookie(&page.headers, "tba_csrf").expect("a CSRF cookie"));
    assert_eq!(csrf_of(&page.body), csrf);
    let cookies = format!("tba_csrf={csrf}");
    post(
        base,
        "/console/connexion",
        &cookies,
        &[("email", email), ("mot_de_passe", password), ("csrf", &csrf)],
    )
    .await
}

fn link_path(output: &std::process::Output) -> String {
    assert!(output.status.success(), "{output:?}");
    let stdout = common::stdout(output);
    let link = stdout.lines().last().unwrap().trim().to_owned();
    link.split_once("/console/").map(|(_, path)| format!("/console/{path}")).expect("a console link")
}

#[tokio::test]
async fn an_invited_person_sets_a_password_signs_in_and_out_and_is_throttled() {
    let db = TestDb::new().await;
    let app = TestApp::spawn(&db).await;
    let invitation =
        link_path(&db.tba(&["comptes", "create", "--email", "Ana.Lyse@Example.org", "--role", "ANALYST"]));
    let refused = db.tba(&["comptes", "create", "--email", "ana.lyse@example.org", "--role", "ANALYST"]);
    assert!(!refused.status.success(), "one account per e-mail");

    // The invitation: its page names the account; its form needs the CSRF cookie's token.
    let page = get(&app.address, &invitation, "").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("ana.lyse@example.org"), "{}", page.body);
    let csrf_cookie = set_cookie(&page.headers, "tba_csrf").unwrap();
    assert!(csrf_cookie.contains("HttpOnly") && csrf_cookie.contains("SameSite=Lax"), "{csrf_cookie}");
    let csrf = value(&csrf_cookie);
    let cookies = format!("tba_csrf={csrf}");
    let set = |password: &'static str, confirmation: &'static str, csrf: String| {
        let (base, invitation, cookies) = (&app.address, invitation.clone(), cookies.clone());
        async move {
            let form = [("mot_de_passe", password), ("confirmation", confirmation), ("csrf", csrf.as_str())];
            post(base, &invitation, &cookies, &form).await
        }
    };
    assert_eq!(
        set("un mot de passe sûr", "un mot de passe sûr", "autre".into()).await.status,
        StatusCode::FORBIDDEN
    );
    let short = set("court", "court", csrf.clone()).await;
    assert_eq!(short.status, StatusCode::BAD_REQUEST);
    assert!(short.body.contains("12 caractères"), "{}", short.body);
    let different = set("un mot de passe sûr", "un mot de passe sur", csrf.clone()).await;
    assert!(different.body.contains("diffèrent"), "{}", different.body);
    let done = set("un mot de passe sûr", "un mot de passe sûr", csrf.clone()).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    assert_eq!(done.headers[LOCATION], "/console/connexion?ok=mot-de-passe");
    assert_eq!(get(&app.address, &invitation, "").await.status, StatusCode::GONE, "a link serves once");
    assert_eq!(set("encore un autre mot", "encore un autre mot", csrf).await.status, StatusCode::GONE);
    let stored: String =
        sqlx::query_scalar("SELECT password_hash FROM comptes").fetch_one(&db.pool).await.unwrap();
    assert!(stored.starts_with("$argon2id$"), "{stored}");

    // Signed out, the console sends to the sign-in page; a wrong password is refused.
    let home = get(&app.address, "/console", "").await;
    assert_eq!(
        (home.status, home.headers[LOCATION].to_str().unwrap()),
        (StatusCode::SEE_OTHER, "/console/connexion")
    );
    let wrong = sign_in(&app.address, "ana.lyse@example.org", "pas le bon mot").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.body.contains("incorrect"), "{}", wrong.body);

    // Signed in: an HttpOnly, SameSite cookie (Secure behind TLS), a page naming the person.
    let signed = sign_in(&app.address, " ANA.LYSE@example.org ", "un mot de passe sûr").await;
    assert_eq!(
        (signed.status, signed.headers[LOCATION].to_str().unwrap()),
        (StatusCode::SEE_OTHER, "/console")
    );
    let session_cookie = set_cookie(&signed.headers, "tba_session").unwrap();
    assert!(
        session_cookie.contains("HttpOnly") && session_cookie.contains("SameSite=Lax"),
        "{session_cookie}"
    );
    assert!(!session_cookie.contains("Secure"), "plain HTTP: {session_cookie}");
    let session = format!("tba_session={}", value(&session_cookie));
    let home = get(&app.address, "/console", &session).await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(
        home.body.contains("ana.lyse@example.org") && home.body.contains("analyste national"),
        "{}",
        home.body
    );
    assert!(home.headers["content-security-policy"].to_str().unwrap().starts_with("default-src 'self'"));
    assert_eq!(home.headers["cache-control"], "no-store");
    let page = get(&app.address, "/console/connexion", "").await;
    let csrf = value(&set_cookie(&page.headers, "tba_csrf").unwrap());
    let tls = send(
        client()
            .post(app.url("/console/connexion"))
            .header("cookie", format!("tba_csrf={csrf}"))
            .header("x-forwarded-proto", "https")
            .form(&[
                ("email", "ana.lyse@example.org"),
                ("mot_de_passe", "un mot de passe sûr"),
                ("csrf", &csrf),
            ]),
    )
    .await;
    let secure = set_cookie(&tls.headers, "tba_session").unwrap();
    assert!(secure.contains("; Secure"), "{secure}");
    let other = format!("tba_session={}", value(&secure));

    // Signing out needs the session's token; it ends this session only, or all of them.
    let token = csrf_of(&home.body);
    assert_eq!(
        post(&app.address, "/console/deconnexion", &session, &[("csrf", "faux")]).await.status,
        StatusCode::FORBIDDEN
    );
    let out = post(&app.address, "/console/deconnexion", &session, &[("csrf", &token)]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert!(set_cookie(&out.headers, "tba_session").unwrap().contains("Max-Age=0"));
    assert_eq!(
        get(&app.address, "/console", &session).await.status,
        StatusCode::SEE_OTHER,
        "that session is over"
    );
    assert_eq!(get(&app.address, "/console", &other).await.status, StatusCode::OK, "the other one lives");
    let third = format!(
        "tba_session={}",
        value(
            &set_cookie(
                &sign_in(&app.address, "ana.lyse@example.org", "un mot de passe sûr").await.headers,
                "tba_session"
            )
            .unwrap()
        )
    );
    let token = csrf_of(&get(&app.address, "/console", &other).await.body);
    assert_eq!(
        post(&app.address, "/console/deconnexion-partout", &other, &[("csrf", &token)]).await.status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        get(&app.address, "/console", &third).await.status,
        StatusCode::SEE_OTHER,
        "every session is over"
    );

    // A session idle too long is over.
    let idle = sign_in(&app.address, "ana.lyse@example.org", "un mot de passe sûr").await;
    let idle = format!("tba_session={}", value(&set_cookie(&idle.headers, "tba_session").unwrap()));
    assert_eq!(get(&app.address, "/console", &idle).await.status, StatusCode::OK);
    sqlx::query("UPDATE sessions SET last_seen_at = now() - interval '3 hours'")
        .execute(&db.pool)
        .await
        .unwrap();
    assert_eq!(get(&app.address, "/console", &idle).await.status, StatusCode::SEE_OTHER);

    // Five failures in a row lock the e-mail for a while, the right password included.
    for _ in 0..5 {
        assert_eq!(
            sign_in(&app.address, "ana.lyse@example.org", "mauvais mot de passe").await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    let locked = sign_in(&app.address, "ana.lyse@example.org", "un mot de passe sûr").await;
    assert_eq!(locked.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(locked.body.contains("trop de tentatives"), "{}", locked.body);
    sqlx::query("UPDATE connexions_echouees SET at = at - interval '20 minutes'")
        .execute(&db.pool)
        .await
        .unwrap();
    // A hostile address (longer than any) is refused and leaves no trace; old failures are purged.
    let long = format!("{}@example.org", "a".repeat(60_000));
    assert_eq!(sign_in(&app.address, &long, "x").await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(sign_in(&app.address, "autre@example.org", "x").await.status, StatusCode::UNAUTHORIZED);
    let kept: Vec<String> =
        sqlx::query_scalar("SELECT email FROM connexions_echouees").fetch_all(&db.pool).await.unwrap();
    assert_eq!(kept, ["autre@example.org"], "only the window's failures, none of the hostile address");

    // A reset link an administrator issues sets a new password; a disabled account signs in no more.
    let reset = link_path(&db.tba(&["comptes", "lien", "ana.lyse@example.org"]));
    let page = get(&app.address, &reset, "").await;
    let csrf = value(&set_cookie(&page.headers, "tba_csrf").unwrap());
    let form = [
        ("mot_de_passe", "un nouveau mot sûr"),
        ("confirmation", "un nouveau mot sûr"),
        ("csrf", csrf.as_str()),
    ];
    assert_eq!(
        post(&app.address, &reset, &format!("tba_csrf={csrf}"), &form).await.status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        sign_in(&app.address, "ana.lyse@example.org", "un mot de passe sûr").await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        sign_in(&app.address, "ana.lyse@example.org", "un nouveau mot sûr").await.status,
        StatusCode::SEE_OTHER
    );
    let listed = common::stdout(&db.tba(&["comptes", "list"]));
    assert!(listed.contains("ana.lyse@example.org\tANALYST\t\tactive"), "{listed}");
    assert!(db.tba(&["comptes", "desactiver", "ana.lyse@example.org"]).status.success());
    assert_eq!(
        sign_in(&app.address, "ana.lyse@example.org", "un nouveau mot sûr").await.status,
        StatusCode::UNAUTHORIZED
    );
    let css = get(&app.address, "/console/static/console.css", "").await;
    assert_eq!(css.status, StatusCode::OK);
    assert_eq!(css.headers["content-type"], "text/css; charset=utf-8");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_prints_a_sign_in_per_kind_of_user_that_opens_the_console() {
    use std::io::BufRead;
    let db = TestDb::new().await;
    let mut demo = std::process::Command::new(env!("CARGO_BIN_EXE_tba"))
        .args(["demo", "--dossiers", "200", "--listen", "127.0.0.1:0"])
        .env("DATABASE_URL", db.url())
        .env("TBA_MASTER_KEY", common::MASTER_KEY)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run tba demo");
    let stdout = std::io::BufReader::new(demo.stdout.take().unwrap());
    let (lines, read) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let (mut address, mut accounts) = (None, Vec::new());
    while accounts.len() < 7 {
        let line =
            read.recv_timeout(std::time::Duration::from_secs(120)).expect("the demo prints its sign-ins");
        if let Some(rest) = line.strip_prefix("the console: ") {
            address = rest.split_whitespace().next().map(|a| a.trim_end_matches(',').to_owned());
        } else if address.is_some() && line.starts_with("  ") {
            let parts: Vec<&str> = line.split_whitespace().collect();
            accounts.push((parts[0].to_owned(), parts[1].to_owned(), parts[2].to_owned()));
        }
    }
    let console = address.expect("the console's address");
    let base = console.trim_end_matches("/console").to_owned();
    let roles: Vec<&str> = accounts.iter().map(|(_, _, role)| role.as_str()).collect();
    assert_eq!(
        roles,
        [
            "(ADMINISTRATEUR)",
            "(ANALYST)",
            "(DREETS)",
            "(MISSION_LOCALE)",
            "(FRANCE_TRAVAIL)",
            "(ORGANISME_FORMATION)",
            "(AUDITOR)"
        ]
    );
    for (email, password, _) in &accounts {
        let page = send(client().get(format!("{base}/console/connexion"))).await;
        let csrf = value(&set_cookie(&page.headers, "tba_csrf").unwrap());
        let signed = send(
            client()
                .post(format!("{base}/console/connexion"))
                .header("cookie", format!("tba_csrf={csrf}"))
                .form(&[
                    ("email", email.as_str()),
                    ("mot_de_passe", password.as_str()),
                    ("csrf", csrf.as_str()),
                ]),
        )
        .await;
        assert_eq!(signed.status, StatusCode::SEE_OTHER, "{email}: {}", signed.body);
        let session = format!("tba_session={}", value(&set_cookie(&signed.headers, "tba_session").unwrap()));
        let home = send(client().get(format!("{base}/console")).header("cookie", session)).await;
        assert!(home.body.contains(email.as_str()), "{email}: {}", home.body);
    }
    demo.kill().unwrap();
    demo.wait().unwrap();
}

/// An account of `role` (its scope), its password set through its invitation; its session cookie.
pub(crate) async fn signed_in(db: &TestDb, base: &str, email: &str, role_and_scope: &[&str]) -> String {
    let mut args = vec!["comptes", "create", "--email", email];
    args.extend_from_slice(role_and_scope);
    let invitation = link_path(&db.tba(&args));
    let page = get(base, &invitation, "").await;
    let csrf = value(&set_cookie(&page.headers, "tba_csrf").unwrap());
    let form = [
        ("mot_de_passe", "un mot de passe sûr"),
        ("confirmation", "un mot de passe sûr"),
        ("csrf", csrf.as_str()),
    ];
    assert_eq!(
        post(base, &invitation, &format!("tba_csrf={csrf}"), &form).await.status,
        StatusCode::SEE_OTHER
    );
    let signed = sign_in(base, email, "un mot de passe sûr").await;
    format!("tba_session={}", value(&set_cookie(&signed.headers, "tba_session").expect("signed in")))
}

/// The names in the list of a queue page, in order.
fn noms(page: &str) -> Vec<String> {
    let liste = &page[page.find("id=\"liste\"").expect("a list")..];
    liste
        .split("<a href=\"/console/ruptures/")
        .skip(1)
        .map(|cell| {
            cell.split_once('>')
                .unwrap()
                .1
                .split('<')
                .next()
                .unwrap()
                .split_whitespace()
                .next()
                .unwrap()
                .to_owned()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_advisor_reads_the_queue_qualifies_an_entry_and_sees_it_move_list() {
    use crate::ruptures::{LYON, push, rupture, setup};
    use common::gql::{graphql, key};
    use tba::auth::keys::Role;
    let (db, app, lyon, projections) = setup().await;
    push(
        &app,
        &lyon,
        serde_json::json!([rupture("R-1", "Adulte", 19, 20, LYON), rupture("R-2", "Mineur", 17, 40, LYON)]),
    )
    .await;
    assert!(db.projection_caught_up(std::time::Duration::from_secs(30)).await);
    let ml = signed_in(
        &db,
        &app.address,
        "conseil@ml-lyon.fr",
        &["--role", "MISSION_LOCALE", "--scope", "MISSION_LOCALE:ML-LYON"],
    )
    .await;

    // The queue: counts first, then the list to deal with, prioritaires (the minor) first.
    let home = get(&app.address, "/console", &ml).await;
    assert!(home.body.contains("href=\"/console/ruptures\""), "{}", home.body);
    let queue = get(&app.address, "/console/ruptures", &ml).await;
    assert_eq!(queue.status, StatusCode::OK);
    assert!(queue.body.contains("Toute la file"), "{}", queue.body);
    assert_eq!(noms(&queue.body), ["MINEUR", "ADULTE"]);
    let read: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM access_log a JOIN comptes c ON c.id = a.key_id
         WHERE c.email = 'conseil@ml-lyon.fr' AND a.action = 'ruptures' AND a.details->'entrees' ? $1",
    )
    .bind(common_entree(&queue.body, 0))
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(read, 1, "the page is a read of the entries it shows, in the access journal");

    // A person's sheet, and a situation in two clicks.
    let entree = common_entree(&queue.body, 0);
    let sheet = get(&app.address, &format!("/console/ruptures/{entree}"), &ml).await;
    assert!(sheet.body.contains("0612345678") && sheet.body.contains("17 ans"), "{}", sheet.body);
    let action = format!("/console/ruptures/{entree}/situation");
    let refused = post(&app.address, &action, &ml, &[("csrf", "faux"), ("situation", "RDV_PRIS")]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let csrf = csrf_of(&sheet.body);
    let bad = post(&app.address, &action, &ml, &[("csrf", csrf.as_str()), ("situation", "AUTRE")]).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("situationAutre"), "the refusal names the field: {}", bad.body);
    let done = post(
        &app.address,
        &action,
        &ml,
        &[
            ("csrf", csrf.as_str()),
            ("situation", "RDV_PRIS"),
            ("connaissance", "NON_CONNU"),
            ("souhaite_rdv", "oui"),
            ("commentaire", "Rappel jeudi"),
        ],
    )
    .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    let location = done.headers[LOCATION].to_str().unwrap().to_owned();
    let back = get(&app.address, &location, &ml).await;
    assert!(
        back.body.contains("Situation enregistrée")
            && back.body.contains("<dd id=\"situation\">Rendez-vous pris</dd>"),
        "{}",
        back.body
    );
    assert!(db.projection_caught_up(std::time::Duration::from_secs(30)).await);
    assert_eq!(noms(&get(&app.address, "/console/ruptures", &ml).await.body), ["ADULTE"]);
    assert_eq!(noms(&get(&app.address, "/console/ruptures?liste=TRAITES", &ml).await.body), ["MINEUR"]);
    assert!(
        back.body.contains("<td>Situation renseignée</td><td>Rendez-vous pris</td><td>Rappel jeudi</td>"),
        "the history: {}",
        back.body
    );
    // The export, as the REST one.
    let export = client()
        .get(app.url("/console/ruptures/export?format=csv"))
        .header("cookie", &ml)
        .send()
        .await
        .unwrap();
    assert_eq!(export.status(), StatusCode::OK);
    assert!(export.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    let csv = export.text().await.unwrap();
    assert!(csv.contains("MINEUR") && csv.contains("ADULTE"), "{csv}");
    // The same as GraphQL answers.
    let api = key(&db, Role::MissionLocale, Some("MISSION_LOCALE:ML-LYON")).await;
    let (_, answer) = graphql(
        &app,
        Some(&api),
        "{ ruptures(liste: TRAITES) { edges { node { id situation souhaiteRdv } } } }",
    )
    .await;
    assert_eq!(answer["data"]["ruptures"]["edges"][0]["node"]["id"], entree.as_str(), "{answer}");
    assert_eq!(answer["data"]["ruptures"]["edges"][0]["node"]["situation"], "RDV_PRIS");
    assert_eq!(answer["data"]["ruptures"]["edges"][0]["node"]["souhaiteRdv"], true);

    // Another Mission Locale sees none of it; a role without a queue is refused.
    let paris = signed_in(
        &db,
        &app.address,
        "conseil@ml-paris.fr",
        &["--role", "MISSION_LOCALE", "--scope", "MISSION_LOCALE:ML-PARIS"],
    )
    .await;
    assert_eq!(
        noms(&get(&app.address, "/console/ruptures?liste=TRAITES", &paris).await.body),
        Vec::<String>::new()
    );
    assert_eq!(
        get(&app.address, &format!("/console/ruptures/{entree}"), &paris).await.status,
        StatusCode::NOT_FOUND
    );
    let token = csrf_of(&get(&app.address, "/console", &paris).await.body);
    let other =
        post(&app.address, &action, &paris, &[("csrf", token.as_str()), ("situation", "RDV_PRIS")]).await;
    assert_eq!(other.status, StatusCode::NOT_FOUND, "{}", other.body);
    let analyste = signed_in(&db, &app.address, "analyste@dreets.fr", &["--role", "ANALYST"]).await;
    assert_eq!(get(&app.address, "/console/ruptures", &analyste).await.status, StatusCode::FORBIDDEN);
    assert_eq!(
        get(&app.address, "/console/ruptures", "").await.status,
        StatusCode::SEE_OTHER,
        "signed out: to the sign-in"
    );
    projections.stop().await;
}

/// The entry of the `n`-th row of a queue page's list.
fn common_entree(page: &str, n: usize) -> String {
    let liste = &page[page.find("id=\"liste\"").expect("a list")..];
    liste.split("<a href=\"/console/ruptures/").nth(n + 1).unwrap().split('"').next().unwrap().to_owned()
}
