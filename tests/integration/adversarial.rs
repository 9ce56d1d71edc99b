//! A corpus of hostile and careless input, as ~3,000 organismes' software may send it: every v3 field
//! family × a wrong type, empty, huge, out of range, control characters, injection strings, odd
//! Unicode; native events of every type with the same; files with invalid UTF-8. Each item gets a clear
//! refusal naming its field, or a clean acceptance, never a failure of ours; and every projection still
//! moves afterwards.

use crate::common;

use std::time::Duration;

use common::{dossier_v3, inscription_data};
use serde_json::{Value, json};

/// The v3 fields, each with the family of values it takes.
const FIELDS: [(&str, Family); 44] = [
    ("nom_apprenant", Family::Text),
    ("prenom_apprenant", Family::Text),
    ("date_de_naissance_apprenant", Family::Date),
    ("annee_scolaire", Family::Code),
    ("id_erp_apprenant", Family::Code),
    ("statut_apprenant", Family::Integer),
    ("date_metier_mise_a_jour_statut", Family::Date),
    ("ine_apprenant", Family::Code),
    ("nir_apprenant", Family::Code),
    ("email_contact", Family::Code),
    ("tel_apprenant", Family::Code),
    ("adresse_apprenant", Family::Text),
    ("code_postal_apprenant", Family::Code),
    ("code_commune_insee_apprenant", Family::Code),
    ("code_commune_insee_de_naissance_apprenant", Family::Code),
    ("code_postal_de_naissance_apprenant", Family::Code),
    ("sexe_apprenant", Family::Code),
    ("rqth_apprenant", Family::Boolean),
    ("date_rqth_apprenant", Family::Date),
    ("responsable_apprenant_mail1", Family::Code),
    ("derniere_situation", Family::Integer),
    ("dernier_organisme_uai", Family::Code),
    ("type_cfa", Family::Integer),
    ("custom_statut_apprenant", Family::Text),
    ("libelle_court_formation", Family::Text),
    ("annee_formation", Family::Integer),
    ("formation_rncp", Family::Code),
    ("formation_cfd", Family::Code),
    ("date_inscription_formation", Family::Date),
    ("date_entree_formation", Family::Date),
    ("date_fin_formation", Family::Date),
    ("duree_theorique_formation_mois", Family::Integer),
    ("obtention_diplome_formation", Family::Boolean),
    ("date_obtention_diplome_formation", Family::Date),
    ("date_exclusion_formation", Family::Date),
    ("cause_exclusion_formation", Family::Text),
    ("formation_presentielle", Family::Boolean),
    ("contrat_date_debut", Family::Date),
    ("contrat_date_fin", Family::Date),
    ("contrat_date_rupture", Family::Date),
    ("cause_rupture_contrat", Family::Text),
    ("siret_employeur", Family::Code),
    ("etablissement_formateur_uai", Family::Code),
    ("etablissement_lieu_de_formation_adresse", Family::Text),
];

#[derive(Clone, Copy, PartialEq)]
enum Family {
    Text,
    Code,
    Date,
    Integer,
    Boolean,
}

/// The hostile values of every field, and those of its family.
fn values(family: Family) -> Vec<Value> {
    let mut values = vec![
        json!(12345),
        json!(true),
        json!([1, 2]),
        json!({ "a": 1 }),
        json!(""),
        json!("   "),
        json!("x".repeat(10_000)),
        json!("a\u{1}b"),
        json!("a\u{0}b"),
        json!("'; DROP TABLE events; --"),
        json!("<script>alert(1)</script>"),
        json!("=cmd|' /C calc'!A0"),
        json!("${jndi:ldap://x}"),
        json!("\u{202e}gnp.exe"),
        json!("🦀\u{200b}"),
    ];
    values.extend(match family {
        Family::Date => vec![
            json!("0000-01-01"),
            json!("9999-12-31"),
            json!("2025-02-30"),
            json!("1899-12-31"),
            json!(-1),
        ],
        Family::Integer => vec![json!(-1), json!(999_999_999_999i64), json!(1.5), json!("3")],
        Family::Boolean => vec![json!("peut-être"), json!(2), json!("oui")],
        Family::Code | Family::Text => vec![json!("x".repeat(101)), json!("x".repeat(501))],
    });
    values
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_hostile_item_is_refused_by_its_field_or_taken_cleanly_and_the_projections_move() {
    let (db, app, key) = common::lyon_app().await;
    let projections = tba::read_models::Projections::start(&app.store);
    let mut items = Vec::new();
    let mut mutated = Vec::new();
    for (field, family) in FIELDS {
        for value in values(family) {
            let mut item = dossier_v3(&format!("ADV-{}", items.len()));
            item[field] = value.clone();
            items.push(item);
            mutated.push((field, value));
        }
    }
    assert!(items.len() >= 200, "{} payloads", items.len());
    let (status, answer) = app.post("/api/v3/dossiers-apprenants", &key, &json!(items)).await;
    assert_eq!(status, 200, "{answer}");
    let (mut accepted, mut refused) = (0, 0);
    for (result, (field, value)) in answer["results"].as_array().unwrap().iter().zip(&mutated) {
        match result["status"].as_str().unwrap() {
            "accepted" => accepted += 1,
            "rejected" => {
                refused += 1;
                let errors = result["errors"].as_array().unwrap();
                assert!(!errors.is_empty(), "{field} = {value}: {result}");
                for error in errors {
                    let path = error["path"].as_str().unwrap();
                    let message = error["message"].as_str().unwrap();
                    // A contract field refused may name its start too (domain.md §3).
                    let named =
                        path == *field || (field.starts_with("contrat_") && path.starts_with("contrat_"));
                    assert!(named && !message.is_empty(), "{field} = {value}: {result}");
                }
            }
            other => panic!("{field} = {value}: status {other}"),
        }
    }
    assert!(refused > accepted, "{refused} refused, {accepted} accepted");

    // Native events of every type, each with hostile data: refused field by field.
    let types = tba::ingestion::native::EVENT_TYPES;
    let mut events = Vec::new();
    for event_type in types {
        for value in values(Family::Text).into_iter().chain(values(Family::Date)) {
            let data = if event_type == "InscriptionEnregistree" {
                let mut data = inscription_data("NAT-1");
                data["personnel"]["nom"] = value;
                data
            } else {
                json!({ "date_debut": value, "date_rupture": value, "date_exclusion": value, "commentaire": value,
                        "raison": value, "motif": value, "date_entree": value })
            };
            events.push(
                json!({ "dossier": { "uai_formateur": common::CFA_LYON.0, "annee_scolaire": "2025-2026",
                                              "id_erp_apprenant": "NAT-1" },
                                "type": event_type, "data": data }),
            );
        }
    }
    for chunk in events.chunks(100) {
        let (status, answer) = app.post("/api/v1/events", &key, &json!({ "events": chunk })).await;
        assert!(status == 400 || status == 200, "{status} {answer}");
        if status == 400 {
            for error in answer["errors"].as_array().unwrap() {
                assert!(error["path"].as_str().unwrap().starts_with("events["), "{answer}");
            }
        }
    }

    // Files with invalid UTF-8 (read as Windows-1252) and a binary that claims to be a workbook.
    let mut invalid = b"nom_apprenant;prenom_apprenant\n\xff\xfe\xfd;L\xe9a\n".to_vec();
    invalid.extend_from_slice(b"\xc3\x28;x\n");
    for body in [invalid, b"PK\x03\x04garbage".to_vec()] {
        let response = reqwest::Client::new()
            .post(app.url("/api/v1/imports"))
            .bearer_auth(&key)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{:?}", response.text().await);
    }

    // Every projection still moves.
    let (_, answer) = app.post("/api/v3/dossiers-apprenants", &key, &json!([dossier_v3("AFTER")])).await;
    assert_eq!(answer["accepted"], 1, "{answer}");
    assert!(db.projection_caught_up(Duration::from_secs(60)).await, "every projection reached the head");
    assert!(!db.dossier_id("AFTER").await.is_empty());
    projections.stop().await;
}

/// Random dossiers, valid and invalid alike, through the whole path: parse → decide → append →
/// project. Whatever was accepted is projected by every projection, nothing is set aside (the edge
/// only accepts what read models hold), and a rebuild gives the live read models.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_dossiers_go_through_parse_decide_append_and_project() {
    use proptest::prelude::*;
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

    let (db, app, key) = common::lyon_app().await;
    let projections = tba::read_models::Projections::start(&app.store);
    let value = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        (-5i64..3000).prop_map(Value::from),
        "[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])".prop_map(Value::from),
        "(19[0-9]{2}|20[0-3][0-9])-0[1-9]-1[0-9]".prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
    ];
    let fields = [
        "date_de_naissance_apprenant",
        "date_entree_formation",
        "date_fin_formation",
        "contrat_date_debut",
        "contrat_date_fin",
        "contrat_date_rupture",
        "date_exclusion_formation",
        "annee_formation",
        "rqth_apprenant",
        "nom_apprenant",
        "cause_rupture_contrat",
        "statut_apprenant",
    ];
    let changes = proptest::collection::vec((0..fields.len(), value), 0..4);
    let mut runner =
        TestRunner::new_with_rng(Config::default(), TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]));
    let mut items = Vec::new();
    for i in 0..300 {
        let mut item = dossier_v3(&format!("R-{i}"));
        for (field, value) in changes.new_tree(&mut runner).unwrap().current() {
            item[fields[field]] = value;
        }
        items.push(item);
    }
    let (status, answer) = app.post("/api/v3/dossiers-apprenants", &key, &json!(items)).await;
    assert_eq!(status, 200, "{answer}");
    let accepted = answer["accepted"].as_i64().unwrap();
    assert!(
        accepted > 30 && answer["rejected"].as_i64().unwrap() > 30,
        "a mix of both: {}",
        answer["accepted"]
    );
    assert!(db.projection_caught_up(Duration::from_secs(60)).await);
    let projected: i64 =
        sqlx::query_scalar("SELECT count(*) FROM rm_dossiers").fetch_one(&db.pool).await.unwrap();
    assert_eq!(projected, accepted, "every accepted dossier is projected");
    for table in ["rm_dossiers_quarantaine", "rm_ruptures_quarantaine", "rm_voeux_quarantaine"] {
        let set_aside: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
            .fetch_one(&db.pool)
            .await
            .unwrap();
        assert_eq!(set_aside, 0, "{table}: the edge accepted only what read models hold");
    }
    projections.stop().await;
    for projection in ["dossiers", "ruptures", "voeux", "france_travail"] {
        db.assert_rebuild_of(projection);
    }
}
