//! Signed checkpoints and inclusion proofs, as an operator and an auditor use them: through the CLI
//! (keygen, sign, verify --from-checkpoint, prove, check-proof) and GraphQL.

use crate::common;

use std::path::PathBuf;

use common::gql::{code, graphql, key};
use common::{TestApp, TestDb, stdout};
use serde_json::{Value, json};
use tba::auth::keys::Role;

/// A scratch directory for key and checkpoint files.
fn scratch(name: &str) -> PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "integrity-{name}-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Create an operator key; its file and public key.
fn keygen(db: &TestDb, dir: &std::path::Path) -> (String, String) {
    let file = dir.join("operator.key").to_string_lossy().into_owned();
    let made = db.tba(&["checkpoint", "keygen", &file]);
    assert!(made.status.success(), "{made:?}");
    let public = stdout(&made).trim().to_owned();
    assert_eq!(public.len(), 64, "{public}");
    (file, public)
}

fn sign(db: &TestDb, key_file: &str, out: &str) -> Value {
    let signed = db.tba(&["checkpoint", "sign", "--key", key_file, "--out", out]);
    assert!(signed.status.success(), "{signed:?}");
    serde_json::from_str(&std::fs::read_to_string(out).unwrap()).unwrap()
}

#[tokio::test]
async fn a_signed_checkpoint_proves_the_prefix_and_detects_tampering() {
    let db = TestDb::new().await;
    let dir = scratch("tamper");
    let (key_file, public) = keygen(&db, &dir);
    let again = db.tba(&["checkpoint", "keygen", &key_file]);
    assert!(!again.status.success(), "a key file is never overwritten");

    db.append_plain(12).await;
    let checkpoint = dir.join("checkpoint.json").to_string_lossy().into_owned();
    let signed = sign(&db, &key_file, &checkpoint);
    assert_eq!(signed["position"], 12);
    assert_eq!(signed["public_key"], public.as_str());
    db.append_plain(5).await;

    let ok = db.tba(&["verify", "--from-checkpoint", &checkpoint, "--public-key", &public]);
    assert!(ok.status.success(), "{ok:?}");
    assert!(stdout(&ok).contains("position 12") && stdout(&ok).contains("signature and Merkle root match"));

    let stranger = "11".repeat(32);
    let untrusted = db.tba(&["verify", "--from-checkpoint", &checkpoint, "--public-key", &stranger]);
    assert_eq!(untrusted.status.code(), Some(1), "{untrusted:?}");
    assert!(stdout(&untrusted).contains("not by the trusted key"), "{}", stdout(&untrusted));

    // A forged checkpoint (another position, same signature) is refused before the log is read.
    let mut forged = signed.clone();
    forged["position"] = json!(11);
    let forged_file = dir.join("forged.json");
    std::fs::write(&forged_file, forged.to_string()).unwrap();
    let refused = db.tba(&["verify", "--from-checkpoint", forged_file.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(stdout(&refused).contains("signature does not match"), "{}", stdout(&refused));

    // Rewriting an event and its hash, and every hash after it, consistently: the chain verifies on its
    // own, but no longer ends with the signed hash.
    db.tamper(r#"UPDATE events SET data = '{"n": 999, "siret": "12345678901234"}' WHERE position = 4"#).await;
    rechain(&db).await;
    assert!(db.tba(&["verify"]).status.success(), "the rewritten chain is consistent in itself");
    let broken = db.tba(&["verify", "--from-checkpoint", &checkpoint, "--public-key", &public]);
    assert_eq!(broken.status.code(), Some(1), "{broken:?}");
    assert!(stdout(&broken).contains("BROKEN"), "{}", stdout(&broken));

    // And the operator's tooling refuses to sign a log that does not verify.
    db.tamper("UPDATE events SET metadata = '{}' WHERE position = 2").await;
    let refused = db.tba(&["checkpoint", "sign", "--key", &key_file]);
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
    assert!(stdout(&refused).contains("NOT SIGNED"));
}

/// Recompute every stored hash and the head from the stored content, as a forger with write access
/// to the database would.
async fn rechain(db: &TestDb) {
    use events::signed_checkpoint::RecordedFields;
    let rows: Vec<RecordedFields> = sqlx::query_as(
        "SELECT position, stream_id, version, event_id, event_type, schema_version, occurred_at,
                data::text AS data, metadata::text AS metadata, recorded_at FROM events ORDER BY position",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    let mut previous = events::hash::GENESIS;
    let mut sql = String::new();
    for fields in rows {
        previous = fields.chain_hash(&previous);
        sql.push_str(&format!(
            "UPDATE events SET hash = decode('{}', 'hex') WHERE position = {};",
            hex::encode(previous),
            fields.position
        ));
    }
    sql.push_str(&format!("UPDATE log_head SET hash = decode('{}', 'hex')", hex::encode(previous)));
    db.tamper(&sql).await;
}

#[tokio::test]
async fn an_inclusion_proof_checks_offline_and_through_graphql() {
    let db = TestDb::new().await;
    let dir = scratch("proof");
    let (key_file, public) = keygen(&db, &dir);
    db.append_plain(9).await;
    let checkpoint = dir.join("checkpoint.json").to_string_lossy().into_owned();
    sign(&db, &key_file, &checkpoint);
    db.append_plain(3).await;

    let listed = db.tba(&["checkpoint", "list"]);
    assert!(listed.status.success(), "{listed:?}");
    let listed: Value = serde_json::from_str(stdout(&listed).lines().next().unwrap()).unwrap();
    assert_eq!(listed["position"], 9);
    assert_eq!(listed["public_key"], public.as_str());

    let proved = db.tba(&["checkpoint", "prove", "6"]);
    assert!(proved.status.success(), "{proved:?}");
    let proof: Value = serde_json::from_str(&stdout(&proved)).unwrap();
    assert_eq!(proof["checkpoint"]["position"], 9);
    assert_eq!(proof["event"]["position"], 6);
    let proof_file = dir.join("proof.json");
    std::fs::write(&proof_file, proof.to_string()).unwrap();
    let checked =
        db.tba(&["checkpoint", "check-proof", proof_file.to_str().unwrap(), "--public-key", &public]);
    assert!(checked.status.success(), "{checked:?}");
    assert!(stdout(&checked).contains("event 6"));

    let mut altered = proof.clone();
    altered["event"]["data"] = json!(r#"{"n": 5, "siret": "00000000000000"}"#);
    std::fs::write(&proof_file, altered.to_string()).unwrap();
    let refused = db.tba(&["checkpoint", "check-proof", proof_file.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(stdout(&refused).contains("BROKEN proof"), "{}", stdout(&refused));

    let uncovered = db.tba(&["checkpoint", "prove", "11"]);
    assert!(!uncovered.status.success());
    assert!(String::from_utf8_lossy(&uncovered.stderr).contains("no signed checkpoint covers position 11"));

    // GraphQL, for auditors.
    let app = TestApp::spawn(&db).await;
    let auditor = key(&db, Role::Auditor, None).await;
    let (_, answer) = graphql(
        &app,
        Some(&auditor),
        "{ checkpointsSignes { position hash racineMerkle clePublique signature json }
           preuveInclusion(position: 3) { position hashEvenement chemin donnees checkpoint { position } json } }",
    )
    .await;
    let signed = &answer["data"]["checkpointsSignes"];
    assert_eq!(signed.as_array().unwrap().len(), 1, "{answer}");
    assert_eq!(signed[0]["position"], 9);
    assert_eq!(signed[0]["clePublique"], public.as_str());
    let preuve = &answer["data"]["preuveInclusion"];
    assert_eq!(preuve["checkpoint"]["position"], 9);
    assert!(preuve["donnees"].as_str().unwrap().contains("\"n\""));
    let from_graphql: events::signed_checkpoint::InclusionProof =
        serde_json::from_value(preuve["json"].clone()).unwrap();
    let trusted = hex::decode(&public).unwrap().try_into().unwrap();
    assert_eq!(from_graphql.check(Some(&trusted)), Ok(()));
    let logged: i64 = sqlx::query_scalar("SELECT count(*) FROM access_log WHERE action = 'preuve_inclusion'")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(logged, 1);

    let (_, answer) = graphql(&app, Some(&auditor), "{ preuveInclusion(position: 11) { position } }").await;
    assert_eq!(code(&answer), "BAD_USER_INPUT", "{answer}");
    assert!(answer.to_string().contains("position"));
    let (_, answer) =
        graphql(&app, Some(&auditor), "{ preuveInclusion(position: 2, checkpoint: 5) { position } }").await;
    assert_eq!(code(&answer), "BAD_USER_INPUT", "{answer}");
    let analyst = key(&db, Role::Analyst, None).await;
    let (_, answer) = graphql(&app, Some(&analyst), "{ checkpointsSignes { position } }").await;
    assert_eq!(code(&answer), "FORBIDDEN", "{answer}");
}
