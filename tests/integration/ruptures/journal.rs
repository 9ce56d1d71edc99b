//! Every read of personal data is recorded; exports keep formulas as text.

use crate::common;

use std::time::Duration;

use common::CFA_LYON;
use common::gql::{graphql, key, subscribed};
use serde_json::{Value, json};
use tba::auth::keys::Role;

use super::{LYON, push, rupture, setup};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn formula_looking_names_and_comments_reach_the_export_as_text() {
    let (db, app, lyon, projections) = setup().await;
    let mut item = rupture("F-1", "=HYPERLINK(\"http://x\";\"y\")", 19, 3, LYON);
    item["prenom_apprenant"] = json!("+Léa");
    push(&app, &lyon, json!([item])).await;
    assert!(db.projection_caught_up(Duration::from_secs(30)).await);
    let ml = key(&db, Role::MissionLocale, Some("MISSION_LOCALE:ML-LYON")).await;
    let entree: String =
        sqlx::query_scalar("SELECT entree FROM rm_ruptures LIMIT 1").fetch_one(&db.pool).await.unwrap();
    let mutation = format!(
        "mutation {{ renseignerSituation(entree: {entree:?}, situation: RDV_PRIS, commentaire: \"@SUM(A1)\") {{ liste }} }}"
    );
    let (_, done) = graphql(&app, Some(&ml), &mutation).await;
    assert_eq!(done["data"]["renseignerSituation"]["liste"], "TRAITES", "{done}");
    assert!(db.projection_caught_up(Duration::from_secs(30)).await);

    let csv = reqwest::Client::new()
        .get(app.url("/api/v1/missions-locales/ML-LYON/export?format=csv&liste=TRAITES"))
        .bearer_auth(&ml)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut reader =
        csv::ReaderBuilder::new().delimiter(b';').from_reader(csv.trim_start_matches('\u{feff}').as_bytes());
    let headers = reader.headers().unwrap().clone();
    let row = reader.records().next().unwrap().unwrap();
    let cell = |name: &str| row.get(headers.iter().position(|h| h == name).unwrap()).unwrap().to_owned();
    assert_eq!(cell("nom"), "'=HYPERLINK(\"HTTP://X\";\"Y\")");
    assert_eq!(cell("prenom"), "'+Léa");
    assert_eq!(cell("commentaire"), "'@SUM(A1)");
    projections.stop().await;
}

/// The fields and root fields the schema says record their read in the access journal, as
/// `Type.field`: every field that returns personal data says so in its description.
fn journaled_fields() -> std::collections::BTreeSet<String> {
    let schema = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql")).unwrap();
    let (mut fields, mut kind, mut description, mut inside) =
        (std::collections::BTreeSet::new(), String::new(), String::new(), false);
    for line in schema.lines() {
        let trimmed = line.trim();
        if let Some(rest) = ["type ", "input "].iter().find_map(|k| line.strip_prefix(k)) {
            kind = rest.split_whitespace().next().unwrap().to_owned();
        }
        if trimmed == "\"\"\"" {
            inside = !inside;
            if inside {
                description.clear();
            }
            continue;
        }
        if inside {
            description.push(' ');
            description.push_str(trimmed);
        } else if line.starts_with('\t') && !trimmed.is_empty() {
            let words: Vec<&str> = description.split_whitespace().collect();
            if words.join(" ").contains("recorded in the access journal")
                || words.join(" ").contains("recorded in the access log")
            {
                let name: String = trimmed.chars().take_while(|c| c.is_alphanumeric()).collect();
                fields.insert(format!("{kind}.{name}"));
            }
            description.clear();
        }
    }
    fields
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_field_and_endpoint_that_returns_personal_data_records_its_read() {
    // Each field the schema marks, with how this test reaches it (or the test that does), and the
    // action it records.
    let covered: [(&str, &str); 22] = [
        ("Dossier.apprenant", "here, in a mutation's answer"),
        ("Query.dossier", "here"),
        ("Query.dossiers", "here"),
        ("Query.events", "here, an empty page"),
        ("Query.stream", "here"),
        ("Query.ruptures", "here, an empty page"),
        ("Query.rupture", "here"),
        ("RuptureEntree.commentaire", "here, in a mutation's answer"),
        ("RuptureEntree.situationAutre", "here"),
        ("RuptureEntree.problemeDetail", "here"),
        ("RuptureEntree.messages", "here"),
        ("RuptureEntree.contactsVerifies", "here"),
        ("RuptureEntree.historique", "here"),
        ("Subscription.ruptureQueue", "here"),
        ("Subscription.eventsAppended", "here"),
        ("Query.preuveInclusion", "tests/integrity.rs"),
        ("Query.voeuxNonConcretises", "tests/voeux.rs"),
        ("Query.franceTravail", "here, an empty page"),
        ("Query.franceTravailEntree", "tests/france_travail/file.rs"),
        ("EntreeFranceTravail.situations", "tests/france_travail/file.rs"),
        ("EntreeFranceTravail.historique", "tests/france_travail/file.rs"),
        ("Subscription.franceTravailQueue", "tests/france_travail/file.rs"),
    ];
    let marked = journaled_fields();
    let listed: std::collections::BTreeSet<String> = covered.iter().map(|(f, _)| (*f).to_owned()).collect();
    assert_eq!(marked, listed, "every field marked in schema.graphql is checked, and only those");

    let (db, app, lyon, projections) = setup().await;
    push(&app, &lyon, json!([rupture("J-1", "Journal", 19, 20, LYON)])).await;
    assert!(db.projection_caught_up(Duration::from_secs(30)).await);
    let ml = key(&db, Role::MissionLocale, Some("MISSION_LOCALE:ML-LYON")).await;
    let auditor = key(&db, Role::Auditor, None).await;
    let admin = key(&db, Role::Administrateur, None).await;
    let ft = key(&db, Role::FranceTravail, Some("REGION:84")).await;
    let entree: String =
        sqlx::query_scalar("SELECT entree FROM rm_ruptures LIMIT 1").fetch_one(&db.pool).await.unwrap();
    let dossier = db.dossier_id("J-1").await;
    let count = |action: &'static str| {
        let pool = db.pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>("SELECT count(*) FROM access_log WHERE action = $1")
                .bind(action)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    let reads: Vec<(&str, &str, String, &str)> = vec![
        (
            "the answer of a mutation",
            ml.as_str(),
            format!(
                "mutation {{ renseignerSituation(entree: {entree:?}, situation: RDV_PRIS, commentaire: \"rappel\") {{ commentaire dossier {{ apprenant {{ nom }} }} }} }}"
            ),
            "apprenant",
        ),
        (
            "a mutation's answer holding the comment",
            ml.as_str(),
            format!(
                "mutation {{ renseignerSituation(entree: {entree:?}, situation: AUTRE, situationAutre: \"déménage\") {{ situationAutre }} }}"
            ),
            "rupture",
        ),
        (
            "a mutation's answer holding the problem in words",
            ml.as_str(),
            format!(
                "mutation {{ renseignerSituation(entree: {entree:?}, situation: CONTACTE_SANS_RETOUR, problemeType: AUTRE, problemeDetail: \"numéro d'un tiers\") {{ problemeDetail }} }}"
            ),
            "rupture",
        ),
        (
            "an entry's verified contacts",
            ml.as_str(),
            format!("{{ rupture(id: {entree:?}) {{ contactsVerifies {{ telephone }} }} }}"),
            "rupture",
        ),
        (
            "an entry's thread",
            ml.as_str(),
            format!("{{ rupture(id: {entree:?}) {{ messages {{ texte }} }} }}"),
            "rupture",
        ),
        (
            "an entry's history",
            ml.as_str(),
            format!("{{ rupture(id: {entree:?}) {{ historique {{ commentaire }} }} }}"),
            "rupture",
        ),
        (
            "an empty page of a queue",
            ml.as_str(),
            "{ ruptures(liste: A_RECONTACTER) { edges { cursor } } }".into(),
            "ruptures",
        ),
        (
            "an empty page of France Travail's queue",
            ft.as_str(),
            "{ franceTravail { edges { cursor } } }".into(),
            "franceTravail",
        ),
        ("a dossier", admin.as_str(), format!("{{ dossier(id: {dossier:?}) {{ id }} }}"), "dossier"),
        (
            "a page of dossiers",
            admin.as_str(),
            "{ dossiers(statuts: [RUPTURANT]) { edges { cursor } } }".into(),
            "dossiers",
        ),
        (
            "an empty page of the log",
            auditor.as_str(),
            "{ events(after: 1000000) { edges { cursor } } }".into(),
            "evenements",
        ),
        ("a stream", auditor.as_str(), format!("{{ stream(id: {dossier:?}) {{ position }} }}"), "stream"),
    ];
    for (what, key, query, action) in reads {
        let before = count(action).await;
        let (_, answer) = graphql(&app, Some(key), &query).await;
        assert!(answer.get("errors").is_none(), "{what}: {answer}");
        assert!(count(action).await > before, "{what} is recorded as {action}");
    }
    for (key, query, action) in [
        (ml.as_str(), "subscription { ruptureQueue(missionLocale: \"ML-LYON\") { id } }", "ruptureQueue"),
        (auditor.as_str(), "subscription { eventsAppended(after: 0) { position } }", "eventsAppended"),
    ] {
        let before = sqlx::query_scalar::<_, i64>("SELECT count(*) FROM access_log")
            .fetch_one(&db.pool)
            .await
            .unwrap();
        let _socket = subscribed(&app, key, query).await;
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            let now = sqlx::query_scalar::<_, i64>("SELECT count(*) FROM access_log")
                .fetch_one(&db.pool)
                .await
                .unwrap();
            if now > before {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "{query} ({action}) is recorded");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    // REST: every endpoint the OpenAPI description marks as returning personal data.
    let openapi: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json")).unwrap(),
    )
    .unwrap();
    let mut marked: Vec<String> = Vec::new();
    for (path, methods) in openapi["paths"].as_object().unwrap() {
        for (_, operation) in methods.as_object().unwrap() {
            let text = format!(
                "{} {}",
                operation["summary"].as_str().unwrap_or(""),
                operation["description"].as_str().unwrap_or("")
            );
            if text.split_whitespace().collect::<Vec<_>>().join(" ").contains("access journal") {
                marked.push(path.clone());
            }
        }
    }
    marked.sort();
    assert_eq!(
        marked,
        [
            "/api/v1/france-travail/export",
            "/api/v1/missions-locales/{id}/export",
            "/api/v1/organismes/{organisme}/ruptures/export",
            "/api/v1/transmissions",
            "/api/v1/transmissions/{id}/rejets.csv"
        ],
        "every endpoint marked in openapi.json is checked, and only those"
    );
    let mut bad = rupture("J-2", "Refusé", 19, 20, LYON);
    bad["date_de_naissance_apprenant"] = json!("31/12/2006");
    let (_, answer) = app.post("/api/v3/dossiers-apprenants", &lyon, &json!([bad])).await;
    let transmission = answer["transmission_id"].as_str().unwrap().to_owned();
    for (key, path, action) in [
        (&ml, "/api/v1/missions-locales/ML-LYON/export?format=csv".to_owned(), "export"),
        (
            &lyon,
            format!("/api/v1/organismes/{}:{}/ruptures/export?format=csv", CFA_LYON.0, CFA_LYON.1),
            "export",
        ),
        (&ft, "/api/v1/france-travail/export?format=csv".to_owned(), "export"),
        (&lyon, "/api/v1/transmissions".to_owned(), "transmissions"),
        (&lyon, format!("/api/v1/transmissions/{transmission}/rejets.csv"), "rejets"),
    ] {
        let before = count(action).await;
        let response = reqwest::Client::new().get(app.url(&path)).bearer_auth(key).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        assert!(count(action).await > before, "{path} is recorded as {action}");
    }
    projections.stop().await;
}
