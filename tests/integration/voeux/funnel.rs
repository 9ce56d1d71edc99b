//! The funnel and the candidates "non concrétisés", by territory and role, across académies and
//! identity corrections.

use crate::common;

use std::time::Duration;

use common::gql::{code, graphql, key};
use common::{CFA_LYON, CFA_PARIS, TestDb};
use serde_json::{Value, json};
use tba::auth::keys::Role;

use super::{HEADER, dossier, rentree, row, s, sans_contrat, setup, stages};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_role_reads_the_funnel_and_the_non_concretises_of_its_territory_only() {
    let t = setup().await;
    let (r, lyon) = (rentree(), CFA_LYON.0);
    t.push(json!([sans_contrat(dossier("D-INSCRIT", "Inscrit", "Ines", "2010-03-14", None))])).await;
    let file = format!(
        "{HEADER}\n{}{}{}",
        row("10", &format!(";Inscrit;Ines;;14/03/2010;ines@example.org;0611111111;AFF1;;{lyon};1"), r),
        row("10", &format!("200000001AA;Sansdossier;Sam;;;sam@example.org;;AFF1;;{lyon};1"), r),
        row("01", &format!("200000002AA;Parisien;Pia;;;;;AFF1;;{};1", CFA_PARIS.0), r),
    );
    t.import_ok("affelnet", "f.csv", &file);
    let list = |key: String, arguments: &'static str| {
        let query = format!(
            "{{ voeuxNonConcretises(source: AFFELNET, rentree: {r}{arguments}) {{ candidats {{ nom etape academie
               email telephone voeux {{ uaiFormateur rang inscrit }} }} suivant }} }}"
        );
        let app = &t.app;
        async move { graphql(app, Some(&key), &query).await.1 }
    };
    let noms = |answer: &Value| -> Vec<String> {
        answer["data"]["voeuxNonConcretises"]["candidats"]
            .as_array()
            .unwrap_or_else(|| panic!("{answer}"))
            .iter()
            .map(|c| c["nom"].as_str().unwrap().to_owned())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect()
    };
    assert!(t.db.projection_caught_up(Duration::from_secs(30)).await);

    // ACADEMIE: its own académie, with contacts, and each page read is in the access log.
    let academie = key(&t.db, Role::Academie, Some("ACADEMIE:10")).await;
    let answer = list(academie.clone(), "").await;
    assert_eq!(noms(&answer), ["Inscrit", "Sansdossier"], "{answer}");
    let ines = answer["data"]["voeuxNonConcretises"]["candidats"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["nom"] == "Inscrit")
        .unwrap()
        .clone();
    assert_eq!(ines["etape"], "INSCRIT");
    assert_eq!(ines["telephone"], "0611111111");
    assert_eq!(ines["voeux"][0]["inscrit"], true);
    let logged: i64 =
        sqlx::query_scalar("SELECT count(*) FROM access_log WHERE action = 'voeux_non_concretises'")
            .fetch_one(&t.db.pool)
            .await
            .unwrap();
    assert_eq!(logged, 1);
    let bad_first = list(academie.clone(), ", first: 0").await;
    assert!(bad_first["errors"][0]["message"].as_str().unwrap().contains("first"), "{bad_first}");
    let bad_rentree =
        graphql(&t.app, Some(&academie), "{ funnel(source: AFFELNET, rentree: 1900) { voeux } }").await.1;
    assert!(bad_rentree["errors"][0]["message"].as_str().unwrap().contains("rentree"), "{bad_rentree}");
    let outside = list(academie.clone(), ", academies: [\"01\"]").await;
    assert_eq!(code(&outside), "BAD_USER_INPUT", "{outside}");
    assert_eq!(stages(&t.funnel(&academie, "groupBy: ACADEMIE").await), [s("10", [2, 2, 1, 0, 0])]);
    let refused = t.funnel(&academie, "filtre: { academies: [\"01\"] }").await;
    assert_eq!(code(&refused), "BAD_USER_INPUT");

    // DREETS: the académies of its région.
    let dreets_ara = key(&t.db, Role::Dreets, Some("REGION:84")).await;
    assert_eq!(noms(&list(dreets_ara.clone(), "").await).len(), 2);
    let dreets_idf = key(&t.db, Role::Dreets, Some("REGION:11")).await;
    assert_eq!(noms(&list(dreets_idf.clone(), "").await), ["Parisien"]);
    assert_eq!(stages(&t.funnel(&dreets_idf, "groupBy: ACADEMIE").await), [s("01", [1, 1, 0, 0, 0])]);

    // Pages follow one another.
    let admin_page = graphql(
        &t.app,
        Some(&t.admin),
        &format!("{{ voeuxNonConcretises(source: AFFELNET, rentree: {r}, first: 2) {{ candidats {{ id }} suivant }} }}"),
    )
    .await
    .1;
    let suivant = admin_page["data"]["voeuxNonConcretises"]["suivant"].as_str().unwrap().to_owned();
    let next = graphql(
        &t.app,
        Some(&t.admin),
        &format!(
            "{{ voeuxNonConcretises(source: AFFELNET, rentree: {r}, first: 2, after: {suivant:?}) {{ candidats {{ id }} suivant }} }}"
        ),
    )
    .await
    .1;
    assert_eq!(next["data"]["voeuxNonConcretises"]["candidats"].as_array().unwrap().len(), 1, "{next}");
    assert_eq!(next["data"]["voeuxNonConcretises"]["suivant"], Value::Null);

    // Aggregates only, or nothing.
    let analyst = key(&t.db, Role::Analyst, None).await;
    assert_eq!(stages(&t.funnel(&analyst, "").await), [s("", [3, 3, 1, 0, 0])]);
    assert_eq!(code(&list(analyst, "").await), "FORBIDDEN");
    let organisme = t.funnel(&t.lyon, "groupBy: ORGANISME").await;
    assert_eq!(stages(&organisme), [s(lyon, [2, 2, 1, 0, 0])], "{organisme}");
    assert_eq!(code(&list(t.lyon.clone(), "").await), "FORBIDDEN");
    let ml = key(&t.db, Role::MissionLocale, Some("MISSION_LOCALE:ML-1")).await;
    assert_eq!(code(&t.funnel(&ml, "").await), "FORBIDDEN");
    let ddets = key(&t.db, Role::Ddets, Some("DEPARTEMENT:69")).await;
    assert_eq!(code(&t.funnel(&ddets, "").await), "FORBIDDEN");
    let anonymous =
        graphql(&t.app, None, &format!("{{ funnel(source: AFFELNET, rentree: {r}) {{ voeux }} }}")).await.1;
    assert_eq!(code(&anonymous), "UNAUTHENTICATED");
    let bad = t.funnel(&t.admin, "jours: -1").await;
    assert!(bad["errors"][0]["message"].as_str().unwrap().contains("jours"), "{bad}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_data_set_holds_voeux_files_that_import_cleanly() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    let generated = db.tba(&["demo", "generate", "--dossiers", "3000", "--out", out]);
    assert!(generated.status.success(), "{generated:?}");
    for source in ["affelnet", "parcoursup"] {
        let file = dir.path().join(format!("voeux_{source}.csv"));
        let imported = db.tba(&["voeux", "import", "--source", source, file.to_str().unwrap()]);
        assert!(imported.status.success(), "{imported:?}");
        let stdout = String::from_utf8_lossy(&imported.stdout);
        assert!(stdout.contains("withdrawn") && !stdout.contains(" 0 vœux formulated"), "{stdout}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_funnel_group_has_its_name() {
    let t = setup().await;
    let r = rentree();
    let (lyon, paris) = (CFA_LYON.0, CFA_PARIS.0);
    let file = format!(
        "{HEADER};libelle_formation\n\
         10;;DURAND;Paul;;2010-07-07;;;AFF1;50022137;{lyon};1;{r};CAP Cuisine\n\
         10;;MOREL;Anne;;2010-08-08;;;AFF1;50022137;{lyon};1;{r};CAP Cuisine\n\
         10;;PETIT;Jean;;2010-09-09;;;AFF1;50022137;{paris};1;{r};CAP cuisinier\n\
         10;;ROUX;Lise;;2010-10-10;;;AFF2;;{paris};1;{r};\n"
    );
    t.import_ok("affelnet", "affelnet.csv", &file);
    let names = |answer: &Value| -> Vec<(String, Value)> {
        answer["data"]["funnel"]
            .as_array()
            .unwrap_or_else(|| panic!("{answer}"))
            .iter()
            .map(|g| (g["cle"].as_str().unwrap().to_owned(), g["libelle"].clone()))
            .collect()
    };
    let by_organisme = t.funnel(&t.admin, "groupBy: ORGANISME").await;
    assert_eq!(
        names(&by_organisme),
        [(lyon.to_owned(), json!("CFA des Métiers")), (paris.to_owned(), json!("CFA de Paris"))],
        "the referential names each organisme"
    );
    // A formation is named as most of its vœux name it; one its files never name has none.
    let by_formation = t.funnel(&t.admin, "groupBy: FORMATION").await;
    assert_eq!(
        names(&by_formation),
        [("AFF1".to_owned(), json!("CAP Cuisine")), ("AFF2".to_owned(), Value::Null)],
        "{by_formation}"
    );
    let by_region = t.funnel(&t.admin, "groupBy: REGION").await;
    assert_eq!(names(&by_region), [("84".to_owned(), json!("Auvergne-Rhône-Alpes"))]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_candidate_is_judged_on_all_their_voeux_whichever_academie_lists_them() {
    let t = setup().await;
    let r = rentree();
    t.spread_over_academies("").await;
    assert!(t.db.projection_caught_up(Duration::from_secs(30)).await);
    let etapes = |arguments: &'static str| {
        let query = format!(
            "{{ voeuxNonConcretises(source: AFFELNET, rentree: {r}{arguments}) {{ candidats {{ nom etape voeux {{ uaiFormateur }} }} }} }}"
        );
        let (app, admin) = (&t.app, &t.admin);
        async move {
            let answer = graphql(app, Some(admin), &query).await.1;
            answer["data"]["voeuxNonConcretises"]["candidats"]
                .as_array()
                .unwrap_or_else(|| panic!("{answer}"))
                .iter()
                .map(|c| {
                    let academies: Vec<&str> = c["voeux"]
                        .as_array()
                        .unwrap()
                        .iter()
                        // Where the vœux shown are: académie 01 (Paris) or 10 (Lyon).
                        .map(|v| if v["uaiFormateur"] == CFA_PARIS.0 { "01" } else { "10" })
                        .collect();
                    format!(
                        "{} {} {}",
                        c["nom"].as_str().unwrap(),
                        c["etape"].as_str().unwrap(),
                        academies.join(",")
                    )
                })
                .collect::<std::collections::BTreeSet<String>>()
        }
    };
    let national = etapes("").await;
    assert_eq!(
        national,
        ["Candidate CANDIDAT 01", "Inscrite INSCRIT 01,10"].map(str::to_owned).into(),
        "the apprentie is not listed, the inscrite is inscrit"
    );
    // Académie 01 judges them the same, and shows its own vœux.
    let de_01 = etapes(r#", academies: ["01"]"#).await;
    assert_eq!(de_01, ["Candidate CANDIDAT 01", "Inscrite INSCRIT 01"].map(str::to_owned).into());
    let de_10 = etapes(r#", academies: ["10"]"#).await;
    assert_eq!(de_10, ["Inscrite INSCRIT 10"].map(str::to_owned).into());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sums_and_the_voeux_give_the_same_funnel_with_candidates_over_several_academies() {
    let t = setup().await;
    let r = rentree();
    // Académies 08 (Grenoble) and 10 (Lyon) are in région 84, 01 (Paris) in 11. The apprentie has vœux
    // in three académies of two régions, the inscrite in two; the others in one.
    let more = format!(
        "{}{}",
        row("08", &format!(";Apprentie;Ada;;01/01/2010;;;AFF2;;{};3", CFA_LYON.0), r),
        row("08", &format!(";Seule;Sol;;04/04/2010;;;AFF1;;{};1", CFA_PARIS.0), r),
    );
    t.spread_over_academies(&more).await;
    // The example of the issue: académie 10 counts the apprentie with her vœu there, matched.
    let by_academie = t.funnel(&t.admin, "groupBy: ACADEMIE, jours: 30").await;
    assert_eq!(
        stages(&by_academie),
        [s("01", [3, 3, 0, 0, 0]), s("08", [2, 2, 1, 1, 1]), s("10", [2, 2, 2, 1, 1])],
        "{by_academie}"
    );
    // A filter on every formation keeps every vœu and makes the funnel count the vœux themselves.
    for group_by in ["NATIONAL", "ACADEMIE", "REGION"] {
        for filtre in [
            "",
            r#"academies: ["01"]"#,
            r#"academies: ["08"]"#,
            r#"academies: ["08", "10"]"#,
            r#"regions: ["84"]"#,
            r#"regions: ["11"]"#,
            r#"regions: ["11", "84"]"#,
            r#"academies: ["10"], regions: ["84"]"#,
        ] {
            let sums =
                t.funnel(&t.admin, &format!("groupBy: {group_by}, jours: 30, filtre: {{ {filtre} }}")).await;
            let voeux = t
                .funnel(
                    &t.admin,
                    &format!(
                        r#"groupBy: {group_by}, jours: 30, filtre: {{ {filtre} formations: ["AFF1", "AFF2"] }}"#
                    ),
                )
                .await;
            assert_eq!(stages(&sums), stages(&voeux), "{group_by} {filtre}: {sums} / {voeux}");
        }
    }
    let national = t.funnel(&t.admin, "jours: 30").await;
    assert_eq!(stages(&national), [s("", [7, 4, 2, 1, 1])], "each candidate once: {national}");
    t.db.assert_rebuild_of("voeux");
}

/// An ERP corrects a birth date: the dossier is matched to the candidate the corrected identity names,
/// and no longer to the one the wrong date named, as soon as the correction is projected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_identity_correction_matches_the_dossier_to_the_candidate_it_names() {
    let t = setup().await;
    let (r, lyon) = (rentree(), CFA_LYON.0);
    // Two candidates of the same name: the one born on 1 March and the one born on 3 March.
    let file = format!(
        "{HEADER}\n{}{}",
        row("10", &format!(";Bernard;Lina;;01/03/2010;;;AFF1;;{lyon};1"), r),
        row("10", &format!(";Bernard;Lina;;03/03/2010;;;AFF1;;{lyon};1"), r),
    );
    t.import_ok("affelnet", "f.csv", &file);
    // The ERP first sends the wrong day: the dossier is the first candidate's.
    t.push(json!([dossier("D-BERNARD", "Bernard", "Lina", "2010-03-01", None)])).await;
    let matched = || async {
        let rows: Vec<(String, bool)> = sqlx::query_as(
            "SELECT date_de_naissance::text, dossier_id IS NOT NULL FROM rm_voeux ORDER BY date_de_naissance",
        )
        .fetch_all(&t.db.pool)
        .await
        .unwrap();
        rows
    };
    assert_eq!(matched().await, [("2010-03-01".into(), true), ("2010-03-03".into(), false)]);
    let national = t.funnel(&t.admin, "jours: 30").await;
    assert_eq!(stages(&national), [s("", [2, 2, 1, 1, 1])], "{national}");

    t.push(json!([dossier("D-BERNARD", "Bernard", "Lina", "2010-03-03", None)])).await;
    assert_eq!(matched().await, [("2010-03-01".into(), false), ("2010-03-03".into(), true)]);
    let national = t.funnel(&t.admin, "jours: 30").await;
    assert_eq!(stages(&national), [s("", [2, 2, 1, 1, 1])], "{national}");
    let (_, listed) = graphql(
        &t.app,
        Some(&t.admin),
        &format!(
            "{{ voeuxNonConcretises(source: AFFELNET, rentree: {r}) {{ candidats {{ dateDeNaissance etape }} }} }}"
        ),
    )
    .await;
    assert_eq!(
        listed["data"]["voeuxNonConcretises"]["candidats"],
        json!([{ "dateDeNaissance": "2010-03-01", "etape": "CANDIDAT" }]),
        "the candidate the wrong date named is no longer concrétisé: {listed}"
    );
    t.db.assert_rebuild_of("voeux");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_consoles_funnel_is_graphqls_and_its_non_concretises_too() {
    let s = setup().await;
    s.spread_over_academies("").await;
    let session =
        crate::console::signed_in(&s.db, &s.app.address, "analyste@example.org", &["--role", "ANALYST"])
            .await;
    for (par, group_by) in [("academie", "ACADEMIE"), ("region", "REGION"), ("organisme", "ORGANISME")] {
        let expected = stages(&s.funnel(&s.admin, &format!("groupBy: {group_by}")).await);
        assert!(!expected.is_empty());
        let path = format!("/console/entonnoir?source=AFFELNET&rentree={}&par={par}", rentree());
        let page = crate::console::get(&s.app.address, &path, &session).await.body;
        for (cle, voeux, candidats, inscrits, apprentis, maintenus) in expected {
            let row = format!(
                "({cle})</th><td>{voeux}</td><td>{candidats}</td><td>{inscrits}</td><td>{apprentis}</td><td>{maintenus}</td>"
            );
            assert!(page.contains(&row), "{row} in {page}");
        }
        assert!(!page.contains("lien-non-concretises"), "an analyst reads no names");
    }
    let path = format!("/console/entonnoir/non-concretises?source=AFFELNET&rentree={}", rentree());
    let refused = crate::console::get(&s.app.address, &path, &session).await;
    assert_eq!(refused.status, reqwest::StatusCode::FORBIDDEN);

    // An académie reads its candidates non concrétisés by name, as GraphQL lists them, and exports them.
    let academie = crate::console::signed_in(
        &s.db,
        &s.app.address,
        "academie@ac-lyon.fr",
        &["--role", "ACADEMIE", "--scope", "ACADEMIE:10"],
    )
    .await;
    let key = key(&s.db, Role::Academie, Some("ACADEMIE:10")).await;
    let query = format!(
        "{{ voeuxNonConcretises(source: AFFELNET, rentree: {}) {{ candidats {{ nom }} }} }}",
        rentree()
    );
    let answer = graphql(&s.app, Some(&key), &query).await.1;
    let noms: Vec<String> = answer["data"]["voeuxNonConcretises"]["candidats"]
        .as_array()
        .unwrap_or_else(|| panic!("{answer}"))
        .iter()
        .map(|c| c["nom"].as_str().unwrap().to_owned())
        .collect();
    assert!(!noms.is_empty(), "{answer}");
    let page = crate::console::get(&s.app.address, &path, &academie).await;
    assert_eq!(page.status, reqwest::StatusCode::OK, "{}", page.body);
    let listed = page.body.matches("<th scope=\"row\">").count();
    assert_eq!(listed, noms.len(), "{}", page.body);
    for nom in &noms {
        assert!(page.body.contains(&format!("<th scope=\"row\">{nom} ")), "{nom} in {}", page.body);
    }
    let export = crate::console::get(
        &s.app.address,
        &format!("{}&format=csv", path.replace("non-concretises?", "non-concretises/export?")),
        &academie,
    )
    .await;
    assert_eq!(export.status, reqwest::StatusCode::OK);
    assert_eq!(export.body.lines().count(), noms.len() + 1, "{}", export.body);
    let browser = crate::common::browser::Browser::start().await;
    browser.sign_in(&s.app.address, "academie@ac-lyon.fr", "un mot de passe sûr").await;
    browser.click("a[href='/console/entonnoir']").await;
    browser.check("entonnoir").await;
    browser.click("#lien-non-concretises").await;
    browser.check("non-concretises").await;
}
