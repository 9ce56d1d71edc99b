//! The Missions Locales' rupture queue end to end (domain.md §7, §9): dossiers pushed by an ERP become
//! entries in the queue of the residence's Mission Locale, live; advisors and CFAs act through GraphQL,
//! each action an event with its history; each role sees exactly what it may; statistics, exports and
//! the live subscription; a rebuild gives the live read model.
//!
//! `queue`: the lists, actions and the live subscription; `journal`: what reads are recorded and how
//! exports neutralise formulas; `history`: a past day and identity corrections; `fil`: the thread
//! between the CFA and the Mission Locale; `collaboration`: what an activated CFA shares; `cfa`: a
//! CFA's own ruptures list; `recapitulatifs`: the recaps, read and e-mailed.

mod cfa;
mod collaboration;
mod deca;
mod fil;
mod history;
mod journal;
mod queue;
mod recapitulatifs;

use crate::common;

use chrono::{Datelike, NaiveDate, Utc};
use common::gql::graphql;
use common::{CFA_LYON, TestApp, TestDb, dossier_v3, this_year};
use serde_json::{Value, json};

pub(super) fn today() -> NaiveDate {
    Utc::now().date_naive()
}

pub(super) fn days_ago(n: i64) -> NaiveDate {
    today() - chrono::Duration::days(n)
}

/// A dossier of this school year whose contract broke `rupture` days ago, for a person born `age`
/// years ago, living in `(postal code, INSEE code)`.
pub(crate) fn rupture(id_erp: &str, nom: &str, age: i32, days: i64, residence: (&str, &str)) -> Value {
    let mut item = this_year(dossier_v3(id_erp));
    let born = today().with_year(today().year() - age).unwrap() - chrono::Duration::days(10);
    item["nom_apprenant"] = json!(nom);
    item["date_de_naissance_apprenant"] = json!(born);
    item["contrat_date_rupture"] = json!(days_ago(days));
    item["code_postal_apprenant"] = json!(residence.0);
    item["code_commune_insee_apprenant"] = json!(residence.1);
    item
}

/// A dossier of last school year, in Lyon, of a 19-year-old whose contract broke 220 days ago.
pub(super) fn last_year(id_erp: &str, nom: &str) -> Value {
    let mut old = rupture(id_erp, nom, 19, 20, LYON);
    let start = days_ago(400).year() - i32::from(days_ago(400).month() < 8);
    old["annee_scolaire"] = json!(format!("{start}-{}", start + 1));
    for (field, days) in [
        ("date_inscription_formation", 400),
        ("date_entree_formation", 400),
        ("contrat_date_debut", 390),
        ("contrat_date_rupture", 220),
    ] {
        old[field] = json!(days_ago(days));
    }
    old
}

pub(crate) const LYON: (&str, &str) = ("69003", "69383");
pub(crate) const PARIS: (&str, &str) = ("75001", "75056");

/// The test referential, two Missions Locales, and the service with its projections running.
pub(crate) async fn setup() -> (TestDb, TestApp, String, tba::read_models::Projections) {
    let db = TestDb::new().await;
    db.with_organismes().await;
    let csv = "ml_id,nom,siret,email,telephone,communes\n\
               ML-LYON,Mission Locale de Lyon,12345678901234,contact@ml-lyon.fr,04 72 00 00 00,69123\n\
               ML-PARIS,Mission Locale de Paris,12345678900012,,,75056\n";
    let missions = tba::ingestion::missions_locales::parse_csv(csv.as_bytes()).unwrap();
    tba::ingestion::missions_locales::import(&db.pool, missions, events::Metadata::default()).await.unwrap();
    let app = TestApp::spawn(&db).await;
    let lyon = db.organisme_key(CFA_LYON).await;
    let projections = tba::read_models::Projections::start(&app.store);
    (db, app, lyon, projections)
}

/// The entry (person key) of the rupture of the dossier `id_erp`.
pub(crate) async fn entree_of(db: &TestDb, id_erp: &str) -> String {
    sqlx::query_scalar(
        "SELECT r.entree FROM rm_ruptures r JOIN rm_dossiers d USING (dossier_id) WHERE d.id_erp_apprenant = $1",
    )
    .bind(id_erp)
    .fetch_one(&db.pool)
    .await
    .unwrap_or_else(|e| panic!("the entry of {id_erp}: {e}"))
}

pub(crate) async fn push(app: &TestApp, key: &str, items: Value) {
    let (status, answer) = app.post("/api/v3/dossiers-apprenants", key, &items).await;
    assert_eq!(status, 200, "{answer}");
}

/// The `nom` of each entry of a `ruptures` page, in order (via the dossier's apprenant).
pub(super) fn noms(answer: &Value) -> Vec<String> {
    answer["data"]["ruptures"]["edges"]
        .as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .map(|e| e["node"]["dossier"]["apprenant"]["nom"].as_str().unwrap_or("?").to_owned())
        .collect()
}

pub(super) const PAGE: &str =
    "edges { cursor node { id liste prioritaire nouveauContrat dateRupture age situation suiviConjoint
    missionLocale { id nom } dossier { id apprenant { nom telephone } contrats { dateDebut dateRupture } } } }
    pageInfo { hasNextPage endCursor }";

/// Erase a person through GraphQL as `admin`, and wait for the projections to read the erasure.
pub(crate) async fn erase(db: &TestDb, app: &TestApp, admin: &str, personne: &str) {
    let erase = format!(
        r#"mutation {{ effacerPersonne(personne: {personne:?}, motif: "demande", baseLegale: DROIT_A_L_EFFACEMENT) {{ position }} }}"#
    );
    let (_, erased) = graphql(app, Some(admin), &erase).await;
    assert!(erased["data"]["effacerPersonne"]["position"].is_i64(), "{erased}");
    assert!(db.projection_caught_up(std::time::Duration::from_secs(30)).await);
}
