//! Affelnet / Parcoursup vœux end to end (domain.md §8, §9): files imported through the CLI and the
//! HTTP deposit become events on candidates' streams; re-imports add nothing and withdraw only within
//! their own campaigns; vœux match dossiers live whichever arrives first (INE, else normalised name and
//! birth date); the funnel and the lists of "non concrétisés" through GraphQL, each role within its
//! perimeter; a rebuild gives the live read model.
//!
//! `funnel`: the funnel and the non-concrétisés as each role reads them.

mod funnel;

use crate::common;

use std::time::Duration;

use chrono::{Datelike, Utc};
use common::gql::{code, graphql, key};
use common::{CFA_LYON, CFA_PARIS, TestApp, TestDb, dossier_v3, this_year};
use serde_json::{Value, json};
use tba::auth::keys::Role;

pub(super) const HEADER: &str = "academie;ine;nom;prenom1;prenom2;date_naissance;email;telephone;cle_formation;cfd;\
                      uai_formateur;rang;rentree";

/// The rentrée of the current school year.
pub(super) fn rentree() -> i32 {
    let today = Utc::now().date_naive();
    if today.month() >= 8 { today.year() } else { today.year() - 1 }
}

/// An Affelnet row (`;`-separated values after the header's order, without académie and rentrée).
pub(super) fn row(academie: &str, rest: &str, rentree: i32) -> String {
    format!("{academie};{rest};{rentree}\n")
}

/// A dossier of this school year at the Lyon CFA, under contract since 50 days, for that person.
pub(super) fn dossier(id_erp: &str, nom: &str, prenom: &str, naissance: &str, ine: Option<&str>) -> Value {
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
pub(super) fn sans_contrat(mut item: Value) -> Value {
    for field in ["contrat_date_debut", "contrat_date_fin", "siret_employeur"] {
        item.as_object_mut().unwrap().remove(field);
    }
    item["statut_apprenant"] = json!(2);
    item
}

pub(super) struct Setup {
    pub(super) db: TestDb,
    pub(super) app: TestApp,
    pub(super) lyon: String,
    pub(super) admin: String,
    pub(super) _projections: tba::read_models::Projections,
    pub(super) dir: tempfile::TempDir,
}

pub(super) async fn setup() -> Setup {
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
pub(super) fn stages(answer: &Value) -> Vec<(String, i64, i64, i64, i64, i64)> {
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

pub(super) fn s(cle: &str, counts: [i64; 5]) -> (String, i64, i64, i64, i64, i64) {
    (cle.to_owned(), counts[0], counts[1], counts[2], counts[3], counts[4])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
pub(super) async fn voeux_match_dossiers_live_by_ine_else_by_normalised_name_and_birth_date() {
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
pub(super) async fn a_newer_file_withdraws_only_the_voeux_of_its_own_campaigns_and_an_unchanged_one_adds_nothing()
 {
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

/// A file of more vœux than one chunk is written chunk after chunk, each sealed while the one before
/// is written: every vœu once, in the log and in the import's index at its event's position, its
/// personal data sealed; and a file without most of them withdraws them, over several chunks too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
pub(super) async fn a_file_of_several_chunks_writes_each_voeu_once_sealed_and_indexed_at_its_position() {
    let t = setup().await;
    let (r, lyon) = (rentree(), CFA_LYON.0);
    let rows = |n: usize| -> String {
        let nom = |i: usize| -> String {
            (0..4).map(|k| char::from(b'a' + (i / 26usize.pow(k) % 26) as u8)).collect()
        };
        (0..n)
            .map(|i| row("10", &format!("{:09}AA;Nom-{};Ana;;;;;AFF1;;{lyon};1", i + 1, nom(i)), r))
            .collect()
    };
    // Two chunks and a row.
    let all = format!("{HEADER}\n{}", rows(10_001));
    let out = t.import_ok("affelnet", "all.csv", &all);
    assert!(out.contains("10001 vœux formulated, 0 changed, 0 unchanged, 0 withdrawn"), "{out}");
    let (events, indexed, at_their_event, sealed): (i64, i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM events WHERE event_type = 'VoeuFormule'),
                (SELECT count(*) FROM voeux WHERE NOT retire),
                (SELECT count(*) FROM voeux v JOIN events e ON e.position = v.position
                 WHERE e.event_type = 'VoeuFormule' AND e.data->>'voeu' = v.voeu),
                (SELECT count(*) FROM events WHERE event_type = 'VoeuFormule' AND data->'candidat'->>'scelle' IS NOT NULL)",
    )
    .fetch_one(&t.db.pool)
    .await
    .unwrap();
    assert_eq!((events, indexed, at_their_event, sealed), (10_001, 10_001, 10_001, 10_001));
    let head = t.db.head().await;
    let again = t.import_ok("affelnet", "all-again.csv", &all);
    assert!(again.contains("0 vœux formulated, 0 changed, 10001 unchanged, 0 withdrawn"), "{again}");
    assert_eq!(t.db.head().await, head);

    let fewer = format!("{HEADER}\n{}", rows(1));
    let out = t.import_ok("affelnet", "fewer.csv", &fewer);
    assert!(out.contains("0 vœux formulated, 0 changed, 1 unchanged, 10000 withdrawn"), "{out}");
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM voeux WHERE NOT retire")
        .fetch_one(&t.db.pool)
        .await
        .unwrap();
    assert_eq!(left, 1);
    let funnel = t.funnel(&t.admin, "groupBy: ACADEMIE").await;
    assert_eq!(stages(&funnel), [s("10", [1, 1, 0, 0, 0])], "{funnel}");
}
