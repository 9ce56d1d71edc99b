//! Operations endpoints: liveness, readiness (database reachable, migrations applied) and metrics.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::time::Duration;

use crate::app::AppState;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

async fn healthz() -> &'static str {
    "ok"
}

/// The longest a readiness or metrics probe waits for the database, in all: a probe must answer
/// within a second even while the database does not.
const PROBE_TIMEOUT: Duration = Duration::from_millis(800);

/// Ready: the database answers and every migration is applied. The body says where each projection
/// stands and how many events it set aside.
async fn readyz(State(state): State<AppState>) -> Response {
    let unavailable = |why: &'static str| (StatusCode::SERVICE_UNAVAILABLE, why).into_response();
    let probe = async {
        if !crate::db::migrations_applied(&state.pool).await? {
            return Ok(None);
        }
        crate::read_models::status(&state.pool).await.map(Some)
    };
    match tokio::time::timeout(PROBE_TIMEOUT, probe).await {
        Ok(Ok(Some(projections))) => {
            Json(serde_json::json!({ "status": "ready", "projections": projections })).into_response()
        }
        Ok(Ok(None)) => unavailable("migrations not applied"),
        Ok(Err(error)) => {
            tracing::warn!(%error, "readiness check failed");
            unavailable("database unreachable")
        }
        Err(_) => unavailable("database unreachable"),
    }
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let probe = async {
        if let Ok(head) = state.store.head().await {
            metrics::gauge!("tba_log_head_position").set(head.position as f64);
        }
        if let Ok(status) = crate::read_models::status(&state.pool).await {
            for s in status {
                metrics::gauge!("tba_projection_quarantined_events", "projection" => s.name)
                    .set(s.quarantined as f64);
            }
        }
    };
    // Without the database, the figures of the last scrape stand.
    let _ = tokio::time::timeout(PROBE_TIMEOUT, probe).await;
    state.metrics.run_upkeep();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics.render())
}
