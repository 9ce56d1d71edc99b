//! The auditor's page: the head of the log (GraphQL's), the signed checkpoints, an inclusion proof
//! downloaded that `tba checkpoint check-proof` accepts offline, and the access journal with filters.

use crate::common;

use common::gql::{graphql, key};
use tba::auth::keys::Role;

use crate::console::signed_in;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_auditor_reads_the_head_downloads_a_proof_and_filters_the_journal() {
    let (db, app, cfa) = common::lyon_app().await;
    let projections = tba::read_models::Projections::start(&app.store);
    let (status, _) =
        app.post("/api/v3/dossiers-apprenants", &cfa, &serde_json::json!([common::dossier_v3("A-1")])).await;
    assert_eq!(status, 200);
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("audit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let key_file = dir.join("operator.key").to_string_lossy().into_owned();
    let made = db.tba(&["checkpoint", "keygen", &key_file]);
    assert!(made.status.success(), "{made:?}");
    let public = common::stdout(&made).trim().to_owned();
    assert!(db.tba(&["checkpoint", "sign", "--key", &key_file]).status.success());

    let auditeur = signed_in(&db, &app.address, "audit@example.org", &["--role", "AUDITOR"]).await;
    let client = reqwest::Client::new();
    let page = client.get(app.url("/console/audit")).header("cookie", &auditeur).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    let (_, head) = graphql(&app, None, "{ logHead { position hash } }").await;
    let position = head["data"]["logHead"]["position"].as_i64().unwrap();
    assert!(page.contains(&format!("<dd id=\"position\">{position}</dd>")), "{page}");
    assert!(page.contains(head["data"]["logHead"]["hash"].as_str().unwrap()), "{page}");
    assert!(
        page.contains(&format!("<th scope=\"row\">{position}</th>")),
        "the signed checkpoint is listed: {page}"
    );

    // A proof to download, that holds offline.
    let proof = client
        .get(app.url("/console/audit/preuve?position=1"))
        .header("cookie", &auditeur)
        .send()
        .await
        .unwrap();
    assert_eq!(proof.status(), 200);
    assert!(proof.headers()["content-disposition"].to_str().unwrap().starts_with("attachment"));
    let file = dir.join("preuve-1.json");
    std::fs::write(&file, proof.bytes().await.unwrap()).unwrap();
    let checked = db.tba(&["checkpoint", "check-proof", file.to_str().unwrap(), "--public-key", &public]);
    assert!(checked.status.success(), "{checked:?}");
    let beyond = client
        .get(app.url("/console/audit/preuve?position=999"))
        .header("cookie", &auditeur)
        .send()
        .await
        .unwrap();
    assert_eq!(beyond.status(), 400);

    // The journal, filtered: the proof's download is in it.
    let filtered = client
        .get(app.url("/console/audit?action=preuve_inclusion"))
        .header("cookie", &auditeur)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(filtered.contains("<td>preuve_inclusion</td><td>1</td>"), "{filtered}");
    assert!(!filtered.contains("<td>ruptures</td>"));
    let (_, journal) = graphql(
        &app,
        Some(&key(&db, Role::Auditor, None).await),
        "{ journalDesAcces(first: 50) { edges { node { action sujet } } } }",
    )
    .await;
    assert!(journal.to_string().contains("preuve_inclusion"), "GraphQL's journal has it too: {journal}");

    // Any figure as known at an instant: GraphQL's `connuAu`.
    let avant = chrono::Utc::now();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let (status, _) =
        app.post("/api/v3/dossiers-apprenants", &cfa, &serde_json::json!([common::dossier_v3("A-2")])).await;
    assert_eq!(status, 200);
    assert!(db.projection_caught_up(std::time::Duration::from_secs(20)).await);
    let instant = avant.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let connu = client
        .get(app.url(&format!("/console/indicateurs?date=2026-01-15&connu={instant}")))
        .header("cookie", &auditeur)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let query = format!(r#"{{ indicateurs(date: "2026-01-15", connuAu: "{instant}") {{ apprentis }} }}"#);
    let (_, then) = graphql(&app, Some(&key(&db, Role::Auditor, None).await), &query).await;
    let expected = then["data"]["indicateurs"][0]["apprentis"].as_i64().unwrap();
    assert_eq!(expected, 1, "one dossier was known then: {then}");
    assert!(connu.contains(&format!("<td id=\"apprentis\">{expected}</td>")), "{connu}");

    // Others may not.
    let cfa_account =
        signed_in(&db, &app.address, "cfa@example.org", &["--organisme", "0693456K:12345678901234"]).await;
    let refused = client.get(app.url("/console/audit")).header("cookie", &cfa_account).send().await.unwrap();
    assert_eq!(refused.status(), 403);
    let browser = common::browser::Browser::start().await;
    browser.sign_in(&app.address, "audit@example.org", "un mot de passe sûr").await;
    browser.click("a[href='/console/audit']").await;
    browser.check("audit").await;
    drop(browser);
    projections.stop().await;
}
