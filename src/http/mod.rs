//! The HTTP service: the router and its middleware, and `serve` with its graceful shutdown.

pub mod caller;
pub mod dossiers;
pub mod error;
pub mod fichiers;
pub mod france_travail;
pub mod imports;
pub mod missions_locales;
pub mod native;
pub mod openapi;
mod ops;
pub mod transmissions;
pub mod uploads;
pub mod voeux;

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, StatusCode};
use axum::routing::{get, post};
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use tracing::Instrument;

use crate::app::AppState;
use crate::auth::Gate;

/// Limits of the HTTP layer.
#[derive(Debug, Clone, clap::Args)]
pub struct HttpLimits {
    /// Longest a request may take, in seconds.
    #[arg(long, env = "TBA_REQUEST_TIMEOUT", default_value_t = 30)]
    pub request_timeout: u64,
    /// Largest accepted request body, in bytes.
    #[arg(long, env = "TBA_BODY_LIMIT", default_value_t = 32 * 1024 * 1024)]
    pub body_limit: usize,
    /// Largest accepted file deposit (`POST /api/v1/imports`), in bytes.
    #[arg(long, env = "TBA_IMPORT_LIMIT", default_value_t = 512 * 1024 * 1024)]
    pub import_limit: usize,
    /// Longest a file deposit may take, in seconds.
    #[arg(long, env = "TBA_IMPORT_TIMEOUT", default_value_t = 1800)]
    pub import_timeout: u64,
    /// Requests per second each API key may make (bursts of twice as many).
    #[arg(long, env = "TBA_RATE_LIMIT", default_value_t = 20)]
    pub rate_limit: u32,
    /// Requests per second each client address may make without a key (bursts of twice as many).
    #[arg(long, env = "TBA_ANONYMOUS_RATE_LIMIT", default_value_t = 10)]
    pub anonymous_rate_limit: u32,
    /// Subscriptions each key may hold open at once.
    #[arg(long, env = "TBA_SUBSCRIPTIONS_PER_KEY", default_value_t = 10)]
    pub subscriptions_per_key: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            request_timeout: 30,
            body_limit: 32 * 1024 * 1024,
            import_limit: 512 * 1024 * 1024,
            import_timeout: 1800,
            rate_limit: 20,
            anonymous_rate_limit: 10,
            subscriptions_per_key: 10,
        }
    }
}

impl HttpLimits {
    /// The gate of the service, with these rate limits.
    pub fn gate(&self) -> Gate {
        Gate::new(self.rate_limit, self.anonymous_rate_limit)
    }
}

pub fn router(state: AppState, limits: &HttpLimits) -> Router {
    let request_id = HeaderName::from_static("x-request-id");
    let timeout = |seconds| {
        TimeoutLayer::with_status_code(StatusCode::SERVICE_UNAVAILABLE, Duration::from_secs(seconds))
    };
    let to_completion = axum::middleware::from_fn(run_to_completion);
    let api = Router::new()
        .merge(ops::routes())
        .route("/api/v3/dossiers-apprenants", post(dossiers::push))
        .route("/api/v1/events", post(native::append))
        .route("/api/v1/transmissions", get(transmissions::list))
        .route("/api/v1/transmissions/{id}/rejets.csv", get(imports::report))
        .route("/api/v1/missions-locales/{id}/export", get(missions_locales::export))
        .route("/api/v1/organismes/{organisme}/ruptures/export", get(missions_locales::export_organisme))
        .route("/api/v1/france-travail/export", get(france_travail::export))
        .route("/api/openapi.json", get(openapi::serve))
        .with_state(state.clone())
        .merge(crate::graphql::routes(state.clone(), limits.subscriptions_per_key))
        .layer(to_completion.clone())
        .layer(RequestBodyLimitLayer::new(limits.body_limit))
        .layer(timeout(limits.request_timeout));
    // The console's forms are small.
    let console = crate::console::routes(state.clone())
        .layer(to_completion.clone())
        .layer(RequestBodyLimitLayer::new(64 * 1024))
        .layer(timeout(limits.request_timeout));
    // File deposits are larger and longer than any other request, and are spooled to disk.
    let deposits = Router::new()
        .route("/api/v1/imports", post(imports::upload))
        .route("/api/v1/voeux/imports", post(voeux::upload))
        .route("/console/depot", post(crate::console::depot::deposer))
        .route(
            "/console/administration/referentiels/{genre}",
            post(crate::console::administration::referentiel),
        )
        .with_state(state)
        .layer(to_completion)
        .layer(RequestBodyLimitLayer::new(limits.import_limit))
        .layer(timeout(limits.import_timeout));
    Router::new()
        .merge(api)
        .merge(console)
        .merge(deposits)
        // Each group above has its own body limit.
        .layer(DefaultBodyLimit::disable())
        .layer(axum::middleware::map_response(error::too_large_as_json))
        .layer(CatchPanicLayer::new())
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &axum::http::Request<_>| {
            let id = request.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("");
            tracing::info_span!("request", method = %request.method(), uri = %request.uri(), request_id = %id)
        }))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
}

/// Run a request's handler on a task of its own, so that a client going away or the timeout answering
/// first no longer cuts it halfway: work once started finishes, and is committed or not at all. (It
/// also keeps sqlx 0.9.0 from handing out a pooled connection still inside a transaction whose BEGIN
/// was cancelled in flight: the next request on that connection would run in it.)
async fn run_to_completion(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    // The handler's task stays in the request's span: its logs carry the request's id.
    match tokio::spawn(next.run(request).instrument(tracing::Span::current())).await {
        Ok(response) => response,
        Err(error) => {
            tracing::error!(%error, "request handler failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// Serve until `shutdown` resolves; then stop accepting, let in-flight requests finish, and wait until
/// every append they handed to the store is committed.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    limits: &HttpLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let store = state.store.clone();
    let arret = state.arret.clone();
    let shutdown = async move {
        shutdown.await;
        arret.send_replace(true);
    };
    let app = router(state, limits);
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await?;
    if let Err(error) = store.flush().await {
        tracing::error!(%error, "could not flush the append writer at shutdown");
    }
    tracing::info!("stopped");
    Ok(())
}

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = interrupt => tracing::info!("SIGINT received, shutting down"),
        () = terminate => tracing::info!("SIGTERM received, shutting down"),
    }
}
