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
    let (_, refused) = graphql(&t.app, Some(&analyst), &query(t1, ", filtre: { niveaux: [3] }")).await;
    assert_eq!(code(&refused), "BAD_USER_INPUT", "{refused}");
    assert_eq!(refused["errors"][0]["extensions"]["field"], "connuAu");

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

    // A rebuild forgets the snapshots and still answers the same.
    let before = t.known(t2, &days(-10));
    t.db.assert_rebuild_of("dossiers");
    assert_eq!(t.known(t2, &days(-10)), before);
}
