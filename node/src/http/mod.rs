//! The node's HTTP API: the MU, SU and gateway-GraphQL routes the real AO clients call.
//!
//! One listener serves every role, so aoconnect's `MU_URL`, `CU_URL`, `GATEWAY_URL` and the
//! scheduler URL it locates can all point at the node. Errors are JSON `{"error": reason}`
//! (plus `"field"` when one field is at fault) with a 4xx status for bad input.

mod attest;
mod cron;
mod cu;
mod error;
mod graphql;
mod metrics;
mod su;
mod ui;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use tower_http::cors::CorsLayer;

use aolink_primitives::ao::{AoTags, ItemType};

pub use error::ApiError;

use crate::Node;
use crate::ans104::{DataItem, ItemError};

/// Upstream SU's payload limit (10 MiB), also the default here.
pub const DEFAULT_BODY_LIMIT: usize = 10 * 1024 * 1024;

/// How long clients may cache this node's `Scheduler-Location` (ms), as scheduler-utils reads it.
pub const SCHEDULER_LOCATION_TTL_MS: u64 = 24 * 60 * 60 * 1000;

/// HTTP settings.
#[derive(Clone, Debug)]
pub struct HttpConfig {
    /// The URL clients reach this node at; advertised in the `Scheduler-Location` record.
    pub public_url: String,
    /// The largest request body accepted, in bytes.
    pub body_limit: usize,
}

#[derive(Clone)]
pub(crate) struct AppState {
    pub node: Node,
    /// The node's own `Scheduler-Location` record, signed at start for the URL it serves on.
    pub scheduler_location: Arc<DataItem>,
}

/// Builds the router for `node`.
pub fn router(node: Node, config: &HttpConfig) -> Result<Router, ItemError> {
    let public_url = config.public_url.trim_end_matches('/').to_string();
    let scheduler_location = DataItem::sign(
        node.key().signer(),
        None,
        None,
        AoTags::new(ItemType::SchedulerLocation)
            .with("Url", public_url.clone())
            .with("Time-To-Live", SCHEDULER_LOCATION_TTL_MS.to_string())
            .build(),
        Vec::new(),
    )?;
    let state = AppState {
        node,
        scheduler_location: Arc::new(scheduler_location),
    };
    let schema = graphql::schema(state.clone());
    Ok(Router::new()
        .route("/", get(su::info).post(su::post_root))
        .route("/timestamp", get(su::timestamp))
        .route("/health", get(su::health))
        .route("/livez", get(su::livez))
        .route("/readyz", get(su::readyz))
        .route("/ui", get(ui::page))
        .route("/ui/data", get(ui::data))
        .route("/status", get(su::status))
        .route("/metrics", get(metrics::metrics))
        .route("/processes/{id}", get(su::process))
        .route("/graphql", post(graphql::handle).with_state(schema))
        .route("/result/{id}", get(cu::result))
        .route("/results/{id}", get(cu::results))
        .route("/dry-run", post(cu::dry_run))
        .route("/state/{id}", get(cu::state))
        .route("/cron/{id}", get(cron::crons))
        .route("/monitor/{id}", post(cron::monitor).delete(cron::unmonitor))
        .route("/attestations/{id}", get(attest::attestations))
        .route("/deliveries/{id}", get(attest::delivery))
        .route("/deliveries/{id}/replay", post(attest::replay))
        .route("/attest/resume", post(attest::resume))
        .route("/{id}", get(su::get_id))
        .route("/{id}/latest", get(su::latest))
        .fallback(error::not_found)
        .layer(DefaultBodyLimit::max(config.body_limit))
        // aoconnect in a browser calls the MU/SU cross-origin; the upstream units allow all.
        .layer(CorsLayer::permissive())
        .with_state(state))
}

/// Serves `node` on `listener` until `shutdown` resolves.
pub async fn serve(
    node: Node,
    listener: tokio::net::TcpListener,
    config: &HttpConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(node, config).map_err(std::io::Error::other)?;
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
