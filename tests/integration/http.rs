//! The HTTP service: operations endpoints, middleware, and a clean stop on SIGTERM.

use crate::common;

use std::time::Duration;

use common::{TestApp, TestDb};
use events::{ExpectedVersion, NewEvent};

#[tokio::test]
async fn health_readiness_and_metrics_answer() {
    let db = TestDb::new().await;
    let app = TestApp::spawn(&db).await;
    let (address, store) = (app.address.clone(), app.store.clone());
    store
        .append("dossier-a", ExpectedVersion::Any, vec![NewEvent::new("T", serde_json::json!({}))])
        .await
        .unwrap();
    let client = reqwest::Client::new();

    let health = client.get(format!("{address}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    assert!(health.headers().contains_key("x-request-id"), "every response carries a request id");
    assert_eq!(client.get(format!("{address}/readyz")).send().await.unwrap().status(), 200);

    let metrics = client.get(format!("{address}/metrics")).send().await.unwrap().text().await.unwrap();
    for name in ["tba_log_head_position", "tba_events_appended_total", "tba_append_latency_seconds_bucket"] {
        assert!(metrics.contains(name), "{name} missing from /metrics:\n{metrics}");
    }
    assert_eq!(client.get(format!("{address}/nowhere")).send().await.unwrap().status(), 404);

    let openapi: serde_json::Value =
        client.get(format!("{address}/api/openapi.json")).send().await.unwrap().json().await.unwrap();
    assert!(openapi["openapi"].as_str().unwrap().starts_with("3."), "{openapi}");
    for path in ["/api/v3/dossiers-apprenants", "/api/v1/events", "/api/v1/imports", "/api/v1/transmissions"]
    {
        assert!(openapi["paths"].get(path).is_some(), "{path} is not documented");
    }
}

#[tokio::test]
async fn readiness_fails_while_migrations_are_missing() {
    let db = TestDb::new().await;
    let app = TestApp::spawn(&db).await;
    let address = app.address.clone();
    sqlx::query("DELETE FROM _sqlx_migrations").execute(&db.pool).await.unwrap();
    let ready = reqwest::get(format!("{address}/readyz")).await.unwrap();
    assert_eq!(ready.status(), 503);
    assert_eq!(ready.text().await.unwrap(), "migrations not applied");
}

#[tokio::test]
async fn serve_stops_cleanly_on_sigterm() {
    let db = TestDb::new().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_tba"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("DATABASE_URL", db.url())
        .env("RUST_LOG", "warn")
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}/readyz");
    let mut ready = false;
    for _ in 0..100 {
        if reqwest::get(&url).await.is_ok_and(|r| r.status() == 200) {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready, "tba serve did not become ready");
    let pid = nix::unistd::Pid::from_raw(child.id().unwrap() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let status = tokio::time::timeout(Duration::from_secs(15), child.wait()).await.unwrap().unwrap();
    assert!(status.success(), "{status:?}");
}
