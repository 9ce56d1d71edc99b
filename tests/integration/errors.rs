//! Errors that help and never leak: one vocabulary for REST and GraphQL, our own words instead of a
//! parser's or the database's, the documented JSON shape for an oversized body, and probes that answer
//! at once while the database does not.

use crate::common;

use std::time::{Duration, Instant};

use common::gql::{code, graphql};
use common::{TestApp, TestDb, dossier_v3};
use serde_json::{Value, json};

#[tokio::test]
async fn an_oversized_body_gets_413_in_the_documented_shape() {
    let db = TestDb::new().await;
    db.with_organismes().await;
    let key = db.organisme_key(common::CFA_LYON).await;
    let limits = tba::http::HttpLimits { body_limit: 64 * 1024, ..Default::default() };
    let app = TestApp::spawn_with(&db, limits).await;
    let items: Vec<Value> = (0..200).map(|i| dossier_v3(&format!("B-{i}"))).collect();
    let (status, answer) = app.post("/api/v3/dossiers-apprenants", &key, &json!(items)).await;
    assert_eq!(status, 413, "{answer}");
    assert_eq!(answer["code"], "BAD_USER_INPUT", "{answer}");
    assert!(answer["message"].as_str().unwrap().contains("trop volumineux"), "{answer}");
}

#[tokio::test]
async fn a_malformed_or_huge_graphql_request_is_answered_in_our_words() {
    let db = TestDb::new().await;
    let app = TestApp::spawn(&db).await;
    let response = reqwest::Client::new()
        .post(app.url("/graphql"))
        .header("content-type", "application/json")
        .body("{\"querx\": 1")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(code(&answer), "BAD_USER_INPUT", "{answer}");
    let message = answer["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("requête GraphQL en JSON") && !message.contains("ParseRequestError"),
        "{message}"
    );

    let huge = format!("{{ logHead {{ position {} }} }}", "x ".repeat(34_000));
    let (_, answer) = graphql(&app, None, &huge).await;
    assert_eq!(code(&answer), "BAD_USER_INPUT", "{answer}");
    let message = answer["errors"][0]["message"].as_str().unwrap();
    assert!(message.chars().count() <= 501, "the query is not echoed back: {} characters", message.len());
}

/// A TCP relay to the test's PostgreSQL server that can be cut: then every connection through it
/// closes and every new one is refused, as when the server is down.
struct Relay {
    port: u16,
    tasks: tokio::task::JoinSet<()>,
}

impl Relay {
    async fn to(options: &sqlx::postgres::PgConnectOptions) -> Relay {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let socket = options.get_socket().map(|s| s.to_string_lossy().into_owned());
        let (host, server_port) =
            (socket.unwrap_or_else(|| options.get_host().to_owned()), options.get_port());
        let mut tasks = tokio::task::JoinSet::new();
        tasks.spawn(async move {
            let mut relayed = tokio::task::JoinSet::new();
            while let Ok((mut client, _)) = listener.accept().await {
                let host = host.clone();
                relayed.spawn(async move {
                    if host.starts_with('/') {
                        let path = if host.contains(".s.PGSQL.") {
                            host.clone()
                        } else {
                            format!("{host}/.s.PGSQL.{server_port}")
                        };
                        let mut server = tokio::net::UnixStream::connect(path).await.unwrap();
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    } else {
                        let mut server =
                            tokio::net::TcpStream::connect((host.as_str(), server_port)).await.unwrap();
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
        });
        Relay { port, tasks }
    }

    /// Cut: the listener and every relayed connection are dropped.
    async fn cut(&mut self) {
        self.tasks.abort_all();
        while self.tasks.join_next().await.is_some() {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_the_database_is_down_probes_answer_at_once_and_graphql_says_unavailable() {
    let db = TestDb::new().await;
    let mut relay = Relay::to(&db.options).await;
    let through_relay = sqlx::postgres::PgConnectOptions::new()
        .host("127.0.0.1")
        .port(relay.port)
        .username(db.options.get_username())
        .database(db.options.get_database().unwrap());
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(Duration::from_secs(3))
        .connect_with(through_relay)
        .await
        .unwrap();
    let app = TestApp::spawn_on(pool, Default::default()).await;
    assert_eq!(reqwest::get(app.url("/readyz")).await.unwrap().status(), 200);

    relay.cut().await;
    for path in ["/readyz", "/metrics"] {
        let started = Instant::now();
        let response = reqwest::get(app.url(path)).await.unwrap();
        let took = started.elapsed();
        assert!(took < Duration::from_secs(1), "{path} answered in {took:?}");
        if path == "/readyz" {
            assert_eq!(response.status(), 503);
        }
    }
    let (status, answer) = graphql(&app, None, "{ indicateurs { cle apprentis } }").await;
    assert_eq!(code(&answer), "UNAVAILABLE", "{status} {answer}");
    let text = answer.to_string();
    assert!(!text.contains("Connection refused") && !text.contains("io error"), "{answer}");
}
