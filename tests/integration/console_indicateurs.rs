//! The analyst's dashboard in the console: its counts, its map and its tables are GraphQL's answers to
//! the same questions (date, count, filters), within the reader's perimeter; in a browser too.

use crate::common;

use std::time::Duration;

use common::browser::Browser;
use common::gql::{graphql, key};
use serde_json::{Value, json};
use tba::auth::keys::Role;

use crate::console::signed_in;
use crate::ruptures::{LYON, PARIS, push, rupture, setup};

/// The figure of a territory on the page's map.
fn carte(page: &str, code: &str) -> i64 {
    let mark = format!("data-code=\"{code}\" data-valeur=\"");
    let start = page.find(&mark).unwrap_or_else(|| panic!("{code} on the map")) + mark.len();
    page[start..].split('"').next().unwrap().parse().unwrap()
}

/// The number in the cell of `id`.
fn cellule(page: &str, id: &str) -> i64 {
    let mark = format!("<td id=\"{id}\">");
    let start = page.find(&mark).unwrap_or_else(|| panic!("#{id}")) + mark.len();
    page[start..].split('<').next().unwrap().parse().unwrap()
}

/// `field` of each département group of GraphQL's answer.
async fn par_departement(
    app: &common::TestApp,
    key: &str,
    question: &str,
    field: &str,
) -> Vec<(String, i64)> {
    let query = format!("{{ indicateurs(groupBy: DEPARTEMENT{question}) {{ cle {field} }} }}");
    let (_, answer) = graphql(app, Some(key), &query).await;
    answer["data"]["indicateurs"]
        .as_array()
        .unwrap_or_else(|| panic!("{answer}"))
        .iter()
        .map(|g: &Value| (g["cle"].as_str().unwrap().to_owned(), g[field].as_i64().unwrap()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_graphqls_figures_for_the_same_question() {
    let (db, app, lyon, projections) = setup().await;
    let items = json!([
        rupture("R-1", "Un", 19, 20, LYON),
        rupture("R-2", "Deux", 17, 40, LYON),
        rupture("R-3", "Trois", 22, 10, PARIS),
        common::this_year(common::dossier_v3("A-1")),
        common::this_year(common::dossier_v3("A-2")),
    ]);
    push(&app, &lyon, items).await;
    assert!(db.projection_caught_up(Duration::from_secs(30)).await);
    let analyste = signed_in(&db, &app.address, "analyste@example.org", &["--role", "ANALYST"]).await;
    let api = key(&db, Role::Analyst, None).await;

    let client = reqwest::Client::new();
    let page = |query: &str| {
        let request =
            client.get(app.url(&format!("/console/indicateurs{query}"))).header("cookie", &analyste);
        async move { request.send().await.unwrap().text().await.unwrap() }
    };
    let today = page("").await;
    // A niveau, a date or an instant that is none is refused, naming the field.
    for (query, field) in [
        ("?niveau=99", "niveau"),
        ("?date=2026-13-01", "date"),
        ("?organisme=pas-un-organisme", "filtre.organismes"),
        ("?annee_formation=9", "filtre.anneesFormation"),
        ("?academie=99", "filtre.academies"),
        ("?connu=hier", "connu"),
    ] {
        let refused =
            client.get(app.url(&format!("/console/indicateurs{query}"))).header("cookie", &analyste);
        let refused = refused.send().await.unwrap();
        assert_eq!(refused.status(), 400);
        assert!(refused.text().await.unwrap().contains(&format!("{field} :")), "{query}");
    }
    let (_, national) =
        graphql(&app, Some(&api), "{ indicateurs { apprentis rupturants apprenants } }").await;
    assert_eq!(
        cellule(&today, "apprentis"),
        national["data"]["indicateurs"][0]["apprentis"].as_i64().unwrap()
    );
    assert_eq!(
        cellule(&today, "rupturants"),
        national["data"]["indicateurs"][0]["rupturants"].as_i64().unwrap()
    );
    for (code, apprentis) in par_departement(&app, &api, "", "apprentis").await {
        assert_eq!(carte(&today, &code), apprentis, "département {code}");
    }
    // The table's export: every organisme, GraphQL's figures.
    let (_, organismes) =
        graphql(&app, Some(&api), "{ indicateurs(groupBy: ORGANISME) { cle apprentis rupturants } }").await;
    let organismes = organismes["data"]["indicateurs"].as_array().unwrap().clone();
    let csv = page("/export?par=organisme&format=csv").await;
    assert_eq!(csv.lines().count(), organismes.len() + 1, "{csv}");
    for g in &organismes {
        let row = csv
            .lines()
            .find(|l| l.contains(g["cle"].as_str().unwrap()))
            .unwrap_or_else(|| panic!("{g} in {csv}"));
        let cells: Vec<&str> = row.split(';').collect();
        assert_eq!(cells[2], g["apprentis"].to_string(), "{row}");
        assert_eq!(cells[4], g["rupturants"].to_string(), "{row}");
    }
    // A row of the table filters by its organisme: GraphQL's figures for that organisme.
    let organisme = organismes[0]["cle"].as_str().unwrap().to_owned();
    assert!(
        today.contains(&format!("organisme={organisme}"))
            || today.contains(&format!("organisme={}", organisme.replace(':', "%3A"))),
        "a row links to its filter"
    );
    let filtree = page(&format!("?organisme={organisme}")).await;
    let (_, seul) = graphql(
        &app,
        Some(&api),
        &format!("{{ indicateurs(filtre: {{ organismes: [\"{organisme}\"] }}) {{ apprentis rupturants }} }}"),
    )
    .await;
    assert_eq!(cellule(&filtree, "apprentis"), seul["data"]["indicateurs"][0]["apprentis"].as_i64().unwrap());
    assert_eq!(
        cellule(&filtree, "rupturants"),
        seul["data"]["indicateurs"][0]["rupturants"].as_i64().unwrap()
    );
    // Another count, an age band, an earlier day: still GraphQL's figures.
    let date = (chrono::Utc::now().date_naive() - chrono::Duration::days(15)).to_string();
    let question = format!("?date={date}&compte=rupturants&tranche=18-20");
    let earlier = page(&question).await;
    let expected = par_departement(
        &app,
        &api,
        &format!(", date: \"{date}\", filtre: {{ tranchesAge: [DE_18_A_20] }}"),
        "rupturants",
    )
    .await;
    assert!(!expected.is_empty());
    for (code, rupturants) in expected {
        assert_eq!(carte(&earlier, &code), rupturants, "département {code} on {date}");
    }
    // A click on the map filters by its département.
    let lyon_only = page("?departement=69").await;
    let (_, answer) =
        graphql(&app, Some(&api), r#"{ indicateurs(filtre: { departements: ["69"] }) { apprentis } }"#).await;
    assert_eq!(
        cellule(&lyon_only, "apprentis"),
        answer["data"]["indicateurs"][0]["apprentis"].as_i64().unwrap()
    );
    assert!(today.contains("href=\"/console/indicateurs?date="), "each territory is a link");

    // In a browser: the date and a filter changed, the map's figures are GraphQL's.
    // What seeing the dashboard transfers (compressed, with headers), from a cold cache: the sign-in
    // page with the design system, then the dashboard; a later visit, only the page (assets cached).
    let transferred =
        "return performance.getEntriesByType('navigation').concat(performance.getEntriesByType('resource'))
                              .reduce((sum, e) => sum + e.transferSize, 0);";
    let browser = Browser::start().await;
    browser.goto(&app.url("/console/connexion")).await;
    let connexion = browser.run(transferred).await.as_i64().unwrap();
    browser.sign_in(&app.address, "analyste@example.org", "un mot de passe sûr").await;
    browser.click("a[href='/console/indicateurs']").await;
    let tableau = browser.run(transferred).await.as_i64().unwrap();
    browser.goto(&app.url("/console/indicateurs")).await;
    let later = browser.run(transferred).await.as_i64().unwrap();
    let first = connexion + tableau;
    eprintln!(
        "dashboard: first visit {first} bytes (sign-in {connexion}, dashboard {tableau}), later visit {later} bytes"
    );
    assert!(first <= 400 * 1024, "a first visit transfers {first} bytes");
    assert!(later <= 50 * 1024, "a later visit transfers {later} bytes");
    browser.check("indicateurs").await;

    browser.run(&format!("document.getElementById('date').value = '{date}'; return true;")).await;
    browser.click("#compte option[value=rupturants]").await;
    browser.click("#tranche option[value='18-20']").await;
    browser.click("form.fr-filtres button[type=submit]").await;
    browser.wait_url_with("tranche=18-20").await;
    browser.check("indicateurs-filtres").await;
    let shown = browser
        .run("return document.querySelector('path[data-code=\"69\"]').getAttribute('data-valeur');")
        .await;
    let expected = par_departement(
        &app,
        &api,
        &format!(", date: \"{date}\", filtre: {{ tranchesAge: [DE_18_A_20] }}"),
        "rupturants",
    )
    .await;
    let lyon_figure = expected.iter().find(|(c, _)| c == "69").map_or(0, |(_, n)| *n);
    assert_eq!(shown, json!(lyon_figure.to_string()), "the browser's map shows GraphQL's figure");
    drop(browser);
    projections.stop().await;
}
