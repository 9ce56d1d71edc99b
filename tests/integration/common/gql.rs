//! GraphQL over HTTP and over the websocket, as a client speaks it.

use std::time::Duration;

use serde_json::{Value, json};
use tba::auth::keys::{KeySpec, Role, Scope};

use super::{TestApp, TestDb};

/// POST a query, with a key or without; the HTTP status and the answer.
pub async fn graphql(app: &TestApp, key: Option<&str>, query: &str) -> (u16, Value) {
    let mut request = reqwest::Client::new().post(app.url("/graphql")).json(&json!({ "query": query }));
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    let response = request.send().await.expect("a test answer");
    (response.status().as_u16(), response.json().await.expect("a test answer"))
}

/// The `extensions.code` of the answer's first error, or "OK" without error.
pub fn code(answer: &Value) -> &str {
    answer["errors"][0]["extensions"]["code"].as_str().unwrap_or("OK")
}

pub async fn key(db: &TestDb, role: Role, scope: Option<&str>) -> String {
    // A key names only a Mission Locale or a réseau that exists: register those a test names without
    // importing them (their lookup row only: such a Mission Locale has no territory, such a réseau no
    // organisme).
    let table = match scope.and_then(|s| s.split_once(':')) {
        Some(("MISSION_LOCALE", id)) => Some(("missions_locales", id)),
        Some(("RESEAU", id)) => Some(("reseaux", id)),
        _ => None,
    };
    if let Some((table, id)) = table {
        let columns = if table == "reseaux" { "(id, nom)" } else { "(id, nom, siret, updated_position)" };
        let values = if table == "reseaux" { "($1, $1)" } else { "($1, $1, '12345678901234', 0)" };
        let sql = format!("INSERT INTO {table} {columns} VALUES {values} ON CONFLICT (id) DO NOTHING");
        sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).execute(&db.pool).await.expect("register the scope");
    }
    let spec = KeySpec {
        role,
        organisme: None,
        scope: scope.map(|s| s.parse::<Scope>().expect("a test answer")),
        label: None,
    };
    tba::auth::keys::create(&db.pool, &spec).await.expect("a test answer").1
}

/// A websocket to `/graphql/ws` speaking `protocol`.
pub async fn websocket(
    app: &TestApp,
    protocol: &str,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let url = app.url("/graphql/ws").replacen("http", "ws", 1);
    let mut request = url.into_client_request().expect("a test answer");
    request.headers_mut().insert("Sec-WebSocket-Protocol", protocol.parse().expect("a test answer"));
    tokio_tungstenite::connect_async(request).await.expect("connect").0
}

pub async fn send(
    socket: &mut (impl futures_util::Sink<tokio_tungstenite::tungstenite::Message> + Unpin),
    message: Value,
) {
    use futures_util::SinkExt;
    let text = tokio_tungstenite::tungstenite::Message::text(message.to_string());
    assert!(socket.send(text).await.is_ok());
}

/// The next JSON message, within 10 s.
pub async fn receive(
    socket: &mut (
             impl futures_util::Stream<
        Item = Result<tokio_tungstenite::tungstenite::Message, tokio_tungstenite::tungstenite::Error>,
    > + Unpin
         ),
) -> Value {
    use futures_util::StreamExt;
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("a test answer")
            .expect("a test answer")
            .expect("a test answer");
        if let Ok(text) = message.to_text()
            && !text.is_empty()
        {
            return serde_json::from_str(text).expect("a test answer");
        }
    }
}

/// A graphql-transport-ws websocket, initialised with `key` and subscribed (id "1") to `query`.
pub async fn subscribed(
    app: &TestApp,
    key: &str,
    query: &str,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    let mut socket = websocket(app, "graphql-transport-ws").await;
    send(
        &mut socket,
        json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {key}") } }),
    )
    .await;
    assert_eq!(receive(&mut socket).await["type"], "connection_ack");
    send(&mut socket, json!({ "id": "1", "type": "subscribe", "payload": { "query": query } })).await;
    socket
}
