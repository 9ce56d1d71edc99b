//! The GraphQL API (`POST /graphql`, GraphiQL on `GET /graphql`): one schema for analysts, CFAs,
//! Missions Locales and auditors, with the access rules of domain.md §9 applied by `viewer`.
//!
//! Each part of the schema lives in its own module and is merged here; errors get their
//! `extensions.code` in `error`; the request's caller is authenticated once, before the query runs,
//! and handed to the resolvers as a `Viewer`.

pub mod acces;
pub mod collaboration;
pub mod connu;
pub mod dossier;
pub mod error;
pub mod fil;
pub mod france_travail;
mod graphiql;
pub mod indicateurs;
pub mod loaders;
pub mod log;
pub mod mutation;
pub mod organismes;
pub mod personnes;
pub mod recapitulatifs;
pub mod ruptures;
pub mod ruptures_actions;
pub mod subscription;
pub mod types;
pub mod voeux;

use async_graphql::http::ALL_WEBSOCKET_PROTOCOLS;
use async_graphql::{Data, MergedObject, Schema};
use async_graphql_axum::{GraphQLProtocol, GraphQLRequest, GraphQLResponse, GraphQLWebSocket};
use axum::Router;
use axum::extract::{ConnectInfo, State, WebSocketUpgrade};
use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::net::SocketAddr;

use crate::app::AppState;
use crate::auth::AuthError;
use crate::auth::viewer::Viewer;
use error::{Code, refusal, with_codes};

/// What can be read: dossiers, indicators, the log, the access log.
#[derive(MergedObject, Default)]
pub struct Query(
    dossier::DossierQuery,
    indicateurs::IndicateursQuery,
    organismes::OrganismesQuery,
    log::LogQuery,
    acces::AccesQuery,
    ruptures::RupturesQuery,
    voeux::VoeuxQuery,
    connu::ConnuQuery,
    fil::FilQuery,
    collaboration::CollaborationQuery,
    recapitulatifs::RecapitulatifsQuery,
    france_travail::FranceTravailQuery,
);

/// What can be written: events of the log, and the follow-up of ruptures.
#[derive(MergedObject, Default)]
pub struct Mutation(
    mutation::EventsMutation,
    ruptures_actions::RupturesMutation,
    personnes::PersonnesMutation,
    fil::FilMutation,
    collaboration::CollaborationMutation,
    france_travail::FranceTravailMutation,
);

pub type TbaSchema = Schema<Query, Mutation, subscription::SubscriptionRoot>;

/// Deepest query accepted (fields within fields): enough for GraphiQL's introspection query (its type
/// references nest `ofType` nine times), not for a query built to exhaust the service.
const MAX_DEPTH: usize = 16;
/// Most complex query accepted (one point per field, lists counted once).
const MAX_COMPLEXITY: usize = 1000;

/// The schema, with the pool, the store, the access log's writer and the cache of counts its
/// resolvers read.
pub fn schema(app: &AppState, subscriptions_per_key: usize) -> TbaSchema {
    Schema::build(Query::default(), Mutation::default(), subscription::SubscriptionRoot)
        .data(app.pool.clone())
        .data(app.store.clone())
        .data(app.journal.clone())
        .data(subscription::Permits::new(subscriptions_per_key))
        .data(app.indicateurs.clone())
        .limit_depth(MAX_DEPTH)
        .limit_complexity(MAX_COMPLEXITY)
        .finish()
}

/// The schema as the websocket runs it: every response, live ones included, with its errors coded as
/// over HTTP.
#[derive(Clone)]
struct Coded(TbaSchema);

impl async_graphql::Executor for Coded {
    async fn execute(&self, request: async_graphql::Request) -> async_graphql::Response {
        with_codes(self.0.execute(request).await)
    }

    fn execute_stream(
        &self,
        request: async_graphql::Request,
        session_data: Option<std::sync::Arc<Data>>,
    ) -> async_graphql::futures_util::stream::BoxStream<'static, async_graphql::Response> {
        use async_graphql::futures_util::StreamExt;
        async_graphql::Executor::execute_stream(&self.0, request, session_data).map(with_codes).boxed()
    }
}

/// The schema in SDL, as committed in `schema.graphql`.
pub fn sdl() -> String {
    Schema::build(Query::default(), Mutation::default(), subscription::SubscriptionRoot).finish().sdl()
}

/// What the GraphQL handlers reach: the application, and the schema built for it.
#[derive(Clone)]
struct Served {
    app: AppState,
    schema: TbaSchema,
}

/// `/graphql` (queries and mutations, GraphiQL), `/graphql/ws` (subscriptions) and GraphiQL's assets,
/// over `app`; each key may hold `subscriptions_per_key` subscriptions open at once.
pub fn routes(app: AppState, subscriptions_per_key: usize) -> Router {
    let schema = schema(&app, subscriptions_per_key);
    Router::new()
        .route("/graphql", get(graphiql::page).post(execute))
        .route("/graphql/ws", get(subscribe))
        .route("/graphql/assets/{file}", get(graphiql::asset))
        .with_state(Served { app, schema })
}

async fn execute(
    State(Served { app: state, schema }): State<Served>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    request: Result<GraphQLRequest, async_graphql_axum::rejection::GraphQLRejection>,
) -> Response {
    let request = match request {
        Ok(request) => request,
        // A body that is no GraphQL request: said in our words, never as the parser's debug text.
        Err(rejection) => {
            let (status, message) = match rejection.0 {
                async_graphql::ParseRequestError::PayloadTooLarge => {
                    (StatusCode::PAYLOAD_TOO_LARGE, "requête GraphQL trop volumineuse".to_owned())
                }
                other => (
                    StatusCode::BAD_REQUEST,
                    format!(
                        "le corps doit être une requête GraphQL en JSON : {{\"query\": \"…\", \"variables\": {{…}}}} ({})",
                        other.to_string().chars().take(200).collect::<String>()
                    ),
                ),
            };
            return (status, GraphQLResponse::from(refusal(Code::BadUserInput, message))).into_response();
        }
    };
    let viewer = match viewer(&state, &headers, client).await {
        Ok(viewer) => viewer,
        Err(refused) => return refused,
    };
    let loader = loaders::Loaders::new(&state, viewer.clone());
    let response = schema.execute(request.into_inner().data(viewer).data(loader)).await;
    GraphQLResponse::from(with_codes(response)).into_response()
}

/// A websocket for subscriptions. The key comes in the upgrade request's `Authorization` header, or in
/// the `connection_init` payload (`{"Authorization": "Bearer <key>"}`), as browsers cannot set headers
/// on a websocket.
async fn subscribe(
    State(Served { app: state, schema }): State<Served>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    protocol: GraphQLProtocol,
    upgrade: WebSocketUpgrade,
) -> Response {
    let by_header = match viewer(&state, &headers, client).await {
        Ok(viewer) => viewer,
        Err(refused) => return refused,
    };
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| {
            let schema = Coded(schema);
            GraphQLWebSocket::new(socket, schema, protocol)
                .on_connection_init(move |payload| async move {
                    let presented = ["Authorization", "authorization"]
                        .iter()
                        .find_map(|name| payload.get(name).and_then(|v| v.as_str()).map(str::to_owned));
                    let viewer = match presented {
                        None => by_header,
                        Some(value) => {
                            let mut headers = HeaderMap::new();
                            let value = value.parse().map_err(|_| {
                                error::unauthenticated(
                                    "l'en-tête Authorization doit être « Bearer <clé d'API> »",
                                )
                            })?;
                            headers.insert(AUTHORIZATION, value);
                            let principal = state
                                .gate
                                .authenticate(&state.pool, &headers)
                                .await
                                .map_err(|e| error::unauthenticated(e.to_string()))?;
                            Viewer::Key(principal)
                        }
                    };
                    let mut data = Data::default();
                    data.insert(loaders::Loaders::new(&state, viewer.clone()));
                    data.insert(viewer);
                    Ok(data)
                })
                .serve()
        })
        .into_response()
}

/// The caller: nobody without an `Authorization` header (limited per client address); a key's
/// principal with one (a bad, revoked or rate-limited key refuses the whole request, with its HTTP
/// status).
async fn viewer(state: &AppState, headers: &HeaderMap, client: SocketAddr) -> Result<Viewer, Response> {
    let outcome = if headers.contains_key(AUTHORIZATION) {
        state.gate.authenticate(&state.pool, headers).await.map(Viewer::Key)
    } else {
        state.gate.check_anonymous(client.ip()).map(|()| Viewer::Anonymous)
    };
    match outcome {
        Ok(viewer) => Ok(viewer),
        Err(error) => {
            let (status, code, message) = match &error {
                AuthError::Unauthenticated(_) => {
                    (StatusCode::UNAUTHORIZED, Code::Unauthenticated, error.to_string())
                }
                AuthError::RateLimited { .. } => {
                    (StatusCode::TOO_MANY_REQUESTS, Code::RateLimited, error.to_string())
                }
                AuthError::Database(e) if crate::error_code::passing(e) => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    Code::Unavailable,
                    "base de données momentanément indisponible : renvoyez la requête".to_owned(),
                ),
                AuthError::Database(_) | AuthError::Internal(_) => {
                    tracing::error!(%error, "authentication failed");
                    (
                        StatusCode::INTERNAL_SERVER_ERROR,
                        Code::Internal,
                        "erreur interne : l'incident est consigné".to_owned(),
                    )
                }
            };
            let mut response = (status, GraphQLResponse::from(refusal(code, message))).into_response();
            if let AuthError::RateLimited { retry_after_secs } = error {
                response.headers_mut().insert(axum::http::header::RETRY_AFTER, retry_after_secs.into());
            }
            Err(response)
        }
    }
}

#[cfg(test)]
mod tests {
    /// The committed `schema.graphql` is the contract: a change of the schema shows in review as a
    /// change of that file. `UPDATE_SNAPSHOTS=1 cargo test` rewrites it.
    #[test]
    fn the_schema_is_the_committed_one() {
        let rendered = super::sdl();
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schema.graphql");
        if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
            std::fs::write(&path, &rendered).expect("write schema.graphql");
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(committed == rendered, "schema.graphql is out of date: run UPDATE_SNAPSHOTS=1 cargo test");
    }

    /// Every type, field, argument-bearing field and enum value of ours says what it is.
    #[test]
    fn every_type_and_field_is_described() {
        let sdl = super::sdl();
        let lines: Vec<&str> = sdl.lines().collect();
        let mut undescribed = Vec::new();
        let mut generated = false;
        let end = lines.iter().position(|l| l.starts_with("schema {")).unwrap_or(lines.len());
        for (i, line) in lines[..end].iter().enumerate() {
            let declares_type = ["type ", "enum ", "input ", "scalar "].iter().any(|k| line.starts_with(k));
            if declares_type {
                // async-graphql's connection and edge types describe their fields, not themselves.
                generated = line.contains("Connection ") || line.contains("Edge ");
            }
            let declares_member = line.starts_with('\t') && !line.trim().starts_with("\"\"\"");
            let described = i > 0 && lines[i - 1].trim() == "\"\"\"";
            let in_description = lines[..i].iter().filter(|l| l.trim() == "\"\"\"").count() % 2 == 1;
            if (declares_type && !generated || declares_member) && !described && !in_description {
                undescribed.push(*line);
            }
        }
        assert!(undescribed.is_empty(), "undescribed in the schema: {undescribed:#?}");
    }
}
