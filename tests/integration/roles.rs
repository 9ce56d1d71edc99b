//! Who sees what (domain.md §9), one question per test: every role's answer to it, named by the role
//! when it is wrong.

use crate::common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::gql::{code, graphql, key};
use common::{CFA_LYON, CFA_PARIS, CMA_LYON, TestApp, TestDb, dossier_v3, this_year};
use serde_json::{Value, json};
use tba::auth::keys::Role;

/// What one caller sees of each question.
struct Expected {
    who: &'static str,
    /// The région keys of `indicateurs(groupBy: REGION)`, or the error code.
    regions: Result<&'static [&'static str], &'static str>,
    /// Of the rupturant Lyon dossier: its name, `null` (not theirs), or the error code.
    rupturant: Result<Option<&'static str>, &'static str>,
    /// Whether the apprenti Lyon dossier is theirs to read (or the error code).
    apprenti: Result<bool, &'static str>,
    /// Whether they may page through the log (or the error code).
    log: Result<(), &'static str>,
    /// The dossiers of their nominative list (`dossiers` with its default statuses), or the error code.
    liste: Result<&'static [&'static str], &'static str>,
}

const BOTH: &[&str] = &["11", "84"];
const LYON: &[&str] = &["84"];
const PARIS: &[&str] = &["11"];
const EVERY_DOSSIER: &[&str] = &["P-APPRENTI", "P-PARIS", "P-RUPTURE"];
const LYON_DOSSIERS: &[&str] = &["P-APPRENTI", "P-RUPTURE"];

/// Refused every question with `code`.
const fn refused(who: &'static str, code: &'static str) -> Expected {
    Expected {
        who,
        regions: Err(code),
        rupturant: Err(code),
        apprenti: Err(code),
        log: Err(code),
        liste: Err(code),
    }
}

/// A territory's analyst: its régions' figures, the rupturant Lyon dossier when it is theirs (never
/// an apprenti: they read only those they act for), not the log.
const fn territoire(
    who: &'static str,
    regions: &'static [&'static str],
    rupturant: Option<&'static str>,
    liste: &'static [&'static str],
) -> Expected {
    Expected {
        who,
        regions: Ok(regions),
        rupturant: Ok(rupturant),
        apprenti: Ok(false),
        log: Err("FORBIDDEN"),
        liste: Ok(liste),
    }
}

/// An organisme (or a réseau): its own figures and dossiers, not the log.
const fn organisme(
    who: &'static str,
    regions: &'static [&'static str],
    lyon: bool,
    liste: &'static [&'static str],
) -> Expected {
    Expected {
        who,
        regions: Ok(regions),
        rupturant: Ok(if lyon { Some("BERNARD") } else { None }),
        apprenti: Ok(lyon),
        log: Err("FORBIDDEN"),
        liste: Ok(liste),
    }
}

const EXPECTED: [Expected; 15] = [
    refused("anonymous", "UNAUTHENTICATED"),
    Expected {
        who: "ADMINISTRATEUR",
        regions: Ok(BOTH),
        rupturant: Ok(Some("BERNARD")),
        apprenti: Ok(true),
        log: Ok(()),
        liste: Ok(EVERY_DOSSIER),
    },
    Expected {
        who: "AUDITOR",
        regions: Ok(BOTH),
        rupturant: Ok(Some("BERNARD")),
        apprenti: Ok(true),
        log: Ok(()),
        liste: Ok(EVERY_DOSSIER),
    },
    Expected { regions: Ok(BOTH), ..refused("ANALYST", "FORBIDDEN") },
    territoire("DREETS 84", LYON, Some("BERNARD"), &["P-RUPTURE"]),
    territoire("DREETS 11", PARIS, None, &[]),
    territoire("DDETS 69", LYON, Some("BERNARD"), &["P-RUPTURE"]),
    territoire("ACADEMIE 10", LYON, Some("BERNARD"), &["P-RUPTURE"]),
    organisme("CFA Lyon", LYON, true, LYON_DOSSIERS),
    organisme("CMA Lyon", LYON, true, LYON_DOSSIERS),
    organisme("CFA Paris", PARIS, false, &["P-PARIS"]),
    refused("MISSION_LOCALE", "FORBIDDEN"),
    refused("ARML", "FORBIDDEN"),
    refused("TETE_DE_RESEAU", "FORBIDDEN"),
    organisme("RESEAU CMA", LYON, true, LYON_DOSSIERS),
];

/// Three dossiers (an apprenti and a rupturant in Lyon, one in Paris), a réseau of the Lyon CFA and
/// its chambre, and a key of every role, in the order of `EXPECTED`.
struct World {
    db: TestDb,
    app: TestApp,
    keys: Vec<(&'static str, Option<String>)>,
    rupturant_id: String,
    apprenti_id: String,
    projections: tba::read_models::Projections,
}

impl World {
    async fn new() -> World {
        let db = TestDb::new().await;
        db.with_organismes().await;
        let app = TestApp::spawn(&db).await;
        let lyon = db.organisme_key(CFA_LYON).await;
        let paris = db.organisme_key(CFA_PARIS).await;
        let mut rupture = this_year(dossier_v3("P-RUPTURE"));
        rupture["nom_apprenant"] = json!("Bernard");
        rupture["contrat_date_rupture"] = json!(chrono::Utc::now().date_naive() - chrono::Duration::days(20));
        let pushed = json!([this_year(dossier_v3("P-APPRENTI")), rupture]);
        assert_eq!(app.post("/api/v3/dossiers-apprenants", &lyon, &pushed).await.0, 200);
        let mut parisien = this_year(dossier_v3("P-PARIS"));
        for (field, value) in [
            ("etablissement_formateur_uai", CFA_PARIS.0),
            ("etablissement_formateur_siret", CFA_PARIS.1),
            ("etablissement_responsable_uai", CFA_PARIS.0),
            ("etablissement_responsable_siret", CFA_PARIS.1),
        ] {
            parisien[field] = json!(value);
        }
        assert_eq!(app.post("/api/v3/dossiers-apprenants", &paris, &json!([parisien])).await.0, 200);
        let projections = tba::read_models::Projections::start(&app.store);
        assert!(db.projection_caught_up(Duration::from_secs(30)).await);
        // A réseau of the Lyon CFA and its chambre, which is responsable of the Lyon dossiers.
        let reseau = format!(
            "reseau,nom,organismes\nCMA,Chambres de métiers,{}:{} {}:{}\n",
            CFA_LYON.0, CFA_LYON.1, CMA_LYON.0, CMA_LYON.1
        );
        let reseaux = tba::ingestion::reseaux::parse_csv(reseau.as_bytes()).unwrap();
        tba::ingestion::reseaux::import(&db.pool, &reseaux).await.unwrap();
        let (rupturant_id, apprenti_id) =
            (db.dossier_id("P-RUPTURE").await, db.dossier_id("P-APPRENTI").await);
        let keys = vec![
            ("anonymous", None),
            ("ADMINISTRATEUR", Some(key(&db, Role::Administrateur, None).await)),
            ("AUDITOR", Some(key(&db, Role::Auditor, None).await)),
            ("ANALYST", Some(key(&db, Role::Analyst, None).await)),
            ("DREETS 84", Some(key(&db, Role::Dreets, Some("REGION:84")).await)),
            ("DREETS 11", Some(key(&db, Role::Dreets, Some("REGION:11")).await)),
            ("DDETS 69", Some(key(&db, Role::Ddets, Some("DEPARTEMENT:69")).await)),
            ("ACADEMIE 10", Some(key(&db, Role::Academie, Some("ACADEMIE:10")).await)),
            ("CFA Lyon", Some(lyon)),
            ("CMA Lyon", Some(db.organisme_key(CMA_LYON).await)),
            ("CFA Paris", Some(paris)),
            ("MISSION_LOCALE", Some(key(&db, Role::MissionLocale, Some("MISSION_LOCALE:ML-69")).await)),
            ("ARML", Some(key(&db, Role::Arml, Some("REGION:84")).await)),
            ("TETE_DE_RESEAU", Some(key(&db, Role::TeteDeReseau, Some("RESEAU:NOWHERE")).await)),
            ("RESEAU CMA", Some(key(&db, Role::TeteDeReseau, Some("RESEAU:CMA")).await)),
        ];
        for ((who, _), expected) in keys.iter().zip(&EXPECTED) {
            assert_eq!(*who, expected.who, "the keys and the expectations are in the same order");
        }
        World { db, app, keys, rupturant_id, apprenti_id, projections }
    }

    /// Each role's key (none for anonymous) with what it should see.
    fn callers(&self) -> impl Iterator<Item = (Option<&str>, &'static Expected)> {
        self.keys.iter().map(|(_, key)| key.as_deref()).zip(EXPECTED.iter())
    }

    fn key(&self, who: &str) -> Option<&str> {
        self.keys.iter().find(|(w, _)| *w == who).and_then(|(_, key)| key.as_deref())
    }

    /// Read both Lyon dossiers as each role, checking what each sees; how many reads were granted.
    async fn read_the_dossiers(&self) -> usize {
        let query = |id: &str| {
            format!(r#"{{ dossier(id: "{id}") {{ id statut apprenant {{ nom email telephone }} }} }}"#)
        };
        let mut readers = 0;
        for (key, expected) in self.callers() {
            let who = expected.who;
            let (_, answer) = graphql(&self.app, key, &query(&self.rupturant_id)).await;
            match expected.rupturant {
                Ok(Some(nom)) => {
                    assert_eq!(answer["data"]["dossier"]["apprenant"]["nom"], nom, "{who}: {answer}");
                    assert_eq!(answer["data"]["dossier"]["statut"], "RUPTURANT", "{who}: {answer}");
                    readers += 1;
                }
                Ok(None) => assert_eq!(answer["data"]["dossier"], Value::Null, "{who}: {answer}"),
                Err(expected) => assert_eq!(code(&answer), expected, "{who}: {answer}"),
            }
            let (_, answer) = graphql(&self.app, key, &query(&self.apprenti_id)).await;
            match expected.apprenti {
                Ok(true) => {
                    assert_eq!(answer["data"]["dossier"]["statut"], "APPRENTI", "{who}: {answer}");
                    readers += 1;
                }
                Ok(false) => assert_eq!(answer["data"]["dossier"], Value::Null, "{who}: {answer}"),
                Err(expected) => assert_eq!(code(&answer), expected, "{who}: {answer}"),
            }
        }
        readers
    }

    async fn stop(self) {
        self.projections.stop().await;
    }
}

/// `answer` as `expected` says: when granted, the set of `value` (a JSON pointer) over the array at
/// `array`; else refused with that code.
fn check_set(who: &str, answer: &Value, expected: Result<&[&str], &str>, array: &str, value: &str) {
    match expected {
        Ok(wanted) => {
            let seen: BTreeSet<&str> = answer
                .pointer(array)
                .and_then(Value::as_array)
                .unwrap_or_else(|| panic!("{who}: no {array} in {answer}"))
                .iter()
                .map(|e| e.pointer(value).and_then(Value::as_str).unwrap_or("?"))
                .collect();
            assert_eq!(seen, wanted.iter().copied().collect(), "{who}: {answer}");
        }
        Err(expected) => assert_eq!(code(answer), expected, "{who}: {answer}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_role_counts_the_regions_of_its_perimeter() {
    let world = World::new().await;
    for (key, expected) in world.callers() {
        let who = expected.who;
        let (_, answer) =
            graphql(&world.app, key, "{ indicateurs(groupBy: REGION) { cle apprenants } }").await;
        check_set(who, &answer, expected.regions, "/data/indicateurs", "/cle");
    }
    // The public national figures: every dossier counted, without a key.
    let (_, answer) =
        graphql(&world.app, None, "{ indicateurs { cle apprentis rupturants apprenants } }").await;
    assert_eq!(
        answer["data"]["indicateurs"],
        json!([{ "cle": "", "apprentis": 2, "rupturants": 1, "apprenants": 3 }])
    );
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_role_reads_the_dossiers_it_may_and_every_read_is_in_the_access_log() {
    let world = World::new().await;
    let readers = world.read_the_dossiers().await;
    // Every nominative read is in the access log, which auditors read back.
    let (_, answer) = graphql(
        &world.app,
        world.key("AUDITOR"),
        "{ journalDesAcces(first: 500) { edges { node { role action sujet organisation } } } }",
    )
    .await;
    let reads: Vec<&Value> = answer["data"]["journalDesAcces"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["node"])
        .filter(|n| n["action"] == "dossier")
        .collect();
    assert_eq!(reads.len(), readers, "{answer}");
    assert!(reads.iter().any(|n| n["role"] == "DREETS"
        && n["organisation"] == "REGION:84"
        && n["sujet"] == world.rupturant_id.as_str()));
    let (_, answer) =
        graphql(&world.app, world.key("ANALYST"), "{ journalDesAcces { edges { cursor } } }").await;
    assert_eq!(code(&answer), "FORBIDDEN", "an analyst does not read the access log");
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_administrators_and_auditors_page_through_the_log_whose_head_is_public() {
    let world = World::new().await;
    for (key, expected) in world.callers() {
        let who = expected.who;
        let (_, answer) = graphql(
            &world.app,
            key,
            "{ events(first: 2) { edges { cursor node { position type } } pageInfo { hasNextPage endCursor } } }",
        )
        .await;
        match expected.log {
            Ok(()) => {
                let edges = answer["data"]["events"]["edges"].as_array().unwrap();
                assert_eq!(edges.len(), 2, "{who}: {answer}");
                assert_eq!(answer["data"]["events"]["pageInfo"]["hasNextPage"], true);
                assert_eq!(answer["data"]["events"]["pageInfo"]["endCursor"], edges[1]["cursor"]);
            }
            Err(expected) => assert_eq!(code(&answer), expected, "{who}: {answer}"),
        }
        // The head of the log is public: a position and a hash, nothing personal.
        let (status, answer) = graphql(&world.app, key, "{ logHead { position hash } }").await;
        assert_eq!((status, code(&answer)), (200, "OK"), "{who}: {answer}");
        assert_eq!(answer["data"]["logHead"]["position"], world.db.head().await);
    }
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_role_lists_the_dossiers_it_may_and_an_administrator_pages_through_all() {
    let world = World::new().await;
    for (key, expected) in world.callers() {
        let who = expected.who;
        let (_, answer) = graphql(
            &world.app,
            key,
            "{ dossiers(first: 100) { edges { node { idErpApprenant apprenant { nom } } } } }",
        )
        .await;
        check_set(who, &answer, expected.liste, "/data/dossiers/edges", "/node/idErpApprenant");
    }
    // A territory's list is only of those it acts for; an administrator's pages through everything.
    let (_, answer) =
        graphql(&world.app, world.key("DREETS 84"), "{ dossiers(statuts: [APPRENTI]) { edges { cursor } } }")
            .await;
    assert_eq!(code(&answer), "FORBIDDEN", "{answer}");
    let admin = world.key("ADMINISTRATEUR");
    let (_, answer) = graphql(
        &world.app,
        admin,
        "{ dossiers(first: 2) { edges { cursor } pageInfo { hasNextPage endCursor } } }",
    )
    .await;
    assert_eq!(answer["data"]["dossiers"]["pageInfo"]["hasNextPage"], true, "{answer}");
    let cursor = answer["data"]["dossiers"]["pageInfo"]["endCursor"].as_str().unwrap();
    let next = format!(
        "{{ dossiers(first: 2, after: \"{cursor}\") {{ edges {{ node {{ statut }} }} pageInfo {{ hasNextPage }} }} }}"
    );
    let (_, answer) = graphql(&world.app, admin, &next).await;
    assert_eq!(answer["data"]["dossiers"]["edges"].as_array().unwrap().len(), 1, "{answer}");
    let (_, answer) = graphql(
        &world.app,
        admin,
        "{ dossiers(statuts: [RUPTURANT], filtre: { tranchesAge: [PLUS_26] }) { edges { cursor } } }",
    )
    .await;
    assert_eq!(answer["data"]["dossiers"]["edges"], json!([]), "nobody of 26 or more: {answer}");
    world.stop().await;
}
