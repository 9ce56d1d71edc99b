//! Affelnet / Parcoursup vœux end to end (domain.md §8, §9): files imported through the CLI and the
//! HTTP deposit become events on candidates' streams; re-imports add nothing and withdraw only within
//! their own campaigns; vœux match dossiers live whichever arrives first (INE, else normalised name and
//! birth date); the funnel and the lists of "non concrétisés" through GraphQL, each role within its
//! perimeter; a rebuild gives the live read model.

use crate::common;

use std::time::Duration;

use chrono::{Datelike, Utc};
use common::gql::{code, graphql, key};
use common::{CFA_LYON, CFA_PARIS, TestApp, TestDb, dossier_v3, this_year};
use serde_json::{Value, json};
use tba::auth::keys::Role;

const HEADER: &str = "academie;ine;nom;prenom1;prenom2;date_naissance;email;telephone;cle_formation;cfd;\
                      uai_formateur;rang;rentree";

/// The rentrée of the current school year.
fn rentree() -> i32 {
    let today = Utc::now().date_naive();
    if today.month() >= 8 { today.year() } else { today.year() - 1 }
}

/// An Affelnet row (`;`-separated values after the header's order, without académie and rentrée).
fn row(academie: &str, rest: &str, rentree: i32) -> String {
    format!("{academie};{rest};{rentree}\n")
}

/// A dossier of this school year at the Lyon CFA, under contract since 50 days, for that person.
fn dossier(id_erp: &str, nom: &str, prenom: &str, naissance: &str, ine: Option<&str>) -> Value {
    let mut item = this_year(dossier_v3(id_erp));
    item["nom_apprenant"] = json!(nom);
    item["prenom_apprenant"] = json!(prenom);
    item["date_de_naissance_apprenant"] = json!(naissance);
    if let Some(ine) = ine {
        item["ine_apprenant"] = json!(ine);
    }
    item
}

/// The same, inscrit without a contract.
fn sans_contrat(mut item: Value) -> Value {
    for field in ["contrat_date_debut", "contrat_date_fin", "siret_employeur"] {
        item.as_object_mut().unwrap().remove(field);
    }
    item["statut_apprenant"] = json!(2);
    item
}

struct Setup {
    db: TestDb,
    app: TestApp,
    lyon: String,
    admin: String,
    _projections: tba::read_models::Projections,
    dir: tempfile::TempDir,
}

async fn setup() -> Setup {
    let db = TestDb::new().await;
    db.with_organismes().await;
    let app = TestApp::spawn(&db).await;
    let lyon = db.organisme_key(CFA_LYON).await;
    let admin = key(&db, Role::Administrateur, None).await;
    let projections = tba::read_models::Projections::start(&app.store);
    Setup { db, app, lyon, admin, _projections: projections, dir: tempfile::tempdir().unwrap() }
}

impl Setup {
    /// Import `content` as a file of `source` through the CLI; its output.
    fn import(&self, source: &str, name: &str, content: &[u8]) -> std::process::Output {
        let path = self.dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        self.db.tba(&["voeux", "import", "--source", source, path.to_str().unwrap()])
    }

    fn import_ok(&self, source: &str, name: &str, content: &str) -> String {
        let output = self.import(source, name, content.as_bytes());
        assert!(output.status.success(), "{output:?}");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    async fn push(&self, items: Value) {
        let (status, answer) = self.app.post("/api/v3/dossiers-apprenants", &self.lyon, &items).await;
        assert_eq!(status, 200, "{answer}");
        assert!(self.db.projection_caught_up(Duration::from_secs(30)).await);
    }

    /// Candidates over several académies: an apprentie and an inscrite without contract, each with a
    /// dossier at Lyon, a vœu in académie 01 at Paris (no dossier there) and one in académie 10 at Lyon
    /// (their dossier's); a candidate with one vœu in 01; then the file's rows `more`.
    async fn spread_over_academies(&self, more: &str) {
        let (r, lyon, paris) = (rentree(), CFA_LYON.0, CFA_PARIS.0);
        self.push(json!([
            dossier("D-APPRENTIE", "Apprentie", "Ada", "2010-01-01", None),
            sans_contrat(dossier("D-INSCRITE", "Inscrite", "Iris", "2010-02-02", None)),
        ]))
        .await;
        let file = format!(
            "{HEADER}\n{}{}{}{}{}{more}",
            row("01", &format!(";Apprentie;Ada;;01/01/2010;;;AFF1;;{paris};1"), r),
            row("10", &format!(";Apprentie;Ada;;01/01/2010;;;AFF1;;{lyon};2"), r),
            row("01", &format!(";Inscrite;Iris;;02/02/2010;;;AFF1;;{paris};1"), r),
            row("10", &format!(";Inscrite;Iris;;02/02/2010;;;AFF1;;{lyon};2"), r),
            row("01", &format!(";Candidate;Cleo;;03/03/2010;;;AFF1;;{paris};1"), r),
        );
        self.import_ok("affelnet", "f.csv", &file);
    }

    async fn funnel(&self, key: &str, arguments: &str) -> Value {
        let query = format!(
            "{{ funnel(source: AFFELNET, rentree: {}, {arguments}) {{ cle libelle voeux candidats inscrits apprentis
               maintenus tauxInscription tauxConversion }} }}",
            rentree()
        );
        assert!(self.db.projection_caught_up(Duration::from_secs(30)).await);
        // A test asking many questions in a row meets the key's rate limit: wait as the answer says.
        loop {
            let answer = graphql(&self.app, Some(key), &query).await.1;
            if code(&answer) != "RATE_LIMITED" {
                return answer;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

/// `(cle, voeux, candidats, inscrits, apprentis, maintenus)` of each group.
fn stages(answer: &Value) -> Vec<(String, i64, i64, i64, i64, i64)> {
    let groups = answer["data"]["funnel"].as_array().unwrap_or_else(|| panic!("{answer}"));
    groups
        .iter()
        .map(|g| {
            let n = |f: &str| g[f].as_i64().unwrap();
            (
                g["cle"].as_str().unwrap().to_owned(),
                n("voeux"),
                n("candidats"),
                n("inscrits"),
                n("apprentis"),
                n("maintenus"),
            )
        })
        .collect()
}

fn s(cle: &str, counts: [i64; 5]) -> (String, i64, i64, i64, i64, i64) {
    (cle.to_owned(), counts[0], counts[1], counts[2], counts[3], counts[4])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn voeux_match_dossiers_live_by_ine_else_by_normalised_name_and_birth_date() {
    let t = setup().await;
    let r = rentree();
    // Dossiers first: accents and separators differ from the file, one has a namesake born another
    // day, one carries another INE than the vœu.
    t.push(json!([
        dossier("D-LEGOFF", "Le Goff-Hélias", "Léa", "2010-03-14", Some("123456789AB")),
        sans_contrat(dossier("D-NDIAYE", "N'Diaye", "Jean-Pierre", "2010-05-01", None)),
        dossier("D-MARTIN", "Martin", "Léo", "2010-01-01", None),
        dossier("D-DUPONT", "Dupont", "Marie", "2010-02-02", Some("111111111AA")),
    ]))
    .await;
    let lyon = CFA_LYON.0;
    let file = format!(
        "{HEADER}\n{}{}{}{}{}{}",
        // By INE (the file has no birth date): the same person, whatever the spelling.
        row("10", &format!("123456789AB;LE GOFF HELIAS;lea;;;;;AFF1;50022137;{lyon};1"), r),
        // The same candidate's second vœu, at Paris: not where the dossier is.
        row("10", &format!("123456789AB;LE GOFF HELIAS;lea;;;;;AFF2;50022137;{};2", CFA_PARIS.0), r),
        // No INE: by NOM, first prénom and birth date.
        row(
            "10",
            &format!(";NDIAYE;Jean Pierre;Paul;01/05/2010;jp@example.org;0612345678;AFF1;;{lyon};1"),
            r
        ),
        // A namesake born a day later is someone else.
        row("10", &format!(";MARTIN;Léo;;2010-01-02;;;AFF1;;{lyon};1"), r),
        // Both carry an INE and they differ: not the same person, whatever the name.
        row("10", &format!("222222222BB;Dupont;Marie;;02/02/2010;;;AFF1;;{lyon};1"), r),
        // No dossier yet.
        row("10", &format!(";Durand;Paul;;2010-07-07;paul@example.org;;AFF1;;{lyon};1"), r),
    );
    let out = t.import_ok("affelnet", "affelnet.csv", &file);
    assert!(out.contains("6 rows read") && out.contains("6 vœux formulated"), "{out}");

    let national = t.funnel(&t.admin, "jours: 30").await;
    assert_eq!(stages(&national), [s("", [6, 5, 2, 1, 1])], "{national}");
    assert_eq!(national["data"]["funnel"][0]["tauxInscription"], 0.4);

    // The dossier arrives after its vœu: matched as it is projected.
    t.push(json!([dossier("D-DURAND", "DURAND", "Paul", "2010-07-07", None)])).await;
    let national = t.funnel(&t.admin, "jours: 30").await;
    assert_eq!(stages(&national), [s("", [6, 5, 3, 2, 2])], "{national}");
    assert_eq!(national["data"]["funnel"][0]["tauxConversion"], 0.4);
    // 90 days after a contract started 50 days ago is not yet known.
    assert_eq!(stages(&t.funnel(&t.admin, "").await), [s("", [6, 5, 3, 2, 0])]);
    // A candidate counts once in each group their vœux fall in.
    let by_organisme = t.funnel(&t.admin, "groupBy: ORGANISME, jours: 30").await;
    assert_eq!(
        stages(&by_organisme),
        [s(lyon, [5, 5, 3, 2, 2]), s(CFA_PARIS.0, [1, 1, 0, 0, 0])],
        "{by_organisme}"
    );
    let by_academie = t.funnel(&t.admin, "groupBy: ACADEMIE").await;
    assert_eq!(stages(&by_academie), [s("10", [6, 5, 3, 2, 0])], "{by_academie}");
    assert_eq!(by_academie["data"]["funnel"][0]["libelle"], "Lyon", "{by_academie}");
    let filtered = t.funnel(&t.admin, "groupBy: REGION, filtre: { organismes: [\"0751234A\"] }").await;
    assert_eq!(stages(&filtered), [s("84", [1, 1, 0, 0, 0])], "{filtered}");

    // A withdrawn dossier matches nothing any more.
    let retrait = json!({
        "events": [{ "dossier": { "uai_formateur": lyon, "annee_scolaire": format!("{r}-{}", r + 1),
                                  "id_erp_apprenant": "D-DURAND" },
                     "type": "DossierRetire", "data": { "motif": "DOUBLON", "commentaire": null } }],
        "expected_versions": {}
    });
    let (status, answer) = t.app.post("/api/v1/events", &t.lyon, &retrait).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(stages(&t.funnel(&t.admin, "jours: 30").await), [s("", [6, 5, 2, 1, 1])]);

    t.db.assert_rebuild_of("voeux");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_file_withdraws_only_the_voeux_of_its_own_campaigns_and_an_unchanged_one_adds_nothing() {
    let t = setup().await;
    let (r, lyon) = (rentree(), CFA_LYON.0);
    let first = format!(
        "{HEADER}\n{}{}{}{}",
        row("10", &format!("100000001AA;Alpha;Ana;;;;;AFF1;;{lyon};1"), r),
        row("10", &format!("100000002AA;Beta;Bob;;;;;AFF1;;{lyon};1"), r),
        row("01", &format!("100000003AA;Gamma;Gil;;;;;AFF1;;{};1", CFA_PARIS.0), r),
        row("10", &format!("100000004AA;Delta;Dan;;;;;AFF1;;{lyon};1"), r - 1),
    );
    assert!(t.import_ok("affelnet", "a.csv", &first).contains("4 vœux formulated"));
    let head = t.db.head().await;
    let again = t.import_ok("affelnet", "a-again.csv", &first);
    assert!(again.contains("0 vœux formulated, 0 changed, 4 unchanged, 0 withdrawn"), "{again}");
    assert_eq!(t.db.head().await, head, "re-importing the same file adds nothing to the log");

    // Académie 10, this rentrée only: Ana's rang changed, Bob is gone, Eve is new.
    let newer = format!(
        "{HEADER}\n{}{}",
        row("10", &format!("100000001AA;Alpha;Ana;;;;;AFF1;;{lyon};2"), r),
        row("10", &format!("100000005AA;Epsilon;Eve;;;;;AFF1;;{lyon};1"), r),
    );
    let out = t.import_ok("affelnet", "b.csv", &newer);
    assert!(out.contains("1 vœux formulated, 1 changed, 0 unchanged, 1 withdrawn"), "{out}");
    let by_academie = t.funnel(&t.admin, "groupBy: ACADEMIE").await;
    assert_eq!(stages(&by_academie), [s("01", [1, 1, 0, 0, 0]), s("10", [2, 2, 0, 0, 0])], "{by_academie}");
    let last_year = format!("{{ funnel(source: AFFELNET, rentree: {}) {{ voeux }} }}", r - 1);
    assert_eq!(graphql(&t.app, Some(&t.admin), &last_year).await.1["data"]["funnel"][0]["voeux"], 1);
    let parcoursup = format!("{{ funnel(source: PARCOURSUP, rentree: {r}) {{ voeux }} }}");
    assert_eq!(graphql(&t.app, Some(&t.admin), &parcoursup).await.1["data"]["funnel"], json!([]));
    // The withdrawal is an explicit event on Bob's stream.
    let types: Vec<String> = sqlx::query_scalar(
        "SELECT event_type FROM events WHERE category = 'candidat' AND event_type = 'VoeuRetire'",
    )
    .fetch_all(&t.db.pool)
    .await
    .unwrap();
    assert_eq!(types, ["VoeuRetire"]);
    // Formulated again by a later file: counted again.
    let back = format!("{newer}{}", row("10", &format!("100000002AA;Beta;Bob;;;;;AFF1;;{lyon};1"), r));
    assert!(t.import_ok("affelnet", "c.csv", &back).contains("1 vœux formulated, 0 changed, 2 unchanged"));

    // A refused file writes nothing, and says where and why.
    let head = t.db.head().await;
    let bad = format!(
        "{HEADER}\n{}{}",
        row("10", &format!("100000009AA;Zeta;Zoé;;;;;AFF1;;{lyon};1"), r),
        row("10", "100000010AA;Eta;Eli;;31/02/2010;;;AFF1;;0693456;1", r),
    );
    let refused = t.import("affelnet", "bad.csv", bad.as_bytes());
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("line 3: date_naissance") && stderr.contains("line 3: uai_formateur"),
        "{stderr}"
    );
    assert!(stderr.contains("nothing imported"), "{stderr}");
    assert_eq!(t.db.head().await, head);

    // Windows-1252, as spreadsheets save it.
    let text = format!("{HEADER}\n{}", row("10", &format!("100000011AA;Hélène;Zoé;;;;;AFF1;;{lyon};1"), r));
    let (latin, _, _) = encoding_rs::WINDOWS_1252.encode(&text);
    let output = t.import("affelnet", "latin.csv", &latin);
    assert!(output.status.success(), "{output:?}");
    assert!(t.db.projection_caught_up(std::time::Duration::from_secs(10)).await);
    let nom: String = sqlx::query_scalar("SELECT nom FROM rm_voeux WHERE ine = '100000011AA'")
        .fetch_one(&t.db.pool)
        .await
        .unwrap();
    assert_eq!(nom, "Hélène");
    let in_clear: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE data::text LIKE '%100000011AA%' OR data::text LIKE '%Hélène%'",
    )
    .fetch_one(&t.db.pool)
    .await
    .unwrap();
    assert_eq!(in_clear, 0, "the log holds the candidate sealed");

    // The same import over HTTP, for ADMINISTRATEUR keys only.
    let upload = |key: &str, source: &str, body: String| {
        reqwest::Client::new()
            .post(t.app.url(&format!("/api/v1/voeux/imports?source={source}")))
            .bearer_auth(key.to_owned())
            .header("content-type", "text/csv")
            .body(body)
            .send()
    };
    let response = upload(&t.admin, "affelnet", back.clone()).await.unwrap();
    assert_eq!(response.status(), 200);
    let report: Value = response.json().await.unwrap();
    // The Windows-1252 file was académie 10's newest: it had withdrawn Ana, Bob and Eve; this one
    // formulates them again and withdraws Hélène.
    assert_eq!((report["formules"].as_i64(), report["retires"].as_i64()), (Some(3), Some(1)), "{report}");
    assert_eq!(upload(&t.lyon, "affelnet", back.clone()).await.unwrap().status(), 403);
    let bad_source = upload(&t.admin, "sconet", back).await.unwrap();
    assert_eq!(bad_source.status(), 400);
    let refused = upload(&t.admin, "affelnet", bad).await.unwrap();
    assert_eq!(refused.status(), 400);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["errors"][0]["path"], "ligne 3.date_naissance", "{body}");
}

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
