//! API keys through the CLI: the secret is shown once, only its hash is kept, and revocation works.

use crate::common;

use std::process::Output;

use common::TestDb;
use tba::auth::{Role, keys};

fn tba(db: &TestDb, args: &[&str]) -> Output {
    db.tba(args)
}

fn last_line(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).lines().last().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn an_erp_key_authenticates_its_organisme_until_revoked() {
    let db = TestDb::new().await;
    let created = tba(&db, &["keys", "create", "--organisme", "0751234a:123 456 789 01234"]);
    assert!(created.status.success(), "{created:?}");
    let secret = last_line(&created);
    assert!(secret.starts_with("tba_") && secret.len() > 40, "{secret}");

    let principal = keys::authenticate(&db.pool, &secret).await.unwrap().expect("a live key");
    assert_eq!(principal.role, Role::OrganismeFormation);
    let organisme = principal.organisme.clone().unwrap();
    assert_eq!((organisme.uai.as_str(), organisme.siret.as_str()), ("0751234A", "12345678901234"));
    let hashed: bool = sqlx::query_scalar(
        "SELECT secret_sha256 = sha256(convert_to($1, 'UTF8')) FROM api_keys WHERE prefix = $2",
    )
    .bind(&secret)
    .bind(&principal.prefix)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert!(hashed, "the key is found by the SHA-256 of its secret");
    let in_clear: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM api_keys k WHERE row_to_json(k)::text LIKE '%' || $1 || '%'",
    )
    .bind(&secret)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(in_clear, 0, "the secret is never stored");

    assert!(keys::authenticate(&db.pool, "tba_wrong").await.unwrap().is_none());
    let revoked = tba(&db, &["keys", "revoke", &principal.prefix]);
    assert!(revoked.status.success(), "{revoked:?}");
    assert!(keys::authenticate(&db.pool, &secret).await.unwrap().is_none());
    assert!(!tba(&db, &["keys", "revoke", "tba_nothing"]).status.success());
}

#[tokio::test]
async fn territorial_keys_need_a_scope_and_bad_input_is_named() {
    let db = TestDb::new().await;
    let unscoped = tba(&db, &["keys", "create", "--role", "DREETS"]);
    assert!(!unscoped.status.success());
    assert!(String::from_utf8_lossy(&unscoped.stderr).contains("--scope"));

    let scoped = tba(&db, &["keys", "create", "--role", "DREETS", "--scope", "region:84"]);
    assert!(scoped.status.success(), "{scoped:?}");
    let principal = keys::authenticate(&db.pool, &last_line(&scoped)).await.unwrap().unwrap();
    assert_eq!(principal.scope.map(|s| (s.kind, s.value)), Some(("REGION".into(), "84".into())));

    let bad_uai = tba(&db, &["keys", "create", "--organisme", "075:12345678901234"]);
    assert!(!bad_uai.status.success());
    assert!(String::from_utf8_lossy(&bad_uai.stderr).contains("UAI"));
    let bad_scope = tba(&db, &["keys", "create", "--role", "ACADEMIE", "--scope", "PLANETE:3"]);
    assert!(String::from_utf8_lossy(&bad_scope.stderr).contains("unknown scope kind"));
}

#[tokio::test]
async fn a_scope_must_fit_the_role_and_name_what_exists() {
    let db = TestDb::new().await;
    for (role, scope, says) in [
        ("DDETS", "REGION:76", "DEPARTEMENT"),
        ("ACADEMIE", "DEPARTEMENT:65", "ACADEMIE"),
        ("DREETS", "MISSION_LOCALE:ML-1", "REGION"),
        ("AUDITOR", "REGION:84", "no --scope"),
        ("DREETS", "REGION:99", "no such region"),
        ("MISSION_LOCALE", "MISSION_LOCALE:ML-NOWHERE", "no such mission_locale"),
        ("TETE_DE_RESEAU", "RESEAU:NOWHERE", "no such reseau"),
    ] {
        let refused = tba(&db, &["keys", "create", "--role", role, "--scope", scope]);
        assert!(!refused.status.success(), "{role} {scope}");
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert!(stderr.contains(says), "{role} {scope}: {stderr}");
    }
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM api_keys").fetch_one(&db.pool).await.unwrap();
    assert_eq!(count, 0, "no refused key was stored");

    // A key stored before scopes were checked is refused rather than honoured.
    let ddets = tba(&db, &["keys", "create", "--role", "DDETS", "--scope", "DEPARTEMENT:69"]);
    let secret = last_line(&ddets);
    assert!(keys::authenticate(&db.pool, &secret).await.unwrap().is_some());
    sqlx::query("UPDATE api_keys SET scope_kind = 'REGION', scope_value = '84'")
        .execute(&db.pool)
        .await
        .unwrap();
    assert!(keys::authenticate(&db.pool, &secret).await.unwrap().is_none());
}

#[tokio::test]
async fn a_key_unused_for_twelve_months_is_revoked() {
    let db = TestDb::new().await;
    let spec = keys::KeySpec { role: Role::Analyst, organisme: None, scope: None, label: None };
    let (recent, recent_secret) = keys::create(&db.pool, &spec).await.unwrap();
    let (old, old_secret) = keys::create(&db.pool, &spec).await.unwrap();
    sqlx::query("UPDATE api_keys SET created_at = now() - interval '13 months', last_used_at = now() - interval '12 months 1 day' WHERE id = $1")
        .bind(old.key_id)
        .execute(&db.pool)
        .await
        .unwrap();
    sqlx::query("UPDATE api_keys SET created_at = now() - interval '13 months', last_used_at = now() - interval '11 months' WHERE id = $1")
        .bind(recent.key_id)
        .execute(&db.pool)
        .await
        .unwrap();
    assert!(keys::authenticate(&db.pool, &old_secret).await.unwrap().is_none());
    let revoked: bool = sqlx::query_scalar("SELECT revoked_at IS NOT NULL FROM api_keys WHERE id = $1")
        .bind(old.key_id)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert!(revoked, "the dormant key is revoked, not only refused");
    assert!(keys::authenticate(&db.pool, &recent_secret).await.unwrap().is_some());
}

/// Wait until the service listens for changes to the keys (it starts listening as it starts) on a
/// connection other than `not`'s (a backend's pid); the listening backend.
async fn listening(db: &TestDb, not: Option<i32>) -> i32 {
    for _ in 0..100 {
        let listener: Option<i32> = sqlx::query_scalar(
            "SELECT pid FROM pg_stat_activity
             WHERE datname = current_database() AND query LIKE 'LISTEN%tba_api_keys%' AND pid <> $1",
        )
        .bind(not.unwrap_or(0))
        .fetch_optional(&db.pool)
        .await
        .unwrap();
        if let Some(pid) = listener {
            // LISTEN has answered: the cache serves once the listener has read that answer.
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            return pid;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("the service never listened for key changes");
}

#[tokio::test]
async fn a_key_checked_once_is_served_from_memory_until_any_key_changes() {
    let db = TestDb::new().await;
    let app = common::TestApp::spawn(&db).await;
    let key = common::gql::key(&db, Role::Analyst, None).await;
    listening(&db, None).await;
    assert_eq!(app.log_head_status(&key).await, 200);

    // Revoked behind the service's back (no notification): the key it checked is still served from
    // memory, without a round trip.
    let mut tx = db.pool.begin().await.unwrap();
    sqlx::raw_sql("ALTER TABLE api_keys DISABLE TRIGGER api_keys_changed").execute(&mut *tx).await.unwrap();
    sqlx::query("UPDATE api_keys SET revoked_at = now() WHERE revoked_at IS NULL")
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::raw_sql("ALTER TABLE api_keys ENABLE TRIGGER api_keys_changed").execute(&mut *tx).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(app.log_head_status(&key).await, 200, "served from memory");

    // Any change to a key, from any process, is notified: the service forgets what it holds.
    let other = common::gql::key(&db, Role::Analyst, None).await;
    let revoked = db.tba(&["keys", "revoke", &other[..12]]);
    assert!(revoked.status.success(), "{revoked:?}");
    assert!(app.refused_soon(&key).await, "the revoked key is refused once the change is notified");
}

#[tokio::test]
async fn a_key_revoked_by_another_process_is_refused_and_a_lost_listener_forgets_every_key() {
    let db = TestDb::new().await;
    let app = common::TestApp::spawn(&db).await;
    let key = common::gql::key(&db, Role::Analyst, None).await;
    assert_eq!(app.log_head_status(&key).await, 200);
    let revoked = db.tba(&["keys", "revoke", &key[..12]]);
    assert!(revoked.status.success(), "{revoked:?}");
    assert!(app.refused_soon(&key).await, "revoked by the CLI, refused by the service");

    // The connection that listens for changes is cut: while it is down, every key is read from the
    // database, so a change it cannot hear still takes effect.
    let second = common::gql::key(&db, Role::Analyst, None).await;
    let first_listener = listening(&db, None).await;
    assert_eq!(app.log_head_status(&second).await, 200);
    let cut: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
        .bind(first_listener)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert!(cut, "the listener's connection is cut");
    listening(&db, Some(first_listener)).await;
    sqlx::raw_sql(
        "ALTER TABLE api_keys DISABLE TRIGGER api_keys_changed;
         UPDATE api_keys SET revoked_at = now() WHERE revoked_at IS NULL;
         ALTER TABLE api_keys ENABLE TRIGGER api_keys_changed;",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    assert_eq!(
        app.log_head_status(&second).await,
        401,
        "the keys held before the connection was lost are read again"
    );
}
