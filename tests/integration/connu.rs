//! The indicators "as known at" a time: the same numbers as a full `tba replay --until` at that instant,
//! with or without instantanés, through the CLI and GraphQL; and the auditors' difference between two
//! instants, naming the dossiers and events that account for it.

use crate::common;

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
    _projections: tba::read_models::Projections,
}

async fn setup() -> Setup {
    let db = TestDb::new().await;
    db.with_organismes().await;
    let app = TestApp::spawn(&db).await;
    let lyon = db.organisme_key(common::CFA_LYON).await;
    let paris = db.organisme_key(CFA_PARIS).await;
    let _projections = tba::read_models::Projections::start(&app.store);
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
    // An instantané between the pushes: answers after it start from it.
    assert!(t.indicateurs(&["--instantane"]).starts_with("instantané"));
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
    assert!(t.indicateurs(&["--instantane"]).starts_with("instantané"));
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

    // A rebuild forgets the instantanés and still answers the same.
    let before = t.known(t2, &days(-10));
    t.db.assert_rebuild_of("dossiers");
    assert_eq!(t.known(t2, &days(-10)), before);
}

/// An ERP that sends a rupture with another date corrects the one recorded: the figures follow the
/// latest date as before, and the log, the dossier's events and the auditors' difference say which
/// event the correction voids and why. A corrected birth date moves the learner to another age band,
/// now and as known since, never before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrections_from_an_erp_are_linked_to_what_they_correct_and_known_from_when_they_were_sent() {
    let t = setup().await;
    let mut first = this_year(dossier_v3("C-1"));
    first["contrat_date_rupture"] = json!(days(-20));
    first["date_de_naissance_apprenant"] = json!("1996-01-01");
    let t1 = t.push(&t.lyon, json!([first.clone()])).await;
    let mut later = first.clone();
    later["contrat_date_rupture"] = json!(days(-5));
    later["date_de_naissance_apprenant"] = json!("2010-01-01");
    let (status, answer) = t.app.post("/api/v3/dossiers-apprenants", &t.lyon, &json!([later])).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["results"][0]["events"],
        json!(["IdentiteModifiee", "CorrectionEnregistree", "RuptureEnregistree"]),
        "{answer}"
    );
    let transmission = answer["transmission_id"].as_str().unwrap().to_owned();
    assert!(t.db.projection_caught_up(Duration::from_secs(30)).await);
    tokio::time::sleep(Duration::from_millis(20)).await;
    let t2 = Utc::now();

    // The dossier's events: the first rupture is voided by the correction, which names it and why.
    let auditor = key(&t.db, Role::Auditor, None).await;
    let dossier = t.db.dossier_id("C-1").await;
    let (_, read) = graphql(
        &t.app,
        Some(&auditor),
        &format!(
            r#"{{ dossier(id: "{dossier}") {{ apprenant {{ dateDeNaissance }} contrats {{ dateRupture }}
                 evenements {{ eventId type corrige corrigePar data }} }} }}"#
        ),
    )
    .await;
    let d = &read["data"]["dossier"];
    assert_eq!(d["apprenant"]["dateDeNaissance"], "2010-01-01", "{read}");
    assert_eq!(d["contrats"][0]["dateRupture"], json!(days(-5)), "{read}");
    let evenements = d["evenements"].as_array().unwrap_or_else(|| panic!("{read}"));
    let of_type = |t: &str| evenements.iter().filter(|e| e["type"] == t).collect::<Vec<_>>();
    let (ruptures, corrections) = (of_type("RuptureEnregistree"), of_type("CorrectionEnregistree"));
    assert_eq!((ruptures.len(), corrections.len()), (2, 1), "{read}");
    assert_eq!(corrections[0]["corrige"], ruptures[0]["eventId"], "{read}");
    assert_eq!(ruptures[0]["corrigePar"], corrections[0]["eventId"], "{read}");
    assert_eq!(ruptures[1]["corrigePar"], Value::Null, "{read}");
    let raison = corrections[0]["data"]["raison"].as_str().unwrap();
    assert!(raison.contains(&days(-20)) && raison.contains(&days(-5)), "{raison}");
    assert!(raison.contains("api-v3") && raison.contains(&transmission), "{raison}");
    assert_eq!(of_type("IdentiteModifiee").len(), 1, "{read}");

    // The auditors' difference: the correction, with the position of the event it voids.
    let difference = format!(
        r#"{{ differenceIndicateurs(date: "{}", connuAu1: "{}", connuAu2: "{}") {{
             dossiers {{ statutAvant statutApres evenements {{ position type corrige raison }} }} }} }}"#,
        days(-10),
        t1.to_rfc3339(),
        t2.to_rfc3339()
    );
    let (_, answer) = graphql(&t.app, Some(&auditor), &difference).await;
    let changed = &answer["data"]["differenceIndicateurs"]["dossiers"][0];
    assert_eq!(
        (changed["statutAvant"].as_str(), changed["statutApres"].as_str()),
        (Some("RUPTURANT"), Some("APPRENTI")),
        "{answer}"
    );
    let correction = changed["evenements"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "CorrectionEnregistree")
        .unwrap_or_else(|| panic!("{answer}"));
    let voided: i64 = sqlx::query_scalar(
        "SELECT position FROM events WHERE stream_id = $1 AND event_type = 'RuptureEnregistree'
         ORDER BY position LIMIT 1",
    )
    .bind(&dossier)
    .fetch_one(&t.db.pool)
    .await
    .unwrap();
    assert_eq!(correction["corrige"], voided, "{answer}");
    assert_eq!(correction["raison"], raison, "{answer}");

    // The age band: 26 and over as known at t1, under 18 since the correction (today and as known at
    // t2).
    let analyst = key(&t.db, Role::Analyst, None).await;
    let bands = |instant: Option<DateTime<Utc>>, tranche: &str| {
        let connu = instant.map(|i| format!(r#", connuAu: "{}""#, i.to_rfc3339())).unwrap_or_default();
        format!(
            r#"{{ indicateurs(date: "{}", filtre: {{ tranchesAge: [{tranche}] }}{connu}) {{ apprentis rupturants inscrits }} }}"#,
            days(0)
        )
    };
    let total = |answer: &Value| {
        let g = &answer["data"]["indicateurs"][0];
        ["apprentis", "rupturants", "inscrits"].iter().map(|k| g[k].as_i64().unwrap_or(0)).sum::<i64>()
    };
    for (instant, moins_18, plus_26) in [(Some(t1), 0, 1), (Some(t2), 1, 0), (None, 1, 0)] {
        let (_, young) = graphql(&t.app, Some(&analyst), &bands(instant, "MOINS_18")).await;
        let (_, old) = graphql(&t.app, Some(&analyst), &bands(instant, "PLUS_26")).await;
        assert_eq!(
            (total(&young), total(&old)),
            (moins_18, plus_26),
            "as known at {instant:?}: {young} {old}"
        );
    }
    t.db.assert_rebuild_gives_the_live_checksum();
}

/// Every grouping and filter as known at three positions of a log where half the dossiers change and
/// an organisme formateur moves: the numbers of a replay up to each, whichever way they are answered
/// (the département cube's instantanés, the live read model corrected by the versions since, or the
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
    let projections = tba::read_models::Projections::start(&app.store);
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
    assert!(t_instantane(&db).starts_with("instantané"));
    // The organisme moves first, then half the dossiers change.
    let uai = items[0]["etablissement_formateur_uai"].as_str().unwrap().to_owned();
    let changed = amend_half(&mut items, today);
    let batches = tba::demo::load::prepare(&db.pool, &moved(&csv, &uai), &changed).await.unwrap();
    let between = caught_up().await;
    tba::demo::load::push_all(&app.address, &batches, 2, &progress).await.unwrap();
    let last = caught_up().await;
    assert!(first.0 < between.0 && between.0 < last.0);
    let corrections: Vec<(String, i64)> = sqlx::query_as(
        "SELECT event_type, count(*) FROM events
         WHERE event_type IN ('IdentiteModifiee', 'CorrectionEnregistree') GROUP BY 1 ORDER BY 1",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert!(
        corrections.len() == 2 && corrections.iter().all(|(_, n)| *n > 5),
        "birth dates, ruptures and exclusions corrected: {corrections:?}"
    );
    let quarantined: i64 =
        sqlx::query_scalar("SELECT count(*) FROM rm_dossiers_quarantaine").fetch_one(&db.pool).await.unwrap();
    assert_eq!(quarantined, 0, "every change is projected");

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
        let replay = db.tba(&["replay", "--until", &position.to_string()]);
        assert!(replay.status.success(), "{replay:?}");
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

fn t_instantane(db: &TestDb) -> String {
    let output = db.tba(&["indicateurs", "--instantane"]);
    assert!(output.status.success(), "{output:?}");
    stdout(&output)
}
