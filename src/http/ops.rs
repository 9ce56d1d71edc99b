//! Operations endpoints: liveness, readiness (database reachable, migrations applied) and metrics.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::time::Duration;

use super::AppState;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

async fn healthz() -> &'static str {
    "ok"
}

/// The longest a readiness or metrics probe waits for the database: a probe must answer even while
/// the database does not.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// Ready: the database answers and every migration is applied. The body says where each projection
/// stands and how many events it set aside.
async fn readyz(State(state): State<AppState>) -> Response {
    let unavailable = |why: &'static str| (StatusCode::SERVICE_UNAVAILABLE, why).into_response();
    match tokio::time::timeout(PROBE_TIMEOUT, crate::db::migrations_applied(&state.pool)).await {
        Ok(Ok(true)) => {}
        Ok(Ok(false)) => return unavailable("migrations not applied"),
        Ok(Err(error)) => {
            tracing::warn!(%error, "readiness check failed");
            return unavailable("database unreachable");
        }
        Err(_) => return unavailable("database unreachable"),
    }
    let projections = tokio::time::timeout(PROBE_TIMEOUT, crate::projections::status(&state.pool)).await;
    let projections = match projections {
        Ok(Ok(status)) => serde_json::to_value(status).unwrap_or_default(),
        Ok(Err(error)) => {
            tracing::warn!(%error, "projection status unavailable");
            serde_json::Value::Null
        }
        Err(_) => serde_json::Value::Null,
    };
    Json(serde_json::json!({ "status": "ready", "projections": projections })).into_response()
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    if let Ok(Ok(head)) = tokio::time::timeout(PROBE_TIMEOUT, state.store.head()).await {
        metrics::gauge!("tba_log_head_position").set(head.position as f64);
    }
    if let Ok(Ok(status)) = tokio::time::timeout(PROBE_TIMEOUT, crate::projections::status(&state.pool)).await
    {
        for s in status {
            metrics::gauge!("tba_projection_quarantined_events", "projection" => s.name)
                .set(s.quarantined as f64);
        }
    }
    state.metrics.run_upkeep();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics.render())
}
