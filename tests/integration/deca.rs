//! `tba deca import`: an extract of the national contracts base becomes events, the apprentice's data
//! sealed; an unchanged extract writes nothing; a contract gone from a later extract is withdrawn; a bad
//! extract writes nothing. An organisme that never transmitted counts its learners from DECA until its
//! first ERP or file dossier; every figure splits by source.

use crate::common;

use std::time::Duration;

use common::gql::{graphql, key};
use common::{CFA_LYON, CFA_PARIS, TestDb, dossier_v3};
use serde_json::json;
use tba::auth::keys::Role;

const HEADER: &str = "numero_contrat;siret_employeur;opco;uai_organisme;siret_organisme;cfd;rncp;nom;prenom;\
                      date_de_naissance;ine;email;telephone;adresse;code_postal;code_commune_insee;date_debut;\
                      date_fin_prevue;date_rupture;cause_rupture";

fn row(numero: &str, nom: &str, rupture: &str) -> String {
    format!(
        "{numero};55210055400013;OPCO EP;0693456K;12345678901234;50022137;;{nom};Léa;14/03/2006;;\
         lea@example.org;0612345678;1 rue de la Paix;69003;69383;2025-09-01;2027-06-30;{rupture};démission"
    )
}

fn file(name: &str, rows: &[String]) -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("deca-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, format!("{HEADER}\n{}\n", rows.join("\n"))).unwrap();
    path
}

fn import(db: &TestDb, path: &std::path::Path) -> String {
    let output = db.tba(&["deca", "import", path.to_str().unwrap()]);
    assert!(output.status.success(), "{output:?}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test]
async fn an_extract_is_recorded_once_sealed_and_what_leaves_it_is_withdrawn() {
    let db = TestDb::new().await;
    let first = [row("C-1", "Martin", ""), row("C-2", "Durand", "2026-01-15")];
    assert!(import(&db, &file("a.csv", &first)).contains("2 created, 0 changed, 0 unchanged, 0 withdrawn"));
    assert!(import(&db, &file("a.csv", &first)).contains("0 created, 0 changed, 2 unchanged, 0 withdrawn"));
    assert_eq!(db.head().await, 2, "the same extract again writes nothing");
    let clear: i64 = sqlx::query_scalar("SELECT count(*) FROM events WHERE data::text LIKE '%Martin%'")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(clear, 0, "the apprentice's identity is sealed in the log");
    let (stream, empreinte): (String, Option<String>) =
        sqlx::query_as("SELECT stream_id, data->>'empreinte' FROM events WHERE position = 1")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(stream, "deca-C-1");
    assert_eq!(empreinte.map(|e| e.len()), Some(64));

    // The next week: C-1 broke, C-2 is gone.
    let later = [row("C-1", "Martin", "2026-11-20")];
    assert!(import(&db, &file("b.csv", &later)).contains("0 created, 1 changed, 0 unchanged, 1 withdrawn"));
    let types: Vec<(String, String)> =
        sqlx::query_as("SELECT stream_id, event_type FROM events WHERE position > 2 ORDER BY position")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    assert_eq!(
        types,
        [
            ("deca-C-1".to_owned(), "ContratDecaEnregistre".to_owned()),
            ("deca-C-2".to_owned(), "ContratDecaRetire".to_owned())
        ]
    );
    assert!(import(&db, &file("b.csv", &later)).contains("0 created, 0 changed, 1 unchanged, 0 withdrawn"));

    let bad = [row("C-3", "Petit", ""), row("C-4", "", "1999-01-01")];
    let refused = db.tba(&["deca", "import", file("c.csv", &bad).to_str().unwrap()]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("line 3: nom") && stderr.contains("line 3: date_rupture"), "{stderr}");
    assert_eq!(db.head().await, 4, "nothing of a refused extract is written");
    let verify = db.tba(&["verify"]);
    assert!(verify.status.success(), "{verify:?}");
}

fn contrat(numero: &str, (uai, siret): (&str, &str), nom: &str, rupture: &str) -> String {
    format!(
        "{numero};55210055400013;OPCO EP;{uai};{siret};50022137;;{nom};Léa;14/03/2006;;\
         lea@example.org;0612345678;1 rue de la Paix;69003;69383;2025-09-01;2027-06-30;{rupture};démission"
    )
}

/// Apprentis, rupturants per source on 2026-01-15, as known now or at `connu_au`.
async fn par_source(app: &common::TestApp, key: &str, connu_au: Option<&str>) -> Vec<(String, i64, i64)> {
    let connu = connu_au.map(|t| format!(r#", connuAu: "{t}""#)).unwrap_or_default();
    let query = format!(
        r#"{{ indicateurs(date: "2026-01-15", groupBy: SOURCE{connu}) {{ cle libelle apprentis rupturants }} }}"#
    );
    let (_, answer) = graphql(app, Some(key), &query).await;
    let groupes = answer["data"]["indicateurs"].as_array().unwrap_or_else(|| panic!("{answer}"));
    groupes
        .iter()
        .map(|g| {
            (
                g["cle"].as_str().unwrap().to_owned(),
                g["apprentis"].as_i64().unwrap(),
                g["rupturants"].as_i64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn an_organisme_counts_from_deca_until_its_first_transmission_and_as_known_before_it_still_does() {
    let (db, app, cfa) = common::lyon_app().await;
    let projections = tba::read_models::Projections::start(&app.store);
    let admin = key(&db, Role::Administrateur, None).await;
    let extract = [
        contrat("C-1", CFA_LYON, "Martin", ""),
        contrat("C-2", CFA_PARIS, "Durand", ""),
        contrat("C-3", CFA_PARIS, "Petit", "2026-01-10"),
    ];
    import(&db, &file("sources.csv", &extract));
    assert!(db.projection_caught_up(Duration::from_secs(20)).await);
    // Each contract counts once per année scolaire it spans: C-1 and C-2 twice, C-3 (broken in its
    // first year) once.
    let ids: Vec<String> =
        sqlx::query_scalar("SELECT dossier_id FROM rm_dossiers WHERE source = 'DECA' ORDER BY 1")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    assert_eq!(
        ids,
        [
            "deca-C-1:2025-2026",
            "deca-C-1:2026-2027",
            "deca-C-2:2025-2026",
            "deca-C-2:2026-2027",
            "deca-C-3:2025-2026"
        ]
    );
    assert_eq!(par_source(&app, &admin, None).await, [("DECA".to_owned(), 2, 1)]);
    let (_, answer) = graphql(
        &app,
        Some(&admin),
        r#"{ indicateurs(date: "2026-01-15", filtre: { sources: [DECA], departements: ["75"] }) { apprentis rupturants }
             dossier(id: "deca-C-3:2025-2026") { source idErpApprenant apprenant { nom telephone }
               contrats { dateDebut dateRupture causeRupture } statut(date: "2026-01-15") } }"#,
    )
    .await;
    assert_eq!(answer["data"]["indicateurs"], json!([{ "apprentis": 1, "rupturants": 1 }]), "{answer}");
    // The nominative list splits by source too.
    let (_, liste) = graphql(
        &app,
        Some(&admin),
        r#"{ dossiers(date: "2026-01-15", filtre: { sources: [DECA], departements: ["75"] }) { edges { node { id source } } } }"#,
    )
    .await;
    let ids: Vec<&str> = liste["data"]["dossiers"]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("{liste}"))
        .iter()
        .map(|e| e["node"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["deca-C-2:2025-2026", "deca-C-3:2025-2026"], "{liste}");
    let (_, aucun) = graphql(
        &app,
        Some(&admin),
        r#"{ dossiers(date: "2026-01-15", filtre: { sources: [ERP] }) { edges { node { id } } } }"#,
    )
    .await;
    assert_eq!(aucun["data"]["dossiers"]["edges"], json!([]), "{aucun}");
    let dossier = &answer["data"]["dossier"];
    assert_eq!(dossier["source"], "DECA");
    assert_eq!(dossier["idErpApprenant"], "C-3");
    assert_eq!(dossier["apprenant"]["nom"], "PETIT");
    assert_eq!(dossier["contrats"][0]["dateRupture"], "2026-01-10");
    assert_eq!(dossier["statut"], "RUPTURANT");

    // Lyon's software transmits: its own data wins from that event on.
    let before = chrono::Utc::now();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let (status, answer) = app.post("/api/v3/dossiers-apprenants", &cfa, &json!([dossier_v3("ERP-1")])).await;
    assert_eq!(status, 200, "{answer}");
    assert!(db.projection_caught_up(Duration::from_secs(20)).await);
    assert_eq!(par_source(&app, &admin, None).await, [("DECA".to_owned(), 1, 1), ("ERP".to_owned(), 1, 0)]);
    let lyon: i64 =
        sqlx::query_scalar("SELECT count(*) FROM rm_dossiers WHERE source = 'DECA' AND uai_formateur = $1")
            .bind(CFA_LYON.0)
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(lyon, 0, "Lyon's DECA contracts count for nothing once it transmits");
    let before = before.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    assert_eq!(
        par_source(&app, &admin, Some(&before)).await,
        [("DECA".to_owned(), 2, 1)],
        "as known before the switch"
    );
    // A later extract for Lyon is ignored too.
    import(
        &db,
        &file(
            "later.csv",
            &[contrat("C-1", CFA_LYON, "Martin", "2026-01-05"), extract[1].clone(), extract[2].clone()],
        ),
    );
    assert!(db.projection_caught_up(Duration::from_secs(20)).await);
    assert_eq!(par_source(&app, &admin, None).await, [("DECA".to_owned(), 1, 1), ("ERP".to_owned(), 1, 0)]);

    // Durand's erasure reaches the DECA dossiers: they still count, their personal data reads erased.
    let (_, answer) =
        graphql(&app, Some(&admin), r#"{ dossier(id: "deca-C-2:2025-2026") { personne } }"#).await;
    let personne =
        answer["data"]["dossier"]["personne"].as_str().unwrap_or_else(|| panic!("{answer}")).to_owned();
    crate::ruptures::erase(&db, &app, &admin, &personne).await;
    let (_, answer) = graphql(
        &app,
        Some(&admin),
        r#"{ dossier(id: "deca-C-2:2026-2027") { personne apprenant { efface nom telephone } } }"#,
    )
    .await;
    assert_eq!(
        answer["data"]["dossier"]["apprenant"],
        json!({ "efface": true, "nom": null, "telephone": null }),
        "{answer}"
    );
    assert_eq!(par_source(&app, &admin, None).await, [("DECA".to_owned(), 1, 1), ("ERP".to_owned(), 1, 0)]);
    // Paris deposits a file: the file's dossier counts (FICHIER), its DECA dossiers go.
    let paris = db.organisme_key(CFA_PARIS).await;
    let mut depose = dossier_v3("F-1");
    for (field, value) in [
        ("etablissement_formateur_uai", CFA_PARIS.0),
        ("etablissement_formateur_siret", CFA_PARIS.1),
        ("etablissement_responsable_uai", CFA_PARIS.0),
        ("etablissement_responsable_siret", CFA_PARIS.1),
    ] {
        depose[field] = json!(value);
    }
    let response = reqwest::Client::new()
        .post(app.url("/api/v1/imports"))
        .bearer_auth(&paris)
        .body(crate::imports::csv(&[depose], ';'))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{:?}", response.text().await);
    assert!(db.projection_caught_up(Duration::from_secs(20)).await);
    assert_eq!(
        par_source(&app, &admin, None).await,
        [("ERP".to_owned(), 1, 0), ("FICHIER".to_owned(), 1, 0)]
    );
    import(&db, &file("paris.csv", &[contrat("C-2", CFA_PARIS, "Durand", ""), extract[2].clone()]));
    assert!(db.projection_caught_up(Duration::from_secs(20)).await);
    let (_, answer) = graphql(
        &app,
        Some(&admin),
        "{ couverture { departement libelle transmettent decaSeulement aucune dossiersDeca } }",
    )
    .await;
    assert_eq!(
        answer["data"]["couverture"],
        json!([
            { "departement": "69", "libelle": "Rhône", "transmettent": 1, "decaSeulement": 0, "aucune": 1, "dossiersDeca": 0 },
            { "departement": "75", "libelle": "Paris", "transmettent": 1, "decaSeulement": 0, "aucune": 0, "dossiersDeca": 0 }
        ]),
        "{answer}"
    );
    let (_, own) = graphql(&app, Some(&cfa), "{ couverture { departement transmettent aucune } }").await;
    assert_eq!(
        own["data"]["couverture"],
        json!([{ "departement": "69", "transmettent": 1, "aucune": 0 }]),
        "an organisme sees its own coverage only: {own}"
    );

    projections.stop().await;
    db.assert_rebuild_gives_the_live_checksum();
    db.assert_rebuild_of("ruptures");
}
