//! Channel 2: `POST /api/v1/events` through HTTP: typed events validated like the ERP push, a batch
//! written whole or not at all, per-dossier conflicts as a 409, idempotent retries.

use crate::common;

use common::{CFA_LYON, CFA_PARIS, TestApp, dossier_v3};
use serde_json::{Value, json};

async fn post(app: &TestApp, key: &str, body: &Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(app.url("/api/v1/events"))
        .bearer_auth(key)
        .json(body)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

fn lyon_key(id_erp: &str) -> Value {
    json!({ "uai_formateur": CFA_LYON.0, "annee_scolaire": "2025-2026", "id_erp_apprenant": id_erp })
}

fn inscription(id_erp: &str) -> Value {
    json!({
        "dossier": lyon_key(id_erp),
        "type": "InscriptionEnregistree",
        "data": common::inscription_data(id_erp)
    })
}

#[tokio::test]
async fn a_batch_of_facts_is_recorded_and_an_exact_retry_writes_nothing() {
    let (db, app, key) = common::lyon_app().await;
    let contrat_id = uuid::Uuid::now_v7();
    let body = json!({
        "events": [
            inscription("N-1"),
            { "dossier": lyon_key("N-1"), "type": "ContratSigne", "id": contrat_id,
              "data": { "date_debut": "2025-09-15", "date_fin": "2027-06-30", "siret_employeur": "55210055400013" } },
        ],
        "expected_versions": {}
    });
    let (status, answer) = post(&app, &key, &body).await;
    assert_eq!(status, 200, "{answer}");
    let result = &answer["results"][0];
    assert_eq!(result["version"], 2);
    assert_eq!(result["event_ids"][1], contrat_id.to_string());
    let dossier_id = result["dossier_id"].as_str().unwrap().to_owned();
    let person: Value = sqlx::query_scalar(
        "SELECT data::jsonb -> 'personne' FROM events WHERE stream_id = $1 AND version = 1",
    )
    .bind(&dossier_id)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert!(
        person["identite"].as_str().unwrap().starts_with("p-"),
        "the server computes the person key: {person}"
    );

    // The ERP push of the same dossier finds it: same stream, and only what differs is recorded.
    let erp = db.organisme_key(CFA_LYON).await;
    let mut snapshot = dossier_v3("N-1");
    snapshot["date_inscription_formation"] = json!("2025-08-28");
    let (_, pushed) = app.post("/api/v3/dossiers-apprenants", &erp, &json!([snapshot])).await;
    assert_eq!(pushed["results"][0]["dossier_id"], dossier_id.as_str(), "{pushed}");

    // A rupture with the expected version, then an exact retry of the same client id.
    let version: i64 = sqlx::query_scalar("SELECT max(version) FROM events WHERE stream_id = $1")
        .bind(&dossier_id)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    let rupture_id = uuid::Uuid::now_v7();
    let rupture = json!({
        "events": [{ "dossier_id": dossier_id, "type": "RuptureEnregistree", "id": rupture_id,
                     "data": { "date_debut_contrat": "2025-09-15", "date_rupture": "2026-01-10", "cause": null } }],
        "expected_versions": { dossier_id.clone(): version }
    });
    let (status, first) = post(&app, &key, &rupture).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["results"][0]["replayed"], false);
    let after = db.head().await;
    let (status, retry) = post(&app, &key, &rupture).await;
    assert_eq!(status, 200, "{retry}");
    assert_eq!(retry["results"][0]["replayed"], true);
    assert_eq!(retry["results"][0]["positions"], first["results"][0]["positions"]);
    assert_eq!(db.head().await, after);
}

#[tokio::test]
async fn a_stale_expected_version_is_a_409_naming_each_dossier_and_writes_nothing() {
    let (db, app, key) = common::lyon_app().await;
    let (status, created) =
        post(&app, &key, &json!({ "events": [inscription("V-1"), inscription("V-2")] })).await;
    assert_eq!(status, 200, "{created}");
    let (one, two) =
        (created["results"][0]["dossier_id"].clone(), created["results"][1]["dossier_id"].clone());
    let before = db.head().await;
    let contrat = |dossier: &Value| {
        json!({ "dossier_id": dossier, "type": "ContratSigne",
                "data": { "date_debut": "2025-09-15", "date_fin": null, "siret_employeur": null } })
    };
    let body = json!({
        "events": [contrat(&one), contrat(&two)],
        "expected_versions": { one.as_str().unwrap(): 1, two.as_str().unwrap(): 5 }
    });
    let (status, answer) = post(&app, &key, &body).await;
    assert_eq!(status, 409, "{answer}");
    assert_eq!(answer["code"], "CONFLICT");
    assert_eq!(answer["conflicts"], json!([{ "dossier_id": two, "expected": 5, "actual": 1 }]));
    assert_eq!(db.head().await, before, "the valid dossier of the batch was not written either");
}

#[tokio::test]
async fn invalid_events_are_refused_field_by_field_and_nothing_is_written() {
    let (db, app, key) = common::lyon_app().await;
    let before = db.head().await;
    let mut bad_inscription = inscription("I-1");
    bad_inscription["data"]["session"]["date_fin"] = json!("2025-01-01");
    bad_inscription["data"]["personnel"]["ine"] = json!("123");
    let future = chrono::Utc::now().date_naive() + chrono::Duration::days(40);
    let body = json!({ "events": [
        inscription("I-0"),
        bad_inscription,
        { "dossier": lyon_key("I-2"), "type": "RuptureEnregistree",
          "data": { "date_debut_contrat": "2025-09-15", "date_rupture": future, "cause": null } },
        { "dossier": lyon_key("I-0"), "type": "RuptureEnregistree",
          "data": { "date_debut_contrat": "2025-09-15", "date_rupture": future, "cause": null } },
        { "dossier": lyon_key("I-0"), "type": "ContratVole", "data": {} },
        { "dossier_id": "42", "type": "DiplomeObtenu", "data": { "date_obtention": null } },
        { "dossier": lyon_key("I-0"), "type": "ContratSigne",
          "data": { "date_debut": "0000-01-01", "date_fin": null, "siret_employeur": null } },
        { "dossier": lyon_key("I-0"), "type": "DossierRetire",
          "data": { "motif": "AUTRE", "commentaire": "x".repeat(5001) } },
    ]});
    let (status, answer) = post(&app, &key, &body).await;
    assert_eq!(status, 400, "{answer}");
    let paths: Vec<&str> =
        answer["errors"].as_array().unwrap().iter().map(|e| e["path"].as_str().unwrap()).collect();
    assert_eq!(
        paths,
        [
            "events[1].data.personnel.ine",
            "events[4].type",
            "events[5].dossier_id",
            "events[6].data.date_debut",
            "events[7].data.commentaire",
            "events[2].type",
            "events[3].data.date_rupture",
        ],
        "{answer}"
    );
    assert_eq!(db.head().await, before);

    let (status, answer) = post(&app, &key, &json!({ "evenements": [] })).await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["errors"][0]["path"], "evenements", "{answer}");
}

#[tokio::test]
async fn an_organisme_writes_only_to_its_own_dossiers() {
    let (db, app, key) = common::lyon_app().await;
    let (_, created) = post(&app, &key, &json!({ "events": [inscription("O-1")] })).await;
    let paris = db.organisme_key(CFA_PARIS).await;
    let body = json!({ "events": [{ "dossier_id": created["results"][0]["dossier_id"], "type": "AbandonEnregistre",
                                    "data": { "date_exclusion": "2025-10-01", "cause": null } }] });
    let (status, answer) = post(&app, &paris, &body).await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["errors"][0]["path"], "events[0].dossier_id");
    let (status, answer) = post(&app, &paris, &json!({ "events": [inscription("O-2")] })).await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["errors"][0]["path"], "events[0].data.formateur");
}

/// A producer corrects an identity itself: the server computes the person key from the identity sent,
/// the personal data is sealed with the new person's key, and an implausible birth date is refused by
/// its path.
#[tokio::test]
async fn an_identity_correction_is_keyed_by_the_server_and_checked() {
    let (db, app, key) = common::lyon_app().await;
    let (status, answer) =
        post(&app, &key, &json!({ "events": [inscription("N-ID")], "expected_versions": {} })).await;
    assert_eq!(status, 200, "{answer}");
    let identite = |naissance: &str| {
        json!({ "events": [{ "dossier": lyon_key("N-ID"), "type": "IdentiteModifiee", "data": {
            "personnel": { "nom": "MARTIN", "prenom": "Léa", "date_de_naissance": naissance, "ine": null },
            "apprenant": { "sexe": "F", "has_nir": false },
        } }], "expected_versions": {} })
    };
    let mut claims_erased = identite("2008-05-05");
    claims_erased["events"][0]["data"]["personnel"]["efface"] = json!(true);
    let (status, refused) = post(&app, &key, &claims_erased).await;
    assert_eq!(status, 400, "{refused}");
    assert_eq!(refused["errors"][0]["path"], "events[0].data.personnel.efface", "{refused}");
    let (status, refused) = post(&app, &key, &identite("1900-01-01")).await;
    assert_eq!(status, 400, "{refused}");
    assert_eq!(refused["errors"][0]["path"], "events[0].data.personnel.date_de_naissance", "{refused}");
    let (status, answer) = post(&app, &key, &identite("2008-05-05")).await;
    assert_eq!(status, 200, "{answer}");
    let stored: Value =
        sqlx::query_scalar("SELECT data::jsonb FROM events WHERE event_type = 'IdentiteModifiee'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    let expected = events::dossier::PersonKey::new("MARTIN", "Léa", "2008-05-05".parse().unwrap(), None);
    assert_eq!(stored["personne"]["identite"], expected.identite, "{stored}");
    assert_eq!(
        stored["personnel"]["personne"], expected.identite,
        "sealed with the new person's key: {stored}"
    );
    assert!(!stored.to_string().contains("2008-05-05"), "the birth date is sealed: {stored}");

    // Once the person is erased, their identity is never recorded again.
    let erased = db.tba(&[
        "personnes",
        "effacer",
        &expected.identite,
        "--motif",
        "demande",
        "--base-legale",
        "DROIT_A_L_EFFACEMENT",
    ]);
    assert!(erased.status.success(), "{erased:?}");
    let (status, refused) = post(&app, &key, &identite("2008-06-06")).await;
    assert_eq!(status, 400, "{refused}");
    assert_eq!(refused["errors"][0]["path"], "events[0].type", "{refused}");
}
