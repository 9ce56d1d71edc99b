//! The indicators "as known at" a time: the same numbers as a full `tba replay --until` at that instant,
//! with or without snapshots, through the CLI and GraphQL; and the auditors' difference between two
//! instants, naming the dossiers and events that account for it.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

mod common;

use std::time::Duration;

use chrono::{DateTime, Utc};
use common::gql::{code, graphql, key};
use common::{CFA_PARIS, TestApp, TestDb, dossier_v3, stdout, this_year};
use serde_json::{Value, json};
use tba::auth::keys::Role;

struct Setup {
    db: TestDb,
    app: TestApp,
    lyon: String,
    paris: String,
    _projections: tba::projections::Projections,
}

async fn setup() -> Setup {
    let db = TestDb::new().await;
    db.with_organismes().await;
    let app = TestApp::spawn(&db).await;
    let lyon = db.organisme_key(common::CFA_LYON).await;
    let paris = db.organisme_key(CFA_PARIS).await;
    let _projections = tba::projections::Projections::start(&app.store);
    Setup { db, app, lyon, paris, _projections }
}

impl Setup {
    /// Push, wait for the projections, and return the instant after (the knowledge time to ask at).
    async fn push(&self, key: &str, items: Value) -> DateTime<Utc> {
        let (status, answer) = self.app.post("/api/v3/dossiers-apprenants", key, &items).await;
        assert_eq!(status, 200, "{answer}");
        assert!(self.db.projection_caught_up(Duration::from_secs(30)).await);
        tokio::time::sleep(Duration::from_millis(20)).await;
        let instant = Utc::now();
        tokio::time::sleep(Duration::from_millis(20)).await;
        instant
    }

    fn indicateurs(&self, args: &[&str]) -> String {
        let output = self.db.tba(&[&["indicateurs"], args].concat());
        assert!(output.status.success(), "{output:?}");
        stdout(&output)
    }

    /// A full replay of the `dossiers` projection at `instant`: its schema.
    fn replay(&self, instant: DateTime<Utc>) -> String {
        let replay = self.db.tba(&["replay", "--until", &instant.to_rfc3339()]);
        assert!(replay.status.success(), "{replay:?}");
        let out = stdout(&replay);
        let schema = out.split_whitespace().find(|w| w.starts_with("replay_dossiers_")).unwrap();
        schema.trim_end_matches(['.', ',', ';']).to_owned()
    }

    fn known(&self, instant: DateTime<Utc>, date: &str) -> String {
        self.indicateurs(&["--connu-au", &instant.to_rfc3339(), "--par", "region", "--date", date])
    }
}

fn days(n: i64) -> String {
    (Utc::now().date_naive() + chrono::Duration::days(n)).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn as_known_at_gives_the_numbers_of_a_full_replay_at_that_instant() {
    let t = setup().await;
    let t0 = Utc::now();
    let t1 = t.push(&t.lyon, json!([this_year(dossier_v3("A-1")), this_year(dossier_v3("A-2"))])).await;
    // A snapshot between the pushes: answers after it start from it.
    assert!(t.indicateurs(&["--instantane"]).starts_with("snapshot"));
    // Late data: a rupture 20 days ago, and a new dossier inscrit since 60 days, in Paris.
    let mut rupture = this_year(dossier_v3("A-1"));
    rupture["contrat_date_rupture"] = json!(days(-20));
    let mut paris = this_year(dossier_v3("P-1"));
    paris["etablissement_formateur_uai"] = json!(CFA_PARIS.0);
    paris["etablissement_formateur_siret"] = json!(CFA_PARIS.1);
    paris["etablissement_responsable_uai"] = json!(CFA_PARIS.0);
    paris["etablissement_responsable_siret"] = json!(CFA_PARIS.1);
    let t2 = t.push(&t.lyon, json!([rupture])).await;
    let t3 = t.push(&t.paris, json!([paris])).await;
    assert!(t.indicateurs(&["--instantane"]).starts_with("snapshot"));
    let mut exclu = this_year(dossier_v3("A-2"));
    exclu["date_exclusion_formation"] = json!(days(-30));
    let t4 = t.push(&t.lyon, json!([this_year(dossier_v3("A-3")), exclu])).await;

    let mut seen = Vec::new();
    for instant in [t0, t1, t2, t3, t4] {
        let schema = t.replay(instant);
        for date in [days(-10), days(0), days(-100)] {
            let known = t.known(instant, &date);
            let replayed = t.indicateurs(&["--schema", &schema, "--par", "region", "--date", &date]);
            assert_eq!(known, replayed, "as known at {instant} for {date}");
            for shape in [&["--par", "organisme"][..], &["--par", "niveau", "--tranche", "-18"]] {
                let at = instant.to_rfc3339();
                let known = t.indicateurs(&[&["--connu-au", &at, "--date", &date], shape].concat());
                let replayed = t.indicateurs(&[&["--schema", &schema, "--date", &date], shape].concat());
                assert_eq!(known, replayed, "as known at {instant} for {date}, {shape:?}");
            }
            if date == days(-10) {
                seen.push(known);
            }
        }
    }
    assert_ne!(seen[1], seen[2], "the late rupture changes what was known of that day");
    assert_ne!(seen[2], seen[3], "so does the late dossier");
    let live = t.indicateurs(&["--par", "region", "--date", &days(-10)]);
    assert_eq!(t.known(Utc::now(), &days(-10)), live, "as known now is the live read model");

    // GraphQL: the same, for any caller allowed the indicators, refused where the history cannot tell.
    let analyst = key(&t.db, Role::Analyst, None).await;
    let query = |instant: DateTime<Utc>, extra: &str| {
        format!(
            r#"{{ indicateurs(date: "{}", groupBy: REGION, connuAu: "{}"{extra}) {{ cle apprentis inscrits rupturants }} }}"#,
            days(-10),
            instant.to_rfc3339()
        )
    };
    let (_, at_t1) = graphql(&t.app, Some(&analyst), &query(t1, "")).await;
    let (_, at_t2) = graphql(&t.app, Some(&analyst), &query(t2, "")).await;
    assert_eq!(at_t1["data"]["indicateurs"][0]["apprentis"], 2, "{at_t1}");
    assert_eq!(at_t2["data"]["indicateurs"][0]["rupturants"], 1, "{at_t2}");
    // Beyond the territories (from the dossiers' versions): a filter by niveau, and an organisme's own.
    let (_, niveau) = graphql(&t.app, Some(&analyst), &query(t2, ", filtre: { niveaux: [3] }")).await;
    assert_eq!(niveau["data"]["indicateurs"], at_t2["data"]["indicateurs"], "{niveau}");
    let organisme = |instant: DateTime<Utc>| {
        format!(
            r#"{{ organisme(uai: "{}", siret: "{}") {{ indicateurs(date: "{}", connuAu: "{}") {{ apprentis rupturants }} }} }}"#,
            common::CFA_LYON.0,
            common::CFA_LYON.1,
            days(-10),
            instant.to_rfc3339()
        )
    };
    let (_, lyon) = graphql(&t.app, Some(&analyst), &organisme(t1)).await;
    assert_eq!(lyon["data"]["organisme"]["indicateurs"], json!({"apprentis": 2, "rupturants": 0}), "{lyon}");
    let (_, lyon) = graphql(&t.app, Some(&analyst), &organisme(t2)).await;
    assert_eq!(lyon["data"]["organisme"]["indicateurs"], json!({"apprentis": 1, "rupturants": 1}), "{lyon}");

    // The auditors' difference between two instants: the dossiers and events that account for it.
    let auditor = key(&t.db, Role::Auditor, None).await;
    let difference = format!(
        r#"{{ differenceIndicateurs(date: "{}", connuAu1: "{}", connuAu2: "{}", groupBy: REGION) {{
             positionAvant positionApres avant {{ cle rupturants }} apres {{ cle rupturants }}
             dossiers {{ dossier statutAvant statutApres evenements {{ position type connuLe }} }} tronque }} }}"#,
        days(-10),
        t1.to_rfc3339(),
        t3.to_rfc3339()
    );
    let (_, answer) = graphql(&t.app, Some(&auditor), &difference).await;
    let d = &answer["data"]["differenceIndicateurs"];
    let changed = d["dossiers"].as_array().unwrap_or_else(|| panic!("{answer}"));
    assert_eq!(changed.len(), 2, "{answer}");
    assert_eq!(
        (changed[0]["statutAvant"].as_str(), changed[0]["statutApres"].as_str()),
        (Some("APPRENTI"), Some("RUPTURANT"))
    );
    assert_eq!(
        (changed[1]["statutAvant"].as_str(), changed[1]["statutApres"].as_str()),
        (None, Some("APPRENTI"))
    );
    assert_eq!(changed[0]["evenements"][0]["type"], "RuptureEnregistree");
    assert_eq!(d["tronque"], false);
    let (_, refused) = graphql(&t.app, Some(&analyst), &difference).await;
    assert_eq!(code(&refused), "FORBIDDEN");
    // The same by organisme (from the dossiers' versions): Lyon's rupture, Paris's new dossier.
    let (_, answer) = graphql(&t.app, Some(&auditor), &difference.replace("REGION", "ORGANISME")).await;
    let d = &answer["data"]["differenceIndicateurs"];
    let lyon = format!("{}:{}", common::CFA_LYON.0, common::CFA_LYON.1);
    let paris = format!("{}:{}", CFA_PARIS.0, CFA_PARIS.1);
    assert_eq!(d["avant"], json!([{"cle": lyon, "rupturants": 0}]), "{answer}");
    let mut apres = vec![json!({"cle": lyon, "rupturants": 1}), json!({"cle": paris, "rupturants": 0})];
    apres.sort_by_key(|g| g["cle"].as_str().unwrap().to_owned());
    assert_eq!(d["apres"], json!(apres), "{answer}");
    assert_eq!(d["dossiers"].as_array().map(Vec::len), Some(2), "{answer}");

    // A rebuild forgets the snapshots and still answers the same.
    let before = t.known(t2, &days(-10));
    t.db.assert_rebuild_of("dossiers");
    assert_eq!(t.known(t2, &days(-10)), before);
}

/// Every grouping and filter as known at three positions of a log where half the dossiers change and
/// an organisme formateur moves: the numbers of a replay up to each, whichever way they are answered
/// (the département cube's snapshots, the live read model corrected by the versions since, or the
/// versions alone).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_grouping_and_filter_as_known_at_gives_the_numbers_of_a_replay() {
    use chrono::Datelike;
    use common::changes::{amend_half, exemple, filtres, moved};
    use projections::indicateurs::versions::{self, Chemin};
    use projections::indicateurs::{self, Dimension};

    let db = TestDb::new().await;
    let app = TestApp::spawn(&db).await;
    let today = Utc::now().date_naive();
    let demo = tba::demo::generate(240, 5, today);
    let mut items: Vec<Value> = demo.dossiers.iter().map(|(_, item)| item.clone()).collect();
    let csv = demo.organismes_csv();
    let projections = tba::projections::Projections::start(&app.store);
    let progress = tba::progress::Progress::new("loading", "dossiers", 0);
    let caught_up = || async {
        assert!(db.projection_caught_up(Duration::from_secs(60)).await);
        tokio::time::sleep(Duration::from_millis(20)).await;
        let instant = Utc::now();
        tokio::time::sleep(Duration::from_millis(20)).await;
        (db.head().await, instant)
    };
    let batches = tba::demo::load::prepare(&db.pool, &csv, &items).await.unwrap();
    tba::demo::load::push_all(&app.address, &batches, 2, &progress).await.unwrap();
    let first = caught_up().await;
    assert!(t_snapshot(&db).starts_with("snapshot"));
    // The organisme moves first, then half the dossiers change.
    let uai = items[0]["etablissement_formateur_uai"].as_str().unwrap().to_owned();
    let changed = amend_half(&mut items, today);
    let batches = tba::demo::load::prepare(&db.pool, &moved(&csv, &uai), &changed).await.unwrap();
    let between = caught_up().await;
    tba::demo::load::push_all(&app.address, &batches, 2, &progress).await.unwrap();
    let last = caught_up().await;
    assert!(first.0 < between.0 && between.0 < last.0);

    let (organisme, formation, region) = exemple(&db.pool, &uai).await;
    let filtres = filtres(&organisme, &formation, &region);
    let dates: Vec<chrono::NaiveDate> =
        [(today.year() - 1, 11, 15), (today.year(), 2, 1), (today.year(), today.month(), 1)]
            .into_iter()
            .filter_map(|(y, m, d)| chrono::NaiveDate::from_ymd_opt(y, m, d))
            .chain([today])
            .collect();
    let mut differ = 0;
    for (position, instant) in [first, between, last] {
        assert!(db.tba(&["replay", "--until", &position.to_string()]).status.success());
        let schema = format!("replay_dossiers_{position}");
        for &date in &dates {
            for dimension in Dimension::ALL {
                for filtre in &filtres {
                    let mut tx = db.pool.begin().await.unwrap();
                    let path = format!("SET LOCAL search_path TO {schema}, public");
                    sqlx::raw_sql(sqlx::AssertSqlSafe(path)).execute(&mut *tx).await.unwrap();
                    let replayed = indicateurs::indicateurs(&mut tx, date, dimension, filtre).await.unwrap();
                    tx.rollback().await.unwrap();
                    let what = format!("at {position}, {date}, {dimension:?}, {filtre:?}");
                    let (at, known) =
                        indicateurs::connu::indicateurs(&db.pool, instant, date, dimension, filtre)
                            .await
                            .unwrap();
                    assert_eq!(at, position, "{what}");
                    assert_eq!(known, replayed, "{what}");
                    for chemin in [Chemin::Correction, Chemin::Versions] {
                        let mut tx = db.pool.begin().await.unwrap();
                        let answer = versions::par(&mut tx, chemin, position, date, dimension, filtre).await;
                        assert_eq!(answer.unwrap(), replayed, "{what}, {chemin:?}");
                    }
                    let live = indicateurs::indicateurs(
                        &mut db.pool.acquire().await.unwrap(),
                        date,
                        dimension,
                        filtre,
                    )
                    .await
                    .unwrap();
                    differ += usize::from(live != replayed);
                }
            }
        }
    }
    assert!(differ > 50, "the changes move what was known: {differ} answers differ from today's");
    db.assert_rebuild_gives_the_live_checksum();
    projections.stop().await;
}

fn t_snapshot(db: &TestDb) -> String {
    let output = db.tba(&["indicateurs", "--instantane"]);
    assert!(output.status.success(), "{output:?}");
    stdout(&output)
}
