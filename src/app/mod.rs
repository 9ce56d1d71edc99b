//! The application as every adapter reaches it (HTTP, GraphQL, the coming console): the database, the
//! log, the metrics and the gate requests pass. Built once by `tba serve` (or a test), cloned into
//! each request. The commands the adapters share live beside it (`native`).

pub mod native;

use events::EventStore;
use metrics_exporter_prometheus::PrometheusHandle;
use sqlx::PgPool;

use crate::auth::Gate;

#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub store: EventStore,
    pub metrics: PrometheusHandle,
    pub gate: Gate,
}

impl AppState {
    pub fn new(pool: PgPool, store: EventStore, gate: Gate) -> Self {
        AppState { pool, store, metrics: crate::telemetry::metrics(), gate }
    }
}
