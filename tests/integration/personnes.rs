//! Erasing a person (crypto-shredding): through GraphQL and the CLI, the log stays verifiable, the
//! person reads erased in every query, export and the transmission journal, aggregates are unchanged,
//! rebuilds give the live read models; retention and master key rotation.

use crate::common;

use std::time::Duration;

use chrono::{Datelike, Utc};
use common::gql::{code, graphql, key};
use common::{CFA_LYON, MASTER_KEY, TestApp, TestDb, dossier_v3, stdout, this_year};
use serde_json::{Value, json};
use tba::auth::keys::Role;

/// Everything that names the person to erase, as sent.
const SECRETS: [&str; 5] =
    ["Effacable", "effacable@example.org", "0611223344", "123456789AB", "appelée au travail"];

struct Setup {
    db: TestDb,
    app: TestApp,
    lyon: String,
    admin: String,
    _projections: tba::read_models::Projections,
}

async fn setup() -> Setup {
    let db = TestDb::new().await;
    db.with_organismes().await;
    let csv =
        "ml_id,nom,siret,email,telephone,communes\nML-LYON,Mission Locale de Lyon,12345678901234,,,69123\n";
    let missions = tba::ingestion::missions_locales::parse_csv(csv.as_bytes()).unwrap();
    tba::ingestion::missions_locales::import(&db.pool, missions, events::Metadata::default()).await.unwrap();
    let app = TestApp::spawn(&db).await;
    let lyon = db.organisme_key(CFA_LYON).await;
    let admin = key(&db, Role::Administrateur, None).await;
    let _projections = tba::read_models::Projections::start(&app.store);
    Setup { db, app, lyon, admin, _projections }
}

impl Setup {
    async fn push(&self, items: Value) -> Value {
        let (status, answer) = self.app.post("/api/v3/dossiers-apprenants", &self.lyon, &items).await;
        assert_eq!(status, 200, "{answer}");
        assert!(self.db.projection_caught_up(Duration::from_secs(30)).await);
        answer
    }

    async fn gql(&self, key: &str, query: &str) -> Value {
        graphql(&self.app, Some(key), query).await.1
    }

    /// How many times any of `SECRETS` appears in the log, the read models and the journal.
    async fn secrets_stored(&self) -> i64 {
        let tables: Vec<String> = sqlx::query_scalar(
            "SELECT table_name::text FROM information_schema.tables
             WHERE table_schema = 'public' AND (table_name LIKE 'rm\\_%' OR table_name IN ('events', 'transmission_rejets'))",
        )
        .fetch_all(&self.db.pool)
        .await
        .unwrap();
        let mut found = 0;
        for table in tables {
            for secret in SECRETS {
                let sql = format!("SELECT count(*) FROM {table} t WHERE t::text LIKE '%' || $1 || '%'");
                let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                    .bind(secret)
                    .fetch_one(&self.db.pool)
                    .await
                    .unwrap();
                if n > 0 && table != "events" {
                    found += n;
                }
                assert_eq!(n * i64::from(table == "events"), 0, "{secret} in clear in the log");
            }
        }
        found
    }
}

/// The person to erase: in rupture, living in Lyon (so in the Mission Locale's queue), with an INE.
fn effacable() -> Value {
    let today = Utc::now().date_naive();
    let mut item = this_year(dossier_v3("E-1"));
    item["nom_apprenant"] = json!("Effacable");
    item["prenom_apprenant"] = json!("Eva");
    // 19 years old, not born on the first of a month (whose day the erasure keeps).
    let naissance = today.with_year(today.year() - 19).unwrap() - chrono::Duration::days(20);
    let naissance = if naissance.day() == 1 { naissance - chrono::Duration::days(1) } else { naissance };
    item["date_de_naissance_apprenant"] = json!(naissance);
    item["email_contact"] = json!("effacable@example.org");
    item["tel_apprenant"] = json!("0611223344");
    item["ine_apprenant"] = json!("123456789AB");
    item["code_postal_apprenant"] = json!("69003");
    item["code_commune_insee_apprenant"] = json!("69123");
    item["contrat_date_rupture"] = json!(today - chrono::Duration::days(20));
    item
}

const INDICATEURS: &str = "{ indicateurs(groupBy: REGION) { cle apprentis inscrits rupturants abandons apprenants }
  parTranche: indicateurs(groupBy: NATIONAL, filtre: { tranchesAge: [DE_18_A_20] }) { rupturants apprenants } }";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erased_person_is_gone_from_every_read_and_the_log_still_verifies() {
    let t = setup().await;
    t.push(json!([effacable(), this_year(dossier_v3("GARDE"))])).await;
    // A refused item of the same person in the transmission journal (its INE is malformed).
    let mut refused = effacable();
    refused["ine_apprenant"] = json!("123456789AB-");
    let answer = t.push(json!([refused])).await;
    assert_eq!(answer["rejected"], 1, "{answer}");
    // A vœu of the same person (by INE) and an advisor's comment.
    let dir = tempfile::tempdir().unwrap();
    let today = Utc::now().date_naive();
    let rentree = if today.month() >= 8 { today.year() } else { today.year() - 1 };
    let file = dir.path().join("affelnet.csv");
    std::fs::write(
        &file,
        format!(
            "academie;ine;nom;prenom1;prenom2;date_naissance;email;telephone;cle_formation;cfd;uai_formateur;rang;rentree\n\
             10;123456789AB;EFFACABLE;Eva;;;effacable@example.org;;AFF1;;{};1;{rentree}\n",
            CFA_LYON.0
        ),
    )
    .unwrap();
    let imported = t.db.tba(&["voeux", "import", "--source", "affelnet", file.to_str().unwrap()]);
    assert!(imported.status.success(), "{imported:?}");
    assert!(t.db.projection_caught_up(Duration::from_secs(30)).await);
    let entree: String =
        sqlx::query_scalar("SELECT entree FROM rm_ruptures").fetch_one(&t.db.pool).await.unwrap();
    let ml = key(&t.db, Role::MissionLocale, Some("MISSION_LOCALE:ML-LYON")).await;
    let answer = t
        .gql(
            &ml,
            &format!(
                r#"mutation {{ renseignerSituation(entree: "{entree}", situation: RDV_PRIS,
                     commentaire: "appelée au travail") {{ id situation }} }}"#
            ),
        )
        .await;
    assert_eq!(answer["data"]["renseignerSituation"]["situation"], "RDV_PRIS", "{answer}");
    assert!(t.db.projection_caught_up(Duration::from_secs(30)).await);

    let dossier = r#"{ dossier(uai: "0693456K", anneeScolaire: "ANNEE", idErpApprenant: "E-1") {
        personne apprenant { efface nom prenom dateDeNaissance ine email telephone codePostal } } }"#
        .replace("ANNEE", &format!("{rentree}-{}", rentree + 1));
    let before = t.gql(&t.admin, &dossier).await;
    assert_eq!(before["data"]["dossier"]["apprenant"]["nom"], "EFFACABLE", "{before}");
    assert_eq!(before["data"]["dossier"]["apprenant"]["efface"], false);
    let personne = before["data"]["dossier"]["personne"].as_str().unwrap().to_owned();
    assert_eq!(personne, entree, "the queue's entry is the person key");
    assert!(t.secrets_stored().await > 0, "the read models and the journal hold the person before");
    // The dossier's row keeps the identity, sealed under the person's key (what the page read).
    let kept = |t: &Setup| {
        let pool = t.db.pool.clone();
        let personne = personne.clone();
        async move {
            sqlx::query_scalar::<_, Option<Vec<u8>>>("SELECT apprenant FROM rm_dossiers WHERE personne = $1")
                .bind(&personne)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    let sealed = kept(&t).await.expect("the row keeps the identity sealed");
    assert!(!String::from_utf8_lossy(&sealed).to_lowercase().contains("effacable"));
    let indicateurs = t.gql(&t.admin, INDICATEURS).await;
    let funnel_query = format!(
        "{{ funnel(source: AFFELNET, rentree: {rentree}) {{ voeux candidats inscrits apprentis }} }}"
    );
    let funnel = t.gql(&t.admin, &funnel_query).await;
    assert_eq!(funnel["data"]["funnel"][0]["inscrits"], 1, "{funnel}");

    // Who may erase, and what is refused.
    let analyst = key(&t.db, Role::Analyst, None).await;
    let mutation = |p: &str| {
        format!(
            r#"mutation {{ effacerPersonne(personne: "{p}", motif: "demande de l'intéressée du 2 novembre",
                 baseLegale: DROIT_A_L_EFFACEMENT) {{ personne position candidats rejets }} }}"#
        )
    };
    assert_eq!(code(&t.gql(&analyst, &mutation(&personne)).await), "FORBIDDEN");
    let bad = t.gql(&t.admin, &mutation("Martin")).await;
    assert_eq!(code(&bad), "BAD_USER_INPUT", "{bad}");
    assert_eq!(bad["errors"][0]["extensions"]["field"], "personne");
    let unknown = t.gql(&t.admin, &mutation("p-00000000000000000000000000000000")).await;
    assert_eq!(code(&unknown), "NOT_FOUND", "{unknown}");

    let erased = t.gql(&t.admin, &mutation(&personne)).await;
    let erased = &erased["data"]["effacerPersonne"];
    assert!(erased["position"].as_i64().is_some(), "{erased}");
    assert_eq!(erased["candidats"].as_array().unwrap().len(), 1, "{erased}");
    assert_eq!(erased["rejets"], 1);
    assert!(t.db.projection_caught_up(Duration::from_secs(30)).await);

    // Every read shows the person erased.
    let after = t.gql(&t.admin, &dossier).await;
    let apprenant = &after["data"]["dossier"]["apprenant"];
    assert_eq!(apprenant["efface"], true, "{after}");
    for field in ["nom", "prenom", "dateDeNaissance", "ine", "email", "telephone", "codePostal"] {
        assert!(apprenant[field].is_null(), "{field}: {after}");
    }
    assert_eq!(t.secrets_stored().await, 0, "no read model or journal holds the person any more");
    assert_eq!(kept(&t).await, None, "the refolded row keeps no identity");
    // Had the projection not refolded the row yet, its sealed identity would open no more: the key
    // that sealed it is destroyed.
    sqlx::query("UPDATE rm_dossiers SET apprenant = $2 WHERE personne = $1")
        .bind(&personne)
        .bind(&sealed)
        .execute(&t.db.pool)
        .await
        .unwrap();
    assert_eq!(t.gql(&t.admin, &dossier).await, after, "a row sealed before the erasure reads erased");
    sqlx::query("UPDATE rm_dossiers SET apprenant = NULL WHERE personne = $1")
        .bind(&personne)
        .execute(&t.db.pool)
        .await
        .unwrap();
    // Nor the history "as known at": the dossier's every version has the birth date it reads now.
    let (versions, otherwise): (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(*) FILTER (WHERE v.date_de_naissance <> d.date_de_naissance)
         FROM rm_dossiers_versions v JOIN rm_dossiers d USING (dossier_id) WHERE d.personne = $1",
    )
    .bind(&personne)
    .fetch_one(&t.db.pool)
    .await
    .unwrap();
    assert_eq!((versions > 0, otherwise), (true, 0), "the versions hold the birth date erased");
    let auditor = key(&t.db, Role::Auditor, None).await;
    for query in [
        "{ events(first: 500) { edges { node { data } } } }".to_owned(),
        format!(r#"{{ stream(id: "rupture-{personne}") {{ data }} }}"#),
        format!("{{ voeuxNonConcretises(source: AFFELNET, rentree: {rentree}) {{ candidats {{ nom }} }} }}"),
        r#"{ ruptures(missionLocale: "ML-LYON") { edges { node { situationAutre commentaire
              dossier { apprenant { nom telephone } } } } } }"#
            .to_owned(),
    ] {
        let answer = t.gql(&auditor, &query).await.to_string();
        for secret in SECRETS {
            assert!(!answer.contains(secret), "{secret} in {answer}");
        }
    }
    let (_, journal) = t.app.get("/api/v1/transmissions", &t.lyon).await;
    for secret in SECRETS {
        assert!(!journal.to_string().contains(secret), "{secret} in the journal {journal}");
    }
    let export = reqwest::Client::new()
        .get(t.app.url("/api/v1/missions-locales/ML-LYON/export?format=csv"))
        .bearer_auth(&ml)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for secret in SECRETS {
        assert!(!export.contains(secret), "{secret} in the export");
    }

    // Aggregates are unchanged; the vœu stays matched to the person's dossier.
    assert_eq!(t.gql(&t.admin, INDICATEURS).await, indicateurs);
    assert_eq!(t.gql(&t.admin, &funnel_query).await, funnel);

    // The log verifies, the erasure is in it, and every rebuild gives the live read model.
    let verified = t.db.tba(&["verify"]);
    assert!(verified.status.success(), "{verified:?}");
    let event: Value =
        sqlx::query_scalar("SELECT data::jsonb FROM events WHERE event_type = 'PersonneEffacee'")
            .fetch_one(&t.db.pool)
            .await
            .unwrap();
    assert_eq!(event["base_legale"], "DROIT_A_L_EFFACEMENT");
    for projection in ["dossiers", "ruptures", "voeux", "france_travail"] {
        t.db.assert_rebuild_of(projection);
    }

    // The ERP sends the person again: nothing personal is stored, and nothing is appended.
    let head = t.db.head().await;
    t.push(json!([effacable()])).await;
    assert_eq!(t.db.head().await, head, "an erased person's contacts are not recorded again");
    assert_eq!(t.secrets_stored().await, 0);

    // Erasing again changes nothing.
    let again = t.gql(&t.admin, &mutation(&personne)).await;
    assert!(again["data"]["effacerPersonne"]["position"].is_null(), "{again}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_erases_those_whose_formation_ended_long_ago_and_says_so_in_the_access_log() {
    let t = setup().await;
    let mut old = dossier_v3("ANCIEN");
    old["nom_apprenant"] = json!("Effacable");
    t.push(json!([old, this_year(dossier_v3("RECENT"))])).await;
    // The 2025-2026 dossier ended in June 2027: past five years in 2033, not in 2031.
    let dry = t.db.tba(&["retention", "run", "--date", "2031-01-01", "--dry-run"]);
    assert_eq!(stdout(&dry).trim(), "", "{dry:?}");
    let dry = t.db.tba(&["retention", "run", "--date", "2033-01-01", "--dry-run"]);
    assert_eq!(stdout(&dry).lines().count(), 1, "{dry:?}");

    let run = t.db.tba(&["retention", "run", "--date", "2033-01-01"]);
    assert!(run.status.success(), "{run:?}");
    assert!(stdout(&run).starts_with("1 person(s) erased"), "{}", stdout(&run));
    assert!(t.db.projection_caught_up(Duration::from_secs(30)).await);
    assert_eq!(t.secrets_stored().await, 0);
    let logged: Value = sqlx::query_scalar("SELECT details FROM access_log WHERE action = 'retention'")
        .fetch_one(&t.db.pool)
        .await
        .unwrap();
    assert_eq!(logged["personnes"].as_array().unwrap().len(), 1, "{logged}");
    let base: String = sqlx::query_scalar(
        "SELECT data::jsonb ->> 'base_legale' FROM events WHERE event_type = 'PersonneEffacee'",
    )
    .fetch_one(&t.db.pool)
    .await
    .unwrap();
    assert_eq!(base, "DUREE_DE_CONSERVATION");
    let again = t.db.tba(&["retention", "run", "--date", "2033-01-01"]);
    assert!(stdout(&again).starts_with("0 person(s) erased"), "{}", stdout(&again));
    assert!(t.db.tba(&["verify"]).status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_master_key_rotates_and_the_old_one_is_then_no_longer_needed() {
    let t = setup().await;
    t.push(json!([this_year(dossier_v3("R-1"))])).await;
    let new_key = "aa".repeat(32);
    let with_keys = |current: &str, previous: Option<&str>, args: &[&str]| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_tba"));
        command
            .args(args)
            .env("DATABASE_URL", t.db.url())
            .env("TBA_MASTER_KEY", current)
            .env("RUST_LOG", "warn");
        if let Some(previous) = previous {
            command.env("TBA_MASTER_KEY_PREVIOUS", previous);
        }
        command.output().unwrap()
    };
    let rebuild = ["projections", "rebuild", "dossiers"];
    let refused = with_keys(&new_key, None, &rebuild);
    assert!(!refused.status.success(), "another master key opens nothing");
    assert!(String::from_utf8_lossy(&refused.stderr).contains("master key"), "{refused:?}");

    let rotated = with_keys(&new_key, Some(MASTER_KEY), &["personnes", "rotation"]);
    assert!(rotated.status.success(), "{rotated:?}");
    assert!(stdout(&rotated).starts_with("1 data key(s) re-wrapped"), "{}", stdout(&rotated));
    let rebuilt = with_keys(&new_key, None, &rebuild);
    assert!(rebuilt.status.success(), "the new key alone opens everything: {rebuilt:?}");
    let old_only = with_keys(MASTER_KEY, None, &rebuild);
    assert!(!old_only.status.success(), "the old key no longer opens the re-wrapped keys");
    let wrapped: i64 = sqlx::query_scalar("SELECT count(*) FROM personnes_cles WHERE cle IS NOT NULL")
        .fetch_one(&t.db.pool)
        .await
        .unwrap();
    assert_eq!(wrapped, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_erases_a_person_and_refuses_what_it_cannot_erase() {
    let t = setup().await;
    t.push(json!([effacable()])).await;
    let personne: String =
        sqlx::query_scalar("SELECT personne FROM rm_dossiers").fetch_one(&t.db.pool).await.unwrap();
    let effacer = |p: &str, base: &str| {
        t.db.tba(&["personnes", "effacer", p, "--motif", "demande écrite", "--base-legale", base])
    };
    let bad = effacer("Martin", "DROIT_A_L_EFFACEMENT");
    assert_eq!(bad.status.code(), Some(2), "{bad:?}");
    assert!(String::from_utf8_lossy(&bad.stderr).contains("personne"), "{bad:?}");
    let unknown = effacer("p-00000000000000000000000000000000", "DROIT_A_L_EFFACEMENT");
    assert_eq!(unknown.status.code(), Some(2), "{unknown:?}");
    let basis = effacer(&personne, "PARCE_QUE");
    assert!(!basis.status.success());
    assert!(String::from_utf8_lossy(&basis.stderr).contains("OBLIGATION_LEGALE"), "{basis:?}");
    let no_years = t.db.tba(&["retention", "run", "--ans", "0"]);
    assert!(!no_years.status.success(), "{no_years:?}");

    // The service keeps the person's key in memory once read (its sealing, its projections, this read).
    let dossier = format!(
        r#"{{ dossier(id: "{}") {{ apprenant {{ efface nom email }} }} }}"#,
        sqlx::query_scalar::<_, String>("SELECT dossier_id FROM rm_dossiers")
            .fetch_one(&t.db.pool)
            .await
            .unwrap()
    );
    let before = t.gql(&t.admin, &dossier).await;
    assert_eq!(before["data"]["dossier"]["apprenant"]["nom"], "EFFACABLE", "{before}");

    let erased = effacer(&personne, "OBLIGATION_LEGALE");
    assert!(erased.status.success(), "{erased:?}");
    assert!(stdout(&erased).contains("erased at position"), "{}", stdout(&erased));
    assert!(t.db.projection_caught_up(Duration::from_secs(30)).await);
    assert_eq!(t.secrets_stored().await, 0);
    // Erased by another process: this one was told, and forgot the key.
    let after = t.gql(&t.admin, &dossier).await;
    assert_eq!(after["data"]["dossier"]["apprenant"], json!({ "efface": true, "nom": null, "email": null }));
    let logged: i64 = sqlx::query_scalar("SELECT count(*) FROM access_log WHERE action = 'effacement'")
        .fetch_one(&t.db.pool)
        .await
        .unwrap();
    assert_eq!(logged, 1);
    let again = effacer(&personne, "OBLIGATION_LEGALE");
    assert!(stdout(&again).contains("already erased"), "{}", stdout(&again));
}
